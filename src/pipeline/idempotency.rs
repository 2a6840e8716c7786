//! Idempotent retries: a submission carrying a key that a stored comment holds is answered
//! from that comment instead of being judged again.
//!
//! - The key is stored with its comment (same atomic write) and lives as long as it does.
//! - Keys are one namespace per store, not per post.
//! - The request that carried a key is remembered as [`request_digest`] of its other fields;
//!   a retry must match it, or it is refused with a violation on `idempotency_key`.
//! - A refused submission stores nothing, so its key stays free: the retry is judged afresh.
//! - On one server, submissions with the same key take turns (a stripe lock from lookup to
//!   commit); across servers sharing a store, the store's atomic insert refuses the second
//!   ([`StoreError::KeyTaken`]) and the retry is answered from the first.

use sha2::{Digest as _, Sha256};

use super::{Pipeline, Rejection, Submitted};
use crate::comment::{Idempotency, StoredComment};
use crate::store::StoreError;
use crate::validate::{FieldViolation, SubmissionInput, validate};

/// The request digest: SHA-256 over every field of the request except the key, exactly as
/// sent (no trimming or case folding), each length-prefixed, in proto field order. A missing
/// `context` counts as one with every field empty. `post_title` (added later) is digested
/// last and only when sent, so requests without it keep the digests earlier releases stored.
pub fn request_digest(input: &SubmissionInput<'_>) -> [u8; 32] {
    let mut digest = Sha256::new();
    for field in [
        input.post_id,
        input.parent_id,
        input.author_name,
        input.author_email,
        input.author_url,
        input.content,
        input.ip,
        input.user_agent,
        input.referrer,
        input.honeypot,
    ] {
        digest.update((field.len() as u64).to_be_bytes());
        digest.update(field.as_bytes());
    }
    if !input.post_title.is_empty() {
        digest.update(b"post_title");
        digest.update((input.post_title.len() as u64).to_be_bytes());
        digest.update(input.post_title.as_bytes());
    }
    digest.finalize().into()
}

/// What is wrong with a key, if anything (an empty key means none and is fine). Control
/// characters are refused: a key is an opaque token, and PostgreSQL text cannot hold NUL.
pub fn key_violation(key: &str) -> Option<FieldViolation> {
    if key.len() > Idempotency::MAX_KEY_BYTES {
        return Some(FieldViolation::new(
            "idempotency_key",
            format!("is longer than {} bytes", Idempotency::MAX_KEY_BYTES),
        ));
    }
    key.chars()
        .any(char::is_control)
        .then(|| FieldViolation::new("idempotency_key", "contains control characters"))
}

/// Refuses a malformed key, listing its violation first and then the fields' own, so a
/// submission and a check answer the same.
///
/// # Errors
/// [`Rejection::Invalid`] when the key is malformed.
pub fn check_key(input: &SubmissionInput<'_>, key: &str) -> Result<(), Rejection> {
    match key_violation(key) {
        None => Ok(()),
        Some(violation) => {
            let mut violations = validate(input).err().unwrap_or_default();
            violations.insert(0, violation);
            Err(Rejection::Invalid(violations))
        }
    }
}

/// The violation of a key used before with another request.
fn reused_violation() -> FieldViolation {
    FieldViolation::new(
        "idempotency_key",
        "was used before with a different request; a retry must resend the same fields",
    )
}

/// The stored comment's answer when `idempotency` is a retry of it.
fn replay(stored: StoredComment, idempotency: &Idempotency) -> Result<Submitted, Rejection> {
    let same = stored
        .receipt
        .idempotency
        .as_ref()
        .is_some_and(|held| held.request_digest == idempotency.request_digest);
    if !same {
        return Err(Rejection::Invalid(vec![reused_violation()]));
    }
    Ok(Submitted {
        comment: stored,
        replayed: true,
    })
}

impl Pipeline {
    /// [`Pipeline::submit`] of a submission with a key.
    pub(super) async fn submit_keyed(
        &self,
        input: &SubmissionInput<'_>,
        key: &str,
    ) -> Result<Submitted, Rejection> {
        check_key(input, key)?;
        let idempotency = Idempotency {
            key: key.to_owned(),
            request_digest: request_digest(input),
        };
        let stripe = key.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        let _turn = self.key_stripes[stripe % self.key_stripes.len()]
            .lock()
            .await;
        if let Some(stored) = self.store.find_by_idempotency_key(key).await? {
            return replay(stored, &idempotency);
        }
        match self.store_new(input, Some(idempotency.clone())).await {
            // Another server sharing the store stored it meanwhile.
            Err(Rejection::Store(StoreError::KeyTaken(holder))) => {
                match self.store.get(holder).await? {
                    Some(stored) => replay(stored, &idempotency),
                    None => Err(StoreError::KeyTaken(holder).into()),
                }
            }
            outcome => outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(content: &'a str, ip: &'a str) -> SubmissionInput<'a> {
        SubmissionInput {
            post_id: "p",
            post_title: "",
            parent_id: "",
            author_name: "Ada",
            author_email: "ada@example.com",
            author_url: "",
            content,
            ip,
            user_agent: "",
            referrer: "",
            honeypot: "",
        }
    }

    #[test]
    fn the_digest_covers_every_field_exactly() {
        let base = request_digest(&input("hello", "192.0.2.1"));
        assert_eq!(base, request_digest(&input("hello", "192.0.2.1")));
        assert_ne!(base, request_digest(&input("hello ", "192.0.2.1")));
        assert_ne!(base, request_digest(&input("hello", "192.0.2.2")));
        // Moving bytes between fields changes it too (length prefixes).
        assert_ne!(
            request_digest(&input("ab", "")),
            request_digest(&input("a", "b"))
        );
    }

    #[test]
    fn keys_longer_than_128_bytes_are_refused() {
        assert!(key_violation("").is_none());
        assert!(key_violation(&"k".repeat(128)).is_none());
        let violation = key_violation(&"k".repeat(129)).unwrap();
        assert_eq!(violation.field, "idempotency_key");
        assert!(key_violation("form-1\0").is_some());
        assert!(key_violation("7b1e0c5a-form-1").is_none());
    }
}

//! Key layouts of the index trees. Every key is built so that a prefix scan answers one
//! question, and UUIDv7 ids make byte order equal creation order.

use sha2::{Digest as _, Sha256};

use crate::comment::{CommentId, Status};

/// `post_index` key prefix of one post's comments in one status:
/// `len(post_id) as u16 BE | post_id | status`.
pub fn post_status_prefix(post_id: &str, status: Status) -> Vec<u8> {
    let mut key = Vec::with_capacity(2 + post_id.len() + 1 + 16);
    // Post ids are at most 200 bytes (validated), so the length fits in a u16.
    let len = u16::try_from(post_id.len()).unwrap_or(u16::MAX);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(post_id.as_bytes());
    key.push(status as u8);
    key
}

/// `post_index` key of one comment.
pub fn post_key(post_id: &str, status: Status, id: CommentId) -> Vec<u8> {
    let mut key = post_status_prefix(post_id, status);
    key.extend_from_slice(id.as_bytes());
    key
}

/// `status_index` key: `status | id`, so a status's comments scan in creation order.
pub fn status_key(status: Status, id: CommentId) -> [u8; 17] {
    let mut key = [0; 17];
    key[0] = status as u8;
    key[1..].copy_from_slice(id.as_bytes());
    key
}

/// `duplicates` key: a digest of post, author (email hash) and normalized content, so the
/// same comment sent twice is recognised without keeping a second copy of its text.
pub fn duplicate_key(post_id: &str, email_hash: &[u8; 32], content: &str) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update((post_id.len() as u64).to_be_bytes());
    digest.update(post_id.as_bytes());
    digest.update(email_hash);
    for word in content.split_whitespace() {
        digest.update(word.to_lowercase().as_bytes());
        digest.update(b" ");
    }
    digest.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_prefixes_do_not_overlap() {
        // "ab" + status must never be a prefix of post "ab\x01..." keys: the length prefix
        // keeps posts apart.
        let a = post_status_prefix("ab", Status::Approved);
        let b = post_key("ab\u{1}", Status::Approved, CommentId::generate());
        assert!(!b.starts_with(&a));
    }

    #[test]
    fn duplicate_key_ignores_case_and_spacing_only() {
        let h = [1; 32];
        assert_eq!(
            duplicate_key("p", &h, "Great  post!\n"),
            duplicate_key("p", &h, "great post!")
        );
        assert_ne!(
            duplicate_key("p", &h, "great post!"),
            duplicate_key("q", &h, "great post!")
        );
        assert_ne!(
            duplicate_key("p", &h, "great post!"),
            duplicate_key("p", &[2; 32], "great post!")
        );
    }
}

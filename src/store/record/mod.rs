//! The on-disk form of a comment: one version byte, then a prost message, compressed from
//! version 3 on. New fields can be added to the message freely; a change that old code must not
//! misread bumps the version.

mod compression;

use prost::Message as _;

use crate::comment::{
    ClientContext, CommentId, Idempotency, Reason, ReasonCode, Receipt, Status, StoredComment,
    Submission, ToxicSpan, Verdict,
};

use super::StoreError;
use crate::moderation::Decision;

/// The newest record format this build reads and writes.
///
/// Version 3 is version 2's message compressed with zstd and a shipped dictionary.
/// Version 2 stores reasons compactly (a number for a known code, only the feature of a
/// classifier explanation); version 1 records are still read.
pub const RECORD_VERSION: u8 = 3;

/// The uncompressed format, for a message compression would not shorten.
const PLAIN_VERSION: u8 = 2;

#[derive(Clone, PartialEq, prost::Message)]
struct RecordV1 {
    #[prost(bytes = "vec", tag = "1")]
    id: Vec<u8>,
    #[prost(uint64, tag = "2")]
    created_at_ms: u64,
    #[prost(string, tag = "3")]
    post_id: String,
    #[prost(bytes = "vec", tag = "4")]
    parent_id: Vec<u8>,
    #[prost(string, tag = "5")]
    author_name: String,
    #[prost(string, tag = "6")]
    author_email: String,
    #[prost(string, tag = "7")]
    author_url: String,
    #[prost(string, tag = "8")]
    content: String,
    #[prost(string, tag = "9")]
    ip: String,
    #[prost(string, tag = "10")]
    user_agent: String,
    #[prost(string, tag = "11")]
    referrer: String,
    #[prost(uint32, tag = "12")]
    status: u32,
    #[prost(float, tag = "13")]
    spam_score: f32,
    #[prost(message, repeated, tag = "14")]
    reasons: Vec<ReasonV1>,
    #[prost(string, tag = "15")]
    model_version: String,
    #[prost(bytes = "vec", tag = "16")]
    email_hash: Vec<u8>,
    #[prost(string, tag = "17")]
    decided_by: String,
    #[prost(uint64, tag = "18")]
    decided_at_ms: u64,
    #[prost(uint32, tag = "19")]
    before_trash: u32,
    /// Added within version 2: records without it read as an empty version.
    #[prost(string, tag = "20")]
    policy_version: String,
    /// Added within version 2 (with the receipt fields below): records without them read as
    /// a comment without an idempotency key, submitted status or shadow verdict.
    #[prost(string, tag = "21")]
    idempotency_key: String,
    #[prost(bytes = "vec", tag = "22")]
    request_digest: Vec<u8>,
    #[prost(uint32, tag = "23")]
    submitted_status: u32,
    #[prost(uint32, tag = "24")]
    shadow_status: u32,
    /// Added within version 2: records without them read as toxicity 0 without spans.
    #[prost(float, tag = "25")]
    toxicity: f32,
    #[prost(message, repeated, tag = "26")]
    toxic_spans: Vec<SpanV1>,
    /// Added within version 2: records without it read as a comment sent without a title.
    #[prost(string, tag = "27")]
    post_title: String,
}

/// One toxic span of a record's text.
#[derive(Clone, PartialEq, prost::Message)]
struct SpanV1 {
    #[prost(uint32, tag = "1")]
    start: u32,
    #[prost(uint32, tag = "2")]
    end: u32,
    #[prost(string, tag = "3")]
    kind: String,
}

/// One reason. Version 1 filled `code` and `detail`; version 2 writes a known code as
/// `code_id` and a classifier explanation as its `feature` alone, the detail being rebuilt
/// from it, which halves what a typical record spends on reasons.
#[derive(Clone, PartialEq, prost::Message)]
struct ReasonV1 {
    #[prost(string, tag = "1")]
    code: String,
    #[prost(string, tag = "2")]
    detail: String,
    #[prost(float, tag = "3")]
    weight: f32,
    #[prost(uint32, tag = "4")]
    code_id: u32,
    #[prost(string, tag = "5")]
    feature: String,
}

impl ReasonV1 {
    fn compact(reason: &Reason) -> Self {
        let feature = reason.classifier_feature().filter(|f| !f.is_empty());
        Self {
            code: String::new(),
            detail: if feature.is_some() {
                String::new()
            } else {
                reason.detail.clone()
            },
            weight: reason.weight,
            code_id: reason.code.stored_id(),
            feature: feature.unwrap_or_default().to_owned(),
        }
    }

    fn expand(self) -> Result<Reason, StoreError> {
        let code = match self.code_id {
            0 => ReasonCode::parse(&self.code),
            n => ReasonCode::from_stored_id(n),
        }
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "unknown reason code {:?} (number {})",
                self.code, self.code_id
            ))
        })?;
        if self.feature.is_empty() {
            return Ok(Reason::new(code, self.detail, self.weight));
        }
        Ok(Reason::classifier(&self.feature, self.weight))
    }
}

/// Encodes a comment for storage: version 3, the message compressed, about half its bytes;
/// version 2 (uncompressed) for a message that does not get shorter.
pub fn encode(comment: &StoredComment) -> Vec<u8> {
    let message = encode_message(comment);
    let compressed = compression::compress(&message).filter(|frame| frame.len() < message.len());
    let (version, body) = match &compressed {
        Some(frame) => (RECORD_VERSION, frame),
        None => (PLAIN_VERSION, &message),
    };
    let mut bytes = Vec::with_capacity(1 + body.len());
    bytes.push(version);
    bytes.extend_from_slice(body);
    bytes
}

/// A comment's message, uncompressed and without a version: what the record dictionary is
/// trained on.
pub fn encode_message(comment: &StoredComment) -> Vec<u8> {
    message(comment).encode_to_vec()
}

/// The message of a record, as both versions 2 and 3 hold it.
fn message(comment: &StoredComment) -> RecordV1 {
    let s = &comment.submission;
    let receipt = &comment.receipt;
    RecordV1 {
        id: comment.id.as_bytes().to_vec(),
        created_at_ms: comment.created_at_ms,
        post_id: s.post_id.clone(),
        post_title: s.post_title.clone().unwrap_or_default(),
        parent_id: s
            .parent_id
            .map(|p| p.as_bytes().to_vec())
            .unwrap_or_default(),
        author_name: s.author_name.clone(),
        author_email: s.author_email.clone(),
        author_url: s.author_url.clone().unwrap_or_default(),
        content: s.content.clone(),
        ip: s.context.ip.map(|ip| ip.to_string()).unwrap_or_default(),
        user_agent: s.context.user_agent.clone(),
        referrer: s.context.referrer.clone(),
        status: u32::from(comment.verdict.status as u8),
        spam_score: comment.verdict.spam_score,
        toxicity: comment.verdict.toxicity,
        toxic_spans: comment
            .verdict
            .toxic_spans
            .iter()
            .map(|t| SpanV1 {
                start: u32::try_from(t.start).unwrap_or(u32::MAX),
                end: u32::try_from(t.end).unwrap_or(u32::MAX),
                kind: t.kind.clone(),
            })
            .collect(),
        reasons: comment
            .verdict
            .reasons
            .iter()
            .map(ReasonV1::compact)
            .collect(),
        model_version: comment.model_version.clone(),
        policy_version: comment.policy_version.clone(),
        email_hash: comment.email_hash.to_vec(),
        decided_by: comment
            .decision
            .as_ref()
            .map(|d| d.by.clone())
            .unwrap_or_default(),
        decided_at_ms: comment.decision.as_ref().map_or(0, |d| d.at_ms),
        before_trash: comment
            .decision
            .as_ref()
            .and_then(|d| d.before_trash)
            .map_or(0, |s| u32::from(s as u8)),
        idempotency_key: receipt
            .idempotency
            .as_ref()
            .map(|i| i.key.clone())
            .unwrap_or_default(),
        request_digest: receipt
            .idempotency
            .as_ref()
            .map(|i| i.request_digest.to_vec())
            .unwrap_or_default(),
        submitted_status: status_number(receipt.submitted_status),
        shadow_status: status_number(receipt.shadow_status),
    }
}

/// Decodes a record from the `comments` tree.
///
/// # Errors
/// [`StoreError::UnsupportedVersion`] for a record written by a newer build, and
/// [`StoreError::Corrupt`] for bytes that do not decode.
pub fn decode(bytes: &[u8]) -> Result<StoredComment, StoreError> {
    let r = record_body(bytes)?;
    let id = id_from(&r.id).ok_or_else(|| corrupt("bad id"))?;
    let parent_id = if r.parent_id.is_empty() {
        None
    } else {
        Some(id_from(&r.parent_id).ok_or_else(|| corrupt("bad parent id"))?)
    };
    let status = status_from(r.status).ok_or_else(|| corrupt("bad status"))?;
    let email_hash: [u8; 32] = r
        .email_hash
        .as_slice()
        .try_into()
        .map_err(|_| corrupt("bad email hash"))?;
    let receipt = receipt_from(
        r.idempotency_key,
        &r.request_digest,
        r.submitted_status,
        r.shadow_status,
    )?;
    Ok(StoredComment {
        id,
        created_at_ms: r.created_at_ms,
        submission: Submission {
            post_id: r.post_id,
            post_title: (!r.post_title.is_empty()).then_some(r.post_title),
            parent_id,
            author_name: r.author_name,
            author_email: r.author_email,
            author_url: (!r.author_url.is_empty()).then_some(r.author_url),
            content: r.content,
            context: ClientContext {
                ip: r.ip.parse().ok(),
                user_agent: r.user_agent,
                referrer: r.referrer,
                honeypot: String::new(),
            },
        },
        verdict: Verdict {
            status,
            spam_score: r.spam_score,
            reasons: r
                .reasons
                .into_iter()
                .map(ReasonV1::expand)
                .collect::<Result<_, _>>()?,
            toxicity: r.toxicity,
            toxic_spans: r
                .toxic_spans
                .into_iter()
                .map(|t| ToxicSpan {
                    start: t.start as usize,
                    end: t.end as usize,
                    kind: t.kind,
                })
                .collect(),
        },
        model_version: r.model_version,
        policy_version: r.policy_version,
        email_hash,
        decision: decision_from(r.decided_by, r.decided_at_ms, r.before_trash),
        receipt,
    })
}

/// The error for a record whose bytes do not make a comment, saying what is wrong.
#[inline]
fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("comment record: {what}"))
}

/// The message after the version byte, once the version is known to be one this build reads.
#[inline]
fn record_body(bytes: &[u8]) -> Result<RecordV1, StoreError> {
    let (&version, body) = bytes.split_first().ok_or_else(|| corrupt("empty"))?;
    if version > RECORD_VERSION {
        return Err(StoreError::UnsupportedVersion(version));
    }
    if version == 0 {
        return Err(corrupt("version 0"));
    }
    if version == RECORD_VERSION {
        let message = compression::decompress(body).map_err(corrupt)?;
        return RecordV1::decode(message.as_slice()).map_err(|_| corrupt("undecodable"));
    }
    RecordV1::decode(body).map_err(|_| corrupt("undecodable"))
}

/// The receipt of a record: its idempotency key (none when empty) with the request digest
/// that must come with one, and the submitted and shadow statuses.
#[inline]
fn receipt_from(
    idempotency_key: String,
    request_digest: &[u8],
    submitted_status: u32,
    shadow_status: u32,
) -> Result<Receipt, StoreError> {
    let idempotency = if idempotency_key.is_empty() {
        None
    } else {
        Some(Idempotency {
            key: idempotency_key,
            request_digest: request_digest
                .try_into()
                .map_err(|_| corrupt("bad request digest"))?,
        })
    };
    Ok(Receipt {
        idempotency,
        submitted_status: status_from(submitted_status),
        shadow_status: status_from(shadow_status),
    })
}

/// The moderator's decision of a record, if one was made.
#[inline]
fn decision_from(decided_by: String, decided_at_ms: u64, before_trash: u32) -> Option<Decision> {
    // A decision always names its moderator, so an empty name means none was made.
    (!decided_by.is_empty()).then(|| Decision {
        by: decided_by,
        at_ms: decided_at_ms,
        before_trash: status_from(before_trash),
    })
}

/// A status as a record stores it: 0 for none.
fn status_number(status: Option<Status>) -> u32 {
    status.map_or(0, |s| u32::from(s as u8))
}

/// A stored status number; 0 (or an unknown number) is none.
fn status_from(number: u32) -> Option<Status> {
    u8::try_from(number).ok().and_then(Status::from_byte)
}

/// The id stored as `bytes`, if they are 16 bytes long.
pub fn id_from(bytes: &[u8]) -> Option<CommentId> {
    bytes.try_into().ok().map(CommentId::from_bytes)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> StoredComment {
        StoredComment {
            id: CommentId::generate(),
            created_at_ms: 1_700_000_000_000,
            submission: Submission {
                post_id: "post".into(),
                post_title: Some("Slugs and lettuce".into()),
                parent_id: Some(CommentId::generate()),
                author_name: "Ada".into(),
                author_email: "ada@example.com".into(),
                author_url: Some("https://ada.example".into()),
                content: "hello\nworld".into(),
                context: ClientContext {
                    ip: Some("192.0.2.7".parse().unwrap()),
                    user_agent: "ua".into(),
                    referrer: "https://ref.example".into(),
                    honeypot: String::new(),
                },
            },
            verdict: Verdict {
                status: Status::Pending,
                spam_score: 0.6,
                reasons: vec![Reason::new(ReasonCode::SpamScore, "d", 0.6)],
                toxicity: 0.0,
                toxic_spans: Vec::new(),
            },
            model_version: "m@1".into(),
            policy_version: "0123456789abcdef".into(),
            email_hash: [7; 32],
            decision: Some(crate::moderation::Decision {
                by: "alice".into(),
                at_ms: 1_700_000_001_000,
                before_trash: Some(Status::Approved),
            }),
            receipt: Receipt {
                idempotency: Some(Idempotency {
                    key: "retry-1".into(),
                    request_digest: [9; 32],
                }),
                submitted_status: Some(Status::Pending),
                shadow_status: Some(Status::Spam),
            },
        }
    }

    #[test]
    fn records_without_a_receipt_read_as_none_kept() {
        // A record of the previous release: no receipt fields at all.
        let mut comment = sample();
        let mut bytes = encode_plain(&comment);
        let mut record = RecordV1::decode(&bytes[1..]).unwrap();
        record.idempotency_key.clear();
        record.request_digest.clear();
        record.submitted_status = 0;
        record.shadow_status = 0;
        bytes.truncate(1);
        record.encode(&mut bytes).unwrap();
        comment.receipt = Receipt::default();
        assert_eq!(decode(&bytes).unwrap(), comment);
    }

    #[test]
    fn round_trips() {
        let comment = sample();
        assert_eq!(decode(&encode(&comment)).unwrap(), comment);
    }

    /// A record as version 2 wrote it: the message uncompressed.
    fn encode_plain(comment: &StoredComment) -> Vec<u8> {
        let mut bytes = vec![PLAIN_VERSION];
        bytes.extend(encode_message(comment));
        bytes
    }

    #[test]
    fn records_are_compressed_and_version_2_records_still_read() {
        let mut comment = sample();
        comment.submission.content =
            "I love this song so much, it brings back memories of summer. Who else is \
             listening in 2026? Subscribe to my channel for covers!"
                .into();
        let compressed = encode(&comment);
        assert_eq!(compressed[0], RECORD_VERSION);
        assert!(compressed.len() < encode_plain(&comment).len() * 3 / 4);
        assert_eq!(decode(&compressed).unwrap(), comment);
        assert_eq!(decode(&encode_plain(&comment)).unwrap(), comment);
    }

    /// A version 3 record written by the release that introduced it: every later build must
    /// read it as this comment (the dictionary and zstd's format are part of the contract).
    const VERSION_3_RECORD: &str = concat!(
        "0328b52ffd603500e50500c3ca261e7adbf5f48ef9b4da4154ad9aa9964c81de7a498e61bfedff80",
        "d68ad447a1cfb7c9443b332b5b2a934863eba46d8924d1940a022852cbc343e1f8ad6a6d0ce8ad8b",
        "e40599ca44dbdd161431c2a3ed96d5775b50c4883ce594faefe1bda7f6d08eca23f2a86c260b64b0",
        "a2e3d853afdce31b7d0da4c934f4e8e3aafc0afa0b6ff42d2adfe81b55d894d1cbaee96a00064934",
        "a582e461616c8d56010afcb28005e45046e67f709270417490008b0b707750aae6025f92705c0b",
    );

    fn fixture_comment() -> StoredComment {
        let mut comment = sample();
        comment.id = CommentId::from_bytes([1; 16]);
        comment.submission.parent_id = Some(CommentId::from_bytes([2; 16]));
        comment
    }

    #[test]
    fn reads_version_3_records_of_earlier_builds() {
        let bytes = hex::decode(VERSION_3_RECORD).unwrap();
        assert_eq!(bytes[0], 3);
        assert_eq!(decode(&bytes).unwrap(), fixture_comment());
    }

    #[test]
    fn stores_classifier_explanations_by_feature_and_reads_version_1() {
        let mut comment = sample();
        comment.verdict.reasons = vec![
            Reason::classifier("my channel", 1.25),
            Reason::classifier("\"vid\"", -0.5),
            // Not in the usual form: kept verbatim.
            Reason::new(ReasonCode::Classifier, "my channel pushes toward ham", 0.5),
            Reason::new(ReasonCode::FirstTimeAuthor, "no approved comment yet", 0.5),
        ];
        let compact = encode_plain(&comment);
        assert_eq!(decode(&compact).unwrap(), comment);
        assert!(compact.len() + 40 < encode_v1(&comment).len());

        // A record written by version 1 (codes and details as text) still reads.
        assert_eq!(decode(&encode_v1(&comment)).unwrap(), comment);
    }

    fn encode_v1(comment: &StoredComment) -> Vec<u8> {
        let mut bytes = encode_plain(comment);
        let mut record = RecordV1::decode(&bytes[1..]).unwrap();
        for (stored, reason) in record.reasons.iter_mut().zip(&comment.verdict.reasons) {
            *stored = ReasonV1 {
                code: reason.code.as_str().to_owned(),
                detail: reason.detail.clone(),
                weight: reason.weight,
                code_id: 0,
                feature: String::new(),
            };
        }
        bytes.truncate(1);
        bytes[0] = 1;
        record.encode(&mut bytes).unwrap();
        bytes
    }

    #[test]
    fn every_reason_code_keeps_its_stored_number() {
        // Records name codes by these numbers: changing one would misread stored data.
        let numbers: Vec<(u32, &str)> = ReasonCode::ALL
            .iter()
            .map(|c| (c.stored_id(), c.as_str()))
            .collect();
        assert_eq!(
            numbers,
            [
                (1, "spam_score"),
                (2, "classifier"),
                (3, "honeypot"),
                (4, "too_many_links"),
                (5, "email_in_content"),
                (6, "campaign"),
                (7, "banned_email"),
                (8, "banned_ip"),
                (9, "disallowed_key"),
                (10, "moderation_key"),
                (11, "first_time_author"),
                (12, "toxic"),
            ]
        );
        assert_eq!(ReasonCode::from_stored_id(0), None);
        assert_eq!(ReasonCode::from_stored_id(13), None);
    }

    #[test]
    fn refuses_newer_versions_and_garbage() {
        let mut bytes = encode(&sample());
        bytes[0] = RECORD_VERSION + 1;
        assert!(matches!(
            decode(&bytes),
            Err(StoreError::UnsupportedVersion(v)) if v == RECORD_VERSION + 1
        ));
        assert!(matches!(decode(&[]), Err(StoreError::Corrupt(_))));
        assert!(matches!(
            decode(&[RECORD_VERSION, 0xff, 0xff]),
            Err(StoreError::Corrupt(_))
        ));
    }
}

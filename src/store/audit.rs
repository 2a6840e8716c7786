//! The audit log's stored form: one entry per moderator action.

use prost::Message as _;

use super::StoreError;
use super::record::id_from;
use crate::comment::Status;
use crate::moderation::{Action, AuditEntry};

#[derive(Clone, PartialEq, prost::Message)]
struct AuditV1 {
    #[prost(uint64, tag = "1")]
    at_ms: u64,
    #[prost(string, tag = "2")]
    moderator: String,
    #[prost(bytes = "vec", tag = "3")]
    comment_id: Vec<u8>,
    #[prost(uint32, tag = "4")]
    action: u32,
    #[prost(uint32, tag = "5")]
    from: u32,
    #[prost(uint32, tag = "6")]
    to: u32,
    #[prost(string, tag = "7")]
    note: String,
    #[prost(float, tag = "8")]
    spam_score: f32,
}

/// Encodes an entry for the `audit` tree.
pub fn encode(entry: &AuditEntry) -> Vec<u8> {
    AuditV1 {
        at_ms: entry.at_ms,
        moderator: entry.moderator.clone(),
        comment_id: entry.comment_id.as_bytes().to_vec(),
        action: u32::from(entry.action as u8),
        from: u32::from(entry.from as u8),
        to: u32::from(entry.to as u8),
        note: entry.note.clone(),
        spam_score: entry.spam_score,
    }
    .encode_to_vec()
}

/// Decodes an entry of the `audit` tree.
///
/// # Errors
/// [`StoreError::Corrupt`] for bytes that do not decode.
pub fn decode(bytes: &[u8]) -> Result<AuditEntry, StoreError> {
    let corrupt = || StoreError::Corrupt("audit entry".into());
    let r = AuditV1::decode(bytes).map_err(|_| corrupt())?;
    let status = |v: u32| u8::try_from(v).ok().and_then(Status::from_byte);
    Ok(AuditEntry {
        at_ms: r.at_ms,
        moderator: r.moderator,
        comment_id: id_from(&r.comment_id).ok_or_else(corrupt)?,
        action: u8::try_from(r.action)
            .ok()
            .and_then(Action::from_byte)
            .ok_or_else(corrupt)?,
        from: status(r.from).ok_or_else(corrupt)?,
        to: status(r.to).ok_or_else(corrupt)?,
        note: r.note,
        spam_score: r.spam_score,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comment::CommentId;

    #[test]
    fn entries_round_trip() {
        let entry = AuditEntry {
            at_ms: 5,
            moderator: "alice".into(),
            comment_id: CommentId::generate(),
            action: Action::MarkSpam,
            from: Status::Pending,
            to: Status::Spam,
            note: "campaign".into(),
            spam_score: 0.7,
        };
        assert_eq!(decode(&encode(&entry)).unwrap(), entry);
        assert!(decode(&[0xff, 0xff]).is_err());
    }
}

//! Moderator labels kept for retraining: what the classifier saw of a comment and the label a
//! moderator gave it, keyed by comment id so a later decision replaces an earlier one.

use prost::Message as _;

use super::StoreError;
use super::record::id_from;
use crate::comment::CommentText;
use crate::comment::Label;
use crate::comment::{CommentId, StoredComment};

#[derive(Clone, PartialEq, prost::Message)]
struct LabelV1 {
    #[prost(bool, tag = "1")]
    spam: bool,
    #[prost(string, tag = "2")]
    content: String,
    #[prost(string, tag = "3")]
    author_name: String,
    #[prost(string, tag = "4")]
    author_url: String,
    /// Absent (0) in labels written before it was kept: they count as given before any
    /// reset of the site model.
    #[prost(uint64, tag = "5")]
    decided_ms: u64,
}

/// A labelled example taken from a moderator decision.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledText {
    /// The comment the label is about.
    pub comment_id: CommentId,
    /// The moderator's label.
    pub label: Label,
    /// The comment text.
    pub content: String,
    /// The display name.
    pub author_name: String,
    /// The author's website, empty when none.
    pub author_url: String,
    /// When the label was given, in milliseconds since the epoch (0 when not known: labels
    /// stored before it was kept). A reset of the site model drops the labels given before it.
    pub decided_ms: u64,
}

impl LabelledText {
    /// The label `label` given to `comment` at `decided_ms`.
    pub fn of(comment: &StoredComment, label: Label, decided_ms: u64) -> Self {
        let s = &comment.submission;
        Self {
            comment_id: comment.id,
            label,
            content: s.content.clone(),
            author_name: s.author_name.clone(),
            author_url: s.author_url.clone().unwrap_or_default(),
            decided_ms,
        }
    }

    /// What the classifier looks at of the labelled comment.
    pub fn text(&self) -> CommentText<'_> {
        CommentText {
            content: &self.content,
            author_name: &self.author_name,
            author_url: &self.author_url,
        }
    }
}

/// Encodes the label a moderator gave `comment` at `decided_ms`.
pub fn encode(comment: &StoredComment, label: Label, decided_ms: u64) -> Vec<u8> {
    encode_text(&LabelledText::of(comment, label, decided_ms))
}

/// Encodes a label given without a stored comment (see `Storage::put_label`).
pub fn encode_text(label: &LabelledText) -> Vec<u8> {
    LabelV1 {
        spam: label.label == Label::Spam,
        content: label.content.clone(),
        author_name: label.author_name.clone(),
        author_url: label.author_url.clone(),
        decided_ms: label.decided_ms,
    }
    .encode_to_vec()
}

/// Decodes an entry (key and value) of the `labels` tree.
///
/// # Errors
/// [`StoreError::Corrupt`] for bytes that do not decode.
pub fn decode(key: &[u8], bytes: &[u8]) -> Result<LabelledText, StoreError> {
    let corrupt = || StoreError::Corrupt("label".into());
    let r = LabelV1::decode(bytes).map_err(|_| corrupt())?;
    Ok(LabelledText {
        comment_id: id_from(key).ok_or_else(corrupt)?,
        label: if r.spam { Label::Spam } else { Label::Ham },
        content: r.content,
        author_name: r.author_name,
        author_url: r.author_url,
        decided_ms: r.decided_ms,
    })
}

//! How values are stored in PostgreSQL columns: comment ids as their 16 bytes, times as
//! BIGINT milliseconds, text signatures as their minhashes' bytes and band keys.

use std::time::Duration;

use crate::comment::CommentId;
use crate::near_duplicate::{Signature, band_keys};
use crate::store::{Result, StoreError};

/// The database's clock in milliseconds, as SQL.
pub(super) const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// A duration as BIGINT milliseconds.
pub(super) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A signature's band keys as the `campaign_bands` columns (band, key).
pub(super) fn band_columns(sig: &Signature) -> (Vec<i16>, Vec<i64>) {
    band_keys(sig)
        .map(|(band, key)| (i16::from(band), key as i64))
        .unzip()
}

/// A signature as stored: its minhashes, big-endian.
pub(super) fn encode(sig: &Signature) -> Vec<u8> {
    sig.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// A stored signature; `None` when the bytes are not one.
pub(super) fn decode(bytes: &[u8]) -> Option<Signature> {
    let mut sig: Signature = [0; crate::near_duplicate::MINHASHES];
    if bytes.len() != sig.len() * 8 {
        return None;
    }
    for (slot, chunk) in sig.iter_mut().zip(bytes.chunks_exact(8)) {
        *slot = u64::from_be_bytes(chunk.try_into().ok()?);
    }
    Some(sig)
}

/// A comment id as stored (its 16 bytes).
pub(super) fn id_param(id: CommentId) -> Vec<u8> {
    id.as_bytes().to_vec()
}

/// A stored id column.
pub(super) fn id_column(bytes: &[u8]) -> Result<CommentId> {
    crate::store::record::id_from(bytes).ok_or_else(|| StoreError::Corrupt("comment id".into()))
}

/// Milliseconds as PostgreSQL's BIGINT (saturating far beyond any real time).
pub(super) fn ms_param(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// A BIGINT column read back as milliseconds (negatives, which are never written, as 0).
pub(super) fn ms_column(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

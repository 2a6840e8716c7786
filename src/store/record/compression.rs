//! Record version 3: a record's message compressed with zstd and a dictionary trained on comment
//! records, shipped in the binary. Comments are short, so zstd alone finds little to reuse
//! inside one (about −11 %); the dictionary gives it the message's structure, reason features
//! and common words, and halves a typical record (BENCHMARKS.md, "Storage v4").
//!
//! The dictionary is part of the format: records written with it must stay readable, so it
//! never changes. A better one comes with a new record version (and keeps this one).
//! `scripts/record-dictionary.sh` shows how it was made.

use std::cell::RefCell;
use std::sync::LazyLock;

use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};
use zstd::zstd_safe::CParameter;

/// The dictionary of record version 3.
const DICTIONARY: &[u8] = include_bytes!("dictionary-v3.zdict");

/// zstd's default level: compressing a record takes a few microseconds.
const LEVEL: i32 = 3;

/// The largest message a frame may say it holds; comments are far smaller, so a frame
/// claiming more is corrupt and is not allowed to make us allocate it.
const MAX_MESSAGE_BYTES: u64 = 1 << 20;

static ENCODER: LazyLock<EncoderDictionary<'static>> =
    LazyLock::new(|| EncoderDictionary::copy(DICTIONARY, LEVEL));
static DECODER: LazyLock<DecoderDictionary<'static>> =
    LazyLock::new(|| DecoderDictionary::copy(DICTIONARY));

thread_local! {
    // A context per thread: making one costs more than compressing a record.
    static COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

/// `message` compressed, or `None` if zstd fails (the caller stores it uncompressed).
pub(super) fn compress(message: &[u8]) -> Option<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = new_compressor().ok();
        }
        slot.as_mut()?.compress(message).ok()
    })
}

/// A compressor for frames as lean as a record allows: sled already checks what it stores, and
/// the dictionary is implied by the record version.
fn new_compressor() -> std::io::Result<Compressor<'static>> {
    let mut compressor = Compressor::with_prepared_dictionary(&ENCODER)?;
    compressor.set_parameter(CParameter::ChecksumFlag(false))?;
    compressor.set_parameter(CParameter::DictIdFlag(false))?;
    compressor.set_parameter(CParameter::ContentSizeFlag(true))?;
    Ok(compressor)
}

/// The message of a compressed record, or what is wrong with the frame.
pub(super) fn decompress(frame: &[u8]) -> Result<Vec<u8>, &'static str> {
    let size = match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(size)) if size <= MAX_MESSAGE_BYTES => size,
        Ok(Some(_)) => return Err("compressed message claims an impossible size"),
        Ok(None) | Err(_) => return Err("compressed message without a size"),
    };
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Decompressor::with_prepared_dictionary(&DECODER).ok();
        }
        let decompressor = slot.as_mut().ok_or("no decompression context")?;
        let message = decompressor
            .decompress(frame, usize::try_from(size).unwrap_or(0))
            .map_err(|_| "compressed message does not decompress")?;
        if message.len() as u64 == size {
            Ok(message)
        } else {
            Err("compressed message shorter than it says")
        }
    })
}

#[cfg(test)]
mod tests {
    use sha2::{Digest as _, Sha256};

    use super::*;

    #[test]
    fn the_dictionary_never_changes() {
        // Every version 3 record was compressed with these bytes: a different dictionary would
        // make them unreadable. A new dictionary needs a new record version.
        assert_eq!(
            hex::encode(Sha256::digest(DICTIONARY)),
            "9869ea256061846275d9fdbc2568bc67fcc7144e4ffc8a42046739ca6514d09e"
        );
    }

    #[test]
    fn round_trips_and_shrinks_a_comment() {
        let message = "Great video, I have watched it every day since it came out! \
                       Check out my channel for more music like this."
            .repeat(2);
        let frame = compress(message.as_bytes()).unwrap();
        assert!(frame.len() * 2 < message.len(), "{} B", frame.len());
        assert_eq!(decompress(&frame).unwrap(), message.as_bytes());
    }

    #[test]
    fn refuses_frames_that_lie_about_their_size() {
        let frame = compress(b"a short comment, compressed").unwrap();
        assert!(decompress(&frame[..frame.len() - 1]).is_err());
        assert!(decompress(&[0xff; 12]).is_err());
        // A frame header announcing 16 MiB (single segment, 4-byte size): refused before
        // anything is allocated.
        let mut header = zstd::bulk::compress(&[0; 64], 1).unwrap()[..4].to_vec();
        header.extend_from_slice(&[0xa0, 0x00, 0x00, 0x00, 0x01]);
        assert_eq!(
            decompress(&header),
            Err("compressed message claims an impossible size")
        );
    }
}

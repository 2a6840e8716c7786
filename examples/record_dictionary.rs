//! Trains the zstd dictionary of comment records (record version 3) from stores filled through
//! the live service, and measures it on a store of other texts: mean record size stored
//! uncompressed, with zstd alone, and with the dictionary, and the time per record.
//!
//! `cargo run --release --example record_dictionary -- OUT BYTES HELD_OUT_STORE TRAINING_STORE...`
//!
//! `scripts/record-dictionary.sh` fills the stores and runs it. Training records lose their
//! post id and email first: those are what the load tool made up (`replay-…@example.com`), and a
//! dictionary that learned them would flatter every measurement made with that tool.

use std::path::Path;
use std::time::Instant;

use commentguard::comment::StoredComment;
use commentguard::store::embedded::EmbeddedStore;
use commentguard::store::record;
use zstd::zstd_safe::CParameter;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, bytes, held_out, training @ ..] = args.as_slice() else {
        return Err("usage: record_dictionary OUT BYTES HELD_OUT_STORE TRAINING_STORE...".into());
    };
    if training.is_empty() {
        return Err("name at least one training store".into());
    }
    let mut samples = Vec::new();
    for store in training {
        for mut comment in EmbeddedStore::stored_comments(Path::new(store))? {
            comment.submission.post_id.clear();
            comment.submission.author_email.clear();
            samples.push(message(&comment));
        }
    }
    let dictionary = zstd::dict::from_samples(&samples, bytes.parse()?)?;
    std::fs::write(out, &dictionary)?;
    println!(
        "dictionary of {} B from {} records written to {out}",
        dictionary.len(),
        samples.len()
    );
    let test: Vec<Vec<u8>> = EmbeddedStore::stored_comments(Path::new(held_out))?
        .iter()
        .map(message)
        .collect();
    measure(&test, &dictionary)
}

/// A record's message: what the dictionary compresses.
fn message(comment: &StoredComment) -> Vec<u8> {
    record::encode_message(comment)
}

fn measure(test: &[Vec<u8>], dictionary: &[u8]) -> Result<(), Error> {
    let n = test.len().max(1) as f64;
    let mean = |sizes: &mut dyn Iterator<Item = usize>| sizes.sum::<usize>() as f64 / n;
    println!("held-out records: {}", test.len());
    println!(
        "  uncompressed: {:.1} B",
        mean(&mut test.iter().map(Vec::len))
    );
    let alone: Vec<usize> = test
        .iter()
        .map(|m| zstd::bulk::compress(m, 3).map(|f| f.len()))
        .collect::<Result<_, _>>()?;
    println!("  zstd-3 alone: {:.1} B", mean(&mut alone.into_iter()));
    // Frames as the service writes them: no checksum, no dictionary id.
    let mut compressor = zstd::bulk::Compressor::with_dictionary(3, dictionary)?;
    compressor.set_parameter(CParameter::ChecksumFlag(false))?;
    compressor.set_parameter(CParameter::DictIdFlag(false))?;
    let started = Instant::now();
    let frames: Vec<Vec<u8>> = test
        .iter()
        .map(|m| compressor.compress(m))
        .collect::<Result<_, _>>()?;
    let compress_us = started.elapsed().as_secs_f64() * 1e6 / n;
    let mut decompressor = zstd::bulk::Decompressor::with_dictionary(dictionary)?;
    let started = Instant::now();
    for (frame, m) in frames.iter().zip(test) {
        decompressor.decompress(frame, m.len())?;
    }
    let decompress_us = started.elapsed().as_secs_f64() * 1e6 / n;
    println!(
        "  zstd-3 with the dictionary: {:.1} B ({compress_us:.1} µs to compress, {decompress_us:.1} µs to decompress)",
        mean(&mut frames.iter().map(Vec::len))
    );
    Ok(())
}

//! Near-duplicate text: MinHash signatures over character shingles, their estimated Jaccard
//! similarity, and band keys for finding candidates without comparing against everything
//! (locality-sensitive hashing). Campaign detection (in memory and in the shared database)
//! and the learner from moderators' labels all use it, over the text
//! [`crate::policy::trackers::matching_text`] gives, so "the same text give or take a word or
//! a link" means one thing.

/// Values in a signature.
pub const MINHASHES: usize = 32;
/// Signature values per band: two texts become candidates when one band matches.
pub const BAND_ROWS: usize = 2;
/// Characters per shingle of the signatures campaigns and the learner compare.
pub const SHINGLE: usize = 5;
/// Estimated Jaccard similarity of shingles at or above which two texts are copies.
pub const MIN_SIMILARITY: f64 = 0.5;

/// A MinHash signature.
pub type Signature = [u64; MINHASHES];

/// A 64-bit mix (splitmix64's finalizer).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The MinHash signature of the character `shingle`-grams of `text` (the whole text as one
/// shingle when shorter).
pub fn signature(text: &str, shingle: usize) -> Signature {
    let chars: Vec<char> = text.chars().collect();
    let shingle = shingle.max(1);
    let mut sig = [u64::MAX; MINHASHES];
    let n = chars.len().saturating_sub(shingle - 1).max(1);
    let seeds: [u64; MINHASHES] = std::array::from_fn(|k| mix(k as u64 + 1));
    for start in 0..n {
        let end = (start + shingle).min(chars.len());
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &c in &chars[start..end] {
            h = (h ^ u64::from(c)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        for (slot, seed) in sig.iter_mut().zip(seeds) {
            *slot = (*slot).min(mix(h ^ seed));
        }
    }
    sig
}

/// Estimated Jaccard similarity of the two shingle sets, in [0, 1].
pub fn similarity(a: &Signature, b: &Signature) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / MINHASHES as f64
}

/// The `(band, digest)` keys of a signature; similar texts share at least one.
pub fn band_keys(sig: &Signature) -> impl Iterator<Item = (u8, u64)> + '_ {
    sig.chunks(BAND_ROWS).enumerate().map(|(band, rows)| {
        let digest = rows.iter().fold(band as u64, |h, &v| mix(h ^ v));
        (band as u8, digest)
    })
}

/// A digest of a whole signature, to name what it identifies (a campaign).
pub fn digest(sig: &Signature) -> u64 {
    sig.iter().fold(0, |h, &v| mix(h ^ v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_varied_word_or_link_stays_similar_and_other_texts_do_not() {
        let sig = |t: &str| signature(&t.to_lowercase(), SHINGLE);
        let a = sig("Check out my new channel for free gift cards http://a.example");
        let b = sig("check out my new channel for free gift codes http://a.example/x");
        let c = sig("The bridge at two minutes reminds me of their first album");
        assert!(similarity(&a, &b) >= 0.5, "{}", similarity(&a, &b));
        assert!(similarity(&a, &c) < 0.2, "{}", similarity(&a, &c));
        assert_eq!(similarity(&a, &a), 1.0);
    }
}

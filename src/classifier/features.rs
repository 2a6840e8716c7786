//! Feature extraction: a normalized comment becomes a sparse vector of
//! sublinear TF-IDF weights over a learned vocabulary of word unigrams, word bigrams,
//! sentence-opening words, intent terms, URL domains and character n-grams, followed by a few
//! metadata features.
//!
//! N-grams are identified by a 64-bit FNV-1a hash of their text, computed incrementally so
//! scoring never builds a `String` per n-gram; the vocabulary keeps the readable text for
//! explanations.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use serde::{Deserialize, Serialize};

use super::CommentText;
use super::intent::Intents;
pub use super::normalize::author_domain;
use super::normalize::{Normalized, normalize_into_with};
use super::signals::{self, SignalGroup, Signals};

/// How text becomes features. Stored in the model file so scoring repeats training exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureConfig {
    /// Shortest character n-gram, in characters.
    pub char_ngram_min: usize,
    /// Longest character n-gram, in characters.
    pub char_ngram_max: usize,
    /// Whether adjacent word pairs ("check out") are features.
    pub word_bigrams: bool,
    /// A term must occur in at least this many training comments to enter the vocabulary.
    pub min_df: u32,
    /// At most this many word, bigram and domain terms (the most frequent are kept).
    pub max_word_features: usize,
    /// At most this many character n-grams (the most frequent are kept).
    pub max_char_features: usize,
    /// Whether intent terms (`i:act_self`, ...; see [`super::intent`]) are features. Absent
    /// in older model files, which were trained without them.
    #[serde(default, skip_serializing_if = "is_false")]
    pub intent: bool,
    /// Whether each term's IDF is multiplied by the magnitude of its naive-Bayes log-count
    /// ratio (NB-LR), so terms that separate the classes weigh more before the regression.
    /// Only training reads it: the factor is folded into the stored IDF values.
    #[serde(default, skip_serializing_if = "is_false")]
    pub nb_weighting: bool,
    /// Whether long counts ("1000000000 views") get a placeholder of their own instead of
    /// the phone-number one (see [`super::normalize::COUNT_TOKEN`]). Absent in older model
    /// files, which normalized both alike.
    #[serde(default, skip_serializing_if = "is_false")]
    pub counts: bool,
    /// Whether the first word of each sentence is also a term of its own (`s:check`, shown
    /// as `^check`): a sentence that opens with "check", "subscribe" or "visit" is usually
    /// an imperative, the same word later in a sentence usually is not. Absent in older model
    /// files, which were trained without them.
    #[serde(default, skip_serializing_if = "is_false")]
    pub lead_words: bool,
    /// Which signals that travel between communities are terms (see [`super::signals`]).
    /// Absent in older model files, which were trained without them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<SignalGroup>,
}

/// Fields added to the model file after its first layout are left out when off, so a file
/// written before them serializes, and so checksums, exactly as it was written.
pub(crate) fn is_false(b: &bool) -> bool {
    !b
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            char_ngram_min: 3,
            char_ngram_max: 6,
            word_bigrams: true,
            min_df: 2,
            max_word_features: 8000,
            max_char_features: 12000,
            intent: true,
            nb_weighting: false,
            counts: true,
            lead_words: true,
            signals: Vec::new(),
        }
    }
}

/// Which L2-normalized block a term belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Block {
    /// Word unigrams, bigrams and domains.
    Words,
    /// Character n-grams.
    Chars,
}

/// Names of the metadata features, in column order after the vocabulary.
///
/// Comment length is deliberately absent: SMS and YouTube differ in length for reasons
/// unrelated to spam, and with it the model flagged more YouTube ham.
pub const META_NAMES: [&str; 4] = [
    "link_count",
    "author_url",
    "uppercase_ratio",
    "repeated_chars",
];

/// One term as found in a text, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gram<'a> {
    /// A word.
    Word(&'a str),
    /// Two adjacent words.
    Bigram(&'a str, &'a str),
    /// A character n-gram (may include spaces).
    Chars(&'a str),
    /// The domain of a URL in the text.
    Domain(&'a str),
    /// The domain of the author's website.
    AuthorDomain(&'a str),
    /// An intent the comment shows (see [`super::intent`]).
    Intent(&'a str),
    /// The first word of a sentence.
    Lead(&'a str),
    /// A signal that travels between communities (see [`super::signals`]).
    Signal(&'a str),
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

#[inline]
fn seed(kind: u8) -> u64 {
    fnv(FNV_OFFSET, &[kind, b':'])
}

#[inline]
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
    }
    h
}

impl Gram<'_> {
    fn kind(&self) -> u8 {
        match self {
            Gram::Word(_) => b'w',
            Gram::Bigram(..) => b'b',
            Gram::Chars(_) => b'c',
            Gram::Domain(_) => b'd',
            Gram::AuthorDomain(_) => b'a',
            Gram::Intent(_) => b'i',
            Gram::Lead(_) => b's',
            Gram::Signal(_) => b'g',
        }
    }

    /// The block this term is normalized with.
    pub fn block(&self) -> Block {
        match self {
            Gram::Chars(_) => Block::Chars,
            _ => Block::Words,
        }
    }

    /// The 64-bit identity of the term: FNV-1a over its kind and text.
    pub fn hash(&self) -> u64 {
        let h = seed(self.kind());
        match self {
            Gram::Bigram(a, b) => fnv(fnv(fnv(h, a.as_bytes()), b" "), b.as_bytes()),
            Gram::Word(s)
            | Gram::Chars(s)
            | Gram::Domain(s)
            | Gram::AuthorDomain(s)
            | Gram::Intent(s)
            | Gram::Lead(s)
            | Gram::Signal(s) => fnv(h, s.as_bytes()),
        }
    }

    /// The stored key, `kind:text`, from which [`parse_key`] rebuilds the term.
    pub fn key(&self) -> String {
        let kind = char::from(self.kind());
        match self {
            Gram::Bigram(a, b) => format!("{kind}:{a} {b}"),
            Gram::Word(s)
            | Gram::Chars(s)
            | Gram::Domain(s)
            | Gram::AuthorDomain(s)
            | Gram::Intent(s)
            | Gram::Lead(s)
            | Gram::Signal(s) => {
                format!("{kind}:{s}")
            }
        }
    }
}

/// Rebuilds a term from its stored key; `None` when the key is malformed.
pub fn parse_key(key: &str) -> Option<Gram<'_>> {
    let (kind, text) = key.split_once(':')?;
    Some(match kind {
        "w" => Gram::Word(text),
        "b" => {
            let (a, b) = text.split_once(' ')?;
            Gram::Bigram(a, b)
        }
        "c" => Gram::Chars(text),
        "d" => Gram::Domain(text),
        "a" => Gram::AuthorDomain(text),
        "i" => Gram::Intent(text),
        "s" => Gram::Lead(text),
        "g" => Gram::Signal(text),
        _ => return None,
    })
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Calls `f` for every term occurrence in a normalized comment.
pub fn for_each_gram(
    cfg: &FeatureConfig,
    norm: &Normalized,
    found: (&str, &Signals),
    padded: &mut String,
    bounds: &mut Vec<usize>,
    mut f: impl FnMut(Gram<'_>, u64),
) {
    for_each_word_gram(cfg, norm, found, &mut f);
    if !fill_padded(cfg, norm, padded) {
        return;
    }
    bounds.clear();
    bounds.extend(padded.char_indices().map(|(i, _)| i));
    bounds.push(padded.len());
    let n_chars = bounds.len() - 1;
    let base = seed(b'c');
    for i in 0..n_chars {
        let mut h = base;
        for n in 1..=cfg.char_ngram_max {
            if i + n > n_chars {
                break;
            }
            h = fnv(h, &padded.as_bytes()[bounds[i + n - 1]..bounds[i + n]]);
            if n >= cfg.char_ngram_min {
                f(Gram::Chars(&padded[bounds[i]..bounds[i + n]]), h);
            }
        }
    }
}

/// Calls `f` for every term occurrence of a comment, from its raw fields: what training
/// sees, for learners that keep no vocabulary of their own (the site model).
pub fn for_each_term(cfg: &FeatureConfig, text: &CommentText<'_>, f: impl FnMut(Gram<'_>, u64)) {
    let norm = super::normalize::normalize_with(text.content, cfg.counts);
    let mut found = Signals::default();
    signals::read(&cfg.signals, text, &mut found);
    let author = author_domain(text.author_url);
    let (mut padded, mut bounds) = (String::new(), Vec::new());
    for_each_gram(cfg, &norm, (&author, &found), &mut padded, &mut bounds, f);
}

/// Calls `f` for every word, bigram, domain and signal occurrence (the [`Block::Words`]
/// terms); `found` holds the author's website domain and the comment's signals.
fn for_each_word_gram(
    cfg: &FeatureConfig,
    norm: &Normalized,
    (author_domain, signals): (&str, &Signals),
    mut f: impl FnMut(Gram<'_>, u64),
) {
    // Each word's bytes feed three FNV chains in one pass: the word's own hash, the bigram
    // ending with it (continuing the previous word's `b:prev ` prefix) and the prefix of the
    // bigram starting with it. The same values as `Gram::hash`, but the three independent
    // multiply chains overlap instead of running one after another.
    let (word_seed, pair_seed) = (seed(b'w'), seed(b'b'));
    let mut prev: Option<(&str, u64)> = None;
    let mut intents = Intents::default();
    let text = norm.text.as_str();
    let mut last_end = 0;
    for word in text.split(|c: char| !is_word_char(c)) {
        if word.is_empty() {
            continue;
        }
        if cfg.lead_words {
            // `word` is a slice of `text`: its offset is the distance between their starts.
            let start = word.as_ptr() as usize - text.as_ptr() as usize;
            let between = text.get(last_end..start).unwrap_or("");
            if last_end == 0 || between.contains(['.', '!', '?']) {
                let g = Gram::Lead(word);
                f(g, g.hash());
            }
            last_end = start + word.len();
        }
        if cfg.intent {
            intents.push(word);
        }
        let (mut hw, mut hb, mut hp) = (word_seed, prev.map_or(0, |p| p.1), pair_seed);
        for &b in word.as_bytes() {
            let b = u64::from(b);
            hw = (hw ^ b).wrapping_mul(FNV_PRIME);
            hb = (hb ^ b).wrapping_mul(FNV_PRIME);
            hp = (hp ^ b).wrapping_mul(FNV_PRIME);
        }
        f(Gram::Word(word), hw);
        if let Some((p, _)) = prev.filter(|_| cfg.word_bigrams) {
            f(Gram::Bigram(p, word), hb);
        }
        prev = Some((word, fnv(hp, b" ")));
    }
    if cfg.intent {
        for name in intents.names() {
            let g = Gram::Intent(name);
            f(g, g.hash());
        }
    }
    for domain in norm.domains.split(' ').filter(|d| !d.is_empty()) {
        let g = Gram::Domain(domain);
        f(g, g.hash());
    }
    if !author_domain.is_empty() {
        let g = Gram::AuthorDomain(author_domain);
        f(g, g.hash());
    }
    for name in &signals.names {
        let g = Gram::Signal(name);
        f(g, g.hash());
    }
    for word in signals.words.split(' ').filter(|w| !w.is_empty()) {
        let g = Gram::Word(word);
        f(g, g.hash());
    }
}

/// Puts the text between two spaces (so n-grams see word edges) into `padded`; false when
/// there are no character n-grams to take.
fn fill_padded(cfg: &FeatureConfig, norm: &Normalized, padded: &mut String) -> bool {
    if norm.text.is_empty() || cfg.char_ngram_max == 0 {
        return false;
    }
    padded.clear();
    padded.push(' ');
    padded.push_str(&norm.text);
    padded.push(' ');
    true
}

/// Calls `f` with the hash of every character n-gram, exactly as [`for_each_gram`] computes
/// them, but without building the term: scoring only needs the hash. ASCII text (the usual
/// case) is walked byte by byte with no boundary table.
fn for_each_char_hash(
    cfg: &FeatureConfig,
    norm: &Normalized,
    padded: &mut String,
    bounds: &mut Vec<usize>,
    mut f: impl FnMut(u64),
) {
    if !fill_padded(cfg, norm, padded) {
        return;
    }
    let bytes = padded.as_bytes();
    let base = seed(b'c');
    let (lo, hi) = (cfg.char_ngram_min, cfg.char_ngram_max);
    if bytes.is_ascii() {
        let mut start = 0;
        if (lo, hi) == (3, 6) {
            // The shipped recipe, unrolled: the same hashes in the same order as the loop
            // below, without its per-byte counter and length checks.
            let step = |h: u64, b: u8| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
            while let Some(&[b0, b1, b2, b3, b4, b5]) = bytes.get(start..start + 6) {
                let h3 = step(step(step(base, b0), b1), b2);
                f(h3);
                let h4 = step(h3, b3);
                f(h4);
                let h5 = step(h4, b4);
                f(h5);
                f(step(h5, b5));
                start += 1;
            }
        } else if (lo, hi) == (3, 5) {
            // The toxicity recipe, unrolled the same way.
            let step = |h: u64, b: u8| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
            while let Some(&[b0, b1, b2, b3, b4]) = bytes.get(start..start + 5) {
                let h3 = step(step(step(base, b0), b1), b2);
                f(h3);
                let h4 = step(h3, b3);
                f(h4);
                f(step(h4, b4));
                start += 1;
            }
        }
        for i in start..bytes.len() {
            let mut h = base;
            for (n, &b) in bytes[i..].iter().take(hi).enumerate() {
                h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
                if n + 1 >= lo {
                    f(h);
                }
            }
        }
        return;
    }
    bounds.clear();
    bounds.extend(padded.char_indices().map(|(i, _)| i));
    bounds.push(bytes.len());
    let n_chars = bounds.len() - 1;
    for i in 0..n_chars {
        let mut h = base;
        for n in 1..=hi.min(n_chars - i) {
            h = fnv(h, &bytes[bounds[i + n - 1]..bounds[i + n]]);
            if n >= lo {
                f(h);
            }
        }
    }
}

/// Hasher for keys that already are well-mixed 64-bit hashes: one multiply-xorshift.
#[derive(Debug, Clone, Copy, Default)]
pub struct PremixedHasher(u64);

impl Hasher for PremixedHasher {
    fn finish(&self) -> u64 {
        let h = self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^ (h >> 29)
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = fnv(self.0, bytes);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
}

impl BuildHasher for PremixedHasher {
    type Hasher = PremixedHasher;
    fn build_hasher(&self) -> PremixedHasher {
        PremixedHasher(0)
    }
}

const FILTER_WORDS: usize = 1 << 10;

/// The filter slot of a term hash (its top 16 bits after a multiply).
#[inline]
fn filter_slot(hash: u64) -> usize {
    (hash.wrapping_mul(0xD6E8_FEB8_6659_FD93) >> 48) as usize
}

/// The learned terms: their keys, blocks and inverse document frequencies, and a hash index.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    /// Open-addressing table keyed by the term hash itself: term hashes are already
    /// well-mixed 64-bit values, so a slot is a multiply and shift away, with no rehashing.
    table: Vec<Slot>,
    /// `64 - log2(table.len())`: the shift that turns a mixed hash into a slot.
    shift: u32,
    /// One bit per slot of a 2^16-bit filter; most n-grams of a comment are not in the
    /// vocabulary, and this L1-resident filter rejects them before the table is probed.
    filter: Vec<u64>,
    /// Stored key of each term, by column.
    pub keys: Vec<String>,
    /// Block of each term, by column.
    pub blocks: Vec<Block>,
    /// Smoothed inverse document frequency of each term, by column.
    pub idf: Vec<f64>,
}

/// One slot of the vocabulary table; `col == EMPTY` marks a free slot.
#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u64,
    col: u32,
}

const EMPTY: u32 = u32::MAX;

/// The first table slot of a term hash: the top bits after a multiply.
#[inline]
fn table_slot(hash: u64, shift: u32) -> usize {
    (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
}

/// Why a stored vocabulary is unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VocabularyError {
    /// A key does not parse as a term.
    #[error("malformed vocabulary key {0:?}")]
    BadKey(String),
    /// Two keys share a hash (or a key repeats).
    #[error("duplicate vocabulary key {0:?}")]
    Duplicate(String),
    /// Keys and IDF values differ in number.
    #[error("{keys} vocabulary keys but {idf} idf values")]
    Length {
        /// Number of keys.
        keys: usize,
        /// Number of idf values.
        idf: usize,
    },
    /// An IDF value is not a finite number.
    #[error("non-finite idf for {0:?}")]
    NonFinite(String),
}

impl Vocabulary {
    /// Rebuilds a vocabulary from stored keys and IDF values.
    ///
    /// # Errors
    /// When a key is malformed or repeated, a value is not finite, or lengths differ.
    pub fn from_parts(keys: Vec<String>, idf: Vec<f64>) -> Result<Self, VocabularyError> {
        if keys.len() != idf.len() {
            return Err(VocabularyError::Length {
                keys: keys.len(),
                idf: idf.len(),
            });
        }
        // At most half full, so probe runs stay short.
        let bits = (keys.len().max(8) * 2).next_power_of_two().trailing_zeros();
        let shift = 64 - bits;
        let mut table = vec![
            Slot {
                hash: 0,
                col: EMPTY
            };
            1 << bits
        ];
        let mask = table.len() - 1;
        let mut filter = vec![0u64; FILTER_WORDS];
        let mut blocks = Vec::with_capacity(keys.len());
        for (i, (key, v)) in keys.iter().zip(&idf).enumerate() {
            let gram = parse_key(key).ok_or_else(|| VocabularyError::BadKey(key.clone()))?;
            if !v.is_finite() {
                return Err(VocabularyError::NonFinite(key.clone()));
            }
            let col = u32::try_from(i)
                .ok()
                .filter(|&c| c != EMPTY)
                .ok_or_else(|| VocabularyError::BadKey(key.clone()))?;
            let h = gram.hash();
            let mut at = table_slot(h, shift);
            loop {
                let slot = &mut table[at];
                if slot.col == EMPTY {
                    *slot = Slot { hash: h, col };
                    break;
                }
                if slot.hash == h {
                    return Err(VocabularyError::Duplicate(key.clone()));
                }
                at = (at + 1) & mask;
            }
            let fs = filter_slot(h);
            filter[fs >> 6] |= 1 << (fs & 63);
            blocks.push(gram.block());
        }
        Ok(Self {
            table,
            shift,
            filter,
            keys,
            blocks,
            idf,
        })
    }

    /// Number of terms.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no term was learned.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The column of a term hash, if it is in the vocabulary.
    #[inline]
    pub fn column(&self, hash: u64) -> Option<u32> {
        let slot = filter_slot(hash);
        let word = self.filter.get(slot >> 6).copied().unwrap_or(0);
        if word & (1 << (slot & 63)) == 0 {
            return None;
        }
        let mask = self.table.len().checked_sub(1)?;
        let mut at = table_slot(hash, self.shift);
        loop {
            let s = self.table.get(at)?;
            if s.col == EMPTY {
                return None;
            }
            if s.hash == hash {
                return Some(s.col);
            }
            at = (at + 1) & mask;
        }
    }
}

/// Number of columns of a feature vector for a vocabulary.
pub fn n_features(vocab: &Vocabulary) -> usize {
    vocab.len() + META_NAMES.len()
}

/// A sparse feature vector: sorted columns and their values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseRow {
    /// Columns with a non-zero value, ascending.
    pub cols: Vec<u32>,
    /// The value of each column in `cols`.
    pub vals: Vec<f64>,
}

/// Reusable buffers for [`Extractor::extract`], so scoring does not allocate per call once warm.
#[derive(Debug, Default)]
pub struct Scratch {
    norm: Normalized,
    padded: String,
    bounds: Vec<usize>,
    /// One bit per column present; iterating it yields the columns in ascending order
    /// without sorting. All zero except while a comment is being extracted.
    present: Vec<u64>,
    /// Occurrences per column, zero except while a comment is being extracted.
    counts: Vec<u32>,
    author: String,
    signals: Signals,
}

/// Turns comments into feature vectors for one vocabulary.
#[derive(Debug, Clone, Copy)]
pub struct Extractor<'a> {
    /// The feature recipe.
    pub cfg: &'a FeatureConfig,
    /// The learned terms.
    pub vocab: &'a Vocabulary,
}

impl Extractor<'_> {
    /// Computes the feature vector of `text` into `row`.
    pub fn extract(&self, text: &CommentText<'_>, scratch: &mut Scratch, row: &mut SparseRow) {
        row.cols.clear();
        row.vals.clear();
        let Scratch {
            norm,
            padded,
            bounds,
            present,
            counts,
            author,
            signals,
        } = scratch;
        normalize_into_with(text.content, norm, self.cfg.counts);
        signals::read(&self.cfg.signals, text, signals);
        let has_author_url = !text.author_url.trim().is_empty();
        author.clear();
        if has_author_url {
            author.push_str(&author_domain(text.author_url));
        }
        let n_words = grow_tallies(self.vocab.len(), present, counts);
        self.count_terms(norm, (author, signals), padded, bounds, present, counts);
        push_term_frequencies(&mut present[..n_words], counts, row);
        weigh_and_normalize(self.vocab, row);
        push_meta(self.vocab.len(), norm, has_author_url, row);
    }

    /// Tallies every vocabulary term of the comment (word grams, then character n-grams):
    /// its occurrences in `counts` and its column's bit in `present`.
    #[inline]
    fn count_terms(
        &self,
        norm: &Normalized,
        found: (&str, &Signals),
        padded: &mut String,
        bounds: &mut Vec<usize>,
        present: &mut [u64],
        counts: &mut [u32],
    ) {
        let vocab = self.vocab;
        let mut count = |col: u32| {
            let c = col as usize;
            if let (Some(n), Some(bits)) = (counts.get_mut(c), present.get_mut(c >> 6)) {
                *n = n.saturating_add(1);
                *bits |= 1 << (c & 63);
            }
        };
        for_each_word_gram(self.cfg, norm, found, |_, h| {
            if let Some(col) = vocab.column(h) {
                count(col);
            }
        });
        for_each_char_hash(self.cfg, norm, padded, bounds, |h| {
            if let Some(col) = vocab.column(h) {
                count(col);
            }
        });
    }
}

/// Grows the tally buffers to a vocabulary of `n_columns` terms (once, while the scratch is
/// warming up) and returns how many words of the `present` bitset it uses.
#[inline]
fn grow_tallies(n_columns: usize, present: &mut Vec<u64>, counts: &mut Vec<u32>) -> usize {
    if counts.len() < n_columns {
        counts.resize(n_columns, 0);
    }
    let n_words = n_columns.div_ceil(64);
    if present.len() < n_words {
        present.resize(n_words, 0);
    }
    n_words
}

/// Moves the tallies into `row` and clears them for the next comment: the columns
/// ascending, each with its sublinear term frequency `1 + ln(tf)`.
#[inline]
fn push_term_frequencies(present: &mut [u64], counts: &mut [u32], row: &mut SparseRow) {
    // No float state is live here, across the pushes and the logarithm (calls that clobber
    // every float register), so the norm sums of the next step can stay in registers.
    for (w, bits) in present.iter_mut().enumerate() {
        let mut rest = std::mem::take(bits);
        while rest != 0 {
            let col = w * 64 + rest.trailing_zeros() as usize;
            rest &= rest - 1;
            let tf = counts.get_mut(col).map_or(1, std::mem::take);
            row.cols.push(col as u32);
            // 1 + ln(1) is exactly 1: skip the logarithm for the common single occurrence.
            row.vals.push(if tf == 1 {
                1.0
            } else {
                1.0 + f64::from(tf).ln()
            });
        }
    }
}

/// Scales each term frequency by its IDF, then each block (words, characters) of the row
/// to unit length.
#[inline]
fn weigh_and_normalize(vocab: &Vocabulary, row: &mut SparseRow) {
    // Each block's squared norm is summed in column order.
    let (mut words2, mut chars2) = (0.0f64, 0.0f64);
    for (&c, v) in row.cols.iter().zip(row.vals.iter_mut()) {
        *v *= vocab.idf.get(c as usize).copied().unwrap_or(0.0);
        if block_index(vocab, c as usize) == 1 {
            chars2 += *v * *v;
        } else {
            words2 += *v * *v;
        }
    }
    let norm2 = [words2, chars2];
    let inv = norm2.map(|n| if n > 0.0 { 1.0 / n.sqrt() } else { 1.0 });
    for (&c, v) in row.cols.iter().zip(row.vals.iter_mut()) {
        *v *= inv[block_index(vocab, c as usize)];
    }
}

/// Appends the non-zero metadata features, whose columns follow the vocabulary's
/// `n_terms` term columns.
#[inline]
fn push_meta(n_terms: usize, norm: &Normalized, has_author_url: bool, row: &mut SparseRow) {
    let meta = meta_values(norm, has_author_url);
    let base = n_terms as u32;
    for (k, v) in meta.into_iter().enumerate() {
        if v != 0.0 {
            row.cols.push(base + k as u32);
            row.vals.push(v);
        }
    }
}

#[inline]
fn block_index(vocab: &Vocabulary, col: usize) -> usize {
    match vocab.blocks.get(col) {
        Some(Block::Chars) => 1,
        _ => 0,
    }
}

/// The metadata feature values, in [`META_NAMES`] order, each scaled to roughly [0, 1].
pub fn meta_values(norm: &Normalized, has_author_url: bool) -> [f64; META_NAMES.len()] {
    [
        (1.0 + f64::from(norm.links)).ln(),
        if has_author_url { 1.0 } else { 0.0 },
        norm.uppercase_ratio(),
        (1.0 + f64::from(norm.repeated_runs)).ln(),
    ]
}

/// The naive-Bayes log-count ratio of a term in `spam` of `n_spam` spam comments and `ham`
/// of `n_ham` ham comments, with add-one smoothing: how much more often spam has it.
pub fn nb_ratio(spam: f64, ham: f64, n_spam: f64, n_ham: f64) -> f64 {
    (((spam + 1.0) / (n_spam + 2.0)) / ((ham + 1.0) / (n_ham + 2.0))).ln()
}

/// Chooses the vocabulary from the terms of training comments: terms in at least `min_df`
/// comments, then the `max_*_features` of each block with the highest chi-squared statistic
/// of term presence against the label (so a small, dense-friendly vocabulary keeps the
/// discriminative terms), with smoothed IDF `ln((1 + n) / (1 + df)) + 1` as in scikit-learn.
///
/// `docs` holds each comment's distinct term hashes and whether it is spam; `keys` maps a
/// hash to its stored key.
pub fn build_vocabulary(
    cfg: &FeatureConfig,
    docs: &[(&[u64], bool)],
    keys: &HashMap<u64, String, PremixedHasher>,
) -> Vocabulary {
    let mut df: HashMap<u64, [u32; 2], PremixedHasher> = HashMap::with_hasher(PremixedHasher(0));
    for (doc, spam) in docs {
        for &h in *doc {
            df.entry(h).or_insert([0, 0])[usize::from(*spam)] += 1;
        }
    }
    let n = docs.len() as f64;
    let n_spam = docs.iter().filter(|d| d.1).count() as f64;
    let n_ham = n - n_spam;
    let mut words = Vec::new();
    let mut chars = Vec::new();
    for (h, [ham, spam]) in df {
        let d = ham + spam;
        if d < cfg.min_df {
            continue;
        }
        let Some(key) = keys.get(&h) else { continue };
        let Some(gram) = parse_key(key) else { continue };
        let (a, b) = (f64::from(spam), f64::from(ham));
        let num = a * (n_ham - b) - b * (n_spam - a);
        let den = n_spam * n_ham * (a + b) * (n - a - b);
        let chi2 = if den > 0.0 { n * num * num / den } else { 0.0 };
        let nb = if cfg.nb_weighting {
            nb_ratio(f64::from(spam), f64::from(ham), n_spam, n_ham).abs()
        } else {
            1.0
        };
        match gram.block() {
            Block::Words => words.push((chi2, d, key, nb)),
            Block::Chars => chars.push((chi2, d, key, nb)),
        }
    }
    let mut out_keys = Vec::new();
    let mut idf = Vec::new();
    for (mut list, cap) in [
        (words, cfg.max_word_features),
        (chars, cfg.max_char_features),
    ] {
        list.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.2.cmp(b.2)));
        list.truncate(cap);
        list.sort_unstable_by(|a, b| a.2.cmp(b.2));
        for (_, d, key, nb) in list {
            out_keys.push(key.clone());
            idf.push((((1.0 + n) / (1.0 + f64::from(d))).ln() + 1.0) * nb);
        }
    }
    Vocabulary::from_parts(out_keys, idf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::normalize::normalize;

    fn grams(text: &str) -> Vec<(String, u64)> {
        let cfg = FeatureConfig::default();
        let norm = normalize(text);
        let mut out = Vec::new();
        let (mut p, mut b) = (String::new(), Vec::new());
        for_each_gram(
            &cfg,
            &norm,
            ("", &Signals::default()),
            &mut p,
            &mut b,
            |g, h| out.push((g.key(), h)),
        );
        out
    }

    #[test]
    fn incremental_hash_equals_key_hash() {
        for (key, h) in grams("Check out my chännel http://x.com 12345!") {
            let g = parse_key(&key).unwrap();
            assert_eq!(g.hash(), h, "{key}");
            assert_eq!(g.key(), key);
        }
    }

    #[test]
    fn fast_char_hashes_equal_the_terms() {
        let default = FeatureConfig::default();
        let other = FeatureConfig {
            char_ngram_min: 2,
            char_ngram_max: 4,
            ..FeatureConfig::default()
        };
        let toxicity = FeatureConfig {
            char_ngram_max: 5,
            ..FeatureConfig::default()
        };
        let texts = [
            "Check out my channel!",
            "chännel ñ 日本語 ok",
            "a",
            "abcd",
            "",
        ];
        for (cfg, text) in [&default, &other, &toxicity]
            .into_iter()
            .flat_map(|c| texts.map(|t| (c, t)))
        {
            let norm = normalize(text);
            let (mut p, mut b) = (String::new(), Vec::new());
            let mut slow = Vec::new();
            for_each_gram(
                cfg,
                &norm,
                ("", &Signals::default()),
                &mut p,
                &mut b,
                |g, h| {
                    if let Gram::Chars(_) = g {
                        slow.push(h);
                    }
                },
            );
            let mut fast = Vec::new();
            for_each_char_hash(cfg, &norm, &mut p, &mut b, |h| fast.push(h));
            assert_eq!(slow, fast, "{text}");
        }
    }

    #[test]
    fn produces_words_bigrams_domains_and_chars() {
        let keys: Vec<String> = grams("check out www.spam.com")
            .into_iter()
            .map(|k| k.0)
            .collect();
        for want in ["w:check", "b:check out", "d:spam.com", "c: ch", "c:ut _u"] {
            assert!(
                keys.iter().any(|k| k == want),
                "{want} missing from {keys:?}"
            );
        }
    }

    #[test]
    fn sentence_openers_are_lead_words() {
        let keys: Vec<String> = grams("Check it out. i will check! ok?so")
            .into_iter()
            .map(|k| k.0)
            .collect();
        let leads: Vec<&str> = keys.iter().filter_map(|k| k.strip_prefix("s:")).collect();
        assert_eq!(leads, ["check", "i", "ok", "so"]);
    }

    #[test]
    fn author_domains_drop_scheme_case_and_www() {
        assert_eq!(author_domain("https://WWW.Example.com/me"), "example.com");
    }

    #[test]
    fn vocabulary_rejects_bad_keys() {
        assert!(matches!(
            Vocabulary::from_parts(vec!["zz".into()], vec![1.0]),
            Err(VocabularyError::BadKey(_))
        ));
        assert!(matches!(
            Vocabulary::from_parts(vec!["w:a".into(), "w:a".into()], vec![1.0, 1.0]),
            Err(VocabularyError::Duplicate(_))
        ));
    }
}

//! Fitting a toxicity model: the spam model's trainer (linfa's FTRL-Proximal over the same
//! kind of features) on prepared texts, then the span settings from the rows whose spans
//! raters marked.

use std::collections::{BTreeMap, HashMap};

use super::dataset::ToxicRow;
use super::prepare::prepare;
use super::spans::{self, SpanSettings, kind_name, span_f1};
use crate::classifier::features::FeatureConfig;
use crate::classifier::signals::SignalGroup;
use crate::classifier::{SpamFilter, SpamFilterValidParams, TrainError};
use crate::comment::Label;
use crate::dataset::LabelledComment;

/// The toxicity recipe's features: words, word pairs and character n-grams, with disguised
/// words undone; no spam-specific terms (intents, sentence openers, other signals).
pub fn features() -> FeatureConfig {
    FeatureConfig {
        char_ngram_min: 3,
        char_ngram_max: 5,
        max_word_features: 10_000,
        max_char_features: 20_000,
        intent: false,
        lead_words: false,
        signals: vec![SignalGroup::Obfuscation],
        ..FeatureConfig::default()
    }
}

/// A fitted toxicity model and how it finds spans.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The model (toxic is its positive class).
    pub filter: SpamFilter,
    /// Span threshold and word types.
    pub spans: SpanSettings,
}

/// The rows as the trainer takes them: prepared text, toxic as the positive label, the
/// source as both thread and source (so no row counts as threadless).
pub fn labelled(rows: &[ToxicRow]) -> Vec<LabelledComment> {
    rows.iter()
        .map(|r| LabelledComment {
            post_id: r.source.clone(),
            author_name: String::new(),
            author_email: String::new(),
            author_url: String::new(),
            content: prepare(&r.content).into_owned(),
            label: if r.is_toxic() {
                Label::Spam
            } else {
                Label::Ham
            },
            source: r.source.clone(),
        })
        .collect()
}

/// Fits `params` on `rows` and the civil sentences of their marked comments (see
/// [`unmarked_sentences`]), then the span settings.
///
/// # Errors
/// Those of the trainer (no rows, one class only).
pub fn fit(params: &SpamFilterValidParams, rows: &[ToxicRow]) -> Result<Trained, TrainError> {
    let mut examples = labelled(rows);
    examples.extend(labelled(&unmarked_sentences(rows)));
    let filter = params.fit(&examples)?;
    let kinds = span_kinds(rows);
    let threshold = span_threshold(&filter, &kinds, rows);
    Ok(Trained {
        filter,
        spans: SpanSettings { threshold, kinds },
    })
}

/// Sentences of at least [`MIN_SENTENCE_WORDS`] words in which raters marked nothing, taken
/// from comments where they marked something, as clean examples: the only civil text in
/// the register of news comments the training data has (its news comments are all toxic,
/// so without these, that register itself would read as toxic).
pub fn unmarked_sentences(rows: &[ToxicRow]) -> Vec<ToxicRow> {
    let mut out = Vec::new();
    for row in rows {
        let Some(marked) = row.spans.as_ref().filter(|m| !m.is_empty()) else {
            continue;
        };
        let mut start = 0;
        let chars: Vec<char> = row.content.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            let last = i + 1 == chars.len();
            if !(matches!(c, '.' | '!' | '?' | '\n') || last) {
                continue;
            }
            let end = i + 1;
            let touched = marked.iter().any(|s| s.start < end && s.end > start);
            let sentence: String = chars[start..end].iter().collect();
            if !touched && sentence.split_whitespace().count() >= MIN_SENTENCE_WORDS {
                out.push(ToxicRow {
                    content: sentence.trim().to_owned(),
                    toxic: 0,
                    spans: None,
                    source: row.source.clone(),
                });
            }
            start = end;
        }
    }
    out
}

/// The shortest unmarked sentence taken as a clean example.
const MIN_SENTENCE_WORDS: usize = 6;

/// For each word raters marked at least twice, the type they gave it most often.
fn span_kinds(rows: &[ToxicRow]) -> BTreeMap<String, String> {
    let mut counts: HashMap<String, HashMap<&'static str, u32>> = HashMap::new();
    for row in rows {
        let Some(marked) = &row.spans else { continue };
        let chars: Vec<(usize, char)> = row.content.char_indices().collect();
        for span in marked {
            let (Some(&(start, _)), end) = (
                chars.get(span.start),
                chars.get(span.end).map_or(row.content.len(), |&(i, _)| i),
            ) else {
                continue;
            };
            let Some(text) = row.content.get(start..end) else {
                continue;
            };
            for (s, e) in spans::words(text) {
                *counts
                    .entry(text[s..e].to_lowercase())
                    .or_default()
                    .entry(kind_name(&span.kind))
                    .or_default() += 1;
            }
        }
    }
    counts
        .into_iter()
        .filter_map(|(word, kinds)| {
            let total: u32 = kinds.values().sum();
            let (kind, _) = kinds
                .into_iter()
                .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))?;
            (total >= 2).then(|| (word, kind.to_owned()))
        })
        .collect()
}

/// A marked row as the threshold search reads it: the prepared text, each word's range and
/// push, and the raters' spans.
type MarkedRow = (String, Vec<(usize, usize, f64)>, Vec<(usize, usize)>);

/// The word threshold that makes the spans of the marked rows agree best with the raters'
/// (mean SemEval span F1); the default when no row has marked spans.
fn span_threshold(filter: &SpamFilter, kinds: &BTreeMap<String, String>, rows: &[ToxicRow]) -> f64 {
    let marked: Vec<&ToxicRow> = rows.iter().filter(|r| r.spans.is_some()).collect();
    if marked.is_empty() {
        return SpanSettings::default().threshold;
    }
    // Each word's push once; thresholds then only compare.
    let scored: Vec<MarkedRow> = marked
        .iter()
        .map(|r| {
            let prepared = prepare(&r.content).into_owned();
            let words = spans::word_scores(filter, &prepared);
            let gold = r.spans.iter().flatten().map(|s| (s.start, s.end)).collect();
            (prepared, words, gold)
        })
        .collect();
    let mut best = (f64::NEG_INFINITY, SpanSettings::default().threshold);
    for step in 1..=32 {
        let threshold = f64::from(step) * 0.5;
        let settings = SpanSettings {
            threshold,
            kinds: kinds.clone(),
        };
        let total: f64 = scored
            .iter()
            .map(|(prepared, words, gold)| {
                let predicted: Vec<(usize, usize)> = spans::merge(prepared, words, &settings)
                    .iter()
                    .map(|s| (s.start, s.end))
                    .collect();
                span_f1(&predicted, gold)
            })
            .sum();
        if total > best.0 {
            best = (total, threshold);
        }
    }
    best.1
}

//! Where a comment is toxic: the words the model finds toxic on their own, merged into
//! character ranges a console or a site can underline, each with the type raters most often
//! gave that word when training data marked it (insult, identity attack, profanity, threat).

pub use crate::classifier::model_file::SpanSettings;
use crate::classifier::{CommentText, SpamFilter};
pub use crate::comment::ToxicSpan;

/// The raters' type names as the API names them.
pub fn kind_name(raters: &str) -> &'static str {
    match raters {
        "Insult" => "insult",
        "Identity based Attack" => "identity_attack",
        "Profane/Obscene" => "profanity",
        "Threat" => "threat",
        _ => "other",
    }
}

/// Each word of `text` (letters and digits) with its byte range.
pub fn words(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let rest = text.get(at..)?;
        let start = at + rest.find(char::is_alphanumeric)?;
        let len = text[start..]
            .find(|c: char| !c.is_alphanumeric())
            .unwrap_or(text.len() - start);
        at = start + len;
        Some((start, start + len))
    })
}

/// How far `filter` moves each word of `prepared`, alone, from its base rate (log-odds),
/// with its byte range: the base rate is the training data's share of toxic comments, not
/// the word's.
pub fn word_scores(filter: &SpamFilter, prepared: &str) -> Vec<(usize, usize, f64)> {
    words(prepared)
        .map(|(start, end)| {
            let word = CommentText {
                content: &prepared[start..end],
                author_name: "",
                author_url: "",
            };
            let push = filter.logit(&filter.features_of(&word)) - filter.intercept;
            (start, end, push)
        })
        .collect()
}

/// The toxic spans of `prepared` (the comment after [`super::prepare::prepare`], which
/// keeps offsets).
pub fn find(filter: &SpamFilter, settings: &SpanSettings, prepared: &str) -> Vec<ToxicSpan> {
    merge(prepared, &word_scores(filter, prepared), settings)
}

/// The words of `scored` at or above the threshold, neighbours separated only by a space,
/// comma or hyphen merged into one range, in code points.
pub fn merge(
    prepared: &str,
    scored: &[(usize, usize, f64)],
    settings: &SpanSettings,
) -> Vec<ToxicSpan> {
    let mut merged: Vec<(usize, usize, String)> = Vec::new();
    for &(start, end, _) in scored.iter().filter(|w| w.2 >= settings.threshold) {
        let kind = settings
            .kinds
            .get(&prepared[start..end].to_lowercase())
            .cloned()
            .unwrap_or_default();
        if let Some(last) = merged.last_mut() {
            let between = &prepared[last.1..start];
            if between.len() <= 2 && between.chars().all(|c| c == ' ' || c == ',' || c == '-') {
                last.1 = end;
                if last.2.is_empty() {
                    last.2 = kind;
                }
                continue;
            }
        }
        merged.push((start, end, kind));
    }
    merged
        .into_iter()
        .map(|(start, end, kind)| ToxicSpan {
            start: prepared[..start].chars().count(),
            end: prepared[..end].chars().count(),
            kind,
        })
        .collect()
}

/// SemEval-2021 task 5's measure for one comment: the F1 of the predicted characters
/// against the marked ones (1 when both are empty, 0 when only one is).
pub fn span_f1(predicted: &[(usize, usize)], marked: &[(usize, usize)]) -> f64 {
    let set = |spans: &[(usize, usize)]| -> std::collections::BTreeSet<usize> {
        spans.iter().flat_map(|&(s, e)| s..e).collect()
    };
    let (p, m) = (set(predicted), set(marked));
    if p.is_empty() && m.is_empty() {
        return 1.0;
    }
    if p.is_empty() || m.is_empty() {
        return 0.0;
    }
    let both = p.intersection(&m).count() as f64;
    let precision = both / p.len() as f64;
    let recall = both / m.len() as f64;
    if both == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_have_their_byte_ranges() {
        let text = "Ça va, idiot-face!";
        let found: Vec<&str> = words(text).map(|(s, e)| &text[s..e]).collect();
        assert_eq!(found, ["Ça", "va", "idiot", "face"]);
    }

    #[test]
    fn span_f1_follows_semeval() {
        assert_eq!(span_f1(&[], &[]), 1.0);
        assert_eq!(span_f1(&[(0, 3)], &[]), 0.0);
        assert_eq!(span_f1(&[], &[(0, 3)]), 0.0);
        assert_eq!(span_f1(&[(0, 4)], &[(0, 4)]), 1.0);
        // 2 of 4 predicted are marked, 2 of 2 marked are predicted: P 0.5, R 1.
        assert!((span_f1(&[(0, 4)], &[(2, 4)]) - 2.0 / 3.0).abs() < 1e-12);
    }
}

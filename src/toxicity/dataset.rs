//! Toxicity datasets: JSON Lines rows with `content`, `toxic` (1 or 0) and, where raters
//! marked them, `spans` (`[{"start": s, "end": e, "type": t}]`, code-point offsets into
//! `content`). Unknown fields are ignored, so a row may keep what its source had.

use std::path::Path;

use serde::Deserialize;

/// A character range raters marked as toxic, with its type when they gave one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MarkedSpan {
    /// First code point.
    pub start: usize,
    /// One past the last code point.
    pub end: usize,
    /// The raters' type (`Insult`, `Identity based Attack`, `Profane/Obscene`, `Threat`, ...).
    #[serde(default, rename = "type")]
    pub kind: String,
}

/// One labelled comment of a toxicity dataset.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ToxicRow {
    /// The comment text.
    pub content: String,
    /// 1 when raters called it toxic.
    pub toxic: u8,
    /// The ranges raters marked, when the set has them.
    #[serde(default)]
    pub spans: Option<Vec<MarkedSpan>>,
    /// Where it comes from: the row's `source`, else the file's stem.
    #[serde(default)]
    pub source: String,
}

impl ToxicRow {
    /// True for toxic rows.
    pub fn is_toxic(&self) -> bool {
        self.toxic != 0
    }
}

/// A dataset file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ToxicDatasetError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not a toxicity row.
    #[error("{path}:{line}: {message}")]
    Row {
        /// The file.
        path: String,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Reads every row of a JSON Lines file; rows without a `source` get the file's stem.
///
/// # Errors
/// An unreadable file, or a line that is not a row (with its line number).
pub fn read(path: &Path) -> Result<Vec<ToxicRow>, ToxicDatasetError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ToxicDatasetError::Io {
        path: shown.clone(),
        source,
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut row: ToxicRow = serde_json::from_str(line).map_err(|e| ToxicDatasetError::Row {
            path: shown.clone(),
            line: i + 1,
            message: format!("invalid row: {e}"),
        })?;
        if row.toxic > 1 {
            return Err(ToxicDatasetError::Row {
                path: shown.clone(),
                line: i + 1,
                message: format!("toxic must be 0 or 1, found {}", row.toxic),
            });
        }
        if row.source.is_empty() {
            row.source.clone_from(&stem);
        }
        // Spans past the text or empty are raters' slips: they mark nothing.
        let chars = row.content.chars().count();
        if let Some(spans) = &mut row.spans {
            spans.retain(|s| s.start < s.end && s.end <= chars);
        }
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_spans_ignore_unknown_fields_and_name_their_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("news.jsonl");
        std::fs::write(
            &path,
            concat!(
                r#"{"content": "You're an idiot.", "toxic": 1, "spans": [{"start": 10, "end": 15, "type": "Insult"}], "raters": 3}"#,
                "\n\n",
                r#"{"content": "Fine point.", "toxic": 0, "source": "other"}"#,
                "\n"
            ),
        )
        .unwrap();
        let rows = read(&path).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].source, "news");
        assert_eq!(rows[0].spans.as_ref().unwrap()[0].kind, "Insult");
        assert_eq!(
            (rows[1].source.as_str(), rows[1].is_toxic()),
            ("other", false)
        );
        std::fs::write(&path, "{\"content\": \"x\", \"toxic\": 2}\n").unwrap();
        assert!(
            read(&path)
                .unwrap_err()
                .to_string()
                .contains(":1: toxic must be 0 or 1")
        );
    }
}

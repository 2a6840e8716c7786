//! Labelled comment datasets: readers for the UCI YouTube Spam Collection CSV files, the UCI
//! SMS Spam Collection and our own JSON Lines format, with format auto-detection and a
//! fingerprint ([`DatasetInfo`]) recorded in model files.
//!
//! Readers are strict: a malformed row is an error naming the file and line, never skipped.
//! They exist for the command-line tools (feature `tools`); the types are used by the service.

use std::fmt;
#[cfg(feature = "tools")]
use std::path::Path;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
#[cfg(feature = "tools")]
use sha2::{Digest, Sha256};

/// The on-disk format of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "tools", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// UCI YouTube Spam Collection CSV: `COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS`.
    Youtube,
    /// UCI SMS Spam Collection: `ham|spam<TAB>text` per line, no quoting.
    Sms,
    /// One JSON object per line with the [`LabelledComment`] fields.
    Jsonl,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Youtube => "youtube",
            Format::Sms => "sms",
            Format::Jsonl => "jsonl",
        })
    }
}

pub use crate::comment::Label;

/// One labelled comment, whatever the source format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelledComment {
    /// The thread the comment belongs to (the YouTube file stem; empty for SMS).
    pub post_id: String,
    /// The display name (YouTube AUTHOR; empty for SMS).
    pub author_name: String,
    /// The author's e-mail address, when the source has one.
    #[serde(default)]
    pub author_email: String,
    /// The author's website, when the source has one.
    #[serde(default)]
    pub author_url: String,
    /// The comment body, exactly as in the source.
    pub content: String,
    /// The ground truth.
    pub label: Label,
    /// The community the comment comes from, for measuring how a recipe travels to one it
    /// was not trained on (`eval --leave-one-source-out`). Files without it are one source
    /// each, named after the file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

/// Why a dataset could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The file could not be opened or read.
    #[error("cannot read dataset {path}")]
    Io {
        /// The dataset file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The format could not be recognised from the first line.
    #[error(
        "cannot tell the format of {path}: expected a YouTube CSV header, `ham<TAB>`/`spam<TAB>` lines or JSON objects; pass --format"
    )]
    UnknownFormat {
        /// The dataset file.
        path: PathBuf,
    },
    /// A row is malformed.
    #[error("{path}:{line}: {message}")]
    BadRow {
        /// The dataset file.
        path: PathBuf,
        /// 1-based line number where the row starts.
        line: u64,
        /// What is wrong with it.
        message: String,
    },
}

#[cfg(feature = "tools")]
/// Reads a labelled dataset, detecting the format when `format` is `None`.
///
/// # Errors
/// When the file cannot be read, its format is not recognised, or any row is malformed.
pub fn read(path: &Path, format: Option<Format>) -> Result<Vec<LabelledComment>, DatasetError> {
    let bytes = std::fs::read(path).map_err(|source| DatasetError::Io {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        bad(path, line, "invalid UTF-8")
    })?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(&text);
    let format = match format {
        Some(f) => f,
        None => detect(text).ok_or_else(|| DatasetError::UnknownFormat {
            path: path.to_owned(),
        })?,
    };
    let mut comments = match format {
        Format::Youtube => read_youtube(path, text),
        Format::Sms => read_sms(path, text),
        Format::Jsonl => read_jsonl(path, text),
    }?;
    let file_source = source_of_file(path);
    for c in comments.iter_mut().filter(|c| c.source.is_empty()) {
        c.source.clone_from(&file_source);
    }
    Ok(comments)
}

/// The source of a file's rows that name none: the file's name without its extension.
#[cfg(feature = "tools")]
fn source_of_file(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

const YOUTUBE_HEADER: &str = "COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS";

/// Guesses the format from the first non-empty line.
pub fn detect(text: &str) -> Option<Format> {
    let first = text.lines().find(|l| !l.trim().is_empty())?;
    let first = first.trim_end_matches('\r');
    if first == YOUTUBE_HEADER {
        Some(Format::Youtube)
    } else if first.starts_with("ham\t") || first.starts_with("spam\t") {
        Some(Format::Sms)
    } else if first.trim_start().starts_with('{') {
        Some(Format::Jsonl)
    } else {
        None
    }
}

#[cfg(feature = "tools")]
fn bad(path: &Path, line: u64, message: impl Into<String>) -> DatasetError {
    DatasetError::BadRow {
        path: path.to_owned(),
        line,
        message: message.into(),
    }
}

#[cfg(feature = "tools")]
fn read_youtube(path: &Path, text: &str) -> Result<Vec<LabelledComment>, DatasetError> {
    let post_id = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header_ok = reader
        .headers()
        .map(|h| h.iter().collect::<Vec<_>>().join(",") == YOUTUBE_HEADER)
        .unwrap_or(false);
    if !header_ok {
        return Err(bad(path, 1, format!("expected header {YOUTUBE_HEADER}")));
    }
    let mut out = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(line, csv::Position::line);
                return Err(bad(path, line, format!("malformed CSV: {e}")));
            }
        }
        let line = record.position().map_or(line, csv::Position::line);
        let label = match record.get(4).map(str::trim) {
            Some("1") => Label::Spam,
            Some("0") => Label::Ham,
            other => {
                return Err(bad(
                    path,
                    line,
                    format!("CLASS must be 0 or 1, found {:?}", other.unwrap_or("")),
                ));
            }
        };
        out.push(LabelledComment {
            post_id: post_id.clone(),
            author_name: record.get(1).unwrap_or("").to_owned(),
            author_email: String::new(),
            author_url: String::new(),
            content: record.get(3).unwrap_or("").to_owned(),
            label,
            source: String::new(),
        });
    }
    Ok(out)
}

#[cfg(feature = "tools")]
fn read_sms(path: &Path, text: &str) -> Result<Vec<LabelledComment>, DatasetError> {
    let mut out = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line_no = i as u64 + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let Some((label, content)) = line.split_once('\t') else {
            return Err(bad(
                path,
                line_no,
                "expected `ham` or `spam`, a TAB, then the text",
            ));
        };
        let label = match label {
            "spam" => Label::Spam,
            "ham" => Label::Ham,
            other => {
                return Err(bad(
                    path,
                    line_no,
                    format!("label must be ham or spam, found {other:?}"),
                ));
            }
        };
        out.push(LabelledComment {
            post_id: String::new(),
            author_name: String::new(),
            author_email: String::new(),
            author_url: String::new(),
            content: content.to_owned(),
            label,
            source: String::new(),
        });
    }
    Ok(out)
}

#[cfg(feature = "tools")]
fn read_jsonl(path: &Path, text: &str) -> Result<Vec<LabelledComment>, DatasetError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let c: LabelledComment = serde_json::from_str(line)
            .map_err(|e| bad(path, i as u64 + 1, format!("invalid record: {e}")))?;
        out.push(c);
    }
    Ok(out)
}

/// What a model was trained on: enough to tell whether two models saw the same data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// File name (without directories, so the record does not depend on the checkout).
    pub file: String,
    /// The format it was read as.
    pub format: Format,
    /// Number of records.
    pub records: usize,
    /// Records labelled spam.
    pub spam: usize,
    /// Records labelled ham.
    pub ham: usize,
    /// SHA-256 of the file bytes, hex.
    pub sha256: String,
}

/// A dataset read from disk together with its fingerprint.
#[derive(Debug, Clone)]
pub struct LoadedDataset {
    /// Fingerprint for the model file.
    pub info: DatasetInfo,
    /// The records.
    pub comments: Vec<LabelledComment>,
}

#[cfg(feature = "tools")]
/// Reads a dataset and fingerprints it.
///
/// # Errors
/// As [`read`].
pub fn load(path: &Path, format: Option<Format>) -> Result<LoadedDataset, DatasetError> {
    let bytes = std::fs::read(path).map_err(|source| DatasetError::Io {
        path: path.to_owned(),
        source,
    })?;
    let format = match format {
        Some(f) => f,
        None => detect(String::from_utf8_lossy(&bytes).trim_start_matches('\u{FEFF}')).ok_or_else(
            || DatasetError::UnknownFormat {
                path: path.to_owned(),
            },
        )?,
    };
    let comments = read(path, Some(format))?;
    let spam = comments.iter().filter(|c| c.label.is_spam()).count();
    Ok(LoadedDataset {
        info: DatasetInfo {
            file: path
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            format,
            records: comments.len(),
            spam,
            ham: comments.len() - spam,
            sha256: hex::encode(Sha256::digest(&bytes)),
        },
        comments,
    })
}

#[cfg(all(test, feature = "tools"))]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(name: &str, body: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        (dir, path)
    }

    #[test]
    fn youtube_with_quotes_and_newlines() {
        let body = "COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS\n\
                    a,Ann,,\"hi, \"\"you\"\"\nthere\",0\n\
                    b,Bob,2014-01-01T00:00:00,check out my channel,1\n";
        let (_d, p) = file("Youtube09-Test.csv", body);
        let rows = read(&p, None).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].content, "hi, \"you\"\nthere");
        assert_eq!(rows[0].post_id, "Youtube09-Test");
        assert_eq!(rows[0].author_name, "Ann");
        assert_eq!(rows[1].label, Label::Spam);
    }

    #[test]
    fn youtube_bad_class_names_line() {
        let body = "COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS\na,A,,\"x\ny\",0\nb,B,,z,2\n";
        let (_d, p) = file("y.csv", body);
        let err = read(&p, None).unwrap_err();
        assert!(matches!(err, DatasetError::BadRow { line: 4, .. }), "{err}");
        assert!(err.to_string().contains("y.csv:4"), "{err}");
    }

    #[test]
    fn sms_splits_on_first_tab_without_quoting() {
        let body = "ham\tsay \"hi\tthere\nspam\tFREE \"prize\"\n";
        let (_d, p) = file("SMS", body);
        let rows = read(&p, None).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].content, "say \"hi\tthere");
        assert_eq!(rows[1].label, Label::Spam);
    }

    #[test]
    fn sms_bad_label_names_line() {
        let (_d, p) = file("SMS", "ham\tok\nspma\toops\n");
        let err = read(&p, Some(Format::Sms)).unwrap_err();
        assert!(matches!(err, DatasetError::BadRow { line: 2, .. }), "{err}");
        let (_d, p) = file("SMS", "ham\tok\nno tab here\n");
        assert!(matches!(
            read(&p, Some(Format::Sms)),
            Err(DatasetError::BadRow { line: 2, .. })
        ));
    }

    #[test]
    fn jsonl_round_trip_and_bad_line() {
        let good = r#"{"post_id":"p1","author_name":"a","author_email":"a@x.org","author_url":"","content":"hello","label":"ham"}"#;
        let (_d, p) = file("c.jsonl", &format!("{good}\n"));
        let rows = read(&p, None).unwrap();
        assert_eq!(rows[0].author_email, "a@x.org");
        assert_eq!(rows[0].label, Label::Ham);
        let (_d, p) = file(
            "c.jsonl",
            &format!("{good}\n{}\n", good.replace("ham", "eggs")),
        );
        assert!(matches!(
            read(&p, None),
            Err(DatasetError::BadRow { line: 2, .. })
        ));
    }

    #[test]
    fn unknown_format_is_an_error() {
        let (_d, p) = file("x.txt", "what is this\n");
        assert!(matches!(
            read(&p, None),
            Err(DatasetError::UnknownFormat { .. })
        ));
    }

    #[test]
    fn bundled_counts_match_readme() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let cases = [
            ("youtube-spam/Youtube01-Psy.csv", 350, 175),
            ("youtube-spam/Youtube02-KatyPerry.csv", 350, 175),
            ("youtube-spam/Youtube03-LMFAO.csv", 438, 236),
            ("youtube-spam/Youtube04-Eminem.csv", 448, 245),
            ("sms-spam/SMSSpamCollection", 5574, 747),
        ];
        for (f, n, spam) in cases {
            let d = load(&root.join(f), None).unwrap();
            assert_eq!((d.info.records, d.info.spam), (n, spam), "{f}");
        }
    }
}

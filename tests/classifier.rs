//! The shipped model and the classifier's public API.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use commentguard::classifier::{CommentText, ModelError, ModelFile, SpamFilterParams, SpamModel};
use commentguard::dataset::{self, Label, LabelledComment};
use linfa::ParamGuard as _;
use ndarray::Array2;
use proptest::prelude::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

static SHIPPED: LazyLock<SpamModel> = LazyLock::new(|| {
    SpamModel::load(&root().join("models/default.json")).expect("shipped model loads")
});

/// The shipped model, loaded once.
///
/// # Panics
/// When it does not load.
fn shipped() -> &'static SpamModel {
    &SHIPPED
}

/// Every record of the bundled datasets.
///
/// # Panics
/// When a dataset does not read.
#[track_caller]
fn bundled() -> Vec<LabelledComment> {
    let files = [
        "tests/data/youtube-spam/Youtube01-Psy.csv",
        "tests/data/youtube-spam/Youtube02-KatyPerry.csv",
        "tests/data/youtube-spam/Youtube03-LMFAO.csv",
        "tests/data/youtube-spam/Youtube04-Eminem.csv",
        "tests/data/sms-spam/SMSSpamCollection",
    ];
    files
        .iter()
        .flat_map(|f| dataset::read(&root().join(f), None).expect("bundled dataset reads"))
        .collect()
}

fn text(c: &LabelledComment) -> CommentText<'_> {
    CommentText {
        content: &c.content,
        author_name: &c.author_name,
        author_url: &c.author_url,
    }
}

fn plain(content: &str) -> CommentText<'_> {
    CommentText {
        content,
        ..CommentText::default()
    }
}

#[test]
fn shipped_model_has_versioned_identity() {
    let m = shipped();
    let v = m.version();
    let (name, hash) = v.split_once('@').expect("name@checksum");
    assert_eq!(name, "default");
    assert_eq!(hash.len(), 12);
    assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn sparse_score_equals_linfa_on_every_bundled_record() {
    let model = shipped();
    let filter = model.filter();
    let linfa = filter.to_linfa().expect("linfa accepts the parameters");
    let data = bundled();
    assert_eq!(data.len(), 350 + 350 + 438 + 448 + 5574);
    let mut worst = 0.0f64;
    for chunk in data.chunks(400) {
        let texts: Vec<CommentText<'_>> = chunk.iter().map(text).collect();
        let mut x = Array2::<f64>::zeros((texts.len(), filter.n_features()));
        for (i, t) in texts.iter().enumerate() {
            let row = filter.features_of(t);
            for (&c, &v) in row.cols.iter().zip(&row.vals) {
                x[[i, c as usize]] = v;
            }
        }
        let expected = linfa.predict_probabilities(&x);
        for (t, e) in texts.iter().zip(expected.iter()) {
            let ours = model.score(t).probability;
            worst = worst.max((ours - e).abs());
            assert!(
                (ours - e).abs() < 1e-6,
                "{ours} vs linfa {e} for {:?}",
                t.content
            );
        }
    }
    assert!(worst < 1e-9, "largest difference {worst}");
}

#[test]
fn classic_spam_is_flagged_and_on_topic_comment_approved() {
    let m = shipped();
    let spam = m.score(&plain(
        "Hey guys check out my new channel and our first vid, please subscribe!!! http://www.youtube.com/channel/UCabc",
    ));
    assert!(spam.probability >= 0.5, "spam scored {}", spam.probability);
    assert!(!spam.toward_spam.is_empty());
    let ham = m.score(&plain(
        "This song always reminds me of the summer of 2012, still love it",
    ));
    assert!(ham.probability < 0.5, "ham scored {}", ham.probability);
}

#[test]
fn explanation_names_a_planted_token() {
    let mut data = Vec::new();
    let c = |content: String, label| LabelledComment {
        post_id: String::new(),
        author_name: String::new(),
        author_email: String::new(),
        author_url: String::new(),
        content,
        label,
        source: String::new(),
    };
    let topics = [
        "song", "video", "dance", "beat", "voice", "lyrics", "chorus", "singer",
    ];
    for (i, t) in topics.iter().enumerate() {
        for j in 0..4 {
            data.push(c(format!("the {t} is great number {i}{j}"), Label::Ham));
            data.push(c(format!("zorbly deals on {t} today {j}{i}"), Label::Spam));
        }
    }
    let filter = SpamFilterParams::new().check().unwrap().fit(&data).unwrap();
    let scored = filter.score(&plain("amazing zorbly offer"));
    assert!(scored.probability > 0.5);
    let names: Vec<&str> = scored
        .toward_spam
        .iter()
        .map(|c| c.feature.as_str())
        .collect();
    assert!(names.iter().any(|n| n.contains("zorbly")), "{names:?}");
    assert!(scored.toward_spam.len() <= 3 && scored.toward_ham.len() <= 3);
    assert!(
        scored
            .toward_spam
            .windows(2)
            .all(|w| w[0].weight >= w[1].weight)
    );
    assert!(scored.toward_ham.iter().all(|c| c.weight < 0.0));
}

#[test]
fn metadata_and_bigrams_are_readable() {
    let m = shipped();
    let s = m.score(&plain(
        "CHECK OUT MY CHANNEL!!! http://bit.ly/x http://bit.ly/y",
    ));
    let all: Vec<&str> = s
        .toward_spam
        .iter()
        .chain(&s.toward_ham)
        .map(|c| c.feature.as_str())
        .collect();
    assert!(
        all.iter()
            .all(|f| !f.is_empty() && !f.starts_with("c:") && !f.starts_with("w:")),
        "{all:?}"
    );
}

/// Writes `text` to `path`.
///
/// # Panics
/// When the file cannot be written.
#[track_caller]
fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn model_file_round_trip_and_damage() {
    let dir = tempfile::tempdir().unwrap();
    let src = root().join("models/default.json");
    let file = ModelFile::load(&src).unwrap();
    let copy = dir.path().join("copy.json");
    file.save(&copy).unwrap();
    let a = SpamModel::load(&src).unwrap();
    let b = SpamModel::load(&copy).unwrap();
    assert_eq!(a.version(), b.version());
    for t in ["free entry win cash now", "love this song", ""] {
        assert_eq!(a.score(&plain(t)), b.score(&plain(t)));
    }

    let original = std::fs::read_to_string(&src).unwrap();
    let tampered = dir.path().join("tampered.json");
    write(
        &tampered,
        &original.replacen("\"name\": \"default\"", "\"name\": \"defaulx\"", 1),
    );
    let err = SpamModel::load(&tampered).unwrap_err();
    assert!(matches!(err, ModelError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("tampered.json"), "{err}");

    let truncated = dir.path().join("truncated.json");
    write(&truncated, &original[..original.len() / 2]);
    let err = SpamModel::load(&truncated).unwrap_err();
    assert!(matches!(err, ModelError::Damaged { .. }), "{err}");
    assert!(err.to_string().contains("truncated.json"), "{err}");

    let future = dir.path().join("future.json");
    write(
        &future,
        &original.replacen("\"format_version\": 1", "\"format_version\": 99", 1),
    );
    let err = SpamModel::load(&future).unwrap_err();
    assert!(matches!(err, ModelError::Incompatible { .. }), "{err}");

    let missing = SpamModel::load(&dir.path().join("nope.json")).unwrap_err();
    assert!(matches!(missing, ModelError::Io { .. }));
}

#[test]
fn odd_inputs_score_without_panicking() {
    let m = shipped();
    let long = "spam ✓ \u{FEFF}<b>x</b>&amp; 1234567 http://a.b/c ".repeat(1700);
    assert!(long.len() >= 64 * 1024);
    for input in [
        "",
        " ",
        "\u{FEFF}",
        "<",
        "&#xFFFFFF;",
        "http://",
        "@.",
        long.as_str(),
    ] {
        let s = m.score(&CommentText {
            content: input,
            author_name: input,
            author_url: input,
        });
        assert!((0.0..=1.0).contains(&s.probability), "{input:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn any_unicode_scores_to_a_probability(content in any::<String>(), url in any::<String>()) {
        let m = shipped();
        let s = m.score(&CommentText { content: &content, author_name: "", author_url: &url });
        prop_assert!((0.0..=1.0).contains(&s.probability));
    }
}

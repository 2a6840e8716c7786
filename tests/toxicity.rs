//! The toxicity score in verdicts over a real server, the hold at its threshold (and its
//! switch), the identity-term fairness of the shipped model, and `eval --toxicity`'s output.

mod support;

use std::collections::BTreeMap;

use commentguard::api::pb::{self, CommentStatus};
use commentguard::toxicity::ToxicityModel;
use commentguard::toxicity::dataset;
use commentguard::toxicity::measure::roc_auc;
use support::{ALICE, TestServer, config, submission};

const ABUSE: &str = "Shut up, you pathetic idiot. Nobody wants to read your stupid garbage.";
const CIVIL: &str =
    "The summit communique says little about grain exports; I expected more detail.";

#[tokio::test]
async fn abuse_is_held_with_its_spans_and_the_threshold_switches_the_hold() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let mut public = server.client().await;
    let mut alice = server.moderator(Some(ALICE)).await;

    let checked = public
        .check_comment(submission("summit", ABUSE))
        .await
        .unwrap()
        .into_inner();
    eprintln!(
        "abuse: toxicity {} spans {:?}",
        checked.toxicity, checked.toxic_spans
    );
    assert_eq!(checked.status(), CommentStatus::Pending, "{checked:?}");
    assert!(checked.toxicity >= 0.9, "{checked:?}");
    let toxic = checked
        .reasons
        .iter()
        .find(|r| r.code == "toxic")
        .expect("a toxic reason");
    assert!(
        toxic.detail.contains("toxicity threshold 0.90"),
        "{toxic:?}"
    );
    // The spans cover the insults, in code points of the content.
    let chars: Vec<char> = ABUSE.chars().collect();
    let marked: Vec<String> = checked
        .toxic_spans
        .iter()
        .map(|s| chars[s.start as usize..s.end as usize].iter().collect())
        .collect();
    assert!(
        marked
            .iter()
            .any(|m| m.contains("idiot") || m.contains("stupid")),
        "{marked:?}"
    );

    let civil = public
        .check_comment(submission("summit", CIVIL))
        .await
        .unwrap()
        .into_inner();
    eprintln!("civil: toxicity {}", civil.toxicity);
    assert_eq!(civil.status(), CommentStatus::Approved, "{civil:?}");
    assert!(
        civil.toxicity < 0.5 && civil.toxic_spans.is_empty(),
        "{civil:?}"
    );

    // Stored, the moderator sees the same score and spans.
    let stored = public
        .submit_comment(submission("summit", ABUSE))
        .await
        .unwrap()
        .into_inner();
    let seen = alice
        .get_comment(pb::GetCommentRequest {
            comment_id: stored.comment_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (seen.toxicity, seen.toxic_spans.len()),
        (stored.toxicity, stored.toxic_spans.len())
    );

    // A change without the field keeps the threshold; 0 turns the hold off.
    let rules = alice
        .get_rules(pb::GetRulesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rules.toxicity_threshold, Some(0.9));
    let mut older_client = rules.clone();
    older_client.toxicity_threshold = None;
    older_client.max_links = rules.max_links + 1;
    let kept = alice
        .update_rules(pb::UpdateRulesRequest {
            rules: Some(older_client),
            expected_version: rules.version.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.toxicity_threshold, Some(0.9));
    let mut off = kept.clone();
    off.toxicity_threshold = Some(0.0);
    let off = alice
        .update_rules(pb::UpdateRulesRequest {
            rules: Some(off),
            expected_version: kept.version.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    // (Another post: the same comment on "summit" is stored, and a check would find it.)
    let unheld = public
        .check_comment(submission("summit-2", ABUSE))
        .await
        .unwrap()
        .into_inner();
    assert!(
        unheld.reasons.iter().all(|r| r.code != "toxic"),
        "{unheld:?}"
    );
    assert!(unheld.toxicity >= 0.9, "the score stays: {unheld:?}");
    let mut bad = off.clone();
    bad.toxicity_threshold = Some(1.5);
    let refused = alice
        .update_rules(pb::UpdateRulesRequest {
            rules: Some(bad),
            expected_version: off.version.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        support::violated_fields(&refused),
        ["rules.toxicity_threshold"]
    );
    server.stop().await;
}

/// Dixon et al. (2018)'s templated test: every identity in the same neutral and toxic
/// sentences. Naming a group must not hold a comment: at the default threshold at most 2 %
/// of any identity's neutral sentences are held, and the toxic ones still rank above them.
#[test]
fn identity_words_alone_do_not_make_a_comment_toxic() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/toxicity/identity-templates.jsonl");
    let rows = dataset::read(&path).unwrap();
    let raw: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let model = ToxicityModel::shipped().unwrap();
    let threshold = commentguard::policy::Thresholds::DEFAULT_TOXICITY;
    let mut by_identity: BTreeMap<String, Vec<(f64, bool)>> = BTreeMap::new();
    for (row, value) in rows.iter().zip(&raw) {
        let identity = value["identity"].as_str().unwrap().to_owned();
        by_identity
            .entry(identity)
            .or_default()
            .push((model.probability(&row.content), row.is_toxic()));
    }
    eprintln!("identity             neutral held  toxic held    auc");
    let mut worst = 0.0_f64;
    for (identity, scores) in &by_identity {
        let neutral: Vec<f64> = scores.iter().filter(|s| !s.1).map(|s| s.0).collect();
        let held =
            neutral.iter().filter(|&&p| p >= threshold).count() as f64 / neutral.len() as f64;
        let toxic: Vec<f64> = scores.iter().filter(|s| s.1).map(|s| s.0).collect();
        let caught = toxic.iter().filter(|&&p| p >= threshold).count() as f64 / toxic.len() as f64;
        let auc = roc_auc(scores).unwrap();
        eprintln!(
            "{identity:<20} {:>11.1} % {:>9.1} % {auc:>6.3}",
            held * 100.0,
            caught * 100.0
        );
        worst = worst.max(held);
        assert!(auc >= 0.8, "{identity}: AUC {auc}");
    }
    assert!(by_identity.len() >= 30 && by_identity.values().all(|s| s.len() >= 40));
    assert!(
        worst <= 0.02,
        "an identity has {:.1} % of its neutral sentences held",
        worst * 100.0
    );
}

#[test]
fn eval_toxicity_prints_the_contract_s_keys() {
    let dir = tempfile::tempdir().unwrap();
    let spans = dir.path().join("spans.jsonl");
    std::fs::write(
        &spans,
        concat!(
            r#"{"content": "You're an idiot.", "toxic": 1, "spans": [{"start": 9, "end": 14, "type": "Insult"}], "raters": 3}"#,
            "\n",
            r#"{"content": "What a stupid, stupid take.", "toxic": 1, "spans": [{"start": 7, "end": 13}]}"#,
            "\n"
        ),
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_commentguard"))
        .args(["eval", "--toxicity", "--json", "--dataset"])
        .arg(&spans)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["roc_auc"], serde_json::Value::Null, "{report}");
    for key in ["mcc", "recall", "clean_flagged_rate", "span_f1"] {
        assert!(report[key].is_number(), "{key}: {report}");
    }
    assert!(report["recall"].as_f64().unwrap() > 0.0, "{report}");
}

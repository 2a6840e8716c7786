//! Bytes off the wire → protobuf decoding → the service's verdict pipeline (validation, parent
//! and closed-post checks, scoring with the online layer, site lists, flood control, campaigns,
//! thresholds) → record encoding. Nothing on it may panic, and a record the service would
//! store must read back as written.

#![no_main]

use std::sync::{Arc, LazyLock};

use commentguard::api::{pb, submission_input};
use commentguard::classifier::CommentText;
use commentguard::comment::{CommentId, Label, StoredComment};
use commentguard::config::Config;
use commentguard::pipeline::{Mode, Parts, Pipeline};
use commentguard::policy::{EditableRules, RuleLists, Thresholds};
use commentguard::privacy::EmailHasher;
use commentguard::scoring::Scorer;
use commentguard::store::record;
use commentguard::store::embedded::{EmbeddedStore, StoreOptions};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;

/// A pipeline as `serve` builds it: a real store in a scratch directory, the shipped model
/// with a few moderator labels learned, and site lists that every field can trip.
static PIPELINE: LazyLock<(Pipeline, tokio::runtime::Runtime)> = LazyLock::new(|| {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let dir = std::env::temp_dir().join(format!("commentguard-fuzz-{}", std::process::id()));
    let store = runtime
        .block_on(async { EmbeddedStore::open(&dir, StoreOptions::default(), 64) })
        .expect("a scratch store");
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/default.json");
    let scorer = Scorer::load(Some(model.into())).expect("the shipped model loads");
    for (text, label) in [("cheap pills here", Label::Spam), ("lovely post", Label::Ham)] {
        let text = CommentText { content: text, author_name: "", author_url: "" };
        scorer.learn(CommentId::generate(), label, &text);
    }
    let hasher = EmailHasher::from_hex(&"ab".repeat(32)).expect("a key");
    let lists = RuleLists {
        moderation_keys: vec!["casino".into()],
        disallowed_keys: vec!["viagra".into()],
        banned_emails: vec!["bad@example.com".into()],
        banned_ips: vec!["203.0.113.0/24".into()],
        closed_posts: vec!["closed".into()],
    };
    let rules = EditableRules { lists, max_links: 2, thresholds: Thresholds::default() };
    let rules = rules.compile(&hasher).expect("rules compile");
    let config = Config { require_prior_approval: true, ..Config::default() };
    let parts = Parts { store, scorer: Arc::new(scorer), hasher, rules };
    (Pipeline::new(parts, &config), runtime)
});

fuzz_target!(|bytes: &[u8]| {
    let Ok(request) = pb::SubmitCommentRequest::decode(bytes) else {
        return;
    };
    let (pipeline, runtime) = &*PIPELINE;
    let input = submission_input(&request);
    // Scoring must cope with anything, valid or not.
    let raw = pipeline.scorer().score(&CommentText {
        content: &request.content,
        author_name: &request.author_name,
        author_url: &request.author_url,
    });
    assert!((0.0..=1.0).contains(&raw.scored.probability));
    let _ = runtime.block_on(pipeline.judge(&input, Mode::Check));
    let Ok(judged) = runtime.block_on(pipeline.judge(&input, Mode::Store)) else {
        return;
    };
    assert!((0.0..=1.0).contains(&judged.verdict.spam_score));
    let comment = StoredComment {
        id: CommentId::generate(),
        created_at_ms: 0,
        submission: judged.submission,
        verdict: judged.verdict,
        model_version: judged.model_version,
        policy_version: judged.policy_version,
        email_hash: judged.email_hash,
        decision: None,
        receipt: Default::default(),
    };
    let decoded = record::decode(&record::encode(&comment)).expect("a stored record reads back");
    assert_eq!(decoded, comment);
});

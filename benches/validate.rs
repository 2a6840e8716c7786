//! Validation of a typical submission, and the whole verdict pipeline it is the first step of,
//! with and without a shadow policy judging beside the live one.

use std::sync::Arc;

use commentguard::config::{Config, ShadowConfig};
use commentguard::pipeline::{Mode, Parts, Pipeline};
use commentguard::privacy::EmailHasher;
use commentguard::scoring::Scorer;
use commentguard::store::Storage;
use commentguard::store::embedded::{EmbeddedStore, StoreOptions};
use commentguard::validate::{SubmissionInput, validate};
use criterion::{Criterion, criterion_group, criterion_main};

/// The pipeline as `serve` builds it with `config`, over a scratch store.
fn pipeline_with(
    runtime: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    config: Config,
) -> Pipeline {
    let store: Arc<dyn Storage> = runtime
        .block_on(async { EmbeddedStore::open(dir, StoreOptions::default(), 64) })
        .expect("a scratch store");
    let toxicity = commentguard::scoring::Live::load(None).expect("the shipped toxicity model");
    let scorer = Scorer::load(config.model.clone(), toxicity).expect("the shipped model");
    let hasher = EmailHasher::from_hex(&"ab".repeat(32)).expect("a key");
    let rules = config
        .editable_rules()
        .compile(&hasher)
        .expect("the default rules");
    let parts = Parts {
        store,
        scorer: Arc::new(scorer),
        hasher,
        rules,
    };
    Pipeline::new(parts, &config)
        .with_shadow(config.shadow.as_ref())
        .expect("the shadow policy")
}

/// The default configuration with the history-dependent rules off, so that judging the same
/// submission for storing again and again is not refused as a flood.
fn storing() -> Config {
    Config {
        flood_interval: 0,
        campaign_min_authors: 0,
        ..Config::default()
    }
}

fn bench(c: &mut Criterion) {
    let input = SubmissionInput {
        post_id: "2026/11/why-rust-for-services",
        post_title: "",
        parent_id: "",
        author_name: "Ada Lovelace",
        author_email: "ada.lovelace@example.com",
        author_url: "https://ada.example/blog",
        content: "Thanks for writing this up. The section on ownership finally made the borrow \
                  checker click for me; I would love a follow-up on async lifetimes.",
        ip: "203.0.113.9",
        user_agent: "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        referrer: "https://blog.example/2026/11/why-rust-for-services",
        honeypot: "",
    };
    assert!(validate(&input).is_ok());
    c.bench_function("validate/typical", |b| {
        b.iter(|| validate(std::hint::black_box(&input)))
    });

    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let dir = tempfile::tempdir().expect("a scratch directory");
    let pipeline = pipeline_with(&runtime, dir.path(), Config::default());
    assert!(
        runtime
            .block_on(pipeline.judge(&input, Mode::Check))
            .is_ok()
    );
    c.bench_function("pipeline/check_typical", |b| {
        b.iter(|| runtime.block_on(pipeline.judge(std::hint::black_box(&input), Mode::Check)))
    });

    // Judging for storing (the shadow judges only what is stored): no shadow, a shadow with
    // other rules (reusing the live score), and a shadow scoring with a model of its own.
    let rules_shadow = ShadowConfig {
        spam_threshold: Some(0.8),
        pending_threshold: Some(0.4),
        moderation_keys: Some(vec!["casino".into(), "crypto".into(), "giveaway".into()]),
        ..ShadowConfig::default()
    };
    let model_shadow = ShadowConfig {
        model: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/models/default.json").into()),
        ..rules_shadow.clone()
    };
    for (name, shadow) in [
        ("pipeline/store_judge_typical", None),
        ("pipeline/store_judge_shadow_rules", Some(rules_shadow)),
        ("pipeline/store_judge_shadow_model", Some(model_shadow)),
    ] {
        let dir = tempfile::tempdir().expect("a scratch directory");
        let config = Config {
            shadow,
            ..storing()
        };
        let with_shadow = config.shadow.is_some();
        let storing = pipeline_with(&runtime, dir.path(), config);
        let judged = runtime
            .block_on(storing.judge(&input, Mode::Store))
            .expect("a verdict");
        assert_eq!(judged.shadow_status.is_some(), with_shadow);
        c.bench_function(name, |b| {
            b.iter(|| runtime.block_on(storing.judge(std::hint::black_box(&input), Mode::Store)))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

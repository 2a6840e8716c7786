//! Validation of a typical submission, and the whole verdict pipeline it is the first step of.

use std::sync::Arc;

use commentguard::config::Config;
use commentguard::pipeline::{Mode, Parts, Pipeline};
use commentguard::privacy::EmailHasher;
use commentguard::scoring::Scorer;
use commentguard::store::Storage;
use commentguard::store::sled::{SledStore, StoreOptions};
use commentguard::validate::{SubmissionInput, validate};
use criterion::{Criterion, criterion_group, criterion_main};

/// The pipeline as `serve` builds it with the default configuration, over a scratch store.
fn pipeline(runtime: &tokio::runtime::Runtime, dir: &std::path::Path) -> Pipeline {
    let config = Config::default();
    let store: Arc<dyn Storage> = runtime
        .block_on(async { SledStore::open(dir, StoreOptions::default(), 64) })
        .expect("a scratch store");
    let scorer = Scorer::load(config.model.clone()).expect("the shipped model");
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
}

fn bench(c: &mut Criterion) {
    let input = SubmissionInput {
        post_id: "2026/11/why-rust-for-services",
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
    let pipeline = pipeline(&runtime, dir.path());
    assert!(
        runtime
            .block_on(pipeline.judge(&input, Mode::Check))
            .is_ok()
    );
    c.bench_function("pipeline/check_typical", |b| {
        b.iter(|| runtime.block_on(pipeline.judge(std::hint::black_box(&input), Mode::Check)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

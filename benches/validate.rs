//! Validation of a typical submission.

use commentguard::validate::{SubmissionInput, validate};
use criterion::{Criterion, criterion_group, criterion_main};

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
}

criterion_group!(benches, bench);
criterion_main!(benches);

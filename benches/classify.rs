//! Scoring latency of the shipped models (spam, then toxicity) on short, typical and long
//! comments, including normalization and feature extraction. `COMMENTGUARD_BENCH_MODEL=FILE`
//! scores spam with another model file instead, so two models can be compared on the same
//! (possibly busy) machine.

use std::hint::black_box;
use std::path::Path;

use commentguard::classifier::{CommentText, SpamModel};
use commentguard::toxicity::ToxicityModel;
use criterion::{Criterion, criterion_group, criterion_main};

fn classify(c: &mut Criterion) {
    let path = std::env::var_os("COMMENTGUARD_BENCH_MODEL").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default.json"),
        std::path::PathBuf::from,
    );
    let model = SpamModel::load(&path).expect("the model file loads");
    let short = "Love this song, so catchy!! 10/10";
    let typical = "Hey everyone, I just uploaded a new cover of this song on my channel. \
                   It took me two weeks to get the harmonies right &amp; I'd love feedback. \
                   Check it out at http://www.youtube.com/watch?v=abc123 and subscribe!";
    let long: String = typical.repeat(10_240 / typical.len() + 1)[..10_240].to_owned();
    let mut group = c.benchmark_group("score");
    for (name, text) in [
        ("short_40B", short),
        ("typical_200B", typical),
        ("long_10KB", long.as_str()),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                model.score(black_box(&CommentText {
                    content: text,
                    author_name: "someone",
                    author_url: "",
                }))
            })
        });
    }
    group.finish();
    let toxicity = ToxicityModel::shipped().expect("the shipped toxicity model");
    let abusive = "Shut up, you pathetic idiot. Nobody wants to read your stupid garbage, \
                   and the whole thread knows you have no clue what the summit agreed on.";
    let mut group = c.benchmark_group("toxicity");
    for (name, text) in [
        ("short_40B", short),
        ("typical_200B", typical),
        ("abusive_150B_with_spans", abusive),
        ("long_10KB", long.as_str()),
    ] {
        group.bench_function(name, |b| b.iter(|| toxicity.score(black_box(text))));
    }
    group.finish();
}

criterion_group!(benches, classify);
criterion_main!(benches);

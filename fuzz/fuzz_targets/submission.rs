//! Bytes off the wire → protobuf decoding → validation → scoring → rules → record encoding,
//! the whole path a submission takes before storage. Nothing on it may panic, and a record
//! the service would store must read back as written.

#![no_main]

use std::sync::LazyLock;

use commentguard::api::{pb, submission_input};
use commentguard::classifier::{CommentText, SpamModel};
use commentguard::comment::{CommentId, StoredComment};
use commentguard::policy::Policy;
use commentguard::store::record;
use commentguard::validate::validate;
use libfuzzer_sys::fuzz_target;
use prost::Message as _;

static MODEL: LazyLock<SpamModel> = LazyLock::new(|| {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/default.json");
    SpamModel::load(std::path::Path::new(path)).expect("the shipped model loads")
});

fuzz_target!(|bytes: &[u8]| {
    let Ok(request) = pb::SubmitCommentRequest::decode(bytes) else {
        return;
    };
    let input = submission_input(&request);
    // Scoring must cope with anything, valid or not.
    let raw = MODEL.score(&CommentText {
        content: &request.content,
        author_name: &request.author_name,
        author_url: &request.author_url,
    });
    assert!((0.0..=1.0).contains(&raw.probability));
    let Ok(submission) = validate(&input) else {
        return;
    };
    let scored = MODEL.score(&CommentText {
        content: &submission.content,
        author_name: &submission.author_name,
        author_url: submission.author_url.as_deref().unwrap_or(""),
    });
    let verdict = Policy::default().decide(&submission, &scored);
    let comment = StoredComment {
        id: CommentId::generate(),
        created_at_ms: 0,
        submission,
        verdict,
        model_version: MODEL.version().to_owned(),
        email_hash: [0; 32],
        decision: None,
    };
    let decoded = record::decode(&record::encode(&comment)).expect("a stored record reads back");
    assert_eq!(decoded, comment);
});

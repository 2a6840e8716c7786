//! `commentguard import` and `commentguard export` (the real binary) against a real server:
//! WordPress and Disqus exports load once with their threads and statuses, a commentguard
//! export loads into an empty store as the same history, and malformed files change nothing.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use commentguard::api::pb::{self, CommentStatus};
use support::{ALICE, Backend, Moderator, Site, TestServer, config, output_within};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

/// Runs the binary with `args` (off the server's runtime, with a deadline).
async fn cli(args: Vec<String>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_commentguard"));
    command.args(args);
    tokio::task::spawn_blocking(move || output_within(command, Duration::from_secs(60)))
        .await
        .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|&a| a.to_owned()).collect()
}

/// `import --json` of `file`, which must succeed; its report.
async fn import(server: &TestServer, format: &str, file: &Path) -> serde_json::Value {
    let mut command = args(&[
        "import",
        "--addr",
        &server.url,
        "--token",
        ALICE,
        "--format",
        format,
        "--json",
    ]);
    command.push(file.display().to_string());
    let out = cli(command).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One stored comment as a comparable tuple: id, post, parent, status, author, email, content,
/// creation second.
type Row = (String, String, String, i32, String, String, String, i64);

/// Everything stored.
async fn everything(moderator: &mut Moderator) -> BTreeSet<Row> {
    let mut all = BTreeSet::new();
    for status in [
        CommentStatus::Approved,
        CommentStatus::Pending,
        CommentStatus::Spam,
        CommentStatus::Trash,
    ] {
        let page = moderator
            .list_queue(pb::ListQueueRequest {
                status: status.into(),
                page_size: 500,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.next_page_token.is_empty());
        for c in page.comments {
            let public = c.comment.unwrap();
            all.insert((
                public.comment_id,
                public.post_id,
                public.parent_id,
                c.status,
                public.author_name,
                c.author_email,
                public.content,
                public.created_at.unwrap().seconds,
            ));
        }
    }
    all
}

fn count(all: &BTreeSet<Row>, status: CommentStatus) -> usize {
    all.iter().filter(|c| c.3 == status as i32).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn wordpress_and_disqus_exports_load_once_with_their_threads() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let mut moderator = server.moderator(Some(ALICE)).await;

    let first = import(&server, "wxr", &fixture("wordpress.wxr")).await;
    assert_eq!(
        (
            first["imported"].as_u64(),
            first["skipped"].as_u64(),
            first["failed"].as_u64()
        ),
        (Some(8), Some(2), Some(0)),
        "{first}"
    );
    assert_eq!(
        first["skip_reasons"]["a pingback, not a comment"], 1,
        "{first}"
    );
    assert_eq!(first["labels"], 6, "{first}");
    let again = import(&server, "wxr", &fixture("wordpress.wxr")).await;
    assert_eq!(
        (
            again["imported"].as_u64(),
            again["already_present"].as_u64(),
            again["skipped"].as_u64()
        ),
        (Some(0), Some(8), Some(10)),
        "{again}"
    );
    let disqus = import(&server, "disqus", &fixture("disqus.xml")).await;
    assert_eq!(
        (disqus["imported"].as_u64(), disqus["skipped"].as_u64()),
        (Some(5), Some(1)),
        "{disqus}"
    );
    for report in [&first, &disqus] {
        eprintln!(
            "classifier agreement with the imported decisions of {}: {} of {} ({:.1} %)",
            report["file"],
            report["agreed"],
            report["labels"],
            report["agreement"].as_f64().unwrap() * 100.0
        );
    }

    let all = everything(&mut moderator).await;
    assert_eq!(
        [
            CommentStatus::Approved,
            CommentStatus::Pending,
            CommentStatus::Spam,
            CommentStatus::Trash
        ]
        .map(|s| count(&all, s)),
        [7, 1, 3, 2]
    );
    // The garlic thread, oldest first, replies pointing at their parent.
    let mut client = server.client().await;
    let thread = client
        .list_comments(pb::ListCommentsRequest {
            post_id: "https://allotment.example.org/2025/10/planting-garlic/".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .comments;
    let names: Vec<_> = thread.iter().map(|c| c.author_name.as_str()).collect();
    assert_eq!(names, ["Hélène Dubois", "margaret", "Kenji Watanabe"]);
    assert_eq!(thread[1].parent_id, thread[0].comment_id);
    assert_eq!(thread[2].parent_id, thread[0].comment_id);
    // Emails only in the private view; Disqus comments have none.
    let helene = moderator
        .get_comment(pb::GetCommentRequest {
            comment_id: thread[0].comment_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (helene.author_email.as_str(), helene.ip.as_str()),
        ("helene.dubois@example.fr", "203.0.113.17")
    );
    assert!(
        all.iter()
            .filter(|c| c.1.contains("trailnotes"))
            .all(|c| c.5.is_empty())
    );
    server.stop().await;

    // The imported decisions are labels `train --from-store` learns from.
    let model = dir.path().join("site.json");
    let mut train = args(&["train", "--folds", "0", "--from-store"]);
    train.push(dir.path().display().to_string());
    train.push("--out".into());
    train.push(model.display().to_string());
    let trained = cli(train).await;
    let stderr = String::from_utf8_lossy(&trained.stderr);
    assert!(trained.status.success(), "{stderr}");
    assert!(stderr.contains("10 comments (3 spam, 7 ham)"), "{stderr}");
}

async fn an_export_loads_into_an_empty_store_as_the_same_history(backend: Backend) {
    let (Some(site), Some(empty)) = (Site::new(backend), Site::new(backend)) else {
        return;
    };
    let dir = &site.dir;
    let source = TestServer::start(site.config()).await;
    import(&source, "wxr", &fixture("wordpress.wxr")).await;
    import(&source, "disqus", &fixture("disqus.xml")).await;
    let mut source_moderator = source.moderator(Some(ALICE)).await;
    let before = everything(&mut source_moderator).await;

    let backup = dir.path().join("backup.wxr");
    let mut export = args(&[
        "export",
        "--addr",
        &source.url,
        "--token",
        ALICE,
        "--format",
        "wxr",
        "--include-emails",
        "--output",
    ]);
    export.push(backup.display().to_string());
    let out = cli(export).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let jsonl = cli(args(&[
        "export",
        "--addr",
        &source.url,
        "--token",
        ALICE,
        "--format",
        "jsonl",
    ]))
    .await;
    assert!(jsonl.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(jsonl.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), before.len());
    // Without --include-emails, no email and no IP leaves.
    assert!(
        lines
            .iter()
            .all(|l| l["author_email"] == "" && l["ip"] == "")
    );
    source.stop().await;

    let target = TestServer::start(empty.config()).await;
    let report = import(&target, "wxr", &backup).await;
    assert_eq!(
        report["imported"].as_u64(),
        Some(before.len() as u64),
        "{report}"
    );
    let mut target_moderator = target.moderator(Some(ALICE)).await;
    assert_eq!(everything(&mut target_moderator).await, before);
    target.stop().await;
}

async fn malformed_files_strangers_and_bad_comments_change_nothing(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let file = fixture("malformed.wxr");
    let out = cli(args(&[
        "import",
        "--addr",
        &server.url,
        "--token",
        ALICE,
        "--format",
        "wxr",
        &file.display().to_string(),
    ]))
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("malformed.wxr:7:"), "{stderr}");
    let good = fixture("wordpress.wxr").display().to_string();
    let out = cli(args(&[
        "import",
        "--addr",
        &server.url,
        "--token",
        "not-a-moderator-token",
        "--format",
        "wxr",
        &good,
    ]))
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PermissionDenied"));
    let mut moderator = server.moderator(Some(ALICE)).await;
    // Through the RPC: a bad comment fails alone, naming its fields; too big a batch is refused.
    let good = pb::ImportedComment {
        comment_id: "0190f0c1-7e55-7000-8000-000000000001".into(),
        post_id: "p".into(),
        author_name: "Ada".into(),
        content: "hello".into(),
        created_at: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
        status: CommentStatus::Approved.into(),
        ..Default::default()
    };
    let bad = pb::ImportedComment {
        comment_id: "12".into(),
        content: String::new(),
        status: 0,
        ..good.clone()
    };
    let answer = moderator
        .import_comments(pb::ImportCommentsRequest {
            comments: vec![bad, good.clone()],
        })
        .await
        .unwrap()
        .into_inner();
    let outcomes: Vec<_> = answer.results.iter().map(|r| r.outcome).collect();
    use pb::import_result::Outcome;
    assert_eq!(outcomes, [Outcome::Failed as i32, Outcome::Imported as i32]);
    let why = &answer.results[0].error;
    for field in ["comment_id", "content", "status"] {
        assert!(why.contains(field), "{why}");
    }
    let refused = moderator
        .import_comments(pb::ImportCommentsRequest {
            comments: vec![good; 501],
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(everything(&mut moderator).await.len(), 1);
    server.stop().await;
}

on_both_backends!(
    multi_thread: an_export_loads_into_an_empty_store_as_the_same_history,
    malformed_files_strangers_and_bad_comments_change_nothing,
);

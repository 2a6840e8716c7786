//! `commentguard queue ...` against a live server.

mod support;

use std::process::{Command, Output};

use commentguard::api::pb::CommentStatus;
use support::{
    ALICE, Deadline, TestServer, WAIT, config, lines_of, output_within, submission, within,
};

/// Runs `commentguard queue ARGS` with alice's token off the test's runtime.
///
/// # Panics
/// When the command cannot start or runs longer than [`WAIT`].
async fn queue(url: &str, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_commentguard"));
    command
        .arg("queue")
        .args(args)
        .args(["--addr", url])
        .env("COMMENTGUARD_TOKEN", ALICE);
    run(command).await
}

/// Runs `command` to its end off the test's runtime (where the server runs).
///
/// # Panics
/// When the command cannot start or runs longer than [`WAIT`].
async fn run(command: Command) -> Output {
    tokio::task::spawn_blocking(move || output_within(command, WAIT))
        .await
        .unwrap()
}

/// The standard output of a command that succeeded.
///
/// # Panics
/// When the command failed or its output is not UTF-8.
#[track_caller]
fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[tokio::test]
async fn a_moderator_works_the_queue_from_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let mut client = server.client().await;
    let held = client
        .submit_comment(submission(
            "cli-post",
            "Happy to help with the translation, write to me at ada.helper@example.org",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.status(), CommentStatus::Pending);
    let id = held.comment_id;

    let list = stdout(&queue(&server.url, &["list"]).await);
    assert!(list.starts_with("ID "), "{list}");
    assert!(list.contains(&id) && list.contains("PENDING") && list.contains("ada@example.com"));
    assert!(list.contains("1 comment(s)"));

    let json = stdout(&queue(&server.url, &["list", "--status", "pending", "--json"]).await);
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["comment_id"], id.as_str());
    assert_eq!(first["status"], "PENDING");

    let shown = stdout(&queue(&server.url, &["show", &id]).await);
    assert!(
        shown.contains("email_in_content") && shown.contains("192.0.2.10"),
        "{shown}"
    );

    let approved = stdout(&queue(&server.url, &["approve", &id, "--note", "fine"]).await);
    assert_eq!(approved.trim(), format!("{id}  APPROVED"));
    // A second approval is refused and the command fails, naming the reason.
    let again = queue(&server.url, &["approve", &id]).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("FailedPrecondition"));

    let audit = stdout(&queue(&server.url, &["audit"]).await);
    assert!(audit.contains("alice") && audit.contains("APPROVE") && audit.contains("fine"));
    let stats = stdout(&queue(&server.url, &["stats", "--json"]).await);
    let stats: serde_json::Value = serde_json::from_str(stats.trim()).unwrap();
    assert_eq!(stats["by_status"]["APPROVED"], 1);
    assert_eq!(stats["labels"], 1);
    assert_eq!(stats["site_model"]["labels"], 1);

    let reset = stdout(&queue(&server.url, &["reset-site-model", "--note", "fresh start"]).await);
    assert!(
        reset.contains("learned from 0 label(s)")
            && reset.contains("by alice (1 label(s) dropped): fresh start"),
        "{reset}"
    );
    let stats = stdout(&queue(&server.url, &["stats"]).await);
    assert!(stats.contains("site      reset "), "{stats}");

    let erased = stdout(&queue(&server.url, &["erase", "ada@example.com", "--json"]).await);
    assert_eq!(erased.trim(), r#"{"erased_comments":1}"#);

    let mut no_token = Command::new(env!("CARGO_BIN_EXE_commentguard"));
    no_token
        .args(["queue", "list", "--addr", &server.url])
        .env_remove("COMMENTGUARD_TOKEN");
    let refused = run(no_token).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("token"));
    server.stop().await;
}

#[tokio::test]
async fn watch_prints_events_as_they_arrive() {
    use std::io::{BufRead as _, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let mut client = server.client().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_commentguard"))
        .args(["queue", "watch", "--json", "--addr", &server.url])
        .env("COMMENTGUARD_TOKEN", ALICE)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let reader =
        tokio::task::spawn_blocking(move || BufReader::new(out).lines().next().unwrap().unwrap());
    // Keep submitting until the watcher (which connects on its own time) reports one.
    let deadline = Deadline::start("a line from `queue watch`");
    let mut n = 0;
    while !reader.is_finished() {
        if deadline.passed() {
            child.kill().unwrap();
            child.wait().unwrap();
            deadline.check();
        }
        n += 1;
        let content = format!("Happy to help with part {n}, write to me at ada.helper@example.org");
        client
            .submit_comment(submission("watched", &content))
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let line = reader.await.unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["kind"], "SUBMITTED");
    assert_eq!(event["comment"]["status"], "PENDING");
    assert_eq!(event["comment"]["post_id"], "watched");
    server.stop().await;
}

/// A child process killed when dropped, also when the test fails: `--resume` would
/// otherwise retry for ever.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn watch_resume_prints_what_happened_while_the_server_was_down() {
    use commentguard::store::Storage as _;
    let dir = tempfile::tempdir().unwrap();
    let cursor_file = dir.path().join("cursor");
    let server = TestServer::start(config(dir.path())).await;
    let address = server.url.trim_start_matches("http://").to_owned();
    let mut client = server.client().await;
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_commentguard"))
            .args([
                "queue",
                "watch",
                "--json",
                "--resume",
                "--addr",
                &server.url,
            ])
            .arg("--cursor-file")
            .arg(&cursor_file)
            .env("COMMENTGUARD_TOKEN", ALICE)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = lines_of(child.0.stdout.take().unwrap());
    let mut notices = lines_of(child.0.stderr.take().unwrap());
    let event = |line: &str| -> serde_json::Value { serde_json::from_str(line).unwrap() };
    // The watcher says on stderr once its watch is subscribed.
    let notice = within("`queue watch` to start watching", notices.recv())
        .await
        .unwrap();
    assert!(notice.starts_with("watching the queue"), "{notice}");
    let last = client
        .submit_comment(submission("watched", "Last one before, to b@example.org"))
        .await
        .unwrap()
        .into_inner()
        .comment_id;
    loop {
        let line = within("the last event before the restart", lines.recv())
            .await
            .unwrap();
        if event(&line)["comment"]["comment_id"] == last.as_str() {
            break;
        }
    }
    server.stop().await;

    // While the server is down, a decision is stored: the watcher cannot see it live.
    let store =
        commentguard::store::embedded::EmbeddedStore::open(dir.path(), Default::default(), 1)
            .unwrap();
    store
        .moderate(commentguard::store::DecisionRequest {
            id: commentguard::comment::CommentId::parse(&last).unwrap(),
            action: commentguard::moderation::Action::MarkSpam,
            moderator: "alice".into(),
            note: String::new(),
            at_ms: commentguard::comment::now_ms(),
        })
        .await
        .unwrap();
    store.close().await.unwrap();
    drop(store);

    let listener = tokio::net::TcpListener::bind(&address).await.unwrap();
    let server = TestServer::start_on(config(dir.path()), listener);
    let mut client = server.client().await;
    let after = client
        .submit_comment(submission("watched", "First one after, to c@example.org"))
        .await
        .unwrap()
        .into_inner()
        .comment_id;
    let decided = event(&within("the missed decision", lines.recv()).await.unwrap());
    assert_eq!(decided["kind"], "DECIDED", "{decided}");
    assert_eq!(decided["comment"]["comment_id"], last.as_str());
    let next = event(&within("the next event", lines.recv()).await.unwrap());
    assert_eq!(next["kind"], "SUBMITTED", "{next}");
    assert_eq!(next["comment"]["comment_id"], after.as_str());
    // The file follows the line printed (written right after it).
    let deadline = Deadline::start("the cursor file to hold the last cursor");
    while std::fs::read_to_string(&cursor_file).unwrap().trim() != next["cursor"] {
        deadline.check();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop(child);
    server.stop().await;
}

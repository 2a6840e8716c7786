//! The shipped model is built into the binary: `commentguard serve` started from any
//! directory, without `--model`, serves with it and says so in its log.

mod support;

use std::process::{Command, Stdio};

use commentguard::api::pb::comment_service_client::CommentServiceClient;
use support::{lines_of, submission, within};

#[tokio::test]
async fn serve_from_another_directory_uses_the_built_in_model() {
    let elsewhere = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_commentguard"))
        .current_dir(elsewhere.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--http-listen", "off"])
        .env_remove("COMMENTGUARD_MODEL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = lines_of(child.stdout.take().unwrap());
    let mut stderr = lines_of(child.stderr.take().unwrap());
    let first = within("the listening line", stdout.recv())
        .await
        .expect("a listening line");
    let address = first
        .strip_prefix("commentguard listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    // Logged before listening; the log's reader thread may deliver it a moment later.
    let loaded = within("the model's log line", async {
        while let Some(line) = stderr.recv().await {
            if line.contains("spam and toxicity models loaded") {
                return Some(line);
            }
        }
        None
    })
    .await;
    let mut client = CommentServiceClient::connect(format!("http://{address}"))
        .await
        .unwrap();
    let verdict = within(
        "a verdict",
        client.check_comment(submission(
            "p",
            "check out my channel http://spam.example and subscribe, free gift cards",
        )),
    )
    .await
    .unwrap()
    .into_inner();
    let _ = child.kill();
    let _ = child.wait();
    assert!(verdict.spam_score > 0.5, "scored by the model: {verdict:?}");
    let loaded = loaded.expect("the log names the model");
    assert!(
        loaded.contains("models/default.json, built in")
            && loaded.contains("models/toxicity.json, built in"),
        "{loaded}"
    );
    assert!(
        elsewhere.path().join("data").exists(),
        "data in the working directory"
    );
}

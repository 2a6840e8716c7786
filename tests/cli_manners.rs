//! How the binary behaves as a Unix command: a reader that stops early (`| head -1`) ends it
//! quietly with success, and an error is one line on stderr with a failing exit status.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Longest any command here may take.
const DEADLINE: Duration = Duration::from_secs(60);

fn shipped_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default.json")
}

fn commentguard() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_commentguard"));
    // A panic would print its backtrace: the tests look for it.
    command.env("RUST_BACKTRACE", "1");
    command
}

/// Waits for `child` until [`DEADLINE`]; kills it and fails past that.
fn wait(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("commentguard did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `command` to completion (within [`DEADLINE`]) and returns its status and stderr.
fn run(command: &mut Command) -> (ExitStatus, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait(&mut child);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

#[test]
fn a_reader_that_stops_early_ends_the_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("one.jsonl");
    std::fs::write(
        &dataset,
        "{\"post_id\":\"p\",\"author_name\":\"a\",\"content\":\"hello there\",\"label\":\"ham\"}\n",
    )
    .unwrap();
    // One table row per dataset: about 180 KB, far more than a pipe holds, so the command is
    // still writing when the reader goes away.
    let mut command = commentguard();
    command.arg("eval").arg("--model").arg(shipped_model());
    for _ in 0..2000 {
        command.arg("--dataset").arg(&dataset);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sent, first_line) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        // The reader is dropped here, closing the pipe like `head -1` does.
        let _ = sent.send(line);
    });
    let line = match first_line.recv_timeout(DEADLINE) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no first line within {DEADLINE:?}");
        }
    };
    assert!(line.starts_with("model "), "{line:?}");
    let status = wait(&mut child);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.to_lowercase().contains("backtrace"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn a_missing_dataset_is_one_line_on_stderr_and_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.csv");
    let (status, stderr) = run(commentguard()
        .arg("eval")
        .arg("--model")
        .arg(shipped_model())
        .arg("--dataset")
        .arg(&missing));
    assert!(!status.success(), "{status}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("missing.csv"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn an_invalid_config_file_is_one_line_on_stderr_and_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("commentguard.toml");
    // An unknown key: the TOML reader's message quotes the line over several lines.
    std::fs::write(&config, "max_link = 5\n").unwrap();
    let (status, stderr) = run(commentguard()
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data")));
    assert!(!status.success(), "{status}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: invalid config file "),
        "{stderr}"
    );
    assert!(stderr.contains("max_link"), "{stderr}");
}

#[test]
fn thresholds_out_of_order_are_refused_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (status, stderr) = run(commentguard()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--spam-threshold",
            "0.3",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--model")
        .arg(shipped_model()));
    assert!(!status.success(), "{status}");
    assert_eq!(
        stderr.trim_end(),
        "error: thresholds must satisfy 0 <= pending (0.5) <= spam (0.3) <= 1"
    );
}

#[test]
fn convert_store_moves_a_sled_store_to_fjall_once_and_refuses_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layout3-record2");
    std::fs::create_dir(dir.path().join("blobs")).unwrap();
    for name in ["conf", "db", "snap.000000000000E1B8", "hmac.key"] {
        std::fs::copy(fixture.join(name), dir.path().join(name)).unwrap();
    }
    let convert = |data_dir: &Path| {
        let out = commentguard()
            .arg("convert-store")
            .arg("--data-dir")
            .arg(data_dir)
            .output()
            .unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (status, stdout, stderr) = convert(dir.path());
    assert!(status.success(), "{stderr}");
    assert!(stdout.starts_with("converted "), "{stdout}");
    assert!(dir.path().join("fjall").is_dir() && !dir.path().join("db").is_file());
    assert!(dir.path().join("hmac.key").exists());
    let (status, stdout, _) = convert(dir.path());
    assert!(status.success());
    assert!(stdout.contains("already holds a fjall store"), "{stdout}");

    let (status, _, stderr) = convert(&dir.path().join("nothing-here"));
    assert!(!status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: converting the store in "),
        "{stderr}"
    );
}

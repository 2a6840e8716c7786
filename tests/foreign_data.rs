//! Corrupt or foreign data is refused at start with a message naming the file and what to do.

mod support;

use std::process::Command;

use support::{WAIT, output_within, shipped_model};

/// Runs `commentguard serve` over `data_dir` with `model`; it is expected to refuse to start.
///
/// # Panics
/// When it does not end within [`WAIT`] (it started serving).
#[track_caller]
fn serve(data_dir: &std::path::Path, model: &std::path::Path) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_commentguard"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .arg("--model")
        .arg(model);
    output_within(command, WAIT)
}

#[test]
fn data_written_by_a_newer_build_is_refused() {
    for key in ["schema_version", "record_version"] {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            db.open_tree("meta").unwrap().insert(key, &[99u8]).unwrap();
            db.flush().unwrap();
        }
        let output = serve(dir.path(), &shipped_model());
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&dir.path().display().to_string()),
            "{stderr}"
        );
        assert!(stderr.contains("newer"), "{stderr}");
        assert!(stderr.contains("99"), "{stderr}");
    }
}

#[test]
fn a_damaged_model_file_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.json");
    let mut text = std::fs::read_to_string(shipped_model()).unwrap();
    // Change one weight digit: the JSON still parses, the checksum no longer matches.
    let at = text.find("\"weights\"").unwrap()
        + text[text.find("\"weights\"").unwrap()..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap();
    let digit = text.as_bytes()[at];
    text.replace_range(at..=at, if digit == b'7' { "8" } else { "7" });
    std::fs::write(&model, text).unwrap();
    let output = serve(&dir.path().join("data"), &model);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("model.json"), "{stderr}");
    assert!(stderr.to_lowercase().contains("checksum"), "{stderr}");
}

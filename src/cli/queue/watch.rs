//! `commentguard queue watch`: prints queue events as they happen. With `--resume` it keeps
//! the cursor of the last event printed (in memory, and in `--cursor-file` when given) and,
//! when the connection drops or the server restarts, reconnects with a bounded backoff and
//! resumes right after that event: nothing missed, nothing printed twice.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::Code;

use super::{Args, Client, connect, print_event};
use crate::cli::client::describe_status;
use crate::proto as pb;

/// First wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What to watch and how.
#[derive(Debug)]
pub(super) struct Watch {
    pub request: pb::WatchQueueRequest,
    pub json: bool,
    pub resume: bool,
    pub cursor_file: Option<PathBuf>,
}

/// Follows the queue until interrupted (or, without `--resume`, until the stream ends).
///
/// # Errors
/// Refused calls (a bad token, an unknown cursor), an unreadable or unwritable cursor file;
/// without `--resume`, a lost connection too.
pub(super) async fn run(
    args: &Args,
    mut client: Client,
    mut watch: Watch,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if let Some(file) = &watch.cursor_file {
        watch.request.after_cursor = read_cursor(file)?;
    }
    let mut backoff = FIRST_BACKOFF;
    loop {
        let ended = follow(&mut client, &mut watch, out, &mut backoff).await?;
        match ended {
            Err(status) if !watch.resume || !retryable(status.code()) => {
                return Err(describe_status(status));
            }
            Ok(()) if !watch.resume => return Ok(()),
            _ => {}
        }
        eprintln!(
            "watch interrupted; resuming after {} in {:.1} s",
            cursor_name(&watch.request.after_cursor),
            backoff.as_secs_f64()
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        if let Ok(fresh) = connect(args).await {
            client = fresh;
        }
    }
}

/// One stream: prints its events and remembers their cursors until it ends; the inner
/// result is how the stream ended, the outer one a local failure (output, cursor file).
async fn follow(
    client: &mut Client,
    watch: &mut Watch,
    out: &mut impl Write,
    backoff: &mut Duration,
) -> anyhow::Result<Result<(), tonic::Status>> {
    let mut events = match client.watch_queue(watch.request.clone()).await {
        Ok(response) => response.into_inner(),
        Err(status) => return Ok(Err(status)),
    };
    *backoff = FIRST_BACKOFF;
    // The server answers once the watch is subscribed: from here on, nothing is missed. Said
    // on stderr so stdout stays the events; a closed stderr is no reason to stop.
    let _ = writeln!(
        std::io::stderr(),
        "watching the queue after {}",
        cursor_name(&watch.request.after_cursor)
    );
    loop {
        let event = match events.message().await {
            Ok(Some(event)) => event,
            Ok(None) => return Ok(Ok(())),
            Err(status) => return Ok(Err(status)),
        };
        print_event(out, &event, watch.json)?;
        if !event.cursor.is_empty() {
            watch.request.after_cursor.clone_from(&event.cursor);
            if let Some(file) = &watch.cursor_file {
                write_cursor(file, &event.cursor)?;
            }
        }
    }
}

/// Failures a reconnect can cure: the server gone, restarting or shutting down.
fn retryable(code: Code) -> bool {
    matches!(code, Code::Unavailable | Code::Unknown | Code::Cancelled)
}

fn cursor_name(cursor: &str) -> &str {
    if cursor.is_empty() {
        "the newest event"
    } else {
        cursor
    }
}

/// The cursor kept in `file`; empty when the file does not exist yet.
fn read_cursor(file: &Path) -> anyhow::Result<String> {
    match std::fs::read_to_string(file) {
        Ok(text) => Ok(text.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", file.display())),
    }
}

/// Replaces the cursor in `file` (through a temporary file, so a crash leaves one whole).
fn write_cursor(file: &Path, cursor: &str) -> anyhow::Result<()> {
    let temporary = file.with_extension("tmp");
    std::fs::write(&temporary, format!("{cursor}\n"))
        .and_then(|()| std::fs::rename(&temporary, file))
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))
}

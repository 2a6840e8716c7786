//! Shared helpers: a real server on an ephemeral port over a temporary sled directory.
#![allow(dead_code)]

use std::future::Future;
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use commentguard::Config;
use commentguard::api::pb;
use commentguard::api::pb::comment_service_client::CommentServiceClient;
use commentguard::api::pb::moderation_service_client::ModerationServiceClient;
use tokio::sync::oneshot;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// The longest any single wait in these tests may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// The (real) time after which a polling wait has failed: every polling loop checks one.
#[derive(Debug)]
pub struct Deadline {
    at: Instant,
    what: String,
}

impl Deadline {
    /// [`WAIT`] from now, for the wait described by `what` (what is awaited).
    pub fn start(what: impl Into<String>) -> Self {
        Self {
            at: Instant::now() + WAIT,
            what: what.into(),
        }
    }

    /// Whether the deadline has passed.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// Fails the test once the deadline has passed.
    ///
    /// # Panics
    /// When it has passed.
    #[track_caller]
    pub fn check(&self) {
        assert!(
            !self.passed(),
            "{} did not happen within {WAIT:?}",
            self.what
        );
    }
}

/// Awaits `future`, failing the test (at the caller's line) if it takes longer than [`WAIT`].
///
/// # Panics
/// When `future` has not completed within [`WAIT`] of tokio time.
#[track_caller]
pub fn within<F: Future>(what: &str, future: F) -> impl Future<Output = F::Output> {
    let caller = Location::caller();
    let what = what.to_owned();
    async move {
        match tokio::time::timeout(WAIT, future).await {
            Ok(output) => output,
            Err(_) => panic!("{caller}: {what} did not happen within {WAIT:?}"),
        }
    }
}

/// Runs `command` to its end like [`std::process::Command::output`], but kills it and fails
/// the test if it runs longer than `limit`. Blocks: call it off the runtime of a server under
/// test (`spawn_blocking`).
///
/// # Panics
/// When the command cannot start or outlives `limit`.
#[track_caller]
pub fn output_within(mut command: std::process::Command, limit: Duration) -> std::process::Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).map(|_| bytes)
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().unwrap()));
    let stderr = read_all(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} still running after {limit:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    std::process::Output {
        status,
        stdout: stdout.join().unwrap().unwrap(),
        stderr: stderr.join().unwrap().unwrap(),
    }
}

/// A running server and what is needed to stop it.
pub struct TestServer {
    pub url: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), commentguard::server::ServeError>>,
}

/// The model shipped in `models/`.
pub fn shipped_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default.json")
}

/// Token of the moderator `alice` in [`config`].
pub const ALICE: &str = "alice-token-0123456789";
/// Token of the moderator `bob` in [`config`].
pub const BOB: &str = "bob-token-0123456789";

/// A configuration over `data_dir` with the shipped model, the moderators `alice` and `bob`,
/// and the rules that depend on submission history off (flood control, campaigns), since
/// tests submit many comments quickly from one author; the tests of those rules turn them on.
///
/// # Panics
/// When a moderator token is refused.
#[track_caller]
pub fn config(data_dir: &Path) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        model: shipped_model(),
        flood_interval: 0,
        campaign_min_authors: 0,
        ..Config::default()
    };
    config.moderator_tokens.insert("alice", ALICE).unwrap();
    config.moderator_tokens.insert("bob", BOB).unwrap();
    config.validate().expect("the test configuration is valid");
    config
}

/// Adds `authorization: Bearer <token>` to every request (or nothing, for `None`).
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A moderation client that sends `token`.
pub type Moderator = ModerationServiceClient<InterceptedService<Channel, Bearer>>;

impl TestServer {
    /// Starts a server with `config` on 127.0.0.1:0.
    ///
    /// # Panics
    /// When the port cannot be bound.
    pub async fn start(config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            commentguard::server::run(&config, listener, async {
                let _ = stopped.await;
            })
            .await
        });
        Self { url, stop, task }
    }

    /// A client connected to the server (retries while it starts).
    ///
    /// # Panics
    /// When the server does not answer within a few seconds.
    pub async fn client(&self) -> CommentServiceClient<Channel> {
        for _ in 0..100 {
            if let Ok(client) = CommentServiceClient::connect(self.url.clone()).await {
                return client;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("server at {} did not come up", self.url);
    }

    /// A moderation client presenting `token` (none for `None`).
    ///
    /// # Panics
    /// When the server does not answer within a few seconds.
    pub async fn moderator(&self, token: Option<&str>) -> Moderator {
        for _ in 0..100 {
            if let Ok(channel) = Channel::from_shared(self.url.clone())
                .unwrap()
                .connect()
                .await
            {
                let bearer = token.map(|t| format!("Bearer {t}").parse().unwrap());
                return ModerationServiceClient::with_interceptor(channel, Bearer(bearer));
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("server at {} did not come up", self.url);
    }

    /// Stops the server gracefully and waits until its database is closed.
    ///
    /// # Panics
    /// When the server returned an error or did not stop within [`WAIT`].
    #[track_caller]
    pub fn stop(self) -> impl Future<Output = ()> {
        let caller = Location::caller();
        let _ = self.stop.send(());
        async move {
            match tokio::time::timeout(WAIT, self.task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => panic!("{caller}: the server failed: {e:#}"),
                Ok(Err(e)) => panic!("{caller}: the server task failed: {e}"),
                Err(_) => panic!("{caller}: the server did not stop within {WAIT:?}"),
            }
        }
    }
}

/// A valid submission; tests change what they need.
pub fn submission(post: &str, content: &str) -> pb::SubmitCommentRequest {
    pb::SubmitCommentRequest {
        post_id: post.to_owned(),
        parent_id: String::new(),
        author_name: "Ada Lovelace".to_owned(),
        author_email: "ada@example.com".to_owned(),
        author_url: String::new(),
        content: content.to_owned(),
        context: Some(pb::ClientContext {
            ip: "192.0.2.10".to_owned(),
            user_agent: "Mozilla/5.0 (test)".to_owned(),
            referrer: "https://blog.example/post".to_owned(),
            honeypot: String::new(),
        }),
    }
}

/// The field names of the `BadRequest` violations carried by `status`.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// Counts the comments stored in a (closed) data directory, in all statuses.
///
/// # Panics
/// When the store cannot be opened.
pub async fn stored_count(data_dir: &Path) -> usize {
    use commentguard::store::Storage as _;
    let store =
        commentguard::store::sled::SledStore::open(data_dir, Default::default(), 1).unwrap();
    let counts = store.status_counts().await.unwrap();
    store.close().await.unwrap();
    counts.iter().map(|(_, n)| *n as usize).sum()
}

/// Starts the real binary on an ephemeral port over `data_dir`, with flood control off (the
/// tests that use it send as fast as they can from one address), and returns the child with
/// the URL it listens on.
///
/// # Panics
/// When the binary cannot start or its first line is not the listening line.
#[track_caller]
pub fn start_binary(data_dir: &Path) -> (std::process::Child, String) {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_commentguard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .arg("--model")
        .arg(shipped_model())
        .args(["--flood-interval", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line).map(|_| line);
        let _ = tx.send(read);
    });
    let line = match rx.recv_timeout(WAIT) {
        Ok(read) => read.unwrap(),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server printed no first line within {WAIT:?}");
        }
    };
    let addr = line
        .trim()
        .strip_prefix("commentguard listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, format!("http://{addr}"))
}

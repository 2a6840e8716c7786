//! Shared helpers: a real server on an ephemeral port over a temporary sled directory or a
//! fresh PostgreSQL database ([`Site`]).
#![allow(dead_code)]

pub mod postgres;

use std::future::Future;
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use commentguard::Config;
use commentguard::api::pb;
use commentguard::api::pb::comment_service_client::CommentServiceClient;
use commentguard::api::pb::moderation_service_client::ModerationServiceClient;
use commentguard::config::HttpListen;
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
        model: Some(shipped_model()),
        flood_interval: 0,
        campaign_min_authors: 0,
        // Tests run in parallel: none may take the fixed default HTTP port.
        http_listen: HttpListen::Off,
        ..Config::default()
    };
    config.moderator_tokens.insert("alice", ALICE).unwrap();
    config.moderator_tokens.insert("bob", BOB).unwrap();
    config.validate().expect("the test configuration is valid");
    config
}

/// Where a test's comments live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A sled directory.
    Sled,
    /// A database of the test binary's PostgreSQL cluster.
    Postgres,
}

/// A test's store: a temporary directory (always: the sled data or nothing) and, on
/// PostgreSQL, a fresh database.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub database_url: Option<String>,
}

impl Site {
    /// A fresh site on `backend`; `None` when PostgreSQL is not installed (outside CI; the
    /// line saying so has been printed).
    ///
    /// # Panics
    /// When the temporary directory or database cannot be made.
    pub fn new(backend: Backend) -> Option<Self> {
        let database_url = match backend {
            Backend::Sled => None,
            Backend::Postgres => Some(postgres::shared()?.database()),
        };
        Some(Self {
            dir: tempfile::tempdir().unwrap(),
            database_url,
        })
    }

    /// [`config`] over this site's store.
    #[track_caller]
    pub fn config(&self) -> Config {
        let mut config = config(self.dir.path());
        config.database_url.clone_from(&self.database_url);
        config
    }

    /// How many comments the (closed or idle) store holds, in all statuses.
    ///
    /// # Panics
    /// When the store cannot be opened.
    pub async fn stored_count(&self) -> usize {
        let store = self.open_store().await;
        let counts = store.status_counts().await.unwrap();
        store.close().await.unwrap();
        counts.iter().map(|(_, n)| *n as usize).sum()
    }
}

impl Site {
    /// Every moderator label the (closed or idle) store holds.
    ///
    /// # Panics
    /// When the store cannot be opened.
    pub async fn labels(&self) -> Vec<commentguard::store::LabelledText> {
        let store = self.open_store().await;
        let labels = store.labels().await.unwrap();
        store.close().await.unwrap();
        labels
    }

    /// The site's store, opened directly (its server stopped, for sled).
    ///
    /// # Panics
    /// When it cannot be opened.
    pub async fn open_store(&self) -> std::sync::Arc<dyn commentguard::store::Storage> {
        match &self.database_url {
            Some(url) => {
                let options = commentguard::store::postgres::PgOptions {
                    pool_size: 2,
                    batch_limit: 16,
                };
                commentguard::store::postgres::PgStore::open(url, options)
                    .await
                    .unwrap()
            }
            None => commentguard::store::embedded::EmbeddedStore::open(
                self.dir.path(),
                Default::default(),
                16,
            )
            .unwrap(),
        }
    }
}

/// Runs the listed tests (async functions taking a [`Backend`]) once on sled and once on
/// PostgreSQL, as `on_sled::NAME` and `on_postgres::NAME`.
#[macro_export]
macro_rules! on_both_backends {
    (multi_thread: $($name:ident),* $(,)?) => {
        $crate::on_both_backends!(@with (flavor = "multi_thread", worker_threads = 2) $($name),*);
    };
    ($($name:ident),* $(,)?) => {
        $crate::on_both_backends!(@with () $($name),*);
    };
    (@with $flavor:tt $($name:ident),*) => {
        mod on_sled {
            $(
                #[tokio::test $flavor]
                async fn $name() {
                    super::$name($crate::support::Backend::Sled).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test $flavor]
                async fn $name() {
                    super::$name($crate::support::Backend::Postgres).await;
                }
            )*
        }
    };
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
        Self::start_on(config, listener)
    }

    /// Starts a server on `listener` (for a restart on the same address).
    ///
    /// # Panics
    /// When the listener has no local address.
    pub fn start_on(config: Config, listener: tokio::net::TcpListener) -> Self {
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
        idempotency_key: String::new(),
        post_title: String::new(),
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
    let store = commentguard::store::embedded::EmbeddedStore::open(data_dir, Default::default(), 1)
        .unwrap();
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
    start_binary_with(data_dir, &[])
}

/// [`start_binary`] with further `serve` arguments (such as `--database-url URL`).
///
/// # Panics
/// When the binary cannot start or its first line is not the listening line.
#[track_caller]
pub fn start_binary_with(data_dir: &Path, extra: &[&str]) -> (std::process::Child, String) {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_commentguard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .arg("--model")
        .arg(shipped_model())
        .args(["--flood-interval", "0", "--http-listen", "off"])
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

/// The real binary serving gRPC and the console, both on ephemeral ports, with its stdout
/// kept open (the server writes its listening lines there).
pub struct ConsoleBinary {
    pub child: std::process::Child,
    /// `http://` URL of the gRPC listener.
    pub grpc: String,
    /// `http://` URL of the console.
    pub http: String,
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Drop for ConsoleBinary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the real binary over `data_dir` with the configuration file `config` and the console
/// on an ephemeral port; returns once both listeners are bound.
///
/// # Panics
/// When the binary cannot start or does not print both listening lines.
pub fn start_console(data_dir: &Path, config: &Path) -> ConsoleBinary {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_commentguard"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--model")
        .arg(shipped_model())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // Both lines come before serving starts, in either order.
    let (mut grpc, mut http) = (None, None);
    while grpc.is_none() || http.is_none() {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let line = line.trim();
        if let Some(address) = line.strip_prefix("commentguard listening on ") {
            grpc = Some(format!("http://{address}"));
        } else if let Some(address) = line.strip_prefix("commentguard console on ") {
            http = Some(address.to_owned());
        } else {
            panic!("unexpected line {line:?}");
        }
    }
    let (Some(grpc), Some(http)) = (grpc, http) else {
        unreachable!("both lines were read")
    };
    ConsoleBinary {
        child,
        grpc,
        http,
        _stdout: stdout,
    }
}

/// A gRPC moderation client at `url` presenting `token`.
///
/// # Panics
/// When the server does not answer.
pub async fn moderator_at(url: &str, token: &str) -> Moderator {
    let channel = Channel::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let bearer = Some(format!("Bearer {token}").parse().unwrap());
    ModerationServiceClient::with_interceptor(channel, Bearer(bearer))
}

/// One HTTP/1.1 exchange over a fresh connection (hyper's client): the status, the headers
/// (names lower-case, one entry per value) and the body. A POST body is sent as a form.
///
/// # Panics
/// When the server cannot be reached or does not answer within [`WAIT`].
pub async fn http_request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    use axum::http;
    use http_body_util::{BodyExt as _, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if method == "POST" {
        request = request.header("content-type", "application/x-www-form-urlencoded");
    }
    let request = request
        .body(Full::new(bytes::Bytes::from(body.to_owned())))
        .unwrap();
    let response = within("an HTTP answer", client.request(request))
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    let body = within("an HTTP body", response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// The value of the header `name` (lower-case) in an answer's headers.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Word that holds a comment for review in [`write_console_config`]'s configuration.
pub const HOLD_WORD: &str = "referendum";

/// Writes a configuration for console tests into `dir`: moderators `alice` and `bob`, comments
/// containing [`HOLD_WORD`] held, flood control off, campaigns from three authors.
///
/// # Panics
/// When the file cannot be written.
pub fn write_console_config(dir: &Path) -> PathBuf {
    let path = dir.join("commentguard.toml");
    let text = format!(
        "flood_interval = 0\ncampaign_min_authors = 3\nmoderation_keys = [\"{HOLD_WORD}\"]\n\
         [moderator_tokens]\nalice = \"{ALICE}\"\nbob = \"{BOB}\"\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Submits a comment by `author` (name and email derived from it) and returns its id and
/// status name.
///
/// # Panics
/// When the submission fails.
pub async fn submit_as(grpc: &str, post: &str, author: &str, content: &str) -> (String, String) {
    let mut client = CommentServiceClient::connect(grpc.to_owned())
        .await
        .unwrap();
    let mut request = submission(post, content);
    request.author_name = author.to_owned();
    request.author_email = format!("{}@example.com", author.to_lowercase().replace(' ', "."));
    let answer = client.submit_comment(request).await.unwrap().into_inner();
    let status = pb::CommentStatus::try_from(answer.status)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("COMMENT_STATUS_")
                .to_owned()
        })
        .unwrap_or_default();
    (answer.comment_id, status)
}

/// Checks a Prometheus text exposition line by line (every sample named `commentguard_*`,
/// after its family's TYPE; `# EOF` last); returns each family's type.
///
/// # Panics
/// On the first line that does not parse.
pub fn parse_exposition(text: &str) -> std::collections::HashMap<String, String> {
    let sample = regex::Regex::new(
        r#"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$"#,
    )
    .unwrap();
    let mut families = std::collections::HashMap::new();
    assert_eq!(text.lines().last(), Some("# EOF"));
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram", "info", "unknown"].contains(&kind),
                "{line}"
            );
            families.insert(name.to_owned(), kind.to_owned());
        } else if line.starts_with("# HELP ") || line.starts_with("# UNIT ") || line == "# EOF" {
        } else {
            let captures = sample
                .captures(line)
                .unwrap_or_else(|| panic!("bad line {line:?}"));
            let name = &captures[1];
            assert!(name.starts_with("commentguard_"), "{line}");
            assert!(
                families.keys().any(|f| name.starts_with(f.as_str())),
                "sample before its TYPE: {line}"
            );
        }
    }
    families
}

/// Reads a child's output (stdout or stderr) line by line on its own thread.
pub fn lines_of(out: impl std::io::Read + Send + 'static) -> tokio::sync::mpsc::Receiver<String> {
    use std::io::{BufRead as _, BufReader};
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if tx.blocking_send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Whether the server has closed `stream`: reads to its end, ignoring what the server sends.
pub async fn closed_by_server(stream: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut buffer = [0u8; 1024];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return true,
            Ok(_) => {}
        }
    }
}

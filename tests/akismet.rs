//! The Akismet-compatible endpoint on the real binary: hand-built requests for every answer
//! and error header, then the stock `akismet-api` client from npm (tests/akismet-client),
//! and what feedback left in the store.
//!
//! The client needs Node.js: under `CI=true` a missing `node`/`npm` fails the test; otherwise
//! it says so in one line and only the hand-built requests run.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use commentguard::store::Storage as _;
use commentguard::store::embedded::{EmbeddedStore, StoreOptions};
use support::{ConsoleBinary, header, http_request, output_within, start_console};

const KEY: &str = "0123456789ab";
const BOUND_KEY: &str = "ba9876543210";
const BLOG: &str = "https://allotment.example.org";

fn start(dir: &Path) -> ConsoleBinary {
    let config = dir.join("commentguard.toml");
    std::fs::write(
        &config,
        format!(
            "flood_interval = 0\n[akismet_keys]\nallotment = \"{KEY}\"\n\
             shop = {{ key = \"{BOUND_KEY}\", blogs = [\"https://shop.example.com\"] }}\n"
        ),
    )
    .unwrap();
    start_console(&dir.join("data"), &config)
}

fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

async fn post(
    server: &ConsoleBinary,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, String) {
    support::within(
        path,
        http_request(&server.http, "POST", path, &[], &form(fields)),
    )
    .await
}

const HAM: &[(&str, &str)] = &[
    ("api_key", KEY),
    ("blog", BLOG),
    ("user_ip", "198.51.100.7"),
    ("user_agent", "Mozilla/5.0"),
    ("permalink", "https://allotment.example.org/2026/03/slugs/"),
    ("comment_type", "comment"),
    ("comment_author", "Ada"),
    ("comment_author_email", "ada@example.com"),
    (
        "comment_content",
        "Copper tape around the beds kept the slugs off my lettuce this spring.",
    ),
];

fn with(
    base: &[(&'static str, &'static str)],
    changes: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    let mut fields: Vec<_> = base
        .iter()
        .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
        .copied()
        .collect();
    fields.extend(changes.iter().filter(|(_, v)| !v.is_empty()));
    fields
}

#[tokio::test]
async fn hand_built_requests_get_akismets_answers_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());

    let (status, _, body) = post(&server, "/1.1/verify-key", &[("key", KEY), ("blog", BLOG)]).await;
    assert_eq!((status, body.as_str()), (200, "valid"));
    let (_, headers, body) = post(
        &server,
        "/1.1/verify-key",
        &[("api_key", "0123456789ac"), ("blog", BLOG)],
    )
    .await;
    assert_eq!(body, "invalid");
    assert!(header(&headers, "x-akismet-debug-help").is_some());
    let (_, headers, body) = post(&server, "/1.1/verify-key", &[("api_key", KEY)]).await;
    assert_eq!(body, "Missing required field: blog.");
    assert_eq!(
        header(&headers, "x-akismet-debug-help"),
        Some("Empty \"blog\" value")
    );
    // A key bound to other blogs: invalid here, with an alert saying why.
    let (_, headers, body) = post(
        &server,
        "/1.1/verify-key",
        &[("api_key", BOUND_KEY), ("blog", BLOG)],
    )
    .await;
    assert_eq!(body, "invalid");
    assert_eq!(header(&headers, "x-akismet-alert-code"), Some("30001"));
    assert!(header(&headers, "x-akismet-alert-msg").is_some());
    let (_, _, body) = post(
        &server,
        "/1.1/verify-key",
        &[("api_key", BOUND_KEY), ("blog", "http://SHOP.example.com/")],
    )
    .await;
    assert_eq!(body, "valid");

    let (_, headers, body) = post(&server, "/1.1/comment-check", HAM).await;
    assert_eq!(body, "false");
    assert_eq!(header(&headers, "x-commentguard-status"), Some("APPROVED"));
    assert_eq!(header(&headers, "x-akismet-pro-tip"), None);
    let (_, headers, body) = post(
        &server,
        "/1.1/comment-check",
        &with(HAM, &[("api_key", "wrongwrongwrong")]),
    )
    .await;
    assert_eq!(body, "invalid");
    assert!(header(&headers, "x-akismet-debug-help").is_some());
    let (_, headers, body) = post(
        &server,
        "/1.1/comment-check",
        &with(HAM, &[("user_ip", "")]),
    )
    .await;
    assert_eq!(body, "Missing required field: user_ip.");
    assert_eq!(
        header(&headers, "x-akismet-debug-help"),
        Some("Empty \"user_ip\" value")
    );
    let (_, headers, body) = post(
        &server,
        "/1.1/comment-check",
        &with(HAM, &[("comment_content", "")]),
    )
    .await;
    assert_eq!(body, "Invalid field: comment_content.");
    assert!(
        header(&headers, "x-akismet-debug-help")
            .unwrap()
            .starts_with("comment_content: ")
    );

    // Without email or author (Akismet does not require them) the pipeline still judges.
    let anonymous = with(HAM, &[("comment_author_email", ""), ("comment_author", "")]);
    let (_, headers, body) = post(&server, "/1.1/comment-check", &anonymous).await;
    assert_eq!(body, "false");
    assert_eq!(header(&headers, "x-commentguard-status"), Some("APPROVED"));

    // Akismet's documented test values.
    let spam = with(HAM, &[("comment_author", "akismet-guaranteed-spam")]);
    assert_eq!(post(&server, "/1.1/comment-check", &spam).await.2, "true");
    let admin = with(
        HAM,
        &[
            ("user_role", "administrator"),
            (
                "comment_content",
                "Buy cheap pills now!!! http://x.example http://y.example",
            ),
        ],
    );
    assert_eq!(post(&server, "/1.1/comment-check", &admin).await.2, "false");

    // Blatant spam (the classifier alone says SPAM): true, and the client may discard it.
    let blatant = with(
        HAM,
        &[
            ("comment_author", "Best Deals"),
            (
                "comment_content",
                "Check out my channel!!! subscribe and earn money fast, free gift cards, click here http://spam.example.biz",
            ),
        ],
    );
    let (_, headers, body) = post(&server, "/1.1/comment-check", &blatant).await;
    assert_eq!(body, "true");
    assert_eq!(header(&headers, "x-akismet-pro-tip"), Some("discard"));
    assert_eq!(header(&headers, "x-commentguard-status"), Some("SPAM"));

    // Feedback: thanks, a label for the classifier, none for tests.
    let spammy = with(
        HAM,
        &[(
            "comment_content",
            "subscribe to my channel for free money http://spam.example.biz",
        )],
    );
    for path in ["/1.1/submit-spam", "/1.1/submit-ham"] {
        let (status, _, body) = post(&server, path, &spammy).await;
        assert_eq!(
            (status, body.as_str()),
            (200, "Thanks for making the web a better place.")
        );
    }
    let test_only = with(
        HAM,
        &[
            ("is_test", "1"),
            ("comment_content", "only a test, learn nothing"),
        ],
    );
    assert_eq!(
        post(&server, "/1.1/submit-spam", &test_only).await.2,
        "Thanks for making the web a better place."
    );
    let (_, _, body) = post(
        &server,
        "/1.1/submit-spam",
        &with(HAM, &[("api_key", "wrongwrongwrong")]),
    )
    .await;
    assert_eq!(body, "invalid");
    let (_, headers, body) = post(
        &server,
        "/1.1/usage-limit",
        &[("api_key", KEY), ("blog", BLOG)],
    )
    .await;
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert!(body.contains("\"limit\":\"none\""), "{body}");
    // Akismet's 1.2 API, as current clients call it: a GET with the key alone, even a bound one.
    let (_, headers, body) = support::within(
        "usage-limit 1.2",
        http_request(
            &server.http,
            "GET",
            &format!("/1.2/usage-limit?api_key={BOUND_KEY}"),
            &[],
            "",
        ),
    )
    .await;
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert!(body.contains("\"throttled\":false"), "{body}");
    let (_, _, body) = support::within(
        "usage-limit 1.2, wrong key",
        http_request(
            &server.http,
            "GET",
            "/1.2/usage-limit?api_key=wrongwrongwrong",
            &[],
            "",
        ),
    )
    .await;
    assert_eq!(body, "invalid");

    drop(server);
    // The same comment reported as spam then ham keeps its latest label; the test taught nothing.
    let store = EmbeddedStore::open(&dir.path().join("data"), StoreOptions::default(), 16).unwrap();
    let labels = store.labels().await.unwrap();
    assert_eq!(labels.len(), 1, "{labels:?}");
    assert_eq!(labels[0].label, commentguard::comment::Label::Ham);
    assert_eq!(
        store
            .status_counts()
            .await
            .unwrap()
            .iter()
            .map(|(_, n)| n)
            .sum::<u64>(),
        0
    );
}

/// What the WordPress plugin asks while its settings page saves a key: the connectivity
/// check, the key check with the new key as `key` beside the stored one as `api_key`, and the
/// subscription; and the calls on `/metrics`.
#[tokio::test]
async fn the_plugin_s_set_up_calls_are_answered_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (status, headers, body) = support::within(
        "test",
        http_request(&server.http, "GET", "/1.1/test", &[], ""),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "connected"));
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("text/plain")
    );

    // A site whose old (Akismet) key is still stored checks its new commentguard key.
    let old = "aaaaaaaaaaaa";
    let (_, _, body) = post(
        &server,
        "/1.1/verify-key",
        &[("key", KEY), ("api_key", old), ("blog", BLOG)],
    )
    .await;
    assert_eq!(body, "valid");
    // And a valid stored key does not make any new key valid.
    let (_, _, body) = post(
        &server,
        "/1.1/verify-key",
        &[("key", old), ("api_key", KEY), ("blog", BLOG)],
    )
    .await;
    assert_eq!(body, "invalid");

    let subscription = |fields: &'static [(&'static str, &'static str)]| {
        let server = &server;
        async move {
            let (status, headers, body) = post(server, "/1.1/get-subscription", fields).await;
            assert_eq!(status, 200);
            assert!(header(&headers, "content-type").unwrap().contains("json"));
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            json["status"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(
        subscription(&[("key", KEY), ("api_key", "aaaaaaaaaaaa"), ("blog", BLOG)]).await,
        "active"
    );
    assert_eq!(
        subscription(&[("key", "aaaaaaaaaaaa"), ("blog", BLOG)]).await,
        "invalid"
    );
    assert_eq!(
        subscription(&[("key", BOUND_KEY), ("blog", BLOG)]).await,
        "invalid"
    );

    let (_, _, metrics) = support::within(
        "metrics",
        http_request(&server.http, "GET", "/metrics", &[], ""),
    )
    .await;
    for sample in [
        r#"commentguard_akismet_requests_total{path="test",answer="connected"} 1"#,
        r#"commentguard_akismet_requests_total{path="verify-key",answer="valid"} 1"#,
        r#"commentguard_akismet_requests_total{path="verify-key",answer="invalid"} 1"#,
        r#"commentguard_akismet_requests_total{path="get-subscription",answer="active"} 1"#,
        r#"commentguard_akismet_requests_total{path="get-subscription",answer="invalid"} 2"#,
    ] {
        assert!(metrics.contains(sample), "{sample} missing in\n{metrics}");
    }
}

/// `node` and `npm`, or `None` (after saying so) outside CI.
fn node() -> Option<()> {
    let found = |program: &str| {
        Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if found("node") && found("npm") {
        return Some(());
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "node and npm are needed for the Akismet client test: apt-get install nodejs npm"
    );
    eprintln!("Akismet client test not run: no node/npm (apt-get install nodejs npm)");
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stock_akismet_client_gets_correct_answers() {
    if node().is_none() {
        return;
    }
    let client_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/akismet-client");
    if !client_dir.join("node_modules/akismet-api").exists() {
        let mut install = Command::new("npm");
        install
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&client_dir);
        let installed =
            tokio::task::spawn_blocking(move || output_within(install, Duration::from_secs(300)))
                .await
                .unwrap();
        assert!(
            installed.status.success(),
            "npm ci failed: {}",
            String::from_utf8_lossy(&installed.stderr)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let port = server.http.rsplit(':').next().unwrap().to_owned();
    let mut run = Command::new("node");
    run.arg(client_dir.join("check.js"))
        .args([&port, KEY, BLOG]);
    let ran = tokio::task::spawn_blocking(move || output_within(run, Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&ran.stdout).unwrap();
    let thanks = "Thanks for making the web a better place.";
    assert_eq!(got["verifyKey"], true, "{got}");
    assert_eq!(got["verifyWrongKey"], false, "{got}");
    assert_eq!(got["ham"], false, "{got}");
    assert_eq!(got["guaranteedSpam"], true, "{got}");
    assert_eq!(got["administrator"], false, "{got}");
    assert_eq!(got["blatant"], true, "{got}");
    assert_eq!(got["wrongKeyCheck"], "Invalid API key", "{got}");
    assert_eq!(got["submitSpam"], thanks, "{got}");
    assert_eq!(got["submitHamTest"], thanks, "{got}");
    assert_eq!(got["submitHam"], thanks, "{got}");
    drop(server);
    let store = EmbeddedStore::open(&dir.path().join("data"), StoreOptions::default(), 16).unwrap();
    assert_eq!(store.labels().await.unwrap().len(), 2);
}

//! The HTTP listener over the real binary: health, metrics, sessions, CSRF and escaping as a
//! client without a browser sees them (tests/browser.rs drives the console in Chromium).

mod support;

use commentguard::api::pb;
use support::*;

/// The login form's CSRF token and the cookie that goes with it.
async fn login_form(http: &str) -> (String, String) {
    let (status, headers, body) = http_request(http, "GET", "/login", &[], "").await;
    assert_eq!(status, 200);
    assert!(body.contains("name=\"token\""), "{body}");
    let cookie = header(&headers, "set-cookie").expect("a login cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let csrf = field_value(&body, "csrf");
    (pair, csrf)
}

/// The value of the first input named `name` in a page.
fn field_value(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).expect("the field") + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// Logs in as `token`; returns the session cookie pair and the session's CSRF token.
async fn log_in(http: &str, token: &str) -> (String, String) {
    let (cookie, csrf) = login_form(http).await;
    let body = format!("csrf={csrf}&token={token}");
    let (status, headers, _) =
        http_request(http, "POST", "/login", &[("Cookie", &cookie)], &body).await;
    assert_eq!(status, 303);
    assert_eq!(header(&headers, "location"), Some("/queue"));
    let session = headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("cg_session=") && c.len() > "cg_session=".len())
        .expect("a session cookie");
    let (status, _, page) = http_request(http, "GET", "/queue", &[("Cookie", &session)], "").await;
    assert_eq!(status, 200);
    let csrf = field_value(&page, "csrf");
    (session, csrf)
}

fn server() -> (tempfile::TempDir, ConsoleBinary) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_console_config(dir.path());
    let server = start_console(&dir.path().join("data"), &config);
    (dir, server)
}

#[tokio::test]
async fn health_endpoints_answer_and_pages_carry_a_strict_policy() {
    let (_dir, server) = server();
    let (status, _, body) = http_request(&server.http, "GET", "/healthz", &[], "").await;
    assert_eq!((status, body.trim()), (200, "ok"));
    let (status, _, body) = http_request(&server.http, "GET", "/readyz", &[], "").await;
    assert_eq!((status, body.trim()), (200, "ready"));
    let (_, headers, _) = http_request(&server.http, "GET", "/login", &[], "").await;
    let csp = header(&headers, "content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    let (status, headers, script) =
        http_request(&server.http, "GET", "/assets/console.js", &[], "").await;
    assert_eq!(status, 200);
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(script.contains("EventSource"));
}

#[tokio::test]
async fn without_a_session_nothing_private_is_shown() {
    let (_dir, server) = server();
    let (id, status) = submit_as(&server.grpc, "p1", "Mallory", "secret words referendum").await;
    assert_eq!(status, "PENDING");
    let author = format!("/author/{id}?by=email");
    let comment = format!("/comment/{id}");
    for path in [
        "/queue",
        "/queue?status=PENDING",
        "/stats",
        "/audit",
        &author,
        &comment,
    ] {
        let (status, headers, body) = http_request(&server.http, "GET", path, &[], "").await;
        assert_eq!(status, 303, "{path}");
        assert_eq!(header(&headers, "location"), Some("/login"), "{path}");
        assert!(!body.contains("mallory@example.com") && !body.contains("secret words"));
    }
    let (status, _, _) = http_request(&server.http, "GET", "/events", &[], "").await;
    assert_eq!(status, 403);
    let forged = format!("comment_id={id}&action=approve");
    let (status, _, _) = http_request(&server.http, "POST", "/moderate", &[], &forged).await;
    assert_eq!(status, 403);
    for path in ["/search", "/block", "/undo"] {
        let form = format!("q=mallory&comment_id={id}&kind=email&expected_version=x&status=SPAM");
        let (status, _, body) = http_request(&server.http, "POST", path, &[], &form).await;
        assert_eq!(status, 403, "{path}");
        assert!(!body.contains("mallory@example.com"), "{path}");
    }
    let (status, _, metrics) = http_request(&server.http, "GET", "/metrics", &[], "").await;
    assert_eq!(status, 200);
    assert!(
        !metrics.contains("mallory") && !metrics.contains(&id) && !metrics.contains("192.0.2.10")
    );
}

#[tokio::test]
async fn a_post_without_the_session_csrf_token_is_refused_and_changes_nothing() {
    let (_dir, server) = server();
    let (id, _) = submit_as(&server.grpc, "p1", "Mallory", "buy now referendum").await;
    let (session, csrf) = log_in(&server.http, ALICE).await;
    let cookie = [("Cookie", session.as_str())];
    for body in [
        format!("comment_id={id}&action=approve"),
        format!("comment_id={id}&action=approve&csrf=0000"),
    ] {
        let (status, _, _) = http_request(&server.http, "POST", "/moderate", &cookie, &body).await;
        assert_eq!(status, 403, "{body}");
        let (status, _, _) = http_request(&server.http, "POST", "/bulk", &cookie, &body).await;
        assert_eq!(status, 403, "{body}");
        let block = format!("{body}&kind=email&expected_version=x");
        let (status, _, _) = http_request(&server.http, "POST", "/block", &cookie, &block).await;
        assert_eq!(status, 403, "{block}");
        let undo = format!("{body}&status=SPAM");
        let (status, _, _) = http_request(&server.http, "POST", "/undo", &cookie, &undo).await;
        assert_eq!(status, 403, "{undo}");
    }
    let mut moderator = moderator_at(&server.grpc, BOB).await;
    let get = |id: &str| pb::GetCommentRequest {
        comment_id: id.to_owned(),
    };
    let comment = moderator.get_comment(get(&id)).await.unwrap().into_inner();
    assert_eq!(comment.status(), pb::CommentStatus::Pending);

    // With the token the same decision goes through, in alice's name.
    let body = format!("comment_id={id}&action=approve&csrf={csrf}&note=looks+fine");
    let (status, headers, _) =
        http_request(&server.http, "POST", "/moderate", &cookie, &body).await;
    assert_eq!(status, 303);
    assert_eq!(header(&headers, "location"), Some("/queue?status=PENDING"));
    let comment = moderator.get_comment(get(&id)).await.unwrap().into_inner();
    assert_eq!(comment.status(), pb::CommentStatus::Approved);
    assert_eq!(comment.decided_by, "alice");
    let audit = moderator
        .list_audit(pb::ListAuditRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(audit.entries[0].moderator, "alice");
    assert_eq!(audit.entries[0].note, "looks fine");
}

#[tokio::test]
async fn failed_logins_are_rate_limited() {
    let (_dir, server) = server();
    for _ in 0..5 {
        let (cookie, csrf) = login_form(&server.http).await;
        let body = format!("csrf={csrf}&token=not-a-real-token-at-all");
        let (status, headers, _) = http_request(
            &server.http,
            "POST",
            "/login",
            &[("Cookie", &cookie)],
            &body,
        )
        .await;
        assert_eq!(status, 401);
        assert!(header(&headers, "set-cookie").is_none());
    }
    let (cookie, csrf) = login_form(&server.http).await;
    let body = format!("csrf={csrf}&token={ALICE}");
    let (status, _, _) = http_request(
        &server.http,
        "POST",
        "/login",
        &[("Cookie", &cookie)],
        &body,
    )
    .await;
    assert_eq!(
        status, 429,
        "even the right token waits once the limit is reached"
    );
    // A login form posted without its cookie is refused before any token is looked at.
    let (status, _, _) = http_request(&server.http, "POST", "/login", &[], &body).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn logout_ends_the_session() {
    let (_dir, server) = server();
    let (session, csrf) = log_in(&server.http, ALICE).await;
    let cookie = [("Cookie", session.as_str())];
    let (status, _, _) = http_request(&server.http, "POST", "/logout", &cookie, "").await;
    assert_eq!(status, 403, "logout needs the CSRF token too");
    let body = format!("csrf={csrf}");
    let (status, headers, _) = http_request(&server.http, "POST", "/logout", &cookie, &body).await;
    assert_eq!(status, 303);
    assert!(
        header(&headers, "set-cookie")
            .unwrap()
            .contains("Max-Age=0")
    );
    let (status, _, _) = http_request(&server.http, "GET", "/queue", &cookie, "").await;
    assert_eq!(status, 303);
}

#[tokio::test]
async fn markup_in_comments_is_escaped_in_the_queue() {
    let (_dir, server) = server();
    let attack = "<img src=x onerror=alert(1)><script>alert(2)</script> referendum";
    let (_, status) = submit_as(&server.grpc, "p1", "Eve", attack).await;
    assert_eq!(status, "PENDING");
    let (session, csrf) = log_in(&server.http, ALICE).await;
    let (_, _, page) =
        http_request(&server.http, "GET", "/queue", &[("Cookie", &session)], "").await;
    assert!(page.contains("eve@example.com"), "moderators see the email");
    let search = format!("csrf={csrf}&q=onerror");
    let (status, _, found) = http_request(
        &server.http,
        "POST",
        "/search",
        &[("Cookie", &session)],
        &search,
    )
    .await;
    assert_eq!(status, 200);
    assert!(found.contains("1 found"), "{found}");
    assert!(
        !found.contains("<img src=x") && !found.contains("<script>alert"),
        "{found}"
    );
    assert!(!page.contains("<img src=x"), "{page}");
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(") && page.contains("&lt;/script&gt;"),
        "{page}"
    );
    // The same escaping on every page that shows comments, and bad parameters refused.
    let cookie = [("Cookie", session.as_str())];
    for path in ["/queue?order=oldest&per_page=50", "/audit"] {
        let (status, _, page) = http_request(&server.http, "GET", path, &cookie, "").await;
        assert_eq!(status, 200, "{path}");
        assert!(
            !page.contains("<img src=x") && !page.contains("<script>alert"),
            "{path}"
        );
    }
    for path in [
        "/queue?order=sideways",
        "/queue?per_page=7",
        "/queue?after=nope&order=oldest",
    ] {
        let (status, _, _) = http_request(&server.http, "GET", path, &cookie, "").await;
        assert_eq!(status, 400, "{path}");
    }
}

#[tokio::test]
async fn toxic_comments_show_their_score_and_underlined_spans_and_filter_first() {
    let (_dir, server) = server();
    let abuse = "Shut up, you pathetic <b>idiot</b>. Nobody wants your stupid garbage.";
    let (_, status) = submit_as(&server.grpc, "p1", "Eve", abuse).await;
    assert_eq!(status, "PENDING");
    submit_as(
        &server.grpc,
        "p1",
        "Ann",
        "A fair point about the referendum.",
    )
    .await;
    let (session, _) = log_in(&server.http, ALICE).await;
    let (_, _, page) = http_request(
        &server.http,
        "GET",
        "/queue?toxic=1",
        &[("Cookie", &session)],
        "",
    )
    .await;
    assert!(page.contains("class=\"toxicity\""), "{page}");
    assert!(
        page.contains("<u class=\"toxic\" data-kind=\"insult\""),
        "{page}"
    );
    assert!(!page.contains("<b>idiot"), "escaped: {page}");
    // The filter lists the toxic comment only: the civil one (held as a referendum
    // moderation key) is not there.
    assert!(!page.contains("A fair point"), "{page}");
    let (_, _, metrics) = http_request(&server.http, "GET", "/metrics", &[], "").await;
    assert!(
        metrics.contains("commentguard_reasons_total{code=\"toxic\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("commentguard_toxicity_count 2"),
        "{metrics}"
    );
}

/// Every line of the exposition is a comment or a sample `name{labels} value` whose name
/// starts with `commentguard_`, and the families the issue names are there.
#[tokio::test]
async fn metrics_parse_as_prometheus_text() {
    let (_dir, server) = server();
    submit_as(&server.grpc, "p1", "Ann", "Thanks for the article").await;
    submit_as(&server.grpc, "p1", "Bo", "more please referendum").await;
    let (status, headers, text) = http_request(&server.http, "GET", "/metrics", &[], "").await;
    assert_eq!(status, 200);
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .contains("openmetrics-text")
    );
    let families = parse_exposition(&text);
    for family in [
        "commentguard_grpc_requests",
        "commentguard_grpc_request_duration_seconds",
        "commentguard_verdicts",
        "commentguard_reasons",
        "commentguard_commit_batch_size",
        "commentguard_commit_flush_duration_seconds",
        "commentguard_queue_depth",
        "commentguard_watchers",
        "commentguard_model_info",
        "commentguard_site_model_labels",
        "commentguard_site_model_version",
        "commentguard_site_model_running_accuracy",
    ] {
        assert!(families.contains_key(family), "{family} missing in\n{text}");
    }
    let sample = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no sample {name}"))
    };
    assert_eq!(
        sample("commentguard_grpc_requests_total{rpc=\"SubmitComment\",code=\"OK\"}"),
        2.0
    );
    assert_eq!(
        sample("commentguard_verdicts_total{status=\"PENDING\"}"),
        1.0
    );
    assert_eq!(sample("commentguard_queue_depth{status=\"PENDING\"}"), 1.0);
    assert_eq!(
        sample("commentguard_reasons_total{code=\"moderation_key\"}"),
        1.0
    );
    assert!(sample("commentguard_commit_batch_size_count") >= 2.0);
    assert_eq!(
        sample("commentguard_site_model_labels"),
        0.0,
        "no label yet"
    );
}

#[tokio::test]
async fn sigterm_drains_the_console_with_a_live_page_open() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (_dir, mut server) = server();
    let (session, _) = log_in(&server.http, ALICE).await;
    let host = server.http.trim_start_matches("http://").to_owned();
    let mut events = tokio::net::TcpStream::connect(&host).await.unwrap();
    let request =
        format!("GET /events?status=PENDING HTTP/1.1\r\nHost: {host}\r\nCookie: {session}\r\n\r\n");
    events.write_all(request.as_bytes()).await.unwrap();
    let mut head = vec![0; 512];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), events.read(&mut head))
        .await
        .expect("the event stream answers")
        .unwrap();
    let head = String::from_utf8_lossy(&head[..n]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/event-stream"), "{head}");

    let pid = server.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    // The drain deadline is 15 s; an open event stream must not hold the shutdown that long.
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "still running"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    let mut rest = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        events.read_to_end(&mut rest),
    )
    .await
    .expect("the event stream ended")
    .unwrap();
}

#[test]
fn a_taken_http_port_fails_the_start_before_it_claims_to_listen() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_commentguard"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            &addr,
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .arg("--model")
        .arg(shipped_model())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("listening"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen for HTTP on {addr}")),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_undo_after_someone_else_decided_changes_nothing() {
    let (_dir, server) = server();
    let (id, status) =
        submit_as(&server.grpc, "p1", "Ann", "A question about the referendum").await;
    assert_eq!(status, "PENDING");
    let (session, csrf) = log_in(&server.http, ALICE).await;
    let cookie = [("Cookie", session.as_str())];
    let approve = format!("csrf={csrf}&comment_id={id}&action=approve");
    let (status, _, _) = http_request(&server.http, "POST", "/moderate", &cookie, &approve).await;
    assert_eq!(status, 303);
    // Bob marks it spam before Alice undoes her approval.
    let mut bob = moderator_at(&server.grpc, BOB).await;
    bob.moderate_comment(pb::ModerateCommentRequest {
        comment_id: id.clone(),
        action: pb::moderate_comment_request::Action::MarkSpam.into(),
        note: String::new(),
    })
    .await
    .unwrap();
    let undo = format!("csrf={csrf}&comment_id={id}&status=PENDING&decided=APPROVED");
    let (status, _, body) = http_request(&server.http, "POST", "/undo", &cookie, &undo).await;
    assert_eq!(status, 409, "{body}");
    let comment = bob
        .get_comment(pb::GetCommentRequest {
            comment_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(comment.status(), pb::CommentStatus::Spam);
    assert_eq!(comment.decided_by, "bob");
    // Undoing Bob's decision as Alice saw it works, and is audited as an undo.
    let undo = format!("csrf={csrf}&comment_id={id}&status=APPROVED&decided=SPAM");
    let (status, _, _) = http_request(&server.http, "POST", "/undo", &cookie, &undo).await;
    assert_eq!(status, 303);
    let audit = bob
        .list_audit(pb::ListAuditRequest {
            comment_id: id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(audit.entries[0].note, "undo");
    assert_eq!(audit.entries[0].moderator, "alice");
}

#[tokio::test]
async fn half_sent_requests_and_idle_connections_are_closed_while_others_are_served() {
    use tokio::io::AsyncWriteExt as _;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("commentguard.toml");
    std::fs::write(
        &config,
        "flood_interval = 0\nfirst_request_timeout_ms = 500\nidle_timeout_ms = 700\n",
    )
    .unwrap();
    let server = start_console(&dir.path().join("data"), &config);
    let addr = server.http.trim_start_matches("http://").to_owned();
    // Slow headers: a request line and one header, never the blank line that ends them.
    let mut slow = Vec::new();
    for _ in 0..40 {
        let mut stream = within("connect", tokio::net::TcpStream::connect(&addr))
            .await
            .unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(stream);
    }
    // Others are answered meanwhile.
    let (status, _, _) = http_request(&server.http, "GET", "/healthz", &[], "").await;
    assert_eq!(status, 200);
    for stream in &mut slow {
        assert!(within("a half-sent request closed", closed_by_server(stream)).await);
    }
    // A kept-alive connection with nothing in flight is closed at the idle timeout.
    let mut idle = within("connect", tokio::net::TcpStream::connect(&addr))
        .await
        .unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(within("an idle connection closed", closed_by_server(&mut idle)).await);
    let (status, _, _) = http_request(&server.http, "GET", "/healthz", &[], "").await;
    assert_eq!(status, 200);
}

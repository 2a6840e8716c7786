//! The moderator console in a real headless Chromium, driven over WebDriver, against the real
//! binary. Needs `chromedriver` (Debian: `apt-get install chromium chromium-driver`): under
//! `CI=true` a missing one fails the tests; otherwise they say so in one line and pass.
//! With `COMMENTGUARD_SCREENSHOTS=1` the screenshot test writes `docs/console-queue.png` and
//! `docs/console-stats.png`.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use commentguard::api::pb;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use support::*;

/// How long anything the browser should show may take to appear.
const DEADLINE: Duration = Duration::from_secs(15);

/// One browser test at a time: each runs Chromium, and two cores are not many.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A chromedriver process group (chromedriver and the browsers it starts), ended on drop.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromedriver() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromedriver"))
        .find(|p| p.is_file())
}

/// What one browser test works with: the server, a browser session, its driver.
struct Env {
    browser: Client,
    server: ConsoleBinary,
    _dir: tempfile::TempDir,
    _driver: Driver,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Env {
    /// A fresh server and browser, or `None` (after saying so) when there is no chromedriver
    /// outside CI.
    async fn start() -> Option<Self> {
        let turn = ONE_AT_A_TIME.lock().await;
        let Some(program) = chromedriver() else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "chromedriver not found; install it: apt-get install chromium chromium-driver"
                );
            }
            eprintln!(
                "browser tests not run: no chromedriver (apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let driver = Driver({
            use std::os::unix::process::CommandExt as _;
            Command::new(program)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap()
        });
        let dir = tempfile::tempdir().unwrap();
        let config = write_console_config(dir.path());
        let server = start_console(&dir.path().join("data"), &config);
        let browser = connect(port).await;
        Some(Self {
            browser,
            server,
            _dir: dir,
            _driver: driver,
            _turn: turn,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.http)
    }

    /// Logs in through the form as `alice` and waits for the queue.
    async fn log_in(&self) {
        self.browser.goto(&self.url("/login")).await.unwrap();
        let token = self
            .browser
            .find(Locator::Css("input[name=token]"))
            .await
            .unwrap();
        token.send_keys(ALICE).await.unwrap();
        self.browser
            .find(Locator::Css("form.login button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        self.browser
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::Css("section#comments"))
            .await
            .unwrap();
    }

    /// Waits until the comment's element is on the page.
    async fn shown(&self, id: &str) -> fantoccini::elements::Element {
        let css = format!("article.comment[data-comment-id=\"{id}\"]");
        self.browser
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::Css(&css))
            .await
            .unwrap_or_else(|e| panic!("comment {id} not shown: {e}"))
    }

    /// Waits until the comment's element has left the page.
    async fn gone(&self, id: &str) {
        let css = format!("article.comment[data-comment-id=\"{id}\"]");
        let started = Instant::now();
        while !self
            .browser
            .find_all(Locator::Css(&css))
            .await
            .unwrap()
            .is_empty()
        {
            assert!(started.elapsed() < DEADLINE, "comment {id} still shown");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn script(&self, code: &str) -> Value {
        self.browser.execute(code, vec![]).await.unwrap()
    }

    async fn status_of(&self, id: &str) -> (pb::CommentStatus, String) {
        let mut moderator = moderator_at(&self.server.grpc, BOB).await;
        let comment = moderator
            .get_comment(pb::GetCommentRequest {
                comment_id: id.to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        (comment.status(), comment.decided_by)
    }

    async fn finish(self) {
        self.browser.close().await.unwrap();
    }
}

async fn connect(port: u16) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({ "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=1280,1000", "--no-first-run", "--disable-extensions",
        ] }),
    );
    let started = Instant::now();
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return client,
            Err(e) if started.elapsed() > DEADLINE => panic!("no WebDriver session: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn grpc_moderate(env: &Env, id: &str, action: pb::moderate_comment_request::Action) {
    let mut moderator = moderator_at(&env.server.grpc, BOB).await;
    moderator
        .moderate_comment(pb::ModerateCommentRequest {
            comment_id: id.to_owned(),
            action: action.into(),
            note: String::new(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn moderator_finds_a_held_comment_and_approves_by_keyboard_and_button() {
    let Some(env) = Env::start().await else {
        return;
    };
    let grpc = env.server.grpc.clone();
    let (older, status) = submit_as(&grpc, "p-news", "Ann", "First thoughts, referendum").await;
    assert_eq!(status, "PENDING");
    let (newer, _) = submit_as(&grpc, "p-news", "Bo", "Second thoughts, referendum").await;
    let (elsewhere, _) = submit_as(&grpc, "p-sport", "Cy", "Great match referendum").await;
    env.log_in().await;
    for id in [&older, &newer, &elsewhere] {
        env.shown(id).await;
    }

    // Find: the post filter narrows the queue to one post.
    let post = env
        .browser
        .find(Locator::Css("form.filter input[name=post]"))
        .await
        .unwrap();
    post.send_keys("p-sport").await.unwrap();
    env.browser
        .find(Locator::Css("form.filter button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    env.gone(&newer).await;
    let rows = env
        .browser
        .find_all(Locator::Css("article.comment"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let shown = env.shown(&elsewhere).await;
    let header = shown
        .find(Locator::Css("header"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        header.contains("cy@example.com") && header.contains("192.0.2.10"),
        "{header}"
    );
    env.browser
        .goto(&env.url("/queue?status=PENDING"))
        .await
        .unwrap();
    env.shown(&newer).await;

    // Keyboard: the newest is selected first; j and k move; a approves the selected one.
    let selected = || async {
        let v = env
            .script("return document.querySelector('article.comment.current').dataset.commentId")
            .await;
        v.as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(selected().await, elsewhere);
    let body = env.browser.find(Locator::Css("body")).await.unwrap();
    body.send_keys("j").await.unwrap();
    assert_eq!(selected().await, newer);
    body.send_keys("j").await.unwrap();
    body.send_keys("k").await.unwrap();
    assert_eq!(selected().await, newer);
    body.send_keys("a").await.unwrap();
    env.gone(&newer).await;
    assert_eq!(
        env.status_of(&newer).await,
        (pb::CommentStatus::Approved, "alice".into())
    );

    // Button, with a note.
    let row = env.shown(&older).await;
    row.find(Locator::Css("input[name=note]"))
        .await
        .unwrap()
        .send_keys("on topic")
        .await
        .unwrap();
    row.find(Locator::Css("button[data-action=approve]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    env.gone(&older).await;
    assert_eq!(
        env.status_of(&older).await,
        (pb::CommentStatus::Approved, "alice".into())
    );
    let mut moderator = moderator_at(&grpc, BOB).await;
    let audit = moderator
        .list_audit(pb::ListAuditRequest {
            comment_id: older.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            audit.entries[0].moderator.as_str(),
            audit.entries[0].note.as_str()
        ),
        ("alice", "on topic")
    );

    // The approved tab has them, with the buttons that apply there.
    env.browser
        .goto(&env.url("/queue?status=APPROVED"))
        .await
        .unwrap();
    let row = env.shown(&older).await;
    assert!(
        row.find(Locator::Css("button[data-action=hold]"))
            .await
            .is_ok()
    );
    assert!(
        row.find(Locator::Css("button[data-action=approve]"))
            .await
            .is_err()
    );
    env.finish().await;
}

#[tokio::test]
async fn held_comment_appears_live_and_decisions_elsewhere_update_the_page() {
    let Some(env) = Env::start().await else {
        return;
    };
    env.log_in().await;
    let empty = env.browser.find(Locator::Css("p.empty")).await.unwrap();
    assert_eq!(empty.text().await.unwrap(), "Nothing here.");
    // The page marks its list once the event stream is open (the server answers once it is
    // subscribed); a comment held from then on appears live.
    assert_eq!(
        env.script("return typeof EventSource").await,
        json!("function")
    );
    env.browser
        .wait()
        .at_most(DEADLINE)
        .for_element(Locator::Css("[data-live=\"open\"]"))
        .await
        .unwrap();
    let (id, status) = submit_as(&env.server.grpc, "p1", "Dee", "Live one referendum").await;
    assert_eq!(status, "PENDING");
    // Shown without a reload.
    let row = env.shown(&id).await;
    assert!(row.text().await.unwrap().contains("Live one"));
    // A decision made through the gRPC API takes it off the page.
    grpc_moderate(&env, &id, pb::moderate_comment_request::Action::MarkSpam).await;
    env.gone(&id).await;
    env.finish().await;
}

#[tokio::test]
async fn campaign_and_selected_comments_are_handled_in_bulk() {
    let Some(env) = Env::start().await else {
        return;
    };
    let grpc = env.server.grpc.clone();
    // Campaigns count only texts with substance (a link, or enough distinct words).
    let text = "Please vote early in the referendum and tell everyone the polling station hours";
    let mut copies = Vec::new();
    for author in ["Ann", "Bo", "Cy", "Dee"] {
        copies.push(submit_as(&grpc, "p1", author, text).await.0);
    }
    let (other, _) = submit_as(&grpc, "p1", "Eve", "An honest question, referendum").await;
    env.log_in().await;
    let link = env
        .browser
        .wait()
        .at_most(DEADLINE)
        .for_element(Locator::Css("a.campaign"))
        .await
        .unwrap();
    link.click().await.unwrap();
    env.browser
        .wait()
        .at_most(DEADLINE)
        .for_element(Locator::Css("form.campaign-actions"))
        .await
        .unwrap();
    for id in &copies {
        env.shown(id).await;
    }
    let rows = env
        .browser
        .find_all(Locator::Css("article.comment"))
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        copies.len(),
        "the campaign page shows its copies only"
    );
    env.browser
        .find(Locator::Css(
            "form.campaign-actions button[data-bulk-action=spam]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    for id in &copies {
        env.gone(id).await;
        assert_eq!(
            env.status_of(id).await,
            (pb::CommentStatus::Spam, "alice".into())
        );
    }
    assert_eq!(env.status_of(&other).await.0, pb::CommentStatus::Pending);

    // Bulk select on the queue: tick one, choose an action, apply.
    env.browser.goto(&env.url("/queue")).await.unwrap();
    let row = env.shown(&other).await;
    row.find(Locator::Css("input.select"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    env.browser
        .find(Locator::Css("form#bulk select[name=action]"))
        .await
        .unwrap()
        .select_by(Locator::Css("option[value=trash]"))
        .await
        .unwrap();
    env.browser
        .find(Locator::Css("form#bulk button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    env.gone(&other).await;
    assert_eq!(env.status_of(&other).await.0, pb::CommentStatus::Trash);
    env.finish().await;
}

#[tokio::test]
async fn a_comment_with_an_xss_attempt_executes_nothing() {
    let Some(env) = Env::start().await else {
        return;
    };
    let attack = |n: u32| {
        format!(
            "<img src=x onerror=\"document.title='pwned{n}'\"><script>document.title='pwned{n}'</script>\
             <svg onload=\"document.title='pwned{n}'\"></svg> referendum"
        )
    };
    let (first, status) = submit_as(&env.server.grpc, "p1", "Eve", &attack(1)).await;
    assert_eq!(status, "PENDING");
    env.log_in().await;
    let row = env.shown(&first).await;
    let text = row
        .find(Locator::Css("p.text"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("<script>document.title='pwned1'</script>"),
        "shown as text: {text}"
    );
    // One more arrives live, through the script's insertion path.
    let (second, _) = submit_as(&env.server.grpc, "p1", "Mallory", &attack(2)).await;
    env.browser.refresh().await.unwrap();
    env.shown(&second).await;
    let (third, _) = submit_as(&env.server.grpc, "p1", "Trudy", &attack(3)).await;
    let started = Instant::now();
    loop {
        let css = format!("article.comment[data-comment-id=\"{third}\"]");
        if !env
            .browser
            .find_all(Locator::Css(&css))
            .await
            .unwrap()
            .is_empty()
        {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "live comment not shown");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let injected = env
        .script("return document.querySelectorAll('article.comment img, article.comment script, article.comment svg').length")
        .await;
    assert_eq!(injected, json!(0));
    assert!(!env.browser.title().await.unwrap().contains("pwned"));
    env.finish().await;
}

#[tokio::test]
async fn without_a_session_nothing_private_and_posts_without_csrf_are_refused() {
    let Some(env) = Env::start().await else {
        return;
    };
    let (id, _) = submit_as(
        &env.server.grpc,
        "p1",
        "Mallory",
        "private words referendum",
    )
    .await;
    env.browser.goto(&env.url("/queue")).await.unwrap();
    assert_eq!(env.browser.current_url().await.unwrap().path(), "/login");
    let page = env.browser.source().await.unwrap();
    assert!(!page.contains("mallory@example.com") && !page.contains("private words"));

    env.log_in().await;
    env.shown(&id).await;
    let forge = |body: &str| {
        format!(
            "return fetch('/moderate', {{method: 'POST', headers: {{'content-type': \
             'application/x-www-form-urlencoded'}}, body: '{body}'}}).then(r => r.status)"
        )
    };
    for body in [
        format!("comment_id={id}&action=approve"),
        format!("comment_id={id}&action=approve&csrf=forged"),
    ] {
        assert_eq!(env.script(&forge(&body)).await, json!(403), "{body}");
    }
    assert_eq!(env.status_of(&id).await.0, pb::CommentStatus::Pending);
    // The session's own token, as the page sends it, is accepted.
    let token = env
        .script("return document.querySelector('meta[name=csrf-token]').content")
        .await;
    let body = format!(
        "comment_id={id}&action=trash&csrf={}",
        token.as_str().unwrap()
    );
    assert_eq!(env.script(&forge(&body)).await, json!(200));
    assert_eq!(env.status_of(&id).await.0, pb::CommentStatus::Trash);

    // /metrics needs no session, and what the browser gets parses as Prometheus text.
    let metrics = env
        .script("return fetch('/metrics').then(r => r.text())")
        .await;
    let families = parse_exposition(metrics.as_str().unwrap());
    assert!(families.contains_key("commentguard_grpc_requests"));
    assert!(!metrics.as_str().unwrap().contains("mallory"));
    env.finish().await;
}

/// Fills the console with a realistic queue, checks the queue and stats pages render, and with
/// `COMMENTGUARD_SCREENSHOTS=1` saves them as the screenshots in docs/ (README and docs/moderation.md).
#[tokio::test]
async fn queue_and_stats_pages_render_for_screenshots() {
    let Some(env) = Env::start().await else {
        return;
    };
    let grpc = env.server.grpc.clone();
    let comments = [
        (
            "Priya",
            "Check out my channel for free gift cards!! subscribe now",
        ),
        (
            "Tom",
            "I disagree with the second point: the data only covers 2019. referendum",
        ),
        ("Mara", "When will the referendum results be official?"),
        (
            "Jon",
            "The turnout figure in the referendum chart looks wrong, what is the source?",
        ),
        (
            "Lena",
            "Great reporting, thank you. Any update on the council vote? referendum",
        ),
        (
            "Max",
            "EARN $500 A DAY from home, click here http://cheap.example",
        ),
        (
            "Ann",
            "Vote NO in the referendum, share this with everyone you know",
        ),
        (
            "Bo",
            "Vote NO in the referendum, share this with everyone you know",
        ),
        (
            "Cy",
            "Vote NO in the referendum, share this with everyone you know",
        ),
        (
            "Rex",
            "Only an idiot would vote for this, you stupid sheep. referendum",
        ),
    ];
    let (mut ids, mut held) = (Vec::new(), Vec::new());
    for (author, text) in comments {
        let (id, status) = submit_as(&grpc, "election-2026", author, text).await;
        if status == "PENDING" {
            held.push(id.clone());
        }
        ids.push(id);
    }
    for (author, text) in [
        ("Kim", "Thanks, very helpful."),
        ("Raj", "Well written piece."),
    ] {
        submit_as(&grpc, "budget", author, text).await;
    }
    grpc_moderate(&env, &ids[1], pb::moderate_comment_request::Action::Approve).await;
    grpc_moderate(&env, &ids[2], pb::moderate_comment_request::Action::Approve).await;
    env.log_in().await;
    let still_held: Vec<_> = held
        .iter()
        .filter(|id| **id != ids[1] && **id != ids[2])
        .collect();
    assert!(!still_held.is_empty(), "some comments are held");
    for id in still_held {
        env.shown(id).await;
    }
    let marks = env
        .browser
        .find_all(Locator::Css("p.text mark"))
        .await
        .unwrap();
    assert!(!marks.is_empty(), "the classifier's words are highlighted");
    let underlined = env
        .browser
        .find_all(Locator::Css("p.text u.toxic"))
        .await
        .unwrap();
    assert!(!underlined.is_empty(), "the toxic spans are underlined");
    save_screenshot(&env, "console-queue.png").await;

    env.browser.goto(&env.url("/stats")).await.unwrap();
    let bars = env
        .browser
        .find_all(Locator::Css("svg#hourly rect"))
        .await
        .unwrap();
    assert!(!bars.is_empty(), "the hourly chart has bars");
    let agreement = env
        .browser
        .find(Locator::Css("#agreement"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(agreement.contains("over 2 decisions"), "{agreement}");
    let site_model = env
        .browser
        .find(Locator::Css("#site-model"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        site_model.contains("2 labels learned by this site's model"),
        "{site_model}"
    );
    let reasons = env
        .browser
        .find_all(Locator::Css("svg#reasons rect"))
        .await
        .unwrap();
    assert!(!reasons.is_empty());
    save_screenshot(&env, "console-stats.png").await;

    env.browser.goto(&env.url("/audit")).await.unwrap();
    let rows = env
        .browser
        .find_all(Locator::Css("table.audit tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    env.finish().await;
}

async fn save_screenshot(env: &Env, name: &str) {
    let png = env.browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    if std::env::var_os("COMMENTGUARD_SCREENSHOTS").is_some() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs")
            .join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, png).unwrap();
        eprintln!("wrote {}", path.display());
    }
}

//! The moderator console in a real headless Chromium, driven over WebDriver, against the real
//! binary. Needs `chromedriver` (Debian: `apt-get install chromium chromium-driver`): under
//! `CI=true` a missing one fails the tests; otherwise they say so in one line and pass.
//! With `COMMENTGUARD_SCREENSHOTS=1` the screenshot test writes `docs/console-queue.png`,
//! `docs/console-queue-phone.png` and `docs/console-stats.png`.

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

    // Find: the post filter (behind "Search and filter") narrows the queue to one post.
    env.browser
        .find(Locator::Css("details.tools summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
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
    let mut client = pb::comment_service_client::CommentServiceClient::connect(grpc.clone())
        .await
        .unwrap();
    for (author, text) in comments {
        let mut request = submission("election-2026", text);
        request.post_title = "Referendum night: the results as they come in".into();
        request.author_name = author.to_owned();
        request.author_email = format!("{}@example.com", author.to_lowercase());
        let answer = client.submit_comment(request).await.unwrap().into_inner();
        let (id, status) = (
            answer.comment_id.clone(),
            answer
                .status()
                .as_str_name()
                .trim_start_matches("COMMENT_STATUS_")
                .to_owned(),
        );
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
    let post = env
        .browser
        .find(Locator::Css("span.post a"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(post, "Referendum night: the results as they come in");
    save_screenshot(&env, "console-queue.png").await;
    env.browser.set_window_size(390, 844).await.unwrap();
    env.browser.refresh().await.unwrap();
    env.browser
        .wait()
        .at_most(DEADLINE)
        .for_element(Locator::Css("section#comments article.comment"))
        .await
        .unwrap();
    save_screenshot(&env, "console-queue-phone.png").await;
    env.browser.set_window_size(1280, 1000).await.unwrap();

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

/// Words that make held comments' texts differ (so that no campaign forms among them).
const TOPICS: [&str; 10] = [
    "turnout",
    "ballots",
    "posters",
    "debate",
    "postal votes",
    "counting",
    "polls",
    "budget",
    "schools",
    "transport",
];
const PLACES: [&str; 10] = [
    "north ward",
    "harbour",
    "old town",
    "station",
    "market",
    "riverside",
    "hill",
    "campus",
    "stadium",
    "library",
];

/// Submits `n` comments held for review (each with the console configuration's hold word), by
/// different authors and with different texts; returns their ids, oldest first.
async fn submit_held(env: &Env, n: usize) -> Vec<String> {
    let mut client =
        pb::comment_service_client::CommentServiceClient::connect(env.server.grpc.clone())
            .await
            .unwrap();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let text = format!(
            "Question {i} on {} near the {}: will it change before the referendum? ({})",
            TOPICS[i % TOPICS.len()],
            PLACES[(i / TOPICS.len()) % PLACES.len()],
            i * 7919 % 1000
        );
        let mut request = submission("p-news", &text);
        request.author_name = format!("Reader {i}");
        request.author_email = format!("reader{i}@example.org");
        let answer = client.submit_comment(request).await.unwrap().into_inner();
        assert_eq!(answer.status(), pb::CommentStatus::Pending, "{text}");
        ids.push(answer.comment_id);
    }
    ids
}

impl Env {
    /// The status and decider of every comment in `ids`, once none of them is pending any more.
    async fn decided(&self, ids: &[String]) -> Vec<(pb::CommentStatus, String)> {
        let deadline = Deadline::start("every comment decided");
        loop {
            let mut all = Vec::with_capacity(ids.len());
            for id in ids {
                all.push(self.status_of(id).await);
            }
            if all.iter().all(|(s, _)| *s != pb::CommentStatus::Pending) {
                return all;
            }
            deadline.check();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether the page is wider than the window (it scrolls sideways).
    async fn scrolls_sideways(&self) -> (i64, i64) {
        let widths = self
            .script(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]",
            )
            .await;
        (
            widths[0].as_i64().unwrap_or(0),
            widths[1].as_i64().unwrap_or(0),
        )
    }

    /// Runs axe-core on the page; returns its serious and critical violations.
    async fn accessibility_violations(&self) -> Vec<Value> {
        let axe = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/browser-tools/node_modules/axe-core/axe.min.js");
        let source = std::fs::read_to_string(&axe).unwrap_or_else(|_| {
            panic!(
                "{} missing: npm ci --prefix tests/browser-tools",
                axe.display()
            )
        });
        self.browser.execute(&source, vec![]).await.unwrap();
        let found = self
            .script(
                "return axe.run(document, { resultTypes: ['violations'] }).then(r => \
                 r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical') \
                 .map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.html).slice(0, 3) })))",
            )
            .await;
        found.as_array().cloned().unwrap_or_default()
    }
}

/// What each key decides.
fn key_action(key: char) -> pb::CommentStatus {
    match key {
        'a' => pb::CommentStatus::Approved,
        's' => pb::CommentStatus::Spam,
        _ => pb::CommentStatus::Trash,
    }
}

#[tokio::test]
async fn fifty_held_comments_cleared_at_full_typing_speed_each_decided_as_aimed() {
    let Some(env) = Env::start().await else {
        return;
    };
    let ids = submit_held(&env, 50).await;
    env.log_in().await;
    // The queue lists newest first; one key per comment, sent in one burst without waiting.
    let newest_first: Vec<&String> = ids.iter().rev().collect();
    env.shown(newest_first[0]).await;
    let keys: String = (0..50).map(|i| ['a', 's', 't', 'a', 'a'][i % 5]).collect();
    let body = env.browser.find(Locator::Css("body")).await.unwrap();
    let started = Instant::now();
    body.send_keys(&keys).await.unwrap();
    let typed = started.elapsed();
    let ordered: Vec<String> = newest_first.iter().map(|id| (*id).clone()).collect();
    let decided = env.decided(&ordered).await;
    eprintln!(
        "50 keys typed in {typed:?}; all 50 decided {:?} after the first",
        started.elapsed()
    );
    for (i, ((status, by), key)) in decided.iter().zip(keys.chars()).enumerate() {
        assert_eq!(
            (*status, by.as_str()),
            (key_action(key), "alice"),
            "comment {i} of the queue, aimed at with {key:?}"
        );
    }
    // One decision each, no refusal shown.
    let mut moderator = moderator_at(&env.server.grpc, BOB).await;
    for id in &ordered {
        let audit = moderator
            .list_audit(pb::ListAuditRequest {
                comment_id: id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(audit.entries.len(), 1, "decisions on {id}");
    }
    let errors = env
        .browser
        .find_all(Locator::Css("#flash.error, p.row-error"))
        .await
        .unwrap();
    assert!(errors.is_empty(), "an error was shown");
    env.finish().await;
}

#[tokio::test]
async fn a_comment_held_while_on_page_one_of_two_hundred_is_counted_and_shown() {
    let Some(env) = Env::start().await else {
        return;
    };
    submit_held(&env, 200).await;
    env.log_in().await;
    let count = || async {
        env.script(
            "return document.querySelector('nav.tabs a[data-status=PENDING] .count').textContent",
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    };
    assert_eq!(count().await, "200");
    assert!(
        env.browser.find(Locator::Css("a.older")).await.is_ok(),
        "more than a page is held"
    );
    // The live connection is open even with 200 held.
    env.browser
        .wait()
        .at_most(DEADLINE)
        .for_element(Locator::Css("section#comments[data-live=open]"))
        .await
        .unwrap();
    // Mid-page: the moderator has moved down two comments.
    let body = env.browser.find(Locator::Css("body")).await.unwrap();
    body.send_keys("jj").await.unwrap();
    let started = Instant::now();
    let (id, _) = submit_as(
        &env.server.grpc,
        "p-news",
        "Late Reader",
        "A late referendum note",
    )
    .await;
    let bar = env
        .browser
        .wait()
        .at_most(DEADLINE)
        .for_element(Locator::Css("p.new-bar:not([hidden])"))
        .await
        .unwrap();
    eprintln!("new held comment counted after {:?}", started.elapsed());
    assert!(bar.text().await.unwrap().starts_with("1 new"));
    assert_eq!(count().await, "201");
    bar.find(Locator::Css("button.show-new"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    env.shown(&id).await;
    env.finish().await;
}

#[tokio::test]
async fn a_decision_is_undone_by_key_and_the_undo_is_audited() {
    let Some(env) = Env::start().await else {
        return;
    };
    let ids = submit_held(&env, 2).await;
    env.log_in().await;
    env.shown(&ids[1]).await;
    let body = env.browser.find(Locator::Css("body")).await.unwrap();
    body.send_keys("s").await.unwrap();
    env.gone(&ids[1]).await;
    let flash = env.browser.find(Locator::Css("#flash.ok")).await.unwrap();
    assert!(
        flash.text().await.unwrap().contains("Marked spam"),
        "the message names the decision"
    );
    assert!(
        flash.find(Locator::Css("button.undo")).await.is_ok(),
        "with an Undo button"
    );
    assert_eq!(env.decided(&ids[1..]).await[0].0, pb::CommentStatus::Spam);
    body.send_keys("z").await.unwrap();
    env.shown(&ids[1]).await;
    let deadline = Deadline::start("the undo reaching the store");
    while env.status_of(&ids[1]).await.0 != pb::CommentStatus::Pending {
        deadline.check();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut moderator = moderator_at(&env.server.grpc, BOB).await;
    let audit = moderator
        .list_audit(pb::ListAuditRequest {
            comment_id: ids[1].clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let entries: Vec<(&str, &str)> = audit
        .entries
        .iter()
        .map(|e| (e.moderator.as_str(), e.note.as_str()))
        .collect();
    assert_eq!(entries, [("alice", "undo"), ("alice", "")], "newest first");
    // Back in the queue, the comment teaches nothing: its spam label is withdrawn.
    let stats = moderator
        .get_stats(pb::GetStatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.site_model.map(|m| m.labels), Some(0));
    env.finish().await;
}

#[tokio::test]
async fn the_console_fits_a_phone_and_reads_without_colour_or_codes() {
    let Some(env) = Env::start().await else {
        return;
    };
    let ids = submit_held(&env, 3).await;
    let (spammy, status) = submit_as(
        &env.server.grpc,
        "p-news",
        "Deals",
        "Check out my channel at http://cheap.example.biz and write to deals@cheap.example.biz referendum",
    )
    .await;
    grpc_moderate(&env, &ids[0], pb::moderate_comment_request::Action::Approve).await;
    env.log_in().await;
    env.browser
        .goto(&env.url(&format!("/queue?status={status}")))
        .await
        .unwrap();
    env.shown(&spammy).await;

    // Every reason has a human label; no function word is marked.
    let labels = env
        .script("return Array.from(document.querySelectorAll('ul.reasons li:not(.contribution) b')).map(b => b.textContent)")
        .await;
    let labels: Vec<&str> = labels
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(!labels.is_empty());
    assert!(labels.iter().all(|l| !l.contains('_')), "{labels:?}");
    let marked = env
        .script("return Array.from(document.querySelectorAll('p.text mark')).map(m => m.textContent.toLowerCase())")
        .await;
    for word in marked.as_array().unwrap().iter().filter_map(Value::as_str) {
        assert!(
            !["at", "and", "in", "what", "here", "my", "the", "to"].contains(&word),
            "function word {word:?} marked"
        );
    }
    let links = env
        .browser
        .find_all(Locator::Css("p.text mark.link"))
        .await
        .unwrap();
    assert_eq!(links.len(), 2, "the link and the email address are marked");
    let violations = env.accessibility_violations().await;
    assert!(violations.is_empty(), "axe-core: {violations:#?}");

    // 360 px wide: no page scrolls sideways.
    env.browser.set_window_size(360, 780).await.unwrap();
    let author = format!("/author/{spammy}?by=email");
    for path in ["/queue", "/stats", "/audit", author.as_str()] {
        env.browser.goto(&env.url(path)).await.unwrap();
        env.browser
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::Css("main"))
            .await
            .unwrap();
        let (scroll, client) = env.scrolls_sideways().await;
        assert!(scroll <= client, "{path}: {scroll} px wide in {client} px");
    }
    env.finish().await;
}

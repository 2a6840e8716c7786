//! A real WordPress (Debian's `wordpress` with its bundled Akismet plugin) pointed at the real
//! binary by the project's must-use plugin, `integrations/wordpress/commentguard.php`, set up and
//! used the way a site owner and visitors do: the installer, Akismet activated and its key saved
//! through the plugin's own settings form, comments posted through `wp-comments-post.php` with
//! the form's hidden fields, "Spam" / "Not spam" clicked in wp-admin, and commentguard stopped
//! and started again. What WordPress did is read from `wp_comments`, `wp_commentmeta` and
//! `wp_options`.
//!
//! MariaDB runs on a temporary datadir and socket, PHP's built-in server on a free loopback
//! port; both are stopped by PID. Under `CI=true` a missing component fails the test; otherwise
//! it says so in one line and passes.

mod support;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use commentguard::store::Storage as _;
use commentguard::store::embedded::{EmbeddedStore, StoreOptions};
use support::{ConsoleBinary, Deadline, output_within, start_console};

/// A commentguard key as the Akismet plugin accepts one: exactly 12 hexadecimal digits.
const KEY: &str = "c0ffee5a1e42";
const WORDPRESS: &str = "/usr/share/wordpress";
const ADMIN_PASSWORD: &str = "allotment-admin-password";
/// How long one WordPress page may take (PHP on a busy 2-core machine).
const PAGE: Duration = Duration::from_secs(60);

/// What the test needs from the machine, found or reported missing.
struct Components {
    mariadbd: PathBuf,
}

fn components() -> Option<Components> {
    let mut missing = Vec::new();
    for file in [
        "wp-settings.php",
        "wp-content/plugins/akismet/akismet.php",
        "wp-content/themes/twentytwentythree/theme.json",
    ] {
        if !Path::new(WORDPRESS).join(file).exists() {
            missing.push(format!("{WORDPRESS}/{file}"));
        }
    }
    let modules = Command::new("php").arg("-m").output().ok();
    let modules = modules
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned());
    match modules {
        None => missing.push("php".to_owned()),
        Some(modules) => {
            for module in ["mysqli", "curl"] {
                if !modules.lines().any(|line| line.trim() == module) {
                    missing.push(format!("php's {module}"));
                }
            }
        }
    }
    let mariadbd = ["/usr/sbin/mariadbd", "/usr/sbin/mysqld"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.exists());
    if mariadbd.is_none() {
        missing.push("mariadbd".to_owned());
    }
    for tool in ["mariadb-install-db", "mariadb"] {
        if !Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success())
        {
            missing.push(tool.to_owned());
        }
    }
    if missing.is_empty() {
        return mariadbd.map(|mariadbd| Components { mariadbd });
    }
    let install = "apt-get install wordpress wordpress-theme-twentytwentythree php-cli php-mysql \
                   php-curl mariadb-server micro-httpd";
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the WordPress test needs {}: {install}",
        missing.join(", ")
    );
    eprintln!(
        "WordPress test not run: no {} ({install})",
        missing.join(", ")
    );
    None
}

/// A child process killed (by PID) and reaped when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// MariaDB on a temporary datadir, reachable only through its socket.
struct MariaDb {
    socket: PathBuf,
    _server: Process,
}

impl MariaDb {
    fn start(mariadbd: &Path, dir: &Path) -> Self {
        let data = dir.join("mariadb");
        let as_root: &[&str] = if running_as_root() {
            &["--user=root"]
        } else {
            &[]
        };
        let mut install = Command::new("mariadb-install-db");
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .args(as_root);
        let installed = output_within(install, Duration::from_secs(120));
        assert!(
            installed.status.success(),
            "mariadb-install-db: {}",
            String::from_utf8_lossy(&installed.stderr)
        );
        let socket = dir.join("mariadb.sock");
        let server = Command::new(mariadbd)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", dir.join("mariadb.pid").display()))
            .arg(format!("--log-error={}", dir.join("mariadb.log").display()))
            .args(["--skip-networking", "--innodb-buffer-pool-size=32M"])
            .args(as_root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd starts");
        let db = MariaDb {
            socket,
            _server: Process(server),
        };
        let deadline = Deadline::start("MariaDB accepting connections");
        while db
            .try_sql("CREATE DATABASE IF NOT EXISTS wordpress")
            .is_err()
        {
            deadline.check();
            std::thread::sleep(Duration::from_millis(100));
        }
        db
    }

    fn try_sql(&self, sql: &str) -> Result<String, String> {
        let mut client = Command::new("mariadb");
        client
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .args(["-u", "root", "-N", "-B", "-e", sql]);
        if !sql.starts_with("CREATE DATABASE") {
            client.arg("wordpress");
        }
        let out = output_within(client, Duration::from_secs(30));
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// The query's rows, tab-separated, one per line.
    fn sql(&self, sql: &str) -> String {
        self.try_sql(sql)
            .unwrap_or_else(|err| panic!("{sql}: {err}"))
    }
}

/// WordPress copied from Debian's package into a temporary document root, with its own
/// `wp-config.php` and the project's must-use plugin, served by `php -S`.
struct WordPress {
    root: PathBuf,
    url: String,
    socket: PathBuf,
    _server: Process,
}

impl WordPress {
    fn start(dir: &Path, db: &MariaDb, commentguard: &str) -> Self {
        let root = dir.join("wordpress");
        let copied = output_within(
            {
                let mut cp = Command::new("cp");
                cp.arg("-a").arg(WORDPRESS).arg(&root);
                cp
            },
            Duration::from_secs(120),
        );
        assert!(copied.status.success(), "copying {WORDPRESS}");
        let mu_plugins = root.join("wp-content/mu-plugins");
        std::fs::create_dir_all(&mu_plugins).unwrap();
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("integrations/wordpress/commentguard.php"),
            mu_plugins.join("commentguard.php"),
        )
        .unwrap();
        let port = support::postgres::free_port();
        let url = format!("http://127.0.0.1:{port}");
        let wordpress = |server| WordPress {
            root: root.clone(),
            url: url.clone(),
            socket: db.socket.clone(),
            _server: Process(server),
        };
        let log = std::fs::File::create(dir.join("php.log")).unwrap();
        let server = Command::new("php")
            .args(["-d", "display_errors=0", "-d", "log_errors=1"])
            .arg("-d")
            .arg(format!(
                "error_log={}",
                dir.join("php-errors.log").display()
            ))
            .args(["-S", &format!("127.0.0.1:{port}"), "-t"])
            .arg(&root)
            .env("PHP_CLI_SERVER_WORKERS", "4")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("php -S starts");
        let wordpress = wordpress(server);
        wordpress.point_at(commentguard);
        let deadline = Deadline::start("PHP's server accepting connections");
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            deadline.check();
            std::thread::sleep(Duration::from_millis(50));
        }
        wordpress
    }

    /// Writes `wp-config.php` with `COMMENTGUARD_URL` set to `commentguard`. Nothing leaves the
    /// machine: external HTTP is blocked and WordPress's own cron does not run.
    fn point_at(&self, commentguard: &str) {
        let salts: String = [
            "AUTH_KEY",
            "SECURE_AUTH_KEY",
            "LOGGED_IN_KEY",
            "NONCE_KEY",
            "AUTH_SALT",
            "SECURE_AUTH_SALT",
            "LOGGED_IN_SALT",
            "NONCE_SALT",
        ]
        .iter()
        .map(|name| format!("define('{name}', 'test-{name}-salt');\n"))
        .collect();
        let config = format!(
            "<?php\n\
             define('DB_NAME', 'wordpress');\n\
             define('DB_USER', 'root');\n\
             define('DB_PASSWORD', '');\n\
             define('DB_HOST', 'localhost:{socket}');\n\
             define('DB_CHARSET', 'utf8mb4');\n\
             define('DB_COLLATE', '');\n\
             {salts}\
             $table_prefix = 'wp_';\n\
             define('WP_HOME', '{url}');\n\
             define('WP_SITEURL', '{url}');\n\
             define('DISABLE_WP_CRON', true);\n\
             define('WP_HTTP_BLOCK_EXTERNAL', true);\n\
             define('AUTOMATIC_UPDATER_DISABLED', true);\n\
             define('COMMENTGUARD_URL', '{commentguard}');\n\
             if (!defined('ABSPATH')) define('ABSPATH', __DIR__ . '/');\n\
             require_once ABSPATH . 'wp-settings.php';\n",
            socket = self.socket.display(),
            url = self.url,
        );
        std::fs::write(self.root.join("wp-config.php"), config).unwrap();
    }

    /// Runs the Akismet plugin's retry of comments it could not check, as WordPress's cron does
    /// 20 minutes after a failure.
    fn run_akismet_retry(&self) {
        let mut php = Command::new("php");
        php.current_dir(&self.root)
            .arg("-r")
            .arg("define('DOING_CRON', true); require 'wp-load.php'; Akismet::cron_recheck();");
        let out = output_within(php, PAGE);
        assert!(
            out.status.success(),
            "Akismet's retry: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// One page as a browser received it (redirects are not followed).
struct Page {
    status: u16,
    location: Option<String>,
    body: String,
}

/// A browser: cookies kept, connecting from its own loopback address (WordPress's flood control
/// tells visitors apart by IP).
struct Browser {
    base: String,
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    >,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new(base: &str, from: IpAddr) -> Self {
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_local_address(Some(from));
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        Browser {
            base: base.to_owned(),
            client,
            cookies: BTreeMap::new(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        self.request("GET", path, None).await
    }

    /// GET, following redirects within the site (WordPress redirects `?p=1` to the post's
    /// permalink).
    async fn get_following(&mut self, path: &str) -> Page {
        let mut page = self.get(path).await;
        for _ in 0..5 {
            let Some(next) = page
                .location
                .as_deref()
                .filter(|_| (300..400).contains(&page.status))
            else {
                break;
            };
            let next = next.strip_prefix(&self.base).unwrap_or(next).to_owned();
            page = self.get(&next).await;
        }
        page
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.request("POST", path, Some(body)).await
    }

    async fn request(&mut self, method: &str, path: &str, form: Option<String>) -> Page {
        use axum::http;
        use http_body_util::BodyExt as _;
        let url = format!("{}{path}", self.base);
        let mut request = http::Request::builder()
            .method(method)
            .uri(&url)
            .header(
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64) commentguard-test",
            )
            .header("referer", &url);
        if !self.cookies.is_empty() {
            let cookies: Vec<String> = self
                .cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            request = request.header("cookie", cookies.join("; "));
        }
        if form.is_some() {
            request = request.header("content-type", "application/x-www-form-urlencoded");
        }
        let request = request
            .body(http_body_util::Full::new(bytes::Bytes::from(
                form.unwrap_or_default(),
            )))
            .unwrap();
        let response = tokio::time::timeout(PAGE, self.client.request(request))
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no answer within {PAGE:?}"))
            .unwrap_or_else(|err| panic!("{method} {path}: {err}"));
        for value in response.headers().get_all("set-cookie") {
            let value = String::from_utf8_lossy(value.as_bytes());
            let pair = value.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                self.cookies
                    .insert(name.trim().to_owned(), value.to_owned());
            }
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        let body = tokio::time::timeout(PAGE, response.into_body().collect())
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no body within {PAGE:?}"))
            .unwrap()
            .to_bytes();
        Page {
            status,
            location,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }
}

/// The first capture of `pattern` in `text`, HTML's `&amp;` undone.
fn find(text: &str, pattern: &str) -> Option<String> {
    regex::Regex::new(pattern)
        .unwrap()
        .captures(text)
        .map(|found| found[1].replace("&amp;", "&").replace("&#038;", "&"))
}

/// The hidden inputs of the page's forms, by name (the comment form's post id and parent, and
/// the Akismet plugin's nonce and JavaScript marker).
fn hidden_fields(page: &str) -> Vec<(String, String)> {
    let input = regex::Regex::new(r"<input[^>]*>").unwrap();
    input
        .find_iter(page)
        .map(|tag| tag.as_str())
        .filter(|tag| tag.contains(r#"type="hidden""#) || tag.contains("type='hidden'"))
        .filter_map(|tag| {
            let name = find(tag, r#"name=["']([^"']*)["']"#)?;
            let value = find(tag, r#"value=["']([^"']*)["']"#).unwrap_or_default();
            Some((name, value))
        })
        .collect()
}

/// Installs WordPress through its installer and logs the administrator in.
async fn install(wordpress: &WordPress) -> Browser {
    let mut admin = Browser::new(&wordpress.url, "127.0.0.1".parse().unwrap());
    let installed = admin
        .post(
            "/wp-admin/install.php?step=2",
            &[
                ("weblog_title", "Allotment News"),
                ("user_name", "admin"),
                ("admin_password", ADMIN_PASSWORD),
                ("admin_password2", ADMIN_PASSWORD),
                ("pw_weak", "1"),
                ("admin_email", "admin@allotment.example.org"),
                ("blog_public", "0"),
                ("Submit", "Install WordPress"),
            ],
        )
        .await;
    assert!(installed.body.contains("Success!"), "{}", installed.body);
    admin.get("/wp-login.php").await;
    let login = admin
        .post(
            "/wp-login.php",
            &[
                ("log", "admin"),
                ("pwd", ADMIN_PASSWORD),
                ("wp-submit", "Log In"),
                ("redirect_to", "/wp-admin/"),
                ("testcookie", "1"),
            ],
        )
        .await;
    assert_eq!(login.status, 302, "login: {}", login.body);
    admin
}

/// Activates the bundled Akismet plugin from the Plugins screen.
async fn activate_akismet(admin: &mut Browser) {
    let plugins = admin.get("/wp-admin/plugins.php").await;
    let activate = find(
        &plugins.body,
        r#"href="(plugins\.php\?action=activate&amp;plugin=akismet%2Fakismet\.php[^"]*)""#,
    )
    .expect("an Activate link for Akismet");
    let activated = admin.get(&format!("/wp-admin/{activate}")).await;
    assert_eq!(activated.status, 302, "activating Akismet");
}

/// Saves the key through the Akismet plugin's own settings form; returns the settings page it
/// answered with.
async fn save_key(admin: &mut Browser) -> String {
    let settings = "/wp-admin/options-general.php?page=akismet-key-config";
    let start = admin.get(settings).await;
    assert!(
        !start.body.contains("connect to the Akismet servers"),
        "the settings page cannot reach commentguard: {}",
        start.body
    );
    let nonce =
        find(&start.body, r#"name="_wpnonce" value="([0-9a-f]+)""#).expect("the key form's nonce");
    let saved = admin
        .post(
            settings,
            &[
                ("_wpnonce", nonce.as_str()),
                ("action", "enter-key"),
                ("key", KEY),
            ],
        )
        .await;
    assert!(
        !saved.body.contains("connect to the Akismet servers"),
        "{}",
        saved.body
    );
    admin.get(settings).await.body
}

/// Chooses "Silently discard the worst and most pervasive spam" on the plugin's settings page.
async fn set_strictness_discard(admin: &mut Browser) {
    let settings = "/wp-admin/options-general.php?page=akismet-key-config";
    let page = admin.get(settings).await;
    let nonce = find(&page.body, r#"name="_wpnonce" value="([0-9a-f]+)""#)
        .expect("the settings form's nonce");
    admin
        .post(
            settings,
            &[
                ("_wpnonce", nonce.as_str()),
                ("action", "enter-key"),
                ("key", KEY),
                ("akismet_strictness", "1"),
                ("akismet_comment_form_privacy_notice", "hide"),
                ("submit", "Save Changes"),
            ],
        )
        .await;
}

/// A visitor posting a comment under the first post from the form's hidden fields; returns
/// where WordPress sent the browser next.
async fn comment(wordpress: &WordPress, from: u8, author: &str, email: &str, text: &str) -> Page {
    let mut visitor = Browser::new(&wordpress.url, IpAddr::from([127, 0, 0, from]));
    let post = visitor.get_following("/?p=1").await;
    assert_eq!(post.status, 200, "the post page");
    let mut fields = hidden_fields(&post.body);
    assert!(
        fields.iter().any(|(name, _)| name == "comment_post_ID"),
        "no comment form on the post: {}",
        post.body
    );
    for (name, value) in [
        ("author", author),
        ("email", email),
        ("url", ""),
        ("comment", text),
        ("submit", "Post Comment"),
    ] {
        fields.push((name.to_owned(), value.to_owned()));
    }
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    visitor.post("/wp-comments-post.php", &fields).await
}

/// The stored comment's id and `comment_approved` for an author's email, if WordPress kept it.
fn stored(db: &MariaDb, email: &str) -> Option<(String, String)> {
    let row = db.sql(&format!(
        "SELECT comment_ID, comment_approved FROM wp_comments WHERE comment_author_email = '{email}'"
    ));
    let (id, approved) = row.split_once('\t')?;
    Some((id.to_owned(), approved.to_owned()))
}

fn meta(db: &MariaDb, id: &str, key: &str) -> Option<String> {
    let value = db.sql(&format!(
        "SELECT meta_value FROM wp_commentmeta WHERE comment_id = {id} AND meta_key = '{key}'"
    ));
    (!value.is_empty()).then_some(value)
}

fn option(db: &MariaDb, name: &str) -> String {
    db.sql(&format!(
        "SELECT option_value FROM wp_options WHERE option_name = '{name}'"
    ))
}

fn start_commentguard(dir: &Path, blog: &str) -> ConsoleBinary {
    let config = dir.join("commentguard.toml");
    std::fs::write(
        &config,
        format!(
            "flood_interval = 0\n[akismet_keys]\nallotment = {{ key = \"{KEY}\", blogs = [\"{blog}\"] }}\n"
        ),
    )
    .unwrap();
    start_console(&dir.join("data"), &config)
}

async fn akismet_calls(commentguard: &ConsoleBinary, path: &str, answer: &str) -> u64 {
    let (_, _, metrics) =
        support::http_request(&commentguard.http, "GET", "/metrics", &[], "").await;
    let line =
        format!("commentguard_akismet_requests_total{{path=\"{path}\",answer=\"{answer}\"}} ");
    metrics
        .lines()
        .find_map(|sample| sample.strip_prefix(&line))
        .map_or(0, |count| count.trim().parse().unwrap_or(0))
}

const HAM: &str = "Copper tape around the beds kept the slugs off my lettuce this spring.";
/// Ham unlike [`HAM`], which a moderator marks spam before this one is checked again.
const OTHER_HAM: &str = "Our leeks did well in the raised beds after we added compost in autumn.";
const BLATANT: &str = "Check out my channel!!! subscribe and earn money fast, free gift cards, \
                       click here http://spam.example.biz";
const HELD: &str = "The seed swap is on Saturday at the community hall. If you cannot come, the \
                    organiser keeps packets aside: cara@example.net";

#[tokio::test(flavor = "multi_thread")]
async fn the_stock_akismet_plugin_set_up_and_used_as_a_site_does() {
    let Some(components) = components() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = MariaDb::start(&components.mariadbd, dir.path());
    // The blog URL is known once PHP's port is: start WordPress pointing nowhere, then bind
    // the key to that URL and point WordPress at commentguard.
    let wordpress = WordPress::start(dir.path(), &db, "http://127.0.0.1:9");
    let commentguard = start_commentguard(dir.path(), &wordpress.url);
    wordpress.point_at(&commentguard.http);
    let mut admin = install(&wordpress).await;
    let installer_log = std::fs::metadata(dir.path().join("php-errors.log"))
        .map_or(0, |log| usize::try_from(log.len()).unwrap_or(0));
    // A site owner's choice made before moderation starts: first-time commenters are not held
    // by WordPress itself, so a held comment is commentguard's decision.
    db.sql("UPDATE wp_options SET option_value = '0' WHERE option_name = 'comment_previously_approved'");

    activate_akismet(&mut admin).await;
    let settings = save_key(&mut admin).await;
    assert_eq!(option(&db, "wordpress_api_key"), KEY, "the key is saved");
    assert!(settings.contains(KEY), "the settings page shows the key");
    assert!(akismet_calls(&commentguard, "test", "connected").await >= 1);
    assert!(akismet_calls(&commentguard, "get-subscription", "active").await >= 1);
    // get-stats is not served: the settings page shows no statistics rather than wrong ones.
    assert!(!settings.contains("Spam blocked"), "{settings}");
    assert_eq!(
        option(&db, "akismet_strictness"),
        "0",
        "saving a key puts all spam in the spam folder"
    );

    // Ham is approved; commentguard's PENDING is held; spam goes to the spam folder, blatant
    // spam marked for discarding.
    comment(&wordpress, 10, "Ada", "ada@allotment.example.org", HAM).await;
    comment(&wordpress, 11, "Cara", "cara@allotment.example.org", HELD).await;
    comment(
        &wordpress,
        12,
        "akismet-guaranteed-spam",
        "guaranteed@allotment.example.org",
        "Lovely photos of the leeks this year.",
    )
    .await;
    comment(
        &wordpress,
        13,
        "Best Deals",
        "deals@spam.example.biz",
        BLATANT,
    )
    .await;
    let (ham, approved) = stored(&db, "ada@allotment.example.org").expect("the ham comment");
    assert_eq!(approved, "1", "ham approved");
    assert_eq!(meta(&db, &ham, "akismet_result").as_deref(), Some("false"));
    let (held, approved) = stored(&db, "cara@allotment.example.org").expect("the held comment");
    assert_eq!(approved, "0", "held by commentguard, held in WordPress");
    assert_eq!(meta(&db, &held, "akismet_result").as_deref(), Some("false"));
    let (spam, approved) =
        stored(&db, "guaranteed@allotment.example.org").expect("the guaranteed spam");
    assert_eq!(approved, "spam");
    assert_eq!(meta(&db, &spam, "akismet_result").as_deref(), Some("true"));
    assert_eq!(meta(&db, &spam, "akismet_pro_tip"), None);
    let (blatant, approved) = stored(&db, "deals@spam.example.biz").expect("the blatant spam");
    assert_eq!(approved, "spam");
    assert_eq!(
        meta(&db, &blatant, "akismet_pro_tip").as_deref(),
        Some("discard")
    );

    // "Silently discard the worst and most pervasive spam", chosen on the plugin's settings
    // page: the next blatant spam is not stored at all.
    set_strictness_discard(&mut admin).await;
    assert_eq!(option(&db, "akismet_strictness"), "1");
    comment(&wordpress, 16, "Top Deals", "top@spam.example.biz", BLATANT).await;
    assert_eq!(
        stored(&db, "top@spam.example.biz"),
        None,
        "blatant spam discarded"
    );
    assert_eq!(
        akismet_calls(&commentguard, "comment-check", "spam_discard").await,
        2
    );
    assert_eq!(
        akismet_calls(&commentguard, "comment-check", "ham").await,
        2
    );

    // "Spam" on the ham and "Not spam" on the spam, clicked in wp-admin, reach commentguard.
    let comments = admin.get("/wp-admin/edit-comments.php").await.body;
    let mark_spam = find(
        &comments,
        &format!(
            r#"href="(comment\.php\?c={ham}&#038;action=spamcomment&#038;_wpnonce=[0-9a-f]+)""#
        ),
    )
    .unwrap_or_else(|| panic!("a Spam link on the ham comment: {comments}"));
    assert_eq!(
        admin.get(&format!("/wp-admin/{mark_spam}")).await.status,
        302
    );
    let spam_folder = admin
        .get("/wp-admin/edit-comments.php?comment_status=spam")
        .await
        .body;
    let not_spam = find(
        &spam_folder,
        &format!(
            r#"href="(comment\.php\?c={spam}&#038;action=unspamcomment&#038;_wpnonce=[0-9a-f]+)""#
        ),
    )
    .expect("a Not Spam link on the spam comment");
    assert_eq!(
        admin.get(&format!("/wp-admin/{not_spam}")).await.status,
        302
    );
    assert_eq!(stored(&db, "ada@allotment.example.org").unwrap().1, "spam");
    assert_eq!(
        akismet_calls(&commentguard, "submit-spam", "thanks").await,
        1
    );
    assert_eq!(
        akismet_calls(&commentguard, "submit-ham", "thanks").await,
        1
    );

    // commentguard stopped: comments are held with the plugin's error mark, not published.
    drop(commentguard);
    comment(
        &wordpress,
        14,
        "Dev",
        "dev@allotment.example.org",
        OTHER_HAM,
    )
    .await;
    comment(&wordpress, 15, "Eli", "eli@allotment.example.org", HELD).await;
    let (ham_while_down, approved) = stored(&db, "dev@allotment.example.org").unwrap();
    assert_eq!(approved, "0", "held while commentguard is down");
    assert!(meta(&db, &ham_while_down, "akismet_error").is_some());
    let (held_while_down, approved) = stored(&db, "eli@allotment.example.org").unwrap();
    assert_eq!(approved, "0");

    // Started again, the plugin's retry approves the ham and keeps what commentguard holds.
    let store_labels = {
        let commentguard = start_commentguard(dir.path(), &wordpress.url);
        wordpress.point_at(&commentguard.http);
        wordpress.run_akismet_retry();
        assert_eq!(stored(&db, "dev@allotment.example.org").unwrap().1, "1");
        assert_eq!(meta(&db, &ham_while_down, "akismet_error"), None);
        assert_eq!(stored(&db, "eli@allotment.example.org").unwrap().1, "0");
        assert_eq!(
            meta(&db, &held_while_down, "akismet_result").as_deref(),
            Some("false")
        );
        drop(commentguard);
        let store =
            EmbeddedStore::open(&dir.path().join("data"), StoreOptions::default(), 16).unwrap();
        store.labels().await.unwrap()
    };
    // The two wp-admin decisions are labels the site model learns from.
    assert_eq!(store_labels.len(), 2, "{store_labels:?}");
    // Nothing after the installer (whose Debian patch warns) made PHP complain, as the plugin
    // reading answers it did not expect would.
    let php_errors = std::fs::read_to_string(dir.path().join("php-errors.log")).unwrap_or_default();
    let php_errors = php_errors.get(installer_log..).unwrap_or_default();
    assert!(
        !php_errors.contains("PHP Fatal") && !php_errors.contains("PHP Warning"),
        "{php_errors}"
    );
}

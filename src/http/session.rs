//! Moderator sessions: logging in with a moderator token, the session cookie, its CSRF token,
//! expiry, logout, and the limit on failed logins.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::Console;
use super::error::HttpError;
use super::views;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "cg_session";
/// The cookie that ties the login form to the browser that loaded it.
const LOGIN_COOKIE: &str = "cg_login";
/// How long a session lasts after logging in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// Failed logins allowed from one address per [`FAILURE_WINDOW`].
pub const MAX_FAILURES: u32 = 5;
/// The window over which failed logins are counted.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(300);
/// Most sessions kept at once; the oldest go first.
const MAX_SESSIONS: usize = 10_000;

/// A logged-in moderator.
#[derive(Debug, Clone)]
pub struct Session {
    /// The moderator's configured name, as the audit log records it.
    pub moderator: String,
    /// The token every state-changing request of this session must carry.
    pub csrf: String,
    expires: Instant,
}

/// Open sessions and recent failed logins, in memory: a restart logs everyone out.
#[derive(Debug, Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

impl Sessions {
    fn create(&self, moderator: &str) -> (String, Session) {
        let id = random_token();
        let session = Session {
            moderator: moderator.to_owned(),
            csrf: random_token(),
            expires: Instant::now() + SESSION_LIFETIME,
        };
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        open.retain(|_, s| s.expires > now);
        if open.len() >= MAX_SESSIONS
            && let Some(oldest) = open
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
        {
            open.remove(&oldest);
        }
        open.insert(id.clone(), session.clone());
        (id, session)
    }

    fn find(&self, id: &str) -> Option<Session> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        match open.get(id) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                open.remove(id);
                None
            }
            None => None,
        }
    }

    fn end(&self, id: &str) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Whether `ip` may try to log in now.
    fn may_try(&self, ip: IpAddr) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match failures.get(&ip) {
            Some((count, since)) => *count < MAX_FAILURES || since.elapsed() >= FAILURE_WINDOW,
            None => true,
        }
    }

    fn failed(&self, ip: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        let entry = failures.entry(ip).or_insert((0, Instant::now()));
        entry.0 += 1;
    }
}

/// The value of cookie `name` in the request, if any.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then_some(value)
        })
}

/// `Secure` when the browser reached us over TLS: our own listener's, or a terminating
/// proxy's that says so.
fn over_tls(console: &Console, headers: &HeaderMap) -> bool {
    console.tls
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

fn set_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Equality whose time does not depend on where the strings differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The moderator behind a request; pages without one redirect to the login form, anything
/// else is refused.
impl FromRequestParts<Console> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Response> {
        let found = cookie(&parts.headers, SESSION_COOKIE).and_then(|id| console.sessions.find(id));
        match found {
            Some(session) => Ok(session),
            None if parts.method == Method::GET && parts.uri.path() != "/events" => {
                Err(Redirect::to("/login").into_response())
            }
            None => Err(HttpError::Forbidden.into_response()),
        }
    }
}

impl Session {
    /// Refuses a form whose `csrf` field is not this session's token.
    ///
    /// # Errors
    /// [`HttpError::Forbidden`] when it is missing or different.
    pub fn check_csrf(&self, form: &Form) -> Result<(), HttpError> {
        match form.first("csrf") {
            Some(token) if same_secret(token, &self.csrf) => Ok(()),
            _ => Err(HttpError::Forbidden),
        }
    }
}

/// A URL-encoded form body, keys possibly repeated (bulk actions send many `comment_id`s).
#[derive(Debug, Default)]
pub struct Form(Vec<(String, String)>);

impl Form {
    /// Parses a body.
    pub fn parse(body: &Bytes) -> Self {
        Self(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `key`.
    pub fn first<'a>(&'a self, key: &'a str) -> Option<&'a str> {
        self.all(key).next()
    }

    /// Every value of `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// `GET /login`: the form, with a fresh token tying it to this browser.
pub async fn login_page(State(console): State<Console>, headers: HeaderMap) -> Response {
    let token = random_token();
    let mut response = Html(views::login_page(&token, None).into_string()).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, &token, 900, over_tls(&console, &headers)),
    );
    response
}

/// `POST /login`: a moderator token for a session cookie. Failures are counted per address
/// and refused past [`MAX_FAILURES`] per [`FAILURE_WINDOW`].
pub async fn login(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let form = Form::parse(&body);
    let form_token = form.first("csrf").unwrap_or("");
    let tied = cookie(&headers, LOGIN_COOKIE).is_some_and(|c| same_secret(c, form_token));
    if !tied {
        return Err(HttpError::Forbidden);
    }
    if !console.sessions.may_try(peer.ip()) {
        tracing::warn!("console login refused: too many failures from one address");
        return Err(HttpError::TooManyAttempts);
    }
    let presented = form.first("token").unwrap_or("").trim();
    let Some(moderator) = console.app.moderators.authenticate(presented) else {
        console.sessions.failed(peer.ip());
        tracing::info!("console login failed");
        let page = views::login_page(form_token, Some("That token is not a moderator token."));
        return Ok((
            axum::http::StatusCode::UNAUTHORIZED,
            Html(page.into_string()),
        )
            .into_response());
    };
    let (id, _) = console.sessions.create(moderator);
    tracing::info!(moderator, "console login");
    let secure = over_tls(&console, &headers);
    let mut response = Redirect::to("/queue").into_response();
    let cookies = response.headers_mut();
    cookies.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &id, SESSION_LIFETIME.as_secs(), secure),
    );
    cookies.append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", 0, secure));
    Ok(response)
}

/// `POST /logout`: ends the session (CSRF-checked like every other POST).
pub async fn logout(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    session.check_csrf(&Form::parse(&body))?;
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        console.sessions.end(id);
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", 0, over_tls(&console, &headers)),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("xcg_session=no; cg_session=abc; other=1"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, LOGIN_COOKIE), None);
    }

    #[test]
    fn failures_are_limited_per_address() {
        let sessions = Sessions::default();
        let ip: IpAddr = [192, 0, 2, 1].into();
        for _ in 0..MAX_FAILURES {
            assert!(sessions.may_try(ip));
            sessions.failed(ip);
        }
        assert!(!sessions.may_try(ip));
        assert!(sessions.may_try([192, 0, 2, 2].into()));
    }

    #[test]
    fn sessions_are_found_until_ended() {
        let sessions = Sessions::default();
        let (id, session) = sessions.create("alice");
        assert_eq!(
            sessions.find(&id).map(|s| s.moderator),
            Some("alice".into())
        );
        assert_ne!(session.csrf, id);
        sessions.end(&id);
        assert!(sessions.find(&id).is_none());
    }
}

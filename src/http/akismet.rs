//! The Akismet 1.1 REST API on the HTTP listener, so code that already speaks Akismet (the
//! WordPress plugin, client libraries) can use commentguard unchanged: form-encoded POSTs to
//! `/1.1/verify-key`, `/1.1/get-subscription`, `/1.1/comment-check`, `/1.1/submit-spam`,
//! `/1.1/submit-ham` and `/1.1/usage-limit`, and `GET /1.1/test`, answered with Akismet's
//! bodies and headers.
//!
//! - The key comes from `api_key`, else `key`, else (old clients) the first label of the
//!   `Host` header (`KEY.rest.akismet.com`) — except for the key checks (`verify-key`,
//!   `get-subscription`), which read `key` first: the WordPress plugin checks a new key by
//!   sending it as `key` beside the stored one as `api_key`. It is checked against
//!   `[akismet_keys]` for `blog`.
//! - `GET /1.1/test` answers `connected` (the plugin's connectivity check);
//!   `get-subscription` answers Akismet's JSON with `"status": "active"` for a valid key, the
//!   plugin's condition for saving it, and `"status": "invalid"` otherwise.
//! - `comment-check` runs the `CheckComment` pipeline (nothing stored): `true` when the
//!   verdict is SPAM, `false` for APPROVED and PENDING; `X-commentguard-status` carries the
//!   verdict itself. `X-akismet-pro-tip: discard` marks blatant spam: a SPAM verdict whose
//!   score alone reaches the spam threshold.
//! - `submit-spam`/`submit-ham` store a label the classifier learns from, like a moderator's
//!   decision (`Storage::put_label`).
//! - Akismet's test values: author `akismet-guaranteed-spam` is spam, `user_role`
//!   `administrator` is ham, `is_test=1` teaches nothing.
//!
//! Logs name the site (the key's name in the configuration), never the key, an email, an IP
//! or the text.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};

use super::Console;
use crate::akismet::KeyCheck;
use crate::comment::{CommentId, Label, Status};
use crate::pipeline::Rejection;
use crate::store::{LabelledText, StoreError};
use crate::validate::SubmissionInput;

/// Akismet's answer to feedback.
const THANKS: &str = "Thanks for making the web a better place.";
/// The email judged when a comment comes without one (the pipeline needs an address).
const NO_EMAIL: &str = "anonymous@akismet.invalid";
/// Alert code: the key is valid but bound to other blogs.
const ALERT_OTHER_BLOG: &str = "30001";
/// Alert code: the service cannot answer now (storage); retry later.
const ALERT_UNAVAILABLE: &str = "30002";

/// `comment-check` calls answered since start, for `usage-limit`.
static CHECKS: AtomicU64 = AtomicU64::new(0);

/// A form-encoded request body; a field sent twice keeps its last value.
struct Form(HashMap<String, String>);

impl Form {
    fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", |v| v.trim())
    }
}

/// A plain-text answer with Akismet's headers.
struct Answer {
    status: StatusCode,
    body: String,
    headers: Vec<(&'static str, String)>,
}

impl Answer {
    fn ok(body: impl Into<String>) -> Self {
        Self {
            status: StatusCode::OK,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Akismet's answer to a request without a required field.
    fn missing(field: &str) -> Self {
        Self::ok(format!("Missing required field: {field}."))
            .header("x-akismet-debug-help", format!("Empty \"{field}\" value"))
    }

    fn unavailable(error: &StoreError) -> Self {
        tracing::error!(cause = %crate::error::Chain(error), "akismet: storage failed");
        let mut answer = Self::ok("commentguard cannot answer now; retry later.")
            .header("x-akismet-alert-code", ALERT_UNAVAILABLE)
            .header(
                "x-akismet-alert-msg",
                "The service cannot answer now; retry later.",
            );
        answer.status = StatusCode::SERVICE_UNAVAILABLE;
        answer
    }
}

impl Answer {
    /// What kind of answer this is, as `/metrics` counts it (a few fixed words, never the
    /// body's own text).
    fn kind(&self) -> &'static str {
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            return "unavailable";
        }
        match self.body.as_str() {
            "true" if self.headers.iter().any(|(n, _)| *n == "x-akismet-pro-tip") => "spam_discard",
            "true" => "spam",
            "false" => "ham",
            "valid" => "valid",
            "invalid" => "invalid",
            "connected" => "connected",
            THANKS => "thanks",
            body if body.starts_with("Missing required field") => "missing_field",
            body if body.starts_with("Invalid field") => "invalid_field",
            _ => "other",
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        response
    }
}

/// Which form field names the key first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyField {
    /// `api_key`, then `key`: what clients send with every call.
    ApiKey,
    /// `key`, then `api_key`: a key check, where `key` is the key being checked.
    Key,
}

/// The key the request presents: its form fields in `first`'s order, else the first label
/// of the `Host`.
fn presented_key<'a>(form: &'a Form, headers: &'a HeaderMap, first: KeyField) -> &'a str {
    let fields = match first {
        KeyField::ApiKey => ["api_key", "key"],
        KeyField::Key => ["key", "api_key"],
    };
    for field in fields {
        if !form.get(field).is_empty() {
            return form.get(field);
        }
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    match host.split_once('.') {
        Some((label, _)) if label.bytes().any(|b| b.is_ascii_alphabetic()) => label,
        _ => "",
    }
}

/// The site whose key the request carries (read with `api_key` first), or the answer
/// refusing it.
fn authenticate<'a>(
    console: &'a Console,
    form: &Form,
    headers: &HeaderMap,
) -> Result<&'a str, Answer> {
    authenticate_by(console, form, headers, KeyField::ApiKey)
}

/// [`authenticate`] with the key read in `first`'s order.
fn authenticate_by<'a>(
    console: &'a Console,
    form: &Form,
    headers: &HeaderMap,
    first: KeyField,
) -> Result<&'a str, Answer> {
    let blog = form.get("blog");
    if blog.is_empty() {
        return Err(Answer::missing("blog"));
    }
    let key = presented_key(form, headers, first);
    if key.is_empty() {
        return Err(Answer::ok("invalid").header("x-akismet-debug-help", "Empty \"api_key\" value"));
    }
    match console.app.akismet_keys.check(key, blog) {
        KeyCheck::Valid(site) => Ok(site),
        KeyCheck::OtherBlog(site) => {
            tracing::info!(site, "akismet: key used for a blog it is not bound to");
            Err(Answer::ok("invalid")
                .header("x-akismet-alert-code", ALERT_OTHER_BLOG)
                .header(
                    "x-akismet-alert-msg",
                    "This key is not configured for this blog.",
                )
                .header(
                    "x-akismet-debug-help",
                    "The key is bound to other blogs in [akismet_keys].",
                ))
        }
        KeyCheck::Unknown => Err(Answer::ok("invalid").header(
            "x-akismet-debug-help",
            "We were unable to verify your API key.",
        )),
    }
}

/// `GET /1.1/test`: the plugin's connectivity check.
pub async fn test() -> Response {
    counted("test", Answer::ok("connected"))
}

/// Counts `answer` for `path` on `/metrics`, then sends it.
fn counted(path: &'static str, answer: Answer) -> Response {
    count(path, answer.kind());
    answer.into_response()
}

/// Counts one answer of `path` on `/metrics`.
fn count(path: &'static str, answer: &'static str) {
    crate::telemetry::metrics().count_akismet(path, answer);
}

/// `POST /1.1/get-subscription`: Akismet's subscription JSON, `active` for a valid key (the
/// plugin saves a key only then), `invalid` otherwise.
pub async fn get_subscription(
    State(console): State<Console>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let status = match authenticate_by(&console, &form, &headers, KeyField::Key) {
        Ok(_) => "active",
        Err(_) => "invalid",
    };
    count("get-subscription", status);
    let subscription = serde_json::json!({
        "account_id": 0,
        "account_name": "commentguard",
        "account_type": "commentguard",
        "status": status,
        "next_billing_date": null,
        "limit": "none",
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        subscription.to_string(),
    )
        .into_response()
}

/// `POST /1.1/verify-key`: `valid` or `invalid`.
pub async fn verify_key(
    State(console): State<Console>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let answer = match authenticate_by(&console, &form, &headers, KeyField::Key) {
        Ok(_) => Answer::ok("valid"),
        Err(refused) => refused,
    };
    counted("verify-key", answer)
}

/// `POST /1.1/comment-check`: `true` (spam) or `false`.
pub async fn comment_check(
    State(console): State<Console>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    counted("comment-check", check(&console, &headers, &body).await)
}

async fn check(console: &Console, headers: &HeaderMap, body: &[u8]) -> Answer {
    let form = Form::parse(body);
    let site = match authenticate(console, &form, headers) {
        Ok(site) => site,
        Err(refused) => return refused,
    };
    if form.get("user_ip").is_empty() {
        return Answer::missing("user_ip");
    }
    CHECKS.fetch_add(1, Ordering::Relaxed);
    if form
        .get("comment_author")
        .eq_ignore_ascii_case("akismet-guaranteed-spam")
        || form
            .get("comment_author_email")
            .eq_ignore_ascii_case("akismet-guaranteed-spam@example.com")
    {
        return Answer::ok("true");
    }
    if form.get("user_role").eq_ignore_ascii_case("administrator") {
        return Answer::ok("false");
    }
    let answer = judge(console, &form).await;
    tracing::info!(
        site,
        answer = answer.body.as_str(),
        "akismet: comment checked"
    );
    answer
}

/// The pipeline's verdict on the form's comment, as Akismet answers it.
async fn judge(console: &Console, form: &Form) -> Answer {
    let post = match form.get("permalink") {
        "" => form.get("blog"),
        permalink => permalink,
    };
    let input = SubmissionInput {
        post_id: post,
        post_title: "",
        parent_id: "",
        author_name: match form.get("comment_author") {
            "" => "Anonymous",
            name => name,
        },
        author_email: match form.get("comment_author_email") {
            "" => NO_EMAIL,
            email => email,
        },
        author_url: form.get("comment_author_url"),
        content: form.get("comment_content"),
        ip: form.get("user_ip"),
        user_agent: form.get("user_agent"),
        referrer: form.get("referrer"),
        honeypot: "",
    };
    match console.app.check(&input, "").await {
        Ok(checked) => {
            let verdict = &checked.verdict;
            let mut answer = Answer::ok(if verdict.status == Status::Spam {
                "true"
            } else {
                "false"
            })
            .header("x-commentguard-status", verdict.status.as_str())
            .header(
                "x-commentguard-toxicity",
                format!("{:.3}", verdict.toxicity),
            );
            if checked.discard {
                answer = answer.header("x-akismet-pro-tip", "discard");
            }
            answer
        }
        Err(Rejection::Invalid(violations)) => {
            let fields: Vec<&str> = violations.iter().map(|v| akismet_field(v.field)).collect();
            let help: Vec<String> = violations
                .iter()
                .map(|v| format!("{}: {}", akismet_field(v.field), v.description))
                .collect();
            Answer::ok(format!("Invalid field: {}.", fields.join(", ")))
                .header("x-akismet-debug-help", help.join("; "))
        }
        // The post takes no more comments: nothing on it can be published.
        Err(Rejection::PostClosed) => Answer::ok("true")
            .header("x-commentguard-status", "CLOSED")
            .header("x-akismet-debug-help", "The post is closed to comments."),
        // The same comment is stored already: answer as it stands now.
        Err(Rejection::Store(StoreError::Duplicate(existing))) => {
            match console.app.store.get(existing).await {
                Ok(stored) => {
                    let (status, toxicity) = stored.map_or((Status::Pending, 0.0), |c| {
                        (c.verdict.status, c.verdict.toxicity)
                    });
                    let spam = matches!(status, Status::Spam | Status::Trash);
                    Answer::ok(if spam { "true" } else { "false" })
                        .header("x-commentguard-status", status.as_str())
                        .header("x-commentguard-toxicity", format!("{toxicity:.3}"))
                }
                Err(e) => Answer::unavailable(&e),
            }
        }
        Err(Rejection::Store(e)) => Answer::unavailable(&e),
        Err(Rejection::Flooded(_)) => Answer::ok("false"),
    }
}

/// The Akismet name of a `SubmitCommentRequest` field.
fn akismet_field(field: &str) -> &str {
    match field {
        "post_id" => "permalink",
        "author_name" => "comment_author",
        "author_email" => "comment_author_email",
        "author_url" => "comment_author_url",
        "content" => "comment_content",
        "context.ip" => "user_ip",
        "context.user_agent" => "user_agent",
        "context.referrer" => "referrer",
        other => other,
    }
}

/// `POST /1.1/submit-spam`.
pub async fn submit_spam(
    State(console): State<Console>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    counted(
        "submit-spam",
        feedback(&console, &headers, &body, Label::Spam).await,
    )
}

/// `POST /1.1/submit-ham`.
pub async fn submit_ham(
    State(console): State<Console>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    counted(
        "submit-ham",
        feedback(&console, &headers, &body, Label::Ham).await,
    )
}

/// Stores the label and teaches the classifier, unless it is a test.
async fn feedback(console: &Console, headers: &HeaderMap, body: &[u8], label: Label) -> Answer {
    let form = Form::parse(body);
    let site = match authenticate(console, &form, headers) {
        Ok(site) => site,
        Err(refused) => return refused,
    };
    let content = form.get("comment_content").replace("\r\n", "\n");
    if form.get("is_test") == "1" || form.get("is_test") == "true" {
        return Answer::ok(THANKS);
    }
    if content.is_empty() {
        return Answer::ok(THANKS).header(
            "x-akismet-debug-help",
            "Empty \"comment_content\": nothing to learn from.",
        );
    }
    let labelled = LabelledText {
        comment_id: feedback_id(form.get("blog"), form.get("comment_author"), &content),
        label,
        content,
        author_name: form.get("comment_author").to_owned(),
        author_url: form.get("comment_author_url").to_owned(),
        decided_ms: crate::comment::now_ms(),
    };
    if let Err(e) = console.app.learn_label(labelled).await {
        return Answer::unavailable(&e);
    }
    tracing::info!(site, spam = label.is_spam(), "akismet: feedback learned");
    Answer::ok(THANKS)
}

/// The id a feedback label is kept under: the same comment reported again (even with the
/// other label) replaces its label instead of counting twice.
fn feedback_id(blog: &str, author: &str, content: &str) -> CommentId {
    let mut digest = Sha256::new();
    for part in ["akismet-feedback", blog, author, content] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    let mut bytes = [0; 16];
    bytes.copy_from_slice(&digest.finalize()[..16]);
    CommentId::from_bytes(*uuid::Builder::from_custom_bytes(bytes).as_uuid().as_bytes())
}

/// `/1.1/usage-limit` (POST) and `/1.2/usage-limit` (GET with a query, as Akismet's 1.2 API
/// and its current clients call it): no limit here. Usage belongs to a key, not a blog, so only
/// the key is checked.
pub async fn usage_limit(
    State(console): State<Console>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut form = Form::parse(&body);
    form.0
        .extend(Form::parse(query.unwrap_or_default().as_bytes()).0);
    let key = presented_key(&form, &headers, KeyField::ApiKey);
    if key.is_empty() || console.app.akismet_keys.check(key, "") == KeyCheck::Unknown {
        let refused = Answer::ok("invalid").header(
            "x-akismet-debug-help",
            "We were unable to find the key you provided in [akismet_keys].",
        );
        return counted("usage-limit", refused);
    }
    count("usage-limit", "usage");
    let usage = serde_json::json!({
        "limit": "none",
        "usage": CHECKS.load(Ordering::Relaxed),
        "percentage": "0.00",
        "throttled": false,
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        usage.to_string(),
    )
        .into_response()
}

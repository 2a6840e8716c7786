//! The Akismet 1.1 REST API on the HTTP listener, so code that already speaks Akismet (the
//! WordPress plugin, client libraries) can use commentguard unchanged: form-encoded POSTs to
//! `/1.1/verify-key`, `/1.1/comment-check`, `/1.1/submit-spam`, `/1.1/submit-ham` and
//! `/1.1/usage-limit`, answered with Akismet's bodies and headers.
//!
//! - The key comes from `api_key`, else `key`, else (old clients) the first label of the
//!   `Host` header (`KEY.rest.akismet.com`). It is checked against `[akismet_keys]` for `blog`.
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
use axum::extract::State;
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

/// The key the request presents: `api_key`, `key`, or the first label of the `Host`.
fn presented_key<'a>(form: &'a Form, headers: &'a HeaderMap) -> &'a str {
    for field in ["api_key", "key"] {
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

/// The site whose key the request carries, or the answer refusing it.
fn authenticate<'a>(
    console: &'a Console,
    form: &Form,
    headers: &HeaderMap,
) -> Result<&'a str, Answer> {
    let blog = form.get("blog");
    if blog.is_empty() {
        return Err(Answer::missing("blog"));
    }
    let key = presented_key(form, headers);
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

/// `POST /1.1/verify-key`: `valid` or `invalid`.
pub async fn verify_key(
    State(console): State<Console>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    match authenticate(&console, &form, &headers) {
        Ok(_) => Answer::ok("valid").into_response(),
        Err(refused) => refused.into_response(),
    }
}

/// `POST /1.1/comment-check`: `true` (spam) or `false`.
pub async fn comment_check(
    State(console): State<Console>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let site = match authenticate(&console, &form, &headers) {
        Ok(site) => site,
        Err(refused) => return refused.into_response(),
    };
    if form.get("user_ip").is_empty() {
        return Answer::missing("user_ip").into_response();
    }
    CHECKS.fetch_add(1, Ordering::Relaxed);
    if form
        .get("comment_author")
        .eq_ignore_ascii_case("akismet-guaranteed-spam")
        || form
            .get("comment_author_email")
            .eq_ignore_ascii_case("akismet-guaranteed-spam@example.com")
    {
        return Answer::ok("true").into_response();
    }
    if form.get("user_role").eq_ignore_ascii_case("administrator") {
        return Answer::ok("false").into_response();
    }
    let answer = judge(&console, &form).await;
    tracing::info!(
        site,
        answer = answer.body.as_str(),
        "akismet: comment checked"
    );
    answer.into_response()
}

/// The pipeline's verdict on the form's comment, as Akismet answers it.
async fn judge(console: &Console, form: &Form) -> Answer {
    let post = match form.get("permalink") {
        "" => form.get("blog"),
        permalink => permalink,
    };
    let input = SubmissionInput {
        post_id: post,
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
    feedback(&console, &headers, &body, Label::Spam).await
}

/// `POST /1.1/submit-ham`.
pub async fn submit_ham(
    State(console): State<Console>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    feedback(&console, &headers, &body, Label::Ham).await
}

/// Stores the label and teaches the classifier, unless it is a test.
async fn feedback(console: &Console, headers: &HeaderMap, body: &[u8], label: Label) -> Response {
    let form = Form::parse(body);
    let site = match authenticate(console, &form, headers) {
        Ok(site) => site,
        Err(refused) => return refused.into_response(),
    };
    let content = form.get("comment_content").replace("\r\n", "\n");
    if form.get("is_test") == "1" || form.get("is_test") == "true" {
        return Answer::ok(THANKS).into_response();
    }
    if content.is_empty() {
        return Answer::ok(THANKS)
            .header(
                "x-akismet-debug-help",
                "Empty \"comment_content\": nothing to learn from.",
            )
            .into_response();
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
        return Answer::unavailable(&e).into_response();
    }
    tracing::info!(site, spam = label.is_spam(), "akismet: feedback learned");
    Answer::ok(THANKS).into_response()
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

/// `POST /1.1/usage-limit`: no limit here.
pub async fn usage_limit(
    State(console): State<Console>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    if let Err(refused) = authenticate(&console, &form, &headers) {
        return refused.into_response();
    }
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

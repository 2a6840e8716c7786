//! What a moderator looks up around one comment: the comment on its own page with its audit
//! entries (`GET /comment/{id}`), its author's other comments by email or by IP with
//! decisions for all of them (`GET /author/{id}?by=email|ip`), blocking that author
//! (`POST /block`, an edit of the site rules), and search (`POST /search`). Authors are named
//! by one of their comments' ids, never by email or IP: those stay out of URLs and logs.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::Console;
use super::error::HttpError;
use super::queue::parents_of;
use super::session::{Form, Session};
use super::views::{self, MAX_QUERY_BYTES, TABS, Viewer, search_form};
use crate::comment::{CommentId, Status, StoredComment};
use crate::moderation::Action;
use crate::pipeline::RulesRejection;
use crate::policy::EditableRules;

/// Newest comments of each status read when looking by IP or searching (no index covers
/// them); the page says so.
pub const SCAN_PER_STATUS: usize = 5000;
/// Most comments an author panel or a search lists.
const LISTED: usize = 100;

fn comment_id(text: &str) -> Result<CommentId, HttpError> {
    CommentId::parse(text.trim()).ok_or_else(|| HttpError::BadRequest("not a comment id".into()))
}

async fn stored(console: &Console, id: CommentId) -> Result<StoredComment, HttpError> {
    console.app.store.get(id).await?.ok_or(HttpError::NotFound)
}

fn page(session: &Session, title: &str, body: Markup) -> Html<String> {
    let viewer = Viewer {
        moderator: &session.moderator,
        csrf: &session.csrf,
    };
    Html(views::layout(title, Some(viewer), body).into_string())
}

/// The newest [`SCAN_PER_STATUS`] comments of every status that `keep` accepts, newest first.
async fn scan(
    console: &Console,
    keep: impl Fn(&StoredComment) -> bool,
) -> Result<Vec<StoredComment>, HttpError> {
    let mut found = Vec::new();
    for status in TABS {
        let page = console
            .app
            .store
            .list_queue(status, None, None, SCAN_PER_STATUS)
            .await?;
        found.extend(page.comments.into_iter().filter(|c| keep(c)));
    }
    found.sort_by_key(|c| std::cmp::Reverse(c.created_at_ms));
    found.truncate(LISTED);
    Ok(found)
}

/// `GET /comment/{id}`: one comment, what it replies to, and every decision on it.
pub async fn comment_page(
    State(console): State<Console>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Html<String>, HttpError> {
    let comment = stored(&console, comment_id(&id)?).await?;
    let parents = parents_of(console.app.store.as_ref(), std::slice::from_ref(&comment)).await?;
    let parent = comment.submission.parent_id.and_then(|p| parents.get(&p));
    let audit = console
        .app
        .store
        .list_audit(Some(comment.id), None, LISTED)
        .await?;
    let body = html! {
        h1 { "Comment by " (comment.submission.author_name) }
        p.links {
            a href={ "/author/" (comment.id) "?by=email" } { "This author's comments" }
            @if comment.submission.context.ip.is_some() {
                " · " a href={ "/author/" (comment.id) "?by=ip" } { "Comments from this IP" }
            }
        }
        section #comments data-status=(comment.verdict.status.as_str()) data-single="1" {
            (views::comment(&comment, &session.csrf, parent))
        }
        h2 { "Decisions" }
        @if audit.entries.is_empty() { p.empty { "No moderator has decided on it." } }
        ul.history {
            @for e in &audit.entries {
                li { time datetime=(views::time(e.at_ms)) { (views::time(e.at_ms)) } " " b { (e.moderator) } " " (e.action.as_str()) ": " (e.from.as_str()) " → " (e.to.as_str()) @if !e.note.is_empty() { " — " (e.note) } }
            }
        }
    };
    Ok(page(&session, "Comment", body))
}

/// The query string of `/author/{id}`.
#[derive(Debug, serde::Deserialize)]
pub struct AuthorQuery {
    /// `email` (default) or `ip`.
    #[serde(default)]
    pub by: Option<String>,
}

/// How an author is told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    Email,
    Ip,
}

/// `GET /author/{id}?by=email|ip`: the comments of the author of comment `id`, counted by
/// status, with decisions for all of them and blocks.
pub async fn author_page(
    State(console): State<Console>,
    session: Session,
    Path(id): Path<String>,
    Query(query): Query<AuthorQuery>,
) -> Result<Html<String>, HttpError> {
    let by = match query.by.as_deref().unwrap_or("email") {
        "email" => By::Email,
        "ip" => By::Ip,
        _ => return Err(HttpError::BadRequest("by must be email or ip".into())),
    };
    let comment = stored(&console, comment_id(&id)?).await?;
    let comments = match (by, comment.submission.context.ip) {
        (By::Email, _) => {
            console
                .app
                .store
                .list_by_author(comment.email_hash, LISTED)
                .await?
        }
        (By::Ip, Some(ip)) => scan(&console, |c| c.submission.context.ip == Some(ip)).await?,
        (By::Ip, None) => vec![comment.clone()],
    };
    let rules = console.app.pipeline.rules();
    let panel = AuthorPanel {
        by,
        comment: &comment,
        comments: &comments,
        rules: &rules.editable,
        version: &rules.version,
        csrf: &session.csrf,
    };
    Ok(page(&session, "Author", panel.render()))
}

/// What the author panel shows.
struct AuthorPanel<'a> {
    by: By,
    /// The comment the panel was opened from.
    comment: &'a StoredComment,
    comments: &'a [StoredComment],
    rules: &'a EditableRules,
    /// The rules' version the block buttons were shown at.
    version: &'a str,
    csrf: &'a str,
}

impl AuthorPanel<'_> {
    fn render(&self) -> Markup {
        let s = &self.comment.submission;
        let first_seen = self.comments.iter().map(|c| c.created_at_ms).min();
        html! {
            h1 { (s.author_name) }
            p.identity {
                @match self.by {
                    By::Email => { "Comments with the email " b.email { (s.author_email) } },
                    By::Ip => { "Comments from the IP " b.ip { (s.context.ip.map(|ip| ip.to_string()).unwrap_or_default()) }
                        " (among the newest " (SCAN_PER_STATUS) " of each status)" },
                }
                @if let Some(first) = first_seen { ", first seen " time datetime=(views::time(first)) { (views::time(first)) } }
            }
            ul.counts {
                @for status in TABS {
                    li data-status=(status.as_str()) { (status.as_str().to_lowercase()) " " b { (self.count(status)) } }
                }
            }
            (self.bulk(Action::Approve, "Approve all pending and spam"))
            (self.bulk(Action::MarkSpam, "Mark all spam"))
            (self.blocks())
            h2 { "Comments" }
            ul.author-comments {
                @for c in self.comments {
                    li data-comment-id=(c.id) {
                        a href={ "/comment/" (c.id) } { (c.verdict.status.as_str().to_lowercase()) }
                        " " time datetime=(views::time(c.created_at_ms)) { (views::time(c.created_at_ms)) }
                        " on " (c.submission.post_id) ": " (views::excerpt(&c.submission.content))
                    }
                }
            }
        }
    }

    fn count(&self, status: Status) -> usize {
        self.comments
            .iter()
            .filter(|c| c.verdict.status == status)
            .count()
    }

    /// A form deciding `action` on every listed comment it applies to.
    fn bulk(&self, action: Action, label: &str) -> Markup {
        let ids: Vec<CommentId> = self
            .comments
            .iter()
            .filter(|c| action.target(c.verdict.status, None).is_some())
            .map(|c| c.id)
            .collect();
        html! {
            form.bulk.author-actions method="post" action="/bulk" {
                input type="hidden" name="csrf" value=(self.csrf);
                input type="hidden" name="back" value="PENDING";
                @for id in &ids { input type="hidden" name="comment_id" value=(id); }
                button type="submit" name="action" value=(views::action_name(action)) data-bulk-action=(views::action_name(action)) disabled[ids.is_empty()] {
                    (label) " (" (ids.len()) ")"
                }
            }
        }
    }

    /// Block (or unblock) buttons for what identifies this author.
    fn blocks(&self) -> Markup {
        html! {
            section.blocks {
                h2 { "Block" }
                p { "A block is a site rule: later comments are marked spam. It can be lifted here." }
                @for kind in BlockKind::ALL {
                    @if let Some(value) = kind.value(self.comment) {
                        form.block method="post" action="/block" {
                            input type="hidden" name="csrf" value=(self.csrf);
                            input type="hidden" name="comment_id" value=(self.comment.id);
                            input type="hidden" name="kind" value=(kind.name());
                            input type="hidden" name="expected_version" value=(self.version);
                            @if kind.is_blocked(self.rules, &value) {
                                input type="hidden" name="lift" value="1";
                                button type="submit" data-block=(kind.name()) { "Unblock " (kind.label()) " " bdi { (value) } }
                            } @else {
                                button type="submit" data-block=(kind.name()) { "Block " (kind.label()) " " bdi { (value) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What a block names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Email,
    Ip,
    /// The IP's network: a /24 for IPv4, a /48 for IPv6.
    Network,
    /// The host of the author's website, blocked wherever it appears.
    Domain,
}

impl BlockKind {
    const ALL: [BlockKind; 4] = [Self::Email, Self::Ip, Self::Network, Self::Domain];

    fn name(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Ip => "ip",
            Self::Network => "network",
            Self::Domain => "domain",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Ip => "IP",
            Self::Network => "network",
            Self::Domain => "website",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// What this kind of block would name for `comment`'s author, if anything.
    fn value(self, comment: &StoredComment) -> Option<String> {
        let s = &comment.submission;
        match self {
            Self::Email => (!s.author_email.is_empty() && s.author_email.contains('@'))
                .then(|| s.author_email.to_lowercase()),
            Self::Ip => s.context.ip.map(|ip| ip.to_string()),
            Self::Network => s.context.ip.map(network),
            Self::Domain => s
                .author_url
                .as_deref()
                .and_then(|u| url::Url::parse(u).ok())
                .and_then(|u| {
                    u.host_str()
                        .map(|h| h.trim_start_matches("www.").to_owned())
                }),
        }
    }

    /// The rules list a block of this kind is kept in: banned emails, banned IPs (an address
    /// or a range), or disallowed fragments (a domain, wherever it appears).
    fn list(self, rules: &mut EditableRules) -> &mut Vec<String> {
        match self {
            Self::Email => &mut rules.lists.banned_emails,
            Self::Ip | Self::Network => &mut rules.lists.banned_ips,
            Self::Domain => &mut rules.lists.disallowed_keys,
        }
    }

    fn is_blocked(self, rules: &EditableRules, value: &str) -> bool {
        let list = match self {
            Self::Email => &rules.lists.banned_emails,
            Self::Ip | Self::Network => &rules.lists.banned_ips,
            Self::Domain => &rules.lists.disallowed_keys,
        };
        list.iter().any(|v| v.eq_ignore_ascii_case(value))
    }
}

/// The network an address belongs to, as a CIDR range.
fn network(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// `POST /block`: `csrf`, `comment_id`, `kind` (`email`, `ip`, `network`, `domain`),
/// `expected_version` (the rules' version the button was shown at), `lift=1` to unblock. The
/// value comes from the comment, so no email or IP travels in the request.
pub async fn block(State(console): State<Console>, session: Session, body: Bytes) -> Response {
    let form = Form::parse(&body);
    match block_change(&console, &session, &form).await {
        Ok(id) => Redirect::to(&format!("/author/{id}?by=email")).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn block_change(
    console: &Console,
    session: &Session,
    form: &Form,
) -> Result<CommentId, HttpError> {
    session.check_csrf(form)?;
    let id = comment_id(form.first("comment_id").unwrap_or(""))?;
    let kind = BlockKind::parse(form.first("kind").unwrap_or(""))
        .ok_or_else(|| HttpError::BadRequest("kind must be email, ip, network or domain".into()))?;
    let expected = form.first("expected_version").unwrap_or("").trim();
    if expected.is_empty() {
        return Err(HttpError::BadRequest("expected_version is required".into()));
    }
    let comment = stored(console, id).await?;
    let value = kind.value(&comment).ok_or_else(|| {
        HttpError::BadRequest(format!("the comment has no {} to block", kind.label()))
    })?;
    let mut rules = console.app.pipeline.rules().editable.clone();
    let list = kind.list(&mut rules);
    if form.first("lift") == Some("1") {
        list.retain(|v| !v.eq_ignore_ascii_case(&value));
    } else if !list.iter().any(|v| v.eq_ignore_ascii_case(&value)) {
        list.push(value);
    }
    console
        .app
        .pipeline
        .update_rules(rules, Some(expected), &session.moderator)
        .await
        .map_err(|e| match e {
            RulesRejection::Stale { .. } => HttpError::Conflict(
                "the rules changed since this page was shown; reload it and try again".into(),
            ),
            RulesRejection::Invalid(violations) => HttpError::BadRequest(
                violations
                    .iter()
                    .map(|v| v.description.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            RulesRejection::Store(e) => HttpError::from(e),
        })?;
    tracing::info!(
        moderator = session.moderator.as_str(),
        kind = kind.name(),
        "author block changed from the console"
    );
    Ok(id)
}

/// `POST /search`: `csrf`, `q`. Comments whose text, author name, email or IP contains `q`
/// (case-insensitive), among the newest of each status. Sent as a form so the words never
/// appear in a URL, and never logged.
pub async fn search(
    State(console): State<Console>,
    session: Session,
    body: Bytes,
) -> Result<Html<String>, HttpError> {
    let form = Form::parse(&body);
    session.check_csrf(&form)?;
    let q = form.first("q").unwrap_or("").trim().to_owned();
    if q.is_empty() || q.len() > MAX_QUERY_BYTES {
        return Err(HttpError::BadRequest(format!(
            "search for 1 to {MAX_QUERY_BYTES} bytes"
        )));
    }
    let needle = q.to_lowercase();
    let found = scan(&console, |c| matches(c, &needle)).await?;
    let parents = parents_of(console.app.store.as_ref(), &found).await?;
    let body = html! {
        h1 { "Search" }
        (search_form(&session.csrf, &q))
        p.found { (found.len()) " found" @if found.len() == LISTED { " (the newest " (LISTED) ")" } " among the newest " (SCAN_PER_STATUS) " comments of each status." }
        section #comments data-status="" data-search="1" {
            @for c in &found { (views::comment(c, &session.csrf, c.submission.parent_id.and_then(|p| parents.get(&p)))) }
        }
    };
    Ok(page(&session, "Search", body))
}

/// Whether the comment's text, name, email or IP contains `needle` (lower case).
fn matches(comment: &StoredComment, needle: &str) -> bool {
    let s = &comment.submission;
    s.content.to_lowercase().contains(needle)
        || s.author_name.to_lowercase().contains(needle)
        || s.author_email.to_lowercase().contains(needle)
        || s.context
            .ip
            .is_some_and(|ip| ip.to_string().contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_the_usual_allocation_sizes() {
        assert_eq!(network("192.0.2.77".parse().unwrap()), "192.0.2.0/24");
        assert_eq!(
            network("2001:db8:85a3:8d3:1319:8a2e:370:7348".parse().unwrap()),
            "2001:db8:85a3::/48"
        );
    }
}

//! `GET /audit`: the audit log, newest first, filtered by moderator, comment and action.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Html;
use maud::{Markup, html};

use super::Console;
use super::error::HttpError;
use super::session::Session;
use super::views::{self, Viewer, parse_action, urlencode};
use crate::comment::CommentId;
use crate::moderation::{Action, AuditEntry};
use crate::store::{AuditCursor, AuditPage};

/// Audit entries read per page (filters by moderator and action apply within it).
const AUDIT_PAGE: usize = 100;

/// The query string of `/audit`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct AuditQuery {
    /// Only this moderator's decisions.
    #[serde(default)]
    pub moderator: Option<String>,
    /// Only decisions on this comment.
    #[serde(default)]
    pub comment: Option<String>,
    /// Only this action (`approve`, `spam`, …).
    #[serde(default)]
    pub action: Option<String>,
    /// Continue from this page token.
    #[serde(default)]
    pub before: Option<String>,
}

fn nonempty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// The filters of one request, checked.
struct Filters<'a> {
    moderator: Option<&'a str>,
    comment: Option<CommentId>,
    action: Option<Action>,
    before: Option<AuditCursor>,
}

impl<'a> Filters<'a> {
    fn parse(query: &'a AuditQuery) -> Result<Self, HttpError> {
        let bad = |m: &str| HttpError::BadRequest(m.to_owned());
        let comment = nonempty(query.comment.as_deref())
            .map(|c| CommentId::parse(c).ok_or_else(|| bad("comment is not a comment id")))
            .transpose()?;
        let action = nonempty(query.action.as_deref())
            .map(|a| parse_action(a).ok_or_else(|| bad("action is not an action")))
            .transpose()?;
        let before = nonempty(query.before.as_deref())
            .map(|b| AuditCursor::from_token(b).ok_or_else(|| bad("before is not a page token")))
            .transpose()?;
        Ok(Self {
            moderator: nonempty(query.moderator.as_deref()),
            comment,
            action,
            before,
        })
    }

    fn keeps(&self, entry: &AuditEntry) -> bool {
        self.moderator.is_none_or(|m| entry.moderator == m)
            && self.action.is_none_or(|a| entry.action == a)
    }

    /// The filters as query parameters, for the next page's link.
    fn query(&self) -> String {
        format!(
            "&moderator={}&comment={}&action={}",
            urlencode(self.moderator.unwrap_or("")),
            self.comment.map(|c| c.to_string()).unwrap_or_default(),
            self.action.map(views::action_name).unwrap_or("")
        )
    }

    fn form(&self) -> Markup {
        html! {
            form.filter method="get" action="/audit" {
                label { "Moderator " input type="text" name="moderator" value=(self.moderator.unwrap_or("")); }
                label { "Comment " input type="text" name="comment" value=(self.comment.map(|c| c.to_string()).unwrap_or_default()); }
                label { "Action " select name="action" {
                    option value="" { "any" }
                    @for a in Action::ALL {
                        option value=(views::action_name(a)) selected[self.action == Some(a)] { (views::action_name(a)) }
                    }
                } }
                button type="submit" { "Filter" }
            }
        }
    }
}

/// `GET /audit?moderator=…&comment=…&action=…&before=…`.
pub async fn audit_page(
    State(console): State<Console>,
    session: Session,
    Query(query): Query<AuditQuery>,
) -> Result<Html<String>, HttpError> {
    let filters = Filters::parse(&query)?;
    let AuditPage { entries, next } = console
        .app
        .store
        .list_audit(filters.comment, filters.before, AUDIT_PAGE)
        .await?;
    let shown: Vec<&AuditEntry> = entries.iter().filter(|e| filters.keeps(e)).collect();
    let mut comments = HashMap::new();
    for entry in &shown {
        if !comments.contains_key(&entry.comment_id)
            && let Some(comment) = console.app.store.get(entry.comment_id).await?
        {
            comments.insert(entry.comment_id, comment);
        }
    }
    let body = html! {
        h1 { "Audit log" }
        (filters.form())
        table.audit {
            thead { tr { th { "When" } th { "Moderator" } th { "Action" } th { "Comment" } th { "From" } th { "To" } th { "Note" } } }
            tbody {
                @for e in shown {
                    tr data-comment-id=(e.comment_id) {
                        td data-label="When" { (views::time(e.at_ms)) }
                        td data-label="Moderator" { (e.moderator) }
                        td data-label="Action" { (e.action.as_str()) }
                        td data-label="Comment" {
                            @match comments.get(&e.comment_id) {
                                Some(c) => {
                                    a href={ "/comment/" (e.comment_id) } { b { (c.submission.author_name) } }
                                    ": " (views::excerpt(&c.submission.content))
                                },
                                None => { "erased " code { (e.comment_id) } },
                            }
                        }
                        td data-label="From" { (e.from.as_str()) }
                        td data-label="To" { (e.to.as_str()) }
                        td data-label="Note" { (e.note) }
                    }
                }
            }
        }
        @if let Some(next) = next {
            a.older href={ "/audit?before=" (next.to_token()) (filters.query()) } { "Older →" }
        }
    };
    let viewer = Viewer {
        moderator: &session.moderator,
        csrf: &session.csrf,
    };
    Ok(Html(
        views::layout("Audit log", Some(viewer), body).into_string(),
    ))
}

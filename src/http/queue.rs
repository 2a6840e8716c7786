//! `GET /queue`: the moderation queue by status, filtered by post or by campaign, in pages.

use axum::extract::{Query, State};
use axum::response::Html;
use maud::{Markup, html};

use super::Console;
use super::error::HttpError;
use super::session::Session;
use super::views::{self, TABS, Viewer, urlencode};
use crate::comment::{CommentId, Status, StoredComment};
use crate::near_duplicate::{self, Signature};
use crate::policy::trackers::{MIN_SIMILARITY, SHINGLE};

/// Comments per page.
pub const PAGE_SIZE: usize = 25;
/// Newest comments of a status searched for a campaign's copies.
const CAMPAIGN_SCAN: usize = 5000;

/// The query string of `/queue`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct QueueQuery {
    /// `PENDING` (default), `SPAM`, `TRASH` or `APPROVED`.
    #[serde(default)]
    pub status: Option<String>,
    /// Only this post's comments.
    #[serde(default)]
    pub post: Option<String>,
    /// Only comments older than this id (the next page).
    #[serde(default)]
    pub before: Option<String>,
    /// Only this campaign's copies (a hex fingerprint).
    #[serde(default)]
    pub campaign: Option<String>,
    /// `1`: only comments with a toxicity of 0.5 or more, most toxic first.
    #[serde(default)]
    pub toxic: Option<String>,
}

/// The toxicity from which the queue's "toxic" filter lists a comment: where verdicts start
/// listing toxic spans.
const TOXIC_FILTER_FROM: f32 = 0.5;

/// The comments of `scanned` with a toxicity of [`TOXIC_FILTER_FROM`] or more, most toxic first.
fn most_toxic(mut scanned: Vec<StoredComment>) -> Vec<StoredComment> {
    scanned.retain(|c| c.verdict.toxicity >= TOXIC_FILTER_FROM);
    scanned.sort_by(|a, b| b.verdict.toxicity.total_cmp(&a.verdict.toxicity));
    scanned
}

/// The status a query names; PENDING when absent.
///
/// # Errors
/// When it names no status.
pub fn status_param(status: Option<&str>) -> Result<Status, HttpError> {
    match status.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(Status::Pending),
        Some(name) => Status::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                HttpError::BadRequest("status must be PENDING, SPAM, TRASH or APPROVED".into())
            }),
    }
}

/// The campaign id a link names (16 hex digits), in lowercase as reasons give it.
fn campaign_param(text: &str) -> Result<String, HttpError> {
    let text = text.trim();
    (text.len() == 16 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| text.to_ascii_lowercase())
        .ok_or_else(|| HttpError::BadRequest("campaign is not a campaign link".into()))
}

/// The comments of `scanned` in campaign `id`: those held naming it, and every near-copy of
/// them (the copies seen before the campaign had enough authors carry no campaign reason),
/// compared as campaign detection compares texts.
fn campaign_copies(scanned: Vec<StoredComment>, id: &str) -> Vec<StoredComment> {
    let signature_of = |c: &StoredComment| {
        let (text, _) = crate::policy::trackers::matching_text(&c.submission.content);
        near_duplicate::signature(&text, SHINGLE)
    };
    let named: Vec<Signature> = scanned
        .iter()
        .filter(|c| views::campaign_of(c).as_deref() == Some(id))
        .map(signature_of)
        .collect();
    scanned
        .into_iter()
        .filter(|c| {
            let sig = signature_of(c);
            hex::encode(near_duplicate::digest(&sig).to_be_bytes()) == id
                || named
                    .iter()
                    .any(|n| near_duplicate::similarity(n, &sig) >= MIN_SIMILARITY)
        })
        .collect()
}

/// `GET /queue?status=…&post=…&before=…&campaign=…`.
pub async fn queue_page(
    State(console): State<Console>,
    session: Session,
    Query(query): Query<QueueQuery>,
) -> Result<Html<String>, HttpError> {
    let status = status_param(query.status.as_deref())?;
    let post = query
        .post
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let before = match query
        .before
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
    {
        Some(text) => Some(
            CommentId::parse(text)
                .ok_or_else(|| HttpError::BadRequest("before is not a comment id".into()))?,
        ),
        None => None,
    };
    let store = &console.app.store;
    let toxic = query.toxic.as_deref() == Some("1");
    let (comments, more, campaign) = match query.campaign.as_deref().filter(|c| !c.is_empty()) {
        Some(text) => {
            let wanted = campaign_param(text)?;
            let scanned = store.list_queue(status, post, None, CAMPAIGN_SCAN).await?;
            let copies = campaign_copies(scanned.comments, &wanted);
            (copies, false, Some(wanted))
        }
        None if toxic => {
            let scanned = store.list_queue(status, post, None, CAMPAIGN_SCAN).await?;
            (most_toxic(scanned.comments), false, None)
        }
        None => {
            let page = store.list_queue(status, post, before, PAGE_SIZE).await?;
            (page.comments, page.more, None)
        }
    };
    let viewer = Viewer {
        moderator: &session.moderator,
        csrf: &session.csrf,
    };
    let view = QueueView {
        status,
        post,
        toxic,
        campaign: campaign.as_deref(),
        comments: &comments,
        more,
    };
    Ok(Html(
        views::layout("Queue", Some(viewer), view.render(&session.csrf)).into_string(),
    ))
}

/// What the queue page shows.
struct QueueView<'a> {
    status: Status,
    post: Option<&'a str>,
    /// Only toxic comments, most toxic first.
    toxic: bool,
    campaign: Option<&'a str>,
    comments: &'a [StoredComment],
    more: bool,
}

impl QueueView<'_> {
    fn render(&self, csrf: &str) -> Markup {
        let post_query = self
            .post
            .map(|p| format!("&post={}", urlencode(p)))
            .unwrap_or_default();
        html! {
            nav.tabs {
                @for tab in TABS {
                    a href={ "/queue?status=" (tab.as_str()) (post_query) }
                      class=@if tab == self.status { "tab current" } @else { "tab" }
                      data-status=(tab.as_str()) { (tab.as_str()) }
                }
            }
            form.filter method="get" action="/queue" {
                input type="hidden" name="status" value=(self.status.as_str());
                label { "Post " input type="text" name="post" value=(self.post.unwrap_or("")); }
                label { input type="checkbox" name="toxic" value="1" checked[self.toxic]; " Toxic only, most toxic first" }
                button type="submit" { "Filter" }
                @if self.post.is_some() { a href={ "/queue?status=" (self.status.as_str()) } { "All posts" } }
            }
            @if let Some(campaign) = self.campaign {
                (self.campaign_bar(campaign, csrf))
            }
            (self.bulk_bar(csrf))
            p.live-note hidden { "The queue changed; " a href="" { "reload" } " to see everything." }
            section #comments data-status=(self.status.as_str()) data-post=(self.post.unwrap_or("")) {
                @if self.comments.is_empty() { p.empty { "Nothing here." } }
                @for c in self.comments { (views::comment(c, csrf)) }
            }
            @if let (true, Some(last)) = (self.more, self.comments.last()) {
                a.older href={ "/queue?status=" (self.status.as_str()) (post_query) "&before=" (last.id) } { "Older →" }
            }
        }
    }

    fn bulk_bar(&self, csrf: &str) -> Markup {
        html! {
            form.bulk #bulk method="post" action="/bulk" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="back" value=(self.status.as_str());
                label { input #select-all type="checkbox"; " Select all" }
                select name="action" aria-label="Bulk action" {
                    option value="approve" { "Approve" }
                    option value="spam" { "Mark spam" }
                    option value="trash" { "Trash" }
                    option value="hold" { "Hold" }
                    option value="restore" { "Restore" }
                }
                button type="submit" data-bulk="selected" { "Apply to selected" }
            }
        }
    }

    fn campaign_bar(&self, campaign: &str, csrf: &str) -> Markup {
        html! {
            form.bulk.campaign-actions method="post" action="/bulk" data-campaign=(campaign) {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="back" value=(self.status.as_str());
                @for c in self.comments { input type="hidden" name="comment_id" value=(c.id); }
                span { "Campaign " code { (campaign) } ": " (self.comments.len()) " comments" }
                button type="submit" name="action" value="spam" data-bulk-action="spam" { "Mark all spam" }
                button type="submit" name="action" value="trash" data-bulk-action="trash" { "Trash all" }
                button type="submit" name="action" value="approve" data-bulk-action="approve" { "Approve all" }
            }
        }
    }
}

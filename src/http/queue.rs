//! `GET /queue`: the moderation queue by status, filtered by post or by campaign, in pages.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Html;
use maud::{Markup, html};

use super::Console;
use super::error::HttpError;
use super::session::Session;
use super::views::{self, TABS, Viewer, urlencode};
use crate::comment::{CommentId, Status, StoredComment};
use crate::moderation::Action;
use crate::near_duplicate::{self, Signature};
use crate::policy::trackers::{MIN_SIMILARITY, SHINGLE};
use crate::store::{Storage, StoreError};

/// Comments per page unless the moderator chooses another of [`PAGE_SIZES`].
pub const PAGE_SIZE: usize = 25;
/// The page sizes a moderator may choose.
const PAGE_SIZES: [usize; 3] = [25, 50, 100];

/// A tab's name.
fn tab_name(status: Status) -> &'static str {
    match status {
        Status::Pending => "Pending",
        Status::Spam => "Spam",
        Status::Trash => "Trash",
        Status::Approved => "Approved",
    }
}

/// A bulk action's name in the menu.
fn bulk_label(action: Action) -> &'static str {
    match action {
        Action::Approve => "Approve",
        Action::Hold => "Back to pending",
        Action::MarkSpam => "Mark spam",
        Action::Trash => "Trash",
        Action::Restore => "Restore",
    }
}

/// The keys the queue answers, shown by `?`.
fn help_dialog() -> Markup {
    html! {
        dialog #help aria-labelledby="help-title" {
            h2 #help-title { "Keyboard" }
            dl {
                dt { kbd { "j" } " / " kbd { "k" } } dd { "next / previous comment" }
                dt { kbd { "a" } } dd { "approve the selected comment" }
                dt { kbd { "s" } } dd { "mark it spam" }
                dt { kbd { "t" } } dd { "trash it" }
                dt { kbd { "z" } } dd { "undo the last decision" }
                dt { kbd { "?" } } dd { "this help" }
            }
            form method="dialog" { button type="submit" { "Close" } }
        }
    }
}
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
    /// Comments per page: 25 (default), 50 or 100.
    #[serde(default)]
    pub per_page: Option<String>,
    /// `oldest` lists the oldest first (paged with `after`); newest first otherwise.
    #[serde(default)]
    pub order: Option<String>,
    /// With `order=oldest`: only comments newer than this id (the next page).
    #[serde(default)]
    pub after: Option<String>,
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

/// The comment id a query parameter names, if it names one.
fn id_param(value: Option<&str>, name: &str) -> Result<Option<CommentId>, HttpError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(text) => CommentId::parse(text)
            .map(Some)
            .ok_or_else(|| HttpError::BadRequest(format!("{name} is not a comment id"))),
    }
}

/// The store's counts in tab order.
fn tab_counts(counts: [(Status, u64); 4]) -> [(Status, u64); 4] {
    TABS.map(|tab| {
        let count = counts
            .iter()
            .find(|(s, _)| *s == tab)
            .map_or(0, |(_, n)| *n);
        (tab, count)
    })
}

/// The stored comments that `comments` reply to, by id (an erased parent is absent).
///
/// # Errors
/// The store failed.
pub async fn parents_of(
    store: &dyn Storage,
    comments: &[StoredComment],
) -> Result<HashMap<CommentId, StoredComment>, StoreError> {
    let mut parents = HashMap::new();
    let mut wanted: Vec<CommentId> = comments
        .iter()
        .filter_map(|c| c.submission.parent_id)
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    for id in wanted {
        if let Some(parent) = store.get(id).await? {
            parents.insert(id, parent);
        }
    }
    Ok(parents)
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
    let before = id_param(query.before.as_deref(), "before")?;
    let page_size = match query.per_page.as_deref().map(str::trim) {
        None | Some("") => PAGE_SIZE,
        Some(text) => text
            .parse()
            .ok()
            .filter(|n| PAGE_SIZES.contains(n))
            .ok_or_else(|| HttpError::BadRequest("per_page must be 25, 50 or 100".into()))?,
    };
    let oldest = match query.order.as_deref().map(str::trim) {
        None | Some("" | "newest") => false,
        Some("oldest") => true,
        Some(_) => {
            return Err(HttpError::BadRequest(
                "order must be newest or oldest".into(),
            ));
        }
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
        None if oldest => {
            let after = id_param(query.after.as_deref(), "after")?;
            let page = store
                .list_queue_oldest(status, post, after, page_size)
                .await?;
            (page.comments, page.more, None)
        }
        None => {
            let page = store.list_queue(status, post, before, page_size).await?;
            (page.comments, page.more, None)
        }
    };
    let parents = parents_of(store.as_ref(), &comments).await?;
    let viewer = Viewer {
        moderator: &session.moderator,
        csrf: &session.csrf,
    };
    let view = QueueView {
        status,
        post,
        toxic,
        oldest,
        campaign: campaign.as_deref(),
        comments: &comments,
        counts: tab_counts(store.status_counts().await?),
        page_size,
        parents: &parents,
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
    /// Oldest first.
    oldest: bool,
    campaign: Option<&'a str>,
    comments: &'a [StoredComment],
    /// Each tab's status and how many comments it holds.
    counts: [(Status, u64); 4],
    page_size: usize,
    /// The comments these reply to, by id.
    parents: &'a HashMap<CommentId, StoredComment>,
    more: bool,
}

impl QueueView<'_> {
    fn render(&self, csrf: &str) -> Markup {
        let post_query = self
            .post
            .map(|p| format!("&post={}", urlencode(p)))
            .unwrap_or_default();
        let size_query = if self.page_size == PAGE_SIZE {
            String::new()
        } else {
            format!("&per_page={}", self.page_size)
        };
        html! {
            h1.sr-only { "Moderation queue: " (tab_name(self.status).to_lowercase()) }
            nav.tabs aria-label="Queue by status" {
                @for (tab, count) in self.counts {
                    a href={ "/queue?status=" (tab.as_str()) (post_query) }
                      class=@if tab == self.status { "tab current" } @else { "tab" }
                      aria-current=[(tab == self.status).then_some("page")]
                      data-status=(tab.as_str()) {
                        (tab_name(tab)) " " span.count data-count=(count) { (count) }
                    }
                }
            }
            details.tools open[self.post.is_some() || self.toxic || self.oldest || self.page_size != PAGE_SIZE] {
            summary { "Search and filter" }
            (views::search_form(csrf, ""))
            form.filter method="get" action="/queue" {
                input type="hidden" name="status" value=(self.status.as_str());
                label { "Post " input type="text" name="post" value=(self.post.unwrap_or("")); }
                label { input type="checkbox" name="toxic" value="1" checked[self.toxic]; " Toxic only, most toxic first" }
                label { "Order "
                    select name="order" {
                        option value="newest" selected[!self.oldest] { "newest first" }
                        option value="oldest" selected[self.oldest] { "oldest first" }
                    }
                }
                label { "Per page "
                    select name="per_page" {
                        @for size in PAGE_SIZES { option value=(size) selected[size == self.page_size] { (size) } }
                    }
                }
                button type="submit" { "Filter" }
                @if self.post.is_some() { a href={ "/queue?status=" (self.status.as_str()) } { "All posts" } }
            }
            }
            @if let Some(campaign) = self.campaign {
                (self.campaign_bar(campaign, csrf))
            }
            (self.bulk_bar(csrf))
            p.live-note hidden { "The queue changed; " a href="" { "reload" } " to see everything." }
            p.new-bar hidden role="status" { span.new-count { "0" } " new — " button.show-new type="button" { "show" } }
            section #comments data-status=(self.status.as_str()) data-post=(self.post.unwrap_or("")) data-order=(if self.oldest { "oldest" } else { "newest" }) {
                @if self.comments.is_empty() { p.empty { (self.empty_message()) } }
                @for c in self.comments { (views::comment(c, csrf, c.submission.parent_id.and_then(|p| self.parents.get(&p)))) }
            }
            @if let (true, Some(last)) = (self.more, self.comments.last()) {
                @if self.oldest {
                    a.older href={ "/queue?status=" (self.status.as_str()) (post_query) (size_query) "&order=oldest&after=" (last.id) } { "Newer →" }
                } @else {
                    a.older href={ "/queue?status=" (self.status.as_str()) (post_query) (size_query) "&before=" (last.id) } { "Older →" }
                }
            }
            (help_dialog())
        }
    }

    /// What an empty page says: nothing at all, or only nothing on this page.
    fn empty_message(&self) -> String {
        let total = self
            .counts
            .iter()
            .find(|(s, _)| *s == self.status)
            .map_or(0, |(_, n)| *n);
        if total == 0 || self.post.is_some() || self.campaign.is_some() || self.toxic {
            "Nothing here.".to_owned()
        } else {
            format!(
                "Nothing on this page; {total} in {} in all.",
                tab_name(self.status).to_lowercase()
            )
        }
    }

    fn bulk_bar(&self, csrf: &str) -> Markup {
        let allowed: Vec<Action> = Action::ALL
            .into_iter()
            .filter(|a| a.target(self.status, None).is_some())
            .collect();
        html! {
            form.bulk #bulk method="post" action="/bulk" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="back" value=(self.status.as_str());
                label { input #select-all type="checkbox"; " Select all" }
                select name="action" aria-label="Bulk action" required {
                    option value="" selected { "Bulk action…" }
                    @for a in allowed { option value=(views::action_name(a)) { (bulk_label(a)) } }
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

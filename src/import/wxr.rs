//! WordPress eXtended RSS: `rss/channel/item` posts, each with its `wp:comment`s.

use super::xml::{Closed, XmlError, walk};
use super::{Draft, Parsed, Skipped, dates, post_id, resolve};
use crate::comment::Status;

/// The post being read and its comments so far.
#[derive(Default)]
struct Item {
    link: String,
    post_id: String,
    comments: Vec<(Draft, CommentFacts)>,
}

/// What decides whether and how a comment is imported, kept until it closes.
#[derive(Default)]
struct CommentFacts {
    id: String,
    approved: String,
    kind: String,
    parent: String,
    date_gmt: String,
    date_local: String,
}

#[derive(Default)]
struct State {
    site: String,
    item: Item,
    comment: Draft,
    facts: CommentFacts,
    drafts: Vec<Draft>,
    skipped: Vec<Skipped>,
}

pub(super) fn parse(input: &str) -> Result<Parsed, XmlError> {
    let mut state = State::default();
    walk(input, |closed| state.close(&closed))?;
    Ok(resolve(state.drafts, state.skipped))
}

impl State {
    fn close(&mut self, closed: &Closed<'_>) {
        let text = &closed.text;
        match (closed.parent(), closed.name()) {
            ("channel", "base_site_url") => self.site = text.trim().to_owned(),
            ("channel", "link") if self.site.is_empty() => self.site = text.trim().to_owned(),
            ("item", "link") => self.item.link = text.trim().to_owned(),
            ("item", "post_id") => self.item.post_id = text.trim().to_owned(),
            ("item", "comment") => {
                let draft = std::mem::take(&mut self.comment);
                let facts = std::mem::take(&mut self.facts);
                self.item.comments.push((draft, facts));
            }
            ("channel", "item") => self.finish_item(),
            ("comment", field) if closed.within("item") => self.comment_field(field, text),
            _ => {}
        }
    }

    fn comment_field(&mut self, field: &str, text: &str) {
        let (c, f) = (&mut self.comment, &mut self.facts);
        match field.to_ascii_lowercase().as_str() {
            "comment_id" => f.id = text.trim().to_owned(),
            "comment_author" => c.author_name = text.to_owned(),
            "comment_author_email" => c.author_email = text.to_owned(),
            "comment_author_url" => c.author_url = text.to_owned(),
            "comment_author_ip" => c.ip = text.to_owned(),
            "comment_content" => c.content = text.to_owned(),
            "comment_approved" => f.approved = text.trim().to_owned(),
            "comment_type" => f.kind = text.trim().to_owned(),
            "comment_parent" => f.parent = text.trim().to_owned(),
            "comment_date_gmt" => f.date_gmt = text.trim().to_owned(),
            "comment_date" => f.date_local = text.trim().to_owned(),
            _ => {}
        }
    }

    fn finish_item(&mut self) {
        let item = std::mem::take(&mut self.item);
        let post = post_id(&item.link, format!("wp-post-{}", item.post_id));
        for (mut draft, facts) in item.comments {
            let source_id = format!("wxr:{}:{}", self.site, facts.id);
            match decide(&facts) {
                Ok((status, created_at_ms)) => {
                    draft.source_id = source_id;
                    draft.parent_source_id = match facts.parent.as_str() {
                        "" | "0" => None,
                        parent => Some(format!("wxr:{}:{parent}", self.site)),
                    };
                    draft.post_id.clone_from(&post);
                    draft.status = Some(status);
                    draft.created_at_ms = created_at_ms;
                    if draft.content.trim().is_empty() {
                        self.skip(draft.source_id, "no text");
                    } else {
                        self.drafts.push(draft);
                    }
                }
                Err(reason) => self.skip(source_id, &reason),
            }
        }
    }

    fn skip(&mut self, source_id: String, reason: &str) {
        self.skipped.push(Skipped {
            source_id,
            reason: reason.to_owned(),
        });
    }
}

/// The status and time of a comment, or why it is not imported.
fn decide(facts: &CommentFacts) -> Result<(Status, u64), String> {
    if facts.id.is_empty() {
        return Err("no wp:comment_id".into());
    }
    match facts.kind.as_str() {
        "" | "comment" => {}
        "pingback" | "trackback" => {
            return Err(format!("a {}, not a comment", facts.kind));
        }
        other => return Err(format!("comment type {other:?} is not imported")),
    }
    let status = match facts.approved.as_str() {
        "1" | "approve" | "approved" => Status::Approved,
        "0" | "hold" => Status::Pending,
        "spam" => Status::Spam,
        "trash" | "post-trashed" => Status::Trash,
        other => return Err(format!("unknown comment_approved {other:?}")),
    };
    let created = dates::parse_ms(&facts.date_gmt)
        .or_else(|| dates::parse_ms(&facts.date_local))
        .ok_or("no readable comment_date_gmt or comment_date")?;
    Ok((status, created))
}

//! Disqus XML exports: `thread` elements (the pages) and `post` elements (the comments), tied
//! together by `dsq:id` attributes. Exports since 2018 often carry no email or IP at all.

use std::collections::HashMap;

use super::xml::{Closed, XmlError, walk};
use super::{Draft, Parsed, Skipped, dates, html_to_text, post_id, resolve};
use crate::comment::Status;

#[derive(Default)]
struct Post {
    draft: Draft,
    thread: String,
    parent: String,
    created: String,
    deleted: bool,
    spam: bool,
}

#[derive(Default)]
struct State {
    /// Thread `dsq:id` → post id (its link).
    threads: HashMap<String, String>,
    /// The link of the thread being read.
    link: String,
    post: Post,
    posts: Vec<(String, Post)>,
}

pub(super) fn parse(input: &str) -> Result<Parsed, XmlError> {
    let mut state = State::default();
    walk(input, |closed| state.close(&closed))?;
    let mut drafts = Vec::new();
    let mut skipped = Vec::new();
    for (id, post) in state.posts {
        match finish(&id, post, &state.threads) {
            Ok(draft) => drafts.push(draft),
            Err(reason) => skipped.push(Skipped {
                source_id: format!("disqus:{id}"),
                reason,
            }),
        }
    }
    Ok(resolve(drafts, skipped))
}

impl State {
    fn close(&mut self, closed: &Closed<'_>) {
        let text = closed.text.as_str();
        let id = closed.id.clone().unwrap_or_default();
        let in_post = closed.within("post");
        match (closed.parent(), closed.name()) {
            ("thread", "link") if !in_post => self.link = text.trim().to_owned(),
            ("disqus", "thread") => {
                let link = std::mem::take(&mut self.link);
                let fallback = format!("disqus-thread-{id}");
                self.threads.insert(id, post_id(&link, fallback));
            }
            ("disqus", "post") => self.posts.push((id, std::mem::take(&mut self.post))),
            ("post", field) => self.post_field(field, text, id),
            ("author", field) if in_post => {
                let draft = &mut self.post.draft;
                match field {
                    "email" => draft.author_email = text.to_owned(),
                    "name" => draft.author_name = text.to_owned(),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn post_field(&mut self, field: &str, text: &str, id: String) {
        let post = &mut self.post;
        match field {
            "message" => post.draft.content = html_to_text(text),
            "createdAt" => post.created = text.trim().to_owned(),
            "isDeleted" => post.deleted = text.trim() == "true",
            "isSpam" => post.spam = text.trim() == "true",
            "ipAddress" => post.draft.ip = text.to_owned(),
            "thread" => post.thread = id,
            "parent" => post.parent = id,
            _ => {}
        }
    }
}

/// The draft of a post, or why it is not imported.
fn finish(id: &str, post: Post, threads: &HashMap<String, String>) -> Result<Draft, String> {
    if id.is_empty() {
        return Err("no dsq:id".into());
    }
    let post_id = threads
        .get(&post.thread)
        .ok_or_else(|| format!("its thread {:?} is not in the export", post.thread))?;
    let created_at_ms = dates::parse_ms(&post.created).ok_or("no readable createdAt".to_owned())?;
    let status = match (post.spam, post.deleted) {
        (true, _) => Status::Spam,
        (false, true) => Status::Trash,
        (false, false) => Status::Approved,
    };
    if post.draft.content.trim().is_empty() {
        let why = if post.deleted {
            "deleted, no text left"
        } else {
            "no text"
        };
        return Err(why.into());
    }
    Ok(Draft {
        source_id: format!("disqus:{id}"),
        parent_source_id: (!post.parent.is_empty()).then(|| format!("disqus:{}", post.parent)),
        post_id: post_id.clone(),
        created_at_ms,
        status: Some(status),
        ..post.draft
    })
}

//! The two forms `commentguard export` writes: JSON lines and WXR 1.2.

use std::collections::BTreeMap;
use std::io::{self, Write};

use quick_xml::escape::escape;

use super::client::status_name;
use crate::import::dates;
use crate::proto::{self as pb, CommentStatus};

/// One JSON object per comment and line.
pub(super) fn jsonl(out: &mut impl Write, comments: &[pb::ModeratedComment]) -> io::Result<()> {
    for c in comments {
        let public = c.comment.clone().unwrap_or_default();
        let line = serde_json::json!({
            "comment_id": public.comment_id,
            "post_id": public.post_id,
            "parent_id": public.parent_id,
            "status": status_name(c.status),
            "created_at": rfc3339(public.created_at),
            "author_name": public.author_name,
            "author_url": public.author_url,
            "author_email": c.author_email,
            "ip": c.ip,
            "user_agent": c.user_agent,
            "content": public.content,
            "spam_score": c.spam_score,
            "reasons": c.reasons.iter().map(|r| serde_json::json!({
                "code": r.code, "detail": r.detail, "weight": r.weight,
            })).collect::<Vec<_>>(),
            "decided_by": c.decided_by,
            "decided_at": c.decided_at.map(|t| rfc3339(Some(t))),
            "policy_version": c.policy_version,
        });
        serde_json::to_writer(&mut *out, &line)?;
        writeln!(out)?;
    }
    Ok(())
}

/// WordPress's `comment_approved` for a status.
fn approved(status: i32) -> &'static str {
    match CommentStatus::try_from(status) {
        Ok(CommentStatus::Approved) => "1",
        Ok(CommentStatus::Spam) => "spam",
        Ok(CommentStatus::Trash) => "trash",
        _ => "0",
    }
}

/// One `<item>` per post with its comments, in WXR 1.2.
pub(super) fn wxr(out: &mut impl Write, comments: &[pb::ModeratedComment]) -> io::Result<()> {
    let mut posts: BTreeMap<&str, Vec<&pb::ModeratedComment>> = BTreeMap::new();
    for c in comments {
        let post = c.comment.as_ref().map_or("", |p| p.post_id.as_str());
        posts.entry(post).or_default().push(c);
    }
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.2/">"#
    )?;
    writeln!(
        out,
        "<channel>\n<title>commentguard export</title>\n<wp:wxr_version>1.2</wp:wxr_version>"
    )?;
    for (number, (post, comments)) in posts.into_iter().enumerate() {
        let post = escape(post);
        writeln!(out, "<item>\n<title>{post}</title>\n<link>{post}</link>")?;
        writeln!(
            out,
            "<wp:post_id>{}</wp:post_id>\n<wp:post_type>post</wp:post_type>\n<wp:status>publish</wp:status>",
            number + 1
        )?;
        for c in comments {
            comment(out, c)?;
        }
        writeln!(out, "</item>")?;
    }
    writeln!(out, "</channel>\n</rss>")
}

fn comment(out: &mut impl Write, c: &pb::ModeratedComment) -> io::Result<()> {
    let public = c.comment.clone().unwrap_or_default();
    let parent = match public.parent_id.as_str() {
        "" => "0",
        id => id,
    };
    writeln!(out, "<wp:comment>")?;
    for (name, value) in [
        ("comment_id", public.comment_id.as_str()),
        ("comment_author", &public.author_name),
        ("comment_author_email", &c.author_email),
        ("comment_author_url", &public.author_url),
        ("comment_author_IP", &c.ip),
        ("comment_date", &wxr_date(public.created_at)),
        ("comment_date_gmt", &wxr_date(public.created_at)),
        ("comment_content", &public.content),
        ("comment_approved", approved(c.status)),
        ("comment_type", "comment"),
        ("comment_parent", parent),
    ] {
        writeln!(out, "<wp:{name}>{}</wp:{name}>", escape(value))?;
    }
    writeln!(out, "</wp:comment>")
}

/// `YYYY-MM-DD HH:MM:SS` of a timestamp, for WXR.
fn wxr_date(t: Option<prost_types::Timestamp>) -> String {
    dates::wxr(ms(t))
}

/// RFC 3339 of a timestamp, for JSON lines.
fn rfc3339(t: Option<prost_types::Timestamp>) -> String {
    dates::rfc3339(ms(t))
}

fn ms(t: Option<prost_types::Timestamp>) -> u64 {
    t.map_or(0, |t| {
        u64::try_from(t.seconds).unwrap_or(0) * 1000
            + u64::try_from(t.nanos).unwrap_or(0) / 1_000_000
    })
}

//! Reading other systems' comment history: WordPress exports (WXR) and Disqus exports, into
//! comments ready for the `ImportComments` RPC. Parsing happens on the client (the `import`
//! command); the server stores what it is sent as it was, without judging it again.
//!
//! # Ids
//! Every imported comment gets a UUIDv7 whose time is the comment's original time (so threads
//! and queues list in the original order) and whose other bits are a hash of where it came
//! from (the export's own id, with the site for WordPress). Importing the same file again
//! gives the same ids, which the store recognises: nothing is added twice. A source id that is
//! already a UUID (a commentguard export) is kept as it is.

pub mod dates;
mod disqus;
mod wxr;
pub mod xml;

use sha2::{Digest as _, Sha256};

use crate::comment::{CommentId, Status};
pub use xml::XmlError;

/// The export formats the `import` command reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "tools", derive(clap::ValueEnum))]
pub enum Format {
    /// WordPress eXtended RSS (Tools → Export), any WXR version.
    Wxr,
    /// A Disqus XML export.
    Disqus,
}

/// One comment of an export, as it stood there.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceComment {
    /// Its id here (see the module documentation).
    pub id: CommentId,
    /// The comment it replies to, when that is in the same export.
    pub parent_id: Option<CommentId>,
    /// The post: its permalink when the export has one.
    pub post_id: String,
    /// Display name ("Anonymous" when the export has none).
    pub author_name: String,
    /// Email address; empty when the export has none.
    pub author_email: String,
    /// Website; empty when none.
    pub author_url: String,
    /// The text.
    pub content: String,
    /// The commenter's IP address as the export gives it; empty when none.
    pub ip: String,
    /// When it was written, in ms since the epoch.
    pub created_at_ms: u64,
    /// Its status there.
    pub status: Status,
}

/// An entry of the export that is not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The export's own id of it.
    pub source_id: String,
    /// Why it is not imported.
    pub reason: String,
}

/// What an export file holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    /// The comments to import, oldest first.
    pub comments: Vec<SourceComment>,
    /// What is left out, with reasons.
    pub skipped: Vec<Skipped>,
}

/// Reads an export of `format`.
///
/// # Errors
/// Malformed XML, with the line and column where it went wrong.
pub fn parse(format: Format, input: &str) -> Result<Parsed, XmlError> {
    let mut parsed = match format {
        Format::Wxr => wxr::parse(input)?,
        Format::Disqus => disqus::parse(input)?,
    };
    parsed.comments.sort_by_key(|c| (c.created_at_ms, c.id));
    Ok(parsed)
}

/// The id an imported comment gets: the source id itself when it is a UUID, otherwise a
/// UUIDv7 of the original time with bits from a hash of the source id.
pub fn comment_id(source_id: &str, created_at_ms: u64) -> CommentId {
    let own = source_id.rsplit(':').next().and_then(CommentId::parse);
    if let Some(id) = own {
        return id;
    }
    let digest = Sha256::digest(source_id.as_bytes());
    let mut random = [0; 10];
    random.copy_from_slice(&digest[..10]);
    let uuid = uuid::Builder::from_unix_timestamp_millis(created_at_ms, &random).into_uuid();
    CommentId::from_bytes(*uuid.as_bytes())
}

/// The longest post id the service takes (as `SubmitComment` validates it).
const MAX_POST_BYTES: usize = crate::validate::MAX_ID_BYTES;

/// The post a comment belongs to: the permalink when it fits, else `fallback`.
fn post_id(link: &str, fallback: String) -> String {
    let link = link.trim();
    if !link.is_empty() && link.len() <= MAX_POST_BYTES && !link.chars().any(char::is_control) {
        link.to_owned()
    } else {
        fallback
    }
}

/// A comment read from an export before its thread is resolved.
#[derive(Debug, Clone, Default)]
struct Draft {
    source_id: String,
    parent_source_id: Option<String>,
    post_id: String,
    author_name: String,
    author_email: String,
    author_url: String,
    content: String,
    ip: String,
    created_at_ms: u64,
    status: Option<Status>,
}

/// Gives drafts their ids and resolves replies to comments of the same export.
fn resolve(drafts: Vec<Draft>, skipped: Vec<Skipped>) -> Parsed {
    let ids: std::collections::HashMap<String, CommentId> = drafts
        .iter()
        .map(|d| {
            (
                d.source_id.clone(),
                comment_id(&d.source_id, d.created_at_ms),
            )
        })
        .collect();
    let comments = drafts
        .into_iter()
        .filter_map(|d| {
            Some(SourceComment {
                id: *ids.get(&d.source_id)?,
                parent_id: d.parent_source_id.and_then(|p| ids.get(&p).copied()),
                post_id: d.post_id,
                author_name: match d.author_name.trim() {
                    "" => "Anonymous".to_owned(),
                    name => name.to_owned(),
                },
                author_email: d.author_email.trim().to_owned(),
                author_url: d.author_url.trim().to_owned(),
                content: d.content.trim().replace("\r\n", "\n"),
                ip: d.ip.trim().to_owned(),
                created_at_ms: d.created_at_ms,
                status: d.status?,
            })
        })
        .collect();
    Parsed { comments, skipped }
}

/// Plain text of the little HTML comment systems store (`<p>`, `<br>`, links, emphasis):
/// paragraphs and breaks become newlines, other tags go, entities are decoded.
pub fn html_to_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            text.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let tag = rest[open + 1..open + close].trim().to_ascii_lowercase();
        let name = tag.trim_start_matches('/');
        let name = name.split([' ', '/']).next().unwrap_or("");
        match name {
            "br" => text.push('\n'),
            "p" if tag.starts_with('/') => text.push_str("\n\n"),
            _ => {}
        }
        rest = &rest[open + close + 1..];
    }
    text.push_str(rest);
    html_escape::decode_html_entities(text.trim()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_ordered_by_time_and_keep_uuids() {
        let a = comment_id("wxr:https://example.com:12", 1_000_000);
        assert_eq!(a, comment_id("wxr:https://example.com:12", 1_000_000));
        assert_ne!(a, comment_id("wxr:https://example.org:12", 1_000_000));
        assert_eq!(a.created_ms(), 1_000_000);
        assert!(a < comment_id("wxr:https://example.com:11", 2_000_000));
        let own = CommentId::generate();
        assert_eq!(comment_id(&format!("wxr:site:{own}"), 5), own);
    }

    #[test]
    fn html_becomes_text() {
        assert_eq!(
            html_to_text("<p>Hi &amp; <b>bye</b></p><p>two<br>lines</p>"),
            "Hi & bye\n\ntwo\nlines"
        );
        assert_eq!(html_to_text("a < b"), "a < b");
    }
}

#[cfg(test)]
mod fixture_tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/import")
            .join(name);
        std::fs::read_to_string(path).unwrap()
    }

    fn by_content<'a>(parsed: &'a Parsed, start: &str) -> &'a SourceComment {
        parsed
            .comments
            .iter()
            .find(|c| c.content.starts_with(start))
            .unwrap_or_else(|| panic!("no comment starting {start:?}"))
    }

    #[test]
    fn wordpress_export_keeps_threads_statuses_and_skips_pings() {
        let parsed = parse(Format::Wxr, &fixture("wordpress.wxr")).unwrap();
        assert_eq!(parsed.comments.len(), 8);
        let reasons: Vec<_> = parsed.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(
            reasons,
            ["a pingback, not a comment", "a trackback, not a comment"]
        );
        let top = by_content(&parsed, "Très bonne idée");
        assert_eq!(top.author_name, "Hélène Dubois");
        assert_eq!(
            top.post_id,
            "https://allotment.example.org/2025/10/planting-garlic/"
        );
        assert_eq!(
            top.created_at_ms,
            dates::parse_ms("2025-10-12 10:20:05").unwrap()
        );
        assert_eq!(top.status, Status::Approved);
        assert_eq!(by_content(&parsed, "ニンニク").parent_id, Some(top.id));
        assert!(by_content(&parsed, "Merci").content.contains('\n'));
        assert_eq!(by_content(&parsed, "Buy cheap").status, Status::Spam);
        assert_eq!(
            by_content(&parsed, "Is it too late").status,
            Status::Pending
        );
        assert_eq!(by_content(&parsed, "sorry").status, Status::Trash);
        let entities = by_content(&parsed, "Beer traps");
        assert_eq!(entities.author_name, "Ada & Grace");
        assert!(entities.content.contains("<i>really</i> works. 5 > 3"));
        // comment_date_gmt of zeros: the local date is used.
        assert_eq!(
            entities.created_at_ms,
            dates::parse_ms("2026-03-14 10:00:00").unwrap()
        );
        let again = parse(Format::Wxr, &fixture("wordpress.wxr")).unwrap();
        assert_eq!(again, parsed);
    }

    #[test]
    fn old_wxr_namespaces_read_the_same() {
        let parsed = parse(Format::Wxr, &fixture("wordpress-1.0.wxr")).unwrap();
        assert_eq!(parsed.comments.len(), 1);
        assert_eq!(parsed.comments[0].author_email, "");
        assert_eq!(parsed.comments[0].post_id, "http://old.example.com/?p=1");
    }

    #[test]
    fn disqus_export_without_emails_keeps_deleted_text_as_trash() {
        let parsed = parse(Format::Disqus, &fixture("disqus.xml")).unwrap();
        assert_eq!(parsed.comments.len(), 5);
        assert_eq!(parsed.skipped.len(), 1);
        assert_eq!(parsed.skipped[0].reason, "deleted, no text left");
        assert!(parsed.comments.iter().all(|c| c.author_email.is_empty()));
        let question = by_content(&parsed, "Brilliant");
        let answer = by_content(&parsed, "Booked ahead");
        assert_eq!(answer.parent_id, Some(question.id));
        assert!(answer.content.contains("\n\nMidges"));
        assert_eq!(by_content(&parsed, "Make money").status, Status::Spam);
        assert_eq!(by_content(&parsed, "I take it back").status, Status::Trash);
        let german = by_content(&parsed, "Schöne");
        assert!(german.content.contains("Regen & Sonne"));
        assert_eq!(
            german.post_id,
            "https://trailnotes.example.com/2024/08/cairngorms/"
        );
    }

    #[test]
    fn malformed_exports_name_the_line() {
        let error = parse(Format::Wxr, &fixture("malformed.wxr")).unwrap_err();
        assert_eq!(error.line, 7, "{error}");
        for cut in [10, 200, 1000, 5000] {
            let text = fixture("wordpress.wxr");
            let cut = (0..=cut).rev().find(|&i| text.is_char_boundary(i)).unwrap();
            assert!(parse(Format::Wxr, &text[..cut]).is_err());
        }
    }
}

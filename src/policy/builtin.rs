//! The rules every site gets without configuring anything: the honeypot, too many links, an
//! email address in the text, and (when asked for) holding first-time authors.

use std::sync::LazyLock;

use regex::Regex;

use super::Hit;
use crate::comment::{ReasonCode, Submission};
use crate::privacy::{constant_regex, contains_email};

/// A link in comment text: an HTML anchor (with the URLs in it, so an anchor is one link
/// however often it repeats its address), a URL with a scheme (with its `www.`, so
/// `https://www.…` is one link, not two), or a bare `www.` host. Only the start of a URL is
/// matched: links run together with commas or brackets still count one by one.
static LINK: LazyLock<Regex> = LazyLock::new(|| {
    constant_regex(
        r"(?is)<a\s[^>]*href[^>]*>.*?</a>|<a\s[^>]*href[^>]*|\bhttps?://(?:www\.)?|\bwww\.[\w-]",
    )
});

/// How many links `text` holds.
pub fn count_links(text: &str) -> usize {
    LINK.find_iter(text).count()
}

/// The built-in rules that fire on `submission`; `max_links` of 0 turns the link rule off.
pub fn check(submission: &Submission, max_links: u32) -> Vec<Hit> {
    let mut hits = Vec::new();
    if !submission.context.honeypot.is_empty() {
        hits.push(Hit::spam(
            ReasonCode::Honeypot,
            "the hidden form field was filled in, as only bots do",
        ));
    }
    let links = count_links(&submission.content);
    if max_links > 0 && links >= max_links as usize {
        hits.push(Hit::hold(
            ReasonCode::TooManyLinks,
            format!("{links} links; comments with {max_links} or more are held"),
        ));
    }
    if contains_email(&submission.content) {
        hits.push(Hit::hold(
            ReasonCode::EmailInContent,
            "the text contains an email address; it is masked in public and held for review",
        ));
    }
    hits
}

/// The hold of `require_prior_approval` for an author with no approved comment yet.
pub fn first_time_author() -> Hit {
    Hit::hold(
        ReasonCode::FirstTimeAuthor,
        "the author has no approved comment yet",
    )
}

//! Field rules for a submission: required fields, byte limits (as WordPress enforces them),
//! well-formed email and URL, no control characters, and no email address in a public field.
//!
//! Everything here is a pure function of the request, so it runs before any storage is touched:
//! an invalid submission changes nothing.

use std::net::IpAddr;

use crate::comment::{ClientContext, CommentId, Submission};
use crate::privacy::contains_email;

/// Longest post or parent id, in bytes.
pub const MAX_ID_BYTES: usize = 200;
/// Longest author name, in bytes (WordPress: 245).
pub const MAX_NAME_BYTES: usize = 245;
/// Longest email address, in bytes (WordPress: 100).
pub const MAX_EMAIL_BYTES: usize = 100;
/// Longest author URL, in bytes (WordPress: 200).
pub const MAX_URL_BYTES: usize = 200;
/// Longest post title kept, in bytes.
pub const MAX_TITLE_BYTES: usize = 300;
/// Longest comment, in bytes (WordPress: 65525).
pub const MAX_CONTENT_BYTES: usize = 65_525;
/// Longest email local part, in bytes (RFC 5321).
pub const MAX_EMAIL_LOCAL_BYTES: usize = 64;
/// Longest User-Agent kept, in bytes.
pub const MAX_USER_AGENT_BYTES: usize = 1024;
/// Longest Referer kept, in bytes.
pub const MAX_REFERRER_BYTES: usize = 2048;

/// The raw strings of a submission, borrowed from the request.
#[derive(Debug, Clone, Copy, Default)]
pub struct SubmissionInput<'a> {
    /// See `SubmitCommentRequest.post_id`.
    pub post_id: &'a str,
    /// See `SubmitCommentRequest.post_title`.
    pub post_title: &'a str,
    /// See `SubmitCommentRequest.parent_id`.
    pub parent_id: &'a str,
    /// See `SubmitCommentRequest.author_name`.
    pub author_name: &'a str,
    /// See `SubmitCommentRequest.author_email`.
    pub author_email: &'a str,
    /// See `SubmitCommentRequest.author_url`.
    pub author_url: &'a str,
    /// See `SubmitCommentRequest.content`.
    pub content: &'a str,
    /// See `ClientContext.ip`.
    pub ip: &'a str,
    /// See `ClientContext.user_agent`.
    pub user_agent: &'a str,
    /// See `ClientContext.referrer`.
    pub referrer: &'a str,
    /// See `ClientContext.honeypot`.
    pub honeypot: &'a str,
}

/// One bad field: the proto field path and what is wrong with it. It never quotes the value,
/// so violations are safe to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The field's path in `SubmitCommentRequest`, e.g. `author_email` or `context.ip`.
    pub field: &'static str,
    /// What is wrong, for the site's developer.
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: &'static str, description: impl Into<String>) -> Self {
        Self {
            field,
            description: description.into(),
        }
    }
}

/// Checks every field and returns the cleaned submission, or one violation per bad field.
///
/// # Errors
/// The list of field violations, never empty.
pub fn validate(input: &SubmissionInput<'_>) -> Result<Submission, Vec<FieldViolation>> {
    let mut violations = Vec::new();

    let post_id = input.post_id.trim();
    note(
        &mut violations,
        "post_id",
        required_line(post_id, MAX_ID_BYTES),
    );
    let post_title = input.post_title.trim();
    note(
        &mut violations,
        "post_title",
        optional_line(post_title, MAX_TITLE_BYTES),
    );
    let parent_id = check_parent_id(input.parent_id.trim(), &mut violations);
    let (author_name, author_email, author_url) = check_author(input, &mut violations);
    let content = input.content.trim().replace("\r\n", "\n");
    note(&mut violations, "content", content_rules(&content));
    let (ip, user_agent, referrer) = check_context(input, &mut violations);

    if !violations.is_empty() {
        return Err(violations);
    }
    Ok(Submission {
        post_id: post_id.to_owned(),
        post_title: (!post_title.is_empty()).then(|| post_title.to_owned()),
        parent_id,
        author_name: author_name.to_owned(),
        author_email: author_email.to_owned(),
        author_url: (!author_url.is_empty()).then(|| author_url.to_owned()),
        content,
        context: ClientContext {
            ip,
            user_agent: user_agent.to_owned(),
            referrer: referrer.to_owned(),
            honeypot: input.honeypot.to_owned(),
        },
    })
}

/// Records a failed rule as a violation of `field`, so each check reads as one line.
#[inline]
fn note(violations: &mut Vec<FieldViolation>, field: &'static str, result: Result<(), String>) {
    if let Err(description) = result {
        violations.push(FieldViolation::new(field, description));
    }
}

/// The optional parent id (already trimmed): parsed when given, noting why it is not one.
#[inline]
fn check_parent_id(text: &str, violations: &mut Vec<FieldViolation>) -> Option<CommentId> {
    if text.is_empty() {
        return None;
    }
    let parsed = CommentId::parse(text);
    note(
        violations,
        "parent_id",
        match parsed {
            Some(_) => Ok(()),
            None if text.len() > MAX_ID_BYTES => Err(too_long(MAX_ID_BYTES)),
            None => Err("is not a comment id".to_owned()),
        },
    );
    parsed
}

/// The author's name, email and URL, trimmed and checked (the URL is empty when not given).
#[inline]
fn check_author<'a>(
    input: &SubmissionInput<'a>,
    violations: &mut Vec<FieldViolation>,
) -> (&'a str, &'a str, &'a str) {
    let author_name = input.author_name.trim();
    note(
        violations,
        "author_name",
        required_line(author_name, MAX_NAME_BYTES).and_then(|()| no_email(author_name)),
    );

    let author_email = input.author_email.trim();
    note(
        violations,
        "author_email",
        required_line(author_email, MAX_EMAIL_BYTES).and_then(|()| email_syntax(author_email)),
    );

    let author_url = input.author_url.trim();
    if !author_url.is_empty() {
        note(
            violations,
            "author_url",
            optional_line(author_url, MAX_URL_BYTES)
                .and_then(|()| url_syntax(author_url))
                .and_then(|()| no_email(author_url)),
        );
    }
    (author_name, author_email, author_url)
}

/// The client context's IP address (parsed when given), User-Agent and Referer, checked.
#[inline]
fn check_context<'a>(
    input: &SubmissionInput<'a>,
    violations: &mut Vec<FieldViolation>,
) -> (Option<IpAddr>, &'a str, &'a str) {
    let ip_text = input.ip.trim();
    let ip = if ip_text.is_empty() {
        None
    } else {
        let parsed = ip_text.parse::<IpAddr>().ok();
        if parsed.is_none() {
            note(
                violations,
                "context.ip",
                Err("is not an IPv4 or IPv6 address".to_owned()),
            );
        }
        parsed
    };
    let user_agent = input.user_agent.trim();
    note(
        violations,
        "context.user_agent",
        optional_line(user_agent, MAX_USER_AGENT_BYTES),
    );
    let referrer = input.referrer.trim();
    note(
        violations,
        "context.referrer",
        optional_line(referrer, MAX_REFERRER_BYTES),
    );
    (ip, user_agent, referrer)
}

fn too_long(max: usize) -> String {
    format!("is longer than {max} bytes")
}

/// A required single-line field: present after trimming, within `max` bytes, no control
/// characters at all (a name or id has no business holding a newline).
fn required_line(value: &str, max: usize) -> Result<(), String> {
    if value.is_empty() {
        return Err("is required".to_owned());
    }
    optional_line(value, max)
}

fn optional_line(value: &str, max: usize) -> Result<(), String> {
    if value.len() > max {
        return Err(too_long(max));
    }
    if value.chars().any(char::is_control) {
        return Err("contains control characters".to_owned());
    }
    Ok(())
}

/// The comment body: required, within limits, control characters other than newline and tab
/// refused.
fn content_rules(content: &str) -> Result<(), String> {
    if content.is_empty() {
        return Err("is required".to_owned());
    }
    if content.len() > MAX_CONTENT_BYTES {
        return Err(too_long(MAX_CONTENT_BYTES));
    }
    if content
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("contains control characters other than newline and tab".to_owned());
    }
    Ok(())
}

fn no_email(value: &str) -> Result<(), String> {
    if contains_email(value) {
        return Err(
            "contains an email address, which would be published; addresses go in author_email only"
                .to_owned(),
        );
    }
    Ok(())
}

/// A practical RFC 5322 addr-spec check: a dot-atom local part of at most 64 bytes (UTF-8
/// allowed, as RFC 6531 does), `@`, and a domain name with at least one dot. Internationalized
/// domains are accepted and checked in their ASCII (punycode) form.
fn email_syntax(email: &str) -> Result<(), String> {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err("is not an email address: it has no @".to_owned());
    };
    if local.is_empty() || local.len() > MAX_EMAIL_LOCAL_BYTES {
        return Err(format!(
            "is not an email address: the part before @ must have 1 to {MAX_EMAIL_LOCAL_BYTES} bytes"
        ));
    }
    let atext = |c: char| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    if local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
        || !local.chars().all(|c| c == '.' || atext(c))
    {
        return Err("is not an email address: the part before @ has invalid characters".to_owned());
    }
    if domain_syntax(domain).is_err() {
        return Err("is not an email address: the domain is not a valid domain name".to_owned());
    }
    Ok(())
}

fn domain_syntax(domain: &str) -> Result<(), ()> {
    let Ok(url::Host::Domain(ascii)) = url::Host::parse(domain) else {
        return Err(());
    };
    let labels: Vec<&str> = ascii.split('.').collect();
    let label_ok = |label: &&str| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let tld_ok = labels
        .last()
        .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()));
    if labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok {
        Ok(())
    } else {
        Err(())
    }
}

/// An absolute `http`/`https` URL with a host and no user name or password.
fn url_syntax(value: &str) -> Result<(), String> {
    let url = url::Url::parse(value).map_err(|_| "is not an absolute URL".to_owned())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL".to_owned());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> SubmissionInput<'static> {
        SubmissionInput {
            post_id: "post-1",
            author_name: "Ada",
            author_email: "ada@example.com",
            content: "Nice article.",
            ..Default::default()
        }
    }

    fn fields(input: &SubmissionInput<'_>) -> Vec<&'static str> {
        match validate(input) {
            Ok(_) => Vec::new(),
            Err(v) => v.into_iter().map(|v| v.field).collect(),
        }
    }

    #[test]
    fn accepts_and_cleans_a_valid_submission() {
        let input = SubmissionInput {
            author_name: "  Ada  ",
            content: " line one\r\nline two\t! ",
            author_url: "https://ada.example/blog",
            ip: "2001:db8::1",
            ..valid()
        };
        let submission = validate(&input).unwrap();
        assert_eq!(submission.author_name, "Ada");
        assert_eq!(submission.content, "line one\nline two\t!");
        assert_eq!(
            submission.author_url.as_deref(),
            Some("https://ada.example/blog")
        );
        assert!(submission.context.ip.is_some());
    }

    #[test]
    fn a_post_title_is_optional_trimmed_and_bounded() {
        assert_eq!(validate(&valid()).unwrap().post_title, None);
        let titled = SubmissionInput {
            post_title: "  Xi and Putin meet in Beijing ",
            ..valid()
        };
        assert_eq!(
            validate(&titled).unwrap().post_title.as_deref(),
            Some("Xi and Putin meet in Beijing")
        );
        let long = "t".repeat(MAX_TITLE_BYTES + 1);
        for bad in [long.as_str(), "two\nlines"] {
            let input = SubmissionInput {
                post_title: bad,
                ..valid()
            };
            assert_eq!(fields(&input), ["post_title"], "{bad}");
        }
    }

    #[test]
    fn reports_every_missing_field() {
        let input = SubmissionInput {
            post_id: " ",
            author_name: "",
            author_email: "\t",
            content: "   ",
            ..Default::default()
        };
        assert_eq!(
            fields(&input),
            ["post_id", "author_name", "author_email", "content"]
        );
    }

    #[test]
    fn enforces_byte_limits() {
        let long_name = "é".repeat(123); // 246 bytes, 123 characters
        let long_content = "a".repeat(MAX_CONTENT_BYTES + 1);
        let long_post = "p".repeat(MAX_ID_BYTES + 1);
        let input = SubmissionInput {
            author_name: &long_name,
            content: &long_content,
            post_id: &long_post,
            ..valid()
        };
        assert_eq!(fields(&input), ["post_id", "author_name", "content"]);
        let at_limit = "a".repeat(MAX_CONTENT_BYTES);
        assert!(
            validate(&SubmissionInput {
                content: &at_limit,
                ..valid()
            })
            .is_ok()
        );
    }

    #[test]
    fn email_syntax_cases() {
        for good in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "jörg@bücher.de",
            "o'brien@example.ie",
        ] {
            assert!(email_syntax(good).is_ok(), "{good}");
        }
        for bad in [
            "plain",
            "a@localhost",
            "a b@example.com",
            ".a@example.com",
            "a..b@example.com",
            "a@-example.com",
            "a@example.123",
            "a@1.2.3.4",
            &format!("{}@example.com", "x".repeat(65)),
        ] {
            assert!(email_syntax(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn url_rules() {
        for bad in [
            "example.com",
            "ftp://example.com",
            "https://user:pw@example.com",
            "javascript:alert(1)",
        ] {
            let input = SubmissionInput {
                author_url: bad,
                ..valid()
            };
            assert_eq!(fields(&input), ["author_url"], "{bad}");
        }
    }

    #[test]
    fn email_in_public_fields_is_refused() {
        let input = SubmissionInput {
            author_name: "Ada (ada@example.com)",
            author_url: "https://example.com/?contact=ada@example.com",
            ..valid()
        };
        let violations = validate(&input).unwrap_err();
        assert_eq!(violations.len(), 2);
        assert!(
            violations
                .iter()
                .all(|v| v.description.contains("published"))
        );
    }

    #[test]
    fn control_characters() {
        assert_eq!(
            fields(&SubmissionInput {
                content: "bell\u{7}",
                ..valid()
            }),
            ["content"]
        );
        assert_eq!(
            fields(&SubmissionInput {
                author_name: "two\nlines",
                ..valid()
            }),
            ["author_name"]
        );
    }

    #[test]
    fn parent_and_ip_must_parse() {
        let input = SubmissionInput {
            parent_id: "nope",
            ip: "999.1.1.1",
            ..valid()
        };
        assert_eq!(fields(&input), ["parent_id", "context.ip"]);
    }
}

//! Markup shared by the console's pages: the layout, the login form, one comment as the queue
//! shows it (also sent live), and the error page. maud escapes every value it inserts; the
//! only markup not escaped is what these functions build themselves.

use std::collections::HashMap;

use axum::http::StatusCode;
use maud::{DOCTYPE, Markup, html};

use crate::comment::{ReasonCode, Status, StoredComment, ToxicSpan};
use crate::moderation::Action;

/// The statuses the queue has tabs for, in tab order.
pub const TABS: [Status; 4] = [
    Status::Pending,
    Status::Spam,
    Status::Trash,
    Status::Approved,
];

/// What the page layout needs to know about the viewer.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    /// The moderator's name.
    pub moderator: &'a str,
    /// The session's CSRF token, put in every form.
    pub csrf: &'a str,
}

/// The page around `body`, for a logged-in moderator.
pub fn layout(title: &str, viewer: Option<Viewer<'_>>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(v) = viewer { meta name="csrf-token" content=(v.csrf); }
                title { (title) " · commentguard" }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body {
                header.top {
                    span.brand { "commentguard" }
                    @if let Some(v) = viewer {
                        nav {
                            a href="/queue" { "Queue" }
                            a href="/stats" { "Stats" }
                            a href="/audit" { "Audit log" }
                        }
                        form.logout method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(v.csrf);
                            span.who { (v.moderator) }
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The login form; `csrf` ties it to the browser that loaded it.
pub fn login_page(csrf: &str, problem: Option<&str>) -> Markup {
    layout(
        "Log in",
        None,
        html! {
            form.login method="post" action="/login" {
                h1 { "Moderator login" }
                @if let Some(problem) = problem { p.problem role="alert" { (problem) } }
                input type="hidden" name="csrf" value=(csrf);
                label { "Moderator token " input type="password" name="token" autocomplete="current-password" autofocus; }
                button type="submit" { "Log in" }
            }
        },
    )
}

/// A page saying what went wrong.
pub fn error_page(status: StatusCode, message: &str) -> Markup {
    layout(
        status.canonical_reason().unwrap_or("Error"),
        None,
        html! {
            h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
            p.problem { (message) }
            p { a href="/queue" { "Back to the queue" } }
        },
    )
}

/// `at_ms` as an RFC 3339 UTC time to the second.
pub fn time(at_ms: u64) -> String {
    crate::import::dates::rfc3339_seconds(at_ms)
}

/// The action's name in forms and `data-action` attributes.
pub fn action_name(action: Action) -> &'static str {
    match action {
        Action::Approve => "approve",
        Action::Hold => "hold",
        Action::MarkSpam => "spam",
        Action::Trash => "trash",
        Action::Restore => "restore",
    }
}

/// The action named `name` in a form.
pub fn parse_action(name: &str) -> Option<Action> {
    Action::ALL.into_iter().find(|a| action_name(*a) == name)
}

/// The id of the campaign a comment was held as part of, as it appears in links: the one its
/// campaign reason names ("campaign <16 hex digits>: …"). Copies that vary a word or a link
/// share it, because the campaign is named when its first text is seen.
pub fn campaign_of(comment: &StoredComment) -> Option<String> {
    comment
        .verdict
        .reasons
        .iter()
        .filter(|r| r.code == ReasonCode::Campaign)
        .find_map(|r| {
            let id = r.detail.strip_prefix("campaign ")?.get(..16)?;
            id.bytes()
                .all(|b| b.is_ascii_hexdigit())
                .then(|| id.to_ascii_lowercase())
        })
}

/// One comment in the queue, with what a moderator needs to decide and the buttons to do it.
pub fn comment(comment: &StoredComment, csrf: &str) -> Markup {
    let id = comment.id.to_string();
    let s = &comment.submission;
    let status = comment.verdict.status;
    let before_trash = comment.decision.as_ref().and_then(|d| d.before_trash);
    let actions: Vec<Action> = Action::ALL
        .into_iter()
        .filter(|a| a.target(status, before_trash).is_some())
        .collect();
    html! {
        article.comment data-comment-id=(id) data-status=(status.as_str()) tabindex="-1" {
            header {
                input.select type="checkbox" form="bulk" name="comment_id" value=(id) aria-label="Select";
                span.author { (s.author_name) }
                span.email { (s.author_email) }
                @if let Some(ip) = s.context.ip { span.ip { (ip) } }
                span.post { "on " a href={ "/queue?status=" (status.as_str()) "&post=" (urlencode(&s.post_id)) } { (s.post_id) } }
                time { (time(comment.created_at_ms)) }
                span.score title="Spam probability at submission" { "score " (format!("{:.2}", comment.verdict.spam_score)) }
                span.toxicity title="Toxicity at submission: the probability raters would call it toxic" data-toxicity=(format!("{:.3}", comment.verdict.toxicity)) { "toxicity " (format!("{:.2}", comment.verdict.toxicity)) }
                @if let Some(campaign) = campaign_of(comment) {
                    a.campaign href={ "/queue?status=" (status.as_str()) "&campaign=" (campaign) } { "campaign" }
                }
            }
            p.text { (highlighted(comment)) }
            ul.reasons {
                @for r in comment.verdict.reasons.iter().filter(|r| r.code != ReasonCode::Classifier) {
                    li data-code=(r.code.as_str()) { b { (r.code.as_str()) } " " (r.detail) }
                }
            }
            form.decide method="post" action="/moderate" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="comment_id" value=(id);
                input type="hidden" name="back" value=(status.as_str());
                input.note type="text" name="note" maxlength="1000" placeholder="Note (optional)" aria-label="Note";
                @for a in &actions {
                    button type="submit" name="action" value=(action_name(*a)) data-action=(action_name(*a)) { (action_label(*a)) }
                }
            }
        }
    }
}

fn action_label(action: Action) -> &'static str {
    match action {
        Action::Approve => "Approve (a)",
        Action::Hold => "Hold",
        Action::MarkSpam => "Spam (s)",
        Action::Trash => "Trash (t)",
        Action::Restore => "Restore",
    }
}

/// Percent-encodes a query value.
pub fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The comment text with the words the classifier weighed marked: `spam` or `ham` by
/// direction, `w1`–`w3` by strength. Each word is escaped like any other text.
fn highlighted(comment: &StoredComment) -> Markup {
    let weights = word_weights(comment);
    let text = &comment.submission.content;
    let toxic = &comment.verdict.toxic_spans;
    // Each piece with its weight and, for a word inside a toxic span, the span's type.
    let mut pieces: Vec<(&str, Option<f32>, Option<&str>)> = Vec::new();
    let (mut start, mut start_char, mut in_word) = (0, 0, false);
    for (n, (i, c)) in text.char_indices().enumerate() {
        let wordy = c.is_alphanumeric() || c == '\'';
        if wordy != in_word && i > start {
            let (piece, weight) = piece(&text[start..i], in_word, &weights);
            pieces.push((piece, weight, toxic_kind(toxic, in_word, start_char..n)));
            (start, start_char) = (i, n);
        }
        in_word = wordy;
    }
    if start < text.len() {
        let (piece, weight) = piece(&text[start..], in_word, &weights);
        let end = start_char + text[start..].chars().count();
        pieces.push((piece, weight, toxic_kind(toxic, in_word, start_char..end)));
    }
    html! {
        @for (text, weight, kind) in pieces {
            @match kind {
                Some(kind) => u.toxic data-kind=(kind) title={ "toxic" @if !kind.is_empty() { ": " (kind.replace('_', " ")) } } { (marked(text, weight)) },
                None => (marked(text, weight)),
            }
        }
    }
}

/// A piece of text, in a `mark` when the classifier weighed it.
fn marked(text: &str, weight: Option<f32>) -> Markup {
    html! {
        @match weight {
            Some(w) => mark class=(mark_class(w)) title=(format!("{w:+.2}")) { (text) },
            None => (text),
        }
    }
}

/// The type of the toxic span a word over code points `chars` overlaps, if any (a word
/// here may hold an apostrophe the spans' words split at: `l'idiot`).
fn toxic_kind(spans: &[ToxicSpan], word: bool, chars: std::ops::Range<usize>) -> Option<&str> {
    if !word {
        return None;
    }
    spans
        .iter()
        .find(|s| s.start < chars.end && chars.start < s.end)
        .map(|s| s.kind.as_str())
}

fn piece<'a>(text: &'a str, word: bool, weights: &Weights) -> (&'a str, Option<f32>) {
    if !word {
        return (text, None);
    }
    let lower = text.to_lowercase();
    let mut weight = weights.words.get(&lower).copied();
    for (gram, w) in &weights.grams {
        if lower.contains(gram.as_str()) {
            *weight.get_or_insert(0.0) += w;
        }
    }
    (text, weight)
}

fn mark_class(weight: f32) -> &'static str {
    match (weight >= 0.0, weight.abs()) {
        (true, w) if w >= 1.5 => "spam w3",
        (true, w) if w >= 0.5 => "spam w2",
        (true, _) => "spam w1",
        (false, w) if w >= 1.5 => "ham w3",
        (false, w) if w >= 0.5 => "ham w2",
        (false, _) => "ham w1",
    }
}

/// The classifier's explanation as weights on the text: per lower-case word (a bigram's
/// weight goes to both of its words) and per character n-gram (to every word containing it).
#[derive(Debug, Default)]
struct Weights {
    words: HashMap<String, f32>,
    grams: Vec<(String, f32)>,
}

fn word_weights(comment: &StoredComment) -> Weights {
    let mut weights = Weights::default();
    for reason in &comment.verdict.reasons {
        let Some(feature) = reason.classifier_feature() else {
            continue;
        };
        if let Some(gram) = feature.strip_prefix('"').and_then(|f| f.strip_suffix('"')) {
            let gram = gram.trim().to_lowercase();
            if gram.chars().count() >= 3 && !gram.contains(' ') {
                weights.grams.push((gram, reason.weight));
            }
            continue;
        }
        if feature.contains(':') {
            continue; // link:, website:, contact: and intent: features name no word of the text
        }
        for word in feature.split_whitespace() {
            *weights.words.entry(word.to_lowercase()).or_insert(0.0) += reason.weight;
        }
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comment::CommentId;
    use crate::comment::{ClientContext, Reason, Submission, Verdict};

    fn stored(content: &str, reasons: Vec<Reason>) -> StoredComment {
        StoredComment {
            id: CommentId::generate(),
            created_at_ms: 0,
            submission: Submission {
                post_id: "p\"1".into(),
                parent_id: None,
                author_name: "<b>Eve</b>".into(),
                author_email: "eve@example.com".into(),
                author_url: None,
                content: content.into(),
                context: ClientContext::default(),
            },
            verdict: Verdict {
                status: Status::Pending,
                spam_score: 0.7,
                reasons,
                toxicity: 0.0,
                toxic_spans: Vec::new(),
            },
            model_version: "m".into(),
            policy_version: String::new(),
            email_hash: [0; 32],
            decision: None,
            receipt: Default::default(),
        }
    }

    #[test]
    fn the_campaign_is_the_one_its_reason_names() {
        let held = |detail: &str| {
            stored(
                "copy",
                vec![Reason {
                    code: ReasonCode::Campaign,
                    detail: detail.into(),
                    weight: 0.0,
                }],
            )
        };
        let c = held("campaign 00AB12cd34ef5678: the same text from 3 or more authors");
        assert_eq!(campaign_of(&c).as_deref(), Some("00ab12cd34ef5678"));
        assert_eq!(campaign_of(&held("campaign nothex: …")), None);
        assert_eq!(campaign_of(&stored("plain", Vec::new())), None);
    }

    #[test]
    fn comment_text_and_names_are_escaped() {
        let c = stored(
            "<script>alert(1)</script><img src=x onerror=alert(2)>",
            vec![Reason::classifier("script", 2.0)],
        );
        let html = comment(&c, "tok").into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>Eve"), "{html}");
        assert!(html.contains("&lt;<mark"), "{html}");
        assert!(
            html.contains("&lt;img src=x onerror=alert(2)&gt;"),
            "{html}"
        );
        assert!(html.contains("<mark class=\"spam w3\""), "{html}");
        assert!(html.contains("data-action=\"approve\""));
        assert!(!html.contains("data-action=\"restore\""));
    }

    #[test]
    fn toxic_spans_are_underlined_over_whole_words_and_escaped() {
        // "idiot" is code points 10..15; the console's word is "l'idiot", 8..15.
        let mut comment = stored("C'est un l'idiot <b>", Vec::new());
        comment.verdict.toxic_spans = vec![ToxicSpan {
            start: 10,
            end: 15,
            kind: "insult".into(),
        }];
        let html = highlighted(&comment).into_string();
        assert!(
            html.contains(
                "<u class=\"toxic\" data-kind=\"insult\" title=\"toxic: insult\">l'idiot</u>"
            ),
            "{html}"
        );
        assert!(
            html.contains("&lt;b&gt;") && !html.contains("C'est</u>"),
            "{html}"
        );
    }

    #[test]
    fn words_are_marked_by_weight_and_direction() {
        let c = stored(
            "Check out my channel, thanks",
            vec![
                Reason::classifier("check out", 1.0),
                Reason::classifier("thanks", -0.2),
                Reason::classifier("\"hann\"", 0.3),
                Reason::classifier("link:example.com", 2.0),
            ],
        );
        let html = highlighted(&c).into_string();
        assert!(
            html.contains("<mark class=\"spam w2\" title=\"+1.00\">Check</mark>"),
            "{html}"
        );
        assert!(
            html.contains("<mark class=\"ham w1\" title=\"-0.20\">thanks</mark>"),
            "{html}"
        );
        assert!(
            html.contains("<mark class=\"spam w1\" title=\"+0.30\">channel</mark>"),
            "{html}"
        );
        assert_eq!(html.matches("<mark").count(), 4, "{html}");
    }
}

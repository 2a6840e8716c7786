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

/// How many characters of a parent comment the queue shows.
const EXCERPT_CHARS: usize = 140;

/// The first [`EXCERPT_CHARS`] characters of `text`, with an ellipsis when cut.
pub fn excerpt(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(EXCERPT_CHARS).collect();
    if chars.next().is_some() {
        format!("{}…", head.trim_end())
    } else {
        head
    }
}

/// How many of the classifier's strongest contributions a comment lists with their weights.
const TOP_CONTRIBUTIONS: usize = 3;

/// One comment in the queue, with what a moderator needs to decide and the buttons to do it;
/// `parent` is the comment it replies to, when that is still stored.
pub fn comment(comment: &StoredComment, csrf: &str, parent: Option<&StoredComment>) -> Markup {
    let id = comment.id.to_string();
    let s = &comment.submission;
    let status = comment.verdict.status;
    let before_trash = comment.decision.as_ref().and_then(|d| d.before_trash);
    let actions: Vec<Action> = Action::ALL
        .into_iter()
        .filter(|a| a.target(status, before_trash).is_some())
        .collect();
    html! {
        article.comment data-comment-id=(id) data-status=(status.as_str()) data-author=(s.author_name) tabindex="-1" {
            header {
                input.select type="checkbox" form="bulk" name="comment_id" value=(id) aria-label={ "Select comment by " (s.author_name) };
                a.author href={ "/author/" (id) "?by=email" } title="This author's comments" { (s.author_name) }
                a.email href={ "/author/" (id) "?by=email" } title="This author's comments" { (s.author_email) }
                @if let Some(ip) = s.context.ip { a.ip href={ "/author/" (id) "?by=ip" } title="Comments from this IP" { (ip) } }
                @if let Some(url) = s.author_url.as_deref().filter(|u| !u.is_empty()) {
                    span.website title="The author's website, as given in the form" { "site " bdi { (url) } }
                }
                span.post { "on " a href={ "/queue?status=" (status.as_str()) "&post=" (urlencode(&s.post_id)) } title={ "post " (s.post_id) } { (s.post_title.as_deref().unwrap_or(&s.post_id)) } }
                time datetime=(time(comment.created_at_ms)) { (time(comment.created_at_ms)) }
                span.score title="Spam probability at submission" { "spam " (format!("{:.2}", comment.verdict.spam_score)) }
                span.toxicity title="Toxicity at submission: the probability raters would call it toxic" data-toxicity=(format!("{:.3}", comment.verdict.toxicity)) { "toxicity " (format!("{:.2}", comment.verdict.toxicity)) }
                @if let Some(campaign) = campaign_of(comment) {
                    a.campaign href={ "/queue?status=" (status.as_str()) "&campaign=" (campaign) } { "campaign" }
                }
                a.details href={ "/comment/" (id) } { "details" }
            }
            @if let Some(parent) = parent {
                blockquote.reply-to { "In reply to " b { (parent.submission.author_name) } ": " (excerpt(&parent.submission.content)) }
            } @else if s.parent_id.is_some() {
                blockquote.reply-to { "In reply to a comment no longer stored" }
            }
            p.text { (highlighted(comment)) }
            ul.reasons {
                @for r in comment.verdict.reasons.iter().filter(|r| r.code != ReasonCode::Classifier) {
                    li data-code=(r.code.as_str()) title=(r.detail) { b { (r.code.label()) } " " (r.detail) }
                }
                @for (feature, weight) in top_contributions(comment) {
                    li.contribution data-direction=(if weight >= 0.0 { "spam" } else { "ham" }) {
                        (if weight >= 0.0 { "▲ " } else { "▼ " }) (feature_label(feature)) " " b { (format!("{weight:+.2}")) }
                        (if weight >= 0.0 { " toward spam" } else { " toward ham" })
                    }
                }
            }
            form.decide method="post" action="/moderate" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="comment_id" value=(id);
                input type="hidden" name="back" value=(status.as_str());
                input.note type="text" name="note" maxlength="1000" placeholder="Note (optional)" aria-label="Note";
                @for a in &actions {
                    button type="submit" name="action" value=(action_name(*a)) data-action=(action_name(*a)) {
                        (action_label(*a))
                        @if let Some(key) = action_key(*a) { " " kbd.hint { (key) } }
                    }
                }
            }
        }
    }
}

/// The classifier's strongest contributions, strongest first: the feature as the reason names
/// it and its weight (function words left out, as in the marked text).
fn top_contributions(comment: &StoredComment) -> Vec<(&str, f32)> {
    let mut contributions: Vec<(&str, f32)> = comment
        .verdict
        .reasons
        .iter()
        .filter_map(|r| Some((r.classifier_feature()?, r.weight)))
        .filter(|(feature, _)| !is_function_words(feature))
        .collect();
    contributions.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    contributions.truncate(TOP_CONTRIBUTIONS);
    contributions
}

/// A classifier feature as a moderator reads it: words quoted, signals named in plain words.
fn feature_label(feature: &str) -> String {
    let spaced = |s: &str| s.replace('_', " ");
    match feature {
        "link_count" => return "links".into(),
        "author_url" => return "a website given".into(),
        "uppercase_ratio" => return "capital letters".into(),
        "repeated_chars" => return "repeated letters".into(),
        "link:any" => return "a link".into(),
        "contact:email" => return "an email address".into(),
        "contact:phone" => return "a phone number".into(),
        "number:short" | "number:count" => return "a number".into(),
        _ => {}
    }
    if let Some((kind, rest)) = feature.split_once(':') {
        return match kind {
            "link" => format!("a link to {rest}"),
            "website" => format!("website {rest}"),
            "intent" => format!("intent: {}", spaced(rest)),
            _ => format!("{}: {}", spaced(kind), spaced(rest)),
        };
    }
    if let Some(word) = feature.strip_prefix('^') {
        return format!("starts with “{word}”");
    }
    if let Some(letters) = feature.strip_prefix('"').and_then(|f| f.strip_suffix('"')) {
        return format!("letters “{letters}”");
    }
    format!("“{feature}”")
}

fn action_label(action: Action) -> &'static str {
    match action {
        Action::Approve => "Approve",
        Action::Hold => "Hold",
        Action::MarkSpam => "Spam",
        Action::Trash => "Trash",
        Action::Restore => "Restore",
    }
}

/// The key that takes the action on the selected comment, if one does.
fn action_key(action: Action) -> Option<&'static str> {
    match action {
        Action::Approve => Some("a"),
        Action::MarkSpam => Some("s"),
        Action::Trash => Some("t"),
        Action::Hold | Action::Restore => None,
    }
}

/// Words that carry no meaning a moderator can use ("at", "and", "what"): never highlighted
/// or listed, whatever weight the classifier gave them.
const FUNCTION_WORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "all", "am", "an", "and", "any", "are", "as", "at",
    "be", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could",
    "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had",
    "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how", "i", "if", "in",
    "into", "is", "it", "its", "just", "me", "more", "most", "my", "no", "nor", "not", "now", "of",
    "off", "on", "once", "only", "or", "other", "our", "ours", "out", "over", "own", "same", "she",
    "should", "so", "some", "such", "than", "that", "the", "their", "them", "then", "there",
    "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very",
    "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will",
    "with", "would", "you", "your", "yours",
];

/// Whether every word of `feature` (a word, a bigram or a quoted character n-gram) is a
/// function word.
fn is_function_words(feature: &str) -> bool {
    let words = feature.trim_matches('"');
    words
        .split_whitespace()
        .all(|w| FUNCTION_WORDS.contains(&w.to_lowercase().as_str()))
}

/// Longest search accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 200;

/// The search box, posted (never a GET: the words stay out of URLs and logs).
pub fn search_form(csrf: &str, q: &str) -> Markup {
    html! {
        form.search method="post" action="/search" role="search" {
            input type="hidden" name="csrf" value=(csrf);
            label { "Search " input type="search" name="q" value=(q) maxlength=(MAX_QUERY_BYTES) placeholder="text, name, email or IP"; }
            button type="submit" { "Search" }
        }
    }
}

/// Percent-encodes a query value.
pub fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Links and email addresses in a comment's text, which the console marks whole: they are
/// what gets most comments held, and no word inside them means anything alone.
static CONTACT: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    crate::privacy::constant_regex(
        r"(?i)\b(?:https?://|www\.)[^\s<>]+|[\w.+%'-]+@[\w-]+(?:\.[\w-]+)*\.\w{2,}",
    )
});

/// The comment text with the words the classifier weighed marked: `spam` or `ham` by
/// direction, `w1`–`w3` by strength; links and email addresses marked `link`. Each piece is
/// escaped like any other text.
fn highlighted(comment: &StoredComment) -> Markup {
    let weights = word_weights(comment);
    let text = &comment.submission.content;
    let toxic = &comment.verdict.toxic_spans;
    let mut pieces: Vec<Piece<'_>> = Vec::new();
    let mut done = 0;
    for contact in CONTACT.find_iter(text) {
        word_pieces(text, done..contact.start(), &weights, toxic, &mut pieces);
        pieces.push(Piece {
            text: contact.as_str(),
            weight: None,
            toxic: None,
            contact: true,
        });
        done = contact.end();
    }
    word_pieces(text, done..text.len(), &weights, toxic, &mut pieces);
    html! {
        @for p in pieces {
            @if p.contact {
                mark.link title=(if p.text.contains('@') && !p.text.contains('/') { "email address" } else { "link" }) { (p.text) }
            } @else {
                @match p.toxic {
                    Some(kind) => u.toxic data-kind=(kind) title={ "toxic" @if !kind.is_empty() { ": " (kind.replace('_', " ")) } } { (marked(p.text, p.weight)) },
                    None => (marked(p.text, p.weight)),
                }
            }
        }
    }
}

/// A run of a comment's text as the console marks it.
struct Piece<'a> {
    text: &'a str,
    /// The classifier's weight on the word, if it weighed it.
    weight: Option<f32>,
    /// The type of the toxic span the word is in, if any.
    toxic: Option<&'a str>,
    /// A link or an email address.
    contact: bool,
}

/// Splits `text[range]` into words and what lies between, each with its weight and toxic span.
fn word_pieces<'a>(
    text: &'a str,
    range: std::ops::Range<usize>,
    weights: &Weights,
    toxic: &'a [ToxicSpan],
    pieces: &mut Vec<Piece<'a>>,
) {
    let segment = &text[range.clone()];
    // Toxic spans count code points from the start of the whole text.
    let base = text[..range.start].chars().count();
    let mut push = |from: usize, to: usize, chars: std::ops::Range<usize>, word: bool| {
        let (piece, weight) = piece(&segment[from..to], word, weights);
        pieces.push(Piece {
            text: piece,
            weight,
            toxic: toxic_kind(toxic, word, base + chars.start..base + chars.end),
            contact: false,
        });
    };
    let (mut start, mut start_char, mut in_word) = (0, 0, false);
    for (n, (i, c)) in segment.char_indices().enumerate() {
        let wordy = c.is_alphanumeric() || c == '\'';
        if wordy != in_word && i > start {
            push(start, i, start_char..n, in_word);
            (start, start_char) = (i, n);
        }
        in_word = wordy;
    }
    if start < segment.len() {
        let end = start_char + segment[start..].chars().count();
        push(start, segment.len(), start_char..end, in_word);
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
            if gram.chars().count() >= 3 && !gram.contains(' ') && !is_function_words(&gram) {
                weights.grams.push((gram, reason.weight));
            }
            continue;
        }
        if feature.contains(':') {
            continue; // link:, website:, contact: and intent: features name no word of the text
        }
        for word in feature.split_whitespace() {
            let word = word.to_lowercase();
            if !FUNCTION_WORDS.contains(&word.as_str()) {
                *weights.words.entry(word).or_insert(0.0) += reason.weight;
            }
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
                post_title: None,
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
        let html = comment(&c, "tok", None).into_string();
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
        // "out" and "my" are function words: only the bigram's "check" is marked.
        assert_eq!(html.matches("<mark").count(), 3, "{html}");
    }

    #[test]
    fn function_words_are_never_marked_and_links_are_marked_whole() {
        let c = stored(
            "Look at this and write to me@example.com or see https://spam.example.biz/a?b=c now",
            vec![
                Reason::classifier("at", 0.9),
                Reason::classifier("and", 0.4),
                Reason::classifier("look", 0.7),
                Reason::classifier("\"the\"", 0.3),
            ],
        );
        let html = highlighted(&c).into_string();
        assert!(
            html.contains("<mark class=\"spam w2\" title=\"+0.70\">Look</mark>"),
            "{html}"
        );
        assert!(
            !html.contains(">at</mark>") && !html.contains(">and</mark>"),
            "{html}"
        );
        assert!(
            html.contains("<mark class=\"link\" title=\"email address\">me@example.com</mark>"),
            "{html}"
        );
        assert!(
            html.contains(
                "<mark class=\"link\" title=\"link\">https://spam.example.biz/a?b=c</mark>"
            ),
            "{html}"
        );
        let listed = top_contributions(&c);
        assert_eq!(listed, vec![("look", 0.7)]);
        assert_eq!(feature_label("uppercase_ratio"), "capital letters");
        assert_eq!(
            feature_label("link:spam.example.biz"),
            "a link to spam.example.biz"
        );
        assert_eq!(feature_label("intent:self_promo"), "intent: self promo");
        assert_eq!(feature_label("\"hann\""), "letters “hann”");
        assert_eq!(feature_label("check out"), "“check out”");
    }
}

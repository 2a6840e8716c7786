//! Text normalization: from a raw comment to the canonical lowercase text the features read,
//! plus the surface statistics (links, capitals, repeated characters) that lowercasing erases.
//!
//! Steps, in order: strip HTML tags, decode HTML entities, NFKC, drop format characters
//! (Unicode category Cf, such as U+FEFF and zero-width joiners) and map control characters to
//! spaces, replace URLs and e-mail addresses by placeholders (keeping each URL's domain),
//! lowercase, replace long digit runs by placeholders, and collapse whitespace.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

/// Placeholder that replaces each URL in the normalized text.
pub const URL_TOKEN: &str = "_url_";
/// Placeholder that replaces each e-mail address.
pub const EMAIL_TOKEN: &str = "_email_";
/// Placeholder for a run of 3 or 4 digits (years, prices, short codes).
pub const NUM_TOKEN: &str = "_num_";
/// Placeholder for a run of 5 or more digits (phone numbers, SMS short codes). With
/// counts told apart, only for runs that look like them: 5 or 6 digits, or a leading `0` or
/// `+`.
pub const LONGNUM_TOKEN: &str = "_longnum_";
/// With counts told apart, placeholder for a run of 7 or more digits that does not start
/// with `0` or `+`: view, like and subscriber counts ("1000000000 views") rather than phone
/// numbers, which in the training data almost always start with `0` or `+`.
pub const COUNT_TOKEN: &str = "_bignum_";

static TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"<\s*/?\s*[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?\s*>"#).unwrap_or_else(|_| never())
});

/// An e-mail address, as `LINK`'s first alternative and [`EMAIL_AT_START`] read it.
const EMAIL_PATTERN: &str = r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}";

static LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r#"(?i)(?P<email>{EMAIL_PATTERN})|(?:https?://|www\.)(?P<host>[^\s/?#<>"']+)[^\s<>"']*|\b(?P<bare>[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:com|net|org|info|biz|co|uk|us|ly|me|tv|io|de|ru|gl|tk|cc))\b(?:/[^\s<>"']*)?"#
    ))
    .unwrap_or_else(|_| never())
});

/// `LINK`'s `email` alternative, anchored: whether a match is an address (see [`link_at`]).
static EMAIL_AT_START: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("(?i)^{EMAIL_PATTERN}")).unwrap_or_else(|_| never()));

/// The prefixes of `LINK`'s URL alternative (matched ignoring ASCII case).
const URL_PREFIXES: [&str; 3] = ["http://", "https://", "www."];

/// A `LINK` match in a token.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Link {
    start: usize,
    end: usize,
    /// The span of the host (URL) or bare domain; `None` for an e-mail address.
    host: Option<(usize, usize)>,
}

/// The next `LINK` match in `token` from byte `at`, with the part its capture groups would
/// give, read from the match itself: the regex's capture engine (a backtracker) cost about
/// 8 % of scoring a comment with one URL, and the alternatives tell themselves apart.
///
/// Leftmost-first, the `email` alternative wins wherever it matches; it needs an `@` and has
/// no assertions, so it matched exactly when the anchored pattern matches the found text.
/// Otherwise a match starting with `http://`, `https://` or `www.` is a URL (the bare-domain
/// alternative cannot match where that one fails), whose host runs to the first character
/// of `[\s/?#<>"']`; any other match is a bare domain, which runs to the first `/`.
/// (`(?i)` would also fold `ſ` to `s`; NFKC has already replaced it.)
fn link_at(token: &str, at: usize) -> Option<Link> {
    let found = LINK.find_at(token, at)?;
    let text = found.as_str();
    let (start, end) = (found.start(), found.end());
    if text.contains('@') && EMAIL_AT_START.is_match(text) {
        return Some(Link {
            start,
            end,
            host: None,
        });
    }
    let prefix = URL_PREFIXES.iter().find(|p| {
        text.as_bytes()
            .get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes()))
    });
    let (from, stop): (usize, fn(char) -> bool) = match prefix {
        Some(p) => (p.len(), |c| c.is_whitespace() || "/?#<>\"'".contains(c)),
        None => (0, |c| c == '/'),
    };
    let rest = text.get(from..).unwrap_or("");
    let to = from + rest.find(stop).unwrap_or(rest.len());
    Some(Link {
        start,
        end,
        host: Some((start + from, start + to)),
    })
}

/// The patterns above are literals checked by the tests; this is never reached.
fn never() -> Regex {
    Regex::new("$^").unwrap_or_else(|_| unreachable!("the empty pattern compiles"))
}

/// A comment after normalization. Reusable: [`normalize_into`] clears and refills it so a
/// caller can keep one per thread and avoid allocating on every call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Normalized {
    /// Lowercase text with placeholders, words separated by single spaces.
    pub text: String,
    /// Domains of the URLs found (lowercase, without `www.`), separated by spaces; kept
    /// apart from `text` so a domain stays one token.
    pub domains: String,
    /// Number of URLs and e-mail addresses found; spam carries links far more often.
    pub links: u32,
    /// Letters before lowercasing; the denominator of the uppercase ratio.
    pub letters: u32,
    /// Uppercase letters before lowercasing; shouting is a spam signal lowercasing erases.
    pub uppercase: u32,
    /// Characters of the cleaned text; length separates one-word reactions from adverts.
    pub chars: u32,
    /// Runs of three or more identical non-space characters ("!!!", "sooo").
    pub repeated_runs: u32,
}

impl Normalized {
    /// Share of letters that were uppercase, in [0, 1] (0 for text without letters).
    pub fn uppercase_ratio(&self) -> f64 {
        if self.letters == 0 {
            0.0
        } else {
            f64::from(self.uppercase) / f64::from(self.letters)
        }
    }
}

/// Normalizes `raw` into a fresh [`Normalized`].
pub fn normalize(raw: &str) -> Normalized {
    normalize_with(raw, false)
}

/// [`normalize`], with long counts told apart from phone numbers when `counts` is set
/// (see [`COUNT_TOKEN`]).
pub fn normalize_with(raw: &str, counts: bool) -> Normalized {
    let mut out = Normalized::default();
    normalize_into_with(raw, &mut out, counts);
    out
}

/// True for characters of Unicode general category Cf (format), which render as nothing but
/// change the bytes: U+FEFF, zero-width spaces and joiners, bidi controls, soft hyphens, tags.
pub fn is_format_char(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// Strips tags, decodes entities, applies NFKC and removes format characters.
fn clean(raw: &str) -> Cow<'_, str> {
    let mut text: Cow<'_, str> = Cow::Borrowed(raw);
    if text.contains('<')
        && let Cow::Owned(s) = TAG.replace_all(&text, " ")
    {
        text = Cow::Owned(s);
    }
    if text.contains('&') {
        if let Some(s) = decode_common_entities(&text) {
            text = Cow::Owned(s);
        } else if let Cow::Owned(s) = html_escape::decode_html_entities(&text) {
            text = Cow::Owned(s);
        }
    }
    if !text.is_ascii() || text.bytes().any(|b| b.is_ascii_control()) {
        let s: String = text
            .nfkc()
            .filter(|&c| !is_format_char(c))
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        text = Cow::Owned(s);
    }
    text
}

/// The references common in scraped comments, with what `html_escape` decodes each to.
const COMMON_ENTITIES: [(&str, &str); 5] = [
    ("&amp;", "&"),
    ("&#39;", "'"),
    ("&quot;", "\""),
    ("&lt;", "<"),
    ("&gt;", ">"),
];

/// Decodes `text` when every `&` in it starts one of [`COMMON_ENTITIES`]; `None` otherwise.
///
/// `html_escape` decodes a reference from its `&` to the first `;`, with no `&` between, and
/// then carries on after the `;`; so on such text it gives the same result. It finds a name
/// by binary search in a table of over 2,000, which cost about 5% of scoring a comment with
/// a single `&amp;`.
fn decode_common_entities(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        let (before, tail) = rest.split_at(at);
        out.push_str(before);
        let (entity, decoded) = COMMON_ENTITIES
            .iter()
            .find(|(entity, _)| tail.starts_with(entity))?;
        out.push_str(decoded);
        rest = tail.get(entity.len()..)?;
    }
    out.push_str(rest);
    Some(out)
}

/// Normalizes `raw` into `out`, reusing its buffers.
pub fn normalize_into(raw: &str, out: &mut Normalized) {
    normalize_into_with(raw, out, false);
}

/// [`normalize_into`], with long counts told apart from phone numbers when `counts` is set.
pub fn normalize_into_with(raw: &str, out: &mut Normalized, counts: bool) {
    out.text.clear();
    out.domains.clear();
    out.links = 0;
    let cleaned = clean(raw);

    let stats = if cleaned.is_ascii() {
        // Same predicates, without decoding UTF-8.
        surface_stats(cleaned.bytes().map(char::from))
    } else {
        surface_stats(cleaned.chars())
    };
    out.letters = stats.letters;
    out.uppercase = stats.uppercase;
    out.chars = stats.chars;
    out.repeated_runs = stats.repeated_runs;

    let may_link = cleaned.contains('.') || cleaned.contains('@');
    let mut last = 0;
    if may_link {
        for (offset, token) in link_candidates(&cleaned) {
            let mut at = 0;
            // No `LINK` alternative matches the empty string, so each search may start where
            // the previous match ended, as `find_iter` would.
            while let Some(link) = link_at(token, at) {
                at = link.end;
                push_words(&cleaned[last..offset + link.start], &mut out.text, counts);
                last = offset + link.end;
                out.links += 1;
                let Some((host_start, host_end)) = link.host else {
                    push_token(EMAIL_TOKEN, &mut out.text);
                    continue;
                };
                push_token(URL_TOKEN, &mut out.text);
                let host = token.get(host_start..host_end).unwrap_or("");
                let host = host.split(':').next().unwrap_or(host);
                let host = host.trim_end_matches('.');
                if !host.is_empty() {
                    if !out.domains.is_empty() {
                        out.domains.push(' ');
                    }
                    let start = out.domains.len();
                    out.domains
                        .extend(host.chars().flat_map(char::to_lowercase));
                    if out.domains[start..].starts_with("www.") {
                        out.domains.replace_range(start..start + 4, "");
                    }
                }
            }
        }
    }
    push_words(&cleaned[last..], &mut out.text, counts);
}

/// The surface statistics of [`Normalized`] that lowercasing erases.
struct SurfaceStats {
    letters: u32,
    uppercase: u32,
    chars: u32,
    repeated_runs: u32,
}

/// Counts letters, uppercase letters, characters and runs of three or more identical
/// non-space characters. Inlined into each caller so the counters stay in registers: as a
/// shared closure it was a call per character.
#[inline(always)]
fn surface_stats(text: impl Iterator<Item = char>) -> SurfaceStats {
    let (mut letters, mut uppercase, mut chars, mut repeated_runs) = (0u32, 0u32, 0u32, 0u32);
    let (mut prev, mut run) = ('\0', 0u32);
    for c in text {
        chars += 1;
        if c.is_alphabetic() {
            letters += 1;
            if c.is_uppercase() {
                uppercase += 1;
            }
        }
        if c == prev && !c.is_whitespace() {
            run += 1;
            if run == 3 {
                repeated_runs += 1;
            }
        } else {
            prev = c;
            run = 1;
        }
    }
    SurfaceStats {
        letters,
        uppercase,
        chars,
        repeated_runs,
    }
}

/// The whitespace-separated tokens of `text` that may hold a link, with their byte offsets.
///
/// Every `LINK` alternative needs an `@`, a `://` or a `.` followed by another character, and
/// none matches whitespace (`\s` and [`char::is_whitespace`] are both Unicode `White_Space`).
/// A token's edges are word boundaries in the text as in the token alone, so searching these
/// tokens finds exactly the matches a search of the whole text finds, without running the
/// automaton over ordinary words.
fn link_candidates(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        loop {
            let rest = text.as_bytes().get(pos..)?;
            let at = pos + rest.iter().position(|&b| matches!(b, b'.' | b'@' | b':'))?;
            // `pos` is the text start or a token end, so the token starts at `pos` at the
            // latest; `at` is an ASCII byte and therefore a character boundary.
            let start = text
                .get(pos..at)?
                .char_indices()
                .rev()
                .find(|&(_, c)| c.is_whitespace())
                .map_or(pos, |(i, c)| pos + i + c.len_utf8());
            let end = text
                .get(at..)?
                .find(char::is_whitespace)
                .map_or(text.len(), |i| at + i);
            pos = end;
            let token = text.get(start..end)?;
            if may_hold_link(token.as_bytes()) {
                return Some((start, token));
            }
        }
    })
}

/// See [`link_candidates`].
fn may_hold_link(token: &[u8]) -> bool {
    token.iter().enumerate().any(|(i, &b)| match b {
        b'@' => true,
        b'.' => i + 1 < token.len(),
        b':' => token.get(i + 1..i + 3) == Some(b"//"),
        _ => false,
    })
}

fn push_token(token: &str, out: &mut String) {
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(token);
}

/// Appends `s` lowercased, with whitespace collapsed and digit runs of 3+ replaced.
fn push_words(s: &str, out: &mut String, counts: bool) {
    if s.is_ascii() {
        push_words_ascii(s, out, counts);
    } else {
        push_words_general(s, out, counts);
    }
}

/// The placeholder of a run of `digits` (ASCII digits) found after `before`; `None` for
/// runs of one or two digits, which stay as they are.
fn number_token(digits: &str, before: Option<char>, counts: bool) -> Option<&'static str> {
    match digits.len() {
        0..=2 => None,
        3 | 4 => Some(NUM_TOKEN),
        5 | 6 => Some(LONGNUM_TOKEN),
        _ if !counts || digits.starts_with('0') || before == Some('+') => Some(LONGNUM_TOKEN),
        _ => Some(COUNT_TOKEN),
    }
}

/// [`push_words`] for any text.
fn push_words_general(s: &str, out: &mut String, counts: bool) {
    let mut pending_space = !out.is_empty();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        if c.is_ascii_digit() {
            let mut end = i + 1;
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_digit() {
                    end = j + 1;
                    chars.next();
                } else {
                    break;
                }
            }
            let before = s[..i].chars().next_back();
            out.push_str(number_token(&s[i..end], before, counts).unwrap_or(&s[i..end]));
            continue;
        }
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
        }
    }
}

/// [`char::is_whitespace`] for an ASCII byte (unlike [`u8::is_ascii_whitespace`], it
/// includes the vertical tab).
fn is_ascii_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t'..=b'\r')
}

/// [`push_words`] for ASCII text, with the same output: comments are usually ASCII, and
/// copying a run of bytes at a time and lowercasing it in place is several times cheaper
/// than decoding and pushing each character.
fn push_words_ascii(s: &str, out: &mut String, counts: bool) {
    let start = out.len();
    let bytes = s.as_bytes();
    let mut pending_space = !out.is_empty();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if is_ascii_space(b) {
            pending_space = !out.is_empty();
            i += 1;
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        // A run of digits, or of other visible bytes.
        let digits = b.is_ascii_digit();
        let end = bytes[i..]
            .iter()
            .position(|&c| is_ascii_space(c) || c.is_ascii_digit() != digits)
            .map_or(bytes.len(), |n| i + n);
        let run = &s[i..end];
        let before = i.checked_sub(1).map(|p| char::from(bytes[p]));
        match digits.then(|| number_token(run, before, counts)).flatten() {
            Some(token) => out.push_str(token),
            None => out.push_str(run),
        }
        i = end;
    }
    // Placeholders and digits are unaffected; `start` was the end of the text, so it is a
    // character boundary even when what came before is not ASCII.
    out[start..].make_ascii_lowercase();
}

/// The host of an author URL, lowercase and without `www.`; empty when there is none.
pub fn author_domain(url: &str) -> String {
    let url = url.trim();
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    let host = host.split(':').next().unwrap_or(host);
    let host = host.to_lowercase();
    host.strip_prefix("www.").map(str::to_owned).unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_compile() {
        assert!(TAG.is_match("<br />"));
        assert!(LINK.is_match("http://x.com"));
    }

    #[test]
    fn the_email_alternative_is_the_anchored_pattern() {
        assert!(EMAIL_AT_START.is_match("Me@X.org, more"));
        assert!(!EMAIL_AT_START.is_match(" me@x.org"));
        let names: Vec<Option<&str>> = LINK.capture_names().collect();
        assert_eq!(names, [None, Some("email"), Some("host"), Some("bare")]);
    }

    #[test]
    fn ascii_words_match_the_general_path() {
        let texts = [
            "  Hello\tWORLD \x0b12 123 1234 12345 a1b22c333d\x0c ",
            "x",
            "",
            "   ",
            "ABC-12.5,9999!!",
            "+4479354541 07935454150 1000000000 2,124923004 87121 123456",
        ];
        for text in texts {
            for (prefix, counts) in [("", false), ("_url_", false), ("", true)] {
                let mut fast = prefix.to_owned();
                push_words_ascii(text, &mut fast, counts);
                let mut slow = prefix.to_owned();
                push_words_general(text, &mut slow, counts);
                assert_eq!(fast, slow, "{text:?} after {prefix:?}");
            }
        }
    }

    #[test]
    fn common_entities_decode_as_html_escape_does() {
        let texts = [
            "a &amp; b",
            "&amp;amp; &amp;lt; &&amp; &amp",
            "&lt;3 &gt; &quot;x&quot; I&#39;m",
            "&#39;&#39;&amp;&lt;&gt;&quot;",
            "&apos; &nbsp; &#039; &#x27; &AMP; & ; &",
            "日本&amp;語",
            "no entity",
        ];
        for text in texts {
            if let Some(fast) = decode_common_entities(text) {
                assert_eq!(fast, html_escape::decode_html_entities(text), "{text:?}");
            }
        }
        assert!(decode_common_entities(texts[0]).is_some());
        assert!(decode_common_entities(texts[3]).is_some());
        assert!(decode_common_entities(texts[4]).is_none());
    }

    #[test]
    fn strips_zero_width_and_bom() {
        let n = normalize("he\u{200B}llo\u{FEFF} wor\u{200D}ld\u{FEFF}");
        assert_eq!(n.text, "hello world");
    }

    #[test]
    fn decodes_entities_and_strips_tags() {
        let n = normalize("I&#39;m &quot;here&quot;<br />next &amp; more &lt;3");
        assert_eq!(n.text, "i'm \"here\" next & more <3");
        let n =
            normalize(r#"<a href="http://www.youtube.com/watch?v=x&amp;t=2m19s">2:19</a> best"#);
        assert_eq!(n.text, "2:19 best");
    }

    #[test]
    fn nfkc_folds_compatibility_forms() {
        let n = normalize("ＦＲＥＥ ｍｏｎｅｙ ﬁne");
        assert_eq!(n.text, "free money fine");
        assert_eq!(n.uppercase, 4);
    }

    #[test]
    fn urls_become_placeholders_with_domains() {
        let n = normalize(
            "Visit http://www.MyLeaderGate.com/moretraffic now or bit.ly/abc, mail me@x.org",
        );
        assert_eq!(n.text, "visit _url_ now or _url_ mail _email_");
        assert_eq!(n.domains, "myleadergate.com bit.ly");
        assert_eq!(n.links, 3);
    }

    #[test]
    fn digits_and_statistics() {
        let n = normalize("CALL 08452810075 now!!! win £1000 in 2 days");
        assert_eq!(n.text, "call _longnum_ now!!! win £_num_ in 2 days");
        assert_eq!(n.repeated_runs, 2, "\"!!!\" and \"000\"");
        assert!(n.uppercase_ratio() > 0.0);
    }

    #[test]
    fn counts_differ_from_phone_numbers_when_asked() {
        let text = "1000000000 views, call 08452810075 or +4479354541 or 87121";
        assert_eq!(
            normalize_with(text, true).text,
            "_bignum_ views, call _longnum_ or +_longnum_ or _longnum_"
        );
        assert_eq!(
            normalize(text).text,
            "_longnum_ views, call _longnum_ or +_longnum_ or _longnum_"
        );
    }

    #[test]
    fn control_chars_become_spaces() {
        let n = normalize("it\u{0092}s ok\tthen\n");
        assert_eq!(n.text, "it s ok then");
    }

    #[test]
    fn empty_and_whitespace() {
        assert_eq!(normalize("").text, "");
        assert_eq!(normalize(" \u{FEFF}\n ").text, "");
    }

    /// A link's span and its host's span, if any.
    type Found = (usize, usize, Option<(usize, usize)>);

    /// Link spans and capture groups found by a search of the whole text.
    fn whole_text_links(text: &str) -> Vec<Found> {
        LINK.captures_iter(text)
            .filter_map(|c| {
                let m = c.get(0)?;
                let host = c
                    .name("host")
                    .or_else(|| c.name("bare"))
                    .map(|h| (h.start(), h.end()));
                Some((m.start(), m.end(), host))
            })
            .collect()
    }

    /// The same, found through [`link_candidates`] and [`link_at`] as `normalize_into` does.
    fn token_links(text: &str) -> Vec<Found> {
        let mut found = Vec::new();
        for (offset, token) in link_candidates(text) {
            let mut at = 0;
            while let Some(link) = link_at(token, at) {
                at = link.end;
                let host = link.host.map(|(a, b)| (offset + a, offset + b));
                found.push((offset + link.start, offset + link.end, host));
            }
        }
        found
    }

    #[test]
    fn token_search_finds_the_whole_text_links_and_their_parts() {
        let fixed = [
            "see http://x.com/a?b=c now",
            "www.! www. www.a",
            "mail me@x.org, or x@y",
            "HTTP://LOCALHOST:8080/x and bit.ly/abc.",
            "HtTpS://a.b/c?d#e Www.x.com/y me@x.com/path a.b@c.com x@y.com@z.org",
            "end. of. sentences... a.b.c.com",
            "\u{A0}www.x.de\u{2003}y.io\u{85}z.me\tq.tk\u{0B}r.cc",
            "é.com ж.ru 日本.jp x.日本",
            "a@b.c@d.com .com com. @ : :// http://",
        ];
        let frags = [
            "a",
            "B",
            "x.com",
            "WWW.",
            "www.",
            "Www.",
            "HtTp://",
            "http://",
            "https://",
            "@",
            ".",
            ":",
            " ",
            "\t",
            "\u{A0}",
            "\u{2003}",
            "é",
            "日本",
            "-",
            "_",
            "/",
            "?",
            "#",
            "\"",
            "'",
            "<",
            ">",
            "123",
            "com",
            "org",
            "ly",
            "me@x",
            "foo",
            "localhost",
            "%",
            "+",
            "co.uk",
        ];
        // A fixed xorshift sequence: reproducible mixes of the fragments above.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mixed = (0..5000).map(|_| {
            (0..next() % 10 + 1)
                .map(|_| frags[(next() % frags.len() as u64) as usize])
                .collect::<String>()
        });
        for text in fixed.iter().map(|s| (*s).to_owned()).chain(mixed) {
            assert_eq!(whole_text_links(&text), token_links(&text), "{text:?}");
        }
    }
}

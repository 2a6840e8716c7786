//! Signals that travel between communities: what spam does to reach a reader, whatever the
//! site, the topic or the wording — contact channels, money claims, disguised words, and the
//! comment form's other fields (the author's name and website, which blog spam relies on).
//!
//! Each signal is one word-block term (`g:NAME`, shown as a readable phrase) that the model
//! weighs like any other; a disguised word ("fr33", "vіagra" with a Cyrillic `і`,
//! "c a s h") is also counted as the word it imitates, so it meets that word's weight.
//! Groups are switched on per model ([`SignalGroup`]), so each was kept only where
//! leave-one-source-out said so.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use super::CommentText;
use super::normalize::author_domain;

/// A family of signals, switched on per model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "tools", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum SignalGroup {
    /// Phone numbers in any format, messaging apps, "DM me", `@handles`, e-mail addresses.
    Contact,
    /// Amounts of money, earnings and investment claims, rates per day or month.
    Money,
    /// Disguised words: look-alike letters from other scripts, digits for letters, spaced
    /// letters, invisible characters.
    Obfuscation,
    /// The author's name (a link, a keyword list, trade words) and website (shorteners,
    /// cheap top-level domains, trade words in the path), and shortened links in the text.
    Author,
}

/// Every group, in the order signals are read.
pub const ALL_GROUPS: [SignalGroup; 4] = [
    SignalGroup::Contact,
    SignalGroup::Money,
    SignalGroup::Obfuscation,
    SignalGroup::Author,
];

/// The signals of one comment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    /// Names of the signals present (`contact_phone`, ...), each once.
    pub names: Vec<&'static str>,
    /// Disguised words, undone, separated by spaces.
    pub words: String,
}

/// Content patterns with the signal each one raises. Read case-insensitively over the text
/// after NFKC, so full-width and styled letters already read as plain ones.
const CONTENT_PATTERNS: [(SignalGroup, &str, &str); 9] = [
    (
        SignalGroup::Contact,
        "contact_phone",
        r"(?:^|[^\w])\+?\(?\d{1,4}\)?(?:[\s.\-]{1,2}\(?\d{2,5}\)?){2,5}(?:[^\w]|$)",
    ),
    (
        SignalGroup::Contact,
        "contact_app",
        r"\b(?:whats\s?app|wa\.me|telegram|t\.me|viber|wechat|signal app|kik|snapchat|skype)\b",
    ),
    (
        SignalGroup::Contact,
        "contact_ask",
        r"\b(?:dm|pm|inbox|message|text|call|contact|email|mail|write to|reach(?: out to)?) (?:me|us|him|her|them)\b|\bcontact (?:info|details|number)\b",
    ),
    (
        SignalGroup::Contact,
        "contact_handle",
        r"(?:^|[\s(:])@[a-z0-9_.]{3,}",
    ),
    (
        SignalGroup::Contact,
        "contact_email",
        r"[a-z0-9._+-]+\s?(?:@|\(at\)|\[at\]| at )\s?[a-z0-9-]+\s?(?:\.|\(dot\)|\[dot\]| dot )\s?(?:com|net|org|co|info|io|me)\b",
    ),
    (
        SignalGroup::Money,
        "money_amount",
        r"[$£€₹₦¥₿]\s?\d|\d[\d,.]*\s?k?\s?(?:usd|dollars?|pounds?|euros?|gbp|eur|naira|btc|bitcoins?|eth|usdt|rs\.?|inr|rupees?)\b",
    ),
    (
        SignalGroup::Money,
        "money_earnings",
        r"\b(?:earn(?:ed|ing|s)?|profits?|income|invest(?:ed|ing|ment|ments|or)?|payouts?|withdraw(?:al|n|ed)?|forex|crypto(?:currency)?|bitcoin|trading|loans?|casino|jackpot|cash ?app|paypal|free money|make money|work from home)\b",
    ),
    (
        SignalGroup::Money,
        "money_rate",
        r"\b(?:per|a|every|each)\s(?:day|week|month|hour)\b|/\s?(?:day|week|month|hr|hour)\b|\bweekly\b|\bdaily\b",
    ),
    (
        SignalGroup::Author,
        "link_shortener",
        r"\b(?:bit\.ly|tinyurl\.com|goo\.gl|t\.co|ow\.ly|is\.gd|buff\.ly|rebrand\.ly|cutt\.ly|shorturl\.at|tiny\.cc|rb\.gy|linktr\.ee)/",
    ),
];

/// Word boundaries are ASCII ones (`(?-u:\b)`): a Unicode `\b` makes the regex engine give
/// up its DFA for the slow NFA simulation on every comment, which cost a third of the
/// service's capacity; the patterns' words are ASCII anyway.
static CONTENT: LazyLock<Option<RegexSet>> = LazyLock::new(|| {
    let patterns = CONTENT_PATTERNS
        .iter()
        .map(|(_, _, p)| format!("(?i){}", p.replace(r"\b", r"(?-u:\b)")));
    RegexSet::new(patterns).ok()
});

/// Trade words in an author's name or website path.
static TRADE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?-u:\b)(?:buy|cheap|best|online|services?|loans?|seo|casino|shop|store|repairs?|support|price|sale|deals?|insurance|escort|pharmacy|pills?|viagra|cialis|replica|discount|agency|marketing|solutions?|consult(?:ing|ants?)|hacker|recovery|tech|printer|antivirus|helpline|customer|official|free|review|crypto)(?-u:\b)",
    )
    .ok()
});

/// A domain-like run in an author's name.
static NAME_LINK: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:https?://|www\.|(?-u:\b)[a-z0-9-]+\.(?:com|net|org|info|biz|co|io|ru|in)(?-u:\b))",
    )
    .ok()
});

/// Top-level domains that cost next to nothing and that spam favours.
const CHEAP_TLDS: [&str; 20] = [
    "xyz", "top", "club", "online", "site", "biz", "tk", "ml", "ga", "cf", "gq", "icu", "pw",
    "buzz", "shop", "store", "live", "vip", "win", "loan",
];

/// URL shorteners, whose link hides where it goes.
const SHORTENERS: [&str; 12] = [
    "bit.ly",
    "tinyurl.com",
    "goo.gl",
    "t.co",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "rebrand.ly",
    "cutt.ly",
    "shorturl.at",
    "tiny.cc",
    "rb.gy",
];

/// Reads the signals of `groups` from a comment into `out` (cleared first).
pub fn read(groups: &[SignalGroup], text: &CommentText<'_>, out: &mut Signals) {
    out.names.clear();
    out.words.clear();
    if groups.is_empty() {
        return;
    }
    // ASCII is its own NFKC form: most comments skip the normalizer.
    let content: std::borrow::Cow<'_, str> = if text.content.is_ascii() {
        std::borrow::Cow::Borrowed(text.content)
    } else {
        std::borrow::Cow::Owned(text.content.nfkc().collect())
    };
    let patterned = groups.iter().any(|g| *g != SignalGroup::Obfuscation);
    if let Some(set) = CONTENT.as_ref().filter(|_| patterned) {
        for i in set.matches(&content).iter() {
            let (group, name, _) = CONTENT_PATTERNS[i];
            if groups.contains(&group) {
                out.names.push(name);
            }
        }
    }
    if groups.contains(&SignalGroup::Obfuscation) {
        undo_disguises(&content, out);
    }
    if groups.contains(&SignalGroup::Author) {
        author_signals(text.author_name, text.author_url, out);
    }
}

/// The author's name and website.
fn author_signals(name: &str, url: &str, out: &mut Signals) {
    let name = name.trim();
    if NAME_LINK.as_ref().is_some_and(|r| r.is_match(name)) {
        out.names.push("name_link");
    }
    if name.split_whitespace().count() >= 4 {
        out.names.push("name_long");
    }
    if TRADE.as_ref().is_some_and(|r| r.is_match(name)) {
        out.names.push("name_trade");
    }
    let host = author_domain(url);
    if host.is_empty() {
        return;
    }
    if SHORTENERS.contains(&host.as_str()) {
        out.names.push("website_shortener");
    }
    let tld = host.rsplit('.').next().unwrap_or("");
    if CHEAP_TLDS.contains(&tld) {
        out.names.push("website_cheap_tld");
    }
    let label = host.split('.').next().unwrap_or("");
    if label.matches('-').count() >= 2
        || TRADE
            .as_ref()
            .is_some_and(|r| r.is_match(&label.replace('-', " ")))
    {
        out.names.push("website_trade");
    }
    let path = url.split_once("://").map_or(url, |(_, r)| r);
    let path = path.split_once('/').map_or("", |(_, p)| p);
    if TRADE
        .as_ref()
        .is_some_and(|r| r.is_match(&path.replace(['-', '_', '/'], " ")))
    {
        out.names.push("website_trade_path");
    }
}

/// Finds disguised words, adds each one undone to `out.words`, and raises one signal per
/// kind of disguise found.
fn undo_disguises(content: &str, out: &mut Signals) {
    if content.chars().any(super::normalize::is_format_char) {
        out.names.push("disguise_hidden");
    }
    let (mut mixed, mut leet) = (false, false);
    let mut undone = String::new();
    for word in content.split_whitespace() {
        let word = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '@' && c != '$');
        if let Some(plain) = unmix_scripts(word) {
            mixed = true;
            push_word(&mut out.words, &plain);
        } else if let Some(plain) = unleet(word, &mut undone) {
            leet = true;
            push_word(&mut out.words, plain);
        }
    }
    let spaced = join_spaced_letters(content, &mut out.words);
    for (found, name) in [
        (mixed, "disguise_lookalike"),
        (leet, "disguise_digits"),
        (spaced, "disguise_spaced"),
    ] {
        if found {
            out.names.push(name);
        }
    }
}

fn push_word(words: &mut String, word: &str) {
    if !words.is_empty() {
        words.push(' ');
    }
    words.push_str(word);
}

/// The Latin letter a Cyrillic or Greek look-alike imitates.
fn latin_lookalike(c: char) -> Option<char> {
    Some(match c {
        'а' | 'α' => 'a',
        'в' | 'β' => 'b',
        'с' | 'ς' => 'c',
        'ԁ' => 'd',
        'е' | 'ε' => 'e',
        'һ' => 'h',
        'і' | 'ι' | 'ї' => 'i',
        'ј' => 'j',
        'к' | 'κ' => 'k',
        'м' => 'm',
        'п' | 'η' => 'n',
        'о' | 'ο' | 'σ' => 'o',
        'р' | 'ρ' => 'p',
        'ѕ' => 's',
        'т' | 'τ' => 't',
        'υ' => 'u',
        'ν' => 'v',
        'ѡ' | 'ω' => 'w',
        'х' | 'χ' => 'x',
        'у' | 'γ' => 'y',
        _ => return None,
    })
}

/// A word mixing Latin letters with Cyrillic or Greek look-alikes, in Latin letters only.
fn unmix_scripts(word: &str) -> Option<String> {
    if word.is_ascii() {
        return None;
    }
    let lower = word.to_lowercase();
    let latin = lower.chars().any(|c| c.is_ascii_alphabetic());
    let lookalike = lower.chars().any(|c| latin_lookalike(c).is_some());
    if !(latin && lookalike) {
        return None;
    }
    lower
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                Some(c)
            } else {
                latin_lookalike(c)
            }
        })
        .collect()
}

/// A word with digits or symbols standing for letters ("fr33", "v1agra",
/// "ca$h"), undone; `None` for ordinary words and for codes such as "mp3" or "h264".
fn unleet<'a>(word: &str, buf: &'a mut String) -> Option<&'a str> {
    let bytes = word.as_bytes();
    if !word.is_ascii() || bytes.len() < 3 {
        return None;
    }
    let letters = bytes.iter().filter(|b| b.is_ascii_alphabetic()).count();
    let stand_ins = bytes.iter().filter(|&&b| leet_letter(b).is_some()).count();
    let between_letters = (1..bytes.len().saturating_sub(1)).any(|i| {
        leet_letter(bytes[i]).is_some()
            && bytes[i - 1].is_ascii_alphabetic()
            && bytes[i + 1..].iter().any(u8::is_ascii_alphabetic)
    });
    // One trailing digit is a code ("mp3"); two ("fr33") or one inside ("v1agra") is not.
    if letters < 2 || !(between_letters || stand_ins >= 2) {
        return None;
    }
    buf.clear();
    for &b in bytes {
        let c = leet_letter(b).unwrap_or(b.to_ascii_lowercase());
        if !c.is_ascii_alphabetic() {
            return None;
        }
        buf.push(char::from(c));
    }
    Some(buf)
}

fn leet_letter(b: u8) -> Option<u8> {
    Some(match b {
        b'0' => b'o',
        b'1' | b'!' => b'i',
        b'3' => b'e',
        b'4' | b'@' => b'a',
        b'5' | b'$' => b's',
        b'7' => b't',
        _ => return None,
    })
}

/// Joins runs of at least four single letters ("f r e e", "c.a.s.h") into words; true when
/// one was found.
fn join_spaced_letters(content: &str, words: &mut String) -> bool {
    let mut found = false;
    let mut run = String::new();
    let tokens = content
        .split(|c: char| c.is_whitespace() || c == '.' || c == '-' || c == '_')
        .filter(|t| !t.is_empty());
    for token in tokens.chain(std::iter::once("  ")) {
        let mut chars = token.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_alphabetic() => run.extend(c.to_lowercase()),
            _ => {
                if run.chars().count() >= 4 {
                    push_word(words, &run);
                    found = true;
                }
                run.clear();
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals(content: &str, name: &str, url: &str) -> Signals {
        let text = CommentText {
            content,
            author_name: name,
            author_url: url,
        };
        let mut out = Signals::default();
        read(&ALL_GROUPS, &text, &mut out);
        out
    }

    #[test]
    fn patterns_compile() {
        assert!(CONTENT.is_some() && TRADE.is_some() && NAME_LINK.is_some());
    }

    #[test]
    fn contact_channels_in_any_format() {
        for (text, name) in [
            ("call +1 (888) 555-0199 now", "contact_phone"),
            ("ring 0803 123 4567", "contact_phone"),
            ("message him on WhatsApp", "contact_app"),
            ("DM me for details", "contact_ask"),
            ("thanks to @best_trader_01", "contact_handle"),
            ("write to jane (at) example (dot) com", "contact_email"),
        ] {
            assert!(
                signals(text, "", "").names.contains(&name),
                "{text}: {name}"
            );
        }
        assert!(
            signals("I was born in 1987 and moved in 2004", "", "")
                .names
                .is_empty()
        );
    }

    #[test]
    fn money_claims() {
        let s = signals("I earned £30,000 in a week, $500 per day", "", "");
        for name in ["money_amount", "money_earnings", "money_rate"] {
            assert!(s.names.contains(&name), "{name}: {s:?}");
        }
    }

    #[test]
    fn disguised_words_are_undone() {
        let s = signals("get fr33 v\u{0456}agra, c a s h now", "", "");
        assert_eq!(s.words, "free viagra cash");
        for name in ["disguise_lookalike", "disguise_digits", "disguise_spaced"] {
            assert!(s.names.contains(&name), "{name}: {s:?}");
        }
        let plain = signals("my mp3 player and h264 video, A B testing", "", "");
        assert!(
            plain.words.is_empty() && plain.names.is_empty(),
            "{plain:?}"
        );
    }

    #[test]
    fn the_form_s_other_fields() {
        let s = signals(
            "nice post",
            "Best Cheap Printer Support Number",
            "https://printer-help-desk.xyz/buy-cheap-ink",
        );
        for name in [
            "name_long",
            "name_trade",
            "website_cheap_tld",
            "website_trade",
            "website_trade_path",
        ] {
            assert!(s.names.contains(&name), "{name}: {s:?}");
        }
        let reader = signals("nice post", "Anna Schmidt", "https://anna.example.org/");
        assert!(reader.names.is_empty(), "{reader:?}");
    }
}

//! Which features an explanation shows, and how: a moderator reads it in a second, so it
//! names words, phrases, links and contact channels, never function words ("at", "and",
//! "in") or fragments that cross words. The model still uses every feature; only what is
//! shown is chosen here.
//!
//! Shown forms: words and phrases as they are, a sentence's first word as `^word`, character
//! n-grams quoted, links as `link:DOMAIN` (or `link:any` for the placeholder of any link),
//! contact channels as `contact:email` and `contact:phone`, numbers as `number:short` and
//! `number:count`, the author's website as `website:DOMAIN`, intent terms as `intent:NAME`,
//! signals by group and name (`contact:app`, `money:amount`, `disguise:digits`, `name:trade`),
//! metadata by name (placeholders inside phrases too). Forms with a colon
//! name no word of the text (the console does not underline them).

use super::features::{Gram, parse_key};
use super::normalize::{COUNT_TOKEN, EMAIL_TOKEN, LONGNUM_TOKEN, NUM_TOKEN, URL_TOKEN};

/// English function words: they carry grammar, not meaning, so they never explain a
/// verdict, though the model may weigh them.
const FUNCTION_WORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be",
    "been", "before", "being", "but", "by", "can", "could", "did", "do", "does", "for", "from",
    "had", "has", "have", "he", "her", "here", "him", "his", "how", "i", "if", "in", "into", "is",
    "it", "its", "just", "me", "more", "most", "my", "no", "not", "now", "of", "on", "one", "only",
    "or", "other", "our", "out", "over", "she", "so", "some", "such", "than", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "those", "to", "too", "up", "us",
    "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why",
    "will", "with", "would", "you", "your", "yours",
];

/// Shortest character n-gram shown: shorter ones are fragments nobody can read.
const MIN_SHOWN_CHARS: usize = 4;

fn is_function_word(word: &str) -> bool {
    FUNCTION_WORDS.binary_search(&word).is_ok()
}

/// A placeholder the normalizer put for a link, an email address or a number.
fn is_placeholder(word: &str) -> bool {
    word.starts_with('_') && word.ends_with('_') && word.len() > 2
}

/// A word that means something on its own: neither a function word nor a placeholder.
fn is_content_word(word: &str) -> bool {
    !is_function_word(word) && !is_placeholder(word)
}

/// Whether the feature with this vocabulary key may be shown in an explanation.
pub fn is_explanatory(key: &str) -> bool {
    parse_key(key).is_none_or(|g| shows(&g))
}

/// Whether a term may be shown in an explanation.
pub fn shows(gram: &Gram<'_>) -> bool {
    match *gram {
        Gram::Word(w) | Gram::Lead(w) => !is_function_word(w),
        Gram::Bigram(a, b) => is_content_word(a) || is_content_word(b),
        // Fragments across words or of a placeholder (`_url`) say nothing readable.
        Gram::Chars(c) => {
            !c.contains([' ', '_']) && c.chars().count() >= MIN_SHOWN_CHARS && !is_function_word(c)
        }
        Gram::Domain(_) | Gram::AuthorDomain(_) | Gram::Intent(_) | Gram::Signal(_) => true,
    }
}

/// How a feature with this vocabulary key is shown.
pub fn describe(key: &str) -> String {
    match parse_key(key) {
        Some(Gram::Word(w)) => shown_word(w).to_owned(),
        Some(Gram::Bigram(a, b)) => [shown_word(a), " ", shown_word(b)].concat(),
        Some(Gram::Chars(c)) => ["\"", c, "\""].concat(),
        Some(Gram::Domain(d)) => ["link:", d].concat(),
        Some(Gram::AuthorDomain(d)) => ["website:", d].concat(),
        Some(Gram::Intent(i)) => ["intent:", i].concat(),
        Some(Gram::Lead(w)) => ["^", shown_word(w)].concat(),
        // `contact_phone` reads `contact:phone`, like the placeholders' forms.
        Some(Gram::Signal(s)) => s.replacen('_', ":", 1),
        None => key.to_owned(),
    }
}

/// A word as shown: a placeholder by what it stands for, any other word as it is.
fn shown_word(word: &str) -> &str {
    match word {
        URL_TOKEN => "link:any",
        EMAIL_TOKEN => "contact:email",
        LONGNUM_TOKEN => "contact:phone",
        NUM_TOKEN => "number:short",
        COUNT_TOKEN => "number:count",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_list_is_sorted_for_binary_search() {
        assert!(FUNCTION_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn function_words_and_fragments_are_not_shown() {
        for hidden in [
            "w:at",
            "w:and",
            "s:in",
            "b:at the",
            "b:_url_ and",
            "c:s c",
            "c:nal",
            "c:with",
        ] {
            assert!(!is_explanatory(hidden), "{hidden}");
        }
        for shown in [
            "w:click",
            "s:check",
            "b:check out",
            "b:my channel",
            "c:viagr",
            "d:bit.ly",
            "i:act_self",
            "link_count",
        ] {
            assert!(is_explanatory(shown), "{shown}");
        }
    }

    #[test]
    fn links_and_contact_channels_are_marked() {
        assert_eq!(describe("w:_url_"), "link:any");
        assert_eq!(describe("w:_email_"), "contact:email");
        assert_eq!(describe("w:_longnum_"), "contact:phone");
        assert_eq!(describe("d:bit.ly"), "link:bit.ly");
        assert_eq!(describe("a:shop.example"), "website:shop.example");
        assert_eq!(describe("b:check out"), "check out");
        assert_eq!(describe("c:grati"), "\"grati\"");
        assert_eq!(describe("s:subscribe"), "^subscribe");
        assert_eq!(describe("link_count"), "link_count");
        assert_eq!(describe("w:_num_"), "number:short");
        assert_eq!(describe("w:_bignum_"), "number:count");
        assert_eq!(describe("s:_url_"), "^link:any");
        assert_eq!(describe("b:check _url_"), "check link:any");
        assert_eq!(describe("g:contact_phone"), "contact:phone");
        assert_eq!(describe("g:website_cheap_tld"), "website:cheap_tld");
    }
}

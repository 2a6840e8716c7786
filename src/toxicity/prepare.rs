//! What the toxicity model reads of a comment: identity words taken out, so that naming a
//! group is never toxic by itself (the training data mentions groups far more often in
//! abuse than in civil comments, and a bag of words would learn the names), and profanity
//! hidden behind asterisks restored (`f*ck`, `sh!t` is undone by the disguise signals).
//! Every change keeps byte offsets: an identity word becomes spaces of its length, a masked
//! letter the letter, so spans found in the prepared text are spans of the comment.

use std::borrow::Cow;

/// Words naming a group of people by religion, ethnicity, nationality, sexuality, gender,
/// age or disability, singular and plural: never features of the toxicity model.
const IDENTITY_WORDS: &[&str] = &[
    "african",
    "africans",
    "american",
    "americans",
    "arab",
    "arabs",
    "asian",
    "asians",
    "atheist",
    "atheists",
    "bisexual",
    "bisexuals",
    "black",
    "blacks",
    "blind",
    "boy",
    "boys",
    "buddhist",
    "buddhists",
    "catholic",
    "catholics",
    "chinese",
    "christian",
    "christians",
    "deaf",
    "disabled",
    "elderly",
    "female",
    "females",
    "gay",
    "gays",
    "girl",
    "girls",
    "hindu",
    "hindus",
    "hispanic",
    "hispanics",
    "homosexual",
    "homosexuals",
    "immigrant",
    "immigrants",
    "indian",
    "indians",
    "islam",
    "islamic",
    "jew",
    "jewish",
    "jews",
    "latina",
    "latinas",
    "latino",
    "latinos",
    "latinx",
    "lesbian",
    "lesbians",
    "lgbt",
    "lgbtq",
    "male",
    "males",
    "man",
    "men",
    "mexican",
    "mexicans",
    "migrant",
    "migrants",
    "muslim",
    "muslims",
    "old",
    "queer",
    "queers",
    "refugee",
    "refugees",
    "straight",
    "trans",
    "transgender",
    "white",
    "whites",
    "woman",
    "women",
    "young",
];

/// Profane or insulting words people hide behind asterisks; a masked word is restored when
/// it has the same length and its visible letters agree.
const MASKED_WORDS: &[&str] = &[
    "fuck",
    "fucking",
    "fucked",
    "fucker",
    "fuckers",
    "motherfucker",
    "shit",
    "shitty",
    "bullshit",
    "bitch",
    "bitches",
    "asshole",
    "assholes",
    "ass",
    "cunt",
    "dick",
    "dickhead",
    "damn",
    "bastard",
    "whore",
    "slut",
    "piss",
    "pissed",
    "cock",
    "crap",
    "idiot",
    "idiots",
    "moron",
    "morons",
    "stupid",
    "retard",
    "retarded",
    "hell",
];

/// The longest identity word, in bytes.
const LONGEST_IDENTITY_WORD: usize = 11;

/// For each length, a bit per first letter of an identity word of that length: most words
/// are rejected by one lookup before any comparison.
const FIRST_LETTERS: [u32; LONGEST_IDENTITY_WORD + 1] = {
    let mut table = [0u32; LONGEST_IDENTITY_WORD + 1];
    let mut i = 0;
    while i < IDENTITY_WORDS.len() {
        let word = IDENTITY_WORDS[i].as_bytes();
        table[word.len()] |= 1 << (word[0] - b'a');
        i += 1;
    }
    table
};

/// Whether `word` names a group of people, whatever its case. Most words are rejected by
/// their length or a non-letter before any comparison, and none is lowercased into a new
/// string: this runs for every word of every comment.
pub fn is_identity_word(word: &str) -> bool {
    let bytes = word.as_bytes();
    if bytes.len() < 3 || bytes.len() > LONGEST_IDENTITY_WORD || !bytes[0].is_ascii_alphabetic() {
        return false;
    }
    if FIRST_LETTERS[bytes.len()] & (1 << (bytes[0].to_ascii_lowercase() - b'a')) == 0 {
        return false;
    }
    let mut lower = [0u8; LONGEST_IDENTITY_WORD];
    for (l, b) in lower.iter_mut().zip(bytes) {
        if !b.is_ascii_alphabetic() {
            return false;
        }
        *l = b.to_ascii_lowercase();
    }
    let lower = &lower[..bytes.len()];
    IDENTITY_WORDS
        .binary_search_by(|w| w.as_bytes().cmp(lower))
        .is_ok()
}

/// The comment as the toxicity model reads it (see the module documentation); borrowed
/// when nothing changes.
pub fn prepare(content: &str) -> Cow<'_, str> {
    let mut out: Option<String> = None;
    for (start, word) in words(content) {
        let replacement = if is_identity_word(word) {
            Some(" ".repeat(word.len()))
        } else {
            unmask(word)
        };
        if let Some(r) = replacement {
            let text = out.get_or_insert_with(|| content.to_owned());
            text.replace_range(start..start + word.len(), &r);
        }
    }
    out.map_or(Cow::Borrowed(content), Cow::Owned)
}

/// Each word of `content` (letters, digits and the `*` of a masked word) with its byte
/// offset.
fn words(content: &str) -> impl Iterator<Item = (usize, &str)> {
    fn is_part(c: char) -> bool {
        c.is_alphanumeric() || c == '*'
    }
    let mut at = 0;
    std::iter::from_fn(move || {
        let rest = content.get(at..)?;
        let start = at + rest.find(is_part)?;
        let len = content[start..]
            .find(|c: char| !is_part(c))
            .unwrap_or(content.len() - start);
        at = start + len;
        Some((start, &content[start..start + len]))
    })
}

/// The word a masked `word` hides, in its own case where visible; `None` when it has no
/// asterisk between letters or matches no known word.
fn unmask(word: &str) -> Option<String> {
    let inner = word.trim_matches('*');
    if !inner.contains('*') || !word.is_ascii() {
        return None;
    }
    let lower = word.to_ascii_lowercase();
    let hidden = MASKED_WORDS.iter().find(|candidate| {
        candidate.len() == lower.len()
            && candidate
                .bytes()
                .zip(lower.bytes())
                .all(|(c, w)| w == b'*' || c == w)
    })?;
    Some(
        hidden
            .bytes()
            .zip(word.bytes())
            .map(|(c, w)| char::from(if w == b'*' { c } else { w }))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_list_is_sorted_for_its_binary_search() {
        assert!(IDENTITY_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(
            IDENTITY_WORDS
                .iter()
                .all(|w| w.len() <= LONGEST_IDENTITY_WORD)
        );
        assert!(is_identity_word("Muslims") && is_identity_word("GAY"));
        assert!(!is_identity_word("gayety") && !is_identity_word("mén") && !is_identity_word("a"));
    }

    #[test]
    fn identity_words_become_spaces_and_masks_their_word() {
        assert_eq!(prepare("I am a proud gay man."), "I am a proud        .");
        assert_eq!(prepare("Muslims organised it"), "        organised it");
        assert_eq!(
            prepare("What the f*ck, you sh**ty idiot"),
            "What the fuck, you shitty idiot"
        );
        assert_eq!(prepare("F**K this"), "FucK this");
        // Nothing to change: borrowed, and unknown masks stay.
        assert!(matches!(prepare("a fine point"), Cow::Borrowed(_)));
        assert_eq!(prepare("5*3 = 15 and a*b"), "5*3 = 15 and a*b");
        assert_eq!(prepare("**bold** text"), "**bold** text");
    }

    #[test]
    fn offsets_survive_preparation() {
        for text in ["Les Noirs et les gays: é à", "ça va, f*ck the black ñ man"] {
            let prepared = prepare(text);
            assert_eq!(prepared.len(), text.len(), "{text}");
            assert!(prepared.is_char_boundary(text.len()));
        }
    }
}

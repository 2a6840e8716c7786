//! Intent features: does the comment ask the reader to act for the writer's benefit, or only
//! talk about the same things? Spam on comment threads says "check out my channel",
//! "subscribe to me", "visit my site"; viewers write "I subscribed", "his channel",
//! "this video". Topic words alone (channel, subscribe) cannot tell these apart; who owns the
//! thing and whether the reader is told to do something can.
//!
//! One pass over the normalized words marks which of [`INTENTS`] occur; each becomes one
//! word-block term (`i:NAME`, shown as `intent:NAME`) the model weighs like any other.

/// The intent terms, in the order of [`Intents::names`]. Three more were measured and left
/// out (a call to action or the writer in a comment with a link, a call to action before a
/// promotable thing): with them, leave-one-video-out flagged more ham.
pub const INTENTS: [&str; 3] = [
    // a call to action followed within three words by the writer ("check out my", "sub to me")
    "act_self",
    // the writer's own promotable thing ("my channel", "our new video")
    "self_promo",
    // someone else's or this post's promotable thing ("his channel", "this video")
    "other_promo",
];

/// How many words after a call to action still count as its object.
const ACT_REACH: usize = 3;
/// How many words after a possessive still count as what it owns ("my new music video").
const OWN_REACH: usize = 2;

fn is_action(w: &str) -> bool {
    matches!(
        w,
        "check"
            | "visit"
            | "subscribe"
            | "sub"
            | "follow"
            | "watch"
            | "like"
            | "add"
            | "join"
            | "click"
            | "go"
            | "listen"
            | "share"
            | "support"
            | "help"
            | "view"
            | "look"
            | "please"
            | "pls"
            | "plz"
            | "call"
            | "text"
            | "reply"
            | "claim"
            | "download"
            | "vote"
            | "give"
    )
}

fn is_self(w: &str) -> bool {
    matches!(w, "my" | "me" | "our" | "us" | "mine" | "myself")
}

fn is_self_owner(w: &str) -> bool {
    matches!(w, "my" | "our")
}

fn is_other_owner(w: &str) -> bool {
    matches!(
        w,
        "his" | "her" | "their" | "your" | "ur" | "this" | "the" | "its"
    )
}

fn is_promotable(w: &str) -> bool {
    matches!(
        w,
        "channel"
            | "channels"
            | "video"
            | "videos"
            | "vid"
            | "vids"
            | "page"
            | "site"
            | "website"
            | "blog"
            | "music"
            | "song"
            | "songs"
            | "playlist"
            | "account"
            | "profile"
            | "cover"
            | "covers"
            | "stuff"
            | "band"
            | "app"
            | "store"
            | "shop"
            | "link"
    )
}

/// Which intents a comment shows, built one word at a time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Intents {
    /// Words seen so far.
    at: usize,
    /// Position just after the last call to action, self owner and other owner.
    last_action: Option<usize>,
    last_self_owner: Option<usize>,
    last_other_owner: Option<usize>,
    found: [bool; INTENTS.len()],
}

impl Intents {
    /// Takes the next word (lowercase, as normalized).
    #[inline]
    pub fn push(&mut self, w: &str) {
        self.at += 1;
        let within = |last: Option<usize>, reach: usize| last.is_some_and(|l| self.at - l <= reach);
        if is_self(w) && within(self.last_action, ACT_REACH) {
            self.found[0] = true;
        }
        if is_promotable(w) {
            if within(self.last_self_owner, OWN_REACH) {
                self.found[1] = true;
            }
            if within(self.last_other_owner, OWN_REACH) {
                self.found[2] = true;
            }
        }
        if is_action(w) {
            self.last_action = Some(self.at);
        }
        if is_self_owner(w) {
            self.last_self_owner = Some(self.at);
        } else if is_other_owner(w) {
            self.last_other_owner = Some(self.at);
        }
    }

    /// The intents found.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        INTENTS
            .into_iter()
            .zip(self.found)
            .filter_map(|(name, on)| on.then_some(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(text: &str) -> Vec<&'static str> {
        let mut i = Intents::default();
        text.split_whitespace().for_each(|w| i.push(w));
        i.names().collect()
    }

    #[test]
    fn asking_differs_from_talking_about() {
        assert_eq!(of("check out my new channel"), ["act_self", "self_promo"]);
        assert_eq!(of("subscribe to me"), ["act_self"]);
        assert_eq!(of("i subscribed to his channel years ago"), ["other_promo"]);
        assert!(of("i love it so much").is_empty());
        assert_eq!(of("this song is my favourite"), ["other_promo"]);
    }
}

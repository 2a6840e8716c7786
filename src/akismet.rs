//! Akismet API keys for the Akismet-compatible endpoint (`/1.1/...` on the HTTP listener):
//! site name → key, each key optionally bound to the blogs it may speak for. Keys are compared
//! in constant time and never printed; the site name is what logs show.
//!
//! ```toml
//! [akismet_keys]
//! blog = "0123456789ab"                                           # any blog URL
//! shop = { key = "ba9876543210", blogs = ["https://shop.example.com"] }  # only these
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

/// One site's key, as the configuration file may spell it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
enum Entry {
    /// `name = "KEY"`: the key accepts any `blog`.
    Key(String),
    /// `name = { key = "KEY", blogs = [...] }`: only these blogs.
    Bound {
        key: String,
        #[serde(default)]
        blogs: Vec<String>,
    },
}

impl Entry {
    fn key(&self) -> &str {
        match self {
            Self::Key(key) | Self::Bound { key, .. } => key,
        }
    }

    fn blogs(&self) -> &[String] {
        match self {
            Self::Key(_) => &[],
            Self::Bound { blogs, .. } => blogs,
        }
    }
}

/// The configured keys.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct AkismetKeys(BTreeMap<String, Entry>);

impl std::fmt::Debug for AkismetKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()?;
        f.write_str(" (keys redacted)")
    }
}

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The flag's value is not `NAME=KEY`.
    #[error("an Akismet key entry is not NAME=KEY")]
    Malformed,
    /// Too short to resist guessing, or not letters and digits (old clients put the key in a
    /// host name).
    #[error(
        "the Akismet key of site {0:?} must be at least 12 letters or digits (ASCII, nothing else)"
    )]
    Unusable(String),
}

/// What checking a key for a blog found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck<'a> {
    /// The key is this site's and may speak for the blog.
    Valid(&'a str),
    /// The key is this site's but bound to other blogs.
    OtherBlog(&'a str),
    /// No configured key.
    Unknown,
}

impl AkismetKeys {
    /// Shortest key accepted (Akismet's own keys are 12 characters).
    pub const MIN_KEY_BYTES: usize = 12;

    /// Adds one `NAME=KEY` entry (the flag's form), replacing that site's key; the key then
    /// accepts any blog.
    ///
    /// # Errors
    /// When the entry is malformed or the key unusable.
    pub fn add_entry(&mut self, entry: &str) -> Result<(), KeyError> {
        let (name, key) = entry.split_once('=').ok_or(KeyError::Malformed)?;
        let (name, key) = (name.trim(), key.trim());
        if name.is_empty() || key.is_empty() {
            return Err(KeyError::Malformed);
        }
        self.0.insert(name.to_owned(), Entry::Key(key.to_owned()));
        self.validate()
    }

    /// Checks every key.
    ///
    /// # Errors
    /// The first site whose key is unusable.
    pub fn validate(&self) -> Result<(), KeyError> {
        let unusable = |k: &str| {
            k.len() < Self::MIN_KEY_BYTES || !k.bytes().all(|b| b.is_ascii_alphanumeric())
        };
        match self.0.iter().find(|(_, e)| unusable(e.key())) {
            Some((name, _)) => Err(KeyError::Unusable(name.clone())),
            None => Ok(()),
        }
    }

    /// Whether no key is configured (the endpoint then answers `invalid` to everything).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whose key `presented` is and whether it may speak for `blog`. Every key is compared in
    /// full, in constant time.
    pub fn check(&self, presented: &str, blog: &str) -> KeyCheck<'_> {
        use subtle::ConstantTimeEq as _;
        let mut found = None;
        for (name, entry) in &self.0 {
            if bool::from(entry.key().as_bytes().ct_eq(presented.as_bytes())) {
                found = Some((name.as_str(), entry));
            }
        }
        let Some((name, entry)) = found else {
            return KeyCheck::Unknown;
        };
        let blogs = entry.blogs();
        let wanted = normalize_blog(blog);
        if blogs.is_empty() || blogs.iter().any(|b| normalize_blog(b) == wanted) {
            KeyCheck::Valid(name)
        } else {
            KeyCheck::OtherBlog(name)
        }
    }
}

/// A blog URL as bindings compare it: no scheme, no trailing slash, lower case.
fn normalize_blog(url: &str) -> String {
    let url = url.trim();
    let url = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    url.trim_end_matches('/').to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_bind_to_blogs_and_stay_out_of_debug_output() {
        let keys: AkismetKeys = toml::from_str(
            "blog = \"0123456789ab\"\nshop = { key = \"ba9876543210\", blogs = [\"https://Shop.example.com/\"] }\n",
        )
        .unwrap();
        keys.validate().unwrap();
        assert_eq!(
            keys.check("0123456789ab", "https://x.org"),
            KeyCheck::Valid("blog")
        );
        assert_eq!(
            keys.check("ba9876543210", "http://shop.example.com"),
            KeyCheck::Valid("shop")
        );
        assert_eq!(
            keys.check("ba9876543210", "https://other.example.com"),
            KeyCheck::OtherBlog("shop")
        );
        assert_eq!(
            keys.check("0123456789ac", "https://x.org"),
            KeyCheck::Unknown
        );
        assert_eq!(keys.check("", "https://x.org"), KeyCheck::Unknown);
        assert!(!format!("{keys:?}").contains("0123"));
    }

    #[test]
    fn flag_entries_are_checked() {
        let mut keys = AkismetKeys::default();
        keys.add_entry("blog=0123456789ab").unwrap();
        assert_eq!(keys.add_entry("blog"), Err(KeyError::Malformed));
        assert!(matches!(
            keys.add_entry("x=short"),
            Err(KeyError::Unusable(_))
        ));
        assert!(matches!(
            keys.add_entry("y=0123456789ab.evil"),
            Err(KeyError::Unusable(_))
        ));
    }
}

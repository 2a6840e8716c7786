//! Moderator tokens: who may call the moderation API, under which name. Tokens are compared in
//! constant time and never printed.

use std::collections::BTreeMap;

/// Configured moderators: name → bearer token. The name goes into the audit log; the token
/// only ever into comparisons.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct ModeratorTokens(BTreeMap<String, String>);

impl std::fmt::Debug for ModeratorTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()?;
        f.write_str(" (tokens redacted)")
    }
}

/// Why a token list could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// An entry is not `NAME=TOKEN` with both parts non-empty.
    #[error("moderator token entry {0} is not NAME=TOKEN")]
    Malformed(usize),
    /// A token shorter than [`ModeratorTokens::MIN_TOKEN_BYTES`], easy to guess.
    #[error("the token of moderator {0:?} is shorter than 16 bytes")]
    TooShort(String),
}

impl ModeratorTokens {
    /// Shortest token accepted: anything shorter could be guessed.
    pub const MIN_TOKEN_BYTES: usize = 16;

    /// Parses `alice=TOKEN1,bob=TOKEN2` (the environment variable's form).
    ///
    /// # Errors
    /// When an entry is malformed or a token too short.
    pub fn parse_list(list: &str) -> Result<Self, TokenError> {
        let mut tokens = Self::default();
        for (i, entry) in list.split(',').filter(|e| !e.trim().is_empty()).enumerate() {
            tokens.add_entry(entry).map_err(|e| match e {
                TokenError::Malformed(_) => TokenError::Malformed(i + 1),
                other => other,
            })?;
        }
        Ok(tokens)
    }

    /// Adds one `NAME=TOKEN` entry (the flag's form), replacing that name's token.
    ///
    /// # Errors
    /// When the entry is malformed or the token too short.
    pub fn add_entry(&mut self, entry: &str) -> Result<(), TokenError> {
        let (name, token) = entry.split_once('=').ok_or(TokenError::Malformed(1))?;
        let (name, token) = (name.trim(), token.trim());
        if name.is_empty() || token.is_empty() {
            return Err(TokenError::Malformed(1));
        }
        self.insert(name, token)
    }

    /// Adds a moderator.
    ///
    /// # Errors
    /// When the token is too short.
    pub fn insert(&mut self, name: &str, token: &str) -> Result<(), TokenError> {
        if token.len() < Self::MIN_TOKEN_BYTES {
            return Err(TokenError::TooShort(name.to_owned()));
        }
        self.0.insert(name.to_owned(), token.to_owned());
        Ok(())
    }

    /// Checks every configured token (so the time taken does not say which was close).
    ///
    /// # Errors
    /// When a token is too short.
    pub fn validate(&self) -> Result<(), TokenError> {
        match self.0.iter().find(|(_, t)| t.len() < Self::MIN_TOKEN_BYTES) {
            Some((name, _)) => Err(TokenError::TooShort(name.clone())),
            None => Ok(()),
        }
    }

    /// Adds every moderator of `other`, replacing tokens of names already present.
    pub fn extend(&mut self, other: Self) {
        self.0.extend(other.0);
    }

    /// Whether no moderator is configured (the moderation API then refuses every call).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The name of the moderator whose token `presented` is. Every configured token is
    /// compared in full, in constant time, so timing says nothing about any of them.
    pub fn authenticate(&self, presented: &str) -> Option<&str> {
        let mut found = None;
        for (name, token) in &self.0 {
            if constant_time_eq(token.as_bytes(), presented.as_bytes()) {
                found = Some(name.as_str());
            }
        }
        found
    }
}

/// Equality whose running time depends only on the lengths, not on where bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_authenticates() {
        let tokens =
            ModeratorTokens::parse_list("alice=aaaaaaaaaaaaaaaa1, bob=bbbbbbbbbbbbbbbb2").unwrap();
        assert_eq!(tokens.authenticate("aaaaaaaaaaaaaaaa1"), Some("alice"));
        assert_eq!(tokens.authenticate("bbbbbbbbbbbbbbbb2"), Some("bob"));
        assert_eq!(tokens.authenticate("bbbbbbbbbbbbbbbb3"), None);
        assert_eq!(tokens.authenticate(""), None);
        assert_eq!(
            ModeratorTokens::parse_list("alice"),
            Err(TokenError::Malformed(1))
        );
        assert!(matches!(
            ModeratorTokens::parse_list("alice=short"),
            Err(TokenError::TooShort(_))
        ));
        assert!(!format!("{tokens:?}").contains("aaaa"));
    }
}

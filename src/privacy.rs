//! Email privacy: finding and masking addresses in public text, and the keyed hash that stands
//! in for an address wherever the service needs to recognise one without storing it.

use std::path::Path;
use std::sync::LazyLock;

use hmac::{Hmac, Mac};
use regex::Regex;
use sha2::Sha256;

/// What replaces an email address in published content.
pub const EMAIL_MASK: &str = "[email hidden]";

/// A practical pattern for an email address inside free text (Unicode letters allowed, as in
/// internationalised addresses).
static EMAIL_IN_TEXT: LazyLock<Regex> =
    LazyLock::new(|| constant_regex(r"[\w.+%'-]+@[\w-]+(?:\.[\w-]+)*\.\w{2,}"));

/// Compiles a pattern written in the source. Such patterns are checked by the unit tests of
/// the module that owns them, so the panic below cannot be reached by any input.
///
/// # Panics
/// When `pattern` is not a valid regex: a programming error, never a request error.
pub(crate) fn constant_regex(pattern: &'static str) -> Regex {
    match Regex::new(pattern) {
        Ok(regex) => regex,
        Err(e) => panic!("constant regex {pattern:?} does not compile: {e}"),
    }
}

/// Whether `text` contains something that reads as an email address.
pub fn contains_email(text: &str) -> bool {
    EMAIL_IN_TEXT.is_match(text)
}

/// `text` with every email address replaced by [`EMAIL_MASK`]; borrowed when there is none.
pub fn mask_emails(text: &str) -> std::borrow::Cow<'_, str> {
    EMAIL_IN_TEXT.replace_all(text, EMAIL_MASK)
}

/// The form of an address used for hashing: trimmed and lowercased, so that `Bob@Example.com`
/// and `bob@example.com` are one author.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Keyed hash of normalized emails. Indexes, author stats and bans use it so the plain address
/// lives only inside the comment record.
#[derive(Clone)]
pub struct EmailHasher {
    key: Vec<u8>,
}

impl std::fmt::Debug for EmailHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmailHasher { key: <redacted> }")
    }
}

/// Why the hashing key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The configured key is not hex or too short.
    #[error("hmac_secret must be at least 64 hex characters (32 bytes)")]
    Invalid,
    /// The key file could not be read or created.
    #[error("hmac key file {path}: {source}")]
    Io {
        /// The key file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl EmailHasher {
    /// Length of a generated key in bytes.
    pub const KEY_BYTES: usize = 32;

    /// A hasher over a hex-encoded key of at least [`Self::KEY_BYTES`] bytes.
    ///
    /// # Errors
    /// [`SecretError::Invalid`] when the key is not hex or too short.
    pub fn from_hex(hex_key: &str) -> Result<Self, SecretError> {
        let key = hex::decode(hex_key.trim()).map_err(|_| SecretError::Invalid)?;
        if key.len() < Self::KEY_BYTES {
            return Err(SecretError::Invalid);
        }
        Ok(Self { key })
    }

    /// Loads the key kept in `path`, or generates one and writes it there with mode 0600 so
    /// that only the service's user can read it.
    ///
    /// # Errors
    /// When the file cannot be read or created, or holds an invalid key.
    pub fn load_or_create(path: &Path) -> Result<Self, SecretError> {
        let io = |source| SecretError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_hex(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; Self::KEY_BYTES] = rand::random();
                write_private(path, hex::encode(key).as_bytes()).map_err(io)?;
                Ok(Self { key: key.to_vec() })
            }
            Err(e) => Err(io(e)),
        }
    }

    /// A new random key.
    pub fn generate() -> Self {
        let key: [u8; Self::KEY_BYTES] = rand::random();
        Self { key: key.to_vec() }
    }

    /// The key, hex-encoded: the form a shared database keeps it in for every frontend.
    pub fn key_hex(&self) -> String {
        hex::encode(&self.key)
    }

    /// A digest that tells keys apart without revealing them: two frontends with the same
    /// fingerprint hash every address alike.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.hash("commentguard key fingerprint")
    }

    /// The keyed hash of an address (normalized first).
    pub fn hash(&self, email: &str) -> [u8; 32] {
        // HMAC accepts keys of any length, so this cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return [0; 32];
        };
        mac.update(normalize_email(email).as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// Creates `path` readable and writable by its owner only, failing if it already exists.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_masks_addresses() {
        assert!(contains_email("write me at jane.doe+x@example.co.uk today"));
        assert!(contains_email("Ünïcode: jörg@bücher.de"));
        assert!(!contains_email("no address @ all, just user@localhost"));
        assert_eq!(
            mask_emails("mail a@b.com or c@d.org"),
            format!("mail {EMAIL_MASK} or {EMAIL_MASK}")
        );
        assert!(matches!(
            mask_emails("nothing here"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn hash_ignores_case_and_space_but_depends_on_key() {
        let a = EmailHasher::from_hex(&"ab".repeat(32)).unwrap();
        let b = EmailHasher::from_hex(&"cd".repeat(32)).unwrap();
        assert_eq!(a.hash(" Bob@Example.com"), a.hash("bob@example.com"));
        assert_ne!(a.hash("bob@example.com"), b.hash("bob@example.com"));
        assert!(EmailHasher::from_hex("abcd").is_err());
    }

    #[test]
    fn generated_key_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hmac.key");
        let first = EmailHasher::load_or_create(&path).unwrap();
        let again = EmailHasher::load_or_create(&path).unwrap();
        assert_eq!(first.hash("x@y.org"), again.hash("x@y.org"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

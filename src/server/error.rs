//! Why the service could not start or stopped: [`ServeError`], returned by
//! [`crate::server::run`], so an embedding program can tell a bad configuration from a
//! storage failure without the command-line tools' error type.

use std::path::PathBuf;

use crate::classifier::ModelError;
use crate::config::ConfigError;
use crate::policy::RuleError;
use crate::privacy::SecretError;
use crate::store::StoreError;

/// A failure to start, serve or stop the service. The messages name what the operator can
/// change (the file, directory or setting); the source says what went wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The spam model could not be loaded.
    #[error(
        "cannot load the spam model {model}; pass --model FILE or train one with `commentguard train`"
    )]
    Model {
        /// The model file, or the shipped model.
        model: String,
        /// Why it could not be loaded.
        source: ModelError,
    },
    /// The data directory could not be created.
    #[error("cannot create data directory {path}")]
    DataDir {
        /// The data directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The key for hashing emails is invalid or its file unusable.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The database could not be opened.
    #[error("cannot open the database in {path}")]
    OpenStore {
        /// The data directory.
        path: PathBuf,
        /// Why it could not be opened.
        source: StoreError,
    },
    /// The PostgreSQL database could not be reached or migrated.
    #[error("cannot open the PostgreSQL database (database_url)")]
    OpenDatabase(#[source] StoreError),
    /// The key for hashing emails differs from the one the shared database was hashed with.
    #[error(transparent)]
    EmailKey(#[from] crate::store::postgres::KeyMismatch),
    /// The site rules do not compile.
    #[error("invalid site rules")]
    Rules(#[source] RuleError),
    /// The shadow policy (`[shadow]`) cannot be used.
    #[error(transparent)]
    Shadow(#[from] crate::pipeline::ShadowError),
    /// The moderator labels the online learner starts from could not be read.
    #[error("cannot read moderator labels")]
    Labels(#[source] StoreError),
    /// The rules stored by an earlier change could not be read.
    #[error("cannot read the stored site rules")]
    StoredRules(#[source] StoreError),
    /// Storage failed while the service ran or stopped.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The TLS certificate, key or client CA cannot be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The reflection service could not be built.
    #[error(transparent)]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The gRPC server failed.
    #[error(transparent)]
    Transport(#[from] tonic::transport::Error),
    /// The HTTP listener (console, metrics, health) could not start.
    #[error(transparent)]
    Http(#[from] crate::http::StartError),
    /// The listening socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Chain;

    #[test]
    fn chain_joins_every_source_on_one_line() {
        let error = ServeError::DataDir {
            path: PathBuf::from("/data"),
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(
            Chain(&error).to_string(),
            "cannot create data directory /data: disk full"
        );
        let error = ServeError::from(ConfigError::InvalidThresholds {
            pending: 0.9,
            spam: 0.5,
        });
        assert_eq!(
            Chain(&error).to_string(),
            "thresholds must satisfy 0 <= pending (0.9) <= spam (0.5) <= 1"
        );
    }
}

//! Which storage the configuration names, opened with the key for hashing emails: the embedded
//! store in `data_dir` (one process, key in `hmac.key`), or PostgreSQL at `database_url` (several
//! frontends, key shared through the database).

use std::sync::Arc;

use super::ServeError;
use crate::config::Config;
use crate::privacy::EmailHasher;
use crate::store::Storage;
use crate::store::embedded::{EmbeddedStore, StoreOptions};
use crate::store::postgres::{PgOptions, PgStore};

/// Name of the generated HMAC key file inside the data directory.
pub const HMAC_KEY_FILE: &str = "hmac.key";

/// An open store and what closing it takes.
#[derive(Debug)]
pub struct Backend {
    /// The store, shared by everything that serves.
    pub store: Arc<dyn Storage>,
    /// The key every author's email is hashed with.
    pub hasher: EmailHasher,
    /// For the embedded store, the options to write its snapshot with at close (sled).
    embedded: Option<StoreOptions>,
}

impl Backend {
    /// Opens the configured store.
    ///
    /// # Errors
    /// When the data directory, the database or the key cannot be used.
    pub async fn open(config: &Config) -> Result<Self, ServeError> {
        let configured = config
            .hmac_secret
            .as_deref()
            .map(EmailHasher::from_hex)
            .transpose()?;
        match &config.database_url {
            Some(url) => Self::open_postgres(config, url, configured).await,
            None => Self::open_embedded(config, configured),
        }
    }

    async fn open_postgres(
        config: &Config,
        url: &str,
        configured: Option<EmailHasher>,
    ) -> Result<Self, ServeError> {
        let options = PgOptions {
            pool_size: config.database_pool_size,
            batch_limit: config.commit_batch,
        };
        let store = PgStore::open(url, options)
            .await
            .map_err(ServeError::OpenDatabase)?;
        let hasher = store.email_hasher(configured).await?;
        Ok(Self {
            store,
            hasher,
            embedded: None,
        })
    }

    fn open_embedded(config: &Config, configured: Option<EmailHasher>) -> Result<Self, ServeError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let hasher = match configured {
            Some(hasher) => hasher,
            None => EmailHasher::load_or_create(&config.data_dir.join(HMAC_KEY_FILE))?,
        };
        let options = StoreOptions {
            engine: config.storage_engine,
            cache_bytes: config.storage_cache_mb.saturating_mul(1024 * 1024),
            checkpoint_every: config.storage_checkpoint_writes,
        };
        let store = EmbeddedStore::open(&config.data_dir, options, config.commit_batch).map_err(
            |source| ServeError::OpenStore {
                path: config.data_dir.clone(),
                source,
            },
        )?;
        Ok(Self {
            store,
            hasher,
            embedded: Some(options),
        })
    }

    /// Commits what is queued and closes the store; for sled, also writes the snapshot that
    /// makes the next start fast, when this was the last handle on it.
    ///
    /// # Errors
    /// When what was queued cannot be committed.
    pub async fn close(self, config: &Config) -> Result<(), ServeError> {
        self.store.close().await?;
        if let Some(options) = self.embedded {
            snapshot_if_last(self.store, config, options);
        }
        Ok(())
    }
}

/// Writes sled's recovery snapshot for a fast next start, when `store` is the last handle on
/// the database (see [`EmbeddedStore::write_snapshot`]).
fn snapshot_if_last(store: Arc<dyn Storage>, config: &Config, options: StoreOptions) {
    if Arc::strong_count(&store) > 1 {
        tracing::debug!("storage still in use; no snapshot at shutdown");
        return;
    }
    drop(store);
    let started = std::time::Instant::now();
    match EmbeddedStore::write_snapshot(&config.data_dir, options) {
        Ok(()) => tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "storage snapshot written for a fast next start"
        ),
        Err(e) => {
            tracing::warn!(cause = %crate::error::Chain(&e), "no storage snapshot at shutdown")
        }
    }
}

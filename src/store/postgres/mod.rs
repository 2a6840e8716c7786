//! The PostgreSQL backend: several stateless frontends on one shared database.
//!
//! - **Connections.** A pool (deadpool) over a libpq-style URL, several hosts allowed; with
//!   `target_session_attrs=read-write` a new connection finds the current primary, so after a
//!   failover the pool's broken connections are replaced by ones to the promoted standby.
//!   TLS (rustls, system roots) is used when the server offers it, required with
//!   `sslmode=require`.
//! - **Schema.** Versioned migrations (refinery, `migrations/postgres/`) run at start under an
//!   advisory lock, so frontends starting together migrate once.
//! - **Writes.** Submissions go through one committer task per frontend that stores whatever
//!   is waiting in one transaction (one multi-row insert, per-item outcomes); duplicates are
//!   refused by a unique key on the duplicate digest, so two frontends racing store one.
//!   Decisions, erasure, purges and settings are transactions of their own.
//! - **Across frontends.** Commits notify (`LISTEN`/`NOTIFY` on [`CHANNEL`]); every frontend
//!   turns the others' notifications into [`RemoteChange`]s (watchers, learner, rules). Flood
//!   timers and campaign sightings live in unlogged tables (see [`shared_history`]).

mod campaigns;
mod columns;
mod committer;
mod errors;
mod events;
mod floods;
mod groups;
mod import;
mod listener;
mod reads;
mod shared_history;
mod writes;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_postgres_rustls::MakeRustlsConnect;

use self::committer::Committer;
pub use self::errors::KeyMismatch;
use self::errors::{db_error, pool_error};
pub use self::listener::CHANNEL;
use crate::comment::{CommentId, Status, StoredComment};
use crate::moderation::AuditEntry;
use crate::privacy::EmailHasher;
use crate::store::{
    Activity, AuditCursor, AuditPage, AuthorStats, Consistency, Decided, DecisionRequest,
    EventPage, EventWindow, ImportOutcome, ImportedComment, LabelledText, Page, RemoteChange,
    Result, Storage, StoreError,
};
use crate::store::{HistorySettings, SubmissionHistory};

/// The schema version this build migrates to.
pub const SCHEMA_VERSION: u32 = 4;
/// Advisory lock held while migrating.
const MIGRATION_LOCK: i64 = 0x636f_6d6d_656e_7401;
/// Advisory lock held by the frontend running the retention purge.
pub const PURGE_LOCK: i64 = 0x636f_6d6d_656e_7402;
/// How long a new connection may take before the next host is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for a pooled connection.
const POOL_WAIT: Duration = Duration::from_secs(5);

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

/// How a [`PgStore`] is opened.
#[derive(Debug, Clone, Copy)]
pub struct PgOptions {
    /// Connections kept at most (the committer's, readers', trackers').
    pub pool_size: usize,
    /// Submissions stored per transaction at most.
    pub batch_limit: usize,
}

/// Parses a connection URL (or key=value string) as libpq does, several hosts included.
///
/// # Errors
/// When it is not a valid connection string.
pub fn parse_url(url: &str) -> std::result::Result<tokio_postgres::Config, tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = url.parse()?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("commentguard");
    }
    Ok(config)
}

/// The connector: TLS with the system's roots when the server offers it (or the URL
/// requires it), plain otherwise.
fn tls() -> MakeRustlsConnect {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A system certificate rustls cannot use is skipped, as every client skips it.
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth());
    match config {
        Ok(config) => MakeRustlsConnect::new(config),
        // The ring provider supports the default versions; this branch is unreachable.
        Err(_) => MakeRustlsConnect::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        ),
    }
}

/// Comments in a shared PostgreSQL database.
pub struct PgStore {
    pool: Pool,
    committer: Committer,
    /// Names this frontend in notifications, so it ignores its own.
    frontend: String,
    remote: broadcast::Sender<RemoteChange>,
    listener: JoinHandle<()>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("frontend", &self.frontend)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects, migrates the schema (once, whoever starts first) and starts the committer
    /// and the notification listener.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated.
    pub async fn open(url: &str, options: PgOptions) -> Result<Arc<Self>> {
        let config = parse_url(url).map_err(db_error)?;
        let tls = tls();
        migrate(&config, tls.clone()).await?;
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(2))
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT * 2))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(StoreError::backend)?;
        // A first connection now, so a wrong password fails the start, not the first comment.
        drop(pool.get().await.map_err(pool_error)?);
        let frontend = format!("{:016x}", rand::random::<u64>());
        let (remote, _) = broadcast::channel(crate::moderation::WATCH_BUFFER);
        let listener = tokio::spawn(listener::run(config, tls, frontend.clone(), remote.clone()));
        let committer = Committer::start(pool.clone(), options.batch_limit, frontend.clone());
        Ok(Arc::new(Self {
            pool,
            committer,
            frontend,
            remote,
            listener,
        }))
    }

    /// The key every frontend hashes emails with: the configured one, or the one kept in the
    /// database (generated by the first frontend to start). A configured key that differs
    /// from the database's is refused: the frontends would no longer recognise authors.
    ///
    /// # Errors
    /// [`KeyMismatch`] for a different key; storage failures.
    pub async fn email_hasher(
        &self,
        configured: Option<EmailHasher>,
    ) -> std::result::Result<EmailHasher, KeyMismatch> {
        writes::email_hasher(&self.pool, configured).await
    }

    /// A pooled connection (a new one to the current primary when none is idle).
    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(pool_error)
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Applies the migrations this build has and the database lacks, holding an advisory lock
/// so that frontends starting together migrate one after the other (the later ones find
/// nothing left to do).
async fn migrate(config: &tokio_postgres::Config, tls: MakeRustlsConnect) -> Result<()> {
    let (mut client, connection) = config.connect(tls).await.map_err(db_error)?;
    let driver = tokio::spawn(connection);
    let outcome = async {
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(db_error)?;
        let report = embedded::migrations::runner()
            .run_async(&mut client)
            .await
            .map_err(StoreError::backend);
        let filled = match &report {
            Ok(_) => fill_policy_versions(&client).await,
            Err(_) => Ok(()),
        };
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(db_error)?;
        filled?;
        let applied = report?.applied_migrations().len();
        if applied > 0 {
            tracing::info!(applied, "database schema migrated");
        }
        Ok(())
    }
    .await;
    drop(client);
    let _ = driver.await;
    outcome
}

/// Rows filled in per statement by [`fill_policy_versions`].
const FILL_CHUNK: i64 = 1000;

/// Copies each record's policy version into its column for rows stored before schema 2 (the
/// column `GetStats` groups by), in chunks; a crash leaves the rest for the next start.
async fn fill_policy_versions(client: &tokio_postgres::Client) -> Result<()> {
    loop {
        let rows = client
            .query(
                "SELECT id, record FROM comments WHERE policy_version IS NULL LIMIT $1",
                &[&FILL_CHUNK],
            )
            .await
            .map_err(db_error)?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut ids: Vec<Vec<u8>> = Vec::with_capacity(rows.len());
        let mut versions = Vec::with_capacity(rows.len());
        for row in &rows {
            ids.push(row.get(0));
            versions.push(crate::store::record::decode(row.get(1))?.policy_version);
        }
        client
            .execute(
                "UPDATE comments SET policy_version = v.version \
                 FROM unnest($1::bytea[], $2::text[]) AS v(id, version) WHERE comments.id = v.id",
                &[&ids, &versions],
            )
            .await
            .map_err(db_error)?;
    }
}

#[async_trait::async_trait]
impl Storage for PgStore {
    fn schema_version(&self) -> u32 {
        SCHEMA_VERSION
    }

    fn shared_history(&self, settings: HistorySettings) -> Option<Arc<dyn SubmissionHistory>> {
        shared_history::spawn_sweeper(self.pool.clone(), settings.campaign_window);
        Some(Arc::new(shared_history::SharedHistory::new(
            self.pool.clone(),
            settings,
        )))
    }

    fn remote_changes(&self) -> Option<broadcast::Receiver<RemoteChange>> {
        Some(self.remote.subscribe())
    }

    async fn insert_batch(&self, comments: Vec<StoredComment>) -> Vec<Result<()>> {
        self.committer.insert_batch(comments).await
    }

    async fn moderate(&self, decision: DecisionRequest) -> Result<Decided> {
        writes::moderate(&mut self.client().await?, &decision, &self.frontend).await
    }

    async fn get(&self, id: CommentId) -> Result<Option<StoredComment>> {
        reads::get(&self.client().await?, id).await
    }

    async fn find_duplicate(
        &self,
        post_id: &str,
        email_hash: &[u8; 32],
        content: &str,
    ) -> Result<Option<CommentId>> {
        let digest = crate::store::duplicate_digest(post_id, email_hash, content);
        reads::find_duplicate(&self.client().await?, &digest).await
    }

    async fn first_comment_ms(&self, post_id: &str) -> Result<Option<u64>> {
        reads::first_comment_ms(&self.client().await?, post_id).await
    }

    async fn find_by_idempotency_key(&self, key: &str) -> Result<Option<StoredComment>> {
        reads::find_by_idempotency_key(&self.client().await?, key).await
    }

    async fn policy_version_counts(&self) -> Result<Vec<(String, u64)>> {
        reads::policy_version_counts(&self.client().await?).await
    }

    async fn list_thread(
        &self,
        post_id: &str,
        after: Option<CommentId>,
        limit: usize,
    ) -> Result<Page> {
        reads::list_thread(&self.client().await?, post_id, after, limit).await
    }

    async fn list_queue(
        &self,
        status: Status,
        post_id: Option<&str>,
        before: Option<CommentId>,
        limit: usize,
    ) -> Result<Page> {
        reads::list_queue(&self.client().await?, status, post_id, before, limit).await
    }

    async fn list_queue_oldest(
        &self,
        status: Status,
        post_id: Option<&str>,
        after: Option<CommentId>,
        limit: usize,
    ) -> Result<Page> {
        reads::list_queue_oldest(&self.client().await?, status, post_id, after, limit).await
    }

    async fn list_by_author(
        &self,
        email_hash: [u8; 32],
        limit: usize,
    ) -> Result<Vec<StoredComment>> {
        reads::list_by_author(&self.client().await?, &email_hash, limit).await
    }

    async fn erase_author(&self, email_hash: [u8; 32]) -> Result<u64> {
        writes::erase_author(&self.client().await?, &email_hash).await
    }

    async fn purge_expired(&self, cutoff_ms: u64) -> Result<u64> {
        writes::purge_expired(&self.client().await?, cutoff_ms).await
    }

    async fn list_audit(
        &self,
        comment: Option<CommentId>,
        before: Option<AuditCursor>,
        limit: usize,
    ) -> Result<AuditPage> {
        reads::list_audit(&self.client().await?, comment, before, limit).await
    }

    async fn audit_since(&self, since_ms: u64) -> Result<Vec<AuditEntry>> {
        reads::audit_since(&self.client().await?, since_ms).await
    }

    async fn labels(&self) -> Result<Vec<LabelledText>> {
        reads::labels(&self.client().await?).await
    }

    async fn label(&self, id: CommentId) -> Result<Option<LabelledText>> {
        reads::label(&self.client().await?, id).await
    }

    async fn author_stats(&self, email_hash: &[u8; 32]) -> Result<AuthorStats> {
        reads::author_stats(&self.client().await?, email_hash).await
    }

    async fn status_counts(&self) -> Result<[(Status, u64); 4]> {
        reads::status_counts(&self.client().await?).await
    }

    async fn activity(
        &self,
        start_ms: u64,
        interval_ms: u64,
        intervals: usize,
    ) -> Result<Vec<Activity>> {
        reads::activity(&self.client().await?, start_ms, interval_ms, intervals).await
    }

    async fn check_consistency(&self) -> Result<Consistency> {
        reads::check_consistency(&self.client().await?).await
    }

    async fn setting(&self, name: &str) -> Result<Option<Vec<u8>>> {
        reads::setting(&self.client().await?, name).await
    }

    async fn put_settings(&self, settings: Vec<(String, Vec<u8>)>) -> Result<()> {
        writes::put_settings(&mut self.client().await?, settings, &self.frontend).await
    }

    async fn import_batch(&self, comments: Vec<ImportedComment>) -> Vec<Result<ImportOutcome>> {
        let imported = match self.client().await {
            Ok(mut client) => import::import_batch(&mut client, &comments, &self.frontend).await,
            Err(e) => Err(e),
        };
        match imported {
            Ok(outcomes) => outcomes,
            Err(e) => comments.iter().map(|_| Err(e.duplicate())).collect(),
        }
    }

    async fn put_label(&self, label: LabelledText) -> Result<()> {
        writes::put_told_label(&mut self.client().await?, &label, &self.frontend).await
    }

    async fn events_after(&self, after: Option<u64>, limit: usize) -> Result<EventPage> {
        events::after(&mut self.client().await?, after, limit).await
    }

    async fn prune_events(&self, window: EventWindow, now_ms: u64) -> Result<u64> {
        events::prune(&mut self.client().await?, window, now_ms).await
    }

    async fn close(&self) -> Result<()> {
        self.committer.close().await;
        self.listener.abort();
        self.pool.close();
        Ok(())
    }
}

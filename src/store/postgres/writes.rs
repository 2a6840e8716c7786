//! Writes other than submissions: decisions, erasure, the retention purge, settings and the
//! shared key for hashing emails. Each is one transaction, or bounded single-statement steps.

use deadpool_postgres::Object;

use super::PURGE_LOCK;
use super::columns::ms_param;
use super::errors::{KeyMismatch, db_error};
use super::listener::{self, CHANNEL};
use super::reads::setting;
use crate::comment::Status;
use crate::privacy::EmailHasher;
use crate::store::decide::{self, last_change_ms};
use crate::store::events::Change;
use crate::store::{
    Decided, DecisionRequest, LabelledText, NO_AUTHOR, QueueChange, Result, StoreError, audit,
    record,
};

/// Comments deleted per statement by erasure and purges, so each step stays short.
const DELETE_CHUNK: i64 = 500;

/// Applies a decision in one transaction: the record (locked), the author's stats, the
/// label, the audit entry and the notification.
pub(super) async fn moderate(
    client: &mut Object,
    request: &DecisionRequest,
    frontend: &str,
) -> Result<Decided> {
    let id = super::columns::id_param(request.id);
    let tx = client.transaction().await.map_err(db_error)?;
    let row = tx
        .query_opt(
            "SELECT record FROM comments WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await
        .map_err(db_error)?
        .ok_or(StoreError::NotFound(request.id))?;
    let mut comment = record::decode(row.get(0))?;
    let (from, entry) = decide::apply(&mut comment, request)?;
    let to = comment.verdict.status;
    tx.execute(
        "UPDATE comments SET status = $2, changed_at_ms = $3, record = $4 WHERE id = $1",
        &[
            &id,
            &(to as i16),
            &ms_param(last_change_ms(&comment)),
            &record::encode(&comment),
        ],
    )
    .await
    .map_err(db_error)?;
    if to == Status::Approved && comment.email_hash != NO_AUTHOR {
        // Approval counts toward the author's record (first-time author rule).
        tx.execute(
            "INSERT INTO author_stats VALUES ($1, 0, 1, 0, 0) ON CONFLICT (email_hash) \
             DO UPDATE SET approved = author_stats.approved + 1",
            &[&&comment.email_hash[..]],
        )
        .await
        .map_err(db_error)?;
    }
    match request.action.label() {
        Some(label) => {
            put_label(&tx, &LabelledText::of(&comment, label, request.at_ms)).await?;
        }
        None if request.action.withdraws_label(to) => {
            tx.execute("DELETE FROM labels WHERE comment_id = $1", &[&id])
                .await
                .map_err(db_error)?;
        }
        None => {}
    }
    tx.execute(
        "INSERT INTO audit (at_ms, comment_id, entry) VALUES ($1, $2, $3)",
        &[&ms_param(request.at_ms), &id, &audit::encode(&entry)],
    )
    .await
    .map_err(db_error)?;
    let event = QueueChange {
        comment_id: request.id,
        at_ms: request.at_ms,
        change: Change::Decided {
            action: request.action,
            from,
        },
        to,
    };
    super::events::append(&tx, &[event]).await?;
    let payload = listener::decided_payload(frontend, request.id, request.action, from);
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
        .await
        .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    Ok(Decided { comment, from })
}

/// Stores or replaces a label given without a decision, and tells the other frontends.
pub(super) async fn put_told_label(
    client: &mut Object,
    label: &LabelledText,
    frontend: &str,
) -> Result<()> {
    let tx = client.transaction().await.map_err(db_error)?;
    put_label(&tx, label).await?;
    tell_labelled(&tx, frontend, label.comment_id).await?;
    tx.commit().await.map_err(db_error)
}

/// Tells the other frontends, when `client`'s transaction commits, that `id` was labelled.
pub(super) async fn tell_labelled(
    client: &impl deadpool_postgres::GenericClient,
    frontend: &str,
    id: crate::comment::CommentId,
) -> Result<()> {
    let payload = listener::labelled_payload(frontend, id);
    client
        .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Stores or replaces a label by its comment id.
pub(super) async fn put_label(
    client: &impl deadpool_postgres::GenericClient,
    label: &LabelledText,
) -> Result<()> {
    client
        .execute(
            "INSERT INTO labels (comment_id, spam, content, author_name, author_url, decided_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (comment_id) \
             DO UPDATE SET spam = EXCLUDED.spam, content = EXCLUDED.content, \
             author_name = EXCLUDED.author_name, author_url = EXCLUDED.author_url, \
             decided_ms = EXCLUDED.decided_ms",
            &[
                &super::columns::id_param(label.comment_id),
                &label.label.is_spam(),
                &label.content,
                &label.author_name,
                &label.author_url,
                &ms_param(label.decided_ms),
            ],
        )
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Deletes the author's comments and their labels in bounded steps (each its own
/// statement, so other writes go on between them), then the author's stats. Audit entries
/// stay: they record what moderators did and hold no personal data.
pub(super) async fn erase_author(client: &Object, email_hash: &[u8; 32]) -> Result<u64> {
    let hash = &email_hash[..];
    let mut erased = 0;
    loop {
        let row = client
            .query_one(
                "WITH gone AS (DELETE FROM comments WHERE id IN \
                   (SELECT id FROM comments WHERE email_hash = $1 LIMIT $2) RETURNING id), \
                 unlabelled AS (DELETE FROM labels WHERE comment_id IN (SELECT id FROM gone)) \
                 SELECT count(*) FROM gone",
                &[&hash, &DELETE_CHUNK],
            )
            .await
            .map_err(db_error)?;
        let step: i64 = row.get(0);
        erased += step.unsigned_abs();
        if step < DELETE_CHUNK {
            break;
        }
    }
    client
        .execute("DELETE FROM author_stats WHERE email_hash = $1", &[&hash])
        .await
        .map_err(db_error)?;
    Ok(erased)
}

/// Deletes SPAM and TRASH last changed before `cutoff_ms`, in bounded steps. One frontend
/// purges at a time (an advisory lock); the others find the lock taken and leave it to it.
pub(super) async fn purge_expired(client: &Object, cutoff_ms: u64) -> Result<u64> {
    let locked: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&PURGE_LOCK])
        .await
        .map_err(db_error)?
        .get(0);
    if !locked {
        return Ok(0);
    }
    let purged = purge_steps(client, cutoff_ms).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&PURGE_LOCK])
        .await
        .map_err(db_error)?;
    purged
}

async fn purge_steps(client: &Object, cutoff_ms: u64) -> Result<u64> {
    let mut purged = 0;
    loop {
        let row = client
            .query_one(
                "WITH gone AS (DELETE FROM comments WHERE id IN \
                   (SELECT id FROM comments WHERE status >= 3 AND changed_at_ms < $1 LIMIT $2) \
                   RETURNING id), \
                 unlabelled AS (DELETE FROM labels WHERE comment_id IN (SELECT id FROM gone)) \
                 SELECT count(*) FROM gone",
                &[&ms_param(cutoff_ms), &DELETE_CHUNK],
            )
            .await
            .map_err(db_error)?;
        let step: i64 = row.get(0);
        purged += step.unsigned_abs();
        if step < DELETE_CHUNK {
            return Ok(purged);
        }
    }
}

/// Stores settings together and tells the other frontends.
pub(super) async fn put_settings(
    client: &mut Object,
    settings: Vec<(String, Vec<u8>)>,
    frontend: &str,
) -> Result<()> {
    let tx = client.transaction().await.map_err(db_error)?;
    for (name, value) in &settings {
        tx.execute(
            "INSERT INTO settings VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            &[name, value],
        )
        .await
        .map_err(db_error)?;
    }
    tx.execute(
        "SELECT pg_notify($1, $2)",
        &[&CHANNEL, &listener::settings_payload(frontend)],
    )
    .await
    .map_err(db_error)?;
    tx.commit().await.map_err(db_error)
}

/// The key kept in the database, or a new one stored for every later frontend. A database
/// whose frontends were configured with a key keeps only its fingerprint: a frontend
/// without one then cannot know it and refuses to start.
async fn kept_or_generated_key(
    client: &deadpool_postgres::Object,
) -> std::result::Result<EmailHasher, KeyMismatch> {
    if setting(client, KEY).await?.is_none() {
        if setting(client, KEY_FINGERPRINT).await?.is_some() {
            return Err(KeyMismatch::Different);
        }
        let generated = EmailHasher::generate().key_hex().into_bytes();
        keep_first(client, KEY, &generated).await?;
    }
    let key = setting(client, KEY).await?.unwrap_or_default();
    Ok(EmailHasher::from_hex(&String::from_utf8_lossy(&key))?)
}

/// Stores `value` as setting `name` unless one is stored already (the first writer wins)
/// and returns the value kept.
async fn keep_first(client: &Object, name: &str, value: &[u8]) -> Result<Vec<u8>> {
    client
        .execute(
            "INSERT INTO settings VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&name, &value],
        )
        .await
        .map_err(db_error)?;
    Ok(setting(client, name).await?.unwrap_or_default())
}

/// Setting that holds the fingerprint of the key every author was hashed with.
const KEY_FINGERPRINT: &str = "email_key_fingerprint";
/// Setting that holds the key itself when no frontend was configured with one.
const KEY: &str = "email_key";

/// The key for hashing emails every frontend shares (see `PgStore::email_hasher`). The
/// first frontend to start stores it (or only its fingerprint, when it was configured);
/// `ON CONFLICT DO NOTHING` makes two first starts agree on one.
pub(super) async fn email_hasher(
    pool: &deadpool_postgres::Pool,
    configured: Option<EmailHasher>,
) -> std::result::Result<EmailHasher, KeyMismatch> {
    let client = pool.get().await.map_err(super::errors::pool_error)?;
    let hasher = match configured {
        Some(hasher) => hasher,
        None => kept_or_generated_key(&client).await?,
    };
    let fingerprint = hasher.fingerprint();
    if keep_first(&client, KEY_FINGERPRINT, &fingerprint).await? != fingerprint {
        return Err(KeyMismatch::Different);
    }
    Ok(hasher)
}

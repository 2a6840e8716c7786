//! Imported history: comments stored as they were (status, times, thread), in one
//! transaction per batch, found again by id so that importing twice adds nothing.

use std::collections::{BTreeMap, HashSet};

use deadpool_postgres::Object;

use super::columns::{id_column, id_param, ms_param};
use super::errors::db_error;
use super::writes::{put_label, tell_labelled};
use crate::comment::{CommentId, now_ms};
use crate::store::decide::last_change_ms;
use crate::store::{
    AuthorStats, ImportOutcome, ImportedComment, LabelledText, NO_AUTHOR, Result, duplicate_digest,
    record,
};

/// Stores the comments not stored yet (by id); see `Storage::import_batch`.
pub(super) async fn import_batch(
    client: &mut Object,
    comments: &[ImportedComment],
    frontend: &str,
) -> Result<Vec<Result<ImportOutcome>>> {
    let tx = client.transaction().await.map_err(db_error)?;
    let mut seen = HashSet::new();
    let fresh: Vec<&ImportedComment> = comments
        .iter()
        .filter(|c| seen.insert(c.comment.id))
        .collect();
    let digests = digests(&tx, &fresh).await?;
    let inserted = insert(&tx, &fresh, &digests).await?;
    let stored: Vec<&ImportedComment> = fresh
        .iter()
        .copied()
        .filter(|c| inserted.contains(&c.comment.id))
        .collect();
    add_author_stats(&tx, &stored).await?;
    for imported in &stored {
        if let Some(label) = imported.label {
            let decided = LabelledText::of(&imported.comment, label, now_ms());
            put_label(&tx, &decided).await?;
            tell_labelled(&tx, frontend, decided.comment_id).await?;
        }
    }
    tx.commit().await.map_err(db_error)?;
    let mut first = HashSet::new();
    Ok(comments
        .iter()
        .map(|c| {
            let id = c.comment.id;
            Ok(if first.insert(id) && inserted.contains(&id) {
                ImportOutcome::Imported
            } else {
                ImportOutcome::AlreadyPresent
            })
        })
        .collect())
}

/// Each comment's duplicate digest, or `None` where it has no author or the digest is
/// taken (by a stored comment or an earlier one of the batch): history repeats itself and
/// is stored as it was.
async fn digests(
    tx: &deadpool_postgres::Transaction<'_>,
    comments: &[&ImportedComment],
) -> Result<Vec<Option<Vec<u8>>>> {
    let all: Vec<Option<Vec<u8>>> = comments
        .iter()
        .map(|i| {
            let c = &i.comment;
            (c.email_hash != NO_AUTHOR).then(|| {
                duplicate_digest(&c.submission.post_id, &c.email_hash, &c.submission.content)
                    .to_vec()
            })
        })
        .collect();
    let wanted: Vec<&Vec<u8>> = all.iter().flatten().collect();
    let mut taken: HashSet<Vec<u8>> = tx
        .query(
            "SELECT duplicate_digest FROM comments WHERE duplicate_digest = ANY($1)",
            &[&wanted],
        )
        .await
        .map_err(db_error)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    Ok(all
        .into_iter()
        .map(|digest| digest.filter(|d| taken.insert(d.clone())))
        .collect())
}

async fn insert(
    tx: &deadpool_postgres::Transaction<'_>,
    comments: &[&ImportedComment],
    digests: &[Option<Vec<u8>>],
) -> Result<HashSet<CommentId>> {
    if comments.is_empty() {
        return Ok(HashSet::new());
    }
    let all = || comments.iter().map(|i| &i.comment);
    let ids: Vec<Vec<u8>> = all().map(|c| id_param(c.id)).collect();
    let posts: Vec<&str> = all().map(|c| c.submission.post_id.as_str()).collect();
    let statuses: Vec<i16> = all().map(|c| c.verdict.status as i16).collect();
    let hashes: Vec<&[u8]> = all().map(|c| &c.email_hash[..]).collect();
    let created: Vec<i64> = all().map(|c| ms_param(c.created_at_ms)).collect();
    let changed: Vec<i64> = all().map(|c| ms_param(last_change_ms(c))).collect();
    let records: Vec<Vec<u8>> = all().map(record::encode).collect();
    let versions: Vec<&str> = all().map(|c| c.policy_version.as_str()).collect();
    let rows = tx
        .query(
            "INSERT INTO comments \
             (id, post_id, status, email_hash, duplicate_digest, created_at_ms, changed_at_ms, record, \
              policy_version) \
             SELECT * FROM unnest($1::bytea[], $2::text[], $3::int2[], $4::bytea[], $5::bytea[], \
                                  $6::int8[], $7::int8[], $8::bytea[], $9::text[]) \
             ON CONFLICT DO NOTHING RETURNING id",
            &[
                &ids, &posts, &statuses, &hashes, &digests, &created, &changed, &records,
                &versions,
            ],
        )
        .await
        .map_err(db_error)?;
    rows.iter().map(|row| id_column(row.get(0))).collect()
}

/// The imported comments' authors' stats, in key order (no deadlock with submissions).
async fn add_author_stats(
    tx: &deadpool_postgres::Transaction<'_>,
    stored: &[&ImportedComment],
) -> Result<()> {
    let mut stats: BTreeMap<[u8; 32], AuthorStats> = BTreeMap::new();
    for imported in stored {
        let c = &imported.comment;
        if c.email_hash != NO_AUTHOR {
            stats
                .entry(c.email_hash)
                .or_default()
                .count_submission(c.verdict.status);
        }
    }
    super::committer::add_author_stats(tx, &stats).await
}

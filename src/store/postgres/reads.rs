//! Reads: each one statement on a pooled connection, answered from the indexes of
//! `migrations/postgres`.

use deadpool_postgres::Object;
use tokio_postgres::Row;

use super::columns::{id_column, id_param, ms_column, ms_param};
use super::errors::db_error;
use crate::comment::{CommentId, Status, StoredComment};
use crate::moderation::AuditEntry;
use crate::store::{
    Activity, AuditCursor, AuditPage, AuthorStats, Consistency, LabelledText, Page, Result, audit,
    duplicate_digest, record,
};

pub(super) async fn get(client: &Object, id: CommentId) -> Result<Option<StoredComment>> {
    client
        .query_opt(
            "SELECT record FROM comments WHERE id = $1",
            &[&id_param(id)],
        )
        .await
        .map_err(db_error)?
        .map(|row| record::decode(row.get(0)))
        .transpose()
}

pub(super) async fn find_duplicate(
    client: &Object,
    digest: &[u8; 32],
) -> Result<Option<CommentId>> {
    client
        .query_opt(
            "SELECT id FROM comments WHERE duplicate_digest = $1",
            &[&&digest[..]],
        )
        .await
        .map_err(db_error)?
        .map(|row| id_column(row.get(0)))
        .transpose()
}

/// The comment stored with this idempotency key, if any.
pub(super) async fn find_by_idempotency_key(
    client: &Object,
    key: &str,
) -> Result<Option<StoredComment>> {
    client
        .query_opt(
            "SELECT record FROM comments WHERE idempotency_key = $1",
            &[&key],
        )
        .await
        .map_err(db_error)?
        .map(|row| record::decode(row.get(0)))
        .transpose()
}

/// Stored comments per policy version, most first (rows not yet filled in count as `""`).
pub(super) async fn policy_version_counts(client: &Object) -> Result<Vec<(String, u64)>> {
    let rows = client
        .query(
            "SELECT COALESCE(policy_version, '') AS version, count(*) FROM comments \
             GROUP BY version ORDER BY count(*) DESC, version",
            &[],
        )
        .await
        .map_err(db_error)?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), u64::try_from(row.get::<_, i64>(1)).unwrap_or(0)))
        .collect())
}

pub(super) async fn first_comment_ms(client: &Object, post_id: &str) -> Result<Option<u64>> {
    let row = client
        .query_one(
            "SELECT min(created_at_ms) FROM comments WHERE post_id = $1",
            &[&post_id],
        )
        .await
        .map_err(db_error)?;
    Ok(row.get::<_, Option<i64>>(0).map(ms_column))
}

/// One page from rows of records, one more than `limit` asked for to tell whether more
/// follow.
fn page(rows: &[Row], limit: usize) -> Result<Page> {
    let more = rows.len() > limit;
    let comments = rows
        .iter()
        .take(limit)
        .map(|row| record::decode(row.get(0)))
        .collect::<Result<_>>()?;
    Ok(Page { comments, more })
}

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1
}

pub(super) async fn list_thread(
    client: &Object,
    post_id: &str,
    after: Option<CommentId>,
    limit: usize,
) -> Result<Page> {
    let after = after.map_or_else(Vec::new, id_param);
    let rows = client
        .query(
            "SELECT record FROM comments WHERE post_id = $1 AND status = $2 AND id > $3 \
             ORDER BY id LIMIT $4",
            &[
                &post_id,
                &(Status::Approved as i16),
                &after,
                &limit_param(limit),
            ],
        )
        .await
        .map_err(db_error)?;
    page(&rows, limit)
}

pub(super) async fn list_queue(
    client: &Object,
    status: Status,
    post_id: Option<&str>,
    before: Option<CommentId>,
    limit: usize,
) -> Result<Page> {
    // Past every id: 16 bytes sort before 17.
    let before = before.map_or_else(|| vec![0xff; 17], id_param);
    queue_page(client, status, post_id, before, Order::NewestFirst, limit).await
}

pub(super) async fn list_queue_oldest(
    client: &Object,
    status: Status,
    post_id: Option<&str>,
    after: Option<CommentId>,
    limit: usize,
) -> Result<Page> {
    // Before every id: the empty byte string sorts first.
    let after = after.map_or_else(Vec::new, id_param);
    queue_page(client, status, post_id, after, Order::OldestFirst, limit).await
}

/// Which way a queue page runs from its cursor.
#[derive(Debug, Clone, Copy)]
enum Order {
    /// Ids below the cursor, highest first.
    NewestFirst,
    /// Ids above the cursor, lowest first.
    OldestFirst,
}

/// Up to `limit` comments of one status (of one post, when given) past `cursor` in `order`.
async fn queue_page(
    client: &Object,
    status: Status,
    post_id: Option<&str>,
    cursor: Vec<u8>,
    order: Order,
    limit: usize,
) -> Result<Page> {
    let (past, direction) = match order {
        Order::NewestFirst => ("<", "DESC"),
        Order::OldestFirst => (">", "ASC"),
    };
    let status = status as i16;
    let limit = limit_param(limit.min(usize::MAX - 1));
    let rows = match post_id {
        Some(post) => {
            client
                .query(
                    &format!(
                        "SELECT record FROM comments WHERE post_id = $1 AND status = $2 \
                         AND id {past} $3 ORDER BY id {direction} LIMIT $4"
                    ),
                    &[&post, &status, &cursor, &limit],
                )
                .await
        }
        None => {
            client
                .query(
                    &format!(
                        "SELECT record FROM comments WHERE status = $1 AND id {past} $2 \
                         ORDER BY id {direction} LIMIT $3"
                    ),
                    &[&status, &cursor, &limit],
                )
                .await
        }
    }
    .map_err(db_error)?;
    page(&rows, usize::try_from(limit - 1).unwrap_or(usize::MAX))
}

pub(super) async fn list_by_author(
    client: &Object,
    email_hash: &[u8; 32],
    limit: usize,
) -> Result<Vec<StoredComment>> {
    let rows = client
        .query(
            "SELECT record FROM comments WHERE email_hash = $1 \
             ORDER BY created_at_ms DESC, id DESC LIMIT $2",
            &[&&email_hash[..], &i64::try_from(limit).unwrap_or(i64::MAX)],
        )
        .await
        .map_err(db_error)?;
    rows.iter().map(|row| record::decode(row.get(0))).collect()
}

pub(super) async fn list_audit(
    client: &Object,
    comment: Option<CommentId>,
    before: Option<AuditCursor>,
    limit: usize,
) -> Result<AuditPage> {
    let (at, sequence) = before.map_or((i64::MAX, i64::MAX), |c| {
        (ms_param(c.at_ms), ms_param(c.sequence))
    });
    let take = limit_param(limit);
    let rows =
        match comment {
            Some(id) => {
                client
                    .query(
                        "SELECT at_ms, sequence, entry FROM audit WHERE comment_id = $1 \
                     AND (at_ms, sequence) < ($2, $3) ORDER BY at_ms DESC, sequence DESC LIMIT $4",
                        &[&id_param(id), &at, &sequence, &take],
                    )
                    .await
            }
            None => client
                .query(
                    "SELECT at_ms, sequence, entry FROM audit WHERE (at_ms, sequence) < ($1, $2) \
                     ORDER BY at_ms DESC, sequence DESC LIMIT $3",
                    &[&at, &sequence, &take],
                )
                .await,
        }
        .map_err(db_error)?;
    let mut page = AuditPage::default();
    for row in rows.iter().take(limit) {
        page.entries.push(audit::decode(row.get(2))?);
    }
    if rows.len() > limit {
        let last = &rows[limit - 1];
        page.next = Some(AuditCursor {
            at_ms: ms_column(last.get(0)),
            sequence: ms_column(last.get(1)),
        });
    }
    Ok(page)
}

pub(super) async fn audit_since(client: &Object, since_ms: u64) -> Result<Vec<AuditEntry>> {
    client
        .query(
            "SELECT entry FROM audit WHERE at_ms >= $1 ORDER BY at_ms, sequence",
            &[&ms_param(since_ms)],
        )
        .await
        .map_err(db_error)?
        .iter()
        .map(|row| audit::decode(row.get(0)))
        .collect()
}

pub(super) async fn labels(client: &Object) -> Result<Vec<LabelledText>> {
    client
        .query(&format!("SELECT {LABEL_COLUMNS} FROM labels"), &[])
        .await
        .map_err(db_error)?
        .iter()
        .map(label_of)
        .collect()
}

pub(super) async fn label(client: &Object, id: CommentId) -> Result<Option<LabelledText>> {
    client
        .query_opt(
            &format!("SELECT {LABEL_COLUMNS} FROM labels WHERE comment_id = $1"),
            &[&id_param(id)],
        )
        .await
        .map_err(db_error)?
        .as_ref()
        .map(label_of)
        .transpose()
}

/// The columns [`label_of`] reads, in its order.
const LABEL_COLUMNS: &str = "comment_id, spam, content, author_name, author_url, decided_ms";

fn label_of(row: &Row) -> Result<LabelledText> {
    Ok(LabelledText {
        comment_id: id_column(row.get(0))?,
        label: if row.get(1) {
            crate::comment::Label::Spam
        } else {
            crate::comment::Label::Ham
        },
        content: row.get(2),
        author_name: row.get(3),
        author_url: row.get(4),
        decided_ms: ms_column(row.get(5)),
    })
}

pub(super) async fn author_stats(client: &Object, email_hash: &[u8; 32]) -> Result<AuthorStats> {
    let row = client
        .query_opt(
            "SELECT submitted, approved, pending, spam FROM author_stats WHERE email_hash = $1",
            &[&&email_hash[..]],
        )
        .await
        .map_err(db_error)?;
    Ok(row.map_or_else(AuthorStats::default, |row| AuthorStats {
        submitted: ms_column(row.get(0)),
        approved: ms_column(row.get(1)),
        pending: ms_column(row.get(2)),
        spam: ms_column(row.get(3)),
    }))
}

pub(super) async fn status_counts(client: &Object) -> Result<[(Status, u64); 4]> {
    let mut counts = Status::ALL.map(|s| (s, 0));
    for row in client
        .query("SELECT status, count(*) FROM comments GROUP BY status", &[])
        .await
        .map_err(db_error)?
    {
        let status: i16 = row.get(0);
        let count: i64 = row.get(1);
        if let Some(slot) = counts.iter_mut().find(|(s, _)| *s as i16 == status) {
            slot.1 = ms_column(count);
        }
    }
    Ok(counts)
}

/// The smallest UUIDv7 of a millisecond: ids sort by creation time, so a time range is an
/// id range of the primary key.
fn first_id_of(ms: u64) -> Vec<u8> {
    let mut bytes = vec![0; 16];
    bytes[..6].copy_from_slice(&ms.min((1 << 48) - 1).to_be_bytes()[2..]);
    bytes
}

pub(super) async fn activity(
    client: &Object,
    start_ms: u64,
    interval_ms: u64,
    intervals: usize,
) -> Result<Vec<Activity>> {
    let interval_ms = interval_ms.max(1);
    let end_ms = start_ms.saturating_add(interval_ms.saturating_mul(intervals as u64));
    let mut buckets = vec![Activity::default(); intervals];
    let (start, interval) = (ms_param(start_ms), ms_param(interval_ms));
    let submissions = client
        .query(
            "SELECT (created_at_ms - $1) / $2, count(*) FROM comments \
             WHERE id >= $3 AND id < $4 AND created_at_ms >= $1 GROUP BY 1",
            &[
                &start,
                &interval,
                &first_id_of(start_ms),
                &first_id_of(end_ms),
            ],
        )
        .await
        .map_err(db_error)?;
    let decisions = client
        .query(
            "SELECT (at_ms - $1) / $2, count(*) FROM audit \
             WHERE at_ms >= $1 AND at_ms < $3 GROUP BY 1",
            &[&start, &interval, &ms_param(end_ms)],
        )
        .await
        .map_err(db_error)?;
    for (rows, submitted) in [(submissions, true), (decisions, false)] {
        for row in rows {
            let bucket = usize::try_from(row.get::<_, i64>(0)).unwrap_or(usize::MAX);
            let Some(bucket) = buckets.get_mut(bucket) else {
                continue;
            };
            let n = ms_column(row.get(1));
            if submitted {
                bucket.submissions += n;
            } else {
                bucket.decisions += n;
            }
        }
    }
    Ok(buckets)
}

/// Every record decodes and agrees with the columns it is found by.
pub(super) async fn check_consistency(client: &Object) -> Result<Consistency> {
    let rows = client
        .query(
            "SELECT id, post_id, status, email_hash, duplicate_digest, record FROM comments",
            &[],
        )
        .await
        .map_err(db_error)?;
    let mut report = Consistency {
        comments: rows.len(),
        problems: Vec::new(),
    };
    for row in &rows {
        let id: &[u8] = row.get(0);
        let problem = match record::decode(row.get(5)) {
            Err(e) => Some(format!("{}: {e}", hex::encode(id))),
            Ok(c) => {
                let s = &c.submission;
                let digest = duplicate_digest(&s.post_id, &c.email_hash, &s.content);
                let stored_digest: Option<&[u8]> = row.get(4);
                let agrees = c.id.as_bytes() == id
                    && s.post_id == row.get::<_, &str>(1)
                    && c.verdict.status as i16 == row.get::<_, i16>(2)
                    && c.email_hash[..] == *row.get::<_, &[u8]>(3)
                    && stored_digest.is_none_or(|d| d == digest);
                (!agrees).then(|| format!("{}: columns disagree with the record", c.id))
            }
        };
        report.problems.extend(problem);
    }
    Ok(report)
}

pub(super) async fn setting(
    client: &impl deadpool_postgres::GenericClient,
    name: &str,
) -> Result<Option<Vec<u8>>> {
    Ok(client
        .query_opt("SELECT value FROM settings WHERE name = $1", &[&name])
        .await
        .map_err(db_error)?
        .map(|row| row.get(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_range_is_an_id_range() {
        let id = CommentId::generate();
        let ms = id.created_ms();
        assert!(first_id_of(ms).as_slice() <= id.as_bytes().as_slice());
        assert!(first_id_of(ms + 1).as_slice() > id.as_bytes().as_slice());
    }
}

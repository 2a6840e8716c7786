//! Campaign sightings recorded for a group of submissions at once — whatever arrived while the
//! previous group's statements ran — in two statements whatever the group's size: the lookup
//! of every signature's band keys, then one statement that creates the new campaigns and
//! their band keys, records every sighting and returns, per submission, the other authors
//! already seen (see [`super::shared_history`]).
//!
//! Within a group the submissions are taken in order, as if one after another: a copy joins a
//! campaign another copy of the same group started, and counts the group's earlier authors.

use std::collections::{BTreeSet, HashMap, HashSet};

use deadpool_postgres::Pool;
use tokio::sync::mpsc;

use super::columns::{NOW_MS, band_columns, decode, encode, millis};
use super::errors::{db_error, pool_error};
use super::groups::{self, Grouped, answer_in_groups};
use crate::near_duplicate::{MIN_SIMILARITY, Signature, digest, similarity};
use crate::store::{HistorySettings, StoreError};

/// Most requests one group takes.
const CAMPAIGN_GROUP: usize = 256;

/// Sightings to record (a text's signature and its author): the campaign each belongs to once
/// it has enough authors.
pub(super) type CampaignRequests = mpsc::Sender<Grouped<(Signature, [u8; 32]), Option<u64>>>;

/// Records sightings in groups until every sender is gone, each group in two statements.
pub(super) fn spawn(pool: Pool, settings: HistorySettings) -> CampaignRequests {
    let (requests, waiting) = mpsc::channel(groups::QUEUE);
    tokio::spawn(answer_in_groups(waiting, CAMPAIGN_GROUP, move |group| {
        let pool = pool.clone();
        async move { observe_group(&pool, &settings, &group).await }
    }));
    requests
}

/// Each sighting's campaign id: an existing campaign within the window whose first text is a
/// near-copy (found through shared band keys), else one started earlier in the group, else a
/// new one named after the text. Returns the ids and the new campaigns.
fn assign(
    group: &[(Signature, [u8; 32])],
    candidates: &HashMap<usize, Vec<(i64, Signature)>>,
) -> (Vec<i64>, Vec<(i64, Signature)>) {
    let mut fresh: Vec<(i64, Signature)> = Vec::new();
    let ids = group
        .iter()
        .enumerate()
        .map(|(i, (sig, _))| {
            let near = |known: &[(i64, Signature)]| {
                known
                    .iter()
                    .find(|(_, other)| similarity(other, sig) >= MIN_SIMILARITY)
                    .map(|(id, _)| *id)
            };
            let existing = candidates.get(&i).and_then(|c| near(c));
            existing.or_else(|| near(&fresh)).unwrap_or_else(|| {
                let id = digest(sig) as i64;
                fresh.push((id, *sig));
                id
            })
        })
        .collect();
    (ids, fresh)
}

/// How many authors each sighting's campaign has, counting the authors the database knew
/// (`known`, others than the sighting's own) and the group's earlier ones.
fn authors(group: &[(Signature, [u8; 32])], ids: &[i64], known: &[Vec<Vec<u8>>]) -> Vec<usize> {
    (0..group.len())
        .map(|i| {
            let me = &group[i].1[..];
            let mut others: BTreeSet<&[u8]> = known[i]
                .iter()
                .map(Vec::as_slice)
                .filter(|e| *e != me)
                .collect();
            for j in 0..i {
                if ids[j] == ids[i] && group[j].1[..] != *me {
                    others.insert(&group[j].1[..]);
                }
            }
            others.len() + 1
        })
        .collect()
}

/// Records a group's sightings; returns each one's campaign once it has the configured number
/// of authors.
async fn observe_group(
    pool: &Pool,
    settings: &HistorySettings,
    group: &[(Signature, [u8; 32])],
) -> Result<Vec<Option<u64>>, StoreError> {
    let min_authors = settings.campaign_min_authors;
    let window = millis(settings.campaign_window);
    let client = pool.get().await.map_err(pool_error)?;

    let (mut index, mut bands, mut keys) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (sig, _)) in group.iter().enumerate() {
        let (b, k) = band_columns(sig);
        index.extend(std::iter::repeat_n(
            i32::try_from(i).unwrap_or(i32::MAX),
            b.len(),
        ));
        bands.extend(b);
        keys.extend(k);
    }
    let mut candidates: HashMap<usize, Vec<(i64, Signature)>> = HashMap::new();
    for row in client
        .query(
            &format!(
                "SELECT DISTINCT t.i, c.id, c.signature FROM campaign_bands b \
                 JOIN unnest($1::int4[], $2::int2[], $3::int8[]) AS t(i, band, band_key) \
                   ON b.band = t.band AND b.band_key = t.band_key \
                 JOIN campaigns c ON c.id = b.campaign \
                 WHERE c.first_ms > {NOW_MS} - $4"
            ),
            &[&index, &bands, &keys, &window],
        )
        .await
        .map_err(db_error)?
    {
        let i: i32 = row.get(0);
        if let Some(sig) = decode(row.get(2)) {
            let i = usize::try_from(i).unwrap_or(usize::MAX);
            candidates.entry(i).or_default().push((row.get(1), sig));
        }
    }
    let (ids, fresh) = assign(group, &candidates);

    // New campaigns and their band keys, and sightings, each in key order so two frontends'
    // groups take row locks in the same order.
    let mut fresh = fresh;
    fresh.sort_by_key(|(id, _)| *id);
    let fresh_ids: Vec<i64> = fresh.iter().map(|(id, _)| *id).collect();
    let fresh_sigs: Vec<Vec<u8>> = fresh.iter().map(|(_, sig)| encode(sig)).collect();
    let mut fresh_bands: Vec<(i16, i64, i64)> = Vec::new();
    let mut band_seen = HashSet::new();
    for (id, sig) in &fresh {
        let (b, k) = band_columns(sig);
        for (band, key) in b.into_iter().zip(k) {
            if band_seen.insert((band, key)) {
                fresh_bands.push((band, key, *id));
            }
        }
    }
    fresh_bands.sort_unstable();
    let sightings: BTreeSet<(i64, [u8; 32])> = ids
        .iter()
        .zip(group)
        .map(|(id, (_, email))| (*id, *email))
        .collect();
    let sighting_ids: Vec<i64> = sightings.iter().map(|(id, _)| *id).collect();
    let sighting_emails: Vec<Vec<u8>> = sightings.iter().map(|(_, e)| e.to_vec()).collect();
    let group_index: Vec<i32> = (0..group.len())
        .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
        .collect();
    let group_emails: Vec<Vec<u8>> = group.iter().map(|(_, e)| e.to_vec()).collect();
    let limit = i64::try_from(min_authors).unwrap_or(i64::MAX);
    let rows = client
        .query(
            &format!(
                "WITH new_campaigns AS ( \
                   INSERT INTO campaigns SELECT id, {NOW_MS}, sig \
                   FROM unnest($1::int8[], $2::bytea[]) AS t(id, sig) ON CONFLICT (id) DO NOTHING), \
                 new_bands AS ( \
                   INSERT INTO campaign_bands SELECT b, k, c \
                   FROM unnest($3::int2[], $4::int8[], $5::int8[]) AS t(b, k, c) \
                   ON CONFLICT (band, band_key) DO NOTHING), \
                 seen AS ( \
                   INSERT INTO campaign_authors SELECT c, e, {NOW_MS} \
                   FROM unnest($6::int8[], $7::bytea[]) AS t(c, e) \
                   ON CONFLICT (campaign, email_hash) DO UPDATE SET at_ms = EXCLUDED.at_ms) \
                 SELECT t.i, ARRAY(SELECT a.email_hash FROM campaign_authors a \
                   WHERE a.campaign = t.c AND a.email_hash <> t.e AND a.at_ms > {NOW_MS} - $8 \
                   LIMIT $9) \
                 FROM unnest($10::int4[], $11::int8[], $12::bytea[]) AS t(i, c, e)"
            ),
            &[
                &fresh_ids,
                &fresh_sigs,
                &fresh_bands.iter().map(|(b, _, _)| *b).collect::<Vec<i16>>(),
                &fresh_bands.iter().map(|(_, k, _)| *k).collect::<Vec<i64>>(),
                &fresh_bands.iter().map(|(_, _, c)| *c).collect::<Vec<i64>>(),
                &sighting_ids,
                &sighting_emails,
                &window,
                &limit,
                &group_index,
                &ids,
                &group_emails,
            ],
        )
        .await
        .map_err(db_error)?;
    let mut known: Vec<Vec<Vec<u8>>> = vec![Vec::new(); group.len()];
    for row in rows {
        let i: i32 = row.get(0);
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| known.get_mut(i)) {
            *slot = row.get(1);
        }
    }
    Ok(authors(group, &ids, &known)
        .into_iter()
        .zip(&ids)
        .map(|(count, id)| (count >= min_authors).then_some(*id as u64))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::near_duplicate::{SHINGLE, signature};

    #[test]
    fn copies_in_one_group_share_a_campaign_and_count_earlier_authors() {
        let text = "Vote early in the referendum and tell everyone the polling hours, please";
        let copy = signature(text, SHINGLE);
        let other = signature(
            "A completely different remark about gardening and slugs",
            SHINGLE,
        );
        let group = vec![
            (copy, [1; 32]),
            (other, [2; 32]),
            (copy, [3; 32]),
            (copy, [1; 32]),
        ];
        let (ids, fresh) = assign(&group, &HashMap::new());
        assert_eq!(ids[0], ids[2]);
        assert_eq!(ids[0], ids[3]);
        assert_ne!(ids[0], ids[1]);
        assert_eq!(fresh.len(), 2);
        // The database knew author 9 for the copies' campaign.
        let known = vec![
            vec![vec![9; 32]],
            Vec::new(),
            vec![vec![9; 32]],
            vec![vec![9; 32]],
        ];
        assert_eq!(authors(&group, &ids, &known), [2, 1, 3, 3]);
    }

    #[test]
    fn a_known_campaign_is_joined() {
        let sig = signature(
            "Buy cheap watches at the best price, limited offer today only",
            SHINGLE,
        );
        let mut candidates = HashMap::new();
        candidates.insert(0, vec![(42, sig)]);
        let (ids, fresh) = assign(&[(sig, [1; 32])], &candidates);
        assert_eq!(ids, [42]);
        assert!(fresh.is_empty());
    }
}

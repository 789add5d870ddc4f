//! The series a read covers, looked up once and handed to the reads that
//! follow as plain arrays. A read that finds its series itself (a `series`
//! lookup joined into the statement, grouped by metric key) costs PostgreSQL
//! about twice as much to plan and run as one given the ids and a small
//! integer per series naming its base metric, which is what most reads of
//! a selection of accounts are made of.
//!
//! A series' id never changes and is never reused, so the ids of a
//! selection of accounts are remembered ([`SeriesCache`]): a read of known
//! series skips the lookup, and an answer looks up the series its reads
//! do not know together, in one statement ([`SeriesCache::prefetch`]).
//! Only series that exist are remembered beyond that answer; a selection
//! naming an account without a series of some metric is looked up by every
//! answer, so a series created meanwhile is always found.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use sqlx::PgConnection;
use uuid::Uuid;

use super::evaluate::Selection;
use crate::error::ApiError;
use crate::observations::selections::SelectionRollups;

/// Series ids remembered at most; past it the cache starts over, which
/// bounds its memory whatever the number of accounts.
const SERIES_CACHE_CAPACITY: usize = 200_000;

/// A series by its metric key and account (`None`: the organisation-wide
/// series).
type SeriesKey = (String, Option<Uuid>);

/// Known series ids, and the selections with rollups of their own; clones
/// share them.
#[derive(Clone, Default)]
pub struct SeriesCache {
    ids: Arc<RwLock<HashMap<SeriesKey, i64>>>,
    rollups: SelectionRollups,
    /// Series found missing in one snapshot: set only on the copy
    /// [`SeriesCache::prefetch`] hands to the reads of that snapshot.
    absent: Arc<HashSet<SeriesKey>>,
}

impl std::fmt::Debug for SeriesCache {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SeriesCache")
            .finish_non_exhaustive()
    }
}

impl SeriesCache {
    /// A cache whose reads use the selection rollups `rollups` knows.
    pub fn with_rollups(rollups: SelectionRollups) -> SeriesCache {
        SeriesCache {
            ids: Arc::default(),
            rollups,
            absent: Arc::default(),
        }
    }

    /// The selections with rollups of their own.
    pub fn rollups(&self) -> &SelectionRollups {
        &self.rollups
    }

    /// The selected series of `keys` when every one of them is known (to
    /// exist, or to be missing in the reader's snapshot).
    fn known(
        &self,
        keys: &[&str],
        accounts: &[Uuid],
        organisation: bool,
    ) -> Option<SelectedSeries> {
        let ids = self.ids.read().ok()?;
        let mut found: Vec<(i64, i32)> = Vec::new();
        for (index, series) in series_keys(keys, accounts, organisation) {
            match ids.get(&series) {
                Some(id) => found.push((*id, i32::try_from(index).ok()?)),
                None if self.absent.contains(&series) => {}
                None => return None,
            }
        }
        found.sort_unstable();
        let (ids, key_index) = found.into_iter().unzip();
        Some(SelectedSeries { ids, key_index })
    }

    /// Looks up, in one statement, every series of `wanted` (base metrics
    /// over a selection of accounts) that the cache does not know, and
    /// remembers those found: the reads of one answer, which would each look
    /// up their own selection in a round trip of its own, then find theirs
    /// here. Selections of every series are left to their reads.
    ///
    /// Returns the cache for the reads that follow in the same snapshot,
    /// which also knows the series found missing: a metric no account has
    /// observed yet (the term of a formula, say) is then not looked up
    /// again by each read. Only that snapshot may trust it: a series may be
    /// created at any moment, so absence is never remembered beyond it.
    pub async fn prefetch(
        &self,
        conn: &mut PgConnection,
        wanted: &[(&[&str], &Selection)],
    ) -> Result<SeriesCache, ApiError> {
        let mut unknown: HashSet<SeriesKey> = HashSet::new();
        if let Ok(ids) = self.ids.read() {
            for (keys, selection) in wanted {
                let Selection::Some {
                    accounts,
                    organisation,
                } = selection
                else {
                    continue;
                };
                unknown.extend(
                    series_keys(keys, accounts, *organisation)
                        .map(|(_, series)| series)
                        .filter(|series| !ids.contains_key(series)),
                );
            }
        }
        if unknown.is_empty() {
            return Ok(self.clone());
        }
        // One join on the (metric, account) index, the organisation-wide
        // series under the nil id it is indexed by: quicker to plan than a
        // union of the two kinds.
        let (keys, accounts): (Vec<String>, Vec<Uuid>) = unknown
            .iter()
            .map(|(key, account)| (key.clone(), account.unwrap_or(Uuid::nil())))
            .unzip();
        let rows: Vec<(String, Option<Uuid>, i64)> = sqlx::query_as(
            "select s.metric_key, s.account_id, s.series_id
             from unnest($1::text[], $2::uuid[]) as w(metric_key, account_id)
             join series s on s.metric_key = w.metric_key
              and coalesce(s.account_id, '00000000-0000-0000-0000-000000000000') = w.account_id",
        )
        .bind(&keys)
        .bind(&accounts)
        .fetch_all(&mut *conn)
        .await?;
        for (key, account, _) in &rows {
            unknown.remove(&(key.clone(), *account));
        }
        self.remember(rows.into_iter());
        Ok(SeriesCache {
            absent: Arc::new(unknown),
            ..self.clone()
        })
    }

    fn remember(&self, rows: impl Iterator<Item = (String, Option<Uuid>, i64)>) {
        let Ok(mut ids) = self.ids.write() else {
            return;
        };
        for (key, account, id) in rows {
            if ids.len() >= SERIES_CACHE_CAPACITY {
                ids.clear();
            }
            ids.insert((key, account), id);
        }
    }
}

/// Each series of `keys` over `accounts` (and the organisation-wide series
/// when `organisation`), with its key's index in `keys`.
fn series_keys<'a>(
    keys: &'a [&str],
    accounts: &'a [Uuid],
    organisation: bool,
) -> impl Iterator<Item = (usize, SeriesKey)> + 'a {
    accounts
        .iter()
        .map(|account| Some(*account))
        .chain(organisation.then_some(None))
        .flat_map(move |account| {
            (keys.iter().enumerate()).map(move |(index, key)| (index, ((*key).to_owned(), account)))
        })
}

/// The selected series of some base metrics: `ids[i]` belongs to the
/// metric `keys[key_index[i]]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectedSeries {
    /// The series ids.
    pub ids: Vec<i64>,
    /// Each series' base metric, as an index into the keys looked up.
    pub key_index: Vec<i32>,
}

impl SelectedSeries {
    /// The series of `keys` that `selection` covers: from `cache` when it
    /// knows every one of a selection of accounts, else in one lookup.
    pub async fn resolve(
        conn: &mut PgConnection,
        cache: &SeriesCache,
        keys: &[&str],
        selection: &Selection,
    ) -> Result<SelectedSeries, ApiError> {
        let (all, accounts, organisation) = selection.as_parameters();
        if !all && let Some(known) = cache.known(keys, accounts, organisation) {
            return Ok(known);
        }
        let rows: Vec<(i64, i32, Option<Uuid>)> = sqlx::query_as(
            "select s.series_id, (k.position - 1)::int4, s.account_id
             from unnest($1::text[]) with ordinality as k(metric_key, position)
             join series s on s.metric_key = k.metric_key
             where $2 or s.account_id = any($3) or ($4 and s.account_id is null)
             order by s.series_id",
        )
        .bind(keys)
        .bind(all)
        .bind(accounts)
        .bind(organisation)
        .fetch_all(&mut *conn)
        .await?;
        // Every account's series would crowd out the selections that gain
        // from being remembered.
        if !all {
            cache.remember(rows.iter().filter_map(|(id, index, account)| {
                let key = keys.get(usize::try_from(*index).ok()?)?;
                Some(((*key).to_owned(), *account, *id))
            }));
        }
        let (ids, key_index) = rows.into_iter().map(|(id, index, _)| (id, index)).unzip();
        Ok(SelectedSeries { ids, key_index })
    }

    /// Whether no series is selected: every read would find nothing.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

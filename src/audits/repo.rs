//! Audit storage: the audit row, its entries with their metrics, and its
//! findings.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder};
use uuid::Uuid;

use super::findings::FindingDraft;
use super::model::{AuditFields, EntryFields};
use crate::api::enums::ProtoEnum;
use crate::api::filter::Conditions;
use crate::api::names::ACCOUNTS;
use crate::error::ApiError;

/// An audit row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    /// The id in the audit's name.
    pub audit_id: Uuid,
    /// The title.
    pub title: String,
    /// The auditor or empty.
    pub auditor: String,
    /// The moment the figures describe.
    pub as_of: DateTime<Utc>,
    /// `DRAFT` or `COMPLETED`.
    pub state: String,
    /// When created.
    pub create_time: DateTime<Utc>,
    /// When the audit or an entry last changed.
    pub update_time: DateTime<Utc>,
    /// When completed.
    pub complete_time: Option<DateTime<Utc>>,
    /// Bumped on every change; the etag derives from it.
    pub revision: i64,
}

impl AuditRow {
    /// Whether the audit is frozen.
    pub fn is_completed(&self) -> bool {
        self.state == "COMPLETED"
    }
}

/// An entry as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EntryRow {
    /// The audit it belongs to.
    pub audit_id: Uuid,
    /// The account reviewed.
    pub account_id: Uuid,
    /// Links to the best posts.
    pub top_post_urls: Vec<String>,
    /// The verdict's stored name, if any.
    pub assessment: Option<String>,
    /// Remarks.
    pub notes: String,
    /// Figures by metric key (filled from `audit_entry_metric`).
    #[sqlx(skip)]
    pub metrics: BTreeMap<String, f64>,
}

/// A finding as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FindingRow {
    /// The audit it belongs to.
    pub audit_id: Uuid,
    /// The kind's stored name.
    pub kind: String,
    /// The account concerned.
    pub account_id: Uuid,
    /// The ranked metric, for performers.
    pub metric_key: Option<String>,
    /// The account's value, for performers.
    pub value: Option<f64>,
    /// For people.
    pub description: String,
}

/// An audit with everything it holds.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    /// The audit row.
    pub audit: AuditRow,
    /// Its entries in account order.
    pub entries: Vec<EntryRow>,
    /// Its findings in computed order.
    pub findings: Vec<FindingRow>,
}

/// Stores a new draft audit.
pub async fn insert(
    executor: impl PgExecutor<'_>,
    audit_id: Uuid,
    fields: &AuditFields,
) -> Result<(), ApiError> {
    sqlx::query("insert into audit (audit_id, title, auditor, as_of) values ($1, $2, $3, $4)")
        .bind(audit_id)
        .bind(&fields.title)
        .bind(&fields.auditor)
        .bind(fields.as_of)
        .execute(executor)
        .await?;
    Ok(())
}

/// Reads one audit row and locks it until the transaction ends.
pub async fn get_for_update(
    executor: impl PgExecutor<'_>,
    audit_id: Uuid,
) -> Result<Option<AuditRow>, ApiError> {
    Ok(
        sqlx::query_as("select * from audit where audit_id = $1 for update")
            .bind(audit_id)
            .fetch_optional(executor)
            .await?,
    )
}

/// Reads one audit with its entries and findings.
pub async fn get(conn: &mut PgConnection, audit_id: Uuid) -> Result<Option<AuditRecord>, ApiError> {
    let row: Option<AuditRow> = sqlx::query_as("select * from audit where audit_id = $1")
        .bind(audit_id)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(with_details(conn, vec![row]).await?.pop()),
        None => Ok(None),
    }
}

/// Reads up to `limit` audits after `after` in id (creation) order, with
/// their entries and findings.
pub async fn list(
    conn: &mut PgConnection,
    conditions: &Conditions,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<AuditRecord>, ApiError> {
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new("select * from audit where true");
    conditions.push_to(&mut query);
    if let Some(after) = after {
        query.push(" and audit_id > ").push_bind(after);
    }
    query.push(" order by audit_id limit ").push_bind(limit);
    let rows: Vec<AuditRow> = query.build_query_as().fetch_all(&mut *conn).await?;
    with_details(conn, rows).await
}

/// Attaches entries, entry metrics and findings to audit rows, three queries
/// for any number of audits.
async fn with_details(
    conn: &mut PgConnection,
    audits: Vec<AuditRow>,
) -> Result<Vec<AuditRecord>, ApiError> {
    let ids: Vec<Uuid> = audits.iter().map(|audit| audit.audit_id).collect();
    let mut entries: Vec<EntryRow> = sqlx::query_as(
        "select audit_id, account_id, top_post_urls, assessment, notes
         from audit_entry where audit_id = any($1) order by audit_id, account_id",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let metrics: Vec<(Uuid, Uuid, String, f64)> = sqlx::query_as(
        "select audit_id, account_id, metric_key, value from audit_entry_metric where audit_id = any($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let findings: Vec<FindingRow> = sqlx::query_as(
        "select audit_id, kind, account_id, metric_key, value, description
         from audit_finding where audit_id = any($1) order by audit_id, position",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;

    let mut metrics_by_entry: HashMap<(Uuid, Uuid), BTreeMap<String, f64>> = HashMap::new();
    for (audit_id, account_id, key, value) in metrics {
        metrics_by_entry
            .entry((audit_id, account_id))
            .or_default()
            .insert(key, value);
    }
    for entry in &mut entries {
        entry.metrics = metrics_by_entry
            .remove(&(entry.audit_id, entry.account_id))
            .unwrap_or_default();
    }
    let mut entries_by_audit: HashMap<Uuid, Vec<EntryRow>> = HashMap::new();
    for entry in entries {
        entries_by_audit
            .entry(entry.audit_id)
            .or_default()
            .push(entry);
    }
    let mut findings_by_audit: HashMap<Uuid, Vec<FindingRow>> = HashMap::new();
    for finding in findings {
        findings_by_audit
            .entry(finding.audit_id)
            .or_default()
            .push(finding);
    }
    Ok(audits
        .into_iter()
        .map(|audit| AuditRecord {
            entries: entries_by_audit.remove(&audit.audit_id).unwrap_or_default(),
            findings: findings_by_audit
                .remove(&audit.audit_id)
                .unwrap_or_default(),
            audit,
        })
        .collect())
}

/// Adds an entry to an audit or replaces the one it holds for the account.
pub async fn upsert_entry(
    conn: &mut PgConnection,
    audit_id: Uuid,
    entry: &EntryFields,
) -> Result<(), ApiError> {
    sqlx::query(
        "insert into audit_entry (audit_id, account_id, top_post_urls, assessment, notes)
         values ($1, $2, $3, $4, $5)
         on conflict (audit_id, account_id) do update
         set top_post_urls = excluded.top_post_urls, assessment = excluded.assessment, notes = excluded.notes",
    )
    .bind(audit_id)
    .bind(entry.account_id)
    .bind(&entry.top_post_urls)
    .bind(entry.assessment.map(|assessment| assessment.db_name()))
    .bind(&entry.notes)
    .execute(&mut *conn)
    .await?;
    sqlx::query("delete from audit_entry_metric where audit_id = $1 and account_id = $2")
        .bind(audit_id)
        .bind(entry.account_id)
        .execute(&mut *conn)
        .await?;
    let keys: Vec<&str> = entry.metrics.keys().map(String::as_str).collect();
    let values: Vec<f64> = entry.metrics.values().copied().collect();
    sqlx::query(
        "insert into audit_entry_metric (audit_id, account_id, metric_key, value)
         select $1, $2, key, value from unnest($3::text[], $4::float8[]) as metric(key, value)",
    )
    .bind(audit_id)
    .bind(entry.account_id)
    .bind(&keys)
    .bind(&values)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Marks the audit changed, so its revision (and etag) moves when an entry
/// changes.
pub async fn touch(executor: impl PgExecutor<'_>, audit_id: Uuid) -> Result<(), ApiError> {
    sqlx::query("update audit set update_time = now() where audit_id = $1")
        .bind(audit_id)
        .execute(executor)
        .await?;
    Ok(())
}

/// What findings need to know about an entry's account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EntryAccount {
    /// The account.
    pub account_id: Uuid,
    /// Its network's stored name.
    pub network: String,
    /// Its handle.
    pub handle: String,
    /// Its owner or empty.
    pub owner: String,
    /// Its purpose or empty.
    pub purpose: String,
    /// Its status's stored name.
    pub status: String,
}

/// The accounts of an audit's entries, in entry order.
pub async fn entry_accounts(
    executor: impl PgExecutor<'_>,
    audit_id: Uuid,
) -> Result<Vec<EntryAccount>, ApiError> {
    Ok(sqlx::query_as(
        "select a.account_id, a.network, a.handle, a.owner, a.purpose, a.status
         from audit_entry e join account a using (account_id)
         where e.audit_id = $1 order by e.account_id",
    )
    .bind(audit_id)
    .fetch_all(executor)
    .await?)
}

/// Freezes an audit with its findings.
pub async fn complete(
    conn: &mut PgConnection,
    audit_id: Uuid,
    findings: &[FindingDraft],
) -> Result<(), ApiError> {
    let mut positions = Vec::with_capacity(findings.len());
    let mut kinds = Vec::with_capacity(findings.len());
    let mut accounts = Vec::with_capacity(findings.len());
    let mut metric_keys = Vec::with_capacity(findings.len());
    let mut values = Vec::with_capacity(findings.len());
    let mut descriptions = Vec::with_capacity(findings.len());
    for (position, finding) in findings.iter().enumerate() {
        positions.push(position as i32);
        kinds.push(finding.kind.db_name());
        accounts.push(ACCOUNTS.parse("account", &finding.account)?);
        metric_keys.push(finding.metric_key.clone());
        values.push(finding.value);
        descriptions.push(finding.description.clone());
    }
    sqlx::query(
        "insert into audit_finding (audit_id, position, kind, account_id, metric_key, value, description)
         select $1, * from unnest($2::int4[], $3::text[], $4::uuid[], $5::text[], $6::float8[], $7::text[])",
    )
    .bind(audit_id)
    .bind(&positions)
    .bind(&kinds)
    .bind(&accounts)
    .bind(&metric_keys)
    .bind(&values)
    .bind(&descriptions)
    .execute(&mut *conn)
    .await?;
    sqlx::query("update audit set state = 'COMPLETED', complete_time = now() where audit_id = $1")
        .bind(audit_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

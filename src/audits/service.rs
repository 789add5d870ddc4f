//! `AuditService`: the account methods delegate to [`crate::accounts`]; the
//! audit methods live here.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use chrono::Utc;
use sqlx::{PgConnection, PgPool};
use tonic::{Request, Response, Status};

use super::findings::{self, EntryFacts};
use super::model::{AuditFields, EntryFields, MAX_ENTRIES_ON_CREATE};
use super::repo::{self, AuditRecord};
use crate::accounts;
use crate::api::filter::{FieldKind, FilterField};
use crate::api::list::ListRequest;
use crate::api::names::{ACCOUNTS, AUDITS, new_id};
use crate::api::pagination::PageSizes;
use crate::api::{detached, etag, idempotency};
use crate::auth::Caller;
use crate::auth::tokens::TokenName;
use crate::catalog;
use crate::error::{ApiError, ResourceKind, Violations};
use crate::observations::ingest;
use crate::observations::model::ObservationRow;
use crate::pb;
use crate::pb::audit::State;

/// The gRPC `AuditService`.
#[derive(Debug, Clone)]
pub struct AuditApi {
    pool: PgPool,
    page_sizes: PageSizes,
}

impl AuditApi {
    /// The service over a database pool, listing in pages of `page_sizes`.
    pub fn new(pool: PgPool, page_sizes: PageSizes) -> Self {
        AuditApi { pool, page_sizes }
    }
}

/// The fields ListAudits filters on.
static FILTER_FIELDS: LazyLock<Vec<FilterField>> = LazyLock::new(|| {
    vec![
        FilterField {
            name: "state",
            column: "state",
            kind: FieldKind::enumeration::<State>(),
        },
        FilterField {
            name: "title",
            column: "title",
            kind: FieldKind::Text,
        },
        FilterField {
            name: "auditor",
            column: "auditor",
            kind: FieldKind::Text,
        },
        FilterField {
            name: "as_of",
            column: "as_of",
            kind: FieldKind::Timestamp,
        },
        FilterField {
            name: "create_time",
            column: "create_time",
            kind: FieldKind::Timestamp,
        },
        FilterField {
            name: "complete_time",
            column: "complete_time",
            kind: FieldKind::Timestamp,
        },
    ]
});

/// Checks what only the database can tell about entries: that their accounts
/// exist and their metric keys are in the catalog. Each entry comes with the
/// field path it was sent under.
async fn check_entry_references(
    conn: &mut PgConnection,
    entries: &[(String, &EntryFields)],
) -> Result<(), ApiError> {
    let account_ids: Vec<_> = entries.iter().map(|(_, entry)| entry.account_id).collect();
    let missing_accounts: HashSet<_> = accounts::repo::missing(&mut *conn, &account_ids)
        .await?
        .into_iter()
        .collect();
    let keys: Vec<String> = entries
        .iter()
        .flat_map(|(_, entry)| entry.metrics.keys().cloned())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let unknown_keys: HashSet<_> = catalog::repo::unknown_keys(&mut *conn, &keys)
        .await?
        .into_iter()
        .collect();

    let mut violations = Violations::default();
    for (prefix, entry) in entries {
        if missing_accounts.contains(&entry.account_id) {
            violations.add(
                format!("{prefix}.account"),
                format!(
                    "{} does not exist: create the account first",
                    ACCOUNTS.name(entry.account_id)
                ),
            );
        }
        for key in entry
            .metrics
            .keys()
            .filter(|key| unknown_keys.contains(*key))
        {
            violations.add(
                format!("{prefix}.metrics[{key}]"),
                "is not a metric of the catalog: see ListMetricDefinitions",
            );
        }
    }
    violations.finish(())
}

/// Locks a draft audit for a change, checking the caller's etag.
async fn lock_draft(
    conn: &mut PgConnection,
    audit_id: uuid::Uuid,
    given_etag: &str,
) -> Result<repo::AuditRow, ApiError> {
    let audit = repo::get_for_update(&mut *conn, audit_id)
        .await?
        .ok_or_else(|| AUDITS.not_found(audit_id))?;
    let name = AUDITS.name(audit_id);
    etag::check(given_etag, audit.revision, ResourceKind::Audit, &name)?;
    if audit.is_completed() {
        return Err(ApiError::failed_precondition(
            "AUDIT_COMPLETED",
            name,
            "the audit is completed and frozen: start a new audit to record new figures",
        ));
    }
    Ok(audit)
}

async fn load(conn: &mut PgConnection, audit_id: uuid::Uuid) -> Result<pb::Audit, ApiError> {
    repo::get(conn, audit_id)
        .await?
        .ok_or_else(|| AUDITS.not_found(audit_id))?
        .try_into()
}

async fn create_audit(
    pool: &PgPool,
    request: pb::CreateAuditRequest,
) -> Result<pb::Audit, ApiError> {
    let mut violations = Violations::default();
    let request_id = idempotency::parse_request_id(&mut violations, &request.request_id);
    if request.audit.is_none() {
        violations.add("audit", "is required");
    }
    let audit = request.audit.clone().unwrap_or_default();
    let fields = AuditFields::parse(&mut violations, "audit", &audit, Utc::now());
    if audit.entries.len() > MAX_ENTRIES_ON_CREATE {
        violations.add(
            "audit.entries",
            format!("holds {} entries, at most {MAX_ENTRIES_ON_CREATE} may be sent at once: add the rest with UpsertAuditEntry", audit.entries.len()),
        );
    }
    let mut entries = Vec::with_capacity(audit.entries.len());
    let mut first_index_of: HashMap<uuid::Uuid, usize> = HashMap::new();
    for (index, entry) in audit.entries.iter().enumerate() {
        let prefix = format!("audit.entries[{index}]");
        if let Some(entry) = EntryFields::parse(&mut violations, &prefix, entry) {
            if let Some(first) = first_index_of.insert(entry.account_id, index) {
                violations.add(
                    format!("{prefix}.account"),
                    format!("repeats the account of audit.entries[{first}]: an audit holds one entry per account"),
                );
            }
            entries.push((prefix, entry));
        }
    }
    violations.finish(())?;

    idempotency::once(pool, request_id, "CreateAudit", &request, async |tx| {
        let references: Vec<(String, &EntryFields)> =
            entries.iter().map(|(p, e)| (p.clone(), e)).collect();
        check_entry_references(&mut *tx, &references).await?;
        let audit_id = new_id();
        repo::insert(&mut *tx, audit_id, &fields).await?;
        for (_, entry) in &entries {
            repo::upsert_entry(&mut *tx, audit_id, entry).await?;
        }
        load(tx, audit_id).await
    })
    .await
}

async fn get_audit(pool: &PgPool, request: pb::GetAuditRequest) -> Result<pb::Audit, ApiError> {
    let pb::GetAuditRequest { name } = request;
    let audit_id = AUDITS.parse("name", &name)?;
    load(&mut *pool.acquire().await?, audit_id).await
}

async fn list_audits(
    pool: &PgPool,
    page_sizes: PageSizes,
    request: pb::ListAuditsRequest,
) -> Result<pb::ListAuditsResponse, ApiError> {
    let pb::ListAuditsRequest {
        page_size,
        page_token,
        filter,
    } = request;
    let list = ListRequest::parse(page_sizes, page_size, &page_token, filter, &FILTER_FIELDS)?;
    let mut conn = pool.acquire().await?;
    let records = repo::list(&mut conn, &list.conditions, list.after, list.fetch_limit()).await?;
    let (records, next_page_token) = list.into_page(records, |record| record.audit.audit_id);
    Ok(pb::ListAuditsResponse {
        audits: records
            .into_iter()
            .map(pb::Audit::try_from)
            .collect::<Result<_, _>>()?,
        next_page_token,
    })
}

async fn upsert_audit_entry(
    pool: &PgPool,
    request: pb::UpsertAuditEntryRequest,
) -> Result<pb::Audit, ApiError> {
    let pb::UpsertAuditEntryRequest {
        audit,
        entry,
        etag: given_etag,
    } = request;
    let mut violations = Violations::default();
    let audit_id = violations.absorb(AUDITS.parse("audit", &audit));
    let entry = match &entry {
        Some(entry) => EntryFields::parse(&mut violations, "entry", entry),
        None => {
            violations.add("entry", "is required");
            None
        }
    };
    let (Some(audit_id), Some(entry)) = violations.finish((audit_id, entry))? else {
        return Err(ApiError::internal("validated fields missing"));
    };

    let mut tx = pool.begin().await?;
    lock_draft(&mut tx, audit_id, &given_etag).await?;
    check_entry_references(&mut tx, &[("entry".to_owned(), &entry)]).await?;
    repo::upsert_entry(&mut tx, audit_id, &entry).await?;
    repo::touch(&mut *tx, audit_id).await?;
    let audit = load(&mut tx, audit_id).await?;
    tx.commit().await?;
    Ok(audit)
}

/// CompleteAudit by the caller of `token`, the provenance of the values it
/// records.
async fn complete_audit(
    pool: &PgPool,
    request: pb::CompleteAuditRequest,
    token: Option<TokenName>,
) -> Result<pb::Audit, ApiError> {
    let pb::CompleteAuditRequest {
        name,
        etag: given_etag,
    } = request;
    let audit_id = AUDITS.parse("name", &name)?;

    let mut tx = pool.begin().await?;
    lock_draft(&mut tx, audit_id, &given_etag).await?;
    let record: AuditRecord = repo::get(&mut tx, audit_id)
        .await?
        .ok_or_else(|| AUDITS.not_found(audit_id))?;
    if record.entries.is_empty() {
        return Err(ApiError::failed_precondition(
            "AUDIT_EMPTY",
            name,
            "the audit has no entries: add at least one with UpsertAuditEntry before completing it",
        ));
    }
    let accounts: HashMap<_, _> = repo::entry_accounts(&mut *tx, audit_id)
        .await?
        .into_iter()
        .map(|account| (account.account_id, account))
        .collect();
    let facts: Vec<EntryFacts> = record
        .entries
        .iter()
        .filter_map(|entry| {
            let account = accounts.get(&entry.account_id)?;
            Some(EntryFacts {
                account: ACCOUNTS.name(entry.account_id),
                label: format!("{} @{}", account.network, account.handle),
                metrics: entry.metrics.clone(),
                missing_owner: account.owner.is_empty(),
                missing_purpose: account.purpose.is_empty(),
                impostor: account.status == "IMPOSTOR",
            })
        })
        .collect();
    let keys: Vec<String> = facts
        .iter()
        .flat_map(|f| f.metrics.keys().cloned())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let directions = catalog::repo::directions(&mut *tx, &keys).await?;
    let drafts = findings::compute(&facts, |key| directions.get(key).copied());
    repo::complete(&mut tx, audit_id, &drafts).await?;
    record_snapshot(&mut tx, &record, token).await?;
    let audit = load(&mut tx, audit_id).await?;
    tx.commit().await?;
    Ok(audit)
}

/// Records each entry's base-metric values as observations of its account at
/// the audit's `as_of`, sourced `audits/{audit}`, in the completing
/// transaction. Derived metrics in entries are figures for people; their
/// values follow from the base metrics and are not stored.
async fn record_snapshot(
    tx: &mut PgConnection,
    record: &AuditRecord,
    token: Option<TokenName>,
) -> Result<(), ApiError> {
    // Entries were validated when written (keys, value bounds) and their
    // accounts are locked by the completion, so the rows go straight in.
    let catalog = catalog::repo::load_all(&mut *tx).await?;
    let source = AUDITS.name(record.audit.audit_id);
    let source = source.as_str();
    let rows: Vec<ObservationRow<'_>> = record
        .entries
        .iter()
        .flat_map(|entry| {
            entry
                .metrics
                .iter()
                .map(move |(metric_key, value)| ObservationRow {
                    metric_key,
                    account_id: Some(entry.account_id),
                    observed_at: record.audit.as_of,
                    value: *value,
                    source,
                })
        })
        .filter(|row| {
            catalog
                .get(row.metric_key)
                .is_some_and(|metric| metric.is_base())
        })
        .collect();
    ingest::record_in(tx, &rows, token).await?;
    Ok(())
}

#[tonic::async_trait]
impl pb::audit_service_server::AuditService for AuditApi {
    async fn create_account(
        &self,
        request: Request<pb::CreateAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        Ok(Response::new(
            accounts::service::create(&self.pool, request.into_inner()).await?,
        ))
    }

    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        Ok(Response::new(
            accounts::service::get(&self.pool, request.into_inner()).await?,
        ))
    }

    async fn list_accounts(
        &self,
        request: Request<pb::ListAccountsRequest>,
    ) -> Result<Response<pb::ListAccountsResponse>, Status> {
        Ok(Response::new(
            accounts::service::list(&self.pool, self.page_sizes, request.into_inner()).await?,
        ))
    }

    async fn update_account(
        &self,
        request: Request<pb::UpdateAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        Ok(Response::new(
            accounts::service::update(&self.pool, request.into_inner()).await?,
        ))
    }

    async fn delete_account(
        &self,
        request: Request<pb::DeleteAccountRequest>,
    ) -> Result<Response<()>, Status> {
        accounts::service::delete(&self.pool, request.into_inner()).await?;
        Ok(Response::new(()))
    }

    async fn create_audit(
        &self,
        request: Request<pb::CreateAuditRequest>,
    ) -> Result<Response<pb::Audit>, Status> {
        Ok(Response::new(
            create_audit(&self.pool, request.into_inner()).await?,
        ))
    }

    async fn get_audit(
        &self,
        request: Request<pb::GetAuditRequest>,
    ) -> Result<Response<pb::Audit>, Status> {
        Ok(Response::new(
            get_audit(&self.pool, request.into_inner()).await?,
        ))
    }

    async fn list_audits(
        &self,
        request: Request<pb::ListAuditsRequest>,
    ) -> Result<Response<pb::ListAuditsResponse>, Status> {
        Ok(Response::new(
            list_audits(&self.pool, self.page_sizes, request.into_inner()).await?,
        ))
    }

    async fn upsert_audit_entry(
        &self,
        request: Request<pb::UpsertAuditEntryRequest>,
    ) -> Result<Response<pb::Audit>, Status> {
        Ok(Response::new(
            upsert_audit_entry(&self.pool, request.into_inner()).await?,
        ))
    }

    async fn complete_audit(
        &self,
        request: Request<pb::CompleteAuditRequest>,
    ) -> Result<Response<pb::Audit>, Status> {
        let pool = self.pool.clone();
        let token = Caller::token_name_in(request.extensions());
        let request = request.into_inner();
        Ok(Response::new(
            detached(async move { complete_audit(&pool, request, token).await }).await?,
        ))
    }
}

//! Account storage. Functions take any executor so they run on the pool or
//! inside a caller's transaction.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, Postgres, QueryBuilder};
use uuid::Uuid;

use super::model::AccountFields;
use crate::api::filter::Conditions;
use crate::error::{ApiError, ResourceKind, violated_constraint};

/// An account row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    /// The id in the account's name.
    pub account_id: Uuid,
    /// The network's stored name, such as `INSTAGRAM`.
    pub network: String,
    /// The handle without `@`.
    pub handle: String,
    /// The profile URL or empty.
    pub profile_url: String,
    /// The label or empty.
    pub display_name: String,
    /// The owner or empty.
    pub owner: String,
    /// The purpose or empty.
    pub purpose: String,
    /// The status's stored name, such as `ACTIVE`.
    pub status: String,
    /// When the account was created.
    pub create_time: DateTime<Utc>,
    /// When the account last changed.
    pub update_time: DateTime<Utc>,
    /// Bumped on every change; the etag derives from it.
    pub revision: i64,
}

/// A query returning account rows.
type AccountQuery<'q> = sqlx::query::QueryAs<'q, Postgres, AccountRow, sqlx::postgres::PgArguments>;

/// The unique index on (network, lower(handle)).
const NETWORK_HANDLE_KEY: &str = "account_network_handle_key";

fn map_write_error(error: sqlx::Error, fields: &AccountFields) -> ApiError {
    if violated_constraint(&error) == Some(NETWORK_HANDLE_KEY) {
        return duplicate(fields, None);
    }
    error.into()
}

fn duplicate(fields: &AccountFields, existing: Option<Uuid>) -> ApiError {
    ApiError::AlreadyExists {
        kind: ResourceKind::Account,
        name: existing
            .map(|id| crate::api::names::ACCOUNTS.name(id))
            .unwrap_or_default(),
        message: format!(
            "an account for handle {:?} on {} already exists",
            fields.handle,
            fields.network_name()
        ),
    }
}

/// Fails with ALREADY_EXISTS, naming the holder, when another account than
/// `except` has the same (network, handle). The unique index still guards
/// against a concurrent insert; this lookup only makes the error precise.
pub async fn ensure_handle_free(
    executor: impl PgExecutor<'_>,
    fields: &AccountFields,
    except: Option<Uuid>,
) -> Result<(), ApiError> {
    let holder: Option<Uuid> = sqlx::query_scalar(
        "select account_id from account
         where network = $1 and lower(handle) = lower($2) and account_id is distinct from $3",
    )
    .bind(fields.network_name())
    .bind(&fields.handle)
    .bind(except)
    .fetch_optional(executor)
    .await?;
    match holder {
        Some(existing) => Err(duplicate(fields, Some(existing))),
        None => Ok(()),
    }
}

/// Stores a new account.
pub async fn insert(
    executor: impl PgExecutor<'_>,
    account_id: Uuid,
    fields: &AccountFields,
) -> Result<AccountRow, ApiError> {
    let query = sqlx::query_as(
        "insert into account (account_id, network, handle, profile_url, display_name, owner, purpose, status)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         returning *",
    );
    bind_fields(query.bind(account_id), fields)
        .fetch_one(executor)
        .await
        .map_err(|error| map_write_error(error, fields))
}

/// Binds the caller-owned fields as the next seven parameters, in column order.
fn bind_fields<'q>(query: AccountQuery<'q>, fields: &'q AccountFields) -> AccountQuery<'q> {
    query
        .bind(fields.network_name())
        .bind(&fields.handle)
        .bind(&fields.profile_url)
        .bind(&fields.display_name)
        .bind(&fields.owner)
        .bind(&fields.purpose)
        .bind(fields.status_name())
}

/// Reads one account.
pub async fn get(
    executor: impl PgExecutor<'_>,
    account_id: Uuid,
) -> Result<Option<AccountRow>, ApiError> {
    Ok(
        sqlx::query_as("select * from account where account_id = $1")
            .bind(account_id)
            .fetch_optional(executor)
            .await?,
    )
}

/// How [`get_locked`] locks an account until the transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountLock {
    /// Against other changes (`for no key update`). It does not conflict
    /// with the `for key share` that loads of the account's observations
    /// hold, so an update is not held up by a long stream.
    Change,
    /// For deletion (`for update`). It waits for loads of the account's
    /// observations in flight, which hold `for key share` until they commit,
    /// so the delete's checks see their rows.
    Delete,
}

/// Reads one account and locks it as `lock` says.
pub async fn get_locked(
    executor: impl PgExecutor<'_>,
    account_id: Uuid,
    lock: AccountLock,
) -> Result<Option<AccountRow>, ApiError> {
    let statement = match lock {
        AccountLock::Change => "select * from account where account_id = $1 for no key update",
        AccountLock::Delete => "select * from account where account_id = $1 for update",
    };
    Ok(sqlx::query_as(statement)
        .bind(account_id)
        .fetch_optional(executor)
        .await?)
}

/// Reads up to `limit` accounts after `after` in id (creation) order.
pub async fn list(
    executor: impl PgExecutor<'_>,
    conditions: &Conditions,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<AccountRow>, ApiError> {
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new("select * from account where true");
    conditions.push_to(&mut query);
    if let Some(after) = after {
        query.push(" and account_id > ").push_bind(after);
    }
    query.push(" order by account_id limit ").push_bind(limit);
    Ok(query.build_query_as().fetch_all(executor).await?)
}

/// Overwrites an account's caller-owned fields; the trigger bumps revision.
pub async fn update(
    executor: impl PgExecutor<'_>,
    account_id: Uuid,
    fields: &AccountFields,
) -> Result<AccountRow, ApiError> {
    let query = sqlx::query_as(
        "update account
         set network = $2, handle = $3, profile_url = $4, display_name = $5, owner = $6, purpose = $7, status = $8
         where account_id = $1
         returning *",
    );
    bind_fields(query.bind(account_id), fields)
        .fetch_one(executor)
        .await
        .map_err(|error| map_write_error(error, fields))
}

/// How many audits refer to an account.
pub async fn audit_count(executor: impl PgExecutor<'_>, account_id: Uuid) -> Result<i64, ApiError> {
    Ok(
        sqlx::query_scalar("select count(*) from audit_entry where account_id = $1")
            .bind(account_id)
            .fetch_one(executor)
            .await?,
    )
}

/// How many key results measure an account.
pub async fn key_result_count(
    executor: impl PgExecutor<'_>,
    account_id: Uuid,
) -> Result<i64, ApiError> {
    Ok(sqlx::query_scalar(
        "select count(distinct key_result_id) from key_result_account where account_id = $1",
    )
    .bind(account_id)
    .fetch_one(executor)
    .await?)
}

/// Whether any observation is stored for an account.
pub async fn has_observations(
    executor: impl PgExecutor<'_>,
    account_id: Uuid,
) -> Result<bool, ApiError> {
    Ok(sqlx::query_scalar(
        "select exists (select 1 from series s join observation o using (series_id) where s.account_id = $1)",
    )
    .bind(account_id)
    .fetch_one(executor)
    .await?)
}

/// Deletes an account and its (empty) series.
pub async fn delete(conn: &mut sqlx::PgConnection, account_id: Uuid) -> Result<(), ApiError> {
    sqlx::query("delete from series where account_id = $1")
        .bind(account_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("delete from account where account_id = $1")
        .bind(account_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The ids among `ids` that name no stored account.
pub async fn missing(executor: impl PgExecutor<'_>, ids: &[Uuid]) -> Result<Vec<Uuid>, ApiError> {
    Ok(sqlx::query_scalar(
        "select id from unnest($1::uuid[]) as wanted(id)
         where not exists (select 1 from account where account_id = wanted.id)",
    )
    .bind(ids)
    .fetch_all(executor)
    .await?)
}

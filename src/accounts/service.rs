//! The account methods of `AuditService`: parse the request, call the store,
//! convert the result.

use std::sync::LazyLock;

use sqlx::PgPool;

use super::convert::{apply_mask, is_populated};
use super::model::{AccountFields, UPDATABLE_FIELDS};
use super::repo::{self, AccountLock};
use crate::api::filter::{FieldKind, FilterField};
use crate::api::list::ListRequest;
use crate::api::names::{ACCOUNTS, new_id};
use crate::api::pagination::PageSizes;
use crate::api::{etag, field_mask, idempotency};
use crate::error::{ApiError, ResourceKind, Violations};
use crate::pb;
use crate::pb::account::{Network, Status};

/// The fields ListAccounts filters on.
static FILTER_FIELDS: LazyLock<Vec<FilterField>> = LazyLock::new(|| {
    vec![
        FilterField {
            name: "network",
            column: "network",
            kind: FieldKind::enumeration::<Network>(),
        },
        FilterField {
            name: "status",
            column: "status",
            kind: FieldKind::enumeration::<Status>(),
        },
        FilterField {
            name: "handle",
            column: "handle",
            kind: FieldKind::Text,
        },
        FilterField {
            name: "display_name",
            column: "display_name",
            kind: FieldKind::Text,
        },
        FilterField {
            name: "owner",
            column: "owner",
            kind: FieldKind::Text,
        },
        FilterField {
            name: "purpose",
            column: "purpose",
            kind: FieldKind::Text,
        },
        FilterField {
            name: "create_time",
            column: "create_time",
            kind: FieldKind::Timestamp,
        },
        FilterField {
            name: "update_time",
            column: "update_time",
            kind: FieldKind::Timestamp,
        },
    ]
});

/// CreateAccount.
pub async fn create(
    pool: &PgPool,
    request: pb::CreateAccountRequest,
) -> Result<pb::Account, ApiError> {
    let mut violations = Violations::default();
    let request_id = idempotency::parse_request_id(&mut violations, &request.request_id);
    let account = request.account.clone().unwrap_or_default();
    let fields = AccountFields::parse(&mut violations, "account", &account);
    let fields = violations
        .finish(fields)?
        .ok_or_else(|| ApiError::internal("validated fields missing"))?;

    idempotency::once(pool, request_id, "CreateAccount", &request, async |tx| {
        repo::ensure_handle_free(&mut *tx, &fields, None).await?;
        repo::insert(&mut *tx, new_id(), &fields).await?.try_into()
    })
    .await
}

/// GetAccount.
pub async fn get(pool: &PgPool, request: pb::GetAccountRequest) -> Result<pb::Account, ApiError> {
    let pb::GetAccountRequest { name } = request;
    let account_id = ACCOUNTS.parse("name", &name)?;
    repo::get(pool, account_id)
        .await?
        .ok_or_else(|| ACCOUNTS.not_found(account_id))?
        .try_into()
}

/// ListAccounts.
pub async fn list(
    pool: &PgPool,
    page_sizes: PageSizes,
    request: pb::ListAccountsRequest,
) -> Result<pb::ListAccountsResponse, ApiError> {
    let pb::ListAccountsRequest {
        page_size,
        page_token,
        filter,
    } = request;
    let list = ListRequest::parse(page_sizes, page_size, &page_token, filter, &FILTER_FIELDS)?;
    let rows = repo::list(pool, &list.conditions, list.after, list.fetch_limit()).await?;
    let (rows, next_page_token) = list.into_page(rows, |row| row.account_id);
    Ok(pb::ListAccountsResponse {
        accounts: rows
            .into_iter()
            .map(pb::Account::try_from)
            .collect::<Result<_, _>>()?,
        next_page_token,
    })
}

/// UpdateAccount.
pub async fn update(
    pool: &PgPool,
    request: pb::UpdateAccountRequest,
) -> Result<pb::Account, ApiError> {
    let pb::UpdateAccountRequest {
        account,
        update_mask,
    } = request;
    let Some(changes) = account else {
        return Err(ApiError::invalid_field("account", "is required"));
    };
    let account_id = ACCOUNTS.parse("account.name", &changes.name)?;
    let paths = field_mask::resolve(update_mask.as_ref(), UPDATABLE_FIELDS, |path| {
        is_populated(&changes, path)
    })?;

    let mut tx = pool.begin().await?;
    let current = repo::get_locked(&mut *tx, account_id, AccountLock::Change)
        .await?
        .ok_or_else(|| ACCOUNTS.not_found(account_id))?;
    etag::check(
        &changes.etag,
        current.revision,
        ResourceKind::Account,
        &changes.name,
    )?;

    let mut merged: pb::Account = current.try_into()?;
    apply_mask(&mut merged, &changes, &paths);
    let mut violations = Violations::default();
    let fields = AccountFields::parse(&mut violations, "account", &merged);
    let fields = violations
        .finish(fields)?
        .ok_or_else(|| ApiError::internal("validated fields missing"))?;

    repo::ensure_handle_free(&mut *tx, &fields, Some(account_id)).await?;
    let updated = repo::update(&mut *tx, account_id, &fields).await?;
    tx.commit().await?;
    updated.try_into()
}

/// DeleteAccount.
pub async fn delete(pool: &PgPool, request: pb::DeleteAccountRequest) -> Result<(), ApiError> {
    let pb::DeleteAccountRequest {
        name,
        etag: given_etag,
    } = request;
    let account_id = ACCOUNTS.parse("name", &name)?;

    let mut tx = pool.begin().await?;
    let current = repo::get_locked(&mut *tx, account_id, AccountLock::Delete)
        .await?
        .ok_or_else(|| ACCOUNTS.not_found(account_id))?;
    etag::check(&given_etag, current.revision, ResourceKind::Account, &name)?;
    let audits = repo::audit_count(&mut *tx, account_id).await?;
    if audits > 0 {
        return Err(ApiError::failed_precondition(
            "ACCOUNT_IN_AUDIT",
            name,
            format!(
                "the account is part of {audits} audit(s) and cannot be deleted; set its status to STATUS_RETIRED instead"
            ),
        ));
    }
    // Key results lock the account (`for key share`) while they store a
    // reference to it, so this count sees every one committed before the
    // delete; one arriving later fails its foreign key instead.
    let key_results = repo::key_result_count(&mut *tx, account_id).await?;
    if key_results > 0 {
        return Err(ApiError::failed_precondition(
            "ACCOUNT_IN_USE",
            name,
            format!(
                "{key_results} key result(s) measure the account and cannot lose it: remove it from their accounts first, or set its status to STATUS_RETIRED instead"
            ),
        ));
    }
    if repo::has_observations(&mut *tx, account_id).await? {
        return Err(ApiError::failed_precondition(
            "ACCOUNT_HAS_OBSERVATIONS",
            name,
            "observations are stored for the account and would be lost; set its status to STATUS_RETIRED instead",
        ));
    }
    repo::delete(&mut tx, account_id).await?;
    tx.commit().await?;
    Ok(())
}

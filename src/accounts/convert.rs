//! Stored accounts to their proto form.

use super::model::AccountFields;
use super::repo::AccountRow;
use crate::api::enums::from_db;
use crate::api::{etag, names::ACCOUNTS, time};
use crate::error::ApiError;
use crate::pb;
use crate::pb::account::{Network, Status};

impl TryFrom<AccountRow> for pb::Account {
    type Error = ApiError;

    fn try_from(row: AccountRow) -> Result<Self, ApiError> {
        Ok(pb::Account {
            name: ACCOUNTS.name(row.account_id),
            network: from_db::<Network>(&row.network)? as i32,
            handle: row.handle,
            profile_url: row.profile_url,
            display_name: row.display_name,
            owner: row.owner,
            purpose: row.purpose,
            status: from_db::<Status>(&row.status)? as i32,
            create_time: Some(time::to_proto(row.create_time)),
            update_time: Some(time::to_proto(row.update_time)),
            etag: etag::etag(row.revision),
        })
    }
}

impl From<&AccountFields> for pb::Account {
    fn from(fields: &AccountFields) -> Self {
        pb::Account {
            network: fields.network as i32,
            handle: fields.handle.clone(),
            profile_url: fields.profile_url.clone(),
            display_name: fields.display_name.clone(),
            owner: fields.owner.clone(),
            purpose: fields.purpose.clone(),
            status: fields.status as i32,
            ..Default::default()
        }
    }
}

/// Copies the masked fields of `source` onto `target`.
pub fn apply_mask(target: &mut pb::Account, source: &pb::Account, paths: &[&str]) {
    for path in paths {
        match *path {
            "network" => target.network = source.network,
            "handle" => target.handle.clone_from(&source.handle),
            "profile_url" => target.profile_url.clone_from(&source.profile_url),
            "display_name" => target.display_name.clone_from(&source.display_name),
            "owner" => target.owner.clone_from(&source.owner),
            "purpose" => target.purpose.clone_from(&source.purpose),
            "status" => target.status = source.status,
            _ => {}
        }
    }
}

/// Whether `account` sets `path` to a non-default value (for an absent mask).
pub fn is_populated(account: &pb::Account, path: &str) -> bool {
    match path {
        "network" => account.network != 0,
        "handle" => !account.handle.is_empty(),
        "profile_url" => !account.profile_url.is_empty(),
        "display_name" => !account.display_name.is_empty(),
        "owner" => !account.owner.is_empty(),
        "purpose" => !account.purpose.is_empty(),
        "status" => account.status != 0,
        _ => false,
    }
}

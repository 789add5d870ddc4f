//! The demo accounts: created, or found when they exist already.

use tonic::Code;

use super::{Clients, all_pages, failed, quoted};
use crate::demo::DemoError;
use crate::demo::accounts::{AccountKey, DemoAccount};
use crate::demo::goals::AccountNames;
use crate::demo::request_id::request_id;
use crate::pb;

/// Registers each account, or finds it when its (network, handle) is taken;
/// returns their names and how many were created.
pub async fn ensure_accounts(
    clients: &mut Clients,
    accounts: &[(AccountKey, DemoAccount)],
) -> Result<(AccountNames, usize), DemoError> {
    let mut names = AccountNames::new();
    let mut created = 0;
    for (key, account) in accounts {
        let name = match find_account(clients, account).await? {
            Some(name) => name,
            None => {
                created += 1;
                create_account(clients, account).await?
            }
        };
        names.insert(*key, name);
    }
    Ok((names, created))
}

/// Creates the account; when another caller registered its (network, handle)
/// in the meantime, finds that one instead.
async fn create_account(clients: &mut Clients, account: &DemoAccount) -> Result<String, DemoError> {
    let step = format!(
        "creating the {} account {}",
        account.network_name, account.handle
    );
    let answer = clients
        .audits
        .create_account(pb::CreateAccountRequest {
            account: Some(account.to_proto()),
            request_id: request_id(&["account", account.network_name, account.handle]),
        })
        .await;
    match answer {
        Ok(response) => Ok(response.into_inner().name),
        Err(status) if status.code() == Code::AlreadyExists => find_account(clients, account)
            .await?
            .ok_or_else(|| DemoError::Unexpected {
                step,
                problem: "the handle is taken but no account with it is listed".to_owned(),
            }),
        Err(status) => Err(failed(step)(status)),
    }
}

/// The name of the stored account with the demo account's network and
/// handle, if there is one.
async fn find_account(
    clients: &mut Clients,
    account: &DemoAccount,
) -> Result<Option<String>, DemoError> {
    let network = pb::account::Network::try_from(account.network as i32)
        .map(|network| network.as_str_name())
        .unwrap_or("NETWORK_OTHER");
    let filter = format!(
        "network = {network} AND handle = {}",
        quoted(account.handle)
    );
    let step = format!(
        "looking up the {} account {}",
        account.network_name, account.handle
    );
    let client = clients.audits.clone();
    let found = all_pages(|page_token| {
        let mut client = client.clone();
        let request = pb::ListAccountsRequest {
            page_size: 100,
            page_token,
            filter: filter.clone(),
        };
        let step = step.clone();
        async move {
            let response = client
                .list_accounts(request)
                .await
                .map_err(failed(step))?
                .into_inner();
            Ok((response.accounts, response.next_page_token))
        }
    })
    .await?;
    // The service compares handles without regard to case; so does this.
    Ok(found
        .into_iter()
        .find(|stored| stored.handle.eq_ignore_ascii_case(account.handle))
        .map(|stored| stored.name))
}

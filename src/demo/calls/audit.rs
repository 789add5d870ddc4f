//! The demo audit: found by its title, else created; its entries upserted
//! while it is a draft; then completed, which computes its findings.

use super::{Clients, all_pages, failed, quoted};
use crate::api::time::to_proto;
use crate::demo::DemoError;
use crate::demo::accounts::{AccountKey, DemoAccount};
use crate::demo::goals::AccountNames;
use crate::demo::request_id::request_id;
use crate::demo::timeline::Timeline;
use crate::pb;
use crate::pb::audit::State;

/// The demo audit's title, by which a rerun finds it.
pub const AUDIT_TITLE: &str = "Lumen Coffee social audit (demo)";

/// The completed demo audit, and whether this run created it.
pub async fn ensure_audit(
    clients: &mut Clients,
    accounts: &[(AccountKey, DemoAccount)],
    names: &AccountNames,
    timeline: &Timeline,
) -> Result<(pb::Audit, bool), DemoError> {
    let (audit, created) = match find_audit(clients).await? {
        Some(audit) => (audit, false),
        None => (create_audit(clients, timeline).await?, true),
    };
    if audit.state == State::Completed as i32 {
        return Ok((audit, created));
    }
    for (key, account) in accounts {
        let Some(name) = names.get(key) else {
            continue;
        };
        let entry = pb::AuditEntry {
            account: name.clone(),
            metrics: account.audit_metrics(timeline.audit_day(), timeline.anchor),
            top_post_urls: account
                .top_post_url
                .map(|url| vec![url.to_owned()])
                .unwrap_or_default(),
            assessment: account.assessment as i32,
            notes: account.notes.to_owned(),
        };
        clients
            .audits
            .upsert_audit_entry(pb::UpsertAuditEntryRequest {
                audit: audit.name.clone(),
                entry: Some(entry),
                etag: String::new(),
            })
            .await
            .map_err(failed(format!(
                "adding the audit entry of {}",
                account.handle
            )))?;
    }
    let completed = clients
        .audits
        .complete_audit(pb::CompleteAuditRequest {
            name: audit.name.clone(),
            etag: String::new(),
        })
        .await
        .map_err(failed("completing the audit"))?
        .into_inner();
    Ok((completed, created))
}

async fn find_audit(clients: &mut Clients) -> Result<Option<pb::Audit>, DemoError> {
    let filter = format!("title = {}", quoted(AUDIT_TITLE));
    let client = clients.audits.clone();
    let audits = all_pages(|page_token| {
        let mut client = client.clone();
        let request = pb::ListAuditsRequest {
            page_size: 100,
            page_token,
            filter: filter.clone(),
        };
        async move {
            let response = client
                .list_audits(request)
                .await
                .map_err(failed("looking for the demo audit"))?
                .into_inner();
            Ok((response.audits, response.next_page_token))
        }
    })
    .await?;
    // A completed one wins over a draft another run left behind.
    let completed = audits
        .iter()
        .position(|audit| audit.state == State::Completed as i32);
    Ok(match completed {
        Some(index) => audits.into_iter().nth(index),
        None => audits.into_iter().next(),
    })
}

async fn create_audit(clients: &mut Clients, timeline: &Timeline) -> Result<pb::Audit, DemoError> {
    let as_of = timeline.audit_as_of();
    let audit = pb::Audit {
        title: AUDIT_TITLE.to_owned(),
        auditor: "social team".to_owned(),
        as_of: Some(to_proto(as_of)),
        ..Default::default()
    };
    Ok(clients
        .audits
        .create_audit(pb::CreateAuditRequest {
            audit: Some(audit),
            request_id: request_id(&["audit", AUDIT_TITLE, &as_of.to_rfc3339()]),
        })
        .await
        .map_err(failed("creating the demo audit"))?
        .into_inner())
}

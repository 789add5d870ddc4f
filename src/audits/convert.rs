//! Stored audits to their proto form.

use super::repo::{AuditRecord, EntryRow, FindingRow};
use crate::api::enums::from_db;
use crate::api::names::{ACCOUNTS, AUDITS};
use crate::api::{etag, time};
use crate::error::ApiError;
use crate::pb;
use crate::pb::audit::State;
use crate::pb::audit_entry::Assessment;
use crate::pb::finding::Kind;

impl TryFrom<AuditRecord> for pb::Audit {
    type Error = ApiError;

    fn try_from(record: AuditRecord) -> Result<Self, ApiError> {
        let AuditRecord {
            audit,
            entries,
            findings,
        } = record;
        Ok(pb::Audit {
            name: AUDITS.name(audit.audit_id),
            title: audit.title,
            auditor: audit.auditor,
            as_of: Some(time::to_proto(audit.as_of)),
            state: from_db::<State>(&audit.state)? as i32,
            entries: entries
                .into_iter()
                .map(pb::AuditEntry::try_from)
                .collect::<Result<_, _>>()?,
            findings: findings
                .into_iter()
                .map(pb::Finding::try_from)
                .collect::<Result<_, _>>()?,
            create_time: Some(time::to_proto(audit.create_time)),
            update_time: Some(time::to_proto(audit.update_time)),
            complete_time: time::to_proto_opt(audit.complete_time),
            etag: etag::etag(audit.revision),
        })
    }
}

impl TryFrom<EntryRow> for pb::AuditEntry {
    type Error = ApiError;

    fn try_from(entry: EntryRow) -> Result<Self, ApiError> {
        Ok(pb::AuditEntry {
            account: ACCOUNTS.name(entry.account_id),
            metrics: entry.metrics,
            top_post_urls: entry.top_post_urls,
            assessment: entry
                .assessment
                .as_deref()
                .map(from_db::<Assessment>)
                .transpose()?
                .map_or(0, |assessment| assessment as i32),
            notes: entry.notes,
        })
    }
}

impl TryFrom<FindingRow> for pb::Finding {
    type Error = ApiError;

    fn try_from(finding: FindingRow) -> Result<Self, ApiError> {
        Ok(pb::Finding {
            kind: from_db::<Kind>(&finding.kind)? as i32,
            account: ACCOUNTS.name(finding.account_id),
            metric_key: finding.metric_key.unwrap_or_default(),
            value: finding.value,
            description: finding.description,
        })
    }
}

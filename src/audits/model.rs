//! Validated audit and audit entry fields.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::api::names::ACCOUNTS;
use crate::api::time;
use crate::api::validate::{self, Lines};
use crate::catalog::is_metric_key;
use crate::error::Violations;
use crate::pb;
use crate::pb::audit_entry::Assessment;

#[cfg(test)]
mod properties;

/// The most metrics one entry may carry.
pub const MAX_METRICS_PER_ENTRY: usize = 100;
/// The most top-post links one entry may carry.
pub const MAX_TOP_POSTS: usize = 20;
/// The most entries an audit may be created with in one call.
pub const MAX_ENTRIES_ON_CREATE: usize = 1000;

/// A new audit's fields, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditFields {
    /// The title.
    pub title: String,
    /// The auditor or empty.
    pub auditor: String,
    /// The moment the figures describe.
    pub as_of: DateTime<Utc>,
}

/// An audit entry, validated (apart from checks that need the database:
/// that the account and the metric keys exist).
#[derive(Debug, Clone, PartialEq)]
pub struct EntryFields {
    /// The account reviewed.
    pub account_id: Uuid,
    /// Figures by metric key, every value within ±[`validate::MAX_VALUE_MAGNITUDE`].
    pub metrics: BTreeMap<String, f64>,
    /// Links to the best posts.
    pub top_post_urls: Vec<String>,
    /// The verdict, if any.
    pub assessment: Option<Assessment>,
    /// Remarks or empty.
    pub notes: String,
}

impl AuditFields {
    /// Validates a new audit's own fields, reporting as `{prefix}.{field}`.
    pub fn parse(
        violations: &mut Violations,
        prefix: &str,
        audit: &pb::Audit,
        now: DateTime<Utc>,
    ) -> Self {
        let field = |name: &str| format!("{prefix}.{name}");
        let title = validate::text(
            violations,
            &field("title"),
            &audit.title,
            200,
            true,
            Lines::Single,
        );
        let auditor = validate::text(
            violations,
            &field("auditor"),
            &audit.auditor,
            200,
            false,
            Lines::Single,
        );
        let as_of = match &audit.as_of {
            None => now,
            Some(timestamp) => violations
                .absorb(time::from_proto(&field("as_of"), timestamp))
                .map(|as_of| check_as_of(violations, &field("as_of"), as_of, now))
                .unwrap_or(now),
        };
        AuditFields {
            title,
            auditor,
            as_of,
        }
    }
}

/// Audit figures describe the past (a day of slack covers clock skew and time
/// zones) and, since they become observations, nothing before 1970.
fn check_as_of(
    violations: &mut Violations,
    field: &str,
    as_of: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    if as_of > now + TimeDelta::days(1) {
        violations.add(field, "must not be more than a day in the future");
    }
    if as_of < DateTime::UNIX_EPOCH {
        violations.add(field, "must not be before 1970-01-01T00:00:00Z");
    }
    as_of
}

impl EntryFields {
    /// Validates an entry, reporting as `{prefix}.{field}`. Returns `None`
    /// when the account name is unusable.
    pub fn parse(
        violations: &mut Violations,
        prefix: &str,
        entry: &pb::AuditEntry,
    ) -> Option<Self> {
        let field = |name: &str| format!("{prefix}.{name}");
        let account_id = violations.absorb(ACCOUNTS.parse(&field("account"), &entry.account));

        if entry.metrics.len() > MAX_METRICS_PER_ENTRY {
            violations.add(
                field("metrics"),
                format!(
                    "holds {} metrics, at most {MAX_METRICS_PER_ENTRY} are allowed",
                    entry.metrics.len()
                ),
            );
        }
        for (key, value) in &entry.metrics {
            let metric_field = format!("{prefix}.metrics[{key}]");
            if !is_metric_key(key) {
                violations.add(
                    &metric_field,
                    "is not a metric key: keys are lowercase letters, digits and underscores",
                );
            }
            // CompleteAudit records the figures as observations, so they
            // take the observations' bound now rather than fail then.
            validate::bounded_value(violations, || metric_field, *value);
        }

        if entry.top_post_urls.len() > MAX_TOP_POSTS {
            violations.add(
                field("top_post_urls"),
                format!(
                    "holds {} links, at most {MAX_TOP_POSTS} are allowed",
                    entry.top_post_urls.len()
                ),
            );
        }
        let top_post_urls = entry
            .top_post_urls
            .iter()
            .enumerate()
            .map(|(index, url)| {
                let url_field = format!("{prefix}.top_post_urls[{index}]");
                if url.trim().is_empty() {
                    violations.add(&url_field, "must not be empty");
                }
                validate::http_url(violations, &url_field, url)
            })
            .collect();
        let assessment = validate::enum_value::<Assessment>(
            violations,
            &field("assessment"),
            entry.assessment,
            false,
        );
        let notes = validate::text(
            violations,
            &field("notes"),
            &entry.notes,
            5000,
            false,
            Lines::Multi,
        );

        Some(EntryFields {
            account_id: account_id?,
            metrics: entry.metrics.clone(),
            top_post_urls,
            assessment,
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    fn fields_of(violations: Violations) -> Vec<String> {
        match violations.finish(()) {
            Ok(()) => vec![],
            Err(ApiError::InvalidArgument(found)) => found.into_iter().map(|v| v.field).collect(),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_audit_without_as_of_is_dated_now() {
        let now = Utc::now();
        let mut violations = Violations::default();
        let audit = pb::Audit {
            title: "Q4 audit".into(),
            ..Default::default()
        };
        let fields = AuditFields::parse(&mut violations, "audit", &audit, now);
        assert_eq!(fields.as_of, now);
        assert!(violations.is_empty());
    }

    #[test]
    fn audit_dates_far_ahead_or_before_1970_are_rejected() {
        let now = Utc::now();
        for (description, seconds) in [
            ("two days ahead", now.timestamp() + 2 * 86_400),
            ("before 1970", -1),
        ] {
            let mut violations = Violations::default();
            let audit = pb::Audit {
                title: "t".into(),
                as_of: Some(prost_types::Timestamp { seconds, nanos: 0 }),
                ..Default::default()
            };
            AuditFields::parse(&mut violations, "audit", &audit, now);
            assert_eq!(fields_of(violations), ["audit.as_of"], "{description}");
        }
    }

    #[test]
    fn every_bad_entry_field_is_reported() {
        let entry = pb::AuditEntry {
            account: "accounts/not-a-uuid".into(),
            metrics: [
                ("Followers".to_owned(), 1.0),
                ("likes".to_owned(), f64::NAN),
            ]
            .into(),
            top_post_urls: vec!["https://x.com/a/1".into(), "nope".into()],
            assessment: 9,
            notes: String::new(),
        };
        let mut violations = Violations::default();
        assert!(EntryFields::parse(&mut violations, "entry", &entry).is_none());
        assert_eq!(
            fields_of(violations),
            [
                "entry.account",
                "entry.metrics[Followers]",
                "entry.metrics[likes]",
                "entry.top_post_urls[1]",
                "entry.assessment"
            ]
        );
    }
}

//! What an audit reveals, computed from its entries when it is completed:
//! for each metric recorded in enough entries, the best and the worst account
//! by the metric's "better" direction; and each account that lacks an owner or
//! a purpose, or is an impostor. Pure, so it is tested without a database.

use std::collections::BTreeMap;

use crate::catalog::Better;
use crate::pb::finding::Kind;

/// A metric must appear in this many entries before top and bottom performers
/// mean anything.
pub const MIN_ENTRIES_FOR_RANKING: usize = 3;

/// What the findings need to know about one entry and its account.
#[derive(Debug, Clone)]
pub struct EntryFacts {
    /// The account's resource name.
    pub account: String,
    /// How people recognise the account, such as `INSTAGRAM @acme`.
    pub label: String,
    /// The entry's figures.
    pub metrics: BTreeMap<String, f64>,
    /// The account has no owner.
    pub missing_owner: bool,
    /// The account has no purpose.
    pub missing_purpose: bool,
    /// The account is marked as an impostor.
    pub impostor: bool,
}

/// One finding, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingDraft {
    /// The kind.
    pub kind: Kind,
    /// The account's resource name.
    pub account: String,
    /// The ranked metric, for performers.
    pub metric_key: Option<String>,
    /// The account's value of it, for performers.
    pub value: Option<f64>,
    /// For people.
    pub description: String,
}

/// Computes the findings of entries given in a stable order. Metrics come in
/// key order, performers before account checks; ties keep the earlier entry.
/// Metrics without a known direction are not ranked.
pub fn compute(
    entries: &[EntryFacts],
    direction_of: impl Fn(&str) -> Option<Better>,
) -> Vec<FindingDraft> {
    let mut by_metric: BTreeMap<&str, Vec<(&EntryFacts, f64)>> = BTreeMap::new();
    for entry in entries {
        for (key, value) in &entry.metrics {
            by_metric.entry(key).or_default().push((entry, *value));
        }
    }

    let mut findings = Vec::new();
    for (key, values) in by_metric {
        if values.len() < MIN_ENTRIES_FOR_RANKING {
            continue;
        }
        let Some(direction) = direction_of(key) else {
            continue;
        };
        let better = |a: f64, b: f64| match direction {
            Better::Higher => a > b,
            Better::Lower => a < b,
        };
        let (mut best, mut worst) = (values[0], values[0]);
        for &candidate in &values[1..] {
            if better(candidate.1, best.1) {
                best = candidate;
            }
            if better(worst.1, candidate.1) {
                worst = candidate;
            }
        }
        let count = values.len();
        let (best_word, worst_word) = match direction {
            Better::Higher => ("highest", "lowest"),
            Better::Lower => ("lowest", "highest"),
        };
        for (kind, (entry, value), verb, word) in [
            (Kind::TopPerformer, best, "leads", best_word),
            (Kind::BottomPerformer, worst, "trails", worst_word),
        ] {
            findings.push(FindingDraft {
                kind,
                account: entry.account.clone(),
                metric_key: Some(key.to_owned()),
                value: Some(value),
                description: format!(
                    "{} {verb} on {key} with {value}, the {word} of the {count} accounts reporting it",
                    entry.label
                ),
            });
        }
    }

    for entry in entries {
        let checks = [
            (
                entry.missing_owner,
                Kind::MissingOwner,
                "has no owner: name the person or team responsible",
            ),
            (
                entry.missing_purpose,
                Kind::MissingPurpose,
                "has no stated purpose: say what the account is for",
            ),
            (
                entry.impostor,
                Kind::Impostor,
                "is marked as an impostor: report it to the network and warn followers",
            ),
        ];
        for (applies, kind, what) in checks {
            if applies {
                findings.push(FindingDraft {
                    kind,
                    account: entry.account.clone(),
                    metric_key: None,
                    value: None,
                    description: format!("{} {what}", entry.label),
                });
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, metrics: &[(&str, f64)]) -> EntryFacts {
        EntryFacts {
            account: format!("accounts/{name}"),
            label: name.to_owned(),
            metrics: metrics.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            missing_owner: false,
            missing_purpose: false,
            impostor: false,
        }
    }

    fn directions(key: &str) -> Option<Better> {
        match key {
            "followers" => Some(Better::Higher),
            "bounce_rate" => Some(Better::Lower),
            _ => None,
        }
    }

    fn performers(findings: &[FindingDraft]) -> Vec<(Kind, &str, &str)> {
        findings
            .iter()
            .filter_map(|f| Some((f.kind, f.metric_key.as_deref()?, f.account.as_str())))
            .collect()
    }

    #[test]
    fn ranks_by_the_metrics_better_direction() {
        let entries = [
            entry("a", &[("followers", 100.0), ("bounce_rate", 40.0)]),
            entry("b", &[("followers", 300.0), ("bounce_rate", 20.0)]),
            entry("c", &[("followers", 200.0), ("bounce_rate", 60.0)]),
        ];
        assert_eq!(
            performers(&compute(&entries, directions)),
            [
                (Kind::TopPerformer, "bounce_rate", "accounts/b"),
                (Kind::BottomPerformer, "bounce_rate", "accounts/c"),
                (Kind::TopPerformer, "followers", "accounts/b"),
                (Kind::BottomPerformer, "followers", "accounts/a"),
            ]
        );
    }

    #[test]
    fn metrics_in_fewer_than_three_entries_are_not_ranked() {
        let entries = [
            entry("a", &[("followers", 1.0)]),
            entry("b", &[("followers", 2.0)]),
            entry("c", &[]),
        ];
        assert!(compute(&entries, directions).is_empty());
    }

    #[test]
    fn ties_keep_the_earlier_entry() {
        let entries = [
            entry("a", &[("followers", 5.0)]),
            entry("b", &[("followers", 5.0)]),
            entry("c", &[("followers", 5.0)]),
        ];
        let found = compute(&entries, directions);
        assert_eq!(found[0].account, "accounts/a");
        assert_eq!(found[1].account, "accounts/a");
    }

    #[test]
    fn flags_accounts_without_owner_or_purpose_and_impostors() {
        let mut lonely = entry("lonely", &[]);
        lonely.missing_owner = true;
        lonely.missing_purpose = true;
        let mut fake = entry("fake", &[]);
        fake.impostor = true;
        let found = compute(&[lonely, fake], directions);
        let kinds: Vec<(Kind, &str)> = found.iter().map(|f| (f.kind, f.account.as_str())).collect();
        assert_eq!(
            kinds,
            [
                (Kind::MissingOwner, "accounts/lonely"),
                (Kind::MissingPurpose, "accounts/lonely"),
                (Kind::Impostor, "accounts/fake"),
            ]
        );
    }
}

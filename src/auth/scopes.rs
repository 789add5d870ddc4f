//! Scopes and the scope each gRPC method needs.
//!
//! Every method of every goalpost service is listed in [`METHOD_SCOPES`] by
//! its gRPC path. The list is written out rather than derived from method
//! names: a new method then fails the completeness test below until someone
//! decides what it needs, instead of silently inheriting a guess.

use std::fmt;

/// What a token may do. Scopes do not imply one another, except that
/// [`Scope::Admin`] passes every check: a token that writes and reads needs
/// both `write` and `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Every Get, List and Query method, progress and WatchGoalProgress.
    Read,
    /// Every method that changes accounts, audits, goals, key results,
    /// milestones or metric definitions.
    Write,
    /// Observation writes: WriteObservations and StreamObservations.
    Ingest,
    /// Everything.
    Admin,
}

impl Scope {
    /// Every scope, in the order they are listed to people.
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Write, Scope::Ingest, Scope::Admin];

    /// The scope's name, as the CLI takes it and the database stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Ingest => "ingest",
            Scope::Admin => "admin",
        }
    }

    /// Reads a scope name; the error lists the known ones.
    pub fn parse(name: &str) -> Result<Scope, String> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == name.trim())
            .ok_or_else(|| {
                format!(
                    "unknown scope {name:?}: use one of {}",
                    Scope::ALL.map(Scope::as_str).join(", ")
                )
            })
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scopes a token holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScopeSet(u8);

impl ScopeSet {
    /// A set of the given scopes.
    pub fn of(scopes: impl IntoIterator<Item = Scope>) -> ScopeSet {
        ScopeSet(scopes.into_iter().fold(0, |bits, scope| bits | scope.bit()))
    }

    /// Whether the set holds `scope` itself.
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// Whether a holder of this set may call a method that needs `scope`.
    pub fn allows(self, scope: Scope) -> bool {
        self.contains(scope) || self.contains(Scope::Admin)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes in the set, in [`Scope::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL
            .into_iter()
            .filter(move |scope| self.contains(*scope))
    }

    /// The names of the scopes, as stored in the database.
    pub fn names(self) -> Vec<String> {
        self.iter().map(|scope| scope.as_str().to_owned()).collect()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Scope::as_str).collect();
        f.write_str(&names.join(","))
    }
}

/// The scope every goalpost method needs, by gRPC path.
pub const METHOD_SCOPES: &[(&str, Scope)] = &[
    // AuditService: the account inventory and audits.
    ("/goalpost.v1.AuditService/CreateAccount", Scope::Write),
    ("/goalpost.v1.AuditService/GetAccount", Scope::Read),
    ("/goalpost.v1.AuditService/ListAccounts", Scope::Read),
    ("/goalpost.v1.AuditService/UpdateAccount", Scope::Write),
    ("/goalpost.v1.AuditService/DeleteAccount", Scope::Write),
    ("/goalpost.v1.AuditService/CreateAudit", Scope::Write),
    ("/goalpost.v1.AuditService/GetAudit", Scope::Read),
    ("/goalpost.v1.AuditService/ListAudits", Scope::Read),
    ("/goalpost.v1.AuditService/UpsertAuditEntry", Scope::Write),
    // Completing an audit also records its values as observations, but it
    // is an audit's change of state, taken by whoever runs audits.
    ("/goalpost.v1.AuditService/CompleteAudit", Scope::Write),
    // GoalService: goals, key results and milestones.
    ("/goalpost.v1.GoalService/ListGoalTypes", Scope::Read),
    ("/goalpost.v1.GoalService/CreateGoal", Scope::Write),
    ("/goalpost.v1.GoalService/GetGoal", Scope::Read),
    ("/goalpost.v1.GoalService/ListGoals", Scope::Read),
    ("/goalpost.v1.GoalService/UpdateGoal", Scope::Write),
    ("/goalpost.v1.GoalService/DeleteGoal", Scope::Write),
    ("/goalpost.v1.GoalService/ActivateGoal", Scope::Write),
    ("/goalpost.v1.GoalService/CloseGoal", Scope::Write),
    ("/goalpost.v1.GoalService/CreateKeyResult", Scope::Write),
    ("/goalpost.v1.GoalService/GetKeyResult", Scope::Read),
    ("/goalpost.v1.GoalService/UpdateKeyResult", Scope::Write),
    ("/goalpost.v1.GoalService/DeleteKeyResult", Scope::Write),
    ("/goalpost.v1.GoalService/SetMilestoneDone", Scope::Write),
    // MetricService: the catalog and observations.
    (
        "/goalpost.v1.MetricService/ListMetricDefinitions",
        Scope::Read,
    ),
    (
        "/goalpost.v1.MetricService/GetMetricDefinition",
        Scope::Read,
    ),
    (
        "/goalpost.v1.MetricService/CreateMetricDefinition",
        Scope::Write,
    ),
    (
        "/goalpost.v1.MetricService/WriteObservations",
        Scope::Ingest,
    ),
    (
        "/goalpost.v1.MetricService/StreamObservations",
        Scope::Ingest,
    ),
    ("/goalpost.v1.MetricService/ListObservations", Scope::Read),
    ("/goalpost.v1.MetricService/QueryMetric", Scope::Read),
    // ProgressService: every method reads.
    ("/goalpost.v1.ProgressService/GetGoalProgress", Scope::Read),
    ("/goalpost.v1.ProgressService/ListGoalProgress", Scope::Read),
    (
        "/goalpost.v1.ProgressService/GetProgressHistory",
        Scope::Read,
    ),
    (
        "/goalpost.v1.ProgressService/WatchGoalProgress",
        Scope::Read,
    ),
    // Runs ActivateGoal's checks without changing anything.
    ("/goalpost.v1.ProgressService/CheckGoal", Scope::Read),
];

/// What a request path needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Health and reflection: no token.
    Open,
    /// A goalpost method needing this scope.
    Needs(Scope),
    /// A path no service serves. It still needs a valid token, so that
    /// probing for methods tells an unauthenticated caller nothing; with
    /// one, the router answers UNIMPLEMENTED.
    Unknown,
}

/// What a call to `path` (`/package.Service/Method`) needs.
pub fn access_for(path: &str) -> Access {
    // Load balancers probe health, and grpcurl needs reflection to describe
    // the API before the caller has chosen a method (and a token).
    if crate::api::is_infrastructure(path) {
        return Access::Open;
    }
    METHOD_SCOPES
        .iter()
        .find(|(method, _)| *method == path)
        .map_or(Access::Unknown, |(_, scope)| Access::Needs(*scope))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use prost::Message;

    use super::*;

    /// Every method in the descriptor set the build writes for reflection.
    fn described_methods() -> BTreeSet<String> {
        let set = prost_types::FileDescriptorSet::decode(crate::pb::FILE_DESCRIPTOR_SET)
            .expect("the build's descriptor set decodes");
        let mut methods = BTreeSet::new();
        for file in set.file {
            let package = file.package();
            for service in &file.service {
                for method in &service.method {
                    methods.insert(format!("/{package}.{}/{}", service.name(), method.name()));
                }
            }
        }
        methods
    }

    #[test]
    fn every_described_method_has_a_scope() {
        let described = described_methods();
        assert!(described.len() >= 30, "the descriptor set lists the API");
        let missing: Vec<&String> = described
            .iter()
            .filter(|method| !matches!(access_for(method), Access::Needs(_)))
            .collect();
        assert!(
            missing.is_empty(),
            "methods without an entry in METHOD_SCOPES: {missing:?}"
        );
    }

    #[test]
    fn the_table_names_only_described_methods_once_each() {
        let described = described_methods();
        let mut seen = BTreeSet::new();
        for (method, _) in METHOD_SCOPES {
            assert!(described.contains(*method), "{method} is not in any proto");
            assert!(seen.insert(*method), "{method} is listed twice");
        }
    }

    #[test]
    fn observation_writes_alone_need_ingest() {
        let ingest: Vec<&str> = METHOD_SCOPES
            .iter()
            .filter(|(_, scope)| *scope == Scope::Ingest)
            .map(|(method, _)| *method)
            .collect();
        assert_eq!(
            ingest,
            [
                "/goalpost.v1.MetricService/WriteObservations",
                "/goalpost.v1.MetricService/StreamObservations"
            ]
        );
    }

    #[test]
    fn paths_map_to_what_they_need() {
        let cases = [
            (
                "health is open",
                "/grpc.health.v1.Health/Check",
                Access::Open,
            ),
            (
                "reflection v1 is open",
                "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                Access::Open,
            ),
            (
                "reflection v1alpha is open",
                "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                Access::Open,
            ),
            (
                "a read",
                "/goalpost.v1.GoalService/GetGoal",
                Access::Needs(Scope::Read),
            ),
            (
                "a watch reads",
                "/goalpost.v1.ProgressService/WatchGoalProgress",
                Access::Needs(Scope::Read),
            ),
            (
                "an unknown method",
                "/goalpost.v1.GoalService/DropEverything",
                Access::Unknown,
            ),
            (
                "a look-alike of an open service",
                "/grpc.health.v1.HealthX/Check",
                Access::Unknown,
            ),
            ("no path", "", Access::Unknown),
        ];
        for (description, path, expected) in cases {
            assert_eq!(access_for(path), expected, "{description}");
        }
    }

    #[test]
    fn admin_allows_everything_and_other_scopes_only_themselves() {
        let admin = ScopeSet::of([Scope::Admin]);
        let read = ScopeSet::of([Scope::Read]);
        for scope in Scope::ALL {
            assert!(admin.allows(scope), "admin allows {scope}");
        }
        assert!(read.allows(Scope::Read));
        assert!(!read.allows(Scope::Write));
        assert!(!read.allows(Scope::Ingest));
        assert!(!read.allows(Scope::Admin));
    }

    #[test]
    fn scope_names_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Ok(scope));
        }
        let error = Scope::parse("superuser").unwrap_err();
        assert!(error.contains("read, write, ingest, admin"), "{error}");
        assert_eq!(
            ScopeSet::of([Scope::Ingest, Scope::Read]).to_string(),
            "read,ingest"
        );
    }
}

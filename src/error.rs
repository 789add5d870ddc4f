//! The one error type of the API and its mapping onto gRPC status codes with
//! rich details (AIP-193): every error carries an `ErrorInfo` in the
//! `goalpost` domain, bad input a `BadRequest` listing every violation, unmet
//! preconditions a `PreconditionFailure`.

use std::collections::HashMap;
use std::fmt;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

mod bounded;
mod database;
#[cfg(test)]
mod properties;
mod violations;

pub use database::violated_constraint;
pub use violations::Violations;

/// The `ErrorInfo.domain` of every error goalpost returns.
pub const ERROR_DOMAIN: &str = "goalpost";

/// The kinds of resources the API serves, used to name them in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// A social account (`accounts/{account}`).
    Account,
    /// An audit (`audits/{audit}`).
    Audit,
    /// A metric definition (`metrics/{metric_key}`).
    Metric,
    /// A goal (`goals/{goal}`).
    Goal,
    /// A key result (`goals/{goal}/keyResults/{key_result}`).
    KeyResult,
    /// A milestone of a milestone key result, named by the key result and the
    /// milestone's id.
    Milestone,
}

impl ResourceKind {
    /// The UPPER_SNAKE stem of the resource's error reasons (`ACCOUNT_NOT_FOUND`).
    pub fn reason_stem(self) -> &'static str {
        match self {
            ResourceKind::Account => "ACCOUNT",
            ResourceKind::Audit => "AUDIT",
            ResourceKind::Metric => "METRIC",
            ResourceKind::Goal => "GOAL",
            ResourceKind::KeyResult => "KEY_RESULT",
            ResourceKind::Milestone => "MILESTONE",
        }
    }

    /// The fully qualified message type, as `ResourceInfo.resource_type`.
    pub fn type_name(self) -> &'static str {
        match self {
            ResourceKind::Account => "goalpost.v1.Account",
            ResourceKind::Audit => "goalpost.v1.Audit",
            ResourceKind::Metric => "goalpost.v1.MetricDefinition",
            ResourceKind::Goal => "goalpost.v1.Goal",
            ResourceKind::KeyResult => "goalpost.v1.KeyResult",
            ResourceKind::Milestone => "goalpost.v1.KeyResult.Milestone",
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResourceKind::Account => "account",
            ResourceKind::Audit => "audit",
            ResourceKind::Metric => "metric",
            ResourceKind::Goal => "goal",
            ResourceKind::KeyResult => "key result",
            ResourceKind::Milestone => "milestone",
        })
    }
}

/// One problem with one field of a request, as in `google.rpc.BadRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The path of the field in the request, such as `account.handle` or
    /// `audit.entries[2].metrics[followers]`.
    pub field: String,
    /// What is wrong and how to fix it, lowercase without trailing punctuation.
    pub description: String,
}

/// One unmet precondition, as in `google.rpc.PreconditionFailure`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreconditionViolation {
    /// The UPPER_SNAKE kind of check that failed, such as `AUDIT_STATE`.
    pub kind: String,
    /// The resource or item the check concerns, such as `audits/…`.
    pub subject: String,
    /// What is wrong and how to fix it.
    pub description: String,
}

/// Everything a call can fail with. Database text never reaches the client:
/// [`ApiError::Internal`] is logged and answered with a generic message.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed; every violation found is listed at once.
    #[error("the request has {} invalid field(s)", .0.len())]
    InvalidArgument(Vec<FieldViolation>),

    /// A chunk of a client stream is malformed; `chunk` is its zero-based
    /// index and the violations index rows within it.
    #[error("chunk {chunk} of the stream has {} invalid field(s)", violations.len())]
    InvalidChunk {
        /// The zero-based index of the chunk.
        chunk: usize,
        /// Every violation found in the chunk.
        violations: Vec<FieldViolation>,
    },

    /// The client's stream broke off (cancelled or reset) before it ended;
    /// nothing of it was kept.
    #[error("the request stream broke off before it ended: {}", .0.message())]
    StreamBroken(Status),

    /// The client's stream sent nothing for longer than the idle limit; it
    /// was ended and nothing of it was kept.
    #[error(
        "no message arrived on the stream for {} s, the idle limit: nothing of it was stored; send chunks without long pauses, or split the load into several streams",
        .limit.as_secs_f64()
    )]
    StreamIdle {
        /// The idle limit that was reached.
        limit: std::time::Duration,
    },

    /// A concurrent write to the same data won; a retry may succeed.
    #[error("a concurrent write conflicted with this one, retry")]
    ConcurrentWrite(#[source] sqlx::Error),

    /// The resource the call targets does not exist.
    #[error("{kind} {name} not found")]
    NotFound {
        /// What kind of resource was looked up.
        kind: ResourceKind,
        /// The name that was looked up.
        name: String,
    },

    /// A resource with the same identity already exists.
    #[error("{message}")]
    AlreadyExists {
        /// What kind of resource collided.
        kind: ResourceKind,
        /// The name of the existing resource, when known.
        name: String,
        /// What collided, for people.
        message: String,
    },

    /// The system is not in the state the call needs; retrying the same call
    /// will fail the same way until something else changes.
    #[error("{message}")]
    FailedPrecondition {
        /// The UPPER_SNAKE `ErrorInfo.reason`, such as `AUDIT_COMPLETED`.
        reason: &'static str,
        /// A summary for people.
        message: String,
        /// Each failed check.
        violations: Vec<PreconditionViolation>,
    },

    /// The caller's etag no longer matches: someone else changed the resource.
    #[error("{kind} {name} was changed since it was read (etag mismatch): read it again and retry")]
    Aborted {
        /// What kind of resource was stale.
        kind: ResourceKind,
        /// Its name.
        name: String,
    },

    /// The call carries no bearer token, or a malformed, unknown or revoked
    /// one, and the server needs a valid one.
    #[error("{message}")]
    Unauthenticated {
        /// The UPPER_SNAKE `ErrorInfo.reason`, such as `TOKEN_MISSING`.
        reason: &'static str,
        /// What is wrong and how to authenticate, for people.
        message: String,
        /// The `www-authenticate` challenge sent along, as an HTTP 401
        /// would (RFC 6750), such as `Bearer realm="goalpost"`.
        challenge: &'static str,
    },

    /// The caller's token lacks the scope the method needs.
    #[error(
        "token {token} lacks scope {scope}, which {method} needs: call it with a token holding {scope} (or admin)"
    )]
    PermissionDenied {
        /// The caller's token name.
        token: String,
        /// The scope the method needs.
        scope: &'static str,
        /// The method's gRPC path.
        method: String,
    },

    /// A limit was exceeded.
    #[error("{message}")]
    ResourceExhausted {
        /// The UPPER_SNAKE `ErrorInfo.reason`.
        reason: &'static str,
        /// Which limit, for people.
        message: String,
    },

    /// The call ran out of time, including PostgreSQL's statement timeout.
    #[error("the call took longer than its deadline allows")]
    DeadlineExceeded,

    /// PostgreSQL cannot be reached or is shutting down; a retry may succeed.
    #[error("the database is unavailable, retry later")]
    Unavailable(#[source] sqlx::Error),

    /// The database is known not to answer (its monitor's probes fail), so
    /// the call was not tried.
    #[error(
        "the database is not answering; goalpost keeps probing it and recovers by itself when it is back: retry later"
    )]
    DatabaseDown,

    /// Anything unexpected. Logged with its cause, answered generically.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// Shorthand for a single bad field.
    pub fn invalid_field(field: impl Into<String>, description: impl Into<String>) -> Self {
        ApiError::InvalidArgument(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }

    /// Shorthand for a precondition failure with one violation.
    pub fn failed_precondition(
        reason: &'static str,
        subject: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        let description = description.into();
        ApiError::FailedPrecondition {
            reason,
            message: description.clone(),
            violations: vec![PreconditionViolation {
                kind: reason.to_owned(),
                subject: subject.into(),
                description,
            }],
        }
    }

    /// Wraps any unexpected error.
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ApiError::Internal(error.into())
    }

    /// The gRPC code of this error.
    pub fn code(&self) -> Code {
        match self {
            ApiError::InvalidArgument(_) | ApiError::InvalidChunk { .. } => Code::InvalidArgument,
            ApiError::StreamBroken(_) => Code::Cancelled,
            ApiError::StreamIdle { .. } => Code::DeadlineExceeded,
            ApiError::ConcurrentWrite(_) => Code::Aborted,
            ApiError::NotFound { .. } => Code::NotFound,
            ApiError::AlreadyExists { .. } => Code::AlreadyExists,
            ApiError::FailedPrecondition { .. } => Code::FailedPrecondition,
            ApiError::Aborted { .. } => Code::Aborted,
            ApiError::Unauthenticated { .. } => Code::Unauthenticated,
            ApiError::PermissionDenied { .. } => Code::PermissionDenied,
            ApiError::ResourceExhausted { .. } => Code::ResourceExhausted,
            ApiError::DeadlineExceeded => Code::DeadlineExceeded,
            ApiError::Unavailable(_) | ApiError::DatabaseDown => Code::Unavailable,
            ApiError::Internal(_) => Code::Internal,
        }
    }

    /// The `ErrorInfo.reason`: UPPER_SNAKE, stable, unique in the domain.
    pub fn reason(&self) -> String {
        match self {
            ApiError::InvalidArgument(_) | ApiError::InvalidChunk { .. } => {
                "INVALID_ARGUMENT".into()
            }
            ApiError::StreamBroken(_) => "STREAM_BROKEN".into(),
            ApiError::StreamIdle { .. } => "STREAM_IDLE".into(),
            ApiError::ConcurrentWrite(_) => "CONCURRENT_WRITE".into(),
            ApiError::NotFound { kind, .. } => format!("{}_NOT_FOUND", kind.reason_stem()),
            ApiError::AlreadyExists { kind, .. } => {
                format!("{}_ALREADY_EXISTS", kind.reason_stem())
            }
            ApiError::FailedPrecondition { reason, .. } => (*reason).into(),
            ApiError::Aborted { .. } => "ETAG_MISMATCH".into(),
            ApiError::Unauthenticated { reason, .. } => (*reason).into(),
            ApiError::PermissionDenied { .. } => "SCOPE_MISSING".into(),
            ApiError::ResourceExhausted { reason, .. } => (*reason).into(),
            ApiError::DeadlineExceeded => "DEADLINE_EXCEEDED".into(),
            ApiError::Unavailable(_) | ApiError::DatabaseDown => "DATABASE_UNAVAILABLE".into(),
            ApiError::Internal(_) => "INTERNAL".into(),
        }
    }

    /// The status message: for people, and for `InvalidArgument` a summary of
    /// every violation so that clients which ignore details still see them.
    fn message(&self) -> String {
        match self {
            ApiError::InvalidArgument(violations) => {
                format!("invalid request: {}", summarise_violations(violations))
            }
            ApiError::InvalidChunk { chunk, violations } => {
                format!(
                    "invalid chunk {chunk} of the stream: {}",
                    summarise_violations(violations)
                )
            }
            other => other.to_string(),
        }
    }

    fn details(&self) -> ErrorDetails {
        let mut metadata = HashMap::new();
        let mut details = ErrorDetails::new();
        match self {
            ApiError::InvalidArgument(violations) | ApiError::InvalidChunk { violations, .. } => {
                if let ApiError::InvalidChunk { chunk, .. } = self {
                    metadata.insert("chunk".to_owned(), chunk.to_string());
                }
                let (shown, left_out) = bounded::listed(violations);
                if left_out > 0 {
                    metadata.insert("violations".to_owned(), violations.len().to_string());
                }
                for v in shown {
                    details.add_bad_request_violation(v.field, v.description);
                }
            }
            ApiError::ConcurrentWrite(_) => {
                details.set_retry_info(Some(std::time::Duration::from_millis(100)));
            }
            ApiError::NotFound { kind, name }
            | ApiError::AlreadyExists { kind, name, .. }
            | ApiError::Aborted { kind, name } => {
                let name = bounded::clamp(name, bounded::MAX_TEXT_BYTES);
                let description = bounded::clamp(&self.to_string(), bounded::MAX_TEXT_BYTES);
                metadata.insert("resource".to_owned(), name.clone());
                details.set_resource_info(kind.type_name(), name, "", description);
            }
            ApiError::FailedPrecondition { violations, .. } => {
                for v in violations.iter().take(bounded::MAX_LISTED_VIOLATIONS) {
                    details.add_precondition_failure_violation(
                        v.kind.clone(),
                        bounded::clamp(&v.subject, bounded::MAX_TEXT_BYTES),
                        bounded::clamp(&v.description, bounded::MAX_TEXT_BYTES),
                    );
                }
            }
            ApiError::Unavailable(_) | ApiError::DatabaseDown => {
                details.set_retry_info(Some(std::time::Duration::from_secs(1)));
            }
            ApiError::Unauthenticated { .. } => {
                metadata.insert("scheme".to_owned(), "Bearer".to_owned());
            }
            ApiError::PermissionDenied {
                token,
                scope,
                method,
            } => {
                metadata.insert("token".to_owned(), token.clone());
                metadata.insert("scope".to_owned(), (*scope).to_owned());
                metadata.insert(
                    "method".to_owned(),
                    bounded::clamp(method, bounded::MAX_TEXT_BYTES),
                );
            }
            ApiError::ResourceExhausted { .. }
            | ApiError::StreamBroken(_)
            | ApiError::StreamIdle { .. }
            | ApiError::DeadlineExceeded
            | ApiError::Internal(_) => {}
        }
        details.set_error_info(self.reason(), ERROR_DOMAIN, metadata);
        details
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Status {
        match &error {
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, debug = ?cause, "internal error");
            }
            ApiError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
            }
            _ => {}
        }
        let message = bounded::clamp(&error.message(), bounded::MAX_MESSAGE_BYTES);
        let mut status = Status::with_error_details(error.code(), message, error.details());
        if let ApiError::Unauthenticated { challenge, .. } = &error {
            status.metadata_mut().insert(
                "www-authenticate",
                tonic::metadata::MetadataValue::from_static(challenge),
            );
        }
        status
    }
}

/// The status message's summary of field violations: the first few (the
/// details list more), and how many more there are, for clients that show
/// only the message.
fn summarise_violations(violations: &[FieldViolation]) -> String {
    const SUMMARISED: usize = 5;
    let (shown, _) = bounded::listed(violations);
    let listed = shown
        .iter()
        .take(SUMMARISED)
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ");
    // The count comes first, so shortening the message never loses it.
    if violations.len() > SUMMARISED {
        format!(
            "{} violations, the first {SUMMARISED}: {listed}",
            violations.len()
        )
    } else {
        listed
    }
}

#[cfg(test)]
mod tests;

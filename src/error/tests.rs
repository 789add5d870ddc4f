use super::*;

fn details_of(status: &Status) -> ErrorDetails {
    status.get_error_details()
}

#[test]
fn invalid_argument_lists_every_violation_in_bad_request() {
    let mut violations = Violations::default();
    violations.add("account.handle", "must not be empty");
    violations.add("account.network", "must be set");
    let status: Status = violations.finish(()).unwrap_err().into();

    assert_eq!(status.code(), Code::InvalidArgument);
    let details = details_of(&status);
    let fields: Vec<&str> = details
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, ["account.handle", "account.network"]);
    assert!(
        status
            .message()
            .contains("account.handle: must not be empty")
    );
    let info = details.error_info().unwrap();
    assert_eq!(info.reason, "INVALID_ARGUMENT");
    assert_eq!(info.domain, "goalpost");
}

#[test]
fn not_found_names_the_resource_in_reason_and_resource_info() {
    let status: Status = ApiError::NotFound {
        kind: ResourceKind::Account,
        name: "accounts/x".into(),
    }
    .into();
    assert_eq!(status.code(), Code::NotFound);
    let details = details_of(&status);
    assert_eq!(details.error_info().unwrap().reason, "ACCOUNT_NOT_FOUND");
    let info = details.resource_info().unwrap();
    assert_eq!(info.resource_name, "accounts/x");
    assert_eq!(info.resource_type, "goalpost.v1.Account");
}

#[test]
fn failed_precondition_carries_a_precondition_failure() {
    let status: Status =
        ApiError::failed_precondition("AUDIT_COMPLETED", "audits/a", "the audit is frozen").into();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let details = details_of(&status);
    let violation = &details.precondition_failure().unwrap().violations[0];
    assert_eq!(violation.r#type, "AUDIT_COMPLETED");
    assert_eq!(violation.subject, "audits/a");
}

#[test]
fn internal_errors_hide_their_cause() {
    let status: Status = ApiError::internal("relation \"account\" does not exist").into();
    assert_eq!(status.code(), Code::Internal);
    assert!(!status.message().contains("relation"));
    assert_eq!(details_of(&status).error_info().unwrap().reason, "INTERNAL");
}

#[test]
fn unauthenticated_calls_get_a_bearer_challenge() {
    let status: Status = ApiError::Unauthenticated {
        reason: "TOKEN_MISSING",
        message: "this call needs a bearer token".into(),
        challenge: "Bearer realm=\"goalpost\"",
    }
    .into();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        details_of(&status).error_info().unwrap().reason,
        "TOKEN_MISSING"
    );
    assert_eq!(
        status.metadata().get("www-authenticate").unwrap(),
        "Bearer realm=\"goalpost\""
    );
}

#[test]
fn permission_denied_names_the_missing_scope() {
    let status: Status = ApiError::PermissionDenied {
        token: "dashboard".into(),
        scope: "write",
        method: "/goalpost.v1.GoalService/CreateGoal".into(),
    }
    .into();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("scope write"), "{status:?}");
    let details = details_of(&status);
    let info = details.error_info().unwrap();
    assert_eq!(info.reason, "SCOPE_MISSING");
    assert_eq!(info.metadata["scope"], "write");
    assert_eq!(info.metadata["token"], "dashboard");
}

#[test]
fn etag_mismatch_is_aborted() {
    let status: Status = ApiError::Aborted {
        kind: ResourceKind::Audit,
        name: "audits/a".into(),
    }
    .into();
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(
        details_of(&status).error_info().unwrap().reason,
        "ETAG_MISMATCH"
    );
}

//! AuditService account methods through real gRPC calls.

use goalpost::pb;
use goalpost::pb::account::{Network, Status as AccountStatus};
use prost_types::FieldMask;
use tonic::Code;

mod updates;

use crate::helpers::{
    assert_error, assert_violations, page_through, precondition_types, spawn_app,
};

fn account(network: Network, handle: &str) -> pb::Account {
    pb::Account {
        network: network as i32,
        handle: handle.to_owned(),
        ..Default::default()
    }
}

fn create_request(account: pb::Account) -> pb::CreateAccountRequest {
    pb::CreateAccountRequest {
        account: Some(account),
        request_id: String::new(),
    }
}

#[tokio::test]
async fn a_created_account_can_be_read_back() {
    let app = spawn_app().await;
    let mut client = app.audits();
    let created = client
        .create_account(create_request(pb::Account {
            profile_url: "https://www.instagram.com/acme".into(),
            display_name: "Acme on Instagram".into(),
            owner: "social team".into(),
            purpose: "brand awareness".into(),
            ..account(Network::Instagram, "@acme")
        }))
        .await
        .unwrap()
        .into_inner();

    assert!(created.name.starts_with("accounts/"));
    assert_eq!(created.handle, "acme", "a leading @ is dropped");
    assert_eq!(
        created.status,
        AccountStatus::Active as i32,
        "status defaults to active"
    );
    assert!(created.create_time.is_some() && !created.etag.is_empty());

    let read = client
        .get_account(pb::GetAccountRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, created);
}

#[tokio::test]
async fn a_second_account_with_the_same_network_and_handle_already_exists() {
    let app = spawn_app().await;
    let first = app.create_account(Network::X, "acme").await;
    let error = app
        .audits()
        .create_account(create_request(account(Network::X, "@ACME")))
        .await
        .unwrap_err();
    assert_error(&error, Code::AlreadyExists, "ACCOUNT_ALREADY_EXISTS");
    let details = tonic_types::StatusExt::get_error_details(&error);
    assert_eq!(details.resource_info().unwrap().resource_name, first.name);
    assert_eq!(app.count("account").await, 1);

    // The same handle on another network is another account.
    app.create_account(Network::Threads, "acme").await;
}

#[tokio::test]
async fn bad_accounts_are_rejected_with_every_violation_and_nothing_stored() {
    let app = spawn_app().await;
    let cases: Vec<(&str, pb::Account, Vec<&str>)> = vec![
        (
            "empty account",
            pb::Account::default(),
            vec!["account.network", "account.handle"],
        ),
        (
            "blank handle",
            account(Network::X, "   "),
            vec!["account.handle"],
        ),
        (
            "handle with spaces",
            account(Network::X, "two words"),
            vec!["account.handle"],
        ),
        (
            "over-long handle",
            account(Network::X, &"a".repeat(101)),
            vec!["account.handle"],
        ),
        (
            "unknown network number",
            pb::Account {
                network: 99,
                ..account(Network::X, "a")
            },
            vec!["account.network"],
        ),
        (
            "unknown status number",
            pb::Account {
                status: 17,
                ..account(Network::X, "a")
            },
            vec!["account.status"],
        ),
        (
            "profile url that is not a url",
            pb::Account {
                profile_url: "not a url".into(),
                ..account(Network::X, "a")
            },
            vec!["account.profile_url"],
        ),
        (
            "profile url with another scheme",
            pb::Account {
                profile_url: "javascript:alert(1)".into(),
                ..account(Network::X, "a")
            },
            vec!["account.profile_url"],
        ),
        (
            "over-long owner and purpose",
            pb::Account {
                owner: "o".repeat(201),
                purpose: "p".repeat(1001),
                ..account(Network::X, "a")
            },
            vec!["account.owner", "account.purpose"],
        ),
        (
            "control character in display name",
            pb::Account {
                display_name: "a\u{7}b".into(),
                ..account(Network::X, "a")
            },
            vec!["account.display_name"],
        ),
    ];
    for (description, bad, fields) in cases {
        let error = app
            .audits()
            .create_account(create_request(bad))
            .await
            .unwrap_err();
        assert_violations(&error, &fields);
        assert_eq!(
            app.count("account").await,
            0,
            "{description} stored something"
        );
    }

    let error = app
        .audits()
        .create_account(pb::CreateAccountRequest {
            account: None,
            request_id: "not-a-uuid".into(),
        })
        .await
        .unwrap_err();
    assert_violations(&error, &["request_id", "account.network", "account.handle"]);
}

#[tokio::test]
async fn malformed_and_unknown_names_get_invalid_argument_and_not_found() {
    let app = spawn_app().await;
    let mut client = app.audits();
    for name in [
        "",
        "accounts/not-a-uuid",
        "audits/0190b6f4-5e6b-7c1d-9a2e-3f4a5b6c7d8e",
        "accounts/",
    ] {
        let error = client
            .get_account(pb::GetAccountRequest { name: name.into() })
            .await
            .unwrap_err();
        assert_violations(&error, &["name"]);
    }
    let missing = "accounts/0190b6f4-5e6b-7c1d-9a2e-3f4a5b6c7d8e";
    let error = client
        .get_account(pb::GetAccountRequest {
            name: missing.into(),
        })
        .await
        .unwrap_err();
    assert_error(&error, Code::NotFound, "ACCOUNT_NOT_FOUND");
    assert!(error.message().contains(missing));
}

#[tokio::test]
async fn a_retried_create_with_the_same_request_id_returns_the_first_account() {
    let app = spawn_app().await;
    let mut client = app.audits();
    let request = pb::CreateAccountRequest {
        account: Some(account(Network::Linkedin, "acme-corp")),
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    let first = client
        .create_account(request.clone())
        .await
        .unwrap()
        .into_inner();
    let retried = client
        .create_account(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, retried);
    assert_eq!(app.count("account").await, 1);

    // Reusing the id for something else is a client bug worth reporting.
    let reused = pb::CreateAccountRequest {
        account: Some(account(Network::Linkedin, "other")),
        ..request
    };
    let error = client.create_account(reused).await.unwrap_err();
    assert_violations(&error, &["request_id"]);
    assert_eq!(app.count("account").await, 1);
}

#[tokio::test]
async fn concurrent_retries_with_one_request_id_create_one_account() {
    let app = spawn_app().await;
    let request = pb::CreateAccountRequest {
        account: Some(account(Network::Tiktok, "acme")),
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    let calls = (0..8).map(|_| {
        let mut client = app.audits();
        let request = request.clone();
        tokio::spawn(async move { client.create_account(request).await.map(|r| r.into_inner()) })
    });
    let mut names = Vec::new();
    for call in calls {
        names.push(call.await.unwrap().expect("every retry succeeds").name);
    }
    names.dedup();
    assert_eq!(names.len(), 1, "{names:?}");
    assert_eq!(app.count("account").await, 1);
}

#[tokio::test]
async fn listing_pages_through_every_account_once() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for index in 0..7 {
        created.push(
            app.create_account(Network::Facebook, &format!("page{index}"))
                .await
                .name,
        );
    }
    let client = app.audits();
    let (seen, pages) = page_through(3, |page_token| {
        let mut client = client.clone();
        async move {
            let page = client
                .list_accounts(pb::ListAccountsRequest {
                    page_size: 3,
                    page_token,
                    filter: String::new(),
                })
                .await
                .unwrap()
                .into_inner();
            let names = page.accounts.into_iter().map(|a| a.name).collect();
            (names, page.next_page_token)
        }
    })
    .await;
    assert_eq!(pages, 3);
    assert_eq!(seen, created, "creation order, each account once");
}

#[tokio::test]
async fn list_filters_select_matching_accounts() {
    let app = spawn_app().await;
    let instagram = app.create_account(Network::Instagram, "acme").await;
    app.create_account(Network::Youtube, "acme").await;
    let mut client = app.audits();
    client
        .update_account(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                name: instagram.name.clone(),
                owner: "brand team".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["owner".into()],
            }),
        })
        .await
        .unwrap();

    let cases = [
        ("enum without prefix", "network = INSTAGRAM", 1),
        ("enum with prefix", "network = NETWORK_YOUTUBE", 1),
        ("not equal", "network != INSTAGRAM", 1),
        (
            "quoted string and AND",
            r#"network = INSTAGRAM AND owner = "brand team""#,
            1,
        ),
        ("no match", r#"owner = "nobody""#, 0),
        (
            "time comparison",
            r#"create_time > "2000-01-01T00:00:00Z""#,
            2,
        ),
        ("status", "status = ACTIVE", 2),
    ];
    for (description, filter, expected) in cases {
        let page = client
            .list_accounts(pb::ListAccountsRequest {
                filter: filter.into(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("{description}: {e:?}"))
            .into_inner();
        assert_eq!(page.accounts.len(), expected, "{description}");
    }
}

#[tokio::test]
async fn bad_list_requests_say_what_is_supported() {
    let app = spawn_app().await;
    let mut client = app.audits();
    let cases = [
        (
            "negative page size",
            pb::ListAccountsRequest {
                page_size: -1,
                ..Default::default()
            },
            "page_size",
        ),
        (
            "or",
            pb::ListAccountsRequest {
                filter: "network = X OR network = TIKTOK".into(),
                ..Default::default()
            },
            "filter",
        ),
        (
            "unknown field",
            pb::ListAccountsRequest {
                filter: "colour = RED".into(),
                ..Default::default()
            },
            "filter",
        ),
        (
            "unknown enum value",
            pb::ListAccountsRequest {
                filter: "network = MYSPACE".into(),
                ..Default::default()
            },
            "filter",
        ),
        (
            "garbage token",
            pb::ListAccountsRequest {
                page_token: "garbage".into(),
                ..Default::default()
            },
            "page_token",
        ),
    ];
    for (description, request, field) in cases {
        let error = client.list_accounts(request).await.unwrap_err();
        assert_violations(&error, &[field]);
        if field == "filter" {
            assert!(
                error.message().contains("supported"),
                "{description}: {}",
                error.message()
            );
        }
    }

    // A token only continues the listing it came from.
    for index in 0..3 {
        app.create_account(Network::Reddit, &format!("r{index}"))
            .await;
    }
    let page = client
        .list_accounts(pb::ListAccountsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let error = client
        .list_accounts(pb::ListAccountsRequest {
            page_size: 1,
            page_token: page.next_page_token,
            filter: "network = REDDIT".into(),
        })
        .await
        .unwrap_err();
    assert_violations(&error, &["page_token"]);
}

#[tokio::test]
async fn deleting_an_account_removes_it_unless_an_audit_refers_to_it() {
    let app = spawn_app().await;
    let mut client = app.audits();
    let loose = app.create_account(Network::Other, "loose").await;
    client
        .delete_account(pb::DeleteAccountRequest {
            name: loose.name.clone(),
            etag: loose.etag.clone(),
        })
        .await
        .unwrap();
    let error = client
        .get_account(pb::GetAccountRequest {
            name: loose.name.clone(),
        })
        .await
        .unwrap_err();
    assert_error(&error, Code::NotFound, "ACCOUNT_NOT_FOUND");
    let error = client
        .delete_account(pb::DeleteAccountRequest {
            name: loose.name,
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_error(&error, Code::NotFound, "ACCOUNT_NOT_FOUND");

    let audited = app.create_account(Network::Other, "audited").await;
    client
        .create_audit(pb::CreateAuditRequest {
            audit: Some(pb::Audit {
                title: "Q4 audit".into(),
                entries: vec![pb::AuditEntry {
                    account: audited.name.clone(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();
    let error = client
        .delete_account(pb::DeleteAccountRequest {
            name: audited.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&error), ["ACCOUNT_IN_AUDIT"]);
    assert!(error.message().contains("STATUS_RETIRED"));
    assert_eq!(app.count("account").await, 1);
}

#[tokio::test]
async fn acknowledged_writes_survive_a_restart() {
    let app = spawn_app().await;
    let created = app.create_account(Network::Youtube, "acme").await;
    let app = app.restart().await;
    let read = app
        .audits()
        .get_account(pb::GetAccountRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, created);
}

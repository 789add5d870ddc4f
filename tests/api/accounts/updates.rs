//! UpdateAccount: masked fields, etags, and bad updates that change nothing.

use super::*;

#[tokio::test]
async fn updates_change_only_the_masked_fields_and_move_the_etag() {
    let app = spawn_app().await;
    let created = app.create_account(Network::Pinterest, "acme").await;
    let mut client = app.audits();
    let updated = client
        .update_account(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                name: created.name.clone(),
                handle: "ignored-not-in-mask".into(),
                status: AccountStatus::Dormant as i32,
                display_name: "Acme pins".into(),
                etag: created.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["status".into(), "display_name".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.handle, "acme");
    assert_eq!(updated.status, AccountStatus::Dormant as i32);
    assert_eq!(updated.display_name, "Acme pins");
    assert_eq!(
        updated.owner, created.owner,
        "unmasked fields keep their values"
    );
    assert_ne!(updated.etag, created.etag);

    // Clearing a field: it is in the mask and empty in the request.
    let cleared = client
        .update_account(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                name: created.name.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["owner".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cleared.owner, "");
}

#[tokio::test]
async fn a_stale_etag_update_is_aborted_and_changes_nothing() {
    let app = spawn_app().await;
    let created = app.create_account(Network::Snapchat, "acme").await;
    let mut client = app.audits();
    let change = |etag: String, owner: &str| pb::UpdateAccountRequest {
        account: Some(pb::Account {
            name: created.name.clone(),
            owner: owner.into(),
            etag,
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["owner".into()],
        }),
    };
    client
        .update_account(change(created.etag.clone(), "first writer"))
        .await
        .unwrap();
    let error = client
        .update_account(change(created.etag.clone(), "second writer"))
        .await
        .unwrap_err();
    assert_error(&error, Code::Aborted, "ETAG_MISMATCH");
    let read = client
        .get_account(pb::GetAccountRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.owner, "first writer");

    let error = client
        .delete_account(pb::DeleteAccountRequest {
            name: created.name.clone(),
            etag: created.etag.clone(),
        })
        .await
        .unwrap_err();
    assert_error(&error, Code::Aborted, "ETAG_MISMATCH");
    assert_eq!(app.count("account").await, 1);
}

#[tokio::test]
async fn bad_updates_are_rejected_and_leave_the_account_as_it_was() {
    let app = spawn_app().await;
    let created = app.create_account(Network::Threads, "acme").await;
    app.create_account(Network::Threads, "taken").await;
    let mut client = app.audits();
    let update = |account: pb::Account, paths: &[&str]| pb::UpdateAccountRequest {
        account: Some(pb::Account {
            name: created.name.clone(),
            ..account
        }),
        update_mask: Some(FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }),
    };

    let error = client
        .update_account(update(pb::Account::default(), &["owner", "colour", "name"]))
        .await
        .unwrap_err();
    assert_violations(&error, &["update_mask.paths[1]", "update_mask.paths[2]"]);

    let error = client
        .update_account(update(
            pb::Account {
                handle: String::new(),
                ..Default::default()
            },
            &["handle"],
        ))
        .await
        .unwrap_err();
    assert_violations(&error, &["account.handle"]);

    let error = client
        .update_account(update(
            pb::Account {
                handle: "TAKEN".into(),
                ..Default::default()
            },
            &["handle"],
        ))
        .await
        .unwrap_err();
    assert_error(&error, Code::AlreadyExists, "ACCOUNT_ALREADY_EXISTS");

    let error = client
        .update_account(pb::UpdateAccountRequest {
            account: None,
            update_mask: None,
        })
        .await
        .unwrap_err();
    assert_violations(&error, &["account"]);

    let read = client
        .get_account(pb::GetAccountRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, created);
}

//! Audits listed in pages and filtered by state, retried creates, and
//! completed audits surviving a restart.

use super::*;

#[tokio::test]
async fn audits_list_in_pages_and_filter_by_state() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Linkedin, "acme").await;
    let mut names = Vec::new();
    for index in 0..5 {
        let audit = app
            .create_audit(
                &format!("audit {index}"),
                vec![entry(&account, &[("followers", 1.0)])],
            )
            .await;
        names.push(audit.name);
    }
    complete(&app, &names[1]).await.unwrap();
    complete(&app, &names[3]).await.unwrap();

    let mut client = app.audits();
    let first = client
        .list_audits(pb::ListAuditsRequest {
            page_size: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let second = client
        .list_audits(pb::ListAuditsRequest {
            page_size: 3,
            page_token: first.next_page_token.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(second.next_page_token.is_empty());
    let listed: Vec<String> = first
        .audits
        .iter()
        .chain(&second.audits)
        .map(|a| a.name.clone())
        .collect();
    assert_eq!(listed, names);
    assert_eq!(
        first.audits[0].entries.len(),
        1,
        "listed audits carry their entries"
    );

    let completed = client
        .list_audits(pb::ListAuditsRequest {
            filter: "state = COMPLETED".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let completed: Vec<&str> = completed.audits.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(completed, [names[1].as_str(), names[3].as_str()]);

    let drafts = client
        .list_audits(pb::ListAuditsRequest {
            filter: r#"state = DRAFT AND title != "audit 0""#.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(drafts.audits.len(), 2);

    let error = client
        .list_audits(pb::ListAuditsRequest {
            filter: "state = FINISHED".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_violations(&error, &["filter"]);
}

#[tokio::test]
async fn a_retried_audit_create_returns_the_first_audit() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Tiktok, "acme").await;
    let request = pb::CreateAuditRequest {
        audit: Some(pb::Audit {
            title: "retry me".into(),
            entries: vec![entry(
                &account,
                &[("followers", 3.0), ("likes", 1.0), ("shares", 2.0)],
            )],
            ..Default::default()
        }),
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    let first = app
        .audits()
        .create_audit(request.clone())
        .await
        .unwrap()
        .into_inner();
    let retried = app
        .audits()
        .create_audit(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, retried);
    assert_eq!(app.count("audit").await, 1);
}

#[tokio::test]
async fn completed_audits_survive_a_restart() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Reddit, "acme").await;
    let audit = app
        .create_audit("persisted", vec![entry(&account, &[("followers", 42.0)])])
        .await;
    let completed = complete(&app, &audit.name).await.unwrap();
    let app = app.restart().await;
    let read = app
        .audits()
        .get_audit(pb::GetAuditRequest { name: audit.name })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, completed);
}

//! A NUL byte in every text field, in filter literals and in forged page
//! tokens: INVALID_ARGUMENT naming the field, never INTERNAL.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use goalpost::pb;
use goalpost::pb::account::Network;
use goalpost::pb::metric_definition::Aggregation;

use super::{Call, List, case, entry, expect_rejected, fixture, obs, recent_day, run};
use crate::helpers::spawn_app;
use crate::metrics::{base_metric, derived_metric, term};

#[tokio::test]
async fn a_nul_byte_in_any_text_field_is_rejected_naming_the_field() {
    let app = spawn_app().await;
    let fx = fixture(&app).await;
    let account = |change: fn(&mut pb::Account)| {
        let mut account = pb::Account {
            network: Network::Facebook as i32,
            handle: "acme".into(),
            ..Default::default()
        };
        change(&mut account);
        Call::CreateAccount(account)
    };
    let audit = |change: &dyn Fn(&mut pb::Audit)| {
        let mut audit = pb::Audit {
            title: "Q3 audit".into(),
            entries: vec![entry(&fx.account, &[("likes", 1.0)])],
            ..Default::default()
        };
        change(&mut audit);
        Call::CreateAudit(audit)
    };
    let metric = |change: fn(&mut pb::MetricDefinition)| {
        let mut definition = base_metric("custom", Aggregation::Sum);
        change(&mut definition);
        Call::CreateMetric(definition)
    };
    let day = recent_day();
    let cases = vec![
        case(
            "account handle",
            account(|a| a.handle = "ac\0me".into()),
            &["account.handle"],
        ),
        case(
            "account profile url, NUL in the path",
            account(|a| a.profile_url = "https://instagram.com/ac\0me".into()),
            &["account.profile_url"],
        ),
        case(
            "account profile url, trailing NUL",
            account(|a| a.profile_url = "https://instagram.com/acme\0".into()),
            &["account.profile_url"],
        ),
        case(
            "account display name",
            account(|a| a.display_name = "Ac\0me".into()),
            &["account.display_name"],
        ),
        case(
            "account owner",
            account(|a| a.owner = "\0".into()),
            &["account.owner"],
        ),
        case(
            "account purpose",
            account(|a| a.purpose = "brand\0".into()),
            &["account.purpose"],
        ),
        case(
            "updated profile url",
            Call::UpdateAccount(
                pb::Account {
                    profile_url: "https://x.com/\0acme".into(),
                    ..Default::default()
                },
                "profile_url",
            ),
            &["account.profile_url"],
        ),
        case(
            "updated owner",
            Call::UpdateAccount(
                pb::Account {
                    owner: "so\0cial".into(),
                    ..Default::default()
                },
                "owner",
            ),
            &["account.owner"],
        ),
        case(
            "audit title",
            audit(&|a| a.title = "Q3\0".into()),
            &["audit.title"],
        ),
        case(
            "audit auditor",
            audit(&|a| a.auditor = "a\0na".into()),
            &["audit.auditor"],
        ),
        case(
            "audit entry top post url",
            audit(&|a| a.entries[0].top_post_urls = vec!["https://x.com/p/\0x".into()]),
            &["audit.entries[0].top_post_urls[0]"],
        ),
        case(
            "audit entry notes",
            audit(&|a| a.entries[0].notes = "good\0".into()),
            &["audit.entries[0].notes"],
        ),
        case(
            "upserted entry top post url",
            Call::UpsertEntry(pb::AuditEntry {
                top_post_urls: vec!["https://x.com/p/1".into(), "https://x.com/p/2?q=\0".into()],
                ..entry(&fx.account, &[])
            }),
            &["entry.top_post_urls[1]"],
        ),
        case(
            "upserted entry notes",
            Call::UpsertEntry(pb::AuditEntry {
                notes: "\0".into(),
                ..entry(&fx.account, &[])
            }),
            &["entry.notes"],
        ),
        case(
            "upserted entry metric key",
            Call::UpsertEntry(entry(&fx.account, &[("lik\0es", 1.0)])),
            &["entry.metrics[lik\0es]"],
        ),
        case(
            "metric key",
            metric(|m| m.key = "cus\0tom".into()),
            &["metric_definition.key"],
        ),
        case(
            "metric display name",
            metric(|m| m.display_name = "Custom\0".into()),
            &["metric_definition.display_name"],
        ),
        case(
            "metric description",
            metric(|m| m.description = "\0".into()),
            &["metric_definition.description"],
        ),
        case(
            "metric unit",
            metric(|m| m.unit = "%\0".into()),
            &["metric_definition.unit"],
        ),
        case(
            "formula term key",
            Call::CreateMetric(derived_metric(
                "custom_rate",
                vec![term("likes\0", 1.0)],
                vec![term("followers", 1.0)],
                100.0,
            )),
            &["metric_definition.formula.numerator[0].metric_key"],
        ),
        case(
            "observation metric key",
            Call::Write(vec![obs("lik\0es", day, 1.0)]),
            &["observations[0].metric_key"],
        ),
        case(
            "observation source",
            Call::Write(vec![pb::Observation {
                source: "api\0".into(),
                ..obs("likes", day, 1.0)
            }]),
            &["observations[0].source"],
        ),
        case(
            "observation account",
            Call::Write(vec![pb::Observation {
                account: format!("{}\0", fx.account),
                ..obs("likes", day, 1.0)
            }]),
            &["observations[0].account"],
        ),
        case(
            "streamed observation source",
            Call::Stream(vec![
                obs("likes", day, 1.0),
                pb::Observation {
                    source: "\0".into(),
                    ..obs("likes", day, 1.0)
                },
            ]),
            &["observations[1].source"],
        ),
        case(
            "queried metric key",
            Call::Query("likes\0".into()),
            &["metric_key"],
        ),
    ];
    expect_rejected(&app, &fx, cases).await;
}

#[tokio::test]
async fn a_nul_byte_in_a_filter_literal_is_rejected_naming_the_filter() {
    let app = spawn_app().await;
    let fx = fixture(&app).await;
    let list = |method, filter: &str| Call::List(method, filter.to_owned(), String::new());
    let cases = vec![
        case(
            "quoted account owner",
            list(List::Accounts, "owner = \"so\0cial\""),
            &["filter"],
        ),
        case(
            "bare account handle",
            list(List::Accounts, "handle = ac\0me"),
            &["filter"],
        ),
        case(
            "ordered display name",
            list(List::Accounts, "display_name > \"\0\""),
            &["filter"],
        ),
        case(
            "audit title",
            list(List::Audits, "title = \"Q1\0\""),
            &["filter"],
        ),
        case(
            "audit auditor",
            list(List::Audits, "auditor != \"\0\""),
            &["filter"],
        ),
        case(
            "metric kind",
            list(List::Metrics, "kind = \"BASE\0\""),
            &["filter"],
        ),
        case(
            "observation metric key",
            list(List::Observations, "metric_key = \"likes\0\""),
            &["filter"],
        ),
        case(
            "observation metric key, bare",
            list(List::Observations, "metric_key = likes\0"),
            &["filter"],
        ),
    ];
    expect_rejected(&app, &fx, cases).await;
}

#[tokio::test]
async fn a_forged_page_token_is_rejected_naming_the_page_token() {
    let app = spawn_app().await;
    let fx = fixture(&app).await;
    let token = |body: &str| URL_SAFE_NO_PAD.encode(body);
    let mut cases = Vec::new();
    for method in [
        List::Accounts,
        List::Audits,
        List::Metrics,
        List::Observations,
    ] {
        let real = run(&app, &fx, Call::List(method, String::new(), String::new()))
            .await
            .expect("a first page");
        assert!(!real.is_empty(), "{method:?} has a second page");
        let forged = [
            ("garbage", token("garbage")),
            (
                "binary garbage",
                URL_SAFE_NO_PAD.encode([0_u8, 159, 146, 150, 0]),
            ),
            ("not base64", "%%%".to_owned()),
            ("truncated", real[..real.len() / 2].to_owned()),
            (
                "nul in a string key",
                token(r#"{"after":"likes\u0000","filter":""}"#),
            ),
            (
                "nul in a tuple key",
                token(
                    r#"{"after":["likes\u0000","00000000-0000-0000-0000-000000000000",0],"filter":""}"#,
                ),
            ),
            (
                "nul in the filter",
                token(r#"{"after":"likes","filter":"\u0000"}"#),
            ),
        ];
        for (description, forged) in forged {
            cases.push(case(
                format!("{method:?}: {description}"),
                Call::List(method, String::new(), forged),
                &["page_token"],
            ));
        }
    }
    expect_rejected(&app, &fx, cases).await;
}

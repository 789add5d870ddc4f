//! ListGoals: creation order, pages, filters.

use goalpost::pb;
use goalpost::pb::GoalType;
use goalpost::pb::goal::Framework;

use super::{metric_key_result, okr_goal, smart_goal};
use crate::helpers::{TestApp, assert_violations, page_through, spawn_app};

async fn list(app: &TestApp, filter: &str) -> Vec<String> {
    let (goals, _) = page_through(0, |page_token| {
        let mut client = app.goals();
        let filter = filter.to_owned();
        async move {
            let page = client
                .list_goals(pb::ListGoalsRequest {
                    page_size: 0,
                    page_token,
                    filter,
                })
                .await
                .unwrap_or_else(|e| panic!("list: {e:?}"))
                .into_inner();
            (page.goals, page.next_page_token)
        }
    })
    .await;
    goals.into_iter().map(|goal| goal.title).collect()
}

#[tokio::test]
async fn goals_are_listed_in_creation_order_with_their_key_results_a_page_at_a_time() {
    let app = spawn_app().await;
    let mut names = Vec::new();
    for index in 0..7 {
        let goal = app
            .create_goal(pb::Goal {
                title: format!("Goal number {index} of seven"),
                ..smart_goal()
            })
            .await;
        app.create_key_result(&goal.name, metric_key_result()).await;
        names.push(goal.name);
    }
    let (goals, pages) = page_through(3, |page_token| {
        let mut client = app.goals();
        async move {
            let page = client
                .list_goals(pb::ListGoalsRequest {
                    page_size: 3,
                    page_token,
                    filter: String::new(),
                })
                .await
                .unwrap()
                .into_inner();
            (page.goals, page.next_page_token)
        }
    })
    .await;
    assert_eq!(pages, 3);
    let listed: Vec<_> = goals.iter().map(|goal| goal.name.clone()).collect();
    assert_eq!(listed, names);
    assert!(goals.iter().all(|goal| goal.key_results.len() == 1));
}

#[tokio::test]
async fn list_filters_select_by_type_framework_state_owner_team_and_parent() {
    let app = spawn_app().await;
    let parent = app
        .create_goal(pb::Goal {
            title: "parent".into(),
            ..smart_goal()
        })
        .await;
    app.create_key_result(&parent.name, metric_key_result())
        .await;
    app.activate_goal(&parent.name).await.unwrap();
    app.create_goal(pb::Goal {
        title: "child okr".into(),
        parent: parent.name.clone(),
        team: "brand".into(),
        ..okr_goal()
    })
    .await;
    app.create_goal(pb::Goal {
        title: "recruiting".into(),
        goal_type: GoalType::Recruitment as i32,
        framework: Framework::Smart as i32,
        owner: "bo@example.com".into(),
        ..smart_goal()
    })
    .await;

    let by_parent = format!(r#"parent = "{}""#, parent.name);
    let cases = [
        ("goal_type = BRAND_AWARENESS", vec!["child okr"]),
        ("goal_type = GOAL_TYPE_RECRUITMENT", vec!["recruiting"]),
        ("framework = OKR", vec!["child okr"]),
        ("framework != FRAMEWORK_OKR", vec!["parent", "recruiting"]),
        ("state = ACTIVE", vec!["parent"]),
        ("state = STATE_DRAFT", vec!["child okr", "recruiting"]),
        (r#"owner = "bo@example.com""#, vec!["recruiting"]),
        (r#"team = "brand""#, vec!["child okr"]),
        (r#"parent = """#, vec!["parent", "recruiting"]),
        (by_parent.as_str(), vec!["child okr"]),
        (r#"state = DRAFT AND team = "social""#, vec!["recruiting"]),
    ];
    for (filter, expected) in cases {
        assert_eq!(list(&app, filter).await, expected, "{filter}");
    }
}

#[tokio::test]
async fn bad_list_requests_say_what_is_supported() {
    let app = spawn_app().await;
    for (description, request, fields) in [
        (
            "an unknown field",
            pb::ListGoalsRequest {
                filter: "colour = RED".into(),
                ..Default::default()
            },
            vec!["filter"],
        ),
        (
            "an unknown enum value",
            pb::ListGoalsRequest {
                filter: "state = FINISHED".into(),
                ..Default::default()
            },
            vec!["filter"],
        ),
        (
            "an OR",
            pb::ListGoalsRequest {
                filter: "state = ACTIVE OR state = DRAFT".into(),
                ..Default::default()
            },
            vec!["filter"],
        ),
        (
            "a negative page size and a forged token",
            pb::ListGoalsRequest {
                page_size: -1,
                page_token: "forged".into(),
                filter: String::new(),
            },
            vec!["page_size", "page_token"],
        ),
    ] {
        let error = app.goals().list_goals(request).await.unwrap_err();
        assert_violations(&error, &fields);
        if fields == ["filter"] {
            assert!(error.message().contains("supported"), "{description}");
        }
    }
}

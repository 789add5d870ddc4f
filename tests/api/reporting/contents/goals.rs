//! Goals, key results, progress snapshots and goal types: the views against
//! GetGoal, GetGoalProgress and ListGoalTypes.

use chrono::{DateTime, Utc};
use goalpost::pb;
use sqlx::Row;

use super::{bare, rows, seed, time};
use crate::helpers::spawn_app;
use crate::progress::{assert_close, progress_at};
use crate::reporting::TestRole;

#[tokio::test]
async fn goal_and_key_result_views_match_get_goal() {
    let app = spawn_app().await;
    let seed = seed(&app).await;
    let role = TestRole::new(&app, "gp_bi_goal_");
    role.grant().await.unwrap();
    let mut reader = role.connect().await;
    let goal = &seed.goal;

    let row = &rows(&mut reader, "select * from reporting.goals").await[0];
    assert_eq!(row.get::<String, _>("goal_name"), goal.name);
    assert_eq!(row.get::<String, _>("title"), goal.title);
    assert_eq!(row.get::<String, _>("goal_type"), "BRAND_AWARENESS");
    assert_eq!(row.get::<String, _>("framework"), "SMART");
    assert_eq!(row.get::<String, _>("state"), "ACTIVE");
    assert_eq!(row.get::<String, _>("owner"), goal.owner);
    assert_eq!(row.get::<String, _>("team"), goal.team);
    assert_eq!(
        row.get::<String, _>("business_objective"),
        goal.business_objective
    );
    assert_eq!(
        row.get::<Option<DateTime<Utc>>, _>("start_time"),
        time(&goal.start_time)
    );
    assert_eq!(
        row.get::<Option<DateTime<Utc>>, _>("deadline"),
        time(&goal.deadline)
    );
    assert_eq!(goal.success_threshold, None, "the framework's default");
    assert_eq!(row.get::<f64, _>("success_threshold"), 1.0);
    assert!(!row.get::<bool, _>("success_threshold_overridden"));
    assert_eq!(row.get::<Option<String>, _>("parent_goal_name"), None);
    assert_eq!(
        row.get::<i64, _>("key_result_count"),
        goal.key_results.len() as i64
    );
    assert_eq!(
        Some(row.get::<DateTime<Utc>, _>("update_time")),
        time(&goal.update_time)
    );

    let key_results = rows(
        &mut reader,
        "select * from reporting.key_results order by position",
    )
    .await;
    assert_eq!(key_results.len(), goal.key_results.len());
    for (row, key_result) in key_results.iter().zip(&goal.key_results) {
        assert_eq!(row.get::<String, _>("key_result_name"), key_result.name);
        assert_eq!(row.get::<String, _>("goal_name"), goal.name);
        assert_eq!(row.get::<String, _>("title"), key_result.title);
        let kind = pb::key_result::Kind::try_from(key_result.kind).unwrap();
        assert_eq!(
            row.get::<String, _>("kind"),
            bare(kind.as_str_name(), "KIND_")
        );
        assert_eq!(Some(row.get::<f64, _>("weight")), key_result.weight);
        assert_eq!(
            row.get::<Option<String>, _>("metric_key")
                .unwrap_or_default(),
            key_result.metric_key
        );
        assert_eq!(
            row.get::<Option<f64>, _>("baseline_value"),
            key_result.baseline_value
        );
        assert_eq!(
            row.get::<Option<f64>, _>("target_value"),
            key_result.target_value
        );
        assert_eq!(
            row.get::<i64, _>("checkpoint_count"),
            key_result.checkpoints.len() as i64
        );
        if kind == pb::key_result::Kind::Metric {
            let mode = pb::key_result::TargetMode::try_from(key_result.target_mode).unwrap();
            assert_eq!(
                row.get::<Option<String>, _>("target_mode"),
                Some(bare(mode.as_str_name(), "TARGET_MODE_"))
            );
            assert_eq!(
                row.get::<Option<i64>, _>("window_days"),
                Some(key_result.window_days.into())
            );
            assert!(!row.get::<bool, _>("all_accounts"));
        } else {
            let done = key_result.milestones.iter().filter(|m| m.done).count();
            assert_eq!(
                row.get::<Option<i64>, _>("milestone_count"),
                Some(key_result.milestones.len() as i64)
            );
            assert_eq!(
                row.get::<Option<i64>, _>("milestones_done"),
                Some(done as i64)
            );
        }
    }

    let metric = &goal.key_results[0];
    let accounts: Vec<String> = rows(
        &mut reader,
        "select account_name, organisation_wide from reporting.key_result_accounts order by position",
    )
    .await
    .iter()
    .map(|row| {
        let name: Option<String> = row.get("account_name");
        assert_eq!(name.is_none(), row.get::<bool, _>("organisation_wide"));
        name.unwrap_or_default()
    })
    .collect();
    assert_eq!(
        accounts, metric.accounts,
        "the API names the organisation-wide series \"\""
    );

    let checkpoints: Vec<(Option<DateTime<Utc>>, f64)> = rows(
        &mut reader,
        "select checkpoint_time, target_value from reporting.key_result_checkpoints order by checkpoint_time",
    )
    .await
    .iter()
    .map(|row| (Some(row.get("checkpoint_time")), row.get("target_value")))
    .collect();
    let expected: Vec<_> = metric
        .checkpoints
        .iter()
        .map(|checkpoint| (time(&checkpoint.time), checkpoint.target_value))
        .collect();
    assert_eq!(checkpoints, expected);

    let steps = &goal.key_results[1];
    let milestones = rows(
        &mut reader,
        "select * from reporting.milestones order by position",
    )
    .await;
    assert_eq!(milestones.len(), steps.milestones.len());
    for (row, milestone) in milestones.iter().zip(&steps.milestones) {
        assert_eq!(
            row.get::<uuid::Uuid, _>("milestone_id").to_string(),
            milestone.id
        );
        assert_eq!(row.get::<String, _>("key_result_name"), steps.name);
        assert_eq!(row.get::<String, _>("title"), milestone.title);
        assert_eq!(row.get::<bool, _>("done"), milestone.done);
        assert_eq!(
            row.get::<Option<DateTime<Utc>>, _>("done_time"),
            time(&milestone.done_time)
        );
    }
}

#[tokio::test]
async fn progress_snapshot_views_hold_what_get_goal_progress_answered() {
    let app = spawn_app().await;
    let seed = seed(&app).await;
    crate::progress::observe(
        &app,
        &[
            ("likes", &seed.instagram.name, "2026-10-02T09:00:00Z", 40.0),
            (
                "followers",
                &seed.instagram.name,
                "2026-10-02T09:00:00Z",
                1000.0,
            ),
        ],
    )
    .await;
    // What the snapshot recorder stores for a UTC midnight: the progress the
    // engine answers for that moment.
    let as_of = "2026-10-03T00:00:00Z";
    let progress = progress_at(&app, &seed.goal, as_of).await;
    let goal_id: uuid::Uuid = seed.goal.name.trim_start_matches("goals/").parse().unwrap();
    let status = |value: i32| {
        bare(
            pb::ProgressStatus::try_from(value).unwrap().as_str_name(),
            "PROGRESS_STATUS_",
        )
    };
    sqlx::query(
        "insert into progress_snapshot (goal_id, as_of, reason, score, expected, status, grade, complete)
         values ($1, $2, 'DAILY', $3, $4, $5, $6, $7)",
    )
    .bind(goal_id)
    .bind(time(&progress.as_of).unwrap())
    .bind(progress.score)
    .bind(progress.expected)
    .bind(status(progress.status))
    .bind(bare(pb::Grade::try_from(progress.grade).unwrap().as_str_name(), "GRADE_"))
    .bind(progress.complete)
    .execute(&app.pool)
    .await
    .unwrap();
    for key_result in &progress.key_results {
        let key_result_id: uuid::Uuid = key_result
            .key_result
            .rsplit('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        sqlx::query(
            "insert into key_result_progress_snapshot (goal_id, as_of, key_result_id, baseline, current,
                 target, progress, score, expected, status)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(goal_id)
        .bind(time(&progress.as_of).unwrap())
        .bind(key_result_id)
        .bind(key_result.baseline)
        .bind(key_result.current)
        .bind(key_result.target)
        .bind(key_result.progress)
        .bind(key_result.score)
        .bind(key_result.expected)
        .bind(status(key_result.status))
        .execute(&app.pool)
        .await
        .unwrap();
    }

    let role = TestRole::new(&app, "gp_bi_snap_");
    role.grant().await.unwrap();
    let mut reader = role.connect().await;
    let row = &rows(
        &mut reader,
        "select * from reporting.goal_progress_snapshots",
    )
    .await[0];
    assert_eq!(row.get::<String, _>("goal_name"), seed.goal.name);
    assert_eq!(row.get::<String, _>("goal_title"), seed.goal.title);
    assert_eq!(row.get::<String, _>("goal_state"), "ACTIVE");
    assert_eq!(
        Some(row.get::<DateTime<Utc>, _>("as_of")),
        time(&progress.as_of)
    );
    assert_eq!(
        row.get::<chrono::NaiveDate, _>("as_of_date").to_string(),
        "2026-10-03"
    );
    assert_eq!(row.get::<String, _>("reason"), "DAILY");
    assert_eq!(row.get::<f64, _>("score"), progress.score);
    assert_eq!(row.get::<f64, _>("expected"), progress.expected);
    assert_eq!(row.get::<String, _>("status"), status(progress.status));
    assert_eq!(row.get::<bool, _>("complete"), progress.complete);

    let key_rows = rows(
        &mut reader,
        "select s.* from reporting.key_result_progress_snapshots s
         join reporting.key_results k using (key_result_id) order by k.position",
    )
    .await;
    assert_eq!(key_rows.len(), progress.key_results.len());
    for (row, key_result) in key_rows.iter().zip(&progress.key_results) {
        assert_eq!(
            row.get::<String, _>("key_result_name"),
            key_result.key_result
        );
        assert_eq!(row.get::<Option<f64>, _>("baseline"), key_result.baseline);
        assert_eq!(
            row.get::<Option<f64>, _>("current_value"),
            key_result.current
        );
        assert_eq!(row.get::<Option<f64>, _>("target"), key_result.target);
        assert_eq!(row.get::<Option<f64>, _>("progress"), key_result.progress);
        assert_eq!(row.get::<Option<f64>, _>("score"), key_result.score);
        assert_eq!(row.get::<f64, _>("expected"), key_result.expected);
        assert_eq!(row.get::<String, _>("status"), status(key_result.status));
        match (key_result.baseline, key_result.target) {
            (Some(baseline), Some(target)) => assert_close(
                row.get::<Option<f64>, _>("expected_value").unwrap(),
                baseline + key_result.expected * (target - baseline),
                "expected value",
            ),
            _ => assert_eq!(row.get::<Option<f64>, _>("expected_value"), None),
        }
    }
    assert!(
        key_rows[0].get::<Option<f64>, _>("current_value").is_some(),
        "the metric key result has data, so the comparison covers values"
    );
}

#[tokio::test]
async fn goal_type_views_list_the_ten_types_as_list_goal_types_does() {
    let app = spawn_app().await;
    // Two replicas starting at once, then a restart.
    let (first, second) = tokio::join!(
        goalpost::reporting::sync_goal_types(&app.pool),
        goalpost::reporting::sync_goal_types(&app.pool)
    );
    first.unwrap();
    second.unwrap();
    goalpost::reporting::sync_goal_types(&app.pool)
        .await
        .unwrap();

    let types = app
        .goals()
        .list_goal_types(pb::ListGoalTypesRequest {})
        .await
        .unwrap()
        .into_inner()
        .goal_types;
    assert_eq!(types.len(), 10);
    let role = TestRole::new(&app, "gp_bi_types_");
    role.grant().await.unwrap();
    let mut reader = role.connect().await;
    let rows_of_types = rows(
        &mut reader,
        "select * from reporting.goal_types order by position",
    )
    .await;
    let metrics = rows(
        &mut reader,
        "select * from reporting.goal_type_metrics order by goal_type, position",
    )
    .await;
    let milestones = rows(
        &mut reader,
        "select * from reporting.goal_type_milestones order by goal_type, position",
    )
    .await;
    assert_eq!(rows_of_types.len(), types.len());
    for (row, definition) in rows_of_types.iter().zip(&types) {
        let goal_type = pb::GoalType::try_from(definition.goal_type).unwrap();
        let name = bare(goal_type.as_str_name(), "GOAL_TYPE_");
        assert_eq!(row.get::<String, _>("goal_type"), name);
        assert_eq!(
            row.get::<String, _>("display_name"),
            definition.display_name
        );
        assert_eq!(row.get::<String, _>("description"), definition.description);
        assert_eq!(
            row.get::<bool, _>("milestone_based"),
            definition.milestone_based
        );
        let of_type = |rows: &[sqlx::postgres::PgRow], column: &str| -> Vec<String> {
            rows.iter()
                .filter(|row| row.get::<String, _>("goal_type") == name)
                .map(|row| row.get::<String, _>(column))
                .collect()
        };
        assert_eq!(
            of_type(&metrics, "metric_key"),
            definition.recommended_metric_keys,
            "{name}"
        );
        assert_eq!(
            of_type(&milestones, "title"),
            definition.suggested_milestones,
            "{name}"
        );
    }
}

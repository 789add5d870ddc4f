//! Selections no key result reads any more are removed with their rollups,
//! so that loads stop keeping them. A process that still knows a removed
//! selection finds it gone at its next read, reads the accounts' own
//! rollups, and has it registered again when a key result reads it anew.

use goalpost::catalog::cache::CatalogCache;
use goalpost::observations::selections::SelectionRollups;
use goalpost::pb;
use uuid::Uuid;

use super::goal_client;
use super::selection_rollups::{
    Measured, accounts_with_a_week, check_progress, goal_over, wait_for_selections, week_of_likes,
};
use crate::helpers::{TestApp, spawn_app};
use crate::observations::{account_id, assert_rollups_match_observations, write};

/// Removes the unused selections as the registrar does, from a process of
/// its own (the server under test keeps what it knew).
async fn collect(app: &TestApp) -> usize {
    SelectionRollups::default()
        .collect_unused(&app.pool, &CatalogCache::default())
        .await
        .expect("remove unused selections")
}

/// The registered selections' accounts, and how many member and daily rows
/// belong to no registered selection.
async fn registered(app: &TestApp) -> (Vec<Vec<Uuid>>, i64) {
    let selections: Vec<Vec<Uuid>> =
        sqlx::query_scalar("select accounts from rollup_selection order by selection_id")
            .fetch_all(&app.pool)
            .await
            .expect("read selections");
    let orphans: i64 = sqlx::query_scalar(
        "select (select count(*) from rollup_selection_member m
                 where not exists (select 1 from rollup_selection k
                                   where k.selection_id = m.selection_id))
              + (select count(*) from observation_daily_selection d
                 where not exists (select 1 from rollup_selection k
                                   where k.selection_id = d.selection_id))",
    )
    .fetch_one(&app.pool)
    .await
    .expect("count orphans");
    (selections, orphans)
}

fn sorted_ids(names: &[&str]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = names.iter().filter_map(|name| account_id(name)).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn selections_no_key_result_reads_are_removed_and_registered_again_when_read() {
    let app = spawn_app().await;
    let names = accounts_with_a_week(&app, 1.0).await;
    let (a, b, c) = (names[0].as_str(), names[1].as_str(), names[2].as_str());
    let dropped = goal_over(&app, "Dropped", &[(&[a, b], 3)]).await;
    let kept = goal_over(&app, "Kept", &[(&[a, c], 3)]).await;
    wait_for_selections(&app, 2).await;
    // Finding nothing to remove takes no lock: it is not held up by a load
    // holding the rollups (as a long end-of-load merge does).
    let mut merging = app.pool.begin().await.expect("begin");
    sqlx::query("lock table observation_daily in row exclusive mode")
        .execute(&mut *merging)
        .await
        .expect("lock as a load's merge does");
    assert_eq!(collect(&app).await, 0, "both selections are read");
    merging.rollback().await.expect("end the merge");

    goal_client(&app)
        .delete_goal(pb::DeleteGoalRequest {
            name: dropped.name.clone(),
            ..Default::default()
        })
        .await
        .expect("delete the draft");
    // Removed while a load corrects every value, and again after another:
    // the kept selection stays exact, the removed one does not come back.
    let (removed, corrected) =
        tokio::join!(collect(&app), write(&app, week_of_likes(&names, 50.0)));
    corrected.expect("correct the week while removing");
    assert_eq!(removed, 1, "the deleted goal's selection");
    assert_eq!(
        registered(&app).await,
        (vec![sorted_ids(&[a, c])], 0),
        "only the kept selection is left, members and days alike"
    );
    write(&app, week_of_likes(&names, 100.0))
        .await
        .expect("correct the week");
    assert_rollups_match_observations(&app).await;
    let over = |accounts: Vec<&'static str>| Measured {
        accounts,
        window_days: 3,
    };
    check_progress(&app, &kept, &names, &[over(vec!["a", "c"])]).await;
    assert_eq!(registered(&app).await.0, vec![sorted_ids(&[a, c])]);

    // The server still knows the removed selection: a new key result over
    // a and b reads the accounts' own rollups until it is registered anew.
    let again = goal_over(&app, "Again", &[(&[a, b], 3)]).await;
    check_progress(&app, &again, &names, &[over(vec!["a", "b"])]).await;
    wait_for_selections(&app, 2).await;
    check_progress(&app, &again, &names, &[over(vec!["a", "b"])]).await;
    assert_rollups_match_observations(&app).await;
    assert_eq!(collect(&app).await, 0, "every selection left is read");
}

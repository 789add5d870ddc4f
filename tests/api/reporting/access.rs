//! What `goalpost bi grant` lets its role do: read every view of reporting,
//! and nothing else.

use goalpost::reporting::GrantError;
use sqlx::{Connection, Executor, PgConnection, Row};

use super::{TestRole, reporting_views, sqlstate};
use crate::helpers::spawn_app;

/// Runs `statement` in a read-write transaction, so that only privileges
/// (not the role's read-only default) can refuse it, and returns its SQLSTATE.
async fn refused(connection: &mut PgConnection, statement: &str) -> String {
    let mut transaction = connection.begin().await.expect("begin");
    transaction
        .execute("set transaction read write")
        .await
        .expect("a read-write transaction");
    let error = transaction
        .execute(statement)
        .await
        .expect_err(&format!("{statement} must be refused"));
    transaction.rollback().await.ok();
    sqlstate(&error)
}

#[tokio::test]
async fn the_read_only_role_reads_every_reporting_view() {
    let app = spawn_app().await;
    let role = TestRole::new(&app, "gp_bi_read_");
    role.grant().await.expect("grant");
    let mut connection = role.connect().await;

    let read_only: String = sqlx::query_scalar("show default_transaction_read_only")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(read_only, "on", "sessions of the role start read-only");

    let views = reporting_views(&app).await;
    assert!(views.len() >= 21, "{views:?}");
    for view in &views {
        let statement = format!(r#"select * from reporting."{view}" limit 5"#);
        connection
            .fetch_all(statement.as_str())
            .await
            .unwrap_or_else(|error| panic!("the role cannot read reporting.{view}: {error}"));
    }
    connection.close().await.ok();
}

#[tokio::test]
async fn the_read_only_role_is_denied_base_tables_writes_and_new_objects() {
    let app = spawn_app().await;
    let role = TestRole::new(&app, "gp_bi_deny_");
    role.grant().await.expect("grant");
    let mut connection = role.connect().await;

    // Every table and sequence outside reporting, the migrations' own
    // bookkeeping included.
    let relations: Vec<(String, String)> = sqlx::query_as(
        "select n.nspname::text, c.relname::text from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
         where c.relkind in ('r', 'p', 'S', 'v', 'm')
           and n.nspname not in ('reporting', 'pg_catalog', 'information_schema')
           and n.nspname not like 'pg\\_%'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let names: Vec<&str> = relations.iter().map(|(_, name)| name.as_str()).collect();
    for expected in [
        "_sqlx_migrations",
        "goal",
        "observation",
        "progress_snapshot",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    for (schema, relation) in &relations {
        let statement = format!(r#"select * from "{schema}"."{relation}" limit 1"#);
        let error = connection
            .fetch_all(statement.as_str())
            .await
            .expect_err(&format!("{schema}.{relation} must not be readable"));
        assert_eq!(sqlstate(&error), "42501", "reading {schema}.{relation}");
    }

    // Writes through the views: where PostgreSQL could write through a view,
    // privileges refuse it; a view it cannot write through refuses everyone
    // before privileges are looked at (55000), and the role holds no write
    // privilege on it either.
    let views: Vec<(String, bool, Option<String>)> = sqlx::query_as(
        "select v.table_name::text, v.is_insertable_into = 'YES',
                (select c.column_name::text from information_schema.columns c
                 where c.table_schema = v.table_schema and c.table_name = v.table_name
                   and c.is_updatable = 'YES'
                 order by c.ordinal_position limit 1)
         from information_schema.views v
         where v.table_schema = 'reporting'
         order by v.table_name",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(views.len(), reporting_views(&app).await.len());
    let mut refused_by_privileges = 0;
    for (view, insertable, updatable_column) in &views {
        let writes = [
            format!(r#"insert into reporting."{view}" default values"#),
            match updatable_column {
                Some(column) => format!(r#"update reporting."{view}" set "{column}" = "{column}""#),
                None => format!(r#"update reporting."{view}" set "{view}" = null"#),
            },
            format!(r#"delete from reporting."{view}""#),
        ];
        for write in &writes {
            let code = refused(&mut connection, write).await;
            if *insertable {
                assert_eq!(code, "42501", "{write}");
                refused_by_privileges += 1;
            } else {
                assert!(
                    ["42501", "55000", "42703"].contains(&code.as_str()),
                    "{write}: {code}"
                );
            }
        }
        let can_write: bool = sqlx::query_scalar(
            "select has_table_privilege($1, format('reporting.%I', $2::text),
                                        'insert, update, delete, truncate, references, trigger')",
        )
        .bind(&role.name)
        .bind(view)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert!(
            !can_write,
            "the role holds a write privilege on reporting.{view}"
        );
    }
    assert!(
        refused_by_privileges > 0,
        "no view could be written through at all"
    );

    // Its sessions start read-only, which refuses even what PostgreSQL lets
    // every role do (temporary tables).
    let error = connection
        .execute("create temporary table scratch (one integer)")
        .await
        .expect_err("a write in a read-only session");
    assert_eq!(sqlstate(&error), "25006");

    for create in [
        "create view reporting.mine as select 1 as one",
        "create table reporting.mine (one integer)",
        "create table public.mine (one integer)",
        "create schema mine",
    ] {
        assert_eq!(refused(&mut connection, create).await, "42501", "{create}");
    }
    connection.close().await.ok();
}

#[tokio::test]
async fn a_view_added_later_is_readable_without_granting_again() {
    let app = spawn_app().await;
    let role = TestRole::new(&app, "gp_bi_later_");
    role.grant().await.expect("grant");
    // As a later migration would: created by the role that runs migrations.
    sqlx::query("create view reporting.added_later as select count(*) as goals from goal")
        .execute(&app.pool)
        .await
        .unwrap();
    let mut connection = role.connect().await;
    let goals: i64 = sqlx::query_scalar("select goals from reporting.added_later")
        .fetch_one(&mut connection)
        .await
        .expect("the role reads a view created after the grant");
    assert_eq!(goals, 0);
    connection.close().await.ok();
}

/// The stored password verifier of `role`; only a superuser reads it.
async fn stored_password(app: &crate::helpers::TestApp, role: &str) -> Option<String> {
    sqlx::query_scalar("select rolpassword from pg_authid where rolname = $1")
        .bind(role)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn granting_twice_works_and_a_new_password_replaces_the_old() {
    let app = spawn_app().await;
    // Quotes, spaces and capitals: the name is always quoted, never folded.
    let mut role = TestRole::new(&app, "GP BI \"odd\" ");
    role.grant().await.expect("first grant");
    role.grant().await.expect("the same grant again");
    let first = stored_password(&app, &role.name).await;
    assert!(first.is_some(), "the password is set");

    goalpost::reporting::grant(&role.settings(None))
        .await
        .expect("a grant without a password");
    assert_eq!(
        stored_password(&app, &role.name).await,
        first,
        "a grant without --password keeps the password"
    );
    let mut connection = role.connect().await;
    connection
        .fetch_all("select * from reporting.goal_types")
        .await
        .expect("the role still reads the views");
    connection.close().await.ok();

    let old_password = std::mem::replace(&mut role.password, "a new one".to_owned());
    role.grant().await.expect("a grant with a new password");
    assert_ne!(stored_password(&app, &role.name).await, first);
    role.connect().await.close().await.ok();
    // Servers that trust loopback connections take any password; elsewhere
    // the old one no longer opens a session.
    let mut url = url::Url::parse(app.database_url()).unwrap();
    url.set_username(&role.name).unwrap();
    url.set_password(Some(&old_password)).unwrap();
    if let Err(error) = PgConnection::connect(url.as_str()).await {
        assert_eq!(sqlstate(&error), "28P01", "{error}");
    }

    let privileges: i64 = sqlx::query_scalar(
        "select count(*) from information_schema.role_table_grants where grantee = $1",
    )
    .bind(&role.name)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        privileges as usize,
        reporting_views(&app).await.len(),
        "one SELECT per view, granted once however often the command runs"
    );
}

#[tokio::test]
async fn an_existing_role_loses_other_privileges_and_a_powerful_one_is_refused() {
    let app = spawn_app().await;
    let analyst = TestRole::new(&app, "gp_bi_analyst_");
    sqlx::query(&format!(r#"create role "{}" login"#, analyst.name))
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query(&format!(
        r#"grant select, insert on goal to "{}""#,
        analyst.name
    ))
    .execute(&app.pool)
    .await
    .unwrap();
    analyst.grant().await.expect("grant to an existing role");
    let mut connection = analyst.connect().await;
    let error = connection
        .fetch_all("select * from goal")
        .await
        .expect_err("the earlier grant on a base table is gone");
    assert_eq!(sqlstate(&error), "42501");
    connection
        .fetch_all("select * from reporting.goals")
        .await
        .unwrap();
    connection.close().await.ok();

    let creator = TestRole::new(&app, "gp_bi_creator_");
    sqlx::query(&format!(r#"create role "{}" login createdb"#, creator.name))
        .execute(&app.pool)
        .await
        .unwrap();
    let member = TestRole::new(&app, "gp_bi_member_");
    sqlx::query(&format!(
        r#"create role "{}" login in role "{}""#,
        member.name, analyst.name
    ))
    .execute(&app.pool)
    .await
    .unwrap();
    for role in [&creator, &member] {
        let error = role
            .grant()
            .await
            .expect_err("an unsuitable role is refused");
        assert!(
            matches!(error, GrantError::UnsuitableRole { .. }),
            "{error}"
        );
    }
    let row = sqlx::query("select rolcanlogin, rolcreatedb from pg_roles where rolname = $1")
        .bind(&creator.name)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(
        row.get::<bool, _>("rolcreatedb"),
        "a refused role is left as it was"
    );
    drop(member);
}

#[tokio::test]
async fn bad_role_names_and_passwords_are_refused_before_connecting() {
    let app = spawn_app().await;
    let role = TestRole::new(&app, "gp_bi_bad_");
    let cases = [
        ("an empty name", "", Some("pw")),
        ("a NUL in the name", "bi\0reader", Some("pw")),
        ("a reserved prefix", "pg_reader", Some("pw")),
        ("an empty password", role.name.as_str(), Some("")),
        ("a NUL in the password", role.name.as_str(), Some("p\0w")),
    ];
    for (description, name, password) in cases {
        let mut settings = role.settings(password);
        settings.role = name.to_owned();
        let error = goalpost::reporting::grant(&settings)
            .await
            .expect_err(description);
        assert!(
            matches!(
                error,
                GrantError::InvalidRole(_) | GrantError::InvalidPassword(_)
            ),
            "{description}: {error}"
        );
    }
    let created: bool =
        sqlx::query_scalar("select exists (select 1 from pg_roles where rolname = $1)")
            .bind(&role.name)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(!created);
}

#[tokio::test]
async fn every_view_and_column_is_commented_and_plainly_typed() {
    let app = spawn_app().await;
    let views = reporting_views(&app).await;
    let undocumented_views: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_class c
         where c.relnamespace = 'reporting'::regnamespace
           and coalesce(btrim(obj_description(c.oid, 'pg_class')), '') = ''",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        undocumented_views,
        Vec::<String>::new(),
        "views without a comment"
    );

    let columns: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "select c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod),
                col_description(c.oid, a.attnum)
         from pg_attribute a join pg_class c on c.oid = a.attrelid
         where c.relnamespace = 'reporting'::regnamespace and a.attnum > 0 and not a.attisdropped
         order by c.relname, a.attnum",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let plain = [
        "text",
        "uuid",
        "timestamp with time zone",
        "date",
        "double precision",
        "bigint",
        "boolean",
    ];
    let mut views_seen: Vec<&str> = Vec::new();
    for (view, column, column_type, comment) in &columns {
        assert!(
            comment
                .as_deref()
                .is_some_and(|comment| !comment.trim().is_empty()),
            "reporting.{view}.{column} has no comment"
        );
        assert!(
            plain.contains(&column_type.as_str()),
            "reporting.{view}.{column} is {column_type}, not a plain type BI tools read as is"
        );
        if !views_seen.contains(&view.as_str()) {
            views_seen.push(view);
        }
    }
    assert_eq!(views_seen.len(), views.len(), "every view has columns");
}

//! The `reporting` schema and `goalpost bi grant`: what the read-only role may
//! and may not do, that every view and column is documented, and that the
//! views hold what the API answers for the same data.

mod access;
mod contents;

use goalpost::config::BiGrantSettings;
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

use crate::helpers::TestApp;

/// A role created for one test, dropped when the test ends (also when it
/// fails): role names are cluster-wide, and a shared server must not collect
/// them.
pub struct TestRole {
    /// The role's name.
    pub name: String,
    /// Its password.
    pub password: String,
    /// The test database's URL as the administrator.
    admin_url: String,
}

impl TestRole {
    /// A fresh name with `prefix`; nothing is created yet.
    pub fn new(app: &TestApp, prefix: &str) -> TestRole {
        TestRole {
            name: format!("{prefix}{}", Uuid::new_v4().simple()),
            password: format!("pw '\\ {}", Uuid::new_v4().simple()),
            admin_url: app.database_url().to_owned(),
        }
    }

    /// Runs `goalpost bi grant` for this role against the test's database.
    pub async fn grant(&self) -> Result<(), goalpost::reporting::GrantError> {
        goalpost::reporting::grant(&self.settings(Some(&self.password))).await
    }

    /// The settings of `goalpost bi grant --role NAME [--password P]` against
    /// the test's database.
    pub fn settings(&self, password: Option<&str>) -> BiGrantSettings {
        BiGrantSettings {
            role: self.name.clone(),
            password: password.map(str::to_owned),
            data_dir: "./no-such-goalpost-data".into(),
            database_url: Some(self.admin_url.clone()),
        }
    }

    /// A connection to the test's database as this role.
    pub async fn connect(&self) -> PgConnection {
        let mut url = url::Url::parse(&self.admin_url).expect("the test database URL parses");
        url.set_username(&self.name)
            .expect("a URL with a host takes a user");
        url.set_password(Some(&self.password))
            .expect("a URL with a host takes a password");
        PgConnection::connect(url.as_str())
            .await
            .expect("connect as the reporting role")
    }
}

impl Drop for TestRole {
    fn drop(&mut self) {
        let name = self.name.clone();
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let admin_url = self.admin_url.clone();
        // Drop runs outside async code; the clean-up gets a runtime of its
        // own on a plain thread, as the test's may be shutting down.
        let cleanup = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the clean-up")
                .block_on(async move {
                    let mut admin = PgConnection::connect(&admin_url).await.ok()?;
                    let exists: bool = sqlx::query_scalar(
                        "select exists (select 1 from pg_roles where rolname = $1)",
                    )
                    .bind(&name)
                    .fetch_one(&mut admin)
                    .await
                    .ok()?;
                    if exists {
                        // Its grants and default privileges live in this
                        // database; the role can only go once they do.
                        admin
                            .execute(format!("drop owned by {quoted}").as_str())
                            .await
                            .ok()?;
                        admin
                            .execute(format!("drop role {quoted}").as_str())
                            .await
                            .ok()?;
                    }
                    admin.close().await.ok()
                })
        });
        let _ = cleanup.join();
    }
}

/// Every view of `reporting`, from the catalog, so a view added later is
/// covered by the tests that walk them.
pub async fn reporting_views(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar(
        "select c.relname::text from pg_class c
         where c.relnamespace = 'reporting'::regnamespace and c.relkind in ('v', 'm')
         order by c.relname",
    )
    .fetch_all(&app.pool)
    .await
    .expect("list the reporting views")
}

/// The SQLSTATE of a failed statement.
pub fn sqlstate(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(error) => error
            .code()
            .map(|code| code.into_owned())
            .unwrap_or_default(),
        other => panic!("expected a database error, got {other:?}"),
    }
}

//! The statements of `goalpost bi grant`: a login role that reads the views of
//! `reporting` and nothing else in goalpost's database.
//!
//! Reading works through views alone: a view reads its base tables with its
//! owner's privileges, so the role needs SELECT on the views and USAGE on
//! their schema, and no privilege on any table. Views added by later
//! migrations are covered by default privileges of the schema's owner (the
//! role that runs migrations), and running the command again grants on
//! whatever exists then. Writes are refused twice over: the role holds no
//! write privilege anywhere, and its sessions start read-only.

use sqlx::{Connection, PgConnection};

use super::GrantError;
use super::role::{Password, RoleName, quote_identifier};

/// Serialises concurrent grants, so two runs for the same new role do not
/// both try to create it.
const GRANT_LOCK: i64 = 0x676f_616c_6269_6772; // "goalbigr"

/// What a grant did, for the line printed afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Granted {
    /// The database granted on.
    pub database: String,
    /// Whether the role was created (false: it existed).
    pub created: bool,
    /// Whether the role can log in with a password (one was given now, or it
    /// had one before).
    pub has_password: bool,
    /// Whether every role may create objects in schema public (PostgreSQL
    /// before 15 allows it by default); the grant does not change what
    /// PUBLIC may do, so it says so instead.
    pub public_schema_writable: bool,
}

/// The attributes of an existing role that matter here.
#[derive(Debug, sqlx::FromRow)]
struct ExistingRole {
    rolsuper: bool,
    rolcreaterole: bool,
    rolcreatedb: bool,
    rolreplication: bool,
    rolbypassrls: bool,
    has_password: bool,
    is_current_user: bool,
    member_of: Option<String>,
    owns_objects: bool,
}

/// Creates `role` or takes the existing one, and leaves it able to read the
/// views of `reporting` in the connected database and nothing else there,
/// all in one transaction.
pub(super) async fn grant_read_only(
    connection: &mut PgConnection,
    role: &RoleName,
    password: Option<&Password>,
) -> Result<Granted, GrantError> {
    let mut transaction = connection.begin().await.map_err(GrantError::Sql)?;
    sqlx::query("select pg_advisory_xact_lock($1)")
        .bind(GRANT_LOCK)
        .execute(&mut *transaction)
        .await
        .map_err(GrantError::Sql)?;

    let schema_owner: Option<String> = sqlx::query_scalar(
        "select pg_get_userbyid(nspowner)::text from pg_namespace where nspname = 'reporting'",
    )
    .fetch_optional(&mut *transaction)
    .await
    .map_err(GrantError::Sql)?;
    let Some(schema_owner) = schema_owner else {
        return Err(GrantError::NoReportingSchema);
    };
    let (database, superuser): (String, bool) = sqlx::query_as(
        "select current_database()::text, (select rolsuper from pg_roles where rolname = current_user)",
    )
    .fetch_one(&mut *transaction)
    .await
    .map_err(GrantError::Sql)?;
    if superuser && password.is_some() {
        // The password is in the next statement's text: keep it out of the
        // server log, even if that statement fails.
        sqlx::raw_sql(
            "set local log_statement = 'none'; set local log_min_error_statement = 'panic'",
        )
        .execute(&mut *transaction)
        .await
        .map_err(GrantError::Sql)?;
    }

    let existing = existing_role(&mut transaction, role, superuser).await?;
    if let Some(existing) = &existing {
        refuse_unsuitable(role, existing)?;
    }
    let quoted = role.quoted();
    let password_clause = password
        .map(|password| format!(" password {}", password.quoted()))
        .unwrap_or_default();
    let create_or_alter = if existing.is_some() {
        format!("alter role {quoted} login{password_clause}")
    } else {
        format!(
            "create role {quoted} login nosuperuser nocreatedb nocreaterole noreplication \
             nobypassrls{password_clause}"
        )
    };
    let database_quoted = quote_identifier(&database);
    let owner_quoted = quote_identifier(&schema_owner);
    let mut statements = vec![
        create_or_alter,
        format!("alter role {quoted} set default_transaction_read_only = on"),
        format!("revoke all on database {database_quoted} from {quoted}"),
        format!("grant connect on database {database_quoted} to {quoted}"),
    ];
    // Whatever an existing role was given in this database before goes: it
    // is to read reporting and nothing else.
    let schemas: Vec<String> = sqlx::query_scalar(
        "select nspname::text from pg_namespace
         where nspname not like 'pg\\_%' and nspname <> 'information_schema'
         order by nspname",
    )
    .fetch_all(&mut *transaction)
    .await
    .map_err(GrantError::Sql)?;
    for schema in &schemas {
        let schema = quote_identifier(schema);
        statements.extend([
            format!("revoke all on all tables in schema {schema} from {quoted}"),
            format!("revoke all on all sequences in schema {schema} from {quoted}"),
            format!("revoke all on all functions in schema {schema} from {quoted}"),
            format!("revoke all on schema {schema} from {quoted}"),
        ]);
    }
    statements.extend([
        format!("grant usage on schema reporting to {quoted}"),
        format!("grant select on all tables in schema reporting to {quoted}"),
        format!(
            "alter default privileges for role {owner_quoted} in schema reporting \
             grant select on tables to {quoted}"
        ),
    ]);
    for statement in &statements {
        sqlx::raw_sql(statement)
            .execute(&mut *transaction)
            .await
            .map_err(GrantError::Sql)?;
    }

    let public_schema_writable: bool = sqlx::query_scalar(
        "select exists (select 1 from pg_namespace where nspname = 'public')
                and has_schema_privilege($1, 'public', 'create')",
    )
    .bind(role.as_str())
    .fetch_one(&mut *transaction)
    .await
    .map_err(GrantError::Sql)?;
    transaction.commit().await.map_err(GrantError::Sql)?;
    Ok(Granted {
        database,
        created: existing.is_none(),
        has_password: password.is_some() || existing.is_some_and(|existing| existing.has_password),
        public_schema_writable,
    })
}

async fn existing_role(
    connection: &mut PgConnection,
    role: &RoleName,
    superuser: bool,
) -> Result<Option<ExistingRole>, GrantError> {
    // Only a superuser may read pg_authid, where the password is; anyone
    // else is told nothing about it, and the role is taken as having one.
    let has_password = if superuser {
        "exists (select 1 from pg_authid a where a.oid = r.oid and a.rolpassword is not null)"
    } else {
        "true"
    };
    let query = format!(
        "select r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls,
                {has_password} as has_password,
                r.rolname = current_user as is_current_user,
                (select string_agg(quote_ident(g.rolname), ', ' order by g.rolname)
                 from pg_auth_members m join pg_roles g on g.oid = m.roleid
                 where m.member = r.oid) as member_of,
                exists (select 1 from pg_class c where c.relowner = r.oid)
                    or exists (select 1 from pg_namespace n where n.nspowner = r.oid)
                    or exists (select 1 from pg_database d
                               where d.datname = current_database() and d.datdba = r.oid)
                    as owns_objects
         from pg_roles r
         where r.rolname = $1"
    );
    sqlx::query_as(&query)
        .bind(role.as_str())
        .fetch_optional(connection)
        .await
        .map_err(GrantError::Sql)
}

/// An existing role that holds more than a read-only role may (cluster-wide
/// attributes, memberships, objects of its own) is refused rather than
/// stripped: those reach beyond goalpost's database, and may be exactly what
/// someone relies on.
fn refuse_unsuitable(role: &RoleName, existing: &ExistingRole) -> Result<(), GrantError> {
    let mut reasons = Vec::new();
    if existing.is_current_user {
        reasons.push("it is the role this command connects as".to_owned());
    }
    for (held, attribute) in [
        (existing.rolsuper, "SUPERUSER"),
        (existing.rolcreaterole, "CREATEROLE"),
        (existing.rolcreatedb, "CREATEDB"),
        (existing.rolreplication, "REPLICATION"),
        (existing.rolbypassrls, "BYPASSRLS"),
    ] {
        if held {
            reasons.push(format!("it has {attribute}"));
        }
    }
    if let Some(groups) = &existing.member_of {
        reasons.push(format!(
            "it is a member of {groups} and inherits their privileges"
        ));
    }
    if existing.owns_objects {
        reasons.push("it owns objects in this database".to_owned());
    }
    if reasons.is_empty() {
        return Ok(());
    }
    Err(GrantError::UnsuitableRole {
        role: role.to_string(),
        reasons: reasons.join("; "),
    })
}

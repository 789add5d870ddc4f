//! The ceiling goalpost's load is measured against: the same rows written
//! to a PostgreSQL binary COPY file (not timed) and loaded with
//! `psql \copy … (format binary)` into a bare table of the same shape as
//! goalpost's observation table (series id, time, value, source id,
//! recorded_at; primary key (series id, time)), without partitions or
//! rollups. The file is encoded by the service's own COPY encoder, so both
//! loads send PostgreSQL the very same bytes per row.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use goalpost::observations::ingest::StagedRow;
use goalpost::observations::ingest::copy::{ROW_COLUMNS, encode_rows};
use sqlx::{Executor, PgConnection};
use tokio::process::Command;
use tokio::time::Instant;

use crate::database::checkpoint;
use crate::dataset::{Plan, Rows};
use crate::error::{Context, ContextError, Result};
use crate::report::thousands;

/// Rows encoded per call of the service's encoder while the file is
/// written, so the whole file is never held in memory.
const ENCODE_ROWS: usize = 100_000;
/// The binary COPY trailer, a field count of −1.
const COPY_TRAILER: [u8; 2] = (-1_i16).to_be_bytes();

/// Fails early, with a hint, when psql cannot be run.
pub async fn check_psql() -> Result<()> {
    match Command::new("psql").arg("--version").output().await {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(format!(
            "`psql --version` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Err(
            "psql is not on PATH; the baseline needs it (Debian/Ubuntu: apt-get install postgresql-client)"
                .into(),
        ),
        Err(error) => Err(ContextError {
            context: "run `psql --version`".into(),
            source: error.into(),
        }
        .into()),
    }
}

/// Loads the same rows with `psql \copy … (format binary)` into a bare table
/// and returns the seconds psql took.
pub async fn copy_baseline(
    db: &mut PgConnection,
    database_url: &str,
    plan: &Arc<Plan>,
    work_dir: &Path,
) -> Result<f64> {
    db.execute(
        "create table bench_bare_observation (
             series_id bigint not null,
             observed_at timestamptz not null,
             value double precision not null,
             source_id integer not null,
             recorded_at timestamptz not null default now(),
             metric_id smallint not null,
             primary key (series_id, observed_at)
         )",
    )
    .await
    .context("create table bench_bare_observation")?;
    // The service's second index, so both loads maintain the same ones.
    db.execute(
        "create index on bench_bare_observation (metric_id, observed_at) include (series_id, value)",
    )
    .await
    .context("index bench_bare_observation")?;

    let path = work_dir.join("observations.pgcopy");
    progress!("writing the binary COPY file {}", path.display());
    let bytes = {
        let plan = Arc::clone(plan);
        let target = path.clone();
        tokio::task::spawn_blocking(move || write_copy_file(&target, &plan))
            .await
            .context("the COPY file writer")?
            .with_context(|| format!("write {}", path.display()))?
    };
    progress!(
        "loading {} rows ({} MiB) with psql \\copy",
        thousands(plan.row_count()),
        bytes / (1024 * 1024)
    );

    checkpoint(db).await;
    let seconds = run_psql_copy(database_url, &path).await;
    let removed = std::fs::remove_file(&path).with_context(|| format!("remove {}", path.display()));
    let seconds = seconds?;
    removed?;

    let stored: i64 = sqlx::query_scalar("select count(*) from bench_bare_observation")
        .fetch_one(&mut *db)
        .await
        .context("count the rows of bench_bare_observation")?;
    if u64::try_from(stored).ok() != Some(plan.row_count()) {
        return Err(format!(
            "bench_bare_observation holds {stored} rows after \\copy, expected {}",
            plan.row_count()
        )
        .into());
    }
    Ok(seconds)
}

/// Writes every row of `plan` in PostgreSQL's binary COPY format, in the
/// column order of the `\copy` column list (the service's `ROW_COLUMNS`),
/// and returns the file's size.
///
/// The encoder frames each call's rows with the format's header and
/// trailer; the file is one header, the rows of every call, one trailer.
fn write_copy_file(path: &Path, plan: &Arc<Plan>) -> io::Result<u64> {
    let framing = encode_rows(&[]);
    let header_len = framing
        .len()
        .checked_sub(COPY_TRAILER.len())
        .filter(|_| framing.ends_with(&COPY_TRAILER))
        .ok_or_else(|| io::Error::other("the COPY encoder's framing has no trailer"))?;
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    out.write_all(&framing[..header_len])?;
    let mut bytes = header_len;
    let mut rows = Rows::new(Arc::clone(plan));
    let mut staged = Vec::with_capacity(ENCODE_ROWS);
    loop {
        staged.clear();
        for row in rows.by_ref().take(ENCODE_ROWS) {
            staged.push(StagedRow {
                // The bare table's series ids count from 1 in plan order.
                series_id: i64::try_from(row.series + 1).map_err(io::Error::other)?,
                metric_id: i16::try_from(row.metric + 1).map_err(io::Error::other)?,
                observed_at_micros: row.observed_at,
                value: row.value,
                source_id: 1,
            });
        }
        if staged.is_empty() {
            break;
        }
        let encoded = encode_rows(&staged);
        let body = &encoded[header_len..encoded.len() - COPY_TRAILER.len()];
        out.write_all(body)?;
        bytes += body.len();
    }
    out.write_all(&COPY_TRAILER)?;
    out.flush()?;
    Ok((bytes + COPY_TRAILER.len()) as u64)
}

/// Runs `psql \copy` of the binary file into the bare table and returns how
/// long psql took, connection included (a few milliseconds).
async fn run_psql_copy(database_url: &str, path: &Path) -> Result<f64> {
    let (url, password) = split_password(database_url)?;
    let file = path
        .to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))?
        .replace('\'', "''");
    let mut command = Command::new("psql");
    // -X: no ~/.psqlrc, so nothing of the user's set-up changes the figure.
    command.arg("-X").arg("-q").arg("-v").arg("ON_ERROR_STOP=1");
    command.arg("-c").arg(format!(
        "\\copy bench_bare_observation {ROW_COLUMNS} \
         from '{file}' with (format binary)"
    ));
    command.arg(url);
    // The password goes through the environment, not argv, where any user
    // of the machine could read it.
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    command.stdin(Stdio::null()).stdout(Stdio::null());
    let started = Instant::now();
    let output = command.output().await.context("run psql")?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(format!(
            "psql \\copy failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    Ok(seconds)
}

/// The URL without its password, and the password, decoded.
fn split_password(database_url: &str) -> Result<(String, Option<String>)> {
    let mut url = url::Url::parse(database_url).context("the database URL is not a URL")?;
    let password = url.password().map(percent_decode).transpose()?;
    if password.is_some() {
        url.set_password(None)
            .map_err(|()| "cannot remove the password from the database URL")?;
    }
    Ok((url.into(), password))
}

/// Decodes `%XX` escapes, as URL user info carries them.
fn percent_decode(text: &str) -> Result<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .ok_or("a truncated %-escape in the database URL")?;
            out.push(u8::from_str_radix(hex, 16).context("a bad %-escape in the database URL")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).context("the database URL's password is not UTF-8")
}

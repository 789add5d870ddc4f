//! PostgreSQL's binary COPY format for observation rows, and the COPY itself.

use chrono::DateTime;
use sqlx::PgConnection;

use super::StagedRow;
use super::rollup::{DAY_MICROS, DailyPartials};

/// Microseconds between the Unix epoch and PostgreSQL's epoch, 2000-01-01.
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// The binary COPY header: signature, flags, header extension length.
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// The binary COPY trailer.
const COPY_TRAILER: &[u8] = &[0xff, 0xff];

/// The columns [`encode_rows`] writes, in order, for a COPY's column list.
pub const ROW_COLUMNS: &str = "(series_id, observed_at, value, source_id, metric_id)";

/// Encodes rows in PostgreSQL's binary COPY format: a header, then per row a
/// field count and each field as a length and its big-endian bytes. Five
/// fixed-size fields make this simpler than pulling in a COPY encoder crate.
pub fn encode_rows(rows: &[StagedRow]) -> Vec<u8> {
    const ROW_BYTES: usize = 2 + 4 * 5 + 8 * 3 + 4 + 2;
    let mut buffer =
        Vec::with_capacity(COPY_HEADER.len() + rows.len() * ROW_BYTES + COPY_TRAILER.len());
    buffer.extend_from_slice(COPY_HEADER);
    for row in rows {
        buffer.extend_from_slice(&5_i16.to_be_bytes());
        buffer.extend_from_slice(&8_i32.to_be_bytes());
        buffer.extend_from_slice(&row.series_id.to_be_bytes());
        buffer.extend_from_slice(&8_i32.to_be_bytes());
        buffer.extend_from_slice(&(row.observed_at_micros - POSTGRES_EPOCH_MICROS).to_be_bytes());
        buffer.extend_from_slice(&8_i32.to_be_bytes());
        buffer.extend_from_slice(&row.value.to_be_bytes());
        buffer.extend_from_slice(&4_i32.to_be_bytes());
        buffer.extend_from_slice(&row.source_id.to_be_bytes());
        buffer.extend_from_slice(&2_i32.to_be_bytes());
        buffer.extend_from_slice(&row.metric_id.to_be_bytes());
    }
    buffer.extend_from_slice(COPY_TRAILER);
    buffer
}

/// Encodes per-(series, UTC day) aggregates in the binary COPY format, in
/// the column order of the deltas: `observation_daily`'s, less the metric,
/// which the merge takes from the series.
pub(super) fn encode_partials(partials: &DailyPartials) -> Vec<u8> {
    const ROW_BYTES: usize = 2 + 9 * 4 + 8 * 9;
    let mut buffer =
        Vec::with_capacity(COPY_HEADER.len() + partials.len() * ROW_BYTES + COPY_TRAILER.len());
    buffer.extend_from_slice(COPY_HEADER);
    let postgres_epoch_days = POSTGRES_EPOCH_MICROS / DAY_MICROS;
    for (&(series_id, day), partial) in partials {
        buffer.extend_from_slice(&9_i16.to_be_bytes());
        let mut field = |bytes: &[u8]| {
            buffer.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
            buffer.extend_from_slice(bytes);
        };
        field(&series_id.to_be_bytes());
        // A date is an int4 of days since 2000-01-01.
        field(&((day - postgres_epoch_days) as i32).to_be_bytes());
        field(&partial.sum.to_be_bytes());
        field(&partial.count.to_be_bytes());
        field(&partial.min.to_be_bytes());
        field(&partial.max.to_be_bytes());
        field(&partial.last_value.to_be_bytes());
        field(&(partial.last_at.timestamp_micros() - POSTGRES_EPOCH_MICROS).to_be_bytes());
        field(&(partial.first_at.timestamp_micros() - POSTGRES_EPOCH_MICROS).to_be_bytes());
    }
    buffer.extend_from_slice(COPY_TRAILER);
    buffer
}

/// Runs the COPY `statement` with an encoded `buffer` as its data.
async fn copy_in(
    conn: &mut PgConnection,
    statement: &str,
    buffer: Vec<u8>,
) -> Result<(), sqlx::Error> {
    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(buffer).await?;
    copy.finish().await?;
    Ok(())
}

/// COPYs rows with `statement` (into series, time, value, source).
pub(super) async fn copy_rows(
    conn: &mut PgConnection,
    statement: &str,
    rows: &[StagedRow],
) -> Result<(), sqlx::Error> {
    copy_in(conn, statement, encode_rows(rows)).await
}

/// COPYs daily aggregates with `statement` (into the deltas, shaped like
/// `observation_daily` less its metric).
pub(super) async fn copy_partials(
    conn: &mut PgConnection,
    statement: &str,
    partials: &DailyPartials,
) -> Result<(), sqlx::Error> {
    copy_in(conn, statement, encode_partials(partials)).await
}

/// The yearly partitions the migrations create.
const PARTITION_YEARS: std::ops::RangeInclusive<i32> = 1970..=2100;

/// The COPY statement for a batch: straight into its year's partition when
/// it lies in one (the usual case), which spares PostgreSQL routing each row;
/// else into the partitioned table.
pub(super) fn copy_target(rows: &[StagedRow]) -> String {
    let year_of = |row: &StagedRow| {
        DateTime::from_timestamp_micros(row.observed_at_micros)
            .map(|time| chrono::Datelike::year(&time))
    };
    let first_year = rows.first().and_then(year_of);
    let table = match first_year {
        Some(year)
            if PARTITION_YEARS.contains(&year)
                && rows.iter().all(|row| year_of(row) == Some(year)) =>
        {
            format!("observation_y{year}")
        }
        _ => "observation".to_owned(),
    };
    format!("copy {table} {ROW_COLUMNS} from stdin (format binary)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_encode_as_five_big_endian_fields() {
        let row = StagedRow {
            series_id: 7,
            metric_id: 9,
            observed_at_micros: POSTGRES_EPOCH_MICROS + 1,
            value: 1.5,
            source_id: 3,
        };
        let buffer = encode_rows(&[row]);
        let body = &buffer[COPY_HEADER.len()..buffer.len() - COPY_TRAILER.len()];
        assert_eq!(body.len(), 2 + 4 * 5 + 8 * 3 + 4 + 2);
        assert_eq!(&body[..2], &[0, 5]);
        assert_eq!(&body[body.len() - 2..], &9_i16.to_be_bytes());
        assert_eq!(&body[6..14], &7_i64.to_be_bytes());
        assert_eq!(
            &body[18..26],
            &1_i64.to_be_bytes(),
            "timestamps count from 2000-01-01"
        );
        assert_eq!(&body[30..38], &1.5_f64.to_be_bytes());
        assert_eq!(&body[42..46], &3_i32.to_be_bytes());
    }
}

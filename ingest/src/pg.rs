//! The ministry database as a source: each feed of data-contract §1 is read from the PostgreSQL table
//! of the same name. Rows are streamed out with `COPY … TO STDOUT (FORMAT csv)` into a spool file on
//! disk (never held whole in memory) and then go through the very CSV reader the file pulls use, so a
//! pull from the database and the same pull as files load identical rows.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use futures::{StreamExt as _, pin_mut};
use tokio_postgres::NoTls;

use crate::IngestError;
use crate::feeds::{self, Feed};
use crate::read::{self, Read};
use khlang_warehouse::office::sql_ident;

/// A PostgreSQL source: `postgres://USER[:PASSWORD]@HOST:PORT/DB[?schema=S]`. Without a password in
/// the URL, `PGPASSWORD` is used.
#[derive(Clone)]
pub struct PgSource {
    config: tokio_postgres::Config,
    schema: String,
    /// The URL without its password, for messages and the run log.
    shown: String,
}

impl std::fmt::Debug for PgSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

pub fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// The error and its causes in one line (tokio-postgres puts the server's words in the cause).
fn message(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

impl PgSource {
    pub fn parse(url: &str) -> Result<PgSource, IngestError> {
        let bad = |message: String| IngestError::Setting { setting: "--from".into(), message };
        let mut u = url::Url::parse(url).map_err(|e| bad(format!("'{url}' is not a PostgreSQL URL: {e}")))?;
        let mut schema = String::from("public");
        let mut rest: Vec<(String, String)> = Vec::new();
        for (k, v) in u.query_pairs() {
            if k == "schema" {
                schema = v.to_string();
            } else {
                rest.push((k.to_string(), v.to_string()));
            }
        }
        if rest.is_empty() {
            u.set_query(None);
        } else {
            u.query_pairs_mut().clear().extend_pairs(rest);
        }
        let mut config: tokio_postgres::Config = u.as_str().parse().map_err(|e: tokio_postgres::Error| bad(format!("'{}' is not a PostgreSQL URL: {}", shown(&u), message(&e))))?;
        if config.get_password().is_none()
            && let Ok(p) = std::env::var("PGPASSWORD") {
                config.password(p);
            }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(15));
        }
        config.application_name("khlang ingest");
        let mut s = u.clone();
        s.set_query(Some(&format!("schema={schema}")));
        Ok(PgSource { config, schema, shown: shown(&s) })
    }

    pub fn shown(&self) -> &str {
        &self.shown
    }

    fn err(&self, message: String) -> IngestError {
        IngestError::Source { location: self.shown.clone(), message }
    }

    async fn connect(&self) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), IngestError> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(|e| self.err(format!("cannot connect: {}", message(&e))))?;
        let conn = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "PostgreSQL connection ended with an error");
            }
        });
        Ok((client, conn))
    }

    /// Reads every feed. Each feed's rows are spooled under `spool` and read back as CSV.
    pub async fn read_all(&self, spool: &Path) -> Result<Vec<(Feed, Read)>, IngestError> {
        let (client, conn) = self.connect().await?;
        // One snapshot of the whole database for all feeds: a consistent pull even while the
        // ministry system keeps writing.
        const SETTINGS: &str = "SET DateStyle = 'ISO, YMD'; SET client_encoding = 'UTF8'; BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
        client.batch_execute(SETTINGS).await.map_err(|e| self.err(message(&e)))?;
        // A second connection in the same snapshot reads the second half of each table, so the
        // server sends a feed on two cores (its COPY of the students was most of a national pull).
        let snapshot: String = client.query_one("SELECT pg_export_snapshot()", &[]).await.map_err(|e| self.err(message(&e)))?.get(0);
        let (second, second_conn) = self.connect().await?;
        second
            .batch_execute(&format!("{SETTINGS}; SET TRANSACTION SNAPSHOT {}", khlang_warehouse::office::sql_literal(&snapshot)))
            .await
            .map_err(|e| self.err(message(&e)))?;
        let mut plans = Vec::new();
        // Check every table first, so a missing table or column stops the run before any rows move.
        for feed in feeds::ALL {
            plans.push((feed, self.plan(&client, &feed).await?));
        }
        // Each feed is parsed on another thread while the server sends the next one: the server's
        // COPY and our CSV reading then share the two cores instead of taking turns.
        let mut parsing = Vec::new();
        for (feed, select) in plans {
            let path = spool.join(format!("{}.csv", feed.name));
            let (rows, parts) = self.copy_halves(&client, &second, feed.name, &select, &path).await?;
            let name = format!("{}.{}", self.schema, feed.name);
            parsing.push(tokio::task::spawn_blocking(move || {
                let df = read::read_spooled(&feed, &path, &name);
                tracing::info!(feed = feed.name, table = name.as_str(), rows, parts, "read from PostgreSQL");
                std::fs::remove_file(&path).ok();
                df.map(|df| (feed, df))
            }));
        }
        let mut out = Vec::new();
        for p in parsing {
            out.push(p.await.map_err(|e| self.err(format!("reading a spooled feed failed: {e}")))??);
        }
        second.batch_execute("COMMIT").await.map_err(|e| self.err(message(&e)))?;
        client.batch_execute("COMMIT").await.map_err(|e| self.err(message(&e)))?;
        drop((client, second));
        conn.await.ok();
        second_conn.await.ok();
        Ok(out)
    }

    /// Spools a feed's rows to `path` (CSV with a header), the table's pages split in two halves
    /// read at once, the first by `client` and the second by `second` (in the same snapshot), the
    /// second appended to the first: the rows in the order one scan of the table gives. A view, a
    /// partitioned table or a table of one page is read whole by `client`. Returns the rows and
    /// the parts they were read in.
    async fn copy_halves(&self, client: &tokio_postgres::Client, second: &tokio_postgres::Client, table: &str, select: &str, path: &Path) -> Result<(u64, u8), IngestError> {
        let pages: i64 = client
            .query_opt(
                "SELECT pg_relation_size(c.oid) / current_setting('block_size')::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'r'",
                &[&self.schema, &table],
            )
            .await
            .map_err(|e| self.err(message(&e)))?
            .map_or(0, |r| r.get(0));
        if pages < 2 {
            return Ok((self.copy_to(client, select, path, true).await?, 1));
        }
        let half = pages / 2;
        let rest = path.with_extension("csv.rest");
        let (low, high) = (format!("{select} WHERE ctid < '({half},0)'::tid"), format!("{select} WHERE ctid >= '({half},0)'::tid"));
        let (first, after) = tokio::join!(self.copy_to(client, &low, path, true), self.copy_to(second, &high, &rest, false));
        let rows = first? + after?;
        let werr = write_err(path);
        let mut to = std::fs::OpenOptions::new().append(true).open(path).map_err(werr)?;
        let mut from = std::fs::File::open(&rest).map_err(werr)?;
        std::io::copy(&mut from, &mut to).map_err(werr)?;
        std::fs::remove_file(&rest).ok();
        Ok((rows, 2))
    }

    /// The SELECT that reads a feed's table, after checking its columns and their types.
    async fn plan(&self, client: &tokio_postgres::Client, feed: &Feed) -> Result<String, IngestError> {
        let rows = client
            .query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
                &[&self.schema, &feed.name],
            )
            .await
            .map_err(|e| self.err(message(&e)))?;
        let table = format!("{}.{}", self.schema, feed.name);
        if rows.is_empty() {
            return Err(self.err(format!("there is no table {table} (feed {} of data-contract §1), or this user may not read it", feed.name)));
        }
        let mut select = Vec::new();
        let mut seen = Vec::new();
        for r in rows {
            let (column, data_type): (String, String) = (r.get(0), r.get(1));
            let Some(canonical) = feed.canonical(&column) else {
                tracing::warn!(table = table.as_str(), column = column.as_str(), "ignoring a column that is not in the contract");
                continue;
            };
            if let Some(expected) = type_fault(canonical, &data_type) {
                return Err(IngestError::ColumnType { table: format!("PostgreSQL table {table}"), column: column.clone(), found: data_type, expected: expected.into() });
            }
            seen.push(canonical);
            select.push(format!("{}::text AS \"{canonical}\"", sql_ident(&column)));
        }
        for c in feed.columns.iter().filter(|c| c.required) {
            if !seen.contains(&c.name) {
                return Err(IngestError::MissingColumn { file: format!("PostgreSQL table {table}"), column: c.name.into(), thai: c.thai.into() });
            }
        }
        Ok(format!("SELECT {} FROM {}.{}", select.join(", "), sql_ident(&self.schema), sql_ident(feed.name)))
    }

    /// Spools the rows of `select` to `path` as CSV (with a header line when `header`); returns the rows.
    async fn copy_to(&self, client: &tokio_postgres::Client, select: &str, path: &Path, header: bool) -> Result<u64, IngestError> {
        let stream = client.copy_out(&format!("COPY ({select}) TO STDOUT (FORMAT csv, HEADER {header})")).await.map_err(|e| self.err(message(&e)))?;
        pin_mut!(stream);
        let werr = write_err(path);
        let file = std::fs::File::create(path).map_err(werr)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut lines = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.err(message(&e)))?;
            lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
            w.write_all(&chunk).map_err(werr)?;
        }
        w.flush().map_err(werr)?;
        Ok(lines.saturating_sub(u64::from(header)))
    }
}

/// A spool file that cannot be written, by its path.
fn write_err(path: &Path) -> impl Fn(std::io::Error) -> IngestError + Copy + '_ {
    move |e| IngestError::Write { path: path.display().to_string(), message: e.to_string() }
}

fn shown(u: &url::Url) -> String {
    let mut s = u.clone();
    let _ = s.set_password(None);
    s.to_string()
}

const TEXT: &[&str] = &["text", "character varying", "character", "citext", "name"];
const NUMBER: &[&str] = &["smallint", "integer", "bigint", "numeric", "real", "double precision"];
const DATE: &[&str] = &["date", "timestamp without time zone", "timestamp with time zone"];

/// What is wrong with a column's database type, if anything. Text is always accepted (the checks of
/// the load judge the values); a typed column must have a type its values can be.
fn type_fault(column: &str, data_type: &str) -> Option<&'static str> {
    if TEXT.contains(&data_type) {
        return None;
    }
    let (ok, expected): (&[&[&str]], &str) = match column {
        "snapshot_date" | "birth_date" | "as_of_date" | "appointed_date" | "transaction_date" | "last_checked" => (&[DATE], "a date or text"),
        "academic_year" | "fiscal_year" | "built_year" | "classroom" | "disability" | "weight_kg" | "height_cm" | "salary_baht" | "allocated_baht"
        | "disbursed_baht" | "examinees" | "mean_score" | "area_m2" | "latitude" | "longitude" => (&[NUMBER], "a number or text"),
        "is_dltv" | "disadvantaged" | "installed" | "working" => (&[&["boolean", "smallint", "integer"]], "a boolean, 0/1 or text"),
        // Codes and names: a number type would drop leading zeros and the G of non-Thai IDs.
        _ => (&[], "text"),
    };
    if ok.iter().any(|set| set.contains(&data_type)) { None } else { Some(expected) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_keeps_schema_and_hides_password() -> Result<(), IngestError> {
        let s = PgSource::parse("postgres://dmc:s3cret@db.example:5433/ministry?schema=dmc")?;
        assert_eq!(s.schema, "dmc");
        assert!(!s.shown().contains("s3cret"), "{}", s.shown());
        assert!(s.shown().contains("db.example:5433/ministry"), "{}", s.shown());
        assert_eq!(s.config.get_password(), Some(&b"s3cret"[..]));
        assert!(PgSource::parse("postgres://x@h/db?bogus_option=1").is_err());
        Ok(())
    }

    #[test]
    fn column_types() {
        assert_eq!(type_fault("birth_date", "date"), None);
        assert_eq!(type_fault("birth_date", "text"), None);
        assert_eq!(type_fault("birth_date", "integer"), Some("a date or text"));
        assert_eq!(type_fault("citizen_id", "bigint"), Some("text"));
        assert_eq!(type_fault("salary_baht", "numeric"), None);
        assert_eq!(type_fault("is_dltv", "boolean"), None);
    }
}

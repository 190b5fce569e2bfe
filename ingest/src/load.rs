//! One ingest run: read every feed, check everything, and only then write: each table one Delta
//! commit, bad rows to `rejected_rows`, the derived summary, the run to `ingest_runs`, and last the
//! warehouse commit that makes all of it visible at once. Any bad input stops the run before the
//! first write; a run that dies while writing is rolled back by the next one (readers never saw it).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::record_batch::RecordBatch;
use chrono::Utc;
use polars::prelude::*;

use crate::IngestError;
use crate::feeds::{self, Feed, Summary, WriteRule};
use crate::pg::{self, PgSource};
use crate::read::{self, FILE_COL, LINE_COL, Read};
use crate::{budget, personnel, rows, scores, students};
use crate::to_arrow;
use crate::transform::{self, Checked, Context, DETAIL_COL, RAW_COL, RULE_COL};
use khlang_warehouse::fault::point as fault_point;
use khlang_warehouse::{Batches, Secret, Warehouse, WriteMode, WriterLock, derive, schema};

#[derive(Debug, Clone, serde::Serialize)]
pub struct FeedReport {
    pub feed: String,
    pub table: String,
    pub files: usize,
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_rejected: u64,
    pub table_version: Option<u64>,
    /// False when the rows were exactly those already in the table: no new version was made.
    pub changed: bool,
    /// What the load replaced: `snapshot_date 2026-06-10`, `fiscal_year 2569`, or `all`.
    pub scope: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct IngestReport {
    pub run_id: String,
    pub source: String,
    pub feeds: Vec<FeedReport>,
    pub summary_version: Option<u64>,
    /// The warehouse commit that published this load.
    pub warehouse_commit: u64,
}

/// Where a pull comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A folder of feed files.
    Folder(PathBuf),
    /// The ministry database.
    Postgres(Box<PgSource>),
}

impl Source {
    /// A `postgres://` URL or a folder path.
    pub fn parse(s: &str) -> Result<Source, IngestError> {
        if pg::is_postgres_url(s) { Ok(Source::Postgres(Box::new(PgSource::parse(s)?))) } else { Ok(Source::Folder(PathBuf::from(s))) }
    }

    /// As shown in messages and the run log (never with a password).
    pub fn shown(&self) -> String {
        match self {
            Source::Folder(p) => p.display().to_string(),
            Source::Postgres(p) => p.shown().to_string(),
        }
    }
}

/// A feed's checks against the reference feeds.
type Check = fn(DataFrame, &Context) -> Result<Checked, IngestError>;

struct Prepared {
    feed: &'static Feed,
    files: usize,
    rows_read: u64,
    good: Vec<RecordBatch>,
    /// The good rows made as they are written instead (the students), when not in `good`.
    made: Option<Arc<dyn Batches>>,
    bad: DataFrame,
    mode: WriteMode,
    /// Snapshot dates this feed touches (students and personnel), for the summary.
    dates: Vec<String>,
    scope: String,
}

fn terr(feed: &str) -> impl Fn(PolarsError) -> IngestError + '_ {
    move |e| IngestError::Transform { feed: feed.to_string(), message: e.to_string() }
}

fn distinct_text(feed: &str, df: &DataFrame, column: &str) -> Result<Vec<String>, IngestError> {
    // Distinct first, text after: formatting millions of dates was a measurable part of a load.
    let s = df.column(column).and_then(|c| c.unique()).and_then(|c| c.cast(&DataType::String)).map_err(terr(feed))?;
    let mut set = BTreeSet::new();
    for v in s.str().map_err(terr(feed))?.iter().flatten() {
        set.insert(v.to_string());
    }
    Ok(set.into_iter().collect())
}

fn in_list(column: &str, values: &[String]) -> WriteMode {
    if values.is_empty() {
        // Nothing good in this feed: nothing to replace.
        return WriteMode::Append;
    }
    WriteMode::ReplaceWhere(format!("{column} IN ({})", values.iter().map(|v| khlang_warehouse::office::sql_literal(v)).collect::<Vec<_>>().join(", ")))
}

fn prepare(feed: &'static Feed, files: usize, rows_read: u64, checked: Checked, secret: &Secret) -> Result<Prepared, IngestError> {
    let def = schema::table(feed.table).ok_or_else(|| IngestError::Transform { feed: feed.name.into(), message: format!("no table {}", feed.table) })?;
    let Checked { good, bad } = checked;
    // The values of the scope column, found once: for the replaced scope, the run log and the summary.
    let values = match feed.write.scope() {
        Some(c) => distinct_text(feed.name, &good, c)?,
        None => vec![],
    };
    let feed_name = feed.name;
    let rows = good.height();
    let cols = to_arrow::columns(feed_name, &good)?;
    // Citizen IDs become keyed hashes here and go no further.
    let mut extra: Vec<(String, ArrayRef)> = Vec::new();
    if let (Some((_, ids)), Some(key_column)) = (cols.iter().find(|(n, _)| n == "citizen_id"), feed.key_column) {
        let ids = to_arrow::strings(feed_name, ids)?;
        extra.push((key_column.to_string(), keyed_hashes(&ids, secret)?));
    }
    let cols: Vec<(String, ArrayRef)> = cols.into_iter().filter(|(n, _)| n != "citizen_id").collect();
    let good = to_arrow::conform(feed_name, &def.schema, &cols, &extra, rows)?;
    Ok(with_write(feed, files, rows_read, vec![good], bad, values))
}

/// A feed's checked rows with what the load does with them: the write (which scope it replaces,
/// from `values`, the scope column's values among the good rows), and the summary snapshots.
fn with_write(feed: &'static Feed, files: usize, rows_read: u64, good: Vec<RecordBatch>, bad: DataFrame, values: Vec<String>) -> Prepared {
    let scope = match feed.write.scope() {
        Some(c) => format!("{c} {}", values.join(", ")),
        None => "all".to_string(),
    };
    let keys = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    let mode = match feed.write {
        WriteRule::Replace { scope } => in_list(scope, &values),
        WriteRule::UpsertWithin { scope, keys: k } => match in_list(scope, &values) {
            WriteMode::ReplaceWhere(within) => WriteMode::Upsert { scope: Some(within), keys: keys(k) },
            other => other,
        },
        WriteRule::Upsert { keys: k } => WriteMode::Upsert { scope: None, keys: keys(k) },
        WriteRule::Overwrite => WriteMode::Overwrite,
    };
    // A feed's dates also decide which summary snapshots to rebuild.
    let dates = if feed.summary == Summary::None { vec![] } else { values };
    Prepared { feed, files, rows_read, good, made: None, bad, mode, dates, scope }
}

/// HMAC of every ID, split across the cores (it is the costliest per-row step of a load), written
/// straight into one string buffer per core.
fn keyed_hashes(ids: &StringArray, secret: &Secret) -> Result<ArrayRef, IngestError> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).max(1);
    let chunk = ids.len().div_ceil(threads).max(1);
    let hasher = secret.hasher();
    let parts: Vec<Option<StringArray>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..ids.len())
            .step_by(chunk)
            .map(|start| {
                let end = (start + chunk).min(ids.len());
                let hasher = hasher.clone();
                s.spawn(move || {
                    let mut b = arrow::array::StringBuilder::with_capacity(end - start, (end - start) * 32);
                    let mut hex = [0u8; 32];
                    for i in start..end {
                        if ids.is_null(i) {
                            b.append_null();
                        } else {
                            hasher.hash_hex(ids.value(i), &mut hex);
                            b.append_value(std::str::from_utf8(&hex).unwrap_or_default());
                        }
                    }
                    b.finish()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().ok()).collect()
    });
    let parts: Vec<StringArray> = parts.into_iter().collect::<Option<_>>().ok_or_else(|| IngestError::Transform { feed: "keyed hashes".into(), message: "a hashing thread failed".into() })?;
    if parts.is_empty() {
        return Ok(Arc::new(StringArray::from(Vec::<Option<&str>>::new())));
    }
    let refs: Vec<&dyn Array> = parts.iter().map(|a| a as &dyn Array).collect();
    arrow::compute::concat(&refs).map_err(|e| IngestError::Transform { feed: "keyed hashes".into(), message: e.to_string() })
}

fn rejected_batch(run_id: &str, p: &Prepared) -> Result<RecordBatch, IngestError> {
    let feed = p.feed.name;
    let def = schema::table("rejected_rows").ok_or_else(|| IngestError::Transform { feed: feed.into(), message: "no rejected_rows table".into() })?;
    let n = p.bad.height();
    let cols = to_arrow::columns(feed, &p.bad)?;
    let renamed: Vec<(String, ArrayRef)> = cols
        .into_iter()
        .map(|(name, a)| {
            let name = match name.as_str() {
                FILE_COL => "source_file".to_string(),
                LINE_COL => "line_no".to_string(),
                RULE_COL => "rule".to_string(),
                DETAIL_COL => "detail".to_string(),
                RAW_COL => "raw".to_string(),
                _ => name,
            };
            (name, a)
        })
        .collect();
    // The snapshot a rejected students row belongs to: its own snapshot_date when that parses, else
    // the snapshot its file is named for.
    let snapshots: Vec<Option<i32>> = if p.feed.named_by_snapshot {
        let files = p.bad.column(FILE_COL).and_then(|c| c.str().cloned()).map_err(terr(feed))?;
        let raws = p.bad.column(RAW_COL).and_then(|c| c.str().cloned()).map_err(terr(feed))?;
        files
            .iter()
            .zip(raws.iter())
            .map(|(f, r)| {
                // The same date parsing as the check itself (ISO, or Thai with a BE year).
                let own = r.and_then(|r| r.split(',').nth(1)).and_then(|d| transform::parse_date_days(d.trim()));
                let named = f.and_then(named_snapshot).and_then(|d| transform::parse_date_days(&d));
                own.or(named)
            })
            .collect()
    } else {
        vec![None; n]
    };
    let extra: Vec<(String, ArrayRef)> = vec![
        ("run_id".into(), Arc::new(StringArray::from(vec![run_id; n]))),
        ("feed".into(), Arc::new(StringArray::from(vec![feed; n]))),
        ("snapshot_date".into(), Arc::new(arrow::array::Date32Array::from(snapshots))),
    ];
    to_arrow::conform(feed, &def.schema, &renamed, &extra, n)
}

/// Progress callback: (step, done, total).
pub type Progress<'a> = &'a (dyn Fn(&str, u64, u64) + Sync);

/// Runs one ingest of `source` into `wh`. A failure is recorded in `ingest_runs` (status `failed`)
/// when the warehouse has been loaded before, and the warehouse stays at its previous state.
pub async fn ingest(wh: &Warehouse, secret: &Secret, source: &Source, progress: Progress<'_>) -> Result<IngestReport, IngestError> {
    let started = Utc::now();
    let run_id = format!("{}-{}", started.format("%Y%m%dT%H%M%SZ"), &uuid::Uuid::new_v4().simple().to_string()[..8]);
    // One load at a time; a second is refused at once rather than interleaved.
    let lock = wh.lock_writer().await?;
    let outcome = match ingest_locked(wh, &lock, secret, source, progress, &run_id, started).await {
        Ok(r) => Ok(r),
        Err(e) => {
            if let Err(e2) = record_failure(wh, &lock, &run_id, &source.shown(), started, &e).await {
                tracing::error!(error = %e2, "the failed run could not be recorded in ingest_runs");
            }
            Err(e)
        }
    };
    lock.release().await;
    outcome
}

/// Rolls back whatever the failed run wrote and records it as failed.
async fn record_failure(wh: &Warehouse, lock: &WriterLock, run_id: &str, source: &str, started: chrono::DateTime<Utc>, e: &IngestError) -> Result<(), IngestError> {
    if wh.committed().await?.is_none() {
        // Nothing was ever loaded: there is no run log to write to yet.
        return Ok(());
    }
    // A load that lost its lease must not roll back the new holder's work.
    lock.still_held()?;
    wh.recover().await?;
    let row = RunRow { feed: "(run)".into(), rows_read: 0, rows_loaded: 0, rows_rejected: 0, status: "failed", version: None, message: e.to_string(), scope: String::new() };
    wh.write("ingest_runs", vec![runs_batch(run_id, source, started, Utc::now(), &[row])?], WriteMode::Append).await?;
    lock.still_held()?;
    wh.publish(run_id).await?;
    Ok(())
}

struct RunRow {
    feed: String,
    rows_read: u64,
    rows_loaded: u64,
    rows_rejected: u64,
    status: &'static str,
    version: Option<u64>,
    message: String,
    scope: String,
}

fn runs_batch(run_id: &str, source: &str, started: chrono::DateTime<Utc>, finished: chrono::DateTime<Utc>, rows: &[RunRow]) -> Result<RecordBatch, IngestError> {
    let n = rows.len();
    let def = schema::table("ingest_runs").ok_or_else(|| IngestError::Transform { feed: "ingest_runs".into(), message: "no table".into() })?;
    let ts = |t: chrono::DateTime<Utc>| TimestampMicrosecondArray::from(vec![t.timestamp_micros(); n]).with_timezone("UTC");
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![run_id; n])),
        Arc::new(ts(started)),
        Arc::new(ts(finished)),
        Arc::new(StringArray::from(vec![source; n])),
        Arc::new(StringArray::from(rows.iter().map(|r| r.feed.as_str()).collect::<Vec<_>>())),
        Arc::new(Int64Array::from(rows.iter().map(|r| r.rows_read as i64).collect::<Vec<_>>())),
        Arc::new(Int64Array::from(rows.iter().map(|r| r.rows_loaded as i64).collect::<Vec<_>>())),
        Arc::new(Int64Array::from(rows.iter().map(|r| r.rows_rejected as i64).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|r| r.status).collect::<Vec<_>>())),
        Arc::new(Int64Array::from(rows.iter().map(|r| r.version.map(|v| v as i64)).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|r| r.message.as_str()).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|r| r.scope.as_str()).collect::<Vec<_>>())),
    ];
    RecordBatch::try_new(def.schema.clone(), cols).map_err(|e| IngestError::Transform { feed: "ingest_runs".into(), message: e.to_string() })
}

/// Reads every feed of a pull: (feed, files, all-text frame).
async fn read_source(source: &Source, progress: Progress<'_>) -> Result<(Vec<(&'static str, usize, Read)>, u64), IngestError> {
    let mut raw = Vec::new();
    match source {
        Source::Folder(from) => {
            let found = read::discover(from)?;
            let total_files: u64 = found.iter().map(|f| f.files.len() as u64).sum();
            let done = std::sync::atomic::AtomicU64::new(0);
            let read_one = |ff: &read::FeedFiles| -> Result<(&'static str, usize, Read), IngestError> {
                let df = read::read_for_check(ff)?;
                let n = done.fetch_add(ff.files.len() as u64, std::sync::atomic::Ordering::Relaxed) + ff.files.len() as u64;
                progress(&format!("read {}", ff.feed.name), n, total_files + STEPS_AFTER_READ);
                Ok((ff.feed.name, ff.files.len(), df))
            };
            // The largest feed (the students, most of a pull) is read while a second thread reads the rest.
            let size = |ff: &read::FeedFiles| ff.files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum::<u64>();
            let largest = found.iter().enumerate().max_by_key(|(_, ff)| size(ff)).map(|(i, _)| i);
            let (big, rest): (Vec<_>, Vec<_>) = found.iter().enumerate().partition(|(i, _)| Some(*i) == largest);
            let (big, others) = std::thread::scope(|s| {
                let others = s.spawn(|| rest.into_iter().map(|(i, ff)| (i, read_one(ff))).collect::<Vec<_>>());
                (big.into_iter().map(|(i, ff)| (i, read_one(ff))).collect::<Vec<_>>(), others.join())
            });
            let others = others.map_err(|_| IngestError::Transform { feed: "(read)".into(), message: "the thread reading the smaller feeds failed".into() })?;
            // Errors in the order the feeds were found, as before.
            let mut all: Vec<_> = big.into_iter().chain(others).collect();
            all.sort_by_key(|(i, _)| *i);
            for (_, r) in all {
                raw.push(r?);
            }
            Ok((raw, total_files))
        }
        Source::Postgres(pg) => {
            let spool = tempfile::Builder::new()
                .prefix("khlang-pull-")
                .tempdir()
                .map_err(|e| IngestError::Write { path: std::env::temp_dir().display().to_string(), message: e.to_string() })?;
            for (feed, df) in pg.read_all(spool.path()).await? {
                raw.push((feed.name, 1, df));
            }
            progress("read the ministry database", 8, 8 + STEPS_AFTER_READ);
            Ok((raw, 8))
        }
    }
}

const STEPS_AFTER_READ: u64 = 20;

async fn ingest_locked(
    wh: &Warehouse,
    lock: &WriterLock,
    secret: &Secret,
    source_spec: &Source,
    progress: Progress<'_>,
    run_id: &str,
    started: chrono::DateTime<Utc>,
) -> Result<IngestReport, IngestError> {
    let run_id = run_id.to_string();
    let source = source_spec.shown();
    // A load that died part-way left table versions nobody published: undo them first.
    let rolled = wh.recover().await?;
    if !rolled.is_empty() {
        tracing::warn!(tables = rolled.len(), "rolled back the tables of a load that did not finish");
    }
    fault_point("recovered");

    // 1. Read everything (any unreadable file stops the run here, before any write).
    let (mut raw, total_files) = read_source(source_spec, progress).await?;
    let total_steps = total_files + STEPS_AFTER_READ;
    let mut step = total_files;
    fault_point("read");
    let take_read = |feed: &'static Feed, raw: &mut Vec<(&'static str, usize, Read)>| -> Result<(&'static Feed, usize, Read), IngestError> {
        let pos = raw.iter().position(|(n, _, _)| *n == feed.name).ok_or_else(|| IngestError::MissingFeed { dir: source.clone(), feed: feed.name.to_string() })?;
        let (_, files, read) = raw.remove(pos);
        Ok((feed, files, read))
    };
    let take = |feed: &'static Feed, raw: &mut Vec<(&'static str, usize, Read)>| -> Result<(&'static Feed, usize, DataFrame), IngestError> {
        match take_read(feed, raw)? {
            (feed, files, Read::Frame(df)) => Ok((feed, files, df)),
            (feed, _, Read::Csv(_)) => Err(IngestError::Transform { feed: feed.name.into(), message: "read as text, not as a frame".into() }),
        }
    };

    // 2. Check: reference feeds first, then the rest against them.
    let mut ctx = Context::default();
    let mut prepared = Vec::new();
    let (f, n, df) = take(&feeds::AREAS, &mut raw)?;
    let rows = df.height() as u64;
    let checked = transform::areas(df)?;
    ctx.area_codes = distinct_text(f.name, &checked.good, "area_code")?;
    prepared.push(prepare(f, n, rows, checked, secret)?);
    let (f, n, df) = take(&feeds::SCHOOLS, &mut raw)?;
    let rows = df.height() as u64;
    let mut checked = transform::schools(df, &ctx)?;
    {
        let g = &checked.good;
        let f = f.name;
        let text = |c: &str| -> Result<Vec<String>, IngestError> {
            Ok(g.column(c).map_err(terr(f))?.str().map_err(terr(f))?.iter().map(|v| v.unwrap_or_default().to_string()).collect())
        };
        let int = |c: &str| -> Result<Vec<i32>, IngestError> { Ok(g.column(c).map_err(terr(f))?.i32().map_err(terr(f))?.iter().map(|v| v.unwrap_or(0)).collect()) };
        ctx.school_codes = text("school_code")?;
        ctx.school_areas = text("area_code")?;
        ctx.school_low = int("__low")?;
        ctx.school_high = int("__high")?;
    }
    checked.good = checked.good.drop_many(["__low", "__high"]);
    prepared.push(prepare(f, n, rows, checked, secret)?);
    step += 2;
    progress("checked areas and schools", step, total_steps);
    // The students, most of a pull, row by row (`students`).
    let (f, n, read) = take_read(&feeds::STUDENTS, &mut raw)?;
    let s = students::check(read, &ctx, secret)?;
    check_snapshot_files(&s.files, &source)?;
    let mut students = with_write(f, n, s.rows, vec![], s.bad, s.snapshots);
    // The enrollments are made batch by batch as they are written and, when they replace their
    // snapshots, counted for the derived tables as they are made (`derive::Fresh`).
    let fresh_dates = matches!(students.mode, WriteMode::ReplaceWhere(_)).then(|| students.dates.clone());
    let enrollments = Arc::new(if fresh_dates.is_some() { s.good.counted() } else { s.good });
    students.made = Some(enrollments.clone());
    step += 1;
    progress("checked students", step, total_steps);
    // The other feeds, taken now: a missing one stops the load before anything is written.
    let staff = take_read(&feeds::PERSONNEL, &mut raw)?;
    let budget_lines = take_read(&feeds::BUDGET, &mut raw)?;
    let test_results = take_read(&feeds::TESTS, &mut raw)?;
    let checks: [(&'static Feed, Check); 2] = [
        (&feeds::BUILDINGS, transform::buildings),
        (&feeds::DLTV_EQUIPMENT, transform::dltv),
    ];
    let others = checks.into_iter().map(|(feed, check)| take(feed, &mut raw).map(|t| (t, check))).collect::<Result<Vec<_>, _>>()?;

    // 3. Write: one commit per table. Each table is written on its own task as soon as its rows are
    // checked (the enrollments, most of the writing, while the other feeds are checked), so both
    // cores stay busy; the writes are then waited for in the feeds' order.
    wh.create_missing().await?;
    if wh.version("provinces").await?.unwrap_or(0) == 0 {
        wh.write_if_changed("provinces", vec![provinces_batch()?], WriteMode::Overwrite).await?;
    }
    prepared.push(students);
    let mut writes: Vec<Write> = prepared.iter_mut().map(|p| write(wh, p)).collect();
    // The other feeds, each against the reference feeds, with the check its table needs.
    let check_others = |writes: &mut Vec<Write>| -> Result<Vec<Prepared>, IngestError> {
        // The personnel, budget and test results row by row (`rows`), as the students; the rest with polars.
        let by_row = [
            (staff, Box::new(|read| personnel::check(read, &ctx, secret)) as Box<dyn Fn(Read) -> Result<rows::Checked, IngestError> + Sync + '_>),
            (budget_lines, Box::new(|read| budget::check(read, &ctx))),
            (test_results, Box::new(|read| scores::check(read, &ctx))),
        ]
        .into_iter()
        .map(|((f, n, read), check)| check(read).map(|c| with_write(f, n, c.rows, c.good, c.bad, c.values)));
        let rest = others.into_iter().map(|((f, n, df), check)| -> Result<Prepared, IngestError> {
            let rows = df.height() as u64;
            let checked = check(df, &ctx)?;
            let t = std::time::Instant::now();
            let p = prepare(f, n, rows, checked, secret)?;
            tracing::debug!(feed = f.name, seconds = t.elapsed().as_secs_f64(), "keyed hashes and arrow conversion");
            Ok(p)
        });
        let mut out = Vec::new();
        for p in by_row.chain(rest) {
            let mut p = p?;
            writes.push(write(wh, &mut p));
            step += 1;
            progress(&format!("checked {}", p.feed.name), step, total_steps);
            out.push(p);
        }
        Ok(out)
    };
    let others = match check_others(&mut writes) {
        Ok(others) => others,
        Err(e) => {
            // The writes already started end before the load does (as below).
            for w in writes {
                w.finish().await;
            }
            return Err(e);
        }
    };
    prepared.extend(others);
    fault_point("checked");

    let mut reports = Vec::new();
    let mut rejected = Vec::new();
    let mut snapshots = BTreeSet::new();
    let mut personnel_dates = Vec::new();
    let mut writes = writes.into_iter();
    // The enrollments' count, finished on a core of its own as soon as their write is done, while
    // the other tables' writes end (it freed a core for nothing but itself at the end of the load).
    let mut counting = Some((enrollments, fresh_dates));
    let mut finishing: Option<Task<Result<Option<derive::Fresh>, IngestError>>> = None;
    for p in prepared {
        let table = p.feed.table;
        let bad = (p.bad.height() > 0).then(|| rejected_batch(&run_id, &p)).transpose();
        let Some(w) = writes.next() else { return Err(IngestError::Transform { feed: p.feed.name.into(), message: format!("no write of {table} was started") }) };
        let loaded = w.rows;
        let (version, changed) = match (w.done(table).await, bad) {
            (Ok(written), Ok(bad)) => {
                rejected.extend(bad);
                written
            }
            (Err(e), _) | (_, Err(e)) => {
                // The writes already started end before the load does: none may commit a table
                // version after it has returned (the next load rolls them back).
                for w in writes {
                    w.finish().await;
                }
                return Err(e);
            }
        };
        if table == feeds::STUDENTS.table
            && let Some((e, dates)) = counting.take()
        {
            finishing = Some(Task(Some(tokio::task::spawn_blocking(move || fresh_count(e, dates)))));
        }
        match p.feed.summary {
            Summary::Snapshots => snapshots.extend(p.dates.iter().cloned()),
            Summary::StaffDates => personnel_dates.extend(p.dates.iter().cloned()),
            Summary::None => {}
        }
        reports.push(FeedReport {
            scope: p.scope.clone(),
            feed: p.feed.name.to_string(),
            table: table.to_string(),
            files: p.files,
            rows_read: p.rows_read,
            rows_loaded: loaded,
            rows_rejected: p.bad.height() as u64,
            table_version: Some(version),
            changed,
        });
        step += 1;
        progress(&format!("loaded {table}"), step, total_steps);
        fault_point(&format!("wrote:{table}"));
    }
    let rejected_version = wh.write("rejected_rows", rejected, WriteMode::Append).await?;
    fault_point("wrote:rejected_rows");
    step += 1;
    progress("kept rejected rows", step, total_steps);

    // 4. Derived summary for every snapshot whose students or staff changed.
    let fresh = match (finishing, counting) {
        (Some(task), _) => task.done("the count of the enrollments").await??,
        (None, Some((e, dates))) => fresh_count(e, dates)?,
        (None, None) => None,
    };
    let student_dates = snapshots.clone();
    if let Some(first_staff) = personnel_dates.iter().min() {
        for s in existing_snapshots(wh).await? {
            if s.as_str() >= first_staff.as_str() {
                snapshots.insert(s);
            }
        }
    }
    let snapshots: Vec<String> = snapshots.into_iter().collect();
    let summary_version = derive::school_snapshot_summary(wh, &snapshots, fresh.as_ref()).await?;
    fault_point("wrote:school_snapshot_summary");
    step += 1;
    progress("built school_snapshot_summary", step, total_steps);
    // The counts change only with the students themselves, not with the staff; a warehouse that has
    // never had them (loaded by an older version) gets every snapshot counted once.
    let counted: Vec<String> = if wh.version("enrollment_counts").await?.unwrap_or(0) == 0 {
        existing_snapshots(wh).await?
    } else {
        snapshots.iter().filter(|s| student_dates.contains(*s)).cloned().collect()
    };
    derive::enrollment_counts(wh, &counted, fresh.as_ref()).await?;
    fault_point("wrote:enrollment_counts");
    step += 1;
    progress("counted enrollments", step, total_steps);

    // 5. The run log, then the warehouse commit that makes the whole load visible at once.
    let rows: Vec<RunRow> = reports
        .iter()
        .map(|r| {
            let what = if r.changed { "new version" } else { "unchanged, no new version" };
            RunRow {
                feed: r.feed.clone(),
                rows_read: r.rows_read,
                rows_loaded: r.rows_loaded,
                rows_rejected: r.rows_rejected,
                status: "ok",
                version: r.table_version,
                message: format!("{} rows loaded into {} ({what}), {} rejected (rejected_rows version {rejected_version})", r.rows_loaded, r.table, r.rows_rejected),
                scope: r.scope.clone(),
            }
        })
        .collect();
    wh.write("ingest_runs", vec![runs_batch(&run_id, &source, started, Utc::now(), &rows)?], WriteMode::Append).await?;
    fault_point("wrote:ingest_runs");
    lock.still_held()?;
    let commit = wh.publish(&run_id).await?;
    fault_point("published");
    step += 1;
    progress("published the load", step, total_steps);
    Ok(IngestReport { run_id, source, feeds: reports, summary_version, warehouse_commit: commit.seq })
}

/// The count of the enrollments for the derived tables, when their write replaced its snapshots
/// (`dates`, ISO); their rows are then handed to a thread that frees them.
fn fresh_count(enrollments: Arc<students::Enrollments>, dates: Option<Vec<String>>) -> Result<Option<derive::Fresh>, IngestError> {
    let Some(dates) = dates else { return Ok(None) };
    let fresh = enrollments.tally()?.map(|t| derive::Fresh::new(t, dates));
    // Six million checked rows go back to the system on a thread of their own (a tenth of a second
    // of one core), not before the summary; here, if no thread can be started.
    let _ = std::thread::Builder::new().name("free checked rows".into()).spawn(move || drop(enrollments));
    Ok(fresh)
}

/// A task of the load (a table's write), aborted if it is dropped unwaited (the load's own future
/// dropped).
struct Task<T>(Option<tokio::task::JoinHandle<T>>);

impl<T> Task<T> {
    /// Waits for the task; `what` names it in the error if it stopped.
    async fn done(mut self, what: &str) -> Result<T, IngestError> {
        let Some(h) = self.0.take() else { return Err(IngestError::Transform { feed: what.into(), message: "waited for twice".into() }) };
        h.await.map_err(|e| IngestError::Transform { feed: what.into(), message: format!("stopped: {e}") })
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h.abort();
        }
    }
}

/// A table's write, started (`write`), and the rows it writes.
struct Write {
    task: Task<Result<(u64, bool), khlang_warehouse::WarehouseError>>,
    rows: u64,
}

impl Write {
    async fn done(self, table: &str) -> Result<(u64, bool), IngestError> {
        Ok(self.task.done(&format!("the write of {table}")).await??)
    }

    /// Waits for the write to end, whatever its outcome (the load has failed already).
    async fn finish(self) {
        let _ = self.task.done("a write").await;
    }
}

/// Starts writing a feed's good rows (handed over, not copied: the writer may reorder them) to its
/// table on a task of its own.
fn write(wh: &Warehouse, p: &mut Prepared) -> Write {
    if let Some(made) = p.made.take() {
        let (wh, mode, table, rows) = (wh.clone(), p.mode.clone(), p.feed.table, made.rows() as u64);
        return Write { task: Task(Some(tokio::spawn(async move { wh.write_made(table, made, mode).await }))), rows };
    }
    let rows = p.good.iter().map(RecordBatch::num_rows).sum::<usize>() as u64;
    let (wh, good, mode, table) = (wh.clone(), std::mem::take(&mut p.good), p.mode.clone(), p.feed.table);
    Write { task: Task(Some(tokio::spawn(async move { wh.write_if_changed(table, good, mode).await }))), rows }
}

/// The snapshot date (ISO, CE) a file name carries, as in `students_2569-06-10.csv` (BE) or
/// `students_2026-06-10.csv` (CE); `None` when the name has no date.
fn named_snapshot(file: &str) -> Option<String> {
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let part = stem.rsplit('_').next()?;
    let mut it = part.split('-');
    let (y, m, d) = (it.next()?.parse::<i32>().ok()?, it.next()?.parse::<u32>().ok()?, it.next()?.parse::<u32>().ok()?);
    let y = if y > 2400 { khlang_warehouse::office::ce_year(y) } else { y };
    chrono::NaiveDate::from_ymd_opt(y, m, d).map(|d| d.format("%Y-%m-%d").to_string())
}

/// A students file named for one snapshot must not hold rows of another (a mislabelled export would
/// otherwise replace the wrong snapshot).
fn check_snapshot_files(files: &[(String, i32)], dir: &str) -> Result<(), IngestError> {
    for (file, day) in files {
        let date = transform::iso_date(*day);
        if let Some(named) = named_snapshot(file)
            && named != date
        {
            return Err(IngestError::SnapshotMismatch { file: Path::new(dir).join(file).display().to_string(), named, found: date });
        }
    }
    Ok(())
}

/// The snapshot dates (ISO) the enrollments hold, from the table's log.
async fn existing_snapshots(wh: &Warehouse) -> Result<Vec<String>, IngestError> {
    Ok(wh.partition_values("enrollments", "snapshot_date").await?)
}

fn provinces_batch() -> Result<RecordBatch, IngestError> {
    let def = schema::table("provinces").ok_or_else(|| IngestError::Transform { feed: "provinces".into(), message: "no table".into() })?;
    let p = khlang_warehouse::reference::provinces();
    let col = |f: fn(&khlang_warehouse::reference::Province) -> &str| -> ArrayRef { Arc::new(StringArray::from(p.iter().map(f).collect::<Vec<_>>())) };
    RecordBatch::try_new(def.schema.clone(), vec![col(|p| &p.code), col(|p| &p.name_th), col(|p| &p.name_en), col(|p| &p.region)])
        .map_err(|e| IngestError::Transform { feed: "provinces".into(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_dates_in_file_names() {
        assert_eq!(named_snapshot("students_2569-06-10.csv").as_deref(), Some("2026-06-10"));
        assert_eq!(named_snapshot("students_2026-11-10.xlsx").as_deref(), Some("2026-11-10"));
        assert_eq!(named_snapshot("students.csv"), None);
        assert_eq!(named_snapshot("students_area1.csv"), None);
        assert_eq!(named_snapshot("students_2569-02-30.csv"), None);
    }
}

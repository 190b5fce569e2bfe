//! The derived tables, written in the load's commit right after the tables they come from:
//! `school_snapshot_summary`, one row per school per snapshot, from enrollments, personnel, schools and
//! areas (the size band and staffing rule come from `data/`); `enrollment_counts`, students counted by
//! the codes analysts and the reports break them down by.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Date32Array, Float64Array, Int64Array, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::store::{At, Warehouse, WriteMode};
use crate::tally::Tally;
use crate::{WarehouseError, reference, schema};

/// Teachers for the staffing rule: civil-service teaching posts (ครู and ครูผู้ช่วย).
pub const TEACHER_POSITIONS: &str = "('teacher', 'assistant_teacher')";

fn col_i64(b: &RecordBatch, i: usize) -> Result<Int64Array, WarehouseError> {
    let c = cast(b.column(i), &DataType::Int64).map_err(|e| WarehouseError::Query { message: e.to_string() })?;
    Ok(c.as_primitive::<Int64Type>().clone())
}

fn col_str(b: &RecordBatch, i: usize) -> Result<StringArray, WarehouseError> {
    let c = cast(b.column(i), &DataType::Utf8).map_err(|e| WarehouseError::Query { message: e.to_string() })?;
    Ok(c.as_string::<i32>().clone())
}

/// The snapshot dates (ISO) as SQL date literals, for `snapshot_date IN (…)`.
pub(crate) fn date_list(snapshots: &[String]) -> String {
    snapshots.iter().map(|d| format!("DATE '{d}'")).collect::<Vec<_>>().join(", ")
}

/// A derived table's write: its rows of these snapshot dates (ISO) replaced.
fn replacing(snapshots: &[String]) -> WriteMode {
    WriteMode::ReplaceWhere(format!("snapshot_date IN ({})", snapshots.iter().map(|d| format!("'{d}'")).collect::<Vec<_>>().join(", ")))
}

/// What a load has just written to `enrollments`, counted while its rows were in memory (`tally`):
/// exactly the table's rows of these snapshot dates (ISO), since the load replaced those snapshots with
/// them. The derived tables of these snapshots come from this count instead of reading the
/// just-written files back.
pub struct Fresh {
    tally: Tally,
    snapshots: Vec<String>,
}

impl Fresh {
    pub fn new(tally: Tally, snapshots: Vec<String>) -> Self {
        tracing::debug!(schools = tally.schools.num_rows(), counts = tally.counts.num_rows(), "counted the fresh enrollments");
        Fresh { tally, snapshots }
    }
}

/// The snapshots to derive, split by where their enrollments are read: from `fresh` (in memory) or
/// from the table. Each derived row belongs to one snapshot, so the two parts together are exactly the
/// rows one query over the table would give.
fn sources<'a>(snapshots: &[String], fresh: Option<&'a Fresh>) -> Vec<(Vec<String>, Option<&'a Fresh>)> {
    let (in_memory, stored): (Vec<String>, Vec<String>) = snapshots.iter().cloned().partition(|s| fresh.is_some_and(|f| f.snapshots.contains(s)));
    let mut out = Vec::new();
    if let (Some(f), false) = (fresh, in_memory.is_empty()) {
        out.push((in_memory, Some(f)));
    }
    if !stored.is_empty() {
        out.push((stored, None));
    }
    out
}

/// Registers the stored `enrollments` in `ctx`; false when the table does not exist yet.
async fn register_enrollments(wh: &Warehouse, ctx: &SessionContext) -> Result<bool, WarehouseError> {
    match wh.provider("enrollments", At::Latest).await? {
        Some(p) => {
            ctx.register_table("enrollments", p)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// The summary's per-school sums of enrollments (`e`), from the table: what `tally` counts in memory.
pub(crate) fn per_school_sql(list: &str) -> String {
    // A classroom is a grade and a room number (a missing number is a room of its own), counted as one
    // integer: the text `grade/room` it used to be built as was most of the summary's time.
    format!(
        "SELECT snapshot_date, max(academic_year) AS academic_year, max(area_code) AS area_code, school_code,
                count(*) AS students,
                sum(CASE WHEN level = 'pre_primary' THEN 1 ELSE 0 END) AS pre,
                sum(CASE WHEN level = 'primary' THEN 1 ELSE 0 END) AS pri,
                sum(CASE WHEN level = 'lower_secondary' THEN 1 ELSE 0 END) AS low,
                sum(CASE WHEN level = 'upper_secondary' THEN 1 ELSE 0 END) AS upp,
                sum(CASE WHEN sex = 1 THEN 1 ELSE 0 END) AS male,
                sum(CASE WHEN sex = 2 THEN 1 ELSE 0 END) AS female,
                count(DISTINCT CAST(grade_order AS BIGINT) * 4294967296 + coalesce(CAST(classroom AS BIGINT) + 1, 0)) AS classrooms
         FROM enrollments
         WHERE snapshot_date IN ({list}) AND status = 'studying'
         GROUP BY snapshot_date, school_code"
    )
}

/// `enrollment_counts`' rows, from the table: what `tally` counts in memory.
pub(crate) fn counts_sql(list: &str) -> String {
    format!(
        "SELECT snapshot_date, academic_year, area_code, grade, grade_order, level, sex, age_years, status, disadvantaged,
                disability > 0 AS disabled, count(*) AS students
         FROM enrollments WHERE snapshot_date IN ({list})
         GROUP BY snapshot_date, academic_year, area_code, grade, grade_order, level, sex, age_years, status, disadvantaged, disability > 0
         ORDER BY snapshot_date, area_code, grade_order, grade, sex, age_years, status, disadvantaged, disabled"
    )
}

/// Recomputes the summary for the given snapshot dates (ISO) and commits it in one write.
pub async fn school_snapshot_summary(wh: &Warehouse, snapshots: &[String], fresh: Option<&Fresh>) -> Result<Option<u64>, WarehouseError> {
    if snapshots.is_empty() {
        return Ok(None);
    }
    // The staff snapshot each snapshot takes its teachers from, from the log: only those are read.
    let staff_dates = wh.partition_values("personnel", "as_of_date").await?;
    let mut out = Vec::new();
    for (part, fresh) in sources(snapshots, fresh) {
        let ctx = SessionContext::new();
        let list = date_list(&part);
        let per_school = match fresh {
            Some(f) => {
                let rows = f.tally.schools.clone();
                ctx.register_table("fresh_per_school", Arc::new(MemTable::try_new(rows.schema(), vec![vec![rows]])?))?;
                format!("SELECT * FROM fresh_per_school WHERE snapshot_date IN ({list})")
            }
            None if register_enrollments(wh, &ctx).await? => per_school_sql(&list),
            None => return Ok(None),
        };
        for t in ["personnel", "areas"] {
            if let Some(p) = wh.provider(t, At::Latest).await? {
                ctx.register_table(t, p)?;
            } else {
                return Ok(None);
            }
        }
        out.extend(summary_rows(&ctx, &per_school, &staff_of(&part, &staff_dates)).await?);
    }
    let (v, _) = wh.write_if_changed("school_snapshot_summary", out, replacing(snapshots)).await?;
    Ok(Some(v))
}

/// Each snapshot date (ISO) with the latest staff snapshot date on or before it, for the snapshots
/// that have one (`staff_dates`, ISO, in order).
fn staff_of(snapshots: &[String], staff_dates: &[String]) -> Vec<(String, String)> {
    snapshots.iter().filter_map(|s| staff_dates.iter().rfind(|d| d.as_str() <= s.as_str()).map(|d| (s.clone(), d.clone()))).collect()
}

/// The summary rows from the per-school sums `per_school` (a query) and the `personnel` and `areas`
/// registered in `ctx`; `staff` pairs each snapshot with its staff snapshot (`staff_of`), so that the
/// teachers are counted in those staff snapshots' files alone.
async fn summary_rows(ctx: &SessionContext, per_school: &str, staff: &[(String, String)]) -> Result<Vec<RecordBatch>, WarehouseError> {
    let (d, in_staff) = if staff.is_empty() {
        ("SELECT CAST(NULL AS DATE) AS snapshot_date, CAST(NULL AS DATE) AS as_of_date WHERE false".to_string(), "false".to_string())
    } else {
        let pairs = staff.iter().map(|(s, d)| format!("(DATE '{s}', DATE '{d}')")).collect::<Vec<_>>().join(", ");
        let mut dates: Vec<String> = staff.iter().map(|(_, d)| d.clone()).collect();
        dates.sort();
        dates.dedup();
        (format!("SELECT column1 AS snapshot_date, column2 AS as_of_date FROM (VALUES {pairs})"), format!("as_of_date IN ({})", date_list(&dates)))
    };
    let sql = format!(
        "WITH e AS ({per_school}),
         d AS ({d}),
         t AS (SELECT as_of_date, school_code, count(*) AS teachers FROM personnel
               WHERE {in_staff} AND position IN {TEACHER_POSITIONS} AND school_code IS NOT NULL GROUP BY as_of_date, school_code)
        SELECT e.snapshot_date, e.academic_year, e.area_code, e.school_code, e.students, e.pre, e.pri, e.low, e.upp,
               e.male, e.female, e.classrooms, coalesce(t.teachers, 0) AS teachers, a.area_type
        FROM e
        LEFT JOIN d ON d.snapshot_date = e.snapshot_date
        LEFT JOIN t ON t.as_of_date = d.as_of_date AND t.school_code = e.school_code
        LEFT JOIN areas a ON a.area_code = e.area_code
        ORDER BY e.snapshot_date, e.school_code"
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    let def = schema::table("school_snapshot_summary").ok_or_else(|| WarehouseError::UnknownTable("school_snapshot_summary".into()))?;
    let mut out = Vec::new();
    for b in &batches {
        let n = b.num_rows();
        let [students, pre, pri, low, upp, male, female, classrooms, teachers] = [4, 5, 6, 7, 8, 9, 10, 11, 12].map(|i| col_i64(b, i));
        let (students, pre, pri, low, upp, male, female, classrooms, teachers) = (students?, pre?, pri?, low?, upp?, male?, female?, classrooms?, teachers?);
        let area_type = col_str(b, 13)?;
        let mut band = Vec::with_capacity(n);
        let mut required = Vec::with_capacity(n);
        let mut gap = Vec::with_capacity(n);
        let mut spt = Vec::with_capacity(n);
        for r in 0..n {
            let (students_r, teachers_r) = (students.value(r), teachers.value(r));
            let by_level = [pre.value(r), pri.value(r), low.value(r), upp.value(r)];
            let req = reference::required_teachers(by_level);
            let at = if area_type.is_null(r) { "primary" } else { area_type.value(r) };
            band.push(reference::size_band(at, students_r));
            required.push(req);
            gap.push(teachers_r - req);
            spt.push(if teachers_r > 0 { Some(students_r as f64 / teachers_r as f64) } else { None });
        }
        let snapshot = cast(b.column(0), &DataType::Date32).map_err(|e| WarehouseError::Query { message: e.to_string() })?;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(snapshot.as_any().downcast_ref::<Date32Array>().cloned().unwrap_or_else(|| Date32Array::from(vec![0; 0]))),
            cast(b.column(1), &DataType::Int32).map_err(|e| WarehouseError::Query { message: e.to_string() })?,
            Arc::new(col_str(b, 2)?),
            Arc::new(col_str(b, 3)?),
            Arc::new(students),
            Arc::new(pre),
            Arc::new(pri),
            Arc::new(low),
            Arc::new(upp),
            Arc::new(male),
            Arc::new(female),
            Arc::new(classrooms),
            Arc::new(teachers),
            Arc::new(StringArray::from(band)),
            Arc::new(Float64Array::from(spt)),
            Arc::new(Int64Array::from(required)),
            Arc::new(Int64Array::from(gap)),
        ];
        out.push(RecordBatch::try_new(def.schema.clone(), columns).map_err(|e| WarehouseError::Schema { table: def.name.into(), message: e.to_string() })?);
    }
    Ok(out)
}

/// Recounts `enrollment_counts` for the given snapshot dates (ISO) and commits it in one write: every
/// enrollment row counted once, whatever its status, so each count over it equals the same count
/// over `enrollments`.
pub async fn enrollment_counts(wh: &Warehouse, snapshots: &[String], fresh: Option<&Fresh>) -> Result<Option<u64>, WarehouseError> {
    if snapshots.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for (part, fresh) in sources(snapshots, fresh) {
        match fresh {
            Some(f) => out.push(of_snapshots(&f.tally.counts, &part)?),
            None => {
                let ctx = SessionContext::new();
                if !register_enrollments(wh, &ctx).await? {
                    return Ok(None);
                }
                out.extend(count_rows(&ctx, &part).await?);
            }
        }
    }
    let (v, _) = wh.write_if_changed("enrollment_counts", out, replacing(snapshots)).await?;
    Ok(Some(v))
}

/// The counted rows of these snapshot dates (ISO) from the `enrollments` registered in `ctx`.
async fn count_rows(ctx: &SessionContext, snapshots: &[String]) -> Result<Vec<RecordBatch>, WarehouseError> {
    let def = schema::table("enrollment_counts").ok_or_else(|| WarehouseError::UnknownTable("enrollment_counts".into()))?;
    let sql = counts_sql(&date_list(snapshots));
    let mut out = Vec::new();
    for b in ctx.sql(&sql).await?.collect().await? {
        let columns = def
            .schema
            .fields()
            .iter()
            .zip(b.columns())
            .map(|(f, c)| cast(c, f.data_type()).map_err(|e| WarehouseError::Query { message: e.to_string() }))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(RecordBatch::try_new(def.schema.clone(), columns).map_err(|e| WarehouseError::Schema { table: def.name.into(), message: e.to_string() })?);
    }
    Ok(out)
}

/// The rows of `batch` (a `snapshot_date` first) of these snapshot dates (ISO).
pub(crate) fn of_snapshots(batch: &RecordBatch, snapshots: &[String]) -> Result<RecordBatch, WarehouseError> {
    let epoch = chrono::NaiveDate::default();
    let days = snapshots
        .iter()
        .map(|s| {
            let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| WarehouseError::Query { message: format!("snapshot date '{s}': {e}") })?;
            i32::try_from((d - epoch).num_days()).map_err(|e| WarehouseError::Query { message: e.to_string() })
        })
        .collect::<Result<std::collections::HashSet<i32>, _>>()?;
    let dates = batch.column(0).as_primitive::<arrow::datatypes::Date32Type>();
    let keep: arrow::array::BooleanArray = dates.iter().map(|d| Some(d.is_some_and(|d| days.contains(&d)))).collect();
    arrow::compute::filter_record_batch(batch, &keep).map_err(|e| WarehouseError::Query { message: e.to_string() })
}

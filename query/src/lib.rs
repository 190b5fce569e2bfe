//! Khlang query: a DataFusion session over the warehouse's Delta tables, and result formatting.

use arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionConfig;
pub use datafusion::prelude::SessionContext;
use khlang_warehouse::{At, Commit, Warehouse, WarehouseError, schema};

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    Sql(String),
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error("cannot format the result as {format}: {message}")]
    Format { format: String, message: String },
}

impl From<datafusion::error::DataFusionError> for QueryError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        QueryError::Sql(e.to_string())
    }
}

/// `submission_status`: for every student snapshot and every open school, how many students it
/// submitted, how many the snapshot before, and `not_submitted` (no rows at all), `students_dropped`
/// (over 20% fewer studying students than the snapshot before) or `ok`.
const SUBMISSION_STATUS: &str = "CREATE VIEW submission_status AS \
WITH snaps AS (SELECT snapshot_date, lag(snapshot_date) OVER (ORDER BY snapshot_date) AS previous_snapshot \
               FROM (SELECT DISTINCT snapshot_date FROM enrollments) d), \
     counts AS (SELECT snapshot_date, school_code, count(*) AS rows_submitted, \
                       sum(CASE WHEN status = 'studying' THEN 1 ELSE 0 END) AS students \
                FROM enrollments GROUP BY snapshot_date, school_code) \
SELECT n.snapshot_date, n.previous_snapshot, s.area_code, s.school_code, s.school_name, \
       coalesce(c.rows_submitted, 0) AS rows_submitted, coalesce(c.students, 0) AS students, p.students AS previous_students, \
       CASE WHEN c.school_code IS NULL THEN 'not_submitted' \
            WHEN p.students > 0 AND c.students < 0.8 * p.students THEN 'students_dropped' \
            ELSE 'ok' END AS status \
FROM snaps n CROSS JOIN schools s \
LEFT JOIN counts c ON c.snapshot_date = n.snapshot_date AND c.school_code = s.school_code \
LEFT JOIN counts p ON p.snapshot_date = n.previous_snapshot AND p.school_code = s.school_code \
WHERE s.status = 'open'";

/// The query service over one warehouse.
#[derive(Debug, Clone)]
pub struct QueryService {
    wh: Warehouse,
}

impl QueryService {
    pub fn new(wh: Warehouse) -> Self {
        Self { wh }
    }

    pub fn warehouse(&self) -> &Warehouse {
        &self.wh
    }

    /// A session with every contract table and `information_schema`. Every table is pinned to its
    /// version in the latest published warehouse commit, so a query never sees half of a load that
    /// is still running (or that died).
    pub async fn session(&self) -> Result<SessionContext, QueryError> {
        let commit = self.wh.committed().await?;
        self.session_of(commit.as_ref()).await
    }

    /// A session over the warehouse as it was at `t`: every table at its version in the state then
    /// published (all tables empty before the first load).
    pub async fn session_as_of(&self, t: chrono::DateTime<chrono::Utc>) -> Result<SessionContext, QueryError> {
        let commit = self.wh.committed_at(t).await?;
        self.session_of(commit.as_ref()).await
    }

    /// A session over one published state (every table empty when `None`: nothing published yet),
    /// for callers that also need to say which state they read.
    pub async fn session_of(&self, commit: Option<&Commit>) -> Result<SessionContext, QueryError> {
        let config = SessionConfig::new().with_information_schema(true).with_default_catalog_and_schema("khlang", "public");
        let ctx = SessionContext::new_with_config(config);
        for name in schema::table_names() {
            let version = commit.and_then(|c| c.tables.get(name).copied()).unwrap_or(0);
            if let Some(p) = self.wh.provider(name, At::Version(version)).await? {
                ctx.register_table(name, p)?;
            }
        }
        if ctx.table_exist("enrollments")? && ctx.table_exist("schools")? {
            ctx.sql(SUBMISSION_STATUS).await?;
        }
        Ok(ctx)
    }

    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>, QueryError> {
        let ctx = self.session().await?;
        Ok(ctx.sql(sql).await?.collect().await?)
    }

    /// Runs SQL over the warehouse as it was published at `t` (time travel, consistent across tables).
    pub async fn sql_as_of(&self, sql: &str, t: chrono::DateTime<chrono::Utc>) -> Result<Vec<RecordBatch>, QueryError> {
        let ctx = self.session_as_of(t).await?;
        Ok(ctx.sql(sql).await?.collect().await?)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// Renders batches as an aligned text table, CSV with header, or a JSON array of objects.
pub fn format(batches: &[RecordBatch], format: Format) -> Result<String, QueryError> {
    let ferr = |f: &str, e: &dyn std::fmt::Display| QueryError::Format { format: f.into(), message: e.to_string() };
    match format {
        Format::Table => Ok(arrow::util::pretty::pretty_format_batches(batches).map_err(|e| ferr("table", &e))?.to_string()),
        Format::Csv => {
            let mut buf = Vec::new();
            {
                let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(&mut buf);
                for b in batches {
                    w.write(b).map_err(|e| ferr("csv", &e))?;
                }
            }
            String::from_utf8(buf).map_err(|e| ferr("csv", &e))
        }
        Format::Json => {
            let mut buf = Vec::new();
            {
                let mut w = arrow::json::ArrayWriter::new(&mut buf);
                let refs: Vec<&RecordBatch> = batches.iter().collect();
                w.write_batches(&refs).map_err(|e| ferr("json", &e))?;
                w.finish().map_err(|e| ferr("json", &e))?;
            }
            if buf.is_empty() {
                return Ok("[]".into());
            }
            String::from_utf8(buf).map_err(|e| ferr("json", &e))
        }
    }
}

/// First column of the first row as i64 (for scalar queries such as counts).
/// The first value of the first column as text; `None` when there are no rows or it is null.
pub fn scalar_string(batches: &[RecordBatch]) -> Option<String> {
    let b = batches.iter().find(|b| b.num_rows() > 0)?;
    let c = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).ok()?;
    let a = c.as_any().downcast_ref::<arrow::array::StringArray>()?;
    if arrow::array::Array::is_empty(a) || arrow::array::Array::is_null(a, 0) { None } else { Some(a.value(0).to_string()) }
}

pub fn scalar_i64(batches: &[RecordBatch]) -> Option<i64> {
    let b = batches.iter().find(|b| b.num_rows() > 0)?;
    let c = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Int64).ok()?;
    let a = c.as_any().downcast_ref::<arrow::array::Int64Array>()?;
    if a.is_empty() || arrow::array::Array::is_null(a, 0) { None } else { Some(a.value(0)) }
}

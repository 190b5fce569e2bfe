//! Khlang query: the engine (DataFusion sessions over the warehouse's Delta tables under each
//! user's access policy, the guarded statement path, users, audit, saved queries, time travel,
//! approvals) and, apart from it in `transport/`, the ways clients reach it: the PostgreSQL wire
//! protocol and the HTTP SQL API.

// A literal index read panics on a short input; this crate reads input and clients' requests, so
// it uses `get`, patterns and iterators instead (tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub mod access;
pub mod approvals;
pub mod calendar;
pub mod audit;
pub mod cluster;
pub mod counts;
pub mod export;
pub mod fold;
mod per_state;
pub mod requests;
pub mod run;
pub mod saved;
pub mod scram;
pub mod service;
pub mod session;
pub mod tls;
pub mod users;
pub mod transport;

use std::sync::{Arc, Mutex};

use arrow::record_batch::RecordBatch;
pub use datafusion::prelude::SessionContext;
use khlang_warehouse::{Warehouse, WarehouseError};

pub use access::{Principal, Role, Scope};
pub use khlang_warehouse::{Commit, office, reference};
pub use service::SqlService;

/// Reads the document `name` (empty when never written), lets `f` change it and writes it back,
/// keeping every other writer's change made meanwhile (a compare-and-swap, which also holds on an
/// object store: a lost race calls `f` again on the newer document); nothing is written when `f`
/// fails.
pub(crate) async fn change_doc<T, R>(wh: &Warehouse, name: &str, f: impl FnMut(&mut T) -> Result<R, QueryError>) -> Result<R, QueryError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + Default,
{
    wh.change_json_doc(name, f).await
}

/// SQL options for users' statements: queries only (no DDL, no DML such as `COPY … TO 'file'`, no
/// `SET`), since the warehouse changes only through loads.
pub fn read_only() -> datafusion::execution::context::SQLOptions {
    datafusion::execution::context::SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false)
}
pub use session::{Limits, parse_time};

/// Why a statement, or a service call, failed. Transports map each kind to their own codes (a
/// PostgreSQL SQLSTATE in `wire`, an HTTP status in `api`) by its type, not by its wording.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The engine refused or failed the statement (syntax, unknown table or column, types, …).
    #[error("{}", engine_message(.0))]
    Sql(Box<datafusion::error::DataFusionError>),
    /// The statement ran past the server's `query_timeout_seconds`, or past the client's own
    /// `statement_timeout` when that was sooner.
    #[error("{}", if *.by_client { "canceling statement due to statement timeout".to_string() } else { format!("the query ran longer than the time limit of {seconds} s (setting query_timeout_seconds = {seconds}) and was stopped") })]
    Timeout { seconds: u64, by_client: bool },
    /// The client asked for the statement to stop (a cancel request).
    #[error("canceling statement due to user request")]
    Cancelled,
    /// Every place among the heavy queries stayed taken for the whole wait.
    #[error("{limit} heavy queries are already running, the most allowed at once (setting max_concurrent_queries = {limit}), and none finished within {wait_seconds} s; try again shortly")]
    Busy { limit: usize, wait_seconds: u64 },
    /// The statement needed more than its memory budget, even after spilling.
    #[error("the query needs more memory than the per-query budget of {mib} MiB (setting query_memory_mb = {mib}), even after spilling to disk; narrow it with WHERE or aggregate first")]
    Memory { mib: u64 },
    /// The statement would change the warehouse, which changes only through loads.
    #[error("Khlang's SQL is read-only: {0} is not allowed (the warehouse changes only through loads; use SELECT, or COPY (SELECT …) TO STDOUT to export)")]
    ReadOnly(String),
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    /// A request the caller can correct (a bad setting, name or value), in one sentence.
    #[error("{0}")]
    User(String),
    /// Something of the service's own went wrong (not the caller's statement).
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("the cluster failed: {0}")]
    Cluster(#[from] Box<ballista_core::error::BallistaError>),
    #[error("cannot format the result as {format}: {message}")]
    Format { format: String, message: String },
}

/// An engine error in words: a syntax error as the parser says it (DataFusion shows the parser's
/// error in its debugging form).
fn engine_message(e: &datafusion::error::DataFusionError) -> String {
    match e.find_root() {
        datafusion::error::DataFusionError::SQL(p, _) => p.to_string(),
        _ => e.to_string(),
    }
}

impl From<datafusion::error::DataFusionError> for QueryError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        QueryError::Sql(Box::new(e))
    }
}

/// Memory kept for Parquet footers and page indexes across queries.
const FOOTER_CACHE_BYTES: usize = 256 << 20;

/// Rows per batch in a query's plan: a quarter of a stored row group. Four times DataFusion's
/// default; measured on the analyst suite at national scale (bench/analyst.py), 32,768 cut the
/// geometric mean by about a sixth (fewer batches through each filter, aggregation and repartition),
/// where 65,536 and 8,192 did worse.
const BATCH_ROWS: usize = 32 * 1024;

/// The query service over one warehouse.
#[derive(Debug, Clone)]
pub struct QueryService {
    wh: Warehouse,
    limits: Limits,
    /// Table providers of the latest published state, by its sequence number.
    cache: Arc<Mutex<Option<session::Cached>>>,
    /// Sessions of the latest published state, by kind of caller.
    sessions: Arc<session::SessionCache>,
    /// Parquet footers already read, shared by every session (data files never change).
    footers: Arc<datafusion::execution::cache::cache_manager::FileMetadataCache>,
    /// The Ballista cluster analysts' SQL runs on, when there is one.
    cluster: Option<Arc<cluster::Cluster>>,
}

impl QueryService {
    pub fn new(wh: Warehouse) -> Self {
        Self::with_limits(wh, Limits::default())
    }

    pub fn with_limits(wh: Warehouse, limits: Limits) -> Self {
        let footers = Arc::new(datafusion::execution::cache::default_cache::DefaultCache::new(FOOTER_CACHE_BYTES).with_name("khlang_footers"));
        Self { wh, limits, cache: Arc::new(Mutex::new(None)), sessions: Arc::default(), footers, cluster: None }
    }

    /// Sends analysts' SQL (the wire protocol, the HTTP SQL API, `khlang sql`) to `cluster`;
    /// dashboards, reports and the service's own small queries keep running here.
    pub fn with_cluster(mut self, cluster: Option<cluster::Cluster>) -> Self {
        self.cluster = cluster.map(Arc::new);
        self
    }

    /// `ctx` as analysts' SQL runs it: on the cluster when there is one, else here.
    pub fn for_analysts(&self, ctx: SessionContext) -> SessionContext {
        match &self.cluster {
            Some(c) => c.session(ctx),
            None => ctx,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn warehouse(&self) -> &Warehouse {
        &self.wh
    }

    /// The operator's session (command line, admin): every contract table and `information_schema`.
    /// Every table is pinned to its version in the latest published warehouse commit, so a query
    /// never sees half of a load that is still running (or that died).
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
        self.session_for_commit(&Principal::local_admin(), commit).await
    }

    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>, QueryError> {
        let ctx = self.session().await?;
        Ok(ctx.sql(sql).await?.collect().await?)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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

/// Every value of the first column as text (nulls skipped).
pub fn column_strings(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let Ok(c) = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8) else { continue };
        if let Some(a) = c.as_any().downcast_ref::<arrow::array::StringArray>() {
            out.extend(a.iter().flatten().map(str::to_string));
        }
    }
    out
}

/// The first value of the first column as text; `None` when there are no rows or it is null.
pub fn scalar_string(batches: &[RecordBatch]) -> Option<String> {
    let b = batches.iter().find(|b| b.num_rows() > 0)?;
    let c = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).ok()?;
    let a = c.as_any().downcast_ref::<arrow::array::StringArray>()?;
    if arrow::array::Array::is_empty(a) || arrow::array::Array::is_null(a, 0) { None } else { Some(a.value(0).to_string()) }
}

/// First column of the first row as i64 (for scalar queries such as counts).
pub fn scalar_i64(batches: &[RecordBatch]) -> Option<i64> {
    let b = batches.iter().find(|b| b.num_rows() > 0)?;
    let c = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Int64).ok()?;
    let a = c.as_any().downcast_ref::<arrow::array::Int64Array>()?;
    if a.is_empty() || arrow::array::Array::is_null(a, 0) { None } else { Some(a.value(0)) }
}

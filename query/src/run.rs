//! The one guarded path a user's statement takes, whichever transport brought it: the wire
//! protocol's simple and extended queries and `COPY … TO STDOUT`, the HTTP SQL API and the web's
//! saved queries. A [`Run`] holds a place among the heavy queries until the last row, stops the
//! statement at the time limit (the client's own `statement_timeout` when sooner) or at the
//! client's cancel request, and writes exactly one audit record when the statement ends: its
//! tables, its rows, and whether it failed or was cancelled. Errors come out typed
//! ([`QueryError`]); transports plan and encode, and map errors to their own codes.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use futures::{Stream, StreamExt as _};
use tokio::sync::OwnedSemaphorePermit;

use crate::QueryError;
use crate::access::Principal;
use crate::audit::{Action, Event};
use crate::service::SqlService;

/// How one statement is run.
#[derive(Debug)]
pub struct RunOptions {
    action: Action,
    heavy: bool,
    statement_timeout: Option<Duration>,
    cancel: Option<QueryToken>,
    recorded: bool,
}

impl RunOptions {
    /// A statement recorded as `action` (a query or an export), which takes a place among the heavy
    /// queries.
    pub fn new(action: Action) -> Self {
        RunOptions { action, heavy: true, statement_timeout: None, cancel: None, recorded: true }
    }

    /// Takes no place among the heavy queries: a later statement of a multi-statement request
    /// whose first one holds the place.
    pub fn light(mut self) -> Self {
        self.heavy = false;
        self
    }

    /// The client's own time limit, used when sooner than the server's `query_timeout_seconds`.
    pub fn statement_timeout(mut self, t: Option<Duration>) -> Self {
        self.statement_timeout = t;
        self
    }

    /// Writes no audit record: a statement that reads only settings or the catalogue (`SHOW …`).
    pub fn unrecorded(mut self) -> Self {
        self.recorded = false;
        self.heavy = false;
        self
    }

    /// Stops the statement when the client's cancel request arrives.
    pub fn cancel(mut self, token: QueryToken) -> Self {
        self.cancel = Some(token);
        self
    }
}

/// One user's statement from its start to its last row.
#[derive(Debug)]
pub struct Run {
    svc: SqlService,
    deadline: Instant,
    /// The deadline is the client's own `statement_timeout`.
    by_client: bool,
    cancel: Option<QueryToken>,
    _permit: Option<OwnedSemaphorePermit>,
    event: Option<Event>,
    rows: i64,
    /// The statement got as far as its rows; a run dropped before that failed.
    started: bool,
}

impl SqlService {
    /// Starts `sql` for `who` (from `client`): writes the audit records so far when an admin reads
    /// the audit log, and waits for a place among the heavy queries (up to `queue_wait_seconds`).
    pub async fn begin(&self, who: &Principal, client: &str, sql: &str, options: RunOptions) -> Result<Run, QueryError> {
        if who.is_admin() && crate::audit::reads_audit(sql) {
            // The audit log is read at its latest version; the records so far are written first.
            self.audit.flush().await;
        }
        let permit = if options.heavy { Some(self.heavy_permit().await?) } else { None };
        let server = self.q.limits().timeout;
        let (limit, by_client) = match options.statement_timeout {
            Some(t) if t < server => (t, true),
            _ => (server, false),
        };
        Ok(Run {
            svc: self.clone(),
            deadline: Instant::now() + limit,
            by_client,
            cancel: options.cancel,
            _permit: permit,
            event: options.recorded.then(|| Event::new(who, options.action, String::new(), client.to_string()).with_sql(sql)),
            rows: 0,
            started: false,
        })
    }

    /// A place among the heavy queries allowed to run at once, waiting for one up to the time limit.
    async fn heavy_permit(&self) -> Result<OwnedSemaphorePermit, QueryError> {
        let limits = self.q.limits();
        match tokio::time::timeout(limits.queue_wait, self.heavy.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(QueryError::Busy { limit: limits.max_concurrent, wait_seconds: limits.queue_wait.as_secs() }),
        }
    }

    /// An engine error as the caller is told it: running out of the memory budget names the budget.
    pub fn sql_error(&self, e: DataFusionError) -> QueryError {
        if matches!(e.find_root(), DataFusionError::ResourcesExhausted(_)) {
            return QueryError::Memory { mib: (self.q.limits().memory_bytes >> 20) as u64 };
        }
        QueryError::Sql(Box::new(e))
    }
}

impl Run {
    /// Runs `work` (planning, starting the plan, the next rows) until it ends, the deadline passes
    /// or the client cancels: the error says the run was stopped, the output is the work's own.
    pub async fn step<F: Future>(&mut self, work: F) -> Result<F::Output, QueryError> {
        let deadline = self.deadline;
        let cancel = &mut self.cancel;
        let stopped = tokio::select! {
            r = tokio::time::timeout_at(deadline.into(), work) => match r {
                Ok(r) => return Ok(r),
                Err(_) => false,
            },
            () = cancelled(cancel) => true,
        };
        Err(if stopped { QueryError::Cancelled } else { self.timeout() })
    }

    fn timeout(&self) -> QueryError {
        QueryError::Timeout { seconds: self.svc.q.limits().timeout.as_secs(), by_client: self.by_client }
    }

    /// Names the tables the statement reads in its audit record.
    pub fn reads(&mut self, tables: &[String]) {
        if let Some(e) = self.event.as_mut() {
            e.object = tables.join(",");
        }
    }

    /// Ends a statement that gave no rows (and did not fail).
    pub fn finish(mut self) {
        self.started = true;
    }

    /// Plans `sql` in `ctx` as a user's statement (queries only: no DDL, DML or `SET`), and names
    /// its tables in the audit record.
    pub async fn plan(&mut self, ctx: &SessionContext, sql: &str) -> Result<DataFrame, QueryError> {
        let df = match self.step(ctx.sql_with_options(sql, crate::read_only())).await? {
            Ok(df) => df,
            Err(e) => return Err(self.read_only_or(e)),
        };
        self.reads(&tables_of(df.logical_plan()));
        Ok(df)
    }

    /// A planning error, or the statement refused as one that would change the warehouse.
    fn read_only_or(&self, e: DataFusionError) -> QueryError {
        if let DataFusionError::Plan(m) = e.find_root()
            && let Some((kind, what)) = m.split_once(" not supported: ")
            && matches!(kind, "DDL" | "DML" | "Statement")
        {
            return QueryError::ReadOnly(what.to_string());
        }
        self.svc.sql_error(e)
    }

    /// Starts `df` and hands back its columns and its batches, watched (see [`Run::watch`]).
    pub async fn execute(mut self, df: DataFrame) -> Result<(SchemaRef, impl Stream<Item = Result<RecordBatch, QueryError>> + Send + 'static), QueryError> {
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let stream = self.step(df.execute_stream()).await?.map_err(|e| self.svc.sql_error(e))?;
        let svc = self.svc.clone();
        let batches = stream.map(move |b| b.map_err(|e| svc.sql_error(e)));
        Ok((schema, self.watch(batches, RecordBatch::num_rows, |e| e)))
    }

    /// Runs `df` to the end and hands back all its batches.
    pub async fn collect(self, df: DataFrame) -> Result<Vec<RecordBatch>, QueryError> {
        let (_, batches) = self.execute(df).await?;
        let mut batches = std::pin::pin!(batches);
        let mut out = Vec::new();
        while let Some(b) = batches.next().await {
            out.push(b?);
        }
        Ok(out)
    }

    /// Wraps a result's items (rows or batches, `count` rows each): stops them at the deadline or
    /// the client's cancel request (`stopped` turns the reason into the stream's error), holds the
    /// place among the heavy queries until the last item, and writes the audit record with the
    /// rows sent when the stream ends or is dropped.
    pub fn watch<S, T, E>(mut self, items: S, count: fn(&T) -> usize, stopped: fn(QueryError) -> E) -> impl Stream<Item = Result<T, E>> + Send + 'static
    where
        S: Stream<Item = Result<T, E>> + Send + Unpin + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.started = true;
        // The items go as soon as the statement stops or fails: whatever produces them (a cluster
        // job among them) is stopped then, not when the client lets go of the stream.
        futures::stream::unfold((self, Some(items)), move |(mut run, items)| async move {
            let mut items = items?;
            match run.step(items.next()).await {
                Err(why) => {
                    drop(items);
                    Some((Err(stopped(why)), (run, None)))
                }
                Ok(None) => None,
                Ok(Some(Ok(item))) => {
                    run.rows += i64::try_from(count(&item)).unwrap_or(i64::MAX);
                    Some((Ok(item), (run, Some(items))))
                }
                Ok(Some(Err(e))) => Some((Err(e), (run, None))),
            }
        })
    }
}

/// Resolves when the client cancels the statement (never without a token).
async fn cancelled(token: &mut Option<QueryToken>) {
    match token {
        Some(t) => t.cancelled().await,
        None => std::future::pending().await,
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let Some(mut e) = self.event.take() else { return };
        let outcome = if self.cancel.as_ref().is_some_and(QueryToken::is_cancelled) {
            " -- cancelled"
        } else if !self.started {
            " -- failed"
        } else {
            ""
        };
        e.sql = e.sql.map(|s| format!("{s}{outcome}"));
        // A statement that failed before its rows has no row count.
        self.svc.audit.record(if self.started { e.with_rows(self.rows) } else { e });
    }
}

/// Tables a plan reads (subqueries included), sorted, for the audit record.
pub fn tables_of(plan: &LogicalPlan) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let _ = plan.apply_with_subqueries(|p| {
        if let LogicalPlan::TableScan(s) = p {
            let t = s.table_name.table().to_string();
            if !out.contains(&t) {
                out.push(t);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out.sort();
    out
}

/// The running query of one client connection, as a cancel request finds it.
#[derive(Debug)]
pub struct CancelSignal {
    /// The id of the query running now (0: none).
    running: AtomicU64,
    next: AtomicU64,
    /// The id of the last query a cancel request was meant for.
    cancelled: tokio::sync::watch::Sender<u64>,
}

impl Default for CancelSignal {
    fn default() -> Self {
        CancelSignal { running: AtomicU64::new(0), next: AtomicU64::new(1), cancelled: tokio::sync::watch::Sender::new(0) }
    }
}

impl CancelSignal {
    /// Marks a query as running; the token resolves if a cancel request arrives before it ends.
    pub fn begin(self: &Arc<Self>) -> QueryToken {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.running.store(id, Ordering::SeqCst);
        QueryToken { signal: self.clone(), id, rx: self.cancelled.subscribe() }
    }

    /// Stops the query running now, if any.
    pub fn cancel(&self) {
        let id = self.running.load(Ordering::SeqCst);
        if id != 0 {
            self.cancelled.send_replace(id);
        }
    }
}

/// One running query; ends the query's claim to cancel requests when dropped.
#[derive(Debug)]
pub struct QueryToken {
    signal: Arc<CancelSignal>,
    id: u64,
    rx: tokio::sync::watch::Receiver<u64>,
}

impl QueryToken {
    /// Resolves when this query is cancelled (never otherwise).
    pub async fn cancelled(&mut self) {
        let id = self.id;
        if self.rx.wait_for(|c| *c >= id).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    pub fn is_cancelled(&self) -> bool {
        *self.rx.borrow() >= self.id
    }
}

impl Drop for QueryToken {
    fn drop(&mut self) {
        let _ = self.signal.running.compare_exchange(self.id, 0, Ordering::SeqCst, Ordering::SeqCst);
    }
}


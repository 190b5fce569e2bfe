//! Analysts' SQL on an Apache DataFusion Ballista cluster: a scheduler, executors that read the
//! warehouse's Parquet files themselves, and the client side that sends a query there.
//!
//! The client (`serve --cluster`, `sql --cluster`) plans a query exactly as one node does: the
//! caller's own scoped session, every table pinned to the published state as a list of its Parquet
//! files ([`khlang_warehouse::TableFiles`]), the scope as a filter over each scan, the files pruned
//! by partition values and statistics. A plan that reads warehouse files is then handed to the
//! scheduler as that physical plan (plain DataFusion operators over DataFusion's own Parquet scan,
//! which serialise without any codec of ours); the scheduler cuts it into stages at its exchanges
//! and the executors run them, each reading its files from the warehouse's store. So the cluster
//! computes the plan one node would have run, over the same files, with the same filters: Delta's
//! own scan, which cannot be serialised, never travels. The scheduler reads no data, but decoding a
//! Parquet scan looks up its store, so it is given the warehouse's store too. Plans that read no
//! files (catalogue queries, `EXPLAIN`) or have an input known to be empty run in the client.

use std::sync::Arc;

use ballista_core::config::BallistaConfig;
use ballista_core::client::BallistaClient;
use ballista_core::extension::SessionConfigExt as _;
use ballista_core::serde::BallistaPhysicalExtensionCodec;
use ballista_core::serde::protobuf::get_job_status_result::FlightProxy;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{CancelJobParams, ExecuteQueryParams, GetJobStatusParams, KeyValuePair, PartitionLocation, execute_query_params::Query, execute_query_result, job_status};
use ballista_core::utils::{GrpcClientConfig, create_grpc_client_endpoint};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SendableRecordBatchStream, SessionStateBuilder, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties};
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner as _};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::physical_plan::AsExecutionPlan as _;
use datafusion_proto::protobuf::PhysicalPlanNode;
use futures::{Stream, StreamExt as _, TryStreamExt as _};
use tonic::transport::Channel;
use khlang_warehouse::Warehouse;

use crate::QueryError;

/// A Ballista scheduler to send queries to.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// As given: `df://HOST:PORT`.
    url: String,
    /// The scheduler's gRPC endpoint, `http://HOST:PORT`.
    scheduler: String,
    host: String,
    port: u16,
}

impl Cluster {
    /// The cluster whose scheduler is at `url` (`df://HOST:PORT`, setting `cluster`).
    pub fn parse(url: &str) -> Result<Cluster, QueryError> {
        let bad = |why: &str| QueryError::User(format!("setting cluster = '{url}' {why}: give the scheduler as df://HOST:PORT, e.g. df://10.0.0.5:50050"));
        let Some(rest) = url.strip_prefix("df://") else { return Err(bad("does not start with df://")) };
        let rest = rest.trim_end_matches('/');
        let Some((host, port)) = rest.rsplit_once(':') else { return Err(bad("has no port")) };
        let Ok(port) = port.parse::<u16>() else { return Err(bad("is not HOST:PORT")) };
        if host.is_empty() {
            return Err(bad("is not HOST:PORT"));
        }
        Ok(Cluster { url: url.to_string(), scheduler: format!("http://{host}:{port}"), host: host.to_string(), port })
    }

    /// `ctx` with its queries sent to this cluster: the same tables, views and functions, planned by
    /// the same rules, with the settings Ballista needs for plans cut into stages (no round-robin
    /// repartitioning, no dynamic filters or scalar-subquery operators across stages, string views
    /// off for Arrow Flight).
    pub fn session(self: &Arc<Self>, ctx: SessionContext) -> SessionContext {
        let state = ctx.state();
        // The catalogue is the session's own: building must not make a fresh, empty default one.
        let config = state.config().clone().upgrade_for_ballista().with_create_default_catalog_and_schema(false);
        let table_options = datafusion::config::TableOptions::default_from_session_config(config.options());
        let state = SessionStateBuilder::new_from_existing(state)
            .with_config(config)
            .with_table_options(table_options)
            .with_query_planner(Arc::new(ClusterPlanner { cluster: self.clone() }))
            .build();
        SessionContext::new_with_state(state)
    }
}

/// Plans as one node does; a plan that reads warehouse files runs on the cluster.
#[derive(Debug)]
struct ClusterPlanner {
    cluster: Arc<Cluster>,
}

#[async_trait::async_trait]
impl QueryPlanner for ClusterPlanner {
    async fn create_physical_plan(&self, logical_plan: &LogicalPlan, session: &dyn Session) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = DefaultPhysicalPlanner::default().create_physical_plan(logical_plan, session).await?;
        if matches!(logical_plan, LogicalPlan::Explain(_) | LogicalPlan::Analyze(_)) || !reads_files(&plan)? || any_node(&plan, |n| n.is::<EmptyExec>())? {
            return Ok(plan);
        }
        Ok(Arc::new(ClusterExec::new(sort_window_partitions(plan)?, self.cluster.clone())))
    }
}

/// Gives every window operator an input sorted by its PARTITION BY keys in so many words.
///
/// One node's planner leaves a key out of the sort when a filter makes it constant (a director's
/// `area_code = '…'`, an analyst's own WHERE); the window operator relies on that constant. The
/// cluster cuts the plan into stages at the exchange below the window, and the stage above no longer
/// knows the key is constant: the operator would refuse its input ("Expects PARTITION BY expression to
/// be ordered"). Sorting by a constant key first costs nothing and holds in every stage.
fn sort_window_partitions(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    use datafusion::common::tree_node::Transformed;
    use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
    use datafusion::physical_plan::sorts::sort::SortExec;
    use datafusion::physical_plan::windows::{BoundedWindowAggExec, WindowAggExec};
    plan.transform_up(|node| {
        let (keys, input) = if let Some(w) = node.downcast_ref::<BoundedWindowAggExec>() {
            (w.partition_keys(), w.input().clone())
        } else if let Some(w) = node.downcast_ref::<WindowAggExec>() {
            (w.partition_keys(), w.input().clone())
        } else {
            return Ok(Transformed::no(node));
        };
        let ordering: Vec<PhysicalSortExpr> = input.properties().output_ordering().map(|o| o.iter().cloned().collect()).unwrap_or_default();
        let missing: Vec<PhysicalSortExpr> = keys.iter().filter(|k| !ordering.iter().any(|s| s.expr.eq(*k))).map(|k| PhysicalSortExpr::new_default(k.clone())).collect();
        if missing.is_empty() {
            return Ok(Transformed::no(node));
        }
        let Some(sort) = LexOrdering::new(missing.into_iter().chain(ordering)) else { return Ok(Transformed::no(node)) };
        let sorted: Arc<dyn ExecutionPlan> = match input.downcast_ref::<SortExec>() {
            Some(s) => Arc::new(SortExec::new(sort, s.input().clone()).with_preserve_partitioning(s.preserve_partitioning())),
            None => Arc::new(SortExec::new(sort, input.clone()).with_preserve_partitioning(true)),
        };
        let recompute = datafusion::physical_plan::ReplaceChildrenOptions::new(datafusion::physical_plan::execution_plan::ChildrenPropertiesMode::Recompute);
        Ok(Transformed::yes(node.replace_children(vec![sorted], recompute)?))
    })
    .map(|t| t.data)
}

/// Whether `plan` scans files (the warehouse's tables) anywhere.
fn reads_files(plan: &Arc<dyn ExecutionPlan>) -> Result<bool> {
    any_node(plan, |n| n.downcast_ref::<DataSourceExec>().is_some_and(|d| d.data_source().downcast_ref::<FileScanConfig>().is_some()))
}

/// Whether any node of `plan` is `wanted`. An `EmptyExec` (a contradictory branch, such as a
/// director's `area_code <> '…'` under their own area, or a table whose every file was pruned) keeps
/// a plan here: Ballista 55 does not finish a job with such a stage beside a file scan (seen with
/// `UNION ALL`: the query waited to its time limit).
fn any_node(plan: &Arc<dyn ExecutionPlan>, wanted: impl Fn(&dyn ExecutionPlan) -> bool) -> Result<bool> {
    let mut found = false;
    plan.apply(|node| {
        found = wanted(node.as_ref());
        Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    })?;
    Ok(found)
}

/// A planned query that the cluster runs; its rows come back in one stream.
#[derive(Debug)]
struct ClusterExec {
    plan: Arc<dyn ExecutionPlan>,
    cluster: Arc<Cluster>,
    properties: Arc<PlanProperties>,
}

impl ClusterExec {
    fn new(plan: Arc<dyn ExecutionPlan>, cluster: Arc<Cluster>) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(plan.schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        ClusterExec { plan, cluster, properties }
    }
}

impl DisplayAs for ClusterExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "ClusterExec: scheduler={}", self.cluster.url)
    }
}

impl ExecutionPlan for ClusterExec {
    fn name(&self) -> &str {
        "ClusterExec"
    }

    fn schema(&self) -> SchemaRef {
        self.plan.schema()
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    /// The plan inside is the cluster's: local optimisers must not rewrite it.
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, _children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!("ClusterExec has one partition, not {partition}")));
        }
        let plan = self.plan.clone();
        let cluster = self.cluster.clone();
        let session_config = context.session_config().clone();
        let session_id = context.session_id();
        let url = cluster.url.clone();
        let rows = futures::stream::once(async move { run_job(cluster, plan, session_id, session_config).await }).try_flatten()
        .map_err(move |e| DataFusionError::Execution(format!("the cluster at {url} could not run the query: {e}")));
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.plan.schema(), rows)))
    }
}

/// Cancels a job on the scheduler when dropped before the job ended: a statement stopped by its
/// time limit or the client's cancel request stops on the executors too.
struct CancelOnDrop {
    scheduler: SchedulerGrpcClient<Channel>,
    job_id: Option<String>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let (Some(job_id), Ok(runtime)) = (self.job_id.take(), tokio::runtime::Handle::try_current()) else { return };
        let mut scheduler = self.scheduler.clone();
        runtime.spawn(async move {
            match scheduler.cancel_job(CancelJobParams { job_id: job_id.clone() }).await {
                Ok(r) => tracing::info!(job = job_id, cancelled = r.into_inner().cancelled, "cluster job cancelled: its statement was stopped"),
                Err(e) => tracing::warn!(job = job_id, error = %e, "could not cancel the cluster job"),
            }
        });
    }
}

fn failed(what: &str, e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!("{what}: {e}"))
}

/// Runs `plan` on the cluster as one job: submits it, waits for it to end, then streams the result
/// partitions from the executors that hold them. Ballista's own `execute_physical_plan` does the
/// same but leaves the job running when its caller gives up; this one cancels it (`CancelOnDrop`).
async fn run_job(cluster: Arc<Cluster>, plan: Arc<dyn ExecutionPlan>, session_id: String, session_config: SessionConfig) -> Result<impl Stream<Item = Result<RecordBatch>> + Send + 'static> {
    let config: BallistaConfig = session_config.ballista_config();
    let node = PhysicalPlanNode::try_from_physical_plan(plan, &BallistaPhysicalExtensionCodec::default()).map_err(|e| failed("cannot serialise the plan", e))?;
    let mut buf = Vec::new();
    node.try_encode(&mut buf).map_err(|e| failed("cannot encode the plan", e))?;
    let settings = session_config.options().entries().into_iter().map(|e| KeyValuePair { key: e.key, value: e.value }).collect();
    let query = ExecuteQueryParams { query: Some(Query::PhysicalPlan(buf)), settings, session_id, operation_id: uuid::Uuid::new_v4().to_string() };

    let max_message = config.grpc_client_max_message_size();
    let grpc = GrpcClientConfig::from(&config);
    let channel = create_grpc_client_endpoint(cluster.scheduler.clone(), Some(&grpc))
        .map_err(|e| failed("bad scheduler address", e))?
        .connect()
        .await
        .map_err(|e| failed("cannot reach the scheduler", e))?;
    let mut scheduler = SchedulerGrpcClient::new(channel).max_encoding_message_size(max_message).max_decoding_message_size(max_message);
    let mut request = tonic::Request::new(query);
    ballista_core::version::insert_version_header(request.metadata_mut());
    let submitted = scheduler.execute_query(request).await.map_err(|e| failed("the scheduler refused the job", e))?.into_inner();
    let job_id = match submitted.result {
        Some(execute_query_result::Result::Success(s)) => s.job_id,
        other => return Err(failed("the scheduler refused the job", format!("{other:?}"))),
    };
    let mut guard = CancelOnDrop { scheduler: scheduler.clone(), job_id: Some(job_id.clone()) };
    let (locations, proxy) = loop {
        let status = scheduler.get_job_status(GetJobStatusParams { job_id: job_id.clone() }).await.map_err(|e| failed("lost the scheduler", e))?.into_inner();
        match status.status.and_then(|s| s.status) {
            Some(job_status::Status::Successful(done)) => break (done.partition_location, status.flight_proxy),
            Some(job_status::Status::Failed(f)) => {
                guard.job_id = None;
                return Err(failed(&format!("job {job_id} failed"), f.error));
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    };
    guard.job_id = None;
    let (scheduler_host, scheduler_port) = (cluster.host.clone(), cluster.port);
    let streams = locations.into_iter().map(move |location| {
        let fetch = fetch_partition(location, proxy.clone(), (scheduler_host.clone(), scheduler_port), grpc.clone());
        futures::stream::once(fetch).try_flatten()
    });
    Ok(futures::stream::iter(streams).flatten())
}

/// One result partition of a finished job, read over Arrow Flight from the executor holding it
/// (or through the scheduler or a proxy, when the scheduler says so).
async fn fetch_partition(location: PartitionLocation, proxy: Option<FlightProxy>, scheduler: (String, u16), grpc: GrpcClientConfig) -> Result<SendableRecordBatchStream> {
    let layout = location.layout();
    let executor = location.executor_meta.ok_or_else(|| failed("a result partition", "has no executor"))?;
    let partition = location.partition_id.ok_or_else(|| failed("a result partition", "has no id"))?;
    let executor_port = u16::try_from(executor.port).map_err(|e| failed("the executor's port", e))?;
    let (host, port) = match proxy {
        Some(FlightProxy::External(address)) => {
            let (h, p) = address.rsplit_once(':').ok_or_else(|| failed("the flight proxy", format!("{address} is not HOST:PORT")))?;
            (h.to_string(), p.parse::<u16>().map_err(|e| failed("the flight proxy's port", e))?)
        }
        Some(FlightProxy::Local(true)) => scheduler,
        _ => (executor.host.clone(), executor_port),
    };
    let mut client = BallistaClient::try_new(&host, port, grpc.max_message_size, grpc.use_tls, None, grpc.io_retries_times, grpc.io_retry_wait_time_ms, 0, 0)
        .await
        .map_err(|e| failed(&format!("cannot reach executor {host}:{port}"), e))?;
    client
        .fetch_partition_proxied(&executor.id, &partition.into(), location.file_id, layout, &executor.host, executor_port, true)
        .await
        .map_err(|e| failed("cannot fetch a result partition", e))
}

/// How a scheduler listens.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    pub bind: std::net::SocketAddr,
    /// The host executors and clients reach it by (default: the bind address's host).
    pub external_host: Option<String>,
    /// An executor silent this long is taken as lost; its tasks run again elsewhere.
    pub executor_timeout: std::time::Duration,
}

/// Runs a Ballista scheduler for the warehouse `wh` until it fails. The scheduler reads no data,
/// but it resolves the files a plan names in the warehouse's store, so it needs that store's settings.
pub async fn run_scheduler(wh: &Warehouse, opts: SchedulerOptions) -> Result<(), QueryError> {
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::{SchedulerConfig, TaskDistributionPolicy};
    let timeout = opts.executor_timeout.as_secs().max(1);
    let external_host = match opts.external_host {
        Some(h) => h,
        None if opts.bind.ip().is_unspecified() => return Err(QueryError::User(format!("scheduler bound to {} needs --external-host: the address executors and clients reach it by", opts.bind))),
        None => opts.bind.ip().to_string(),
    };
    let store = wh.object_store();
    let sessions: ballista_scheduler::SessionBuilder = Arc::new(move |config| {
        let state = ballista_core::utils::default_session_builder(config)?;
        if let Some((url, store)) = &store {
            state.runtime_env().register_object_store(url, store.clone());
        }
        Ok(state)
    });
    let config = SchedulerConfig {
        override_session_builder: Some(sessions),
        bind_host: opts.bind.ip().to_string(),
        bind_port: opts.bind.port(),
        external_host,
        executor_timeout_seconds: timeout,
        expire_dead_executor_interval_seconds: (timeout / 3).clamp(1, 15),
        no_executors_grace_period_seconds: timeout,
        // Tasks dealt to every executor in turn, not one filled first.
        task_distribution: TaskDistributionPolicy::RoundRobin,
        ..SchedulerConfig::default()
    };
    let cluster = BallistaCluster::new_from_config(&config).await.map_err(cluster_err)?;
    ballista_scheduler::scheduler_process::start_server(cluster, opts.bind, Arc::new(config)).await.map_err(cluster_err)
}

/// How an executor runs.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler, `HOST:PORT`.
    pub scheduler: String,
    /// Arrow Flight (results and shuffle data) on this address; the executor's gRPC service on the
    /// next port.
    pub bind: std::net::SocketAddr,
    /// The host the scheduler, other executors and clients reach it by (default: the bind host).
    pub external_host: Option<String>,
    /// Shuffle files and spills.
    pub work_dir: std::path::PathBuf,
    /// Tasks run at once (default: the machine's cores).
    pub vcores: usize,
    /// Memory one task may hold before it spills or fails (the `query_memory_mb` setting).
    pub task_memory_bytes: u64,
    /// Seconds between heartbeats to the scheduler.
    pub heartbeat: std::time::Duration,
}

/// Runs a Ballista executor for the warehouse `wh` (whose store it reads the table files from)
/// until it fails.
pub async fn run_executor(wh: &Warehouse, opts: ExecutorOptions) -> Result<(), QueryError> {
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
    let (scheduler_host, scheduler_port) = opts
        .scheduler
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| QueryError::User(format!("--scheduler '{}' is not HOST:PORT", opts.scheduler)))?;
    let external_host = match opts.external_host {
        Some(h) => h,
        None if opts.bind.ip().is_unspecified() => return Err(QueryError::User(format!("executor bound to {} needs --external-host: the address the scheduler and clients reach it by", opts.bind))),
        None => opts.bind.ip().to_string(),
    };
    let grpc_port = opts.bind.port().checked_add(1).ok_or_else(|| QueryError::User(format!("executor port {} leaves no next port for its gRPC service", opts.bind.port())))?;
    std::fs::create_dir_all(&opts.work_dir).map_err(|e| QueryError::User(format!("executor work folder {} cannot be made: {e}", opts.work_dir.display())))?;
    let work_dir = opts.work_dir.display().to_string();
    let vcores = opts.vcores.max(1);

    // Every task gets a runtime that reaches the warehouse's store (one client, shared).
    let store = wh.object_store();
    let temp = work_dir.clone();
    let runtime: ballista_core::RuntimeProducer = Arc::new(move |_| {
        let runtime = RuntimeEnvBuilder::new().with_temp_file_path(temp.clone()).build()?;
        if let Some((url, store)) = &store {
            runtime.register_object_store(url, store.clone());
        }
        Ok(Arc::new(runtime))
    });
    let config = ExecutorProcessConfig {
        bind_host: opts.bind.ip().to_string(),
        external_host: Some(external_host),
        port: opts.bind.port(),
        grpc_port,
        scheduler_host,
        scheduler_port,
        scheduler_connect_timeout_seconds: 30,
        vcores,
        work_dir: Some(work_dir),
        print_thread_info: false,
        executor_heartbeat_interval_seconds: opts.heartbeat.as_secs().max(1),
        memory_pool_size: Some(opts.task_memory_bytes.saturating_mul(vcores as u64)),
        override_runtime_producer: Some(runtime),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config)).await.map_err(cluster_err)
}

fn cluster_err(e: ballista_core::error::BallistaError) -> QueryError {
    QueryError::Cluster(Box::new(e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_cluster_is_named_as_df_host_port() {
        let c = Cluster::parse("df://10.0.0.5:50050").unwrap();
        assert_eq!(c.scheduler, "http://10.0.0.5:50050");
        for bad in ["http://10.0.0.5:50050", "df://10.0.0.5", "df://:50050", "df://host:port"] {
            let e = Cluster::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("df://HOST:PORT"), "{e}");
        }
    }

    #[tokio::test]
    async fn plans_that_read_files_go_to_the_cluster_and_catalogue_queries_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "a\n1\n2\n").unwrap();
        let ctx = SessionContext::new_with_config(datafusion::prelude::SessionConfig::new().with_information_schema(true));
        ctx.register_csv("t", path.to_str().unwrap(), Default::default()).await.unwrap();
        let cluster = Arc::new(Cluster::parse("df://127.0.0.1:1").unwrap());
        let ctx = cluster.session(ctx);
        let scan = ctx.sql("SELECT count(*) FROM t WHERE a > 1").await.unwrap().create_physical_plan().await.unwrap();
        assert_eq!(scan.name(), "ClusterExec");
        let catalogue = ctx.sql("SELECT table_name FROM information_schema.tables").await.unwrap().create_physical_plan().await.unwrap();
        assert!(!reads_files(&catalogue).unwrap() && catalogue.name() != "ClusterExec");
        // No scheduler listens there: the query fails with a sentence naming the cluster.
        let e = ctx.sql("SELECT a FROM t").await.unwrap().collect().await.unwrap_err().to_string();
        assert!(e.contains("the cluster at df://127.0.0.1:1 could not run the query"), "{e}");
    }
}

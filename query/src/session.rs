//! Building one user's SQL session: the contract tables they may read, each scoped to their area or
//! school, pinned to one published warehouse state; the views; time travel; the memory budget.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::catalog::TableFunctionImpl;
use datafusion::common::ScalarValue;
use datafusion::datasource::TableProvider;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::Expr;
use datafusion::prelude::{SessionConfig, SessionContext};
use khlang_warehouse::office::sql_literal;
use khlang_warehouse::{At, Commit, Warehouse, schema};

use crate::access::{Principal, Role, Scope, ScopedTable, row_filter};
use crate::per_state::PerState;
use crate::{QueryError, QueryService};

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

/// `usage_summary` (admins): queries, exports and reports per user, per day, per table, for the
/// office's yearly review of how the warehouse is used.
const USAGE_SUMMARY: &str = "CREATE VIEW usage_summary AS \
SELECT day, user_name, role, action, t AS table_name, count(*) AS events, sum(rows) AS rows \
FROM (SELECT day, user_name, role, action, rows, unnest(CASE WHEN object IS NULL OR object = '' THEN ['(none)'] ELSE string_to_array(object, ',') END) AS t \
      FROM audit_log WHERE action IN ('query', 'export', 'report')) u \
GROUP BY day, user_name, role, action, t";

/// A count as published: counts from 1 to 4 could single out a child or a teacher, so they are
/// withheld (NULL).
fn suppressed(count: &str) -> String {
    format!("CASE WHEN {count} < 5 THEN NULL ELSE {count} END")
}

/// The public role's views: published aggregates only, every count under 5 suppressed.
fn public_views() -> Vec<String> {
    public_view_defs().into_iter().map(|(name, select)| format!("CREATE VIEW {name} AS {select}")).collect()
}

/// Each public view's name and query.
fn public_view_defs() -> Vec<(&'static str, String)> {
    PUBLIC_VIEWS.iter().copied().zip(public_view_queries()).collect()
}

fn public_view_queries() -> Vec<String> {
    vec![
        format!(
            "SELECT snapshot_date, academic_year, area_code, level, sex, {} AS students \
             FROM enrollments WHERE status = 'studying' GROUP BY snapshot_date, academic_year, area_code, level, sex",
            suppressed("count(*)")
        ),
        format!(
            "SELECT snapshot_date, academic_year, area_code, size_band, {} AS schools, {} AS students, {} AS teachers \
             FROM school_snapshot_summary GROUP BY snapshot_date, academic_year, area_code, size_band",
            suppressed("count(*)"),
            suppressed("sum(students)"),
            suppressed("sum(teachers)")
        ),
        format!(
            "SELECT as_of_date, area_code, position, sex, {} AS people \
             FROM personnel GROUP BY as_of_date, area_code, position, sex",
            suppressed("count(*)")
        ),
        format!(
            "SELECT academic_year, test, area_code, subject, {} AS examinees, \
             CASE WHEN sum(examinees) < 5 THEN NULL ELSE round(sum(mean_score * examinees) / sum(examinees), 2) END AS mean_score \
             FROM test_results GROUP BY academic_year, test, area_code, subject",
            suppressed("sum(examinees)")
        ),
    ]
}

pub const PUBLIC_VIEWS: [&str; 4] = ["public_enrollment", "public_schools", "public_personnel", "public_test_results"];

/// Table providers of one published state, shared by every session reading it.
pub(crate) type Providers = HashMap<&'static str, Arc<dyn TableProvider>>;

/// The providers of the latest published state, with its sequence number.
pub(crate) type Cached = (u64, Arc<Providers>);

/// Sessions already built, by the published state they read and the caller's role and scope.
///
/// Building a session registers the caller's tables, plans the views and reads an area's schools;
/// every connection and request of the same kind of caller would repeat that. A cached session is
/// handed out as a copy with its own memory budget: the tables and views are shared, settings and
/// functions registered later are the copy's own.
#[derive(Debug)]
pub struct SessionCache {
    map: PerState<(Role, Scope), SessionState>,
    /// The public's session of approved figures, by the latest state and the length of the
    /// approval history (which only grows).
    approved: Mutex<Option<((u64, usize), SessionState)>>,
}

/// Distinct callers kept per published state (each school's users are one scope).
const CACHED_SCOPES: usize = 512;

impl Default for SessionCache {
    fn default() -> Self {
        SessionCache { map: PerState::new(CACHED_SCOPES), approved: Mutex::default() }
    }
}

impl SessionCache {
    pub fn get(&self, seq: u64, who: &Principal) -> Option<SessionState> {
        self.map.get(seq, (who.role, who.scope.clone()))
    }

    /// Keeps `state` for `who` at `seq`, dropping sessions of older states.
    pub fn put(&self, seq: u64, who: &Principal, state: SessionState) {
        self.map.put(seq, (who.role, who.scope.clone()), state);
    }
}

/// A table that is read at its latest version whenever it is scanned (the audit log, written all
/// day), so a cached session still shows the newest records.
#[derive(Debug)]
struct Latest {
    wh: Warehouse,
    name: &'static str,
    schema: datafusion::arrow::datatypes::SchemaRef,
}

#[async_trait::async_trait]
impl TableProvider for Latest {
    fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> datafusion::datasource::TableType {
        datafusion::datasource::TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn datafusion::catalog::Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        match self.wh.provider(self.name, At::Latest).await.map_err(df_err)? {
            Some(p) if p.schema() == self.schema => p.scan(state, projection, filters, limit).await,
            Some(_) => Err(df_err(format!("table {} changed its columns while this session was open; run the query again", self.name))),
            None => {
                let schema = match projection {
                    Some(p) => Arc::new(self.schema.project(p)?),
                    None => self.schema.clone(),
                };
                Ok(Arc::new(datafusion::physical_plan::empty::EmptyExec::new(schema)))
            }
        }
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> datafusion::error::Result<Vec<datafusion::logical_expr::TableProviderFilterPushDown>> {
        Ok(vec![datafusion::logical_expr::TableProviderFilterPushDown::Inexact; filters.len()])
    }
}

/// Limits on one query.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Memory a query may hold before it spills or fails.
    pub memory_bytes: usize,
    pub timeout: std::time::Duration,
    /// Heavy queries (analysts' SQL, exports) running at once.
    pub max_concurrent: usize,
    /// How long a heavy query waits for a place before it is refused.
    pub queue_wait: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { memory_bytes: 2 << 30, timeout: std::time::Duration::from_secs(300), max_concurrent: 4, queue_wait: std::time::Duration::from_secs(30) }
    }
}

fn df_err(e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Plan(e.to_string())
}

/// A time as SQL and the command line take it: RFC 3339, or a Thai wall-clock time (Asia/Bangkok).
pub fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return khlang_warehouse::office::from_local(t);
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return khlang_warehouse::office::from_local(d.and_hms_opt(0, 0, 0)?);
    }
    None
}

/// `as_of('table', 'time')` and `at_version('table', n)`: one table as it was, through the same
/// scope as the user's other tables.
#[derive(Debug)]
struct TimeTravel {
    wh: Warehouse,
    who: Principal,
    area_schools: Arc<Vec<String>>,
    by_version: bool,
}

impl TimeTravel {
    fn name(&self) -> &'static str {
        if self.by_version { "at_version" } else { "as_of" }
    }

    fn usage(&self) -> String {
        if self.by_version {
            "at_version('table', version) takes a table name and a Delta version number, e.g. at_version('enrollments', 3)".into()
        } else {
            "as_of('table', 'time') takes a table name and a time, e.g. as_of('enrollments', '2026-06-10 17:00') (Thai time) or an RFC 3339 time".into()
        }
    }
}

fn literal(e: &Expr) -> Option<&ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v),
        _ => None,
    }
}

impl TableFunctionImpl for TimeTravel {
    fn call_with_args(&self, args: datafusion::catalog::TableFunctionArgs) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let [table, when] = exprs else { return Err(df_err(self.usage())) };
        let Some(ScalarValue::Utf8(Some(table)) | ScalarValue::Utf8View(Some(table))) = literal(table) else { return Err(df_err(self.usage())) };
        let table = table.to_lowercase();
        if schema::table(&table).is_none() || !self.who.may_read(&table) {
            return Err(df_err(format!("{}: there is no table named {table} that you can read", self.name())));
        }
        let at = if self.by_version {
            let v = match literal(when) {
                Some(ScalarValue::Int64(Some(v))) => *v,
                Some(ScalarValue::Int32(Some(v))) => i64::from(*v),
                _ => return Err(df_err(self.usage())),
            };
            At::Version(u64::try_from(v).map_err(|_| df_err(self.usage()))?)
        } else {
            let Some(ScalarValue::Utf8(Some(t)) | ScalarValue::Utf8View(Some(t))) = literal(when) else { return Err(df_err(self.usage())) };
            let t = parse_time(t).ok_or_else(|| df_err(format!("as_of: '{t}' is not a time like 2026-06-10 17:00 (Thai time) or 2026-06-10T17:00:00+07:00")))?;
            At::Timestamp(t)
        };
        let wh = self.wh.clone();
        let name = table.clone();
        // Table functions are planned synchronously; reading a Delta log is not.
        let provider = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async move {
                let at = match at {
                    // A time means the published state then, so tables read together agree.
                    At::Timestamp(t) => {
                        let commit = wh.committed_at(t).await?;
                        At::Version(commit.and_then(|c| c.tables.get(&name).copied()).unwrap_or(0))
                    }
                    other => other,
                };
                wh.provider(&name, at).await
            })
        })
        .map_err(df_err)?
        .ok_or_else(|| df_err(format!("{}: table {table} has not been written yet", self.name())))?;
        let filter = row_filter(&table, &provider.schema(), &self.who.scope, &self.area_schools);
        Ok(Arc::new(ScopedTable::new(provider, self.who.hidden_columns(&table), filter)))
    }
}

/// Plans the public views over `providers` as `{view}__{tag}`, with the tables taken away again
/// afterwards; returns (view, planned name) of those whose tables exist.
async fn plan_public_views(ctx: &SessionContext, providers: &Providers, tag: &str) -> Result<Vec<(&'static str, String)>, QueryError> {
    for (name, p) in providers.iter() {
        ctx.register_table(*name, p.clone())?;
    }
    let mut out = Vec::new();
    for (view, select) in public_view_defs() {
        let part = format!("{view}__{tag}");
        match ctx.sql(&format!("CREATE VIEW {part} AS {select}")).await {
            Ok(_) => out.push((view, part)),
            Err(e) => tracing::debug!(error = %e, "public view skipped (its table has not been written yet)"),
        }
    }
    for name in providers.keys() {
        ctx.deregister_table(*name)?;
    }
    Ok(out)
}

impl QueryService {
    /// Providers of every table at its version in `commit`, loaded once per published state.
    pub(crate) async fn providers_of(&self, commit: Option<&Commit>) -> Result<Arc<Providers>, QueryError> {
        let seq = commit.map_or(0, |c| c.seq);
        if let Some((s, p)) = self.cache.lock().map_err(|_| QueryError::Internal("provider cache poisoned".into()))?.as_ref()
            && *s == seq
        {
            return Ok(p.clone());
        }
        let mut providers = Providers::new();
        for name in schema::table_names() {
            if schema::is_live(name) {
                continue;
            }
            let version = commit.and_then(|c| c.tables.get(name).copied()).unwrap_or(0);
            if let Some(p) = self.wh.provider(name, At::Version(version)).await? {
                providers.insert(name, p);
            }
        }
        let providers = Arc::new(providers);
        // Only the newest state is worth keeping; time travel is rare.
        let latest = self.wh.committed().await?.map_or(0, |c| c.seq);
        if seq == latest
            && let Ok(mut cache) = self.cache.lock()
        {
            *cache = Some((seq, providers.clone()));
        }
        Ok(providers)
    }

    fn runtime(&self) -> Result<Arc<datafusion::execution::runtime_env::RuntimeEnv>, QueryError> {
        let caches = CacheManagerConfig::default().with_file_metadata_cache(Some(self.footers.clone())).with_metadata_cache_limit(crate::FOOTER_CACHE_BYTES);
        Ok(RuntimeEnvBuilder::new().with_memory_pool(Arc::new(FairSpillPool::new(self.limits.memory_bytes))).with_cache_manager(caches).build_arc()?)
    }

    fn new_context(&self) -> Result<SessionContext, QueryError> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema("khlang", "public")
            .with_batch_size(crate::BATCH_ROWS);
        let ctx = SessionContext::new_with_config_rt(config, self.runtime()?);
        ctx.add_analyzer_rule(Arc::new(crate::fold::FoldScalarSubqueries));
        Ok(ctx)
    }

    /// A session of its own from a cached one: the same tables and views, a fresh memory budget.
    pub fn session_from(&self, state: &SessionState) -> Result<SessionContext, QueryError> {
        let state = SessionStateBuilder::new_from_existing(state.clone()).with_runtime_env(self.runtime()?).build();
        Ok(SessionContext::new_with_state(state))
    }

    /// A session for `who` over the published state `commit` (every table empty when `None`),
    /// built once per published state and kind of caller.
    pub async fn session_for_commit(&self, who: &Principal, commit: Option<&Commit>) -> Result<SessionContext, QueryError> {
        let seq = commit.map_or(0, |c| c.seq);
        if let Some(state) = self.sessions.get(seq, who) {
            return self.session_from(&state);
        }
        let (ctx, latest) = self.build_session(who, commit).await?;
        if latest {
            self.sessions.put(seq, who, ctx.state());
        }
        Ok(ctx)
    }

    /// Builds a new session for `who` over `commit`, and whether `commit` is the latest published
    /// state (so the session is worth keeping).
    pub async fn build_session(&self, who: &Principal, commit: Option<&Commit>) -> Result<(SessionContext, bool), QueryError> {
        let seq = commit.map_or(0, |c| c.seq);
        let providers = self.providers_of(commit).await?;
        let latest = self.wh.committed().await?.map_or(0, |c| c.seq) == seq;
        let ctx = self.new_context()?;

        // Public aggregates are built over national tables that are then taken away again: a view
        // keeps the tables it was planned over, so the user can read the view and nothing else.
        for (name, p) in providers.iter() {
            ctx.register_table(*name, p.clone())?;
        }
        for v in public_views() {
            if let Err(e) = ctx.sql(&v).await {
                tracing::debug!(error = %e, "public view skipped (its table has not been written yet)");
            }
        }
        let area_schools = Arc::new(match &who.scope {
            Scope::Area(area) if providers.contains_key("schools") => {
                let b = ctx.sql(&format!("SELECT school_code FROM schools WHERE area_code = {}", sql_literal(area))).await?.collect().await?;
                crate::column_strings(&b)
            }
            _ => Vec::new(),
        });
        for name in providers.keys() {
            ctx.deregister_table(*name)?;
        }
        if who.role == Role::Public {
            return Ok((ctx, latest));
        }

        for name in schema::table_names() {
            if !who.may_read(name) {
                continue;
            }
            let provider = if schema::is_live(name) {
                self.wh.provider(name, At::Latest).await?.map(|p| Arc::new(Latest { wh: self.wh.clone(), name, schema: p.schema() }) as Arc<dyn TableProvider>)
            } else {
                providers.get(name).cloned()
            };
            let Some(p) = provider else { continue };
            let filter = row_filter(name, &p.schema(), &who.scope, &area_schools);
            ctx.register_table(name, Arc::new(ScopedTable::new(p, who.hidden_columns(name), filter)))?;
        }
        // Counting queries over enrollments read the counts taken at load (the same scope on both).
        if let (Ok(enrollments), Ok(counts)) = (ctx.table_provider("enrollments").await, ctx.table_provider("enrollment_counts").await) {
            ctx.add_analyzer_rule(Arc::new(crate::counts::ReadCounts::new(enrollments, counts)));
        }
        if ctx.table_exist("enrollments")? && ctx.table_exist("schools")? {
            ctx.sql(SUBMISSION_STATUS).await?;
        }
        if ctx.table_exist("audit_log")? {
            ctx.sql(USAGE_SUMMARY).await?;
        }
        for by_version in [false, true] {
            let f = TimeTravel { wh: self.wh.clone(), who: who.clone(), area_schools: area_schools.clone(), by_version };
            ctx.register_udtf(f.name(), Arc::new(f));
        }
        // A live table not yet written would stay missing from a kept session.
        let complete = schema::table_names().into_iter().all(|n| !schema::is_live(n) || !who.may_read(n) || ctx.table_exist(n).unwrap_or(false));
        Ok((ctx, latest && complete))
    }

    /// The public's session: each area's public views read from the state its director (or an
    /// admin) approved, up to the approved snapshot; empty for areas nothing was approved for. Built
    /// once per latest state and approval history.
    pub async fn approved_public_session(&self) -> Result<SessionContext, QueryError> {
        let history = crate::approvals::Approvals::new(self.wh.clone()).history().await?;
        let latest = self.wh.committed().await?;
        let key = (latest.as_ref().map_or(0, |c| c.seq), history.len());
        if let Ok(slot) = self.sessions.approved.lock()
            && let Some((k, state)) = slot.as_ref()
            && *k == key
        {
            return self.session_from(state);
        }
        let ctx = self.new_context()?;
        let latest_providers = self.providers_of(latest.as_ref()).await?;
        let areas = match latest_providers.get("areas") {
            Some(p) => {
                ctx.register_table("areas", p.clone())?;
                let b = ctx.sql("SELECT area_code FROM areas ORDER BY area_code").await?.collect().await?;
                ctx.deregister_table("areas")?;
                crate::column_strings(&b)
            }
            None => Vec::new(),
        };
        let (groups, _) = crate::approvals::groups(&history, areas);
        // Each group's views are planned over its own state's tables, then taken away again.
        let mut parts: HashMap<&str, Vec<String>> = HashMap::new();
        let mut planned = Vec::new();
        for (i, (e, members)) in groups.iter().enumerate() {
            let commit = self.wh.commit(e.state).await?.ok_or_else(|| QueryError::Internal(format!("approved data version {} is no longer in the warehouse", e.state)))?;
            let providers = self.providers_of(Some(&commit)).await?;
            let only = crate::approvals::area_in(members);
            let snapshot = e.snapshot;
            for (view, part) in plan_public_views(&ctx, &providers, &i.to_string()).await? {
                let upto = if matches!(view, "public_enrollment" | "public_schools") { format!(" AND snapshot_date <= DATE '{snapshot}'") } else { String::new() };
                parts.entry(view).or_default().push(format!("SELECT * FROM {part} WHERE {only}{upto}"));
                planned.push(part);
            }
        }
        // A view nothing is approved for yet is empty, with its columns.
        for (view, part) in plan_public_views(&ctx, &latest_providers, "none").await? {
            parts.entry(view).or_default().push(format!("SELECT * FROM {part} WHERE false"));
            planned.push(part);
        }
        for (view, selects) in &parts {
            ctx.sql(&format!("CREATE VIEW {view} AS {}", selects.join(" UNION ALL "))).await?;
        }
        for part in planned {
            ctx.deregister_table(part.as_str())?;
        }
        if let Ok(mut slot) = self.sessions.approved.lock() {
            *slot = Some((key, ctx.state()));
        }
        Ok(ctx)
    }

    /// A session for `who` over the latest published state.
    pub async fn session_for(&self, who: &Principal) -> Result<SessionContext, QueryError> {
        let commit = self.wh.committed().await?;
        self.session_for_commit(who, commit.as_ref()).await
    }
}

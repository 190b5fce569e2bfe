//! The PostgreSQL wire protocol: psql, DBeaver, Metabase, Power BI and psycopg connect to Khlang as
//! to a PostgreSQL server.
//!
//! Built on pgwire and datafusion-postgres. What is ours: sign-in against Khlang's users (SCRAM or
//! a cleartext password, TLS when required: `auth`); a session per connection built for that
//! user's scope and re-pinned when a new load is published, with PostgreSQL's identity, settings
//! and the catalog schema browsers read (`settings`, `catalog`); read-only SQL; `COPY … TO STDOUT`
//! through the same scoped tables; limits, cancel requests and `statement_timeout`; PostgreSQL
//! error codes with positions; and an audit record for every sign-in and statement.

mod auth;
mod catalog;
mod probes;
mod rewrite;
mod settings;

pub use auth::WireAuth;
pub use settings::{PG_VERSION, server_version, version_string};

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;

use arrow::datatypes::Schema;
use arrow::error::ArrowError;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{CopyLegacyOption, CopyOption, CopySource, CopyTarget, Statement};
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire;
use datafusion_postgres::{DfSessionService, QueryHook};
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use futures::{Sink, Stream, StreamExt as _};
use pgwire::api::portal::Format;
use pgwire::types::format::FormatOptions;
use pgwire::api::portal::Portal;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{CopyResponse, FieldInfo, QueryResponse, Response};
use pgwire::messages::data::DataRow;
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, ErrorHandler, METADATA_USER, NoopHandler, PgWireConnectionState, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::copy::CopyData;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::net::{TcpListener, TcpStream};

use crate::access::Principal;
use crate::QueryError;
use crate::audit::{Action, Event};
use crate::run::{CancelSignal, QueryToken, Run, RunOptions};
use crate::service::SqlService;
use crate::session::SessionCache;
use catalog::Activity;
use settings::{Parameters, SessionHook, Settings};

type DfStatement = (String, Option<(Statement, LogicalPlan)>);

/// A PostgreSQL error for the client.
fn pg_err(severity: &str, code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(severity.into(), code.into(), message.into())))
}

/// A failure as a PostgreSQL error: the SQLSTATE from its kind (so clients react as they do to
/// PostgreSQL), and for syntax errors the position (1-based character offset) a client marks with
/// a caret.
fn pg_error(e: &QueryError, sql: &str) -> PgWireError {
    let code = sqlstate(e);
    let message = e.to_string();
    let mut info = ErrorInfo::new("ERROR".into(), code.into(), message.clone());
    if code == "42601" {
        info.position = syntax_position(&message, sql).map(|p| p.to_string());
    }
    PgWireError::UserError(Box::new(info))
}

/// The SQLSTATE of each kind of failure.
fn sqlstate(e: &QueryError) -> &'static str {
    match e {
        QueryError::Timeout { .. } | QueryError::Cancelled => "57014",
        QueryError::Busy { .. } => "53300",
        QueryError::Memory { .. } => "53200",
        QueryError::ReadOnly(_) => "25006",
        QueryError::Sql(e) => engine_sqlstate(e),
        _ => "XX000",
    }
}

/// The SQLSTATE of an engine error, by its kind (DataFusion names an unknown table or function only
/// in the planning error's words).
fn engine_sqlstate(e: &DataFusionError) -> &'static str {
    match e.find_root() {
        DataFusionError::SQL(..) => "42601",
        DataFusionError::SchemaError(s, _) => match s.as_ref() {
            SchemaError::AmbiguousReference { .. } => "42702",
            SchemaError::DuplicateQualifiedField { .. } | SchemaError::DuplicateUnqualifiedField { .. } => "42701",
            _ => "42703",
        },
        DataFusionError::Plan(m) if m.starts_with("table '") && m.ends_with("not found") => "42P01",
        DataFusionError::Plan(m) if m.starts_with("Invalid function") || m.contains("No function matches") => "42883",
        DataFusionError::Plan(_) => "42000",
        DataFusionError::ResourcesExhausted(_) => "53200",
        DataFusionError::NotImplemented(_) => "0A000",
        DataFusionError::ArrowError(a, _) => match a.as_ref() {
            ArrowError::DivideByZero => "22012",
            ArrowError::CastError(_) | ArrowError::ParseError(_) => "22P02",
            _ => "XX000",
        },
        _ => "XX000",
    }
}

/// A SQL text the parser refused.
fn parse_error(e: ParserError, sql: &str) -> PgWireError {
    pg_error(&DataFusionError::SQL(Box::new(e), None).into(), sql)
}

/// The character offset (1-based) of "Line: L, Column: C" in `sql`.
fn syntax_position(message: &str, sql: &str) -> Option<usize> {
    if message.contains("found: EOF") {
        // At the end of the input, as PostgreSQL marks it.
        return Some(sql.trim_end().trim_end_matches(';').chars().count() + 1);
    }
    let Some(at) = message.rfind("Line: ") else {
        // No location in the message: the first place the offending token appears.
        let found = message.rsplit_once("found: ")?.1.trim();
        let token = found.split_whitespace().next()?;
        let byte = sql.to_lowercase().find(&token.to_lowercase())?;
        return Some(sql[..byte].chars().count() + 1);
    };
    let rest = &message[at + 6..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let line: usize = line.trim().parse().ok()?;
    let col: usize = rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()?;
    let mut offset = 0;
    for (i, l) in sql.split('\n').enumerate() {
        if i + 1 == line {
            return Some(offset + col.min(l.chars().count() + 1).max(1));
        }
        offset += l.chars().count() + 1;
    }
    None
}

/// An error from datafusion-postgres's handlers as a typed failure: the engine's or the parser's
/// error inside it decides the SQLSTATE; errors already in PostgreSQL's terms pass unchanged.
fn map_err(e: PgWireError, sql: &str, svc: &SqlService) -> PgWireError {
    let PgWireError::ApiError(inner) = e else { return e };
    let failure = match inner.downcast::<DataFusionError>() {
        Ok(e) => svc.sql_error(*e),
        Err(inner) => match inner.downcast::<ParserError>() {
            Ok(p) => QueryError::from(DataFusionError::SQL(p, None)),
            Err(other) => QueryError::Internal(other.to_string()),
        },
    };
    pg_error(&failure, sql)
}

/// Refuses everything that would change state on the server: Khlang's SQL is read-only.
#[derive(Debug)]
struct ReadOnly;

fn refused(statement: &Statement) -> Option<PgWireError> {
    let allowed = matches!(
        statement,
        Statement::Query(_)
            | Statement::Explain { .. }
            | Statement::ShowVariable { .. }
            | Statement::ShowVariables { .. }
            | Statement::ShowTables { .. }
            | Statement::ShowColumns { .. }
            | Statement::Set(_)
            | Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Declare { .. }
            | Statement::Fetch { .. }
            | Statement::Close { .. }
            | Statement::Discard { .. }
            | Statement::Deallocate { .. }
            | Statement::Reset(_)
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
    ) || matches!(statement, Statement::Copy { to: true, target: CopyTarget::Stdout, .. });
    if allowed {
        return None;
    }
    let text = statement.to_string();
    let kind: String = text.split_whitespace().take(2).collect::<Vec<_>>().join(" ").to_uppercase();
    Some(pg_error(&QueryError::ReadOnly(kind), &text))
}

#[async_trait]
impl QueryHook for ReadOnly {
    async fn handle_simple_query(&self, statement: &Statement, _ctx: &SessionContext, _client: &mut dyn HookClient) -> Option<PgWireResult<Response>> {
        refused(statement).map(Err)
    }

    async fn handle_extended_parse_query(&self, statement: &Statement, _ctx: &SessionContext, _client: &(dyn ClientInfo + Send + Sync)) -> Option<PgWireResult<LogicalPlan>> {
        refused(statement).map(Err)
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &datafusion::common::ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        refused(statement).map(Err)
    }
}

/// One connection's SQL session: the user's scoped tables at one published state.
struct ConnSession {
    seq: u64,
    ctx: Arc<SessionContext>,
    hooks: Vec<Arc<dyn QueryHook>>,
    /// datafusion-postgres's service, for the extended protocol only: made at the first
    /// extended statement, since making one builds its own SQL parser (most of a connect's cost
    /// for clients that use only the simple protocol).
    service: std::sync::OnceLock<Arc<DfSessionService>>,
}

impl ConnSession {
    fn service(&self) -> Arc<DfSessionService> {
        self.service.get_or_init(|| Arc::new(DfSessionService::new_with_hooks(self.ctx.clone(), self.hooks.clone()))).clone()
    }
}

/// Per-connection state kept in pgwire's session extensions.
struct Conn {
    session: tokio::sync::Mutex<Option<Arc<ConnSession>>>,
    settings: Arc<Settings>,
    activity: Arc<Activity>,
}

/// The wire-protocol handlers over one SQL service.
pub struct Handlers {
    svc: SqlService,
    params: Arc<Parameters>,
    sessions: Arc<SessionCache>,
    probes: Arc<probes::Probes>,
    parser: Arc<KhlangParser>,
}

impl Handlers {
    fn new(svc: SqlService, params: Arc<Parameters>) -> Self {
        let sessions = Arc::new(SessionCache::default());
        let probes = Arc::new(probes::Probes::default());
        let parser = Arc::new(KhlangParser {
            svc: svc.clone(),
            params: params.clone(),
            sessions: sessions.clone(),
            probes: probes.clone(),
            any: Arc::new(DfSessionService::new(Arc::new(SessionContext::new()))),
        });
        Handlers { svc, params, sessions, probes, parser }
    }
}

fn principal_of<C: ClientInfo + ?Sized>(client: &C) -> PgWireResult<Arc<Principal>> {
    client.session_extensions().get::<Principal>().ok_or_else(|| pg_err("FATAL", "28000", "the connection has not signed in"))
}

fn client_addr<C: ClientInfo + ?Sized>(client: &C) -> String {
    client.socket_addr().ip().to_string()
}

/// The connection's state, made at its first statement.
fn conn_of<C: ClientInfo + ?Sized>(client: &C, params: &Parameters) -> Arc<Conn> {
    client.session_extensions().get_or_insert_with(|| {
        let settings = Arc::new(Settings::new(params.settings_for(client)));
        let addr = client.socket_addr();
        let activity = Arc::new(Activity {
            pid: client.pid_and_secret_key().0,
            user: client.metadata().get(METADATA_USER).cloned().unwrap_or_default(),
            client_addr: addr.ip().to_string(),
            client_port: i32::from(addr.port()),
            backend_start: chrono::Utc::now(),
            settings: settings.clone(),
            query: std::sync::Mutex::new((String::new(), chrono::Utc::now())),
        });
        Conn { session: tokio::sync::Mutex::new(None), settings, activity }
    })
}

/// A statement starts on the connection: `pg_stat_activity` shows it, and a cancel request finds it.
fn begin<C: ClientInfo + ?Sized>(client: &C, conn: &Conn, sql: &str) -> QueryToken {
    if let Ok(mut q) = conn.activity.query.lock() {
        *q = (sql.to_string(), chrono::Utc::now());
    }
    client.session_extensions().get_or_insert_with(CancelSignal::default).begin()
}

/// How a statement of this connection runs: the client's `statement_timeout`, and its cancel
/// request.
fn run_options<C: ClientInfo + ?Sized>(action: Action, client: &C, conn: &Conn, sql: &str) -> RunOptions {
    RunOptions::new(action).statement_timeout(conn.settings.statement_timeout()).cancel(begin(client, conn, sql))
}

/// The PostgreSQL-compatible SQL parser, made once: making one parses its table of rewrites, which
/// took a quarter of the server's time when done per statement.
fn pg_parser() -> &'static PostgresCompatibilityParser {
    static PARSER: std::sync::OnceLock<PostgresCompatibilityParser> = std::sync::OnceLock::new();
    PARSER.get_or_init(PostgresCompatibilityParser::new)
}

/// The connection's session, re-pinned when a newer load has been published. The caller's
/// session with its catalog is built once per published state and kind of caller (`sessions`);
/// each connection gets its own copy with its settings, user and process id attached.
async fn conn_session<C: ClientInfo + ?Sized>(
    svc: &SqlService,
    sessions: &SessionCache,
    params: &Parameters,
    client: &C,
) -> PgWireResult<(Arc<Principal>, Arc<Conn>, Arc<ConnSession>)> {
    let who = principal_of(client)?;
    let conn = conn_of(client, params);
    let commit = svc.q.warehouse().committed().await.map_err(|e| pg_err("ERROR", "XX000", e.to_string()))?;
    let seq = commit.as_ref().map_or(0, |c| c.seq);
    let mut slot = conn.session.lock().await;
    if let Some(s) = slot.as_ref()
        && s.seq == seq
    {
        return Ok((who, conn.clone(), s.clone()));
    }
    let internal = |e: &dyn std::fmt::Display| pg_err("ERROR", "XX000", e.to_string());
    let state = match sessions.get(seq, &who) {
        Some(state) => state,
        None => {
            let (ctx, keep) = svc.q.build_session(&who, commit.as_ref()).await.map_err(|e| internal(&e))?;
            setup_pg_catalog(&ctx, "khlang", EmptyContextProvider).map_err(|e| internal(&e))?;
            catalog::install(&ctx).await.map_err(|e| internal(&e))?;
            let state = ctx.state();
            if keep {
                sessions.put(seq, &who, state.clone());
            }
            state
        }
    };
    let ctx = svc.q.for_analysts(svc.q.session_from(&state).map_err(|e| internal(&e))?);
    catalog::attach(&ctx, conn.activity.clone());
    let ctx = Arc::new(ctx);
    let hooks: Vec<Arc<dyn QueryHook>> =
        vec![Arc::new(ReadOnly), Arc::new(SessionHook { settings: conn.settings.clone() }), Arc::new(CursorStatementHook), Arc::new(TransactionStatementHook)];
    let session = Arc::new(ConnSession { seq, ctx, hooks, service: std::sync::OnceLock::new() });
    *slot = Some(session.clone());
    Ok((who, conn.clone(), session))
}

/// What an extended-protocol query gave: a catalog answer kept for every connection of the caller,
/// or datafusion-postgres's response with the bound parameters.
enum Executed {
    Kept(Arc<probes::Answer>),
    Response(Response),
}

/// A statement's rows: a plan to run, or a catalog answer kept for every connection of the caller.
enum Answer {
    Frame(datafusion::dataframe::DataFrame),
    Kept(Arc<probes::Answer>),
}

impl Answer {
    /// Runs the answer under `run` and encodes its rows for the client.
    async fn encode(self, run: Run, format: &Format, options: Arc<FormatOptions>, sql: &str) -> PgWireResult<QueryResponse> {
        match self {
            Answer::Frame(df) => {
                let (schema, batches) = run.execute(df).await.map_err(|e| pg_error(&e, sql))?;
                rows_response(&schema, batches, format, options, sql)
            }
            Answer::Kept(kept) => {
                let batches = run.watch(futures::stream::iter(kept.batches.clone().into_iter().map(Ok)), RecordBatch::num_rows, |e| e);
                rows_response(&kept.schema, batches, format, options, sql)
            }
        }
    }
}

/// A result's batches as the client's rows, in `format`.
fn rows_response<S>(schema: &Schema, batches: S, format: &Format, options: Arc<FormatOptions>, sql: &str) -> PgWireResult<QueryResponse>
where
    S: Stream<Item = Result<RecordBatch, QueryError>> + Send + 'static,
{
    let fields = Arc::new(arrow_schema_to_pg_fields(schema, format, Some(options))?);
    let f = fields.clone();
    let sql = sql.to_string();
    let rows = batches.flat_map(move |b| {
        let rows: Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send + Sync> = match b {
            Ok(b) => encode_recordbatch(f.clone(), b),
            Err(e) => Box::new(std::iter::once(Err(pg_error(&e, &sql)))),
        };
        futures::stream::iter(rows)
    });
    Ok(QueryResponse::new(fields, rows))
}

#[async_trait]
impl SimpleQueryHandler for Handlers {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let svc = &self.svc;
        let (who, conn, session) = conn_session(svc, &self.sessions, &self.params, client).await?;
        let ctx = &session.ctx;
        let addr = client_addr(client);
        let mut statements = pg_parser().parse(query).map_err(|e| parse_error(e, query))?;
        // COPY … TO STDOUT is ours: the export goes through the same scoped tables.
        if let [stmt @ Statement::Copy { to: true, target: CopyTarget::Stdout, .. }] = statements.as_slice() {
            let options = run_options(Action::Export, client, &conn, query);
            return Ok(vec![self.copy_out(&who, ctx, stmt, query, &addr, options).await?]);
        }
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        rewrite::apply(query, &mut statements);
        let mut out = Vec::with_capacity(statements.len());
        // The request's first query holds its place among the heavy queries for the rest.
        let mut first_query = true;
        'statement: for statement in &statements {
            for hook in &session.hooks {
                if let Some(r) = hook.handle_simple_query(statement, ctx, client).await {
                    out.push(r.map_err(|e| map_err(e, query, svc))?);
                    continue 'statement;
                }
            }
            // Queries are audited; other statements (SHOW …) are not, and take no heavy place.
            let is_query = matches!(statement, Statement::Query(_) | Statement::Explain { .. });
            let mut options = run_options(Action::Query, client, &conn, query);
            if !is_query {
                options = options.unrecorded();
            } else if !first_query {
                options = options.light();
            }
            first_query &= !is_query;
            let mut run = svc.begin(&who, &addr, query, options).await.map_err(|e| pg_error(&e, query))?;
            // Planned once: the plan that runs also names the tables for the audit record. A
            // catalog statement's answer may be one kept from an earlier connection (`probes`).
            let text = statement.to_string();
            let planned = run
                .step(async {
                    if let Some(kept) = self.probes.get(session.seq, &who, &text) {
                        return Ok((kept.tables.clone(), Answer::Kept(kept)));
                    }
                    // Writes were refused by the `ReadOnly` hook above.
                    let plan = ctx.state().create_logical_plan(&text).await?;
                    let tables = crate::run::tables_of(&plan);
                    if !probes::cacheable(&plan) {
                        return Ok((tables, Answer::Frame(ctx.execute_logical_plan(plan).await?)));
                    }
                    let kept = self.probes.answer(session.seq, &who, &text, &tables, ctx.execute_logical_plan(plan)).await?;
                    Ok::<_, DataFusionError>((tables, Answer::Kept(kept)))
                })
                .await
                .map_err(|e| pg_error(&e, query))?;
            let (tables, answer) = planned.map_err(|e| pg_error(&svc.sql_error(e), query))?;
            run.reads(&tables);
            let format = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
            out.push(Response::Query(answer.encode(run, &Format::UnifiedText, format, query).await?));
        }
        Ok(out)
    }
}

impl Handlers {
    async fn copy_out(&self, who: &Principal, ctx: &SessionContext, stmt: &Statement, sql: &str, addr: &str, options: RunOptions) -> PgWireResult<Response> {
        let svc = &self.svc;
        let Statement::Copy { source, options: copy_options, legacy_options, .. } = stmt else { return Err(pg_err("ERROR", "0A000", "not a COPY TO STDOUT")) };
        let select = match source {
            CopySource::Query(q) => q.to_string(),
            CopySource::Table { table_name, columns } => {
                let cols = if columns.is_empty() { "*".to_string() } else { columns.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ") };
                format!("SELECT {cols} FROM {table_name}")
            }
        };
        let mut csv = false;
        let mut header = false;
        let mut delimiter = None;
        for o in copy_options {
            match o {
                CopyOption::Format(f) => csv = f.value.eq_ignore_ascii_case("csv"),
                CopyOption::Header(h) => header = *h,
                CopyOption::Delimiter(d) => delimiter = Some(*d),
                _ => {}
            }
        }
        for o in legacy_options {
            match o {
                CopyLegacyOption::Csv(_) => csv = true,
                CopyLegacyOption::Header => header = true,
                CopyLegacyOption::Delimiter(d) => delimiter = Some(*d),
                _ => {}
            }
        }
        let mut run = svc.begin(who, addr, sql, options).await.map_err(|e| pg_error(&e, sql))?;
        let df = run.plan(ctx, &select).await.map_err(|e| pg_error(&e, sql))?;
        let columns = df.schema().fields().len();
        let names: Vec<String> = df.schema().fields().iter().map(|f| f.name().clone()).collect();
        let (_, batches) = run.execute(df).await.map_err(|e| pg_error(&e, sql))?;
        let delim = delimiter.unwrap_or(if csv { ',' } else { '\t' }) as u8;
        let head: Vec<PgWireResult<CopyData>> = if header {
            let line = if csv { crate::export::csv_line(&names, delim) } else { names.join(&(delim as char).to_string()) + "\n" };
            vec![Ok(CopyData::new(line.into_bytes().into()))]
        } else {
            Vec::new()
        };
        let sql = sql.to_string();
        let body = batches.flat_map(move |b| {
            let lines: Vec<PgWireResult<CopyData>> = match b {
                Ok(b) => match crate::export::copy_lines(&b, csv, delim) {
                    Ok(lines) => lines.into_iter().map(|l| Ok(CopyData::new(l.into()))).collect(),
                    Err(e) => vec![Err(pg_error(&DataFusionError::from(e).into(), &sql))],
                },
                Err(e) => vec![Err(pg_error(&e, &sql))],
            };
            futures::stream::iter(lines)
        });
        // The header line is not a row of the result.
        Ok(Response::CopyOut(CopyResponse::new(0, columns, futures::stream::iter(head).chain(body))))
    }
}


/// Parses extended-protocol statements in the connection's own session (so names resolve to the
/// user's scoped tables).
pub struct KhlangParser {
    svc: SqlService,
    params: Arc<Parameters>,
    sessions: Arc<SessionCache>,
    probes: Arc<probes::Probes>,
    /// Any session service: describing a parsed statement does not depend on the session.
    any: Arc<DfSessionService>,
}

#[async_trait]
impl QueryParser for KhlangParser {
    type Statement = DfStatement;

    async fn parse_sql<C>(&self, client: &C, sql: &str, types: &[Option<Type>]) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let (who, _, session) = conn_session(&self.svc, &self.sessions, &self.params, client).await?;
        let key = format!("{sql}\n{types:?}");
        if let Some(kept) = self.probes.plan(session.seq, &who, &key) {
            return Ok(Some(kept));
        }
        let parser = <DfSessionService as ExtendedQueryHandler>::query_parser(&session.service());
        let rewritten = pg_parser().parse(sql).ok().and_then(|st| rewrite::for_datafusion(sql, &st));
        let parsed = parser.parse_sql(client, rewritten.as_deref().unwrap_or(sql), types).await.map_err(|e| map_err(e, sql, &self.svc))?;
        if let Some(st @ (_, Some((Statement::Query(_), plan)))) = &parsed
            && probes::cacheable(plan)
        {
            self.probes.put_plan(session.seq, &who, &key, st);
        }
        Ok(parsed)
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        <DfSessionService as ExtendedQueryHandler>::query_parser(&self.any).get_parameter_types(stmt)
    }

    fn get_result_schema(&self, stmt: &Self::Statement, column_format: Option<&pgwire::api::portal::Format>) -> PgWireResult<Vec<FieldInfo>> {
        <DfSessionService as ExtendedQueryHandler>::query_parser(&self.any).get_result_schema(stmt, column_format)
    }
}

#[async_trait]
impl ExtendedQueryHandler for Handlers {
    type Statement = DfStatement;
    type QueryParser = KhlangParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<Self::Statement>, max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let svc = &self.svc;
        let sql = portal.statement.statement.0.clone();
        let (who, conn, session) = conn_session(svc, &self.sessions, &self.params, client).await?;
        let service = session.service();
        let addr = client_addr(client);
        let (tables, is_query) = match &portal.statement.statement.1 {
            Some((stmt, plan)) => (crate::run::tables_of(plan), matches!(stmt, Statement::Query(_) | Statement::Explain { .. })),
            None => (Vec::new(), false),
        };
        if !is_query {
            return <DfSessionService as ExtendedQueryHandler>::do_query(&service, client, portal, max_rows).await.map_err(|e| map_err(e, &sql, svc));
        }
        let options = run_options(Action::Query, client, &conn, &sql);
        let mut run = svc.begin(&who, &addr, &sql, options).await.map_err(|e| pg_error(&e, &sql))?;
        run.reads(&tables);
        // A catalog statement without parameters: its answer may be kept for every connection.
        let kept = match &portal.statement.statement.1 {
            Some((_, plan)) if portal.parameters.is_empty() && probes::cacheable(plan) => Some(plan),
            _ => None,
        };
        let format = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        let answer = run
            .step(async {
                let Some(plan) = kept else {
                    // datafusion-postgres binds the parameters and encodes the rows.
                    let r = <DfSessionService as ExtendedQueryHandler>::do_query(&service, client, portal, max_rows).await;
                    return r.map(Executed::Response).map_err(|e| map_err(e, &sql, svc));
                };
                let answer = self.probes.answer(session.seq, &who, &sql, &tables, session.ctx.execute_logical_plan(plan.clone())).await;
                answer.map(Executed::Kept).map_err(|e| pg_error(&svc.sql_error(e), &sql))
            })
            .await
            .map_err(|e| pg_error(&e, &sql))??;
        match answer {
            Executed::Kept(kept) => Ok(Response::Query(Answer::Kept(kept).encode(run, &portal.result_column_format, format, &sql).await?)),
            Executed::Response(Response::Query(mut q)) => {
                let rows = std::mem::replace(&mut q.data_rows, Box::pin(futures::stream::empty()));
                let (svc, text) = (svc.clone(), sql.clone());
                let rows = rows.map(move |r| r.map_err(|e| map_err(e, &text, &svc)));
                q.data_rows = Box::pin(run.watch(Box::pin(rows), |_| 1, |e| pg_error(&e, "")));
                Ok(Response::Query(q))
            }
            Executed::Response(other) => {
                run.finish();
                Ok(other)
            }
        }
    }
}

struct LogErrors;

impl ErrorHandler for LogErrors {
    fn on_error<C: ClientInfo>(&self, client: &C, error: &mut PgWireError) {
        tracing::debug!(client = %client.socket_addr(), error = %error, "sql error sent to the client");
    }
}

/// How the wire protocol is served: TLS, whether it is required, how passwords travel, and the
/// office's time zone (the `TimeZone` clients are told).
#[derive(Debug, Clone)]
pub struct WireOptions {
    pub tls: Option<crate::tls::Tls>,
    pub tls_required: bool,
    pub auth: WireAuth,
    pub time_zone: String,
}

/// Why a connection was refused before it could sign in, for the client and the audit log.
fn startup_problem(e: &PgWireError) -> String {
    match e {
        PgWireError::InvalidStartupMessage => {
            "invalid startup packet: the protocol version or the parameter list is malformed (Khlang speaks PostgreSQL protocol 3.0)".into()
        }
        PgWireError::UnsupportedProtocolVersion(major, minor) => format!("unsupported frontend protocol {major}.{minor}: Khlang speaks protocol 3.0"),
        other => format!("invalid startup packet: {other}"),
    }
}

/// How long a client has to sign in (PostgreSQL's `authentication_timeout`).
const STARTUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// One connection: TLS negotiation, sign-in and statements, through pgwire's own decoder and
/// handlers. A connection that cannot even say who it is (a malformed startup packet) is told why
/// and recorded, where pgwire alone would drop it silently.
async fn connection(socket: TcpStream, addr: SocketAddr, tls: Option<pgwire::tokio::TlsAcceptor>, h: Arc<Handlers>, startup: Arc<auth::Startup>, svc: SqlService) -> std::io::Result<()> {
    use pgwire::tokio::server::{negotiate_tls, process_error, process_message};
    let give_up = tokio::time::Instant::now() + STARTUP_TIMEOUT;
    let Some(mut socket) = tokio::time::timeout_at(give_up, negotiate_tls(socket, tls)).await.map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?? else {
        return Ok(());
    };
    let (copy, errors) = (Arc::new(NoopHandler), Arc::new(LogErrors));
    loop {
        let signing_in = matches!(socket.state(), PgWireConnectionState::AwaitingStartup | PgWireConnectionState::AuthenticationInProgress);
        let next = if signing_in {
            match tokio::time::timeout_at(give_up, socket.next()).await {
                Ok(m) => m,
                Err(_) => {
                    tracing::debug!(client = %addr, "no sign-in within the time allowed");
                    return Ok(());
                }
            }
        } else {
            socket.next().await
        };
        let message = match next {
            Some(Ok(m)) => m,
            Some(Err(e)) if matches!(socket.state(), PgWireConnectionState::AwaitingStartup) => {
                let message = startup_problem(&e);
                tracing::warn!(client = %addr, "{message}");
                svc.audit.record(Event::new(&Principal::public(), Action::LoginFailed, message.clone(), addr.ip().to_string()));
                let _ = process_error(&mut socket, pg_err("FATAL", "08P01", message), false).await;
                return Ok(());
            }
            Some(Err(e)) => {
                tracing::debug!(client = %addr, error = %e, "cannot read the client's message");
                let _ = process_error(&mut socket, pg_err("FATAL", "08P01", format!("invalid message: {e}")), false).await;
                return Ok(());
            }
            None => {
                if matches!(socket.state(), PgWireConnectionState::AwaitingStartup) && !socket.read_buffer().is_empty() {
                    let message = format!("invalid startup packet: the client sent {} bytes and stopped", socket.read_buffer().len());
                    svc.audit.record(Event::new(&Principal::public(), Action::LoginFailed, message, addr.ip().to_string()));
                }
                return Ok(());
            }
        };
        if matches!(message, PgWireFrontendMessage::Terminate(_)) {
            return Ok(());
        }
        let extended = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => message.is_extended_query(),
        };
        if let Err(mut e) = process_message(message, &mut socket, startup.clone(), h.clone(), h.clone(), copy.clone(), startup.cancels.clone()).await {
            errors.on_error(&socket, &mut e);
            process_error(&mut socket, e, extended).await?;
        }
    }
}

/// Serves the wire protocol on `listener` until the process ends.
pub async fn serve(listener: TcpListener, svc: SqlService, options: WireOptions) -> std::io::Result<()> {
    let params = Arc::new(Parameters { time_zone: options.time_zone.clone(), tls: options.tls.is_some() });
    let acceptor = match &options.tls {
        Some(t) => Some(t.wire_acceptor().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?),
        None => None,
    };
    let handlers = Arc::new(Handlers::new(svc.clone(), params.clone()));
    let startup = Arc::new(auth::Startup {
        svc: svc.clone(),
        params,
        method: options.auth,
        tls_required: options.tls_required,
        cancels: Arc::new(auth::Cancels::default()),
        keys: pgwire::api::RandomPidSecretKeyGenerator::default(),
    });
    loop {
        let (socket, addr): (TcpStream, SocketAddr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a SQL connection");
                continue;
            }
        };
        let (h, st, svc, tls) = (handlers.clone(), startup.clone(), svc.clone(), acceptor.clone());
        tokio::spawn(async move {
            if let Err(e) = connection(socket, addr, tls, h, st, svc).await {
                tracing::debug!(client = %addr, error = %e, "sql connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SQLSTATE and message a client gets for `sql`, planned by a real session.
    async fn state_of(sql: &str) -> (String, String, Option<String>) {
        let ctx = SessionContext::new();
        let _ = ctx.sql("CREATE TABLE schools (school_code VARCHAR, area_code VARCHAR) AS VALUES ('1', 'a')").await.map(|_| ());
        let e = match pg_parser().parse(sql) {
            Err(e) => parse_error(e, sql),
            Ok(_) => match ctx.sql_with_options(sql, crate::read_only()).await {
                Ok(df) => match df.collect().await {
                    Ok(_) => return ("00000".into(), String::new(), None),
                    Err(e) => pg_error(&e.into(), sql),
                },
                Err(e) => pg_error(&e.into(), sql),
            },
        };
        match e {
            PgWireError::UserError(info) => (info.code.clone(), info.message.clone(), info.position.clone()),
            other => ("?".into(), other.to_string(), None),
        }
    }

    #[tokio::test]
    async fn each_kind_of_failure_has_postgresql_sqlstate() {
        let (code, _, position) = state_of("SELEC 1").await;
        assert_eq!((code.as_str(), position.as_deref()), ("42601", Some("1")));
        assert_eq!(state_of("SELECT * FROM nowhere").await.0, "42P01");
        assert_eq!(state_of("SELECT nope FROM schools").await.0, "42703");
        assert_eq!(state_of("SELECT no_such_function(1)").await.0, "42883");
        assert_eq!(state_of("SELECT 1 / 0").await.0, "22012");
        assert_eq!(state_of("SELECT count(*) FROM schools").await.0, "00000");
        let stopped = |e: QueryError| match pg_error(&e, "") {
            PgWireError::UserError(info) => (info.code.clone(), info.message.clone()),
            other => ("?".into(), other.to_string()),
        };
        assert_eq!(stopped(QueryError::Timeout { seconds: 3, by_client: false }).0, "57014");
        assert!(stopped(QueryError::Timeout { seconds: 3, by_client: false }).1.contains("query_timeout_seconds = 3"));
        assert_eq!(stopped(QueryError::Timeout { seconds: 3, by_client: true }).1, "canceling statement due to statement timeout");
        assert_eq!(stopped(QueryError::Cancelled), ("57014".into(), "canceling statement due to user request".into()));
        assert_eq!(stopped(QueryError::Busy { limit: 2, wait_seconds: 30 }).0, "53300");
        assert!(stopped(QueryError::Memory { mib: 64 }).1.contains("query_memory_mb = 64"));
        assert_eq!(stopped(QueryError::ReadOnly("CREATE TABLE".into())).0, "25006");
    }

    #[tokio::test]
    async fn statements_that_would_change_the_warehouse_are_refused_as_read_only() {
        for sql in ["CREATE TABLE x AS SELECT 1", "INSERT INTO schools VALUES ('2', 'b')", "DROP TABLE schools"] {
            let statement = pg_parser().parse(sql).ok().and_then(|mut s| s.pop());
            let refusal = statement.as_ref().and_then(refused);
            assert!(matches!(&refusal, Some(PgWireError::UserError(info)) if info.code == "25006" && info.message.contains("read-only")), "{sql}: {refusal:?}");
        }
    }
}

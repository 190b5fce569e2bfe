//! The PostgreSQL wire protocol: psql, DBeaver, Metabase, Power BI and psycopg connect to Khlang as
//! to a PostgreSQL server.
//!
//! Built on pgwire and datafusion-postgres. What is ours: password sign-in against Khlang's users
//! (cleartext over the connection, checked against argon2 hashes); a session per connection built
//! for that user's scope and re-pinned when a new load is published; read-only SQL; `COPY … TO
//! STDOUT` through the same scoped tables; limits; PostgreSQL error codes with positions; and an
//! audit record for every sign-in and statement.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{CopyLegacyOption, CopyOption, CopySource, CopyTarget, Statement};
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire;
use datafusion_postgres::{DfSessionService, QueryHook};
use futures::{Sink, SinkExt as _, Stream, StreamExt as _};
use pgwire::api::auth::{DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata};
use pgwire::api::portal::Portal;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{CopyResponse, FieldInfo, Response};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, ErrorHandler, METADATA_USER, PgWireConnectionState, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::copy::CopyData;
use pgwire::messages::startup::Authentication;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};

use crate::access::Principal;
use crate::audit::{Action, Event};
use crate::service::SqlService;

type DfStatement = (String, Option<(Statement, LogicalPlan)>);

/// A PostgreSQL error for the client.
fn pg_err(severity: &str, code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(severity.into(), code.into(), message.into())))
}

/// Turns an engine error into a PostgreSQL error with the right SQLSTATE, and for syntax errors the
/// position (1-based character offset) a client marks with a caret.
pub fn to_pg_error(message: &str, sql: &str, svc: &SqlService) -> PgWireError {
    let m = svc.explain_error(message);
    let lower = m.to_lowercase();
    let code = if lower.contains("parsererror") || lower.contains("sql parser error") || lower.contains("expected:") || lower.contains("syntax error") {
        "42601"
    } else if lower.contains("memory budget") {
        "53200"
    } else if lower.contains("time limit") {
        "57014"
    } else if lower.contains("heavy queries") {
        "53300"
    } else if lower.contains("read-only") {
        "25006"
    } else if lower.contains("not found") && lower.contains("table") {
        "42P01"
    } else if lower.contains("no field named") || lower.contains("schema error") {
        "42703"
    } else if lower.contains("error during planning") || lower.contains("invalid function") {
        "42883"
    } else {
        "XX000"
    };
    let mut info = ErrorInfo::new("ERROR".into(), code.into(), m.clone());
    if code == "42601" {
        info.position = syntax_position(&m, sql).map(|p| p.to_string());
    }
    PgWireError::UserError(Box::new(info))
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

fn map_err(e: PgWireError, sql: &str, svc: &SqlService) -> PgWireError {
    match e {
        PgWireError::ApiError(inner) => to_pg_error(&inner.to_string(), sql, svc),
        PgWireError::UserError(info) if info.code == "XX000" || info.code == "57014" => to_pg_error(&info.message, sql, svc),
        other => other,
    }
}

/// Tables a plan reads, for the audit record.
pub fn tables_of(plan: &LogicalPlan) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let _ = plan.apply_with_subqueries(|p| {
        if let LogicalPlan::TableScan(s) = p {
            let t = s.table_name.table().to_string();
            if !out.contains(&t) {
                out.push(t);
            }
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    out.sort();
    out
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
    ) || matches!(statement, Statement::Copy { to: true, target: CopyTarget::Stdout, .. });
    if allowed {
        return None;
    }
    let text = statement.to_string();
    let kind: String = text.split_whitespace().take(2).collect::<Vec<_>>().join(" ").to_uppercase();
    Some(pg_err(
        "ERROR",
        "25006",
        format!("Khlang's SQL is read-only: {kind} is not allowed (the warehouse changes only through loads; use SELECT, or COPY (SELECT …) TO STDOUT to export)"),
    ))
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
    service: Arc<DfSessionService>,
}

/// Per-connection state kept in pgwire's session extensions.
#[derive(Default)]
struct Conn {
    session: tokio::sync::Mutex<Option<ConnSession>>,
}

/// The wire-protocol handlers over one SQL service.
pub struct Handlers {
    svc: SqlService,
    params: Arc<DefaultServerParameterProvider>,
    parser: Arc<KhlangParser>,
}

impl Handlers {
    pub fn new(svc: SqlService) -> Self {
        let mut params = DefaultServerParameterProvider::default();
        params.server_version = format!("16.6 (Khlang {})", env!("CARGO_PKG_VERSION"));
        params.is_superuser = false;
        params.default_transaction_read_only = true;
        params.time_zone = "Asia/Bangkok".into();
        let parser = Arc::new(KhlangParser { svc: svc.clone(), any: Arc::new(DfSessionService::new(Arc::new(SessionContext::new()))) });
        Handlers { svc, params: Arc::new(params), parser }
    }
}

fn principal_of<C: ClientInfo + ?Sized>(client: &C) -> PgWireResult<Arc<Principal>> {
    client.session_extensions().get::<Principal>().ok_or_else(|| pg_err("FATAL", "28000", "the connection has not signed in"))
}

fn client_addr<C: ClientInfo + ?Sized>(client: &C) -> String {
    client.socket_addr().ip().to_string()
}

impl SqlService {
    /// The connection's session, rebuilt when a newer load has been published (or, for an admin
    /// reading the audit log, so it includes the latest records).
    async fn conn_session<C: ClientInfo + ?Sized>(&self, client: &C, sql: &str) -> PgWireResult<(Arc<Principal>, Arc<SessionContext>, Arc<DfSessionService>)> {
        let who = principal_of(client)?;
        let conn = client.session_extensions().get_or_insert_with(Conn::default);
        let commit = self.q.warehouse().committed().await.map_err(|e| pg_err("ERROR", "XX000", e.to_string()))?;
        let seq = commit.as_ref().map_or(0, |c| c.seq);
        let audit_read = who.is_admin() && crate::audit::reads_audit(sql);
        if audit_read {
            self.audit.flush().await;
        }
        let mut slot = conn.session.lock().await;
        if let Some(s) = slot.as_ref()
            && s.seq == seq
            && !audit_read
        {
            return Ok((who, s.ctx.clone(), s.service.clone()));
        }
        let ctx = self.q.session_for_commit(&who, commit.as_ref()).await.map_err(|e| pg_err("ERROR", "XX000", e.to_string()))?;
        setup_pg_catalog(&ctx, "khlang", EmptyContextProvider).map_err(|e| pg_err("ERROR", "XX000", e.to_string()))?;
        let ctx = Arc::new(ctx);
        let hooks: Vec<Arc<dyn QueryHook>> = vec![Arc::new(ReadOnly), Arc::new(CursorStatementHook), Arc::new(SetShowHook), Arc::new(TransactionStatementHook)];
        let service = Arc::new(DfSessionService::new_with_hooks(ctx.clone(), hooks));
        *slot = Some(ConnSession { seq, ctx: ctx.clone(), service: service.clone() });
        Ok((who, ctx, service))
    }
}

/// Wraps a result's row stream: counts rows, stops at the time limit, holds the heavy-query permit
/// until the last row, maps errors, and writes the audit record when the stream ends.
fn watch<S, T>(rows: S, svc: SqlService, sql: String, deadline: Instant, permit: tokio::sync::OwnedSemaphorePermit, mut event: Event) -> impl Stream<Item = PgWireResult<T>> + Send + 'static
where
    S: Stream<Item = PgWireResult<T>> + Send + Unpin + 'static,
    T: Send + 'static,
{
    struct State<S> {
        rows: S,
        count: i64,
        done: bool,
        svc: SqlService,
        sql: String,
        deadline: Instant,
        _permit: tokio::sync::OwnedSemaphorePermit,
        event: Option<Event>,
    }
    impl<S> Drop for State<S> {
        fn drop(&mut self) {
            if let Some(e) = self.event.take() {
                self.svc.audit.record(e.with_rows(self.count));
            }
        }
    }
    event.sql = Some(sql.clone());
    let state = State { rows, count: 0, done: false, svc, sql, deadline, _permit: permit, event: Some(event) };
    futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        let next = tokio::time::timeout_at(st.deadline.into(), st.rows.next()).await;
        match next {
            Err(_) => {
                st.done = true;
                let e = pg_err("ERROR", "57014", st.svc.timeout_message());
                Some((Err(e), st))
            }
            Ok(None) => None,
            Ok(Some(Ok(r))) => {
                st.count += 1;
                Some((Ok(r), st))
            }
            Ok(Some(Err(e))) => {
                st.done = true;
                let e = map_err(e, &st.sql, &st.svc);
                Some((Err(e), st))
            }
        }
    })
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
        let (who, ctx, service) = svc.conn_session(client, query).await?;
        let addr = client_addr(client);
        let statements = PostgresCompatibilityParser::new().parse(query).map_err(|e| to_pg_error(&e.to_string(), query, svc))?;
        // COPY … TO STDOUT is ours: the export goes through the same scoped tables.
        if let [stmt @ Statement::Copy { to: true, target: CopyTarget::Stdout, .. }] = statements.as_slice() {
            return Ok(vec![self.copy_out(&who, &ctx, stmt, query, &addr).await?]);
        }
        let is_query = statements.iter().any(|s| matches!(s, Statement::Query(_) | Statement::Explain { .. }));
        let permit = if is_query { Some(svc.heavy_permit().await.map_err(|e| to_pg_error(&e.to_string(), query, svc))?) } else { None };
        let deadline = Instant::now() + svc.q.limits().timeout;
        let tables = match ctx.state().create_logical_plan(query).await {
            Ok(plan) => tables_of(&plan),
            Err(_) => Vec::new(),
        };
        let responses = tokio::time::timeout_at(deadline.into(), <DfSessionService as SimpleQueryHandler>::do_query(&service, client, query))
            .await
            .map_err(|_| pg_err("ERROR", "57014", svc.timeout_message()))?;
        let responses = match responses {
            Ok(r) => r,
            Err(e) => {
                svc.audit.record(Event::new(&who, Action::Query, tables.join(","), addr).with_sql(&format!("{query} -- failed")));
                return Err(map_err(e, query, svc));
            }
        };
        let mut out = Vec::with_capacity(responses.len());
        let mut permit = permit;
        for r in responses {
            match (r, permit.take()) {
                (Response::Query(mut q), Some(p)) => {
                    let event = Event::new(&who, Action::Query, tables.join(","), addr.clone());
                    let rows = std::mem::replace(&mut q.data_rows, Box::pin(futures::stream::empty()));
                    q.data_rows = Box::pin(watch(rows, svc.clone(), query.to_string(), deadline, p, event));
                    out.push(Response::Query(q));
                }
                (r, p) => {
                    permit = p;
                    out.push(r);
                }
            }
        }
        Ok(out)
    }
}

impl Handlers {
    async fn copy_out(&self, who: &Principal, ctx: &SessionContext, stmt: &Statement, sql: &str, addr: &str) -> PgWireResult<Response> {
        let svc = &self.svc;
        let Statement::Copy { source, options, legacy_options, .. } = stmt else { return Err(pg_err("ERROR", "0A000", "not a COPY TO STDOUT")) };
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
        for o in options {
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
        let permit = svc.heavy_permit().await.map_err(|e| to_pg_error(&e.to_string(), sql, svc))?;
        let deadline = Instant::now() + svc.q.limits().timeout;
        let df = ctx.sql_with_options(&select, crate::read_only()).await.map_err(|e| to_pg_error(&e.to_string(), sql, svc))?;
        let tables = tables_of(df.logical_plan());
        let columns = df.schema().fields().len();
        let names: Vec<String> = df.schema().fields().iter().map(|f| f.name().clone()).collect();
        let stream = df.execute_stream().await.map_err(|e| to_pg_error(&e.to_string(), sql, svc))?;
        let delim = delimiter.unwrap_or(if csv { ',' } else { '\t' }) as u8;
        let head: Vec<PgWireResult<CopyData>> = if header {
            let line = if csv { crate::export::csv_line(&names, delim) } else { names.join(&(delim as char).to_string()) + "\n" };
            vec![Ok(CopyData::new(line.into_bytes().into()))]
        } else {
            Vec::new()
        };
        let body = stream.flat_map(move |b: datafusion::error::Result<RecordBatch>| {
            let lines: Vec<PgWireResult<CopyData>> = match b {
                Ok(b) => match crate::export::copy_lines(&b, csv, delim) {
                    Ok(lines) => lines.into_iter().map(|l| Ok(CopyData::new(l.into()))).collect(),
                    Err(e) => vec![Err(PgWireError::ApiError(Box::new(e)))],
                },
                Err(e) => vec![Err(PgWireError::ApiError(Box::new(e)))],
            };
            futures::stream::iter(lines)
        });
        let event = Event::new(who, Action::Export, tables.join(","), addr);
        // The header line goes before the watched rows: it is not a row of the result.
        let watched = futures::stream::iter(head).chain(watch(Box::pin(body), svc.clone(), sql.to_string(), deadline, permit, event));
        Ok(Response::CopyOut(CopyResponse::new(0, columns, watched)))
    }
}


/// Parses extended-protocol statements in the connection's own session (so names resolve to the
/// user's scoped tables).
pub struct KhlangParser {
    svc: SqlService,
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
        let (_, _, service) = self.svc.conn_session(client, sql).await?;
        let parser = <DfSessionService as ExtendedQueryHandler>::query_parser(&service);
        parser.parse_sql(client, sql, types).await.map_err(|e| map_err(e, sql, &self.svc))
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
        let (who, _ctx, service) = svc.conn_session(client, &sql).await?;
        let addr = client_addr(client);
        let (tables, is_query) = match &portal.statement.statement.1 {
            Some((stmt, plan)) => (tables_of(plan), matches!(stmt, Statement::Query(_) | Statement::Explain { .. })),
            None => (Vec::new(), false),
        };
        if !is_query {
            return <DfSessionService as ExtendedQueryHandler>::do_query(&service, client, portal, max_rows).await.map_err(|e| map_err(e, &sql, svc));
        }
        let permit = svc.heavy_permit().await.map_err(|e| to_pg_error(&e.to_string(), &sql, svc))?;
        let deadline = Instant::now() + svc.q.limits().timeout;
        let r = tokio::time::timeout_at(deadline.into(), <DfSessionService as ExtendedQueryHandler>::do_query(&service, client, portal, max_rows))
            .await
            .map_err(|_| pg_err("ERROR", "57014", svc.timeout_message()))?;
        match r {
            Ok(Response::Query(mut q)) => {
                let event = Event::new(&who, Action::Query, tables.join(","), addr);
                let rows = std::mem::replace(&mut q.data_rows, Box::pin(futures::stream::empty()));
                q.data_rows = Box::pin(watch(rows, svc.clone(), sql, deadline, permit, event));
                Ok(Response::Query(q))
            }
            Ok(other) => Ok(other),
            Err(e) => {
                svc.audit.record(Event::new(&who, Action::Query, tables.join(","), addr).with_sql(&format!("{sql} -- failed")));
                Err(map_err(e, &sql, svc))
            }
        }
    }
}

/// Password sign-in against Khlang's users.
pub struct Startup {
    svc: SqlService,
    params: Arc<DefaultServerParameterProvider>,
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                if client.metadata().get(METADATA_USER).is_none_or(String::is_empty) {
                    self.svc.audit.record(Event::new(&Principal::public(), Action::LoginFailed, "no user name in the startup packet", client_addr(client)));
                    return Err(pg_err("FATAL", "28000", "no user name was given; connect with a Khlang user name (psql -U NAME)"));
                }
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client.send(PgWireBackendMessage::Authentication(Authentication::CleartextPassword)).await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(pwd) => {
                let pwd = pwd.into_password()?;
                let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
                let addr = client_addr(client);
                match self.svc.login(&user, &pwd.password, &addr, "wire").await {
                    Ok(who) => {
                        client.session_extensions().insert(who);
                        finish_authentication(client, self.params.as_ref()).await?;
                    }
                    Err(_) => {
                        return Err(pg_err("FATAL", "28P01", format!("password authentication failed for user \"{user}\"")));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

struct LogErrors;

impl ErrorHandler for LogErrors {
    fn on_error<C: ClientInfo>(&self, client: &C, error: &mut PgWireError) {
        tracing::debug!(client = %client.socket_addr(), error = %error, "sql error sent to the client");
    }
}

/// The full set of handlers for one server.
pub struct Factory {
    handlers: Arc<Handlers>,
    startup: Arc<Startup>,
}

impl PgWireServerHandlers for Factory {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.handlers.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.handlers.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(LogErrors)
    }
}

const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;

/// Reads nothing: waits until `n` bytes can be peeked (or the client stops sending).
async fn peek_n(socket: &TcpStream, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let give_up = Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got = socket.peek(&mut buf).await?;
        if got >= n || got == 0 || Instant::now() > give_up {
            buf.truncate(got);
            return Ok(buf);
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Checks the startup packet before pgwire reads it, so a malformed one is refused with a message
/// (and logged) rather than the connection silently dropping. Answers SSL and GSS requests with
/// "no" (Khlang listens on localhost or behind the office's TLS proxy). `Ok(Err(message))` when refused.
async fn check_startup(socket: &mut TcpStream) -> std::io::Result<Result<(), String>> {
    loop {
        let head = peek_n(socket, 8).await?;
        if head.len() < 8 {
            return Ok(Err(format!("invalid startup packet: the client sent {} bytes and stopped", head.len())));
        }
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let code = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        if (code == SSL_REQUEST || code == GSSENC_REQUEST) && len == 8 {
            let mut skip = [0u8; 8];
            tokio::io::AsyncReadExt::read_exact(socket, &mut skip).await?;
            socket.write_all(b"N").await?;
            continue;
        }
        if code == CANCEL_REQUEST {
            return Ok(Ok(()));
        }
        if !(8..=10_000).contains(&len) {
            return Ok(Err(format!("invalid startup packet: length {len} is outside 8 to 10000 bytes")));
        }
        if code >> 16 != 3 {
            return Ok(Err(format!("unsupported frontend protocol {}.{}: Khlang speaks protocol 3.0", code >> 16, code & 0xffff)));
        }
        let packet = peek_n(socket, len).await?;
        if packet.len() < len {
            return Ok(Err(format!("invalid startup packet: {len} bytes announced, {} sent", packet.len())));
        }
        let body = &packet[8..];
        if body.last() != Some(&0) {
            return Ok(Err("invalid startup packet: the parameter list does not end with a zero byte".into()));
        }
        let parts: Vec<&[u8]> = body[..body.len() - 1].split(|b| *b == 0).collect();
        let parts: Vec<&[u8]> = if parts.last().is_some_and(|p| p.is_empty()) { parts[..parts.len() - 1].to_vec() } else { parts };
        if !parts.len().is_multiple_of(2) || parts.iter().any(|p| std::str::from_utf8(p).is_err()) {
            return Ok(Err("invalid startup packet: parameters are not name/value pairs of UTF-8 text".into()));
        }
        return Ok(Ok(()));
    }
}

/// A FATAL ErrorResponse message written straight to the socket.
fn error_response(code: &str, message: &str) -> Vec<u8> {
    let mut fields = Vec::new();
    for (k, v) in [(b'S', "FATAL"), (b'V', "FATAL"), (b'C', code), (b'M', message)] {
        fields.push(k);
        fields.extend_from_slice(v.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut out = vec![b'E'];
    out.extend_from_slice(&((fields.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(&fields);
    out
}

/// Serves the wire protocol on `listener` until the process ends.
pub async fn serve(listener: TcpListener, svc: SqlService) -> std::io::Result<()> {
    let handlers = Arc::new(Handlers::new(svc.clone()));
    let params = handlers.params.clone();
    let factory = Arc::new(Factory { handlers, startup: Arc::new(Startup { svc: svc.clone(), params }) });
    loop {
        let (mut socket, addr): (TcpStream, SocketAddr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a SQL connection");
                continue;
            }
        };
        let factory = factory.clone();
        let svc = svc.clone();
        tokio::spawn(async move {
            match check_startup(&mut socket).await {
                Ok(Ok(())) => {}
                Ok(Err(message)) => {
                    tracing::warn!(client = %addr, "{message}");
                    svc.audit.record(Event::new(&Principal::public(), Action::LoginFailed, message.clone(), addr.ip().to_string()));
                    let _ = socket.write_all(&error_response("08P01", &message)).await;
                    let _ = socket.shutdown().await;
                    return;
                }
                Err(e) => {
                    tracing::debug!(client = %addr, error = %e, "connection closed during startup");
                    return;
                }
            }
            if let Err(e) = pgwire::tokio::process_socket(socket, None, factory).await {
                tracing::debug!(client = %addr, error = %e, "sql connection ended with an error");
            }
        });
    }
}

//! A connection's PostgreSQL settings, one table for all that reads them: the parameters sent at
//! sign-in, `SHOW`, `current_setting()`, `pg_settings`-style listings; and the session statements
//! clients send on connect or when they reuse a pooled connection (`SET`, `RESET`, `DISCARD ALL`,
//! `DEALLOCATE`, `SET SESSION CHARACTERISTICS`), answered as PostgreSQL answers them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DFSchema, ParamValues};
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Expr, Reset, Set, Statement, Value};
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire;
use futures::stream;
use pgwire::api::ClientInfo;
use pgwire::api::auth::ServerParameterProvider;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::store::PortalStore as _;
use pgwire::api::{METADATA_APPLICATION_NAME, METADATA_USER, Type};
use pgwire::error::PgWireResult;
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::startup::ParameterStatus;

use super::pg_err;

/// The PostgreSQL release Khlang answers as: clients pick their dialect from it.
pub const PG_VERSION: &str = "16.6";
pub const PG_VERSION_NUM: &str = "160006";

/// `server_version` as PostgreSQL spells it, with Khlang's own release in brackets.
pub fn server_version() -> String {
    format!("{PG_VERSION} (Khlang {})", env!("CARGO_PKG_VERSION"))
}

/// `version()`.
pub fn version_string() -> String {
    format!("PostgreSQL {} on {}-pc-linux-gnu, compiled by rustc, 64-bit", server_version(), std::env::consts::ARCH)
}

/// One setting: its name as PostgreSQL spells it, its value at sign-in, whether PostgreSQL reports
/// it to the client (at sign-in and when it changes), and what it is.
#[derive(Debug, Clone)]
pub struct Setting {
    pub name: &'static str,
    pub value: String,
    pub reported: bool,
    pub description: &'static str,
}

fn setting(name: &'static str, value: impl Into<String>, reported: bool, description: &'static str) -> Setting {
    Setting { name, value: value.into(), reported, description }
}

/// The settings a connection starts with.
pub fn defaults(user: &str, application_name: &str, time_zone: &str, tls: bool) -> Vec<Setting> {
    vec![
        setting("application_name", application_name, true, "Sets the application name to be reported in statistics and logs."),
        setting("bytea_output", "hex", false, "Sets the output format for bytea."),
        setting("client_encoding", "UTF8", true, "Sets the client's character set encoding."),
        setting("client_min_messages", "notice", false, "Sets the message levels that are sent to the client."),
        setting("DateStyle", "ISO, MDY", true, "Sets the display format for date and time values."),
        setting("default_transaction_isolation", "read committed", false, "Sets the transaction isolation level of each new transaction."),
        setting("default_transaction_read_only", "on", true, "Sets the default read-only status of new transactions (Khlang's SQL is read-only)."),
        setting("extra_float_digits", "1", false, "Sets the number of digits displayed for floating-point values."),
        setting("idle_in_transaction_session_timeout", "0", false, "Sets the maximum allowed idle time between queries, when in a transaction."),
        setting("in_hot_standby", "off", true, "Shows whether hot standby is currently active."),
        setting("integer_datetimes", "on", true, "Shows whether datetimes are integer based."),
        setting("IntervalStyle", "postgres", true, "Sets the display format for interval values."),
        setting("is_superuser", "off", true, "Shows whether the current user is a superuser."),
        setting("lc_collate", "C", false, "Shows the collation order locale."),
        setting("lc_ctype", "C", false, "Shows the character classification and case conversion locale."),
        setting("lc_messages", "C", false, "Sets the language in which messages are displayed."),
        setting("lc_monetary", "C", false, "Sets the locale for formatting monetary amounts."),
        setting("lc_numeric", "C", false, "Sets the locale for formatting numbers."),
        setting("lc_time", "C", false, "Sets the locale for formatting date and time values."),
        setting("lock_timeout", "0", false, "Sets the maximum allowed duration of any wait for a lock."),
        setting("max_identifier_length", "63", false, "Shows the maximum identifier length."),
        setting("max_index_keys", "32", false, "Shows the maximum number of index keys."),
        setting("password_encryption", "scram-sha-256", false, "Chooses the algorithm for encrypting passwords."),
        setting("row_security", "on", false, "Enable row security (Khlang applies each user's scope to every table)."),
        setting("scram_iterations", crate::scram::ITERATIONS.to_string(), true, "Sets the iteration count for SCRAM secret generation."),
        setting("search_path", "\"$user\", public", false, "Sets the schema search order for names that are not schema-qualified."),
        setting("server_encoding", "UTF8", true, "Shows the server (database) character set encoding."),
        setting("server_version", server_version(), true, "Shows the server version."),
        setting("server_version_num", PG_VERSION_NUM, false, "Shows the server version as an integer."),
        setting("session_authorization", user, true, "Sets the session user name."),
        setting("ssl", if tls { "on" } else { "off" }, false, "Enables SSL connections."),
        setting("standard_conforming_strings", "on", true, "Causes '...' strings to treat backslashes literally."),
        setting("statement_timeout", "0", false, "Sets the maximum allowed duration of any statement (Khlang's own limit, query_timeout_seconds, still applies)."),
        setting("TimeZone", time_zone, true, "Sets the time zone for displaying and interpreting time stamps."),
        setting("transaction_isolation", "read committed", false, "Sets the current transaction's isolation level."),
        setting("transaction_read_only", "on", false, "Sets the current transaction's read-only status (Khlang's SQL is read-only)."),
    ]
}

/// Settings that stay as they are whatever a client sets: Khlang is read-only and has one version.
const FIXED: [&str; 8] =
    ["default_transaction_read_only", "transaction_read_only", "server_version", "server_version_num", "server_encoding", "is_superuser", "max_identifier_length", "integer_datetimes"];

/// One connection's settings.
#[derive(Debug)]
pub struct Settings {
    defaults: Vec<Setting>,
    /// Changed values by lower-case name.
    changed: RwLock<HashMap<String, String>>,
}

impl Settings {
    pub fn new(defaults: Vec<Setting>) -> Settings {
        Settings { defaults, changed: RwLock::new(HashMap::new()) }
    }

    fn find(&self, name: &str) -> Option<&Setting> {
        self.defaults.iter().find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// The canonical name of a setting (`datestyle` → `DateStyle`), as SHOW names its column.
    pub fn display_name(&self, name: &str) -> String {
        self.find(name).map_or_else(|| name.to_lowercase(), |s| s.name.to_string())
    }

    /// A setting's value; `None` for a name that is not a setting.
    pub fn get(&self, name: &str) -> Option<String> {
        let key = name.to_lowercase();
        if let Some(v) = self.changed.read().ok().and_then(|c| c.get(&key).cloned()) {
            return Some(v);
        }
        self.find(&key).map(|s| s.value.clone())
    }

    /// Every setting with its value and description, sorted by name.
    pub fn all(&self) -> Vec<(String, String, String)> {
        let mut out: Vec<(String, String, String)> =
            self.defaults.iter().map(|s| (s.name.to_string(), self.get(s.name).unwrap_or_default(), s.description.to_string())).collect();
        if let Ok(c) = self.changed.read() {
            for (k, v) in c.iter() {
                if self.find(k).is_none() {
                    out.push((k.clone(), v.clone(), String::new()));
                }
            }
        }
        out.sort_by_key(|(n, _, _)| n.to_lowercase());
        out
    }

    /// Sets a value; `Some((name, value))` when PostgreSQL would report the change to the client.
    pub fn set(&self, name: &str, value: &str) -> Option<(String, String)> {
        let key = name.to_lowercase();
        if FIXED.contains(&key.as_str()) {
            return None;
        }
        if let Ok(mut c) = self.changed.write() {
            c.insert(key.clone(), value.to_string());
        }
        self.find(&key).filter(|s| s.reported).map(|s| (s.name.to_string(), value.to_string()))
    }

    /// Back to the value at sign-in; reports as `set` does.
    pub fn reset(&self, name: &str) -> Option<(String, String)> {
        let key = name.to_lowercase();
        let was = self.changed.write().ok().and_then(|mut c| c.remove(&key));
        let s = self.find(&key)?;
        (was.is_some() && s.reported).then(|| (s.name.to_string(), s.value.clone()))
    }

    /// `RESET ALL`: every changed value back; the reports to send.
    pub fn reset_all(&self) -> Vec<(String, String)> {
        let keys: Vec<String> = self.changed.read().map(|c| c.keys().cloned().collect()).unwrap_or_default();
        keys.iter().filter_map(|k| self.reset(k)).collect()
    }

    /// `statement_timeout` as a duration (`None`: no limit of the client's own).
    pub fn statement_timeout(&self) -> Option<Duration> {
        parse_duration_ms(&self.get("statement_timeout")?).filter(|ms| *ms > 0).map(Duration::from_millis)
    }
}

/// A PostgreSQL duration setting in milliseconds: `5000`, `5s`, `250ms`, `2min`, `1h`.
fn parse_duration_ms(v: &str) -> Option<u64> {
    let v = v.trim().trim_matches('\'').trim();
    let split = v.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().ok()?;
    let factor = match unit.trim() {
        "" | "ms" => 1.0,
        "s" => 1000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        "us" => 0.001,
        _ => return None,
    };
    Some((n * factor) as u64)
}

/// The parameters sent right after sign-in: the reported settings, from the same table as SHOW.
pub struct Parameters {
    pub time_zone: String,
    pub tls: bool,
}

impl Parameters {
    pub fn settings_for<C: ClientInfo + ?Sized>(&self, client: &C) -> Vec<Setting> {
        let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
        let app = client.metadata().get(METADATA_APPLICATION_NAME).cloned().unwrap_or_default();
        let mut s = defaults(&user, &app, &self.time_zone, self.tls);
        // A client's startup options (client_encoding, DateStyle, …) are its first settings.
        for d in s.iter_mut() {
            if let Some(v) = client.metadata().iter().find(|(k, _)| k.eq_ignore_ascii_case(d.name)).map(|(_, v)| v.clone())
                && !FIXED.iter().any(|f| f.eq_ignore_ascii_case(d.name))
            {
                d.value = v;
            }
        }
        s
    }
}

impl ServerParameterProvider for Parameters {
    fn server_parameters<C>(&self, client: &C) -> Option<HashMap<String, String>>
    where
        C: ClientInfo,
    {
        Some(self.settings_for(client).into_iter().filter(|s| s.reported).map(|s| (s.name.to_string(), s.value)).collect())
    }
}

/// Text of a SET value: `'x'`, `x`, `"x"`, numbers, `DEFAULT`; lists joined with ", ".
fn value_text(values: &[Expr]) -> String {
    values
        .iter()
        .map(|e| match e {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                other => other.to_string(),
            },
            Expr::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn single_column(name: &str) -> LogicalPlan {
    let schema = Schema::new(vec![Field::new(name, DataType::Utf8, false)]);
    let schema = DFSchema::try_from(schema).unwrap_or_else(|_| DFSchema::empty());
    LogicalPlan::EmptyRelation(EmptyRelation { produce_one_row: true, schema: Arc::new(schema) })
}

fn no_rows() -> LogicalPlan {
    LogicalPlan::EmptyRelation(EmptyRelation { produce_one_row: false, schema: Arc::new(DFSchema::empty()) })
}

fn rows(columns: &[&str], values: Vec<Vec<String>>) -> PgWireResult<Response> {
    let fields: Arc<Vec<FieldInfo>> = Arc::new(columns.iter().map(|c| FieldInfo::new(c.to_string(), None, None, Type::TEXT, FieldFormat::Text)).collect());
    let mut out = Vec::with_capacity(values.len());
    for row in values {
        let mut enc = DataRowEncoder::new(fields.clone());
        for v in row {
            enc.encode_field(&Some(v))?;
        }
        out.push(Ok(enc.take_row()));
    }
    Ok(Response::Query(QueryResponse::new(fields, Box::pin(stream::iter(out)))))
}

/// Which session statement a statement is, with what it needs.
enum SessionStatement {
    Show(String),
    ShowAll,
    Set(String, String),
    /// Accepted and changes nothing (`SET SESSION CHARACTERISTICS`, `SET ROLE`, …).
    SetNoop,
    Reset(String),
    ResetAll,
    DiscardAll,
    Deallocate(Option<String>),
    /// `SAVEPOINT` / `RELEASE SAVEPOINT` (psycopg 3 under SQLAlchemy): nothing to undo in
    /// read-only SQL.
    Savepoint(&'static str),
}

fn classify(statement: &Statement) -> Option<SessionStatement> {
    Some(match statement {
        Statement::ShowVariable { variable } => {
            let name = variable.iter().map(|v| v.value.to_lowercase()).collect::<Vec<_>>().join(" ");
            match name.as_str() {
                "all" => SessionStatement::ShowAll,
                "time zone" => SessionStatement::Show("timezone".into()),
                "transaction isolation level" => SessionStatement::Show("transaction_isolation".into()),
                "session authorization" => SessionStatement::Show("session_authorization".into()),
                _ => SessionStatement::Show(name),
            }
        }
        Statement::Set(set) => match set {
            Set::SingleAssignment { variable, values, .. } => {
                let name = variable.to_string().to_lowercase();
                let value = value_text(values);
                if value.eq_ignore_ascii_case("default") { SessionStatement::Reset(name) } else { SessionStatement::Set(name, value) }
            }
            Set::SetTimeZone { value, .. } => SessionStatement::Set("timezone".into(), value_text(std::slice::from_ref(value))),
            Set::SetNames { charset_name, .. } => SessionStatement::Set("client_encoding".into(), charset_name.value.clone()),
            _ => SessionStatement::SetNoop,
        },
        Statement::Reset(r) => match &r.reset {
            Reset::ALL => SessionStatement::ResetAll,
            Reset::ConfigurationParameter(name) => SessionStatement::Reset(name.to_string().to_lowercase()),
        },
        Statement::Discard { .. } => SessionStatement::DiscardAll,
        Statement::Deallocate { name, .. } => {
            SessionStatement::Deallocate(if name.value.eq_ignore_ascii_case("all") { None } else { Some(name.value.clone()) })
        }
        Statement::Savepoint { .. } => SessionStatement::Savepoint("SAVEPOINT"),
        Statement::ReleaseSavepoint { .. } => SessionStatement::Savepoint("RELEASE"),
        _ => return None,
    })
}

/// Answers the session statements of one connection from its [`Settings`].
pub struct SessionHook {
    pub settings: Arc<Settings>,
}

impl SessionHook {
    async fn answer(&self, statement: &Statement, client: &mut dyn HookClient) -> Option<PgWireResult<Response>> {
        let what = classify(statement)?;
        let mut reports = Vec::new();
        let response = match what {
            SessionStatement::Show(name) => match self.settings.get(&name) {
                Some(v) => rows(&[&self.settings.display_name(&name)], vec![vec![v]]),
                None => Err(pg_err("ERROR", "42704", format!("unrecognized configuration parameter \"{name}\""))),
            },
            SessionStatement::ShowAll => {
                rows(&["name", "setting", "description"], self.settings.all().into_iter().map(|(n, v, d)| vec![n, v, d]).collect())
            }
            SessionStatement::Set(name, value) => {
                reports.extend(self.settings.set(&name, &value));
                Ok(Response::Execution(Tag::new("SET")))
            }
            SessionStatement::SetNoop => Ok(Response::Execution(Tag::new("SET"))),
            SessionStatement::Reset(name) => {
                reports.extend(self.settings.reset(&name));
                Ok(Response::Execution(Tag::new("RESET")))
            }
            SessionStatement::ResetAll => {
                reports = self.settings.reset_all();
                Ok(Response::Execution(Tag::new("RESET")))
            }
            SessionStatement::DiscardAll => {
                reports = self.settings.reset_all();
                HookClient::portal_store(client).clear_portals();
                Ok(Response::Execution(Tag::new("DISCARD ALL")))
            }
            SessionStatement::Savepoint(tag) => Ok(Response::Execution(Tag::new(tag))),
            SessionStatement::Deallocate(name) => {
                if let Some(n) = name {
                    HookClient::portal_store(client).rm_statement(&n);
                }
                Ok(Response::Execution(Tag::new("DEALLOCATE")))
            }
        };
        for (name, value) in reports {
            if let Err(e) = client.send_message(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(name, value))).await {
                return Some(Err(e));
            }
        }
        Some(response)
    }
}

#[async_trait]
impl QueryHook for SessionHook {
    async fn handle_simple_query(&self, statement: &Statement, _ctx: &SessionContext, client: &mut dyn HookClient) -> Option<PgWireResult<Response>> {
        self.answer(statement, client).await
    }

    async fn handle_extended_parse_query(&self, statement: &Statement, _ctx: &SessionContext, _client: &(dyn ClientInfo + Send + Sync)) -> Option<PgWireResult<LogicalPlan>> {
        Some(Ok(match classify(statement)? {
            SessionStatement::Show(name) => single_column(&self.settings.display_name(&name)),
            SessionStatement::ShowAll => {
                let schema = Schema::new(["name", "setting", "description"].map(|c| Field::new(c, DataType::Utf8, false)).to_vec());
                let schema = DFSchema::try_from(schema).unwrap_or_else(|_| DFSchema::empty());
                LogicalPlan::EmptyRelation(EmptyRelation { produce_one_row: true, schema: Arc::new(schema) })
            }
            _ => no_rows(),
        }))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.answer(statement, client).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn settings_answer_as_postgresql_does() {
        let s = Settings::new(defaults("ana", "psql", "Asia/Bangkok", false));
        assert_eq!(s.get("server_version_num").as_deref(), Some(PG_VERSION_NUM));
        assert_eq!(s.display_name("datestyle"), "DateStyle");
        assert_eq!(s.get("TIMEZONE").as_deref(), Some("Asia/Bangkok"));
        assert_eq!(s.set("application_name", "DBeaver"), Some(("application_name".into(), "DBeaver".into())));
        assert_eq!(s.set("extra_float_digits", "3"), None);
        assert_eq!(s.get("extra_float_digits").as_deref(), Some("3"));
        // Read-only stays read-only.
        assert_eq!(s.set("default_transaction_read_only", "off"), None);
        assert_eq!(s.get("default_transaction_read_only").as_deref(), Some("on"));
        assert_eq!(s.reset_all(), vec![("application_name".to_string(), "psql".to_string())]);
        assert_eq!(s.get("extra_float_digits").as_deref(), Some("1"));
        s.set("statement_timeout", "1500");
        assert_eq!(s.statement_timeout(), Some(Duration::from_millis(1500)));
        s.set("statement_timeout", "2s");
        assert_eq!(s.statement_timeout(), Some(Duration::from_secs(2)));
        s.set("statement_timeout", "0");
        assert_eq!(s.statement_timeout(), None);
        assert!(version_string().starts_with("PostgreSQL 16.6 (Khlang "));
    }
}

//! The access log the Computer Crime Act asks for: every login, query, export and report, with who,
//! role, SQL, rows and the client's address, in the `audit_log` table.
//!
//! Events are queued and written as one Delta append every few seconds (a commit per query would
//! make the log the slowest part of every query); `flush` writes what is queued at once, so an
//! admin reading the log sees everything up to their own query.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Date32Array, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use khlang_warehouse::{Warehouse, WriteMode, schema};
use tokio::sync::{mpsc, oneshot};

use crate::QueryError;
use crate::access::Principal;

/// The shortest retention the law allows (Computer Crime Act: at least 90 days).
pub const MIN_RETENTION_DAYS: u32 = 90;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Login,
    LoginFailed,
    Query,
    Export,
    Report,
    Ingest,
    /// Figures put to the director for publishing.
    PublishPropose,
    /// Figures approved for the public.
    PublishApprove,
    /// Figures sent back to be reviewed and corrected.
    PublishReturn,
    /// Someone asked for access to data.
    AccessRequest,
    /// An admin granted a request (or the new user set their password).
    AccessGrant,
    /// An admin refused a request.
    AccessRefuse,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Login => "login",
            Action::LoginFailed => "login_failed",
            Action::Query => "query",
            Action::Export => "export",
            Action::Report => "report",
            Action::Ingest => "ingest",
            Action::PublishPropose => "publish_propose",
            Action::PublishApprove => "publish_approve",
            Action::PublishReturn => "publish_return",
            Action::AccessRequest => "access_request",
            Action::AccessGrant => "access_grant",
            Action::AccessRefuse => "access_refuse",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub user: String,
    pub role: String,
    pub action: Action,
    /// Tables read (comma-separated), the report's path, or why a login failed.
    pub object: String,
    pub sql: Option<String>,
    pub rows: Option<i64>,
    pub client: String,
}

impl Event {
    pub fn new(who: &Principal, action: Action, object: impl Into<String>, client: impl Into<String>) -> Self {
        Event {
            at: Utc::now(),
            user: who.user.clone(),
            role: who.role.as_str().into(),
            action,
            object: object.into(),
            sql: None,
            rows: None,
            client: client.into(),
        }
    }

    pub fn with_sql(mut self, sql: &str) -> Self {
        self.sql = Some(sql.to_string());
        self
    }

    pub fn with_rows(mut self, rows: i64) -> Self {
        self.rows = Some(rows);
        self
    }
}

enum Msg {
    Event(Box<Event>),
    Flush(oneshot::Sender<()>),
}

/// A handle to the audit writer; cheap to clone.
#[derive(Debug, Clone)]
pub struct Audit {
    tx: mpsc::UnboundedSender<Msg>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("audit message")
    }
}

fn batch(events: &[Event]) -> Result<RecordBatch, QueryError> {
    let def = schema::table("audit_log").ok_or_else(|| QueryError::Internal("no audit_log table in the contract".into()))?;
    let at: Vec<i64> = events.iter().map(|e| e.at.timestamp_micros()).collect();
    // Date32 counts days from 1970-01-01 (chrono's default date).
    let day: Vec<i32> = events.iter().map(|e| (e.at.date_naive() - chrono::NaiveDate::default()).num_days() as i32).collect();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(TimestampMicrosecondArray::from(at).with_timezone("UTC")),
        Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.user.as_str()))),
        Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.role.as_str()))),
        Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.action.as_str()))),
        Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.object.as_str()))),
        Arc::new(StringArray::from(events.iter().map(|e| e.sql.as_deref()).collect::<Vec<_>>())),
        Arc::new(Int64Array::from(events.iter().map(|e| e.rows).collect::<Vec<_>>())),
        Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.client.as_str()))),
        Arc::new(Date32Array::from(day)),
    ];
    RecordBatch::try_new(def.schema, cols).map_err(|e| QueryError::Internal(format!("audit record: {e}")))
}

async fn write(wh: &Warehouse, events: &mut Vec<Event>) {
    if events.is_empty() {
        return;
    }
    let result = match batch(events) {
        Ok(b) => wh.write("audit_log", vec![b], WriteMode::Append).await.map_err(QueryError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => events.clear(),
        // Kept for the next try: an audit record is never dropped on a passing error.
        Err(e) => tracing::error!(error = %e, queued = events.len(), "cannot write the audit log; will retry"),
    }
}

/// Deletes audit records older than the retention.
async fn prune(wh: &Warehouse, retention_days: u32) {
    let cutoff = (Utc::now() - chrono::Duration::days(i64::from(retention_days))).date_naive();
    match wh.delete_where("audit_log", &format!("day < '{cutoff}'")).await {
        Ok(_) => tracing::debug!(%cutoff, "audit records before the retention cut-off removed"),
        Err(e) => tracing::warn!(error = %e, "cannot age out old audit records"),
    }
}

impl Audit {
    /// Starts the writer. It writes queued events every `interval`, and ages out records older than
    /// `retention_days` once a day.
    pub fn start(wh: Warehouse, interval: Duration, retention_days: u32) -> Audit {
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        // Owned by the writer task alone.
        let mut pending = Vec::<Event>::new();
        tokio::spawn(async move {
            // Age out first, before anything new is queued.
            prune(&wh, retention_days).await;
            let mut pruned = Some(Utc::now().date_naive());
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            loop {
                tokio::select! {
                    msg = rx.recv() => match msg {
                        Some(Msg::Event(e)) => pending.push(*e),
                        Some(Msg::Flush(done)) => {
                            // Everything sent before the flush request is already in the queue.
                            while let Ok(m) = rx.try_recv() {
                                match m {
                                    Msg::Event(e) => pending.push(*e),
                                    Msg::Flush(d) => { let _ = d.send(()); }
                                }
                            }
                            write(&wh, &mut pending).await;
                            let _ = done.send(());
                        }
                        None => {
                            write(&wh, &mut pending).await;
                            break;
                        }
                    },
                    _ = tick.tick() => {
                        write(&wh, &mut pending).await;
                        let today = Utc::now().date_naive();
                        if pruned != Some(today) {
                            prune(&wh, retention_days).await;
                            pruned = Some(today);
                        }
                    }
                }
            }
        });
        Audit { tx }
    }

    pub fn record(&self, event: Event) {
        tracing::debug!(user = %event.user, role = %event.role, action = event.action.as_str(), object = %event.object, rows = ?event.rows, client = %event.client, "audit");
        if self.tx.send(Msg::Event(Box::new(event))).is_err() {
            tracing::error!("the audit writer has stopped; an access was not logged");
        }
    }

    /// Writes everything queued so far.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

/// Whether a statement reads the audit log (directly or through `usage_summary`), so the queue
/// should be written first.
pub fn reads_audit(sql: &str) -> bool {
    let s = sql.to_ascii_lowercase();
    s.contains("audit_log") || s.contains("usage_summary")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_are_written_on_flush_and_aged_out_after_the_retention() {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::open(dir.path().to_str().unwrap()).unwrap();
        let audit = Audit::start(wh.clone(), Duration::from_secs(3600), MIN_RETENTION_DAYS);
        let who = Principal::local_admin();
        let mut old = Event::new(&who, Action::Query, "enrollments", "127.0.0.1").with_sql("SELECT 1").with_rows(1);
        old.at = Utc::now() - chrono::Duration::days(120);
        audit.record(old);
        audit.record(Event::new(&who, Action::Login, "wire", "127.0.0.1"));
        audit.flush().await;
        let q = crate::QueryService::new(wh.clone());
        let count = |sql: &'static str| {
            let q = q.clone();
            async move { crate::scalar_i64(&q.sql(sql).await.unwrap()).unwrap() }
        };
        assert_eq!(count("SELECT count(*) FROM audit_log").await, 2);
        assert_eq!(count("SELECT count(*) FROM audit_log WHERE day = CAST(at AS DATE)").await, 2);
        prune(&wh, MIN_RETENTION_DAYS).await;
        assert_eq!(count("SELECT count(*) FROM audit_log").await, 1);
        assert_eq!(count("SELECT count(*) FROM audit_log WHERE action = 'login'").await, 1);
    }
}

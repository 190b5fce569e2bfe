//! Pages for the people who run the warehouse: the nightly loads and data-quality status (admins and
//! ICT officers, who sign in as analysts), and how the warehouse is used (admins).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use khlang_query::transport::api::{ApiError, Caller};
use khlang_query::{Role, SessionContext};

use maud::html;

use crate::msg::{self, admin as m};
use crate::pages::error_page;
use crate::report::{Chart, ChartKind};
use crate::table::{Kind, Table, rows_or_none};
use crate::{AppState, html, thai};

async fn table(ctx: &SessionContext, key: &'static str, title: &str, columns: &[(&str, Kind)], sql: &str) -> Table {
    Table { rows: rows_or_none(ctx, sql).await, ..Table::new(key, title, columns) }
}

/// `/admin/ingest`: recent loads, what was rejected in the latest one and which schools have not sent data.
pub async fn ingest(State(st): State<AppState>, caller: Result<Caller, ApiError>) -> Response {
    let Some(caller) = crate::pages::signed_in(caller) else { return crate::sign_in_first("/admin/ingest") };
    if !matches!(caller.who.role, Role::Admin | Role::Analyst) {
        return error_page(StatusCode::FORBIDDEN, m::INGEST_FORBIDDEN);
    }
    let ctx = match st.svc.q.session_for(&caller.who).await {
        Ok(c) => c,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    st.svc.audit.record(khlang_query::audit::Event::new(&caller.who, khlang_query::audit::Action::Report, "ingest_runs,rejected_rows", caller.client.clone()));
    let runs = table(
        &ctx,
        "ingest_runs",
        m::T_RUNS,
        &[(msg::C_RUN, Kind::Text), (m::C_STARTED, Kind::Text), (m::C_SOURCE, Kind::Text), (m::C_READ, Kind::Count), (m::C_LOADED, Kind::Count), (m::C_REJECTED, Kind::Count), (msg::C_STATUS, Kind::Text)],
        "SELECT run_id, CAST(min(started_at) AS VARCHAR), min(source), sum(rows_read), sum(rows_loaded), sum(rows_rejected), \
                CASE WHEN min(status) = max(status) THEN min(status) ELSE min(status) || ', ' || max(status) END \
         FROM ingest_runs GROUP BY run_id ORDER BY 2 DESC LIMIT 30",
    )
    .await;
    let feeds = table(
        &ctx,
        "latest_feeds",
        m::T_FEEDS,
        &[(m::C_FEED, Kind::Text), (m::C_READ, Kind::Count), (m::C_LOADED, Kind::Count), (m::C_REJECTED, Kind::Count), (m::C_TABLE_VERSION, Kind::Count), (msg::C_STATUS, Kind::Text), (m::C_MESSAGE, Kind::Text)],
        "SELECT feed, rows_read, rows_loaded, rows_rejected, table_version, status, message FROM ingest_runs \
         WHERE run_id = (SELECT max(run_id) FROM ingest_runs) ORDER BY feed",
    )
    .await;
    let mut rules = table(
        &ctx,
        "rejected_by_rule",
        m::T_REJECTED_BY_RULE,
        &[(m::C_RULE, Kind::Text), (msg::C_ROWS, Kind::Count)],
        "SELECT rule, count(*) FROM rejected_rows WHERE run_id = (SELECT max(run_id) FROM rejected_rows) GROUP BY rule ORDER BY 2 DESC",
    )
    .await;
    rules.relabel(0, |c| crate::quality::rule_th(&c.text()));
    let status = table(
        &ctx,
        "submission_status",
        m::T_SUBMISSIONS,
        &[(msg::C_STATUS, Kind::Text), (msg::F_SCHOOLS, Kind::Count)],
        &format!(
            "SELECT CASE status {} ELSE status END, count(*) \
             FROM submission_status WHERE snapshot_date = (SELECT max(snapshot_date) FROM submission_status) GROUP BY status ORDER BY 2 DESC",
            crate::msg::SUBMISSION_STATUSES.iter().map(|s| format!("WHEN '{s}' THEN '{}'", crate::msg::submission_status(s))).collect::<Vec<_>>().join(" ")
        ),
    )
    .await;
    // The reporting calendar: who is late against each deadline (details and the list to send on /calendar).
    let deadlines = match khlang_query::calendar::Calendar::new(st.svc.q.warehouse().clone()).list().await {
        Ok(d) if !d.is_empty() => Some(crate::calendar::deadlines_table(&st, &caller.who, &d, crate::calendar::today()).await),
        _ => None,
    };
    let body = html! {
        p { a href="/quality" { (m::QUALITY_LINK) } }
        (html::table(&feeds))
        @if !rules.rows.is_empty() { (html::chart(&Chart { kind: ChartKind::Bars, table: rules }, None)) }
        (html::table(&status))
        @if let Some(d) = deadlines {
            p { a href="/calendar" { (m::CALENDAR_LINK) } }
            (d)
        }
        (html::table(&runs))
    };
    Html(html::shell(&caller.who, m::INGEST_TITLE, body).into_string()).into_response()
}

/// `/admin/usage`: who used the warehouse for what over the last 90 days (from the audit log).
pub async fn usage(State(st): State<AppState>, caller: Result<Caller, ApiError>) -> Response {
    let Some(caller) = crate::pages::signed_in(caller) else { return crate::sign_in_first("/admin/usage") };
    if caller.who.role != Role::Admin {
        return error_page(StatusCode::FORBIDDEN, msg::ADMINS_ONLY);
    }
    st.svc.audit.flush().await;
    let ctx = match st.svc.q.session_for(&caller.who).await {
        Ok(c) => c,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    st.svc.audit.record(khlang_query::audit::Event::new(&caller.who, khlang_query::audit::Action::Report, "audit_log", caller.client.clone()));
    let since = "day >= current_date - INTERVAL '90' DAY";
    let by_user = table(
        &ctx,
        "usage_by_user",
        m::T_BY_USER,
        &[(m::C_USER, Kind::Text), (m::C_ROLE, Kind::Text), (m::C_QUERIES, Kind::Count), (m::C_EXPORTS, Kind::Count), (m::C_REPORTS, Kind::Count), (m::C_LOGINS, Kind::Count)],
        &format!(
            "SELECT user_name, min(role), count(*) FILTER (WHERE action = 'query'), count(*) FILTER (WHERE action = 'export'), \
                    count(*) FILTER (WHERE action = 'report'), count(*) FILTER (WHERE action = 'login') \
             FROM audit_log WHERE {since} GROUP BY user_name ORDER BY 3 DESC, 5 DESC, 1"
        ),
    )
    .await;
    let by_day = table(
        &ctx,
        "usage_by_day",
        m::T_BY_DAY,
        &[(m::C_DAY, Kind::Text), (m::C_TIMES, Kind::Count)],
        &format!("SELECT CAST(day AS VARCHAR) AS d, count(*) FROM audit_log WHERE {since} AND action IN ('query', 'export', 'report') GROUP BY d ORDER BY d"),
    )
    .await;
    let by_table = table(
        &ctx,
        "usage_by_table",
        m::T_BY_TABLE,
        &[(m::C_TABLE_OR_REPORT, Kind::Text), (m::C_TIMES, Kind::Count), (m::C_ROWS_EXPORTED, Kind::Count)],
        &format!("SELECT table_name, sum(events), sum(rows) FROM usage_summary WHERE {since} GROUP BY table_name ORDER BY 2 DESC LIMIT 20"),
    )
    .await;
    let failed = table(
        &ctx,
        "failed_logins",
        m::T_FAILED_LOGINS,
        &[(m::C_USER, Kind::Text), (m::C_FROM, Kind::Text), (m::C_TIMES, Kind::Count)],
        &format!("SELECT user_name, client_addr, count(*) FROM audit_log WHERE {since} AND action = 'login_failed' GROUP BY user_name, client_addr ORDER BY 3 DESC LIMIT 50"),
    )
    .await;
    let mut day_chart = by_day.clone();
    day_chart.key = "usage_trend";
    day_chart.relabel(0, |c| thai::date_be(&c.text()));
    let body = html! {
        p { a href="/admin/usage-report" { (m::USAGE_REPORT_LINK) } }
        @if !day_chart.rows.is_empty() { (html::chart(&Chart { kind: ChartKind::Trend, table: day_chart }, None)) }
        @for t in [&by_user, &by_table, &failed] { (html::table(t)) }
    };
    Html(html::shell(&caller.who, m::USAGE_TITLE, body).into_string()).into_response()
}

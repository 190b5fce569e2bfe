//! Khlang web app (axum, server-rendered HTML in Thai). For now the area's headline page; the full
//! dashboards and the four-domain report build on this.

pub mod quality;
pub mod thai;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use khlang_query::{QueryService, scalar_i64};

#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("cannot listen on {addr}: {message}")]
    Bind { addr: String, message: String },
    #[error("the web server stopped: {0}")]
    Serve(String),
}

#[derive(Clone)]
struct AppState {
    query: Arc<QueryService>,
}

pub fn router(query: Arc<QueryService>) -> Router {
    Router::new().route("/", get(home)).route("/healthz", get(|| async { "ok" })).with_state(AppState { query })
}

pub async fn serve(query: Arc<QueryService>, addr: SocketAddr, on_ready: impl FnOnce(SocketAddr)) -> Result<(), DashboardError> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| DashboardError::Bind { addr: addr.to_string(), message: e.to_string() })?;
    let local = listener.local_addr().map_err(|e| DashboardError::Bind { addr: addr.to_string(), message: e.to_string() })?;
    on_ready(local);
    axum::serve(listener, router(query)).await.map_err(|e| DashboardError::Serve(e.to_string()))
}

/// Headline figures of the latest snapshot, each computed by one SQL query.
struct Headline {
    label: &'static str,
    value: Option<i64>,
    unit: &'static str,
}

async fn figure(q: &QueryService, sql: &str) -> Option<i64> {
    match q.sql(sql).await {
        Ok(b) => scalar_i64(&b),
        Err(e) => {
            tracing::warn!(error = %e, sql, "headline query failed");
            None
        }
    }
}

async fn home(State(st): State<AppState>) -> Response {
    let q = &st.query;
    let latest = "(SELECT max(snapshot_date) FROM school_snapshot_summary)";
    let snapshot = match q.sql(&format!("SELECT CAST({latest} AS VARCHAR)")).await {
        Ok(b) => b.first().and_then(|b| khlang_query::format(std::slice::from_ref(b), khlang_query::Format::Csv).ok()).and_then(|s| s.lines().nth(1).map(str::to_string)),
        Err(_) => None,
    };
    let Some(snapshot) = snapshot.filter(|s| !s.is_empty()) else {
        return (StatusCode::OK, Html(thai::page("คลังข้อมูล", "<p>ยังไม่มีข้อมูลในคลัง: ให้นำเข้าข้อมูลด้วย <code>khlang ingest</code> ก่อน</p>"))).into_response();
    };
    let s = format!("snapshot_date = DATE '{snapshot}'");
    let heads = vec![
        Headline { label: "โรงเรียน", value: figure(q, &format!("SELECT count(*) FROM school_snapshot_summary WHERE {s}")).await, unit: "แห่ง" },
        Headline { label: "นักเรียน", value: figure(q, &format!("SELECT sum(students) FROM school_snapshot_summary WHERE {s}")).await, unit: "คน" },
        Headline { label: "ครู", value: figure(q, &format!("SELECT sum(teachers) FROM school_snapshot_summary WHERE {s}")).await, unit: "คน" },
        Headline { label: "ห้องเรียน", value: figure(q, &format!("SELECT sum(classrooms) FROM school_snapshot_summary WHERE {s}")).await, unit: "ห้อง" },
        Headline {
            label: "โรงเรียนขนาดเล็ก",
            value: figure(q, &format!("SELECT count(*) FROM school_snapshot_summary WHERE {s} AND size_band = 'small'")).await,
            unit: "แห่ง",
        },
        Headline {
            label: "โรงเรียนที่ขาดครู",
            value: figure(q, &format!("SELECT count(*) FROM school_snapshot_summary WHERE {s} AND teacher_gap < 0")).await,
            unit: "แห่ง",
        },
        Headline {
            label: "ครูขาดรวม",
            value: figure(q, &format!("SELECT -sum(teacher_gap) FROM school_snapshot_summary WHERE {s} AND teacher_gap < 0")).await,
            unit: "อัตรา",
        },
        Headline {
            label: "งบประมาณจัดสรรปีงบประมาณล่าสุด",
            value: figure(q, "SELECT CAST(sum(allocated_baht) AS BIGINT) FROM budget_lines WHERE fiscal_year = (SELECT max(fiscal_year) FROM budget_lines)").await,
            unit: "บาท",
        },
    ];
    let areas = q.sql("SELECT area_name FROM areas ORDER BY area_code").await.ok().and_then(|b| khlang_query::format(&b, khlang_query::Format::Csv).ok()).unwrap_or_default();
    let area_names: Vec<String> = areas.lines().skip(1).map(|l| thai::escape(l.trim_matches('"'))).collect();
    let mut body = format!(
        "<p class=\"meta\">ข้อมูล ณ วันที่ {} · {}</p><section class=\"cards\">",
        thai::date_be(&snapshot),
        area_names.join(", ")
    );
    for h in heads {
        body.push_str(&format!(
            "<div class=\"card\"><div class=\"label\">{}</div><div class=\"value\" data-figure=\"{}\">{}</div><div class=\"unit\">{}</div></div>",
            h.label,
            h.label,
            h.value.map(thai::number).unwrap_or_else(|| "–".into()),
            h.unit
        ));
    }
    body.push_str("</section>");
    (StatusCode::OK, Html(thai::page("ภาพรวมเขตพื้นที่การศึกษา", &body))).into_response()
}

//! Pages for the people who run the warehouse: the nightly loads and data-quality status (admins and
//! ICT officers, who sign in as analysts), and how the warehouse is used (admins).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use khlang_query::transport::api::{ApiError, Caller};
use khlang_query::{Role, SessionContext};

use crate::pages::{chart_html, error_page, table_html};
use crate::report::{Chart, ChartKind, Kind, Table, rows_or_none};
use crate::{AppState, thai};

async fn table(ctx: &SessionContext, key: &'static str, title: &str, columns: &[(&str, Kind)], sql: &str) -> Table {
    Table { rows: rows_or_none(ctx, sql).await, ..Table::new(key, title, columns) }
}

/// `/admin/ingest`: recent loads, what was rejected in the latest one and which schools have not sent data.
pub async fn ingest(State(st): State<AppState>, caller: Result<Caller, ApiError>) -> Response {
    let Some(caller) = crate::pages::signed_in(caller) else { return crate::sign_in_first("/admin/ingest") };
    if !matches!(caller.who.role, Role::Admin | Role::Analyst) {
        return error_page(StatusCode::FORBIDDEN, "หน้านี้สำหรับผู้ดูแลระบบและเจ้าหน้าที่ ICT (บัญชีผู้ดูแลหรือนักวิเคราะห์)");
    }
    let ctx = match st.svc.q.session_for(&caller.who).await {
        Ok(c) => c,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    st.svc.audit.record(khlang_query::audit::Event::new(&caller.who, khlang_query::audit::Action::Report, "ingest_runs,rejected_rows", caller.client.clone()));
    let runs = table(
        &ctx,
        "ingest_runs",
        "การนำเข้าข้อมูลล่าสุด (30 รอบ)",
        &[("รอบ", Kind::Text), ("เริ่ม (UTC)", Kind::Text), ("แหล่งข้อมูล", Kind::Text), ("อ่าน", Kind::Count), ("นำเข้า", Kind::Count), ("ปฏิเสธ", Kind::Count), ("สถานะ", Kind::Text)],
        "SELECT run_id, CAST(min(started_at) AS VARCHAR), min(source), sum(rows_read), sum(rows_loaded), sum(rows_rejected), \
                CASE WHEN min(status) = max(status) THEN min(status) ELSE min(status) || ', ' || max(status) END \
         FROM ingest_runs GROUP BY run_id ORDER BY 2 DESC LIMIT 30",
    )
    .await;
    let feeds = table(
        &ctx,
        "latest_feeds",
        "แต่ละชุดข้อมูลในรอบล่าสุด",
        &[("ชุดข้อมูล", Kind::Text), ("อ่าน", Kind::Count), ("นำเข้า", Kind::Count), ("ปฏิเสธ", Kind::Count), ("รุ่นตาราง", Kind::Count), ("สถานะ", Kind::Text), ("ข้อความ", Kind::Text)],
        "SELECT feed, rows_read, rows_loaded, rows_rejected, table_version, status, message FROM ingest_runs \
         WHERE run_id = (SELECT max(run_id) FROM ingest_runs) ORDER BY feed",
    )
    .await;
    let mut rules = table(
        &ctx,
        "rejected_by_rule",
        "แถวที่ถูกปฏิเสธในรอบล่าสุด จำแนกตามกฎ",
        &[("กฎที่ไม่ผ่าน", Kind::Text), ("แถว", Kind::Count)],
        "SELECT rule, count(*) FROM rejected_rows WHERE run_id = (SELECT max(run_id) FROM rejected_rows) GROUP BY rule ORDER BY 2 DESC",
    )
    .await;
    rules.rows.iter_mut().for_each(|r| r[0] = crate::report::Cell::Text(crate::quality::rule_th(&r[0].text())));
    let status = table(
        &ctx,
        "submission_status",
        "การส่งข้อมูลนักเรียนของโรงเรียน รอบล่าสุด",
        &[("สถานะ", Kind::Text), ("โรงเรียน", Kind::Count)],
        &format!(
            "SELECT CASE status {} ELSE status END, count(*) \
             FROM submission_status WHERE snapshot_date = (SELECT max(snapshot_date) FROM submission_status) GROUP BY status ORDER BY 2 DESC",
            crate::msg::SUBMISSION_STATUSES.iter().map(|s| format!("WHEN '{s}' THEN '{}'", crate::msg::submission_status(s))).collect::<Vec<_>>().join(" ")
        ),
    )
    .await;
    let mut body = String::from("<p><a href=\"/quality\">รายงานคุณภาพข้อมูลรายโรงเรียน (ส่งให้โรงเรียนแก้ไข)</a></p>");
    body.push_str(&table_html(&feeds));
    if !rules.rows.is_empty() {
        body.push_str(&chart_html(&Chart { kind: ChartKind::Bars, table: rules }));
    }
    body.push_str(&table_html(&status));
    // The reporting calendar: who is late against each deadline (details and the list to send on /calendar).
    if let Ok(deadlines) = khlang_query::calendar::Calendar::new(st.svc.q.warehouse().clone()).list().await
        && !deadlines.is_empty()
    {
        body.push_str("<p><a href=\"/calendar\">ปฏิทินการรายงานข้อมูล: โรงเรียนที่ส่งล่าช้าและรายชื่อสำหรับแจ้งโรงเรียน</a></p>");
        body.push_str(&crate::calendar::deadlines_table(&st, &caller.who, &deadlines, crate::calendar::today()).await);
    }
    body.push_str(&table_html(&runs));
    Html(crate::shell(&caller.who, "การนำเข้าข้อมูลและคุณภาพข้อมูล", &body)).into_response()
}

/// `/admin/usage`: who used the warehouse for what over the last 90 days (from the audit log).
pub async fn usage(State(st): State<AppState>, caller: Result<Caller, ApiError>) -> Response {
    let Some(caller) = crate::pages::signed_in(caller) else { return crate::sign_in_first("/admin/usage") };
    if caller.who.role != Role::Admin {
        return error_page(StatusCode::FORBIDDEN, "หน้านี้สำหรับผู้ดูแลระบบ");
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
        "การใช้งานรายผู้ใช้ 90 วันล่าสุด",
        &[("ผู้ใช้", Kind::Text), ("บทบาท", Kind::Text), ("คำสั่ง SQL", Kind::Count), ("ส่งออกข้อมูล", Kind::Count), ("เปิดรายงาน", Kind::Count), ("เข้าสู่ระบบ", Kind::Count)],
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
        "จำนวนครั้งการใช้งานรายวัน 90 วันล่าสุด",
        &[("วันที่", Kind::Text), ("ครั้ง", Kind::Count)],
        &format!("SELECT CAST(day AS VARCHAR) AS d, count(*) FROM audit_log WHERE {since} AND action IN ('query', 'export', 'report') GROUP BY d ORDER BY d"),
    )
    .await;
    let by_table = table(
        &ctx,
        "usage_by_table",
        "ตารางที่ถูกใช้มากที่สุด",
        &[("ตาราง / รายงาน", Kind::Text), ("ครั้ง", Kind::Count), ("แถวที่ส่งออก", Kind::Count)],
        &format!("SELECT table_name, sum(events), sum(rows) FROM usage_summary WHERE {since} GROUP BY table_name ORDER BY 2 DESC LIMIT 20"),
    )
    .await;
    let failed = table(
        &ctx,
        "failed_logins",
        "การเข้าสู่ระบบไม่สำเร็จ 90 วันล่าสุด",
        &[("ผู้ใช้", Kind::Text), ("จาก", Kind::Text), ("ครั้ง", Kind::Count)],
        &format!("SELECT user_name, client_addr, count(*) FROM audit_log WHERE {since} AND action = 'login_failed' GROUP BY user_name, client_addr ORDER BY 3 DESC LIMIT 50"),
    )
    .await;
    let mut day_chart = by_day.clone();
    day_chart.key = "usage_trend";
    day_chart.rows.iter_mut().for_each(|r| r[0] = crate::report::Cell::Text(thai::date_be(&r[0].text())));
    let mut body = String::from("<p><a href=\"/admin/usage-report\">รายงานผลการพัฒนาและการใช้งานระบบคลังข้อมูลประจำปีงบประมาณ (PDF, XLSX)</a></p>");
    if !day_chart.rows.is_empty() {
        body.push_str(&chart_html(&Chart { kind: ChartKind::Trend, table: day_chart }));
    }
    for t in [&by_user, &by_table, &failed] {
        body.push_str(&table_html(t));
    }
    Html(crate::shell(&caller.who, "สถิติการใช้งานคลังข้อมูล", &body)).into_response()
}

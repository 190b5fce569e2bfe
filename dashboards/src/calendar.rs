//! The reporting calendar against what schools sent: for each deadline, which schools submitted
//! (when, from the ingest run that first brought their rows), which are late and by how many days,
//! and which still have rejected rows open in the latest load of the period. `/calendar` on the web,
//! `khlang calendar status` on the command line; the late list as CSV or XLSX to send out.

use khlang_query::office::sql_literal;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use khlang_query::transport::api::{ApiError, Caller};
use khlang_query::calendar::{Calendar, Deadline, FEEDS};
use khlang_query::{Principal, QueryService, Role, Scope};

use crate::pages::error_page;
use crate::report::{ReportError, cells};
use crate::{AppState, thai};

/// One school against one deadline.
#[derive(Debug, Clone, PartialEq)]
pub struct SchoolStatus {
    pub area_code: String,
    pub school_code: String,
    pub school_name: String,
    /// When the ingest run that first brought the school's rows of the period finished.
    pub submitted_at: Option<DateTime<Utc>>,
    /// Days after the due date it came, or for a school that has sent nothing, days past due by
    /// `on`; 0 when on time or not yet due.
    pub days_late: i64,
    /// Rejected rows of the school in the latest load of the period.
    pub rejected_open: i64,
}

impl SchoolStatus {
    pub fn late(&self) -> bool {
        self.days_late > 0
    }

    pub fn status_th(&self) -> &'static str {
        match (self.submitted_at.is_some(), self.late()) {
            (true, false) => "ส่งทันกำหนด",
            (true, true) => "ส่งล่าช้า",
            (false, true) => "ยังไม่ส่ง (เลยกำหนด)",
            (false, false) => "ยังไม่ส่ง (ยังไม่ถึงกำหนด)",
        }
    }
}

pub use khlang_query::office::{date as thai_date, today};

fn q(e: impl std::fmt::Display) -> ReportError {
    ReportError::Query(e.to_string())
}

/// Every open school of `who`'s scope against deadline `d`, as the warehouse stands on day `on`.
pub async fn status(q_svc: &QueryService, who: &Principal, d: &Deadline, on: NaiveDate) -> Result<Vec<SchoolStatus>, ReportError> {
    let ctx = q_svc.session().await?;
    let (table, period) = d.rows().map_err(|e| ReportError::BadParameter(e.to_string()))?;
    let scope = match &who.scope {
        Scope::National => "true".to_string(),
        Scope::Area(a) => format!("area_code = {}", sql_literal(a)),
        Scope::School { school, .. } => format!("school_code = {}", sql_literal(school)),
        Scope::Public => return Err(ReportError::BadParameter("the public has no reporting calendar".into())),
    };
    let run = |sql: String| {
        let ctx = ctx.clone();
        async move { cells(&ctx.sql(&sql).await.map_err(|e| q(format!("{e} (in: {sql})")))?.collect().await.map_err(q)?) }
    };
    let mut out: Vec<SchoolStatus> = Vec::new();
    if !ctx.table_exist("schools").unwrap_or(false) {
        return Ok(out);
    }
    for r in run(format!("SELECT area_code, school_code, school_name FROM schools WHERE status = 'open' AND {scope} ORDER BY area_code, school_code")).await? {
        out.push(SchoolStatus { area_code: r[0].text(), school_code: r[1].text(), school_name: r[2].text(), submitted_at: None, days_late: 0, rejected_open: 0 });
    }
    let word = d.scope_word().map_err(|e| ReportError::BadParameter(e.to_string()))?;
    let runs = run(format!(
        "SELECT run_id, to_unixtime(finished_at), table_version FROM ingest_runs WHERE feed = {} AND status = 'ok' AND scope LIKE '%{word}%' \
         AND table_version IS NOT NULL ORDER BY finished_at",
        sql_literal(&d.feed)
    ))
    .await?;
    let mut last_run = None;
    for r in &runs {
        let Some(at) = r[1].as_i64().and_then(|secs| DateTime::from_timestamp(secs, 0)) else { continue };
        let version = r[2].as_i64().unwrap_or(0);
        let present: std::collections::HashSet<String> =
            run(format!("SELECT DISTINCT school_code FROM at_version('{table}', {version}) WHERE {period} AND {scope}")).await?.into_iter().map(|c| c[0].text()).collect();
        for s in out.iter_mut().filter(|s| s.submitted_at.is_none() && present.contains(&s.school_code)) {
            s.submitted_at = Some(at);
        }
        last_run = Some(r[0].text());
    }
    if let Some(run_id) = last_run {
        let snapshot = if d.feed == "students" { format!(" AND snapshot_date = DATE '{}'", d.period) } else { String::new() };
        for r in run(format!(
            // Only the schools listed (the caller's) are matched below; rejected rows have no area.
            "SELECT school_code, count(*) FROM rejected_rows WHERE run_id = {} AND feed = {}{snapshot} GROUP BY school_code",
            sql_literal(&run_id),
            sql_literal(&d.feed)
        ))
        .await?
        {
            if let Some(s) = out.iter_mut().find(|s| s.school_code == r[0].text()) {
                s.rejected_open = r[1].as_i64().unwrap_or(0);
            }
        }
    }
    for s in out.iter_mut() {
        let day = s.submitted_at.map_or(on, thai_date);
        s.days_late = (day - d.due).num_days().max(0);
    }
    Ok(out)
}

fn werr(format: &'static str, e: impl std::fmt::Display) -> ReportError {
    ReportError::Render { format, message: e.to_string() }
}

const HEADERS: [&str; 8] = ["รหัสเขตพื้นที่", "รหัสโรงเรียน", "ชื่อโรงเรียน", "สถานะ", "วันที่ส่ง", "ล่าช้า (วัน)", "แถวที่ถูกปฏิเสธค้างอยู่", "กำหนดส่ง"];

fn submitted_text(s: &SchoolStatus) -> String {
    s.submitted_at.map(|t| thai_date(t).to_string()).unwrap_or_default()
}

/// The late schools as CSV (UTF-8 with a BOM, so Excel reads the Thai).
pub fn late_csv(d: &Deadline, rows: &[SchoolStatus]) -> Result<Vec<u8>, ReportError> {
    let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    w.write_record(["area_code", "school_code", "school_name", "status", "submitted_on", "days_late", "rejected_rows_open", "due", "deadline"]).map_err(|e| werr("csv", e))?;
    for s in rows.iter().filter(|s| s.late()) {
        w.write_record([&s.area_code, &s.school_code, &s.school_name, s.status_th(), &submitted_text(s), &s.days_late.to_string(), &s.rejected_open.to_string(), &d.due.to_string(), &d.name])
            .map_err(|e| werr("csv", e))?;
    }
    w.into_inner().map_err(|e| werr("csv", e))
}

/// The late schools as an XLSX workbook, numbers stored as numbers.
pub fn late_xlsx(d: &Deadline, rows: &[SchoolStatus]) -> Result<Vec<u8>, ReportError> {
    use rust_xlsxwriter::{Format, Workbook};
    let x = |e: rust_xlsxwriter::XlsxError| werr("xlsx", e);
    let mut book = Workbook::new();
    let font = Format::new().set_font_name("Tahoma");
    let head = Format::new().set_font_name("Tahoma").set_bold();
    let sheet = book.add_worksheet().set_name("โรงเรียนที่ส่งล่าช้า").map_err(x)?;
    sheet.write_with_format(0, 0, format!("{} · กำหนดส่ง {}", d.name, thai::date_be_long(&d.due.to_string())), &head).map_err(x)?;
    for (c, h) in HEADERS.iter().enumerate() {
        sheet.write_with_format(2, c as u16, *h, &head).map_err(x)?;
    }
    for (i, s) in rows.iter().filter(|s| s.late()).enumerate() {
        let r = i as u32 + 3;
        sheet.write_with_format(r, 0, &s.area_code, &font).map_err(x)?;
        sheet.write_with_format(r, 1, &s.school_code, &font).map_err(x)?;
        sheet.write_with_format(r, 2, &s.school_name, &font).map_err(x)?;
        sheet.write_with_format(r, 3, s.status_th(), &font).map_err(x)?;
        sheet.write_with_format(r, 4, submitted_text(s), &font).map_err(x)?;
        sheet.write_number(r, 5, s.days_late as f64).map_err(x)?;
        sheet.write_number(r, 6, s.rejected_open as f64).map_err(x)?;
        sheet.write_with_format(r, 7, d.due.to_string(), &font).map_err(x)?;
    }
    book.save_to_buffer().map_err(x)
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct Params {
    deadline: Option<u32>,
    /// The day to judge "late" on (YYYY-MM-DD); today when absent.
    on: Option<String>,
    format: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
pub struct Form {
    action: String,
    id: Option<u32>,
    feed: Option<String>,
    period: Option<String>,
    due: Option<String>,
    name: Option<String>,
}

const TITLE: &str = "ปฏิทินการรายงานข้อมูล";

pub fn feed_th(feed: &str) -> &'static str {
    match feed {
        "students" => "ข้อมูลนักเรียน",
        "personnel" => "ข้อมูลบุคลากร",
        "budget" => "ข้อมูลงบประมาณ",
        "tests" => "ผลการทดสอบ",
        "buildings" => "ข้อมูลอาคารเรียน",
        "schools" => "ข้อมูลโรงเรียน",
        "areas" => "ข้อมูลเขตพื้นที่",
        _ => "ข้อมูล",
    }
}

/// Each deadline with how many of `who`'s schools sent on time, are late, and have rejected rows open.
pub async fn deadlines_table(st: &AppState, who: &Principal, deadlines: &[Deadline], on: NaiveDate) -> String {
    let mut body = String::new();
    body.push_str("<table data-table=\"deadlines\"><caption>กำหนดส่งข้อมูล</caption><thead><tr><th>ที่</th><th>รายการ</th><th>ข้อมูล</th><th>รอบ</th><th>กำหนดส่ง</th><th>ส่งทันกำหนด</th><th>ล่าช้า/ยังไม่ส่ง</th><th>มีแถวถูกปฏิเสธค้าง</th></tr></thead><tbody>");
    for d in deadlines {
        let rows = status(&st.svc.q, who, d, on).await.unwrap_or_default();
        body.push_str(&format!(
            "<tr data-deadline=\"{}\"><td>{}</td><td><a href=\"/calendar?deadline={}&on={on}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            d.id,
            d.id,
            d.id,
            thai::escape(&d.name),
            feed_th(&d.feed),
            thai::escape(&d.period),
            thai::date_be_long(&d.due.to_string()),
            rows.iter().filter(|s| s.submitted_at.is_some() && !s.late()).count(),
            rows.iter().filter(|s| s.late()).count(),
            rows.iter().filter(|s| s.rejected_open > 0).count()
        ));
    }
    body.push_str("</tbody></table>");
    if deadlines.is_empty() {
        body.push_str("<p>ยังไม่ได้กำหนดวันส่งข้อมูล</p>");
    }
    body
}

/// `GET /calendar`: the deadlines with counts for the caller's scope; `?deadline=N` lists the schools,
/// `&format=csv|xlsx` downloads the late ones.
pub async fn page(State(st): State<AppState>, caller: Result<Caller, ApiError>, Query(p): Query<Params>) -> Response {
    let Some(caller) = crate::pages::signed_in(caller) else { return crate::sign_in_first("/calendar") };
    render(&st, &caller.who, p, None).await
}

async fn render(st: &AppState, who: &Principal, p: Params, message: Option<(bool, String)>) -> Response {
    let on = match p.on.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) => d,
            Err(_) => return error_page(StatusCode::BAD_REQUEST, &format!("on '{s}' is not a date like 2026-06-10")),
        },
        None => today(),
    };
    let cal = Calendar::new(st.svc.q.warehouse().clone());
    let deadlines = match cal.list().await {
        Ok(d) => d,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let chosen = match p.deadline {
        Some(id) => match deadlines.iter().find(|d| d.id == id) {
            Some(d) => Some(d.clone()),
            None => return error_page(StatusCode::NOT_FOUND, &format!("ไม่มีกำหนดส่งหมายเลข {id}")),
        },
        None => None,
    };
    if let (Some(d), Some(fmt)) = (&chosen, p.format.as_deref().filter(|f| *f != "html")) {
        let rows = match status(&st.svc.q, who, d, on).await {
            Ok(r) => r,
            Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        };
        st.svc.audit.record(khlang_query::audit::Event::new(who, khlang_query::audit::Action::Export, format!("calendar late {} {}", d.id, d.name), "web"));
        let (bytes, mime) = match fmt {
            "csv" => (late_csv(d, &rows), "text/csv; charset=utf-8"),
            "xlsx" => (late_xlsx(d, &rows), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            other => return error_page(StatusCode::BAD_REQUEST, &format!("format '{other}' is not html, csv or xlsx")),
        };
        return match bytes {
            Ok(b) => (StatusCode::OK, [(header::CONTENT_TYPE, mime.to_string()), (header::CONTENT_DISPOSITION, format!("attachment; filename=\"late_{}.{fmt}\"", d.id))], b).into_response(),
            Err(e) => error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        };
    }
    let mut body = format!("<p class=\"meta\">สถานะ ณ วันที่ {} · วันที่ส่งคือวันที่การนำเข้าข้อมูลรอบแรกที่มีข้อมูลของโรงเรียนเสร็จ (เวลาประเทศไทย)</p>", thai::date_be_long(&on.to_string()));
    if let Some((ok, m)) = &message {
        body.push_str(&format!("<p class=\"{}\" role=\"status\">{}</p>", if *ok { "notice" } else { "error" }, thai::escape(m)));
    }
    body.push_str(&deadlines_table(st, who, &deadlines, on).await);
    if let Some(d) = &chosen {
        let rows = match status(&st.svc.q, who, d, on).await {
            Ok(r) => r,
            Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        };
        body.push_str(&format!(
            "<h2>{} · กำหนดส่ง {}</h2><p class=\"downloads\">รายชื่อโรงเรียนที่ส่งล่าช้า: <a href=\"/calendar?deadline={}&on={on}&format=csv\">CSV</a> · <a href=\"/calendar?deadline={}&on={on}&format=xlsx\">XLSX</a></p>",
            thai::escape(&d.name),
            thai::date_be_long(&d.due.to_string()),
            d.id,
            d.id
        ));
        body.push_str(&format!("<table data-table=\"calendar_schools\"><caption>การส่งข้อมูลของโรงเรียน</caption><thead><tr>{}</tr></thead><tbody>", HEADERS[..7].iter().map(|h| format!("<th>{h}</th>")).collect::<String>()));
        for s in &rows {
            body.push_str(&format!(
                "<tr data-school=\"{}\" data-days-late=\"{}\"><td>{}</td><td><a href=\"/school/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                s.school_code,
                s.days_late,
                s.area_code,
                s.school_code,
                s.school_code,
                thai::escape(&s.school_name),
                s.status_th(),
                s.submitted_at.map(|t| thai::date_be(&thai_date(t).to_string())).unwrap_or_default(),
                s.days_late,
                s.rejected_open
            ));
        }
        body.push_str("</tbody></table>");
    }
    if matches!(who.role, Role::Admin | Role::Analyst) {
        let feeds: String = FEEDS.iter().map(|f| format!("<option value=\"{f}\">{}</option>", feed_th(f))).collect();
        body.push_str(&format!(
            "<form class=\"calendar\" method=\"post\" action=\"/calendar\"><input type=\"hidden\" name=\"action\" value=\"add\"><label>ข้อมูล <select name=\"feed\">{feeds}</select></label> \
             <label>รอบ (วันที่ข้อมูล เช่น 2026-06-10 หรือ ปีงบประมาณ-ไตรมาส เช่น 2569-Q2) <input name=\"period\" required></label> <label>กำหนดส่ง <input name=\"due\" type=\"date\" required></label> \
             <label>ชื่อรายการ <input name=\"name\"></label> <button type=\"submit\">เพิ่มกำหนดส่ง</button></form>"
        ));
    }
    Html(crate::shell(who, TITLE, &body)).into_response()
}

/// `POST /calendar`: staff add or remove a deadline.
pub async fn edit(State(st): State<AppState>, caller: Result<Caller, ApiError>, axum::Form(f): axum::Form<Form>) -> Response {
    let Some(caller) = crate::pages::signed_in(caller) else { return crate::sign_in_first("/calendar") };
    let who = &caller.who;
    if !matches!(who.role, Role::Admin | Role::Analyst) {
        return error_page(StatusCode::FORBIDDEN, "เฉพาะเจ้าหน้าที่ของสำนักงานเขต (ผู้ดูแลระบบหรือนักวิเคราะห์) ที่แก้ไขปฏิทินการรายงานข้อมูลได้");
    }
    let cal = Calendar::new(st.svc.q.warehouse().clone());
    let result = match f.action.as_str() {
        "add" => {
            let due = f.due.as_deref().unwrap_or_default();
            match NaiveDate::parse_from_str(due, "%Y-%m-%d") {
                Ok(due) => cal.add(who, f.feed.as_deref().unwrap_or_default(), f.period.as_deref().unwrap_or_default().trim(), due, f.name.as_deref()).await.map(|d| format!("เพิ่มกำหนดส่งหมายเลข {} แล้ว", d.id)),
                Err(_) => Err(khlang_query::QueryError::User(format!("due '{due}' is not a date like 2026-06-10"))),
            }
        }
        "remove" => match f.id {
            Some(id) => cal.remove(who, id).await.map(|found| if found { format!("ลบกำหนดส่งหมายเลข {id} แล้ว") } else { format!("ไม่มีกำหนดส่งหมายเลข {id}") }),
            None => Err(khlang_query::QueryError::User("remove needs the deadline's id".into())),
        },
        other => Err(khlang_query::QueryError::User(format!("action '{other}' is not add or remove"))),
    };
    let ok = result.is_ok();
    let message = match result {
        Ok(m) => (true, m),
        Err(e) => (false, e.to_string()),
    };
    let mut r = render(&st, who, Params::default(), Some(message)).await;
    if !ok && r.status() == StatusCode::OK {
        *r.status_mut() = StatusCode::BAD_REQUEST;
    }
    r
}

//! The reporting calendar against what schools sent: for each deadline, which schools submitted
//! (when, from the ingest run that first brought their rows), which are late and by how many days,
//! and which still have rejected rows open in the latest load of the period. `/calendar` on the web,
//! `khlang calendar status` on the command line; the late list as CSV or XLSX to send out.

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use khlang_query::calendar::{Calendar, Deadline, FEEDS};
use khlang_query::office::sql_literal;
use khlang_query::transport::api::{ApiError, Caller};
use khlang_query::{Principal, QueryService, Role, Scope};
use maud::{Markup, html};

use crate::doc::{Doc, Part};
use crate::msg::{self, calendar as m};
use crate::pages::error_page;
use crate::report::ReportError;
use crate::table::{Cell, Cells as _, Kind, Table};
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
            (true, false) => msg::C_ON_TIME,
            (true, true) => msg::C_SENT_LATE,
            (false, true) => msg::C_MISSING,
            (false, false) => m::NOT_YET_DUE,
        }
    }
}

pub use khlang_query::office::{date as thai_date, today};

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
        async move { crate::table::rows(&ctx, &sql).await }
    };
    let mut out: Vec<SchoolStatus> = Vec::new();
    if !ctx.table_exist("schools").unwrap_or(false) {
        return Ok(out);
    }
    for r in run(format!("SELECT area_code, school_code, school_name FROM schools WHERE status = 'open' AND {scope} ORDER BY area_code, school_code")).await? {
        out.push(SchoolStatus { area_code: r.at(0).text(), school_code: r.at(1).text(), school_name: r.at(2).text(), submitted_at: None, days_late: 0, rejected_open: 0 });
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
        let Some(at) = r.at(1).as_i64().and_then(|secs| DateTime::from_timestamp(secs, 0)) else { continue };
        let version = r.at(2).as_i64().unwrap_or(0);
        let present: std::collections::HashSet<String> =
            run(format!("SELECT DISTINCT school_code FROM at_version('{table}', {version}) WHERE {period} AND {scope}")).await?.into_iter().map(|c| c.at(0).text()).collect();
        for s in out.iter_mut().filter(|s| s.submitted_at.is_none() && present.contains(&s.school_code)) {
            s.submitted_at = Some(at);
        }
        last_run = Some(r.at(0).text());
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
            if let Some(s) = out.iter_mut().find(|s| s.school_code == r.at(0).text()) {
                s.rejected_open = r.at(1).as_i64().unwrap_or(0);
            }
        }
    }
    for s in out.iter_mut() {
        let day = s.submitted_at.map_or(on, thai_date);
        s.days_late = (day - d.due).num_days().max(0);
    }
    Ok(out)
}

/// The columns of a school's line: on the page (the first seven) and in the late list's workbook.
const HEADERS: [&str; 8] = [msg::AREA_CODE, msg::C_SCHOOL_CODE, msg::C_SCHOOL_NAME, msg::C_STATUS, m::C_SUBMITTED_ON, msg::C_DAYS_LATE, m::C_REJECTED_OPEN, msg::C_DEADLINE];

/// The late schools' lines, as `HEADERS` (the day sent NULL when nothing came).
fn late_rows(d: &Deadline, rows: &[SchoolStatus]) -> Vec<Vec<Cell>> {
    rows.iter()
        .filter(|s| s.late())
        .map(|s| {
            vec![
                Cell::Text(s.area_code.clone()),
                Cell::Text(s.school_code.clone()),
                Cell::Text(s.school_name.clone()),
                Cell::Text(s.status_th().to_string()),
                s.submitted_at.map_or(Cell::Null, |t| Cell::Text(thai_date(t).to_string())),
                Cell::Int(s.days_late),
                Cell::Int(s.rejected_open),
                Cell::Text(d.due.to_string()),
            ]
        })
        .collect()
}

/// The late schools as CSV (UTF-8 with a BOM, so Excel reads the Thai).
pub fn late_csv(d: &Deadline, rows: &[SchoolStatus]) -> Result<Vec<u8>, ReportError> {
    let names = ["area_code", "school_code", "school_name", "status", "submitted_on", "days_late", "rejected_rows_open", "due", "deadline"];
    let mut t = Table::new("calendar_late", m::LATE_SHEET, &names.map(|n| (n, Kind::Plain)));
    t.rows = late_rows(d, rows)
        .into_iter()
        .map(|mut r| {
            r.push(Cell::Text(d.name.clone()));
            r
        })
        .collect();
    crate::table::csv(&t)
}

/// The late schools as an XLSX workbook, numbers stored as numbers.
pub fn late_xlsx(d: &Deadline, rows: &[SchoolStatus]) -> Result<Vec<u8>, ReportError> {
    let kinds = [Kind::Text, Kind::Text, Kind::Text, Kind::Text, Kind::Text, Kind::Count, Kind::Count, Kind::Text];
    let columns: Vec<(&str, Kind)> = HEADERS.into_iter().zip(kinds).collect();
    let mut t = Table::new("calendar_late", m::LATE_SHEET, &columns);
    t.rows = late_rows(d, rows);
    // As the list was before: no lines, footer or figures, so the title, a blank row, the headers,
    // then the schools from the fourth row.
    let doc = Doc {
        heading: m::TITLE.into(),
        name: d.name.clone(),
        lines: vec![],
        parts: vec![Part { tables: vec![t], ..Part::new(format!("{} {}", msg::C_DEADLINE, thai::date_be_long(&d.due.to_string())), m::LATE_SHEET) }],
        footer: String::new(),
        generated: String::new(),
        keywords: vec![],
        summary: false,
    };
    crate::xlsx::render(&doc)
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

/// A feed of the calendar in Thai.
pub fn feed_th(feed: &str) -> &'static str {
    m::feed(feed)
}

/// Each deadline with how many of `who`'s schools sent on time, are late, and have rejected rows open.
pub async fn deadlines_table(st: &AppState, who: &Principal, deadlines: &[Deadline], today: NaiveDate) -> Markup {
    let mut counts = Vec::with_capacity(deadlines.len());
    for d in deadlines {
        let rows = status(&st.svc.q, who, d, today).await.unwrap_or_default();
        let n = |f: &dyn Fn(&SchoolStatus) -> bool| rows.iter().filter(|s| f(s)).count();
        counts.push((d, n(&|s| s.submitted_at.is_some() && !s.late()), n(&|s| s.late()), n(&|s| s.rejected_open > 0)));
    }
    html! {
        table data-table="deadlines" {
            caption { (m::T_DEADLINES) }
            thead {
                tr {
                    th { (m::C_NO) } th { (m::C_ITEM) } th { (m::C_FEED) } th { (msg::C_RUN) } th { (msg::C_DEADLINE) }
                    th { (msg::C_ON_TIME) } th { (m::C_LATE_OR_MISSING) } th { (m::C_WITH_REJECTED) }
                }
            }
            tbody {
                @for (d, on_time, late, rejected) in &counts {
                    tr data-deadline=(d.id) {
                        td { (d.id) }
                        td { a href={ "/calendar?deadline=" (d.id) "&on=" (today) } { (d.name) } }
                        td { (feed_th(&d.feed)) }
                        td { (d.period) }
                        td { (thai::date_be_long(&d.due.to_string())) }
                        td.num { (on_time) }
                        td.num { (late) }
                        td.num { (rejected) }
                    }
                }
            }
        }
        @if deadlines.is_empty() { p { (m::NO_DEADLINES) } }
    }
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
            None => return error_page(StatusCode::NOT_FOUND, &m::no_such_deadline(id)),
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
    let schools = match &chosen {
        Some(d) => match status(&st.svc.q, who, d, on).await {
            Ok(r) => Some((d, r)),
            Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        None => None,
    };
    let table = deadlines_table(st, who, &deadlines, on).await;
    let body = html! {
        p.meta { (m::STATUS_ON) " " (thai::date_be_long(&on.to_string())) " · " (m::SUBMITTED_MEANS) }
        @if let Some((ok, text)) = &message {
            p class=(if *ok { "notice" } else { "error" }) role="status" { (text) }
        }
        (table)
        @if let Some((d, rows)) = &schools {
            h2 { (d.name) " · " (msg::C_DEADLINE) " " (thai::date_be_long(&d.due.to_string())) }
            p.downloads {
                (m::LATE_LIST) " "
                a href={ "/calendar?deadline=" (d.id) "&on=" (on) "&format=csv" } { "CSV" }
                " · "
                a href={ "/calendar?deadline=" (d.id) "&on=" (on) "&format=xlsx" } { "XLSX" }
            }
            table data-table="calendar_schools" {
                caption { (m::T_SCHOOLS) }
                thead { tr { @for h in HEADERS.iter().take(7) { th { (h) } } } }
                tbody {
                    @for s in rows {
                        tr data-school=(s.school_code) data-days-late=(s.days_late) {
                            td { (s.area_code) }
                            td { a href={ "/school/" (s.school_code) } { (s.school_code) } }
                            td { (s.school_name) }
                            td { (s.status_th()) }
                            td { @if let Some(t) = s.submitted_at { (thai::date_be(&thai_date(t).to_string())) } }
                            td.num { (s.days_late) }
                            td.num { (s.rejected_open) }
                        }
                    }
                }
            }
        }
        @if matches!(who.role, Role::Admin | Role::Analyst) {
            form.calendar method="post" action="/calendar" {
                input type="hidden" name="action" value="add";
                label { (m::C_FEED) " " select name="feed" { @for f in FEEDS { option value=(f) { (feed_th(f)) } } } }
                " "
                label { (m::PERIOD_HINT) " " input name="period" required; }
                " "
                label { (msg::C_DEADLINE) " " input name="due" type="date" required; }
                " "
                label { (m::NAME) " " input name="name"; }
                " "
                button type="submit" { (m::ADD) }
            }
        }
    };
    Html(crate::html::shell(who, m::TITLE, body).into_string()).into_response()
}

/// `POST /calendar`: staff add or remove a deadline.
pub async fn edit(State(st): State<AppState>, caller: Result<Caller, ApiError>, axum::Form(f): axum::Form<Form>) -> Response {
    let Some(caller) = crate::pages::signed_in(caller) else { return crate::sign_in_first("/calendar") };
    let who = &caller.who;
    if !matches!(who.role, Role::Admin | Role::Analyst) {
        return error_page(StatusCode::FORBIDDEN, m::FORBIDDEN);
    }
    let cal = Calendar::new(st.svc.q.warehouse().clone());
    let result = match f.action.as_str() {
        "add" => {
            let due = f.due.as_deref().unwrap_or_default();
            match NaiveDate::parse_from_str(due, "%Y-%m-%d") {
                Ok(due) => cal.add(who, f.feed.as_deref().unwrap_or_default(), f.period.as_deref().unwrap_or_default().trim(), due, f.name.as_deref()).await.map(|d| m::added(d.id)),
                Err(_) => Err(khlang_query::QueryError::User(format!("due '{due}' is not a date like 2026-06-10"))),
            }
        }
        "remove" => match f.id {
            Some(id) => cal.remove(who, id).await.map(|found| if found { m::removed(id) } else { m::no_such_deadline(id) }),
            None => Err(khlang_query::QueryError::User("remove needs the deadline's id".into())),
        },
        other => Err(khlang_query::QueryError::User(format!("action '{other}' is not add or remove"))),
    };
    let ok = result.is_ok();
    let message = match result {
        Ok(text) => (true, text),
        Err(e) => (false, e.to_string()),
    };
    let mut r = render(&st, who, Params::default(), Some(message)).await;
    if !ok && r.status() == StatusCode::OK {
        *r.status_mut() = StatusCode::BAD_REQUEST;
    }
    r
}

//! The open-data page (Official Information Act): published aggregates of one area or the nation for
//! anyone, with CSV and JSON downloads. Everything is read through the public role, whose views
//! withhold every count under 5.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use khlang_query::api::{ApiError, Caller};
use khlang_query::{Principal, SessionContext, session::PUBLIC_VIEWS};

use crate::pages::{error_page, table_html};
use crate::report::{Cell, Kind, Table, rows_or_none};
use crate::{AppState, msg, thai};

#[derive(Debug, Default, serde::Deserialize)]
pub struct Area {
    area: Option<String>,
}

/// The area asked for, or the reason it is not an area code.
fn area_code(a: &Area) -> Result<Option<String>, String> {
    match a.area.as_deref().filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(c) if c.len() == 8 && c.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(c.to_string())),
        Some(c) => Err(format!("area code '{c}' is not 8 digits")),
    }
}

async fn public_session(st: &AppState) -> Result<SessionContext, Response> {
    let commit = st.reports.commit(&st.svc).await.map_err(|e| error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))?;
    st.svc.q.session_for_commit(&Principal::public(), commit.as_deref()).await.map_err(|e| error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))
}

fn table(key: &'static str, title: &str, columns: &[(&str, Kind)], rows: Vec<Vec<Cell>>) -> Table {
    Table { rows, ..Table::new(key, title, columns) }
}

/// `/public?area=`: the published figures of one area (or every area) at the latest snapshot.
pub async fn page(State(st): State<AppState>, caller: Result<Caller, ApiError>, Query(a): Query<Area>) -> Response {
    let area = match area_code(&a) {
        Ok(a) => a,
        Err(m) => return error_page(StatusCode::BAD_REQUEST, &m),
    };
    let dir = match st.reports.directory(&st.svc).await {
        Ok(d) => d,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    if let Some(a) = &area
        && !dir.areas.contains_key(a)
    {
        return error_page(StatusCode::NOT_FOUND, &format!("{} {a}", msg::NO_SUCH_AREA));
    }
    let ctx = match public_session(&st).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let filter = area.as_ref().map(|a| format!(" AND area_code = '{a}'")).unwrap_or_default();
    let latest = |view: &str, col: &str| format!("{col} = (SELECT max({col}) FROM {view})");
    let mut enrol = table(
        "public_enrollment",
        "นักเรียนจำแนกตามระดับชั้นและเพศ (รอบข้อมูลล่าสุด)",
        &[("รหัสเขตพื้นที่", Kind::Text), (msg::C_LEVEL, Kind::Text), (msg::C_MALE, Kind::Count), (msg::C_FEMALE, Kind::Count)],
        rows_or_none(
            &ctx,
            &format!(
                "SELECT area_code, level, max(CASE WHEN sex = 1 THEN students END), max(CASE WHEN sex = 2 THEN students END) FROM public_enrollment \
                 WHERE {}{filter} GROUP BY area_code, level ORDER BY area_code, CASE level WHEN 'pre_primary' THEN 1 WHEN 'primary' THEN 2 WHEN 'lower_secondary' THEN 3 ELSE 4 END",
                latest("public_enrollment", "snapshot_date")
            ),
        )
        .await,
    );
    enrol.rows.iter_mut().for_each(|r| r[1] = Cell::Text(msg::level(&r[1].text()).into()));
    let mut schools = table(
        "public_schools",
        "โรงเรียนจำแนกตามขนาด (รอบข้อมูลล่าสุด)",
        &[("รหัสเขตพื้นที่", Kind::Text), (msg::C_SIZE, Kind::Text), (msg::C_SCHOOLS, Kind::Count), (msg::C_STUDENTS, Kind::Count), (msg::C_TEACHERS, Kind::Count)],
        rows_or_none(&ctx, &format!("SELECT area_code, size_band, schools, students, teachers FROM public_schools WHERE {}{filter} ORDER BY area_code, size_band", latest("public_schools", "snapshot_date"))).await,
    );
    schools.rows.iter_mut().for_each(|r| r[1] = Cell::Text(msg::band(&r[1].text()).into()));
    let mut staff = table(
        "public_personnel",
        "บุคลากรจำแนกตามตำแหน่งและเพศ",
        &[("รหัสเขตพื้นที่", Kind::Text), (msg::C_POSITION, Kind::Text), (msg::C_MALE, Kind::Count), (msg::C_FEMALE, Kind::Count)],
        rows_or_none(
            &ctx,
            &format!(
                "SELECT area_code, position, max(CASE WHEN sex = 1 THEN people END), max(CASE WHEN sex = 2 THEN people END) FROM public_personnel \
                 WHERE {}{filter} GROUP BY area_code, position ORDER BY area_code, position",
                latest("public_personnel", "as_of_date")
            ),
        )
        .await,
    );
    staff.rows.iter_mut().for_each(|r| r[1] = Cell::Text(msg::position(&r[1].text()).into()));
    let mut tests = table(
        "public_test_results",
        "ผลการทดสอบระดับชาติ (ปีการศึกษาล่าสุด)",
        &[("รหัสเขตพื้นที่", Kind::Text), (msg::C_TEST, Kind::Text), (msg::C_SUBJECT, Kind::Text), (msg::C_EXAMINEES, Kind::Count), (msg::C_MEAN, Kind::Ratio)],
        rows_or_none(&ctx, &format!("SELECT area_code, test, subject, examinees, mean_score FROM public_test_results WHERE {}{filter} ORDER BY area_code, test, subject", latest("public_test_results", "academic_year"))).await,
    );
    tests.rows.iter_mut().for_each(|r| {
        r[1] = Cell::Text(msg::test_name(&r[1].text()).into());
        r[2] = Cell::Text(msg::subject(&r[2].text()).into());
    });

    let mut areas: Vec<(&String, &String)> = dir.areas.iter().collect();
    areas.sort();
    let mut body = String::from("<p>สถิติการศึกษาที่เผยแพร่ตาม พ.ร.บ.ข้อมูลข่าวสารของราชการ พ.ศ. 2540 จำนวนที่น้อยกว่า 5 ไม่เผยแพร่ (แสดงเป็น –) เพื่อคุ้มครองข้อมูลส่วนบุคคล</p>");
    body.push_str("<form class=\"chooser\" method=\"get\" action=\"/public\"><label>เขตพื้นที่ <select name=\"area\" onchange=\"this.form.submit()\"><option value=\"\">ทุกเขตพื้นที่</option>");
    for (code, name) in &areas {
        body.push_str(&format!("<option value=\"{code}\"{}>{}</option>", if area.as_deref() == Some(code.as_str()) { " selected" } else { "" }, thai::escape(name)));
    }
    body.push_str("</select></label> <noscript><button type=\"submit\">แสดง</button></noscript></form>");
    let q = area.as_ref().map(|a| format!("?area={a}")).unwrap_or_default();
    body.push_str("<p class=\"downloads\">ดาวน์โหลดทุกรอบข้อมูล: ");
    let links: Vec<String> = PUBLIC_VIEWS.iter().map(|v| format!("{v} <a href=\"/public/data/{v}.csv{q}\">CSV</a> <a href=\"/public/data/{v}.json{q}\">JSON</a>")).collect();
    body.push_str(&links.join(" · "));
    body.push_str("</p>");
    for t in [&enrol, &schools, &staff, &tests] {
        body.push_str(&table_html(t));
    }
    let who = caller.map(|c| c.who).unwrap_or_else(|_| Principal::public());
    Html(crate::shell(&who, "ข้อมูลสถิติการศึกษาเผยแพร่", &body)).into_response()
}

/// `/public/data/{view}.{csv|json}?area=`: a published view, whole or for one area.
pub async fn download(State(st): State<AppState>, Path(file): Path<String>, Query(a): Query<Area>) -> Response {
    let Some((view, ext)) = file.rsplit_once('.') else { return error_page(StatusCode::BAD_REQUEST, &format!("'{file}' has no format: add .csv or .json")) };
    if !PUBLIC_VIEWS.contains(&view) {
        return error_page(StatusCode::NOT_FOUND, &format!("ไม่มีชุดข้อมูลเผยแพร่ชื่อ {view}: มี {}", PUBLIC_VIEWS.join(", ")));
    }
    let format = match ext {
        "csv" => khlang_query::Format::Csv,
        "json" => khlang_query::Format::Json,
        other => return error_page(StatusCode::BAD_REQUEST, &format!("format '{other}' is not csv or json")),
    };
    let area = match area_code(&a) {
        Ok(a) => a,
        Err(m) => return error_page(StatusCode::BAD_REQUEST, &m),
    };
    let ctx = match public_session(&st).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let filter = area.as_ref().map(|a| format!(" WHERE area_code = '{a}'")).unwrap_or_default();
    let batches = match ctx.sql(&format!("SELECT * FROM {view}{filter} ORDER BY 1, 2, 3")).await {
        Ok(df) => df.collect().await,
        Err(e) => Err(e),
    };
    let text = match batches.map_err(|e| e.to_string()).and_then(|b| khlang_query::format(&b, format).map_err(|e| e.to_string())) {
        Ok(t) => t,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    let mime = if ext == "csv" { "text/csv; charset=utf-8" } else { "application/json" };
    let body = if ext == "csv" { format!("\u{feff}{text}") } else { text };
    (StatusCode::OK, [(header::CONTENT_TYPE, mime.to_string()), (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\""))], body).into_response()
}

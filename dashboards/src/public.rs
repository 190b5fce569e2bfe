//! The open-data page (Official Information Act): published aggregates of one area or the nation for
//! anyone, with CSV and JSON downloads. Everything is read through the public role, whose views
//! withhold every count under 5.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use khlang_query::transport::api::{ApiError, Caller};
use khlang_query::{Principal, SessionContext, session::PUBLIC_VIEWS};

use crate::pages::{error_page, table_html};
use crate::report::{Cell, Kind, Table, rows_or_none};
use khlang_query::approvals::{self, Approval};
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

/// Which approval each of `areas` is published at, and the areas nothing has been approved for.
async fn published(st: &AppState, areas: Vec<String>) -> Result<(Vec<(Approval, Vec<String>)>, Vec<String>), Response> {
    let history = st.svc.approvals().history().await.map_err(|e| error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))?;
    Ok(approvals::groups(&history, areas))
}

/// The public's session: every area's views as its director approved them.
async fn public_session(st: &AppState) -> Result<SessionContext, Response> {
    st.svc.q.approved_public_session().await.map_err(|e| error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))
}

/// The line every public page carries: which version is shown and who approved it when.
pub fn approval_line(e: &Approval) -> String {
    let mut s = format!("{} {} · {} {}", msg::DATA_VERSION, e.state, msg::SNAPSHOT, thai::date_be_long(&e.snapshot.to_string()));
    if let Some(fy) = e.fiscal_year {
        s.push_str(&format!(" · {} {fy}", msg::FISCAL_YEAR));
    }
    s.push_str(&format!(" · อนุมัติให้เผยแพร่โดย {} ({}) เมื่อ {} น.", thai::escape(&e.by), thai::role(e.role), thai::datetime_be(e.at)));
    s
}

fn table(key: &'static str, title: &str, columns: &[(&str, Kind)], rows: Vec<Vec<Cell>>) -> Table {
    Table { rows, ..Table::new(key, title, columns) }
}

/// The public tables of `areas`, each area at its latest snapshot, personnel date and academic year
/// in `ctx` (for the public, the ones approved).
pub(crate) async fn group_tables(ctx: &SessionContext, areas: &[String]) -> [Vec<Vec<Cell>>; 4] {
    let only = approvals::area_in(areas);
    // Each area's own latest: areas approved at different times have different ones.
    let latest = |view: &str, col: &str| format!("{view} v JOIN (SELECT area_code AS a, max({col}) AS m FROM {view} WHERE {only} GROUP BY area_code) l ON v.area_code = l.a AND v.{col} = l.m");
    [
        rows_or_none(
            ctx,
            &format!(
                "SELECT area_code, level, max(CASE WHEN sex = 1 THEN students END), max(CASE WHEN sex = 2 THEN students END) FROM {} \
                 GROUP BY area_code, level ORDER BY area_code, CASE level WHEN 'pre_primary' THEN 1 WHEN 'primary' THEN 2 WHEN 'lower_secondary' THEN 3 ELSE 4 END",
                latest("public_enrollment", "snapshot_date")
            ),
        )
        .await,
        rows_or_none(ctx, &format!("SELECT area_code, size_band, schools, students, teachers FROM {} ORDER BY area_code, size_band", latest("public_schools", "snapshot_date"))).await,
        rows_or_none(
            ctx,
            &format!(
                "SELECT area_code, position, max(CASE WHEN sex = 1 THEN people END), max(CASE WHEN sex = 2 THEN people END) FROM {} \
                 GROUP BY area_code, position ORDER BY area_code, position",
                latest("public_personnel", "as_of_date")
            ),
        )
        .await,
        rows_or_none(ctx, &format!("SELECT area_code, test, subject, examinees, mean_score FROM {} ORDER BY area_code, test, subject", latest("public_test_results", "academic_year"))).await,
    ]
}

/// The four public tables, with codes shown in Thai.
pub(crate) fn tables_of(found: [Vec<Vec<Cell>>; 4]) -> [Table; 4] {
    let [enrol_rows, school_rows, staff_rows, test_rows] = found;
    let mut enrol = table(
        "public_enrollment",
        "นักเรียนจำแนกตามระดับชั้นและเพศ (รอบข้อมูลที่อนุมัติให้เผยแพร่)",
        &[("รหัสเขตพื้นที่", Kind::Text), (msg::C_LEVEL, Kind::Text), (msg::C_MALE, Kind::Count), (msg::C_FEMALE, Kind::Count)],
        enrol_rows,
    );
    enrol.rows.iter_mut().for_each(|r| r[1] = Cell::Text(msg::level(&r[1].text()).into()));
    let mut schools = table(
        "public_schools",
        "โรงเรียนจำแนกตามขนาด (รอบข้อมูลที่อนุมัติให้เผยแพร่)",
        &[("รหัสเขตพื้นที่", Kind::Text), (msg::C_SIZE, Kind::Text), (msg::C_SCHOOLS, Kind::Count), (msg::C_STUDENTS, Kind::Count), (msg::C_TEACHERS, Kind::Count)],
        school_rows,
    );
    schools.rows.iter_mut().for_each(|r| r[1] = Cell::Text(msg::band(&r[1].text()).into()));
    let mut staff = table(
        "public_personnel",
        "บุคลากรจำแนกตามตำแหน่งและเพศ",
        &[("รหัสเขตพื้นที่", Kind::Text), (msg::C_POSITION, Kind::Text), (msg::C_MALE, Kind::Count), (msg::C_FEMALE, Kind::Count)],
        staff_rows,
    );
    staff.rows.iter_mut().for_each(|r| r[1] = Cell::Text(msg::position(&r[1].text()).into()));
    let mut tests = table(
        "public_test_results",
        "ผลการทดสอบระดับชาติ (ปีการศึกษาล่าสุด)",
        &[("รหัสเขตพื้นที่", Kind::Text), (msg::C_TEST, Kind::Text), (msg::C_SUBJECT, Kind::Text), (msg::C_EXAMINEES, Kind::Count), (msg::C_MEAN, Kind::Ratio)],
        test_rows,
    );
    tests.rows.iter_mut().for_each(|r| {
        r[1] = Cell::Text(msg::test_name(&r[1].text()).into());
        r[2] = Cell::Text(msg::subject(&r[2].text()).into());
    });

    [enrol, schools, staff, tests]
}

/// The area asked for (checked against the published directory) and the areas to show: that one,
/// or every area in code order.
async fn asked_areas(st: &AppState, a: &Area) -> Result<(Option<String>, std::sync::Arc<crate::cache::Directory>, Vec<String>), Response> {
    let area = area_code(a).map_err(|m| error_page(StatusCode::BAD_REQUEST, &m))?;
    let dir = st.reports.directory(&st.svc).await.map_err(|e| error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))?;
    let asked = match &area {
        Some(a) if dir.areas.contains_key(a) => vec![a.clone()],
        Some(a) => return Err(error_page(StatusCode::NOT_FOUND, &format!("{} {a}", msg::NO_SUCH_AREA))),
        None => {
            let mut all: Vec<String> = dir.areas.keys().cloned().collect();
            all.sort();
            all
        }
    };
    Ok((area, dir, asked))
}

/// `/public?area=`: the published figures of one area (or every area), each area as its director
/// (or an admin) approved them.
pub async fn page(State(st): State<AppState>, caller: Result<Caller, ApiError>, Query(a): Query<Area>) -> Response {
    let (area, dir, asked) = match asked_areas(&st, &a).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut areas: Vec<(&String, &String)> = dir.areas.iter().collect();
    areas.sort();
    let (groups, unapproved) = match published(&st, asked.clone()).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let found: [Vec<Vec<Cell>>; 4] = if groups.is_empty() {
        Default::default()
    } else {
        let ctx = match public_session(&st).await {
            Ok(c) => c,
            Err(r) => return r,
        };
        group_tables(&ctx, &asked).await
    };
    let [enrol, schools, staff, tests] = tables_of(found);

    let mut body = String::from("<p>สถิติการศึกษาที่เผยแพร่ตาม พ.ร.บ.ข้อมูลข่าวสารของราชการ พ.ศ. 2540 เมื่อผู้อำนวยการสำนักงานเขตพื้นที่การศึกษาอนุมัติให้เผยแพร่แล้ว จำนวนที่น้อยกว่า 5 ไม่เผยแพร่ (แสดงเป็น –) เพื่อคุ้มครองข้อมูลส่วนบุคคล</p>");
    body.push_str("<form class=\"chooser\" method=\"get\" action=\"/public\"><label>เขตพื้นที่ <select name=\"area\" onchange=\"this.form.submit()\"><option value=\"\">ทุกเขตพื้นที่</option>");
    for (code, name) in &areas {
        body.push_str(&format!("<option value=\"{code}\"{}>{}</option>", if area.as_deref() == Some(code.as_str()) { " selected" } else { "" }, thai::escape(name)));
    }
    body.push_str("</select></label> <noscript><button type=\"submit\">แสดง</button></noscript></form>");
    let name = |c: &String| dir.areas.get(c).map_or_else(|| c.clone(), |n| thai::escape(n));
    for (e, members) in &groups {
        let whose = if area.is_some() || groups.len() == 1 && unapproved.is_empty() {
            String::new()
        } else {
            format!(" ({})", members.iter().map(name).collect::<Vec<_>>().join(", "))
        };
        body.push_str(&format!("<p class=\"approval\" data-approved-version=\"{}\">{}{whose}</p>", e.state, approval_line(e)));
    }
    if !unapproved.is_empty() {
        body.push_str(&format!(
            "<p class=\"unapproved\">ยังไม่มีข้อมูลที่ผู้อำนวยการอนุมัติให้เผยแพร่: {}</p>",
            unapproved.iter().map(name).collect::<Vec<_>>().join(", ")
        ));
    }
    if !groups.is_empty() {
        let q = area.as_ref().map(|a| format!("?area={a}")).unwrap_or_default();
        body.push_str("<p class=\"downloads\">ดาวน์โหลดทุกรอบข้อมูลที่อนุมัติแล้ว: ");
        let links: Vec<String> = PUBLIC_VIEWS.iter().map(|v| format!("{v} <a href=\"/public/data/{v}.csv{q}\">CSV</a> <a href=\"/public/data/{v}.json{q}\">JSON</a>")).collect();
        body.push_str(&links.join(" · "));
        body.push_str("</p>");
        for t in [&enrol, &schools, &staff, &tests] {
            body.push_str(&table_html(t));
        }
    }
    let who = caller.map(|c| c.who).unwrap_or_else(|_| Principal::public());
    Html(crate::shell(&who, "ข้อมูลสถิติการศึกษาเผยแพร่", &body)).into_response()
}

/// `/public/data/{view}.{csv|json}?area=`: a published view, whole or for one area, each area up
/// to the snapshot and from the state its director approved.
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
    let (_, _, asked) = match asked_areas(&st, &a).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (groups, _) = match published(&st, asked.clone()).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if groups.is_empty() {
        return error_page(StatusCode::NOT_FOUND, "ยังไม่มีข้อมูลที่ผู้อำนวยการอนุมัติให้เผยแพร่");
    }
    let ctx = match public_session(&st).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let batches = match ctx.sql(&format!("SELECT * FROM {view} WHERE {}", approvals::area_in(&asked))).await {
        Ok(df) => match df.collect().await {
            Ok(b) => b,
            Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    // The groups' rows in one order (by every column, so a download is the same each time).
    let sorted = (|| {
        let schema = batches.first().map(|b| b.schema()).ok_or_else(|| arrow::error::ArrowError::InvalidArgumentError("no rows".into()))?;
        let all = arrow::compute::concat_batches(&schema, &batches)?;
        let keys: Vec<arrow::compute::SortColumn> = all.columns().iter().map(|c| arrow::compute::SortColumn { values: c.clone(), options: Some(arrow::compute::SortOptions { descending: false, nulls_first: false }) }).collect();
        let order = arrow::compute::lexsort_to_indices(&keys, None)?;
        arrow::compute::take_record_batch(&all, &order)
    })();
    let text = match sorted.map_err(|e| e.to_string()).and_then(|b| khlang_query::format(&[b], format).map_err(|e| e.to_string())) {
        Ok(t) => t,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    let mime = if ext == "csv" { "text/csv; charset=utf-8" } else { "application/json" };
    let body = if ext == "csv" { format!("\u{feff}{text}") } else { text };
    (StatusCode::OK, [(header::CONTENT_TYPE, mime.to_string()), (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\""))], body).into_response()
}

//! The open-data page (Official Information Act): published aggregates of one area or the nation for
//! anyone, with CSV and JSON downloads. Everything is read through the public role, whose views
//! withhold every count under 5.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use khlang_query::approvals::{self, Approval};
use khlang_query::transport::api::{ApiError, Caller};
use khlang_query::{Principal, SessionContext, session::PUBLIC_VIEWS};
use maud::{Markup, html};

use crate::msg::{self, public as m, publishing as pm};
use crate::pages::error_page;
use crate::table::{Cell, Column, Kind, Table, rows_or_none};
use crate::{AppState, html, thai};

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
pub fn approval_line(e: &Approval) -> Markup {
    html! {
        (msg::DATA_VERSION) " " (e.state) " · " (msg::SNAPSHOT) " " (thai::date_be_long(&e.snapshot.to_string()))
        @if let Some(fy) = e.fiscal_year { " · " (msg::FISCAL_YEAR) " " (fy) }
        " · " (m::APPROVED_BY) " " (e.by) " (" (msg::role(e.role)) ") " (pm::AT) " " (thai::datetime_be(e.at)) " " (pm::HOURS)
    }
}

fn titled(key: &'static str, title: &str, columns: &[(&str, Kind)], rows: Vec<Vec<Cell>>) -> Table {
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
    let mut enrol = titled(
        "public_enrollment",
        &format!("{} {}", msg::T_STUDENTS_BY_LEVEL, m::APPROVED_ROUND),
        &[(msg::AREA_CODE, Kind::Text), (msg::C_LEVEL, Kind::Text), (msg::C_MALE, Kind::Count), (msg::C_FEMALE, Kind::Count)],
        enrol_rows,
    );
    enrol.relabel(1, |c| msg::level(&c.text()).into());
    let mut schools = titled(
        "public_schools",
        &format!("{} {}", msg::T_SIZE_BANDS, m::APPROVED_ROUND),
        &[(msg::AREA_CODE, Kind::Text), (msg::C_SIZE, Kind::Text), (msg::C_SCHOOLS, Kind::Count), (msg::C_STUDENTS, Kind::Count), (msg::C_TEACHERS, Kind::Count)],
        school_rows,
    );
    schools.relabel(1, |c| msg::band(&c.text()).into());
    let mut staff = titled(
        "public_personnel",
        msg::T_STAFF_BY_POSITION,
        &[(msg::AREA_CODE, Kind::Text), (msg::C_POSITION, Kind::Text), (msg::C_MALE, Kind::Count), (msg::C_FEMALE, Kind::Count)],
        staff_rows,
    );
    staff.relabel(1, |c| msg::position(&c.text()).into());
    let mut tests = titled(
        "public_test_results",
        m::T_TESTS,
        &[(msg::AREA_CODE, Kind::Text), (msg::C_TEST, Kind::Text), (msg::C_SUBJECT, Kind::Text), (msg::C_EXAMINEES, Kind::Count), (msg::C_MEAN, Kind::Ratio)],
        test_rows,
    );
    tests.relabel(1, |c| msg::test_name(&c.text()).into());
    tests.relabel(2, |c| msg::subject(&c.text()).into());

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
    let tables = tables_of(found);

    let names = |codes: &[String]| codes.iter().map(|c| dir.areas.get(c).unwrap_or(c).as_str()).collect::<Vec<_>>().join(", ");
    // Whose approval each line is: said when the page shows several areas approved apart.
    let say_whose = area.is_none() && !(groups.len() == 1 && unapproved.is_empty());
    let q = area.as_ref().map(|a| format!("?area={a}")).unwrap_or_default();
    let body = html! {
        p { (m::INTRO) }
        form.chooser method="get" action="/public" {
            label {
                (msg::C_AREA) " "
                select name="area" onchange="this.form.submit()" {
                    option value="" { (m::ALL_AREAS) }
                    @for (code, name) in &areas {
                        option value=(code) selected[area.as_deref() == Some(code.as_str())] { (name) }
                    }
                }
            }
            " "
            noscript { button type="submit" { (msg::SHOW) } }
        }
        @for (e, members) in &groups {
            p.approval data-approved-version=(e.state) {
                (approval_line(e))
                @if say_whose { " (" (names(members)) ")" }
            }
        }
        @if !unapproved.is_empty() {
            p.unapproved { (m::UNAPPROVED) ": " (names(&unapproved)) }
        }
        @if !groups.is_empty() {
            p.downloads {
                (m::DOWNLOADS) " "
                @for (i, v) in PUBLIC_VIEWS.iter().enumerate() {
                    @if i > 0 { " · " }
                    (v) " " a href={ "/public/data/" (v) ".csv" (q) } { "CSV" } " " a href={ "/public/data/" (v) ".json" (q) } { "JSON" }
                }
            }
            @for t in &tables { (html::table(t)) }
        }
    };
    let who = caller.map(|c| c.who).unwrap_or_else(|_| Principal::public());
    Html(html::shell(&who, m::TITLE, body).into_string()).into_response()
}

/// `/public/data/{view}.{csv|json}?area=`: a published view, whole or for one area, each area up
/// to the snapshot and from the state its director approved.
pub async fn download(State(st): State<AppState>, Path(file): Path<String>, Query(a): Query<Area>) -> Response {
    let Some((view, ext)) = file.rsplit_once('.') else { return error_page(StatusCode::BAD_REQUEST, &format!("'{file}' has no format: add .csv or .json")) };
    let Some(view) = PUBLIC_VIEWS.iter().copied().find(|v| *v == view) else {
        return error_page(StatusCode::NOT_FOUND, &format!("{} {view}: {} {}", m::NO_SUCH_DATASET, m::THERE_ARE, PUBLIC_VIEWS.join(", ")));
    };
    let csv = match ext {
        "csv" => true,
        "json" => false,
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
        return error_page(StatusCode::NOT_FOUND, m::UNAPPROVED);
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
    let body = match sorted.map_err(|e| e.to_string()).and_then(|b| if csv { view_csv(view, &b) } else { khlang_query::format(&[b], khlang_query::Format::Json).map(String::into_bytes).map_err(|e| e.to_string()) }) {
        Ok(t) => t,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    let mime = if csv { "text/csv; charset=utf-8" } else { "application/json" };
    (StatusCode::OK, [(header::CONTENT_TYPE, mime.to_string()), (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\""))], body).into_response()
}

/// A public view as CSV, its columns named as in the database.
fn view_csv(view: &'static str, b: &arrow::record_batch::RecordBatch) -> Result<Vec<u8>, String> {
    let columns = b.schema().fields().iter().map(|f| Column { name: f.name().clone(), kind: Kind::Plain }).collect();
    let rows = crate::table::cells(std::slice::from_ref(b)).map_err(|e| e.to_string())?;
    crate::table::csv(&Table { key: view, title: view.to_string(), columns, rows }).map_err(|e| e.to_string())
}

//! The director's web pages: area and school overviews, a page per domain, drill-down, the thematic
//! lists, and the four-domain report as HTML, PDF and XLSX. Every figure comes from a `Report`
//! computed through the reader's own scoped session (see `cache`).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use khlang_query::transport::api::{ApiError, Caller};
use khlang_query::audit::{Action, Event};
use khlang_query::{Principal, Role, Scope, reference};

use maud::{Markup, PreEscaped, html};

use crate::report::{Cell, Chart, Depth, Domain, Figure, Kind, Params, Report, ReportError, Section, Subject, Table};
use crate::{AppState, charts, html, msg, pdf, thai, xlsx};

#[derive(Debug, Default, serde::Deserialize)]
pub struct Choice {
    snapshot: Option<String>,
    fiscal_year: Option<String>,
}

/// An error page in Thai with the right status.
pub fn error_page(status: StatusCode, detail: &str) -> Response {
    let title = match status {
        StatusCode::NOT_FOUND => msg::NOT_FOUND_TITLE,
        StatusCode::BAD_REQUEST => msg::BAD_REQUEST_TITLE,
        StatusCode::FORBIDDEN => msg::FORBIDDEN_TITLE,
        _ => msg::ERROR_TITLE,
    };
    (status, Html(html::page(title, maud::html! { (html::error(detail)) p { a href="/" { (msg::BACK_HOME) } } }).into_string())).into_response()
}

fn report_error(e: ReportError) -> Response {
    match e {
        ReportError::BadParameter(m) => error_page(StatusCode::BAD_REQUEST, &m),
        ReportError::NotFound(m) => error_page(StatusCode::NOT_FOUND, &m),
        other => {
            tracing::error!(error = %other, "page failed");
            error_page(StatusCode::INTERNAL_SERVER_ERROR, msg::FAILED)
        }
    }
}

/// The signed-in caller, or a redirect to the sign-in page (also when the session has expired).
pub(crate) fn signed_in(caller: Result<Caller, ApiError>) -> Option<Caller> {
    caller.ok().filter(|c| c.who.role != Role::Public)
}

/// May `who` see `subject`? Unknown codes are 404 whoever asks; known ones outside the scope are 403.
async fn authorize(st: &AppState, who: &Principal, subject: &Subject) -> Result<(), Response> {
    let dir = st.reports.directory(&st.svc).await.map_err(report_error)?;
    let area_of_subject = match subject {
        Subject::Area(a) if dir.areas.contains_key(a) => a.clone(),
        Subject::Area(a) => return Err(error_page(StatusCode::NOT_FOUND, &format!("{} {a}", msg::NO_SUCH_AREA))),
        Subject::School(s) => match dir.schools.get(s) {
            Some((area, _, _)) => area.clone(),
            None => return Err(error_page(StatusCode::NOT_FOUND, &format!("{} {s}", msg::NO_SUCH_SCHOOL))),
        },
    };
    let allowed = match (&who.scope, subject) {
        (Scope::National, _) => true,
        (Scope::Area(mine), _) => *mine == area_of_subject,
        (Scope::School { school, .. }, Subject::School(s)) => school == s,
        _ => false,
    };
    if allowed { Ok(()) } else { Err(error_page(StatusCode::FORBIDDEN, msg::FORBIDDEN)) }
}

/// Everything a subject page needs: the caller checked, the report computed (or cached).
async fn load(st: &AppState, caller: Result<Caller, ApiError>, subject: Result<Subject, ReportError>, choice: &Choice, here: &str, what: &str, depth: Depth) -> Result<(Caller, Arc<Report>), Response> {
    let caller = signed_in(caller).ok_or_else(|| crate::sign_in_first(here))?;
    let params = Params::parse(choice.snapshot.as_deref(), choice.fiscal_year.as_deref()).map_err(report_error)?;
    let subject = subject.map_err(report_error)?;
    authorize(st, &caller.who, &subject).await?;
    let report = st.reports.report(&st.svc, &caller.who, &subject, &params, depth).await.map_err(report_error)?;
    st.svc.audit.record(Event::new(&caller.who, Action::Report, format!("{} {} {what}", subject.kind(), subject.code()), caller.client.clone()));
    Ok((caller, report))
}

/// A chart of a report, with a link to it as a PNG picture (for slides and letters).
fn report_chart(r: &Report, c: &Chart) -> Markup {
    html::chart(c, Some(&format!("{}/chart/{}.png{}", base(r), c.table.key, params_of(r))))
}

fn base(r: &Report) -> String {
    format!("/{}/{}", r.subject.kind(), r.subject.code())
}

/// The chooser of snapshot (with its academic year) and fiscal year; submits on change.
fn chooser(r: &Report, path: &str) -> Markup {
    html! {
        form.chooser method="get" action=(path) {
            label {
                (msg::ACADEMIC_YEAR) " / " (msg::DATA_ROUND) " "
                select name="snapshot" onchange="this.form.submit()" {
                    @for s in r.snapshots.iter().rev() {
                        option value=(s) selected[*s == r.snapshot] { (msg::ACADEMIC_YEAR) " " (khlang_query::office::academic_year_be(*s)) " · " (thai::date_be(&s.to_string())) }
                    }
                }
            }
            " "
            label {
                (msg::FISCAL_YEAR) " "
                select name="fiscal_year" onchange="this.form.submit()" {
                    @for y in r.fiscal_years.iter().rev() { option value=(y) selected[*y == r.fiscal_year] { (y) } }
                }
            }
            " "
            noscript { button type="submit" { (msg::SHOW) } }
        }
    }
}

fn params_of(r: &Report) -> String {
    Params { snapshot: Some(r.snapshot), fiscal_year: Some(r.fiscal_year) }.query_string()
}

fn subject_nav(r: &Report) -> Markup {
    let b = base(r);
    let q = params_of(r);
    let mut links = vec![(format!("{b}{q}"), msg::OVERVIEW)];
    for d in Domain::ALL {
        links.push((format!("{b}/{}{q}", d.key()), d.title()));
    }
    if matches!(r.subject, Subject::Area(_)) {
        for (page, label) in THEMES {
            links.push((format!("{b}/{page}{q}"), label));
        }
    }
    let file = format!("/reports/{}/{}", r.subject.kind(), r.subject.code());
    html! {
        nav.subject {
            ul { @for (href, label) in &links { li { a href=(href) { (label) } } } }
            p.downloads {
                (msg::REPORT_TITLE) ": "
                a href={ (file) ".html" (q) } { (msg::WEB) } " · "
                a href={ (file) ".pdf" (q) } { "PDF" } " · "
                a href={ (file) ".xlsx" (q) } { "Excel" }
            }
        }
    }
}

const THEMES: [(&str, &str); 6] = [
    ("districts", msg::THEME_DISTRICTS),
    ("small-schools", msg::F_SMALL),
    ("staffing", msg::THEME_STAFFING),
    ("retirements", msg::THEME_RETIREMENTS),
    ("disbursement", msg::THEME_DISBURSEMENT),
    ("tests", msg::THEME_TESTS),
];

fn heading(r: &Report) -> Markup {
    html! {
        p.meta {
            @match r.subject {
                Subject::Area(_) => { (msg::AREA_CODE) " " (r.subject.code()) },
                Subject::School(_) => { (msg::C_SCHOOL_CODE) " " (r.subject.code()) " · " a href={ "/area/" (r.area_code) } { (r.area_name) } },
            }
            @if !r.province.is_empty() { " · " (msg::PROVINCE) (r.province) }
        }
        p.meta.version data-version=(r.version.commit) { (r.version.describe(r.snapshot, r.fiscal_year)) " · " (r.version.generated()) }
    }
}

/// A subject page: the shell around a body that is cached per published state.
fn subject_page(st: &AppState, caller: &Caller, r: &Report, key: &str, title: &str, body: impl FnOnce() -> Markup) -> Response {
    let cache_key = r.rendering_key(key);
    let main = match st.reports.rendered(&cache_key) {
        Some(b) => b,
        None => {
            let path = format!("{}{}", base(r), if key == "overview" { String::new() } else { format!("/{key}") });
            let page = html! { (heading(r)) (chooser(r, &path)) (subject_nav(r)) (body()) };
            st.reports.keep(cache_key, page.into_string().into_bytes())
        }
    };
    Html(html::shell(&caller.who, title, PreEscaped(String::from_utf8_lossy(&main).into_owned())).into_string()).into_response()
}

pub async fn overview(st: &AppState, caller: Result<Caller, ApiError>, kind: &str, code: &str, choice: Choice) -> Response {
    let here = format!("/{kind}/{code}");
    let (caller, r) = match load(st, caller, Subject::parse(kind, code), &choice, &here, "overview", Depth::Overview).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let title = format!("{} {}", msg::OVERVIEW, r.name);
    subject_page(st, &caller, &r, "overview", &title, || {
        html! {
            @for s in &r.sections {
                section.domain id=(s.domain.key()) {
                    h2 { a href={ (base(&r)) "/" (s.domain.key()) (params_of(&r)) } { (s.domain.title()) } }
                    (html::figures(&s.figures))
                    @if let Some(c) = s.charts.iter().find(|c| c.table.key == overview_chart(s.domain)) { (report_chart(&r, c)) }
                }
            }
        }
    })
}

/// The one chart a director looks at first in each domain, the one the overview shows.
fn overview_chart(d: Domain) -> &'static str {
    match d {
        Domain::Academic => "students_by_grade",
        Domain::Budget => "disbursement_chart",
        Domain::Personnel => "position_chart",
        Domain::General => "size_chart",
    }
}

/// A domain's figures, charts, tables and definitions.
fn section_body(r: &Report, s: &Section) -> Markup {
    html! {
        (html::figures(&s.figures))
        @for c in &s.charts { (report_chart(r, c)) }
        @for t in &s.tables { (html::table(t)) }
        (html::notes(&s.notes))
    }
}

pub async fn sub_page(st: &AppState, caller: Result<Caller, ApiError>, kind: &str, code: &str, page: &str, choice: Choice) -> Response {
    let here = format!("/{kind}/{code}/{page}");
    let domain = Domain::parse(page);
    let theme = THEMES.iter().find(|(p, _)| *p == page).filter(|_| kind == "area");
    if domain.is_none() && theme.is_none() {
        return error_page(StatusCode::NOT_FOUND, &format!("{} {page}", msg::NO_SUCH_PAGE));
    }
    let (caller, r) = match load(st, caller, Subject::parse(kind, code), &choice, &here, page, Depth::Full).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    if let Some(d) = domain {
        let title = format!("{} · {}", d.title(), r.name);
        return subject_page(st, &caller, &r, page, &title, || r.section(d).map(|s| section_body(&r, s)).unwrap_or_default());
    }
    let label = theme.map_or("", |t| t.1);
    let title = format!("{label} · {}", r.name);
    subject_page(st, &caller, &r, page, &title, || theme_body(&r, page))
}

fn chart_of(r: &Report, key: &str) -> Markup {
    r.sections.iter().flat_map(|s| &s.charts).find(|c| c.table.key == key).map(|c| report_chart(r, c)).unwrap_or_default()
}

/// `/{area|school}/{code}/chart/{key}.png`: one chart of the report as a picture, Thai set in the bundled font.
pub async fn chart_png(st: &AppState, caller: Result<Caller, ApiError>, kind: &str, code: &str, file: &str, choice: Choice) -> Response {
    let here = format!("/{kind}/{code}/chart/{file}");
    let Some(key) = file.strip_suffix(".png") else {
        return error_page(StatusCode::BAD_REQUEST, &format!("'{file}' is not a .png picture"));
    };
    // The overview's own charts come from the overview (or the whole report, when made).
    let depth = if Domain::ALL.iter().any(|d| overview_chart(*d) == key) { Depth::Overview } else { Depth::Full };
    let (_, r) = match load(st, caller, Subject::parse(kind, code), &choice, &here, &format!("chart {key}"), depth).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some(chart) = r.sections.iter().flat_map(|s| &s.charts).find(|c| c.table.key == key).cloned() else {
        return error_page(StatusCode::NOT_FOUND, &format!("{} {key}", msg::NO_SUCH_CHART));
    };
    let cache_key = r.rendering_key(&format!("chart {key}"));
    let png = match st.reports.rendered(&cache_key) {
        Some(b) => b,
        None => match tokio::task::spawn_blocking(move || crate::fonts::png(&charts::svg(&chart), 2.0)).await {
            Ok(Ok(b)) => st.reports.keep(cache_key, b),
            Ok(Err(e)) => return report_error(ReportError::Render { format: "PNG", message: e }),
            Err(e) => return report_error(ReportError::Render { format: "PNG", message: e.to_string() }),
        },
    };
    (StatusCode::OK, [(header::CONTENT_TYPE, "image/png")], png.as_ref().clone()).into_response()
}

fn table_of(r: &Report, key: &str) -> Markup {
    r.sections.iter().flat_map(|s| &s.tables).find(|t| t.key == key).map(html::table).unwrap_or_default()
}

fn figures_of(r: &Report, keys: &[&str]) -> Markup {
    let f: Vec<Figure> = r.sections.iter().flat_map(|s| &s.figures).filter(|f| keys.contains(&f.key)).cloned().collect();
    html::figures(&f)
}

fn notes_of(notes: &[&str]) -> Markup {
    html::notes(&notes.iter().map(|n| n.to_string()).collect::<Vec<_>>())
}

/// The districts' summary, each district linking to its schools.
fn districts(r: &Report) -> Markup {
    let mut by: std::collections::BTreeMap<&str, [i64; 5]> = std::collections::BTreeMap::new();
    for s in &r.schools {
        let [schools, students, teachers, short, small] = by.entry(s.district.as_str()).or_default();
        *schools += 1;
        *students += s.students;
        *teachers += s.teachers;
        *short += (-s.gap).max(0);
        *small += i64::from(s.size_band == "small");
    }
    let columns = [msg::C_DISTRICT, msg::C_SCHOOLS, msg::C_STUDENTS, msg::C_TEACHERS, msg::F_SHORTAGE, msg::F_SMALL];
    let q = params_of(r);
    html! {
        (chart_of(r, "schools_by_district"))
        table data-table="districts" {
            caption { (msg::T_DISTRICTS) }
            thead { tr { @for c in columns { th scope="col" { (c) } } } }
            tbody {
                @for (d, v) in &by {
                    tr {
                        td { a href={ (base(r)) "/districts/" (d) (q) } { (reference::district_th(d)) } " (" (d) ")" }
                        @for n in v { td.num { (crate::table::cell_text(&Cell::Int(*n), Kind::Count)) } }
                    }
                }
            }
        }
    }
}

fn theme_body(r: &Report, page: &str) -> Markup {
    match page {
        "districts" => districts(r),
        "small-schools" => html! { (figures_of(r, &["small_schools", "small_share"])) (table_of(r, "small_schools")) (notes_of(&[msg::N_SIZE])) },
        "staffing" => html! {
            (figures_of(r, &["teachers", "required_teachers", "teacher_shortage", "teacher_surplus", "schools_short", "students_per_teacher"]))
            (table_of(r, "staffing_by_school"))
            (notes_of(&[msg::N_REQUIRED, msg::N_GAP]))
        },
        "retirements" => html! { (figures_of(r, &["retirements_5y"])) (chart_of(r, "retirements_chart")) (table_of(r, "retirements")) (notes_of(&[msg::N_RETIREMENT])) },
        "disbursement" => html! {
            (figures_of(r, &["allocated", "disbursed", "disbursement_rate"]))
            (chart_of(r, "disbursement_chart"))
            (table_of(r, "disbursement_by_quarter"))
            (table_of(r, "budget_by_category"))
            (notes_of(&[msg::N_DISBURSEMENT, msg::N_TARGET]))
        },
        "tests" => html! { (chart_of(r, "test_chart")) (table_of(r, "test_results")) (notes_of(&[msg::N_TESTS])) },
        _ => Markup::default(),
    }
}

/// Schools of one district: the last step of the drill-down before a school's own page.
pub async fn district(st: &AppState, caller: Result<Caller, ApiError>, code: &str, district: &str, choice: Choice) -> Response {
    let here = format!("/area/{code}/districts/{district}");
    if district.len() != 4 || !district.bytes().all(|b| b.is_ascii_digit()) {
        return error_page(StatusCode::BAD_REQUEST, &format!("district code '{district}' is not 4 digits"));
    }
    let (caller, r) = match load(st, caller, Subject::parse("area", code), &choice, &here, &format!("district {district}"), Depth::Full).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let schools: Vec<_> = r.schools.iter().filter(|s| s.district == district).collect();
    if schools.is_empty() {
        return error_page(StatusCode::NOT_FOUND, &format!("{} {district}", msg::NO_SCHOOLS_IN_DISTRICT));
    }
    let title = format!("{} ({district}) · {}", reference::district_th(district), r.name);
    let key = format!("districts/{district}");
    subject_page(st, &caller, &r, &key, &title, || {
        let mut t = Table::new(
            "district_schools",
            format!("{}{}", msg::SCHOOLS_IN, reference::district_th(district)),
            &[
                (msg::C_SCHOOL_CODE, Kind::Text),
                (msg::C_SCHOOL, Kind::Text),
                (msg::C_SIZE, Kind::Text),
                (msg::C_STUDENTS, Kind::Count),
                (msg::C_CLASSROOMS, Kind::Count),
                (msg::C_TEACHERS, Kind::Count),
                (msg::C_REQUIRED, Kind::Count),
                (msg::C_GAP, Kind::Count),
            ],
        );
        for s in &schools {
            t.rows.push(vec![
                Cell::Text(s.code.clone()),
                Cell::Text(s.name.clone()),
                Cell::Text(msg::band(&s.size_band).into()),
                Cell::Int(s.students),
                Cell::Int(s.classrooms),
                Cell::Int(s.teachers),
                Cell::Int(s.required),
                Cell::Int(s.gap),
            ]);
        }
        html::table(&t)
    })
}

/// `/reports/{area|school}/{code}.{html|pdf|xlsx}`: the four-domain report as one document.
pub async fn report_file(st: &AppState, caller: Result<Caller, ApiError>, kind: &str, file: &str, choice: Choice) -> Response {
    let here = format!("/reports/{kind}/{file}");
    let Some((code, ext)) = file.rsplit_once('.') else {
        return error_page(StatusCode::BAD_REQUEST, &format!("'{file}' has no format: ask for {file}.html, {file}.pdf or {file}.xlsx"));
    };
    if !matches!(ext, "html" | "pdf" | "xlsx") {
        return error_page(StatusCode::BAD_REQUEST, &format!("format '{ext}' is not html, pdf or xlsx"));
    }
    let (_, r) = match load(st, caller, Subject::parse(kind, code), &choice, &here, &format!("report {ext}"), Depth::Full).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let key = r.rendering_key(&format!("report.{ext}"));
    let bytes = match st.reports.rendered(&key) {
        Some(b) => b,
        None => {
            let r2 = r.clone();
            let ext2 = ext.to_string();
            // PDF and XLSX take CPU for a while: off the async workers.
            let made = tokio::task::spawn_blocking(move || match ext2.as_str() {
                "pdf" => pdf::render(&r2.doc()),
                "xlsx" => xlsx::render(&r2.doc()),
                _ => Ok(report_html(&r2).into_bytes()),
            })
            .await;
            match made {
                Ok(Ok(b)) => st.reports.keep(key, b),
                Ok(Err(e)) => return report_error(e),
                Err(e) => return report_error(ReportError::Render { format: "report", message: e.to_string() }),
            }
        }
    };
    let name = format!("report_{}_{}_{}.{ext}", r.subject.code(), r.snapshot, r.fiscal_year);
    let mime = match ext {
        "pdf" => "application/pdf",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => "text/html; charset=utf-8",
    };
    let disposition = if ext == "html" { "inline".to_string() } else { format!("attachment; filename=\"{name}\"") };
    (StatusCode::OK, [(header::CONTENT_TYPE, mime.to_string()), (header::CONTENT_DISPOSITION, disposition)], bytes.as_ref().clone()).into_response()
}

/// The whole report as one printable web page (the same content as the PDF).
pub fn report_html(r: &Report) -> String {
    let body = html! {
        h2.subject { (r.name) }
        (heading(r))
        @for (n, s) in r.sections.iter().enumerate() {
            section.domain id=(s.domain.key()) {
                h2 { (n + 1) ". " (s.domain.title()) }
                (section_body(r, s))
            }
        }
    };
    html::page(msg::REPORT_TITLE, body).into_string()
}

pub async fn home(st: &AppState, caller: Result<Caller, ApiError>) -> Response {
    let Some(caller) = signed_in(caller) else { return Redirect::to("/public").into_response() };
    match &caller.who.scope {
        Scope::Area(a) => Redirect::to(&format!("/area/{a}")).into_response(),
        Scope::School { school, .. } => Redirect::to(&format!("/school/{school}")).into_response(),
        Scope::National | Scope::Public => {
            let dir = match st.reports.directory(&st.svc).await {
                Ok(d) => d,
                Err(e) => return report_error(e),
            };
            if dir.areas.len() == 1
                && let Some(a) = dir.areas.keys().next()
            {
                return Redirect::to(&format!("/area/{a}")).into_response();
            }
            areas_list(st, &caller, &dir)
        }
    }
}

fn areas_list(_st: &AppState, caller: &Caller, dir: &crate::cache::Directory) -> Response {
    if dir.areas.is_empty() {
        return Html(html::shell(&caller.who, msg::APP, html! { p { (msg::EMPTY) } }).into_string()).into_response();
    }
    let mut areas: Vec<(&String, &String)> = dir.areas.iter().collect();
    areas.sort();
    let body = html! {
        table data-table="areas" {
            caption { (msg::T_AREAS) }
            thead { tr { th { (msg::C_CODE) } th { (msg::C_AREA) } th { (msg::C_REPORT) } } }
            tbody {
                @for (code, name) in areas {
                    tr {
                        td { (code) }
                        td { a href={ "/area/" (code) } { (name) } }
                        td { a href={ "/reports/area/" (code) ".pdf" } { "PDF" } " · " a href={ "/reports/area/" (code) ".xlsx" } { "Excel" } }
                    }
                }
            }
        }
    };
    Html(html::shell(&caller.who, msg::CHOOSE_AREA, body).into_string()).into_response()
}

pub mod routes {
    use super::*;

    pub async fn home(State(st): State<AppState>, caller: Result<Caller, ApiError>) -> Response {
        super::home(&st, caller).await
    }

    pub async fn area(State(st): State<AppState>, caller: Result<Caller, ApiError>, Path(code): Path<String>, Query(c): Query<Choice>) -> Response {
        overview(&st, caller, "area", &code, c).await
    }

    pub async fn school(State(st): State<AppState>, caller: Result<Caller, ApiError>, Path(code): Path<String>, Query(c): Query<Choice>) -> Response {
        overview(&st, caller, "school", &code, c).await
    }

    pub async fn area_page(State(st): State<AppState>, caller: Result<Caller, ApiError>, Path((code, page)): Path<(String, String)>, Query(c): Query<Choice>) -> Response {
        sub_page(&st, caller, "area", &code, &page, c).await
    }

    pub async fn school_page(State(st): State<AppState>, caller: Result<Caller, ApiError>, Path((code, page)): Path<(String, String)>, Query(c): Query<Choice>) -> Response {
        sub_page(&st, caller, "school", &code, &page, c).await
    }

    pub async fn district(State(st): State<AppState>, caller: Result<Caller, ApiError>, Path((code, d)): Path<(String, String)>, Query(c): Query<Choice>) -> Response {
        super::district(&st, caller, &code, &d, c).await
    }

    pub async fn area_chart(State(st): State<AppState>, caller: Result<Caller, ApiError>, Path((code, file)): Path<(String, String)>, Query(c): Query<Choice>) -> Response {
        chart_png(&st, caller, "area", &code, &file, c).await
    }

    pub async fn school_chart(State(st): State<AppState>, caller: Result<Caller, ApiError>, Path((code, file)): Path<(String, String)>, Query(c): Query<Choice>) -> Response {
        chart_png(&st, caller, "school", &code, &file, c).await
    }

    pub async fn report(State(st): State<AppState>, caller: Result<Caller, ApiError>, Path((kind, file)): Path<(String, String)>, Query(c): Query<Choice>) -> Response {
        report_file(&st, caller, &kind, &file, c).await
    }
}

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

use crate::report::{Cell, Chart, Domain, Figure, Kind, Params, Report, ReportError, Subject, Table};
use crate::{AppState, charts, msg, pdf, thai, xlsx};

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
        _ => "เกิดข้อผิดพลาด",
    };
    (status, Html(thai::page(title, &format!("<p class=\"error\" role=\"alert\">{}</p><p><a href=\"/\">กลับหน้าแรก</a></p>", thai::escape(detail))))).into_response()
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
async fn load(st: &AppState, caller: Result<Caller, ApiError>, subject: Result<Subject, ReportError>, choice: &Choice, here: &str, what: &str) -> Result<(Caller, Arc<Report>), Response> {
    let caller = signed_in(caller).ok_or_else(|| crate::sign_in_first(here))?;
    let params = Params::parse(choice.snapshot.as_deref(), choice.fiscal_year.as_deref()).map_err(report_error)?;
    let subject = subject.map_err(report_error)?;
    authorize(st, &caller.who, &subject).await?;
    let report = st.reports.report(&st.svc, &caller.who, &subject, &params).await.map_err(report_error)?;
    st.svc.audit.record(Event::new(&caller.who, Action::Report, format!("{} {} {what}", subject.kind(), subject.code()), caller.client.clone()));
    Ok((caller, report))
}

pub fn figures_html(figures: &[Figure]) -> String {
    let mut out = String::from("<section class=\"cards\">");
    for f in figures {
        out.push_str(&format!(
            "<div class=\"card\" data-figure=\"{}\"><div class=\"label\">{}</div><div class=\"value\">{}</div><div class=\"unit\">{}</div></div>",
            f.key,
            f.label,
            pdf::figure_text(f.value, f.kind),
            f.unit
        ));
    }
    out.push_str("</section>");
    out
}

pub fn table_html(t: &Table) -> String {
    let mut out = format!("<table data-table=\"{}\"><caption>{}</caption><thead><tr>", t.key, thai::escape(&t.title));
    for c in &t.columns {
        out.push_str(&format!("<th scope=\"col\">{}</th>", thai::escape(&c.name)));
    }
    out.push_str("</tr></thead><tbody>");
    let link_col = t.columns.iter().position(|c| c.name == msg::C_SCHOOL_CODE);
    for r in &t.rows {
        out.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            let kind = t.columns.get(i).map_or(Kind::Text, |c| c.kind);
            let text = thai::escape(&pdf::cell_text(c, kind));
            let class = if kind == Kind::Text { "" } else { " class=\"num\"" };
            match (link_col, c) {
                (Some(l), Cell::Text(code)) if l == i => out.push_str(&format!("<td><a href=\"/school/{0}\">{0}</a></td>", thai::escape(code))),
                _ => out.push_str(&format!("<td{class}>{text}</td>")),
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// A chart with its title and, for readers who cannot see it, the same figures as a table.
pub fn chart_html(c: &Chart) -> String {
    chart_with_picture(c, None)
}

/// A chart of a report, with a link to it as a PNG picture (for slides and letters).
fn report_chart(r: &Report, c: &Chart) -> String {
    chart_with_picture(c, Some(&format!("{}/chart/{}.png{}", base(r), c.table.key, params_of(r))))
}

fn chart_with_picture(c: &Chart, png: Option<&str>) -> String {
    if c.table.rows.is_empty() {
        return format!("<p class=\"meta\">{}: ไม่มีข้อมูล</p>", thai::escape(&c.table.title));
    }
    format!(
        "<figure class=\"chart\" data-chart=\"{}\"><div role=\"img\" aria-label=\"{}\">{}</div><figcaption><details><summary>ตารางข้อมูลของแผนภูมิ</summary>{}</details>{}</figcaption></figure>",
        c.table.key,
        thai::escape(&c.table.title),
        charts::svg(c),
        table_html(&c.table),
        png.map(|href| format!(" <a class=\"png\" href=\"{href}\" download>ภาพ PNG</a>")).unwrap_or_default()
    )
}

fn base(r: &Report) -> String {
    format!("/{}/{}", r.subject.kind(), r.subject.code())
}

/// The chooser of snapshot (with its academic year) and fiscal year; submits on change.
fn chooser(r: &Report, path: &str) -> String {
    let mut out = format!("<form class=\"chooser\" method=\"get\" action=\"{path}\"><label>ปีการศึกษา / รอบข้อมูล <select name=\"snapshot\" onchange=\"this.form.submit()\">");
    for s in r.snapshots.iter().rev() {
        let ay = khlang_query::office::academic_year_be(*s);
        out.push_str(&format!(
            "<option value=\"{s}\"{}>ปีการศึกษา {ay} · {}</option>",
            if *s == r.snapshot { " selected" } else { "" },
            thai::date_be(&s.to_string())
        ));
    }
    out.push_str("</select></label> <label>ปีงบประมาณ <select name=\"fiscal_year\" onchange=\"this.form.submit()\">");
    for y in r.fiscal_years.iter().rev() {
        out.push_str(&format!("<option value=\"{y}\"{}>{y}</option>", if *y == r.fiscal_year { " selected" } else { "" }));
    }
    out.push_str("</select></label> <noscript><button type=\"submit\">แสดง</button></noscript></form>");
    out
}

fn params_of(r: &Report) -> String {
    Params { snapshot: Some(r.snapshot), fiscal_year: Some(r.fiscal_year) }.query_string()
}

fn subject_nav(r: &Report) -> String {
    let b = base(r);
    let q = params_of(r);
    let mut links = vec![(format!("{b}{q}"), "ภาพรวม".to_string())];
    for d in Domain::ALL {
        links.push((format!("{b}/{}{q}", d.key()), d.title().to_string()));
    }
    if matches!(r.subject, Subject::Area(_)) {
        for (page, label) in THEMES {
            links.push((format!("{b}/{page}{q}"), label.to_string()));
        }
    }
    let kind = r.subject.kind();
    let code = r.subject.code();
    let mut out = String::from("<nav class=\"subject\"><ul>");
    for (href, label) in links {
        out.push_str(&format!("<li><a href=\"{href}\">{label}</a></li>"));
    }
    out.push_str(&format!(
        "</ul><p class=\"downloads\">รายงานข้อมูลสารสนเทศ 4 ด้าน: <a href=\"/reports/{kind}/{code}.html{q}\">เว็บ</a> · <a href=\"/reports/{kind}/{code}.pdf{q}\">PDF</a> · <a href=\"/reports/{kind}/{code}.xlsx{q}\">Excel</a></p></nav>"
    ));
    out
}

const THEMES: [(&str, &str); 6] = [
    ("districts", "รายอำเภอ"),
    ("small-schools", "โรงเรียนขนาดเล็ก"),
    ("staffing", "ครูขาด/เกินเกณฑ์"),
    ("retirements", "การเกษียณอายุ"),
    ("disbursement", "การเบิกจ่าย"),
    ("tests", "ผลการทดสอบ"),
];

fn heading(r: &Report) -> String {
    let mut sub = match r.subject {
        Subject::Area(_) => format!("รหัสเขตพื้นที่ {}", r.subject.code()),
        Subject::School(_) => format!("รหัสโรงเรียน {} · <a href=\"/area/{}\">{}</a>", r.subject.code(), r.area_code, thai::escape(&r.area_name)),
    };
    if !r.province.is_empty() {
        sub.push_str(&format!(" · จังหวัด{}", thai::escape(&r.province)));
    }
    format!(
        "<p class=\"meta\">{sub}</p><p class=\"meta version\" data-version=\"{}\">{} · {}</p>",
        r.version.commit,
        thai::escape(&r.version.describe(r.snapshot, r.fiscal_year)),
        r.version.generated()
    )
}

/// A subject page: the shell around a body that is cached per published state.
fn subject_page(st: &AppState, caller: &Caller, r: &Report, key: &str, title: &str, body: impl FnOnce() -> String) -> Response {
    let cache_key = r.rendering_key(key);
    let main = match st.reports.rendered(&cache_key) {
        Some(b) => b,
        None => {
            let path = format!("{}{}", base(r), if key == "overview" { String::new() } else { format!("/{key}") });
            let html = format!("{}{}{}{}", heading(r), chooser(r, &path), subject_nav(r), body());
            st.reports.keep(cache_key, html.into_bytes())
        }
    };
    Html(crate::shell(&caller.who, title, &String::from_utf8_lossy(&main))).into_response()
}

pub async fn overview(st: &AppState, caller: Result<Caller, ApiError>, kind: &str, code: &str, choice: Choice) -> Response {
    let here = format!("/{kind}/{code}");
    let (caller, r) = match load(st, caller, Subject::parse(kind, code), &choice, &here, "overview").await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let title = format!("ภาพรวม {}", r.name);
    subject_page(st, &caller, &r, "overview", &title, || {
        let mut body = String::new();
        for s in &r.sections {
            body.push_str(&format!("<section class=\"domain\" id=\"{}\"><h2><a href=\"{}/{}{}\">{}</a></h2>", s.domain.key(), base(&r), s.domain.key(), params_of(&r), s.domain.title()));
            body.push_str(&figures_html(&s.figures));
            // The one chart a director looks at first in each domain.
            let key = match s.domain {
                Domain::Academic => "students_by_grade",
                Domain::Budget => "disbursement_chart",
                Domain::Personnel => "position_chart",
                Domain::General => "size_chart",
            };
            if let Some(c) = s.charts.iter().find(|c| c.table.key == key) {
                body.push_str(&report_chart(&r, c));
            }
            body.push_str("</section>");
        }
        body
    })
}

pub async fn sub_page(st: &AppState, caller: Result<Caller, ApiError>, kind: &str, code: &str, page: &str, choice: Choice) -> Response {
    let here = format!("/{kind}/{code}/{page}");
    let domain = Domain::parse(page);
    let theme = THEMES.iter().find(|(p, _)| *p == page).filter(|_| kind == "area");
    if domain.is_none() && theme.is_none() {
        return error_page(StatusCode::NOT_FOUND, &format!("ไม่มีหน้า {page}"));
    }
    let (caller, r) = match load(st, caller, Subject::parse(kind, code), &choice, &here, page).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    if let Some(d) = domain {
        let title = format!("{} · {}", d.title(), r.name);
        return subject_page(st, &caller, &r, page, &title, || {
            let Some(s) = r.section(d) else { return String::new() };
            let mut body = figures_html(&s.figures);
            for c in &s.charts {
                body.push_str(&report_chart(&r, c));
            }
            for t in &s.tables {
                body.push_str(&table_html(t));
            }
            body.push_str(&notes_html(&s.notes));
            body
        });
    }
    let label = theme.map_or("", |t| t.1);
    let title = format!("{label} · {}", r.name);
    subject_page(st, &caller, &r, page, &title, || theme_body(&r, page))
}

fn notes_html(notes: &[String]) -> String {
    let mut out = String::from("<section class=\"notes\"><h3>นิยามตัวชี้วัด</h3><ul>");
    for n in notes {
        out.push_str(&format!("<li>{}</li>", thai::escape(n)));
    }
    out.push_str("</ul></section>");
    out
}

fn chart_of(r: &Report, key: &str) -> String {
    r.sections.iter().flat_map(|s| &s.charts).find(|c| c.table.key == key).map(|c| report_chart(r, c)).unwrap_or_default()
}

/// `/{area|school}/{code}/chart/{key}.png`: one chart of the report as a picture, Thai set in the bundled font.
pub async fn chart_png(st: &AppState, caller: Result<Caller, ApiError>, kind: &str, code: &str, file: &str, choice: Choice) -> Response {
    let here = format!("/{kind}/{code}/chart/{file}");
    let Some(key) = file.strip_suffix(".png") else {
        return error_page(StatusCode::BAD_REQUEST, &format!("'{file}' is not a .png picture"));
    };
    let (_, r) = match load(st, caller, Subject::parse(kind, code), &choice, &here, &format!("chart {key}")).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some(chart) = r.sections.iter().flat_map(|s| &s.charts).find(|c| c.table.key == key).cloned() else {
        return error_page(StatusCode::NOT_FOUND, &format!("ไม่มีแผนภูมิ {key}"));
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

fn table_of(r: &Report, key: &str) -> String {
    r.sections.iter().flat_map(|s| &s.tables).find(|t| t.key == key).map(table_html).unwrap_or_default()
}

fn figures_of(r: &Report, keys: &[&str]) -> String {
    let f: Vec<Figure> = r.sections.iter().flat_map(|s| &s.figures).filter(|f| keys.contains(&f.key)).cloned().collect();
    figures_html(&f)
}

fn theme_body(r: &Report, page: &str) -> String {
    match page {
        "districts" => {
            let mut t = Table::new(
                "districts",
                "สรุปรายอำเภอ",
                &[(msg::C_DISTRICT, Kind::Text), (msg::C_SCHOOLS, Kind::Count), (msg::C_STUDENTS, Kind::Count), (msg::C_TEACHERS, Kind::Count), (msg::F_SHORTAGE, Kind::Count), (msg::F_SMALL, Kind::Count)],
            );
            let mut by: std::collections::BTreeMap<&str, [i64; 5]> = std::collections::BTreeMap::new();
            for s in &r.schools {
                let e = by.entry(s.district.as_str()).or_default();
                e[0] += 1;
                e[1] += s.students;
                e[2] += s.teachers;
                e[3] += (-s.gap).max(0);
                e[4] += i64::from(s.size_band == "small");
            }
            for (d, v) in &by {
                let mut row = vec![Cell::Text(d.to_string())];
                row.extend(v.iter().map(|x| Cell::Int(*x)));
                t.rows.push(row);
            }
            let mut out = chart_of(r, "schools_by_district");
            out.push_str("<table data-table=\"districts\"><caption>สรุปรายอำเภอ (เลือกอำเภอเพื่อดูรายโรงเรียน)</caption><thead><tr>");
            for c in &t.columns {
                out.push_str(&format!("<th scope=\"col\">{}</th>", c.name));
            }
            out.push_str("</tr></thead><tbody>");
            let q = params_of(r);
            for row in &t.rows {
                let d = row[0].text();
                out.push_str(&format!("<tr><td><a href=\"{}/districts/{d}{q}\">{}</a> ({d})</td>", base(r), thai::escape(&reference::district_th(&d))));
                for c in &row[1..] {
                    out.push_str(&format!("<td class=\"num\">{}</td>", pdf::cell_text(c, Kind::Count)));
                }
                out.push_str("</tr>");
            }
            out.push_str("</tbody></table>");
            out
        }
        "small-schools" => format!("{}{}{}", figures_of(r, &["small_schools", "small_share"]), table_of(r, "small_schools"), notes_html(&[msg::N_SIZE.into()])),
        "staffing" => format!(
            "{}{}{}",
            figures_of(r, &["teachers", "required_teachers", "teacher_shortage", "teacher_surplus", "schools_short", "students_per_teacher"]),
            table_of(r, "staffing_by_school"),
            notes_html(&[msg::N_REQUIRED.into(), msg::N_GAP.into()])
        ),
        "retirements" => format!("{}{}{}{}", figures_of(r, &["retirements_5y"]), chart_of(r, "retirements_chart"), table_of(r, "retirements"), notes_html(&[msg::N_RETIREMENT.into()])),
        "disbursement" => format!(
            "{}{}{}{}{}",
            figures_of(r, &["allocated", "disbursed", "disbursement_rate"]),
            chart_of(r, "disbursement_chart"),
            table_of(r, "disbursement_by_quarter"),
            table_of(r, "budget_by_category"),
            notes_html(&[msg::N_DISBURSEMENT.into(), msg::N_TARGET.into()])
        ),
        "tests" => format!("{}{}{}", chart_of(r, "test_chart"), table_of(r, "test_results"), notes_html(&[msg::N_TESTS.into()])),
        _ => String::new(),
    }
}

/// Schools of one district: the last step of the drill-down before a school's own page.
pub async fn district(st: &AppState, caller: Result<Caller, ApiError>, code: &str, district: &str, choice: Choice) -> Response {
    let here = format!("/area/{code}/districts/{district}");
    if district.len() != 4 || !district.bytes().all(|b| b.is_ascii_digit()) {
        return error_page(StatusCode::BAD_REQUEST, &format!("district code '{district}' is not 4 digits"));
    }
    let (caller, r) = match load(st, caller, Subject::parse("area", code), &choice, &here, &format!("district {district}")).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let schools: Vec<_> = r.schools.iter().filter(|s| s.district == district).collect();
    if schools.is_empty() {
        return error_page(StatusCode::NOT_FOUND, &format!("ไม่พบโรงเรียนในอำเภอรหัส {district} ของเขตพื้นที่นี้"));
    }
    let title = format!("{} ({district}) · {}", reference::district_th(district), r.name);
    let key = format!("districts/{district}");
    subject_page(st, &caller, &r, &key, &title, || {
        let mut t = Table::new(
            "district_schools",
            format!("โรงเรียนใน{}", reference::district_th(district)),
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
        table_html(&t)
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
    let (_, r) = match load(st, caller, Subject::parse(kind, code), &choice, &here, &format!("report {ext}")).await {
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
    let mut body = format!("<h2 class=\"subject\">{}</h2>{}", thai::escape(&r.name), heading(r));
    for (n, s) in r.sections.iter().enumerate() {
        body.push_str(&format!("<section class=\"domain\" id=\"{}\"><h2>{}. {}</h2>", s.domain.key(), n + 1, s.domain.title()));
        body.push_str(&figures_html(&s.figures));
        for c in &s.charts {
            body.push_str(&report_chart(r, c));
        }
        for t in &s.tables {
            body.push_str(&table_html(t));
        }
        body.push_str(&notes_html(&s.notes));
        body.push_str("</section>");
    }
    thai::page(msg::REPORT_TITLE, &body)
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
        return Html(crate::shell(&caller.who, "คลังข้อมูล", &format!("<p>{}</p>", msg::EMPTY))).into_response();
    }
    let mut areas: Vec<(&String, &String)> = dir.areas.iter().collect();
    areas.sort();
    let mut body = String::from("<table data-table=\"areas\"><caption>สำนักงานเขตพื้นที่การศึกษา</caption><thead><tr><th>รหัส</th><th>เขตพื้นที่</th><th>รายงาน</th></tr></thead><tbody>");
    for (code, name) in areas {
        body.push_str(&format!(
            "<tr><td>{code}</td><td><a href=\"/area/{code}\">{}</a></td><td><a href=\"/reports/area/{code}.pdf\">PDF</a> · <a href=\"/reports/area/{code}.xlsx\">Excel</a></td></tr>",
            thai::escape(name)
        ));
    }
    body.push_str("</tbody></table>");
    Html(crate::shell(&caller.who, "เลือกเขตพื้นที่การศึกษา", &body)).into_response()
}

/// Handlers as axum sees them.
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

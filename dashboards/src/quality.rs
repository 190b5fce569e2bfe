//! The data-quality report an ICT officer sends to schools before the 10 June certification: for
//! one student snapshot, each school's rejected rows with the rule, a Thai explanation and what to
//! fix, and whether the school submitted at all or far fewer students than last snapshot
//! (`submission_status`). As HTML (printable, a page per school), XLSX or CSV.

use std::collections::{BTreeMap, BTreeSet};

use khlang_query::{Principal, QueryError, QueryService, SessionContext};
use maud::{Markup, PreEscaped, html};

use crate::doc::{Doc, Part};
use crate::msg::{self, quality as m, usage as mu};
use crate::table::{Cell, Cells as _, Kind, Table, cells};
use crate::thai;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("setting {setting}: {message}")]
    Setting { setting: String, message: String },
    #[error(transparent)]
    Query(#[from] QueryError),
    /// Reading the rows or writing the CSV or XLSX file failed.
    #[error(transparent)]
    Render(#[from] crate::report::ReportError),
}

/// Which schools a report covers.
#[derive(Debug, Clone)]
pub enum Scope {
    All,
    Area(String),
    School(String),
}

/// One school's submission for the snapshot.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Submission {
    pub area_code: String,
    pub school_code: String,
    pub school_name: String,
    pub students: i64,
    pub previous_students: Option<i64>,
    /// `ok`, `not_submitted` or `students_dropped`.
    pub status: String,
}

/// One thing a school must fix.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Issue {
    pub area_code: String,
    pub school_code: String,
    pub school_name: String,
    pub feed: String,
    pub source_file: String,
    pub line_no: Option<i64>,
    pub rule: String,
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct QualityReport {
    pub snapshot: String,
    pub previous_snapshot: Option<String>,
    pub scope: Scope,
    pub submissions: Vec<Submission>,
    pub issues: Vec<Issue>,
    /// The warehouse commit the report was built from, so it can be rebuilt.
    pub warehouse_commit: Option<u64>,
    pub generated_at: chrono::DateTime<chrono::Utc>,
}

/// Thai explanation and what to do, per rule (`data/rule_explanations.csv`).
pub struct Explanation {
    pub explanation: String,
    pub fix: String,
}

pub fn explanations() -> BTreeMap<String, Explanation> {
    let mut out = BTreeMap::new();
    let mut r = csv::Reader::from_reader(include_str!("../../data/rule_explanations.csv").as_bytes());
    for rec in r.records().flatten() {
        if let (Some(rule), Some(e), Some(f)) = (rec.get(0), rec.get(1), rec.get(2)) {
            out.insert(rule.to_string(), Explanation { explanation: e.to_string(), fix: f.to_string() });
        }
    }
    out
}

/// A rule's short Thai name (its explanation up to the first colon), for charts and summaries.
pub fn rule_th(rule: &str) -> String {
    match explanations().get(rule) {
        Some(e) => e.explanation.split(':').next().unwrap_or(rule).trim().to_string(),
        None => rule.to_string(),
    }
}

fn explain<'a>(ex: &'a BTreeMap<String, Explanation>, rule: &str) -> (&'a str, &'a str) {
    match ex.get(rule) {
        Some(e) => (&e.explanation, &e.fix),
        None => (m::NO_EXPLANATION, m::NO_FIX),
    }
}

/// Runs one query of the report: a failure is the query's, the rows are cells (NULL stays NULL).
async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<Vec<Cell>>, ReportError> {
    let batches = ctx.sql(sql).await.map_err(QueryError::from)?.collect().await.map_err(QueryError::from)?;
    Ok(cells(&batches)?)
}

/// A whole number, also when the database gives it as text; `None` for NULL.
fn int(c: &Cell) -> Option<i64> {
    match c {
        Cell::Text(s) => s.parse().ok(),
        c => c.as_i64(),
    }
}

/// Text, `None` for NULL.
fn text(c: &Cell) -> Option<String> {
    match c {
        Cell::Null => None,
        c => Some(c.text()),
    }
}

fn sql_text(s: &str) -> String {
    khlang_query::office::sql_literal(s)
}

/// Builds the report of `snapshot` (ISO date) for `scope`, read as `who` (through their own scoped
/// session, so a user sees only the schools and rows of their scope whatever they ask for).
pub async fn build(q: &QueryService, who: &Principal, snapshot: &str, scope: Scope) -> Result<QualityReport, ReportError> {
    let date = chrono::NaiveDate::parse_from_str(snapshot, "%Y-%m-%d").map_err(|_| ReportError::Setting { setting: "--snapshot".into(), message: format!("'{snapshot}' is not a date like 2026-06-10") })?;
    let snapshot = date.format("%Y-%m-%d").to_string();
    // One published state for every query of the report, and the same one named on it.
    let commit = q.warehouse().committed().await.map_err(QueryError::from)?;
    let ctx = q.session_for_commit(who, commit.as_ref()).await?;
    let known = query(&ctx, &format!("SELECT previous_snapshot FROM submission_status WHERE snapshot_date = DATE {} LIMIT 1", sql_text(&snapshot))).await?;
    let Some(first) = known.first() else {
        let have = query(&ctx, "SELECT string_agg(DISTINCT CAST(snapshot_date AS VARCHAR), ', ') FROM enrollments").await?;
        let have = have.first().map(|r| r.at(0).text()).unwrap_or_default();
        return Err(ReportError::Setting { setting: "--snapshot".into(), message: format!("the warehouse has no student snapshot {snapshot} (it has: {have})") });
    };
    let previous_snapshot = text(first.at(0));
    let (school_filter, status_filter) = match &scope {
        Scope::All => (String::new(), String::new()),
        // Rows naming a school code nobody knows came with the area's pull: the area's officer sees them.
        Scope::Area(a) => (format!(" AND (s.area_code = {} OR s.school_code IS NULL)", sql_text(a)), format!(" AND area_code = {}", sql_text(a))),
        Scope::School(c) => (format!(" AND r.school_code = {}", sql_text(c)), format!(" AND school_code = {}", sql_text(c))),
    };
    let rows = query(
        &ctx,
        &format!(
            "SELECT area_code, school_code, school_name, students, previous_students, status FROM submission_status \
             WHERE snapshot_date = DATE {}{status_filter} ORDER BY area_code, school_code",
            sql_text(&snapshot)
        ),
    )
    .await?;
    let submissions: Vec<Submission> = rows
        .into_iter()
        .map(|r| {
            Submission {
                area_code: r.at(0).text(),
                school_code: r.at(1).text(),
                school_name: r.at(2).text(),
                students: int(r.at(3)).unwrap_or(0),
                previous_students: int(r.at(4)),
                status: r.at(5).text(),
            }
        })
        .collect();
    if let Scope::School(c) | Scope::Area(c) = &scope
        && submissions.is_empty() {
            return Err(ReportError::Setting { setting: "--area/--school".into(), message: format!("no open school matches {c}") });
        }
    // Students rows: those of the latest load of this snapshot. Other feeds: the latest load. Which
    // loads those are is the run log's metadata, read by the operator (a school user does not read the
    // warehouse-wide run log); the rows themselves are read as the caller.
    let operator = q.session_of(commit.as_ref()).await?;
    let runs = query(
        &operator,
        &format!(
            "SELECT (SELECT run_id FROM ingest_runs WHERE feed = 'students' AND status = 'ok' AND scope LIKE {like} ORDER BY started_at DESC LIMIT 1) AS students_run, \
                    (SELECT run_id FROM ingest_runs WHERE status = 'ok' ORDER BY started_at DESC LIMIT 1) AS latest_run",
            like = sql_text(&format!("%{snapshot}%")),
        ),
    )
    .await?;
    let run = |i: usize| runs.first().and_then(|r| text(r.at(i))).map_or_else(|| "NULL".to_string(), |id| sql_text(&id));
    let rejected = query(
        &ctx,
        &format!(
            "SELECT coalesce(s.area_code, ''), coalesce(r.school_code, ''), coalesce(s.school_name, ''), r.feed, r.source_file, r.line_no, r.rule, r.detail \
             FROM rejected_rows r LEFT JOIN schools s ON s.school_code = r.school_code \
             WHERE ((r.feed = 'students' AND r.run_id = {students_run} AND r.snapshot_date = DATE {d}) \
                 OR (r.feed <> 'students' AND r.run_id = {latest_run})){school_filter} \
             ORDER BY 1, 2, r.feed, r.source_file, r.line_no",
            students_run = run(0),
            latest_run = run(1),
            d = sql_text(&snapshot)
        ),
    )
    .await?;
    let issues = rejected
        .into_iter()
        .map(|r| {
            Issue {
                area_code: r.at(0).text(),
                school_code: r.at(1).text(),
                school_name: r.at(2).text(),
                feed: r.at(3).text(),
                source_file: r.at(4).text(),
                line_no: int(r.at(5)),
                rule: r.at(6).text(),
                detail: r.at(7).text(),
            }
        })
        .collect();
    Ok(QualityReport { snapshot, previous_snapshot, scope, submissions, issues, warehouse_commit: commit.map(|c| c.seq), generated_at: chrono::Utc::now() })
}

impl QualityReport {
    /// Completeness problems as issues too, so every list a school gets is in one place.
    pub fn all_issues(&self) -> Vec<Issue> {
        let mut out: Vec<Issue> = self
            .submissions
            .iter()
            .filter(|s| s.status != "ok")
            .map(|s| Issue {
                area_code: s.area_code.clone(),
                school_code: s.school_code.clone(),
                school_name: s.school_name.clone(),
                feed: "students".into(),
                source_file: String::new(),
                line_no: None,
                rule: s.status.clone(),
                detail: match s.previous_students {
                    Some(p) => format!("{} students this snapshot, {p} the snapshot before", s.students),
                    None => format!("{} students this snapshot", s.students),
                },
            })
            .collect();
        out.extend(self.issues.iter().cloned());
        out.sort_by(|a, b| (&a.area_code, &a.school_code).cmp(&(&b.area_code, &b.school_code)));
        out
    }

    fn scope_th(&self) -> String {
        match &self.scope {
            Scope::All => m::ALL_SCHOOLS.into(),
            Scope::Area(a) => format!("{} {a}", msg::C_AREA),
            Scope::School(s) => format!("{} {s}", msg::C_SCHOOL),
        }
    }

    /// Which published state of the warehouse the report was built from.
    fn version_th(&self) -> String {
        m::version(&self.warehouse_commit.map_or_else(|| "-".to_string(), |c| c.to_string()))
    }

    fn generated_th(&self) -> String {
        m::generated(&thai::datetime_be(self.generated_at))
    }

    /// Every issue (completeness problems first within a school) as one row each, with the rule's
    /// Thai explanation and fix, under the column names given (the CSV's for machines, Thai in the workbook).
    fn issues_table(&self, title: &str, names: [&str; 11]) -> Table {
        let ex = explanations();
        let kinds = [Kind::Text, Kind::Text, Kind::Text, Kind::Text, Kind::Text, Kind::Text, Kind::Plain, Kind::Text, Kind::Text, Kind::Text, Kind::Text];
        let columns: Vec<(&str, Kind)> = names.into_iter().zip(kinds).collect();
        let mut t = Table::new("quality_issues", title, &columns);
        t.rows = self
            .all_issues()
            .into_iter()
            .map(|i| {
                let (e, f) = explain(&ex, &i.rule);
                vec![
                    Cell::Text(self.snapshot.clone()),
                    Cell::Text(i.area_code),
                    Cell::Text(i.school_code),
                    Cell::Text(i.school_name),
                    Cell::Text(i.feed),
                    Cell::Text(i.source_file),
                    i.line_no.map_or(Cell::Null, Cell::Int),
                    Cell::Text(i.rule),
                    Cell::Text(e.to_string()),
                    Cell::Text(f.to_string()),
                    Cell::Text(i.detail),
                ]
            })
            .collect();
        t
    }

    /// The issues as CSV, one row each, under machine-readable column names.
    pub fn csv(&self) -> Result<Vec<u8>, ReportError> {
        let names = ["snapshot_date", "area_code", "school_code", "school_name", "feed", "source_file", "line_no", "rule", "explanation_th", "fix_th", "detail"];
        Ok(crate::table::csv(&self.issues_table(msg::QUALITY_TITLE, names))?)
    }

    /// The whole report as a web page.
    pub fn html(&self) -> String {
        self.html_with(html! {})
    }

    /// The report as a web page with `deadlines` (the reporting calendar's table for this snapshot)
    /// under the headline figures; nothing when it is empty.
    pub fn html_with(&self, deadlines: Markup) -> String {
        const CSS: &str = "table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{border:1px solid #d6dee8;padding:.3rem .5rem;text-align:left;vertical-align:top}\
                           .num{text-align:right}.bad{color:#b00020;font-weight:600}.warn{color:#a15c00;font-weight:600}\
                           @media print{section.school{break-before:page}body{margin:1cm}}";
        let ex = explanations();
        let issues = self.all_issues();
        let count = |status: &str| self.submissions.iter().filter(|s| s.status == status).count() as i64;
        let with_rows = issues.iter().map(|i| &i.school_code).collect::<BTreeSet<_>>().len() as i64;
        // One section (a printed page) per school with something to fix.
        let mut by_school: BTreeMap<(&str, &str), Vec<&Issue>> = BTreeMap::new();
        for i in &issues {
            by_school.entry((i.school_code.as_str(), i.school_name.as_str())).or_default().push(i);
        }
        let body = html! {
            style { (PreEscaped(CSS)) }
            p.meta {
                (m::STUDENT_ROUND) " " (thai::date_be_long(&self.snapshot)) " (" (self.scope_th()) ")"
                @if let Some(p) = &self.previous_snapshot { " · " (m::COMPARED_WITH) " " (thai::date_be_long(p)) }
                " · " (self.version_th()) " · " (self.generated_th())
            }
            section.cards {
                div.card { div.label { (msg::F_SCHOOLS) } div.value { (thai::number(self.submissions.len() as i64)) } }
                div.card { div.label { (msg::submission_status("not_submitted")) } div class="value" id="not-submitted" { (thai::number(count("not_submitted"))) } }
                div.card { div.label { (msg::submission_status("students_dropped")) } div class="value" id="dropped" { (thai::number(count("students_dropped"))) } }
                div.card { div.label { (m::TO_FIX) } div class="value" id="issues" { (thai::number(issues.len() as i64)) } }
                div.card { div.label { (m::SCHOOLS_TO_FIX) } div.value { (thai::number(with_rows)) } }
            }
            @if !deadlines.0.is_empty() {
                h2 { (msg::P_CALENDAR) }
                (deadlines)
            }
            h2 { (m::T_SUBMISSIONS) }
            table {
                thead { tr { th { (msg::C_SCHOOL_CODE) } th { (msg::C_SCHOOL_NAME) } th { (m::C_STUDENTS_NOW) } th { (m::C_STUDENTS_BEFORE) } th { (msg::C_STATUS) } } }
                tbody {
                    @for s in &self.submissions {
                        @let words = msg::submission_status(&s.status);
                        tr data-school=(s.school_code) data-status=(s.status) {
                            td { (s.school_code) }
                            td { (s.school_name) }
                            td.num { (thai::number(s.students)) }
                            td.num { (s.previous_students.map_or_else(|| "-".to_string(), thai::number)) }
                            td {
                                @match s.status.as_str() {
                                    "not_submitted" => span.bad { (words) },
                                    "students_dropped" => span.warn { (words) },
                                    _ => (words),
                                }
                            }
                        }
                    }
                }
            }
            @for ((code, name), list) in &by_school {
                section.school data-school=(code) {
                    h2 { @if code.is_empty() { (m::UNKNOWN_SCHOOL) } @else { (name) " (" (code) ")" } }
                    p { (m::TO_FIX) " " (thai::number(list.len() as i64)) " " (mu::U_ITEMS) }
                    table {
                        thead { tr { th { (m::C_FILE) } th { (msg::C_ROWS) } th { (m::C_PROBLEM) } th { (m::C_FIX) } th { (m::C_DETAIL) } } }
                        tbody {
                            @for i in list {
                                @let (e, f) = explain(&ex, &i.rule);
                                tr data-rule=(i.rule) {
                                    td { (if i.source_file.is_empty() { &i.feed } else { &i.source_file }) }
                                    td.num { @if let Some(l) = i.line_no { (l) } }
                                    td { (e) }
                                    td { (f) }
                                    td { code { (i.rule) } " " (i.detail) }
                                }
                            }
                        }
                    }
                }
            }
        };
        crate::html::page(msg::QUALITY_TITLE, body).into_string()
    }

    /// The report as a workbook: the schools' submissions on one sheet, what to fix on the other.
    pub fn xlsx(&self) -> Result<Vec<u8>, ReportError> {
        let mut submissions = Table::new(
            "quality_submissions",
            m::T_SUBMISSIONS,
            &[(msg::AREA_CODE, Kind::Text), (msg::C_SCHOOL_CODE, Kind::Text), (msg::C_SCHOOL_NAME, Kind::Text), (m::C_STUDENTS_NOW, Kind::Count), (m::C_STUDENTS_BEFORE, Kind::Count), (msg::C_STATUS, Kind::Text)],
        );
        submissions.rows = self
            .submissions
            .iter()
            .map(|s| {
                vec![
                    Cell::Text(s.area_code.clone()),
                    Cell::Text(s.school_code.clone()),
                    Cell::Text(s.school_name.clone()),
                    Cell::Int(s.students),
                    s.previous_students.map_or(Cell::Null, Cell::Int),
                    Cell::Text(msg::submission_status(&s.status).to_string()),
                ]
            })
            .collect();
        let issues = self.issues_table(
            m::TO_FIX,
            [msg::C_SNAPSHOT, msg::AREA_CODE, msg::C_SCHOOL_CODE, msg::C_SCHOOL_NAME, msg::admin::C_FEED, m::C_FILE, msg::C_ROWS, msg::C_RULE_SHORT, m::C_PROBLEM, m::C_FIX, m::C_DETAIL],
        );
        let part = |title: &str, sheet: &str, t: Table| Part { tables: vec![t], ..Part::new(title, sheet) };
        let doc = Doc {
            heading: msg::QUALITY_TITLE.into(),
            name: format!("{} {} ({})", msg::C_RUN, thai::date_be_long(&self.snapshot), self.scope_th()),
            lines: self.previous_snapshot.iter().map(|p| format!("{} {}", m::COMPARED_WITH, thai::date_be_long(p))).collect(),
            parts: vec![part(m::T_SUBMISSIONS, m::SHEET_SUBMISSIONS, submissions), part(m::TO_FIX, m::TO_FIX, issues)],
            footer: self.version_th(),
            generated: self.generated_th(),
            keywords: vec![],
            summary: false,
        };
        Ok(crate::xlsx::render(&doc)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_explanation_has_thai_text() {
        let ex = explanations();
        assert!(ex.len() >= 20);
        for (rule, e) in &ex {
            assert!(e.explanation.chars().any(|c| ('\u{0E00}'..='\u{0E7F}').contains(&c)), "{rule}");
            assert!(e.fix.chars().any(|c| ('\u{0E00}'..='\u{0E7F}').contains(&c)), "{rule}");
        }
        assert!(ex.contains_key("duplicate_enrollment") && ex.contains_key("not_submitted"));
    }
}

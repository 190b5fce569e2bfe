//! The data-quality report an ICT officer sends to schools before the 10 June certification: for
//! one student snapshot, each school's rejected rows with the rule, a Thai explanation and what to
//! fix, and whether the school submitted at all or far fewer students than last snapshot
//! (`submission_status`). As HTML (printable, a page per school), XLSX or CSV.

use std::collections::BTreeMap;

use arrow::array::{Array, StringArray};
use arrow::record_batch::RecordBatch;
use khlang_query::{Principal, QueryError, QueryService, SessionContext};

use crate::{msg, thai};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("setting {setting}: {message}")]
    Setting { setting: String, message: String },
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("cannot write the {format} report: {message}")]
    Write { format: String, message: String },
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
        None => ("ข้อมูลไม่ผ่านการตรวจสอบ", "ดูรายละเอียดแล้วแก้ไขในระบบต้นทาง"),
    }
}

/// Every cell as text ("" for null).
fn text_rows(batches: &[RecordBatch]) -> Result<Vec<Vec<Option<String>>>, ReportError> {
    let mut out = Vec::new();
    for b in batches {
        let cols: Vec<StringArray> = b
            .columns()
            .iter()
            .map(|c| {
                let c = arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8).map_err(|e| ReportError::Write { format: "report".into(), message: e.to_string() })?;
                c.as_any().downcast_ref::<StringArray>().cloned().ok_or_else(|| ReportError::Write { format: "report".into(), message: "not text".into() })
            })
            .collect::<Result<_, _>>()?;
        for i in 0..b.num_rows() {
            out.push(cols.iter().map(|c| if c.is_null(i) { None } else { Some(c.value(i).to_string()) }).collect());
        }
    }
    Ok(out)
}

/// Runs one query of the report, every cell as text.
async fn query_rows(ctx: &SessionContext, sql: &str) -> Result<Vec<Vec<Option<String>>>, ReportError> {
    let batches = ctx.sql(sql).await.map_err(QueryError::from)?.collect().await.map_err(QueryError::from)?;
    text_rows(&batches)
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
    let known = query_rows(&ctx, &format!("SELECT previous_snapshot FROM submission_status WHERE snapshot_date = DATE {} LIMIT 1", sql_text(&snapshot))).await?;
    let Some(first) = known.first() else {
        let have = query_rows(&ctx, "SELECT string_agg(DISTINCT CAST(snapshot_date AS VARCHAR), ', ') FROM enrollments").await?;
        let have = have.first().and_then(|r| r.first().cloned().flatten()).unwrap_or_default();
        return Err(ReportError::Setting { setting: "--snapshot".into(), message: format!("the warehouse has no student snapshot {snapshot} (it has: {have})") });
    };
    let previous_snapshot = first.first().cloned().flatten();
    let (school_filter, status_filter) = match &scope {
        Scope::All => (String::new(), String::new()),
        // Rows naming a school code nobody knows came with the area's pull: the area's officer sees them.
        Scope::Area(a) => (format!(" AND (s.area_code = {} OR s.school_code IS NULL)", sql_text(a)), format!(" AND area_code = {}", sql_text(a))),
        Scope::School(c) => (format!(" AND r.school_code = {}", sql_text(c)), format!(" AND school_code = {}", sql_text(c))),
    };
    let rows = query_rows(
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
            let get = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
            Submission {
                area_code: get(0),
                school_code: get(1),
                school_name: get(2),
                students: get(3).parse().unwrap_or(0),
                previous_students: get(4).parse().ok(),
                status: get(5),
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
    let runs = query_rows(
        &operator,
        &format!(
            "SELECT (SELECT run_id FROM ingest_runs WHERE feed = 'students' AND status = 'ok' AND scope LIKE {like} ORDER BY started_at DESC LIMIT 1) AS students_run, \
                    (SELECT run_id FROM ingest_runs WHERE status = 'ok' ORDER BY started_at DESC LIMIT 1) AS latest_run",
            like = sql_text(&format!("%{snapshot}%")),
        ),
    )
    .await?;
    let run = |i: usize| runs.first().and_then(|r| r.get(i).cloned().flatten()).map_or_else(|| "NULL".to_string(), |id| sql_text(&id));
    let rejected = query_rows(
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
            let get = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
            Issue {
                area_code: get(0),
                school_code: get(1),
                school_name: get(2),
                feed: get(3),
                source_file: get(4),
                line_no: get(5).parse().ok(),
                rule: get(6),
                detail: get(7),
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
            Scope::All => "ทุกโรงเรียน".into(),
            Scope::Area(a) => format!("เขตพื้นที่ {a}"),
            Scope::School(s) => format!("โรงเรียน {s}"),
        }
    }

    fn version_th(&self) -> String {
        format!(
            "ข้อมูลรุ่นที่ {} ของคลังข้อมูล · จัดทำเมื่อ {} น.",
            self.warehouse_commit.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
            thai::datetime_be(self.generated_at)
        )
    }

    pub fn csv(&self) -> Result<Vec<u8>, ReportError> {
        let ex = explanations();
        // A BOM so Excel opens the Thai text as UTF-8.
        let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
        let werr = |e: csv::Error| ReportError::Write { format: "csv".into(), message: e.to_string() };
        w.write_record(["snapshot_date", "area_code", "school_code", "school_name", "feed", "source_file", "line_no", "rule", "explanation_th", "fix_th", "detail"]).map_err(werr)?;
        for i in self.all_issues() {
            let (e, f) = explain(&ex, &i.rule);
            let line = i.line_no.map(|l| l.to_string()).unwrap_or_default();
            w.write_record([&self.snapshot, &i.area_code, &i.school_code, &i.school_name, &i.feed, &i.source_file, &line, &i.rule, e, f, &i.detail]).map_err(werr)?;
        }
        w.into_inner().map_err(|e| ReportError::Write { format: "csv".into(), message: e.to_string() })
    }

    pub fn html(&self) -> String {
        self.html_with("")
    }

    /// The report as a web page with `deadlines` (the reporting calendar's table for this snapshot,
    /// as HTML) under the headline figures.
    pub fn html_with(&self, deadlines: &str) -> String {
        let ex = explanations();
        let issues = self.all_issues();
        let missing = self.submissions.iter().filter(|s| s.status == "not_submitted").count();
        let dropped = self.submissions.iter().filter(|s| s.status == "students_dropped").count();
        let with_rows = issues.iter().map(|i| &i.school_code).collect::<std::collections::BTreeSet<_>>().len();
        let mut body = String::new();
        body.push_str(&format!(
            "<p class=\"meta\">รอบข้อมูลนักเรียน {} ({}){} · {}</p>",
            thai::escape(&thai::date_be_long(&self.snapshot)),
            thai::escape(&self.scope_th()),
            self.previous_snapshot.as_deref().map(|p| format!(" · เทียบกับรอบ {}", thai::escape(&thai::date_be_long(p)))).unwrap_or_default(),
            thai::escape(&self.version_th())
        ));
        body.push_str(&format!(
            "<section class=\"cards\"><div class=\"card\"><div class=\"label\">โรงเรียน</div><div class=\"value\">{}</div></div>\
             <div class=\"card\"><div class=\"label\">{}</div><div class=\"value\" id=\"not-submitted\">{}</div></div>\
             <div class=\"card\"><div class=\"label\">{}</div><div class=\"value\" id=\"dropped\">{}</div></div>\
             <div class=\"card\"><div class=\"label\">รายการที่ต้องแก้ไข</div><div class=\"value\" id=\"issues\">{}</div></div>\
             <div class=\"card\"><div class=\"label\">โรงเรียนที่ต้องแก้ไข</div><div class=\"value\">{}</div></div></section>",
            thai::number(self.submissions.len() as i64),
            msg::submission_status("not_submitted"),
            thai::number(missing as i64),
            msg::submission_status("students_dropped"),
            thai::number(dropped as i64),
            thai::number(issues.len() as i64),
            thai::number(with_rows as i64)
        ));
        if !deadlines.is_empty() {
            body.push_str(&format!("<h2>การส่งข้อมูลตามปฏิทินการรายงาน</h2>{deadlines}"));
        }
        body.push_str("<h2>การส่งข้อมูลของแต่ละโรงเรียน</h2><table><thead><tr><th>รหัสโรงเรียน</th><th>ชื่อโรงเรียน</th><th>นักเรียนรอบนี้</th><th>รอบก่อน</th><th>สถานะ</th></tr></thead><tbody>");
        for s in &self.submissions {
            let words = msg::submission_status(&s.status);
            let status = match s.status.as_str() {
                "not_submitted" => format!("<span class=\"bad\">{words}</span>"),
                "students_dropped" => format!("<span class=\"warn\">{words}</span>"),
                _ => words.to_string(),
            };
            body.push_str(&format!(
                "<tr data-school=\"{}\" data-status=\"{}\"><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{status}</td></tr>",
                thai::escape(&s.school_code),
                thai::escape(&s.status),
                thai::escape(&s.school_code),
                thai::escape(&s.school_name),
                thai::number(s.students),
                s.previous_students.map(thai::number).unwrap_or_else(|| "-".into())
            ));
        }
        body.push_str("</tbody></table>");
        // One section (a printed page) per school with something to fix.
        let mut by_school: BTreeMap<(String, String), Vec<&Issue>> = BTreeMap::new();
        for i in &issues {
            by_school.entry((i.school_code.clone(), i.school_name.clone())).or_default().push(i);
        }
        for ((code, name), list) in by_school {
            let title = if code.is_empty() { "รายการที่ไม่ทราบโรงเรียน".to_string() } else { format!("{name} ({code})") };
            body.push_str(&format!(
                "<section class=\"school\" data-school=\"{}\"><h2>{}</h2><p>รายการที่ต้องแก้ไข {} รายการ</p><table><thead><tr><th>แฟ้ม</th><th>แถว</th><th>ปัญหา</th><th>วิธีแก้ไข</th><th>รายละเอียด</th></tr></thead><tbody>",
                thai::escape(&code),
                thai::escape(&title),
                thai::number(list.len() as i64)
            ));
            for i in list {
                let (e, f) = explain(&ex, &i.rule);
                body.push_str(&format!(
                    "<tr data-rule=\"{}\"><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td><code>{}</code> {}</td></tr>",
                    thai::escape(&i.rule),
                    thai::escape(if i.source_file.is_empty() { &i.feed } else { &i.source_file }),
                    i.line_no.map(|l| l.to_string()).unwrap_or_default(),
                    thai::escape(e),
                    thai::escape(f),
                    thai::escape(&i.rule),
                    thai::escape(&i.detail)
                ));
            }
            body.push_str("</tbody></table></section>");
        }
        let css = "<style>table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{border:1px solid #d6dee8;padding:.3rem .5rem;text-align:left;vertical-align:top}\
                   .num{text-align:right}.bad{color:#b00020;font-weight:600}.warn{color:#a15c00;font-weight:600}\
                   @media print{section.school{break-before:page}body{margin:1cm}}</style>";
        thai::page("รายงานคุณภาพข้อมูลนักเรียน", &format!("{css}{body}"))
    }

    pub fn xlsx(&self) -> Result<Vec<u8>, ReportError> {
        use rust_xlsxwriter::{Format, Workbook};
        let ex = explanations();
        let xerr = |e: rust_xlsxwriter::XlsxError| ReportError::Write { format: "xlsx".into(), message: e.to_string() };
        let mut book = Workbook::new();
        let thai_font = Format::new().set_font_name("Tahoma");
        let head = Format::new().set_font_name("Tahoma").set_bold();
        let sheet = book.add_worksheet().set_name("การส่งข้อมูล").map_err(xerr)?;
        sheet.write_with_format(0, 0, format!("รายงานคุณภาพข้อมูลนักเรียน รอบ {} ({})", thai::date_be_long(&self.snapshot), self.scope_th()), &head).map_err(xerr)?;
        sheet.write_with_format(1, 0, self.version_th(), &thai_font).map_err(xerr)?;
        for (c, h) in ["รหัสเขตพื้นที่", "รหัสโรงเรียน", "ชื่อโรงเรียน", "นักเรียนรอบนี้", "รอบก่อน", "สถานะ"].iter().enumerate() {
            sheet.write_with_format(3, c as u16, *h, &head).map_err(xerr)?;
        }
        for (r, s) in self.submissions.iter().enumerate() {
            let r = r as u32 + 4;
            let status = msg::submission_status(&s.status);
            sheet.write_with_format(r, 0, &s.area_code, &thai_font).map_err(xerr)?;
            sheet.write_with_format(r, 1, &s.school_code, &thai_font).map_err(xerr)?;
            sheet.write_with_format(r, 2, &s.school_name, &thai_font).map_err(xerr)?;
            sheet.write_number(r, 3, s.students as f64).map_err(xerr)?;
            if let Some(p) = s.previous_students {
                sheet.write_number(r, 4, p as f64).map_err(xerr)?;
            }
            sheet.write_with_format(r, 5, status, &thai_font).map_err(xerr)?;
        }
        sheet.set_column_width(2, 40).map_err(xerr)?;
        let sheet = book.add_worksheet().set_name("รายการที่ต้องแก้ไข").map_err(xerr)?;
        let heads = ["รหัสโรงเรียน", "ชื่อโรงเรียน", "แฟ้ม", "แถว", "กฎ", "ปัญหา", "วิธีแก้ไข", "รายละเอียด"];
        for (c, h) in heads.iter().enumerate() {
            sheet.write_with_format(0, c as u16, *h, &head).map_err(xerr)?;
        }
        for (r, i) in self.all_issues().iter().enumerate() {
            let r = r as u32 + 1;
            let (e, f) = explain(&ex, &i.rule);
            sheet.write_with_format(r, 0, &i.school_code, &thai_font).map_err(xerr)?;
            sheet.write_with_format(r, 1, &i.school_name, &thai_font).map_err(xerr)?;
            sheet.write_with_format(r, 2, if i.source_file.is_empty() { &i.feed } else { &i.source_file }, &thai_font).map_err(xerr)?;
            if let Some(l) = i.line_no {
                sheet.write_number(r, 3, l as f64).map_err(xerr)?;
            }
            sheet.write_with_format(r, 4, &i.rule, &thai_font).map_err(xerr)?;
            sheet.write_with_format(r, 5, e, &thai_font).map_err(xerr)?;
            sheet.write_with_format(r, 6, f, &thai_font).map_err(xerr)?;
            sheet.write_with_format(r, 7, &i.detail, &thai_font).map_err(xerr)?;
        }
        sheet.set_column_width(1, 36).map_err(xerr)?;
        sheet.set_column_width(5, 50).map_err(xerr)?;
        sheet.set_column_width(6, 60).map_err(xerr)?;
        sheet.autofilter(0, 0, self.all_issues().len() as u32, 7).map_err(xerr)?;
        book.save_to_buffer().map_err(xerr)
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

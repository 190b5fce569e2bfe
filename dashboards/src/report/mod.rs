//! The four-domain information report (ข้อมูลสารสนเทศ 4 ด้าน) of one area or one school, for one
//! snapshot and one fiscal year: every figure computed by SQL through the reader's own scoped session.
//! The web pages, the PDF and the XLSX are renderings of this one value, so they always agree.

mod academic;
mod budget;
mod general;
mod model;
mod personnel;

use chrono::{NaiveDate, Utc};
use khlang_query::{Commit, SessionContext, reference};

pub use model::*;
pub use crate::table::{cells, rows, rows_or_none};
use crate::table::{Cells as _, one};
use crate::msg;

pub(super) fn num_at(row: &[Cell], i: usize) -> Option<f64> {
    row.get(i).and_then(Cell::as_f64)
}

pub(super) fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

pub(super) fn pct(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    ratio(a, b).map(|r| (r * 1000.0).round() / 10.0)
}

pub(super) fn fig(key: &'static str, label: &'static str, value: Option<f64>, kind: Kind, unit: &'static str) -> Figure {
    Figure { key, label, value, kind, unit }
}

/// Everything the report needs, resolved once: which snapshot, fiscal year and so on.
pub(super) struct Ctx<'a> {
    pub(super) ctx: &'a SessionContext,
    pub(super) public: &'a SessionContext,
    pub(super) subject: &'a Subject,
    pub(super) f: String,
    pub(super) snap: String,
    pub(super) academic_year: i32,
    pub(super) fiscal_year: i32,
    pub(super) area_code: String,
    /// False when only the overview's figures and charts are wanted: what no page of the overview
    /// shows is not queried.
    pub(super) full: bool,
}

/// `sql`'s rows when `wanted`, else none (a part of the report the caller does not show).
pub(super) fn rows_if<'a>(wanted: bool, ctx: &'a SessionContext, sql: impl Into<String>) -> impl Future<Output = Result<Vec<Vec<Cell>>, ReportError>> + 'a {
    let query = wanted.then(|| rows(ctx, sql));
    async move {
        match query {
            Some(q) => q.await,
            None => Ok(Vec::new()),
        }
    }
}

/// Builds the report of `subject` through `ctx` (the reader's scoped session over `commit`);
/// `public` is a session of the published aggregates, for the area and national comparisons.
/// Queries that do not wait on each other run side by side over the one session.
pub async fn build(ctx: &SessionContext, public: &SessionContext, commit: Option<&Commit>, subject: &Subject, params: &Params, depth: Depth) -> Result<Report, ReportError> {
    let code = subject.code();
    let f = subject.filter("");
    let names = match subject {
        Subject::Area(c) => format!("SELECT a.area_name, a.area_code, p.name_th, a.area_name AS area_name_again FROM areas a LEFT JOIN provinces p ON p.province_code = a.province_code WHERE a.area_code = '{c}'"),
        Subject::School(c) => format!(
            "SELECT s.school_name, s.area_code, p.name_th, a.area_name FROM schools s LEFT JOIN provinces p ON p.province_code = s.province_code \
             LEFT JOIN areas a ON a.area_code = s.area_code WHERE s.school_code = '{c}'"
        ),
    };
    let (names, snapshots, fiscal_years) = tokio::try_join!(
        rows(ctx, &names),
        // Each snapshot with its academic year.
        rows(ctx, &format!("SELECT snapshot_date, max(academic_year) FROM school_snapshot_summary WHERE {f} GROUP BY snapshot_date ORDER BY 1")),
        rows(ctx, &format!("SELECT DISTINCT fiscal_year FROM budget_lines WHERE {f} ORDER BY 1")),
    )?;
    let Some(r) = names.into_iter().next() else {
        return Err(ReportError::NotFound(format!("{} {code}", if matches!(subject, Subject::Area(_)) { msg::NO_SUCH_AREA } else { msg::NO_SUCH_SCHOOL })));
    };
    let (name, area_code, province, area_name) = (r.at(0).text(), r.at(1).text(), r.at(2).text(), r.at(3).text());
    let years: Vec<(NaiveDate, i32)> = snapshots
        .iter()
        .filter_map(|r| NaiveDate::parse_from_str(&r.at(0).text(), "%Y-%m-%d").ok().map(|d| (d, r.at(1).as_i64().unwrap_or(0) as i32)))
        .collect();
    let snapshots: Vec<NaiveDate> = years.iter().map(|(d, _)| *d).collect();
    let snapshot = match params.snapshot {
        Some(s) if snapshots.contains(&s) => s,
        Some(s) => {
            let have: Vec<String> = snapshots.iter().map(|d| d.to_string()).collect();
            return Err(ReportError::BadParameter(format!("there is no student snapshot on {s}; the snapshots are {}", if have.is_empty() { "none yet".into() } else { have.join(", ") })));
        }
        None => match snapshots.last() {
            Some(s) => *s,
            None => return Err(ReportError::NotFound(format!("{} {code}", msg::NO_DATA))),
        },
    };
    let snap = snapshot.to_string();
    let academic_year = years.iter().find(|(d, _)| *d == snapshot).map_or(0, |(_, y)| *y);
    let fiscal_years: Vec<i32> = fiscal_years.iter().filter_map(|r| r.at(0).as_i64()).map(|y| y as i32).collect();
    let fiscal_year = match params.fiscal_year {
        Some(y) if fiscal_years.contains(&y) => y,
        Some(y) => {
            let have: Vec<String> = fiscal_years.iter().map(|y| y.to_string()).collect();
            return Err(ReportError::BadParameter(format!("there is no budget for fiscal year {y}; the fiscal years are {}", if have.is_empty() { "none yet".into() } else { have.join(", ") })));
        }
        None => fiscal_years.last().copied().unwrap_or_else(|| {
            use chrono::Datelike as _;
            reference::fiscal_year_quarter(snapshot.year(), snapshot.month()).0
        }),
    };

    let c = Ctx { ctx, public, subject, f, snap, academic_year, fiscal_year, area_code: area_code.clone(), full: depth == Depth::Full };
    let (schools, summary) = school_rows(&c).await?;
    // The four domains' queries run side by side over the one session (a cold report waited on each in turn).
    let (a, b, p, g) = tokio::try_join!(academic::academic(&c, &summary), budget::budget(&c, &summary), personnel::personnel(&c, &summary, &schools), general::general(&c, &summary, &schools))?;
    let sections = vec![a, b, p, g];

    let used = ["areas", "schools", "school_snapshot_summary", "enrollments", "budget_lines", "personnel", "test_results", "buildings", "dltv_equipment"];
    let version = Version {
        commit: commit.map_or(0, |c| c.seq),
        published_at: commit.map(|c| c.at),
        tables: used.iter().map(|t| (t.to_string(), commit.and_then(|c| c.tables.get(*t).copied()).unwrap_or(0))).collect(),
        generated_at: Utc::now(),
    };
    Ok(Report { subject: subject.clone(), name, area_code, area_name, province, snapshot, snapshots, academic_year, fiscal_year, fiscal_years, version, sections, schools })
}

/// Totals over the subject's schools in the snapshot.
pub(super) struct Summary {
    pub(super) schools: Option<f64>,
    pub(super) students: Option<f64>,
    pub(super) classrooms: Option<f64>,
    pub(super) teachers: Option<f64>,
    pub(super) required: Option<f64>,
    pub(super) shortage: Option<f64>,
    pub(super) surplus: Option<f64>,
    pub(super) schools_short: Option<f64>,
    pub(super) small: Option<f64>,
}

async fn school_rows(c: &Ctx<'_>) -> Result<(Vec<SchoolRow>, Summary), ReportError> {
    let (list, r) = tokio::try_join!(
        rows(
            c.ctx,
            &format!(
                "SELECT s.school_code, sc.school_name, sc.district_code, s.students, s.classrooms, s.teachers, s.required_teachers, s.teacher_gap, s.size_band \
                 FROM school_snapshot_summary s JOIN schools sc ON sc.school_code = s.school_code \
                 WHERE {} AND s.snapshot_date = DATE '{}' ORDER BY sc.district_code, s.school_code",
                c.subject.filter("s."),
                c.snap
            ),
        ),
        one(
            c.ctx,
            &format!(
                "SELECT count(*), sum(students), sum(classrooms), sum(teachers), sum(required_teachers), \
                        sum(CASE WHEN teacher_gap < 0 THEN -teacher_gap ELSE 0 END), sum(CASE WHEN teacher_gap > 0 THEN teacher_gap ELSE 0 END), \
                        sum(CASE WHEN teacher_gap < 0 THEN 1 ELSE 0 END), sum(CASE WHEN size_band = 'small' THEN 1 ELSE 0 END) \
                 FROM school_snapshot_summary WHERE {} AND snapshot_date = DATE '{}'",
                c.f, c.snap
            ),
            9,
        )
    )?;
    let schools: Vec<SchoolRow> = list
        .iter()
        .map(|r| SchoolRow {
            code: r.at(0).text(),
            name: r.at(1).text(),
            district: r.at(2).text(),
            students: r.at(3).as_i64().unwrap_or(0),
            classrooms: r.at(4).as_i64().unwrap_or(0),
            teachers: r.at(5).as_i64().unwrap_or(0),
            required: r.at(6).as_i64().unwrap_or(0),
            gap: r.at(7).as_i64().unwrap_or(0),
            size_band: r.at(8).text(),
        })
        .collect();
    let s = Summary {
        schools: num_at(&r, 0),
        students: num_at(&r, 1),
        classrooms: num_at(&r, 2),
        teachers: num_at(&r, 3),
        required: num_at(&r, 4),
        shortage: num_at(&r, 5),
        surplus: num_at(&r, 6),
        schools_short: num_at(&r, 7),
        small: num_at(&r, 8),
    };
    Ok((schools, s))
}

pub(super) const LEVELS: [&str; 4] = ["pre_primary", "primary", "lower_secondary", "upper_secondary"];

//! The four-domain information report (ข้อมูลสารสนเทศ 4 ด้าน) of one area or one school, for one
//! snapshot and one fiscal year: every figure computed by SQL through the reader's own scoped session.
//! The web pages, the PDF and the XLSX are renderings of this one value, so they always agree.

use std::collections::BTreeMap;

use arrow::array::{Array, Float64Array, Int64Array, StringArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, NaiveDate, Utc};
use khlang_query::{Commit, SessionContext, reference};

use crate::msg;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A parameter the reader gave is wrong (HTTP 400).
    #[error("{0}")]
    BadParameter(String),
    /// No such area or school (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    #[error("report query failed: {0}")]
    Query(String),
    #[error("cannot write the {format} report: {message}")]
    Render { format: &'static str, message: String },
}

impl From<khlang_query::QueryError> for ReportError {
    fn from(e: khlang_query::QueryError) -> Self {
        ReportError::Query(e.to_string())
    }
}

/// What a report is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    Area(String),
    School(String),
}

impl Subject {
    /// Checks the shape of a code from a URL: 8 digits for an area, 10 for a school.
    pub fn parse(kind: &str, code: &str) -> Result<Subject, ReportError> {
        let digits = |n: usize| code.len() == n && code.bytes().all(|b| b.is_ascii_digit());
        match kind {
            "area" if digits(8) => Ok(Subject::Area(code.to_string())),
            "area" => Err(ReportError::BadParameter(format!("area code '{code}' is not 8 digits (an area's SMIS code, e.g. 56010000)"))),
            "school" if digits(10) => Ok(Subject::School(code.to_string())),
            "school" => Err(ReportError::BadParameter(format!("school code '{code}' is not 10 digits (e.g. 1056010001)"))),
            other => Err(ReportError::BadParameter(format!("'{other}' is not area or school"))),
        }
    }

    pub fn code(&self) -> &str {
        match self {
            Subject::Area(c) | Subject::School(c) => c,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Subject::Area(_) => "area",
            Subject::School(_) => "school",
        }
    }

    /// The SQL condition selecting this subject's rows (codes are digits only, checked by `parse`).
    fn filter(&self, alias: &str) -> String {
        match self {
            Subject::Area(c) => format!("{alias}area_code = '{c}'"),
            Subject::School(c) => format!("{alias}school_code = '{c}'"),
        }
    }
}

/// The reader's choice of data; the latest when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Params {
    pub snapshot: Option<NaiveDate>,
    pub fiscal_year: Option<i32>,
}

impl Params {
    /// Parses `?snapshot=YYYY-MM-DD&fiscal_year=NNNN` (fiscal year in Buddhist Era).
    pub fn parse(snapshot: Option<&str>, fiscal_year: Option<&str>) -> Result<Params, ReportError> {
        let snapshot = match snapshot.filter(|s| !s.is_empty()) {
            Some(s) => Some(NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                ReportError::BadParameter(format!("snapshot '{s}' is not a date like 2026-06-10 (year in CE, as the snapshot dates are stored)"))
            })?),
            None => None,
        };
        let fiscal_year = match fiscal_year.filter(|s| !s.is_empty()) {
            Some(s) => match reference::fiscal_year_be(s) {
                Some(y) => Some(y),
                None => return Err(ReportError::BadParameter(format!("fiscal_year '{s}' is not a Buddhist-Era year like 2569"))),
            },
            None => None,
        };
        Ok(Params { snapshot, fiscal_year })
    }

    pub fn query_string(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = self.snapshot {
            parts.push(format!("snapshot={s}"));
        }
        if let Some(y) = self.fiscal_year {
            parts.push(format!("fiscal_year={y}"));
        }
        if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
    }
}

/// One value in a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    Num(f64),
    Null,
}

impl Cell {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Int(i) => Some(*i as f64),
            Cell::Num(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Cell::Int(i) => Some(*i),
            Cell::Num(n) => Some(n.round() as i64),
            _ => None,
        }
    }

    pub fn text(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(i) => i.to_string(),
            Cell::Num(n) => n.to_string(),
            Cell::Null => String::new(),
        }
    }
}

/// How a column's numbers are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Count,
    Money,
    Percent,
    Ratio,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub struct Table {
    pub key: &'static str,
    pub title: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(key: &'static str, title: impl Into<String>, columns: &[(&str, Kind)]) -> Table {
        Table { key, title: title.into(), columns: columns.iter().map(|(n, k)| Column { name: n.to_string(), kind: *k }).collect(), rows: Vec::new() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    /// Bars side by side, one series per column after the first.
    Bars,
    /// Series stacked in one bar per category.
    Stacked,
    /// Lines over time.
    Trend,
    /// Male to the left, female to the right, youngest grade at the bottom.
    Pyramid,
    /// Cumulative percent disbursed against the target line.
    Progress,
}

/// A chart and the table it draws: the first column names the categories, the others are series.
#[derive(Debug, Clone)]
pub struct Chart {
    pub kind: ChartKind,
    pub table: Table,
}

/// A headline figure; `key` marks it on the web page so tests can find it.
#[derive(Debug, Clone)]
pub struct Figure {
    pub key: &'static str,
    pub label: &'static str,
    pub value: Option<f64>,
    pub kind: Kind,
    pub unit: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Domain {
    Academic,
    Budget,
    Personnel,
    General,
}

impl Domain {
    pub const ALL: [Domain; 4] = [Domain::Academic, Domain::Budget, Domain::Personnel, Domain::General];

    pub fn key(self) -> &'static str {
        match self {
            Domain::Academic => "academic",
            Domain::Budget => "budget",
            Domain::Personnel => "personnel",
            Domain::General => "general",
        }
    }

    pub fn parse(s: &str) -> Option<Domain> {
        Domain::ALL.into_iter().find(|d| d.key() == s)
    }

    pub fn title(self) -> &'static str {
        match self {
            Domain::Academic => msg::ACADEMIC,
            Domain::Budget => msg::BUDGET,
            Domain::Personnel => msg::PERSONNEL,
            Domain::General => msg::GENERAL,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Section {
    pub domain: Domain,
    pub figures: Vec<Figure>,
    pub charts: Vec<Chart>,
    pub tables: Vec<Table>,
    /// Definitions of the indicators shown (the report's footnotes).
    pub notes: Vec<String>,
}

/// One school's line in the area's school list (drill-down, staffing, small schools).
#[derive(Debug, Clone)]
pub struct SchoolRow {
    pub code: String,
    pub name: String,
    pub district: String,
    pub students: i64,
    pub classrooms: i64,
    pub teachers: i64,
    pub required: i64,
    pub gap: i64,
    pub size_band: String,
}

/// Which data a report was computed from, so it can be reproduced.
#[derive(Debug, Clone)]
pub struct Version {
    /// The published warehouse state (0: nothing published).
    pub commit: u64,
    pub published_at: Option<DateTime<Utc>>,
    pub tables: Vec<(String, u64)>,
    pub generated_at: DateTime<Utc>,
}

impl Version {
    /// What the report was computed from: snapshot, fiscal year, published state, table versions.
    pub fn describe(&self, snapshot: NaiveDate, fiscal_year: i32) -> String {
        let tables: Vec<String> = self.tables.iter().map(|(t, v)| format!("{t} v{v}")).collect();
        format!(
            "{} {} · {} {} · {} {}{} · {}",
            msg::SNAPSHOT,
            crate::thai::date_be(&snapshot.to_string()),
            msg::FISCAL_YEAR,
            fiscal_year,
            msg::DATA_VERSION,
            self.commit,
            self.published_at.map(|t| format!(" ({})", crate::thai::datetime_be(t))).unwrap_or_default(),
            tables.join(", ")
        )
    }

    /// When this rendering was made (Thai time).
    pub fn generated(&self) -> String {
        format!("{} {}", msg::GENERATED, crate::thai::datetime_be(self.generated_at))
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    pub subject: Subject,
    pub name: String,
    pub area_code: String,
    pub area_name: String,
    pub province: String,
    pub snapshot: NaiveDate,
    pub snapshots: Vec<NaiveDate>,
    pub academic_year: i32,
    pub fiscal_year: i32,
    pub fiscal_years: Vec<i32>,
    pub version: Version,
    pub sections: Vec<Section>,
    pub schools: Vec<SchoolRow>,
}

impl Report {
    pub fn section(&self, d: Domain) -> Option<&Section> {
        self.sections.iter().find(|s| s.domain == d)
    }

    pub fn title(&self) -> String {
        format!("{} {}", msg::REPORT_TITLE, self.name)
    }

    /// The report as a printable document: the who and when lines, one part per domain.
    pub fn doc(&self) -> crate::doc::Doc {
        let mut who = match self.subject {
            Subject::Area(_) => format!("รหัสเขตพื้นที่ {}", self.subject.code()),
            Subject::School(_) => format!("รหัสโรงเรียน {} · {}", self.subject.code(), self.area_name),
        };
        if !self.province.is_empty() {
            who.push_str(&format!(" · จังหวัด{}", self.province));
        }
        let when = format!(
            "{} {} · {} {} · {} {}",
            msg::SNAPSHOT,
            crate::thai::date_be_long(&self.snapshot.to_string()),
            msg::ACADEMIC_YEAR,
            self.academic_year,
            msg::FISCAL_YEAR,
            self.fiscal_year
        );
        let parts = self
            .sections
            .iter()
            .map(|s| crate::doc::Part { title: s.domain.title().to_string(), sheet: s.domain.title().to_string(), figures: s.figures.clone(), charts: s.charts.clone(), tables: s.tables.clone(), notes: s.notes.clone() })
            .collect();
        crate::doc::Doc {
            heading: msg::REPORT_TITLE.to_string(),
            name: self.name.clone(),
            lines: vec![who, when],
            parts,
            footer: self.version.describe(self.snapshot, self.fiscal_year),
            generated: self.version.generated(),
            keywords: Domain::ALL.iter().map(|d| d.title().to_string()).collect(),
            summary: true,
        }
    }

    /// Cache key of one rendering (`what`) of this report: its own published state, never a newer one.
    pub fn rendering_key(&self, what: &str) -> String {
        format!("{}|{:?}|{}|{}|{what}", self.version.commit, self.subject, self.snapshot, self.fiscal_year)
    }
}

/// Rows of a query as cells: integers as `Int`, other numbers (decimals too) as `Num`, the rest as text.
pub(crate) async fn rows(ctx: &SessionContext, sql: &str) -> Result<Vec<Vec<Cell>>, ReportError> {
    let batches = ctx.sql(sql).await.map_err(|e| ReportError::Query(format!("{e} (in: {sql})")))?.collect().await.map_err(|e| ReportError::Query(format!("{e} (in: {sql})")))?;
    cells(&batches)
}

pub fn cells(batches: &[RecordBatch]) -> Result<Vec<Vec<Cell>>, ReportError> {
    let mut out = Vec::new();
    for b in batches {
        let mut cols: Vec<Box<dyn Fn(usize) -> Cell>> = Vec::new();
        for c in b.columns() {
            let cast = |t: &DataType| arrow::compute::cast(c, t).map_err(|e| ReportError::Query(e.to_string()));
            match c.data_type() {
                t if t.is_integer() => {
                    let a = cast(&DataType::Int64)?;
                    let a = a.as_any().downcast_ref::<Int64Array>().cloned().ok_or_else(|| ReportError::Query("integer column".into()))?;
                    cols.push(Box::new(move |i| if a.is_null(i) { Cell::Null } else { Cell::Int(a.value(i)) }));
                }
                t if t.is_numeric() => {
                    let a = cast(&DataType::Float64)?;
                    let a = a.as_any().downcast_ref::<Float64Array>().cloned().ok_or_else(|| ReportError::Query("number column".into()))?;
                    cols.push(Box::new(move |i| if a.is_null(i) { Cell::Null } else { Cell::Num(a.value(i)) }));
                }
                _ => {
                    let a = cast(&DataType::Utf8)?;
                    let a = a.as_any().downcast_ref::<StringArray>().cloned().ok_or_else(|| ReportError::Query("text column".into()))?;
                    cols.push(Box::new(move |i| if a.is_null(i) { Cell::Null } else { Cell::Text(a.value(i).to_string()) }));
                }
            }
        }
        for r in 0..b.num_rows() {
            out.push(cols.iter().map(|f| f(r)).collect());
        }
    }
    Ok(out)
}

/// Rows of a query for a page that shows what it can: a failure is logged and gives no rows.
pub async fn rows_or_none(ctx: &SessionContext, sql: &str) -> Vec<Vec<Cell>> {
    match rows(ctx, sql).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "page query failed");
            Vec::new()
        }
    }
}

/// The first row of a query (all NULL when there is none).
async fn one(ctx: &SessionContext, sql: &str, width: usize) -> Result<Vec<Cell>, ReportError> {
    Ok(rows(ctx, sql).await?.into_iter().next().unwrap_or_else(|| vec![Cell::Null; width]))
}

fn at(row: &[Cell], i: usize) -> Option<f64> {
    row.get(i).and_then(Cell::as_f64)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

fn pct(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    ratio(a, b).map(|r| (r * 1000.0).round() / 10.0)
}

fn fig(key: &'static str, label: &'static str, value: Option<f64>, kind: Kind, unit: &'static str) -> Figure {
    Figure { key, label, value, kind, unit }
}

/// Everything the report needs, resolved once: which snapshot, fiscal year and so on.
struct Ctx<'a> {
    ctx: &'a SessionContext,
    public: &'a SessionContext,
    subject: &'a Subject,
    f: String,
    snap: String,
    academic_year: i32,
    fiscal_year: i32,
    area_code: String,
}

/// Builds the report of `subject` through `ctx` (the reader's scoped session over `commit`);
/// `public` is a session of the published aggregates, for the area and national comparisons.
pub async fn build(ctx: &SessionContext, public: &SessionContext, commit: Option<&Commit>, subject: &Subject, params: &Params) -> Result<Report, ReportError> {
    let code = subject.code();
    let (name, area_code, province) = match subject {
        Subject::Area(c) => {
            let r = rows(ctx, &format!("SELECT a.area_name, a.area_code, p.name_th FROM areas a LEFT JOIN provinces p ON p.province_code = a.province_code WHERE a.area_code = '{c}'")).await?;
            let Some(r) = r.into_iter().next() else { return Err(ReportError::NotFound(format!("{} {code}", msg::NO_SUCH_AREA))) };
            (r[0].text(), r[1].text(), r[2].text())
        }
        Subject::School(c) => {
            let r = rows(ctx, &format!("SELECT s.school_name, s.area_code, p.name_th FROM schools s LEFT JOIN provinces p ON p.province_code = s.province_code WHERE s.school_code = '{c}'")).await?;
            let Some(r) = r.into_iter().next() else { return Err(ReportError::NotFound(format!("{} {code}", msg::NO_SUCH_SCHOOL))) };
            (r[0].text(), r[1].text(), r[2].text())
        }
    };
    let area_name = match subject {
        Subject::Area(_) => name.clone(),
        Subject::School(_) => rows(ctx, &format!("SELECT area_name FROM areas WHERE area_code = '{area_code}'")).await?.into_iter().next().map(|r| r[0].text()).unwrap_or_default(),
    };
    let f = subject.filter("");

    let snapshots: Vec<NaiveDate> = rows(ctx, &format!("SELECT DISTINCT snapshot_date FROM school_snapshot_summary WHERE {f} ORDER BY 1"))
        .await?
        .iter()
        .filter_map(|r| NaiveDate::parse_from_str(&r[0].text(), "%Y-%m-%d").ok())
        .collect();
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
    let academic_year = one(ctx, &format!("SELECT max(academic_year) FROM school_snapshot_summary WHERE {f} AND snapshot_date = DATE '{snap}'"), 1).await?[0]
        .as_i64()
        .unwrap_or(0) as i32;
    let fiscal_years: Vec<i32> = rows(ctx, &format!("SELECT DISTINCT fiscal_year FROM budget_lines WHERE {f} ORDER BY 1")).await?.iter().filter_map(|r| r[0].as_i64()).map(|y| y as i32).collect();
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

    let c = Ctx { ctx, public, subject, f, snap, academic_year, fiscal_year, area_code: area_code.clone() };
    let (schools, summary) = school_rows(&c).await?;
    // The four domains' queries run side by side over the one session (a cold report waited on each in turn).
    let (a, b, p, g) = tokio::try_join!(academic(&c, &summary), budget(&c, &summary), personnel(&c, &summary, &schools), general(&c, &summary, &schools))?;
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
struct Summary {
    schools: Option<f64>,
    students: Option<f64>,
    classrooms: Option<f64>,
    teachers: Option<f64>,
    required: Option<f64>,
    shortage: Option<f64>,
    surplus: Option<f64>,
    schools_short: Option<f64>,
    small: Option<f64>,
}

async fn school_rows(c: &Ctx<'_>) -> Result<(Vec<SchoolRow>, Summary), ReportError> {
    let list = rows(
        c.ctx,
        &format!(
            "SELECT s.school_code, sc.school_name, sc.district_code, s.students, s.classrooms, s.teachers, s.required_teachers, s.teacher_gap, s.size_band \
             FROM school_snapshot_summary s JOIN schools sc ON sc.school_code = s.school_code \
             WHERE {} AND s.snapshot_date = DATE '{}' ORDER BY sc.district_code, s.school_code",
            c.subject.filter("s."),
            c.snap
        ),
    )
    .await?;
    let schools: Vec<SchoolRow> = list
        .iter()
        .map(|r| SchoolRow {
            code: r[0].text(),
            name: r[1].text(),
            district: r[2].text(),
            students: r[3].as_i64().unwrap_or(0),
            classrooms: r[4].as_i64().unwrap_or(0),
            teachers: r[5].as_i64().unwrap_or(0),
            required: r[6].as_i64().unwrap_or(0),
            gap: r[7].as_i64().unwrap_or(0),
            size_band: r[8].text(),
        })
        .collect();
    let r = one(
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
    .await?;
    let s = Summary {
        schools: at(&r, 0),
        students: at(&r, 1),
        classrooms: at(&r, 2),
        teachers: at(&r, 3),
        required: at(&r, 4),
        shortage: at(&r, 5),
        surplus: at(&r, 6),
        schools_short: at(&r, 7),
        small: at(&r, 8),
    };
    Ok((schools, s))
}

const LEVELS: [&str; 4] = ["pre_primary", "primary", "lower_secondary", "upper_secondary"];

async fn academic(c: &Ctx<'_>, s: &Summary) -> Result<Section, ReportError> {
    let (f, snap) = (&c.f, &c.snap);
    let e = one(
        c.ctx,
        &format!(
            "SELECT sum(CASE WHEN status = 'dropped_out' THEN 1 ELSE 0 END), count(*), \
                    sum(CASE WHEN status = 'studying' AND disadvantaged THEN 1 ELSE 0 END), \
                    sum(CASE WHEN status = 'studying' AND disability > 0 THEN 1 ELSE 0 END), \
                    sum(CASE WHEN status = 'studying' THEN 1 ELSE 0 END) \
             FROM enrollments WHERE {f} AND snapshot_date = DATE '{snap}'"
        ),
        5,
    )
    .await?;
    let studying = at(&e, 4);
    let figures = vec![
        fig("students", msg::F_STUDENTS, s.students, Kind::Count, msg::U_PEOPLE),
        fig("schools", msg::F_SCHOOLS, s.schools, Kind::Count, msg::U_SCHOOLS),
        fig("classrooms", msg::F_CLASSROOMS, s.classrooms, Kind::Count, msg::U_ROOMS),
        fig("students_per_classroom", msg::F_STUDENTS_PER_CLASSROOM, ratio(s.students, s.classrooms).map(|r| (r * 10.0).round() / 10.0), Kind::Ratio, msg::U_PEOPLE),
        fig("dropouts", msg::F_DROPOUTS, at(&e, 0), Kind::Count, msg::U_PEOPLE),
        fig("dropout_rate", msg::F_DROPOUT_RATE, pct(at(&e, 0), at(&e, 1)), Kind::Percent, "%"),
        fig("disadvantaged_share", msg::F_DISADVANTAGED, pct(at(&e, 2), studying), Kind::Percent, "%"),
        fig("disabled_share", msg::F_DISABLED, pct(at(&e, 3), studying), Kind::Percent, "%"),
    ];

    let mut by_level = Table::new("students_by_level", msg::T_STUDENTS_BY_LEVEL, &[(msg::C_LEVEL, Kind::Text), (msg::C_MALE, Kind::Count), (msg::C_FEMALE, Kind::Count), (msg::C_TOTAL, Kind::Count)]);
    let levels = rows(
        c.ctx,
        &format!(
            "SELECT level, sum(CASE WHEN sex = 1 THEN 1 ELSE 0 END), sum(CASE WHEN sex = 2 THEN 1 ELSE 0 END), count(*) \
             FROM enrollments WHERE {f} AND snapshot_date = DATE '{snap}' AND status = 'studying' GROUP BY level"
        ),
    )
    .await?;
    for l in LEVELS {
        if let Some(r) = levels.iter().find(|r| r[0].text() == l) {
            by_level.rows.push(vec![Cell::Text(msg::level(l).into()), r[1].clone(), r[2].clone(), r[3].clone()]);
        }
    }

    let mut pyramid = Table::new("students_by_grade", msg::T_PYRAMID, &[(msg::C_GRADE, Kind::Text), (msg::C_MALE, Kind::Count), (msg::C_FEMALE, Kind::Count)]);
    for r in rows(
        c.ctx,
        &format!(
            "SELECT grade_order, sum(CASE WHEN sex = 1 THEN 1 ELSE 0 END), sum(CASE WHEN sex = 2 THEN 1 ELSE 0 END) \
             FROM enrollments WHERE {f} AND snapshot_date = DATE '{snap}' AND status = 'studying' GROUP BY grade_order ORDER BY grade_order"
        ),
    )
    .await?
    {
        let grade = r[0].as_i64().and_then(|o| reference::grade_by_order(o as i32)).map_or_else(|| r[0].text(), |g| g.thai.to_string());
        pyramid.rows.push(vec![Cell::Text(grade), r[1].clone(), r[2].clone()]);
    }

    let mut trend = Table::new(
        "students_trend",
        msg::T_TREND,
        &[(msg::C_SNAPSHOT, Kind::Text), (msg::C_STUDENTS, Kind::Count), (msg::C_CLASSROOMS, Kind::Count), (msg::C_TEACHERS, Kind::Count)],
    );
    for r in rows(
        c.ctx,
        &format!(
            "SELECT snapshot_date, sum(students), sum(classrooms), sum(teachers) FROM school_snapshot_summary \
             WHERE {f} AND academic_year BETWEEN {} AND {} AND snapshot_date <= DATE '{snap}' GROUP BY snapshot_date ORDER BY snapshot_date",
            c.academic_year - 4,
            c.academic_year
        ),
    )
    .await?
    {
        trend.rows.push(vec![Cell::Text(crate::thai::date_be(&r[0].text())), r[1].clone(), r[2].clone(), r[3].clone()]);
    }

    let tests = test_results(c).await?;
    let charts = vec![
        Chart { kind: ChartKind::Bars, table: by_level },
        Chart { kind: ChartKind::Pyramid, table: pyramid },
        Chart { kind: ChartKind::Trend, table: trend },
        Chart { kind: ChartKind::Bars, table: tests.1 },
    ];
    Ok(Section {
        domain: Domain::Academic,
        figures,
        charts,
        tables: vec![tests.0],
        notes: vec![msg::N_STUDENTS.into(), msg::N_STUDENTS_PER_CLASSROOM.into(), msg::N_DROPOUT.into(), msg::N_DISADVANTAGED.into(), msg::N_TESTS.into()],
    })
}

/// Test means of the subject against the area's and the nation's (from the published aggregates),
/// for the latest test year up to the snapshot's academic year.
async fn test_results(c: &Ctx<'_>) -> Result<(Table, Table), ReportError> {
    let f = &c.f;
    let year = one(c.ctx, &format!("SELECT max(academic_year) FROM test_results WHERE {f} AND academic_year <= {}", c.academic_year), 1).await?[0].as_i64();
    let is_school = matches!(c.subject, Subject::School(_));
    let mut cols: Vec<(&str, Kind)> = vec![(msg::C_TEST, Kind::Text), (msg::C_SUBJECT, Kind::Text), (msg::C_EXAMINEES, Kind::Count)];
    if is_school {
        cols.push((msg::C_SCHOOL_MEAN, Kind::Ratio));
    }
    cols.extend([(msg::C_AREA_MEAN, Kind::Ratio), (msg::C_NATION_MEAN, Kind::Ratio), (msg::C_DIFF_NATION, Kind::Ratio)]);
    let title = match year {
        Some(y) => format!("{} {y}", msg::T_TESTS),
        None => msg::T_TESTS.to_string(),
    };
    let mut table = Table::new("test_results", title.clone(), &cols);
    let mut chart = Table::new("test_chart", format!("{title} ({})", msg::C_MEAN), &[(msg::C_SUBJECT, Kind::Text), (if is_school { msg::C_SCHOOL_MEAN } else { msg::C_AREA_MEAN }, Kind::Ratio), (msg::C_NATION_MEAN, Kind::Ratio)]);
    let Some(year) = year else { return Ok((table, chart)) };
    let mine = rows(
        c.ctx,
        &format!(
            "SELECT test, subject, sum(examinees), round(sum(mean_score * examinees) / sum(examinees), 2) FROM test_results \
             WHERE {f} AND academic_year = {year} AND examinees > 0 GROUP BY test, subject ORDER BY test, subject"
        ),
    )
    .await?;
    let published = rows(
        c.public,
        &format!(
            "SELECT test, subject, round(sum(CASE WHEN area_code = '{a}' THEN mean_score * examinees END) / sum(CASE WHEN area_code = '{a}' THEN examinees END), 2), \
                    round(sum(mean_score * examinees) / sum(examinees), 2) \
             FROM public_test_results WHERE academic_year = {year} AND mean_score IS NOT NULL GROUP BY test, subject",
            a = c.area_code
        ),
    )
    .await?;
    for r in mine {
        let (test, subject) = (r[0].text(), r[1].text());
        let p = published.iter().find(|p| p[0].text() == test && p[1].text() == subject);
        let area = p.and_then(|p| p[2].as_f64());
        let nation = p.and_then(|p| p[3].as_f64());
        let own = r[3].as_f64();
        let diff = match (own, nation) {
            (Some(a), Some(b)) => Cell::Num(((a - b) * 100.0).round() / 100.0),
            _ => Cell::Null,
        };
        let num = |v: Option<f64>| v.map_or(Cell::Null, Cell::Num);
        let mut row = vec![Cell::Text(msg::test_name(&test).into()), Cell::Text(msg::subject(&subject).into()), r[2].clone()];
        if is_school {
            row.push(num(own));
            row.push(num(area));
        } else {
            row.push(num(area.or(own)));
        }
        row.push(num(nation));
        row.push(diff);
        table.rows.push(row);
        chart.rows.push(vec![Cell::Text(format!("{} {}", msg::test_name(&test), msg::subject(&subject))), num(own), num(nation)]);
    }
    Ok((table, chart))
}

async fn budget(c: &Ctx<'_>, s: &Summary) -> Result<Section, ReportError> {
    let (f, fy) = (&c.f, c.fiscal_year);
    let cats = rows(c.ctx, &format!("SELECT category, sum(allocated_baht), sum(disbursed_baht) FROM budget_lines WHERE {f} AND fiscal_year = {fy} GROUP BY category ORDER BY 2 DESC, 1")).await?;
    let mut by_cat = Table::new(
        "budget_by_category",
        format!("{} {fy}", msg::T_BUDGET_BY_CATEGORY),
        &[(msg::C_CATEGORY, Kind::Text), (msg::C_ALLOCATED, Kind::Money), (msg::C_DISBURSED, Kind::Money), (msg::C_RATE, Kind::Percent)],
    );
    let (mut allocated, mut disbursed) = (0.0, 0.0);
    let mut per_capita_allocated = 0.0;
    for r in &cats {
        let (a, d) = (r[1].as_f64().unwrap_or(0.0), r[2].as_f64().unwrap_or(0.0));
        allocated += a;
        disbursed += d;
        if r[0].text() == "per_capita_teaching" {
            per_capita_allocated = a;
        }
        by_cat.rows.push(vec![Cell::Text(msg::category(&r[0].text()).into()), Cell::Num(a), Cell::Num(d), pct(Some(d), Some(a)).map_or(Cell::Null, Cell::Num)]);
    }

    // Cumulative disbursement at the end of each quarter against the government's targets.
    let quarters = rows(c.ctx, &format!("SELECT fiscal_quarter, sum(disbursed_baht) FROM budget_lines WHERE {f} AND fiscal_year = {fy} GROUP BY fiscal_quarter")).await?;
    let mut progress = Table::new(
        "disbursement_by_quarter",
        format!("{} {fy}", msg::T_DISBURSEMENT),
        &[(msg::C_QUARTER, Kind::Text), (msg::C_CUMULATIVE_RATE, Kind::Percent), (msg::C_TARGET, Kind::Percent), (msg::C_DISBURSED_IN_QUARTER, Kind::Money), (msg::C_CUMULATIVE, Kind::Money)],
    );
    let mut cumulative = 0.0;
    // Quarters after the last one with any transaction have not happened yet (the current fiscal year).
    let last = quarters.iter().filter_map(|r| r[0].as_i64()).max().unwrap_or(0);
    for q in 1..=4 {
        let d = quarters.iter().find(|r| r[0].as_i64() == Some(q)).and_then(|r| r[1].as_f64()).unwrap_or(0.0);
        cumulative += d;
        let reached = |v: Cell| if q <= last { v } else { Cell::Null };
        progress.rows.push(vec![
            Cell::Text(format!("{} {q}", msg::QUARTER)),
            reached(pct(Some(cumulative), Some(allocated)).map_or(Cell::Null, Cell::Num)),
            reference::disbursement_target(fy, q as i32).map_or(Cell::Null, Cell::Num),
            reached(Cell::Num(d)),
            reached(Cell::Num(cumulative)),
        ]);
    }

    // Per-capita teaching subsidy due: half a year on each official (10 June) count whose term falls in the fiscal year.
    let counts = rows(
        c.ctx,
        &format!(
            "SELECT academic_year, sum(students_pre_primary), sum(students_primary), sum(students_lower_secondary), sum(students_upper_secondary) \
             FROM school_snapshot_summary WHERE {f} AND date_part('month', snapshot_date) = 6 AND academic_year IN ({}, {fy}) GROUP BY academic_year",
            fy - 1
        ),
    )
    .await?;
    let mut due_table = Table::new(
        "per_capita_due",
        format!("{} {fy}", msg::T_PER_CAPITA),
        &[(msg::C_LEVEL, Kind::Text), (msg::C_RATE_BAHT, Kind::Money), (msg::C_STUDENTS_TERM2, Kind::Count), (msg::C_STUDENTS_TERM1, Kind::Count), (msg::C_DUE, Kind::Money)],
    );
    let count_of = |year: i32, level: usize| counts.iter().find(|r| r[0].as_i64() == Some(i64::from(year))).and_then(|r| r.get(level + 1)).and_then(Cell::as_i64);
    let mut due = 0.0;
    for (i, l) in LEVELS.iter().enumerate() {
        let rate = reference::subsidy_rate("per_capita_teaching", l, fy).unwrap_or(0) as f64;
        let (t2, t1) = (count_of(fy - 1, i), count_of(fy, i));
        let d = rate * (t2.unwrap_or(0) as f64 + t1.unwrap_or(0) as f64) / 2.0;
        due += d;
        due_table.rows.push(vec![Cell::Text(msg::level(l).into()), Cell::Num(rate), t2.map_or(Cell::Null, Cell::Int), t1.map_or(Cell::Null, Cell::Int), Cell::Num(d)]);
    }
    due_table.rows.push(vec![Cell::Text(msg::C_TOTAL.into()), Cell::Null, Cell::Null, Cell::Null, Cell::Num(due)]);

    let figures = vec![
        fig("allocated", msg::F_ALLOCATED, Some(allocated), Kind::Money, msg::U_BAHT),
        fig("disbursed", msg::F_DISBURSED, Some(disbursed), Kind::Money, msg::U_BAHT),
        fig("disbursement_rate", msg::F_DISBURSEMENT_RATE, pct(Some(disbursed), Some(allocated)), Kind::Percent, "%"),
        fig("per_capita_due", msg::F_PER_CAPITA_DUE, Some(due), Kind::Money, msg::U_BAHT),
        fig("per_capita_allocated", msg::F_PER_CAPITA_ALLOCATED, Some(per_capita_allocated), Kind::Money, msg::U_BAHT),
        fig("spending_per_student", msg::F_SPENDING_PER_STUDENT, ratio(Some(disbursed), s.students).map(|r| r.round()), Kind::Money, msg::U_BAHT),
    ];
    let mut alloc_chart = Table::new("budget_chart", format!("{} {fy}", msg::T_BUDGET_BY_CATEGORY), &[(msg::C_CATEGORY, Kind::Text), (msg::C_ALLOCATED, Kind::Money), (msg::C_DISBURSED, Kind::Money)]);
    alloc_chart.rows = by_cat.rows.iter().map(|r| r[..3].to_vec()).collect();
    let mut progress_chart = Table::new("disbursement_chart", format!("{} {fy}", msg::T_DISBURSEMENT), &[(msg::C_QUARTER, Kind::Text), (msg::C_CUMULATIVE_RATE, Kind::Percent), (msg::C_TARGET, Kind::Percent)]);
    progress_chart.rows = progress.rows.iter().map(|r| r[..3].to_vec()).collect();
    Ok(Section {
        domain: Domain::Budget,
        figures,
        charts: vec![Chart { kind: ChartKind::Bars, table: alloc_chart }, Chart { kind: ChartKind::Progress, table: progress_chart }],
        tables: vec![by_cat, progress, due_table],
        notes: vec![msg::N_DISBURSEMENT.into(), msg::N_TARGET.into(), msg::N_PER_CAPITA.into(), msg::N_SPENDING.into()],
    })
}

async fn personnel(c: &Ctx<'_>, s: &Summary, schools: &[SchoolRow]) -> Result<Section, ReportError> {
    let f = &c.f;
    let as_of = one(c.ctx, &format!("SELECT max(as_of_date) FROM personnel WHERE {f} AND as_of_date <= DATE '{}'", c.snap), 1).await?[0].text();
    let as_of = if as_of.is_empty() { one(c.ctx, &format!("SELECT max(as_of_date) FROM personnel WHERE {f}"), 1).await?[0].text() } else { as_of };
    let on = if as_of.is_empty() { "FALSE".to_string() } else { format!("as_of_date = DATE '{as_of}'") };

    let mut by_position = Table::new(
        "staff_by_position",
        format!("{} ({} {})", msg::T_STAFF_BY_POSITION, msg::AS_OF, crate::thai::date_be(&as_of)),
        &[(msg::C_POSITION, Kind::Text), (msg::C_MALE, Kind::Count), (msg::C_FEMALE, Kind::Count), (msg::C_TOTAL, Kind::Count)],
    );
    let positions = rows(
        c.ctx,
        &format!("SELECT position, sum(CASE WHEN sex = 1 THEN 1 ELSE 0 END), sum(CASE WHEN sex = 2 THEN 1 ELSE 0 END), count(*) FROM personnel WHERE {f} AND {on} GROUP BY position"),
    )
    .await?;
    for p in msg::POSITIONS {
        if let Some(r) = positions.iter().find(|r| r[0].text() == p) {
            by_position.rows.push(vec![Cell::Text(msg::position(p).into()), r[1].clone(), r[2].clone(), r[3].clone()]);
        }
    }
    let mut by_standing = Table::new("staff_by_standing", msg::T_STAFF_BY_STANDING, &[(msg::C_STANDING, Kind::Text), (msg::C_MALE, Kind::Count), (msg::C_FEMALE, Kind::Count)]);
    let standings = rows(
        c.ctx,
        &format!(
            "SELECT academic_standing, sum(CASE WHEN sex = 1 THEN 1 ELSE 0 END), sum(CASE WHEN sex = 2 THEN 1 ELSE 0 END) FROM personnel \
             WHERE {f} AND {on} AND position IN ('director', 'deputy_director', 'teacher') GROUP BY academic_standing"
        ),
    )
    .await?;
    for st in msg::STANDINGS {
        if let Some(r) = standings.iter().find(|r| r[0].text() == st) {
            by_standing.rows.push(vec![Cell::Text(msg::standing(st).into()), r[1].clone(), r[2].clone()]);
        }
    }

    use chrono::Datelike as _;
    let snapshot_fy = NaiveDate::parse_from_str(&c.snap, "%Y-%m-%d").map(|d| reference::fiscal_year_quarter(d.year(), d.month()).0).unwrap_or(c.fiscal_year);
    let mut retirements = Table::new(
        "retirements",
        format!("{} {}–{}", msg::T_RETIREMENTS, snapshot_fy, snapshot_fy + 4),
        &[(msg::C_FISCAL_YEAR, Kind::Text), (msg::C_TEACHERS, Kind::Count), (msg::C_DIRECTORS, Kind::Count), (msg::C_OTHER_STAFF, Kind::Count), (msg::C_TOTAL, Kind::Count)],
    );
    let ret = rows(
        c.ctx,
        &format!(
            "SELECT retirement_fiscal_year, sum(CASE WHEN position IN ('teacher', 'assistant_teacher') THEN 1 ELSE 0 END), \
                    sum(CASE WHEN position IN ('director', 'deputy_director') THEN 1 ELSE 0 END), \
                    sum(CASE WHEN position NOT IN ('teacher', 'assistant_teacher', 'director', 'deputy_director') THEN 1 ELSE 0 END), count(*) \
             FROM personnel WHERE {f} AND {on} AND retirement_fiscal_year BETWEEN {snapshot_fy} AND {} GROUP BY retirement_fiscal_year",
            snapshot_fy + 4
        ),
    )
    .await?;
    let mut retiring = 0;
    for y in snapshot_fy..=snapshot_fy + 4 {
        let r = ret.iter().find(|r| r[0].as_i64() == Some(i64::from(y)));
        let get = |i: usize| r.and_then(|r| r[i].as_i64()).unwrap_or(0);
        retiring += get(4);
        retirements.rows.push(vec![Cell::Text(y.to_string()), Cell::Int(get(1)), Cell::Int(get(2)), Cell::Int(get(3)), Cell::Int(get(4))]);
    }
    let mut subjects = Table::new("teachers_by_subject", msg::T_SUBJECTS, &[(msg::C_MAJOR, Kind::Text), (msg::C_TEACHERS, Kind::Count)]);
    for r in rows(c.ctx, &format!("SELECT major_subject, count(*) FROM personnel WHERE {f} AND {on} AND position IN ('teacher', 'assistant_teacher') GROUP BY major_subject ORDER BY 2 DESC, 1")).await? {
        subjects.rows.push(vec![Cell::Text(msg::subject(&r[0].text()).into()), r[1].clone()]);
    }
    let mut staffing = Table::new(
        "staffing_by_school",
        msg::T_STAFFING,
        &[(msg::C_SCHOOL_CODE, Kind::Text), (msg::C_SCHOOL, Kind::Text), (msg::C_STUDENTS, Kind::Count), (msg::C_TEACHERS, Kind::Count), (msg::C_REQUIRED, Kind::Count), (msg::C_GAP, Kind::Count)],
    );
    let mut sorted: Vec<&SchoolRow> = schools.iter().collect();
    sorted.sort_by(|a, b| a.gap.cmp(&b.gap).then_with(|| a.code.cmp(&b.code)));
    for r in sorted {
        staffing.rows.push(vec![Cell::Text(r.code.clone()), Cell::Text(r.name.clone()), Cell::Int(r.students), Cell::Int(r.teachers), Cell::Int(r.required), Cell::Int(r.gap)]);
    }
    let mut retire_chart = Table::new("retirements_chart", retirements.title.clone(), &[(msg::C_FISCAL_YEAR, Kind::Text), (msg::C_TEACHERS, Kind::Count), (msg::C_DIRECTORS, Kind::Count), (msg::C_OTHER_STAFF, Kind::Count)]);
    retire_chart.rows = retirements.rows.iter().map(|r| r[..4].to_vec()).collect();
    let mut position_chart = Table::new("position_chart", by_position.title.clone(), &[(msg::C_POSITION, Kind::Text), (msg::C_MALE, Kind::Count), (msg::C_FEMALE, Kind::Count)]);
    position_chart.rows = by_position.rows.iter().map(|r| r[..3].to_vec()).collect();

    let staff: i64 = by_position.rows.iter().filter_map(|r| r[3].as_i64()).sum();
    let figures = vec![
        fig("staff", msg::F_STAFF, Some(staff as f64), Kind::Count, msg::U_PEOPLE),
        fig("teachers", msg::F_TEACHERS, s.teachers, Kind::Count, msg::U_PEOPLE),
        fig("required_teachers", msg::F_REQUIRED, s.required, Kind::Count, msg::U_POSTS),
        fig("teacher_shortage", msg::F_SHORTAGE, s.shortage, Kind::Count, msg::U_POSTS),
        fig("teacher_surplus", msg::F_SURPLUS, s.surplus, Kind::Count, msg::U_POSTS),
        fig("schools_short", msg::F_SCHOOLS_SHORT, s.schools_short, Kind::Count, msg::U_SCHOOLS),
        fig("students_per_teacher", msg::F_STUDENTS_PER_TEACHER, ratio(s.students, s.teachers).map(|r| (r * 10.0).round() / 10.0), Kind::Ratio, msg::U_PEOPLE),
        fig("retirements_5y", msg::F_RETIREMENTS, Some(retiring as f64), Kind::Count, msg::U_PEOPLE),
    ];
    Ok(Section {
        domain: Domain::Personnel,
        figures,
        charts: vec![Chart { kind: ChartKind::Stacked, table: position_chart }, Chart { kind: ChartKind::Stacked, table: retire_chart }],
        tables: vec![by_standing, subjects, staffing, retirements, by_position],
        notes: vec![msg::N_REQUIRED.into(), msg::N_GAP.into(), msg::N_RETIREMENT.into(), msg::N_STUDENTS_PER_TEACHER.into()],
    })
}

async fn general(c: &Ctx<'_>, s: &Summary, schools: &[SchoolRow]) -> Result<Section, ReportError> {
    let f = &c.f;
    let mut bands = Table::new("schools_by_size", msg::T_SIZE_BANDS, &[(msg::C_SIZE, Kind::Text), (msg::C_SCHOOLS, Kind::Count), (msg::C_STUDENTS, Kind::Count)]);
    for b in msg::BANDS {
        let of: Vec<&SchoolRow> = schools.iter().filter(|r| r.size_band == b).collect();
        bands.rows.push(vec![Cell::Text(msg::band(b).into()), Cell::Int(of.len() as i64), Cell::Int(of.iter().map(|r| r.students).sum())]);
    }
    let mut districts: BTreeMap<&str, [i64; 4]> = BTreeMap::new();
    for r in schools {
        let e = districts.entry(r.district.as_str()).or_default();
        if let Some(i) = msg::BANDS.iter().position(|b| *b == r.size_band) {
            e[i] += 1;
        }
    }
    let mut cols: Vec<(&str, Kind)> = vec![(msg::C_DISTRICT, Kind::Text)];
    cols.extend(msg::BANDS.iter().map(|b| (msg::band(b), Kind::Count)));
    let mut by_district = Table::new("schools_by_district", msg::T_BY_DISTRICT, &cols);
    for (d, n) in &districts {
        let mut row = vec![Cell::Text(khlang_query::reference::district_th(d))];
        row.extend(n.iter().map(|v| Cell::Int(*v)));
        by_district.rows.push(row);
    }
    let mut small = Table::new(
        "small_schools",
        msg::T_SMALL_SCHOOLS,
        &[(msg::C_SCHOOL_CODE, Kind::Text), (msg::C_SCHOOL, Kind::Text), (msg::C_DISTRICT, Kind::Text), (msg::C_STUDENTS, Kind::Count), (msg::C_TEACHERS, Kind::Count), (msg::C_GAP, Kind::Count)],
    );
    let mut small_rows: Vec<&SchoolRow> = schools.iter().filter(|r| r.size_band == "small").collect();
    small_rows.sort_by(|a, b| a.students.cmp(&b.students).then_with(|| a.code.cmp(&b.code)));
    for r in small_rows {
        small.rows.push(vec![Cell::Text(r.code.clone()), Cell::Text(r.name.clone()), Cell::Text(khlang_query::reference::district_th(&r.district)), Cell::Int(r.students), Cell::Int(r.teachers), Cell::Int(r.gap)]);
    }
    let mut buildings = Table::new("buildings_by_condition", msg::T_BUILDINGS, &[(msg::C_CONDITION, Kind::Text), (msg::C_BUILDINGS, Kind::Count), (msg::C_AREA_M2, Kind::Ratio)]);
    let b = rows(c.ctx, &format!("SELECT condition, count(*), round(sum(area_m2), 1) FROM buildings WHERE {f} GROUP BY condition")).await?;
    for cond in msg::CONDITIONS {
        let r = b.iter().find(|r| r[0].text() == cond);
        buildings.rows.push(vec![Cell::Text(msg::condition(cond).into()), r.map_or(Cell::Int(0), |r| r[1].clone()), r.map_or(Cell::Num(0.0), |r| r[2].clone())]);
    }
    let mut dltv = Table::new("dltv_equipment", msg::T_DLTV, &[(msg::C_ITEM, Kind::Text), (msg::C_INSTALLED, Kind::Count), (msg::C_WORKING, Kind::Count), (msg::C_WORKING_RATE, Kind::Percent)]);
    for r in rows(c.ctx, &format!("SELECT item, sum(installed), sum(working) FROM dltv_equipment WHERE {f} GROUP BY item ORDER BY item")).await? {
        dltv.rows.push(vec![Cell::Text(msg::item(&r[0].text()).into()), r[1].clone(), r[2].clone(), pct(r[2].as_f64(), r[1].as_f64()).map_or(Cell::Null, Cell::Num)]);
    }
    let mut internet = Table::new("internet", msg::T_INTERNET, &[(msg::C_CONNECTION, Kind::Text), (msg::C_SCHOOLS, Kind::Count)]);
    let net = rows(c.ctx, &format!("SELECT internet, count(*) FROM schools WHERE {f} AND status = 'open' GROUP BY internet")).await?;
    for k in msg::INTERNET {
        let n = net.iter().find(|r| r[0].text() == k).and_then(|r| r[1].as_i64()).unwrap_or(0);
        internet.rows.push(vec![Cell::Text(msg::internet(k).into()), Cell::Int(n)]);
    }
    let needs_repair: i64 = b.iter().filter(|r| r[0].text() != "good").filter_map(|r| r[1].as_i64()).sum();
    let dltv_installed: i64 = dltv.rows.iter().filter_map(|r| r[1].as_i64()).sum();
    let dltv_working: i64 = dltv.rows.iter().filter_map(|r| r[2].as_i64()).sum();
    let figures = vec![
        fig("schools_general", msg::F_SCHOOLS, s.schools, Kind::Count, msg::U_SCHOOLS),
        fig("small_schools", msg::F_SMALL, s.small, Kind::Count, msg::U_SCHOOLS),
        fig("small_share", msg::F_SMALL_SHARE, pct(s.small, s.schools), Kind::Percent, "%"),
        fig("buildings_needing_repair", msg::F_REPAIR, Some(needs_repair as f64), Kind::Count, msg::U_BUILDINGS),
        fig("dltv_working_rate", msg::F_DLTV, pct(Some(dltv_working as f64), Some(dltv_installed as f64)), Kind::Percent, "%"),
        fig("schools_offline", msg::F_OFFLINE, internet.rows.iter().find(|r| r[0].text() == msg::internet("none")).and_then(|r| r[1].as_f64()), Kind::Count, msg::U_SCHOOLS),
    ];
    let mut band_chart = bands.clone();
    band_chart.key = "size_chart";
    band_chart.columns.truncate(2);
    band_chart.rows.iter_mut().for_each(|r| r.truncate(2));
    let mut charts = vec![Chart { kind: ChartKind::Bars, table: band_chart }];
    if matches!(c.subject, Subject::Area(_)) {
        charts.push(Chart { kind: ChartKind::Stacked, table: by_district.clone() });
    }
    charts.push(Chart { kind: ChartKind::Bars, table: { let mut t = buildings.clone(); t.key = "buildings_chart"; t.columns.truncate(2); t.rows.iter_mut().for_each(|r| r.truncate(2)); t } });
    Ok(Section {
        domain: Domain::General,
        figures,
        charts,
        tables: vec![small, dltv, internet, by_district],
        notes: vec![msg::N_SIZE.into(), msg::N_REPAIR.into(), msg::N_DLTV.into()],
    })
}

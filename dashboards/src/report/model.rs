//! What a report is: its subject, the reader's choice of data, its sections of figures, charts and
//! tables, and the version of the data it was computed from.

use chrono::{DateTime, NaiveDate, Utc};
use khlang_query::reference;

use crate::msg;
pub use crate::table::{Cell, Column, Kind, Table};

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
    pub(super) fn filter(&self, alias: &str) -> String {
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

/// How much of a report to compute: all of it (the domain pages, the PDF, the workbook), or only
/// what the overview page shows (every figure and each domain's first chart), which is what a
/// director opens first and what should come quickest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Depth {
    Overview,
    Full,
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
            Subject::Area(_) => format!("{} {}", msg::AREA_CODE, self.subject.code()),
            Subject::School(_) => format!("{} {} · {}", msg::C_SCHOOL_CODE, self.subject.code(), self.area_name),
        };
        if !self.province.is_empty() {
            who.push_str(&format!(" · {}{}", msg::PROVINCE, self.province));
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

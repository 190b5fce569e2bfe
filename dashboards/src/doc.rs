//! A printable document: what the PDF and the XLSX renderers draw. The four-domain report and the
//! yearly report on the warehouse's use are both turned into one, so they print alike.

use maud::{Markup, html};

use crate::batch::FileFormat;
use crate::report::{Chart, Figure, ReportError, Table};

/// One part of a document: a chapter in the PDF, a sheet in the workbook.
#[derive(Debug, Clone)]
pub struct Part {
    pub title: String,
    /// The workbook sheet's name (Excel allows 31 characters).
    pub sheet: String,
    /// The headline figures, also listed together on the first page.
    pub figures: Vec<Figure>,
    pub charts: Vec<Chart>,
    pub tables: Vec<Table>,
    /// Definitions of what is counted (the footnotes).
    pub notes: Vec<String>,
}

impl Part {
    /// A part with nothing in it yet.
    pub fn new(title: impl Into<String>, sheet: impl Into<String>) -> Part {
        Part { title: title.into(), sheet: sheet.into(), figures: vec![], charts: vec![], tables: vec![], notes: vec![] }
    }
}

#[derive(Debug, Clone)]
pub struct Doc {
    /// The kind of document, e.g. ข้อมูลสารสนเทศ 4 ด้าน.
    pub heading: String,
    /// What it is about, e.g. the area's name.
    pub name: String,
    /// Grey lines under the name: codes, the snapshot and the year.
    pub lines: Vec<String>,
    pub parts: Vec<Part>,
    /// On every page: which data this was computed from.
    pub footer: String,
    /// On every page: when this rendering was made.
    pub generated: String,
    /// The PDF's keywords.
    pub keywords: Vec<String>,
    /// Above the numbered chapters: the headline figures of every part.
    pub summary: bool,
}

impl Doc {
    /// A list to send out rather than a report: no lines under the name, no footer, and parts of
    /// tables only (no figures, charts or notes). A workbook lays it out as a plain list.
    pub fn is_list(&self) -> bool {
        self.lines.is_empty() && self.footer.is_empty() && self.generated.is_empty() && self.parts.iter().all(|p| p.figures.is_empty() && p.charts.is_empty() && p.notes.is_empty())
    }

    pub fn title(&self) -> String {
        format!("{} {}", self.heading, self.name)
    }

    /// The document as a file: PDF, XLSX, or a web page of its own.
    pub fn render(&self, format: FileFormat) -> Result<Vec<u8>, ReportError> {
        match format {
            FileFormat::Pdf => crate::pdf::render(self),
            FileFormat::Xlsx => crate::xlsx::render(self),
            FileFormat::Html => Ok(crate::html::page(&self.title(), html(self)).into_string().into_bytes()),
        }
    }
}

/// The document as the body of a web page: each part's figures, charts (with their tables) and tables.
pub fn html(d: &Doc) -> Markup {
    html! {
        @for line in &d.lines { p.meta { (line) } }
        @for (n, p) in d.parts.iter().enumerate() {
            section.domain {
                h2 { (n + 1) ". " (p.title) }
                (crate::html::figures(&p.figures))
                @for c in &p.charts { (crate::html::chart(c, None)) }
                @for t in p.tables.iter().filter(|t| !t.rows.is_empty()) { (crate::html::table(t)) }
                @if !p.notes.is_empty() { ul.meta { @for note in &p.notes { li { (note) } } } }
            }
        }
        p.meta { (d.footer) " · " (d.generated) }
    }
}

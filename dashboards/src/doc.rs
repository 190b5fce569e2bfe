//! A printable document: what the PDF and the XLSX renderers draw. The four-domain report and the
//! yearly report on the warehouse's use are both turned into one, so they print alike.

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
    pub fn title(&self) -> String {
        format!("{} {}", self.heading, self.name)
    }

    /// The document as a file: PDF, XLSX, or a web page of its own.
    pub fn render(&self, format: FileFormat) -> Result<Vec<u8>, ReportError> {
        match format {
            FileFormat::Pdf => crate::pdf::render(self),
            FileFormat::Xlsx => crate::xlsx::render(self),
            FileFormat::Html => Ok(crate::thai::page(&self.title(), &html(self)).into_bytes()),
        }
    }
}

/// The document as the body of a web page: each part's figures, charts (with their tables) and tables.
pub fn html(d: &Doc) -> String {
    use crate::pages::{chart_html, figures_html, table_html};
    let mut out = String::new();
    for line in &d.lines {
        out.push_str(&format!("<p class=\"meta\">{}</p>", crate::thai::escape(line)));
    }
    for (n, p) in d.parts.iter().enumerate() {
        out.push_str(&format!("<section class=\"domain\"><h2>{}. {}</h2>", n + 1, crate::thai::escape(&p.title)));
        out.push_str(&figures_html(&p.figures));
        for c in &p.charts {
            out.push_str(&chart_html(c));
        }
        for t in p.tables.iter().filter(|t| !t.rows.is_empty()) {
            out.push_str(&table_html(t));
        }
        if !p.notes.is_empty() {
            out.push_str("<ul class=\"meta\">");
            for note in &p.notes {
                out.push_str(&format!("<li>{}</li>", crate::thai::escape(note)));
            }
            out.push_str("</ul>");
        }
        out.push_str("</section>");
    }
    out.push_str(&format!("<p class=\"meta\">{} · {}</p>", crate::thai::escape(&d.footer), crate::thai::escape(&d.generated)));
    out
}

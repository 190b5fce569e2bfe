//! A document (the four-domain report, the yearly report on use) as an Excel workbook: one sheet per part, Thai headers, numbers stored as
//! numbers (with Thai number formats) so offices can go on calculating, each chart as a PNG beside its table.

use rust_xlsxwriter::{Format, FormatAlign, Image, Workbook, Worksheet, XlsxError};

use crate::doc::Doc;
use crate::report::{Cell, Kind, ReportError, Table};
use crate::{charts, fonts};

const FONT: &str = "TH Sarabun New";

fn xerr(e: XlsxError) -> ReportError {
    ReportError::Render { format: "XLSX", message: e.to_string() }
}

fn number_format(kind: Kind) -> &'static str {
    match kind {
        Kind::Money => "#,##0.00",
        Kind::Percent | Kind::Ratio => "#,##0.0",
        _ => "#,##0",
    }
}

/// A table at `row`: its title (unless `title` is `None`), the headers, the rows, a blank row;
/// `alone`: the only table of its sheet.
fn write_table(sheet: &mut Worksheet, row: &mut u32, t: &Table, title: Option<&Format>, head: &Format, text: &Format, alone: bool) -> Result<(), ReportError> {
    if let Some(title) = title {
        sheet.write_string_with_format(*row, 0, &t.title, title).map_err(xerr)?;
        *row += 1;
    }
    let header = *row;
    for (c, col) in t.columns.iter().enumerate() {
        sheet.write_string_with_format(*row, c as u16, &col.name, head).map_err(xerr)?;
    }
    *row += 1;
    for r in &t.rows {
        for (c, cell) in r.iter().enumerate() {
            let kind = t.columns.get(c).map_or(Kind::Text, |k| k.kind);
            let num = Format::new().set_font_name(FONT).set_font_size(14).set_num_format(number_format(kind));
            match cell {
                Cell::Text(s) => sheet.write_string_with_format(*row, c as u16, s, text).map(|_| ()),
                Cell::Int(i) => sheet.write_number_with_format(*row, c as u16, *i as f64, &num).map(|_| ()),
                Cell::Num(n) => sheet.write_number_with_format(*row, c as u16, *n, &num).map(|_| ()),
                Cell::Null => Ok(()),
            }
            .map_err(xerr)?;
        }
        *row += 1;
    }
    // A sheet of one long table (a list to send out, the rows to fix) gets filter buttons.
    if alone && !t.rows.is_empty() && !t.columns.is_empty() {
        sheet.autofilter(header, 0, *row - 1, t.columns.len() as u16 - 1).map_err(xerr)?;
    }
    *row += 1;
    Ok(())
}

/// The document as XLSX bytes: one sheet per part.
pub fn render(d: &Doc) -> Result<Vec<u8>, ReportError> {
    let mut book = Workbook::new();
    let text = Format::new().set_font_name(FONT).set_font_size(14);
    let head = Format::new().set_font_name(FONT).set_font_size(14).set_bold().set_background_color("#EEF2F7").set_text_wrap().set_align(FormatAlign::Center);
    let title = Format::new().set_font_name(FONT).set_font_size(16).set_bold().set_font_color("#1F3F66");
    let big = Format::new().set_font_name(FONT).set_font_size(20).set_bold();
    let grey = Format::new().set_font_name(FONT).set_font_size(12).set_font_color("#5A6B7D");
    for s in &d.parts {
        let sheet = book.add_worksheet();
        sheet.set_name(sheet_name(&s.sheet)).map_err(xerr)?;
        sheet.set_column_width(0, 34).map_err(xerr)?;
        for c in 1..8 {
            sheet.set_column_width(c, 18).map_err(xerr)?;
        }
        sheet.write_string_with_format(0, 0, format!("{} · {}", d.title(), s.title), &big).map_err(xerr)?;
        // A list to send out: the title, a blank row, then the headers on the third row and the rows
        // from the fourth, as the offices' lists are laid out.
        let alone = s.tables.len() == 1 && s.charts.is_empty();
        if d.is_list() {
            let mut row = 2;
            for t in &s.tables {
                write_table(sheet, &mut row, t, None, &head, &text, alone)?;
            }
            continue;
        }
        sheet.write_string_with_format(1, 0, d.lines.join(" · "), &grey).map_err(xerr)?;
        sheet.write_string_with_format(2, 0, format!("{} · {}", d.footer, d.generated), &grey).map_err(xerr)?;
        let mut row = 4;
        for f in &s.figures {
            sheet.write_string_with_format(row, 0, f.label, &text).map_err(xerr)?;
            if let Some(v) = f.value {
                let num = Format::new().set_font_name(FONT).set_font_size(14).set_bold().set_num_format(number_format(f.kind));
                sheet.write_number_with_format(row, 1, v, &num).map_err(xerr)?;
            }
            sheet.write_string_with_format(row, 2, f.unit, &text).map_err(xerr)?;
            row += 1;
        }
        row += 1;
        for c in &s.charts {
            if c.table.rows.is_empty() {
                continue;
            }
            let start = row;
            write_table(sheet, &mut row, &c.table, Some(&title), &head, &text, false)?;
            // The chart as a picture to the right of its data, for pasting into slides.
            if let Ok(png) = fonts::png(&charts::svg(c), 1.0) {
                let image = Image::new_from_buffer(&png).map_err(xerr)?.set_scale_width(0.75).set_scale_height(0.75).set_alt_text(&c.table.title);
                sheet.insert_image(start, 6, &image).map_err(xerr)?;
                // Leave room under a tall picture before the next table.
                let rows_drawn = row - start;
                let rows_needed = (image.height() * 0.75 / 20.0) as u32 + 2;
                row += rows_needed.saturating_sub(rows_drawn);
            }
        }
        for t in &s.tables {
            write_table(sheet, &mut row, t, Some(&title), &head, &text, alone)?;
        }
        for note in &s.notes {
            sheet.write_string_with_format(row, 0, format!("• {note}"), &grey).map_err(xerr)?;
            row += 1;
        }
    }
    book.save_to_buffer().map_err(xerr)
}

/// A part's title as a sheet name: Excel allows 31 characters and none of `[]:*?/\\`.
fn sheet_name(title: &str) -> String {
    title.chars().filter(|c| !"[]:*?/\\".contains(*c)).take(31).collect()
}

//! Writing feed files the way the ministry systems export them: UTF-8 or TIS-620, English or Thai
//! headers, ISO or Thai (day/month/BE) dates, CSV or XLSX.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::feeds::Feed;
use crate::IngestError;

/// How one file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStyle {
    pub format: FileFormat,
    pub thai: bool,
    pub bom: bool,
    pub crlf: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    CsvUtf8,
    CsvTis620,
    Xlsx,
}

impl FileStyle {
    pub const UTF8_EN: FileStyle = FileStyle { format: FileFormat::CsvUtf8, thai: false, bom: false, crlf: false };
    pub const UTF8_BOM_EN: FileStyle = FileStyle { format: FileFormat::CsvUtf8, thai: false, bom: true, crlf: true };
    pub const TIS620_TH: FileStyle = FileStyle { format: FileFormat::CsvTis620, thai: true, bom: false, crlf: true };
    pub const XLSX_TH: FileStyle = FileStyle { format: FileFormat::Xlsx, thai: true, bom: false, crlf: false };
    pub const XLSX_EN: FileStyle = FileStyle { format: FileFormat::Xlsx, thai: false, bom: false, crlf: false };

    pub fn extension(&self) -> &'static str {
        if self.format == FileFormat::Xlsx { "xlsx" } else { "csv" }
    }

    /// Dates as the source writes them: Thai systems use day/month/Buddhist-Era year.
    pub fn date(&self, y: i32, m: u32, d: u32) -> String {
        if self.thai { format!("{:02}/{:02}/{}", d, m, khlang_warehouse::office::be_year(y)) } else { format!("{:04}-{:02}-{:02}", y, m, d) }
    }
}

enum Sink {
    Csv { out: BufWriter<File>, line: Vec<u8>, tis620: bool, eol: &'static str },
    Xlsx { book: Box<rust_xlsxwriter::Workbook>, row: u32, path: PathBuf },
}

/// A feed file being written, one row at a time; `line()` is the row's line number in the file
/// (header = line 1), as the reader will report it.
pub struct FeedFile {
    sink: Sink,
    pub file_name: String,
    numeric: Vec<bool>,
    rows: u64,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> IngestError {
    IngestError::Write { path: path.display().to_string(), message: e.to_string() }
}

fn csv_field(s: &str, out: &mut String) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

impl FeedFile {
    pub fn create(dir: &Path, stem: &str, feed: &Feed, style: FileStyle, numeric_cols: &[&str]) -> Result<FeedFile, IngestError> {
        let file_name = format!("{}.{}", stem, style.extension());
        let path = dir.join(&file_name);
        let headers: Vec<&str> = feed.columns.iter().map(|c| if style.thai { c.thai } else { c.name }).collect();
        let numeric = feed.columns.iter().map(|c| numeric_cols.contains(&c.name)).collect();
        let sink = match style.format {
            FileFormat::Xlsx => {
                let mut book = rust_xlsxwriter::Workbook::new();
                // A fixed creation time keeps the file byte-identical for the same seed.
                let when = rust_xlsxwriter::ExcelDateTime::from_ymd(2026, 1, 1).map_err(|e| io_err(&path, e))?;
                book.set_properties(&rust_xlsxwriter::DocProperties::new().set_creation_datetime(&when));
                let sheet = book.add_worksheet_with_constant_memory().map_err(|e| io_err(&path, e))?;
                for (i, h) in headers.iter().enumerate() {
                    sheet.write_string(0, i as u16, *h).map_err(|e| io_err(&path, e))?;
                }
                Sink::Xlsx { book: Box::new(book), row: 1, path: path.clone() }
            }
            FileFormat::CsvUtf8 | FileFormat::CsvTis620 => {
                let mut out = BufWriter::with_capacity(1 << 20, File::create(&path).map_err(|e| io_err(&path, e))?);
                if style.bom {
                    out.write_all(b"\xEF\xBB\xBF").map_err(|e| io_err(&path, e))?;
                }
                let eol = if style.crlf { "\r\n" } else { "\n" };
                let mut f = FeedFile {
                    sink: Sink::Csv { out, line: Vec::new(), tis620: style.format == FileFormat::CsvTis620, eol },
                    file_name,
                    numeric,
                    rows: 0,
                };
                f.write_line(&headers.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
                f.rows = 0;
                return Ok(f);
            }
        };
        Ok(FeedFile { sink, file_name, numeric, rows: 0 })
    }

    /// Line number the next row will have.
    pub fn next_line(&self) -> u64 {
        self.rows + 2
    }

    pub fn write_row(&mut self, values: &[String]) -> Result<u64, IngestError> {
        let line = self.next_line();
        self.write_line(values)?;
        Ok(line)
    }

    fn write_line(&mut self, values: &[String]) -> Result<(), IngestError> {
        match &mut self.sink {
            Sink::Csv { out, line, tis620, eol } => {
                let mut s = String::with_capacity(256);
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    csv_field(v, &mut s);
                }
                s.push_str(eol);
                if *tis620 {
                    line.clear();
                    let (bytes, _, unmappable) = encoding_rs::WINDOWS_874.encode(&s);
                    if unmappable {
                        return Err(IngestError::Write {
                            path: self.file_name.clone(),
                            message: format!("text not representable in TIS-620: {s}"),
                        });
                    }
                    line.extend_from_slice(&bytes);
                    out.write_all(line)
                } else {
                    out.write_all(s.as_bytes())
                }
                .map_err(|e| IngestError::Write { path: self.file_name.clone(), message: e.to_string() })?;
            }
            Sink::Xlsx { book, row, path } => {
                let sheet = book.worksheet_from_index(0).map_err(|e| io_err(path, e))?;
                for (i, v) in values.iter().enumerate() {
                    let numeric = self.numeric.get(i).copied().unwrap_or(false);
                    match v.parse::<f64>() {
                        Ok(n) if numeric => sheet.write_number(*row, i as u16, n),
                        _ if v.is_empty() => Ok(&mut *sheet),
                        _ => sheet.write_string(*row, i as u16, v),
                    }
                    .map_err(|e| io_err(path, e))?;
                }
                *row += 1;
            }
        }
        self.rows += 1;
        Ok(())
    }

    pub fn finish(self) -> Result<u64, IngestError> {
        match self.sink {
            Sink::Csv { mut out, .. } => {
                out.flush().map_err(|e| IngestError::Write { path: self.file_name.clone(), message: e.to_string() })?;
            }
            Sink::Xlsx { mut book, path, .. } => {
                book.save(&path).map_err(|e| io_err(&path, e))?;
            }
        }
        Ok(self.rows)
    }
}

//! Result formats for exports: CSV, JSON, Arrow IPC, Parquet and XLSX for the HTTP API, and the
//! text and CSV lines of `COPY … TO STDOUT`. Every encoder takes the result a batch at a time, so
//! a large result streams out without being held whole.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

/// Excel's sheet holds 1,048,576 rows; one is the header.
pub const XLSX_MAX_ROWS: usize = 1_048_575;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Json,
    Csv,
    Arrow,
    Parquet,
    Xlsx,
}

impl ExportFormat {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Some(Self::Json),
            "csv" => Some(Self::Csv),
            "arrow" | "ipc" | "arrows" => Some(Self::Arrow),
            "parquet" => Some(Self::Parquet),
            "xlsx" | "excel" => Some(Self::Xlsx),
            _ => None,
        }
    }

    /// From an `Accept` header: the first media type we produce.
    pub fn from_accept(accept: &str) -> Option<Self> {
        accept.split(',').map(|m| m.split(';').next().unwrap_or("").trim()).find_map(|m| match m {
            "application/json" => Some(Self::Json),
            "text/csv" => Some(Self::Csv),
            "application/vnd.apache.arrow.stream" => Some(Self::Arrow),
            "application/vnd.apache.parquet" | "application/parquet" => Some(Self::Parquet),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => Some(Self::Xlsx),
            _ => None,
        })
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Arrow => "application/vnd.apache.arrow.stream",
            Self::Parquet => "application/vnd.apache.parquet",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Arrow => "arrows",
            Self::Parquet => "parquet",
            Self::Xlsx => "xlsx",
        }
    }

    /// Whether the result is an export (a file to keep) rather than a query answer, for the audit log.
    pub fn is_export(self) -> bool {
        !matches!(self, Self::Json)
    }
}

fn err(e: impl std::fmt::Display) -> ArrowError {
    ArrowError::ExternalError(e.to_string().into())
}

/// Writes a result a batch at a time; each call returns the bytes ready to send.
pub enum Encoder {
    Json { first: bool },
    Csv { header: bool },
    Arrow(Box<arrow::ipc::writer::StreamWriter<Vec<u8>>>),
    Parquet(Box<parquet::arrow::ArrowWriter<Vec<u8>>>),
    Xlsx { book: Box<rust_xlsxwriter::Workbook>, row: u32 },
}

impl Encoder {
    pub fn new(format: ExportFormat, schema: SchemaRef) -> Result<Self, ArrowError> {
        Ok(match format {
            ExportFormat::Json => Encoder::Json { first: true },
            ExportFormat::Csv => Encoder::Csv { header: true },
            ExportFormat::Arrow => Encoder::Arrow(Box::new(arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &schema)?)),
            ExportFormat::Parquet => Encoder::Parquet(Box::new(parquet::arrow::ArrowWriter::try_new(Vec::new(), schema, None).map_err(err)?)),
            ExportFormat::Xlsx => {
                let mut book = rust_xlsxwriter::Workbook::new();
                let sheet = book.add_worksheet_with_constant_memory().map_err(err)?;
                sheet.set_name("result").map_err(err)?;
                let bold = rust_xlsxwriter::Format::new().set_bold().set_font_name("Tahoma");
                for (c, f) in schema.fields().iter().enumerate() {
                    sheet.write_string_with_format(0, c as u16, f.name(), &bold).map_err(err)?;
                }
                Encoder::Xlsx { book: Box::new(book), row: 1 }
            }
        })
    }

    /// The opening bytes, before any row.
    pub fn start(&mut self) -> Vec<u8> {
        match self {
            Encoder::Json { .. } => b"[".to_vec(),
            Encoder::Arrow(w) => std::mem::take(w.get_mut()),
            _ => Vec::new(),
        }
    }

    pub fn batch(&mut self, b: &RecordBatch) -> Result<Vec<u8>, ArrowError> {
        match self {
            Encoder::Json { first } => {
                let mut buf = Vec::new();
                {
                    let mut w = arrow::json::LineDelimitedWriter::new(&mut buf);
                    w.write(b)?;
                    w.finish()?;
                }
                // One object per line (newlines inside values are escaped), joined with commas.
                let mut out = Vec::with_capacity(buf.len() + 8);
                for line in buf.split(|c| *c == b'\n').filter(|l| !l.is_empty()) {
                    if !*first {
                        out.push(b',');
                    }
                    *first = false;
                    out.extend_from_slice(line);
                }
                Ok(out)
            }
            Encoder::Csv { header } => {
                let mut buf = Vec::new();
                {
                    let mut w = arrow::csv::WriterBuilder::new().with_header(*header).build(&mut buf);
                    w.write(b)?;
                }
                *header = false;
                Ok(buf)
            }
            Encoder::Arrow(w) => {
                w.write(b)?;
                Ok(std::mem::take(w.get_mut()))
            }
            Encoder::Parquet(w) => {
                w.write(b).map_err(err)?;
                if w.in_progress_size() > 64 << 20 {
                    w.flush().map_err(err)?;
                }
                Ok(std::mem::take(w.inner_mut()))
            }
            Encoder::Xlsx { book, row } => {
                if *row as usize + b.num_rows() > XLSX_MAX_ROWS + 1 {
                    return Err(err(format!("the result has more rows than an Excel sheet holds ({XLSX_MAX_ROWS}); use CSV or Parquet, or narrow the query")));
                }
                let sheet = book.worksheet_from_index(0).map_err(err)?;
                write_xlsx_rows(sheet, *row, b)?;
                *row += b.num_rows() as u32;
                Ok(Vec::new())
            }
        }
    }

    /// The closing bytes.
    pub fn finish(self) -> Result<Vec<u8>, ArrowError> {
        match self {
            Encoder::Json { .. } => Ok(b"]".to_vec()),
            Encoder::Csv { .. } => Ok(Vec::new()),
            Encoder::Arrow(mut w) => {
                w.finish()?;
                Ok(std::mem::take(w.get_mut()))
            }
            Encoder::Parquet(w) => w.into_inner().map_err(err),
            Encoder::Xlsx { mut book, .. } => book.save_to_buffer().map_err(err),
        }
    }
}

/// Numbers as numbers, dates as Excel dates, everything else as text.
fn write_xlsx_rows(sheet: &mut rust_xlsxwriter::Worksheet, first_row: u32, b: &RecordBatch) -> Result<(), ArrowError> {
    let date_fmt = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    let text = rust_xlsxwriter::Format::new().set_font_name("Tahoma");
    let opts = FormatOptions::default();
    for (c, col) in b.columns().iter().enumerate() {
        let c = c as u16;
        let as_f64: Option<ArrayRef> = match col.data_type() {
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 | DataType::Float32 | DataType::Float64 | DataType::Decimal128(_, _) => {
                Some(arrow::compute::cast(col, &DataType::Float64)?)
            }
            _ => None,
        };
        if let Some(nums) = as_f64 {
            let nums = nums.as_any().downcast_ref::<arrow::array::Float64Array>().ok_or_else(|| err("number column"))?;
            for r in 0..b.num_rows() {
                if nums.is_valid(r) {
                    sheet.write_number(first_row + r as u32, c, nums.value(r)).map_err(err)?;
                }
            }
            continue;
        }
        if matches!(col.data_type(), DataType::Date32) {
            let d = col.as_any().downcast_ref::<arrow::array::Date32Array>().ok_or_else(|| err("date column"))?;
            for r in 0..b.num_rows() {
                if let Some(date) = d.is_valid(r).then(|| d.value_as_date(r)).flatten()
                    && let Ok(xd) = rust_xlsxwriter::ExcelDateTime::parse_from_str(&date.to_string())
                {
                    sheet.write_datetime_with_format(first_row + r as u32, c, &xd, &date_fmt).map_err(err)?;
                }
            }
            continue;
        }
        let f = ArrayFormatter::try_new(col.as_ref(), &opts)?;
        for r in 0..b.num_rows() {
            if col.is_valid(r) {
                sheet.write_string_with_format(first_row + r as u32, c, f.value(r).to_string(), &text).map_err(err)?;
            }
        }
    }
    Ok(())
}

/// One CSV line (with the newline) of plain values.
pub fn csv_line(values: &[String], delimiter: u8) -> String {
    let d = delimiter as char;
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(d);
        }
        if v.contains(d) || v.contains('"') || v.contains('\n') || v.contains('\r') {
            out.push('"');
            out.push_str(&v.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(v);
        }
    }
    out.push('\n');
    out
}

/// The rows of a batch as `COPY … TO STDOUT` lines: CSV (empty for null) or PostgreSQL's text
/// format (tab-separated, `\N` for null, backslash escapes).
pub fn copy_lines(b: &RecordBatch, csv: bool, delimiter: u8) -> Result<Vec<Vec<u8>>, ArrowError> {
    let opts = FormatOptions::default();
    let formatters: Vec<ArrayFormatter> = b.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &opts)).collect::<Result<_, _>>()?;
    let cols: Vec<&Arc<dyn Array>> = b.columns().iter().collect();
    let mut out = Vec::with_capacity(b.num_rows());
    for r in 0..b.num_rows() {
        let values: Vec<String> = formatters
            .iter()
            .zip(&cols)
            .map(|(f, c)| {
                if c.is_null(r) {
                    if csv { String::new() } else { "\\N".to_string() }
                } else if csv {
                    f.value(r).to_string()
                } else {
                    f.value(r).to_string().replace('\\', "\\\\").replace('\t', "\\t").replace('\n', "\\n").replace('\r', "\\r")
                }
            })
            .collect();
        let line = if csv { csv_line(&values, delimiter) } else { values.join(&(delimiter as char).to_string()) + "\n" };
        out.push(line.into_bytes());
    }
    Ok(out)
}

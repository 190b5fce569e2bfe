//! Reading one ministry pull: find each feed's files, detect the encoding (UTF-8 with or without BOM,
//! or TIS-620 / Windows-874), read CSV or XLSX, map English or Thai headers to canonical names, and
//! hand polars an all-text frame with each row's file and line for the rejected-rows report.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use calamine::{Data, Reader, Xlsx};
use polars::prelude::*;

use crate::IngestError;
use crate::feeds::{self, Feed};

/// Column names Khlang adds to every raw frame.
pub const FILE_COL: &str = "__file";
pub const LINE_COL: &str = "__line";

/// The files of one feed in a pull.
#[derive(Debug, Clone)]
pub struct FeedFiles {
    pub feed: Feed,
    pub files: Vec<PathBuf>,
}

/// Lists the feed files of a pull folder; every one of the eight feeds must be present.
pub fn discover(dir: &Path) -> Result<Vec<FeedFiles>, IngestError> {
    let entries = std::fs::read_dir(dir).map_err(|e| IngestError::Source { location: dir.display().to_string(), message: e.to_string() })?;
    let mut found: Vec<FeedFiles> = feeds::ALL.iter().map(|f| FeedFiles { feed: *f, files: Vec::new() }).collect();
    let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    names.sort();
    for path in names {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if name.starts_with('_') || name.starts_with('.') {
            continue;
        }
        match feeds::feed_of_file(&name) {
            Some(feed) => {
                if let Some(ff) = found.iter_mut().find(|ff| ff.feed.name == feed.name) {
                    ff.files.push(path);
                }
            }
            None => tracing::warn!(file = %path.display(), "ignoring a file that is not a feed of data-contract §1"),
        }
    }
    if let Some(missing) = found.iter().find(|ff| ff.files.is_empty()) {
        return Err(IngestError::MissingFeed { dir: dir.display().to_string(), feed: missing.feed.name.to_string() });
    }
    Ok(found)
}

/// Decodes a text file into UTF-8: UTF-8 (BOM stripped) or TIS-620 / Windows-874. Anything else is
/// refused. UTF-8 comes back as the same buffer (a national students file is half a gigabyte).
pub fn decode(file: &str, bytes: Vec<u8>) -> Result<Vec<u8>, IngestError> {
    decode_text(file, bytes).map(String::into_bytes)
}

/// `decode`, as text (the UTF-8 check done once).
pub fn decode_text(file: &str, mut bytes: Vec<u8>) -> Result<String, IngestError> {
    let bom = text_start(file, &bytes)?;
    bytes.drain(..bom);
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(e) => thai(file, e.as_bytes()),
    }
}

/// Where the text of a file's bytes starts (after a UTF-8 byte-order mark), or why they are not
/// text in UTF-8 or TIS-620 at all (UTF-16, a NUL byte).
fn text_start(file: &str, bytes: &[u8]) -> Result<usize, IngestError> {
    let enc_err = |message: String| IngestError::Encoding { file: file.to_string(), message };
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(enc_err("it is UTF-16; export it as UTF-8 or TIS-620".into()));
    }
    if let Some(pos) = memchr::memchr(0, bytes) {
        return Err(enc_err(format!("it holds a NUL byte at offset {pos}, so it is not text in UTF-8 or TIS-620")));
    }
    Ok(if bytes.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 })
}

/// Bytes that are not UTF-8, decoded as TIS-620 / Windows-874.
fn thai(file: &str, bytes: &[u8]) -> Result<String, IngestError> {
    match encoding_rs::WINDOWS_874.decode_without_bom_handling_and_without_replacement(bytes) {
        Some(s) => Ok(s.into_owned()),
        None => {
            let pos = bytes.iter().position(|b| matches!(b, 0xDB..=0xDE | 0xFC..=0xFF)).unwrap_or(0);
            Err(IngestError::Encoding {
                file: file.to_string(),
                message: format!("byte 0x{:02X} at offset {pos} is neither UTF-8 nor TIS-620", bytes.get(pos).copied().unwrap_or(0)),
            })
        }
    }
}

/// A file's text: the file itself, mapped into memory, when it is UTF-8 already (nothing copied, and
/// a national students file is half a gigabyte); otherwise decoded from TIS-620 into memory.
pub struct Text(TextIs);

enum TextIs {
    Decoded(String),
    /// The mapped file, and where its text starts (after a byte-order mark); checked to be UTF-8.
    Mapped(memmap2::Mmap, usize),
}

impl Text {
    /// Maps and checks the file at `path` (named `file` in errors).
    fn read(file: &str, path: &Path) -> Result<Text, IngestError> {
        let read_err = |e: std::io::Error| IngestError::Read { file: file.to_string(), message: e.to_string() };
        let f = std::fs::File::open(path).map_err(read_err)?;
        if f.metadata().map_err(read_err)?.len() == 0 {
            return Ok(Text::from(String::new()));
        }
        // SAFETY: the mapping is read only, and a load reads a pull that is complete: nothing
        // writes to its files while it runs (a pull, or the spool of one, is written before). A
        // file cut short during the load would stop the process where it is read past its new end,
        // before anything is published: the warehouse stays as it was.
        let map = unsafe { memmap2::MmapOptions::new().populate().map(&f) }.map_err(read_err)?;
        let start = text_start(file, &map)?;
        let body = map.get(start..).unwrap_or_default();
        // The vector instructions' UTF-8 check: half a gigabyte of students is checked on the
        // critical path of a load.
        Ok(if simdutf8::basic::from_utf8(body).is_ok() { Text(TextIs::Mapped(map, start)) } else { Text(TextIs::Decoded(thai(file, body)?)) })
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text(TextIs::Decoded(s))
    }
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        match &self.0 {
            TextIs::Decoded(s) => s,
            // SAFETY: checked to be UTF-8 when mapped (`Text::read`), and read only since.
            TextIs::Mapped(map, start) => unsafe { std::str::from_utf8_unchecked(map.get(*start..).unwrap_or_default()) },
        }
    }
}

/// Maps a header row to canonical names: `Some(name)` for a known column, `None` for an extra one.
fn map_headers(feed: &Feed, file: &str, headers: &[String]) -> Result<Vec<Option<&'static str>>, IngestError> {
    let mapped: Vec<Option<&'static str>> = headers.iter().map(|h| feed.canonical(h)).collect();
    for (h, m) in headers.iter().zip(&mapped) {
        if m.is_none() && !h.trim().is_empty() {
            tracing::warn!(file, column = h.as_str(), "ignoring a column that is not in the contract");
        }
    }
    for (i, m) in mapped.iter().enumerate() {
        if let Some(name) = m
            && mapped.iter().take(i).any(|earlier| *earlier == Some(name)) {
                return Err(IngestError::DuplicateColumn { file: file.to_string(), column: name.to_string() });
            }
    }
    for c in feed.columns.iter().filter(|c| c.required) {
        if !mapped.contains(&Some(c.name)) {
            return Err(IngestError::MissingColumn { file: file.to_string(), column: c.name.to_string(), thai: c.thai.to_string() });
        }
    }
    Ok(mapped)
}

/// Reads one file into an all-text frame with canonical column names plus `__file` and `__line`.
pub fn read_file(feed: &Feed, path: &Path) -> Result<DataFrame, IngestError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| IngestError::Read { file: file.clone(), message: e.to_string() })?;
    let lower = file.to_ascii_lowercase();
    if bytes.iter().all(u8::is_ascii_whitespace) || bytes == b"\xEF\xBB\xBF" {
        return Err(IngestError::Empty { file });
    }
    let df = if lower.ends_with(".xlsx") { read_xlsx(feed, &file, &bytes)? } else { read_csv(feed, &file, bytes)? };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    finish_frame(feed, &file, df, &name)
}

/// Reads a UTF-8 CSV spooled from another source (the ministry database), naming its rows `name`.
pub fn read_spooled_csv(feed: &Feed, path: &Path, name: &str) -> Result<DataFrame, IngestError> {
    let bytes = std::fs::read(path).map_err(|e| IngestError::Read { file: name.to_string(), message: e.to_string() })?;
    let df = read_csv(feed, name, bytes)?;
    finish_frame(feed, name, df, name)
}

/// The header line's fields.
fn headers(text: &[u8]) -> Vec<String> {
    let header_line = text.split(|b| *b == b'\n').next().unwrap_or_default();
    csv::ReaderBuilder::new().has_headers(false).from_reader(header_line).records().next().and_then(Result::ok).map(|r| r.iter().map(str::to_string).collect()).unwrap_or_default()
}

fn read_csv(feed: &Feed, file: &str, bytes: Vec<u8>) -> Result<DataFrame, IngestError> {
    let text = decode(file, bytes)?;
    let mapped = map_headers(feed, file, &headers(&text))?;
    let mut df = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .with_rechunk(false)
        .with_raise_if_empty(false)
        .map_parse_options(|p| p.with_separator(b',').with_quote_char(Some(b'"')).with_truncate_ragged_lines(true))
        .into_reader_with_file_handle(Cursor::new(text))
        .finish()
        .map_err(|e| IngestError::Read { file: file.to_string(), message: format!("not valid CSV: {e}") })?;
    // polars names columns by header text (renaming duplicates); rename positionally to canonical names.
    let names: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
    let mut keep = Vec::new();
    for (i, n) in names.iter().enumerate() {
        if let Some(Some(canonical)) = mapped.get(i) {
            df.rename(n, (*canonical).into()).map_err(|e| IngestError::Read { file: file.to_string(), message: e.to_string() })?;
            keep.push(canonical.to_string());
        }
    }
    let df = df.select(keep).map_err(|e| IngestError::Read { file: file.to_string(), message: e.to_string() })?;
    // Header is line 1; data rows follow one per line.
    df.with_row_index(LINE_COL.into(), Some(2)).map_err(|e| IngestError::Read { file: file.to_string(), message: e.to_string() })
}

fn cell_text(file: &str, row: u32, col: u32, cell: &Data) -> Result<Option<String>, IngestError> {
    Ok(match cell {
        Data::Empty => None,
        Data::String(s) => Some(s.clone()),
        Data::Int(i) => Some(i.to_string()),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Some(format!("{}", *f as i64)),
        Data::Float(f) => Some(f.to_string()),
        Data::Bool(b) => Some(b.to_string()),
        Data::DateTime(d) => d.as_datetime().map(|dt| dt.date().format("%Y-%m-%d").to_string()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => Some(s.clone()),
        Data::Error(e) => {
            return Err(IngestError::Xlsx { file: file.to_string(), message: format!("cell at row {}, column {} holds the Excel error {e:?}", row + 1, col + 1) });
        }
    })
}

fn read_xlsx(feed: &Feed, file: &str, bytes: &[u8]) -> Result<DataFrame, IngestError> {
    let xerr = |message: String| IngestError::Xlsx { file: file.to_string(), message };
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes.to_vec())).map_err(|e| xerr(format!("it is not a readable Excel workbook (truncated or damaged?): {e}")))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or_else(|| xerr("it has no worksheet".into()))?
        .map_err(|e| xerr(format!("its first worksheet cannot be read: {e}")))?;
    let (start_row, start_col) = range.start().unwrap_or((0, 0));
    let mut rows = range.rows().enumerate();
    // Header: the first non-empty row.
    let (header_idx, header) = loop {
        match rows.next() {
            Some((i, r)) if r.iter().any(|c| !matches!(c, Data::Empty)) => break (i, r),
            Some(_) => continue,
            None => return Err(IngestError::Empty { file: file.to_string() }),
        }
    };
    let headers: Vec<String> = header.iter().map(|c| c.to_string()).collect();
    let mapped = map_headers(feed, file, &headers)?;
    let mut cols: Vec<(usize, &'static str, Vec<Option<String>>)> =
        mapped.iter().enumerate().filter_map(|(i, m)| m.map(|name| (i, name, Vec::new()))).collect();
    let mut lines: Vec<i64> = Vec::new();
    for (i, r) in rows {
        if r.iter().all(|c| matches!(c, Data::Empty)) {
            continue;
        }
        let sheet_row = start_row + i as u32;
        lines.push(i64::from(sheet_row) + 1);
        for (ci, _, values) in cols.iter_mut() {
            let cell = r.get(*ci).unwrap_or(&Data::Empty);
            values.push(cell_text(file, sheet_row, start_col + *ci as u32, cell)?);
        }
    }
    let _ = header_idx;
    let height = lines.len();
    let mut columns: Vec<Column> = vec![Column::new(LINE_COL.into(), lines)];
    for (_, name, values) in cols {
        columns.push(Column::new(name.into(), values));
    }
    DataFrame::new(height, columns).map_err(|e| xerr(e.to_string()))
}

/// Adds absent optional columns as nulls, the file name, and puts `__line` as Int64.
fn finish_frame(feed: &Feed, file: &str, df: DataFrame, name: &str) -> Result<DataFrame, IngestError> {
    let mut lf = df.lazy();
    let present: Vec<String> = lf
        .collect_schema()
        .map_err(|e| IngestError::Read { file: file.to_string(), message: e.to_string() })?
        .iter_names()
        .map(|n| n.to_string())
        .collect();
    let mut add = vec![lit(name.to_string()).alias(FILE_COL), col(LINE_COL).cast(DataType::Int64)];
    for c in feed.columns {
        if !present.iter().any(|p| p == c.name) {
            add.push(lit(NULL).cast(DataType::String).alias(c.name));
        }
    }
    lf = lf.with_columns(add);
    let mut order: Vec<Expr> = vec![col(FILE_COL), col(LINE_COL)];
    order.extend(feed.columns.iter().map(|c| col(c.name).cast(DataType::String)));
    lf.select(order).collect().map_err(|e| IngestError::Read { file: file.to_string(), message: e.to_string() })
}

/// The feeds checked row by row (`rows`), read as text when they can be (`read_feed_text`).
const BY_ROW: [&str; 4] = [feeds::STUDENTS.name, feeds::PERSONNEL.name, feeds::BUDGET.name, feeds::TESTS.name];

/// A feed's files as its check reads them: as text for the feeds checked row by row (when they
/// can be), as a frame for the others.
pub fn read_for_check(ff: &FeedFiles) -> Result<Read, IngestError> {
    if BY_ROW.contains(&ff.feed.name) { read_feed_text(ff) } else { Ok(Read::Frame(read_feed(ff)?)) }
}

/// A feed as read: a frame of text columns, or (for the feeds of `BY_ROW` from CSV) the files' text itself.
pub enum Read {
    Frame(DataFrame),
    Csv(Vec<CsvText>),
}

/// A CSV file kept as its text, for a check that splits the rows itself (`rows`): polars' reader
/// would build a column of every field, which that check reads once and drops.
pub struct CsvText {
    /// The file's name, as rejected rows give it.
    pub name: String,
    /// The whole file, as text.
    pub text: Text,
    /// Where the first row starts (after the header line).
    pub body: usize,
    /// For each field of a line, the column it is (by its place in `Feed::columns`).
    pub fields: Vec<Option<usize>>,
}

/// The feed's files as text when every one is a CSV file without a quoted field: what a split on
/// commas and line ends reads exactly as polars does. Otherwise the frame polars reads.
pub fn read_feed_text(ff: &FeedFiles) -> Result<Read, IngestError> {
    let mut out = Vec::with_capacity(ff.files.len());
    for path in &ff.files {
        let file = path.display().to_string();
        if file.to_ascii_lowercase().ends_with(".xlsx") {
            return Ok(Read::Frame(read_feed(ff)?));
        }
        let text = Text::read(&file, path)?;
        if text.bytes().all(|b| b.is_ascii_whitespace()) {
            return Err(IngestError::Empty { file });
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        match csv_text(&ff.feed, &file, name, text)? {
            Some(text) => out.push(text),
            None => return Ok(Read::Frame(read_feed(ff)?)),
        }
    }
    Ok(Read::Csv(out))
}

/// A spooled feed as its check reads it (as `read_for_check`): `read_spooled_csv`, or its text
/// when the feed is checked row by row and the file has no quoted field.
pub fn read_spooled(feed: &Feed, path: &Path, name: &str) -> Result<Read, IngestError> {
    if !BY_ROW.contains(&feed.name) {
        return Ok(Read::Frame(read_spooled_csv(feed, path, name)?));
    }
    let text = Text::read(name, path)?;
    match csv_text(feed, name, name, text)? {
        Some(text) => Ok(Read::Csv(vec![text])),
        None => Ok(Read::Frame(read_spooled_csv(feed, path, name)?)),
    }
}

/// A CSV file's text with its header mapped; `None` when it has a quoted field (left to polars).
fn csv_text(feed: &Feed, file: &str, name: &str, text: Text) -> Result<Option<CsvText>, IngestError> {
    if memchr::memchr(b'"', text.as_bytes()).is_some() {
        return Ok(None);
    }
    let mapped = map_headers(feed, file, &headers(text.as_bytes()))?;
    let fields = mapped.iter().map(|m| m.and_then(|name| feed.columns.iter().position(|c| c.name == name))).collect();
    let body = text.find('\n').map_or(text.len(), |i| i + 1);
    tracing::info!(feed = feed.name, file, bytes = text.len(), "read");
    Ok(Some(CsvText { name: name.to_string(), text, body, fields }))
}

/// Reads every file of a feed and stacks them.
pub fn read_feed(ff: &FeedFiles) -> Result<DataFrame, IngestError> {
    let mut frames = Vec::new();
    for path in &ff.files {
        let df = read_file(&ff.feed, path)?;
        tracing::info!(feed = ff.feed.name, file = %path.display(), rows = df.height(), "read");
        frames.push(df.lazy());
    }
    let lf = concat(frames, UnionArgs::default()).map_err(|e| IngestError::Transform { feed: ff.feed.name.to_string(), message: e.to_string() })?;
    lf.collect().map_err(|e| IngestError::Transform { feed: ff.feed.name.to_string(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_utf8_bom_and_tis620() -> Result<(), IngestError> {
        assert_eq!(decode("a", "\u{feff}ชั้น".as_bytes().to_vec())?, "ชั้น".as_bytes());
        let (tis, _, _) = encoding_rs::WINDOWS_874.encode("ชั้น,เพศ");
        assert_eq!(decode("b", tis.into_owned())?, "ชั้น,เพศ".as_bytes());
        assert!(decode("c", b"\xFF\xFEa\0b\0".to_vec()).is_err());
        assert!(decode("d", b"abc\0def".to_vec()).is_err());
        assert!(decode("e", b"\xDB\xDC".to_vec()).is_err());
        Ok(())
    }
}

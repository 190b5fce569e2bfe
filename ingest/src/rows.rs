//! A feed checked row by row, on every core: the large feeds (`students`, `personnel`) are checked
//! this way instead of with the polars expressions of the others (`transform`), which build a column
//! for every step. From CSV (`read::Read::Csv`) the rows are split from the file's text here, without
//! building a column of every field first; from anything else (XLSX, a quoted CSV, the ministry
//! database) they are read from the frame a reader gave. A row's fields come as `Fields`, trimmed,
//! in the feed's column order; what a check rejects comes out as `transform::Checked::bad` does.

use arrow::record_batch::RecordBatch;
use polars::prelude::*;
use polars_arrow::array::Utf8ViewArray;
use rayon::prelude::*;

use crate::IngestError;
use crate::feeds::Feed;
use crate::read::{CsvText, FILE_COL, LINE_COL, Read};
use crate::transform::{DETAIL_COL, RAW_COL, RULE_COL};

/// A row's values, in the feed's column order, trimmed; `None` for a null (an empty CSV field).
pub type Fields<'a, const N: usize> = [Option<&'a str>; N];

/// A broken rule: its name and how the row broke it.
pub type Rejected = (&'static str, String);

fn err(feed: &str, message: impl std::fmt::Display) -> IngestError {
    IngestError::Transform { feed: feed.to_string(), message: message.to_string() }
}

/// A text column of the frame, read in place (its chunks as polars read them, not copied into one).
struct Text<'a> {
    chunks: Vec<&'a Utf8ViewArray>,
    starts: Vec<usize>,
}

impl<'a> Text<'a> {
    fn of(df: &'a DataFrame, feed: &str, name: &str) -> Result<Self, IngestError> {
        let ca = df.column(name).and_then(|c| c.str()).map_err(|e| err(feed, e))?;
        let chunks: Vec<&Utf8ViewArray> = ca.downcast_iter().collect();
        let mut starts = Vec::with_capacity(chunks.len());
        let mut at = 0;
        for c in &chunks {
            starts.push(at);
            at += c.len();
        }
        Ok(Text { chunks, starts })
    }

    /// The chunk holding `row`, and the row's place in it.
    fn locate(&self, row: usize) -> Option<(&'a Utf8ViewArray, usize)> {
        let i = self.starts.partition_point(|&s| s <= row).checked_sub(1)?;
        let (chunk, start) = (*self.chunks.get(i)?, *self.starts.get(i)?);
        (row - start < chunk.len()).then_some((chunk, row - start))
    }

    /// The value at `row` as read (not trimmed).
    fn get(&self, row: usize) -> Option<&'a str> {
        self.locate(row).and_then(|(c, i)| c.get(i))
    }
}

/// A run of rows that lies within one chunk of every column: each column read at an offset.
struct Segment<'a> {
    start: usize,
    cols: Vec<(&'a Utf8ViewArray, usize)>,
    file: (&'a Utf8ViewArray, usize),
}

impl<'a> Segment<'a> {
    /// The trimmed value of source column `c` at `row`.
    fn get(&self, c: usize, row: usize) -> Option<&'a str> {
        let (a, off) = self.cols.get(c)?;
        a.get(off + row - self.start).map(trim)
    }

    fn file(&self, row: usize) -> Option<&'a str> {
        let (a, off) = self.file;
        a.get(off + row - self.start)
    }
}

/// A run of rows (`start..end`, numbered across the input) read by one core.
pub struct Run<'a> {
    pub start: usize,
    pub end: usize,
    how: How<'a>,
}

enum How<'a> {
    Frame(Segment<'a>),
    /// `text`: whole lines of file `file`, starting at `at` of the input's text.
    Csv { file: &'a str, text: &'a str, at: u64, fields: &'a [Option<usize>] },
}

/// The input of a feed of `N` columns, read in runs and at any row.
pub struct Source<'a, const N: usize> {
    feed: &'static str,
    input: Input<'a>,
}

enum Input<'a> {
    Frame { cols: Vec<Text<'a>>, file: Text<'a>, lines: &'a Int64Chunked },
    /// Each file's text, numbered on from the one before (`bases`), and its first row (`first_rows`).
    Csv { files: &'a [CsvText], bases: Vec<u64>, first_rows: Vec<usize> },
}

/// The fields of one CSV line, by `fields` (each field's column): an empty field is null, as polars
/// reads it; fields past the header's are left out, missing ones are null.
pub fn split_line<'a, const N: usize>(line: &'a str, fields: &[Option<usize>]) -> Fields<'a, N> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut out: Fields<'a, N> = [None; N];
    // A comma is one byte that no other character's UTF-8 holds, so every cut is a character boundary.
    let mut start = 0;
    let mut field = fields.iter();
    let mut cut = |end: usize| {
        let Some(c) = field.next() else { return };
        if let (Some(slot), Some(v)) = (c.and_then(|c| out.get_mut(c)), line.get(start..end)) {
            *slot = (!v.is_empty()).then(|| trim(v));
        }
        start = end + 1;
    };
    commas(line.as_bytes(), &mut cut);
    cut(line.len());
    out
}

/// Calls `f` with the place of every comma of `line`, in order: eight bytes at a time, the commas
/// of a word found as its bytes equal to ',' (exactly: no carry crosses a byte).
fn commas(line: &[u8], mut f: impl FnMut(usize)) {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const COMMAS: u64 = 0x2C2C_2C2C_2C2C_2C2C;
    let mut words = line.chunks_exact(8);
    let mut at = 0;
    for w in words.by_ref() {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(w);
        let x = u64::from_le_bytes(bytes) ^ COMMAS;
        // A byte of x is zero (a comma) exactly when its high bit stays clear here.
        let mut found = !(((x & LOW7) + LOW7) | x) & HIGH;
        while found != 0 {
            f(at + (found.trailing_zeros() / 8) as usize);
            found &= found - 1;
        }
        at += 8;
    }
    for (i, b) in words.remainder().iter().enumerate() {
        if *b == b',' {
            f(at + i);
        }
    }
}

/// `str::trim`, without its look at the ends when they are plain ASCII letters or digits (nearly
/// every value).
pub fn trim(v: &str) -> &str {
    let plain = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_graphic());
    if plain(v.as_bytes().first()) && plain(v.as_bytes().last()) { v } else { v.trim() }
}

/// The line starting at `at` of `text`, without its end.
fn line_at(text: &str, at: usize) -> &str {
    let rest = text.get(at..).unwrap_or_default();
    rest.find('\n').map_or(rest, |end| rest.get(..end).unwrap_or_default())
}

/// Lines of a CSV file per run: enough runs for the cores to share, each of whole lines.
const RUN_BYTES: usize = 4 << 20;

impl<'a, const N: usize> Source<'a, N> {
    /// The input of `feed` (whose columns must be `names`, the check's) and, from a frame, its
    /// rows (from CSV they are counted by `runs`).
    pub fn new(input: &'a Read, feed: &'static Feed, names: &[&str; N]) -> Result<(Self, usize), IngestError> {
        let columns: Vec<&str> = feed.columns.iter().map(|c| c.name).collect();
        if columns != names {
            return Err(err(feed.name, format!("the feed's columns {columns:?} are not those this check reads")));
        }
        let name = feed.name;
        match input {
            Read::Frame(df) => {
                let cols = feed.columns.iter().map(|c| Text::of(df, name, c.name)).collect::<Result<Vec<_>, _>>()?;
                let file = Text::of(df, name, FILE_COL)?;
                let lines = df.column(LINE_COL).and_then(|c| c.i64()).map_err(|e| err(name, e))?;
                Ok((Source { feed: name, input: Input::Frame { cols, file, lines } }, df.height()))
            }
            Read::Csv(files) => {
                let mut bases = Vec::with_capacity(files.len());
                let mut base = 0u64;
                for f in files {
                    bases.push(base);
                    base += f.text.len() as u64;
                }
                Ok((Source { feed: name, input: Input::Csv { files, bases, first_rows: Vec::new() } }, 0))
            }
        }
    }

    /// The runs, in row order; for CSV, also numbers the rows (so `rows` is known after).
    pub fn runs(&mut self, rows: &mut usize) -> Result<Vec<Run<'a>>, IngestError> {
        let feed = self.feed;
        match &mut self.input {
            Input::Frame { cols, file, .. } => {
                // Cut where any column's chunk starts, so a run reads every column at an offset.
                let mut cuts: Vec<usize> = cols.iter().chain(std::iter::once(&*file)).flat_map(|t| t.starts.iter().copied()).chain([0, *rows]).collect();
                cuts.sort_unstable();
                cuts.dedup();
                let at = |t: &Text<'a>, row: usize| t.locate(row).ok_or_else(|| err(feed, format!("row {row} is missing from a column")));
                cuts.windows(2)
                    .filter_map(|w| match w {
                        [s, e] if s < e => Some((*s, *e)),
                        _ => None,
                    })
                    .map(|(start, end)| {
                        let seg = Segment { start, cols: cols.iter().map(|t| at(t, start)).collect::<Result<_, _>>()?, file: at(file, start)? };
                        Ok(Run { start, end, how: How::Frame(seg) })
                    })
                    .collect()
            }
            Input::Csv { files, bases, first_rows } => {
                let files: &'a [CsvText] = files;
                // Cut each file's lines into runs, then count every run's lines on every core.
                let mut cuts: Vec<(usize, &'a str, u64)> = Vec::new();
                for (k, (f, base)) in files.iter().zip(bases.iter()).enumerate() {
                    let mut at = f.body.min(f.text.len());
                    while at < f.text.len() {
                        let target = (at + RUN_BYTES).min(f.text.len());
                        // By bytes: a cut inside a Thai character is no place to look from as text.
                        let end = f.text.as_bytes().get(target..).and_then(|r| r.iter().position(|b| *b == b'\n')).map_or(f.text.len(), |i| target + i + 1);
                        cuts.push((k, f.text.get(at..end).unwrap_or_default(), base + at as u64));
                        at = end;
                    }
                }
                let counts: Vec<usize> = cuts.par_iter().map(|(_, text, _)| memchr::memchr_iter(b'\n', text.as_bytes()).count() + usize::from(!text.is_empty() && !text.ends_with('\n'))).collect();
                let mut runs = Vec::with_capacity(cuts.len());
                let mut row = 0;
                let mut cuts = cuts.into_iter().zip(counts).peekable();
                // Every file's first row, a file with no rows too (the next file's first row then).
                for (k, f) in files.iter().enumerate() {
                    first_rows.push(row);
                    while let Some(((_, text, at), n)) = cuts.next_if(|((of, _, _), _)| *of == k) {
                        runs.push(Run { start: row, end: row + n, how: How::Csv { file: &f.name, text, at, fields: &f.fields } });
                        row += n;
                    }
                }
                *rows = row;
                Ok(runs)
            }
        }
    }

    /// Row `row` (at `at` of the text, for CSV): its fields, file and line.
    pub fn row(&self, row: usize, at: u64) -> (Fields<'a, N>, &'a str, Option<i64>) {
        match &self.input {
            Input::Frame { cols, file, lines } => {
                let mut out: Fields<'a, N> = [None; N];
                for (slot, c) in out.iter_mut().zip(cols) {
                    *slot = c.get(row).map(str::trim);
                }
                (out, file.get(row).unwrap_or_default(), lines.get(row))
            }
            Input::Csv { files, bases, first_rows } => {
                let k = bases.partition_point(|b| *b <= at).saturating_sub(1);
                let (Some(f), Some(base)) = (files.get(k), bases.get(k)) else { return ([None; N], "", None) };
                let line = line_at(&f.text, usize::try_from(at - base).unwrap_or(usize::MAX));
                let first = first_rows.get(k).copied().unwrap_or(0);
                (split_line(line, &f.fields), &f.name, i64::try_from(row - first).ok().map(|n| n + 2))
            }
        }
    }

    /// The rejected rows as the other feeds give them: file, line, school code (the row's field
    /// `school`), rule, detail and the row's own text.
    pub fn rejected(&self, bad: &[Bad], school: usize) -> Result<DataFrame, IngestError> {
        let rows: Vec<(Fields<N>, &str, Option<i64>)> = bad.iter().map(|b| self.row(b.row, b.at)).collect();
        let columns = vec![
            Column::new(FILE_COL.into(), rows.iter().map(|r| r.1).collect::<Vec<_>>()),
            Column::new(LINE_COL.into(), rows.iter().map(|r| r.2).collect::<Vec<_>>()),
            Column::new("school_code".into(), rows.iter().map(|r| r.0.get(school).copied().flatten()).collect::<Vec<_>>()),
            Column::new(RULE_COL.into(), bad.iter().map(|b| b.rule).collect::<Vec<_>>()),
            Column::new(DETAIL_COL.into(), bad.iter().map(|b| b.detail.as_str()).collect::<Vec<_>>()),
            Column::new(RAW_COL.into(), rows.iter().map(|r| r.0.iter().map(|v| v.unwrap_or_default()).collect::<Vec<_>>().join(",")).collect::<Vec<_>>()),
        ];
        DataFrame::new(bad.len(), columns).map_err(|e| err(self.feed, e))
    }
}

/// Calls `f(row, fields, file, at)` for every row of `run`, in order.
pub fn scan<'a, const N: usize>(run: &Run<'a>, mut f: impl FnMut(usize, &Fields<'a, N>, &'a str, u64)) {
    match &run.how {
        How::Frame(seg) => {
            for row in run.start..run.end {
                let mut fields: Fields<'a, N> = [None; N];
                for (c, slot) in fields.iter_mut().enumerate() {
                    *slot = seg.get(c, row);
                }
                f(row, &fields, seg.file(row).unwrap_or_default(), row as u64);
            }
        }
        How::Csv { file, text, at, fields } => {
            let mut pos = 0;
            for row in run.start..run.end {
                let line = line_at(text, pos);
                f(row, &split_line(line, fields), file, at + pos as u64);
                pos += line.len() + 1;
            }
        }
    }
}

/// A rejected row: its row (and where it is, as `scan` gave it), the rule it broke and how.
pub struct Bad {
    pub row: usize,
    pub at: u64,
    pub rule: &'static str,
    pub detail: String,
}

/// Every row of `runs` checked by `check`, each run on the next free core: the rows' values in
/// row order (`T::default()` in a rejected row's place), the rejected rows in row order, and what
/// each run gathered besides in its own `S` (from `start`), in run order. `check` is given the
/// row's fields, file, where it is and its run's `S`.
pub fn check_all<'a, T, S, const N: usize>(
    runs: &[Run<'a>],
    rows: usize,
    start: impl Fn() -> S + Sync,
    check: impl Fn(&Fields<'a, N>, &'a str, u64, &mut S) -> Result<T, Rejected> + Sync,
) -> (Vec<T>, Vec<Bad>, Vec<S>)
where
    T: Default + Send,
    S: Send,
{
    // Filled on every core too: a national students snapshot's is half a gigabyte of fresh pages.
    let mut values: Vec<T> = Vec::with_capacity(rows);
    values.par_extend((0..rows).into_par_iter().map(|_| T::default()));
    let mut places = Vec::with_capacity(runs.len());
    let mut rest = values.as_mut_slice();
    for r in runs {
        let (mine, after) = rest.split_at_mut((r.end - r.start).min(rest.len()));
        places.push((r, mine));
        rest = after;
    }
    let checked: Vec<(Vec<Bad>, S)> = places
        .into_par_iter()
        .map(|(run, out)| {
            let mut bad = Vec::new();
            let mut gathered = start();
            let mut slots = out.iter_mut();
            scan(run, |row, fields, file, at| {
                let Some(slot) = slots.next() else { return };
                match check(fields, file, at, &mut gathered) {
                    Ok(v) => *slot = v,
                    Err((rule, detail)) => bad.push(Bad { row, at, rule, detail }),
                }
            });
            (bad, gathered)
        })
        .collect();
    let mut bad = Vec::new();
    let mut gathered = Vec::with_capacity(checked.len());
    for (b, s) in checked {
        bad.extend(b);
        gathered.push(s);
    }
    (values, bad, gathered)
}

/// A feed checked row by row: its good rows as batches of its table, in the order they came; its
/// rejected rows (as `transform::Checked::bad`); the values of its table's scope column among the
/// good rows (the snapshots, the fiscal or academic years), as text in text order.
pub struct Checked {
    /// Rows read.
    pub rows: u64,
    pub good: Vec<RecordBatch>,
    pub bad: DataFrame,
    pub values: Vec<String>,
}

/// A feed of `N` columns (`names`, in the feed's order) checked row by row by `check` on every
/// core. Each good row's scope value is `scope`, shown as `show` shows it; a row group's good rows
/// at a time are built into a batch by `batch`, each on the next free core. A rejected row's school
/// is its field `school`.
#[allow(clippy::too_many_arguments)]
pub fn check_feed<'a, T, const N: usize>(
    input: &'a Read,
    feed: &'static Feed,
    names: &[&str; N],
    school: usize,
    check: impl Fn(&Fields<'a, N>) -> Result<T, Rejected> + Sync,
    scope: impl Fn(&T) -> i32,
    show: fn(i32) -> String,
    batch: impl Fn(&[&T]) -> Result<RecordBatch, IngestError> + Sync,
) -> Result<Checked, IngestError>
where
    T: Send + Sync,
{
    let started = std::time::Instant::now();
    let (mut source, mut rows) = Source::<N>::new(input, feed, names)?;
    let runs = source.runs(&mut rows)?;
    let (values, bad, _) = check_all(&runs, rows, || (), |fields, _, _, _| check(fields).map(Some));
    let good: Vec<&T> = values.iter().flatten().collect();
    let keys: std::collections::BTreeSet<i32> = good.iter().map(|t| scope(t)).collect();
    // Distinct numbers show as distinct texts; only their order changes (a year 999 after 2569).
    let mut shown: Vec<String> = keys.into_iter().map(show).collect();
    shown.sort_unstable();
    let batches = good.par_chunks(khlang_warehouse::layout::ROW_GROUP_ROWS).map(&batch).collect::<Result<Vec<_>, _>>()?;
    let bad = source.rejected(&bad, school)?;
    tracing::debug!(feed = feed.name, rows, good = good.len(), rejected = bad.height(), seconds = started.elapsed().as_secs_f64(), "checked row by row");
    Ok(Checked { rows: rows as u64, good: batches, bad, values: shown })
}

/// Sex code (1 male, 2 female) of an upper-cased value.
pub fn sex_code(v: &str) -> Option<u8> {
    match v {
        "1" | "M" | "ช" | "ชาย" | "MALE" => Some(1),
        "2" | "F" | "ญ" | "หญิง" | "FEMALE" => Some(2),
        _ => None,
    }
}

/// A text column of the `n` values: their bytes counted first, so that the column is filled
/// without growing (a copy of everything written so far each time it grew).
pub fn strings<'s>(values: impl Iterator<Item = Option<&'s str>> + Clone, n: usize) -> arrow::array::ArrayRef {
    let bytes: usize = values.clone().map(|v| v.map_or(0, str::len)).sum();
    let mut b = arrow::array::StringBuilder::with_capacity(n, bytes);
    for v in values {
        b.append_option(v);
    }
    std::sync::Arc::new(b.finish())
}

/// A value that is not there or empty.
pub fn blank(v: Option<&str>) -> bool {
    v.is_none_or(str::is_empty)
}

/// ASCII upper case, copied only when some letter needs it (codes are ASCII; Thai has no case).
pub fn upper(v: &str) -> std::borrow::Cow<'_, str> {
    if v.bytes().any(|b| b.is_ascii_lowercase()) { std::borrow::Cow::Owned(v.to_ascii_uppercase()) } else { std::borrow::Cow::Borrowed(v) }
}

/// ASCII lower case, as `upper`.
pub fn lower(v: &str) -> std::borrow::Cow<'_, str> {
    if v.bytes().any(|b| b.is_ascii_uppercase()) { std::borrow::Cow::Owned(v.to_ascii_lowercase()) } else { std::borrow::Cow::Borrowed(v) }
}

/// A number with thousands separators allowed.
pub fn number<T: Number>(v: Option<&str>) -> Option<T> {
    let v = v?;
    // Plain text has no separators, so it is tried first, without a look for them.
    T::plain(v.as_bytes()).or_else(|| if v.contains(',') { v.replace(',', "").parse().ok() } else { v.parse().ok() })
}

/// A number type of the feeds, read at once when its text is plain (what nearly every value is):
/// an optional minus and up to fifteen digits, for a decimal with one point among them. `None`
/// leaves the text to `parse`, which gives the same value for plain text too.
pub trait Number: std::str::FromStr {
    fn plain(v: &[u8]) -> Option<Self>;
}

/// A plain decimal's text, read: its sign, its digits as one whole number, how many digits and how
/// many of them after the point.
struct Plain {
    negative: bool,
    whole: u64,
    digits: u32,
    after: u32,
}

/// Whether `v` starts with a minus, and the rest.
fn sign(v: &[u8]) -> (bool, &[u8]) {
    match v.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, v),
    }
}

/// `v` read when it is a minus (or not), then one to fifteen digits with at most one point among or
/// after them and at most `places` digits after it (and, when `commas`, thousands separators
/// anywhere); otherwise `None`. Fifteen digits fit a `u64` and a double exactly.
fn plain_decimal(v: &[u8], commas: bool, places: u32) -> Option<Plain> {
    let (negative, v) = sign(v);
    let mut p = Plain { negative, whole: 0, digits: 0, after: 0 };
    let mut point = false;
    for b in v {
        match b {
            b'0'..=b'9' if p.digits < 15 && !(point && p.after == places) => {
                p.whole = p.whole * 10 + u64::from(b - b'0');
                p.digits += 1;
                p.after += u32::from(point);
            }
            b'.' if !point => point = true,
            b',' if commas => {}
            _ => return None,
        }
    }
    (p.digits > 0).then_some(p)
}

impl Number for i32 {
    fn plain(v: &[u8]) -> Option<i32> {
        // A minus (or not) and one to nine digits: every such number fits.
        let (negative, digits) = sign(v);
        if digits.is_empty() || digits.len() > 9 {
            return None;
        }
        let mut n = 0i32;
        for b in digits {
            if !b.is_ascii_digit() {
                return None;
            }
            n = n * 10 + i32::from(b - b'0');
        }
        Some(if negative { -n } else { n })
    }
}

impl Number for f64 {
    fn plain(v: &[u8]) -> Option<f64> {
        // Fifteen digits are below 2^53 and 10^15 is a double too, so the one division is the
        // decimal's double, rounded once, exactly as `parse` rounds it.
        const TENS: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
        let p = plain_decimal(v, false, 15)?;
        let x = p.whole as f64 / TENS.get(p.after as usize).copied()?;
        Some(if p.negative { -x } else { x })
    }
}

/// Money (the tables' `MONEY`: baht, to the satang) from its text, thousands separators allowed.
/// Plain text (a minus, up to twelve digits before a point and two after it) is read here at once;
/// when any value is not plain, the column is left as text (separators dropped) for
/// `to_arrow::conform` to cast, as every value was before. Both give the same numbers.
pub fn money<'s>(values: impl Iterator<Item = &'s str> + Clone, n: usize) -> arrow::array::ArrayRef {
    let plain: Option<Vec<i128>> = values.clone().map(|v| plain_money(v.as_bytes())).collect();
    let (precision, scale) = match khlang_warehouse::schema::MONEY {
        arrow::datatypes::DataType::Decimal128(p, s) => (p, s),
        _ => (0, 0),
    };
    if let Some(Ok(a)) = plain.map(|v| arrow::array::Decimal128Array::from(v).with_precision_and_scale(precision, scale)) {
        return std::sync::Arc::new(a);
    }
    let mut text = arrow::array::StringBuilder::with_capacity(n, n * 12);
    for v in values {
        if v.contains(',') { text.append_value(v.replace(',', "")) } else { text.append_value(v) }
    }
    std::sync::Arc::new(text.finish())
}

/// Plain money text (as `money` says) in satang.
fn plain_money(v: &[u8]) -> Option<i128> {
    let p = plain_decimal(v, true, 2).filter(|p| p.digits - p.after <= 12)?;
    let satang = i128::from(p.whole) * 10i128.pow(2 - p.after);
    Some(if p.negative { -satang } else { satang })
}

/// A decimal as the rejected-rows detail shows it (`-3.0`, not `-3`), as polars writes a float.
pub fn decimal(v: f64) -> String {
    let s = v.to_string();
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'-') { format!("{s}.0") } else { s }
}

/// Days since 1970-01-01: days since 0001-01-01 less the 719,163 before 1970 (chrono's own
/// count, without a `Duration` per row).
pub fn days(d: chrono::NaiveDate) -> i32 {
    use chrono::Datelike;
    d.num_days_from_ce() - 719_163
}

/// Whole years from `birth` to `at`.
pub fn age(birth: chrono::NaiveDate, at: chrono::NaiveDate) -> i32 {
    use chrono::Datelike;
    let md = |d: chrono::NaiveDate| d.month() * 100 + d.day();
    at.year() - birth.year() - i32::from(md(at) < md(birth))
}

/// What the unit tests of the feeds checked row by row share.
#[cfg(test)]
pub mod testing {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::transform::Context;

    /// Two schools (grades 10-15 and 1-9) in two areas.
    pub fn ctx() -> Context {
        Context {
            school_codes: vec!["1056010002".into(), "1056010001".into()],
            school_areas: vec!["56010000".into(), "56020000".into()],
            school_low: vec![10, 1],
            school_high: vec![15, 9],
            area_codes: vec!["56010000".into(), "56020000".into()],
        }
    }

    /// A column of the good rows, as text.
    pub fn texts(b: &RecordBatch, name: &str) -> Vec<String> {
        let a = b.column_by_name(name).unwrap();
        (0..a.len()).map(|i| arrow::util::display::array_value_to_string(a.as_ref(), i).unwrap()).collect()
    }

    /// A column of the rejected rows, as text.
    pub fn rejected(c: &Checked, name: &str) -> Vec<Option<String>> {
        c.bad.column(name).unwrap().cast(&DataType::String).unwrap().str().unwrap().iter().map(|v| v.map(str::to_string)).collect()
    }

    /// The rejected rows are those of `lines`, and broke the rules of `expected` (rule, detail), in order.
    pub fn rejections(c: &Checked, lines: &[i64], expected: &[(&str, &str)]) {
        let found: Vec<Option<i64>> = c.bad.column(crate::read::LINE_COL).unwrap().i64().unwrap().iter().collect();
        assert_eq!(found, lines.iter().copied().map(Some).collect::<Vec<_>>());
        let (rules, details) = (rejected(c, crate::transform::RULE_COL), rejected(c, crate::transform::DETAIL_COL));
        for (i, (rule, detail)) in expected.iter().enumerate() {
            assert_eq!((rules[i].as_deref(), details[i].as_deref()), (Some(*rule), Some(*detail)), "rejected row {i}");
        }
    }

    /// `text` as file `name` of `feed`, read as the load reads it (or by polars, `by_frame`) and checked by `check`.
    pub fn checked(feed: Feed, name: &str, text: &str, by_frame: bool, check: impl Fn(Read) -> Result<Checked, IngestError>) -> Checked {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let ff = crate::read::FeedFiles { feed, files: vec![path] };
        let read = if by_frame { Read::Frame(crate::read::read_feed(&ff).unwrap()) } else { crate::read::read_feed_text(&ff).unwrap() };
        check(read).unwrap()
    }

    /// `text` (without quotes, so split here) checked from its text and from polars' frame: the
    /// same rows either way. Returns the rows read.
    pub fn same_both_ways(feed: Feed, name: &str, text: &str, check: impl Fn(Read) -> Result<Checked, IngestError>) -> u64 {
        let split = checked(feed, name, text, false, &check);
        let polars = checked(feed, name, text, true, &check);
        assert_eq!(split.rows, polars.rows);
        assert!(split.bad.equals_missing(&polars.bad), "{:?}\n{:?}", split.bad, polars.bad);
        assert_eq!(split.good, polars.good);
        assert_eq!(split.values, polars.values);
        split.rows
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::Datelike;

    #[test]
    fn plain_numbers_read_as_parse_reads_them() {
        let texts = ["0", "-0", "7", "-7", "20.5", "100.5", "0.1", "-3", "5.", ".5", "123456789", "1234567890", "999999999999999", "00012.50", "3.14159265358979"];
        for t in texts {
            assert_eq!(f64::plain(t.as_bytes()).map(f64::to_bits), t.parse::<f64>().ok().map(f64::to_bits), "{t}");
            assert_eq!(number::<f64>(Some(t)).map(f64::to_bits), t.parse::<f64>().ok().map(f64::to_bits), "{t}");
            assert_eq!(number::<i32>(Some(t)), t.parse::<i32>().ok(), "{t}");
        }
        for t in ["1,234", "-1,000", "12,345.5", "1,2,3", ",", "2147483647", "-2147483648", "2147483648", "999999999", "-999999999", "0000000001"] {
            assert_eq!(number::<i32>(Some(t)), t.replace(',', "").parse::<i32>().ok(), "{t}");
            assert_eq!(number::<f64>(Some(t)).map(f64::to_bits), t.replace(',', "").parse::<f64>().ok().map(f64::to_bits), "{t}");
        }
        // Not plain: left to `parse`, which reads some and refuses others.
        for t in ["", "-", ".", "1.2.3", "+5", "1e5", "inf", "NaN", " 5", "1234567890123456", "12a", "0.000000000000001", "1.7976931348623157", "123456789012345678901234567890"] {
            assert_eq!(f64::plain(t.as_bytes()), None, "{t}");
            assert_eq!(number::<f64>(Some(t)).map(f64::to_bits), t.parse::<f64>().ok().map(f64::to_bits), "{t}");
            assert_eq!(number::<i32>(Some(t)), t.parse::<i32>().ok(), "{t}");
        }
        // Every decimal of up to four places in a range, both ways.
        for n in (-20_000i64..20_000).step_by(7) {
            for places in 0..5usize {
                let digits = format!("{:0>width$}", n.unsigned_abs(), width = places + 1);
                let (int, frac) = digits.split_at(digits.len() - places);
                let t = format!("{}{int}{}{frac}", if n < 0 { "-" } else { "" }, if places > 0 { "." } else { "" });
                assert_eq!(number::<f64>(Some(&t)).map(f64::to_bits), t.parse::<f64>().ok().map(f64::to_bits), "{t}");
            }
        }
    }

    #[test]
    fn days_since_1970_as_a_duration_counts_them() {
        let mut d = chrono::NaiveDate::from_ymd_opt(1800, 1, 1).unwrap();
        while d.year() < 2300 {
            assert_eq!(i64::from(days(d)), (d - chrono::NaiveDate::default()).num_days(), "{d}");
            d += chrono::Duration::days(13);
        }
        assert_eq!(days(chrono::NaiveDate::default()), 0);
    }

    #[test]
    fn money_reads_as_the_cast_reads_it() {
        use arrow::array::{Array, Decimal128Array, StringArray};
        let cast = |texts: &[&str]| -> Vec<Option<i128>> {
            let text = StringArray::from(texts.iter().map(|t| t.replace(',', "")).collect::<Vec<_>>());
            let opts = arrow::compute::CastOptions { safe: false, ..Default::default() };
            let a = arrow::compute::cast_with_options(&text, &khlang_warehouse::schema::MONEY, &opts).unwrap();
            a.as_any().downcast_ref::<Decimal128Array>().unwrap().iter().collect()
        };
        let plain = ["0", "-0", "16512.00", "16,512.5", ".5", "5.", "-12.34", "999999999999.99", "-999,999,999,999", "00012.50", "1.2,3"];
        let a = money(plain.iter().copied(), plain.len());
        let read: Vec<Option<i128>> = a.as_any().downcast_ref::<Decimal128Array>().unwrap().iter().collect();
        assert_eq!(read, cast(&plain));
        assert_eq!(a.data_type(), &khlang_warehouse::schema::MONEY);
        // One value that is not plain (three places, rounded by the cast) leaves the column as text.
        for odd in ["1.235", "+5", "1e3", "0000000000012.5", " 5", "123456789012345678901234567890"] {
            let a = money(["5", odd].into_iter(), 2);
            let text: Vec<Option<&str>> = a.as_any().downcast_ref::<StringArray>().unwrap().iter().collect();
            assert_eq!(text, [Some("5"), Some(odd)], "{odd}");
        }
    }

    #[test]
    fn commas_are_found_in_every_place_of_a_word() {
        for line in ["", ",", "a,b", ",,,,,,,,,", "2569,2026-06-10,1056010001,ไทย,,x,", "abcdefgh,ijklmnop,qrstuvwx,", "ก,ข,ค,ง,จ,ฉ,ช,ซ,ฌ"] {
            let mut found = Vec::new();
            commas(line.as_bytes(), |i| found.push(i));
            let expected: Vec<usize> = line.bytes().enumerate().filter(|(_, b)| *b == b',').map(|(i, _)| i).collect();
            assert_eq!(found, expected, "{line:?}");
        }
    }
}

//! The one table model of the app and its one Arrow adapter: every page, report, chart, CSV and
//! XLSX shows a `Table` of `Cell`s, and every query result becomes cells through `cells`.

use arrow::array::{Array, Float64Array, Int64Array, StringArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use khlang_query::SessionContext;

use crate::report::ReportError;
use crate::thai;

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
    /// As the database prints it (a saved query's own columns): no grouping, no rounding.
    Plain,
    Count,
    Money,
    Percent,
    Ratio,
}

impl Kind {
    /// Shown right-aligned in Thai number format.
    pub fn is_number(self) -> bool {
        matches!(self, Kind::Count | Kind::Money | Kind::Percent | Kind::Ratio)
    }
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
    /// A query's result as it comes (a saved query's own columns, shown as the database prints them).
    pub fn of_result(key: &'static str, title: &str, batches: &[RecordBatch]) -> Result<Table, ReportError> {
        let columns = batches.first().map(|b| b.schema().fields().iter().map(|f| Column { name: f.name().clone(), kind: Kind::Plain }).collect()).unwrap_or_default();
        Ok(Table { key, title: title.to_string(), columns, rows: cells(batches)? })
    }

    /// Rewrites column `col` of every row with `label` (codes shown in Thai, dates in Buddhist Era).
    pub fn relabel(&mut self, col: usize, label: impl Fn(&Cell) -> String) {
        for c in self.rows.iter_mut().filter_map(|r| r.get_mut(col)) {
            *c = Cell::Text(label(c));
        }
    }

    pub fn new(key: &'static str, title: impl Into<String>, columns: &[(&str, Kind)]) -> Table {
        Table { key, title: title.into(), columns: columns.iter().map(|(n, k)| Column { name: n.to_string(), kind: *k }).collect(), rows: Vec::new() }
    }
}

/// Rows of a query as cells: integers as `Int`, other numbers (decimals too) as `Num`, the rest as text.
/// The query text is taken at the call, so queries built in place can run side by side (`try_join!`).
pub fn rows<'a>(ctx: &'a SessionContext, sql: impl Into<String>) -> impl Future<Output = Result<Vec<Vec<Cell>>, ReportError>> + 'a {
    let sql: String = sql.into();
    async move {
        let started = std::time::Instant::now();
        let batches = ctx.sql(&sql).await.map_err(|e| ReportError::Query(format!("{e} (in: {sql})")))?.collect().await.map_err(|e| ReportError::Query(format!("{e} (in: {sql})")))?;
        tracing::debug!(ms = started.elapsed().as_secs_f64() * 1000.0, sql, "page query");
        cells(&batches)
    }
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
pub fn one<'a>(ctx: &'a SessionContext, sql: impl Into<String>, width: usize) -> impl Future<Output = Result<Vec<Cell>, ReportError>> + 'a {
    let rows = rows(ctx, sql);
    async move { Ok(rows.await?.into_iter().next().unwrap_or_else(|| vec![Cell::Null; width])) }
}

/// A cell as the report prints it.
pub fn cell_text(c: &Cell, kind: Kind) -> String {
    match (c, kind) {
        (Cell::Null, Kind::Plain) => String::new(),
        (c, Kind::Plain) => c.text(),
        (Cell::Null, _) => "–".into(),
        (Cell::Text(s), _) => s.clone(),
        (c, Kind::Money) => c.as_f64().map(|v| thai::decimal(v, 2)).unwrap_or_default(),
        (c, Kind::Percent | Kind::Ratio) => c.as_f64().map(|v| thai::decimal(v, 1)).unwrap_or_default(),
        (Cell::Int(i), _) => thai::number(*i),
        (Cell::Num(n), _) => thai::decimal(*n, if n.fract() == 0.0 { 0 } else { 2 }),
    }
}

/// A figure's value as the report prints it.
pub fn figure_text(value: Option<f64>, kind: Kind) -> String {
    match value {
        None => "–".into(),
        Some(v) => match kind {
            Kind::Money => thai::decimal(v, if v.fract() == 0.0 { 0 } else { 2 }),
            Kind::Percent | Kind::Ratio => thai::decimal(v, 1),
            _ => thai::number(v.round() as i64),
        },
    }
}

static NULL: Cell = Cell::Null;

/// Reading a row's cells by position: a missing cell reads as NULL, never a panic.
pub trait Cells {
    fn at(&self, i: usize) -> &Cell;
}

impl Cells for [Cell] {
    fn at(&self, i: usize) -> &Cell {
        self.get(i).unwrap_or(&NULL)
    }
}

/// The one CSV writer: UTF-8 with a byte-order mark (so Excel opens Thai text as UTF-8), the
/// column names as the header, every cell as the database gives it (empty for NULL).
pub fn csv(t: &Table) -> Result<Vec<u8>, ReportError> {
    let werr = |e: csv::Error| ReportError::Render { format: "CSV", message: e.to_string() };
    let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    w.write_record(t.columns.iter().map(|c| c.name.as_str())).map_err(werr)?;
    for r in &t.rows {
        w.write_record(r.iter().map(Cell::text)).map_err(werr)?;
    }
    w.into_inner().map_err(|e| ReportError::Render { format: "CSV", message: e.to_string() })
}

//! Khlang query: a DataFusion session over the warehouse's Delta tables, and result formatting.

use arrow::record_batch::RecordBatch;
use datafusion::prelude::{SessionConfig, SessionContext};
use khlang_warehouse::{At, Warehouse, WarehouseError, schema};

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    Sql(String),
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error("cannot format the result as {format}: {message}")]
    Format { format: String, message: String },
}

impl From<datafusion::error::DataFusionError> for QueryError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        QueryError::Sql(e.to_string())
    }
}

/// The query service over one warehouse.
#[derive(Debug, Clone)]
pub struct QueryService {
    wh: Warehouse,
}

impl QueryService {
    pub fn new(wh: Warehouse) -> Self {
        Self { wh }
    }

    pub fn warehouse(&self) -> &Warehouse {
        &self.wh
    }

    /// A session with every contract table registered at its latest version and `information_schema`.
    pub async fn session(&self) -> Result<SessionContext, QueryError> {
        let config = SessionConfig::new().with_information_schema(true).with_default_catalog_and_schema("khlang", "public");
        let ctx = SessionContext::new_with_config(config);
        for name in schema::table_names() {
            if let Some(p) = self.wh.provider(name, At::Latest).await? {
                ctx.register_table(name, p)?;
            }
        }
        Ok(ctx)
    }

    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>, QueryError> {
        let ctx = self.session().await?;
        Ok(ctx.sql(sql).await?.collect().await?)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// Renders batches as an aligned text table, CSV with header, or a JSON array of objects.
pub fn format(batches: &[RecordBatch], format: Format) -> Result<String, QueryError> {
    let ferr = |f: &str, e: &dyn std::fmt::Display| QueryError::Format { format: f.into(), message: e.to_string() };
    match format {
        Format::Table => Ok(arrow::util::pretty::pretty_format_batches(batches).map_err(|e| ferr("table", &e))?.to_string()),
        Format::Csv => {
            let mut buf = Vec::new();
            {
                let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(&mut buf);
                for b in batches {
                    w.write(b).map_err(|e| ferr("csv", &e))?;
                }
            }
            String::from_utf8(buf).map_err(|e| ferr("csv", &e))
        }
        Format::Json => {
            let mut buf = Vec::new();
            {
                let mut w = arrow::json::ArrayWriter::new(&mut buf);
                let refs: Vec<&RecordBatch> = batches.iter().collect();
                w.write_batches(&refs).map_err(|e| ferr("json", &e))?;
                w.finish().map_err(|e| ferr("json", &e))?;
            }
            if buf.is_empty() {
                return Ok("[]".into());
            }
            String::from_utf8(buf).map_err(|e| ferr("json", &e))
        }
    }
}

/// First column of the first row as i64 (for scalar queries such as counts).
pub fn scalar_i64(batches: &[RecordBatch]) -> Option<i64> {
    let b = batches.iter().find(|b| b.num_rows() > 0)?;
    let c = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Int64).ok()?;
    let a = c.as_any().downcast_ref::<arrow::array::Int64Array>()?;
    if a.is_empty() || arrow::array::Array::is_null(a, 0) { None } else { Some(a.value(0)) }
}

//! A table at one version read by DataFusion's own Parquet scan over that version's files.
//!
//! The file list (path, size, partition values, statistics) is taken from the Delta log once, when
//! a published state is opened; every query then plans a plain Parquet scan over it. Delta's own
//! scan replays the log's file actions on every query (a few milliseconds even for a small
//! table); this one prunes files by partition values and file statistics, answers `count(*)` from
//! the row counts, and is a plan any DataFusion node can run.
//!
//! Only tables a reader of protocol 1 can read take this route (no deletion vectors, no column
//! mapping, which ours never use); any other table keeps Delta's own scan.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, UInt64Array};
use arrow::datatypes::{DataType, FieldRef, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::stats::Precision;
use datafusion::common::{Column, ColumnStatistics, DFSchema, ScalarValue, Statistics};
use datafusion::datasource::TableProvider;
use datafusion::datasource::file_format::FileFormat as _;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::object_store::ObjectStoreUrl;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use deltalake::DeltaTable;
use object_store::ObjectStore;

use crate::WarehouseError;

/// String statistics this long or longer may have been cut short by the writer, so they are not
/// used to skip files (a cut maximum is below the true one).
const EXACT_STRING_BYTES: usize = 32;

/// One version of a table as a list of Parquet files.
#[derive(Debug)]
pub struct TableFiles {
    name: String,
    /// The columns as the table shows them, in the contract's order.
    schema: SchemaRef,
    /// The columns stored in the files, then the partition columns: the order a file scan gives
    /// (`table_schema()`).
    scan: TableSchema,
    /// For each of the table's columns, its place in the scan's columns.
    to_scan: Vec<usize>,
    store_url: ObjectStoreUrl,
    store: Arc<dyn ObjectStore>,
    files: Vec<PartitionedFile>,
}

impl TableFiles {
    /// The file list of a loaded table, shown with `schema` (the columns and types Delta's own scan
    /// would show); `None` when the table needs Delta's own reader.
    pub fn of(name: &str, table: &DeltaTable, schema: SchemaRef) -> Result<Option<TableFiles>, WarehouseError> {
        let state = table.snapshot().map_err(|e| WarehouseError::delta(name, e))?;
        let protocol = state.protocol();
        if protocol.min_reader_version() > 1 {
            return Ok(None);
        }
        let partition_names = state.metadata().partition_columns();
        let partition_cols = partition_names
            .iter()
            .map(|p| schema.field_with_name(p).map(|f| Arc::new(f.clone())))
            .collect::<std::result::Result<Vec<FieldRef>, _>>()
            .map_err(|e| WarehouseError::Schema { table: name.into(), message: e.to_string() })?;
        let file_fields: Vec<FieldRef> = schema.fields().iter().filter(|f| !partition_names.contains(f.name())).cloned().collect();
        let scan = TableSchema::builder(Arc::new(Schema::new(file_fields))).with_table_partition_cols(partition_cols.clone()).build();
        let to_scan = schema
            .fields()
            .iter()
            .map(|f| scan.table_schema().index_of(f.name()))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| WarehouseError::Schema { table: name.into(), message: e.to_string() })?;

        let root = table.log_store().root_url().clone();
        let store_url = ObjectStoreUrl::parse(format!("{}://{}", root.scheme(), &root[url::Position::BeforeUsername..url::Position::AfterPort]))?;
        let (store, base) = data_location(table);

        let mut files = Vec::new();
        for view in state.log_data().iter() {
            if view.deletion_vector_descriptor().is_some() {
                return Ok(None);
            }
            let relative = view.path();
            let path = data_path(&base, &relative);
            let size = u64::try_from(view.size()).unwrap_or(0);
            let raw = view.partition_values_map();
            let partition_values = partition_cols.iter().map(|f| partition_value(&raw, f.name(), f.data_type())).collect::<Result<Vec<_>>>()?;
            let stats = file_statistics(scan.file_schema(), view.stats().as_deref());
            let mut file = PartitionedFile::new(path, size).with_partition_values(partition_values).with_statistics(Arc::new(stats));
            if let Some(t) = chrono::DateTime::from_timestamp_millis(view.modification_time()) {
                file.object_meta.last_modified = t;
            }
            files.push(file);
        }
        Ok(Some(TableFiles {
            name: name.to_string(),
            schema,
            scan,
            to_scan,
            store_url,
            store,
            files,
        }))
    }

    /// The files whose partition values and statistics may hold rows matching `filters`.
    fn pruned(&self, state: &dyn Session, filters: &[Expr]) -> Vec<PartitionedFile> {
        let Some(predicate) = conjunction(filters.iter().cloned()) else { return self.files.clone() };
        let schema = self.scan.table_schema();
        let kept = DFSchema::try_from(schema.clone())
            .and_then(|df_schema| state.create_physical_expr(predicate, &df_schema))
            .and_then(|expr| PruningPredicateBuilder::new().with_file_schema(schema.clone()).try_build(expr))
            .and_then(|p| p.prune(&FileStats { files: &self.files, schema }));
        match kept {
            Ok(kept) => self.files.iter().zip(kept).filter(|(_, keep)| *keep).map(|(f, _)| f.clone()).collect(),
            Err(e) => {
                tracing::debug!(table = self.name, error = %e, "files not pruned");
                self.files.clone()
            }
        }
    }
}

/// Where a table's data files are: the store holding the table, and the table's folder in it, to
/// which the Delta log's file paths are relative.
/// A file's value of partition column `name` (Delta keeps them as text) as a value of `data_type`;
/// NULL when the file has none.
pub(crate) fn partition_value(raw: &std::collections::HashMap<String, Option<String>>, name: &str, data_type: &DataType) -> Result<ScalarValue> {
    match raw.get(name).cloned().flatten() {
        Some(v) => ScalarValue::try_from_string(v, data_type),
        None => ScalarValue::try_from(data_type),
    }
}

pub(crate) fn data_location(table: &DeltaTable) -> (Arc<dyn ObjectStore>, String) {
    let log_store = table.log_store();
    (log_store.root_object_store(None), log_store.root_url().path().trim_matches('/').to_string())
}

/// A data file's path in the store, from the table's folder and the path the Delta log gives.
pub(crate) fn data_path(base: &str, relative: &str) -> String {
    if base.is_empty() { relative.to_string() } else { format!("{base}/{relative}") }
}

/// A file's statistics over the file's own columns, from the Delta log's JSON: exact row and null
/// counts; minimum and maximum as bounds only, and none for timestamps (kept to milliseconds) or
/// strings that may have been cut short.
fn file_statistics(file_schema: &Schema, json: Option<&str>) -> Statistics {
    let mut stats = Statistics::new_unknown(file_schema);
    let Some(v) = json.and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok()) else { return stats };
    if let Some(n) = v.get("numRecords").and_then(serde_json::Value::as_u64).and_then(|n| usize::try_from(n).ok()) {
        stats.num_rows = Precision::Exact(n);
    }
    let bound = |key: &str, col: &str, t: &DataType| -> Precision<ScalarValue> {
        let value = match v.get(key).and_then(|m| m.get(col)) {
            Some(serde_json::Value::String(s)) if matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8) && s.len() < EXACT_STRING_BYTES => {
                s.clone()
            }
            Some(serde_json::Value::String(s)) if matches!(t, DataType::Date32 | DataType::Date64) => s.clone(),
            Some(n @ serde_json::Value::Number(_)) if t.is_numeric() => n.to_string(),
            _ => return Precision::Absent,
        };
        ScalarValue::try_from_string(value, t).map_or(Precision::Absent, Precision::Inexact)
    };
    for (field, col) in file_schema.fields().iter().zip(stats.column_statistics.iter_mut()) {
        *col = ColumnStatistics {
            null_count: v
                .get("nullCount")
                .and_then(|m| m.get(field.name()))
                .and_then(serde_json::Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .map_or(Precision::Absent, Precision::Exact),
            min_value: bound("minValues", field.name(), field.data_type()),
            max_value: bound("maxValues", field.name(), field.data_type()),
            ..ColumnStatistics::new_unknown()
        };
    }
    stats
}

/// Files as containers for pruning, by their statistics (bounds, inexact or not).
struct FileStats<'a> {
    files: &'a [PartitionedFile],
    schema: &'a Schema,
}

impl FileStats<'_> {
    fn column(&self, column: &Column, pick: impl Fn(&ColumnStatistics) -> Option<ScalarValue>) -> Option<ArrayRef> {
        let i = self.schema.index_of(column.name()).ok()?;
        let t = self.schema.field(i).data_type();
        let null = ScalarValue::try_from(t).ok()?;
        let values = self.files.iter().map(|f| {
            f.statistics.as_ref().and_then(|s| s.column_statistics.get(i)).and_then(&pick).unwrap_or_else(|| null.clone())
        });
        ScalarValue::iter_to_array(values).ok()
    }
}

fn bound_of(p: &Precision<ScalarValue>) -> Option<ScalarValue> {
    p.get_value().cloned()
}

impl PruningStatistics for FileStats<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.column(column, |c| bound_of(&c.min_value))
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.column(column, |c| bound_of(&c.max_value))
    }

    fn num_containers(&self) -> usize {
        self.files.len()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        let i = self.schema.index_of(column.name()).ok()?;
        let counts: UInt64Array = self
            .files
            .iter()
            .map(|f| match f.statistics.as_ref().and_then(|s| s.column_statistics.get(i)).map(|c| &c.null_count) {
                Some(Precision::Exact(n)) => u64::try_from(*n).ok(),
                _ => None,
            })
            .collect();
        Some(Arc::new(counts))
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        let counts: UInt64Array = self
            .files
            .iter()
            .map(|f| match f.statistics.as_ref().map(|s| &s.num_rows) {
                Some(Precision::Exact(n)) => u64::try_from(*n).ok(),
                _ => None,
            })
            .collect();
        Some(Arc::new(counts))
    }

    #[allow(clippy::mutable_key_type)]
    fn contained(&self, _column: &Column, _values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

/// Deals files to `n` groups of about equal bytes, largest first.
fn groups(mut files: Vec<PartitionedFile>, n: usize) -> Vec<FileGroup> {
    files.sort_by_key(|f| std::cmp::Reverse(f.object_meta.size));
    let n = n.clamp(1, files.len().max(1));
    let mut out: Vec<(u64, Vec<PartitionedFile>)> = (0..n).map(|_| (0, Vec::new())).collect();
    for f in files {
        if let Some(g) = out.iter_mut().min_by_key(|(bytes, _)| *bytes) {
            g.0 += f.object_meta.size;
            g.1.push(f);
        }
    }
    out.into_iter().filter(|(_, g)| !g.is_empty()).map(|(_, g)| FileGroup::new(g)).collect()
}

#[async_trait::async_trait]
impl TableProvider for TableFiles {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        // Used to skip files and row groups; the rows are still filtered above the scan.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(&self, state: &dyn Session, projection: Option<&Vec<usize>>, filters: &[Expr], limit: Option<usize>) -> Result<Arc<dyn ExecutionPlan>> {
        let files = self.pruned(state, filters);
        if files.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        if state.runtime_env().object_store(&self.store_url).is_err() {
            state.runtime_env().register_object_store(self.store_url.as_ref(), self.store.clone());
        }
        let file_stats: Vec<Arc<Statistics>> = files.iter().filter_map(|f| f.statistics.clone()).collect();
        let statistics = if file_stats.len() == files.len() {
            Statistics::try_merge_iter(file_stats.iter().map(|s| s.as_ref()), self.scan.table_schema())?
        } else {
            Statistics::new_unknown(self.scan.table_schema())
        };
        let columns: Vec<usize> = match projection {
            Some(p) => p.iter().map(|i| self.to_scan.get(*i).copied().ok_or_else(|| DataFusionError::Plan(format!("table {} has no column {i}", self.name)))).collect::<Result<_>>()?,
            None => self.to_scan.clone(),
        };
        let config = FileScanConfigBuilder::new(self.store_url.clone(), Arc::new(ParquetSource::new(self.scan.clone())))
            .with_file_groups(groups(files, state.config().target_partitions()))
            .with_statistics(statistics)
            .with_projection_indices(Some(columns))?
            .with_limit(limit)
            .build();
        ParquetFormat::default().with_options(state.table_options().parquet.clone()).create_physical_plan(state, config).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use crate::{At, Warehouse, WriteMode, schema};
    use arrow::array::{Float64Array, Int32Array, RecordBatch, StringArray};
    use datafusion::prelude::SessionContext;

    /// Results of `sql` over `t`, as sorted lines of text.
    async fn lines(p: Arc<dyn TableProvider>, sql: &str) -> Vec<String> {
        let ctx = SessionContext::new();
        ctx.register_table("t", p).unwrap();
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string();
        let mut rows: Vec<String> = text.lines().filter(|l| l.starts_with('|')).skip(1).map(str::to_string).collect();
        rows.sort();
        rows
    }

    #[tokio::test]
    async fn the_file_scan_answers_as_deltas_own_scan_and_skips_files() {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::open(&dir.path().join("wh").display().to_string()).unwrap();
        let def = schema::table("test_results").unwrap();
        let batch = |year: i32, area: &str, schools: &[&str]| {
            let n = schools.len();
            RecordBatch::try_new(
                def.schema.clone(),
                vec![
                    Arc::new(Int32Array::from(vec![year; n])),
                    Arc::new(StringArray::from(vec!["ONET_P6"; n])),
                    Arc::new(StringArray::from(vec![area; n])),
                    Arc::new(StringArray::from(schools.to_vec())),
                    Arc::new(StringArray::from(vec![Some("thai"), None, Some("คณิตศาสตร์ ภาษาไทยที่ยาวกว่าสามสิบสองไบต์")].into_iter().cycle().take(n).collect::<Vec<_>>())),
                    Arc::new(Int32Array::from((0..n as i32).collect::<Vec<_>>())),
                    Arc::new(Float64Array::from(vec![50.5; n])),
                ],
            )
            .unwrap()
        };
        // One load per area and year: several files per partition, each with its own statistics.
        for year in [2566, 2567, 2568] {
            wh.write("test_results", vec![batch(year, "56010000", &["1056010001", "1056010002", "1056010003"])], WriteMode::Append).await.unwrap();
            wh.write("test_results", vec![batch(year, "57010000", &["1057010001", "1057010002"])], WriteMode::Append).await.unwrap();
        }
        let ours = wh.provider("test_results", At::Latest).await.unwrap().unwrap();
        let files = ours.as_ref().downcast_ref::<TableFiles>().expect("a protocol-1 table is read as a file list");
        assert_eq!(files.files.len(), 6);
        let delta = wh.load("test_results", At::Latest).await.unwrap().unwrap().table_provider().await.unwrap();
        assert_eq!(ours.schema(), delta.schema(), "the same columns and types as Delta's scan");

        for sql in [
            "SELECT * FROM t",
            "SELECT count(*) FROM t",
            "SELECT school_code, academic_year FROM t WHERE academic_year = 2567",
            "SELECT count(*) FROM t WHERE area_code = '57010000'",
            "SELECT academic_year, area_code, count(*), sum(examinees) FROM t WHERE academic_year >= 2567 AND area_code <> '56010000' GROUP BY 1, 2",
            "SELECT subject, count(*) FROM t WHERE subject IS NULL OR subject LIKE 'คณิต%' GROUP BY 1",
            "SELECT * FROM t WHERE school_code = '1056010002' AND academic_year IN (2566, 2568)",
            "SELECT max(school_code), min(academic_year) FROM t WHERE examinees > 1",
            "SELECT * FROM t WHERE academic_year = 2570",
        ] {
            assert_eq!(lines(ours.clone(), sql).await, lines(delta.clone(), sql).await, "{sql}");
        }

        // Partition values and file statistics skip files before any is opened.
        let ctx = SessionContext::new();
        let state = ctx.state();
        let kept = |filter: &str| {
            let expr = ctx.parse_sql_expr(filter, &datafusion::common::DFSchema::try_from(files.schema.clone()).unwrap()).unwrap();
            files.pruned(&state, &[expr]).len()
        };
        assert_eq!(kept("academic_year = 2567"), 2);
        assert_eq!(kept("area_code = '57010000'"), 3);
        assert_eq!(kept("academic_year = 2568 AND school_code = '1056010003'"), 1);
        assert_eq!(kept("subject = 'ไม่มี'"), 3, "a long string's maximum is not trusted (only files whose every subject is 'thai' or none are skipped)");
        assert_eq!(kept("examinees > 100"), 0);
    }
}

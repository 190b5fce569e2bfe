//! A large write done by one Parquet writer per core. Encoding and compressing the Parquet of a
//! national snapshot is most of a load's write, and the Delta writer does a partition's files one at
//! a time on one core. Here the rows, already in the table's order (`layout::in_order`), are cut into
//! one run per core, each run written to its own files at the same time, and every file committed as
//! one table version, with the files of the partitions it replaces removed in the same commit: what a
//! reader sees is the same one commit as the Delta writer's, in the same layout (each file's rows in
//! order, row groups of `ROW_GROUP_ROWS`, the layout's mark).
//!
//! Only a write that replaces whole partitions (or appends, or overwrites the table) is done so; a
//! predicate on other columns, an upsert or a small write goes to the Delta writer.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use deltalake::DeltaTable;
use deltalake::kernel::Action;
use deltalake::kernel::scalars::ScalarExt;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TableReference};
use deltalake::operations::write::WriterStatsConfig;
use deltalake::operations::write::writer::{DeltaWriter, WriterConfig};
use deltalake::protocol::{DeltaOperation, SaveMode};

use indexmap::IndexMap;

use crate::WarehouseError;
use crate::schema::TableDef;
use crate::store::{Batches, WriteMode};

/// Fewer rows than this are written by the Delta writer: the runs would be too small to gain.
pub const MIN_ROWS: usize = 4 * crate::layout::ROW_GROUP_ROWS;

fn err(table: &str) -> impl Fn(String) -> WarehouseError + '_ {
    move |message| WarehouseError::Schema { table: table.to_string(), message }
}

/// The rows of a write: all in memory, or made batch by batch as they are written (`Batches`).
pub(crate) enum Rows<'a> {
    Ready(&'a [RecordBatch]),
    Made(Arc<dyn Batches>),
}

/// What one writer writes: consecutive rows, or consecutive batches, made as it goes.
enum Run {
    Ready(Vec<RecordBatch>),
    Made(Arc<dyn Batches>, std::ops::Range<usize>),
}

/// Writes `rows` (the table's columns, in order) as one commit when the write is of the kind
/// above; `None` when it is not (nothing was written).
pub(crate) async fn write(def: &TableDef, table: &DeltaTable, rows: Rows<'_>, mode: &WriteMode) -> Result<Option<u64>, WarehouseError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let total = match &rows {
        Rows::Ready(batches) => batches.iter().map(RecordBatch::num_rows).sum(),
        Rows::Made(made) => made.rows(),
    };
    if cores < 2 || total < MIN_ROWS {
        return Ok(None);
    }
    let state = table.snapshot().map_err(|e| WarehouseError::delta(def.name, e))?;
    let partitions: Vec<String> = state.metadata().partition_columns().to_vec();
    if partitions.is_empty() {
        return Ok(None);
    }
    let files: Vec<_> = state.log_data().iter().collect();
    let (save_mode, predicate, removed) = match mode {
        WriteMode::Append => (SaveMode::Append, None, vec![]),
        WriteMode::Overwrite => (SaveMode::Overwrite, None, files.iter().map(|f| f.remove_action(true)).collect()),
        WriteMode::ReplaceWhere(p) => {
            // The files whose partition values match, and none of the new rows outside the predicate
            // (the Delta writer refuses such a write; it is left to it to say so). Rows made as they
            // are written are checked as they are made (`Within`).
            let Some(matched) = matching(def, &partitions, &files.iter().map(|f| f.partition_values_map()).collect::<Vec<_>>(), p).await? else { return Ok(None) };
            if let Rows::Ready(batches) = &rows
                && !all_match(def, &partitions, batches, p).await?
            {
                return Ok(None);
            }
            let removed = files.iter().zip(matched).filter(|(_, m)| *m).map(|(f, _)| f.remove_action(true)).collect();
            (SaveMode::Overwrite, Some(p.clone()), removed)
        }
        WriteMode::Upsert { .. } => return Ok(None),
    };

    // One run of consecutive rows (or batches) per core.
    let runs: Vec<Run> = match rows {
        Rows::Ready(batches) => split(batches, total.div_ceil(cores)).into_iter().map(Run::Ready).collect(),
        Rows::Made(made) => {
            let n = made.count();
            (0..cores).map(|k| k * n / cores..(k + 1) * n / cores).filter(|r| !r.is_empty()).map(|r| Run::Made(made.clone(), r)).collect()
        }
    };

    let stats = WriterStatsConfig::from_config(state.snapshot().table_configuration());
    let config = WriterConfig::new(def.schema.clone(), partitions.clone(), Some(crate::layout::writer_properties(def)), None, None, stats.num_indexed_cols, stats.stats_columns);
    let store = table.log_store().object_store(None);
    let mut writers = tokio::task::JoinSet::new();
    for run in runs {
        let mut writer = DeltaWriter::new(store.clone(), config.clone());
        let partitions = partitions.clone();
        let mut within = match mode {
            WriteMode::ReplaceWhere(p) => Some(Within { def: def.clone(), partitions: partitions.clone(), predicate: p.clone(), seen: Vec::new() }),
            _ => None,
        };
        let name = def.name;
        writers.spawn(async move {
            match run {
                Run::Ready(batches) => {
                    for b in batches {
                        put(&mut writer, b, &partitions).await.map_err(|e| WarehouseError::delta(name, e))?;
                    }
                }
                Run::Made(made, batches) => {
                    for i in batches {
                        let b = made.batch(i)?;
                        if let Some(w) = &mut within {
                            w.check(&b).await?;
                        }
                        put(&mut writer, b, &partitions).await.map_err(|e| WarehouseError::delta(name, e))?;
                    }
                }
            }
            writer.close().await.map_err(|e| WarehouseError::delta(name, e))
        });
    }
    let mut actions: Vec<Action> = removed.into_iter().map(Action::Remove).collect();
    while let Some(done) = writers.join_next().await {
        let adds = done.map_err(|e| err(def.name)(format!("a Parquet writer stopped: {e}")))??;
        actions.extend(adds.into_iter().map(Action::Add));
    }
    let operation = DeltaOperation::Write { mode: save_mode, partition_by: Some(partitions), predicate };
    let commit = CommitBuilder::from(CommitProperties::default())
        .with_actions(actions)
        .build(Some(state as &dyn TableReference), table.log_store(), operation)
        .await
        .map_err(|e| WarehouseError::delta(def.name, e))?;
    tracing::debug!(table = def.name, rows = total, writers = cores, "written side by side");
    Ok(Some(commit.version() as u64))
}

/// The rows of `batches` cut into runs of `per_run` consecutive rows (slices, not copies).
fn split(batches: &[RecordBatch], per_run: usize) -> Vec<Vec<RecordBatch>> {
    let mut runs: Vec<Vec<RecordBatch>> = vec![Vec::new()];
    let mut in_run = 0;
    for b in batches {
        let mut offset = 0;
        while offset < b.num_rows() {
            if in_run == per_run {
                runs.push(Vec::new());
                in_run = 0;
            }
            let take = (b.num_rows() - offset).min(per_run - in_run);
            if let Some(run) = runs.last_mut() {
                run.push(b.slice(offset, take));
            }
            offset += take;
            in_run += take;
        }
    }
    runs
}

/// Writes a batch. A batch of one partition (a nightly pull's one snapshot) goes to its partition's
/// file as it is: the Delta writer would otherwise group its rows by their partition values and copy
/// every column.
async fn put(writer: &mut DeltaWriter, b: RecordBatch, partitions: &[String]) -> Result<(), deltalake::DeltaTableError> {
    match one_partition(&b, partitions) {
        Some(values) => writer.write_partition(b, &values).await,
        None => writer.write(&b).await,
    }
}

/// Checks made batches against a `ReplaceWhere` write's predicate, as `all_match` checks rows in
/// memory: a batch of one partition by its partition values, each distinct set of them once.
struct Within {
    def: TableDef,
    partitions: Vec<String>,
    predicate: String,
    seen: Vec<Vec<ScalarValue>>,
}

impl Within {
    async fn check(&mut self, b: &RecordBatch) -> Result<(), WarehouseError> {
        let values = if one_partition_only(b, &self.partitions) {
            let values = self.partitions.iter().map(|p| b.column_by_name(p).map_or(Ok(ScalarValue::Null), |c| ScalarValue::try_from_array(c, 0))).collect::<Result<Vec<_>, _>>()?;
            if self.seen.contains(&values) {
                return Ok(());
            }
            Some(values)
        } else {
            None
        };
        let rows = if values.is_some() { b.slice(0, 1) } else { b.clone() };
        if !all_match(&self.def, &self.partitions, &[rows], &self.predicate).await? {
            return Err(err(self.def.name)(format!("a row to write is outside the rows it replaces ({})", self.predicate)));
        }
        self.seen.extend(values);
        Ok(())
    }
}

/// Whether every row of `batch` has the same partition values, none of them null.
fn one_partition_only(batch: &RecordBatch, partitions: &[String]) -> bool {
    partitions.iter().all(|p| {
        batch.column_by_name(p).is_some_and(|column| {
            if column.is_empty() || column.null_count() > 0 {
                return false;
            }
            let first = arrow::array::Scalar::new(column.slice(0, 1));
            arrow::compute::kernels::cmp::eq(column, &first).is_ok_and(|same| same.true_count() == column.len())
        })
    })
}

/// The partition values of `batch` when all its rows have the same ones (none of them null).
/// (`S` is the Delta writer's scalar, which it does not name for its callers.)
fn one_partition<S: ScalarExt>(batch: &RecordBatch, partitions: &[String]) -> Option<IndexMap<String, S>> {
    if !one_partition_only(batch, partitions) {
        return None;
    }
    let mut values = IndexMap::with_capacity(partitions.len());
    for p in partitions {
        values.insert(p.clone(), S::from_array(batch.column_by_name(p)?.as_ref(), 0)?);
    }
    Some(values)
}

/// Which of the files (by their partition values) `predicate` matches; `None` when it reads other
/// columns than the partition columns.
async fn matching(def: &TableDef, partitions: &[String], values: &[std::collections::HashMap<String, Option<String>>], predicate: &str) -> Result<Option<Vec<bool>>, WarehouseError> {
    let mut columns = Vec::with_capacity(partitions.len() + 1);
    let mut fields = Vec::with_capacity(partitions.len() + 1);
    for p in partitions {
        let field = def.schema.field_with_name(p).map_err(|e| err(def.name)(e.to_string()))?;
        let scalars = values.iter().map(|v| crate::files::partition_value(v, p, field.data_type())).collect::<Result<Vec<_>, _>>()?;
        columns.push(if scalars.is_empty() { arrow::array::new_empty_array(field.data_type()) } else { ScalarValue::iter_to_array(scalars)? });
        fields.push(field.clone());
    }
    fields.push(arrow::datatypes::Field::new("__file", arrow::datatypes::DataType::UInt64, false));
    columns.push(Arc::new(arrow::array::UInt64Array::from_iter_values(0..values.len() as u64)));
    let batch = RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns).map_err(|e| err(def.name)(e.to_string()))?;
    let ctx = SessionContext::new();
    ctx.register_table("t", Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?))?;
    let Ok(frame) = ctx.sql(&format!("SELECT __file FROM t WHERE {predicate}")).await else { return Ok(None) };
    let Ok(found) = frame.collect().await else { return Ok(None) };
    let mut matched = vec![false; values.len()];
    for b in found {
        if let Some(ids) = b.column(0).as_any().downcast_ref::<arrow::array::UInt64Array>() {
            for id in ids.values() {
                if let Some(m) = matched.get_mut(*id as usize) {
                    *m = true;
                }
            }
        }
    }
    Ok(Some(matched))
}

/// Whether every new row's partition values satisfy `predicate`.
async fn all_match(def: &TableDef, partitions: &[String], batches: &[RecordBatch], predicate: &str) -> Result<bool, WarehouseError> {
    let projected = batches
        .iter()
        .map(|b| {
            let idx = partitions.iter().map(|p| b.schema().index_of(p)).collect::<Result<Vec<_>, _>>()?;
            b.project(&idx)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(def.name)(e.to_string()))?;
    let Some(first) = projected.first() else { return Ok(true) };
    let ctx = SessionContext::new();
    ctx.register_table("t", Arc::new(MemTable::try_new(first.schema(), vec![projected])?))?;
    let Ok(frame) = ctx.sql(&format!("SELECT count(*) FROM t WHERE ({predicate}) IS NOT TRUE")).await else { return Ok(false) };
    let Ok(found) = frame.collect().await else { return Ok(false) };
    let outside = found.first().and_then(|b| b.column(0).as_any().downcast_ref::<arrow::array::Int64Array>().map(|a| a.value(0))).unwrap_or(1);
    Ok(outside == 0)
}

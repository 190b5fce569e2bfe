//! `khlang optimize`: the maintenance that lays each table out for its scans. Every partition of a
//! table holding scope columns is rewritten as few files, its rows in the table's order and row
//! groups of the writer's size (`layout`): the many small files of upserts and earlier loads are
//! compacted, and rows from exports in another order are sorted. The new table versions are
//! published by one warehouse commit: readers see the old layout or the new one, never a mix, and
//! the same rows. A run killed part-way leaves versions nobody published, which the next writer
//! rolls back (`recover`). Old versions and their files stay, so time travel to any published
//! state answers.

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt as _};

use crate::WarehouseError;
use crate::layout::{LAYOUT, LAYOUT_KEY, sort_keys};
use crate::lease::WriterLock;
use crate::office::{sql_ident, sql_literal};
use crate::schema::{self, TableDef};
use crate::store::{At, Warehouse, WriteMode, conform};

/// The run ids of the commits `optimize` publishes start with this.
pub const RUN_PREFIX: &str = "optimize-";

/// What `optimize` did to one table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Optimized {
    pub table: String,
    pub rows: u64,
    pub files_before: usize,
    pub files_after: usize,
    /// The table's new version; `None` when it was left alone (every partition already laid out).
    pub version: Option<u64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct OptimizeReport {
    pub run_id: String,
    pub tables: Vec<Optimized>,
    /// The warehouse commit that published the new layout; `None` when no table needed it.
    pub commit: Option<u64>,
}

/// `value` (as text) as a SQL literal of `column`'s type, so the predicate prunes by partition.
fn typed_literal(def: &TableDef, column: &str, value: &str) -> String {
    use arrow::datatypes::DataType;
    match def.schema.field_with_name(column).map(|f| f.data_type().clone()) {
        Ok(DataType::Date32) => format!("DATE {}", sql_literal(value)),
        Ok(t) if t.is_integer() && value.bytes().all(|b| b.is_ascii_digit() || b == b'-') => value.to_string(),
        _ => sql_literal(value),
    }
}

/// A partition holding more than one file smaller than this is compacted.
const SMALL_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// One partition of a table (the whole table when it has none): the predicate that selects it and
/// whether its files are laid out as this writer lays them out.
struct Part {
    scope: Option<String>,
    files: usize,
    small: usize,
    marked: bool,
}

impl Part {
    fn laid_out(&self) -> bool {
        self.marked && self.small <= 1
    }
}

/// The layout a data file's writer named in its Parquet metadata (`layout::LAYOUT_KEY`), read from
/// the file's footer alone.
async fn layout_of(store: &Arc<dyn ObjectStore>, path: &StorePath, size: u64) -> Result<Option<String>, String> {
    use deltalake::parquet::file::metadata::{FooterTail, ParquetMetaDataReader};
    let tail_start = size.checked_sub(8).filter(|_| size >= 12).ok_or("too short to be a Parquet file")?;
    let tail = store.get_range(path, tail_start..size).await.map_err(|e| e.to_string())?;
    let tail: [u8; 8] = tail.as_ref().try_into().map_err(|_| "its footer could not be read")?;
    let len = FooterTail::try_new(&tail).map_err(|e| e.to_string())?.metadata_length() as u64;
    let start = tail_start.checked_sub(len).ok_or("its footer is longer than the file")?;
    let footer = store.get_range(path, start..tail_start).await.map_err(|e| e.to_string())?;
    let meta = ParquetMetaDataReader::decode_metadata(&footer).map_err(|e| e.to_string())?;
    Ok(meta.file_metadata().key_value_metadata().and_then(|kv| kv.iter().find(|k| k.key == LAYOUT_KEY)).and_then(|k| k.value.clone()))
}

impl Warehouse {
    /// Rewrites every partition of every table with scope columns that is not laid out as the writer
    /// lays rows out now (`layout`), and publishes the result as one warehouse commit. Call with the
    /// writer lock held.
    pub async fn optimize(&self, lock: &WriterLock, run_id: &str, progress: &(dyn Fn(&str, u64, u64) + Sync)) -> Result<OptimizeReport, WarehouseError> {
        let rolled = self.recover().await?;
        if !rolled.is_empty() {
            tracing::warn!(tables = rolled.len(), "rolled back the tables of a run that did not finish");
        }
        let Some(published) = self.committed().await? else {
            return Err(WarehouseError::Commit { message: "nothing has been loaded into this warehouse yet, so there is nothing to optimize".into() });
        };
        let defs: Vec<TableDef> = schema::tables()
            .into_iter()
            .filter(|d| !schema::is_live(d.name) && !sort_keys(d).is_empty() && published.tables.get(d.name).is_some_and(|v| *v > 0))
            .collect();
        let total = defs.len() as u64 + 1;
        let mut out = Vec::new();
        let mut changed = false;
        for (i, def) in defs.iter().enumerate() {
            lock.still_held()?;
            let parts = self.parts(def).await?;
            let files_before = parts.iter().map(|p| p.files).sum();
            let stale: Vec<Option<String>> = parts.into_iter().filter(|p| !p.laid_out()).map(|p| p.scope).collect();
            if stale.is_empty() {
                out.push(Optimized { table: def.name.into(), rows: 0, files_before, files_after: files_before, version: None });
                progress(&format!("{} already laid out", def.name), i as u64 + 1, total);
                continue;
            }
            let rows = self.rewrite(def, stale).await?;
            let files_after = self.file_count(def.name).await?;
            let version = self.version(def.name).await?;
            tracing::info!(table = def.name, rows, files_before, files_after, "optimized");
            crate::fault::point(&format!("optimized:{}", def.name));
            out.push(Optimized { table: def.name.into(), rows, files_before, files_after, version });
            changed = true;
            progress(&format!("optimized {}", def.name), i as u64 + 1, total);
        }
        let commit = if changed {
            lock.still_held()?;
            Some(self.publish(run_id).await?.seq)
        } else {
            None
        };
        progress("published", total, total);
        Ok(OptimizeReport { run_id: run_id.into(), tables: out, commit })
    }

    /// The data files of a table at its latest version.
    async fn file_count(&self, name: &str) -> Result<usize, WarehouseError> {
        let Some(table) = self.load(name, At::Latest).await? else { return Ok(0) };
        Ok(table.snapshot().map_err(|e| WarehouseError::delta(name, e))?.log_data().iter().count())
    }

    /// The partitions of a table at its latest version, each with its files' sizes and whether every
    /// file carries this layout's mark (read from the file's Parquet footer).
    async fn parts(&self, def: &TableDef) -> Result<Vec<Part>, WarehouseError> {
        let Some(table) = self.load(def.name, At::Latest).await? else { return Ok(vec![]) };
        let (store, base) = crate::files::data_location(&table);
        let state = table.snapshot().map_err(|e| WarehouseError::delta(def.name, e))?;
        let mut parts: std::collections::BTreeMap<Option<String>, Part> = std::collections::BTreeMap::new();
        for view in state.log_data().iter() {
            let scope = match def.partition_by {
                [p] => Some(match view.partition_values_map().get(*p).cloned().flatten() {
                    Some(v) => format!("{} = {}", sql_ident(p), typed_literal(def, p, &v)),
                    None => format!("{} IS NULL", sql_ident(p)),
                }),
                _ => None,
            };
            let size = u64::try_from(view.size()).unwrap_or(0);
            let path = StorePath::from(crate::files::data_path(&base, &view.path()));
            let part = parts.entry(scope.clone()).or_insert(Part { scope, files: 0, small: 0, marked: true });
            part.files += 1;
            part.small += usize::from(size < SMALL_FILE_BYTES);
            if part.marked {
                let layout = layout_of(&store, &path, size).await.map_err(|message| WarehouseError::Delta { table: def.name.into(), message: format!("data file {path}: {message}") })?;
                part.marked = layout.as_deref() == Some(LAYOUT);
            }
        }
        Ok(parts.into_values().collect())
    }

    /// The given partitions of a table (`None`: the whole table), read at its latest version and
    /// written back, one partition at a time (a national snapshot, not the whole table, in memory).
    /// The writer puts the rows in the table's order (`layout::in_order`). Returns the rows written.
    async fn rewrite(&self, def: &TableDef, scopes: Vec<Option<String>>) -> Result<u64, WarehouseError> {
        let Some(provider) = self.provider(def.name, At::Latest).await? else { return Ok(0) };
        let ctx = SessionContext::new();
        ctx.register_table("t", provider)?;
        let cols = def.schema.fields().iter().map(|f| sql_ident(f.name())).collect::<Vec<_>>().join(", ");
        let mut rows = 0u64;
        for scope in scopes {
            let filter = scope.as_deref().map(|s| format!(" WHERE {s}")).unwrap_or_default();
            let batches = ctx.sql(&format!("SELECT {cols} FROM t{filter}")).await?.collect().await?;
            let batches = batches.iter().filter(|b| b.num_rows() > 0).map(|b| conform(def, b)).collect::<Result<Vec<_>, _>>()?;
            rows += batches.iter().map(|b| b.num_rows() as u64).sum::<u64>();
            let mode = match scope {
                Some(s) => WriteMode::ReplaceWhere(s),
                None => WriteMode::Overwrite,
            };
            self.write(def.name, batches, mode).await?;
        }
        Ok(rows)
    }
}

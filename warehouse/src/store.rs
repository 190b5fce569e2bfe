//! Delta tables on object_store: a local directory (path or `file://` URL) by default, or an
//! S3-compatible bucket (`s3://BUCKET/PREFIX`). Every write is one Delta commit, so a reader sees the
//! table before or after it, never between.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use datafusion::catalog::TableProvider;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, TableProperty};
use object_store::ObjectStore;
use object_store::path::Path as StorePath;
use url::Url;

pub use datafusion::prelude::SessionContext;

use crate::WarehouseError;
use crate::schema::{self, TableDef};

/// How a load replaces what the table holds.
#[derive(Debug, Clone)]
pub enum WriteMode {
    Append,
    /// Replace the whole table.
    Overwrite,
    /// Replace only the rows matching this predicate (e.g. one snapshot's partition).
    ReplaceWhere(String),
    /// Insert or replace by key: within `scope` (the whole table when `None`), every row whose key
    /// is among the incoming rows' keys is replaced by them, and every other row is kept.
    Upsert { scope: Option<String>, keys: Vec<String> },
}

/// A write's rows made one batch at a time, when the writer asks for them (`Warehouse::write_made`):
/// a national table need not be in memory all at once. The batches have the table's columns and come
/// in its order (`layout`: partition by partition, then by area, school and grade) by construction.
pub trait Batches: Send + Sync {
    /// How many batches there are.
    fn count(&self) -> usize;
    /// How many rows they hold in all.
    fn rows(&self) -> usize;
    /// Makes batch `i` (of `0..count()`); it may be asked for more than once.
    fn batch(&self, i: usize) -> Result<RecordBatch, WarehouseError>;
}

/// Every batch of `made`, made on a blocking thread.
async fn all(made: &Arc<dyn Batches>) -> Result<Vec<RecordBatch>, WarehouseError> {
    let made = made.clone();
    tokio::task::spawn_blocking(move || (0..made.count()).map(|i| made.batch(i)).collect())
        .await
        .map_err(|e| WarehouseError::Query { message: format!("making the rows to write stopped: {e}") })?
}

/// Which version of a table to read.
#[derive(Debug, Clone, Copy)]
pub enum At {
    /// The newest version, published or not (what writers build on; readers pin to a published
    /// warehouse commit with `Version`).
    Latest,
    Version(u64),
    Timestamp(DateTime<Utc>),
}

#[derive(Debug, Clone)]
pub struct Warehouse {
    root: Url,
    /// The object store holding the warehouse, and the warehouse's folder in it.
    store: Arc<dyn ObjectStore>,
    prefix: StorePath,
    /// How to reach the store (`aws_endpoint_url`, `aws_region`, …), given to every Delta table.
    options: Arc<HashMap<String, String>>,
    /// The latest published state seen, shared by clones: commits are never rewritten, so finding
    /// a newer one only takes asking whether the next number exists.
    pub(crate) latest: std::sync::Arc<std::sync::Mutex<Option<crate::Commit>>>,
}

impl Warehouse {
    /// Opens (creating if needed) the warehouse at a local path or URL, reaching an object store
    /// with the standard `AWS_*` variables of the environment.
    pub fn open(location: &str) -> Result<Warehouse, WarehouseError> {
        Self::open_with(location, &BTreeMap::new())
    }

    /// Like `open`, with storage settings (`aws_endpoint_url = …`, the `[storage]` keys of the
    /// configuration file) that the environment's `AWS_*` variables override.
    pub fn open_with(location: &str, settings: &BTreeMap<String, String>) -> Result<Warehouse, WarehouseError> {
        let bad = |message: String| WarehouseError::Location { location: location.to_string(), message };
        if location.starts_with("s3://") || location.starts_with("s3a://") {
            static HANDLERS: std::sync::Once = std::sync::Once::new();
            HANDLERS.call_once(|| deltalake::aws::register_handlers(None));
        }
        let root = deltalake::ensure_table_uri(location).map_err(|e| bad(e.to_string()))?;
        let mut options = crate::storage::options(settings, std::env::vars()).map_err(bad)?;
        if root.scheme() == "file" {
            options.clear();
        }
        let (store, prefix) = object_store::parse_url_opts(&root, options.iter()).map_err(|e| bad(e.to_string()))?;
        Ok(Warehouse { root, store: Arc::from(store), prefix, options: Arc::new(options), latest: Default::default() })
    }

    pub fn location(&self) -> &Url {
        &self.root
    }

    /// The store and the path of `rel` (e.g. `_khlang/users.json`) under the warehouse's folder.
    pub(crate) fn object(&self, rel: &str) -> (&Arc<dyn ObjectStore>, StorePath) {
        let path = self.prefix.parts().chain(StorePath::from(rel).parts()).collect();
        (&self.store, path)
    }

    /// The object store holding the warehouse and the URL its table files are read under
    /// (`s3://BUCKET`), for engines on other nodes that read them; `None` for a local directory,
    /// whose files every engine reads through its default local store.
    pub fn object_store(&self) -> Option<(Url, Arc<dyn ObjectStore>)> {
        if self.is_local() {
            return None;
        }
        let base = Url::parse(&format!("{}://{}", self.root.scheme(), self.root.host_str().unwrap_or_default())).ok()?;
        Some((base, self.store.clone()))
    }

    /// Whether the warehouse is a local directory (not an object store).
    pub fn is_local(&self) -> bool {
        self.root.scheme() == "file"
    }

    fn builder(&self, name: &str, url: Url) -> Result<DeltaTable, WarehouseError> {
        deltalake::DeltaTableBuilder::from_url(url)
            .map(|b| b.with_storage_options(self.options.as_ref().clone()))
            .and_then(|b| b.build())
            .map_err(|e| WarehouseError::delta(name, e))
    }

    fn table_url(&self, name: &str) -> Result<Url, WarehouseError> {
        self.root.join(&format!("{name}/")).map_err(|e| WarehouseError::Location { location: format!("{}{name}", self.root), message: e.to_string() })
    }

    fn def(name: &str) -> Result<TableDef, WarehouseError> {
        schema::table(name).ok_or_else(|| WarehouseError::UnknownTable(name.to_string()))
    }

    /// The table at a version; `None` when it has never been written.
    pub async fn load(&self, name: &str, at: At) -> Result<Option<DeltaTable>, WarehouseError> {
        Self::def(name)?;
        let mut table = match self.unloaded(name)? {
            Some(t) => t,
            None => return Ok(None),
        };
        // Asking first keeps the kernel from logging an error for a table never written.
        if !table.verify_deltatable_existence().await.map_err(|e| WarehouseError::delta(name, e))? {
            return Ok(None);
        }
        table.load().await.map_err(|e| WarehouseError::delta(name, e))?;
        match at {
            At::Latest => {}
            At::Version(v) => table.load_version(v).await.map_err(|e| WarehouseError::TimeTravel { table: name.into(), message: e.to_string() })?,
            At::Timestamp(t) => {
                table.load_with_datetime(t).await.map_err(|e| WarehouseError::TimeTravel { table: name.into(), message: e.to_string() })?
            }
        }
        Ok(Some(table))
    }

    /// The table object without its log loaded; `None` when its folder does not exist.
    fn unloaded(&self, name: &str) -> Result<Option<DeltaTable>, WarehouseError> {
        let url = self.table_url(name)?;
        if url.scheme() == "file" && url.to_file_path().is_ok_and(|p| !p.exists()) {
            return Ok(None);
        }
        Ok(Some(self.builder(name, url)?))
    }

    pub async fn version(&self, name: &str) -> Result<Option<u64>, WarehouseError> {
        Ok(self.load(name, At::Latest).await?.and_then(|t| t.version()))
    }

    /// Latest version of every table that exists.
    pub async fn versions(&self) -> Result<HashMap<String, u64>, WarehouseError> {
        let mut out = HashMap::new();
        for name in schema::table_names() {
            if let Some(v) = self.version(name).await? {
                out.insert(name.to_string(), v);
            }
        }
        Ok(out)
    }

    /// Creates every contract table that does not exist yet (empty, version 0).
    pub async fn create_missing(&self) -> Result<(), WarehouseError> {
        for def in schema::tables() {
            // Creates the table's folder when the warehouse is a local directory.
            if self.version(def.name).await?.is_some() {
                continue;
            }
            let url = deltalake::ensure_table_uri(self.table_url(def.name)?.as_str()).map_err(|e| WarehouseError::delta(def.name, e))?;
            let table = self.builder(def.name, url)?;
            let delta_schema: StructType = def.schema.as_ref().try_into_kernel().map_err(|e| WarehouseError::delta(def.name, e.into()))?;
            table
                .create()
                .with_columns(delta_schema.fields().cloned())
                .with_partition_columns(def.partition_by.iter().copied())
                // Keep the whole log so any published report can be rebuilt from its version.
                .with_configuration_property(TableProperty::EnableExpiredLogCleanup, Some("false"))
                .with_save_mode(SaveMode::Ignore)
                .await
                .map_err(|e| WarehouseError::delta(def.name, e))?;
            tracing::debug!(table = def.name, "created table");
        }
        Ok(())
    }

    /// Like `write`, but when the rows replacing a scope (the whole table, or the rows matching the
    /// predicate) are exactly the rows already there, in any order, makes no commit and returns the
    /// current version: an unchanged nightly pull leaves the table's history unchanged.
    pub async fn write_if_changed(&self, name: &str, batches: Vec<RecordBatch>, mode: WriteMode) -> Result<(u64, bool), WarehouseError> {
        let def = Self::def(name)?;
        let (batches, mode) = match mode {
            WriteMode::Upsert { scope, keys } => self.upserted(&def, batches, scope, &keys).await?,
            other => (batches, other),
        };
        let incoming_rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        // Hash the rows only when the counts already agree.
        if let Some(same) = self.same_count(name, &mode, incoming_rows).await? {
            return self.unless_unchanged(&def, same, batches, mode).await;
        }
        Ok((self.write(name, batches, mode).await?, true))
    }

    /// The current version when the scope (of as many rows, `same_count`) holds exactly `batches`'
    /// rows, in any order; else `batches` written.
    async fn unless_unchanged(&self, def: &TableDef, (scope, version, ctx): (String, u64, SessionContext), batches: Vec<RecordBatch>, mode: WriteMode) -> Result<(u64, bool), WarehouseError> {
        let cols = def.schema.fields().iter().map(|f| format!("\"{}\"", f.name())).collect::<Vec<_>>().join(", ");
        let existing = ctx.sql(&format!("SELECT {cols} FROM t WHERE {scope}")).await?.collect().await?;
        if fingerprint(def, &existing)? == fingerprint(def, &batches)? {
            tracing::info!(table = def.name, version, "unchanged; no new version");
            return Ok((version, false));
        }
        Ok((self.write(def.name, batches, mode).await?, true))
    }

    /// Like `write_if_changed`, with the rows made batch by batch as the writers write them
    /// (`Batches`), each dropped once written. Only when the write cannot be written so (see
    /// `writers`), or may leave the table unchanged (as many rows in its scope as before), are all
    /// the batches made first.
    pub async fn write_made(&self, name: &str, made: Arc<dyn Batches>, mode: WriteMode) -> Result<(u64, bool), WarehouseError> {
        let def = Self::def(name)?;
        if matches!(mode, WriteMode::Upsert { .. }) {
            return self.write_if_changed(name, all(&made).await?, mode).await;
        }
        if let Some(same) = self.same_count(name, &mode, made.rows()).await? {
            return self.unless_unchanged(&def, same, all(&made).await?, mode).await;
        }
        let table = self.table_to_write(name).await?;
        if let Some(v) = crate::writers::write(&def, &table, crate::writers::Rows::Made(made.clone()), &mode).await? {
            tracing::info!(table = name, rows = made.rows(), version = v, "committed");
            return Ok((v, true));
        }
        Ok((self.write(name, all(&made).await?, mode).await?, true))
    }

    /// When the write replaces a scope (the whole table, or the rows matching its predicate) that
    /// holds `rows` rows now: the scope as SQL, the table's version, and a session with the table
    /// as `t`.
    async fn same_count(&self, name: &str, mode: &WriteMode, rows: usize) -> Result<Option<(String, u64, SessionContext)>, WarehouseError> {
        let scope = match mode {
            WriteMode::Append | WriteMode::Upsert { .. } => return Ok(None),
            WriteMode::Overwrite => String::from("true"),
            WriteMode::ReplaceWhere(p) => p.clone(),
        };
        // One load of the log gives both the current version and the rows to compare with.
        let Some(table) = self.load(name, At::Latest).await? else { return Ok(None) };
        let Some(version) = table.version() else { return Ok(None) };
        let p = table.table_provider().await.map_err(|e| WarehouseError::Query { message: e.to_string() })?;
        let ctx = SessionContext::new();
        ctx.register_table("t", p)?;
        let counted = ctx.sql(&format!("SELECT count(*) FROM t WHERE {scope}")).await?.collect().await?;
        let existing_rows = counted.first().and_then(|b| b.column(0).as_any().downcast_ref::<arrow::array::Int64Array>().map(|a| a.value(0))).unwrap_or(-1);
        Ok((existing_rows == rows as i64).then_some((scope, version, ctx)))
    }

    /// Turns an upsert into the replacement of its scope: the incoming rows plus the scope's rows
    /// whose key the incoming rows do not carry.
    async fn upserted(&self, def: &TableDef, mut batches: Vec<RecordBatch>, scope: Option<String>, keys: &[String]) -> Result<(Vec<RecordBatch>, WriteMode), WarehouseError> {
        let mode = match &scope {
            Some(p) => WriteMode::ReplaceWhere(p.clone()),
            None => WriteMode::Overwrite,
        };
        let Some(table) = self.load(def.name, At::Latest).await? else { return Ok((batches, mode)) };
        let p = table.table_provider().await.map_err(|e| WarehouseError::Query { message: e.to_string() })?;
        let ctx = SessionContext::new();
        ctx.register_table("t", p)?;
        let incoming = datafusion::datasource::MemTable::try_new(def.schema.clone(), vec![batches.clone()])?;
        ctx.register_table("n", Arc::new(incoming))?;
        let cols = def.schema.fields().iter().map(|f| format!("t.\"{}\"", f.name())).collect::<Vec<_>>().join(", ");
        let on = keys.iter().map(|k| format!("t.\"{k}\" = n.\"{k}\"")).collect::<Vec<_>>().join(" AND ");
        let scoped = scope.as_deref().map_or_else(|| "t".to_string(), |s| format!("(SELECT * FROM t WHERE {s}) t"));
        let kept = ctx.sql(&format!("SELECT {cols} FROM {scoped} LEFT ANTI JOIN n ON {on}")).await?.collect().await?;
        for b in kept {
            if b.num_rows() > 0 {
                batches.push(conform(def, &b)?);
            }
        }
        Ok((batches, mode))
    }

    /// Writes `batches` to a table in one commit and returns the new version. An append of no rows
    /// makes no commit and returns the current version.
    pub async fn write(&self, name: &str, batches: Vec<RecordBatch>, mode: WriteMode) -> Result<u64, WarehouseError> {
        let def = Self::def(name)?;
        let (batches, mode) = match mode {
            WriteMode::Upsert { scope, keys } => self.upserted(&def, batches, scope, &keys).await?,
            other => (batches, other),
        };
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let table = self.table_to_write(name).await?;
        if rows == 0 && matches!(mode, WriteMode::Append) {
            return table.version().ok_or_else(|| WarehouseError::UnknownTable(name.to_string()));
        }
        let batches = if batches.is_empty() { vec![RecordBatch::new_empty(def.schema.clone())] } else { batches };
        for b in &batches {
            if b.schema().fields() != def.schema.fields() {
                return Err(WarehouseError::Schema { table: name.into(), message: format!("batch schema {:?} differs from the table's", b.schema()) });
            }
        }
        let batches = crate::layout::in_order(&def, batches)?;
        if let Some(v) = crate::writers::write(&def, &table, crate::writers::Rows::Ready(&batches), &mode).await? {
            tracing::info!(table = name, rows, version = v, "committed");
            return Ok(v);
        }
        let builder = table.write(batches).with_writer_properties(crate::layout::writer_properties(&def)).with_session_state(crate::layout::write_session(name)?);
        let builder = match mode {
            WriteMode::Append => builder.with_save_mode(SaveMode::Append),
            WriteMode::Overwrite => builder.with_save_mode(SaveMode::Overwrite),
            WriteMode::ReplaceWhere(p) => builder.with_save_mode(SaveMode::Overwrite).with_replace_where(p),
            // Resolved into a replacement above.
            WriteMode::Upsert { .. } => builder.with_save_mode(SaveMode::Overwrite),
        };
        let table = builder.await.map_err(|e| WarehouseError::delta(name, e))?;
        let v = table.version().ok_or_else(|| WarehouseError::UnknownTable(name.to_string()))?;
        tracing::info!(table = name, rows, version = v, "committed");
        Ok(v)
    }

    /// The table's newest version, created first if it is missing.
    async fn table_to_write(&self, name: &str) -> Result<DeltaTable, WarehouseError> {
        match self.load(name, At::Latest).await? {
            Some(t) => Ok(t),
            None => {
                self.create_missing().await?;
                self.load(name, At::Latest).await?.ok_or_else(|| WarehouseError::UnknownTable(name.to_string()))
            }
        }
    }

    /// Deletes the rows matching a SQL predicate in one commit; `None` when the table was never
    /// written. Used to age out audit records past their retention.
    pub async fn delete_where(&self, name: &str, predicate: &str) -> Result<Option<u64>, WarehouseError> {
        let Some(table) = self.load(name, At::Latest).await? else { return Ok(None) };
        let (table, _) = table.delete().with_predicate(predicate.to_string()).await.map_err(|e| WarehouseError::delta(name, e))?;
        Ok(table.version())
    }

    /// Restores a table to an earlier version, as one new commit.
    pub(crate) async fn restore(&self, name: &str, version: u64) -> Result<u64, WarehouseError> {
        let table = self.load(name, At::Latest).await?.ok_or_else(|| WarehouseError::UnknownTable(name.to_string()))?;
        let (table, _) = table.restore().with_version_to_restore(version as _).await.map_err(|e| WarehouseError::delta(name, e))?;
        table.version().ok_or_else(|| WarehouseError::UnknownTable(name.to_string()))
    }

    /// The values of a partition column among the table's rows at its latest version, in order,
    /// from its log alone (no data file is read): each file's value, for files that hold rows. Empty
    /// when the table has never been written; a null value is left out, as `SELECT DISTINCT … WHERE
    /// … IS NOT NULL` leaves it.
    pub async fn partition_values(&self, name: &str, column: &str) -> Result<Vec<String>, WarehouseError> {
        let Some(table) = self.load(name, At::Latest).await? else { return Ok(vec![]) };
        let state = table.snapshot().map_err(|e| WarehouseError::delta(name, e))?;
        let mut values = std::collections::BTreeSet::new();
        for file in state.log_data().iter() {
            if file.num_records() == Some(0) {
                continue;
            }
            if let Some(v) = file.partition_values_map().remove(column).flatten() {
                values.insert(v);
            }
        }
        Ok(values.into_iter().collect())
    }

    /// A DataFusion table provider over the table at a version: DataFusion's own Parquet scan over
    /// the version's files (`files::TableFiles`), or Delta's scan for a table that needs it.
    pub async fn provider(&self, name: &str, at: At) -> Result<Option<Arc<dyn TableProvider>>, WarehouseError> {
        let Some(table) = self.load(name, at).await? else { return Ok(None) };
        let p = table.table_provider().await.map_err(|e| WarehouseError::Query { message: e.to_string() })?;
        // A plain Parquet scan over the version's files, with the columns Delta's scan would show.
        match crate::files::TableFiles::of(name, &table, p.schema())? {
            Some(files) => Ok(Some(Arc::new(files))),
            None => Ok(Some(p)),
        }
    }
}

/// A batch read back from a table (string views, dictionaries) or built elsewhere, with the table's
/// columns by name, cast to the table's own types.
pub(crate) fn conform(def: &TableDef, b: &RecordBatch) -> Result<RecordBatch, WarehouseError> {
    let err = |e: arrow::error::ArrowError| WarehouseError::Schema { table: def.name.into(), message: e.to_string() };
    let cols = def
        .schema
        .fields()
        .iter()
        .map(|f| {
            let c = b.column_by_name(f.name()).ok_or_else(|| WarehouseError::Schema { table: def.name.into(), message: format!("no column {}", f.name()) })?;
            arrow::compute::cast(c, f.data_type()).map_err(err)
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(def.schema.clone(), cols).map_err(err)
}

/// Order-independent fingerprint of a set of rows: row count and the wrapping sum of a hash of each
/// row's encoded values, after casting every column to the table's type (reads come back as views
/// and dictionaries).
fn fingerprint(def: &TableDef, batches: &[RecordBatch]) -> Result<(u64, u64), WarehouseError> {
    use arrow::row::{RowConverter, SortField};
    use std::hash::{Hash, Hasher};
    let err = |e: arrow::error::ArrowError| WarehouseError::Schema { table: def.name.into(), message: e.to_string() };
    let converter = RowConverter::new(def.schema.fields().iter().map(|f| SortField::new(f.data_type().clone())).collect()).map_err(err)?;
    let (mut rows, mut sum) = (0u64, 0u64);
    for b in batches {
        let encoded = converter.convert_columns(conform(def, b)?.columns()).map_err(err)?;
        for r in encoded.iter() {
            // SipHash with fixed keys: the same row hashes the same in every process.
            let mut h = std::hash::DefaultHasher::new();
            r.as_ref().hash(&mut h);
            sum = sum.wrapping_add(h.finish());
            rows += 1;
        }
    }
    Ok((rows, sum))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int32Array, StringArray};

    fn areas(codes: &[&str]) -> RecordBatch {
        let def = schema::table("areas").map(|d| d.schema).unwrap_or_else(|| Arc::new(arrow::datatypes::Schema::empty()));
        let col = |v: Vec<&str>| -> ArrayRef { Arc::new(StringArray::from(v)) };
        let n = codes.len();
        RecordBatch::try_new(def, vec![col(codes.to_vec()), col(vec!["เขต"; n]), col(vec!["primary"; n]), col(vec!["56"; n])])
            .unwrap_or_else(|_| RecordBatch::new_empty(Arc::new(arrow::datatypes::Schema::empty())))
    }

    async fn count(wh: &Warehouse, name: &str, at: At) -> Result<usize, WarehouseError> {
        let ctx = SessionContext::new();
        let p = wh.provider(name, at).await?.ok_or_else(|| WarehouseError::UnknownTable(name.into()))?;
        ctx.register_table("t", p)?;
        let b = ctx.sql("SELECT * FROM t").await?.collect().await?;
        Ok(b.iter().map(RecordBatch::num_rows).sum())
    }

    #[tokio::test]
    async fn writes_commit_versions_and_old_versions_stay_readable() -> Result<(), WarehouseError> {
        let dir = tempfile::tempdir().map_err(|e| WarehouseError::Location { location: "tmp".into(), message: e.to_string() })?;
        let url = format!("file://{}", dir.path().join("wh").display());
        let wh = Warehouse::open(&url)?;
        assert_eq!(wh.version("areas").await?, None);
        wh.create_missing().await?;
        assert_eq!(wh.version("areas").await?, Some(0));
        let v1 = wh.write("areas", vec![areas(&["56010000", "56020000"])], WriteMode::Overwrite).await?;
        let before_second = Utc::now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let v2 = wh.write("areas", vec![areas(&["56010000"])], WriteMode::Overwrite).await?;
        assert_eq!((v1, v2), (1, 2));
        assert_eq!(count(&wh, "areas", At::Latest).await?, 1);
        assert_eq!(count(&wh, "areas", At::Version(1)).await?, 2);
        assert_eq!(count(&wh, "areas", At::Timestamp(before_second)).await?, 2);
        assert!(wh.load("areas", At::Version(9)).await.is_err());
        // An append of nothing makes no commit.
        assert_eq!(wh.write("areas", vec![], WriteMode::Append).await?, 2);
        Ok(())
    }

    /// `test_results` rows of one year, one per (area, school), all with one mean score.
    /// Batches made as asked for (clones of ready ones), counting how often.
    struct Made {
        batches: Vec<RecordBatch>,
        asked: std::sync::atomic::AtomicUsize,
    }

    impl Batches for Made {
        fn count(&self) -> usize {
            self.batches.len()
        }
        fn rows(&self) -> usize {
            self.batches.iter().map(RecordBatch::num_rows).sum()
        }
        fn batch(&self, i: usize) -> Result<RecordBatch, WarehouseError> {
            self.asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.batches.get(i).cloned().ok_or_else(|| WarehouseError::Query { message: format!("no batch {i}") })
        }
    }

    #[tokio::test]
    async fn rows_made_as_they_are_written_are_one_commit_checked_against_what_they_replace() -> Result<(), WarehouseError> {
        let dir = tempfile::tempdir().map_err(|e| WarehouseError::Location { location: "tmp".into(), message: e.to_string() })?;
        let wh = Warehouse::open(&dir.path().join("wh").display().to_string())?;
        let rows = crate::writers::MIN_ROWS + 10;
        // In the table's order (area, school), cut into row groups.
        let made = |year: i32, score: f64, rows: usize| -> Result<Arc<Made>, WarehouseError> {
            let all = results(year, (0..rows).map(|i| format!("{:08}", i / 1000)).collect(), (0..rows).map(|i| format!("10{i:08}")).collect(), score)?;
            let batches = (0..rows).step_by(crate::layout::ROW_GROUP_ROWS).map(|o| all.slice(o, crate::layout::ROW_GROUP_ROWS.min(rows - o))).collect();
            Ok(Arc::new(Made { batches, asked: Default::default() }))
        };
        let asked = |m: &Made| m.asked.load(std::sync::atomic::Ordering::Relaxed);
        let replace = || WriteMode::ReplaceWhere("academic_year IN ('2568')".into());
        wh.write("test_results", vec![results(2567, vec!["1".into(); 3], vec!["2".into(); 3], 1.0)?], WriteMode::Append).await?;
        let first = made(2568, 2.0, rows)?;
        let (v, changed) = wh.write_made("test_results", first.clone(), replace()).await?;
        assert!(changed);
        assert_eq!(asked(&first), first.count(), "each batch made once");
        assert_eq!(count(&wh, "test_results", At::Latest).await?, rows + 3);
        // The same rows again: every batch made to compare them, and no new version.
        let again = made(2568, 2.0, rows)?;
        assert_eq!(wh.write_made("test_results", again.clone(), replace()).await?, (v, false));
        assert_eq!(asked(&again), again.count());
        // Rows outside what they replace: refused, nothing committed.
        let outside = made(2569, 3.0, rows + 5)?;
        let e = wh.write_made("test_results", outside, replace()).await.err().map(|e| e.to_string()).unwrap_or_default();
        // (On one core the Delta writer writes it, and refuses it in its own words.)
        if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
            assert!(e.contains("outside the rows it replaces (academic_year IN ('2568'))"), "{e}");
        }
        assert!(!e.is_empty());
        assert_eq!(wh.version("test_results").await?, Some(v));
        // Every row of the first write, and no other.
        let ctx = SessionContext::new();
        ctx.register_table("t", wh.provider("test_results", At::Latest).await?.ok_or_else(|| WarehouseError::UnknownTable("test_results".into()))?)?;
        let sql = format!("SELECT count(*) = {rows} AND sum(mean_score) = {} AND count(DISTINCT school_code) = {rows} FROM t WHERE academic_year = 2568", 2 * rows);
        let b = ctx.sql(&sql).await?.collect().await?;
        assert_eq!(b.first().map(|b| b.column(0).as_any().downcast_ref::<arrow::array::BooleanArray>().is_some_and(|a| a.value(0))), Some(true), "{sql}");
        Ok(())
    }

    fn results(year: i32, areas: Vec<String>, schools: Vec<String>, score: f64) -> Result<RecordBatch, WarehouseError> {
        let def = schema::table("test_results").ok_or_else(|| WarehouseError::UnknownTable("test_results".into()))?;
        let n = schools.len();
        let s = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![v; n])) };
        RecordBatch::try_new(
            def.schema.clone(),
            vec![
                Arc::new(Int32Array::from(vec![year; n])),
                s("ONET_P6"),
                Arc::new(StringArray::from(areas)),
                Arc::new(StringArray::from(schools)),
                s("thai"),
                Arc::new(Int32Array::from(vec![10; n])),
                Arc::new(arrow::array::Float64Array::from(vec![score; n])),
            ],
        )
        .map_err(|e| WarehouseError::Schema { table: "test_results".into(), message: e.to_string() })
    }

    #[tokio::test]
    async fn replace_where_replaces_only_the_matching_partition() -> Result<(), WarehouseError> {
        let dir = tempfile::tempdir().map_err(|e| WarehouseError::Location { location: "tmp".into(), message: e.to_string() })?;
        let wh = Warehouse::open(&dir.path().join("wh").display().to_string())?;
        let batch = |year: i32, n: usize| results(year, vec!["56010000".into(); n], vec!["1056010001".into(); n], 50.0);
        wh.write("test_results", vec![batch(2567, 3)?, batch(2568, 4)?], WriteMode::Append).await?;
        wh.write("test_results", vec![batch(2568, 2)?], WriteMode::ReplaceWhere("academic_year IN ('2568')".into())).await?;
        assert_eq!(count(&wh, "test_results", At::Latest).await?, 5);
        let v = wh.version("test_results").await?.unwrap_or(0);
        let same = wh.write_if_changed("test_results", vec![batch(2568, 2)?], WriteMode::ReplaceWhere("academic_year IN ('2568')".into())).await?;
        assert_eq!(same, (v, false), "the 2568 rows are unchanged although 2567 rows exist beside them");
        Ok(())
    }

    #[tokio::test]
    async fn a_large_write_is_written_side_by_side_as_one_commit() -> Result<(), WarehouseError> {
        let dir = tempfile::tempdir().map_err(|e| WarehouseError::Location { location: "tmp".into(), message: e.to_string() })?;
        let wh = Warehouse::open(&dir.path().join("wh").display().to_string())?;
        // Schools in reverse order, so the writer sorts them; `score` tells the two loads apart.
        let batch = |year: i32, n: usize, score: f64| results(year, (0..n).map(|i| format!("{:08}", (n - i) / 1000)).collect(), (0..n).map(|i| format!("10{:08}", n - i)).collect(), score);
        let big = crate::writers::MIN_ROWS + 10;
        wh.write("test_results", vec![batch(2567, 3, 1.0)?], WriteMode::Append).await?;
        let first = wh.write("test_results", vec![batch(2568, big, 2.0)?], WriteMode::ReplaceWhere("academic_year IN ('2568')".into())).await?;
        let second = wh.write("test_results", vec![batch(2568, big + 7, 3.0)?], WriteMode::ReplaceWhere("academic_year IN ('2568')".into())).await?;
        assert_eq!(second, first + 1, "one commit per write");
        let sql = |at: At| {
            let wh = wh.clone();
            async move {
                let ctx = SessionContext::new();
                ctx.register_table("t", wh.provider("test_results", at).await?.ok_or_else(|| WarehouseError::UnknownTable("test_results".into()))?)?;
                let b = ctx.sql("SELECT academic_year, count(*), sum(mean_score), count(DISTINCT school_code) FROM t GROUP BY 1 ORDER BY 1").await?.collect().await?;
                Ok::<_, WarehouseError>(arrow::util::pretty::pretty_format_batches(&b).map_err(|e| WarehouseError::Query { message: e.to_string() })?.to_string())
            }
        };
        let now = sql(At::Latest).await?;
        assert!(now.contains(&format!("| 2568          | {}", big + 7)), "{now}");
        assert!(now.contains(&format!("{}", 3.0 * (big + 7) as f64)), "the second load's rows only: {now}");
        assert!(now.contains("| 2567          | 3 "), "the other partition kept: {now}");
        let before = sql(At::Version(first)).await?;
        assert!(before.contains(&format!("| 2568          | {}", big)), "time travel to the first load: {before}");
        // One file per core, each a run of the table's order: their school ranges follow one another.
        let table = wh.load("test_results", At::Latest).await?.ok_or_else(|| WarehouseError::UnknownTable("test_results".into()))?;
        let state = table.snapshot().map_err(|e| WarehouseError::delta("test_results", e))?;
        let mut ranges: Vec<(String, String)> = Vec::new();
        for f in state.log_data().iter() {
            if f.partition_values_map().get("academic_year").cloned().flatten().as_deref() != Some("2568") {
                continue;
            }
            let stats: serde_json::Value = serde_json::from_str(f.stats().as_deref().unwrap_or("{}")).map_err(|e| WarehouseError::Query { message: e.to_string() })?;
            let text = |k: &str| stats[k]["school_code"].as_str().unwrap_or_default().to_string();
            ranges.push((text("minValues"), text("maxValues")));
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(ranges.len(), if cores > 1 { cores } else { 1 }, "{ranges:?}");
        ranges.sort();
        for pair in ranges.windows(2) {
            assert!(pair[0].1 < pair[1].0, "files overlap: {ranges:?}");
        }
        Ok(())
    }

    #[tokio::test]
    async fn upsert_replaces_by_key_and_keeps_the_rest() -> Result<(), WarehouseError> {
        let dir = tempfile::tempdir().map_err(|e| WarehouseError::Location { location: "tmp".into(), message: e.to_string() })?;
        let wh = Warehouse::open(&dir.path().join("wh").display().to_string())?;
        wh.write("areas", vec![areas(&["56010000", "56020000"])], WriteMode::Overwrite).await?;
        let upsert = WriteMode::Upsert { scope: None, keys: vec!["area_code".into()] };
        // One area again (same key), one new: the other old one stays.
        let (_, changed) = wh.write_if_changed("areas", vec![areas(&["56020000", "57010000"])], upsert.clone()).await?;
        assert!(changed);
        assert_eq!(count(&wh, "areas", At::Latest).await?, 3);
        // The same rows again: no new version.
        let v = wh.version("areas").await?;
        let (v2, changed) = wh.write_if_changed("areas", vec![areas(&["57010000"])], upsert).await?;
        assert!(!changed);
        assert_eq!(Some(v2), v);
        Ok(())
    }
}

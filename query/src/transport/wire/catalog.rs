//! What schema browsers read on top of datafusion-postgres's `pg_catalog`: PostgreSQL's identity
//! (`version()`, `current_setting()`), the catalog functions DBeaver, Metabase, Power BI, psql and
//! SQLAlchemy call, the contract's own descriptions of tables and columns, the caller's own row of
//! `pg_stat_activity`, and an `information_schema` shaped as PostgreSQL's (PostgreSQL type names,
//! and the constraint views, empty: no keys are declared).
//!
//! Everything here is built from the caller's own session, whose catalog holds only the tables the
//! caller may read, so no catalog row shows a hidden table.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use datafusion::arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::information_schema::InformationSchemaProvider;
use datafusion::catalog::{CatalogProviderList, SchemaProvider, Session, TableProvider};
use datafusion::common::{DataFusionError, Result, ScalarValue, plan_err};
use datafusion::datasource::MemTable;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TableType, TypeSignature, Volatility};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use super::settings::{Settings, version_string};

/// A text function of a few text arguments, row by row.
type TextFn = dyn Fn(&[Option<String>]) -> Result<Option<String>> + Send + Sync;

struct TextUdf {
    name: &'static str,
    signature: Signature,
    f: Arc<TextFn>,
}

impl std::fmt::Debug for TextUdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextUdf").field("name", &self.name).finish()
    }
}

impl PartialEq for TextUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.f, &other.f)
    }
}
impl Eq for TextUdf {}
impl Hash for TextUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for TextUdf {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let columns: Vec<ArrayRef> = args.args.iter().map(|a| a.to_array(rows.max(1)).and_then(|a| Ok(cast(&a, &DataType::Utf8)?))).collect::<Result<_>>()?;
        let texts: Vec<&StringArray> =
            columns.iter().map(|c| c.as_any().downcast_ref::<StringArray>().ok_or_else(|| DataFusionError::Internal("cast to text".into()))).collect::<Result<_>>()?;
        let n = if scalar { 1 } else { rows };
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let row: Vec<Option<String>> = texts.iter().map(|t| (!datafusion::arrow::array::Array::is_null(*t, i)).then(|| t.value(i).to_string())).collect();
            out.push((self.f)(&row)?);
        }
        if scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(out.into_iter().next().flatten())));
        }
        Ok(ColumnarValue::Array(Arc::new(StringArray::from(out))))
    }
}

/// `information_schema._pg_expandarray(int2vector)`, which pgjdbc's `getPrimaryKeys` and
/// `getIndexInfo` apply to `pg_index.indkey`. PostgreSQL's returns a row (element, position) per
/// element; Khlang declares no keys or indexes, so `pg_index` is always empty and the function only
/// has to plan with the right type: it gives the first element at position 1.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ExpandArray {
    signature: Signature,
}

impl Default for ExpandArray {
    fn default() -> Self {
        ExpandArray { signature: Signature::any(1, Volatility::Immutable) }
    }
}

fn expand_fields() -> datafusion::arrow::datatypes::Fields {
    vec![Field::new("x", DataType::Int32, true), Field::new("n", DataType::Int32, true)].into()
}

impl ScalarUDFImpl for ExpandArray {
    fn name(&self) -> &str {
        "_pg_expandarray"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(expand_fields()))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let first: Vec<Option<i32>> = match args.args.first() {
            Some(a) => {
                let a = a.to_array(rows)?;
                (0..rows)
                    .map(|i| {
                        let v = datafusion::common::ScalarValue::try_from_array(&a, i).ok()?;
                        match v {
                            ScalarValue::List(l) => datafusion::common::ScalarValue::try_from_array(l.values(), 0).ok().and_then(|e| e.cast_to(&DataType::Int32).ok()),
                            other => other.cast_to(&DataType::Int32).ok(),
                        }
                        .and_then(|e| if let ScalarValue::Int32(x) = e { x } else { None })
                    })
                    .collect()
            }
            None => vec![None; rows],
        };
        let n: Vec<Option<i32>> = first.iter().map(|x| x.map(|_| 1)).collect();
        let columns: Vec<ArrayRef> = vec![Arc::new(Int32Array::from(first)), Arc::new(Int32Array::from(n))];
        Ok(ColumnarValue::Array(Arc::new(datafusion::arrow::array::StructArray::try_new(expand_fields(), columns, None)?)))
    }
}

/// `pg_…_is_visible(oid)`: everything the catalog lists is on the search path.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Visible {
    name: &'static str,
    signature: Signature,
}

impl ScalarUDFImpl for Visible {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Array(Arc::new(datafusion::arrow::array::BooleanArray::from(vec![true; args.number_rows]))))
    }
}

fn text_udf(name: &'static str, arities: &[usize], volatility: Volatility, f: impl Fn(&[Option<String>]) -> Result<Option<String>> + Send + Sync + 'static) -> ScalarUDF {
    let signature = if arities.is_empty() {
        Signature::variadic_any(volatility)
    } else if arities == [0] {
        Signature::nullary(volatility)
    } else {
        Signature::one_of(arities.iter().map(|n| if *n == 0 { TypeSignature::Nullary } else { TypeSignature::Any(*n) }).collect(), volatility)
    };
    ScalarUDF::new_from_impl(TextUdf { name, signature, f: Arc::new(f) })
}

fn arg(row: &[Option<String>], i: usize) -> Option<&str> {
    row.get(i).and_then(|v| v.as_deref())
}

/// PostgreSQL's name of a type as `to_regtype` and `format_type` print it; `None` when unknown.
fn canonical_type(name: &str) -> Option<&'static str> {
    let n = name.trim().trim_matches('"').to_lowercase();
    let n = n.strip_prefix("pg_catalog.").unwrap_or(&n).to_string();
    let base = n.split('(').next().unwrap_or("").trim();
    Some(match base {
        "int" | "int4" | "integer" => "integer",
        "int8" | "bigint" => "bigint",
        "int2" | "smallint" => "smallint",
        "text" => "text",
        "varchar" | "character varying" => "character varying",
        "char" | "character" | "bpchar" => "character",
        "bool" | "boolean" => "boolean",
        "date" => "date",
        "timestamp" | "timestamp without time zone" => "timestamp without time zone",
        "timestamptz" | "timestamp with time zone" => "timestamp with time zone",
        "time" | "time without time zone" => "time without time zone",
        "numeric" | "decimal" => "numeric",
        "float8" | "double precision" => "double precision",
        "float4" | "real" => "real",
        "bytea" => "bytea",
        "interval" => "interval",
        "json" => "json",
        "jsonb" => "jsonb",
        "uuid" => "uuid",
        "oid" => "oid",
        "name" => "name",
        "regclass" => "regclass",
        "regtype" => "regtype",
        "regproc" => "regproc",
        "hstore" | "citext" | "geometry" | "vector" => return None,
        _ => return None,
    })
}

/// PostgreSQL's `information_schema` type name and `udt_name` of an Arrow type.
pub fn pg_type_names(t: &DataType) -> (&'static str, &'static str) {
    match t {
        DataType::Boolean => ("boolean", "bool"),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => ("smallint", "int2"),
        DataType::Int32 | DataType::UInt16 => ("integer", "int4"),
        DataType::Int64 | DataType::UInt32 => ("bigint", "int8"),
        DataType::UInt64 | DataType::Decimal128(_, _) | DataType::Decimal256(_, _) => ("numeric", "numeric"),
        DataType::Float16 | DataType::Float32 => ("real", "float4"),
        DataType::Float64 => ("double precision", "float8"),
        DataType::Date32 | DataType::Date64 => ("date", "date"),
        DataType::Timestamp(_, Some(_)) => ("timestamp with time zone", "timestamptz"),
        DataType::Timestamp(_, None) => ("timestamp without time zone", "timestamp"),
        DataType::Time32(_) | DataType::Time64(_) => ("time without time zone", "time"),
        DataType::Interval(_) | DataType::Duration(_) => ("interval", "interval"),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => ("bytea", "bytea"),
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _) => ("ARRAY", "_text"),
        _ => ("text", "text"),
    }
}

/// A relation of the session, by its pg_class oid: for descriptions and `to_regclass`.
#[derive(Debug)]
struct Rel {
    ns: String,
    name: String,
    columns: Vec<String>,
}

type Relations = Arc<HashMap<i32, Rel>>;

async fn relations(ctx: &SessionContext) -> Result<Relations> {
    let batches = ctx
        .sql("SELECT CAST(c.oid AS INT) AS oid, n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'")
        .await?
        .collect()
        .await?;
    let mut out = HashMap::new();
    let catalog = ctx.catalog("khlang");
    for b in batches {
        let oid = cast(b.column(0), &DataType::Int32)?;
        let (ns, rel) = (cast(b.column(1), &DataType::Utf8)?, cast(b.column(2), &DataType::Utf8)?);
        let (Some(oid), Some(ns), Some(rel)) =
            (oid.as_any().downcast_ref::<Int32Array>(), ns.as_any().downcast_ref::<StringArray>(), rel.as_any().downcast_ref::<StringArray>())
        else {
            continue;
        };
        for i in 0..b.num_rows() {
            let (n, r) = (ns.value(i).to_string(), rel.value(i).to_string());
            let provider = match catalog.as_ref().and_then(|c| c.schema(&n)) {
                Some(s) => s.table(&r).await?,
                None => None,
            };
            let columns = provider.map(|p| p.schema().fields().iter().map(|f| f.name().clone()).collect()).unwrap_or_default();
            out.insert(oid.value(i), Rel { ns: n, name: r, columns });
        }
    }
    Ok(Arc::new(out))
}

/// What the connection is, for its row of `pg_stat_activity`.
#[derive(Debug)]
pub struct Activity {
    pub pid: i32,
    pub user: String,
    pub client_addr: String,
    pub client_port: i32,
    pub backend_start: DateTime<Utc>,
    pub settings: Arc<Settings>,
    /// The statement running now and when it started.
    pub query: Mutex<(String, DateTime<Utc>)>,
}

fn activity_schema() -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("datid", DataType::Int32, true),
        Field::new("datname", DataType::Utf8, true),
        Field::new("pid", DataType::Int32, true),
        Field::new("leader_pid", DataType::Int32, true),
        Field::new("usesysid", DataType::Int32, true),
        Field::new("usename", DataType::Utf8, true),
        Field::new("application_name", DataType::Utf8, true),
        Field::new("client_addr", DataType::Utf8, true),
        Field::new("client_hostname", DataType::Utf8, true),
        Field::new("client_port", DataType::Int32, true),
        Field::new("backend_start", ts(), true),
        Field::new("xact_start", ts(), true),
        Field::new("query_start", ts(), true),
        Field::new("state_change", ts(), true),
        Field::new("wait_event_type", DataType::Utf8, true),
        Field::new("wait_event", DataType::Utf8, true),
        Field::new("state", DataType::Utf8, true),
        Field::new("backend_xid", DataType::Utf8, true),
        Field::new("backend_xmin", DataType::Utf8, true),
        Field::new("query_id", DataType::Int64, true),
        Field::new("query", DataType::Utf8, true),
        Field::new("backend_type", DataType::Utf8, true),
    ]))
}

/// The caller's own row of `pg_stat_activity` (other users' sessions are not theirs to see).
fn activity_batch(a: &Activity, schema: &SchemaRef) -> Result<RecordBatch> {
    let (query, started) = a.query.lock().map(|q| q.clone()).unwrap_or_else(|_| (String::new(), a.backend_start));
    let ts = |t: DateTime<Utc>| Arc::new(TimestampMicrosecondArray::from(vec![Some(t.timestamp_micros())]).with_timezone("UTC")) as ArrayRef;
    let text = |s: Option<&str>| Arc::new(StringArray::from(vec![s])) as ArrayRef;
    let int = |v: Option<i32>| Arc::new(Int32Array::from(vec![v])) as ArrayRef;
    let app = a.settings.get("application_name").unwrap_or_default();
    let columns: Vec<ArrayRef> = vec![
        int(Some(1)),
        text(Some("khlang")),
        int(Some(a.pid)),
        int(None),
        int(Some(10)),
        text(Some(&a.user)),
        text(Some(&app)),
        text(Some(&a.client_addr)),
        text(None),
        int(Some(a.client_port)),
        ts(a.backend_start),
        ts(started),
        ts(started),
        ts(started),
        text(None),
        text(None),
        text(Some("active")),
        text(None),
        text(None),
        Arc::new(Int64Array::from(vec![None::<i64>])),
        text(Some(&query)),
        text(Some("client backend")),
    ];
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The batches of a catalog view, made from the session that reads it.
type MakeBatches = dyn Fn(&dyn Session) -> futures::future::BoxFuture<'static, Result<Vec<RecordBatch>>> + Send + Sync;

/// A catalog view whose rows are made when it is read.
struct LiveView {
    schema: SchemaRef,
    make: Box<MakeBatches>,
}

impl LiveView {
    /// A view of the connection that reads it (its settings, its row of `pg_stat_activity`), made
    /// from the connection's `Activity` in the session's extensions: one cached session serves
    /// many connections.
    fn of_connection(schema: SchemaRef, make: fn(&Activity, &SchemaRef) -> Result<RecordBatch>) -> Self {
        let s = schema.clone();
        let make = move |state: &dyn Session| {
            let batches = state.config().get_extension::<Activity>().map(|a| make(&a, &s)).transpose().map(|b| b.into_iter().collect());
            Box::pin(async move { batches }) as futures::future::BoxFuture<'static, Result<Vec<RecordBatch>>>
        };
        LiveView { schema, make: Box::new(make) }
    }
}

impl std::fmt::Debug for LiveView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveView").field("schema", &self.schema).finish_non_exhaustive()
    }
}

#[async_trait]
impl TableProvider for LiveView {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn table_type(&self) -> TableType {
        TableType::View
    }
    async fn scan(&self, state: &dyn Session, projection: Option<&Vec<usize>>, _filters: &[Expr], _limit: Option<usize>) -> Result<Arc<dyn ExecutionPlan>> {
        let batches = (self.make)(state).await?;
        Ok(MemorySourceConfig::try_new_exec(&[batches], self.schema.clone(), projection.cloned())?)
    }
}

/// datafusion-postgres's `pg_catalog` with the contract's descriptions in `pg_description` and the
/// caller's row of `pg_stat_activity`.
#[derive(Debug)]
struct PgCatalog {
    inner: Arc<dyn SchemaProvider>,
    description: Arc<dyn TableProvider>,
    activity: Arc<dyn TableProvider>,
    pg_type: Option<Arc<dyn TableProvider>>,
    pg_settings: Arc<dyn TableProvider>,
    pg_constraint: Option<Arc<dyn TableProvider>>,
    pg_index: Option<Arc<dyn TableProvider>>,
    pg_class: Option<Arc<dyn TableProvider>>,
}

#[async_trait]
impl SchemaProvider for PgCatalog {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        if !names.iter().any(|n| n == "pg_stat_activity") {
            names.push("pg_stat_activity".into());
        }
        names
    }
    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        match name {
            "pg_description" => Ok(Some(self.description.clone())),
            "pg_stat_activity" => Ok(Some(self.activity.clone())),
            "pg_type" if self.pg_type.is_some() => Ok(self.pg_type.clone()),
            "pg_settings" => Ok(Some(self.pg_settings.clone())),
            "pg_constraint" if self.pg_constraint.is_some() => Ok(self.pg_constraint.clone()),
            "pg_index" if self.pg_index.is_some() => Ok(self.pg_index.clone()),
            "pg_class" if self.pg_class.is_some() => Ok(self.pg_class.clone()),
            _ => self.inner.table(name).await,
        }
    }
    fn table_exist(&self, name: &str) -> bool {
        matches!(name, "pg_description" | "pg_stat_activity") || self.inner.table_exist(name)
    }
}

/// `pg_constraint` and `pg_index` for Khlang's tables: empty (no keys or indexes are declared),
/// with the key columns as arrays of attribute numbers as PostgreSQL has them, so pgjdbc's
/// `getImportedKeys` (`con.conkey[pos.n]`) and SQLAlchemy's key and index reflection
/// (`unnest(indkey)`) plan.
async fn empty_with_arrays(inner: &Arc<dyn SchemaProvider>, table: &str, arrays: &[&str]) -> Result<Option<Arc<dyn TableProvider>>> {
    let Some(t) = inner.table(table).await? else { return Ok(None) };
    let fields: Vec<Field> = t
        .schema()
        .fields()
        .iter()
        .map(|f| {
            if arrays.contains(&f.name().as_str()) {
                Field::new(f.name(), DataType::List(Arc::new(Field::new("item", DataType::Int32, true))), true)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    Ok(Some(Arc::new(MemTable::try_new(schema, vec![vec![]])?)))
}

/// A catalog table with PostgreSQL columns it lacks added as NULL text arrays: `pg_class` gets
/// `reloptions` (SQLAlchemy's index reflection) and `relacl`.
async fn with_null_columns(inner: &Arc<dyn SchemaProvider>, table: &str, columns: &[&str]) -> Result<Option<Arc<dyn TableProvider>>> {
    use datafusion::logical_expr::LogicalPlanBuilder;
    let Some(t) = inner.table(table).await? else { return Ok(None) };
    let schema = t.schema();
    let mut exprs: Vec<Expr> = schema.fields().iter().map(|f| Expr::Column(datafusion::common::Column::new(Some(table), f.name()))).collect();
    let text_array = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
    for c in columns {
        if schema.field_with_name(c).is_err() {
            exprs.push(Expr::Literal(ScalarValue::try_from(&text_array)?, None).alias(*c));
        }
    }
    let plan = LogicalPlanBuilder::scan(table, datafusion::datasource::provider_as_source(t), None)?.project(exprs)?.build()?;
    Ok(Some(Arc::new(datafusion::datasource::ViewTable::new(plan, None))))
}

/// One column's value from a setting (name, value, description).
type CellOf<'a> = &'a dyn Fn(&(String, String, String)) -> Option<String>;

/// `pg_settings` from the connection's own settings (pgjdbc reads `max_index_keys` there, DBeaver
/// `standard_conforming_strings`), so it agrees with SHOW and `current_setting()`.
fn settings_schema() -> SchemaRef {
    let names = ["name", "setting", "unit", "category", "short_desc", "extra_desc", "context", "vartype", "source", "boot_val", "reset_val"];
    Arc::new(Schema::new(names.iter().map(|n| Field::new(*n, DataType::Utf8, true)).collect::<Vec<_>>()))
}

fn settings_batch(activity: &Activity, schema: &SchemaRef) -> Result<RecordBatch> {
    let all = activity.settings.all();
    let col = |f: CellOf| Arc::new(StringArray::from(all.iter().map(f).collect::<Vec<_>>())) as ArrayRef;
    let columns = vec![
        col(&|s| Some(s.0.clone())),
        col(&|s| Some(s.1.clone())),
        col(&|_| None),
        col(&|_| Some("Khlang".into())),
        col(&|s| Some(s.2.clone())),
        col(&|_| None),
        col(&|_| Some("user".into())),
        col(&|s| Some(if s.1.parse::<i64>().is_ok() { "integer" } else if s.1 == "on" || s.1 == "off" { "bool" } else { "string" }.into())),
        col(&|_| Some("default".into())),
        col(&|s| Some(s.1.clone())),
        col(&|s| Some(s.1.clone())),
    ];
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// `pg_type` with `typreceive` and `typsend` as the oids of their functions, as PostgreSQL has
/// them (regproc): Npgsql joins `pg_proc.oid = pg_type.typreceive` to load its types.
async fn pg_type_with_oids(ctx: &SessionContext) -> Result<Option<Arc<dyn TableProvider>>> {
    // pg_type and pg_proc are datafusion-postgres's static tables: the same for every session, so
    // the converted table is made once per process.
    static PG_TYPE: tokio::sync::OnceCell<Option<Arc<dyn TableProvider>>> = tokio::sync::OnceCell::const_new();
    PG_TYPE.get_or_try_init(|| pg_type_from(ctx)).await.cloned()
}

async fn pg_type_from(ctx: &SessionContext) -> Result<Option<Arc<dyn TableProvider>>> {
    let procs = ctx.sql("SELECT CAST(oid AS INT) AS oid, proname FROM pg_catalog.pg_proc").await?.collect().await?;
    let mut by_name: HashMap<String, i32> = HashMap::new();
    for b in &procs {
        let (oid, name) = (cast(b.column(0), &DataType::Int32)?, cast(b.column(1), &DataType::Utf8)?);
        let (Some(oid), Some(name)) = (oid.as_any().downcast_ref::<Int32Array>(), name.as_any().downcast_ref::<StringArray>()) else { continue };
        for i in 0..b.num_rows() {
            by_name.entry(name.value(i).to_string()).or_insert(oid.value(i));
        }
    }
    let types = ctx.sql("SELECT * FROM pg_catalog.pg_type").await?.collect().await?;
    let Some(first) = types.first() else { return Ok(None) };
    let old = first.schema();
    let fields: Vec<Field> = old
        .fields()
        .iter()
        .map(|f| if matches!(f.name().as_str(), "typreceive" | "typsend") && f.data_type() == &DataType::Utf8 { Field::new(f.name(), DataType::Int32, true) } else { f.as_ref().clone() })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let mut out = Vec::with_capacity(types.len());
    for b in &types {
        let mut columns = Vec::with_capacity(b.num_columns());
        for (i, f) in schema.fields().iter().enumerate() {
            let c = b.column(i).clone();
            if f.data_type() == &DataType::Int32 && matches!(f.name().as_str(), "typreceive" | "typsend") && c.data_type() == &DataType::Utf8 {
                let names = c.as_any().downcast_ref::<StringArray>().ok_or_else(|| DataFusionError::Internal("pg_type function names".into()))?;
                let oids: Int32Array = names.iter().map(|n| Some(n.and_then(|n| by_name.get(n).copied()).unwrap_or(0))).collect();
                columns.push(Arc::new(oids) as ArrayRef);
            } else {
                columns.push(c);
            }
        }
        out.push(RecordBatch::try_new(schema.clone(), columns)?);
    }
    Ok(Some(Arc::new(MemTable::try_new(schema, vec![out])?)))
}

/// `pg_description` rows for the contract's tables (objsubid 0) and columns (objsubid = attnum),
/// in the column types of datafusion-postgres's own table.
async fn description_table(inner: &Arc<dyn SchemaProvider>, rels: &Relations, pg_class_oid: i32) -> Result<Arc<dyn TableProvider>> {
    let schema = match inner.table("pg_description").await? {
        Some(t) => t.schema(),
        None => Arc::new(Schema::new(vec![
            Field::new("objoid", DataType::Int32, false),
            Field::new("classoid", DataType::Int32, false),
            Field::new("objsubid", DataType::Int32, false),
            Field::new("description", DataType::Utf8, false),
        ])),
    };
    let (mut objoid, mut classoid, mut objsubid, mut text) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (oid, rel) in rels.iter() {
        let described = khlang_warehouse::reference::describe(&rel.name, None).into_iter().map(|d| (0, d));
        let columns = rel.columns.iter().enumerate().filter_map(|(i, c)| khlang_warehouse::reference::describe(&rel.name, Some(c)).map(|d| (i as i32 + 1, d))).collect::<Vec<_>>();
        for (sub, d) in described.chain(columns) {
            objoid.push(*oid);
            classoid.push(pg_class_oid);
            objsubid.push(sub);
            text.push(d);
        }
    }
    let raw: Vec<ArrayRef> = vec![Arc::new(Int32Array::from(objoid)), Arc::new(Int32Array::from(classoid)), Arc::new(Int32Array::from(objsubid)), Arc::new(StringArray::from(text))];
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (i, f) in schema.fields().iter().enumerate() {
        let Some(a) = raw.get(i) else { return plan_err!("pg_description has an unexpected column {}", f.name()) };
        columns.push(cast(a, f.data_type())?);
    }
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// `information_schema` as PostgreSQL has it: DataFusion's views, with `columns` in PostgreSQL's
/// terms and the constraint views (empty) that Power BI and Metabase read.
#[derive(Debug)]
struct InformationSchema {
    df: InformationSchemaProvider,
    catalogs: Arc<dyn CatalogProviderList>,
}

const CONSTRAINT_VIEWS: [(&str, &[&str]); 5] = [
    (
        "table_constraints",
        &["constraint_catalog", "constraint_schema", "constraint_name", "table_catalog", "table_schema", "table_name", "constraint_type", "is_deferrable", "initially_deferred", "enforced", "nulls_distinct"],
    ),
    (
        "key_column_usage",
        &["constraint_catalog", "constraint_schema", "constraint_name", "table_catalog", "table_schema", "table_name", "column_name", "ordinal_position", "position_in_unique_constraint"],
    ),
    (
        "referential_constraints",
        &["constraint_catalog", "constraint_schema", "constraint_name", "unique_constraint_catalog", "unique_constraint_schema", "unique_constraint_name", "match_option", "update_rule", "delete_rule"],
    ),
    ("constraint_column_usage", &["table_catalog", "table_schema", "table_name", "column_name", "constraint_catalog", "constraint_schema", "constraint_name"]),
    ("check_constraints", &["constraint_catalog", "constraint_schema", "constraint_name", "check_clause"]),
];

impl InformationSchema {
    fn empty_view(columns: &[&str]) -> Result<Arc<dyn TableProvider>> {
        let schema = Arc::new(Schema::new(
            columns.iter().map(|c| Field::new(*c, if matches!(*c, "ordinal_position" | "position_in_unique_constraint") { DataType::Int32 } else { DataType::Utf8 }, true)).collect::<Vec<_>>(),
        ));
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![]])?))
    }
}


const COLUMNS_VIEW: [&str; 19] = [
    "table_catalog",
    "table_schema",
    "table_name",
    "column_name",
    "ordinal_position",
    "column_default",
    "is_nullable",
    "data_type",
    "character_maximum_length",
    "numeric_precision",
    "numeric_precision_radix",
    "numeric_scale",
    "datetime_precision",
    "udt_catalog",
    "udt_schema",
    "udt_name",
    "is_identity",
    "is_generated",
    "is_updatable",
];
const COLUMNS_INT: [&str; 6] = ["ordinal_position", "character_maximum_length", "numeric_precision", "numeric_precision_radix", "numeric_scale", "datetime_precision"];

fn columns_batch_schema() -> SchemaRef {
    Arc::new(Schema::new(COLUMNS_VIEW.iter().map(|n| Field::new(*n, if COLUMNS_INT.contains(n) { DataType::Int32 } else { DataType::Utf8 }, true)).collect::<Vec<_>>()))
}

async fn columns_batch(catalogs: &Arc<dyn CatalogProviderList>) -> Result<RecordBatch> {
    let (names, int_columns) = (COLUMNS_VIEW, COLUMNS_INT);
    let schema = columns_batch_schema();
    let mut text: Vec<Vec<Option<String>>> = vec![Vec::new(); names.len()];
    for catalog_name in catalogs.catalog_names() {
        let Some(catalog) = catalogs.catalog(&catalog_name) else { continue };
        for schema_name in catalog.schema_names() {
            // Not the catalog's own schemas (this view is one of them).
            if schema_name == "pg_catalog" || schema_name == "information_schema" {
                continue;
            }
            let Some(s) = catalog.schema(&schema_name) else { continue };
            let mut tables = s.table_names();
            tables.sort();
            for t in tables {
                let Ok(Some(p)) = s.table(&t).await else { continue };
                for (i, f) in p.schema().fields().iter().enumerate() {
                    let (data_type, udt) = pg_type_names(f.data_type());
                    let (precision, radix, scale) = match f.data_type() {
                        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => (Some(*p as i32), Some(10), Some(*s as i32)),
                        DataType::Int16 | DataType::Int8 | DataType::UInt8 => (Some(16), Some(2), Some(0)),
                        DataType::Int32 | DataType::UInt16 => (Some(32), Some(2), Some(0)),
                        DataType::Int64 | DataType::UInt32 => (Some(64), Some(2), Some(0)),
                        DataType::Float32 => (Some(24), Some(2), None),
                        DataType::Float64 => (Some(53), Some(2), None),
                        _ => (None, None, None),
                    };
                    let datetime = matches!(f.data_type(), DataType::Timestamp(_, _) | DataType::Time32(_) | DataType::Time64(_)).then_some(6).or(matches!(f.data_type(), DataType::Date32).then_some(0));
                    let row: Vec<Option<String>> = vec![
                        Some(catalog_name.clone()),
                        Some(schema_name.clone()),
                        Some(t.clone()),
                        Some(f.name().clone()),
                        Some((i + 1).to_string()),
                        None,
                        Some(if f.is_nullable() { "YES" } else { "NO" }.into()),
                        Some(data_type.into()),
                        None,
                        precision.map(|v| v.to_string()),
                        radix.map(|v: i32| v.to_string()),
                        scale.map(|v| v.to_string()),
                        datetime.map(|v: i32| v.to_string()),
                        Some(catalog_name.clone()),
                        Some("pg_catalog".into()),
                        Some(udt.into()),
                        Some("NO".into()),
                        Some("NEVER".into()),
                        Some("NO".into()),
                    ];
                    for (col, v) in text.iter_mut().zip(row) {
                        col.push(v);
                    }
                }
            }
        }
    }
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(names.len());
    for (n, values) in names.iter().zip(text) {
        let a: ArrayRef = Arc::new(StringArray::from(values));
        arrays.push(if int_columns.contains(n) { cast(&a, &DataType::Int32)? } else { a });
    }
    let batch = RecordBatch::try_new(schema.clone(), arrays)?;
    Ok(batch)
}

#[async_trait]
impl SchemaProvider for InformationSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.df.table_names();
        names.extend(CONSTRAINT_VIEWS.iter().map(|(n, _)| n.to_string()));
        names
    }
    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if name == "columns" {
            // Made when read: the catalog lists this view among its tables without building it.
            let catalogs = self.catalogs.clone();
            let make = move |_: &dyn Session| {
                let c = catalogs.clone();
                Box::pin(async move { Ok(vec![columns_batch(&c).await?]) }) as futures::future::BoxFuture<'static, Result<Vec<RecordBatch>>>
            };
            return Ok(Some(Arc::new(LiveView { schema: columns_batch_schema(), make: Box::new(make) })));
        }
        if let Some((_, columns)) = CONSTRAINT_VIEWS.iter().find(|(n, _)| *n == name) {
            return Self::empty_view(columns).map(Some);
        }
        self.df.table(name).await
    }
    fn table_exist(&self, name: &str) -> bool {
        name == "columns" || CONSTRAINT_VIEWS.iter().any(|(n, _)| *n == name) || self.df.table_exist(name)
    }
}

/// Adds all of the above to a wire session that already has datafusion-postgres's `pg_catalog`.
/// Makes `ctx` (a caller's session) the session of one connection: its settings, its user and
/// process id, and its row of `pg_stat_activity`.
pub fn attach(ctx: &SessionContext, activity: Arc<Activity>) {
    let pid = activity.pid;
    let user = activity.user.clone();
    let settings = activity.settings.clone();
    let s = settings.clone();
    ctx.register_udf(text_udf("current_setting", &[1, 2], Volatility::Stable, move |row| {
        let Some(name) = arg(row, 0) else { return Ok(None) };
        match s.get(name) {
            Some(v) => Ok(Some(v)),
            None if arg(row, 1).is_some_and(|m| m.eq_ignore_ascii_case("true")) => Ok(None),
            None => plan_err!("unrecognized configuration parameter \"{name}\""),
        }
    }));
    let s = settings.clone();
    ctx.register_udf(text_udf("set_config", &[3], Volatility::Volatile, move |row| {
        let (Some(name), value) = (arg(row, 0), arg(row, 1).unwrap_or("")) else { return Ok(None) };
        s.set(name, value);
        Ok(s.get(name))
    }));
    ctx.register_udf(text_udf("to_regtype", &[1], Volatility::Stable, |row| Ok(arg(row, 0).and_then(canonical_type).map(str::to_string))));
    for name in ["session_user", "current_user", "user", "current_role"] {
        let u = user.clone();
        ctx.register_udf(text_udf(name, &[0], Volatility::Stable, move |_| Ok(Some(u.clone()))));
    }
    ctx.register_udf(datafusion::logical_expr::create_udf(
        "pg_backend_pid",
        vec![],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(move |_| Ok(ColumnarValue::Scalar(ScalarValue::Int32(Some(pid))))),
    ));
    ctx.state_ref().write().config_mut().set_extension(activity);
}

/// PostgreSQL's catalog for a caller's session (kept with the session, for every connection of
/// the same kind of caller): descriptions, type oids, visibility, constraints, and PostgreSQL's
/// `information_schema` in place of DataFusion's.
pub async fn install(ctx: &SessionContext) -> Result<()> {
    ctx.register_udf(text_udf("version", &[0], Volatility::Stable, |_| Ok(Some(version_string()))));
    let rels = relations(ctx).await?;
    let names: HashMap<(String, String), i32> = rels.iter().map(|(oid, r)| ((r.ns.clone(), r.name.clone()), *oid)).collect();
    ctx.register_udf(text_udf("to_regclass", &[1], Volatility::Stable, move |row| {
        let Some(name) = arg(row, 0) else { return Ok(None) };
        let name = name.trim().to_lowercase().replace('"', "");
        let (ns, rel) = name.split_once('.').map_or(("public".to_string(), name.clone()), |(a, b)| (a.to_string(), b.to_string()));
        Ok(names.contains_key(&(ns, rel.clone())).then_some(rel))
    }));
    // On PostgreSQL's search path ("$user", public): public's relations, not information_schema's.
    let public: std::collections::HashSet<i32> = rels.keys().copied().collect();
    ctx.register_udf(datafusion::logical_expr::create_udf(
        "pg_table_is_visible",
        vec![DataType::Int32],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let a = match args.first() {
                Some(a) => cast(&a.to_array(1)?, &DataType::Int32)?,
                None => return Ok(ColumnarValue::Scalar(ScalarValue::Boolean(None))),
            };
            let oids = a.as_any().downcast_ref::<Int32Array>().ok_or_else(|| DataFusionError::Internal("oid".into()))?;
            let out: datafusion::arrow::array::BooleanArray = oids.iter().map(|o| o.map(|o| public.contains(&o))).collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    ));
    let r = rels.clone();
    ctx.register_udf(text_udf("obj_description", &[1, 2], Volatility::Stable, move |row| {
        let Some(oid) = arg(row, 0).and_then(|o| o.parse::<i32>().ok()) else { return Ok(None) };
        if arg(row, 1).is_some_and(|c| c != "pg_class") {
            return Ok(None);
        }
        Ok(r.get(&oid).and_then(|rel| khlang_warehouse::reference::describe(&rel.name, None)))
    }));
    let r = rels.clone();
    ctx.register_udf(text_udf("col_description", &[2], Volatility::Stable, move |row| {
        let (Some(oid), Some(attnum)) = (arg(row, 0).and_then(|o| o.parse::<i32>().ok()), arg(row, 1).and_then(|a| a.parse::<usize>().ok())) else { return Ok(None) };
        let Some(rel) = r.get(&oid) else { return Ok(None) };
        Ok(attnum.checked_sub(1).and_then(|i| rel.columns.get(i)).and_then(|col| khlang_warehouse::reference::describe(&rel.name, Some(col))))
    }));
    ctx.register_udf(text_udf("shobj_description", &[2], Volatility::Stable, |_| Ok(None)));
    // JSON text of alternating keys and values (SQLAlchemy builds identity-column details with it).
    ctx.register_udf(text_udf("json_build_object", &[], Volatility::Immutable, |row| {
        let mut m = serde_json::Map::new();
        for pair in row.chunks(2) {
            let key = pair.first().cloned().flatten().unwrap_or_default();
            let value = match pair.get(1).cloned().flatten() {
                None => serde_json::Value::Null,
                Some(v) if v == "true" || v == "false" => serde_json::Value::Bool(v == "true"),
                Some(v) => v.parse::<i64>().map(serde_json::Value::from).unwrap_or(serde_json::Value::String(v)),
            };
            m.insert(key, value);
        }
        Ok(Some(serde_json::Value::Object(m).to_string()))
    }));
    for name in ["pg_collation_is_visible", "pg_type_is_visible", "pg_function_is_visible", "pg_opclass_is_visible"] {
        ctx.register_udf(ScalarUDF::new_from_impl(Visible { name, signature: Signature::any(1, Volatility::Stable) }));
    }
    ctx.register_udf(text_udf("pg_get_indexdef", &[1, 3], Volatility::Stable, |_| Ok(None)));
    ctx.register_udf(text_udf("pg_get_viewdef", &[1, 2], Volatility::Stable, |_| Ok(None)));
    // No column is fed by a sequence.
    ctx.register_udf(text_udf("pg_get_serial_sequence", &[2], Volatility::Stable, |_| Ok(None)));
    ctx.register_udf(ScalarUDF::new_from_impl(ExpandArray::default()));

    let catalog = ctx.catalog("khlang").ok_or_else(|| DataFusionError::Plan("no catalog khlang".into()))?;
    if let Some(inner) = catalog.schema("pg_catalog") {
        // Descriptions of relations are keyed by pg_class's own oid, which clients write as
        // 'pg_catalog.pg_class'::regclass.
        let oid_of_pg_class = ctx
            .sql("SELECT CAST(c.oid AS INT) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'pg_catalog' AND c.relname = 'pg_class'")
            .await?
            .collect()
            .await?;
        let oid_of_pg_class = oid_of_pg_class.first().filter(|b| b.num_rows() > 0).and_then(|b| b.column(0).as_any().downcast_ref::<Int32Array>().map(|a| a.value(0))).unwrap_or(1259);
        let description = description_table(&inner, &rels, oid_of_pg_class).await?;
        let pg_class = with_null_columns(&inner, "pg_class", &["reloptions", "relacl"]).await?;
        let pg_type = pg_type_with_oids(ctx).await?;
        let pg_settings: Arc<dyn TableProvider> = Arc::new(LiveView::of_connection(settings_schema(), settings_batch));
        let pg_constraint = empty_with_arrays(&inner, "pg_constraint", &["conkey", "confkey", "conpfeqop", "conppeqop", "conffeqop", "conexclop", "confdelsetcols"]).await?;
        let pg_index = empty_with_arrays(&inner, "pg_index", &["indkey", "indclass", "indcollation", "indoption"]).await?;
        let activity: Arc<dyn TableProvider> = Arc::new(LiveView::of_connection(activity_schema(), activity_batch));
        catalog.register_schema("pg_catalog", Arc::new(PgCatalog { inner, description, activity, pg_type, pg_settings, pg_constraint, pg_index, pg_class }))?;
    }
    // PostgreSQL's information_schema replaces DataFusion's for this session.
    let catalogs = ctx.state().catalog_list().clone();
    ctx.state_ref().write().config_mut().options_mut().catalog.information_schema = false;
    catalog.register_schema("information_schema", Arc::new(InformationSchema { df: InformationSchemaProvider::new(catalogs.clone()), catalogs }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_are_postgresql_s() {
        assert_eq!(canonical_type("int4"), Some("integer"));
        assert_eq!(canonical_type("pg_catalog.varchar"), Some("character varying"));
        assert_eq!(canonical_type("numeric(14,2)"), Some("numeric"));
        assert_eq!(canonical_type("hstore"), None);
        assert_eq!(pg_type_names(&DataType::Decimal128(14, 2)), ("numeric", "numeric"));
        assert_eq!(pg_type_names(&DataType::Utf8), ("text", "text"));
        assert_eq!(pg_type_names(&DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))), ("timestamp with time zone", "timestamptz"));
    }
}

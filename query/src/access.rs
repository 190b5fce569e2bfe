//! Access policy: who may read which tables, columns and rows.
//!
//! Scope is enforced where tables are scanned: every table a user can name is a [`ScopedTable`]
//! that filters the rows of the table underneath to the user's area or school before anything
//! above it (joins, subqueries, windows, views, exports) sees them. Restricted columns (PDPA) are
//! not part of the schema a non-admin user sees at all.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::DFSchema;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, col, lit};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use khlang_warehouse::schema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including raw rejected rows and the audit log.
    Admin,
    /// National, or one area when the user has an area.
    Analyst,
    /// One area.
    Director,
    /// One school.
    School,
    /// Anonymous: published aggregates only, small counts suppressed.
    #[value(skip)]
    Public,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Director => "director",
            Role::School => "school",
            Role::Public => "public",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "analyst" => Some(Role::Analyst),
            "director" => Some(Role::Director),
            "school" => Some(Role::School),
            "public" => Some(Role::Public),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rows a user may read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    National,
    Area(String),
    /// A school, with the area it belongs to.
    School { school: String, area: String },
    /// Published aggregates only.
    Public,
}

/// A signed-in user (or the anonymous public).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    pub user: String,
    pub role: Role,
    pub scope: Scope,
}

impl Principal {
    pub fn public() -> Self {
        Principal { user: "public".into(), role: Role::Public, scope: Scope::Public }
    }

    /// Command-line use on the warehouse's own machine: the operator is an admin.
    pub fn local_admin() -> Self {
        Principal { user: "local".into(), role: Role::Admin, scope: Scope::National }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The area the user is limited to, if any.
    pub fn area(&self) -> Option<&str> {
        match &self.scope {
            Scope::Area(a) | Scope::School { area: a, .. } => Some(a),
            _ => None,
        }
    }

    /// Whether the user may name this contract table at all.
    pub fn may_read(&self, table: &str) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Public => false,
            Role::Analyst | Role::Director => table != "audit_log",
            // A school sees its own rows; the warehouse-wide run log is not its own, nor the area's
            // counts of other schools' students (small cells could name a child).
            Role::School => !matches!(table, "audit_log" | "ingest_runs" | "enrollment_counts"),
        }
    }

    /// Columns of `table` hidden from this user (PDPA).
    pub fn hidden_columns(&self, table: &str) -> &'static [&'static str] {
        if self.is_admin() { &[] } else { schema::table(table).map_or(&[], |t| t.restricted) }
    }
}

/// The row filter for `table` under `scope`; `None` when every row is visible. `area_schools` lists
/// the school codes of the user's area, for tables that carry only a school code.
pub fn row_filter(table: &str, table_schema: &Schema, scope: &Scope, area_schools: &[String]) -> Option<Expr> {
    let has = |c: &str| table_schema.field_with_name(c).is_ok();
    match scope {
        Scope::National | Scope::Public => None,
        Scope::Area(area) => {
            if has("area_code") {
                Some(col("area_code").eq(lit(area.as_str())))
            } else if has("school_code") {
                Some(col("school_code").in_list(area_schools.iter().map(|s| lit(s.as_str())).collect(), false))
            } else if table == "provinces" {
                None
            } else {
                Some(lit(false))
            }
        }
        Scope::School { school, area } => {
            if has("school_code") {
                Some(col("school_code").eq(lit(school.as_str())))
            } else if has("area_code") {
                Some(col("area_code").eq(lit(area.as_str())))
            } else if table == "provinces" {
                None
            } else {
                Some(lit(false))
            }
        }
    }
}

/// A table as one user may see it: the rows of their scope, without restricted columns.
#[derive(Debug)]
pub struct ScopedTable {
    inner: Arc<dyn TableProvider>,
    /// For every visible column, its index in the inner table.
    visible: Vec<usize>,
    schema: SchemaRef,
    filter: Option<Expr>,
}

impl ScopedTable {
    pub fn new(inner: Arc<dyn TableProvider>, hidden: &[&str], filter: Option<Expr>) -> Self {
        let inner_schema = inner.schema();
        let visible: Vec<usize> =
            inner_schema.fields().iter().enumerate().filter(|(_, f)| !hidden.contains(&f.name().as_str())).map(|(i, _)| i).collect();
        let schema = Arc::new(Schema::new_with_metadata(
            visible.iter().map(|&i| inner_schema.field(i).clone()).collect::<Vec<_>>(),
            inner_schema.metadata().clone(),
        ));
        Self { inner, visible, schema, filter }
    }
}

#[async_trait]
impl TableProvider for ScopedTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(&self, state: &dyn Session, projection: Option<&Vec<usize>>, filters: &[Expr], limit: Option<usize>) -> DfResult<Arc<dyn ExecutionPlan>> {
        let wanted: Vec<usize> = match projection {
            Some(p) => p.iter().map(|&i| self.visible[i]).collect(),
            None => self.visible.clone(),
        };
        let Some(filter) = &self.filter else {
            return self.inner.scan(state, Some(&wanted), filters, limit).await;
        };
        // The scope filter needs its own columns, which the caller may not have asked for.
        let inner_schema = self.inner.schema();
        let mut read = wanted.clone();
        for c in filter.column_refs() {
            if let Ok(i) = inner_schema.index_of(&c.name)
                && !read.contains(&i)
            {
                read.push(i);
            }
        }
        // The limit cannot go below the filter: the first n rows may all be out of scope.
        let scan = self.inner.scan(state, Some(&read), filters, None).await?;
        let scan_schema = scan.schema();
        let df_schema = DFSchema::try_from(scan_schema.as_ref().clone())?;
        let predicate = state.create_physical_expr(filter.clone(), &df_schema)?;
        let filtered: Arc<dyn ExecutionPlan> = Arc::new(FilterExec::try_new(predicate, scan)?);
        if read.len() == wanted.len() {
            return Ok(filtered);
        }
        let exprs: Vec<(Arc<dyn datafusion::physical_expr::PhysicalExpr>, String)> = (0..wanted.len())
            .map(|i| {
                let name = scan_schema.field(i).name().clone();
                (Arc::new(Column::new(&name, i)) as _, name)
            })
            .collect();
        Ok(Arc::new(ProjectionExec::try_new(exprs, filtered)?))
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }
}

//! Answers to the catalog statements clients send on every connect (SQLAlchemy's table check,
//! JDBC's and ODBC's metadata, Superset's and Metabase's probes), kept per published state and kind
//! of caller. Planning one over the catalog views costs a few milliseconds, more than PostgreSQL
//! takes for the whole statement; the answer is the same for every connection of the same caller
//! until the next load is published.
//!
//! Only a statement whose answer cannot differ between two such connections is kept: it reads only
//! `pg_catalog` and `information_schema` tables other than the connection's own (`pg_stat_activity`,
//! `pg_settings`, `df_settings`), and calls no function that is volatile or answers per connection
//! or per moment (`current_user`, `current_setting`, `pg_backend_pid`, `now`, …).

use std::future::Future;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};

use crate::access::{Principal, Role, Scope};
use crate::per_state::PerState;

/// Stable functions whose answer depends only on the session's tables (the same for every
/// connection of one caller at one published state).
const STATE_ONLY: &[&str] = &[
    "version",
    "current_database",
    "current_catalog",
    "to_regclass",
    "to_regtype",
    "format_type",
    "obj_description",
    "col_description",
    "shobj_description",
    "pg_get_expr",
    "pg_get_indexdef",
    "pg_get_viewdef",
    "pg_get_constraintdef",
    "pg_get_serial_sequence",
    "pg_get_userbyid",
    "pg_table_is_visible",
    "pg_type_is_visible",
    "pg_function_is_visible",
    "pg_collation_is_visible",
    "pg_opclass_is_visible",
    "pg_encoding_to_char",
    "has_table_privilege",
    "has_schema_privilege",
    "has_database_privilege",
    "has_column_privilege",
    "has_any_column_privilege",
];

/// The connection's own catalog tables: never kept.
const PER_CONNECTION_TABLES: &[&str] = &["pg_stat_activity", "pg_settings", "df_settings"];

/// Answers kept per state: enough for every client's connect-time statements.
const KEPT: usize = 256;
/// Rows an answer may have to be kept (the largest catalog tables have a few thousand).
const MAX_ROWS: usize = 20_000;

/// A caller's kind and a statement's text.
type Key = (Role, Scope, String);

fn key(who: &Principal, sql: &str) -> Key {
    (who.role, who.scope.clone(), sql.to_string())
}

/// One kept answer: its rows and the tables it read (for the audit record).
#[derive(Debug)]
pub struct Answer {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub tables: Vec<String>,
}

#[derive(Debug)]
pub struct Probes {
    answers: PerState<Key, Arc<Answer>>,
    /// Extended-protocol statements parsed and planned, by their text and parameter types.
    plans: PerState<Key, super::DfStatement>,
}

impl Default for Probes {
    fn default() -> Self {
        Probes { answers: PerState::new(KEPT), plans: PerState::new(KEPT) }
    }
}

impl Probes {
    pub fn get(&self, seq: u64, who: &Principal, sql: &str) -> Option<Arc<Answer>> {
        self.answers.get(seq, key(who, sql))
    }

    /// The kept answer of `sql` (a [`cacheable`] statement reading `tables`), or the answer of
    /// running `frame`, kept when it is small enough.
    pub async fn answer(
        &self,
        seq: u64,
        who: &Principal,
        sql: &str,
        tables: &[String],
        frame: impl Future<Output = Result<DataFrame, DataFusionError>>,
    ) -> Result<Arc<Answer>, DataFusionError> {
        if let Some(kept) = self.get(seq, who, sql) {
            return Ok(kept);
        }
        let df = frame.await?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let answer = Arc::new(Answer { schema, batches: df.collect().await?, tables: tables.to_vec() });
        if answer.batches.iter().map(RecordBatch::num_rows).sum::<usize>() <= MAX_ROWS {
            self.answers.put(seq, key(who, sql), answer.clone());
        }
        Ok(answer)
    }

    pub fn plan(&self, seq: u64, who: &Principal, key_text: &str) -> Option<super::DfStatement> {
        self.plans.get(seq, key(who, key_text))
    }

    /// Keeps a parsed statement whose plan is [`cacheable`] (its plan binds no connection's own
    /// functions, so any connection of the caller may run it).
    pub fn put_plan(&self, seq: u64, who: &Principal, key_text: &str, statement: &super::DfStatement) {
        self.plans.put(seq, key(who, key_text), statement.clone());
    }
}

/// Whether `plan`'s answer is the same for every connection of its caller at its published state.
pub fn cacheable(plan: &LogicalPlan) -> bool {
    let mut ok = true;
    let _ = plan.apply_with_subqueries(|p| {
        if let LogicalPlan::TableScan(s) = p {
            // Inside the catalog's own views a catalog table is named bare (`pg_class`); no
            // warehouse table's name starts with `pg_`.
            let catalog = match s.table_name.schema() {
                Some(schema) => matches!(schema, "pg_catalog" | "information_schema"),
                None => s.table_name.table().starts_with("pg_"),
            };
            if !catalog || PER_CONNECTION_TABLES.contains(&s.table_name.table()) {
                ok = false;
            }
        }
        if matches!(p, LogicalPlan::Extension(_) | LogicalPlan::Statement(_)) {
            ok = false;
        }
        let _ = p.apply_expressions(|e| {
            e.apply(|e| {
                if !function_ok(e) {
                    ok = false;
                }
                Ok(if ok { TreeNodeRecursion::Continue } else { TreeNodeRecursion::Stop })
            })
        });
        Ok(if ok { TreeNodeRecursion::Continue } else { TreeNodeRecursion::Stop })
    });
    ok
}

fn function_ok(e: &Expr) -> bool {
    let (name, volatility) = match e {
        Expr::ScalarFunction(f) => (f.func.name(), f.func.signature().volatility),
        Expr::AggregateFunction(f) => (f.func.name(), f.func.signature().volatility),
        Expr::WindowFunction(w) => return !matches!(w.fun.signature().volatility, Volatility::Volatile),
        _ => return true,
    };
    match volatility {
        Volatility::Immutable => true,
        Volatility::Stable => STATE_ONLY.contains(&name),
        Volatility::Volatile => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;
    use datafusion::prelude::SessionContext;

    async fn plan(ctx: &SessionContext, sql: &str) -> LogicalPlan {
        ctx.state().create_logical_plan(sql).await.expect("test SQL plans")
    }

    #[tokio::test]
    async fn only_answers_shared_by_every_connection_are_kept() {
        let ctx = SessionContext::new_with_config(datafusion::prelude::SessionConfig::new().with_information_schema(true));
        ctx.sql("CREATE TABLE pupils (n INT) AS VALUES (1)").await.expect("table").collect().await.expect("made");
        assert!(cacheable(&plan(&ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'").await));
        assert!(cacheable(&plan(&ctx, "SELECT upper('x'), 1 + 1").await));
        ctx.sql("CREATE TABLE pg_thing (n INT) AS VALUES (1)").await.expect("table").collect().await.expect("made");
        assert!(cacheable(&plan(&ctx, "SELECT n FROM pg_thing").await), "a catalog table named bare inside a catalog view");
        assert!(!cacheable(&plan(&ctx, "SELECT n FROM pupils").await), "a warehouse table is read by the normal path");
        assert!(!cacheable(&plan(&ctx, "SELECT name FROM information_schema.df_settings").await), "the connection's settings");
        assert!(!cacheable(&plan(&ctx, "SELECT now()").await), "the moment");
        assert!(!cacheable(&plan(&ctx, "SELECT random()").await));
        assert!(
            !cacheable(&plan(&ctx, "SELECT table_name FROM information_schema.tables WHERE table_name IN (SELECT CAST(n AS VARCHAR) FROM pupils)").await),
            "a subquery over a warehouse table"
        );
    }
}

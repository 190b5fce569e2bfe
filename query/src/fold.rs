//! Folds uncorrelated scalar subqueries into literals before the optimiser sees them.
//!
//! Analysts and dashboards pick the latest snapshot with `snapshot_date = (SELECT max(snapshot_date)
//! FROM …)`. DataFusion plans such a subquery as a join, so the scan cannot skip the other
//! snapshots' partitions; with the value written in, it reads one snapshot instead of all.

use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct FoldScalarSubqueries;

/// The subquery's single value; `None` (leave it to the engine) unless it ran and gave one column
/// of at most one row.
fn evaluate(plan: &LogicalPlan) -> Option<ScalarValue> {
    let handle = tokio::runtime::Handle::try_current().ok()?;
    if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread || plan.schema().fields().len() != 1 {
        return None;
    }
    let data_type = plan.schema().field(0).data_type().clone();
    let plan = plan.clone();
    // Analyzer rules are synchronous; the subquery's scans are not.
    let batches = tokio::task::block_in_place(|| {
        handle.block_on(async move {
            let state = SessionStateBuilder::new().with_default_features().build();
            let physical = state.create_physical_plan(&plan).await?;
            datafusion::physical_plan::collect(physical, state.task_ctx()).await
        })
    })
    .ok()?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    match rows {
        0 => ScalarValue::try_from(&data_type).ok(),
        1 => {
            let b = batches.iter().find(|b| b.num_rows() == 1)?;
            ScalarValue::try_from_array(b.column(0), 0).ok()
        }
        // More than one row is an error the engine reports in its own words.
        _ => None,
    }
}

impl AnalyzerRule for FoldScalarSubqueries {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|p| {
            // A folded expression keeps its name (`(SELECT count(*) …) - (SELECT …)` stays the
            // column it was), and the node's schema is computed again for the literal's type.
            let names = NamePreserver::new(&p);
            let folded = p.map_expressions(|e| {
                let name = names.save(&e);
                let folded = e.transform_up(|e| match e {
                    Expr::ScalarSubquery(sq) if sq.outer_ref_columns.is_empty() && sq.subquery.all_out_ref_exprs().is_empty() => match evaluate(&sq.subquery) {
                        Some(v) => Ok(Transformed::yes(Expr::Literal(v, None))),
                        None => Ok(Transformed::no(Expr::ScalarSubquery(sq))),
                    },
                    other => Ok(Transformed::no(other)),
                })?;
                Ok(if folded.transformed { folded.update_data(|e| name.restore(e)) } else { folded })
            })?;
            if folded.transformed { folded.map_data(|p| p.recompute_schema()) } else { Ok(folded) }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "fold_scalar_subqueries"
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;

    use arrow::array::{Int32Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    use super::FoldScalarSubqueries;

    fn context() -> SessionContext {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int32Array::from(vec![1, 2, 3, 4]))]).unwrap();
        let ctx = SessionContext::new();
        ctx.register_table("t", Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())).unwrap();
        ctx.add_analyzer_rule(Arc::new(FoldScalarSubqueries));
        ctx
    }

    async fn answer(ctx: &SessionContext, sql: &str) -> (Vec<String>, String) {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let names = batches[0].schema().fields().iter().map(|f| f.name().clone()).collect();
        (names, arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string())
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_folded_subquery_keeps_its_column_name() {
        let ctx = context();
        // Two folded subqueries in one projection: planned before as an internal error.
        let (names, text) = answer(&ctx, "SELECT (SELECT count(*) FROM t) - (SELECT count(*) FROM t WHERE x > 2)").await;
        assert_eq!(names.len(), 1);
        assert!(!names[0].starts_with("Int64("), "the literal's name leaked: {}", names[0]);
        assert!(text.contains("| 2 "), "{text}");
        // An outer query still finds the inner query's column by its name.
        let (_, text) = answer(&ctx, "SELECT d + 1 AS e FROM (SELECT (SELECT max(x) FROM t) AS d)").await;
        assert!(text.contains("| 5 "), "{text}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_filter_on_a_folded_subquery_gives_the_same_rows() {
        let ctx = context();
        let (_, text) = answer(&ctx, "SELECT x FROM t WHERE x = (SELECT max(x) FROM t)").await;
        assert!(text.contains("| 4 ") && !text.contains("| 3 "), "{text}");
        // No row: the subquery is NULL, and so is the comparison.
        let (_, text) = answer(&ctx, "SELECT count(*) AS n FROM t WHERE x = (SELECT max(x) FROM t WHERE x > 9)").await;
        assert!(text.contains("| 0 "), "{text}");
    }
}

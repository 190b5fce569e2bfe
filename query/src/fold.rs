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
            p.map_expressions(|e| {
                e.transform_up(|e| match e {
                    Expr::ScalarSubquery(sq) if sq.outer_ref_columns.is_empty() && sq.subquery.all_out_ref_exprs().is_empty() => match evaluate(&sq.subquery) {
                        Some(v) => Ok(Transformed::yes(Expr::Literal(v, None))),
                        None => Ok(Transformed::no(Expr::ScalarSubquery(sq))),
                    },
                    other => Ok(Transformed::no(other)),
                })
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "fold_scalar_subqueries"
    }
}

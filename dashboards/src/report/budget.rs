//! The budget domain: allocation and disbursement by category and quarter, the per-capita subsidy due.

use khlang_query::reference;

use crate::msg;
use crate::table::{rows, Cells as _};

use super::{ReportError, LEVELS, Cell, ChartKind, Chart, Ctx, Domain, Kind, Section, Summary, Table, fig, pct, ratio};

pub(super) async fn budget(c: &Ctx<'_>, s: &Summary) -> Result<Section, ReportError> {
    let (f, fy) = (&c.f, c.fiscal_year);
    let (cats, quarters, counts) = tokio::try_join!(
        rows(c.ctx, &format!("SELECT category, sum(allocated_baht), sum(disbursed_baht) FROM budget_lines WHERE {f} AND fiscal_year = {fy} GROUP BY category ORDER BY 2 DESC, 1")),
        // Cumulative disbursement at the end of each quarter against the government's targets.
        rows(c.ctx, &format!("SELECT fiscal_quarter, sum(disbursed_baht) FROM budget_lines WHERE {f} AND fiscal_year = {fy} GROUP BY fiscal_quarter")),
        // Per-capita teaching subsidy due: half a year on each official (10 June) count whose term falls in the fiscal year.
        rows(
            c.ctx,
            &format!(
                "SELECT academic_year, sum(students_pre_primary), sum(students_primary), sum(students_lower_secondary), sum(students_upper_secondary) \
                 FROM school_snapshot_summary WHERE {f} AND date_part('month', snapshot_date) = 6 AND academic_year IN ({}, {fy}) GROUP BY academic_year",
                fy - 1
            ),
        ),
    )?;
    let mut by_cat = Table::new(
        "budget_by_category",
        format!("{} {fy}", msg::T_BUDGET_BY_CATEGORY),
        &[(msg::C_CATEGORY, Kind::Text), (msg::C_ALLOCATED, Kind::Money), (msg::C_DISBURSED, Kind::Money), (msg::C_RATE, Kind::Percent)],
    );
    let (mut allocated, mut disbursed) = (0.0, 0.0);
    let mut per_capita_allocated = 0.0;
    for r in &cats {
        let (a, d) = (r.at(1).as_f64().unwrap_or(0.0), r.at(2).as_f64().unwrap_or(0.0));
        allocated += a;
        disbursed += d;
        if r.at(0).text() == "per_capita_teaching" {
            per_capita_allocated = a;
        }
        by_cat.rows.push(vec![Cell::Text(msg::category(&r.at(0).text()).into()), Cell::Num(a), Cell::Num(d), pct(Some(d), Some(a)).map_or(Cell::Null, Cell::Num)]);
    }

    let mut progress = Table::new(
        "disbursement_by_quarter",
        format!("{} {fy}", msg::T_DISBURSEMENT),
        &[(msg::C_QUARTER, Kind::Text), (msg::C_CUMULATIVE_RATE, Kind::Percent), (msg::C_TARGET, Kind::Percent), (msg::C_DISBURSED_IN_QUARTER, Kind::Money), (msg::C_CUMULATIVE, Kind::Money)],
    );
    let mut cumulative = 0.0;
    // Quarters after the last one with any transaction have not happened yet (the current fiscal year).
    let last = quarters.iter().filter_map(|r| r.at(0).as_i64()).max().unwrap_or(0);
    for q in 1..=4 {
        let d = quarters.iter().find(|r| r.at(0).as_i64() == Some(q)).and_then(|r| r.at(1).as_f64()).unwrap_or(0.0);
        cumulative += d;
        let reached = |v: Cell| if q <= last { v } else { Cell::Null };
        progress.rows.push(vec![
            Cell::Text(format!("{} {q}", msg::QUARTER)),
            reached(pct(Some(cumulative), Some(allocated)).map_or(Cell::Null, Cell::Num)),
            reference::disbursement_target(fy, q as i32).map_or(Cell::Null, Cell::Num),
            reached(Cell::Num(d)),
            reached(Cell::Num(cumulative)),
        ]);
    }

    let mut due_table = Table::new(
        "per_capita_due",
        format!("{} {fy}", msg::T_PER_CAPITA),
        &[(msg::C_LEVEL, Kind::Text), (msg::C_RATE_BAHT, Kind::Money), (msg::C_STUDENTS_TERM2, Kind::Count), (msg::C_STUDENTS_TERM1, Kind::Count), (msg::C_DUE, Kind::Money)],
    );
    let count_of = |year: i32, level: usize| counts.iter().find(|r| r.at(0).as_i64() == Some(i64::from(year))).and_then(|r| r.get(level + 1)).and_then(Cell::as_i64);
    let mut due = 0.0;
    for (i, l) in LEVELS.iter().enumerate() {
        let rate = reference::subsidy_rate("per_capita_teaching", l, fy).unwrap_or(0) as f64;
        let (t2, t1) = (count_of(fy - 1, i), count_of(fy, i));
        let d = rate * (t2.unwrap_or(0) as f64 + t1.unwrap_or(0) as f64) / 2.0;
        due += d;
        due_table.rows.push(vec![Cell::Text(msg::level(l).into()), Cell::Num(rate), t2.map_or(Cell::Null, Cell::Int), t1.map_or(Cell::Null, Cell::Int), Cell::Num(d)]);
    }
    due_table.rows.push(vec![Cell::Text(msg::C_TOTAL.into()), Cell::Null, Cell::Null, Cell::Null, Cell::Num(due)]);

    let figures = vec![
        fig("allocated", msg::F_ALLOCATED, Some(allocated), Kind::Money, msg::U_BAHT),
        fig("disbursed", msg::F_DISBURSED, Some(disbursed), Kind::Money, msg::U_BAHT),
        fig("disbursement_rate", msg::F_DISBURSEMENT_RATE, pct(Some(disbursed), Some(allocated)), Kind::Percent, "%"),
        fig("per_capita_due", msg::F_PER_CAPITA_DUE, Some(due), Kind::Money, msg::U_BAHT),
        fig("per_capita_allocated", msg::F_PER_CAPITA_ALLOCATED, Some(per_capita_allocated), Kind::Money, msg::U_BAHT),
        fig("spending_per_student", msg::F_SPENDING_PER_STUDENT, ratio(Some(disbursed), s.students).map(|r| r.round()), Kind::Money, msg::U_BAHT),
    ];
    let mut alloc_chart = Table::new("budget_chart", format!("{} {fy}", msg::T_BUDGET_BY_CATEGORY), &[(msg::C_CATEGORY, Kind::Text), (msg::C_ALLOCATED, Kind::Money), (msg::C_DISBURSED, Kind::Money)]);
    alloc_chart.rows = by_cat.rows.iter().map(|r| r.iter().take(3).cloned().collect()).collect();
    let mut progress_chart = Table::new("disbursement_chart", format!("{} {fy}", msg::T_DISBURSEMENT), &[(msg::C_QUARTER, Kind::Text), (msg::C_CUMULATIVE_RATE, Kind::Percent), (msg::C_TARGET, Kind::Percent)]);
    progress_chart.rows = progress.rows.iter().map(|r| r.iter().take(3).cloned().collect()).collect();
    Ok(Section {
        domain: Domain::Budget,
        figures,
        charts: vec![Chart { kind: ChartKind::Bars, table: alloc_chart }, Chart { kind: ChartKind::Progress, table: progress_chart }],
        tables: vec![by_cat, progress, due_table],
        notes: vec![msg::N_DISBURSEMENT.into(), msg::N_TARGET.into(), msg::N_PER_CAPITA.into(), msg::N_SPENDING.into()],
    })
}

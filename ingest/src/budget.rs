//! The budget feed (e-Budget), checked row by row (`rows`) against the rules of domain.md in their
//! order (the first a row breaks is its rule), as the students and personnel are: a national pull's
//! budget lines took the polars expressions a column for every step and a hand-over to Arrow.

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Int32Array};
use arrow::record_batch::RecordBatch;
use chrono::Datelike;
use polars::prelude::*;

use crate::IngestError;
use crate::feeds;
use crate::read::Read;
use crate::rows::{self, Rejected, blank, days, decimal, lower, money, number, strings};
use crate::to_arrow;
use crate::transform::{Context, parse_date};
use khlang_warehouse::{office, schema};

type Fields<'a> = rows::Fields<'a, 8>;

/// The columns of the feed, in `feeds::BUDGET` order (the order of a rejected row's raw text).
const FY: usize = 0;
const AREA: usize = 1;
const SCHOOL: usize = 2;
const CATEGORY: usize = 3;
const ALLOCATED: usize = 4;
const DISBURSED: usize = 5;
const DATE: usize = 6;
const DOCUMENT: usize = 7;
const NAMES: [&str; 8] = ["fiscal_year", "area_code", "school_code", "category", "allocated_baht", "disbursed_baht", "transaction_date", "document_no"];
/// Filled in on every row, in the order their absence is told.
const REQUIRED: [usize; 7] = [FY, AREA, CATEGORY, ALLOCATED, DISBURSED, DATE, DOCUMENT];
/// หมวดรายจ่าย, as the table has them.
const CATEGORIES: [&str; 8] = [
    "per_capita_teaching",
    "textbooks",
    "learning_supplies",
    "uniforms",
    "student_activities",
    "investment_construction",
    "investment_equipment",
    "operating",
];

fn err(message: impl std::fmt::Display) -> IngestError {
    IngestError::Transform { feed: feeds::BUDGET.name.into(), message: message.to_string() }
}

/// A good row's values, as the table has them.
struct Line<'a> {
    fiscal_year: i32,
    area: &'a str,
    /// `None` for an office's own line.
    school: Option<&'a str>,
    category: u8,
    /// As written (thousands separators are taken out when the column is built).
    allocated: &'a str,
    disbursed: &'a str,
    date: i32,
    quarter: i32,
    document: &'a str,
}

/// What every row is checked against, found once.
struct Rules<'c> {
    schools: PlHashSet<&'c str>,
    areas: PlHashSet<&'c str>,
}

impl Rules<'_> {
    /// The row's values, or the first rule it breaks (the order of domain.md's budget rules).
    fn check<'a>(&self, fields: &Fields<'a>) -> Result<Line<'a>, Rejected> {
        let v = |c: usize| fields.get(c).copied().flatten();
        let text = |c: usize| v(c).unwrap_or_default();
        let name = |c: usize| NAMES.get(c).copied().unwrap_or_default();
        if let Some(c) = REQUIRED.into_iter().find(|c| blank(v(*c))) {
            return Err(("required_value_missing", format!("{} is empty", name(c))));
        }
        let date = parse_date(text(DATE)).ok_or_else(|| ("date_unparseable", format!("transaction_date '{}' is not a date (2025-06-10 or 10/06/2568)", text(DATE))))?;
        let unparsable = |c: usize| ("number_unparseable", format!("{} '{}' is not a number", name(c), text(c)));
        let fiscal_year: i32 = number(v(FY)).ok_or_else(|| unparsable(FY))?;
        let allocated: f64 = number(v(ALLOCATED)).ok_or_else(|| unparsable(ALLOCATED))?;
        let disbursed: f64 = number(v(DISBURSED)).ok_or_else(|| unparsable(DISBURSED))?;
        if !self.areas.contains(text(AREA)) {
            return Err(("area_code_unknown", format!("area code '{}' is not in the areas feed", text(AREA))));
        }
        let school = v(SCHOOL).filter(|s| !s.is_empty());
        if let Some(s) = school.filter(|s| !self.schools.contains(s)) {
            return Err(("school_code_unknown", format!("school code '{s}' is not in the schools feed")));
        }
        let lowered = lower(text(CATEGORY));
        let category = CATEGORIES.iter().position(|c| *c == lowered.as_ref()).ok_or_else(|| ("value_invalid", format!("category '{}' is not one of {}", text(CATEGORY), CATEGORIES.join(", "))))?;
        if let Some((n, value)) = [("alloc", allocated), ("disb", disbursed)].into_iter().find(|(_, x)| *x < 0.0) {
            return Err(("negative_number", format!("{n} is negative: {}", decimal(value))));
        }
        if disbursed > allocated {
            return Err(("disbursed_over_allocated", format!("disbursed {} is more than allocated {}", text(DISBURSED), text(ALLOCATED))));
        }
        // Thai fiscal year: October to September, named for the Buddhist-Era year it ends in.
        let late = date.month() >= 10;
        if date.year() + office::BE_OFFSET + i32::from(late) != fiscal_year {
            return Err(("date_outside_fiscal_year", format!("transaction date {} is not in fiscal year {}", text(DATE), text(FY))));
        }
        let quarter = if late { 1 } else { (i32::try_from(date.month()).unwrap_or(1) - 1) / 3 + 2 };
        Ok(Line {
            fiscal_year,
            area: text(AREA),
            school,
            category: u8::try_from(category).unwrap_or(0),
            allocated: text(ALLOCATED),
            disbursed: text(DISBURSED),
            date: days(date),
            quarter,
            document: text(DOCUMENT),
        })
    }
}

/// Checks the budget lines (as read) against the schools and areas of `ctx`: the scope values
/// are the fiscal years loaded.
pub fn check(input: Read, ctx: &Context) -> Result<rows::Checked, IngestError> {
    let rules = Rules { schools: ctx.school_codes.iter().map(String::as_str).collect(), areas: ctx.area_codes.iter().map(String::as_str).collect() };
    rows::check_feed(&input, &feeds::BUDGET, &NAMES, SCHOOL, |fields| rules.check(fields), |l| l.fiscal_year, |y| y.to_string(), |chunk| batch(chunk))
}

/// Good rows as a batch of the budget_lines table.
fn batch(ls: &[&Line]) -> Result<RecordBatch, IngestError> {
    let def = schema::table(feeds::BUDGET.table).ok_or_else(|| err("no budget_lines table"))?;
    let n = ls.len();
    let int = |f: &dyn Fn(&Line) -> i32| -> ArrayRef { Arc::new(Int32Array::from(ls.iter().map(|l| f(l)).collect::<Vec<_>>())) };
    let cols: Vec<(String, ArrayRef)> = vec![
        ("fiscal_year".into(), int(&|l| l.fiscal_year)),
        ("area_code".into(), strings(ls.iter().map(|l| Some(l.area)), n)),
        ("school_code".into(), strings(ls.iter().map(|l| l.school), n)),
        ("category".into(), strings(ls.iter().map(|l| CATEGORIES.get(usize::from(l.category)).copied()), n)),
        ("allocated_baht".into(), money(ls.iter().map(|l| l.allocated), n)),
        ("disbursed_baht".into(), money(ls.iter().map(|l| l.disbursed), n)),
        ("transaction_date".into(), Arc::new(Date32Array::from(ls.iter().map(|l| l.date).collect::<Vec<_>>()))),
        ("fiscal_quarter".into(), int(&|l| l.quarter)),
        ("document_no".into(), strings(ls.iter().map(|l| Some(l.document)), n)),
    ];
    to_arrow::conform(feeds::BUDGET.name, &def.schema, &cols, &[], n)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::read::FILE_COL;
    use crate::rows::testing::{self, ctx, texts};
    use crate::transform::RAW_COL;

    const HEADER: &str = "fiscal_year,area_code,school_code,category,allocated_baht,disbursed_baht,transaction_date,document_no";

    /// Line 2 on: every rule of the feed broken once, in the order they are tried, between good rows.
    const ROWS: [&str; 17] = [
        // 2 good: a school's line, October is the first quarter of the next fiscal year
        "2570,56010000,1056010001,Textbooks,\"12,000.50\",\"1,000\",2026-10-01,DOC-1",
        // 3 no category, and no document after it: the first missing one is told
        "2570,56010000,1056010001,,100,50,2026-10-01,",
        // 4 a date that is not one
        "2570,56010000,1056010001,textbooks,100,50,31/02/2569,DOC-4",
        // 5 a fiscal year that is not a number (after a good date)
        "๒๕๗๐,56010000,1056010001,textbooks,100,50,2026-10-01,DOC-5",
        // 6 a disbursement that is not a number
        "2570,56010000,1056010001,textbooks,100,fifty,2026-10-01,DOC-6",
        // 7 an area not in the areas feed
        "2570,99999999,1056010001,textbooks,100,50,2026-10-01,DOC-7",
        // 8 a school not in the schools feed
        "2570,56010000,1099999999,textbooks,100,50,2026-10-01,DOC-8",
        // 9 good: the office's own line (no school), Thai date, September is the fourth quarter
        " 2569 , 56020000 ,   ,operating,500,500,30/09/2569, DOC-9 ",
        // 10 an unknown category
        "2570,56010000,1056010001,snacks,100,50,2026-10-01,DOC-10",
        // 11 a negative allocation
        "2570,56010000,1056010001,textbooks,-100,50,2026-10-01,DOC-11",
        // 12 a negative disbursement (the allocation is not negative)
        "2570,56010000,1056010001,textbooks,100,-0.5,2026-10-01,DOC-12",
        // 13 more disbursed than allocated
        "2570,56010000,1056010001,textbooks,100,100.01,2026-10-01,DOC-13",
        // 14 a date of another fiscal year
        "2570,56010000,1056010001,textbooks,100,50,2026-09-30,DOC-14",
        // 15 good: January is the second quarter, April the third
        "2569,56010000,1056010002,INVESTMENT_equipment,0,0,2026-01-15,DOC-15",
        // 16 good
        "2569,56010000,1056010002,uniforms,1000000,999999.99,15/04/2569,DOC-16",
        // 17 no fiscal year
        ",56010000,1056010002,uniforms,1,1,15/04/2569,DOC-17",
        // 18 a school of spaces is no school; a year with a thousands separator
        "\"2,569\",56010000,  ,uniforms,1,1,2026-07-01,DOC-18",
    ];

    #[test]
    fn rules_in_order_and_the_tables_values() {
        let text = format!("{HEADER}\n{}\n", ROWS.join("\n"));
        let c = testing::checked(feeds::BUDGET, "budget.csv", &text, false, |read| check(read, &ctx()));
        let col = |name: &str| testing::rejected(&c, name);
        let expected = [
            ("required_value_missing", "category is empty"),
            ("date_unparseable", "transaction_date '31/02/2569' is not a date (2025-06-10 or 10/06/2568)"),
            ("number_unparseable", "fiscal_year '๒๕๗๐' is not a number"),
            ("number_unparseable", "disbursed_baht 'fifty' is not a number"),
            ("area_code_unknown", "area code '99999999' is not in the areas feed"),
            ("school_code_unknown", "school code '1099999999' is not in the schools feed"),
            ("value_invalid", "category 'snacks' is not one of per_capita_teaching, textbooks, learning_supplies, uniforms, student_activities, investment_construction, investment_equipment, operating"),
            ("negative_number", "alloc is negative: -100.0"),
            ("negative_number", "disb is negative: -0.5"),
            ("disbursed_over_allocated", "disbursed 100.01 is more than allocated 100"),
            ("date_outside_fiscal_year", "transaction date 2026-09-30 is not in fiscal year 2570"),
            ("required_value_missing", "fiscal_year is empty"),
        ];
        testing::rejections(&c, &[3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 17], &expected);
        assert_eq!(col("school_code")[0].as_deref(), Some("1056010001"));
        assert_eq!(col(RAW_COL)[0].as_deref(), Some("2570,56010000,1056010001,,100,50,2026-10-01,"));
        assert_eq!(col(FILE_COL)[0].as_deref(), Some("budget.csv"));

        let g = &arrow::compute::concat_batches(&c.good[0].schema(), &c.good).unwrap();
        assert_eq!(texts(g, "fiscal_year"), ["2570", "2569", "2569", "2569", "2569"]);
        assert_eq!(texts(g, "area_code"), ["56010000", "56020000", "56010000", "56010000", "56010000"]);
        assert_eq!(texts(g, "school_code"), ["1056010001", "", "1056010002", "1056010002", ""]);
        assert!(g.column_by_name("school_code").unwrap().is_null(1), "the office's own line has no school");
        assert!(g.column_by_name("school_code").unwrap().is_null(4), "a school code of spaces is none");
        assert_eq!(texts(g, "category"), ["textbooks", "operating", "investment_equipment", "uniforms", "uniforms"]);
        assert_eq!(texts(g, "allocated_baht"), ["12000.50", "500.00", "0.00", "1000000.00", "1.00"]);
        assert_eq!(texts(g, "disbursed_baht"), ["1000.00", "500.00", "0.00", "999999.99", "1.00"]);
        assert_eq!(texts(g, "transaction_date"), ["2026-10-01", "2026-09-30", "2026-01-15", "2026-04-15", "2026-07-01"]);
        assert_eq!(texts(g, "fiscal_quarter"), ["1", "4", "2", "3", "4"]);
        assert_eq!(texts(g, "document_no"), ["DOC-1", "DOC-9", "DOC-15", "DOC-16", "DOC-18"]);
        assert_eq!(c.values, ["2569", "2570"]);
        assert_eq!(c.rows, 17);
    }

    #[test]
    fn csv_text_reads_as_polars_reads_it() {
        let text = format!("{HEADER}\r\n{}", ROWS.iter().filter(|r| !r.contains('"')).copied().collect::<Vec<_>>().join("\r\n"));
        assert_eq!(testing::same_both_ways(feeds::BUDGET, "budget.csv", &text, |read| check(read, &ctx())), 15);
    }
}

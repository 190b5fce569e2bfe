//! The tests feed (NIETS: O-NET, NT, RT results per school and subject), checked row by row
//! (`rows`) against the rules of domain.md in their order (the first a row breaks is its rule), as
//! the students are.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int32Array};
use arrow::record_batch::RecordBatch;
use polars::prelude::*;

use crate::IngestError;
use crate::feeds;
use crate::read::Read;
use crate::rows::{self, Rejected, blank, lower, number, strings, upper};
use crate::to_arrow;
use crate::transform::Context;
use khlang_warehouse::schema;

type Fields<'a> = rows::Fields<'a, 6>;

/// The columns of the feed, in `feeds::TESTS` order (the order of a rejected row's raw text).
const YEAR: usize = 0;
const TEST: usize = 1;
const SCHOOL: usize = 2;
const SUBJECT: usize = 3;
const EXAMINEES: usize = 4;
const MEAN: usize = 5;
const NAMES: [&str; 6] = ["academic_year", "test", "school_code", "subject", "examinees", "mean_score"];
/// The national tests, as the table has them.
const TESTS: [&str; 5] = ["ONET_P6", "ONET_M3", "ONET_M6", "NT_P3", "RT_P1"];

fn err(message: impl std::fmt::Display) -> IngestError {
    IngestError::Transform { feed: feeds::TESTS.name.into(), message: message.to_string() }
}

/// A good row's values, as the table has them.
struct Score<'a> {
    academic_year: i32,
    test: u8,
    /// The school's place in `Context::school_codes`.
    school: u32,
    subject: Cow<'a, str>,
    examinees: i32,
    mean: f64,
}

/// The row's values, or the first rule it breaks (the order of domain.md's test rules), against
/// the schools (code to place in `Context::school_codes`).
fn check_row<'a>(schools: &PlHashMap<&str, u32>, fields: &Fields<'a>) -> Result<Score<'a>, Rejected> {
    let v = |c: usize| fields.get(c).copied().flatten();
    let text = |c: usize| v(c).unwrap_or_default();
    let name = |c: usize| NAMES.get(c).copied().unwrap_or_default();
    if let Some(c) = (0..NAMES.len()).find(|c| blank(v(*c))) {
        return Err(("required_value_missing", format!("{} is empty", name(c))));
    }
    let unparsable = |c: usize| ("number_unparseable", format!("{} '{}' is not a number", name(c), text(c)));
    let academic_year: i32 = number(v(YEAR)).ok_or_else(|| unparsable(YEAR))?;
    let examinees: i32 = number(v(EXAMINEES)).ok_or_else(|| unparsable(EXAMINEES))?;
    let mean: f64 = number(v(MEAN)).ok_or_else(|| unparsable(MEAN))?;
    let school = *schools.get(text(SCHOOL)).ok_or_else(|| ("school_code_unknown", format!("school code '{}' is not in the schools feed", text(SCHOOL))))?;
    let upper_test = upper(text(TEST));
    let test = TESTS.iter().position(|t| *t == upper_test.as_ref()).ok_or_else(|| ("value_invalid", format!("test '{}' is not ONET_P6, ONET_M3, ONET_M6, NT_P3 or RT_P1", text(TEST))))?;
    if examinees < 0 {
        return Err(("negative_number", format!("n is negative: {examinees}")));
    }
    // Not a number (NaN) is outside the range too.
    if !(0.0..=100.0).contains(&mean) {
        return Err(("mean_score_range", format!("mean score {} is outside 0-100", text(MEAN))));
    }
    Ok(Score { academic_year, test: u8::try_from(test).unwrap_or(0), school, subject: lower(text(SUBJECT)), examinees, mean })
}

/// Checks the test results (as read) against the schools of `ctx`: the scope values are the
/// academic years loaded.
pub fn check(input: Read, ctx: &Context) -> Result<rows::Checked, IngestError> {
    let schools: PlHashMap<&str, u32> = ctx.school_codes.iter().enumerate().map(|(i, c)| (c.as_str(), u32::try_from(i).unwrap_or(u32::MAX))).collect();
    rows::check_feed(&input, &feeds::TESTS, &NAMES, SCHOOL, |fields| check_row(&schools, fields), |s| s.academic_year, |y| y.to_string(), |chunk| batch(chunk, ctx))
}

/// The school's entry of `v` (one per school of the schools feed).
fn of_school<'v>(v: &'v [String], s: &Score) -> Option<&'v str> {
    v.get(s.school as usize).map(String::as_str)
}

/// Good rows as a batch of the test_results table.
fn batch(ss: &[&Score], ctx: &Context) -> Result<RecordBatch, IngestError> {
    let def = schema::table(feeds::TESTS.table).ok_or_else(|| err("no test_results table"))?;
    let n = ss.len();
    let int = |f: &dyn Fn(&Score) -> i32| -> ArrayRef { Arc::new(Int32Array::from(ss.iter().map(|s| f(s)).collect::<Vec<_>>())) };
    let cols: Vec<(String, ArrayRef)> = vec![
        ("academic_year".into(), int(&|s| s.academic_year)),
        ("test".into(), strings(ss.iter().map(|s| TESTS.get(usize::from(s.test)).copied()), n)),
        ("area_code".into(), strings(ss.iter().map(|s| of_school(&ctx.school_areas, s)), n)),
        ("school_code".into(), strings(ss.iter().map(|s| of_school(&ctx.school_codes, s)), n)),
        ("subject".into(), strings(ss.iter().map(|s| Some(s.subject.as_ref())), n)),
        ("examinees".into(), int(&|s| s.examinees)),
        ("mean_score".into(), Arc::new(Float64Array::from(ss.iter().map(|s| s.mean).collect::<Vec<_>>()))),
    ];
    to_arrow::conform(feeds::TESTS.name, &def.schema, &cols, &[], n)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::read::FILE_COL;
    use crate::rows::testing::{self, ctx, texts};
    use crate::transform::RAW_COL;

    const HEADER: &str = "academic_year,test,school_code,subject,examinees,mean_score";

    /// Line 2 on: every rule of the feed broken once, in the order they are tried, between good rows.
    const ROWS: [&str; 14] = [
        // 2 good
        "2568,ONET_P6,1056010001,Thai,\"1,250\",45.5",
        // 3 no subject, and no examinees after it: the first missing one is told
        "2568,ONET_P6,1056010001,,,45.5",
        // 4 a year that is not a number
        "2568/69,ONET_P6,1056010001,thai,10,45.5",
        // 5 examinees that are not a number
        "2568,ONET_P6,1056010001,thai,ten,45.5",
        // 6 a mean that is not a number
        "2568,ONET_P6,1056010001,thai,10,high",
        // 7 a school not in the schools feed
        "2568,ONET_P6,1099999999,thai,10,45.5",
        // 8 good: padded, lower-case test, a mean of 100
        " 2567 , nt_p3 , 1056010002 , Math , 0 , 100 ",
        // 9 an unknown test
        "2568,GAT,1056010001,thai,10,45.5",
        // 10 negative examinees
        "2568,ONET_M3,1056010001,thai,-3,45.5",
        // 11 a mean over 100
        "2568,ONET_M3,1056010001,thai,3,100.5",
        // 12 a mean under 0
        "2568,ONET_M3,1056010001,thai,3,-0.25",
        // 13 good: a mean of 0
        "2568,RT_P1,1056010002,reading,12,0",
        // 14 no school
        "2568,RT_P1,,reading,12,0",
        // 15 a school of spaces
        "2568,RT_P1,   ,reading,12,0",
    ];

    #[test]
    fn rules_in_order_and_the_tables_values() {
        let text = format!("{HEADER}\n{}\n", ROWS.join("\n"));
        let c = testing::checked(feeds::TESTS, "tests_2568.csv", &text, false, |read| check(read, &ctx()));
        let col = |name: &str| testing::rejected(&c, name);
        let expected = [
            ("required_value_missing", "subject is empty"),
            ("number_unparseable", "academic_year '2568/69' is not a number"),
            ("number_unparseable", "examinees 'ten' is not a number"),
            ("number_unparseable", "mean_score 'high' is not a number"),
            ("school_code_unknown", "school code '1099999999' is not in the schools feed"),
            ("value_invalid", "test 'GAT' is not ONET_P6, ONET_M3, ONET_M6, NT_P3 or RT_P1"),
            ("negative_number", "n is negative: -3"),
            ("mean_score_range", "mean score 100.5 is outside 0-100"),
            ("mean_score_range", "mean score -0.25 is outside 0-100"),
            ("required_value_missing", "school_code is empty"),
            ("required_value_missing", "school_code is empty"),
        ];
        testing::rejections(&c, &[3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15], &expected);
        assert_eq!(col("school_code")[4].as_deref(), Some("1099999999"));
        assert_eq!(col("school_code")[9], None);
        assert_eq!(col("school_code")[10].as_deref(), Some(""));
        assert_eq!(col(RAW_COL)[0].as_deref(), Some("2568,ONET_P6,1056010001,,,45.5"));
        assert_eq!(col(FILE_COL)[0].as_deref(), Some("tests_2568.csv"));

        let g = &arrow::compute::concat_batches(&c.good[0].schema(), &c.good).unwrap();
        assert_eq!(texts(g, "academic_year"), ["2568", "2567", "2568"]);
        assert_eq!(texts(g, "test"), ["ONET_P6", "NT_P3", "RT_P1"]);
        assert_eq!(texts(g, "area_code"), ["56020000", "56010000", "56010000"], "a school's area");
        assert_eq!(texts(g, "school_code"), ["1056010001", "1056010002", "1056010002"]);
        assert_eq!(texts(g, "subject"), ["thai", "math", "reading"]);
        assert_eq!(texts(g, "examinees"), ["1250", "0", "12"]);
        assert_eq!(texts(g, "mean_score"), ["45.5", "100.0", "0.0"]);
        assert_eq!(c.values, ["2567", "2568"]);
        assert_eq!(c.rows, 14);
    }

    #[test]
    fn csv_text_reads_as_polars_reads_it() {
        let text = format!("{HEADER}\r\n{}", ROWS.iter().filter(|r| !r.contains('"')).copied().collect::<Vec<_>>().join("\r\n"));
        assert_eq!(testing::same_both_ways(feeds::TESTS, "tests_2568.csv", &text, |read| check(read, &ctx())), 13);
    }
}

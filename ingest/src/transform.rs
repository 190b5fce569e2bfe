//! Normalisation and validation of each feed with polars expressions: codes and Thai aliases to
//! canonical values, dates (ISO or day/month/BE) to dates, numbers to numbers, then the rules of
//! domain.md. Every row leaves with either no rule (good) or the first rule it broke and a detail.

use polars::prelude::*;

use crate::IngestError;
use crate::feeds::{self, Feed};
use crate::read::{FILE_COL, LINE_COL};
use khlang_warehouse::{office, reference};

pub const RULE_COL: &str = "__rule";
pub const DETAIL_COL: &str = "__detail";
pub const RAW_COL: &str = "__raw";

/// What the rest of the pull is checked against.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Known schools: code, area code, lowest and highest grade order.
    pub school_codes: Vec<String>,
    pub school_areas: Vec<String>,
    pub school_low: Vec<i32>,
    pub school_high: Vec<i32>,
    pub area_codes: Vec<String>,
}

/// The good rows (contract columns, plus `citizen_id` still to be hashed) and the rejected rows.
pub struct Checked {
    pub good: DataFrame,
    pub bad: DataFrame,
}

/// A failed check: when `fails` is true the row breaks `rule`; `detail` says how.
struct Check {
    fails: Expr,
    rule: &'static str,
    detail: Expr,
}

fn check(fails: Expr, rule: &'static str, detail: Expr) -> Check {
    Check { fails: fails.fill_null(lit(false)), rule, detail }
}

/// A source column; `prepare` has already trimmed every source column once.
fn t(name: &str) -> Expr {
    col(name)
}

/// A text column changed by `f` only when some value needs it: the common clean column passes
/// through without a copy (copying every column of a national snapshot was a tenth of a load).
fn text_udf(e: Expr, needs: fn(&str) -> bool, f: fn(&str) -> String) -> Expr {
    e.map(
        move |c: Column| {
            let ca = c.str()?;
            if !ca.iter().flatten().any(needs) {
                return Ok(c);
            }
            let out = ca.apply_values(|v| if needs(v) { std::borrow::Cow::Owned(f(v)) } else { std::borrow::Cow::Borrowed(v) });
            Ok(out.into_column())
        },
        |_, f| Ok(f.clone()),
    )
}

fn trimmed(e: Expr) -> Expr {
    text_udf(e, |v| v.trim() != v, |v| v.trim().to_string())
}

/// ASCII lower case (codes are ASCII; Thai has no case).
fn lower(e: Expr) -> Expr {
    text_udf(e, |v| v.bytes().any(|b| b.is_ascii_uppercase()), str::to_ascii_lowercase)
}

fn upper(e: Expr) -> Expr {
    text_udf(e, |v| v.bytes().any(|b| b.is_ascii_lowercase()), str::to_ascii_uppercase)
}

/// Trims every text column of the feed once, so the checks below read clean values.
fn prepare(df: DataFrame, feed: &Feed) -> LazyFrame {
    df.lazy().with_columns(trims(feed))
}

fn trims(feed: &Feed) -> Vec<Expr> {
    feed.columns.iter().map(|c| trimmed(col(c.name)).alias(c.name)).collect()
}

fn blank(name: &str) -> Expr {
    t(name).is_null().or(t(name).eq(lit("")))
}

fn text(s: &str) -> Expr {
    lit(s.to_string())
}

fn series(values: Vec<String>) -> Expr {
    lit(Series::new(PlSmallStr::EMPTY, values)).implode(false)
}

/// Maps each of `from` to the same position of `to`; anything else becomes null. A hash lookup per
/// row in Rust (polars' replace_strict cost most of a second per column of a national snapshot).
fn map_values(e: Expr, from: &[&str], to: &[&str], dtype: DataType) -> Expr {
    let positions: std::collections::HashMap<String, IdxSize> = from.iter().enumerate().map(|(i, f)| (f.to_string(), i as IdxSize)).collect();
    let to = Series::new(PlSmallStr::EMPTY, to).cast(&dtype).unwrap_or_else(|_| Series::new_null(PlSmallStr::EMPTY, 0));
    let out_type = dtype.clone();
    e.map(
        move |c: Column| {
            // Grade orders and the like come in as numbers: look them up by their text.
            let c = if c.dtype() == &DataType::String { c } else { c.cast(&DataType::String)? };
            let ca = c.str()?;
            let idx: IdxCa = ca.iter().map(|v| v.and_then(|v| positions.get(v).copied())).collect();
            Ok(to.take(&idx)?.with_name(c.name().clone()).into_column())
        },
        move |_, f| Ok(Field::new(f.name().clone(), out_type.clone())),
    )
}

/// Number parsing tolerant of thousands separators and spaces.
fn number(name: &str, dtype: DataType) -> Expr {
    text_udf(t(name), |v| v.contains(','), |v| v.replace(',', "")).cast(dtype)
}

fn unparsable_number(name: &str, parsed: Expr) -> Expr {
    blank(name).not().and(parsed.is_null())
}

/// A date written as ISO `2025-06-10` or Thai `10/06/2568` (day/month/Buddhist-Era year), as days
/// since 1970-01-01; `None` when it is neither or no such day (29 February is checked against the CE
/// year). Hand-written: format-string parsing was a tenth of a national load.
pub fn parse_date_days(s: &str) -> Option<i32> {
    parse_date(s).and_then(|date| i32::try_from((date - chrono::NaiveDate::default()).num_days()).ok())
}

/// Days since 1970-01-01 as an ISO date (`2026-06-10`), as snapshot dates are named.
pub fn iso_date(days: i32) -> String {
    (chrono::NaiveDate::default() + chrono::Duration::days(i64::from(days))).format("%Y-%m-%d").to_string()
}

/// `parse_date_days`, as the date.
pub fn parse_date(s: &str) -> Option<chrono::NaiveDate> {
    // The two shapes every ministry export uses, read by position: the same date as the general
    // reading below gives, without splitting (a national students feed has 12 M dates).
    if let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] | [d0, d1, b'/', m0, m1, b'/', y0, y1, y2, y3] = *s.as_bytes() {
        let digit = |b: u8| if b.is_ascii_digit() { Some(i32::from(b - b'0')) } else { None };
        let two = |a: u8, b: u8| Some(digit(a)? * 10 + digit(b)?);
        let year = two(y0, y1)? * 100 + two(y2, y3)?;
        let (month, day) = (two(m0, m1)?, two(d0, d1)?);
        let year = if s.as_bytes().get(2) == Some(&b'/') { office::ce_year(year) } else { year };
        return chrono::NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?);
    }
    parse_date_split(s)
}

/// `parse_date` of any shape: three numbers of up to four digits split by `-` (year first) or `/`
/// (Buddhist-Era year last).
fn parse_date_split(s: &str) -> Option<chrono::NaiveDate> {
    let (sep, thai) = if s.contains('/') { ('/', true) } else { ('-', false) };
    let mut it = s.split(sep);
    let (a, b, c) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() {
        return None;
    }
    let num = |p: &str| -> Option<i32> { if !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()) { p.parse().ok() } else { None } };
    let (y, m, d) = if thai { (office::ce_year(num(c)?), num(b)?, num(a)?) } else { (num(a)?, num(b)?, num(c)?) };
    chrono::NaiveDate::from_ymd_opt(y, u32::try_from(m).ok()?, u32::try_from(d).ok()?)
}

fn date(name: &str) -> Expr {
    t(name).map(
        |c: Column| {
            let ca = c.str()?;
            let days: Int32Chunked = ca.iter().map(|v| v.and_then(parse_date_days)).collect();
            Ok(days.with_name(c.name().clone()).into_date().into_column())
        },
        |_, f| Ok(Field::new(f.name().clone(), DataType::Date)),
    )
}

/// `parsed` is the date parsed from the source column `src`.
fn bad_date(src: &str, parsed: &str) -> Check {
    check(
        col(parsed).is_null(),
        "date_unparseable",
        concat_str([text(src), lit(" '"), t(src).fill_null(lit("")), lit("' is not a date (2025-06-10 or 10/06/2568)")], "", true),
    )
}

/// The details of each check, built later and only for rejected rows.
pub struct Details(Vec<(String, Expr)>);

/// Evaluates every check once into a boolean column `__f<i>`, and the rule as the first that fails.
fn apply_checks(lf: LazyFrame, checks: Vec<Check>) -> (LazyFrame, Details) {
    let names: Vec<String> = (0..checks.len()).map(|i| format!("__f{i}")).collect();
    let flags: Vec<Expr> = checks.iter().zip(&names).map(|(c, n)| c.fails.clone().alias(n.as_str())).collect();
    // The first failing check as a number (cheap to build over millions of rows), then its name.
    let mut first = lit(NULL).cast(DataType::Int32);
    for (i, n) in names.iter().enumerate().rev() {
        first = when(col(n.as_str())).then(lit(i as i32)).otherwise(first);
    }
    let ids: Vec<String> = (0..checks.len()).map(|i| i.to_string()).collect();
    let rules: Vec<&str> = checks.iter().map(|c| c.rule).collect();
    let rule = map_values(first, &ids.iter().map(String::as_str).collect::<Vec<_>>(), &rules, DataType::String);
    let details = Details(checks.into_iter().zip(names).map(|(c, n)| (n, c.detail)).collect());
    (lf.with_columns(flags).with_column(rule.alias(RULE_COL)), details)
}

impl Details {
    /// The detail of the first failing check.
    fn expr(&self) -> Expr {
        let mut detail = lit(NULL).cast(DataType::String);
        for (flag, d) in self.0.iter().rev() {
            detail = when(col(flag.as_str())).then(d.clone()).otherwise(detail);
        }
        detail.alias(DETAIL_COL)
    }
}

/// Grade code or Thai alias (`P1`, `ป.1`) to grade order 1..15.
fn grade_order(e: Expr) -> Expr {
    let g = reference::grades();
    let from: Vec<&str> = g.iter().map(|g| g.code).chain(g.iter().map(|g| g.thai)).collect();
    let orders: Vec<String> = g.iter().chain(g.iter()).map(|g| g.order.to_string()).collect();
    let to: Vec<&str> = orders.iter().map(String::as_str).collect();
    map_values(upper(e), &from, &to, DataType::Int32)
}

/// Grade order to one of the grade's attributes (its code, its level), read by position.
fn by_grade_order(order: Expr, attribute: fn(&reference::Grade) -> &'static str) -> Expr {
    let mut by_order: Vec<Option<&'static str>> = Vec::new();
    for g in reference::grades() {
        let i = usize::try_from(g.order).unwrap_or(0);
        if by_order.len() <= i {
            by_order.resize(i + 1, None);
        }
        if let Some(slot) = by_order.get_mut(i) {
            *slot = Some(attribute(g));
        }
    }
    order.cast(DataType::Int32).map(
        move |c: Column| {
            let ca = c.i32()?;
            let out: StringChunked = ca.iter().map(|o| o.and_then(|o| usize::try_from(o).ok()).and_then(|o| by_order.get(o).copied().flatten())).collect();
            Ok(out.with_name(c.name().clone()).into_column())
        },
        |_, f| Ok(Field::new(f.name().clone(), DataType::String)),
    )
}

fn grade_code_of(order: Expr) -> Expr {
    by_grade_order(order, |g| g.code)
}

fn boolean(name: &str) -> Expr {
    let v = lower(t(name));
    let yes = ["1", "true", "y", "yes", "ใช่", "มี"].iter().map(|s| s.to_string()).collect();
    let no = ["0", "false", "n", "no", "ไม่ใช่", "ไม่", "ไม่มี"].iter().map(|s| s.to_string()).collect();
    when(v.clone().is_in(series(yes), false))
        .then(lit(true))
        .otherwise(when(v.is_in(series(no), false)).then(lit(false)).otherwise(lit(NULL).cast(DataType::Boolean)))
}

fn one_of(name: &str, values: &[&str]) -> Expr {
    lower(t(name)).is_in(series(values.iter().map(|s| s.to_string()).collect()), false)
}

fn value_invalid(name: &str, values: &[&str]) -> Check {
    check(
        one_of(name, values).not(),
        "value_invalid",
        concat_str([text(name), lit(" '"), t(name).fill_null(lit("")), text(&format!("' is not one of {}", values.join(", ")))], "", true),
    )
}

fn missing(names: &[&str]) -> Check {
    let mut fails = lit(false);
    let mut detail = lit(NULL).cast(DataType::String);
    for n in names.iter().rev() {
        fails = fails.or(blank(n));
        detail = when(blank(n)).then(text(&format!("{n} is empty"))).otherwise(detail);
    }
    check(fails, "required_value_missing", detail)
}

/// Each row's position in the schools feed (`Context::school_codes`), null when its code is not
/// there: one hash lookup per row, which every school attribute and the unknown-school check then
/// read by position (three lookups and a set test per row cost a national load a second).
const SCHOOL_COL: &str = "__school";

fn school_index(ctx: &Context) -> Expr {
    let positions: PlHashMap<String, IdxSize> = ctx.school_codes.iter().enumerate().map(|(i, c)| (c.clone(), i as IdxSize)).collect();
    col("school_code")
        .map(
            move |c: Column| {
                let ca = c.str()?;
                let idx: IdxCa = ca.iter().map(|v| v.and_then(|v| positions.get(v.trim()).copied())).collect();
                Ok(idx.with_name(c.name().clone()).into_column())
            },
            |_, f| Ok(Field::new(f.name().clone(), IDX_DTYPE)),
        )
        .alias(SCHOOL_COL)
}

/// `prepare`, and each row's school found (`SCHOOL_COL`) in the same pass.
fn prepare_with_school(df: DataFrame, feed: &Feed, ctx: &Context) -> LazyFrame {
    let mut exprs = trims(feed);
    exprs.push(school_index(ctx));
    df.lazy().with_columns(exprs)
}

/// The school's `values` entry (one per school of the feed) for each row; null when the school is unknown.
fn school_value(values: Series) -> Expr {
    let dtype = values.dtype().clone();
    col(SCHOOL_COL).map(move |c: Column| Ok(values.take(c.idx()?)?.with_name(c.name().clone()).into_column()), move |_, f| Ok(Field::new(f.name().clone(), dtype.clone())))
}

fn school_area(ctx: &Context) -> Expr {
    school_value(Series::new(PlSmallStr::EMPTY, &ctx.school_areas))
}

fn school_known() -> Expr {
    col(SCHOOL_COL).is_not_null()
}

fn unknown_school(name: &str) -> Check {
    check(
        school_known().not(),
        "school_code_unknown",
        concat_str([text("school code '"), t(name).fill_null(lit("")), lit("' is not in the schools feed")], "", true),
    )
}

fn negative(names: &[&str]) -> Check {
    let mut fails = lit(false);
    let mut detail = lit(NULL).cast(DataType::String);
    for n in names.iter().rev() {
        let neg = col(*n).lt(lit(0)).fill_null(lit(false));
        fails = fails.or(neg.clone());
        detail = when(neg).then(concat_str([text(n), lit(" is negative: "), col(*n).cast(DataType::String)], "", true)).otherwise(detail);
    }
    check(fails, "negative_number", detail)
}

fn unparsable(names: &[(&str, &str)]) -> Check {
    // (source column, parsed column)
    let mut fails = lit(false);
    let mut detail = lit(NULL).cast(DataType::String);
    for (src, parsed) in names.iter().rev() {
        let bad = unparsable_number(src, col(*parsed));
        fails = fails.or(bad.clone());
        detail = when(bad).then(concat_str([text(src), lit(" '"), t(src), lit("' is not a number")], "", true)).otherwise(detail);
    }
    check(fails, "number_unparseable", detail)
}

/// The original row, for the ICT officer fixing it (restricted to admins: it may hold a citizen ID).
fn raw(columns: &[&str]) -> Expr {
    concat_str(columns.iter().map(|c| col(*c).fill_null(lit(""))).collect::<Vec<_>>(), ",", false).alias(RAW_COL)
}

fn err(feed: &str) -> impl Fn(PolarsError) -> IngestError + '_ {
    move |e| IngestError::Transform { feed: feed.to_string(), message: e.to_string() }
}

/// Splits a checked frame into good rows (selected output columns) and bad rows.
fn split(source: &Feed, lf: LazyFrame, details: Details, out: &[Expr], school_col: Option<&str>) -> Result<Checked, IngestError> {
    let feed = source.name;
    let started = std::time::Instant::now();
    let df = lf.collect().map_err(err(feed))?;
    let checked = started.elapsed();
    let good = df.clone().lazy().filter(col(RULE_COL).is_null()).select(out).collect().map_err(err(feed))?;
    tracing::debug!(feed, rows = df.height(), check_seconds = checked.as_secs_f64(), output_seconds = (started.elapsed() - checked).as_secs_f64(), "checked");
    let bad = df
        .lazy()
        .filter(col(RULE_COL).is_not_null())
        .select([
            col(FILE_COL),
            col(LINE_COL),
            match school_col {
                Some(s) => t(s).alias("school_code"),
                None => lit(NULL).cast(DataType::String).alias("school_code"),
            },
            col(RULE_COL),
            details.expr(),
            raw(&source_cols(source)),
        ])
        .collect()
        .map_err(err(feed))?;
    Ok(Checked { good, bad })
}

fn source_cols(feed: &Feed) -> Vec<&'static str> {
    feed.columns.iter().map(|c| c.name).collect()
}

pub fn areas(df: DataFrame) -> Result<Checked, IngestError> {
    let provinces: Vec<String> = reference::provinces().iter().map(|p| p.code.clone()).collect();
    let lf = prepare(df, &feeds::AREAS).with_columns([map_values(
        lower(t("area_type")),
        &["primary", "secondary", "สพป.", "สพม.", "ประถมศึกษา", "มัธยมศึกษา"],
        &["primary", "secondary", "primary", "secondary", "primary", "secondary"],
        DataType::String,
    )
    .alias("area_type_n")]);
    let checks = vec![
        missing(&["area_code", "area_name", "area_type", "province_code"]),
        check(t("area_code").str().contains(lit(r"^[0-9]{8}$"), true).not(), "code_invalid", text("area_code must be 8 digits")),
        check(col("area_type_n").is_null(), "value_invalid", text("area_type must be primary or secondary")),
        check(
            t("province_code").is_in(series(provinces), false).not(),
            "province_code_unknown",
            concat_str([text("province code '"), t("province_code"), lit("' is not one of the 77 provinces")], "", true),
        ),
    ];
    let (lf, details) = apply_checks(lf, checks);
    split(&feeds::AREAS, lf, details, &[t("area_code").alias("area_code"), t("area_name").alias("area_name"), col("area_type_n").alias("area_type"), t("province_code").alias("province_code")], None)
}

pub fn schools(df: DataFrame, ctx: &Context) -> Result<Checked, IngestError> {
    let lf = prepare(df, &feeds::SCHOOLS).with_columns([
        grade_order(t("lowest_grade")).alias("low"),
        grade_order(t("highest_grade")).alias("high"),
        boolean("is_dltv").alias("is_dltv_b"),
        number("latitude", DataType::Float64).alias("lat"),
        number("longitude", DataType::Float64).alias("lon"),
    ]);
    let checks = vec![
        missing(&["school_code", "school_name", "area_code", "lowest_grade", "highest_grade"]),
        check(t("school_code").str().contains(lit(r"^[0-9]{10}$"), true).not(), "code_invalid", text("school_code must be 10 digits")),
        check(
            t("area_code").is_in(series(ctx.area_codes.clone()), false).not(),
            "area_code_unknown",
            concat_str([text("area code '"), t("area_code"), lit("' is not in the areas feed")], "", true),
        ),
        check(col("low").is_null().or(col("high").is_null()).or(col("low").gt(col("high"))), "grade_invalid", text("lowest_grade/highest_grade are not grade codes K1..M6 in order")),
        check(col("is_dltv_b").is_null(), "value_invalid", text("is_dltv must be 1/0, true/false or ใช่/ไม่ใช่")),
        value_invalid("internet", &["fiber", "4g", "satellite", "none"]),
        value_invalid("status", &["open", "merged", "closed"]),
        unparsable(&[("latitude", "lat"), ("longitude", "lon")]),
    ];
    let (lf, details) = apply_checks(lf, checks);
    let out = [
        t("school_code").alias("school_code"),
        t("smis_code").alias("smis_code"),
        t("school_name").alias("school_name"),
        t("area_code").alias("area_code"),
        t("province_code").alias("province_code"),
        t("district_code").alias("district_code"),
        t("subdistrict_code").alias("subdistrict_code"),
        col("lat").alias("latitude"),
        col("lon").alias("longitude"),
        grade_code_of(col("low")).alias("lowest_grade"),
        grade_code_of(col("high")).alias("highest_grade"),
        col("is_dltv_b").alias("is_dltv"),
        lower(t("internet")).alias("internet"),
        lower(t("status")).alias("status"),
        // Kept for the checks of the other feeds.
        col("low").alias("__low"),
        col("high").alias("__high"),
    ];
    split(&feeds::SCHOOLS, lf, details, &out, Some("school_code"))
}

pub fn buildings(df: DataFrame, ctx: &Context) -> Result<Checked, IngestError> {
    let lf = prepare_with_school(df, &feeds::BUILDINGS, ctx).with_columns([
        number("built_year", DataType::Int32).alias("built"),
        number("area_m2", DataType::Float64).alias("m2"),
        school_area(ctx).alias("area"),
        map_values(
            lower(t("condition")),
            &["good", "needs_repair", "dilapidated", "ดี", "ชำรุด", "ทรุดโทรม"],
            &["good", "needs_repair", "dilapidated", "good", "needs_repair", "dilapidated"],
            DataType::String,
        )
        .alias("cond"),
    ]);
    let checks = vec![
        missing(&["school_code", "building_id", "building_type", "built_year", "condition", "area_m2"]),
        unparsable(&[("built_year", "built"), ("area_m2", "m2")]),
        unknown_school("school_code"),
        check(col("cond").is_null(), "value_invalid", concat_str([text("condition '"), t("condition"), lit("' is not good, needs_repair or dilapidated")], "", true)),
        negative(&["m2"]),
    ];
    let (lf, details) = apply_checks(lf, checks);
    let out = [
        t("school_code").alias("school_code"),
        col("area").alias("area_code"),
        t("building_id").alias("building_id"),
        t("building_type").alias("building_type"),
        col("built").alias("built_year"),
        col("cond").alias("condition"),
        col("m2").alias("area_m2"),
    ];
    split(&feeds::BUILDINGS, lf, details, &out, Some("school_code"))
}

pub fn dltv(df: DataFrame, ctx: &Context) -> Result<Checked, IngestError> {
    let lf = prepare_with_school(df, &feeds::DLTV_EQUIPMENT, ctx).with_columns([
        number("installed", DataType::Int32).alias("inst"),
        number("working", DataType::Int32).alias("work"),
        date("last_checked").alias("checked"),
        school_area(ctx).alias("area"),
    ]);
    let checks = vec![
        missing(&["school_code", "item", "installed", "working", "last_checked"]),
        bad_date("last_checked", "checked"),
        unparsable(&[("installed", "inst"), ("working", "work")]),
        unknown_school("school_code"),
        value_invalid("item", &["dish", "receiver", "tv"]),
        negative(&["inst", "work"]),
        check(col("work").gt(col("inst")), "working_over_installed", text("more sets working than installed")),
    ];
    let (lf, details) = apply_checks(lf, checks);
    let out = [
        t("school_code").alias("school_code"),
        col("area").alias("area_code"),
        lower(t("item")).alias("item"),
        col("inst").alias("installed"),
        col("work").alias("working"),
        col("checked").alias("last_checked"),
    ];
    split(&feeds::DLTV_EQUIPMENT, lf, details, &out, Some("school_code"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_iso_and_thai() {
        assert_eq!(parse_date_days("1970-01-02"), Some(1));
        assert_eq!(parse_date_days("10/06/2568"), parse_date_days("2025-06-10"));
        assert_eq!(parse_date_days("29/02/2567"), parse_date_days("2024-02-29"));
        assert_eq!(parse_date_days("29/02/2568"), None);
        assert_eq!(parse_date_days("2025-13-01"), None);
        // The positional reading of the two usual shapes agrees with the general one.
        let mut shapes = vec!["2025-06-10", "10/06/2568", "29/02/2567", "29/02/2568", "2024-02-29", "2023-02-29", "0000-01-01", "9999-12-31", "00/00/0000", "31/04/2568", "2025-6-10", "1/6/2568", "2025/06/10", "10-06-2568", "2a25-06-10", "10/0b/2568", "2025-06-1 ", " 2025-06-1", "10/06/25-8", "2025--6-10", "ab/cd/efgh"];
        let more: Vec<String> = (0..2000).map(|i| format!("{:04}-{:02}-{:02}", 1990 + i % 40, i % 14, i % 33)).chain((0..2000).map(|i| format!("{:02}/{:02}/{:04}", i % 33, i % 14, 2530 + i % 40))).collect();
        shapes.extend(more.iter().map(String::as_str));
        for s in shapes {
            assert_eq!(parse_date(s), parse_date_split(s), "{s}");
        }
        assert_eq!(parse_date_days("10.06.2568"), None);
        assert_eq!(parse_date_days("2025-06-10-1"), None);
        assert_eq!(parse_date_days(""), None);
    }
}

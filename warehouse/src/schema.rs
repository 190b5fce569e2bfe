//! The SQL schema analysts rely on (data-contract §2): one Arrow schema per table and its partition
//! columns. Names here are a contract: add, never rename.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Money: decimal(14,2) baht.
pub const MONEY: DataType = DataType::Decimal128(14, 2);

pub fn timestamp_utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

#[derive(Debug, Clone)]
pub struct TableDef {
    pub name: &'static str,
    pub partition_by: &'static [&'static str],
    pub schema: SchemaRef,
    /// Restricted columns (PDPA): readable by admins only.
    pub restricted: &'static [&'static str],
}

fn s(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}
fn i32f(name: &str) -> Field {
    Field::new(name, DataType::Int32, true)
}
fn i64f(name: &str) -> Field {
    Field::new(name, DataType::Int64, true)
}
fn f64f(name: &str) -> Field {
    Field::new(name, DataType::Float64, true)
}
fn date(name: &str) -> Field {
    Field::new(name, DataType::Date32, true)
}
fn money(name: &str) -> Field {
    Field::new(name, MONEY, true)
}
fn boolean(name: &str) -> Field {
    Field::new(name, DataType::Boolean, true)
}
fn ts(name: &str) -> Field {
    Field::new(name, timestamp_utc(), true)
}

fn def(name: &'static str, partition_by: &'static [&'static str], fields: Vec<Field>) -> TableDef {
    TableDef { name, partition_by, schema: Arc::new(Schema::new(fields)), restricted: &[] }
}

pub fn tables() -> Vec<TableDef> {
    vec![
        def("provinces", &[], vec![s("province_code"), s("name_th"), s("name_en"), s("region")]),
        def("areas", &[], vec![s("area_code"), s("area_name"), s("area_type"), s("province_code")]),
        def(
            "schools",
            &[],
            vec![
                s("school_code"),
                s("smis_code"),
                s("school_name"),
                s("area_code"),
                s("province_code"),
                s("district_code"),
                s("subdistrict_code"),
                f64f("latitude"),
                f64f("longitude"),
                s("lowest_grade"),
                s("highest_grade"),
                boolean("is_dltv"),
                s("internet"),
                s("status"),
            ],
        ),
        def(
            "enrollments",
            &["snapshot_date"],
            vec![
                date("snapshot_date"),
                i32f("academic_year"),
                s("area_code"),
                s("school_code"),
                s("student_key"),
                s("grade"),
                i32f("grade_order"),
                s("level"),
                i32f("classroom"),
                i32f("sex"),
                i32f("age_years"),
                s("nationality"),
                boolean("disadvantaged"),
                i32f("disability"),
                f64f("bmi"),
                s("status"),
            ],
        ),
        def(
            "personnel",
            &["as_of_date"],
            vec![
                date("as_of_date"),
                s("area_code"),
                s("school_code"),
                s("person_key"),
                s("position"),
                s("academic_standing"),
                s("major_subject"),
                s("degree"),
                i32f("sex"),
                i32f("age_years"),
                i32f("years_of_service"),
                i32f("retirement_fiscal_year"),
                money("salary_baht"),
            ],
        ),
        def(
            "budget_lines",
            &["fiscal_year"],
            vec![
                i32f("fiscal_year"),
                s("area_code"),
                s("school_code"),
                s("category"),
                money("allocated_baht"),
                money("disbursed_baht"),
                date("transaction_date"),
                i32f("fiscal_quarter"),
                s("document_no"),
            ],
        ),
        def(
            "test_results",
            &["academic_year"],
            vec![i32f("academic_year"), s("test"), s("area_code"), s("school_code"), s("subject"), i32f("examinees"), f64f("mean_score")],
        ),
        def(
            "buildings",
            &[],
            vec![s("school_code"), s("area_code"), s("building_id"), s("building_type"), i32f("built_year"), s("condition"), f64f("area_m2")],
        ),
        def("dltv_equipment", &[], vec![s("school_code"), s("area_code"), s("item"), i32f("installed"), i32f("working"), date("last_checked")]),
        def(
            "school_snapshot_summary",
            &["snapshot_date"],
            vec![
                date("snapshot_date"),
                i32f("academic_year"),
                s("area_code"),
                s("school_code"),
                i64f("students"),
                i64f("students_pre_primary"),
                i64f("students_primary"),
                i64f("students_lower_secondary"),
                i64f("students_upper_secondary"),
                i64f("male"),
                i64f("female"),
                i64f("classrooms"),
                i64f("teachers"),
                s("size_band"),
                f64f("students_per_teacher"),
                i64f("required_teachers"),
                i64f("teacher_gap"),
            ],
        ),
        // Students counted per snapshot, area, grade, sex, age, status, disadvantage and disability, in
        // the load's commit: a national trend or breakdown reads ~100 thousand rows, not 12 million.
        def(
            "enrollment_counts",
            &["snapshot_date"],
            vec![
                date("snapshot_date"),
                i32f("academic_year"),
                s("area_code"),
                s("grade"),
                i32f("grade_order"),
                s("level"),
                i32f("sex"),
                i32f("age_years"),
                s("status"),
                boolean("disadvantaged"),
                boolean("disabled"),
                i64f("students"),
            ],
        ),
        def(
            "ingest_runs",
            &[],
            vec![
                s("run_id"),
                ts("started_at"),
                ts("finished_at"),
                s("source"),
                s("feed"),
                i64f("rows_read"),
                i64f("rows_loaded"),
                i64f("rows_rejected"),
                s("status"),
                i64f("table_version"),
                s("message"),
                // What the feed's load replaced, e.g. `snapshot_date 2026-06-10` (added column).
                s("scope"),
            ],
        ),
        TableDef {
            restricted: &["raw"],
            ..def(
                "rejected_rows",
                &["run_id"],
                // snapshot_date (added column): the student snapshot a rejected students row belongs to.
                vec![s("run_id"), s("feed"), s("source_file"), i64f("line_no"), s("school_code"), s("rule"), s("detail"), s("raw"), date("snapshot_date")],
            )
        },
        def(
            "audit_log",
            &["day"],
            vec![ts("at"), s("user_name"), s("role"), s("action"), s("object"), s("sql_text"), i64f("rows"), s("client_addr"), date("day")],
        ),
    ]
}

/// Tables written at any time by the server rather than by loads (the audit log): they are not
/// rolled back with an unfinished load, and readers see their latest version.
pub fn is_live(name: &str) -> bool {
    name == "audit_log"
}

pub fn table(name: &str) -> Option<TableDef> {
    tables().into_iter().find(|t| t.name == name)
}

pub fn table_names() -> Vec<&'static str> {
    tables().iter().map(|t| t.name).collect()
}

//! The personnel feed (HRMS), checked row by row (`rows`): two snapshots of a national pull are
//! 660,000 rows, which the polars expressions of the other feeds took two seconds over (a column for
//! every step, then the frame handed to Arrow and the IDs hashed in another pass). Each row is
//! parsed, checked against the rules of domain.md in their order (the first it breaks is its rule)
//! and its citizen ID hashed, in one pass on every core; the good rows come out in the order they
//! came, as batches of the personnel table built on every core.

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Int32Array, StringBuilder};
use arrow::record_batch::RecordBatch;
use chrono::Datelike;
use polars::prelude::*;

use crate::IngestError;
use crate::feeds;
use crate::read::Read;
use crate::rows::{self, Rejected, age, blank, days, decimal, lower, money, number, sex_code, strings, upper};
use crate::to_arrow;
use crate::transform::{Context, iso_date, parse_date};
use khlang_warehouse::secret::KeyedHasher;
use khlang_warehouse::{Secret, office, reference, schema};

type Fields<'a> = rows::Fields<'a, 12>;

/// The columns of the feed, in `feeds::PERSONNEL` order (the order of a rejected row's raw text).
const AS_OF: usize = 0;
const ID: usize = 1;
const SCHOOL: usize = 2;
const AREA: usize = 3;
const POSITION: usize = 4;
const STANDING: usize = 5;
const MAJOR: usize = 6;
const DEGREE: usize = 7;
const SEX: usize = 8;
const BIRTH: usize = 9;
const APPOINTED: usize = 10;
const SALARY: usize = 11;
const NAMES: [&str; 12] = [
    "as_of_date",
    "citizen_id",
    "school_code",
    "area_code",
    "position",
    "academic_standing",
    "major_subject",
    "degree",
    "sex",
    "birth_date",
    "appointed_date",
    "salary_baht",
];
/// Filled in on every row, in the order their absence is told.
const REQUIRED: [usize; 7] = [AS_OF, ID, POSITION, SEX, BIRTH, APPOINTED, SALARY];
const POSITIONS: [&str; 7] = ["director", "deputy_director", "teacher", "assistant_teacher", "government_employee", "contract_teacher", "support_staff"];
/// วิทยฐานะ, as the table has them.
const STANDINGS: [&str; 5] = ["none", "practitioner", "senior_practitioner", "expert", "senior_expert"];

/// Place in `STANDINGS` of a lower-cased academic standing, English or Thai.
fn standing_code(v: &str) -> Option<u8> {
    match v {
        "none" | "ไม่มี" | "-" => Some(0),
        "practitioner" | "ชำนาญการ" => Some(1),
        "senior_practitioner" | "ชำนาญการพิเศษ" => Some(2),
        "expert" | "เชี่ยวชาญ" => Some(3),
        "senior_expert" | "เชี่ยวชาญพิเศษ" => Some(4),
        _ => None,
    }
}

fn err(message: impl std::fmt::Display) -> IngestError {
    IngestError::Transform { feed: feeds::PERSONNEL.name.into(), message: message.to_string() }
}

/// A good row's values, as the table has them.
struct Person<'a> {
    as_of: i32,
    /// The school's place in `Context::school_codes`; `None` for office staff.
    school: Option<u32>,
    /// Office staff's area (staff of a school take the school's).
    area: &'a str,
    position: u8,
    standing: u8,
    major: Option<&'a str>,
    degree: Option<&'a str>,
    sex: u8,
    age: i32,
    service: i32,
    retirement: i32,
    /// As written (thousands separators are taken out when the column is built).
    salary: &'a str,
    key: [u8; 16],
}

/// What every row is checked against, found once.
struct Rules<'c> {
    schools: PlHashMap<&'c str, u32>,
    areas: PlHashSet<&'c str>,
    hasher: KeyedHasher,
}

impl<'c> Rules<'c> {
    fn new(ctx: &'c Context, secret: &Secret) -> Self {
        let schools = ctx.school_codes.iter().enumerate().map(|(i, c)| (c.as_str(), u32::try_from(i).unwrap_or(u32::MAX))).collect();
        let areas = ctx.area_codes.iter().map(String::as_str).collect();
        Rules { schools, areas, hasher: secret.hasher() }
    }

    /// The row's values, or the first rule it breaks (the order of domain.md's personnel rules).
    fn check<'a>(&self, fields: &Fields<'a>) -> Result<Person<'a>, Rejected> {
        let v = |c: usize| fields.get(c).copied().flatten();
        let text = |c: usize| v(c).unwrap_or_default();
        let name = |c: usize| NAMES.get(c).copied().unwrap_or_default();
        if let Some(c) = REQUIRED.into_iter().find(|c| blank(v(*c))) {
            return Err(("required_value_missing", format!("{} is empty", name(c))));
        }
        let date = |c: usize| parse_date(text(c)).ok_or_else(|| ("date_unparseable", format!("{} '{}' is not a date (2025-06-10 or 10/06/2568)", name(c), text(c))));
        let as_of = date(AS_OF)?;
        let birth = date(BIRTH)?;
        let appointed = date(APPOINTED)?;
        if !reference::citizen_id_valid(text(ID)) {
            return Err(("citizen_id_check_digit", "citizen ID is not 13 digits with a valid check digit (nor G + 12 digits)".into()));
        }
        let school = if blank(v(SCHOOL)) {
            None
        } else {
            Some(*self.schools.get(text(SCHOOL)).ok_or_else(|| ("school_code_unknown", format!("school code '{}' is not in the schools feed", text(SCHOOL))))?)
        };
        if school.is_none() && !self.areas.contains(text(AREA)) {
            // A blank area is unknown too.
            return Err(("area_code_unknown", format!("office staff need a known area_code, got '{}'", text(AREA))));
        }
        let position_text = lower(text(POSITION));
        let position = POSITIONS.iter().position(|p| *p == position_text.as_ref()).ok_or_else(|| ("value_invalid", format!("position '{}' is not one of {}", text(POSITION), POSITIONS.join(", "))))?;
        let standing = standing_code(&lower(text(STANDING))).ok_or_else(|| ("value_invalid", format!("academic_standing '{}' is not a วิทยฐานะ", text(STANDING))))?;
        let sex = sex_code(&upper(text(SEX))).ok_or_else(|| ("sex_invalid", format!("sex '{}' is not 1/2 (ชาย/หญิง)", text(SEX))))?;
        let salary: f64 = number(v(SALARY)).ok_or_else(|| ("number_unparseable", format!("salary_baht '{}' is not a number", text(SALARY))))?;
        if salary < 0.0 {
            return Err(("negative_number", format!("salary is negative: {}", decimal(salary))));
        }
        // Retire on 30 September of the fiscal year in which the person turns 60 (born 1 October:
        // the year before).
        let late = birth.month() >= 10 && !(birth.month() == 10 && birth.day() == 1);
        Ok(Person {
            as_of: days(as_of),
            school,
            area: text(AREA),
            position: u8::try_from(position).unwrap_or(0),
            standing,
            major: v(MAJOR),
            degree: v(DEGREE),
            sex,
            age: age(birth, as_of),
            service: age(appointed, as_of),
            retirement: birth.year() + 60 + office::BE_OFFSET + i32::from(late),
            salary: text(SALARY),
            key: self.hasher.digest(text(ID)),
        })
    }
}

/// Checks the personnel (as read) against the schools and areas of `ctx`: the scope values are
/// the snapshots (`as_of_date`) loaded.
pub fn check(input: Read, ctx: &Context, secret: &Secret) -> Result<rows::Checked, IngestError> {
    let rules = Rules::new(ctx, secret);
    rows::check_feed(&input, &feeds::PERSONNEL, &NAMES, SCHOOL, |fields| rules.check(fields), |p| p.as_of, iso_date, |chunk| batch(chunk, ctx))
}

/// Good rows as a batch of the personnel table.
fn batch(ps: &[&Person], ctx: &Context) -> Result<RecordBatch, IngestError> {
    let def = schema::table(feeds::PERSONNEL.table).ok_or_else(|| err("no personnel table"))?;
    let n = ps.len();
    let int = |f: &dyn Fn(&Person) -> i32| -> ArrayRef { Arc::new(Int32Array::from(ps.iter().map(|p| f(p)).collect::<Vec<_>>())) };
    let school = |p: &Person| p.school.and_then(|s| ctx.school_codes.get(s as usize)).map(String::as_str);
    let mut keys = StringBuilder::with_capacity(n, n * 32);
    let mut hex = [0u8; 32];
    for p in ps {
        let _ = hex::encode_to_slice(p.key, &mut hex);
        keys.append_value(std::str::from_utf8(&hex).unwrap_or_default());
    }
    let cols: Vec<(String, ArrayRef)> = vec![
        ("as_of_date".into(), Arc::new(Date32Array::from(ps.iter().map(|p| p.as_of).collect::<Vec<_>>()))),
        ("area_code".into(), strings(
            ps.iter().map(|p| match p.school {
                Some(s) => ctx.school_areas.get(s as usize).map(String::as_str),
                None => Some(p.area),
            }),
            n,
        )),
        ("school_code".into(), strings(ps.iter().map(|p| school(p)), n)),
        ("person_key".into(), Arc::new(keys.finish())),
        ("position".into(), strings(ps.iter().map(|p| POSITIONS.get(usize::from(p.position)).copied()), n)),
        ("academic_standing".into(), strings(ps.iter().map(|p| STANDINGS.get(usize::from(p.standing)).copied()), n)),
        ("major_subject".into(), strings(ps.iter().map(|p| p.major), n)),
        ("degree".into(), strings(ps.iter().map(|p| p.degree), n)),
        ("sex".into(), int(&|p| p.sex.into())),
        ("age_years".into(), int(&|p| p.age)),
        ("years_of_service".into(), int(&|p| p.service)),
        ("retirement_fiscal_year".into(), int(&|p| p.retirement)),
        ("salary_baht".into(), money(ps.iter().map(|p| p.salary), n)),
    ];
    to_arrow::conform(feeds::PERSONNEL.name, &def.schema, &cols, &[], n)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::read::FILE_COL;
    use crate::rows::testing::{self, ctx, texts};
    use crate::transform::RAW_COL;

    const HEADER: &str = "as_of_date,citizen_id,school_code,area_code,position,academic_standing,major_subject,degree,sex,birth_date,appointed_date,salary_baht";

    /// Line 2 on: every rule of the feed broken once, in the order they are tried, between good rows.
    const ROWS: [&str; 19] = [
        // 2 good: a teacher at a school, Thai standing and sex, salary with a thousands separator
        "2026-06-10,1101700230708,1056010001,,Teacher,ชำนาญการ,คณิตศาสตร์,master,ชาย,15/10/2523,2005-05-16,\"35,000.50\"",
        // 3 no position, and no sex after it: the first missing one is told
        "2026-06-10,3101700230704,1056010001,,,none,,,,1980-01-01,2005-05-16,20000",
        // 4 an unknown date
        "31/02/2569,3101700230704,1056010001,,teacher,none,,,1,1980-01-01,2005-05-16,20000",
        // 5 a bad appointed date after a good birth date
        "2026-06-10,3101700230704,1056010001,,teacher,none,,,1,1980-01-01,2005-13-01,20000",
        // 6 a bad check digit
        "2026-06-10,1101700230700,1056010001,,teacher,none,,,1,1980-01-01,2005-05-16,20000",
        // 7 a school not in the schools feed
        "2026-06-10,3101700230704,1099999999,,teacher,none,,,1,1980-01-01,2005-05-16,20000",
        // 8 office staff without an area
        "2026-06-10,3101700230704,,,support_staff,none,,,1,1980-01-01,2005-05-16,20000",
        // 9 office staff with an area not in the areas feed
        "2026-06-10,3101700230704,  ,99999999,support_staff,none,,,1,1980-01-01,2005-05-16,20000",
        // 10 good: office staff of a known area, born 1 October (retires a year earlier than 2 October)
        "2026-11-10,G123456789012, ,56010000,support_staff,-,,bachelor,F,01/10/2528,2010-01-01,18000",
        // 11 an unknown position
        "2026-06-10,3101700230704,1056010001,,janitor,none,,,1,1980-01-01,2005-05-16,20000",
        // 12 a blank standing (after trimming)
        "2026-06-10,3101700230704,1056010001,,teacher,   ,,,1,1980-01-01,2005-05-16,20000",
        // 13 an unknown standing
        "2026-06-10,3101700230704,1056010001,,teacher,guru,,,1,1980-01-01,2005-05-16,20000",
        // 14 an unknown sex
        "2026-06-10,3101700230704,1056010001,,teacher,none,,,x,1980-01-01,2005-05-16,20000",
        // 15 a salary that is not a number
        "2026-06-10,3101700230704,1056010001,,teacher,none,,,1,1980-01-01,2005-05-16,twenty",
        // 16 a negative salary
        "2026-06-10,3101700230704,1056010001,,teacher,none,,,1,1980-01-01,2005-05-16,-1500",
        // 17 good: padded values, an upper-case position, born 2 October
        " 2026-06-10 , 3101700230704 , 1056010002 ,,DIRECTOR ,Senior_Expert,  ,phd,2,1966-10-02,1990-06-01, 72000 ",
        // 18 good: born 30 September, appointed the day of the snapshot
        "2026-06-10,G000000000001,1056010002,,assistant_teacher,none,ภาษาไทย,,M,1996-09-30,2026-06-10,15000",
        // 19 good: salary 0 is not negative
        "2026-06-10,G000000000002,1056010002,,contract_teacher,ไม่มี,,,หญิง,2000-06-11,2024-06-10,0",
        // 20 no salary
        "2026-06-10,G000000000003,1056010002,,contract_teacher,none,,,2,2000-06-11,2024-06-10,",
    ];

    /// The secret of every check here, so that the keys of two checks can be compared.
    fn secret() -> Secret {
        let dir = std::env::temp_dir().join("khlang-personnel-tests");
        Secret::load_or_create(&dir.join("secret.key")).unwrap()
    }

    fn checked(text: &str, by_frame: bool) -> rows::Checked {
        testing::checked(feeds::PERSONNEL, "personnel_2569-06-10.csv", text, by_frame, |read| check(read, &ctx(), &secret()))
    }

    #[test]
    fn rules_in_order_and_the_tables_values() {
        let text = format!("{HEADER}\n{}\n", ROWS.join("\n"));
        // A quoted field: read by polars, then checked from its frame.
        let c = checked(&text, false);
        let col = |name: &str| testing::rejected(&c, name);
        let expected = [
            ("required_value_missing", "position is empty"),
            ("date_unparseable", "as_of_date '31/02/2569' is not a date (2025-06-10 or 10/06/2568)"),
            ("date_unparseable", "appointed_date '2005-13-01' is not a date (2025-06-10 or 10/06/2568)"),
            ("citizen_id_check_digit", "citizen ID is not 13 digits with a valid check digit (nor G + 12 digits)"),
            ("school_code_unknown", "school code '1099999999' is not in the schools feed"),
            ("area_code_unknown", "office staff need a known area_code, got ''"),
            ("area_code_unknown", "office staff need a known area_code, got '99999999'"),
            ("value_invalid", "position 'janitor' is not one of director, deputy_director, teacher, assistant_teacher, government_employee, contract_teacher, support_staff"),
            ("value_invalid", "academic_standing '' is not a วิทยฐานะ"),
            ("value_invalid", "academic_standing 'guru' is not a วิทยฐานะ"),
            ("sex_invalid", "sex 'x' is not 1/2 (ชาย/หญิง)"),
            ("number_unparseable", "salary_baht 'twenty' is not a number"),
            ("negative_number", "salary is negative: -1500.0"),
            ("required_value_missing", "salary_baht is empty"),
        ];
        testing::rejections(&c, &[3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 20], &expected);
        assert_eq!(col("school_code")[5], None, "office staff have no school");
        assert_eq!(col("school_code")[6], Some(String::new()), "a school code of spaces is blank");
        assert_eq!(col(RAW_COL)[0].as_deref(), Some("2026-06-10,3101700230704,1056010001,,,none,,,,1980-01-01,2005-05-16,20000"));
        assert_eq!(col(FILE_COL)[0].as_deref(), Some("personnel_2569-06-10.csv"));

        let g = &arrow::compute::concat_batches(&c.good[0].schema(), &c.good).unwrap();
        assert_eq!(g.num_rows(), 5);
        assert_eq!(texts(g, "as_of_date"), ["2026-06-10", "2026-11-10", "2026-06-10", "2026-06-10", "2026-06-10"]);
        assert_eq!(texts(g, "school_code"), ["1056010001", "", "1056010002", "1056010002", "1056010002"]);
        assert!(g.column_by_name("school_code").unwrap().is_null(1), "office staff have no school");
        assert_eq!(texts(g, "area_code"), ["56020000", "56010000", "56010000", "56010000", "56010000"], "staff of a school take its area");
        assert_eq!(texts(g, "position"), ["teacher", "support_staff", "director", "assistant_teacher", "contract_teacher"]);
        assert_eq!(texts(g, "academic_standing"), ["practitioner", "none", "senior_expert", "none", "none"]);
        assert_eq!(texts(g, "major_subject"), ["คณิตศาสตร์", "", "", "ภาษาไทย", ""]);
        assert!(g.column_by_name("major_subject").unwrap().is_null(1));
        assert!(!g.column_by_name("major_subject").unwrap().is_null(2), "a value of spaces is kept, empty");
        assert_eq!(texts(g, "degree"), ["master", "bachelor", "phd", "", ""]);
        assert_eq!(texts(g, "sex"), ["1", "2", "2", "1", "2"]);
        // 15/10/2523 is 1980-10-15: 45 at 2026-06-10; 1966-10-02 turns 60 on 2026-10-02, after it.
        assert_eq!(texts(g, "age_years"), ["45", "41", "59", "29", "25"]);
        assert_eq!(texts(g, "years_of_service"), ["21", "16", "36", "0", "2"]);
        // Born 1 October 1985 retires in fiscal 2588; born 2 October 1966 in 2570; 30 September 1996 in 2599.
        assert_eq!(texts(g, "retirement_fiscal_year"), ["2584", "2588", "2570", "2599", "2603"]);
        assert_eq!(texts(g, "salary_baht"), ["35000.50", "18000.00", "72000.00", "15000.00", "0.00"]);
        assert_eq!(texts(g, "person_key")[0], secret().keyed_hash("1101700230708"));
        assert_eq!(texts(g, "person_key")[2], secret().keyed_hash("3101700230704"), "spaces around an ID are not part of it");
        assert_eq!(c.values, ["2026-06-10", "2026-11-10"]);
        assert_eq!(c.rows, 19);
    }

    #[test]
    fn csv_text_reads_as_polars_reads_it() {
        // No quotes (so split here), CRLF ends, an extra column and no area column, a blank line,
        // a short line and a long one, the last line without its end.
        let text = "as_of_date,citizen_id,school_code,extra,position,academic_standing,major_subject,degree,sex,birth_date,appointed_date,salary_baht\r\n\
            2026-06-10,1101700230708,1056010001,x,teacher,none,ไทย,,1,1980-01-01,2005-05-16,20000\r\n\
            \x20 2026-06-10 ,1101700230709 , 1056010002,,Director,เชี่ยวชาญ,,phd,หญิง,10/10/2510,1990-06-01,-5\r\n\
            \r\n\
            2026-06-10,G000000000001,1056010002,x,teacher,none,,,2,1990-01-01,2015-01-01,30000,more,fields\r\n\
            2026-06-10,G000000000002,1056010002,x,teacher\r\n\
            2026-06-10,G000000000003,,x,support_staff,none,,,1,1990-01-01,2015-01-01,25000";
        assert_eq!(testing::same_both_ways(feeds::PERSONNEL, "personnel_2569-06-10.csv", text, |read| check(read, &ctx(), &secret())), 6);
        let split = checked(text, false);
        assert_eq!(split.bad.height(), 4);
        assert_eq!(split.good.iter().map(RecordBatch::num_rows).sum::<usize>(), 2);
    }
}

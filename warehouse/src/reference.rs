//! Reference data compiled in from `data/`: provinces, grades, size bands, subsidy rates, staffing rule.
//! Policies that change by year are rows with a validity range, so a new year's figure is a data change.

use std::sync::OnceLock;

const PROVINCES_CSV: &str = include_str!("../../data/provinces.csv");
const GRADES_CSV: &str = include_str!("../../data/grades.csv");
const SIZE_BANDS_CSV: &str = include_str!("../../data/size_bands.csv");
const SUBSIDY_CSV: &str = include_str!("../../data/subsidy_rates.csv");
const STAFFING_CSV: &str = include_str!("../../data/staffing_rules.csv");
const TARGETS_CSV: &str = include_str!("../../data/disbursement_targets.csv");
const SCHEMA_DOCS_CSV: &str = include_str!("../../data/schema_docs.csv");
const DISTRICTS_CSV: &str = include_str!("../../data/districts.csv");
const SUBDISTRICTS_CSV: &str = include_str!("../../data/subdistricts.csv");

#[derive(Debug, Clone)]
pub struct Province {
    pub code: String,
    pub name_th: String,
    pub name_en: String,
    pub region: String,
}

#[derive(Debug, Clone)]
pub struct Grade {
    pub code: &'static str,
    pub thai: &'static str,
    pub order: i32,
    pub level: &'static str,
    pub typical_age: i32,
}

#[derive(Debug, Clone)]
pub struct SizeBand {
    pub area_type: String,
    pub band: String,
    pub min: i64,
    pub max: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct SubsidyRate {
    pub item: String,
    pub level: String,
    pub fy_from: i32,
    pub fy_to: Option<i32>,
    pub baht: i64,
}

#[derive(Debug, Clone)]
pub struct StaffingRule {
    pub version: i32,
    pub applies_to: String,
    pub level: String,
    pub students_per_teacher: i64,
}

/// Split a simple CSV line (our reference files quote only the last, free-text column).
fn fields(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line;
    loop {
        if let Some(stripped) = rest.strip_prefix('"') {
            out.push(stripped.trim_end_matches('"'));
            return out;
        }
        match rest.split_once(',') {
            Some((a, b)) => {
                out.push(a);
                rest = b;
            }
            None => {
                out.push(rest);
                return out;
            }
        }
    }
}

fn rows(csv: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    csv.lines().skip(1).filter(|l| !l.trim().is_empty()).map(fields)
}

/// The contract's description of a table (`column` = `None`) or of one of its columns, Thai then
/// English ("รหัสโรงเรียน 10 หลัก — 10-digit school code"), as `obj_description` and
/// `col_description` give it to schema browsers.
pub fn describe(table: &str, column: Option<&str>) -> Option<String> {
    static D: OnceLock<Vec<(&'static str, &'static str, String)>> = OnceLock::new();
    let docs = D.get_or_init(|| rows(SCHEMA_DOCS_CSV).filter(|f| f.len() == 4).map(|f| (f[0], f[1], format!("{} — {}", f[2], f[3]))).collect());
    let column = column.unwrap_or("");
    docs.iter().find(|(t, c, _)| *t == table && *c == column).map(|(_, _, d)| d.clone())
}

fn num(s: &str) -> i64 {
    // Compiled-in data is checked by the unit tests below; a bad cell would fail them.
    s.trim().parse().unwrap_or(0)
}

pub fn provinces() -> &'static [Province] {
    static P: OnceLock<Vec<Province>> = OnceLock::new();
    P.get_or_init(|| {
        rows(PROVINCES_CSV)
            .map(|f| Province {
                code: f[0].to_string(),
                name_th: f[1].to_string(),
                name_en: f[2].to_string(),
                region: f[3].to_string(),
            })
            .collect()
    })
}

pub fn province(code: &str) -> Option<&'static Province> {
    provinces().iter().find(|p| p.code == code)
}

/// A district (อำเภอ; เขต in Bangkok) or subdistrict (ตำบล; แขวง in Bangkok) by its official
/// Department of Provincial Administration code: 4 digits for a district, 6 for a subdistrict.
#[derive(Debug, Clone)]
pub struct Place {
    pub code: String,
    /// The province's code for a district, the district's for a subdistrict.
    pub parent: String,
    pub name_th: String,
    pub name_en: String,
}

fn places(csv: &'static str) -> Vec<Place> {
    rows(csv).map(|f| Place { code: f[0].to_string(), parent: f[1].to_string(), name_th: f[2].to_string(), name_en: f[3].to_string() }).collect()
}

/// Every district, by code.
pub fn districts() -> &'static [Place] {
    static D: OnceLock<Vec<Place>> = OnceLock::new();
    D.get_or_init(|| places(DISTRICTS_CSV))
}

/// Every subdistrict, by code.
pub fn subdistricts() -> &'static [Place] {
    static S: OnceLock<Vec<Place>> = OnceLock::new();
    S.get_or_init(|| places(SUBDISTRICTS_CSV))
}

/// Both lists are sorted by code.
fn find<'a>(list: &'a [Place], code: &str) -> Option<&'a Place> {
    list.binary_search_by(|p| p.code.as_str().cmp(code)).ok().map(|i| &list[i])
}

pub fn district(code: &str) -> Option<&'static Place> {
    find(districts(), code)
}

pub fn subdistrict(code: &str) -> Option<&'static Place> {
    find(subdistricts(), code)
}

/// The districts of a province, or the subdistricts of a district (by code).
pub fn within<'a>(list: &'a [Place], parent: &str) -> Vec<&'a Place> {
    list.iter().filter(|p| p.parent == parent).collect()
}

/// A district as Thai documents name it: `อำเภอเมืองพะเยา`, `เขตจตุจักร` in Bangkok; a code not in the
/// reference as `อำเภอ 5699`.
pub fn district_th(code: &str) -> String {
    match district(code) {
        Some(d) if d.parent == "10" => format!("เขต{}", d.name_th),
        Some(d) => format!("อำเภอ{}", d.name_th),
        None => format!("อำเภอ {code}"),
    }
}

/// A subdistrict as Thai documents name it: `ตำบลบ้านต๋อม`, `แขวงลาดยาว` in Bangkok.
pub fn subdistrict_th(code: &str) -> String {
    match subdistrict(code) {
        Some(s) if s.code.starts_with("10") => format!("แขวง{}", s.name_th),
        Some(s) => format!("ตำบล{}", s.name_th),
        None => format!("ตำบล {code}"),
    }
}

pub fn grades() -> &'static [Grade] {
    static G: OnceLock<Vec<Grade>> = OnceLock::new();
    G.get_or_init(|| {
        rows(GRADES_CSV)
            .map(|f| Grade {
                code: f[0],
                thai: f[1],
                order: num(f[2]) as i32,
                level: f[3],
                typical_age: num(f[4]) as i32,
            })
            .collect()
    })
}

/// A grade by its code (`P1`) or Thai alias (`ป.1`).
pub fn grade(code_or_thai: &str) -> Option<&'static Grade> {
    let s = code_or_thai.trim();
    grades().iter().find(|g| g.code.eq_ignore_ascii_case(s) || g.thai == s)
}

pub fn grade_by_order(order: i32) -> Option<&'static Grade> {
    grades().iter().find(|g| g.order == order)
}

pub fn size_bands() -> &'static [SizeBand] {
    static S: OnceLock<Vec<SizeBand>> = OnceLock::new();
    S.get_or_init(|| {
        rows(SIZE_BANDS_CSV)
            .map(|f| SizeBand {
                area_type: f[0].to_string(),
                band: f[1].to_string(),
                min: num(f[2]),
                max: if f[3].trim().is_empty() { None } else { Some(num(f[3])) },
            })
            .collect()
    })
}

/// Size band of a school with `students` in an area of `area_type` (primary / secondary).
pub fn size_band(area_type: &str, students: i64) -> Option<&'static str> {
    size_bands()
        .iter()
        .find(|b| b.area_type == area_type && students >= b.min && b.max.is_none_or(|m| students <= m))
        .map(|b| b.band.as_str())
}

pub fn subsidy_rates() -> &'static [SubsidyRate] {
    static S: OnceLock<Vec<SubsidyRate>> = OnceLock::new();
    S.get_or_init(|| {
        rows(SUBSIDY_CSV)
            .map(|f| SubsidyRate {
                item: f[0].to_string(),
                level: f[1].to_string(),
                fy_from: num(f[2]) as i32,
                fy_to: if f[3].trim().is_empty() { None } else { Some(num(f[3]) as i32) },
                baht: num(f[4]),
            })
            .collect()
    })
}

/// Baht per student per year for an item and level in a fiscal year (BE).
pub fn subsidy_rate(item: &str, level: &str, fiscal_year: i32) -> Option<i64> {
    subsidy_rates()
        .iter()
        .find(|r| r.item == item && r.level == level && fiscal_year >= r.fy_from && r.fy_to.is_none_or(|t| fiscal_year <= t))
        .map(|r| r.baht)
}

pub fn staffing_rules() -> &'static [StaffingRule] {
    static S: OnceLock<Vec<StaffingRule>> = OnceLock::new();
    S.get_or_init(|| {
        rows(STAFFING_CSV)
            .map(|f| StaffingRule {
                version: num(f[0]) as i32,
                applies_to: f[1].to_string(),
                level: f[2].to_string(),
                students_per_teacher: num(f[3]),
            })
            .collect()
    })
}

fn ratio(applies_to: &str, level: &str) -> i64 {
    let latest = staffing_rules().iter().map(|r| r.version).max().unwrap_or(0);
    staffing_rules()
        .iter()
        .find(|r| r.version == latest && r.applies_to == applies_to && r.level == level)
        .map(|r| r.students_per_teacher.max(1))
        .unwrap_or(20)
}

/// Teachers a school needs (excluding the director) under the staffing rule.
/// `by_level` is students per level: pre_primary, primary, lower_secondary, upper_secondary.
pub fn required_teachers(by_level: [i64; 4]) -> i64 {
    let total: i64 = by_level.iter().sum();
    if total == 0 {
        return 0;
    }
    let primary_only = by_level[2] == 0 && by_level[3] == 0;
    if primary_only && total <= 120 {
        let r = ratio("small_primary", "all");
        return (total + r - 1) / r;
    }
    ["pre_primary", "primary", "lower_secondary", "upper_secondary"]
        .iter()
        .zip(by_level)
        .map(|(level, n)| {
            let r = ratio("default", level);
            (n + r - 1) / r
        })
        .sum()
}

/// Cumulative disbursement target (percent of the allocation) by the end of `quarter` of `fiscal_year`.
pub fn disbursement_target(fiscal_year: i32, quarter: i32) -> Option<f64> {
    /// fiscal year from, fiscal year to (open when `None`), quarter, cumulative percent
    type Target = (i32, Option<i32>, i32, f64);
    static TARGETS: OnceLock<Vec<Target>> = OnceLock::new();
    let rows = TARGETS.get_or_init(|| {
        TARGETS_CSV
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f = fields(l);
                Some((f.first()?.parse().ok()?, f.get(1).and_then(|t| t.parse().ok()), f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?))
            })
            .collect()
    });
    rows.iter().filter(|(from, to, q, _)| *q == quarter && fiscal_year >= *from && to.is_none_or(|t| fiscal_year <= t)).map(|r| r.3).next_back()
}

/// A Buddhist-Era fiscal year as people type it (`2569`): digits in the range Khlang's data can
/// hold; `None` otherwise (a CE year like 2026, two digits, text).
pub fn fiscal_year_be(s: &str) -> Option<i32> {
    s.trim().parse::<i32>().ok().filter(|y| (2500..=2700).contains(y))
}

/// Fiscal year (BE) and quarter 1..4 of a date given as CE year and month.
pub fn fiscal_year_quarter(ce_year: i32, month: u32) -> (i32, i32) {
    let be = crate::office::be_year(ce_year);
    if month >= 10 { (be + 1, 1) } else { (be, ((month as i32 - 1) / 3) + 2) }
}

/// Fiscal year (BE) in which a person born on `birth` (CE year, month, day) retires:
/// civil servants retire on 30 September of the fiscal year in which they turn 60.
pub fn retirement_fiscal_year(birth_year: i32, birth_month: u32, birth_day: u32) -> i32 {
    let (fy, _) = fiscal_year_quarter(birth_year + 60, birth_month);
    // Born on 1 October: the sixtieth birthday starts a new fiscal year but the person has
    // completed 60 years on 30 September, so they retire in the earlier one.
    if birth_month == 10 && birth_day == 1 { fy - 1 } else { fy }
}

/// Check digit of a Thai citizen ID: d13 = (11 - sum(d_i * (14 - i)) mod 11) mod 10.
pub fn citizen_id_check_digit(first12: &[u8]) -> Option<u8> {
    if first12.len() != 12 || !first12.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = first12.iter().enumerate().map(|(i, d)| u32::from(d - b'0') * (13 - i as u32)).sum();
    Some(((11 - sum % 11) % 10) as u8)
}

/// A valid Thai citizen ID (13 digits, right check digit) or a G-code (`G` + 12 digits).
pub fn citizen_id_valid(id: &str) -> bool {
    let b = id.as_bytes();
    if b.len() == 13 && b[0] == b'G' {
        return b[1..].iter().all(u8::is_ascii_digit);
    }
    b.len() == 13 && citizen_id_check_digit(&b[..12]).is_some_and(|d| b[12] == b'0' + d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_data_parses() {
        assert_eq!(provinces().len(), 77);
        assert_eq!(districts().len(), 928, "the 928 districts of the DOPA list");
        assert!(districts().windows(2).all(|w| w[0].code < w[1].code) && subdistricts().windows(2).all(|w| w[0].code < w[1].code), "sorted by code");
        assert!(districts().iter().all(|d| province(&d.parent).is_some() && !d.name_th.is_empty() && !d.name_en.is_empty()));
        assert!(subdistricts().iter().all(|s| district(&s.parent).is_some() && s.code.starts_with(&s.parent) && !s.name_en.is_empty()));
        assert_eq!(district_th("5601"), "อำเภอเมืองพะเยา");
        assert_eq!(district("5601").map(|d| d.name_en.as_str()), Some("Mueang Phayao"));
        assert_eq!(district_th("1030"), "เขตจตุจักร");
        assert_eq!(district_th("5699"), "อำเภอ 5699");
        assert_eq!(within(districts(), "56").len(), 9);
        assert_eq!(province("56").map(|p| p.name_th.as_str()), Some("พะเยา"));
        assert_eq!(grades().len(), 15);
        assert_eq!(grade("ม.6").map(|g| g.order), Some(15));
        assert!(subsidy_rates().iter().all(|r| r.baht > 0));
        assert!(staffing_rules().iter().all(|r| r.students_per_teacher > 0));
    }

    #[test]
    fn size_bands_follow_domain_table() {
        assert_eq!(size_band("primary", 120), Some("small"));
        assert_eq!(size_band("primary", 121), Some("medium"));
        assert_eq!(size_band("primary", 1501), Some("extra_large"));
        assert_eq!(size_band("secondary", 499), Some("small"));
        assert_eq!(size_band("secondary", 2500), Some("extra_large"));
        assert_eq!(size_band("primary", 0), None);
    }

    #[test]
    fn subsidy_rates_change_in_fy2567() {
        assert_eq!(subsidy_rate("per_capita_teaching", "primary", 2566), Some(1900));
        assert_eq!(subsidy_rate("per_capita_teaching", "primary", 2567), Some(2052));
        assert_eq!(subsidy_rate("per_capita_teaching", "upper_secondary", 2570), Some(4104));
    }

    #[test]
    fn small_school_rule_is_one_teacher_per_twenty() {
        assert_eq!(required_teachers([5, 15, 0, 0]), 1);
        assert_eq!(required_teachers([10, 11, 0, 0]), 2);
        assert_eq!(required_teachers([20, 100, 0, 0]), 6);
        assert_eq!(required_teachers([0, 0, 0, 0]), 0);
    }

    #[test]
    fn fiscal_calendar() {
        assert_eq!(fiscal_year_quarter(2025, 10), (2569, 1));
        assert_eq!(fiscal_year_quarter(2026, 1), (2569, 2));
        assert_eq!(fiscal_year_quarter(2026, 9), (2569, 4));
        assert_eq!(retirement_fiscal_year(1966, 5, 3), 2569);
        assert_eq!(retirement_fiscal_year(1966, 10, 2), 2570);
        assert_eq!(retirement_fiscal_year(1966, 10, 1), 2569);
    }

    #[test]
    fn citizen_id_check_digit_rule() {
        // 1-1017-00230-70-?: sum = 1*13+1*12+0*11+1*10+7*9+0*8+0*7+2*6+3*5+0*4+7*3+0*2 = 146; 146 mod 11 = 3; (11-3) mod 10 = 8
        assert!(citizen_id_valid("1101700230708"));
        assert!(!citizen_id_valid("1101700230709"));
        assert!(citizen_id_valid("G123456789012"));
        assert!(!citizen_id_valid("G12345678901"));
        assert!(!citizen_id_valid("110170023070"));
    }

    #[test]
    fn every_contract_table_and_column_is_described() {
        for t in crate::schema::tables() {
            assert!(describe(t.name, None).is_some(), "no description of table {}", t.name);
            for f in t.schema.fields() {
                assert!(describe(t.name, Some(f.name())).is_some_and(|d| d.contains(" — ")), "no description of {}.{}", t.name, f.name());
            }
        }
    }
}

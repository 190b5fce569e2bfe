//! `khlang generate`: a realistic synthetic ministry pull (all eight feeds of data-contract §1) with a
//! small, known share of invalid rows, recorded in `_manifest.json` so tests can check every one.

mod rng;
mod world;
mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::IngestError;
use crate::feeds::{self, Feed};
use khlang_warehouse::reference;
use rng::tag;
pub use world::{AreaType, Scale};
use world::{School, World};
pub use writer::FileStyle;
use writer::FeedFile;

/// The latest academic year (BE) of a generated pull. Fixed, not taken from the clock, so the same
/// seed gives the same bytes on any day.
pub const LATEST_ACADEMIC_YEAR: i32 = 2569;

/// Which encodings and header languages the files use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Style {
    /// As the real systems export: students and buildings TIS-620 with Thai headers and BE dates,
    /// personnel and tests XLSX, the rest UTF-8 CSV with English headers.
    Mixed,
    /// Every feed UTF-8 CSV with English headers and ISO dates.
    Utf8English,
    /// Every feed TIS-620 CSV with Thai headers and Buddhist-Era dates.
    Tis620Thai,
}

impl Style {
    fn for_feed(self, feed: &str) -> FileStyle {
        match self {
            Style::Utf8English => FileStyle::UTF8_EN,
            Style::Tis620Thai => FileStyle::TIS620_TH,
            Style::Mixed => match feed {
                "areas" => FileStyle::UTF8_BOM_EN,
                "students" | "buildings" => FileStyle::TIS620_TH,
                "personnel" => FileStyle::XLSX_TH,
                "tests" => FileStyle::XLSX_EN,
                _ => FileStyle::UTF8_EN,
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub scale: Scale,
    pub seed: u64,
    pub out: PathBuf,
    pub style: Style,
    /// Worker threads (files are written in parallel).
    pub threads: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InvalidRow {
    pub line: u64,
    pub rule: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileManifest {
    pub feed: String,
    pub file: String,
    pub rows: u64,
    pub valid_rows: u64,
    pub invalid: Vec<InvalidRow>,
}

/// What a generated pull holds: per file, its rows and exactly which lines are invalid and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub seed: u64,
    pub scale: String,
    pub style: Style,
    pub schools: u64,
    pub areas: u64,
    pub snapshots: Vec<String>,
    pub files: Vec<FileManifest>,
}

impl Manifest {
    pub const FILE_NAME: &'static str = "_manifest.json";

    pub fn read(dir: &Path) -> Result<Manifest, IngestError> {
        let path = dir.join(Self::FILE_NAME);
        let text = std::fs::read_to_string(&path).map_err(|e| IngestError::Read { file: path.display().to_string(), message: e.to_string() })?;
        serde_json::from_str(&text).map_err(|e| IngestError::Read { file: path.display().to_string(), message: e.to_string() })
    }

    /// Valid rows per feed.
    pub fn valid_rows(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for f in &self.files {
            *m.entry(f.feed.clone()).or_insert(0) += f.valid_rows;
        }
        m
    }
}

/// Snapshots (academic year BE, month) a scale carries, oldest first.
fn snapshots(scale: Scale) -> Vec<(i32, u32)> {
    let years: Vec<i32> = match scale {
        Scale::National => vec![LATEST_ACADEMIC_YEAR],
        _ => (LATEST_ACADEMIC_YEAR - 4..=LATEST_ACADEMIC_YEAR).collect(),
    };
    years.into_iter().flat_map(|y| [(y, 6), (y, 11)]).collect()
}

fn ce(be: i32) -> i32 {
    khlang_warehouse::office::ce_year(be)
}

/// Builds one output file and reports its manifest.
type Job<'a> = Box<dyn Fn() -> Result<FileManifest, IngestError> + Send + Sync + 'a>;

struct Gen<'a> {
    world: &'a World,
    style: Style,
    dir: &'a Path,
}

/// Rows of one file plus the invalid lines seeded into it.
struct Out {
    file: FeedFile,
    feed: &'static str,
    invalid: BTreeMap<u64, String>,
}

impl Out {
    fn new(g: &Gen, feed: Feed, stem: &str, numeric: &[&str]) -> Result<Out, IngestError> {
        Ok(Out { file: FeedFile::create(g.dir, stem, &feed, g.style.for_feed(feed.name), numeric)?, feed: feed.name, invalid: BTreeMap::new() })
    }
    fn row(&mut self, values: Vec<String>) -> Result<u64, IngestError> {
        self.file.write_row(&values)
    }
    fn bad(&mut self, values: Vec<String>, rule: &str) -> Result<u64, IngestError> {
        let line = self.file.write_row(&values)?;
        self.invalid.insert(line, rule.to_string());
        Ok(line)
    }
    fn finish(self) -> Result<FileManifest, IngestError> {
        let file = self.file.file_name.clone();
        let rows = self.file.finish()?;
        let invalid: Vec<InvalidRow> = self.invalid.into_iter().map(|(line, rule)| InvalidRow { line, rule }).collect();
        Ok(FileManifest { feed: self.feed.to_string(), file, rows, valid_rows: rows - invalid.len() as u64, invalid })
    }
}

fn citizen_id(namespace: u8, n: u64, thai: bool) -> String {
    let m = ((u128::from(n) * 7_919_340_373 + 12_345_678_901) % 100_000_000_000) as u64;
    let body = format!("{}{:011}", namespace, m);
    if thai {
        let d = reference::citizen_id_check_digit(body.as_bytes()).unwrap_or(0);
        format!("{body}{d}")
    } else {
        format!("G{body}")
    }
}

fn break_check_digit(id: &str) -> String {
    let mut b = id.as_bytes().to_vec();
    if let Some(last) = b.last_mut() {
        *last = b'0' + ((*last - b'0' + 3) % 10);
    }
    String::from_utf8(b).unwrap_or_default()
}

const NATIONALITIES: &[&str] = &["เมียนมา", "ลาว", "กัมพูชา", "เวียดนาม"];

impl Gen<'_> {
    fn fs(&self, feed: &str) -> FileStyle {
        self.style.for_feed(feed)
    }

    fn grade_code(&self, feed: &str, order: i32) -> String {
        let g = reference::grade_by_order(order);
        match g {
            Some(g) if self.fs(feed).thai => g.thai.to_string(),
            Some(g) => g.code.to_string(),
            None => String::new(),
        }
    }

    fn sex(&self, feed: &str, male: bool, long: bool) -> String {
        match (self.fs(feed).thai, male, long) {
            (false, true, _) => "1".into(),
            (false, false, _) => "2".into(),
            (true, true, false) => "ช".into(),
            (true, false, false) => "ญ".into(),
            (true, true, true) => "ชาย".into(),
            (true, false, true) => "หญิง".into(),
        }
    }

    /// A student row; `school_code`/`order` may differ from the student's home (for seeded errors).
    #[allow(clippy::too_many_arguments)]
    fn student_row(&self, year: i32, month: u32, school_code: &str, id: &str, order: i32, room: u64, sidx: u64, cohort: i32, i: u64) -> Vec<String> {
        let r = &self.world.rng;
        let key = [tag::STUDENT, sidx, cohort as u64, i];
        let k = |x: u64| {
            let mut p = key.to_vec();
            p.push(x);
            p
        };
        let fs = self.fs("students");
        let birth_year = ce(cohort) - 3 - r.range(&k(1), 0, 1) as i32;
        let (bm, bd) = (r.range(&k(2), 1, 12) as u32, r.range(&k(3), 1, 28) as u32);
        let male = r.chance(&k(4), 0.51);
        let thai = id.starts_with('1');
        let age = f64::from(ce(year) - birth_year);
        let height = if age <= 12.0 { 100.0 + 6.0 * (age - 4.0) } else { 148.0 + 4.0 * (age - 12.0).min(5.0) } + 6.0 * r.normal(&k(5));
        let weight = (if age <= 12.0 { 16.0 + 2.8 * (age - 4.0) } else { 38.0 + 3.5 * (age - 12.0).min(6.0) }) * (1.0 + 0.15 * r.normal(&k(6)));
        let measured = !r.chance(&k(7), 0.03);
        let status = if month == 11 {
            match r.f(&k(8 + year as u64)) {
                x if x < 0.010 => "moved",
                x if x < 0.014 => "dropped_out",
                _ => "studying",
            }
        } else {
            "studying"
        };
        vec![
            year.to_string(),
            fs.date(ce(year), month, 10),
            school_code.to_string(),
            id.to_string(),
            self.grade_code("students", order),
            room.to_string(),
            self.sex("students", male, false),
            fs.date(birth_year, bm, bd),
            if thai { "ไทย".to_string() } else { r.pick(&k(9), NATIONALITIES).to_string() },
            if r.chance(&k(10), 0.35) { "1" } else { "0" }.to_string(),
            if r.chance(&k(11), 0.025) { r.range(&k(12), 1, 9).to_string() } else { "0".to_string() },
            if measured { format!("{:.1}", weight.max(10.0)) } else { String::new() },
            if measured { format!("{:.1}", height.max(80.0)) } else { String::new() },
            status.to_string(),
        ]
    }

    fn students(&self, year: i32, month: u32) -> Result<FileManifest, IngestError> {
        let w = self.world;
        let r = &w.rng;
        let date = format!("{}-{:02}-10", year, month);
        let mut out = Out::new(self, feeds::STUDENTS, &format!("students_{date}"), &["academic_year", "classroom", "disability", "weight_kg", "height_cm"])?;
        let inv = |s: &School, k: u64| [tag::INVALID, 1, s.idx, year as u64, u64::from(month), k];
        // Valid rows of the previous school in the same area, for seeding cross-school duplicates.
        let mut previous: Vec<(u64, i32, String, Vec<String>)> = Vec::new();
        let mut previous_area = usize::MAX;
        for s in &w.schools {
            if s.area != previous_area {
                previous.clear();
                previous_area = s.area;
            }
            let mut candidates = Vec::new();
            for order in s.lowest..=s.highest {
                let n = w.cohort_size(s, year, order);
                let cap = if order >= 10 { 40 } else { 30 };
                let rooms = n.div_ceil(cap).max(1);
                let cohort = year - order;
                for i in 0..n {
                    let thai = !r.chance(&[tag::STUDENT, s.idx, cohort as u64, i, 99], 0.015);
                    let id = citizen_id(1, s.idx * 1_000_000 + ((cohort - 2500) as u64 % 100) * 10_000 + i, thai);
                    let room = 1 + i % rooms;
                    if thai && r.chance(&[tag::INVALID, 2, s.idx, year as u64, u64::from(month), order as u64, i], 0.002) {
                        let row = self.student_row(year, month, &s.code, &break_check_digit(&id), order, room, s.idx, cohort, i);
                        out.bad(row, "citizen_id_check_digit")?;
                        continue;
                    }
                    let row = self.student_row(year, month, &s.code, &id, order, room, s.idx, cohort, i);
                    let line = out.row(row.clone())?;
                    if i % 7 == 3 && candidates.len() < 64 {
                        candidates.push((line, order, id, row));
                    }
                }
            }
            // Seeded errors after the school's own rows, as a school keying in a stray record would.
            let mut extra = 0u64;
            let mut extra_row = |order: i32, school_code: &str| {
                extra += 1;
                let cohort = year - order;
                let id = citizen_id(1, s.idx * 1_000_000 + 99 * 10_000 + extra, true);
                self.student_row(year, month, school_code, &id, order, 1, s.idx, cohort, 9000 + extra)
            };
            if r.chance(&inv(s, 1), 0.03) {
                let unknown = format!("10{}9{:03}", &s.code[2..6], r.range(&inv(s, 2), 0, 999));
                let row = extra_row(s.lowest, &unknown);
                out.bad(row, "school_code_unknown")?;
            }
            if r.chance(&inv(s, 3), 0.03) {
                let order = if s.highest < 15 { s.highest + 1 + (r.range(&inv(s, 4), 0, i64::from(14 - s.highest)) as i32) } else { s.lowest - 1 };
                let row = extra_row(order, &s.code);
                out.bad(row, "grade_out_of_range")?;
            }
            if r.chance(&inv(s, 5), 0.03)
                && let Some(pos) = previous.iter().position(|(_, order, _, _)| s.teaches(*order)) {
                    let (line, _order, _id, mut row) = previous.remove(pos);
                    out.invalid.insert(line, "duplicate_enrollment".into());
                    row[2] = s.code.clone();
                    out.bad(row, "duplicate_enrollment")?;
                }
            if !candidates.is_empty() {
                previous = candidates;
            }
        }
        out.finish()
    }

    fn personnel(&self, year: i32, month: u32) -> Result<FileManifest, IngestError> {
        let w = self.world;
        let r = &w.rng;
        let date = format!("{}-{:02}-10", year, month);
        let fs = self.fs("personnel");
        let mut out = Out::new(self, feeds::PERSONNEL, &format!("personnel_{date}"), &["salary_baht"])?;
        const SUBJECTS: &[&str] = &["ภาษาไทย", "คณิตศาสตร์", "วิทยาศาสตร์", "ภาษาอังกฤษ", "สังคมศึกษา", "ปฐมวัย", "พลศึกษา", "คอมพิวเตอร์", "ศิลปะ", "การงานอาชีพ"];
        const DEGREES: &[&str] = &["bachelor", "bachelor", "bachelor", "master", "master", "doctorate"];
        let standing = |years: i64, k: u64| -> &'static str {
            let v = match years {
                0..=3 => 0,
                4..=9 => 1,
                10..=19 => if r.chance(&[tag::STAFF, k, 50], 0.6) { 2 } else { 1 },
                _ => if r.chance(&[tag::STAFF, k, 51], 0.15) { 3 } else { 2 },
            };
            match (v, fs.thai) {
                (0, false) => "none",
                (1, false) => "practitioner",
                (2, false) => "senior_practitioner",
                (3, false) => "expert",
                (0, true) => "ไม่มี",
                (1, true) => "ชำนาญการ",
                (2, true) => "ชำนาญการพิเศษ",
                _ => if fs.thai { "เชี่ยวชาญ" } else { "expert" },
            }
        };
        // Person `slot` of `unit` (a school index, or 1_000_000 + area index for office staff).
        // Returns the line written, if the person is on staff at this date.
        let person = |out: &mut Out, unit: u64, slot: u64, position: &str, school: &str, area: &str| -> Result<Option<u64>, IngestError> {
            let k = unit * 1000 + slot;
            let age0 = r.range(&[tag::STAFF, k, 1], 24, 59) as i32; // age in 2569
            let birth_year = ce(LATEST_ACADEMIC_YEAR) - age0;
            let (bm, bd) = (r.range(&[tag::STAFF, k, 2], 1, 12) as u32, r.range(&[tag::STAFF, k, 3], 1, 28) as u32);
            let appointed_year = birth_year + r.range(&[tag::STAFF, k, 4], 23, 30) as i32;
            let y = ce(year);
            if appointed_year > y || y - birth_year >= 61 {
                return Ok(None);
            }
            let years = i64::from(y - appointed_year);
            let salary = (15_000 + 1_100 * years + r.range(&[tag::STAFF, k, 5], 0, 4_000)).min(76_800);
            let id = citizen_id(3, k, true);
            let negative = r.chance(&[tag::INVALID, 3, k, year as u64, u64::from(month)], 0.0005);
            let bad_id = !negative && r.chance(&[tag::INVALID, 4, k, year as u64, u64::from(month)], 0.001);
            let row = vec![
                fs.date(y, month, 10),
                if bad_id { break_check_digit(&id) } else { id },
                school.to_string(),
                area.to_string(),
                position.to_string(),
                if position == "assistant_teacher" || position == "support_staff" || position == "government_employee" || position == "contract_teacher" {
                    if fs.thai { "ไม่มี" } else { "none" }
                } else {
                    standing(years, k)
                }
                .to_string(),
                r.pick(&[tag::STAFF, k, 6], SUBJECTS).to_string(),
                r.pick(&[tag::STAFF, k, 7], DEGREES).to_string(),
                self.sex("personnel", r.chance(&[tag::STAFF, k, 8], 0.35), true),
                fs.date(birth_year, bm, bd),
                fs.date(appointed_year, r.range(&[tag::STAFF, k, 9], 1, 12) as u32, 1),
                format!("{}.00", if negative { -salary } else { salary }),
            ];
            let line = if negative {
                out.bad(row, "negative_number")?
            } else if bad_id {
                out.bad(row, "citizen_id_check_digit")?
            } else {
                out.row(row)?
            };
            Ok(Some(line))
        };
        for (ai, a) in w.areas.iter().enumerate() {
            for slot in 0..35u64 {
                let position = if slot < 20 { "government_employee" } else { "support_staff" };
                person(&mut out, 1_000_000 + ai as u64, slot, position, "", &a.code)?;
            }
        }
        for s in &w.schools {
            if s.status != "open" {
                continue;
            }
            let by_level = w.students_by_level(s, year);
            let students: i64 = by_level.iter().sum();
            let required = reference::required_teachers(by_level);
            let delta = if students <= 120 {
                match r.f(&[tag::STAFF, s.idx, 90, year as u64]) {
                    x if x < 0.25 => -1,
                    x if x < 0.35 => -(required.min(2)),
                    x if x < 0.45 => 1,
                    _ => 0,
                }
            } else {
                (required as f64 * (0.1 * r.normal(&[tag::STAFF, s.idx, 91, year as u64]) - 0.04)).round() as i64
            };
            let teachers = (required + delta).max(0);
            let area = &w.area_of(s).code;
            if r.chance(&[tag::STAFF, s.idx, 92], 0.9) {
                person(&mut out, s.idx, 0, "director", &s.code, area)?;
            }
            if students > 600 {
                person(&mut out, s.idx, 1, "deputy_director", &s.code, area)?;
            }
            for t in 0..teachers as u64 {
                let position = if r.chance(&[tag::STAFF, s.idx, 93, t], 0.12) { "assistant_teacher" } else { "teacher" };
                person(&mut out, s.idx, 10 + t, position, &s.code, area)?;
            }
            if r.chance(&[tag::STAFF, s.idx, 94], 0.3) {
                person(&mut out, s.idx, 900, "contract_teacher", &s.code, area)?;
            }
            for t in 0..(1 + students / 400) as u64 {
                person(&mut out, s.idx, 950 + t, "support_staff", &s.code, area)?;
            }
            if students > 300 {
                person(&mut out, s.idx, 990, "government_employee", &s.code, area)?;
            }
            if r.chance(&[tag::INVALID, 5, s.idx, year as u64, u64::from(month)], 0.005) {
                let unknown = format!("10{}9{:03}", &s.code[2..6], s.idx % 1000);
                if let Some(line) = person(&mut out, s.idx, 999, "teacher", &unknown, area)? {
                    // The reader checks the citizen ID before the school, and the school before the salary.
                    if out.invalid.get(&line).map(String::as_str) != Some("citizen_id_check_digit") {
                        out.invalid.insert(line, "school_code_unknown".into());
                    }
                }
            }
        }
        out.finish()
    }

    fn budget(&self, fy: i32) -> Result<FileManifest, IngestError> {
        let w = self.world;
        let r = &w.rng;
        let fs = self.fs("budget");
        let mut out = Out::new(self, feeds::BUDGET, &format!("budget_{fy}"), &["fiscal_year", "allocated_baht", "disbursed_baht"])?;
        // The pull is taken after the 10 November snapshot of the latest academic year: the current
        // fiscal year has only its first quarter so far.
        let current_fy = LATEST_ACADEMIC_YEAR + 1;
        let levels = ["pre_primary", "primary", "lower_secondary", "upper_secondary"];
        let mut seq = BTreeMap::<usize, u64>::new();
        let mut line = |out: &mut Out, s: Option<&School>, area: usize, category: &str, amount: f64, (y, m, d): (i32, u32, u32), key: u64| -> Result<(), IngestError> {
            let n = seq.entry(area).or_insert(0);
            *n += 1;
            let doc = format!("{}-{}-{:06}", fy, &w.areas[area].code[..4], n);
            let progress = if fy < current_fy { 0.9 + 0.1 * r.f(&[tag::BUDGET, key, 1]) } else { 0.3 + 0.4 * r.f(&[tag::BUDGET, key, 1]) };
            let allocated = (amount * 100.0).round() / 100.0;
            let mut disbursed = (allocated * progress * 100.0).floor() / 100.0;
            let mut alloc_s = format!("{allocated:.2}");
            let rule = if r.chance(&[tag::INVALID, 6, key], 0.002) {
                alloc_s = format!("-{allocated:.2}");
                disbursed = 0.0;
                Some("negative_number")
            } else if r.chance(&[tag::INVALID, 7, key], 0.002) {
                disbursed = allocated * 1.1 + 100.0;
                Some("disbursed_over_allocated")
            } else {
                None
            };
            let row = vec![
                fy.to_string(),
                w.areas[area].code.clone(),
                s.map(|s| s.code.clone()).unwrap_or_default(),
                category.to_string(),
                alloc_s,
                format!("{disbursed:.2}"),
                fs.date(y, m, d),
                doc,
            ];
            match rule {
                Some(rule) => out.bad(row, rule).map(|_| ()),
                None => out.row(row).map(|_| ()),
            }
        };
        for s in &w.schools {
            if s.status != "open" {
                continue;
            }
            let key = |k: u64| s.idx * 100 + k + (fy as u64) * 10_000_000_000;
            let this_year = w.students_by_level(s, fy); // academic year fy: term 1 falls in FY fy
            let last_year = w.students_by_level(s, fy - 1); // term 2 of academic year fy-1 falls in FY fy
            let due = |item: &str, counts: [i64; 4]| -> f64 {
                levels.iter().zip(counts).map(|(l, n)| n as f64 * reference::subsidy_rate(item, l, fy).unwrap_or(0) as f64).sum()
            };
            let day = |k: u64| r.range(&[tag::BUDGET, key(k), 2], 1, 28) as u32;
            // Term 2 half of the per-capita subsidy: November (Q1).
            line(&mut out, Some(s), s.area, "per_capita_teaching", due("per_capita_teaching", last_year) / 2.0, (ce(fy) - 1, 11, day(1)), key(1))?;
            if fy < current_fy {
                line(&mut out, Some(s), s.area, "per_capita_teaching", due("per_capita_teaching", this_year) / 2.0, (ce(fy), 6, day(2)), key(2))?;
                for (k, item) in ["textbooks", "learning_supplies", "uniforms", "student_activities"].iter().enumerate() {
                    line(&mut out, Some(s), s.area, item, due(item, this_year), (ce(fy), 5 + (k as u32 % 2), day(3 + k as u64)), key(3 + k as u64))?;
                }
                if r.chance(&[tag::BUDGET, key(8), 3], 0.10) {
                    let amount = f64::from(r.range(&[tag::BUDGET, key(8), 4], 500, 3000) as i32) * 1000.0;
                    line(&mut out, Some(s), s.area, "investment_construction", amount, (ce(fy), 3, day(8)), key(8))?;
                }
                if r.chance(&[tag::BUDGET, key(9), 3], 0.15) {
                    let amount = f64::from(r.range(&[tag::BUDGET, key(9), 4], 50, 400) as i32) * 1000.0;
                    line(&mut out, Some(s), s.area, "investment_equipment", amount, (ce(fy), 2, day(9)), key(9))?;
                }
            }
        }
        for (ai, _a) in w.areas.iter().enumerate() {
            let quarters: &[(i32, u32)] = if fy < current_fy { &[(ce(fy) - 1, 10), (ce(fy), 1), (ce(fy), 4), (ce(fy), 7)] } else { &[(ce(fy) - 1, 10)] };
            for (q, (y, m)) in quarters.iter().enumerate() {
                let key = 9_000_000 + ai as u64 * 10 + q as u64 + (fy as u64) * 10_000_000_000;
                let amount = f64::from(r.range(&[tag::BUDGET, key, 5], 1000, 5000) as i32) * 1000.0;
                line(&mut out, None, ai, "operating", amount, (*y, *m, 15), key)?;
            }
        }
        out.finish()
    }

    fn tests(&self, year: i32) -> Result<FileManifest, IngestError> {
        let w = self.world;
        let r = &w.rng;
        let mut out = Out::new(self, feeds::TESTS, &format!("tests_{year}"), &["academic_year", "examinees", "mean_score"])?;
        // (test, grade order tested, [(subject, national mean)])
        type TestPlan<'a> = &'a [(&'a str, i32, &'a [(&'a str, f64)])];
        let tests: TestPlan = &[
            ("RT_P1", 4, &[("reading", 72.0), ("writing", 68.0)]),
            ("NT_P3", 6, &[("mathematics", 48.0), ("thai", 55.0)]),
            ("ONET_P6", 9, &[("thai", 50.0), ("mathematics", 33.0), ("science", 35.0), ("english", 38.0)]),
            ("ONET_M3", 12, &[("thai", 53.0), ("mathematics", 25.0), ("science", 31.0), ("english", 31.0)]),
            ("ONET_M6", 15, &[("thai", 44.0), ("mathematics", 22.0), ("science", 28.0), ("english", 25.0), ("social", 35.0)]),
        ];
        for s in &w.schools {
            let effect = 6.0 * r.normal(&[tag::TEST, s.idx, 1]);
            for (ti, (test, order, subjects)) in tests.iter().enumerate() {
                let n = w.cohort_size(s, year, *order);
                if n == 0 {
                    continue;
                }
                for (si, (subject, mean)) in subjects.iter().enumerate() {
                    let k = [tag::TEST, s.idx, year as u64, ti as u64, si as u64];
                    let examinees = n.saturating_sub(r.range(&k, 0, 2) as u64).max(1);
                    let noise = 4.0 * r.normal(&[tag::TEST, s.idx, year as u64, ti as u64, si as u64, 1]);
                    let score = (mean + effect + noise).clamp(0.0, 100.0);
                    let bad = r.chance(&[tag::INVALID, 8, s.idx, year as u64, ti as u64, si as u64], 0.003);
                    let row = vec![
                        year.to_string(),
                        test.to_string(),
                        s.code.clone(),
                        subject.to_string(),
                        examinees.to_string(),
                        format!("{:.2}", if bad { score + 100.5 } else { score }),
                    ];
                    if bad {
                        out.bad(row, "mean_score_range")?;
                    } else {
                        out.row(row)?;
                    }
                }
            }
        }
        out.finish()
    }

    fn schools(&self) -> Result<FileManifest, IngestError> {
        let mut out = Out::new(self, feeds::SCHOOLS, "schools", &["latitude", "longitude"])?;
        for s in &self.world.schools {
            out.row(vec![
                s.code.clone(),
                s.smis.clone(),
                s.name.clone(),
                self.world.area_of(s).code.clone(),
                s.province.clone(),
                s.district.clone(),
                s.subdistrict.clone(),
                format!("{:.5}", s.lat),
                format!("{:.5}", s.lon),
                self.grade_code("schools", s.lowest),
                self.grade_code("schools", s.highest),
                if s.is_dltv { "1" } else { "0" }.to_string(),
                s.internet.to_string(),
                s.status.to_string(),
            ])?;
        }
        out.finish()
    }

    fn areas(&self) -> Result<FileManifest, IngestError> {
        let mut out = Out::new(self, feeds::AREAS, "areas", &[])?;
        for a in &self.world.areas {
            out.row(vec![a.code.clone(), a.name.clone(), a.kind.as_str().to_string(), a.province.clone()])?;
        }
        out.finish()
    }

    fn buildings(&self) -> Result<FileManifest, IngestError> {
        let w = self.world;
        let r = &w.rng;
        let mut out = Out::new(self, feeds::BUILDINGS, "buildings", &["built_year", "area_m2"])?;
        const TYPES: &[&str] = &["อาคารเรียน", "อาคารเรียน", "อาคารอเนกประสงค์", "บ้านพักครู", "ส้วม", "โรงอาหาร"];
        for s in &w.schools {
            let students: i64 = w.students_by_level(s, LATEST_ACADEMIC_YEAR).iter().sum();
            let n = (1 + students / 200).min(12) as u64 + r.range(&[tag::BUILDING, s.idx], 0, 2) as u64;
            for b in 0..n {
                let k = [tag::BUILDING, s.idx, b];
                let built = r.range(&[tag::BUILDING, s.idx, b, 1], 2500, 2566) as i32;
                let age = LATEST_ACADEMIC_YEAR - built;
                let condition = match (age, r.f(&[tag::BUILDING, s.idx, b, 2])) {
                    (a, x) if a > 40 && x < 0.5 => "dilapidated",
                    (a, x) if a > 20 && x < 0.5 => "needs_repair",
                    (_, x) if x < 0.08 => "needs_repair",
                    _ => "good",
                };
                let area = r.range(&[tag::BUILDING, s.idx, b, 3], 40, 1200);
                let bad = r.chance(&[tag::INVALID, 9, s.idx, b], 0.003);
                let row = vec![
                    s.code.clone(),
                    format!("{}-{:02}", s.code, b + 1),
                    r.pick(&k, TYPES).to_string(),
                    built.to_string(),
                    condition.to_string(),
                    if bad { format!("-{area}") } else { area.to_string() },
                ];
                if bad {
                    out.bad(row, "negative_number")?;
                } else {
                    out.row(row)?;
                }
            }
        }
        out.finish()
    }

    fn dltv(&self) -> Result<FileManifest, IngestError> {
        let w = self.world;
        let r = &w.rng;
        let fs = self.fs("dltv_equipment");
        let mut out = Out::new(self, feeds::DLTV_EQUIPMENT, "dltv_equipment", &["installed", "working"])?;
        for s in w.schools.iter().filter(|s| s.is_dltv) {
            let rooms = i64::from(s.highest - s.lowest + 1);
            for (i, (item, installed)) in [("dish", 1), ("receiver", rooms), ("tv", rooms)].iter().enumerate() {
                let broken = if r.chance(&[tag::DLTV, s.idx, i as u64], 0.3) { r.range(&[tag::DLTV, s.idx, i as u64, 1], 1, *installed) } else { 0 };
                out.row(vec![
                    s.code.clone(),
                    item.to_string(),
                    installed.to_string(),
                    (installed - broken).to_string(),
                    fs.date(ce(LATEST_ACADEMIC_YEAR), r.range(&[tag::DLTV, s.idx, i as u64, 2], 5, 10) as u32, r.range(&[tag::DLTV, s.idx, i as u64, 3], 1, 28) as u32),
                ])?;
            }
        }
        out.finish()
    }
}

/// Writes a synthetic pull to `opts.out` and returns (and saves) its manifest.
pub fn generate(opts: &GenerateOptions, progress: &(dyn Fn(&str) + Sync)) -> Result<Manifest, IngestError> {
    std::fs::create_dir_all(&opts.out).map_err(|e| IngestError::Write { path: opts.out.display().to_string(), message: e.to_string() })?;
    let world = World::build(opts.scale, opts.seed);
    let g = Gen { world: &world, style: opts.style, dir: &opts.out };
    let snaps = snapshots(opts.scale);
    let years: Vec<i32> = snaps.iter().map(|(y, _)| *y).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let gr = &g;
    let mut jobs: Vec<Job> = Vec::new();
    // Largest first, so the pool stays busy.
    for &(y, m) in snaps.iter().rev() {
        jobs.push(Box::new(move || gr.students(y, m)));
    }
    for &(y, m) in &snaps {
        jobs.push(Box::new(move || gr.personnel(y, m)));
    }
    let first_fy = years.first().copied().unwrap_or(LATEST_ACADEMIC_YEAR);
    for fy in first_fy..=LATEST_ACADEMIC_YEAR + 1 {
        jobs.push(Box::new(move || gr.budget(fy)));
    }
    // Results of an academic year's tests are out in March; the latest year has none yet.
    let test_years: Vec<i32> = if opts.scale == Scale::National { vec![LATEST_ACADEMIC_YEAR - 2, LATEST_ACADEMIC_YEAR - 1] } else { (first_fy - 1..LATEST_ACADEMIC_YEAR).collect() };
    for y in test_years {
        jobs.push(Box::new(move || gr.tests(y)));
    }
    jobs.push(Box::new(move || gr.schools()));
    jobs.push(Box::new(move || gr.areas()));
    jobs.push(Box::new(move || gr.buildings()));
    jobs.push(Box::new(move || gr.dltv()));

    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<FileManifest, IngestError>>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..opts.threads.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(job) = jobs.get(i) else { break };
                    let result = job();
                    if let Ok(m) = &result {
                        progress(&format!("{} ({} rows)", m.file, m.rows));
                    }
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(result);
                    }
                }
            });
        }
    });
    let results = results.into_inner().map_err(|_| IngestError::Write { path: opts.out.display().to_string(), message: "a generator thread failed".into() })?;
    let mut files = Vec::new();
    for r in results.into_iter().flatten() {
        files.push(r?);
    }
    files.sort_by(|a, b| a.file.cmp(&b.file));
    let manifest = Manifest {
        seed: opts.seed,
        scale: format!("{:?}", opts.scale).to_lowercase(),
        style: opts.style,
        schools: world.schools.len() as u64,
        areas: world.areas.len() as u64,
        snapshots: snaps.iter().map(|(y, m)| format!("{}-{:02}-10", ce(*y), m)).collect(),
        files,
    };
    let path = opts.out.join(Manifest::FILE_NAME);
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| IngestError::Write { path: path.display().to_string(), message: e.to_string() })?;
    std::fs::write(&path, text).map_err(|e| IngestError::Write { path: path.display().to_string(), message: e.to_string() })?;
    Ok(manifest)
}

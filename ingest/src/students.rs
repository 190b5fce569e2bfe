//! The students feed, checked row by row (`rows`). It is most of a pull (six million rows of a
//! national snapshot), so each row is parsed, checked and hashed in one pass on every core:
//!
//! 1. every row: its values parsed, the rules of domain.md tried in their order (the first it breaks
//!    is its rule), its citizen ID hashed;
//! 2. the DMC duplicate check across each snapshot, on the keyed hashes of the rows still good;
//! 3. the good rows put in the order of the table's files (snapshot, then `layout::SORT_KEYS`: area,
//!    school, grade; ties in the order they came) by counting them per snapshot, school and grade;
//!    the writers make them into Arrow batches of the enrollments table, one row group each, as
//!    they write them (`Enrollments`).
//!
//! What comes out is what the polars checks gave: the same rules, details and rejected rows.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, BooleanBuilder, Date32Array, DictionaryArray, Float64Builder, Int32Array, Int32Builder, StringArray, StringBuilder, UInt32Array};
use arrow::datatypes::UInt32Type;
use arrow::record_batch::RecordBatch;
use polars::prelude::*;
use rayon::prelude::*;

use crate::IngestError;
use crate::feeds;
use crate::read::Read;
use crate::rows::{self, Bad, Rejected, age, blank, days, decimal, lower, number, sex_code, upper};
use crate::transform::{Context, iso_date, parse_date};
use khlang_warehouse::secret::KeyedHasher;
use khlang_warehouse::{Batches, Secret, WarehouseError, layout, reference, schema, tally};

type Fields<'a> = rows::Fields<'a, 14>;
type Source<'a> = rows::Source<'a, 14>;

/// The checked students: the good rows as the enrollments table's rows in its order, the
/// rejected rows (as `transform::Checked::bad`), the snapshots loaded and, for the check that each
/// file holds the snapshot it is named for, each file's snapshots in the order they came.
pub struct Students {
    /// Rows read.
    pub rows: u64,
    pub good: Enrollments,
    pub bad: DataFrame,
    pub snapshots: Vec<String>,
    pub files: Vec<(String, i32)>,
}

fn err(message: impl std::fmt::Display) -> IngestError {
    IngestError::Transform { feed: feeds::STUDENTS.name.into(), message: message.to_string() }
}

/// The columns of the feed, in `feeds::STUDENTS` order (the order of a rejected row's raw text).
const AY: usize = 0;
const SNAP: usize = 1;
const SCHOOL: usize = 2;
const ID: usize = 3;
const GRADE: usize = 4;
const ROOM: usize = 5;
const SEX: usize = 6;
const BIRTH: usize = 7;
const NATIONALITY: usize = 8;
const DISADVANTAGED: usize = 9;
const DISABILITY: usize = 10;
const WEIGHT: usize = 11;
const HEIGHT: usize = 12;
const STATUS: usize = 13;
const NAMES: [&str; 14] = [
    "academic_year",
    "snapshot_date",
    "school_code",
    "citizen_id",
    "grade",
    "classroom",
    "sex",
    "birth_date",
    "nationality",
    "disadvantaged",
    "disability",
    "weight_kg",
    "height_cm",
    "status",
];
const REQUIRED: [usize; 8] = [SNAP, AY, SCHOOL, ID, GRADE, SEX, BIRTH, STATUS];
const STATUSES: [&str; 4] = ["studying", "moved", "dropped_out", "graduated"];

/// Yes or no of a lower-cased value.
fn yes_no(v: &str) -> Option<bool> {
    match v {
        "1" | "true" | "y" | "yes" | "ใช่" | "มี" => Some(true),
        "0" | "false" | "n" | "no" | "ไม่ใช่" | "ไม่" | "ไม่มี" => Some(false),
        _ => None,
    }
}

/// Place in `STATUSES` of a lower-cased value.
fn status_code(v: &str) -> Option<u8> {
    match v {
        "studying" => Some(0),
        "moved" => Some(1),
        "dropped_out" => Some(2),
        "graduated" => Some(3),
        _ => None,
    }
}

/// A good row's values, as the table has them: six million of them are held at once, so each is
/// kept small (72 bytes), the nationality as its place among the nationalities (`Nationalities`).
#[derive(Clone, Copy, Default)]
struct Parsed {
    ok: bool,
    snap: i32,
    academic_year: i32,
    school: u32,
    order: u8,
    sex: u8,
    status: u8,
    /// 3 to 22 (the rule `birth_date_implausible`).
    age: u8,
    room: Option<i32>,
    /// 0 to 9 (the rule `value_invalid`).
    disability: u8,
    disadvantaged: Option<bool>,
    bmi: Option<f64>,
    /// `Nationalities::NONE` when there is none.
    nationality: u32,
    /// Where the row is in the input (for CSV, where its line starts), to read it again.
    at: u64,
    /// The keyed hash of the citizen ID (the table's `student_key`, and the duplicate check's key).
    key: [u8; 16],
}

/// What every row is checked against, found once.
struct Rules<'c> {
    ctx: &'c Context,
    schools: PlHashMap<&'c str, u32>,
    grades: PlHashMap<&'static str, u8>,
    hasher: KeyedHasher,
}

fn grade_code(order: i32) -> &'static str {
    reference::grades().iter().find(|g| g.order == order).map_or("", |g| g.code)
}

impl<'c> Rules<'c> {
    fn new(ctx: &'c Context, secret: &Secret) -> Self {
        let schools = ctx.school_codes.iter().enumerate().map(|(i, c)| (c.as_str(), u32::try_from(i).unwrap_or(u32::MAX))).collect();
        let grades = reference::grades().iter().flat_map(|g| [(g.code, g.order), (g.thai, g.order)]).map(|(k, o)| (k, u8::try_from(o).unwrap_or(0))).collect();
        Rules { ctx, schools, grades, hasher: secret.hasher() }
    }

    /// The row's values, or the first rule it breaks (the order of domain.md's student rules).
    fn check(&self, fields: &Fields, at: u64) -> Result<Parsed, Rejected> {
        let v = |c: usize| fields.get(c).copied().flatten();
        for c in REQUIRED {
            if blank(v(c)) {
                return Err(("required_value_missing", format!("{} is empty", NAMES.get(c).copied().unwrap_or_default())));
            }
        }
        let text = |c: usize| v(c).unwrap_or_default();
        let date = |c: usize| parse_date(text(c)).ok_or_else(|| ("date_unparseable", format!("{} '{}' is not a date (2025-06-10 or 10/06/2568)", NAMES.get(c).copied().unwrap_or_default(), text(c))));
        let snap = date(SNAP)?;
        let birth = date(BIRTH)?;
        if !reference::citizen_id_valid(text(ID)) {
            return Err(("citizen_id_check_digit", "citizen ID is not 13 digits with a valid check digit (nor G + 12 digits)".into()));
        }
        let school = *self.schools.get(text(SCHOOL)).ok_or_else(|| ("school_code_unknown", format!("school code '{}' is not in the schools feed", text(SCHOOL))))?;
        let order = *self.grades.get(upper(text(GRADE)).as_ref()).ok_or_else(|| ("grade_invalid", format!("grade '{}' is not K1..M6 (อ.1..ม.6)", text(GRADE))))?;
        let of_school = |v: &[i32]| v.get(school as usize).copied().unwrap_or(0);
        let (low, high) = (of_school(&self.ctx.school_low), of_school(&self.ctx.school_high));
        if i32::from(order) < low || i32::from(order) > high {
            return Err(("grade_out_of_range", format!("grade {} is outside the school's range {}-{}", grade_code(order.into()), grade_code(low), grade_code(high))));
        }
        let sex = sex_code(&upper(text(SEX))).ok_or_else(|| ("sex_invalid", format!("sex '{}' is not 1/2 (ช/ญ)", text(SEX))))?;
        let age = age(birth, snap);
        if !(3..=22).contains(&age) {
            return Err(("birth_date_implausible", format!("age {age} at the snapshot is outside 3-22")));
        }
        let academic_year: Option<i32> = number(v(AY));
        let room: Option<i32> = number(v(ROOM));
        let disability: Option<i32> = number(v(DISABILITY));
        let weight: Option<f64> = number(v(WEIGHT));
        let height: Option<f64> = number(v(HEIGHT));
        for (c, parsed) in [(AY, academic_year.is_some()), (ROOM, room.is_some()), (DISABILITY, disability.is_some()), (WEIGHT, weight.is_some()), (HEIGHT, height.is_some())] {
            if !blank(v(c)) && !parsed {
                return Err(("number_unparseable", format!("{} '{}' is not a number", NAMES.get(c).copied().unwrap_or_default(), text(c))));
            }
        }
        let negative = [
            ("room", room.filter(|r| *r < 0).map(|r| r.to_string())),
            ("dis", disability.filter(|d| *d < 0).map(|d| d.to_string())),
            ("w", weight.filter(|w| *w < 0.0).map(decimal)),
            ("h", height.filter(|h| *h < 0.0).map(decimal)),
        ];
        if let Some((name, value)) = negative.into_iter().find_map(|(n, v)| v.map(|v| (n, v))) {
            return Err(("negative_number", format!("{name} is negative: {value}")));
        }
        if disability.is_some_and(|d| d > 9) {
            return Err(("value_invalid", "disability must be a code 0-9".into()));
        }
        let disadvantaged = v(DISADVANTAGED).and_then(|d| yes_no(&lower(d)));
        if !blank(v(DISADVANTAGED)) && disadvantaged.is_none() {
            return Err(("value_invalid", "disadvantaged must be 1/0".into()));
        }
        let status = status_code(&lower(text(STATUS))).ok_or_else(|| ("value_invalid", format!("status '{}' is not one of {}", text(STATUS), STATUSES.join(", "))))?;
        let bmi = match (weight, height) {
            (Some(w), Some(h)) if w > 0.0 && h > 0.0 => {
                // Metres as polars computed them (times the reciprocal of 100, not divided by
                // 100), so every BMI is the one earlier loads wrote, to the last bit.
                let m = h * (1.0 / 100.0);
                Some(w / (m * m))
            }
            _ => None,
        };
        Ok(Parsed {
            ok: true,
            snap: days(snap),
            academic_year: academic_year.unwrap_or_default(),
            school,
            order,
            sex,
            status,
            age: u8::try_from(age).unwrap_or(0),
            room,
            disability: disability.and_then(|d| u8::try_from(d).ok()).unwrap_or(0),
            disadvantaged,
            bmi,
            nationality: Nationalities::NONE,
            at,
            key: self.hasher.digest(text(ID)),
        })
    }
}

/// The nationalities of the rows, each text once (a national snapshot has a handful among six
/// million rows); a row keeps its place here.
#[derive(Default)]
struct Nationalities<'a> {
    places: std::sync::Mutex<(PlHashMap<&'a str, u32>, Vec<&'a str>)>,
}

/// What a run of rows saw: its files' snapshots in the order they came, and the last nationality
/// and its place (most rows have the nationality of the row before).
#[derive(Default)]
struct Seen<'a> {
    files: Vec<(&'a str, i32)>,
    nationality: Option<(&'a str, u32)>,
}

impl<'a> Nationalities<'a> {
    const NONE: u32 = u32::MAX;

    /// The place of `v` (`NONE` for none).
    fn place(&self, v: Option<&'a str>, seen: &mut Seen<'a>) -> u32 {
        let Some(v) = v else { return Self::NONE };
        if let Some((last, place)) = seen.nationality
            && last == v
        {
            return place;
        }
        let mut guard = self.places.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (places, texts) = &mut *guard;
        let next = u32::try_from(texts.len()).unwrap_or(Self::NONE);
        let place = *places.entry(v).or_insert(next);
        if place == next {
            texts.push(v);
        }
        seen.nationality = Some((v, place));
        place
    }

    /// Every nationality, by its place.
    fn texts(self) -> Vec<&'a str> {
        self.places.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner).1
    }
}

/// Checks the students (as read) against the schools and areas of `ctx`.
pub fn check(input: Read, ctx: &Context, secret: &Secret) -> Result<Students, IngestError> {
    let started = std::time::Instant::now();
    let (mut source, mut rows) = Source::new(&input, &feeds::STUDENTS, &NAMES)?;
    let runs = source.runs(&mut rows)?;
    let rules = Rules::new(ctx, secret);

    // 1. Every row, each run on the next free core; each run also notes its files' snapshots in
    // the order they came.
    let nationalities = Nationalities::default();
    let (mut parsed, mut bad, gathered) = rows::check_all(&runs, rows, Seen::default, |fields, file, at, seen: &mut Seen| {
        let mut p = rules.check(fields, at)?;
        p.nationality = nationalities.place(fields.get(NATIONALITY).copied().flatten(), seen);
        // The file name is the same text row after row: its address tells first.
        let same = seen.files.last().is_some_and(|(f, s)| *s == p.snap && ((f.as_ptr(), f.len()) == (file.as_ptr(), file.len()) || *f == file));
        if !same {
            seen.files.push((file, p.snap));
        }
        Ok(p)
    });
    let nationalities: Vec<String> = nationalities.texts().into_iter().map(str::to_string).collect();
    let mut files: Vec<(String, i32)> = Vec::new();
    for (name, snap) in gathered.into_iter().flat_map(|s| s.files) {
        if files.last().is_none_or(|(n, s)| n != name || *s != snap) {
            files.push((name.to_string(), snap));
        }
    }
    let rows_checked = started.elapsed();

    // 2. DMC duplicate check: a student (citizen ID) in more than one good row of a snapshot is
    // rejected at every school that sent the row, each told which schools they were.
    duplicates(&mut parsed, &mut bad, &source);
    bad.sort_by_key(|b| b.row);
    let dups_checked = started.elapsed();

    // 3. The good rows in the table's order, made into batches as they are written.
    let mut days: Vec<i32> = files.iter().map(|(_, snap)| *snap).collect();
    days.sort_unstable();
    days.dedup();
    let (order, snapshots) = table_order(&parsed, &days, ctx);
    let ordered = started.elapsed();
    let def = schema::table("enrollments").ok_or_else(|| err("no enrollments table"))?;
    let good = Enrollments {
        schema: def.schema.clone(),
        parsed,
        order,
        school_codes: ctx.school_codes.clone(),
        school_areas: ctx.school_areas.clone(),
        nationalities,
        grades: grade_table(),
        counter: None,
    };
    let bad = source.rejected(&bad, SCHOOL)?;
    tracing::debug!(
        rows,
        good = good.order.len(),
        rejected = bad.height(),
        check_seconds = rows_checked.as_secs_f64(),
        duplicates_seconds = (dups_checked - rows_checked).as_secs_f64(),
        order_seconds = (ordered - dups_checked).as_secs_f64(),
        total_seconds = started.elapsed().as_secs_f64(),
        "checked the students row by row"
    );
    let snapshots = snapshots.into_iter().map(iso_date).collect();
    Ok(Students { rows: rows as u64, good, bad, snapshots, files })
}

/// Finds the students in more than one good row of a snapshot (by their keyed hash), and rejects
/// those rows. The good rows are first spread over buckets by their key's first byte (each core its
/// share of the rows, writing a number made of the snapshot and key, and the row). In every bucket,
/// small enough to stay in a core's cache, the numbers met more than once are found
/// ([`seen_twice`]); only their rows are compared by their whole snapshot and key.
fn duplicates(parsed: &mut [Parsed], bad: &mut Vec<Bad>, source: &Source) {
    const BUCKETS: usize = 256;
    let chunk = parsed.len().div_ceil(rayon::current_num_threads().max(1) * 4).max(1);
    // The key's next four bytes with the snapshot mixed in.
    let number = |p: &Parsed| {
        let mut b = [0u8; 4];
        b.copy_from_slice(p.key.get(1..5).unwrap_or(&[0; 4]));
        u32::from_le_bytes(b) ^ p.snap.unsigned_abs().wrapping_mul(0x9E37_79B9)
    };
    let spread: Vec<Vec<Vec<(u32, u32)>>> = parsed
        .par_chunks(chunk)
        .enumerate()
        .map(|(c, ps)| {
            let mut buckets: Vec<Vec<(u32, u32)>> = (0..BUCKETS).map(|_| Vec::with_capacity(ps.len() / BUCKETS * 5 / 4)).collect();
            for (i, p) in ps.iter().enumerate().filter(|(_, p)| p.ok) {
                if let Some(b) = buckets.get_mut(usize::from(p.key[0])) {
                    b.push((number(p), u32::try_from(c * chunk + i).unwrap_or(u32::MAX)));
                }
            }
            buckets
        })
        .collect();
    // Each bucket's groups of rows of one student in one snapshot; each core keeps one table for
    // all its buckets (a new one per bucket cost a page fault per 4 KiB written).
    let rows: &[Parsed] = parsed;
    let groups: Vec<Vec<u32>> = (0..BUCKETS)
        .into_par_iter()
        .map_init(Vec::new, |table, b| {
            let parts = || spread.iter().filter_map(|c| c.get(b)).flatten();
            let again = seen_twice(table, parts().map(|(n, _)| *n));
            let mut found: Vec<Vec<u32>> = Vec::new();
            if again.is_empty() {
                return found;
            }
            let mut all: Vec<(u32, u32)> = parts().filter(|(n, _)| again.binary_search(&nonzero(*n)).is_ok()).copied().collect();
            all.sort_unstable();
            for same in all.chunk_by(|x, y| x.0 == y.0).filter(|s| s.len() > 1) {
                let mut exact: Vec<((i32, [u8; 16]), u32)> = same.iter().filter_map(|(_, r)| rows.get(*r as usize).map(|p| ((p.snap, p.key), *r))).collect();
                exact.sort_unstable();
                found.extend(exact.chunk_by(|x, y| x.0 == y.0).filter(|s| s.len() > 1).map(|s| s.iter().map(|(_, r)| *r).collect()));
            }
            found
        })
        .flatten_iter()
        .collect();
    drop(spread);
    // Each row rejected at its school, told how many rows and which schools (first and last).
    let mut rejected: Vec<(usize, u64, String)> = Vec::new();
    for group in groups {
        let found: Vec<(usize, u64, &str)> = group
            .iter()
            .filter_map(|r| rows.get(*r as usize).map(|p| (*r as usize, p.at)))
            .map(|(row, at)| (row, at, source.row(row, at).0.get(SCHOOL).copied().flatten().unwrap_or_default()))
            .collect();
        let first = found.iter().map(|f| f.2).min().unwrap_or_default();
        let last = found.iter().map(|f| f.2).max().unwrap_or_default();
        let detail = format!("the same student is in {} rows of this snapshot, at schools {first} and {last}", found.len());
        rejected.extend(found.iter().map(|(row, at, _)| (*row, *at, detail.clone())));
    }
    for (row, at, detail) in rejected {
        if let Some(p) = parsed.get_mut(row) {
            p.ok = false;
        }
        bad.push(Bad { row, at, rule: "duplicate_enrollment", detail });
    }
}

/// A row's number as [`seen_twice`] keeps it: 0 marks an empty place, so it counts as 1 (rows
/// whose numbers differ are different students; equal numbers are compared in full).
fn nonzero(n: u32) -> u32 {
    n.max(1)
}

/// The numbers ([`nonzero`]) met more than once, sorted. The numbers are hash bits, so their own
/// low bits place them in `table`, twice as many places as numbers (open addressing, in a core's
/// cache): one look per row, where sorting every row cost about fifteen compares.
fn seen_twice(table: &mut Vec<u32>, numbers: impl Iterator<Item = u32> + Clone) -> Vec<u32> {
    let size = (numbers.clone().count() * 2).next_power_of_two().max(16);
    table.clear();
    table.resize(size, 0);
    let mut again = Vec::new();
    for n in numbers.map(nonzero) {
        let mut at = n as usize;
        loop {
            at &= size - 1;
            match table.get_mut(at) {
                Some(slot) if *slot == 0 => {
                    *slot = n;
                    break;
                }
                Some(slot) if *slot == n => {
                    again.push(n);
                    break;
                }
                Some(_) => at += 1,
                None => break,
            }
        }
    }
    again.sort_unstable();
    again.dedup();
    again
}

/// The good rows' frame positions in the order the table's files hold them (`layout`): by snapshot
/// (its partition), the school's area and code, then the grade, rows of one school and grade in the
/// order they came (a counting sort: the snapshots and schools are known, and there are fifteen
/// grades); and the snapshots that have good rows. `days` holds every good row's snapshot day, in
/// order (those the checked rows came with, before the duplicate check). Each core counts and then
/// places its share of the rows, the shares one after the other within every bucket.
fn table_order(parsed: &[Parsed], days: &[i32], ctx: &Context) -> (Vec<u32>, BTreeSet<i32>) {
    let n = ctx.school_codes.len();
    let mut by_place: Vec<usize> = (0..n).collect();
    let area = |i: usize| ctx.school_areas.get(i).map_or("", String::as_str);
    let code = |i: usize| ctx.school_codes.get(i).map_or("", String::as_str);
    by_place.sort_by(|a, b| (area(*a), code(*a)).cmp(&(area(*b), code(*b))));
    let mut rank = vec![0usize; n];
    for (place, school) in by_place.into_iter().enumerate() {
        if let Some(r) = rank.get_mut(school) {
            *r = place;
        }
    }
    const GRADES: usize = 16;
    let per_day = n * GRADES;
    let buckets = days.len().max(1) * per_day;
    let snapshot = |p: &Parsed| if days.len() == 1 { 0 } else { days.binary_search(&p.snap).unwrap_or(0) };
    let bucket = |p: &Parsed| (snapshot(p) * n + rank.get(p.school as usize).copied().unwrap_or(0)) * GRADES + usize::from(p.order).min(GRADES - 1);
    let share = parsed.len().div_ceil(rayon::current_num_threads().max(1)).max(1);
    // 1. Each share's good rows per bucket.
    let mut starts: Vec<Vec<u32>> = parsed
        .par_chunks(share)
        .map(|rows| {
            let mut counts = vec![0u32; buckets];
            for p in rows.iter().filter(|p| p.ok) {
                if let Some(c) = counts.get_mut(bucket(p)) {
                    *c += 1;
                }
            }
            counts
        })
        .collect();
    // 2. Where each share's rows of each bucket go, and which days have rows.
    let mut next: u32 = 0;
    let mut with_rows = vec![false; days.len()];
    for b in 0..buckets {
        for counts in &mut starts {
            if let Some(c) = counts.get_mut(b) {
                let k = *c;
                *c = next;
                next = next.saturating_add(k);
                if k > 0
                    && let Some(d) = with_rows.get_mut(b / per_day)
                {
                    *d = true;
                }
            }
        }
    }
    // 3. Each share's rows put in their places (no two shares write the same place).
    let order: Vec<AtomicU32> = (0..next).map(|_| AtomicU32::new(0)).collect();
    parsed.par_chunks(share).zip(starts.par_iter_mut()).enumerate().for_each(|(k, (rows, at))| {
        for (i, p) in rows.iter().enumerate().filter(|(_, p)| p.ok) {
            if let Some(place) = at.get_mut(bucket(p)) {
                if let Some(slot) = order.get(*place as usize) {
                    slot.store(u32::try_from(k * share + i).unwrap_or(u32::MAX), Ordering::Relaxed);
                }
                *place += 1;
            }
        }
    });
    let snapshots = days.iter().zip(with_rows).filter(|(_, has)| *has).map(|(d, _)| *d).collect();
    (order.into_iter().map(AtomicU32::into_inner).collect(), snapshots)
}

/// Each grade's code and level, by its order (`Parsed::order`).
fn grade_table() -> [(&'static str, &'static str); GRADE_ORDERS] {
    let mut grades = [("", ""); GRADE_ORDERS];
    for g in reference::grades() {
        if let Some(slot) = usize::try_from(g.order).ok().and_then(|o| grades.get_mut(o)) {
            *slot = (g.code, g.level);
        }
    }
    grades
}

fn school<'c>(p: &Parsed, v: &'c [String]) -> Option<&'c str> {
    v.get(p.school as usize).map(String::as_str)
}

/// The good students as the enrollments table's rows, in its order, made into batches (one row group
/// each) only when the writer asks for them (`Batches`): the batches of a national snapshot (800 MB)
/// are then never all in memory at once. When `counted`, every batch made is also counted for the
/// derived tables (`tally`) as it is made, on the writer's core.
pub struct Enrollments {
    schema: arrow::datatypes::SchemaRef,
    parsed: Vec<Parsed>,
    /// The good rows' positions in `parsed`, in the table's order (`table_order`).
    order: Vec<u32>,
    school_codes: Vec<String>,
    school_areas: Vec<String>,
    nationalities: Vec<String>,
    /// Each grade's code and level, by its order (`Parsed::order`); "" for an order with no grade.
    grades: [(&'static str, &'static str); GRADE_ORDERS],
    counter: Option<Counting>,
}

/// Grade orders a row may have (`Parsed::order`, 0 to 15).
const GRADE_ORDERS: usize = 16;

/// The count of the batches made so far, each batch counted once however often it is made.
struct Counting {
    counted: Vec<AtomicBool>,
    counter: Mutex<tally::Counter>,
    /// The texts of the dictionaries a batch is counted with (`Coded`).
    texts: Coded,
}

/// The texts the rows' numbers stand for, as dictionary values: the counted batch's area, school,
/// grade, level and status are keys into these (the last value of each is null), so the count
/// numbers a row's texts by the numbers the row holds, without reading a text.
struct Coded {
    /// Each school's area, as its place in `areas`.
    area_of_school: Vec<u32>,
    areas: ArrayRef,
    schools: ArrayRef,
    /// By grade order, then one "" for any other order (as the written batch has them).
    grades: ArrayRef,
    levels: ArrayRef,
    statuses: ArrayRef,
}

impl Coded {
    fn of(e: &Enrollments) -> Coded {
        let distinct: BTreeSet<&str> = e.school_areas.iter().map(String::as_str).collect();
        let areas: Vec<&str> = distinct.into_iter().collect();
        let place = |a: &str| areas.binary_search(&a).ok().and_then(|p| u32::try_from(p).ok()).unwrap_or(u32::MAX);
        let with_null = |v: Vec<Option<&str>>| -> ArrayRef { Arc::new(StringArray::from(v.into_iter().chain([None]).collect::<Vec<_>>())) };
        let by_order = |f: fn(&(&'static str, &'static str)) -> &'static str| with_null(e.grades.iter().map(f).chain([""]).map(Some).collect());
        Coded {
            area_of_school: e.school_areas.iter().map(|a| place(a)).collect(),
            areas: with_null(areas.iter().map(|a| Some(*a)).collect()),
            schools: with_null(e.school_codes.iter().map(|c| Some(c.as_str())).collect()),
            grades: by_order(|g| g.0),
            levels: by_order(|g| g.1),
            statuses: with_null(STATUSES.iter().map(|s| Some(*s)).collect()),
        }
    }
}

impl Enrollments {
    /// Counts every batch as it is made (`tally`).
    pub fn counted(mut self) -> Self {
        let counted = (0..self.count()).map(|_| AtomicBool::new(false)).collect();
        self.counter = Some(Counting { counted, counter: Mutex::new(tally::Counter::default()), texts: Coded::of(&self) });
        self
    }

    /// The aggregates of every row (making and counting the batches no write has made yet), once
    /// they are written; `None` when not `counted`.
    pub fn tally(&self) -> Result<Option<tally::Tally>, WarehouseError> {
        let Some(c) = &self.counter else { return Ok(None) };
        for (i, done) in c.counted.iter().enumerate() {
            if !done.load(Ordering::Acquire) {
                self.batch(i)?;
            }
        }
        let counter = std::mem::take(&mut *c.counter.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        counter.finish().map(Some)
    }

    /// Every batch, made now.
    pub fn all(&self) -> Result<Vec<RecordBatch>, WarehouseError> {
        (0..self.count()).map(|i| self.batch(i)).collect()
    }
}

impl Batches for Enrollments {
    fn count(&self) -> usize {
        self.order.len().div_ceil(layout::ROW_GROUP_ROWS)
    }

    fn rows(&self) -> usize {
        self.order.len()
    }

    fn batch(&self, i: usize) -> Result<RecordBatch, WarehouseError> {
        let werr = |e: IngestError| WarehouseError::Schema { table: "enrollments".into(), message: e.to_string() };
        let start = i.saturating_mul(layout::ROW_GROUP_ROWS);
        let rows = self.order.get(start..(start + layout::ROW_GROUP_ROWS).min(self.order.len())).ok_or_else(|| werr(err(format!("no batch {i}"))))?;
        let counting = self.counter.as_ref().filter(|c| c.counted.get(i).is_some_and(|done| !done.swap(true, Ordering::AcqRel)));
        let (b, coded) = batch(self, rows, counting.map(|c| &c.texts)).map_err(werr)?;
        if let (Some(c), Some(coded)) = (counting, coded) {
            let counted = tally::count(&coded)?;
            c.counter.lock().unwrap_or_else(std::sync::PoisonError::into_inner).add(counted);
        }
        Ok(b)
    }
}

/// One batch of the enrollments table: the good rows at `rows` of the frame, in that order. Built
/// in one pass over the rows, every column filled as it goes: a pass per column would read every
/// row (most of a cache line each) sixteen times. With `coded`, also the same rows as the derived
/// tables count them (`tally::count`): the numbers the same, the texts as keys into `coded`.
fn batch(e: &Enrollments, rows: &[u32], coded: Option<&Coded>) -> Result<(RecordBatch, Option<RecordBatch>), IngestError> {
    let (parsed, nationalities, grades) = (&e.parsed, &e.nationalities, &e.grades);
    let n = rows.len();
    let widest = |v: &[String]| v.iter().map(String::len).max().unwrap_or(0);
    let texts = |width: usize| StringBuilder::with_capacity(n, n * width);
    let (mut snap, mut year, mut order, mut sex, mut age, mut disability) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    // The columns with nulls straight into their arrays' buffers, without a vector of options first.
    let (mut room, mut disadvantaged, mut bmi) = (Int32Builder::with_capacity(n), BooleanBuilder::with_capacity(n), Float64Builder::with_capacity(n));
    let (mut area, mut code, mut key) = (texts(widest(&e.school_areas)), texts(widest(&e.school_codes)), texts(32));
    let (mut grade, mut level, mut nationality, mut status) = (texts(2), texts(16), texts(9), texts(11));
    // The counted rows' keys: area, school, grade (and level) by order, status.
    let keys = |on: bool| if on { Vec::with_capacity(n) } else { Vec::new() };
    let (mut area_keys, mut school_keys, mut order_keys, mut status_keys) = (keys(coded.is_some()), keys(coded.is_some()), keys(coded.is_some()), keys(coded.is_some()));
    let mut hex = [0u8; 32];
    for p in rows.iter().filter_map(|r| parsed.get(*r as usize)) {
        snap.push(p.snap);
        year.push(p.academic_year);
        area.append_option(school(p, &e.school_areas));
        code.append_option(school(p, &e.school_codes));
        let _ = hex::encode_to_slice(p.key, &mut hex);
        key.append_value(std::str::from_utf8(&hex).unwrap_or_default());
        let (g, l) = grades.get(usize::from(p.order)).copied().unwrap_or_default();
        grade.append_value(g);
        order.push(i32::from(p.order));
        level.append_value(l);
        room.append_option(p.room);
        sex.push(i32::from(p.sex));
        age.push(i32::from(p.age));
        nationality.append_option(nationalities.get(p.nationality as usize).map(String::as_str));
        disadvantaged.append_option(p.disadvantaged);
        disability.push(i32::from(p.disability));
        bmi.append_option(p.bmi);
        status.append_option(STATUSES.get(usize::from(p.status)).copied());
        if let Some(c) = coded {
            // A number past a dictionary's texts stands for its last value (the null; for the
            // grades, the "" of an unknown order).
            let key = |k: usize, values: &ArrayRef| u32::try_from(k.min(values.len().saturating_sub(1))).unwrap_or(u32::MAX);
            let at = p.school as usize;
            area_keys.push(key(c.area_of_school.get(at).map_or(usize::MAX, |a| *a as usize), &c.areas));
            school_keys.push(key(at, &c.schools));
            order_keys.push(key(usize::from(p.order).min(GRADE_ORDERS), &c.grades));
            status_keys.push(key(usize::from(p.status), &c.statuses));
        }
    }
    let (snap, year, order): (ArrayRef, ArrayRef, ArrayRef) = (Arc::new(Date32Array::from(snap)), Arc::new(Int32Array::from(year)), Arc::new(Int32Array::from(order)));
    let (room, sex, age): (ArrayRef, ArrayRef, ArrayRef) = (Arc::new(room.finish()), Arc::new(Int32Array::from(sex)), Arc::new(Int32Array::from(age)));
    let (disadvantaged, disability): (ArrayRef, ArrayRef) = (Arc::new(disadvantaged.finish()), Arc::new(Int32Array::from(disability)));
    let columns: Vec<ArrayRef> = vec![
        snap.clone(),
        year.clone(),
        Arc::new(area.finish()),
        Arc::new(code.finish()),
        Arc::new(key.finish()),
        Arc::new(grade.finish()),
        order.clone(),
        Arc::new(level.finish()),
        room.clone(),
        sex.clone(),
        age.clone(),
        Arc::new(nationality.finish()),
        disadvantaged.clone(),
        disability.clone(),
        Arc::new(bmi.finish()),
        Arc::new(status.finish()),
    ];
    let written = RecordBatch::try_new(e.schema.clone(), columns).map_err(err)?;
    let Some(c) = coded else { return Ok((written, None)) };
    let dictionary = |keys: Vec<u32>, values: &ArrayRef| -> Result<ArrayRef, IngestError> { Ok(Arc::new(DictionaryArray::<UInt32Type>::try_new(UInt32Array::from(keys), values.clone()).map_err(err)?)) };
    let counted = RecordBatch::try_from_iter([
        ("snapshot_date", snap),
        ("academic_year", year),
        ("area_code", dictionary(area_keys, &c.areas)?),
        ("school_code", dictionary(school_keys, &c.schools)?),
        ("grade", dictionary(order_keys.clone(), &c.grades)?),
        ("grade_order", order),
        ("level", dictionary(order_keys, &c.levels)?),
        ("classroom", room),
        ("sex", sex),
        ("age_years", age),
        ("status", dictionary(status_keys, &c.statuses)?),
        ("disadvantaged", disadvantaged),
        ("disability", disability),
    ])
    .map_err(err)?;
    Ok((written, Some(counted)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use arrow::array::Float64Array;
    use crate::read::{FILE_COL, LINE_COL};
    use crate::transform::{DETAIL_COL, RAW_COL, RULE_COL};

    fn frame(cols: &[(&str, Vec<Option<&str>>)]) -> DataFrame {
        let n = cols.first().map(|c| c.1.len()).unwrap_or(0);
        let mut columns = vec![Column::new(FILE_COL.into(), vec!["f.csv"; n]), Column::new(LINE_COL.into(), (2..2 + n as i64).collect::<Vec<_>>())];
        for (name, values) in cols {
            columns.push(Column::new((*name).into(), values.clone()));
        }
        DataFrame::new(n, columns).unwrap()
    }

    #[test]
    fn seen_twice_finds_every_repeated_number_and_no_other() {
        // Numbers sharing their table place (low bits) but not equal; 0 (kept as 1, as is 1);
        // one number three times; 1,000 other numbers around them.
        let mut numbers: Vec<u32> = (1..1001u32).map(|i| i.wrapping_mul(0x9E37_79B9)).collect();
        numbers.extend([(7 << 24) | 5, (8 << 24) | 5, (9 << 24) | 5, (9 << 24) | 5, (9 << 24) | 5, 0, 1, 6, 6]);
        // What sorting all of them finds (the filler may repeat a number by chance).
        let mut sorted: Vec<u32> = numbers.iter().map(|n| nonzero(*n)).collect();
        sorted.sort_unstable();
        let mut expected: Vec<u32> = sorted.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
        expected.dedup();
        for n in [1, 6, (9 << 24) | 5] {
            assert!(expected.contains(&n));
        }
        // One table reused, as each core does, from a larger bucket to a smaller one.
        let mut table = Vec::new();
        assert_eq!(seen_twice(&mut table, numbers.iter().copied()), expected);
        assert_eq!(seen_twice(&mut table, [3u32, 4, 3].into_iter()), vec![3]);
        assert!(seen_twice(&mut table, std::iter::empty()).is_empty());
    }

    fn ctx() -> Context {
        Context {
            school_codes: vec!["1056010002".into(), "1056010001".into()],
            school_areas: vec!["56010000".into(), "56010000".into()],
            school_low: vec![10, 1],
            school_high: vec![15, 9],
            area_codes: vec!["56010000".into()],
        }
    }

    fn column<T>(b: &[RecordBatch], name: &str, f: impl Fn(&dyn arrow::array::Array, usize) -> T) -> Vec<T> {
        b.iter().flat_map(|b| {
            let a = b.column_by_name(name).unwrap().clone();
            (0..a.len()).map(|i| f(a.as_ref(), i)).collect::<Vec<_>>()
        }).collect()
    }

    fn texts(b: &[RecordBatch], name: &str) -> Vec<String> {
        column(b, name, |a, i| arrow::util::display::array_value_to_string(a, i).unwrap())
    }

    #[test]
    fn rules_thai_dates_duplicates_and_the_tables_order() {
        // line: 2 good (BE leap day 29/02/2563 = 2020-02-29); 3 bad check digit; 4 M1 at a K1-P6 school;
        // 5 born this year; 6 and 7 the same student at two schools; 8 the student of line 2 in the next
        // snapshot (good); 9 29/02/2562 = 2019-02-29, which does not exist; 10 a good M1 at the
        // secondary school (first in the schools feed, second in the table's order); 11 a negative
        // weight; 12 the first good row's student again, in another snapshot, padded with spaces.
        let n = 11;
        let df = frame(&[
            ("academic_year", vec![Some("2569"); n]),
            ("snapshot_date", vec![Some("10/06/2569"), Some("2026-06-10"), Some("10/06/2569"), Some("10/06/2569"), Some("10/06/2569"), Some("10/06/2569"), Some("10/11/2569"), Some("2026-06-10"), Some("2026-06-10"), Some("2026-06-10"), Some("2026-01-10")]),
            ("school_code", vec![Some("1056010001"), Some("1056010001"), Some("1056010001"), Some("1056010001"), Some("1056010001"), Some("1056010002"), Some("1056010001"), Some("1056010001"), Some("1056010002"), Some("1056010001"), Some(" 1056010001 ")]),
            ("citizen_id", vec![Some("1101700230708"), Some("1101700230709"), Some("G123456789012"), Some("3101700230704"), Some("1234567890121"), Some("1234567890121"), Some("1101700230708"), Some("G000000000001"), Some("G000000000002"), Some("G000000000003"), Some("1101700230708 ")]),
            ("grade", vec![Some("ป.1"), Some("P1"), Some("M1"), Some("P1"), Some("P6"), Some("M1"), Some("p1"), Some("P1"), Some("m1"), Some("P2"), Some("P1")]),
            ("classroom", vec![Some("1"); n]),
            ("sex", vec![Some("ช"), Some("2"), Some("ญ"), Some("1"), Some("1"), Some("2"), Some("หญิง"), Some("1"), Some("F"), Some("1"), Some("male")]),
            ("birth_date", vec![Some("29/02/2563"), Some("2019-02-28"), Some("01/01/2556"), Some("01/01/2569"), Some("2014-05-01"), Some("2014-05-01"), Some("29/02/2563"), Some("29/02/2562"), Some("2013-01-01"), Some("2018-01-01"), Some("29/02/2563")]),
            ("nationality", vec![Some("ไทย"); n]),
            ("disadvantaged", vec![Some("1"), Some("1"), Some("1"), Some("1"), Some("1"), Some("1"), Some("ใช่"), Some("1"), None, Some("0"), Some("no")]),
            ("disability", vec![Some("0"); n]),
            ("weight_kg", vec![Some("19.5"), Some("20.5"), Some("20.5"), Some("20.5"), Some("20.5"), Some("20.5"), Some("20.5"), Some("20.5"), Some("1,040"), Some("-3"), None]),
            ("height_cm", vec![Some("100.5"), None, None, None, None, None, None, None, Some("150"), None, None]),
            ("status", vec![Some("studying"); n]),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let secret = Secret::load_or_create(&dir.path().join("secret.key")).unwrap();
        let c = check(Read::Frame(df), &ctx(), &secret).unwrap();
        let lines: Vec<Option<i64>> = c.bad.column(LINE_COL).unwrap().i64().unwrap().iter().collect();
        let rules: Vec<Option<&str>> = c.bad.column(RULE_COL).unwrap().str().unwrap().iter().collect();
        let details: Vec<Option<&str>> = c.bad.column(DETAIL_COL).unwrap().str().unwrap().iter().collect();
        assert_eq!(lines, [3, 4, 5, 6, 7, 9, 11].map(Some));
        assert_eq!(
            rules,
            ["citizen_id_check_digit", "grade_out_of_range", "birth_date_implausible", "duplicate_enrollment", "duplicate_enrollment", "date_unparseable", "negative_number"].map(Some)
        );
        assert_eq!(details[1], Some("grade M1 is outside the school's range K1-P6"));
        assert_eq!(details[3], Some("the same student is in 2 rows of this snapshot, at schools 1056010001 and 1056010002"));
        assert_eq!(details[5], Some("birth_date '29/02/2562' is not a date (2025-06-10 or 10/06/2568)"));
        assert_eq!(details[6], Some("w is negative: -3.0"));
        let raw: Vec<Option<&str>> = c.bad.column(RAW_COL).unwrap().str().unwrap().iter().collect();
        assert_eq!(raw[0], Some("2569,2026-06-10,1056010001,1101700230709,P1,1,2,2019-02-28,ไทย,1,0,20.5,,studying"));
        // The good rows in the order of the table's files: snapshot (its partition), area, school,
        // grade order (school 1056010001 before 1056010002), ties in the order they came.
        let good = c.good.all().unwrap();
        assert_eq!(texts(&good, "snapshot_date"), ["2026-01-10", "2026-06-10", "2026-06-10", "2026-11-10"]);
        assert_eq!(texts(&good, "school_code"), ["1056010001", "1056010001", "1056010002", "1056010001"]);
        assert_eq!(texts(&good, "grade"), ["P1", "P1", "M1", "P1"]);
        assert_eq!(texts(&good, "age_years"), ["5", "6", "13", "6"]);
        assert_eq!(texts(&good, "sex"), ["1", "1", "2", "2"]);
        assert_eq!(texts(&good, "disadvantaged"), ["false", "true", "", "true"]);
        assert_eq!(texts(&good, "level"), ["primary", "primary", "lower_secondary", "primary"]);
        assert_eq!(texts(&good, "area_code"), ["56010000"; 4]);
        let bmi = column(&good, "bmi", |a, i| a.as_any().downcast_ref::<Float64Array>().unwrap().value(i));
        assert!((bmi[2] - 1040.0 / (1.5 * 1.5)).abs() < 1e-9);
        assert_eq!(bmi[1], 19.306452810573994, "to the last bit as earlier loads computed it");
        let keys = texts(&good, "student_key");
        assert_eq!(keys[1], secret.keyed_hash("1101700230708"));
        assert_eq!(keys[1], keys[3], "the same student in two snapshots has one key");
        assert_eq!(keys[1], keys[0], "spaces around an ID are not part of it");
        // Counted as they are made (their texts as numbers), the rows count as the derived tables
        // count the rows written.
        let counted = c.good.counted();
        let made = counted.all().unwrap();
        assert_eq!(made, good);
        let (as_made, as_written) = (counted.tally().unwrap().unwrap(), tally::tally(&good).unwrap());
        let lines = |b: &RecordBatch| {
            let mut l: Vec<String> = arrow::util::pretty::pretty_format_batches(std::slice::from_ref(b)).unwrap().to_string().lines().map(str::to_string).collect();
            l.sort();
            l
        };
        assert_eq!(as_made.counts.num_rows(), 4);
        assert_eq!(lines(&as_made.schools), lines(&as_written.schools));
        assert_eq!(lines(&as_made.counts), lines(&as_written.counts));
        assert_eq!(c.snapshots, ["2026-01-10", "2026-06-10", "2026-11-10"]);
        let f = |d: i32| ("f.csv".to_string(), d);
        assert_eq!(c.files, [f(20614), f(20767), f(20614), f(20463)]);
    }

    #[test]
    fn csv_text_reads_as_polars_reads_it() {
        // CRLF line ends; no nationality column and an extra one; an empty field; padded values; a
        // blank line; a line with more fields and one with fewer; the last line without its end.
        let text = "academic_year,snapshot_date,school_code,citizen_id,grade,classroom,sex,birth_date,extra,disadvantaged,disability,weight_kg,height_cm,status\r\n\
            2569,2026-06-10,1056010001,1101700230708,P1,1,1,2020-01-01,x,1,0,20.5,110,studying\r\n\
            \x20 2569 , 10/06/2569 ,1056010001 ,1101700230709,P1,,2,2020-01-01,,0,,,,moved\r\n\
            \r\n\
            2569,2026-06-10,1056010002,G000000000002,M1,2,F,2013-01-01,x,no,0,45,150,studying,more,fields\r\n\
            2569,2026-06-10,1056010001,G000000000003,P2,1,1,2018-01-01\r\n\
            2569,2026-06-10,1056010001,G000000000004,K1,1,1,2022-01-01,x,1,0,15,95,studying";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("students_2569-06-10.csv");
        std::fs::write(&path, text).unwrap();
        let secret = Secret::load_or_create(&dir.path().join("secret.key")).unwrap();
        let ff = crate::read::FeedFiles { feed: feeds::STUDENTS, files: vec![path] };
        let read = crate::read::read_feed_text(&ff).unwrap();
        assert!(matches!(read, Read::Csv(_)), "a file without quotes is split here");
        let split = check(read, &ctx(), &secret).unwrap();
        let polars = check(Read::Frame(crate::read::read_feed(&ff).unwrap()), &ctx(), &secret).unwrap();
        assert_eq!(split.rows, 6);
        assert_eq!(split.rows, polars.rows);
        assert!(split.bad.equals_missing(&polars.bad), "{:?}\n{:?}", split.bad, polars.bad);
        assert_eq!(split.bad.height(), 3);
        assert_eq!(split.good.all().unwrap(), polars.good.all().unwrap());
        assert_eq!(split.good.rows(), 3);
        assert_eq!((split.snapshots, split.files), (polars.snapshots, polars.files));
    }

    #[test]
    fn a_file_with_no_rows_does_not_shift_the_lines_of_the_next() {
        let header = "academic_year,snapshot_date,school_code,citizen_id,grade,classroom,sex,birth_date,nationality,disadvantaged,disability,weight_kg,height_cm,status\n";
        let dir = tempfile::tempdir().unwrap();
        let (empty, rows) = (dir.path().join("students_2569-06-10.csv"), dir.path().join("students_2569-11-10.csv"));
        std::fs::write(&empty, header).unwrap();
        std::fs::write(&rows, format!("{header}2569,2026-11-10,1056010001,1101700230708,P1,1,1,2020-01-01,ไทย,1,0,20,110,studying\n2569,2026-11-10,1056010001,1101700230709,P1,1,1,2020-01-01,ไทย,1,0,20,110,studying\n")).unwrap();
        let secret = Secret::load_or_create(&dir.path().join("secret.key")).unwrap();
        let ff = crate::read::FeedFiles { feed: feeds::STUDENTS, files: vec![empty, rows] };
        let read = crate::read::read_feed_text(&ff).unwrap();
        assert!(matches!(read, Read::Csv(_)));
        let split = check(read, &ctx(), &secret).unwrap();
        let polars = check(Read::Frame(crate::read::read_feed(&ff).unwrap()), &ctx(), &secret).unwrap();
        let rejected = |c: &Students| -> Vec<(Option<String>, Option<i64>)> {
            let files = c.bad.column(FILE_COL).unwrap().str().unwrap().iter().map(|f| f.map(str::to_string)).collect::<Vec<_>>();
            files.into_iter().zip(c.bad.column(LINE_COL).unwrap().i64().unwrap().iter()).collect()
        };
        assert_eq!(rejected(&split), [(Some("students_2569-11-10.csv".to_string()), Some(3))]);
        assert_eq!(rejected(&split), rejected(&polars));
        assert_eq!(split.good.all().unwrap(), polars.good.all().unwrap());
    }
}

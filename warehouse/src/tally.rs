//! The two derived aggregates of enrollments, counted from a load's fresh rows while they are still in
//! memory (`derive::Fresh`): per school and snapshot (the `e` part of the summary's query) and
//! `enrollment_counts`. They give the rows the SQL of `derive` gives over the table, with the same
//! null handling, for a fraction of the time: a query engine hashes every row's text codes, while here
//! each batch (rows by area, school and grade) turns a code into a number by comparing it with the
//! row before, and counts by numbers.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, Date32Array, Int32Array, Int64Array, PrimitiveArray, RecordBatch, StringArray, UInt32Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Date32Type, Field, Int32Type, Schema, SchemaRef, UInt32Type};
use foldhash::{HashMap, HashSet};
use rayon::prelude::*;

use crate::{WarehouseError, schema};

fn query_err(e: impl std::fmt::Display) -> WarehouseError {
    WarehouseError::Query { message: e.to_string() }
}

/// The enrollments columns the aggregates read, as the table's types; a text column may also come
/// as a dictionary (`TextColumn::Coded`).
struct Columns {
    snapshot: Date32Array,
    academic_year: Int32Array,
    area: TextColumn,
    school: TextColumn,
    grade: TextColumn,
    grade_order: Int32Array,
    level: TextColumn,
    classroom: Int32Array,
    sex: Int32Array,
    age: Int32Array,
    status: TextColumn,
    disadvantaged: BooleanArray,
    disability: Int32Array,
}

/// A text column: its values, or a dictionary of them (keys without nulls, into values that may
/// repeat a text), whose keys number the rows' texts without a look at the texts. A load counts
/// the rows it writes so (`count`): the numbers are what its rows hold already.
enum TextColumn {
    Plain(StringArray),
    Coded(UInt32Array, StringArray),
}

impl TextColumn {
    fn of(c: &ArrayRef) -> Result<TextColumn, WarehouseError> {
        if let Some(d) = c.as_dictionary_opt::<UInt32Type>()
            && d.keys().null_count() == 0
        {
            let values = cast(d.values(), &DataType::Utf8).map_err(query_err)?;
            return Ok(TextColumn::Coded(d.keys().clone(), values.as_string::<i32>().clone()));
        }
        Ok(TextColumn::Plain(cast(c, &DataType::Utf8).map_err(query_err)?.as_string::<i32>().clone()))
    }

    fn numbers(&self) -> Numbered<'_> {
        match self {
            TextColumn::Plain(a) => Numbered::Plain(a, Ids::new()),
            TextColumn::Coded(keys, values) => Numbered::Coded(keys.values(), values),
        }
    }
}

/// A text column's rows as numbers, each number standing for one text (`value`).
enum Numbered<'a> {
    /// Numbered as the texts come.
    Plain(&'a StringArray, Ids<'a>),
    /// By the dictionary's keys.
    Coded(&'a [u32], &'a StringArray),
}

impl<'a> Numbered<'a> {
    #[inline]
    fn id(&mut self, i: usize) -> u32 {
        match self {
            Numbered::Plain(a, ids) => ids.id(text(a, i)),
            Numbered::Coded(keys, _) => keys.get(i).copied().unwrap_or(u32::MAX),
        }
    }

    fn value(&self, id: u32) -> Option<&'a str> {
        match self {
            Numbered::Plain(_, ids) => ids.value(id),
            Numbered::Coded(_, values) => {
                let i = id as usize;
                (i < values.len() && values.is_valid(i)).then(|| values.value(i))
            }
        }
    }
}

impl Columns {
    fn of(b: &RecordBatch) -> Result<Columns, WarehouseError> {
        let get = |name: &str| -> Result<&ArrayRef, WarehouseError> { b.column_by_name(name).ok_or_else(|| query_err(format!("the enrollments rows have no column {name}"))) };
        let column = |name: &str, to: &DataType| -> Result<ArrayRef, WarehouseError> { cast(get(name)?, to).map_err(query_err) };
        let text = |name: &str| -> Result<TextColumn, WarehouseError> { TextColumn::of(get(name)?) };
        let int = |name: &str| -> Result<Int32Array, WarehouseError> { Ok(column(name, &DataType::Int32)?.as_primitive::<Int32Type>().clone()) };
        Ok(Columns {
            snapshot: column("snapshot_date", &DataType::Date32)?.as_primitive::<Date32Type>().clone(),
            academic_year: int("academic_year")?,
            area: text("area_code")?,
            school: text("school_code")?,
            grade: text("grade")?,
            grade_order: int("grade_order")?,
            level: text("level")?,
            classroom: int("classroom")?,
            sex: int("sex")?,
            age: int("age_years")?,
            status: text("status")?,
            disadvantaged: column("disadvantaged", &DataType::Boolean)?.as_boolean().clone(),
            disability: int("disability")?,
        })
    }
}

#[inline]
fn value<T: ArrowPrimitiveType>(a: &PrimitiveArray<T>, i: usize) -> Option<T::Native> {
    a.is_valid(i).then(|| a.value(i))
}

fn text(a: &StringArray, i: usize) -> Option<&str> {
    a.is_valid(i).then(|| a.value(i))
}

/// Numbers for the text values of one column of one batch: the row before's number when the value
/// is the same (rows come by area, school and grade), else the value's own.
struct Ids<'a> {
    last: Option<(Option<&'a str>, u32)>,
    ids: HashMap<Option<&'a str>, u32>,
    values: Vec<Option<&'a str>>,
}

impl<'a> Ids<'a> {
    fn new() -> Self {
        Ids { last: None, ids: HashMap::default(), values: Vec::new() }
    }

    fn id(&mut self, v: Option<&'a str>) -> u32 {
        if let Some((last, id)) = self.last
            && last == v
        {
            return id;
        }
        let next = u32::try_from(self.values.len()).unwrap_or(u32::MAX);
        let id = *self.ids.entry(v).or_insert(next);
        if id == next {
            self.values.push(v);
        }
        self.last = Some((v, id));
        id
    }

    fn value(&self, id: u32) -> Option<&'a str> {
        self.values.get(id as usize).copied().flatten()
    }
}

/// One school's enrollments in one snapshot (`status = 'studying'`), as the summary's query sums them;
/// `S` is its text (borrowed from a batch while it is counted, owned once counted).
struct School<S> {
    academic_year: Option<i32>,
    area: Option<S>,
    students: i64,
    by_level: [i64; 4],
    male: i64,
    female: i64,
    classrooms: HashSet<i64>,
}

impl<S> Default for School<S> {
    fn default() -> Self {
        School { academic_year: None, area: None, students: 0, by_level: [0; 4], male: 0, female: 0, classrooms: HashSet::default() }
    }
}

impl<S: Ord> School<S> {
    fn merge(&mut self, o: School<S>) {
        self.academic_year = self.academic_year.max(o.academic_year);
        if o.area > self.area {
            self.area = o.area;
        }
        self.students += o.students;
        for (a, b) in self.by_level.iter_mut().zip(o.by_level) {
            *a += b;
        }
        self.male += o.male;
        self.female += o.female;
        self.classrooms.extend(o.classrooms);
    }
}

const LEVELS: [&str; 4] = ["pre_primary", "primary", "lower_secondary", "upper_secondary"];

/// A row of `enrollment_counts` before counting: the codes it is broken down by.
#[derive(Clone, PartialEq, Eq, Hash)]
struct CountKey<S> {
    snapshot: Option<i32>,
    academic_year: Option<i32>,
    area: Option<S>,
    grade: Option<S>,
    grade_order: Option<i32>,
    level: Option<S>,
    sex: Option<i32>,
    age: Option<i32>,
    status: Option<S>,
    disadvantaged: Option<bool>,
    disabled: Option<bool>,
}

/// What one batch adds to the two aggregates, its text borrowed from the batch (`S = &str`) or its own.
struct Part<S> {
    schools: HashMap<(Option<i32>, Option<S>), School<S>>,
    counts: HashMap<CountKey<S>, i64>,
}

impl Part<&str> {
    /// The part with its text copied out of the batch (once per distinct key), so the batch can go.
    fn owned(self) -> Part<Arc<str>> {
        let own = |s: Option<&str>| s.map(Arc::<str>::from);
        Part {
            schools: self
                .schools
                .into_iter()
                .map(|((snapshot, code), s)| {
                    let school = School { academic_year: s.academic_year, area: own(s.area), students: s.students, by_level: s.by_level, male: s.male, female: s.female, classrooms: s.classrooms };
                    ((snapshot, own(code)), school)
                })
                .collect(),
            counts: self
                .counts
                .into_iter()
                .map(|(k, n)| {
                    let key = CountKey {
                        snapshot: k.snapshot,
                        academic_year: k.academic_year,
                        area: own(k.area),
                        grade: own(k.grade),
                        grade_order: k.grade_order,
                        level: own(k.level),
                        sex: k.sex,
                        age: k.age,
                        status: own(k.status),
                        disadvantaged: k.disadvantaged,
                        disabled: k.disabled,
                    };
                    (key, n)
                })
                .collect(),
        }
    }
}

/// What `f` says of the text that number `id` of `texts` stands for, worked out once per number
/// (`known` holds it for the numbers so far).
fn of_number<T: Copy>(known: &mut Vec<T>, id: u32, texts: &Numbered, f: impl Fn(Option<&str>) -> T) -> Option<T> {
    while known.len() <= id as usize {
        let next = u32::try_from(known.len()).unwrap_or(u32::MAX);
        known.push(f(texts.value(next)));
    }
    known.get(id as usize).copied()
}

/// A row's sex, age, status number, disadvantage and disability in one whole number of 28 bits
/// (eight each for the first three, two each for the others; 0 for null, else the value plus one),
/// or `None` when one of them does not fit.
#[inline]
fn small(sex: Option<i32>, age: Option<i32>, status: u32, disadvantaged: Option<bool>, disabled: Option<bool>) -> Option<u32> {
    let byte = |v: Option<i32>| match v {
        None => Some(0),
        Some(v) => u32::try_from(v).ok().filter(|v| *v < 255).map(|v| v + 1),
    };
    let flag = |v: Option<bool>| match v {
        None => 0,
        Some(false) => 1,
        Some(true) => 2,
    };
    let status = (status < 255).then_some(status + 1)?;
    Some((byte(sex)? << 20) | (byte(age)? << 12) | (status << 4) | (flag(disadvantaged) << 2) | flag(disabled))
}

/// A row's sex, age, status number, disadvantage and disability (what `small` packs).
type Smalls = (Option<i32>, Option<i32>, u32, Option<bool>, Option<bool>);

/// The values `small` put in `bits`.
fn unsmall(bits: u32) -> Option<Smalls> {
    let byte = |v: u32| v.checked_sub(1).and_then(|v| i32::try_from(v).ok());
    let flag = |v: u32| match v {
        1 => Some(false),
        2 => Some(true),
        _ => None,
    };
    let status = ((bits >> 4) & 0xff).checked_sub(1)?;
    Some((byte((bits >> 20) & 0xff), byte((bits >> 12) & 0xff), status, flag((bits >> 2) & 3), flag(bits & 3)))
}

/// The school of the rows before and what they added to it.
type Current<'a> = ((Option<i32>, u32), School<&'a str>);

fn part<'a>(c: &'a Columns) -> Part<&'a str> {
    let (mut areas, mut schools_ids, mut grades, mut levels, mut statuses) = (c.area.numbers(), c.school.numbers(), c.grade.numbers(), c.level.numbers(), c.status.numbers());
    // Counted by numbers first, the texts put back once per distinct key.
    type Numbers = (Option<i32>, Option<i32>, u32, u32, Option<i32>, u32, Option<i32>, Option<i32>, u32, Option<bool>, Option<bool>);
    // What a school's rows of one grade share (snapshot, academic year, area, grade, its order and
    // level), numbered in the order they come; the row before's number is taken without a lookup.
    type Outer = (Option<i32>, Option<i32>, u32, u32, Option<i32>, u32);
    let mut outers: HashMap<Outer, u32> = HashMap::with_capacity_and_hasher(1024, Default::default());
    let mut outer_keys: Vec<Outer> = Vec::new();
    let mut last_outer: Option<(Outer, u32)> = None;
    // Counted by that number and the row's own small codes in one whole number (`small`); a row
    // with a code too large for it (none of a load's, which its rules bound) by its whole key.
    // Sized for a batch of a national snapshot (a few areas' thousands of keys and hundreds of
    // schools), so that the maps do not grow step by step.
    let mut small_counts: HashMap<u64, i64> = HashMap::with_capacity_and_hasher(4096, Default::default());
    let mut numbers: HashMap<Numbers, i64> = HashMap::default();
    let mut schools: HashMap<(Option<i32>, u32), School<&'a str>> = HashMap::with_capacity_and_hasher(1024, Default::default());
    // The school of the rows before, summed apart until the school changes, and the classroom its
    // row before was counted in.
    let mut current: Option<Current<'a>> = None;
    let mut last_room: Option<i64> = None;
    // Which of LEVELS each level's number is, and whether each status's is 'studying'.
    let mut level_slots: Vec<Option<usize>> = Vec::new();
    let mut studying: Vec<bool> = Vec::new();
    for i in 0..c.snapshot.len() {
        let snapshot = value(&c.snapshot, i);
        let area = areas.id(i);
        let level = levels.id(i);
        let status = statuses.id(i);
        let (academic_year, grade_order, sex) = (value(&c.academic_year, i), value(&c.grade_order, i), value(&c.sex, i));
        let disabled = value(&c.disability, i).map(|d| d > 0);
        let disadvantaged = c.disadvantaged.is_valid(i).then(|| c.disadvantaged.value(i));
        let age = value(&c.age, i);
        let outer = (snapshot, academic_year, area, grades.id(i), grade_order, level);
        let o = match last_outer {
            Some((k, o)) if k == outer => o,
            _ => {
                let next = u32::try_from(outer_keys.len()).unwrap_or(u32::MAX);
                let o = *outers.entry(outer).or_insert(next);
                if o == next {
                    outer_keys.push(outer);
                }
                last_outer = Some((outer, o));
                o
            }
        };
        match small(sex, age, status, disadvantaged, disabled) {
            Some(bits) => *small_counts.entry((u64::from(o) << 32) | u64::from(bits)).or_insert(0) += 1,
            None => *numbers.entry((snapshot, academic_year, area, outer.3, grade_order, level, sex, age, status, disadvantaged, disabled)).or_insert(0) += 1,
        }
        if !of_number(&mut studying, status, &statuses, |s| s == Some("studying")).unwrap_or(false) {
            continue;
        }
        let at = (snapshot, schools_ids.id(i));
        if current.as_ref().is_none_or(|(k, _)| *k != at) {
            last_room = None;
            if let Some((k, s)) = current.take() {
                schools.entry(k).or_default().merge(s);
            }
        }
        let (_, s) = current.get_or_insert_with(|| (at, School::default()));
        s.academic_year = s.academic_year.max(academic_year);
        s.area = s.area.max(areas.value(area));
        s.students += 1;
        if let Some(l) = of_number(&mut level_slots, level, &levels, |v| LEVELS.iter().position(|l| v == Some(l))).flatten()
            && let Some(n) = s.by_level.get_mut(l)
        {
            *n += 1;
        }
        match sex {
            Some(1) => s.male += 1,
            Some(2) => s.female += 1,
            _ => {}
        }
        if let Some(order) = grade_order {
            let room = i64::from(order) * 4_294_967_296 + value(&c.classroom, i).map_or(0, |r| i64::from(r) + 1);
            if last_room != Some(room) {
                s.classrooms.insert(room);
                last_room = Some(room);
            }
        }
    }
    for (k, n) in small_counts {
        let outer = outer_keys.get((k >> 32) as usize).copied();
        if let (Some((snapshot, academic_year, area, grade, grade_order, level)), Some((sex, age, status, disadvantaged, disabled))) = (outer, unsmall(k as u32)) {
            *numbers.entry((snapshot, academic_year, area, grade, grade_order, level, sex, age, status, disadvantaged, disabled)).or_insert(0) += n;
        }
    }
    if let Some((k, s)) = current.take() {
        schools.entry(k).or_default().merge(s);
    }
    // Back to texts; numbers of one text (a dictionary may repeat one) added together.
    let mut part = Part { schools: HashMap::default(), counts: HashMap::default() };
    for ((snap, id), s) in schools {
        part.schools.entry((snap, schools_ids.value(id))).or_default().merge(s);
    }
    for ((snapshot, academic_year, area, grade, grade_order, level, sex, age, status, disadvantaged, disabled), n) in numbers {
        let key = CountKey {
            snapshot,
            academic_year,
            area: areas.value(area),
            grade: grades.value(grade),
            grade_order,
            level: levels.value(level),
            sex,
            age,
            status: statuses.value(status),
            disadvantaged,
            disabled,
        };
        *part.counts.entry(key).or_insert(0) += n;
    }
    part
}

/// The per-school part of the summary and the counted rows of `enrollment_counts`, of every snapshot
/// in the enrollments batches (the caller keeps the snapshots it derives).
pub struct Tally {
    /// Columns as the summary query's `e`: snapshot_date, academic_year, area_code, school_code,
    /// students, pre, pri, low, upp, male, female, classrooms.
    pub schools: RecordBatch,
    /// `enrollment_counts`' rows, in the order its query gives them.
    pub counts: RecordBatch,
}

/// The schema of `Tally::schools`.
pub fn schools_schema() -> SchemaRef {
    let i64f = |n: &str| Field::new(n, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        Field::new("snapshot_date", DataType::Date32, true),
        Field::new("academic_year", DataType::Int32, true),
        Field::new("area_code", DataType::Utf8, true),
        Field::new("school_code", DataType::Utf8, true),
        i64f("students"),
        i64f("pre"),
        i64f("pri"),
        i64f("low"),
        i64f("upp"),
        i64f("male"),
        i64f("female"),
        i64f("classrooms"),
    ]))
}

/// One batch's rows counted, apart from every other batch's (on any core): what it adds to a `Counter`.
pub struct Counted(Part<Arc<str>>);

/// Counts one batch of enrollments (the table's columns).
pub fn count(batch: &RecordBatch) -> Result<Counted, WarehouseError> {
    let columns = Columns::of(batch)?;
    Ok(Counted(part(&columns).owned()))
}

/// Each school's sums per snapshot.
type Schools = HashMap<(Option<i32>, Option<Arc<str>>), School<Arc<str>>>;

/// The two aggregates, batch by batch: batches counted apart (`count`) are added as they come, in any
/// order, and the batches themselves need not be kept.
#[derive(Default)]
pub struct Counter {
    schools: Schools,
    counts: HashMap<CountKey<Arc<str>>, i64>,
}

impl Counter {
    pub fn add(&mut self, counted: Counted) {
        for (k, s) in counted.0.schools {
            match self.schools.get_mut(&k) {
                Some(have) => have.merge(s),
                None => {
                    self.schools.insert(k, s);
                }
            }
        }
        for (k, n) in counted.0.counts {
            *self.counts.entry(k).or_insert(0) += n;
        }
    }

    /// The aggregates of every batch added.
    pub fn finish(self) -> Result<Tally, WarehouseError> {
        Ok(Tally { schools: schools_batch(self.schools)?, counts: counts_batch(self.counts)? })
    }
}

/// The aggregates of `batches`, each counted on the next free core.
pub fn tally(batches: &[RecordBatch]) -> Result<Tally, WarehouseError> {
    let parts = batches.par_iter().map(count).collect::<Result<Vec<_>, _>>()?;
    let mut counter = Counter::default();
    for p in parts {
        counter.add(p);
    }
    counter.finish()
}

fn schools_batch(schools: Schools) -> Result<RecordBatch, WarehouseError> {
    let rows: Vec<_> = schools.into_iter().collect();
    let sum = |f: &dyn Fn(&School<Arc<str>>) -> i64| -> ArrayRef { Arc::new(Int64Array::from(rows.iter().map(|(_, s)| f(s)).collect::<Vec<_>>())) };
    let level = |l: usize| sum(&|s: &School<Arc<str>>| s.by_level.get(l).copied().unwrap_or(0));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Date32Array::from(rows.iter().map(|((d, _), _)| *d).collect::<Vec<_>>())),
        Arc::new(Int32Array::from(rows.iter().map(|(_, s)| s.academic_year).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|(_, s)| s.area.as_deref()).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|((_, c), _)| c.as_deref()).collect::<Vec<_>>())),
        sum(&|s| s.students),
        level(0),
        level(1),
        level(2),
        level(3),
        sum(&|s| s.male),
        sum(&|s| s.female),
        sum(&|s| i64::try_from(s.classrooms.len()).unwrap_or(i64::MAX)),
    ];
    RecordBatch::try_new(schools_schema(), columns).map_err(query_err)
}

/// `a` against `b`, ascending with nulls last (as the counts query orders them).
fn nulls_last<T: Ord + ?Sized>(a: Option<&T>, b: Option<&T>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(b),
        (None, None) => std::cmp::Ordering::Equal,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (Some(_), None) => std::cmp::Ordering::Less,
    }
}

fn counts_batch(counts: HashMap<CountKey<Arc<str>>, i64>) -> Result<RecordBatch, WarehouseError> {
    let def = schema::table("enrollment_counts").ok_or_else(|| WarehouseError::UnknownTable("enrollment_counts".into()))?;
    let mut rows: Vec<_> = counts.into_iter().collect();
    // The query's ORDER BY: snapshot, area, grade order, grade, sex, age, status, disadvantaged,
    // disabled; ascending, nulls last. Sorted here, as keys, before they become columns.
    rows.sort_unstable_by(|(a, _), (b, _)| {
        nulls_last(a.snapshot.as_ref(), b.snapshot.as_ref())
            .then_with(|| nulls_last(a.area.as_deref(), b.area.as_deref()))
            .then_with(|| nulls_last(a.grade_order.as_ref(), b.grade_order.as_ref()))
            .then_with(|| nulls_last(a.grade.as_deref(), b.grade.as_deref()))
            .then_with(|| nulls_last(a.sex.as_ref(), b.sex.as_ref()))
            .then_with(|| nulls_last(a.age.as_ref(), b.age.as_ref()))
            .then_with(|| nulls_last(a.status.as_deref(), b.status.as_deref()))
            .then_with(|| nulls_last(a.disadvantaged.as_ref(), b.disadvantaged.as_ref()))
            .then_with(|| nulls_last(a.disabled.as_ref(), b.disabled.as_ref()))
    });
    type Key = CountKey<Arc<str>>;
    let ints = |f: &dyn Fn(&Key) -> Option<i32>| -> ArrayRef { Arc::new(Int32Array::from(rows.iter().map(|(k, _)| f(k)).collect::<Vec<_>>())) };
    let texts = |f: &dyn Fn(&Key) -> &Option<Arc<str>>| -> ArrayRef { Arc::new(StringArray::from(rows.iter().map(|(k, _)| f(k).as_deref()).collect::<Vec<_>>())) };
    let bools = |f: &dyn Fn(&Key) -> Option<bool>| -> ArrayRef { Arc::new(BooleanArray::from(rows.iter().map(|(k, _)| f(k)).collect::<Vec<_>>())) };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Date32Array::from(rows.iter().map(|(k, _)| k.snapshot).collect::<Vec<_>>())),
        ints(&|k| k.academic_year),
        texts(&|k| &k.area),
        texts(&|k| &k.grade),
        ints(&|k| k.grade_order),
        texts(&|k| &k.level),
        ints(&|k| k.sex),
        ints(&|k| k.age),
        texts(&|k| &k.status),
        bools(&|k| k.disadvantaged),
        bools(&|k| k.disabled),
        Arc::new(Int64Array::from(rows.iter().map(|(_, n)| *n).collect::<Vec<_>>())),
    ];
    RecordBatch::try_new(def.schema.clone(), columns).map_err(|e| WarehouseError::Schema { table: def.name.into(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use crate::derive::{counts_sql, date_list, of_snapshots, per_school_sql};
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    /// Rows as text, sorted: the same rows in any order compare equal.
    fn rows(batches: &[RecordBatch]) -> Vec<String> {
        let mut out = Vec::new();
        for b in batches {
            let f: Vec<ArrayFormatter> = b.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default().with_null("∅")).unwrap()).collect();
            for r in 0..b.num_rows() {
                out.push(f.iter().map(|f| f.value(r).to_string()).collect::<Vec<_>>().join("|"));
            }
        }
        out.sort();
        out
    }

    /// Enrollments with every column the counts read sometimes null, schools split across batches,
    /// rows out of order, three snapshots (two counted), a few sexes and ages out of range.
    fn enrollments() -> Vec<RecordBatch> {
        let def = schema::table("enrollments").unwrap();
        let mut seed: u64 = 7;
        let mut next = move |n: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        let mut out = Vec::new();
        for size in [1500usize, 2200, 900] {
            let mut cols: Vec<Vec<Option<String>>> = vec![Vec::new(); def.schema.fields().len()];
            for row in 0..size {
                let school = (row / 40 + usize::try_from(next(3)).unwrap()) % 30;
                let pick = |v: &[&str], i: u64| v.get(i as usize).map(|s| s.to_string());
                let mut value = |name: &str| -> Option<String> {
                    let null = next(40) == 0;
                    if null && name != "student_key" {
                        return None;
                    }
                    Some(match name {
                        "snapshot_date" => pick(&["2025-06-10", "2025-11-10", "2026-06-10"], next(3))?,
                        "academic_year" => (2568 + next(2)).to_string(),
                        "area_code" => format!("A{}", school % 4),
                        "school_code" => format!("S{school:03}"),
                        "student_key" => format!("{row:032x}"),
                        "grade" => pick(&["K1", "P1", "P6", "M1", "M4"], next(5))?,
                        "grade_order" => next(15).to_string(),
                        "level" => pick(&["pre_primary", "primary", "lower_secondary", "upper_secondary", "other"], next(5))?,
                        "classroom" => next(4).to_string(),
                        // Now and then a code too large for `small`, counted by its whole key.
                        "sex" => if next(60) == 0 { "-1".into() } else { (1 + next(3)).to_string() },
                        "age_years" => if next(60) == 0 { "1000".into() } else { (3 + next(15)).to_string() },
                        "nationality" => "TH".into(),
                        "disadvantaged" => pick(&["true", "false"], next(2))?,
                        "disability" => next(3).to_string(),
                        "bmi" => "18.5".into(),
                        "status" => pick(&["studying", "studying", "studying", "left", "graduated"], next(5))?,
                        other => panic!("column {other}"),
                    })
                };
                for (c, f) in def.schema.fields().iter().enumerate() {
                    let v = value(f.name());
                    cols[c].push(v);
                }
            }
            let arrays: Vec<ArrayRef> = def
                .schema
                .fields()
                .iter()
                .zip(cols)
                .map(|(f, v)| cast(&(Arc::new(StringArray::from(v)) as ArrayRef), f.data_type()).unwrap())
                .collect();
            out.push(RecordBatch::try_new(def.schema.clone(), arrays).unwrap());
        }
        out
    }

    #[tokio::test]
    async fn counted_in_memory_as_the_queries_count_the_table() {
        let batches = enrollments();
        let snapshots = vec!["2025-06-10".to_string(), "2026-06-10".to_string()];
        let t = tally(&batches).unwrap();
        // The same rows with their text columns as dictionaries (keys into values that repeat texts
        // and hold nulls, as a load's are) count the same.
        let coded: Vec<RecordBatch> = batches
            .iter()
            .map(|b| {
                let schema = b.schema();
                let columns = schema.fields().iter().zip(b.columns()).map(|(f, c)| {
                    let c = match f.name().as_str() {
                        "area_code" | "school_code" | "grade" | "level" | "status" => Arc::new(arrow::array::DictionaryArray::<UInt32Type>::try_new(UInt32Array::from_iter_values(0..c.len() as u32), c.clone()).unwrap()) as ArrayRef,
                        _ => c.clone(),
                    };
                    (f.name().clone(), c)
                });
                RecordBatch::try_from_iter(columns.collect::<Vec<_>>()).unwrap()
            })
            .collect();
        assert!(matches!(Columns::of(&coded[0]).unwrap().school, TextColumn::Coded(..)));
        let by_keys = tally(&coded).unwrap();
        assert_eq!(rows(std::slice::from_ref(&by_keys.schools)), rows(std::slice::from_ref(&t.schools)));
        assert_eq!(rows(std::slice::from_ref(&by_keys.counts)), rows(std::slice::from_ref(&t.counts)));
        // The caller keeps the snapshots it derives, as `derive` does.
        let t = Tally { schools: of_snapshots(&t.schools, &snapshots).unwrap(), counts: of_snapshots(&t.counts, &snapshots).unwrap() };
        let ctx = SessionContext::new();
        let def = schema::table("enrollments").unwrap();
        ctx.register_table("enrollments", Arc::new(MemTable::try_new(def.schema.clone(), vec![batches]).unwrap())).unwrap();
        let list = date_list(&snapshots);
        let per_school = ctx.sql(&per_school_sql(&list)).await.unwrap().collect().await.unwrap();
        let per_school: Vec<RecordBatch> = per_school.iter().map(|b| RecordBatch::try_new(schools_schema(), schools_schema().fields().iter().zip(b.columns()).map(|(f, c)| cast(c, f.data_type()).unwrap()).collect()).unwrap()).collect();
        let expected = rows(&per_school);
        assert!(expected.len() > 50, "{}", expected.len());
        assert_eq!(rows(std::slice::from_ref(&t.schools)), expected);
        let counts = ctx.sql(&counts_sql(&list)).await.unwrap().collect().await.unwrap();
        let counts: Vec<RecordBatch> = counts.iter().map(|b| RecordBatch::try_new(t.counts.schema(), t.counts.schema().fields().iter().zip(b.columns()).map(|(f, c)| cast(c, f.data_type()).unwrap()).collect()).unwrap()).collect();
        let expected = rows(&counts);
        assert!(expected.iter().any(|r| r.contains('∅')));
        assert_eq!(rows(std::slice::from_ref(&t.counts)), expected);
        // Counted rows come in the query's order (rows apart only in their academic year tie).
        let order = |batches: &[RecordBatch]| -> Vec<String> {
            let by = ["snapshot_date", "area_code", "grade_order", "grade", "sex", "age_years", "status", "disadvantaged", "disabled"];
            let mut out = Vec::new();
            for b in batches {
                let f: Vec<ArrayFormatter> = by.iter().map(|n| ArrayFormatter::try_new(b.column_by_name(n).unwrap().as_ref(), &FormatOptions::default().with_null("∅")).unwrap()).collect();
                out.extend((0..b.num_rows()).map(|r| f.iter().map(|f| f.value(r).to_string()).collect::<Vec<_>>().join("|")));
            }
            out
        };
        assert_eq!(order(std::slice::from_ref(&t.counts)), order(&counts));
    }
}

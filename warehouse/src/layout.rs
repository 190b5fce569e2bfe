//! How a table's rows are laid out in its Parquet files, for every writer (a load, an upsert, the
//! summary, `optimize`): rows in the order of the table's scope columns (area, school, grade), so
//! the statistics of a row group or a page prune an area's or a school's scope to a few of them;
//! row groups of one size; page statistics and the page index; dictionaries for the codes.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Date32Array, DynComparator, Int32Array, RecordBatch, StringArray, make_comparator};
use arrow::compute::SortOptions;
use arrow::datatypes::DataType;
use arrow::row::{RowConverter, SortField};
use rayon::prelude::*;
use datafusion::catalog::Session;
use deltalake::delta_datafusion::DeltaSessionContext;
use deltalake::parquet::basic::{Compression, Encoding};
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::parquet::file::metadata::KeyValue;
use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::WarehouseError;
use crate::schema::TableDef;

/// The order of a table's rows: the scope columns (what the access policy and the dashboards filter
/// on) that the table has, in this order, nulls first.
pub const SORT_KEYS: &[&str] = &["area_code", "school_code", "grade_order"];

/// Rows per Parquet row group. A row group is what statistics prune and what a scan hands to one
/// core: an area's rows of a national snapshot (about 25,000 of 6 million, written together) fall in
/// one or two groups of this size, and a national scan still has dozens of groups to share out.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// The sort keys `def` has.
pub fn sort_keys(def: &TableDef) -> Vec<&'static str> {
    SORT_KEYS.iter().copied().filter(|k| def.schema.field_with_name(k).is_ok()).collect()
}

/// The key, in a data file's Parquet metadata, under which the writer names the layout it wrote.
pub const LAYOUT_KEY: &str = "khlang.layout";

/// This layout: change the text whenever the order, the row groups or the statistics change, and
/// `optimize` rewrites the files written the old way.
pub const LAYOUT: &str = "2: rows by area_code, school_code, grade_order (nulls first); 131072-row groups; page statistics (none for keyed hashes); whole numbers delta-encoded";

/// How every data file is written: Snappy (not for the keys and the BMI), statistics per page with
/// the page index (what prunes a school's or an area's rows inside a row group; not for the keyed
/// hashes, whose random values no range prunes), dictionaries for the codes (not for the keys),
/// whole numbers delta-encoded, and the layout's mark.
pub(crate) fn writer_properties(def: &TableDef) -> WriterProperties {
    let mut b = WriterProperties::builder();
    for f in def.schema.fields() {
        if matches!(f.data_type(), DataType::Int32 | DataType::Int64) {
            // Small numbers (ages, grades, years, sexes) take a few bits a value either way, and
            // differences cost the writer far less than a dictionary lookup per value.
            let c = ColumnPath::from(f.name().as_str());
            b = b.set_column_dictionary_enabled(c.clone(), false).set_column_encoding(c, Encoding::DELTA_BINARY_PACKED);
        }
    }
    b.set_created_by(format!("khlang {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(vec![KeyValue::new(LAYOUT_KEY.to_string(), LAYOUT.to_string())]))
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_enabled(true)
        // Keys and measures nearly every row has its own of: a dictionary of them only fills up and
        // falls back to plain values after costing the writer a lookup per value.
        .set_column_dictionary_enabled("student_key".into(), false)
        .set_column_dictionary_enabled("person_key".into(), false)
        .set_column_dictionary_enabled("bmi".into(), false)
        // The keys' statistics prune nothing either (every page's keys span nearly all of them),
        // and comparing every key for them cost a national load about 3% of its time.
        .set_column_statistics_enabled("student_key".into(), EnabledStatistics::None)
        .set_column_statistics_enabled("person_key".into(), EnabledStatistics::None)
        // Nor does Snappy find anything in them (a keyed hash is random; a BMI nearly so): 10% off
        // the keys and nothing off the BMI, for most of the compressor's time on a students load and
        // the decompressor's on every scan that reads them.
        .set_column_compression("student_key".into(), Compression::UNCOMPRESSED)
        .set_column_compression("person_key".into(), Compression::UNCOMPRESSED)
        .set_column_compression("bmi".into(), Compression::UNCOMPRESSED)
        .build()
}

/// The session a write runs in: one stream from the batches to the files. With more, DataFusion
/// deals the rows round-robin to streams that the Delta writer then merges, and the order is lost.
pub(crate) fn write_session(table: &str) -> Result<Arc<dyn Session>, WarehouseError> {
    let one = HashMap::from([("datafusion.execution.target_partitions".to_string(), "1".to_string())]);
    let ctx = DeltaSessionContext::new_with_session_overrides(&one).map_err(|e| WarehouseError::delta(table, e))?;
    Ok(Arc::new(ctx.state()))
}

/// What a write orders its rows by: the table's partition columns, then its sort keys. A partition's
/// rows are in the table's order either way; coming one partition after another (a pull's two staff
/// snapshots, each file in order already, one after the other), they need no reordering at all, and
/// the writers write each batch to its partition's file without splitting it by partition first.
fn write_keys(def: &TableDef) -> Vec<&'static str> {
    def.partition_by.iter().copied().filter(|k| def.schema.field_with_name(k).is_ok()).chain(sort_keys(def)).collect()
}

/// `batches` (the table's own columns) in the table's row order, partition by partition
/// (`write_keys`). Rows already in order (an export written school by school, a table read back in
/// order) come back as they are, without a copy; rows with equal keys keep their order. The Delta
/// writer splits rows by partition in their order, so every file of every partition is in order too.
pub(crate) fn in_order(def: &TableDef, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>, WarehouseError> {
    let err = |e: arrow::error::ArrowError| WarehouseError::Schema { table: def.name.into(), message: e.to_string() };
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if sort_keys(def).is_empty() || total < 2 {
        return Ok(batches);
    }
    let keys = write_keys(def);
    let started = std::time::Instant::now();
    if already_in_order(&keys, &batches).map_err(err)? {
        tracing::debug!(table = def.name, rows = total, seconds = started.elapsed().as_secs_f64(), "rows already in the table's order");
        return Ok(batches);
    }
    let fields = keys.iter().map(|k| def.schema.field_with_name(k).map(|f| SortField::new(f.data_type().clone()))).collect::<Result<Vec<_>, _>>().map_err(err)?;
    let converter = RowConverter::new(fields).map_err(err)?;
    let mut rows = converter.empty_rows(total, total * 24);
    // The first row of each batch among all rows, to find a row's batch again.
    let mut starts: Vec<usize> = Vec::with_capacity(batches.len());
    for b in &batches {
        let cols = keys.iter().map(|k| b.column_by_name(k).cloned()).collect::<Option<Vec<_>>>().ok_or_else(|| WarehouseError::Schema { table: def.name.into(), message: format!("a batch lacks one of the sort columns {keys:?}") })?;
        starts.push(rows.num_rows());
        converter.append(&mut rows, &cols).map_err(err)?;
    }
    let mut order: Vec<usize> = (0..total).collect();
    // A stable sort finds the runs already in order: an export written school by school, with a
    // few students out of place, is nearly sorted. It and the copy into row groups use every core.
    order.par_sort_by(|a, b| rows.row(*a).cmp(&rows.row(*b)));
    drop(rows);
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    let out = order
        .par_chunks(ROW_GROUP_ROWS)
        .map(|chunk| {
            let picks: Vec<(usize, usize)> = chunk
                .iter()
                .map(|&i| {
                    let batch = starts.partition_point(|&s| s <= i).saturating_sub(1);
                    (batch, i - starts.get(batch).copied().unwrap_or(0))
                })
                .collect();
            arrow::compute::interleave_record_batch(&refs, &picks).map_err(err)
        })
        .collect::<Result<Vec<_>, _>>()?;
    tracing::debug!(table = def.name, rows = total, "rows put in the table's order before writing");
    Ok(out)
}

/// Whether every row's keys are no less than the row's before (the order `in_order` sorts to: each
/// key ascending, nulls first), compared column by column where they are, every batch on the next
/// free core: cheaper than encoding every row to find rows that are in order already.
fn already_in_order(keys: &[&str], batches: &[RecordBatch]) -> Result<bool, arrow::error::ArrowError> {
    let columns = |b: &RecordBatch| -> Result<Vec<ArrayRef>, arrow::error::ArrowError> {
        keys.iter().map(|k| b.column_by_name(k).cloned().ok_or_else(|| arrow::error::ArrowError::SchemaError(format!("no column {k}")))).collect()
    };
    let comparators = |a: &[ArrayRef], b: &[ArrayRef]| -> Result<Vec<DynComparator>, arrow::error::ArrowError> {
        a.iter().zip(b).map(|(a, b)| make_comparator(a.as_ref(), b.as_ref(), SortOptions::default())).collect()
    };
    let batches: Vec<&RecordBatch> = batches.iter().filter(|b| b.num_rows() > 0).collect();
    let within = batches
        .par_iter()
        .map(|b| {
            let cols = columns(b)?;
            let keys = cols.iter().map(Key::of).collect::<Result<Vec<_>, _>>()?;
            Ok((1..b.num_rows()).all(|i| not_after(keys.iter().map(|k| k.cmp(i - 1, i)))))
        })
        .collect::<Result<Vec<bool>, arrow::error::ArrowError>>()?;
    if within.contains(&false) {
        return Ok(false);
    }
    for pair in batches.windows(2) {
        if let [a, b] = pair {
            let cmps = comparators(&columns(a)?, &columns(b)?)?;
            if !not_after(cmps.iter().map(|c| c(a.num_rows() - 1, 0))) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Whether one row comes at or before another, given how they compare key by key.
fn not_after(mut by_key: impl Iterator<Item = std::cmp::Ordering>) -> bool {
    by_key.find(|o| o.is_ne()).is_none_or(|o| o.is_lt())
}

/// A sort key's column, compared as `make_comparator` compares it (ascending, nulls first), with
/// text, whole numbers and dates read directly instead of through a comparator per row.
enum Key<'a> {
    Text(&'a StringArray),
    /// A whole number or a date (days since 1970), both 32-bit values: the column and its values.
    Whole(&'a dyn Array, &'a [i32]),
    Any(DynComparator),
}

impl<'a> Key<'a> {
    fn of(a: &'a ArrayRef) -> Result<Self, arrow::error::ArrowError> {
        Ok(if let Some(t) = a.as_any().downcast_ref::<StringArray>() {
            Key::Text(t)
        } else if let Some(i) = a.as_any().downcast_ref::<Int32Array>() {
            Key::Whole(i, i.values())
        } else if let Some(d) = a.as_any().downcast_ref::<Date32Array>() {
            Key::Whole(d, d.values())
        } else {
            Key::Any(make_comparator(a.as_ref(), a.as_ref(), SortOptions::default())?)
        })
    }

    /// Row `i` against row `j`.
    fn cmp(&self, i: usize, j: usize) -> std::cmp::Ordering {
        let nulls = |a: &dyn Array| match (a.is_null(i), a.is_null(j)) {
            (false, false) => None,
            (true, true) => Some(std::cmp::Ordering::Equal),
            (true, false) => Some(std::cmp::Ordering::Less),
            (false, true) => Some(std::cmp::Ordering::Greater),
        };
        match self {
            Key::Text(a) => nulls(*a).unwrap_or_else(|| a.value(i).as_bytes().cmp(a.value(j).as_bytes())),
            Key::Whole(a, v) => nulls(*a).unwrap_or_else(|| v.get(i).cmp(&v.get(j))),
            Key::Any(c) => c(i, j),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::schema;
    use arrow::array::{Array, Float64Array, Int32Array, StringArray};

    fn batch(def: &TableDef, rows: &[(Option<&str>, &str, i32)]) -> RecordBatch {
        let n = rows.len();
        RecordBatch::try_new(
            def.schema.clone(),
            vec![
                Arc::new(Int32Array::from(vec![2568; n])),
                Arc::new(StringArray::from(vec!["ONET_P6"; n])),
                Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
                Arc::new(StringArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
                Arc::new(StringArray::from(vec!["thai"; n])),
                Arc::new(Int32Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
                Arc::new(Float64Array::from(vec![50.0; n])),
            ],
        )
        .unwrap()
    }

    fn keys(batches: &[RecordBatch]) -> Vec<(Option<String>, String, i32)> {
        let mut out = Vec::new();
        for b in batches {
            let a = b.column(2).as_any().downcast_ref::<StringArray>().unwrap();
            let s = b.column(3).as_any().downcast_ref::<StringArray>().unwrap();
            let e = b.column(5).as_any().downcast_ref::<Int32Array>().unwrap();
            for i in 0..b.num_rows() {
                out.push((a.is_valid(i).then(|| a.value(i).to_string()), s.value(i).to_string(), e.value(i)));
            }
        }
        out
    }

    #[test]
    fn rows_come_in_area_and_school_order_with_ties_kept_in_place() {
        let def = schema::table("test_results").unwrap();
        let a = batch(&def, &[(Some("57010000"), "1057010002", 1), (Some("56010000"), "1056010003", 2), (None, "1000000000", 3)]);
        let b = batch(&def, &[(Some("57010000"), "1057010001", 4), (Some("56010000"), "1056010003", 5)]);
        let out = in_order(&def, vec![a, b]).unwrap();
        assert_eq!(
            keys(&out),
            vec![
                (None, "1000000000".into(), 3),
                (Some("56010000".into()), "1056010003".into(), 2),
                (Some("56010000".into()), "1056010003".into(), 5),
                (Some("57010000".into()), "1057010001".into(), 4),
                (Some("57010000".into()), "1057010002".into(), 1),
            ]
        );
        // Rows already in order are handed back as they are.
        let sorted = batch(&def, &[(Some("56010000"), "1056010001", 1), (Some("56010000"), "1056010002", 2)]);
        let out = in_order(&def, vec![sorted.clone()]).unwrap();
        assert_eq!(out.len(), 1);
        assert!(out[0].column(3).to_data().ptr_eq(&sorted.column(3).to_data()));
    }

    /// `batch`, of another academic year (the partition of `test_results`).
    fn of_year(year: i32, b: RecordBatch) -> RecordBatch {
        let mut columns = b.columns().to_vec();
        columns[0] = Arc::new(Int32Array::from(vec![year; b.num_rows()]));
        RecordBatch::try_new(b.schema(), columns).unwrap()
    }

    #[test]
    fn rows_come_partition_by_partition() {
        let def = schema::table("test_results").unwrap();
        let years = |out: &[RecordBatch]| out.iter().flat_map(|b| b.column(0).as_any().downcast_ref::<Int32Array>().unwrap().values().to_vec()).collect::<Vec<_>>();
        // Two years, each in order, the later first: the earlier year's rows come first, each year's
        // rows in order.
        let later = of_year(2569, batch(&def, &[(Some("56010000"), "1056010001", 1), (Some("57010000"), "1057010001", 2)]));
        let earlier = batch(&def, &[(Some("56010000"), "1056010002", 3), (Some("57010000"), "1057010002", 4)]);
        let out = in_order(&def, vec![later.clone(), earlier.clone()]).unwrap();
        assert_eq!(years(&out), vec![2568, 2568, 2569, 2569]);
        assert_eq!(keys(&out).iter().map(|k| k.2).collect::<Vec<_>>(), vec![3, 4, 1, 2]);
        // One year after the other, each in order: handed back as they are, although the areas go
        // back to the first at the second year.
        let out = in_order(&def, vec![earlier.clone(), later.clone()]).unwrap();
        assert_eq!(out.len(), 2);
        assert!(out[1].column(3).to_data().ptr_eq(&later.column(3).to_data()));
    }

    #[test]
    fn rows_in_order_are_told_from_rows_that_are_not() {
        let def = schema::table("test_results").unwrap();
        let keys = sort_keys(&def);
        let ordered = |batches: &[&[(Option<&str>, &str, i32)]]| already_in_order(&keys, &batches.iter().map(|r| batch(&def, r)).collect::<Vec<_>>()).unwrap();
        // A null area first, ties kept, an empty batch between, the next batch going on from the last row.
        assert!(ordered(&[&[(None, "1000000000", 1), (Some("56010000"), "1056010003", 2), (Some("56010000"), "1056010003", 1)], &[], &[(Some("56010000"), "1056010003", 3), (Some("57010000"), "1057010001", 1)]]));
        // Out of order inside a batch: by school, and by a null area after a filled one.
        assert!(!ordered(&[&[(Some("56010000"), "1056010003", 1), (Some("56010000"), "1056010002", 1)]]));
        assert!(!ordered(&[&[(Some("56010000"), "1056010003", 1), (None, "1056010004", 1)]]));
        // Each batch in order, but the second starting before the first ends.
        assert!(!ordered(&[&[(Some("57010000"), "1057010001", 1)], &[], &[(Some("56010000"), "1056010001", 1)]]));
    }
}

//! polars frames to arrow-rs record batches through the Arrow C Data Interface: the buffers polars
//! built are handed over, not re-parsed or copied. Then each column is cast to the contract's type.

use arrow::array::{Array, ArrayRef, StringArray, make_array, new_null_array};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType as ADataType, Field as AField, SchemaRef};
use arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema, from_ffi_and_data_type};
use arrow::record_batch::RecordBatch;
use polars::prelude::{CompatLevel, DataFrame, Series};

use crate::IngestError;

// The two crates' C structs are the same #[repr(C)] layout of the Arrow C Data Interface.
const _: () = {
    use std::mem::{align_of, size_of};
    assert!(size_of::<polars_arrow::ffi::ArrowArray>() == size_of::<FFI_ArrowArray>());
    assert!(align_of::<polars_arrow::ffi::ArrowArray>() == align_of::<FFI_ArrowArray>());
    assert!(size_of::<polars_arrow::ffi::ArrowSchema>() == size_of::<FFI_ArrowSchema>());
    assert!(align_of::<polars_arrow::ffi::ArrowSchema>() == align_of::<FFI_ArrowSchema>());
};

fn conv(feed: &str, e: impl std::fmt::Display) -> IngestError {
    IngestError::Transform { feed: feed.to_string(), message: format!("handing rows to arrow: {e}") }
}

fn export_field(s: &Series, compat: CompatLevel) -> Result<AField, String> {
    let c = polars_arrow::ffi::export_field_to_c(&s.field().to_arrow(compat));
    // SAFETY: identical #[repr(C)] ArrowSchema ABI (checked above); transmute moves ownership, so the
    // release callback runs exactly once, from arrow-rs' Drop.
    let c: FFI_ArrowSchema = unsafe { std::mem::transmute(c) };
    AField::try_from(&c).map_err(|e| e.to_string())
}

fn export_chunk(s: &Series, i: usize, compat: CompatLevel, dt: &ADataType) -> Result<ArrayRef, String> {
    let c = polars_arrow::ffi::export_array_to_c(s.to_arrow(i, compat));
    // SAFETY: as above for ArrowArray; the private data keeps polars' buffers alive inside arrow-rs.
    let c: FFI_ArrowArray = unsafe { std::mem::transmute(c) };
    let data = unsafe { from_ffi_and_data_type(c, dt.clone()) }.map_err(|e| e.to_string())?;
    Ok(make_array(data))
}

/// Columns of a polars frame as arrow arrays (one per column, chunks concatenated).
pub fn columns(feed: &str, df: &DataFrame) -> Result<Vec<(String, ArrayRef)>, IngestError> {
    let compat = CompatLevel::newest();
    let mut out = Vec::with_capacity(df.width());
    for c in df.columns() {
        let s = c.as_materialized_series();
        let field = export_field(s, compat).map_err(|e| conv(feed, e))?;
        let chunks = (0..s.n_chunks()).map(|i| export_chunk(s, i, compat, field.data_type())).collect::<Result<Vec<_>, _>>().map_err(|e| conv(feed, e))?;
        let array = match chunks.as_slice() {
            [] => arrow::array::new_empty_array(field.data_type()),
            [one] => one.clone(),
            _ => arrow::compute::concat(&chunks.iter().map(|a| a.as_ref()).collect::<Vec<&dyn Array>>()).map_err(|e| conv(feed, e))?,
        };
        out.push((s.name().to_string(), array));
    }
    Ok(out)
}

/// Builds batches of the table schema from named arrays: each column found by name and cast to the
/// contract's type (strings to decimals are parsed exactly by arrow's cast). `extra` supplies columns
/// the frame does not have (keyed hashes, run ids).
pub fn conform(feed: &str, schema: &SchemaRef, cols: &[(String, ArrayRef)], extra: &[(String, ArrayRef)], rows: usize) -> Result<RecordBatch, IngestError> {
    let opts = CastOptions { safe: false, ..Default::default() };
    let mut arrays = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let found = extra.iter().chain(cols.iter()).find(|(n, _)| n == f.name());
        let array = match found {
            Some((_, a)) if a.data_type() == f.data_type() => a.clone(),
            Some((_, a)) => {
                // Text to numbers goes through plain Utf8, which every arrow cast accepts.
                let a = if matches!(a.data_type(), ADataType::Utf8View | ADataType::LargeUtf8) && !matches!(f.data_type(), ADataType::Utf8View | ADataType::LargeUtf8) {
                    cast_with_options(a.as_ref(), &ADataType::Utf8, &opts).map_err(|e| conv(feed, format!("column {}: {e}", f.name())))?
                } else {
                    a.clone()
                };
                cast_with_options(a.as_ref(), f.data_type(), &opts).map_err(|e| conv(feed, format!("column {}: {e}", f.name())))?
            }
            None => new_null_array(f.data_type(), rows),
        };
        arrays.push(array);
    }
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| conv(feed, e))
}

/// A string array (any string type) as `Option<&str>` values.
pub fn strings(feed: &str, a: &ArrayRef) -> Result<StringArray, IngestError> {
    let c = arrow::compute::cast(a.as_ref(), &ADataType::Utf8).map_err(|e| conv(feed, e))?;
    c.as_any().downcast_ref::<StringArray>().cloned().ok_or_else(|| conv(feed, "expected a text column"))
}

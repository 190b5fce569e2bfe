//! Khlang ingest: reads a ministry pull (CSV in UTF-8 or TIS-620, XLSX; English or Thai headers),
//! normalises and validates it with polars, and loads good rows into the warehouse while keeping every
//! bad row, with the rule it broke, in `rejected_rows`. Also the synthetic pull generator.

// A literal index read panics on a short input; this crate reads input and clients' requests, so
// it uses `get`, patterns and iterators instead (tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub mod budget;
pub mod feeds;
// The synthetic pull's generator indexes its own fixed tables (provinces, cohorts), never input.
#[allow(clippy::indexing_slicing)]
pub mod generate;
pub mod load;
pub mod personnel;
pub mod pg;
pub mod read;
pub mod rows;
pub mod schedule;
pub mod scores;
pub mod students;
pub mod to_arrow;
pub mod transform;

pub use load::{FeedReport, IngestReport, Source, ingest};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("pull {location} cannot be read: {message}")]
    Source { location: String, message: String },
    #[error("pull {dir} has no {feed} feed: expected {feed}.csv, {feed}.xlsx or {feed}_<anything>.csv|xlsx")]
    MissingFeed { dir: String, feed: String },
    #[error("{file} is empty")]
    Empty { file: String },
    #[error("{file} has no column {column} (Thai header: {thai}), which the feed requires")]
    MissingColumn { file: String, column: String, thai: String },
    #[error("{table}: column {column} is of type {found}, but it must be {expected}")]
    ColumnType { table: String, column: String, found: String, expected: String },
    #[error("setting {setting}: {message}")]
    Setting { setting: String, message: String },
    #[error("{file} has column {column} twice")]
    DuplicateColumn { file: String, column: String },
    #[error("{file} cannot be decoded: {message}")]
    Encoding { file: String, message: String },
    #[error("{file}: {message}")]
    Xlsx { file: String, message: String },
    #[error("{file} cannot be read: {message}")]
    Read { file: String, message: String },
    #[error("{path} cannot be written: {message}")]
    Write { path: String, message: String },
    #[error("{file} is named for snapshot {named} but holds rows of snapshot {found}")]
    SnapshotMismatch { file: String, named: String, found: String },
    #[error("feed {feed}: {message}")]
    Transform { feed: String, message: String },
    #[error(transparent)]
    Warehouse(#[from] khlang_warehouse::WarehouseError),
}

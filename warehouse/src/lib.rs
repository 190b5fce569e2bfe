//! Khlang storage: the contract's table schemas, Delta tables on object_store (atomic commits, time
//! travel), the derived per-school summary, and pseudonymisation of citizen IDs.

// A literal index read panics on a short input; this crate reads files and logs, so it uses `get`,
// patterns and iterators instead (tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub mod commits;
pub mod derive;
pub mod docs;
pub mod fault;
pub mod files;
pub mod layout;
pub mod lease;
pub mod office;
pub mod optimize;
// The bundled reference tables (data/*.csv, compiled in) are read by field position after a
// length check, and the staffing rule indexes its own fixed bands.
#[allow(clippy::indexing_slicing)]
pub mod reference;
pub mod schema;
pub mod secret;
pub mod storage;
pub mod store;
pub mod tally;
mod writers;

pub use secret::Secret;
pub use commits::Commit;
pub use lease::WriterLock;
pub use store::{At, Batches, Warehouse, WriteMode};

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("warehouse location {location} cannot be used: {message}")]
    Location { location: String, message: String },
    #[error("there is no table named {0} in the warehouse")]
    UnknownTable(String),
    #[error("table {table}: {message}")]
    Delta { table: String, message: String },
    #[error("table {table}: {message}")]
    Schema { table: String, message: String },
    #[error("table {table} has no such version or time: {message}")]
    TimeTravel { table: String, message: String },
    #[error("installation secret {path}: {message}")]
    Secret { path: String, message: String },
    #[error("warehouse commit: {message}")]
    Commit { message: String },
    #[error("another load is writing to the warehouse at {location}; try again when it has finished")]
    Busy { location: String },
    #[error("warehouse document _khlang/{name}: {message}")]
    Document { name: String, message: String },
    #[error("query failed: {message}")]
    Query { message: String },
}

impl WarehouseError {
    pub fn delta(table: &str, e: deltalake::DeltaTableError) -> Self {
        WarehouseError::Delta { table: table.to_string(), message: e.to_string() }
    }
}

impl From<datafusion::error::DataFusionError> for WarehouseError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        WarehouseError::Query { message: e.to_string() }
    }
}

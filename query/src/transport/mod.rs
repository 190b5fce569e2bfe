//! The transports: how clients reach the engine. Each decodes a request, calls the engine (the
//! guarded statement path in `run.rs`, sessions, users, audit) and encodes the result or maps the
//! engine's typed error to its own codes. Nothing here decides what a user may read.
//!
//! - `wire`: the PostgreSQL wire protocol (psql, JDBC, ODBC, Npgsql, psycopg): sign-in and
//!   cancel, session settings, the catalog queries clients send, and the statement rewrites.
//! - `api`: the HTTP SQL API (JSON, CSV, Arrow IPC), sign-in tokens, and the caller of a web request.

pub mod api;
pub mod wire;

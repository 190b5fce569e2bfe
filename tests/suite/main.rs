//! End-to-end tests of the `khlang` binary: generate -> ingest -> query, over its real interfaces.
//! One test binary (each links the whole stack), one module per concern.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod calendar;
mod clients;
mod cluster;
mod crash;
mod dashboards;
mod demo;
mod pg;
mod publishing;
mod quality;
mod requests;
mod s3;
mod snapshots;
mod schedule;
mod server;
mod common;
mod config;
mod e2e;
mod optimize;
mod sql;
mod usage;
mod wire;

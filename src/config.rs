//! One configuration: defaults, then `khlang.toml`, then `KHLANG_*` environment variables, then flags.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub warehouse: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub http: Option<String>,
    pub log: Option<String>,
    /// Nightly load: cron expression (5 fields, or 6 with seconds first) in `timezone`.
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    /// Tries after a failed pull, and the wait before the first (doubled each time).
    pub retries: Option<u32>,
    pub retry_backoff_seconds: Option<u64>,
    /// PostgreSQL wire protocol address of `serve` (host:port).
    pub pg: Option<String>,
    /// Per-query memory budget (MiB) before a query spills to disk or fails.
    pub query_memory_mb: Option<u64>,
    /// Time limit of one query (seconds).
    pub query_timeout_seconds: Option<u64>,
    /// Heavy queries (analysts' SQL and exports) running at once; more wait their turn.
    pub max_concurrent_queries: Option<usize>,
    /// Days the audit log is kept (at least 90, the Computer Crime Act's minimum).
    pub audit_retention_days: Option<u32>,
    /// TLS for the wire protocol and HTTPS: the server's certificate chain and private key (PEM).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Refuse sign-ins that do not come over TLS.
    pub tls_required: Option<bool>,
    /// How passwords travel over the wire protocol: `scram-sha-256` (default) or `password`
    /// (cleartext: only over TLS or for old clients on a trusted network).
    pub wire_auth: Option<String>,
    /// How to reach an object-store warehouse (`s3://…`): the standard AWS settings, such as
    /// `aws_endpoint_url`, `aws_region`, `aws_access_key_id`, `aws_secret_access_key`,
    /// `aws_allow_http`. The environment's `AWS_*` variables override them.
    #[serde(default)]
    pub storage: BTreeMap<String, String>,
    /// The Ballista scheduler analysts' SQL runs on (`df://HOST:PORT`); none: on this node.
    pub cluster: Option<String>,
    /// The pulls the schedule loads, in order.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// A name for messages, e.g. `dmc`.
    pub name: String,
    /// A pull folder or `postgres://USER@HOST:PORT/DB?schema=S` (password from PGPASSWORD).
    pub from: String,
}

/// The effective settings.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub config_file: Option<PathBuf>,
    pub warehouse: String,
    pub secret_file: PathBuf,
    pub http: String,
    pub log: String,
    pub schedule: String,
    pub timezone: String,
    pub retries: u32,
    pub retry_backoff_seconds: u64,
    pub pg: String,
    pub query_memory_mb: u64,
    pub query_timeout_seconds: u64,
    pub max_concurrent_queries: usize,
    pub audit_retention_days: u32,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_required: bool,
    pub wire_auth: String,
    /// The `[storage]` keys of the file (the environment's `AWS_*` variables are added when the
    /// warehouse is opened); secrets are not shown.
    #[serde(serialize_with = "redacted")]
    pub storage: BTreeMap<String, String>,
    pub cluster: Option<String>,
    pub sources: Vec<SourceConfig>,
}

fn redacted<S: serde::Serializer>(storage: &BTreeMap<String, String>, s: S) -> Result<S::Ok, S::Error> {
    let shown: BTreeMap<&str, &str> = storage
        .iter()
        .map(|(k, v)| (k.as_str(), if k.to_ascii_lowercase().contains("secret") || k.to_ascii_lowercase().contains("token") { "(hidden)" } else { v.as_str() }))
        .collect();
    shown.serialize(s)
}

impl Config {
    /// Opens the configured warehouse; an object store is first probed for conditional writes.
    pub async fn open_warehouse(&self) -> anyhow::Result<khlang_warehouse::Warehouse> {
        let wh = khlang_warehouse::Warehouse::open_with(&self.warehouse, &self.storage)?;
        wh.check_conditional_writes().await?;
        Ok(wh)
    }

    /// The configured cluster, checked.
    pub fn cluster(&self) -> anyhow::Result<Option<khlang_query::cluster::Cluster>> {
        Ok(self.cluster.as_deref().map(khlang_query::cluster::Cluster::parse).transpose()?)
    }
}

pub const DEFAULT_HTTP: &str = "127.0.0.1:8080";
pub const DEFAULT_PG: &str = "127.0.0.1:5433";
/// Our own progress at info; the libraries' chatter only when it is a warning.
pub const DEFAULT_LOG: &str = "warn,khlang=info,khlang_ingest=info,khlang_warehouse=info,khlang_query=info,khlang_dashboards=info";

impl FileConfig {
    /// Reads `path`, or `./khlang.toml` when no path is given and that file exists.
    pub fn load(path: Option<&Path>) -> anyhow::Result<(Option<PathBuf>, FileConfig)> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => {
                let p = PathBuf::from("khlang.toml");
                if !p.exists() {
                    return Ok((None, FileConfig::default()));
                }
                p
            }
        };
        let text = std::fs::read_to_string(&path).with_context(|| format!("config file {} cannot be read", path.display()))?;
        let cfg: FileConfig = toml::from_str(&text).map_err(|e| anyhow::anyhow!("config file {} is not valid: {}", path.display(), e.message()))?;
        Ok((Some(path), cfg))
    }
}

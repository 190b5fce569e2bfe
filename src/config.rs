//! One configuration, one typed struct, layered by figment: the defaults, then `khlang.toml`, then
//! `KHLANG_*` environment variables, then flags. Every key has all four; `khlang config show` prints
//! each with the layer it came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format as _, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use khlang_ingest::schedule;
use serde::{Deserialize, Serialize};

/// The effective settings. A key here is a key of `khlang.toml`, a `KHLANG_<KEY>` variable and a
/// `--<key>` flag (with `-` for `_`), except `storage` and `sources`, which only the file holds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Warehouse location: a directory, a file:// URL or s3://BUCKET/PREFIX.
    pub warehouse: String,
    /// File holding the installation secret for keyed hashes of citizen IDs (created on first use).
    pub secret_file: PathBuf,
    /// Web app and HTTP SQL API address of `serve` (host:port).
    pub http: String,
    /// PostgreSQL wire protocol address of `serve` (host:port).
    pub pg: String,
    /// Log filter (error, warn, info, debug, or per crate).
    pub log: String,
    /// Nightly load: cron expression (5 fields, or 6 with seconds first) in `timezone`.
    pub schedule: String,
    /// The office's time zone: the schedule, Thai dates and times in every output.
    pub timezone: String,
    /// Tries after a failed pull, and the wait before the first (doubled each time).
    pub retries: u32,
    pub retry_backoff_seconds: u64,
    /// Per-query memory budget (MiB) before a query spills to disk or fails.
    pub query_memory_mb: u64,
    /// Time limit of one query (seconds).
    pub query_timeout_seconds: u64,
    /// Heavy queries (analysts' SQL and exports) running at once; more wait their turn.
    pub max_concurrent_queries: usize,
    /// Days the audit log is kept (at least 90, the Computer Crime Act's minimum).
    pub audit_retention_days: u32,
    /// TLS for the wire protocol and HTTPS: the server's certificate chain and private key (PEM).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Refuse sign-ins that do not come over TLS.
    #[serde(deserialize_with = "switch")]
    pub tls_required: bool,
    /// How passwords travel over the wire protocol: `scram-sha-256` (default) or `password`
    /// (cleartext: only over TLS or for old clients on a trusted network).
    pub wire_auth: String,
    /// The Ballista scheduler analysts' SQL runs on (`df://HOST:PORT`); none: on this node.
    pub cluster: Option<String>,
    /// How to reach an object-store warehouse (`s3://…`): the standard AWS settings, such as
    /// `aws_endpoint_url`, `aws_region`, `aws_access_key_id`, `aws_secret_access_key`,
    /// `aws_allow_http`. The environment's `AWS_*` variables override them.
    #[serde(default, serialize_with = "redacted")]
    pub storage: BTreeMap<String, String>,
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

/// Our own progress at info; the libraries' chatter only when it is a warning.
pub const DEFAULT_LOG: &str = "warn,khlang=info,khlang_ingest=info,khlang_warehouse=info,khlang_query=info,khlang_dashboards=info";

impl Default for Config {
    fn default() -> Config {
        Config {
            warehouse: "./warehouse".into(),
            secret_file: khlang_warehouse::secret::default_secret_path(),
            http: "127.0.0.1:8080".into(),
            pg: "127.0.0.1:5433".into(),
            log: DEFAULT_LOG.into(),
            schedule: schedule::DEFAULT_SCHEDULE.into(),
            timezone: schedule::DEFAULT_TIMEZONE.into(),
            retries: 3,
            retry_backoff_seconds: 300,
            query_memory_mb: 2048,
            query_timeout_seconds: 300,
            max_concurrent_queries: 4,
            audit_retention_days: khlang_query::audit::MIN_RETENTION_DAYS,
            tls_cert: None,
            tls_key: None,
            tls_required: false,
            wire_auth: khlang_query::transport::wire::WireAuth::default().as_str().into(),
            cluster: None,
            storage: BTreeMap::new(),
            sources: Vec::new(),
        }
    }
}

/// The settings as flags: on every command, none set unless given.
#[derive(clap::Args, Debug, Default, Serialize)]
#[command(next_help_heading = "Settings (each also a khlang.toml key and a KHLANG_* variable; `khlang config show` prints their values and sources)")]
pub struct Flags {
    /// Warehouse location: a directory, a file:// URL or s3://BUCKET/PREFIX.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<String>,
    /// File holding the installation secret for keyed hashes of citizen IDs (created on first use).
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// Web app and HTTP SQL API address (host:port).
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// PostgreSQL wire protocol address (host:port).
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pg: Option<String>,
    /// Log filter (error, warn, info, debug).
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// Nightly load of the [[sources]]: a cron expression in the time zone.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// The office's time zone.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Tries after a failed pull.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Wait before the first retry, doubled each time (seconds).
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_backoff_seconds: Option<u64>,
    /// Per-query memory budget (MiB).
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_memory_mb: Option<u64>,
    /// Time limit of one query (seconds).
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_timeout_seconds: Option<u64>,
    /// Heavy queries running at once.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent_queries: Option<usize>,
    /// Days the audit log is kept, at least 90.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_retention_days: Option<u32>,
    /// TLS certificate chain (PEM) for the wire protocol and HTTPS.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Refuse sign-ins that do not come over TLS (--tls-required or --tls-required=false).
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_required: Option<bool>,
    /// How passwords travel over the wire protocol: scram-sha-256 or password.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wire_auth: Option<String>,
    /// Run analysts' SQL on a Ballista cluster: its scheduler as df://HOST:PORT.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
}

/// The keys every layer can set (the file alone holds `storage` and `sources`).
const KEYS: [&str; 18] = [
    "warehouse",
    "secret_file",
    "http",
    "pg",
    "log",
    "schedule",
    "timezone",
    "retries",
    "retry_backoff_seconds",
    "query_memory_mb",
    "query_timeout_seconds",
    "max_concurrent_queries",
    "audit_retention_days",
    "tls_cert",
    "tls_key",
    "tls_required",
    "wire_auth",
    "cluster",
];

const ENV_PREFIX: &str = "KHLANG_";

/// The layers' names, as `config show` and errors print them.
const DEFAULTS: &str = "default";
const FILE: &str = "file";
const ENVIRONMENT: &str = "environment";
const FLAGS: &str = "flag";

/// The resolved configuration and the layers it came from.
pub struct Resolved {
    pub config: Config,
    /// The file read, if any.
    pub file: Option<PathBuf>,
    figment: Figment,
}

/// A provider under the layer's name.
struct Layer<P>(&'static str, P);

impl<P: Provider> Provider for Layer<P> {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.0)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        self.1.data()
    }
}

impl Config {
    /// Layers the defaults, the file (`path`, or `./khlang.toml` when present), the `KHLANG_*`
    /// variables (an empty one counts as unset) and the flags, then checks the values.
    pub fn resolve(path: Option<&Path>, flags: &Flags) -> anyhow::Result<Resolved> {
        let file = match path {
            Some(p) if !p.is_file() => anyhow::bail!("config file {} cannot be read: there is no such file", p.display()),
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from("khlang.toml")).filter(|p| p.is_file()),
        };
        let mut figment = Figment::from(Layer(DEFAULTS, Serialized::defaults(Config::default())));
        if let Some(f) = &file {
            // Read here so an unreadable file is named, not taken as empty.
            let text = std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("config file {} cannot be read: {e}", f.display()))?;
            figment = figment.merge(Layer(FILE, Toml::string(&text)));
        }
        let env = Env::prefixed(ENV_PREFIX).only(&KEYS).filter(|k| std::env::var(env_name(k.as_str())).is_ok_and(|v| !v.is_empty()));
        let figment = figment.merge(Layer(ENVIRONMENT, env)).merge(Layer(FLAGS, Serialized::defaults(flags)));
        let config: Config = figment.extract().map_err(|e| anyhow::anyhow!("{}", describe(file.as_deref(), &e)))?;
        config.check()?;
        Ok(Resolved { config, file, figment })
    }

    /// Values every layer's type allows but Khlang does not.
    fn check(&self) -> anyhow::Result<()> {
        let counts = [
            ("query_memory_mb", self.query_memory_mb),
            ("query_timeout_seconds", self.query_timeout_seconds),
            ("max_concurrent_queries", self.max_concurrent_queries as u64),
        ];
        if let Some((key, _)) = counts.iter().find(|(_, v)| *v == 0) {
            anyhow::bail!("setting {key} must be above 0");
        }
        let min = khlang_query::audit::MIN_RETENTION_DAYS;
        if self.audit_retention_days < min {
            anyhow::bail!(
                "setting audit_retention_days = {} is below the legal minimum of {min} days (Computer Crime Act); it can only be raised",
                self.audit_retention_days
            );
        }
        if khlang_query::transport::wire::WireAuth::parse(&self.wire_auth).is_none() {
            anyhow::bail!("setting wire_auth = '{}' is not scram-sha-256 or password", self.wire_auth);
        }
        Ok(())
    }

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

impl Resolved {
    /// Where a key's value came from, in the words a user would look for it under.
    fn source_of(&self, key: &str) -> String {
        match self.figment.find_metadata(key).map(|m| m.name.as_ref()) {
            Some(FILE) => match &self.file {
                Some(f) => format!("file {}", f.display()),
                None => "file".into(),
            },
            Some(ENVIRONMENT) => env_name(key),
            Some(FLAGS) => format!("flag --{}", key.replace('_', "-")),
            _ => DEFAULTS.into(),
        }
    }

    /// The settings as TOML, each key with the layer it came from; secrets hidden.
    pub fn show(&self) -> anyhow::Result<String> {
        let c = &self.config;
        let mut out = String::new();
        out.push_str(&match &self.file {
            Some(f) => format!("# configuration file: {}\n", f.display()),
            None => "# no configuration file (give --config, or put khlang.toml in the working folder)\n".to_string(),
        });
        let value = toml::Value::try_from(c)?;
        let table = value.as_table().ok_or_else(|| anyhow::anyhow!("the settings do not form a table"))?;
        for key in KEYS {
            let source = self.source_of(key);
            match table.get(key) {
                Some(v) => out.push_str(&format!("{key} = {v}  # {source}\n")),
                None => out.push_str(&format!("# {key} is not set  ({source})\n")),
            }
        }
        let rest = toml::Value::try_from(ShowTables { storage: &c.storage, sources: &c.sources })?;
        let rest = toml::to_string_pretty(&rest)?;
        if !rest.trim().is_empty() {
            out.push('\n');
            out.push_str(&rest);
        }
        Ok(out)
    }
}

#[derive(Serialize)]
struct ShowTables<'a> {
    #[serde(serialize_with = "redacted", skip_serializing_if = "BTreeMap::is_empty")]
    storage: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "<[SourceConfig]>::is_empty")]
    sources: &'a [SourceConfig],
}

/// One sentence naming the setting, its layer and what is wrong.
fn describe(file: Option<&Path>, e: &figment::Error) -> String {
    let key = e.path.join(".");
    let layer = match e.metadata.as_ref().map(|m| m.name.as_ref()) {
        Some(FILE) => file.map_or_else(|| "the config file".to_string(), |f| format!("config file {}", f.display())),
        Some(ENVIRONMENT) if !key.is_empty() => env_name(&key),
        Some(FLAGS) if !key.is_empty() => format!("flag --{}", key.replace('_', "-")),
        Some(other) => other.to_string(),
        None => "the configuration".into(),
    };
    if key.is_empty() { format!("{layer} is not valid: {}", e.kind) } else { format!("setting {key} from {layer} is not valid: {}", e.kind) }
}

fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
}

/// A switch: a boolean, or as a variable's text true/false, 1/0, on/off, yes/no.
fn switch<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Switch {
        Bool(bool),
        Number(i64),
        Text(String),
    }
    match Switch::deserialize(d)? {
        Switch::Bool(b) => Ok(b),
        Switch::Number(1) => Ok(true),
        Switch::Number(0) => Ok(false),
        Switch::Text(t) => match t.to_ascii_lowercase().as_str() {
            "true" | "1" | "on" | "yes" => Ok(true),
            "false" | "0" | "off" | "no" => Ok(false),
            _ => Err(serde::de::Error::custom(format!("'{t}' is not true or false"))),
        },
        Switch::Number(n) => Err(serde::de::Error::custom(format!("{n} is not true or false"))),
    }
}

fn redacted<S: serde::Serializer>(storage: &BTreeMap<String, String>, s: S) -> Result<S::Ok, S::Error> {
    let shown: BTreeMap<&str, &str> = storage
        .iter()
        .map(|(k, v)| {
            let k_lower = k.to_ascii_lowercase();
            (k.as_str(), if k_lower.contains("secret") || k_lower.contains("token") { "(hidden)" } else { v.as_str() })
        })
        .collect();
    shown.serialize(s)
}

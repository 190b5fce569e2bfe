//! One configuration: defaults, then `khlang.toml`, then `KHLANG_*` environment variables, then flags.

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
}

/// The effective settings.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub config_file: Option<PathBuf>,
    pub warehouse: String,
    pub secret_file: PathBuf,
    pub http: String,
    pub log: String,
}

pub const DEFAULT_HTTP: &str = "127.0.0.1:8080";
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

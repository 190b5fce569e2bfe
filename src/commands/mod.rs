//! One file per command: its arguments and what it does. What several share is here.

pub mod calendar;
pub mod cluster;
pub mod generate;
pub mod ingest;
pub mod optimize;
pub mod publish;
pub mod quality;
pub mod report;
pub mod serve;
pub mod sql;
pub mod tls;
pub mod usage;
pub mod user;

use std::io::IsTerminal as _;

use crate::config::Config;
use khlang_query::{QueryService, SqlService};

/// Where a command that writes documents writes them, and as what.
#[derive(clap::Args, Debug)]
pub struct FilesOut {
    /// Formats, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "pdf,xlsx")]
    pub format: Vec<khlang_dashboards::batch::FileFormat>,
    /// Folder to write the files to.
    #[arg(long)]
    pub out: std::path::PathBuf,
}

/// The SQL service of a warehouse, with the configured limits and the audit writer started.
pub async fn sql_service(cfg: &Config) -> anyhow::Result<SqlService> {
    let wh = cfg.open_warehouse().await?;
    let limits = khlang_query::Limits {
        memory_bytes: usize::try_from(cfg.query_memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
        timeout: std::time::Duration::from_secs(cfg.query_timeout_seconds),
        max_concurrent: cfg.max_concurrent_queries,
        queue_wait: std::time::Duration::from_secs(cfg.query_timeout_seconds.min(30)),
    };
    let audit = khlang_query::audit::Audit::start(wh.clone(), std::time::Duration::from_secs(2), cfg.audit_retention_days);
    Ok(SqlService::new(QueryService::with_limits(wh, limits).with_cluster(cfg.cluster()?), audit))
}

/// Ctrl-C or SIGTERM (systemd's stop): servers then write the queued audit records and end.
pub async fn stop_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// A progress bar on a terminal; none elsewhere (logs say what happens instead).
pub fn progress_bar(len: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg}") {
        pb.set_style(style);
    }
    Some(pb)
}

/// A long job's progress: a bar on a terminal, log lines elsewhere.
pub struct Progress {
    job: &'static str,
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
}

impl Progress {
    pub fn new(job: &'static str) -> Progress {
        Progress { job, bar: std::sync::Mutex::new(None) }
    }

    pub fn report(&self, msg: &str, done: u64, total: u64) {
        if let Ok(mut g) = self.bar.lock() {
            if g.is_none() {
                *g = progress_bar(total);
            }
            match g.as_ref() {
                Some(bar) => {
                    bar.set_position(done);
                    bar.set_message(msg.to_string());
                }
                None => tracing::info!(step = msg, done, total, "{}", self.job),
            }
        }
    }

    pub fn finish(&self) {
        if let Ok(g) = self.bar.lock()
            && let Some(bar) = g.as_ref()
        {
            bar.finish_and_clear();
        }
    }
}

/// Writes a command's output file, or standard output when no file is given (binary output
/// only when redirected).
pub fn write_out(out: Option<&std::path::Path>, bytes: &[u8], binary: bool) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::io::Write as _;
    match out {
        Some(path) => std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display())),
        None => {
            if binary && std::io::stdout().is_terminal() {
                anyhow::bail!("this output is binary: give --out FILE or redirect standard output");
            }
            Ok(std::io::stdout().write_all(bytes)?)
        }
    }
}

//! `khlang ingest`: one pull, or every configured source once with retries.

use anyhow::Context as _;
use khlang_ingest::{IngestReport, Source, schedule};
use khlang_warehouse::Secret;

use crate::config::Config;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A folder of feed files, or postgres://USER@HOST:PORT/DB[?schema=S]; without it, every
    /// [[sources]] entry of the config file.
    #[arg(long)]
    from: Option<String>,
    /// Print the run report as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(cfg: &Config, args: Args) -> anyhow::Result<()> {
    let reports = match args.from {
        Some(from) => vec![one(cfg, &Source::parse(&from)?).await?],
        None => sources(cfg).await?,
    };
    for report in &reports {
        if args.json {
            println!("{}", serde_json::to_string_pretty(report)?);
        } else {
            print(report);
        }
    }
    Ok(())
}

/// Loads one pull, with a progress bar.
pub async fn one(cfg: &Config, from: &Source) -> anyhow::Result<IngestReport> {
    let wh = cfg.open_warehouse().await?;
    let secret = Secret::load_or_create(&cfg.secret_file)?;
    let progress = super::Progress::new("ingest");
    let report = khlang_ingest::ingest(&wh, &secret, from, &|m: &str, d, t| progress.report(m, d, t)).await;
    progress.finish();
    Ok(report?)
}

/// Loads every source of the configuration once, each with retries. Fails if any source failed.
pub async fn sources(cfg: &Config) -> anyhow::Result<Vec<IngestReport>> {
    if cfg.sources.is_empty() {
        anyhow::bail!("nothing to load: give --from, or list [[sources]] (name, from) in the config file");
    }
    let wh = cfg.open_warehouse().await?;
    let secret = Secret::load_or_create(&cfg.secret_file)?;
    let retry = schedule::Retry { retries: cfg.retries, backoff: std::time::Duration::from_secs(cfg.retry_backoff_seconds) };
    let mut reports = Vec::new();
    let mut failed = Vec::new();
    for s in &cfg.sources {
        let source = Source::parse(&s.from).with_context(|| format!("source {}", s.name))?;
        tracing::info!(source = s.name.as_str(), from = source.shown().as_str(), "loading");
        match schedule::ingest_with_retries(&wh, &secret, &source, retry, &|step, done, total| tracing::debug!(step, done, total, "ingest")).await {
            Ok(r) => reports.push(r),
            Err(e) => {
                tracing::error!(source = s.name.as_str(), error = %e, "source failed");
                failed.push(format!("source {} failed after {} tries: {e}", s.name, cfg.retries + 1));
            }
        }
    }
    if !failed.is_empty() {
        anyhow::bail!("{}", failed.join("; "));
    }
    Ok(reports)
}

/// The run report as a table.
pub fn print(r: &IngestReport) {
    println!("run {} from {}", r.run_id, r.source);
    println!("{:<16} {:<16} {:>6} {:>10} {:>10} {:>9} {:>8}", "feed", "table", "files", "read", "loaded", "rejected", "version");
    for f in &r.feeds {
        println!(
            "{:<16} {:<16} {:>6} {:>10} {:>10} {:>9} {:>8}",
            f.feed,
            f.table,
            f.files,
            f.rows_read,
            f.rows_loaded,
            f.rows_rejected,
            f.table_version.map(|v| v.to_string()).unwrap_or_default()
        );
    }
}

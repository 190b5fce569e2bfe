//! `khlang optimize`: lays the tables out for their scans, as one published commit.

use khlang_warehouse::optimize::{OptimizeReport, RUN_PREFIX};

use crate::config::Config;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(cfg: &Config, args: Args) -> anyhow::Result<()> {
    let report = optimize(cfg).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("{:<24} {:>10} {:>12} {:>11} {:>8}", "table", "rows", "files before", "files after", "version");
    for t in &report.tables {
        let version = t.version.map_or_else(|| "unchanged".to_string(), |v| v.to_string());
        println!("{:<24} {:>10} {:>12} {:>11} {:>8}", t.table, t.rows, t.files_before, t.files_after, version);
    }
    match report.commit {
        Some(seq) => println!("published as warehouse commit {seq} ({})", report.run_id),
        None => println!("every table was already laid out; nothing published"),
    }
    Ok(())
}

async fn optimize(cfg: &Config) -> anyhow::Result<OptimizeReport> {
    let wh = cfg.open_warehouse().await?;
    let lock = wh.lock_writer().await?;
    let run_id = format!("{RUN_PREFIX}{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"));
    let progress = super::Progress::new("optimize");
    let report = wh.optimize(&lock, &run_id, &|m: &str, d, t| progress.report(m, d, t)).await;
    progress.finish();
    lock.release().await;
    Ok(report?)
}

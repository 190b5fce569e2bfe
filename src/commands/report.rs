//! `khlang report`: four-domain information reports as files, one area, some schools or every area.

use khlang_dashboards::batch;
use khlang_dashboards::report::{Params, Subject};
use khlang_query::QueryService;

use crate::config::Config;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Area codes (8 digits).
    #[arg(long)]
    area: Vec<String>,
    /// School codes (10 digits).
    #[arg(long)]
    school: Vec<String>,
    /// Every area in the warehouse.
    #[arg(long)]
    all_areas: bool,
    /// Student snapshot (YYYY-MM-DD); the latest when absent.
    #[arg(long)]
    snapshot: Option<String>,
    /// Fiscal year in Buddhist Era (e.g. 2569); the latest when absent.
    #[arg(long)]
    fiscal_year: Option<String>,
    #[command(flatten)]
    files: super::FilesOut,
}

pub async fn run(cfg: &Config, args: Args) -> anyhow::Result<()> {
    let q = QueryService::new(cfg.open_warehouse().await?);
    let params = Params::parse(args.snapshot.as_deref(), args.fiscal_year.as_deref())?;
    let areas = if args.all_areas { batch::all_areas(&q).await? } else { args.area };
    let mut subjects = Vec::new();
    for a in areas {
        subjects.push(Subject::parse("area", &a)?);
    }
    for s in args.school {
        subjects.push(Subject::parse("school", &s)?);
    }
    if subjects.is_empty() {
        anyhow::bail!("no report asked for: give --area CODE, --school CODE or --all-areas");
    }
    let started = std::time::Instant::now();
    let bar = super::progress_bar(subjects.len() as u64);
    let done = |s: &Subject| match &bar {
        Some(b) => {
            b.inc(1);
            b.set_message(s.code().to_string());
        }
        None => tracing::info!(subject = s.code(), "report done"),
    };
    let files = batch::write(&q, &subjects, &params, &args.files.format, &args.files.out, &done).await?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    eprintln!("wrote {} files for {} reports to {} in {:.1} s", files.len(), subjects.len(), args.files.out.display(), started.elapsed().as_secs_f64());
    Ok(())
}

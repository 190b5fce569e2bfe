//! `khlang quality`: the data-quality report for schools, as the local operator.

use std::path::PathBuf;

use khlang_dashboards::quality::{self, Scope};
use khlang_query::{Principal, QueryService};

use crate::config::Config;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Student snapshot date, e.g. 2026-06-10.
    #[arg(long)]
    snapshot: String,
    /// Only the schools of this area (8-digit area code).
    #[arg(long, conflicts_with = "school")]
    area: Option<String>,
    /// Only this school (10-digit school code).
    #[arg(long)]
    school: Option<String>,
    #[arg(long, value_enum, default_value = "html")]
    format: ReportFormat,
    /// Write to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum ReportFormat {
    Html,
    Xlsx,
    Csv,
}

pub async fn run(cfg: &Config, args: Args) -> anyhow::Result<()> {
    let scope = match (args.area, args.school) {
        (Some(a), _) => Scope::Area(a),
        (None, Some(s)) => Scope::School(s),
        (None, None) => Scope::All,
    };
    let q = QueryService::new(cfg.open_warehouse().await?);
    let report = quality::build(&q, &Principal::local_admin(), &args.snapshot, scope).await?;
    let bytes = match args.format {
        ReportFormat::Html => report.html().into_bytes(),
        ReportFormat::Csv => report.csv()?,
        ReportFormat::Xlsx => report.xlsx()?,
    };
    super::write_out(args.out.as_deref(), &bytes, matches!(args.format, ReportFormat::Xlsx))?;
    if let Some(path) = &args.out {
        eprintln!("wrote {} ({} schools, {} rows to fix)", path.display(), report.submissions.len(), report.all_issues().len());
    }
    Ok(())
}

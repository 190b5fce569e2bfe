//! `khlang usage-report`: the yearly report on the warehouse's development and use (แบบ 7.1/7.2).

use anyhow::Context as _;
use khlang_dashboards::usage::{self, FiscalYear};
use khlang_query::Principal;
use khlang_query::audit::{Action, Event};

use crate::config::Config;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Fiscal year in Buddhist Era (e.g. 2570: 1 October 2026 to 30 September 2027); this year when absent.
    #[arg(long)]
    fiscal_year: Option<String>,
    #[command(flatten)]
    files: super::FilesOut,
}

pub async fn run(cfg: &Config, args: Args) -> anyhow::Result<()> {
    let today = khlang_query::office::today();
    let fy = match args.fiscal_year {
        Some(y) => FiscalYear::parse(&y)?,
        None => FiscalYear::of(today),
    };
    let svc = super::sql_service(cfg).await?;
    let exts: Vec<&str> = args.files.format.iter().map(|f| f.ext()).collect();
    svc.audit.record(Event::new(&Principal::local_admin(), Action::Report, format!("usage {} {}", fy.year, exts.join(",")), "cli"));
    svc.audit.flush().await;
    let doc = usage::build(&svc.q, fy, today).await?;
    let out = &args.files.out;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create the folder {}", out.display()))?;
    for f in args.files.format {
        let path = out.join(format!("usage_report_{}.{}", fy.year, f.ext()));
        std::fs::write(&path, doc.render(f)?).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

//! `khlang calendar`: the reporting calendar from the command line, as the local operator.

use std::path::PathBuf;

use clap::Subcommand;
use khlang_dashboards::calendar::{late_csv, late_xlsx, status, today};
use khlang_query::calendar::Calendar;
use khlang_query::{Principal, QueryService};

#[derive(Subcommand, Debug)]
pub enum CalendarCmd {
    /// Add a deadline: schools' data of one period of one feed, due by the end of a day.
    Add {
        /// students, personnel or budget.
        #[arg(long)]
        feed: String,
        /// The snapshot date (students, personnel: 2026-06-10) or fiscal year and quarter (budget: 2569-Q2).
        #[arg(long)]
        period: String,
        /// Due date, YYYY-MM-DD.
        #[arg(long)]
        due: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// List the deadlines.
    List,
    /// Remove a deadline.
    Remove { id: u32 },
    /// Each school against a deadline: submitted when, days late, rejected rows still open.
    Status {
        id: u32,
        /// Judge lateness as on this day (YYYY-MM-DD); today when absent.
        #[arg(long)]
        on: Option<String>,
        /// table (every school), csv or xlsx (the late schools, to send out).
        #[arg(long, default_value = "table")]
        format: String,
        /// Write to this file (needed for xlsx).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn date(what: &str, s: &str) -> anyhow::Result<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| anyhow::anyhow!("--{what} '{s}' is not a date like 2026-06-10"))
}

pub async fn run(q: &QueryService, what: CalendarCmd) -> anyhow::Result<()> {
    let cal = Calendar::new(q.warehouse().clone());
    let me = Principal::local_admin();
    match what {
        CalendarCmd::Add { feed, period, due, name } => {
            let d = cal.add(&me, &feed, &period, date("due", &due)?, name.as_deref()).await?;
            println!("deadline {} added: {} {} due {}", d.id, d.feed, d.period, d.due);
        }
        CalendarCmd::List => {
            println!("{:>4}  {:<10} {:<11} {:<11} name", "id", "feed", "period", "due");
            for d in cal.list().await? {
                println!("{:>4}  {:<10} {:<11} {:<11} {}", d.id, d.feed, d.period, d.due, d.name);
            }
        }
        CalendarCmd::Remove { id } => {
            if !cal.remove(&me, id).await? {
                anyhow::bail!("there is no deadline {id}");
            }
            println!("deadline {id} removed");
        }
        CalendarCmd::Status { id, on, format, out } => {
            let Some(d) = cal.get(id).await? else { anyhow::bail!("there is no deadline {id}: see khlang calendar list") };
            let on = match on {
                Some(s) => date("on", &s)?,
                None => today(),
            };
            let rows = status(q, &me, &d, on).await?;
            let bytes = match format.as_str() {
                "csv" => late_csv(&d, &rows)?,
                "xlsx" => late_xlsx(&d, &rows)?,
                "table" => {
                    let mut t = format!("{:<9} {:<11} {:<19} {:>9} {:>8}  status\n", "area", "school", "submitted (UTC)", "days_late", "rejected");
                    for s in &rows {
                        let at = s.submitted_at.map(|t| t.format("%Y-%m-%dT%H:%MZ").to_string()).unwrap_or_else(|| "-".into());
                        t.push_str(&format!("{:<9} {:<11} {:<19} {:>9} {:>8}  {}\n", s.area_code, s.school_code, at, s.days_late, s.rejected_open, s.status_th()));
                    }
                    t.into_bytes()
                }
                other => anyhow::bail!("--format '{other}' is not table, csv or xlsx"),
            };
            match out {
                Some(path) => std::fs::write(&path, bytes).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?,
                None if format == "xlsx" => anyhow::bail!("an xlsx file needs --out FILE"),
                None => print!("{}", String::from_utf8_lossy(&bytes)),
            }
        }
    }
    Ok(())
}

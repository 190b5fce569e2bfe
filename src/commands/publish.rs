//! `khlang publish`: approval before publishing from the command line, as the warehouse's local
//! operator (an admin). The same decisions as the web's `/approvals` page.

use clap::Subcommand;
use khlang_query::approvals::{Approvals, Decision, Proposal};
use khlang_query::{Principal, SqlService};

#[derive(Subcommand, Debug)]
pub enum PublishCmd {
    /// Where each area stands: what the public sees, and the latest state's proposal or return.
    Status {
        /// Only this area (8-digit code).
        #[arg(long)]
        area: Option<String>,
    },
    /// Put the latest state's figures to the director.
    Propose(Decide),
    /// Approve the latest state's figures for the public.
    Approve(Decide),
    /// Send the latest state's figures back to be reviewed and corrected (a reason is needed).
    Return(Decide),
}

#[derive(clap::Args, Debug)]
pub struct Decide {
    /// Student snapshot (YYYY-MM-DD); the latest in the state when absent.
    #[arg(long)]
    snapshot: Option<String>,
    /// Fiscal year in Buddhist Era (e.g. 2569); the latest in the state when absent.
    #[arg(long)]
    fiscal_year: Option<i32>,
    /// One area (8-digit code); every area when absent.
    #[arg(long)]
    area: Option<String>,
    /// Refuse unless the latest published state is still this one (the one reviewed).
    #[arg(long)]
    state: Option<u64>,
    #[arg(long)]
    reason: Option<String>,
}

pub async fn run(svc: &SqlService, what: PublishCmd) -> anyhow::Result<()> {
    let (decision, d) = match what {
        PublishCmd::Status { area } => return status(svc, area).await,
        PublishCmd::Propose(d) => (Decision::Proposed, d),
        PublishCmd::Approve(d) => (Decision::Approved, d),
        PublishCmd::Return(d) => (Decision::Returned, d),
    };
    let p = Proposal { area: d.area, snapshot: d.snapshot, fiscal_year: d.fiscal_year, state: d.state, reason: d.reason };
    let e = svc.decide(&Principal::local_admin(), decision, p, "command line").await?;
    svc.audit.flush().await;
    println!("{}", e.describe());
    Ok(())
}

async fn status(svc: &SqlService, area: Option<String>) -> anyhow::Result<()> {
    let Some(commit) = svc.q.warehouse().committed().await? else { anyhow::bail!("nothing has been loaded yet, so there is nothing to publish") };
    let areas = match area {
        Some(a) => vec![a],
        None => khlang_query::column_strings(&svc.q.sql("SELECT area_code FROM areas ORDER BY area_code").await?),
    };
    let history = svc.approvals().history().await?;
    println!("latest published state: {}", commit.seq);
    println!("{:<9} {:<12} {:<12} {:<10} {:<20} {:<10} reason", "area", "public", "snapshot", "fiscal", "approved by", "latest");
    for s in Approvals::status(&history, &areas, commit.seq) {
        let (public, snap, fy, by) = match &s.public {
            Some(p) => (
                format!("state {}", p.state),
                p.snapshot.to_string(),
                p.fiscal_year.map(|y| y.to_string()).unwrap_or_default(),
                format!("{} {}", p.by, khlang_warehouse::office::local(p.at).format("%Y-%m-%d %H:%M")),
            ),
            None => ("none".into(), String::new(), String::new(), String::new()),
        };
        let latest = match (&s.public, &s.pending) {
            (Some(p), _) if p.state == s.latest => "approved",
            (_, Some(p)) => p.decision.as_str(),
            _ => "not proposed",
        };
        let reason = s.pending.as_ref().and_then(|p| p.reason.clone()).unwrap_or_default();
        println!("{:<9} {:<12} {:<12} {:<10} {:<20} {:<10} {reason}", s.area, public, snap, fy, by, latest);
    }
    Ok(())
}

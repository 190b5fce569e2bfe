//! `khlang`: the command line. The commands and their arguments; each command's work is in
//! `commands/`, the settings in `config.rs`.

mod commands;
mod config;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use commands::{calendar, cluster, generate, ingest, optimize, publish, quality, report, serve, sql, tls, usage, user};
use config::{Config, Flags};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser, Debug)]
#[command(name = "khlang", version, about = "Khlang (คลังข้อมูล): the education data warehouse of a Thai Educational Service Area Office")]
struct Cli {
    /// Configuration file (default: ./khlang.toml when present).
    #[arg(long, global = true, env = "KHLANG_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: Flags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a realistic synthetic ministry pull (all eight feeds) to a folder.
    Generate(generate::Args),
    /// Load a ministry pull into the warehouse: a folder of feed files, or the ministry database as
    /// postgres://USER@HOST:PORT/DB[?schema=S] (password from PGPASSWORD or the URL).
    /// Without --from, loads every [[sources]] entry of the config file once, with retries.
    Ingest(ingest::Args),
    /// Lay the tables out for their scans: every partition not written as loads write now (rows by
    /// area, school and grade, in row groups that statistics prune; few files) is rewritten so,
    /// published as one warehouse commit (same rows; earlier states stay readable with --as-of).
    /// Safe to kill: the next writer rolls it back.
    Optimize(optimize::Args),
    /// Run SQL over the warehouse.
    Sql(sql::Args),
    /// The published states of the warehouse (one per finished load), newest first: for --as-of.
    History(sql::HistoryArgs),
    /// List recent ingest runs: time, source, feeds, rows read/loaded/rejected, table versions, status.
    Runs(sql::RunsArgs),
    /// The data-quality report for schools: rejected rows with Thai explanations and what to fix,
    /// and which schools submitted nothing or far fewer students than last snapshot.
    Quality(quality::Args),
    /// Write four-domain information reports (ข้อมูลสารสนเทศ 4 ด้าน) as files: one area, some schools,
    /// or every area in one batch, all from the same published data version.
    Report(report::Args),
    /// Serve the web app and the HTTP SQL API (setting http) and the PostgreSQL wire protocol
    /// (setting pg), and run the nightly load of the config file's sources on its schedule.
    Serve,
    /// Generate an area, load it and serve it (web, SQL API, wire protocol) until stopped.
    Demo,
    /// Users of the SQL service and the web app.
    User {
        #[command(subcommand)]
        what: user::UserCmd,
    },
    /// Approval before publishing: status, propose, approve or return the latest state's figures
    /// for the public (the director's decision; `/approvals` on the web).
    Publish {
        #[command(subcommand)]
        what: publish::PublishCmd,
    },
    /// The reporting calendar (ปฏิทินการรายงานข้อมูล): deadlines, and which schools are late.
    Calendar {
        #[command(subcommand)]
        what: calendar::CalendarCmd,
    },
    /// The yearly report on the warehouse's development and use (แบบ 7.1/7.2), for the director: loads,
    /// rejected rows and fixes, late schools, users and sign-ins, queries, exports and reports, access
    /// requests and approvals of one fiscal year, as Thai PDF and XLSX files.
    UsageReport(usage::Args),
    /// The settings: each key's value and where it came from (default, file, KHLANG_* variable, flag).
    Config {
        #[command(subcommand)]
        what: ConfigCmd,
    },
    /// TLS certificates.
    Tls {
        #[command(subcommand)]
        what: tls::TlsCmd,
    },
    /// A Ballista cluster for analysts' SQL at national scale: one `cluster scheduler`, then a
    /// `cluster executor` per node; `serve --cluster df://SCHEDULER` sends queries to it.
    Cluster {
        #[command(subcommand)]
        what: cluster::ClusterCmd,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCmd {
    /// Print the effective settings as TOML, each with the layer it came from.
    Show,
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let resolved = Config::resolve(cli.config.as_deref(), &cli.settings)?;
    let cfg = &resolved.config;
    khlang_warehouse::office::set_time_zone(&cfg.timezone).map_err(|e| anyhow::anyhow!(e))?;
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.log).with_context(|| format!("setting log = '{}' is not a valid filter", cfg.log))?;
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
    match cli.command {
        Command::Generate(args) => generate::run(args),
        Command::Ingest(args) => ingest::run(cfg, args).await,
        Command::Optimize(args) => optimize::run(cfg, args).await,
        Command::Sql(args) => sql::run(cfg, args).await,
        Command::History(args) => sql::history(cfg, args).await,
        Command::Runs(args) => sql::runs(cfg, args).await,
        Command::Quality(args) => quality::run(cfg, args).await,
        Command::Report(args) => report::run(cfg, args).await,
        Command::Serve => serve::serve(cfg).await,
        Command::Demo => serve::demo(cfg).await,
        Command::User { what } => user::run(cfg, what).await,
        Command::Publish { what } => publish::run(&commands::sql_service(cfg).await?, what).await,
        Command::Calendar { what } => calendar::run(&khlang_query::QueryService::new(cfg.open_warehouse().await?), what).await,
        Command::UsageReport(args) => usage::run(cfg, args).await,
        Command::Config { what: ConfigCmd::Show } => {
            print!("{}", resolved.show()?);
            Ok(())
        }
        Command::Tls { what } => tls::run(what),
        Command::Cluster { what } => cluster::run(cfg, what).await,
    }
}

fn main() {
    let cli = Cli::parse();
    // SQL planning recurses over the expression tree: the catalog queries schema browsers send
    // (pgjdbc's getTables, with nested CASEs) overflow tokio's default 2 MiB worker stacks.
    let rt = match tokio::runtime::Builder::new_multi_thread().thread_stack_size(32 << 20).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(cli)) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

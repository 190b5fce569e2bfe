//! `khlang`: the command line. A thin shell over the library crates.

mod config;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use config::{Config, FileConfig};
use khlang_ingest::generate::{self, GenerateOptions, Scale, Style};
use khlang_ingest::schedule;
use khlang_query::{Format, QueryService};
use khlang_warehouse::{Secret, Warehouse, secret};

#[derive(Parser, Debug)]
#[command(name = "khlang", version, about = "Khlang (คลังข้อมูล): the education data warehouse of a Thai Educational Service Area Office")]
struct Cli {
    /// Configuration file (default: ./khlang.toml when present).
    #[arg(long, global = true, env = "KHLANG_CONFIG")]
    config: Option<PathBuf>,
    /// Warehouse location: a directory or a file:// URL.
    #[arg(long, global = true, env = "KHLANG_WAREHOUSE")]
    warehouse: Option<String>,
    /// File holding the installation secret for keyed hashes of citizen IDs (created on first use).
    #[arg(long, global = true, env = "KHLANG_SECRET_FILE")]
    secret_file: Option<PathBuf>,
    /// Log filter (error, warn, info, debug).
    #[arg(long, global = true, env = "KHLANG_LOG")]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ScaleArg {
    Area,
    Province,
    National,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum StyleArg {
    Mixed,
    Utf8English,
    Tis620Thai,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FormatArg {
    Table,
    Csv,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ReportFormat {
    Html,
    Xlsx,
    Csv,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a realistic synthetic ministry pull (all eight feeds) to a folder.
    Generate {
        #[arg(long, value_enum, default_value = "area")]
        scale: ScaleArg,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        /// Encodings and header languages of the files.
        #[arg(long, value_enum, default_value = "mixed")]
        style: StyleArg,
        /// Files written in parallel (default: the number of cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Load a ministry pull into the warehouse: a folder of feed files, or the ministry database as
    /// postgres://USER@HOST:PORT/DB[?schema=S] (password from PGPASSWORD or the URL).
    /// Without --from, loads every [[sources]] entry of the config file once, with retries.
    Ingest {
        #[arg(long)]
        from: Option<String>,
        /// Print the run report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run SQL over the warehouse.
    Sql {
        #[arg(long, value_enum, default_value = "table")]
        format: FormatArg,
        /// Time travel: the warehouse as published at this time, every table consistent with the
        /// others. RFC 3339 (`2026-06-10T17:00:00+07:00`) or `YYYY-MM-DD HH:MM[:SS]` in Thai time.
        #[arg(long)]
        as_of: Option<String>,
        sql: String,
    },
    /// The published states of the warehouse (one per finished load), newest first: for --as-of.
    History {
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// List recent ingest runs: time, source, feeds, rows read/loaded/rejected, table versions, status.
    Runs {
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long, value_enum, default_value = "table")]
        format: FormatArg,
    },
    /// The data-quality report for schools: rejected rows with Thai explanations and what to fix,
    /// and which schools submitted nothing or far fewer students than last snapshot.
    Quality {
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
    },
    /// Serve the web app and run the nightly load of the config file's sources on its schedule.
    Serve {
        #[arg(long, env = "KHLANG_HTTP")]
        http: Option<String>,
    },
    /// Generate an area, load it and serve the web app until stopped.
    Demo {
        #[arg(long, env = "KHLANG_HTTP")]
        http: Option<String>,
    },
    /// Show configuration.
    Config {
        #[command(subcommand)]
        what: ConfigCmd,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCmd {
    /// Print the effective settings.
    Show,
}

fn resolve(cli: &Cli, http: Option<&String>) -> anyhow::Result<Config> {
    let (config_file, file) = FileConfig::load(cli.config.as_deref())?;
    Ok(Config {
        config_file,
        warehouse: cli.warehouse.clone().or(file.warehouse).unwrap_or_else(|| "./warehouse".into()),
        secret_file: cli.secret_file.clone().or(file.secret_file).unwrap_or_else(secret::default_secret_path),
        http: http.cloned().or(file.http).unwrap_or_else(|| config::DEFAULT_HTTP.into()),
        log: cli.log.clone().or(file.log).unwrap_or_else(|| config::DEFAULT_LOG.into()),
        schedule: env("KHLANG_SCHEDULE").or(file.schedule).unwrap_or_else(|| schedule::DEFAULT_SCHEDULE.into()),
        timezone: env("KHLANG_TIMEZONE").or(file.timezone).unwrap_or_else(|| schedule::DEFAULT_TIMEZONE.into()),
        retries: match env("KHLANG_RETRIES") {
            Some(v) => v.parse().with_context(|| format!("KHLANG_RETRIES '{v}' is not a whole number"))?,
            None => file.retries.unwrap_or(3),
        },
        retry_backoff_seconds: match env("KHLANG_RETRY_BACKOFF_SECONDS") {
            Some(v) => v.parse().with_context(|| format!("KHLANG_RETRY_BACKOFF_SECONDS '{v}' is not a whole number"))?,
            None => file.retry_backoff_seconds.unwrap_or(300),
        },
        sources: file.sources,
    })
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn retry_of(cfg: &Config) -> schedule::Retry {
    schedule::Retry { retries: cfg.retries, backoff: std::time::Duration::from_secs(cfg.retry_backoff_seconds) }
}

/// Loads every source of the configuration once, each with retries. Fails if any source failed.
async fn run_sources(cfg: &Config) -> anyhow::Result<Vec<khlang_ingest::IngestReport>> {
    if cfg.sources.is_empty() {
        anyhow::bail!("nothing to load: give --from, or list [[sources]] (name, from) in the config file");
    }
    let wh = Warehouse::open(&cfg.warehouse)?;
    let secret = Secret::load_or_create(&cfg.secret_file)?;
    let mut reports = Vec::new();
    let mut failed = Vec::new();
    for s in &cfg.sources {
        let source = khlang_ingest::Source::parse(&s.from).with_context(|| format!("source {}", s.name))?;
        tracing::info!(source = s.name.as_str(), from = source.shown().as_str(), "loading");
        match schedule::ingest_with_retries(&wh, &secret, &source, retry_of(cfg), &|step, done, total| tracing::debug!(step, done, total, "ingest")).await {
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

fn progress_bar(len: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg}") {
        pb.set_style(style);
    }
    Some(pb)
}

async fn run_ingest(cfg: &Config, from: &khlang_ingest::Source) -> anyhow::Result<khlang_ingest::IngestReport> {
    let wh = Warehouse::open(&cfg.warehouse)?;
    let secret = Secret::load_or_create(&cfg.secret_file)?;
    let pb = std::sync::Mutex::new(None::<indicatif::ProgressBar>);
    let progress = |msg: &str, done: u64, total: u64| {
        if let Ok(mut g) = pb.lock() {
            if g.is_none() {
                *g = progress_bar(total);
            }
            match g.as_ref() {
                Some(bar) => {
                    bar.set_position(done);
                    bar.set_message(msg.to_string());
                }
                None => tracing::info!(step = msg, done, total, "ingest"),
            }
        }
    };
    let report = khlang_ingest::ingest(&wh, &secret, from, &progress).await;
    if let Ok(g) = pb.lock()
        && let Some(bar) = g.as_ref() {
            bar.finish_and_clear();
        }
    Ok(report?)
}

fn print_report(r: &khlang_ingest::IngestReport) {
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

/// A time as `--as-of` takes it: RFC 3339, or a Thai wall-clock time (Asia/Bangkok, UTC+7).
fn parse_as_of(s: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Ok((t - chrono::Duration::hours(7)).and_utc());
        }
    }
    anyhow::bail!("--as-of '{s}' is not a time like 2026-06-10T17:00:00+07:00 or 2026-06-10 17:00 (Thai time)")
}

async fn print_sql(cfg: &Config, sql: &str, format: FormatArg, as_of: Option<&str>) -> anyhow::Result<()> {
    let q = QueryService::new(Warehouse::open(&cfg.warehouse)?);
    let batches = match as_of {
        Some(t) => q.sql_as_of(sql, parse_as_of(t)?).await?,
        None => q.sql(sql).await?,
    };
    let f = match format {
        FormatArg::Table => Format::Table,
        FormatArg::Csv => Format::Csv,
        FormatArg::Json => Format::Json,
    };
    println!("{}", khlang_query::format(&batches, f)?.trim_end());
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let http_flag = match &cli.command {
        Command::Demo { http } | Command::Serve { http } => http.clone(),
        _ => std::env::var("KHLANG_HTTP").ok(),
    };
    let cfg = resolve(&cli, http_flag.as_ref())?;
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.log).with_context(|| format!("log setting '{}' is not a valid filter", cfg.log))?;
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
    match cli.command {
        Command::Generate { scale, seed, out, style, threads } => {
            let opts = GenerateOptions {
                scale: match scale {
                    ScaleArg::Area => Scale::Area,
                    ScaleArg::Province => Scale::Province,
                    ScaleArg::National => Scale::National,
                },
                seed,
                out: out.clone(),
                style: match style {
                    StyleArg::Mixed => Style::Mixed,
                    StyleArg::Utf8English => Style::Utf8English,
                    StyleArg::Tis620Thai => Style::Tis620Thai,
                },
                threads: threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)),
            };
            let pb = progress_bar(0);
            if let Some(pb) = &pb {
                pb.enable_steady_tick(std::time::Duration::from_millis(200));
            }
            let manifest = generate::generate(&opts, &|msg| match &pb {
                Some(pb) => pb.set_message(format!("wrote {msg}")),
                None => tracing::info!("wrote {msg}"),
            })?;
            if let Some(pb) = pb {
                pb.finish_and_clear();
            }
            let rows: u64 = manifest.files.iter().map(|f| f.rows).sum();
            let invalid: usize = manifest.files.iter().map(|f| f.invalid.len()).sum();
            println!(
                "wrote {} files, {} rows ({} invalid on purpose), {} schools in {} areas, to {}",
                manifest.files.len(),
                rows,
                invalid,
                manifest.schools,
                manifest.areas,
                out.display()
            );
        }
        Command::Ingest { from, json } => {
            let reports = match from {
                Some(from) => vec![run_ingest(&cfg, &khlang_ingest::Source::parse(&from)?).await?],
                None => run_sources(&cfg).await?,
            };
            for report in &reports {
                if json {
                    println!("{}", serde_json::to_string_pretty(report)?);
                } else {
                    print_report(report);
                }
            }
        }
        Command::Serve { .. } => {
            let addr: SocketAddr = cfg.http.parse().with_context(|| format!("http address '{}' is not host:port", cfg.http))?;
            let sched = schedule::Schedule::parse(&cfg.schedule, &cfg.timezone)?;
            if cfg.sources.is_empty() {
                tracing::warn!("no [[sources]] in the config file: the schedule has nothing to load");
            }
            let nightly = {
                let cfg = cfg.clone();
                async move {
                    loop {
                        let next = sched.next_after(chrono::Utc::now())?;
                        tracing::info!(at = sched.local(next).as_str(), schedule = sched.text(), "next load");
                        let wait = (next - chrono::Utc::now()).to_std().unwrap_or_default();
                        tokio::time::sleep(wait).await;
                        if cfg.sources.is_empty() {
                            continue;
                        }
                        match run_sources(&cfg).await {
                            Ok(reports) => tracing::info!(runs = reports.len(), "scheduled load finished"),
                            Err(e) => tracing::error!(error = %e, "scheduled load failed"),
                        }
                    }
                    #[allow(unreachable_code)]
                    Ok::<(), anyhow::Error>(())
                }
            };
            let q = Arc::new(QueryService::new(Warehouse::open(&cfg.warehouse)?));
            let server = khlang_dashboards::serve(q, addr, |local| {
                println!("Khlang: serving http://{local}/ ; loads run on the schedule {}", cfg.schedule);
            });
            tokio::select! {
                r = server => r?,
                r = nightly => r?,
                _ = tokio::signal::ctrl_c() => eprintln!("stopping"),
            }
        }
        Command::Sql { format, as_of, sql } => print_sql(&cfg, &sql, format, as_of.as_deref()).await?,
        Command::History { limit } => {
            let wh = Warehouse::open(&cfg.warehouse)?;
            let commits = wh.commits().await?;
            println!("{:>6}  {:<25}  {:<28}  tables", "commit", "published (Thai time)", "run");
            for c in commits.iter().rev().take(limit) {
                let local = (c.at + chrono::Duration::hours(7)).format("%Y-%m-%d %H:%M:%S +07");
                let tables: Vec<String> = c.tables.iter().map(|(t, v)| format!("{t} v{v}")).collect();
                println!("{:>6}  {:<25}  {:<28}  {}", c.seq, local.to_string(), c.run_id, tables.join(", "));
            }
        }
        Command::Runs { limit, format } => {
            let sql = format!(
                "WITH r AS (SELECT run_id, min(started_at) AS s, max(finished_at) AS f, min(source) AS source, count(*) AS feeds, \
                   sum(rows_read) AS rows_read, sum(rows_loaded) AS rows_loaded, sum(rows_rejected) AS rows_rejected, \
                   string_agg(feed || ' v' || CAST(table_version AS VARCHAR), ' ' ORDER BY feed) AS table_versions, \
                   CASE WHEN bool_and(status = 'ok') THEN 'ok' ELSE 'failed' END AS status, \
                   string_agg(CASE WHEN status <> 'ok' THEN feed || ': ' || message END, '; ') AS message \
                   FROM ingest_runs GROUP BY run_id) \
                 SELECT run_id, CAST(s AS VARCHAR) AS started_at, CAST(f AS VARCHAR) AS finished_at, source, feeds, rows_read, \
                   rows_loaded, rows_rejected, table_versions, status, message FROM r ORDER BY s DESC LIMIT {limit}"
            );
            print_sql(&cfg, &sql, format, None).await?;
        }
        Command::Quality { snapshot, area, school, format, out } => {
            use khlang_dashboards::quality::{self, Scope};
            let scope = match (area, school) {
                (Some(a), _) => Scope::Area(a),
                (None, Some(s)) => Scope::School(s),
                (None, None) => Scope::All,
            };
            let q = QueryService::new(Warehouse::open(&cfg.warehouse)?);
            let report = quality::build(&q, &snapshot, scope).await?;
            let bytes = match format {
                ReportFormat::Html => report.html().into_bytes(),
                ReportFormat::Csv => report.csv()?,
                ReportFormat::Xlsx => report.xlsx()?,
            };
            match out {
                Some(path) => {
                    std::fs::write(&path, &bytes).with_context(|| format!("cannot write the report to {}", path.display()))?;
                    eprintln!("wrote {} ({} schools, {} rows to fix)", path.display(), report.submissions.len(), report.all_issues().len());
                }
                None => {
                    use std::io::Write as _;
                    if matches!(format, ReportFormat::Xlsx) && std::io::stdout().is_terminal() {
                        anyhow::bail!("an XLSX report is binary: give --out FILE or redirect standard output");
                    }
                    std::io::stdout().write_all(&bytes)?;
                }
            }
        }
        Command::Demo { .. } => {
            let addr: SocketAddr = cfg.http.parse().with_context(|| format!("http address '{}' is not host:port", cfg.http))?;
            let dir = tempfile::Builder::new().prefix("khlang-demo-").tempdir()?;
            let pull = dir.path().join("pull");
            eprintln!("generating an area-scale pull in {} ...", pull.display());
            let opts = GenerateOptions { scale: Scale::Area, seed: 2569, out: pull.clone(), style: Style::Mixed, threads: 2 };
            generate::generate(&opts, &|_| {})?;
            let demo_cfg = Config {
                warehouse: dir.path().join("warehouse").display().to_string(),
                secret_file: dir.path().join("secret.key"),
                ..cfg.clone()
            };
            eprintln!("loading it into {} ...", demo_cfg.warehouse);
            let report = run_ingest(&demo_cfg, &khlang_ingest::Source::Folder(pull.clone())).await?;
            print_report(&report);
            let q = Arc::new(QueryService::new(Warehouse::open(&demo_cfg.warehouse)?));
            let server = khlang_dashboards::serve(q, addr, |local| {
                println!("Khlang demo: open http://{local}/ (Ctrl-C to stop)");
            });
            tokio::select! {
                r = server => r?,
                _ = tokio::signal::ctrl_c() => eprintln!("stopping"),
            }
        }
        Command::Config { what: ConfigCmd::Show } => {
            println!("{}", toml::to_string_pretty(&cfg)?);
        }
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
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


//! `khlang`: the command line. A thin shell over the library crates.

mod calendar;
mod config;
mod publish;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use config::{Config, FileConfig};
use khlang_ingest::generate::{self, GenerateOptions, Scale, Style};
use khlang_ingest::schedule;
use khlang_query::{Format, QueryService};
use khlang_warehouse::{Secret, secret};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser, Debug)]
#[command(name = "khlang", version, about = "Khlang (คลังข้อมูล): the education data warehouse of a Thai Educational Service Area Office")]
struct Cli {
    /// Configuration file (default: ./khlang.toml when present).
    #[arg(long, global = true, env = "KHLANG_CONFIG")]
    config: Option<PathBuf>,
    /// Warehouse location: a directory, a file:// URL or s3://BUCKET/PREFIX.
    #[arg(long, global = true, env = "KHLANG_WAREHOUSE")]
    warehouse: Option<String>,
    /// File holding the installation secret for keyed hashes of citizen IDs (created on first use).
    #[arg(long, global = true, env = "KHLANG_SECRET_FILE")]
    secret_file: Option<PathBuf>,
    /// Run analysts' SQL (serve's wire protocol and SQL API, `sql`) on a Ballista cluster: its
    /// scheduler as df://HOST:PORT (setting cluster).
    #[arg(long, global = true, env = "KHLANG_CLUSTER")]
    cluster: Option<String>,
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
enum FileFormatArg {
    Pdf,
    Xlsx,
    Html,
}

impl From<FileFormatArg> for khlang_dashboards::batch::FileFormat {
    fn from(f: FileFormatArg) -> Self {
        use khlang_dashboards::batch::FileFormat;
        match f {
            FileFormatArg::Pdf => FileFormat::Pdf,
            FileFormatArg::Xlsx => FileFormat::Xlsx,
            FileFormatArg::Html => FileFormat::Html,
        }
    }
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
    /// Lay the tables out for their scans: every partition not written as loads write now (rows by
    /// area, school and grade, in row groups that statistics prune; few files) is rewritten so,
    /// published as one warehouse commit (same rows; earlier states stay readable with --as-of).
    /// Safe to kill: the next writer rolls it back.
    Optimize {
        /// Print the report as JSON.
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
    /// Write four-domain information reports (ข้อมูลสารสนเทศ 4 ด้าน) as files: one area, some schools,
    /// or every area in one batch, all from the same published data version.
    Report {
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
        /// Formats, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "pdf,xlsx")]
        format: Vec<FileFormatArg>,
        /// Folder to write the files to.
        #[arg(long)]
        out: PathBuf,
    },
    /// Serve the web app and the HTTP SQL API (--http, default 127.0.0.1:8080) and the PostgreSQL
    /// wire protocol (--pg, default 127.0.0.1:5433), and run the nightly load of the config file's
    /// sources on its schedule.
    Serve {
        #[arg(long, env = "KHLANG_HTTP")]
        http: Option<String>,
        #[arg(long, env = "KHLANG_PG")]
        pg: Option<String>,
        /// TLS certificate chain (PEM) for the wire protocol and HTTPS (setting tls_cert).
        #[arg(long, env = "KHLANG_TLS_CERT")]
        tls_cert: Option<PathBuf>,
        /// The certificate's private key (PEM) (setting tls_key).
        #[arg(long, env = "KHLANG_TLS_KEY")]
        tls_key: Option<PathBuf>,
    },
    /// Generate an area, load it and serve it (web, SQL API, wire protocol) until stopped.
    Demo {
        #[arg(long, env = "KHLANG_HTTP")]
        http: Option<String>,
        #[arg(long, env = "KHLANG_PG")]
        pg: Option<String>,
    },
    /// Users of the SQL service and the web app.
    User {
        #[command(subcommand)]
        what: UserCmd,
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
    UsageReport {
        /// Fiscal year in Buddhist Era (e.g. 2570: 1 October 2026 to 30 September 2027); this year when absent.
        #[arg(long)]
        fiscal_year: Option<String>,
        /// Formats, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "pdf,xlsx")]
        format: Vec<FileFormatArg>,
        /// Folder to write the files to.
        #[arg(long)]
        out: PathBuf,
    },
    /// Show configuration.
    Config {
        #[command(subcommand)]
        what: ConfigCmd,
    },
    /// TLS certificates.
    Tls {
        #[command(subcommand)]
        what: TlsCmd,
    },
    /// A Ballista cluster for analysts' SQL at national scale: one `cluster scheduler`, then a
    /// `cluster executor` per node; `serve --cluster df://SCHEDULER` sends queries to it.
    Cluster {
        #[command(subcommand)]
        what: ClusterCmd,
    },
}

#[derive(Subcommand, Debug)]
enum ClusterCmd {
    /// The scheduler: takes queries from `serve --cluster` and `sql --cluster`, cuts them into
    /// stages and hands the stages to executors (give it the warehouse and [storage] settings: it
    /// resolves the files a query names, but reads no data).
    Scheduler {
        /// Address to listen on (HOST:PORT).
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: SocketAddr,
        /// The host executors and clients reach the scheduler by (needed when binding 0.0.0.0).
        #[arg(long)]
        external_host: Option<String>,
        /// An executor silent this long (seconds) is taken as lost and its tasks run elsewhere.
        #[arg(long, default_value_t = 30)]
        executor_timeout_seconds: u64,
    },
    /// An executor: runs query stages, reading the table files from the warehouse itself (give it
    /// the same warehouse and [storage] settings as `serve`).
    Executor {
        /// The scheduler (HOST:PORT).
        #[arg(long)]
        scheduler: String,
        /// Address for results and shuffle data (Arrow Flight); the executor's gRPC service takes
        /// the next port.
        #[arg(long, default_value = "127.0.0.1:50051")]
        bind: SocketAddr,
        /// The host the scheduler and clients reach this executor by (needed when binding 0.0.0.0).
        #[arg(long)]
        external_host: Option<String>,
        /// Folder for shuffle files and spills (default: a folder under the system's temporary one).
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Tasks run at once (default: the number of cores).
        #[arg(long)]
        vcores: Option<usize>,
    },
}

#[derive(Subcommand, Debug)]
enum TlsCmd {
    /// Write a self-signed certificate and key (server.crt, server.key) for a first install; point
    /// tls_cert and tls_key at them, and give clients server.crt to trust (sslrootcert).
    SelfSigned {
        /// Folder to write server.crt and server.key to.
        #[arg(long)]
        out: PathBuf,
        /// Names and addresses the certificate is for (default: localhost, 127.0.0.1 and ::1).
        #[arg(long = "host")]
        hosts: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum UserCmd {
    /// Add a user, or replace one of the same name. The password is read from standard input.
    Add {
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The area (8-digit code) of a director, or of an analyst limited to one area.
        #[arg(long)]
        area: Option<String>,
        /// The school (10-digit code) of a school user.
        #[arg(long)]
        school: Option<String>,
    },
    /// List the users: name, role, area, school.
    List,
    /// Remove a user.
    Remove { name: String },
    /// Set the last day a user may sign in (YYYY-MM-DD, Thai time), or `none` for no end.
    Expires { name: String, last_day: String },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum RoleArg {
    Admin,
    Analyst,
    Director,
    School,
}

#[derive(Subcommand, Debug)]
enum ConfigCmd {
    /// Print the effective settings.
    Show,
}

fn resolve(cli: &Cli, http: Option<&String>, pg: Option<&String>) -> anyhow::Result<Config> {
    let (tls_cert_flag, tls_key_flag) = match &cli.command {
        Command::Serve { tls_cert, tls_key, .. } => (tls_cert.clone(), tls_key.clone()),
        _ => (env("KHLANG_TLS_CERT").map(PathBuf::from), env("KHLANG_TLS_KEY").map(PathBuf::from)),
    };
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
        pg: pg.cloned().or(file.pg).unwrap_or_else(|| config::DEFAULT_PG.into()),
        query_memory_mb: number("KHLANG_QUERY_MEMORY_MB", file.query_memory_mb, 2048)?,
        query_timeout_seconds: number("KHLANG_QUERY_TIMEOUT_SECONDS", file.query_timeout_seconds, 300)?,
        max_concurrent_queries: number("KHLANG_MAX_CONCURRENT_QUERIES", file.max_concurrent_queries, 4)?,
        audit_retention_days: {
            let days = number("KHLANG_AUDIT_RETENTION_DAYS", file.audit_retention_days, khlang_query::audit::MIN_RETENTION_DAYS)?;
            if days < khlang_query::audit::MIN_RETENTION_DAYS {
                anyhow::bail!(
                    "setting audit_retention_days = {days} is below the legal minimum of {} days (Computer Crime Act); it can only be raised",
                    khlang_query::audit::MIN_RETENTION_DAYS
                );
            }
            days
        },
        tls_cert: tls_cert_flag.or(file.tls_cert),
        tls_key: tls_key_flag.or(file.tls_key),
        tls_required: match env("KHLANG_TLS_REQUIRED") {
            Some(v) => match v.as_str() {
                "true" | "1" | "on" | "yes" => true,
                "false" | "0" | "off" | "no" => false,
                _ => anyhow::bail!("KHLANG_TLS_REQUIRED '{v}' is not true or false"),
            },
            None => file.tls_required.unwrap_or(false),
        },
        wire_auth: {
            let v = env("KHLANG_WIRE_AUTH").or(file.wire_auth).unwrap_or_else(|| khlang_query::wire::WireAuth::default().as_str().into());
            if khlang_query::wire::WireAuth::parse(&v).is_none() {
                anyhow::bail!("setting wire_auth = '{v}' is not scram-sha-256 or password");
            }
            v
        },
        storage: file.storage,
        cluster: cli.cluster.clone().or(file.cluster),
        sources: file.sources,
    })
}

/// A whole-number setting: `KHLANG_*` variable, else the file's value, else the default. Zero is
/// refused: every such setting is a size or a count.
fn number<T: std::str::FromStr + Copy + PartialEq + Default + std::fmt::Display>(var: &str, file: Option<T>, default: T) -> anyhow::Result<T> {
    let v = match env(var) {
        Some(v) => v.parse().map_err(|_| anyhow::anyhow!("{var} '{v}' is not a whole number"))?,
        None => file.unwrap_or(default),
    };
    if v == T::default() {
        let key = var.trim_start_matches("KHLANG_").to_lowercase();
        anyhow::bail!("setting {key} must be above 0");
    }
    Ok(v)
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
    let wh = cfg.open_warehouse().await?;
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

/// A long job's progress: a bar on a terminal, log lines elsewhere.
struct Progress {
    job: &'static str,
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
}

impl Progress {
    fn new(job: &'static str) -> Progress {
        Progress { job, bar: std::sync::Mutex::new(None) }
    }

    fn report(&self, msg: &str, done: u64, total: u64) {
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

    fn finish(&self) {
        if let Ok(g) = self.bar.lock()
            && let Some(bar) = g.as_ref() {
                bar.finish_and_clear();
            }
    }
}

async fn run_ingest(cfg: &Config, from: &khlang_ingest::Source) -> anyhow::Result<khlang_ingest::IngestReport> {
    let wh = cfg.open_warehouse().await?;
    let secret = Secret::load_or_create(&cfg.secret_file)?;
    let progress = Progress::new("ingest");
    let report = khlang_ingest::ingest(&wh, &secret, from, &|m: &str, d, t| progress.report(m, d, t)).await;
    progress.finish();
    Ok(report?)
}

/// `khlang optimize`: lays the tables out for their scans, as one published commit.
async fn run_optimize(cfg: &Config) -> anyhow::Result<khlang_warehouse::optimize::OptimizeReport> {
    let wh = cfg.open_warehouse().await?;
    let lock = wh.lock_writer().await?;
    let run_id = format!("{}{}", khlang_warehouse::optimize::RUN_PREFIX, chrono::Utc::now().format("%Y%m%dT%H%M%SZ"));
    let progress = Progress::new("optimize");
    let report = wh.optimize(&lock, &run_id, &|m: &str, d, t| progress.report(m, d, t)).await;
    progress.finish();
    lock.release().await;
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

async fn print_sql(cfg: &Config, sql: &str, format: FormatArg, as_of: Option<&str>) -> anyhow::Result<()> {
    let q = QueryService::new(cfg.open_warehouse().await?).with_cluster(cfg.cluster()?);
    let ctx = match as_of {
        Some(t) => {
            let t = khlang_query::parse_time(t).ok_or_else(|| anyhow::anyhow!("--as-of '{t}' is not a time like 2026-06-10T17:00:00+07:00 or 2026-06-10 17:00 (Thai time)"))?;
            q.session_as_of(t).await?
        }
        None => q.session().await?,
    };
    let batches = q.for_analysts(ctx).sql(sql).await?.collect().await?;
    let f = match format {
        FormatArg::Table => Format::Table,
        FormatArg::Csv => Format::Csv,
        FormatArg::Json => Format::Json,
    };
    println!("{}", khlang_query::format(&batches, f)?.trim_end());
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let (http_flag, pg_flag) = match &cli.command {
        Command::Demo { http, pg } | Command::Serve { http, pg, .. } => (http.clone(), pg.clone()),
        _ => (env("KHLANG_HTTP"), env("KHLANG_PG")),
    };
    let cfg = resolve(&cli, http_flag.as_ref(), pg_flag.as_ref())?;
    khlang_warehouse::office::set_time_zone(&cfg.timezone).map_err(|e| anyhow::anyhow!(e))?;
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
        Command::Optimize { json } => {
            let report = run_optimize(&cfg).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{:<24} {:>10} {:>12} {:>11} {:>8}", "table", "rows", "files before", "files after", "version");
                for t in &report.tables {
                    let version = t.version.map_or_else(|| "unchanged".to_string(), |v| v.to_string());
                    println!("{:<24} {:>10} {:>12} {:>11} {:>8}", t.table, t.rows, t.files_before, t.files_after, version);
                }
                match report.commit {
                    Some(seq) => println!("published as warehouse commit {seq} ({})", report.run_id),
                    None => println!("every table was already laid out; nothing published"),
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
            let svc = sql_service(&cfg).await?;
            if svc.users.list().await?.is_empty() {
                tracing::warn!("there are no users yet, so nobody can sign in: add one with `khlang user add NAME --role admin` (password on standard input)");
            }
            let tls = tls_of(&cfg)?;
            let sql_server = serve_sql(&cfg, svc.clone(), tls.clone()).await?;
            let scheme = if tls.is_some() { "https" } else { "http" };
            let server = khlang_dashboards::serve(svc.clone(), addr, tls.as_ref(), |local| {
                println!("Khlang: serving {scheme}://{local}/ and PostgreSQL on {} ; loads run on the schedule {}", cfg.pg, cfg.schedule);
            });
            tokio::select! {
                r = server => r?,
                r = nightly => r?,
                r = sql_server => r??,
                _ = stop_signal() => eprintln!("stopping"),
            }
            svc.audit.flush().await;
        }
        Command::Sql { format, as_of, sql } => print_sql(&cfg, &sql, format, as_of.as_deref()).await?,
        Command::History { limit } => {
            let wh = cfg.open_warehouse().await?;
            let commits = wh.commits().await?;
            println!("{:>6}  {:<25}  {:<28}  tables", "commit", "published (Thai time)", "run");
            for c in commits.iter().rev().take(limit) {
                let local = khlang_warehouse::office::local_stamp(c.at);
                let tables: Vec<String> = c.tables.iter().map(|(t, v)| format!("{t} v{v}")).collect();
                println!("{:>6}  {:<25}  {:<28}  {}", c.seq, local, c.run_id, tables.join(", "));
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
            let q = QueryService::new(cfg.open_warehouse().await?);
            let report = quality::build(&q, &khlang_query::Principal::local_admin(), &snapshot, scope).await?;
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
        Command::Report { area, school, all_areas, snapshot, fiscal_year, format, out } => {
            use khlang_dashboards::batch::{self, FileFormat};
            use khlang_dashboards::report::{Params, Subject};
            let q = QueryService::new(cfg.open_warehouse().await?);
            let params = Params::parse(snapshot.as_deref(), fiscal_year.as_deref())?;
            let mut subjects = Vec::new();
            let areas = if all_areas { batch::all_areas(&q).await? } else { area };
            for a in areas {
                subjects.push(Subject::parse("area", &a)?);
            }
            for s in school {
                subjects.push(Subject::parse("school", &s)?);
            }
            if subjects.is_empty() {
                anyhow::bail!("no report asked for: give --area CODE, --school CODE or --all-areas");
            }
            let formats: Vec<FileFormat> = format.into_iter().map(FileFormat::from).collect();
            let started = std::time::Instant::now();
            let bar = progress_bar(subjects.len() as u64);
            let done = |s: &Subject| {
                match &bar {
                    Some(b) => {
                        b.inc(1);
                        b.set_message(s.code().to_string());
                    }
                    None => tracing::info!(subject = s.code(), "report done"),
                }
            };
            let files = batch::write(&q, &subjects, &params, &formats, &out, &done).await?;
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            eprintln!("wrote {} files for {} reports to {} in {:.1} s", files.len(), subjects.len(), out.display(), started.elapsed().as_secs_f64());
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
            let svc = sql_service(&demo_cfg).await?;
            let password = "khlang-demo";
            svc.users.add("demo", khlang_query::Role::Admin, None, None, password).await?;
            // The demo's admin approves the load for the public at once, so /public has figures.
            let demo_admin = khlang_query::Principal { user: "demo".into(), role: khlang_query::Role::Admin, scope: khlang_query::Scope::National };
            let reason = Some("demo: approved at start so the open-data page has figures".to_string());
            svc.decide(&demo_admin, khlang_query::approvals::Decision::Approved, khlang_query::approvals::Proposal { reason, ..Default::default() }, "demo").await?;
            let sql_server = serve_sql(&demo_cfg, svc.clone(), None).await?;
            let pg = demo_cfg.pg.clone();
            let area = svc.q.sql("SELECT min(area_code) FROM areas").await.ok().as_deref().and_then(khlang_query::scalar_string).unwrap_or_default();
            let server = khlang_dashboards::serve(svc.clone(), addr, None, |local| {
                println!("Khlang demo: open http://{local}/login?next=/area/{area} for the area overview (Ctrl-C to stop)");
                println!("  sign in as demo / {password} (admin); SQL: psql -h {} -p {} -U demo khlang", pg.split(':').next().unwrap_or("127.0.0.1"), pg.rsplit(':').next().unwrap_or("5433"));
            });
            tokio::select! {
                r = server => r?,
                r = sql_server => r??,
                _ = stop_signal() => eprintln!("stopping"),
            }
            svc.audit.flush().await;
        }
        Command::User { what } => {
            let users = khlang_query::users::Users::new(cfg.open_warehouse().await?);
            match what {
                UserCmd::Add { name, role, area, school } => {
                    let role = match role {
                        RoleArg::Admin => khlang_query::Role::Admin,
                        RoleArg::Analyst => khlang_query::Role::Analyst,
                        RoleArg::Director => khlang_query::Role::Director,
                        RoleArg::School => khlang_query::Role::School,
                    };
                    let password = read_password(&name)?;
                    let u = users.add(&name, role, area.as_deref(), school.as_deref(), &password).await?;
                    println!("user {} saved: {}{}", u.name, u.role, scope_text(&u));
                }
                UserCmd::List => {
                    println!("{:<20} {:<9} {:<9} {:<11} created", "name", "role", "area", "school");
                    for u in users.list().await? {
                        let created = khlang_warehouse::office::local(u.created_at).format("%Y-%m-%d %H:%M");
                        println!("{:<20} {:<9} {:<9} {:<11} {created}", u.name, u.role.as_str(), u.area.as_deref().unwrap_or("-"), u.school.as_deref().unwrap_or("-"));
                    }
                }
                UserCmd::Expires { name, last_day } => {
                    let day = match last_day.as_str() {
                        "none" => None,
                        d => Some(chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| anyhow::anyhow!("'{d}' is not a date like 2026-09-30, or none"))?),
                    };
                    users.set_expiry(&name, day).await?;
                    println!("user {name}: {}", day.map_or_else(|| "no end date".to_string(), |d| format!("may sign in until the end of {d}")));
                }
                UserCmd::Remove { name } => {
                    if !users.remove(&name).await? {
                        anyhow::bail!("there is no user named {name}");
                    }
                    println!("user {name} removed");
                }
            }
        }
        Command::UsageReport { fiscal_year, format, out } => {
            use khlang_dashboards::usage::{self, FiscalYear};
            let today = khlang_query::office::today();
            let fy = match fiscal_year {
                Some(y) => FiscalYear::parse(&y)?,
                None => FiscalYear::of(today),
            };
            let svc = sql_service(&cfg).await?;
            let who = khlang_query::Principal::local_admin();
            let formats: Vec<khlang_dashboards::batch::FileFormat> = format.into_iter().map(Into::into).collect();
            let exts: Vec<&str> = formats.iter().map(|f| f.ext()).collect();
            svc.audit.record(khlang_query::audit::Event::new(&who, khlang_query::audit::Action::Report, format!("usage {} {}", fy.year, exts.join(",")), "cli"));
            svc.audit.flush().await;
            let doc = usage::build(&svc.q, fy, today).await?;
            std::fs::create_dir_all(&out).with_context(|| format!("cannot create the folder {}", out.display()))?;
            for f in formats {
                let path = out.join(format!("usage_report_{}.{}", fy.year, f.ext()));
                std::fs::write(&path, doc.render(f)?).with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
        Command::Calendar { what } => calendar::run(&QueryService::new(cfg.open_warehouse().await?), what).await?,
        Command::Publish { what } => publish::run(&sql_service(&cfg).await?, what).await?,
        Command::Tls { what: TlsCmd::SelfSigned { out, hosts } } => {
            let hosts = if hosts.is_empty() { vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()] } else { hosts };
            let (crt, key) = khlang_query::tls::self_signed(&hosts, &out)?;
            println!("wrote {} and {} (for {}); set tls_cert and tls_key to them, and give clients {} to trust", crt.display(), key.display(), hosts.join(", "), crt.display());
        }
        Command::Config { what: ConfigCmd::Show } => {
            println!("{}", toml::to_string_pretty(&cfg)?);
        }
        Command::Cluster { what: ClusterCmd::Scheduler { bind, external_host, executor_timeout_seconds } } => {
            let opts = khlang_query::cluster::SchedulerOptions { bind, external_host, executor_timeout: std::time::Duration::from_secs(executor_timeout_seconds) };
            let wh = khlang_warehouse::Warehouse::open_with(&cfg.warehouse, &cfg.storage)?;
            println!("Khlang cluster scheduler on {bind}");
            tokio::select! {
                r = khlang_query::cluster::run_scheduler(&wh, opts) => r?,
                _ = stop_signal() => eprintln!("stopping"),
            }
        }
        Command::Cluster { what: ClusterCmd::Executor { scheduler, bind, external_host, work_dir, vcores } } => {
            // Executors only read: the store's conditional writes are checked by the commands that write.
            let wh = khlang_warehouse::Warehouse::open_with(&cfg.warehouse, &cfg.storage)?;
            let opts = khlang_query::cluster::ExecutorOptions {
                scheduler,
                bind,
                external_host,
                work_dir: work_dir.unwrap_or_else(|| std::env::temp_dir().join(format!("khlang-executor-{}", bind.port()))),
                vcores: vcores.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)),
                task_memory_bytes: cfg.query_memory_mb.saturating_mul(1 << 20),
                heartbeat: std::time::Duration::from_secs(5),
            };
            println!("Khlang cluster executor on {bind} for the warehouse {}", wh.location());
            tokio::select! {
                r = khlang_query::cluster::run_executor(&wh, opts) => r?,
                _ = stop_signal() => eprintln!("stopping"),
            }
        }
    }
    Ok(())
}

/// Ctrl-C or SIGTERM (systemd's stop): the server then writes the queued audit records and ends.
async fn stop_signal() {
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

fn scope_text(u: &khlang_query::users::User) -> String {
    match (&u.area, &u.school) {
        (_, Some(s)) => format!(", school {s}"),
        (Some(a), None) => format!(", area {a}"),
        (None, None) => ", national".into(),
    }
}

/// The new user's password: one line of standard input (typed at a prompt, or piped).
fn read_password(name: &str) -> anyhow::Result<String> {
    use std::io::BufRead as _;
    if std::io::stdin().is_terminal() {
        eprint!("password for {name}: ");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        anyhow::bail!("no password on standard input: pipe or type one line (at least 8 characters)");
    }
    Ok(password)
}

/// The SQL service of a warehouse, with the configured limits and the audit writer started.
async fn sql_service(cfg: &Config) -> anyhow::Result<khlang_query::SqlService> {
    let wh = cfg.open_warehouse().await?;
    let limits = khlang_query::Limits {
        memory_bytes: usize::try_from(cfg.query_memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
        timeout: std::time::Duration::from_secs(cfg.query_timeout_seconds),
        max_concurrent: cfg.max_concurrent_queries,
        queue_wait: std::time::Duration::from_secs(cfg.query_timeout_seconds.min(30)),
    };
    let audit = khlang_query::audit::Audit::start(wh.clone(), std::time::Duration::from_secs(2), cfg.audit_retention_days);
    Ok(khlang_query::SqlService::new(QueryService::with_limits(wh, limits).with_cluster(cfg.cluster()?), audit))
}

/// The server's TLS certificate and key, when configured (read now, so a bad file fails at start).
fn tls_of(cfg: &Config) -> anyhow::Result<Option<khlang_query::tls::Tls>> {
    Ok(khlang_query::tls::Tls::from_settings(cfg.tls_cert.as_deref(), cfg.tls_key.as_deref(), cfg.tls_required)?)
}

/// Binds the wire-protocol port now (so a taken port fails at start) and returns the server.
async fn serve_sql(cfg: &Config, svc: khlang_query::SqlService, tls: Option<khlang_query::tls::Tls>) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let addr: SocketAddr = cfg.pg.parse().with_context(|| format!("pg address '{}' is not host:port", cfg.pg))?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen for PostgreSQL clients on {addr}"))?;
    tracing::info!(%addr, tls = tls.is_some(), auth = cfg.wire_auth.as_str(), "PostgreSQL wire protocol listening");
    let options = khlang_query::wire::WireOptions {
        tls,
        tls_required: cfg.tls_required,
        auth: khlang_query::wire::WireAuth::parse(&cfg.wire_auth).unwrap_or_default(),
        time_zone: cfg.timezone.clone(),
    };
    Ok(tokio::spawn(khlang_query::wire::serve(listener, svc, options)))
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


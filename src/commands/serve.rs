//! `khlang serve` and `khlang demo`: the web app, the HTTP SQL API and the PostgreSQL wire
//! protocol, started the same way; `serve` also runs the nightly load on its schedule.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context as _;
use khlang_ingest::generate::{self, GenerateOptions, Scale, Style};
use khlang_ingest::{Source, schedule};
use khlang_query::approvals::{Decision, Proposal};
use khlang_query::tls::Tls;
use khlang_query::{Principal, Role, Scope, SqlService};

use crate::config::Config;

pub async fn serve(cfg: &Config) -> anyhow::Result<()> {
    let sched = schedule::Schedule::parse(&cfg.schedule, &cfg.timezone)?;
    if cfg.sources.is_empty() {
        tracing::warn!("no [[sources]] in the config file: the schedule has nothing to load");
    }
    let svc = super::sql_service(cfg).await?;
    if svc.users.list().await?.is_empty() {
        tracing::warn!("there are no users yet, so nobody can sign in: add one with `khlang user add NAME --role admin` (password on standard input)");
    }
    let tls = Tls::from_settings(cfg.tls_cert.as_deref(), cfg.tls_key.as_deref(), cfg.tls_required)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let banner = |local: SocketAddr| println!("Khlang: serving {scheme}://{local}/ and PostgreSQL on {} ; loads run on the schedule {}", cfg.pg, cfg.schedule);
    start(cfg, svc, tls, nightly(cfg.clone(), sched), banner).await
}

/// Generates an area, loads it into a temporary warehouse, adds the `demo` admin, approves the
/// load for the public and serves it.
pub async fn demo(cfg: &Config) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("khlang-demo-").tempdir()?;
    let pull = dir.path().join("pull");
    eprintln!("generating an area-scale pull in {} ...", pull.display());
    let opts = GenerateOptions { scale: Scale::Area, seed: 2569, out: pull.clone(), style: Style::Mixed, threads: 2 };
    generate::generate(&opts, &|_| {})?;
    let cfg = Config { warehouse: dir.path().join("warehouse").display().to_string(), secret_file: dir.path().join("secret.key"), ..cfg.clone() };
    eprintln!("loading it into {} ...", cfg.warehouse);
    let report = super::ingest::one(&cfg, &Source::Folder(pull)).await?;
    super::ingest::print(&report);
    let svc = super::sql_service(&cfg).await?;
    let password = "khlang-demo";
    svc.users.add("demo", Role::Admin, None, None, password).await?;
    // The demo's admin approves the load for the public at once, so /public has figures.
    let demo_admin = Principal { user: "demo".into(), role: Role::Admin, scope: Scope::National };
    let reason = Some("demo: approved at start so the open-data page has figures".to_string());
    svc.decide(&demo_admin, Decision::Approved, Proposal { reason, ..Default::default() }, "demo").await?;
    let area = svc.q.sql("SELECT min(area_code) FROM areas").await.ok().as_deref().and_then(khlang_query::scalar_string).unwrap_or_default();
    let (pg_host, pg_port) = cfg.pg.rsplit_once(':').unwrap_or(("127.0.0.1", "5433"));
    let banner = |local: SocketAddr| {
        println!("Khlang demo: open http://{local}/login?next=/area/{area} for the area overview (Ctrl-C to stop)");
        println!("  sign in as demo / {password} (admin); SQL: psql -h {pg_host} -p {pg_port} -U demo khlang");
    };
    start(&cfg, svc, None, std::future::pending(), banner).await
}

/// The one start-up of both: binds the wire protocol's port and the web's (so a taken port fails
/// at once), runs until stopped or until a server or `background` fails, then writes the queued
/// audit records.
async fn start(cfg: &Config, svc: SqlService, tls: Option<Tls>, background: impl Future<Output = anyhow::Result<()>>, banner: impl FnOnce(SocketAddr)) -> anyhow::Result<()> {
    let http: SocketAddr = cfg.http.parse().with_context(|| format!("setting http = '{}' is not host:port", cfg.http))?;
    let pg: SocketAddr = cfg.pg.parse().with_context(|| format!("setting pg = '{}' is not host:port", cfg.pg))?;
    let listener = tokio::net::TcpListener::bind(pg).await.with_context(|| format!("cannot listen for PostgreSQL clients on {pg}"))?;
    tracing::info!(addr = %pg, tls = tls.is_some(), auth = cfg.wire_auth.as_str(), "PostgreSQL wire protocol listening");
    let options = khlang_query::transport::wire::WireOptions {
        tls: tls.clone(),
        tls_required: cfg.tls_required,
        auth: khlang_query::transport::wire::WireAuth::parse(&cfg.wire_auth).unwrap_or_default(),
        time_zone: cfg.timezone.clone(),
    };
    let sql_server = tokio::spawn(khlang_query::transport::wire::serve(listener, svc.clone(), options));
    let web = khlang_dashboards::serve(svc.clone(), http, tls.as_ref(), banner);
    let outcome = tokio::select! {
        r = web => r.map_err(anyhow::Error::from),
        r = background => r,
        r = sql_server => r.map_err(anyhow::Error::from).and_then(|r| r.map_err(anyhow::Error::from)),
        _ = super::stop_signal() => {
            eprintln!("stopping");
            Ok(())
        }
    };
    svc.audit.flush().await;
    outcome
}

/// The nightly load: every source of the configuration at each time of the schedule.
async fn nightly(cfg: Config, sched: schedule::Schedule) -> anyhow::Result<()> {
    loop {
        let next = sched.next_after(chrono::Utc::now())?;
        tracing::info!(at = sched.local(next).as_str(), schedule = sched.text(), "next load");
        let wait = (next - chrono::Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
        if cfg.sources.is_empty() {
            continue;
        }
        match super::ingest::sources(&cfg).await {
            Ok(reports) => tracing::info!(runs = reports.len(), "scheduled load finished"),
            Err(e) => tracing::error!(error = %e, "scheduled load failed"),
        }
    }
}

//! `khlang sql`, `history` and `runs`: the warehouse read from the command line, as the local operator.

use khlang_query::{Format, QueryService};

use crate::config::Config;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Time travel: the warehouse as published at this time, every table consistent with the
    /// others. RFC 3339 (`2026-06-10T17:00:00+07:00`) or `YYYY-MM-DD HH:MM[:SS]` in Thai time.
    #[arg(long)]
    as_of: Option<String>,
    sql: String,
}

#[derive(clap::Args, Debug)]
pub struct HistoryArgs {
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

#[derive(clap::Args, Debug)]
pub struct RunsArgs {
    #[arg(long, default_value_t = 20)]
    limit: usize,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub async fn run(cfg: &Config, args: Args) -> anyhow::Result<()> {
    print(cfg, &args.sql, args.format, args.as_of.as_deref()).await
}

pub async fn history(cfg: &Config, args: HistoryArgs) -> anyhow::Result<()> {
    let wh = cfg.open_warehouse().await?;
    let commits = wh.commits().await?;
    println!("{:>6}  {:<25}  {:<28}  tables", "commit", "published (Thai time)", "run");
    for c in commits.iter().rev().take(args.limit) {
        let local = khlang_warehouse::office::local_stamp(c.at);
        let tables: Vec<String> = c.tables.iter().map(|(t, v)| format!("{t} v{v}")).collect();
        println!("{:>6}  {:<25}  {:<28}  {}", c.seq, local, c.run_id, tables.join(", "));
    }
    Ok(())
}

/// One line per ingest run, newest first, from `ingest_runs` (one row per feed).
pub async fn runs(cfg: &Config, args: RunsArgs) -> anyhow::Result<()> {
    let sql = format!(
        "WITH r AS (SELECT run_id, min(started_at) AS s, max(finished_at) AS f, min(source) AS source, count(*) AS feeds, \
           sum(rows_read) AS rows_read, sum(rows_loaded) AS rows_loaded, sum(rows_rejected) AS rows_rejected, \
           string_agg(feed || ' v' || CAST(table_version AS VARCHAR), ' ' ORDER BY feed) AS table_versions, \
           CASE WHEN bool_and(status = 'ok') THEN 'ok' ELSE 'failed' END AS status, \
           string_agg(CASE WHEN status <> 'ok' THEN feed || ': ' || message END, '; ') AS message \
           FROM ingest_runs GROUP BY run_id) \
         SELECT run_id, CAST(s AS VARCHAR) AS started_at, CAST(f AS VARCHAR) AS finished_at, source, feeds, rows_read, \
           rows_loaded, rows_rejected, table_versions, status, message FROM r ORDER BY s DESC LIMIT {}",
        args.limit
    );
    print(cfg, &sql, args.format, None).await
}

async fn print(cfg: &Config, sql: &str, format: Format, as_of: Option<&str>) -> anyhow::Result<()> {
    let q = QueryService::new(cfg.open_warehouse().await?).with_cluster(cfg.cluster()?);
    let ctx = match as_of {
        Some(t) => {
            let t = khlang_query::parse_time(t).ok_or_else(|| anyhow::anyhow!("--as-of '{t}' is not a time like 2026-06-10T17:00:00+07:00 or 2026-06-10 17:00 (Thai time)"))?;
            q.session_as_of(t).await?
        }
        None => q.session().await?,
    };
    let batches = q.for_analysts(ctx).sql(sql).await?.collect().await?;
    println!("{}", khlang_query::format(&batches, format)?.trim_end());
    Ok(())
}

//! `khlang cluster`: a Ballista scheduler or executor for analysts' SQL at national scale.

use std::net::SocketAddr;
use std::path::PathBuf;

use khlang_query::cluster::{ExecutorOptions, SchedulerOptions, run_executor, run_scheduler};
use khlang_warehouse::Warehouse;

use crate::config::Config;

#[derive(clap::Subcommand, Debug)]
pub enum ClusterCmd {
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

pub async fn run(cfg: &Config, what: ClusterCmd) -> anyhow::Result<()> {
    // Cluster nodes only read: the store's conditional writes are checked by the commands that write.
    let wh = Warehouse::open_with(&cfg.warehouse, &cfg.storage)?;
    match what {
        ClusterCmd::Scheduler { bind, external_host, executor_timeout_seconds } => {
            let opts = SchedulerOptions { bind, external_host, executor_timeout: std::time::Duration::from_secs(executor_timeout_seconds) };
            println!("Khlang cluster scheduler on {bind}");
            tokio::select! {
                r = run_scheduler(&wh, opts) => r?,
                _ = super::stop_signal() => eprintln!("stopping"),
            }
        }
        ClusterCmd::Executor { scheduler, bind, external_host, work_dir, vcores } => {
            let opts = ExecutorOptions {
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
                r = run_executor(&wh, opts) => r?,
                _ = super::stop_signal() => eprintln!("stopping"),
            }
        }
    }
    Ok(())
}

//! `khlang generate`: a realistic synthetic ministry pull, for demos, tests and benchmarks.

use std::path::PathBuf;

use khlang_ingest::generate::{self, GenerateOptions, Scale, Style};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long, value_enum, default_value = "area")]
    scale: Scale,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long)]
    out: PathBuf,
    /// Encodings and header languages of the files.
    #[arg(long, value_enum, default_value = "mixed")]
    style: Style,
    /// Files written in parallel (default: the number of cores).
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Args { scale, seed, out, style, threads } = args;
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    let opts = GenerateOptions { scale, seed, out: out.clone(), style, threads };
    let pb = super::progress_bar(0);
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
    Ok(())
}

//! The nightly schedule: `khlang serve` loads the config file's sources when the schedule says;
//! `khlang ingest --config` loads them once; a failing pull is retried and ends with a clear status.

use super::common::*;

use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn serve_runs_the_scheduled_load_and_ingest_config_runs_it_once() {
    let env = Env::new();
    let pull = env.generate("pull", 61, "mixed");
    let config = env.path("khlang.toml");
    // Every three seconds (a six-field expression: seconds first), Bangkok time.
    std::fs::write(
        &config,
        format!(
            "warehouse = \"{}\"\nschedule = \"*/3 * * * * *\"\ntimezone = \"Asia/Bangkok\"\nretries = 0\n\n[[sources]]\nname = \"area\"\nfrom = \"{}\"\n",
            env.warehouse().display(),
            pull.display()
        ),
    )
    .unwrap();
    let mut serve = env
        .cmd()
        .env_remove("KHLANG_WAREHOUSE")
        .env("KHLANG_HTTP", "127.0.0.1:0")
        .env("KHLANG_LOG", "warn,khlang=info")
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(env.path("serve.log")).unwrap())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let mut loaded = false;
    while t0.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(500));
        if serve.try_wait().unwrap().is_some() {
            break;
        }
        let o = env.cmd().args(["sql", "--format", "csv", "SELECT count(DISTINCT run_id) FROM ingest_runs WHERE status = 'ok'"]).output().unwrap();
        if o.status.success() && String::from_utf8_lossy(&o.stdout).lines().nth(1).is_some_and(|n| n.trim() != "0") {
            loaded = true;
            break;
        }
    }
    let _ = serve.kill();
    let _ = serve.wait();
    let log = std::fs::read_to_string(env.path("serve.log")).unwrap();
    assert!(loaded, "serve did not run the scheduled load: {log}");
    assert!(log.contains("next load"), "{log}");
    assert!(log.contains("+07"), "the next run is shown in Bangkok time: {log}");

    // `ingest --config` runs the sources once.
    let before = env.count("SELECT count(DISTINCT run_id) FROM ingest_runs");
    let o = env.cmd().env_remove("KHLANG_WAREHOUSE").args(["ingest", "--config"]).arg(&config).output().unwrap();
    assert_ok(&o, "ingest --config");
    assert_eq!(env.count("SELECT count(DISTINCT run_id) FROM ingest_runs"), before + 1);
}

#[test]
fn a_failing_pull_is_retried_with_backoff_and_ends_failed() {
    let env = Env::new();
    let pull = env.generate("pull", 62, "mixed");
    assert_ok(&env.ingest(&pull), "first load");
    let config = env.path("khlang.toml");
    std::fs::write(
        &config,
        format!("retries = 2\nretry_backoff_seconds = 1\n\n[[sources]]\nname = \"dmc\"\nfrom = \"{}\"\n", env.path("not-exported-yet").display()),
    )
    .unwrap();
    let t0 = Instant::now();
    let o = env.cmd().args(["ingest", "--config"]).arg(&config).output().unwrap();
    let elapsed = t0.elapsed();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("source dmc failed after 3 tries") && errors[0].contains("not-exported-yet"), "{stderr}");
    // Backoff of 1 s then 2 s between the three tries.
    assert!(elapsed >= Duration::from_secs(3), "no backoff: {elapsed:?}");
    assert_eq!(env.count("SELECT count(DISTINCT run_id) FROM ingest_runs WHERE status = 'failed'"), 3);
    let runs = env.cmd().args(["runs", "--format", "csv", "--limit", "1"]).output().unwrap();
    let runs = String::from_utf8_lossy(&runs.stdout);
    assert!(runs.contains(",failed,") && runs.contains("not-exported-yet"), "{runs}");
}

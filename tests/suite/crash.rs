//! Crash safety: a load killed with SIGKILL at any point leaves every table readable at its previous
//! state; the next load rolls the dead one back and ends with exactly the right rows; a query during
//! a load sees one state, never a mix.

use super::common::*;
use super::s3::{BUCKET, S3};

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One query (one session, so one pinned state) over every table the load writes.
pub const STATE: &str = "SELECT (SELECT count(*) FROM areas) AS areas, (SELECT count(*) FROM schools) AS schools, \
    (SELECT count(*) FROM enrollments) AS enrollments, (SELECT count(DISTINCT student_key) FROM enrollments) AS students, \
    (SELECT count(*) FROM personnel) AS personnel, (SELECT count(*) FROM budget_lines) AS budget, \
    (SELECT sum(allocated_baht) FROM budget_lines) AS allocated, (SELECT count(*) FROM test_results) AS tests, \
    (SELECT count(*) FROM buildings) AS buildings, (SELECT count(*) FROM dltv_equipment) AS dltv, \
    (SELECT count(*) FROM school_snapshot_summary) AS summary_rows, (SELECT sum(students) FROM school_snapshot_summary) AS summary_students, \
    (SELECT count(*) FROM rejected_rows) AS rejected, (SELECT count(DISTINCT run_id) FROM ingest_runs WHERE status = 'ok') AS runs";

fn state(env: &Env, wh: &Path) -> String {
    env.sql_csv_in(wh, STATE)
}

fn ingest_with_fault(env: &Env, wh: &Path, from: &Path, step: &str) -> std::process::Output {
    env.cmd_for(wh).env("KHLANG_FAULT_AFTER", step).args(["ingest", "--from"]).arg(from).output().expect("run khlang ingest")
}

fn killed(o: &std::process::Output) -> bool {
    use std::os::unix::process::ExitStatusExt;
    o.status.signal() == Some(9)
}

/// Every run in the log is whole: eight feed rows, or one row of a failed run.
fn runs_are_whole(env: &Env, wh: &Path) {
    let partial = env.sql_csv_in(
        wh,
        "SELECT run_id, count(*) FROM ingest_runs GROUP BY run_id HAVING NOT (count(*) = 8 OR (count(*) = 1 AND min(status) = 'failed'))",
    );
    assert_eq!(partial.lines().count(), 1, "partial runs in the run log: {partial}");
    let dup = env.sql_csv_in(wh, "SELECT count(*) FROM (SELECT snapshot_date, student_key FROM enrollments GROUP BY 1, 2 HAVING count(*) > 1)");
    assert_eq!(dup.lines().nth(1), Some("0"), "duplicate enrollments: {dup}");
}

/// The reference: pulls A then B loaded into a warehouse of their own, nothing killed. Returns the
/// state after A, the state after B, and how long B's load took.
fn reference_states(env: &Env, a: &Path, b: &Path) -> (String, String, Duration) {
    let reference = env.path("reference");
    assert_ok(&env.ingest_into(a, &reference), "reference load of A");
    let s_a = state(env, &reference);
    let started = Instant::now();
    assert_ok(&env.ingest_into(b, &reference), "reference load of B");
    let full = started.elapsed();
    let s_ab = state(env, &reference);
    assert_ne!(s_a, s_ab, "the two pulls must differ for this test to mean anything");
    (s_a, s_ab, full)
}

#[test]
fn a_load_killed_after_any_step_leaves_the_previous_state_and_the_next_load_is_exact() {
    let env = Env::new();
    let wh = env.warehouse();
    killed_after_each_step(&env, &|| log_files(&wh));
}

#[test]
fn on_s3_a_load_killed_after_any_step_leaves_the_previous_state_and_the_next_load_is_exact() {
    let scratch = Env::new();
    let s3 = S3::start(&scratch.path("moto.log"));
    let env = Env::on_store(&format!("s3://{BUCKET}/wh"), s3.vars());
    killed_after_each_step(&env, &|| s3.log_files("wh"));
}

/// Kills a load after each of its steps, then checks the next load; `logs` lists the warehouse's
/// `_delta_log` files.
fn killed_after_each_step(env: &Env, logs: &dyn Fn() -> Vec<String>) {
    let a = env.generate("a", 11, "mixed");
    let b = env.generate("b", 12, "mixed");
    let (s_a, s_ab, _) = reference_states(env, &a, &b);

    let wh = env.warehouse();
    assert_ok(&env.ingest(&a), "load of A");
    assert_eq!(state(env, &wh), s_a);
    let steps = [
        "recovered",
        "read",
        "checked",
        "wrote:areas",
        "wrote:schools",
        "wrote:enrollments",
        "wrote:budget_lines",
        "wrote:dltv_equipment",
        "wrote:rejected_rows",
        "wrote:school_snapshot_summary",
        "wrote:enrollment_counts",
        "wrote:ingest_runs",
    ];
    for step in steps {
        let o = ingest_with_fault(env, &wh, &b, step);
        assert!(killed(&o), "the load was not killed after {step} (is the binary built with --features khlang/fault-injection, as scripts/test builds it?): {:?} {}", o.status, String::from_utf8_lossy(&o.stderr));
        assert_eq!(state(env, &wh), s_a, "after a kill after {step}, readers do not see the previous state");
    }
    // The tables really were written before the kills (so the test proves something): the newest
    // enrollments version is past the published one.
    assert!(logs().iter().filter(|f| f.starts_with("enrollments/")).count() > 2);

    let o = env.ingest(&b);
    assert_ok(&o, "load of B after the kills");
    assert_eq!(state(env, &wh), s_ab, "after the kills, the next load does not end at the right state");
    runs_are_whole(env, &wh);
}

#[test]
fn a_load_killed_at_random_moments_never_shows_a_mix_to_readers() {
    let env = Env::new();
    let a = env.generate("a", 21, "mixed");
    let b = env.generate("b", 22, "mixed");
    let (s_a, s_ab, full) = reference_states(&env, &a, &b);

    let wh = env.warehouse();
    assert_ok(&env.ingest(&a), "load of A");
    // Kill moments spread over a whole load, varied from run to run.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(7);
    let fractions = [0.35 + f64::from(nanos % 100) / 1000.0, 0.6 + f64::from(nanos % 37) / 100.0, 0.85 + f64::from(nanos % 13) / 100.0];
    let mut seen_during = std::collections::BTreeSet::new();
    for f in fractions {
        let mut child = env.cmd_for(&wh).args(["ingest", "--from"]).arg(&b).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn ingest");
        let kill_at = full.mul_f64(f);
        let t0 = Instant::now();
        // Read while the load runs: every answer is a whole state.
        while t0.elapsed() < kill_at {
            let s = state(&env, &wh);
            assert!(s == s_a || s == s_ab, "a query during the load saw a mix:\n{s}\nnot\n{s_a}\nor\n{s_ab}");
            seen_during.insert(s);
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", &child.id().to_string()]).status();
        let _ = child.wait();
        let after = state(&env, &wh);
        assert!(after == s_a || after == s_ab, "after a kill at {f:.2} of a load, the warehouse is at neither state:\n{after}");
        if after == s_ab {
            // The load finished before the kill came: nothing more to kill.
            break;
        }
    }
    if state(&env, &wh) == s_a {
        assert_ok(&env.ingest(&b), "load of B after the kills");
    }
    assert_eq!(state(&env, &wh), s_ab, "after the kills, the next load does not end at the right state");
    runs_are_whole(&env, &wh);
    assert!(!seen_during.is_empty());
}

#[test]
fn a_second_load_at_the_same_time_is_refused() {
    second_load_refused(&Env::new());
}

#[test]
fn on_s3_a_second_load_at_the_same_time_is_refused_and_the_state_stays_exact() {
    let scratch = Env::new();
    let s3 = S3::start(&scratch.path("moto.log"));
    let env = Env::on_store(&format!("s3://{BUCKET}/wh"), s3.vars());
    let reference = env.path("reference");
    let a = second_load_refused(&env);
    assert_ok(&env.ingest_into(&a, &reference), "reference load");
    assert_ok(&env.ingest_into(&a, &reference), "reference reload");
    assert_eq!(state(&env, &env.warehouse()), state(&env, &reference), "the published state after a refused load");
    runs_are_whole(&env, &env.warehouse());
    assert!(s3.keys("wh/_khlang/writer").is_empty(), "the winner's lease is left behind");
}

/// Starts a load, then a second while the first runs; the second must be refused. Returns the pull.
fn second_load_refused(env: &Env) -> std::path::PathBuf {
    let a = env.generate("a", 31, "mixed");
    assert_ok(&env.ingest(&a), "first load");
    let mut first = env.cmd().args(["ingest", "--from"]).arg(&a).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn ingest");
    std::thread::sleep(Duration::from_millis(300));
    let second = env.ingest(&a);
    let status = first.wait().expect("wait");
    assert!(status.success());
    assert!(!second.status.success(), "two loads ran at once");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("another load is writing"), "{stderr}");
    a
}

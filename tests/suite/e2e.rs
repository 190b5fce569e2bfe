//! End-to-end: generate -> ingest -> query, driving the real `khlang` binary.

use super::common::*;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

#[test]
fn area_pull_loads_every_valid_row_and_rejects_every_seeded_invalid_row() {
    let env = Env::new();
    let pull = env.generate("pull", 11, "mixed");
    let m = manifest(&pull);
    let o = env.ingest(&pull);
    assert_ok(&o, "ingest");

    // Row counts equal the generated valid rows, table by table.
    let valid = valid_by_feed(&m);
    for (feed, table) in FEED_TABLES {
        let n = env.count(&format!("SELECT count(*) FROM {table}"));
        assert_eq!(n, valid[feed], "{table}: warehouse rows vs valid rows of feed {feed}");
    }

    // Every seeded invalid row is rejected with its rule, and nothing else is rejected.
    let rejected = env.sql_csv("SELECT source_file, line_no, rule FROM rejected_rows ORDER BY source_file, line_no");
    let got: BTreeSet<(String, u64, String)> = rejected
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[1].parse().unwrap(), f[2].to_string())
        })
        .collect();
    let want: BTreeSet<(String, u64, String)> =
        m.files.iter().flat_map(|f| f.invalid.iter().map(move |i| (f.file.clone(), i.line, i.rule.clone()))).collect();
    let rules: BTreeSet<&str> = want.iter().map(|(_, _, r)| r.as_str()).collect();
    for r in ["citizen_id_check_digit", "duplicate_enrollment", "school_code_unknown", "grade_out_of_range", "negative_number"] {
        assert!(rules.contains(r), "the generator seeded no {r} rows");
    }
    let missing: Vec<_> = want.difference(&got).take(5).collect();
    let extra: Vec<_> = got.difference(&want).take(5).collect();
    assert!(missing.is_empty() && extra.is_empty(), "rejected rows differ from the seeded ones: missing {missing:?}, unexpected {extra:?}");
    assert_eq!(rejected.lines().count() - 1, want.len());

    // Duplicates are reported at both schools.
    let dup_schools = env.count("SELECT count(DISTINCT school_code) FROM rejected_rows WHERE rule = 'duplicate_enrollment'");
    assert!(dup_schools >= 2);

    // No citizen ID reaches an analyst table: keys are 32 hex digits.
    assert_eq!(env.count("SELECT count(*) FROM enrollments WHERE length(student_key) <> 32"), 0);
    let columns = env.sql_csv("SELECT column_name FROM information_schema.columns WHERE table_name IN ('enrollments', 'personnel')");
    assert!(!columns.contains("citizen_id"));

    // The summary covers every school of every snapshot.
    let snapshots = env.count("SELECT count(DISTINCT snapshot_date) FROM enrollments");
    assert_eq!(snapshots, 10, "5 academic years x 2 snapshots");
    assert_eq!(
        env.count("SELECT count(*) FROM school_snapshot_summary"),
        env.count("SELECT count(*) FROM (SELECT DISTINCT snapshot_date, school_code FROM enrollments WHERE status = 'studying')")
    );
    assert_eq!(
        env.count("SELECT sum(students) FROM school_snapshot_summary"),
        env.count("SELECT count(*) FROM enrollments WHERE status = 'studying'")
    );

    // A second ingest of the same pull changes no count.
    let before: BTreeMap<&str, u64> = FEED_TABLES.iter().map(|(_, t)| (*t, env.count(&format!("SELECT count(*) FROM {t}")))).collect();
    let summary_before = env.count("SELECT count(*) FROM school_snapshot_summary");
    let logs_before = log_files(&env.warehouse());
    let o = env.ingest(&pull);
    assert_ok(&o, "second ingest");
    // Unchanged input makes no new version of any data table; only the run logs grow.
    let grown: Vec<String> = log_files(&env.warehouse()).into_iter().filter(|f| !logs_before.contains(f)).collect();
    assert!(grown.iter().all(|f| f.starts_with("ingest_runs/") || f.starts_with("rejected_rows/")), "new versions on unchanged input: {grown:?}");
    for (t, n) in &before {
        assert_eq!(env.count(&format!("SELECT count(*) FROM {t}")), *n, "{t} changed on re-ingest");
    }
    assert_eq!(env.count("SELECT count(*) FROM school_snapshot_summary"), summary_before);
    assert_eq!(env.count("SELECT count(DISTINCT run_id) FROM ingest_runs"), 2);
    // `khlang runs` lists both, newest first, with the totals of the run log.
    let o = env.cmd().args(["runs", "--format", "csv"]).output().unwrap();
    assert_ok(&o, "runs");
    let runs = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = runs.lines().collect();
    assert_eq!(lines.len(), 3, "{runs}");
    assert!(lines[0].starts_with("run_id,started_at,finished_at,source,feeds,rows_read,rows_loaded,rows_rejected,table_versions,status"));
    let read: u64 = m.files.iter().map(|f| f.rows).sum();
    assert!(lines[1].contains(&format!(",8,{read},{},{},", read - want.len() as u64, want.len())), "{runs}");
    assert!(lines[1].contains("enrollments") || lines[1].contains("students v1"), "{runs}");
    assert_eq!(env.count("SELECT count(*) FROM rejected_rows") as usize, 2 * want.len());
}

#[test]
fn tis620_thai_feed_loads_the_same_rows_as_its_utf8_english_twin() {
    let env = Env::new();
    let thai = env.generate("thai", 5, "tis620-thai");
    let english = env.generate("english", 5, "utf8-english");
    // The twin really is in another encoding and language.
    let raw = std::fs::read(thai.join("students_2569-06-10.csv")).unwrap();
    assert!(std::str::from_utf8(&raw).is_err(), "TIS-620 bytes are not UTF-8");
    let (header, _, _) = encoding_rs::WINDOWS_874.decode(&raw[..200]);
    assert!(header.starts_with("ปีการศึกษา,วันที่ข้อมูล"), "{header}");
    assert!(header.contains("/2569") || header.contains("/2570"), "BE dates: {header}");

    let (wt, we) = (env.path("wh_thai"), env.path("wh_english"));
    assert_ok(&env.ingest_into(&thai, &wt), "ingest thai");
    assert_ok(&env.ingest_into(&english, &we), "ingest english");
    let rejected = "SELECT source_file, line_no, school_code, rule FROM rejected_rows ORDER BY source_file, line_no";
    assert_same_tables(&env, &wt, &we, rejected, "TIS-620/Thai and UTF-8/English loads");
}

#[test]
fn python_deltalake_reads_the_same_enrollments_count() {
    let env = Env::new();
    let pull = env.generate("pull", 3, "mixed");
    assert_ok(&env.ingest(&pull), "ingest");
    let ours = env.count("SELECT count(*) FROM enrollments");
    let script = "import sys\nfrom deltalake import DeltaTable\nt = DeltaTable(sys.argv[1])\nprint(t.to_pyarrow_dataset().count_rows())\n";
    let python = std::env::var("KHLANG_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let o = Command::new(python).arg("-c").arg(script).arg(env.warehouse().join("enrollments")).output().expect("run python3");
    assert_ok(&o, "python deltalake");
    let theirs: u64 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    assert_eq!(ours, theirs);
    assert!(ours > 10_000);
}

#[test]
fn same_seed_gives_byte_identical_files() {
    let env = Env::new();
    let a = env.generate("a", 42, "mixed");
    let b = env.generate("b", 42, "mixed");
    let c = env.generate("c", 43, "mixed");
    let files = |d: &std::path::Path| -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(d).unwrap().flatten().map(|e| (e.file_name().to_string_lossy().to_string(), std::fs::read(e.path()).unwrap())).collect()
    };
    let (fa, fb, fc) = (files(&a), files(&b), files(&c));
    assert!(fa.len() >= 8 + 9 + 9);
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (name, bytes) in &fa {
        assert!(bytes == &fb[name], "{name} differs between two runs with the same seed");
    }
    assert!(fa["schools.csv"] != fc["schools.csv"], "another seed gives other data");
    assert!(fa.keys().any(|k| k.ends_with(".xlsx")));
}

#[test]
fn budget_lines_are_upserted_by_document_within_the_fiscal_year() {
    let env = Env::new();
    let pull = env.generate("pull", 71, "utf8-english");
    assert_ok(&env.ingest(&pull), "first ingest");
    let before = env.count("SELECT count(*) FROM budget_lines WHERE fiscal_year = 2569");
    let docs = env.sql_csv("SELECT document_no, CAST(allocated_baht AS VARCHAR) FROM budget_lines WHERE fiscal_year = 2569 ORDER BY document_no LIMIT 2");
    let docs: Vec<Vec<String>> = docs.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect();
    let (dropped, changed) = (&docs[0], &docs[1]);

    // Tonight's e-Budget export lacks one document and has another's allocation raised.
    let path = pull.join("budget_2569.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let (doc_col, alloc_col) = (header.iter().position(|h| *h == "document_no").unwrap(), header.iter().position(|h| *h == "allocated_baht").unwrap());
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let mut f: Vec<String> = l.split(',').map(str::to_string).collect();
        if i > 0 && f[doc_col] == dropped[0] {
            continue;
        }
        if i > 0 && f[doc_col] == changed[0] {
            f[alloc_col] = format!("{:.2}", f[alloc_col].parse::<f64>().unwrap() + 1000.0);
        }
        out.push(f.join(","));
    }
    std::fs::write(&path, out.join("\n") + "\n").unwrap();
    assert_ok(&env.ingest(&pull), "second ingest");

    // The missing document is kept as it was, the changed one replaced, nothing doubled.
    assert_eq!(env.count("SELECT count(*) FROM budget_lines WHERE fiscal_year = 2569"), before);
    let kept = env.sql_csv(&format!("SELECT CAST(allocated_baht AS VARCHAR) FROM budget_lines WHERE document_no = '{}'", dropped[0]));
    assert_eq!(kept.lines().nth(1), Some(dropped[1].as_str()));
    let now = env.sql_csv(&format!("SELECT CAST(allocated_baht AS VARCHAR) FROM budget_lines WHERE document_no = '{}'", changed[0]));
    let want = format!("{:.2}", changed[1].parse::<f64>().unwrap() + 1000.0);
    assert_eq!(now.lines().nth(1), Some(want.as_str()));
    assert_eq!(env.count(&format!("SELECT count(*) FROM budget_lines WHERE document_no = '{}'", changed[0])), 1);
    // Other fiscal years were not touched.
    assert_eq!(env.count("SELECT count(DISTINCT fiscal_year) FROM budget_lines"), 6);
}

#[test]
fn sql_as_of_a_time_reads_the_warehouse_as_then_published() {
    let env = Env::new();
    let a = env.generate("a", 81, "utf8-english");
    let b = env.generate("b", 81, "utf8-english");
    // Pull B: the latest snapshot lost its last thousand students.
    cut_latest_snapshot(&b, 1000);

    assert_ok(&env.ingest(&a), "load A");
    let count = "SELECT count(*) FROM enrollments WHERE snapshot_date = DATE '2026-11-10'";
    let summary = "SELECT sum(students) FROM school_snapshot_summary WHERE snapshot_date = DATE '2026-11-10'";
    let (count_a, summary_a) = (env.count(count), env.count(summary));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let between = now_utc();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_ok(&env.ingest(&b), "load B");
    // (A few of the cut rows were invalid ones, rejected either way.)
    assert!(env.count(count) <= count_a - 990, "load B did not replace the snapshot");

    // As of the moment between the loads: A's rows, in every table alike.
    for (sql, want) in [(count, count_a), (summary, summary_a)] {
        let o = env.cmd().args(["sql", "--format", "csv", "--as-of", &between, sql]).output().unwrap();
        assert_ok(&o, "sql --as-of");
        assert_eq!(String::from_utf8_lossy(&o.stdout).lines().nth(1), Some(want.to_string().as_str()), "{sql} as of {between}");
    }
    // Before the first load: nothing was published.
    let o = env.cmd().args(["sql", "--format", "csv", "--as-of", "2020-01-01 00:00", count]).output().unwrap();
    assert_ok(&o, "sql --as-of before any load");
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().nth(1), Some("0"));
    // The history lists both published states; a bad time is one clear error.
    let o = env.cmd().args(["history"]).output().unwrap();
    assert_ok(&o, "history");
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 3);
    let o = env.cmd().args(["sql", "--as-of", "last tuesday", count]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--as-of 'last tuesday' is not a time"));
}

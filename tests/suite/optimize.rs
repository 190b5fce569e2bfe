//! Rows in the table's order: a load stores an export in any order sorted by area, school and grade;
//! `khlang optimize` rewrites a table laid out otherwise (an older writer's: rows in another order,
//! many small files) sorted and compacted, published as one warehouse commit. The same rows in every
//! table and the same answers to the analyst suite before and after; time travel to the state
//! before still answers; a run killed part-way publishes nothing.

use std::path::Path;
use std::process::Command;

use crate::common::*;

/// For each data file of the table's latest version: whether its rows are in (area, school, grade)
/// order (the keys the table has), read by pyarrow straight from the Parquet files.
fn files_sorted(table: &Path) -> Vec<bool> {
    let script = r#"
import sys
import pyarrow.parquet as pq
from deltalake import DeltaTable
for uri in DeltaTable(sys.argv[1]).file_uris():
    path = uri.replace("file://", "")
    names = pq.read_schema(path).names
    t = pq.read_table(path, columns=[c for c in ["area_code", "school_code", "grade_order"] if c in names])
    keys = [tuple((v is not None, v) for v in row) for row in zip(*(t[c].to_pylist() for c in t.column_names))]
    print("sorted" if keys == sorted(keys) else "unsorted")
"#;
    let o = Command::new("python3").args(["-c", script]).arg(table).output().unwrap();
    assert_ok(&o, "read the Parquet files with pyarrow");
    String::from_utf8(o.stdout).unwrap().lines().map(|l| l == "sorted").collect()
}

/// For each data file of the table's latest version, how its first row group stores three columns,
/// read by pyarrow: `grade_order`'s encodings (a whole number: delta-encoded, no dictionary), and
/// whether `school_code` (a scope) and `student_key` (a keyed hash) have statistics.
fn file_layouts(table: &Path) -> Vec<String> {
    let script = r#"
import sys
import pyarrow.parquet as pq
from deltalake import DeltaTable
for uri in DeltaTable(sys.argv[1]).file_uris():
    g = pq.ParquetFile(uri.replace("file://", "")).metadata.row_group(0)
    c = {g.column(i).path_in_schema: g.column(i) for i in range(g.num_columns)}
    print(",".join(sorted(c["grade_order"].encodings)), "school_code", c["school_code"].is_stats_set, "student_key", c["student_key"].is_stats_set)
"#;
    let o = Command::new("python3").args(["-c", script]).arg(table).output().unwrap();
    assert_ok(&o, "read the Parquet metadata with pyarrow");
    String::from_utf8(o.stdout).unwrap().lines().map(String::from).collect()
}

fn assert_layout(table: &Path, when: &str) {
    let layouts = file_layouts(table);
    assert!(!layouts.is_empty(), "{when}: no files");
    for l in &layouts {
        assert!(l.contains("DELTA_BINARY_PACKED") && !l.contains("DICTIONARY"), "{when}: grade_order delta-encoded: {l}");
        assert!(l.ends_with("school_code True student_key False"), "{when}: statistics for the scope, none for the keyed hash: {l}");
    }
}

/// The students files of a pull with their rows in reverse order (as an export sorted another way).
fn reverse_students(pull: &Path) {
    for e in std::fs::read_dir(pull).unwrap() {
        let path = e.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("students") {
            let text = std::fs::read_to_string(&path).unwrap();
            let mut lines: Vec<&str> = text.lines().collect();
            lines[1..].reverse();
            std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        }
    }
}

/// Rewrites the latest enrollments as an older writer laid them out (rows in reverse order, many small
/// files without page indexes), with Python's deltalake, and publishes that version as the next
/// warehouse commit.
fn lay_out_as_an_older_writer(wh: &Path) {
    let script = r#"
import glob, json, os, sys
import pyarrow as pa
from deltalake import DeltaTable, WriterProperties, write_deltalake
wh = sys.argv[1]
path = os.path.join(wh, "enrollments")
t = DeltaTable(path).to_pyarrow_table()
t = t.take(pa.array(range(t.num_rows - 1, -1, -1)))
write_deltalake(path, t, mode="overwrite", partition_by=["snapshot_date"], target_file_size=256 * 1024,
                writer_properties=WriterProperties(max_row_group_size=5000))
commits = sorted(glob.glob(os.path.join(wh, "_khlang", "commits", "*.json")))
last = json.load(open(commits[-1]))
last["seq"] += 1
last["run_id"] = "older-writer"
last["tables"]["enrollments"] = DeltaTable(path).version()
with open(os.path.join(wh, "_khlang", "commits", "%020d.json" % last["seq"]), "w") as f:
    json.dump(last, f)
"#;
    let o = Command::new("python3").args(["-c", script]).arg(wh).output().unwrap();
    assert_ok(&o, "rewrite enrollments as an older writer did");
}

fn commits(env: &Env) -> usize {
    let o = env.cmd().arg("history").output().unwrap();
    assert_ok(&o, "history");
    String::from_utf8_lossy(&o.stdout).lines().count()
}

#[test]
fn optimize_sorts_every_table_as_one_commit_with_the_same_answers() {
    let env = Env::new();
    let pull = env.generate("pull", 11, "utf8-english");
    reverse_students(&pull);
    assert_ok(&env.ingest(&pull), "ingest");
    let wh = env.warehouse();
    let enrollments = wh.join("enrollments");
    let sorted = files_sorted(&enrollments);
    assert!(!sorted.is_empty() && sorted.iter().all(|s| *s), "the load stores an export in reverse order sorted: {sorted:?}");
    let files_of_the_load = sorted.len();
    assert_layout(&enrollments, "the load");

    lay_out_as_an_older_writer(&wh);
    let scattered = files_sorted(&enrollments);
    assert!(scattered.len() > files_of_the_load && scattered.contains(&false), "the older writer's layout: {scattered:?}");

    let suite = analyst_queries();
    assert!(suite.len() >= 8, "{suite:?}");
    let answers = |env: &Env| -> Vec<(Vec<String>, usize)> {
        suite.iter().map(|(_, q)| (canonical(&env.sql_csv(&without_final_limit(q))), env.sql_csv(q).lines().count())).collect()
    };
    let before = answers(&env);
    let plain = env.path("plain");
    assert!(Command::new("cp").arg("-a").arg(&wh).arg(&plain).status().unwrap().success());
    let loaded = chrono::Utc::now().to_rfc3339();
    let per_snapshot = "SELECT snapshot_date, count(*), count(DISTINCT student_key) FROM enrollments GROUP BY 1 ORDER BY 1";
    let published = commits(&env);

    // Killed after rewriting a table: nothing is published, every table reads as before.
    let o = env.cmd().env("KHLANG_FAULT_AFTER", "optimized:enrollments").arg("optimize").output().unwrap();
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(o.status.signal(), Some(9), "the fault hook killed optimize: {}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(commits(&env), published, "a killed optimize published nothing");
    assert_same_tables(&env, &wh, &plain, per_snapshot, "after a killed optimize, the tables and the copy from before");

    // The run itself: one new commit, the same rows, the same answers, every file in order.
    let o = env.cmd().arg("optimize").output().unwrap();
    assert_ok(&o, "optimize");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("enrollments") && out.contains("published as warehouse commit"), "{out}");
    assert_eq!(commits(&env), published + 1, "{out}");
    assert_same_tables(&env, &wh, &plain, per_snapshot, "the optimized tables and the copy from before");
    let after = answers(&env);
    for (((name, _), b), a) in suite.iter().zip(&before).zip(&after) {
        assert_eq!(a, b, "{name}: optimized and plain warehouses answer alike");
    }
    let sorted = files_sorted(&enrollments);
    assert!(!sorted.is_empty() && sorted.iter().all(|s| *s), "every enrollments file in (area, school, grade) order: {sorted:?}");
    assert!(sorted.len() <= files_of_the_load, "compacted back to the load's files: {} of {}", sorted.len(), scattered.len());
    assert!(files_sorted(&wh.join("personnel")).iter().all(|s| *s));
    assert_layout(&enrollments, "optimize");

    // Time travel to the state before optimize still reads its (older) files.
    let o = env.cmd().args(["sql", "--format", "csv", "--as-of", &loaded, per_snapshot]).output().unwrap();
    assert_ok(&o, "sql --as-of before optimize");
    assert_eq!(String::from_utf8_lossy(&o.stdout), env.sql_csv(per_snapshot));

    // Nothing written since: a second run leaves every table as it is and publishes nothing.
    let o = env.cmd().arg("optimize").output().unwrap();
    assert_ok(&o, "optimize again");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("nothing published"), "{out}");
    assert_eq!(commits(&env), published + 1);

    // A new load (another pull, again in reverse order) writes new versions already laid out: the
    // next optimize finds nothing to do.
    let next = env.generate("pull2", 12, "utf8-english");
    reverse_students(&next);
    assert_ok(&env.ingest(&next), "ingest another pull");
    assert!(commits(&env) > published + 1);
    let sorted = files_sorted(&enrollments);
    assert!(!sorted.is_empty() && sorted.iter().all(|s| *s), "{sorted:?}");
    let o = env.cmd().arg("optimize").output().unwrap();
    assert_ok(&o, "optimize after a load");
    assert!(String::from_utf8_lossy(&o.stdout).contains("nothing published"), "{}", String::from_utf8_lossy(&o.stdout));
}

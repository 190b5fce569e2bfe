//! Helpers for end-to-end tests: run the real `khlang` binary with its own warehouse and secret.



use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Env {
    pub dir: tempfile::TempDir,
    /// The warehouse's URL when it is not the local `warehouse` folder (an S3 bucket).
    pub store: Option<String>,
    /// Variables every command of this environment gets (an object store's endpoint and keys).
    pub vars: Vec<(String, String)>,
}

impl Env {
    pub fn new() -> Env {
        Env { dir: tempfile::Builder::new().prefix("khlang-test-").tempdir().expect("temp dir"), store: None, vars: Vec::new() }
    }

    /// An environment whose warehouse is `url` on the object store reached with `vars`.
    pub fn on_store(url: &str, vars: Vec<(String, String)>) -> Env {
        Env { store: Some(url.to_string()), vars, ..Env::new() }
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// The warehouse's folder, or its object-store URL (as a path, for the commands' arguments).
    pub fn warehouse(&self) -> PathBuf {
        match &self.store {
            Some(url) => PathBuf::from(url),
            None => self.path("warehouse"),
        }
    }

    /// `khlang` with this environment's warehouse and secret.
    pub fn cmd(&self) -> Command {
        self.cmd_for(&self.warehouse())
    }

    pub fn cmd_for(&self, warehouse: &Path) -> Command {
        self.with_env(Command::new(env!("CARGO_BIN_EXE_khlang")), warehouse)
    }

    /// `khlang` with this environment, run inside network namespace `netns` when given.
    pub fn cmd_in(&self, netns: Option<&str>) -> Command {
        match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_khlang")]);
                self.with_env(c, &self.warehouse())
            }
            None => self.cmd(),
        }
    }

    fn with_env(&self, mut c: Command, warehouse: &Path) -> Command {
        c.env("KHLANG_WAREHOUSE", warehouse)
            .env("KHLANG_SECRET_FILE", self.path("secret.key"))
            .env("KHLANG_LOG", "warn")
            .env_remove("KHLANG_CONFIG")
            .envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(self.dir.path());
        c
    }

    pub fn generate(&self, out: &str, seed: u64, style: &str) -> PathBuf {
        let dir = self.path(out);
        let o = self
            .cmd()
            .args(["generate", "--scale", "area", "--seed", &seed.to_string(), "--style", style, "--out"])
            .arg(&dir)
            .output()
            .expect("run khlang generate");
        assert_ok(&o, "generate");
        dir
    }

    pub fn ingest(&self, from: &Path) -> Output {
        self.ingest_into(from, &self.warehouse())
    }

    pub fn ingest_into(&self, from: &Path, warehouse: &Path) -> Output {
        self.cmd_for(warehouse).args(["ingest", "--from"]).arg(from).output().expect("run khlang ingest")
    }

    pub fn sql_csv_in(&self, warehouse: &Path, sql: &str) -> String {
        let o = self.cmd_for(warehouse).args(["sql", "--format", "csv", sql]).output().expect("run khlang sql");
        assert_ok(&o, sql);
        String::from_utf8(o.stdout).expect("utf-8 output")
    }

    pub fn sql_csv(&self, sql: &str) -> String {
        self.sql_csv_in(&self.warehouse(), sql)
    }

    /// The first value of the first row of a query, unquoted.
    pub fn first(&self, sql: &str) -> String {
        self.sql_csv(sql).lines().nth(1).unwrap_or_default().trim().trim_matches('"').to_string()
    }

    /// A copy of `pull` in `out` without `school`'s students in the latest snapshot's file (files
    /// are named by their Buddhist-Era date, so the latest sorts last).
    pub fn pull_without_school(&self, pull: &Path, out: &str, school: &str) -> PathBuf {
        let out = self.path(out);
        std::fs::create_dir_all(&out).unwrap();
        for f in std::fs::read_dir(pull).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), out.join(f.file_name())).unwrap();
        }
        let mut students: Vec<_> = std::fs::read_dir(&out).unwrap().map(|f| f.unwrap().path()).filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("students_")).collect();
        students.sort();
        let latest = students.pop().unwrap();
        let bytes = std::fs::read(&latest).unwrap();
        let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        let kept: Vec<&[u8]> = lines.iter().copied().filter(|l| !l.windows(school.len()).any(|w| w == school.as_bytes())).collect();
        assert!(kept.len() + 5 < lines.len(), "school {school} has students in {}", latest.display());
        std::fs::write(&latest, kept.join(&b'\n')).unwrap();
        out
    }

    pub fn count(&self, sql: &str) -> u64 {
        self.count_in(&self.warehouse(), sql)
    }

    pub fn count_in(&self, warehouse: &Path, sql: &str) -> u64 {
        let out = self.sql_csv_in(warehouse, sql);
        out.lines().nth(1).unwrap_or("").trim().parse().unwrap_or_else(|_| panic!("not a count from {sql}: {out}"))
    }
}

pub fn assert_ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Every `_delta_log` file in the warehouse: a fingerprint of all table versions.
pub fn log_files(warehouse: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(tables) = std::fs::read_dir(warehouse) {
        for t in tables.flatten() {
            if let Ok(logs) = std::fs::read_dir(t.path().join("_delta_log")) {
                for l in logs.flatten() {
                    out.push(format!("{}/{}", t.file_name().to_string_lossy(), l.file_name().to_string_lossy()));
                }
            }
        }
    }
    out.sort();
    out
}

#[derive(serde::Deserialize, Debug)]
pub struct Invalid {
    pub line: u64,
    pub rule: String,
}

#[derive(serde::Deserialize, Debug)]
pub struct FileManifest {
    pub feed: String,
    pub file: String,
    pub rows: u64,
    pub valid_rows: u64,
    pub invalid: Vec<Invalid>,
}

#[derive(serde::Deserialize, Debug)]
pub struct Manifest {
    pub files: Vec<FileManifest>,
}

pub fn manifest(pull: &Path) -> Manifest {
    serde_json::from_str(&std::fs::read_to_string(pull.join("_manifest.json")).expect("manifest")).expect("manifest json")
}

pub fn valid_by_feed(m: &Manifest) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for f in &m.files {
        *out.entry(f.feed.clone()).or_insert(0) += f.valid_rows;
    }
    out
}

pub const FEED_TABLES: [(&str, &str); 8] = [
    ("areas", "areas"),
    ("schools", "schools"),
    ("students", "enrollments"),
    ("personnel", "personnel"),
    ("budget", "budget_lines"),
    ("tests", "test_results"),
    ("buildings", "buildings"),
    ("dltv_equipment", "dltv_equipment"),
];

/// Every data table in a fixed order, for comparing two warehouses loaded from the same pull.
pub const DATA_TABLES_ORDERED: [&str; 9] = [
    "SELECT * FROM enrollments ORDER BY snapshot_date, school_code, student_key",
    "SELECT * FROM personnel ORDER BY as_of_date, person_key",
    "SELECT * FROM budget_lines ORDER BY fiscal_year, document_no",
    "SELECT * FROM schools ORDER BY school_code",
    "SELECT * FROM areas ORDER BY area_code",
    "SELECT * FROM test_results ORDER BY academic_year, school_code, test, subject",
    "SELECT * FROM buildings ORDER BY building_id",
    "SELECT * FROM dltv_equipment ORDER BY school_code, item",
    "SELECT * FROM school_snapshot_summary ORDER BY snapshot_date, school_code",
];

/// Asserts that two warehouses hold the same rows in every data table and `extra` query.
pub fn assert_same_tables(env: &Env, a: &Path, b: &Path, extra: &str, what: &str) {
    for q in DATA_TABLES_ORDERED.iter().copied().chain([extra]) {
        let x = env.sql_csv_in(a, q);
        let y = env.sql_csv_in(b, q);
        assert!(x.lines().count() > 1, "no rows from {q}");
        assert!(x == y, "{q}: {what} differ");
    }
}

/// The analyst suite of `bench/analyst.py` (`bench/analyst_queries.py`), by name.
pub fn analyst_queries() -> Vec<(String, String)> {
    let script = "import json, sys\nsys.path.insert(0, 'bench')\nfrom analyst_queries import QUERIES\nprint(json.dumps(list(QUERIES.items())))\n";
    let o = Command::new("python3").args(["-c", script]).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    assert_ok(&o, "read bench/analyst.py's queries");
    serde_json::from_slice(&o.stdout).unwrap()
}

/// CSV as a sorted list of lines, decimals to 9 significant digits: the cluster adds floating-point
/// sums up in another order than one node does.
pub fn canonical(csv: &str) -> Vec<String> {
    let mut lines: Vec<String> = csv
        .lines()
        .map(|l| {
            l.split(',')
                .map(|f| match f.parse::<f64>() {
                    Ok(x) if f.contains('.') || f.contains('e') => format!("{x:.9e}"),
                    _ => f.to_string(),
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    lines.sort();
    lines
}

/// The query without its final `LIMIT n` (a LIMIT cuts through ties the engine may order either way).
pub fn without_final_limit(q: &str) -> String {
    let t = q.trim_end();
    match t.rfind("LIMIT ") {
        Some(i) if t[i + 6..].trim().chars().all(|c| c.is_ascii_digit()) => t[..i].trim_end().to_string(),
        _ => t.to_string(),
    }
}

/// Now in UTC, RFC 3339 with nanoseconds: a moment for `--as-of` and `as_of()`.
pub fn now_utc() -> String {
    let o = Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%S.%NZ"]).output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Drops the last `n` lines of the pull's latest students file (any encoding: bytes, not text).
pub fn cut_latest_snapshot(pull: &Path, n: usize) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(pull).unwrap().flatten().map(|e| e.path()).filter(|p| p.file_name().is_some_and(|f| f.to_string_lossy().starts_with("students_"))).collect();
    files.sort();
    let latest = files.last().unwrap();
    let bytes = std::fs::read(latest).unwrap();
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    std::fs::write(latest, [lines[..lines.len() - n].join(&b'\n'), vec![b'\n']].concat()).unwrap();
}

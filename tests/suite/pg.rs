//! The ministry database as a source, against a real PostgreSQL server: a throwaway cluster of the
//! test's own (initdb and pg_ctl in a temporary folder, on a free port), loaded with a generated pull.

use super::common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PASSWORD: &str = "ministry-pw";

/// A PostgreSQL cluster that lives as long as this value.
pub struct Pg {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
}

fn pg_bin() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql").map(|d| d.flatten().map(|e| e.path().join("bin")).collect()).unwrap_or_default();
    dirs.sort();
    dirs.pop().filter(|d| d.join("initdb").exists()).unwrap_or_else(|| PathBuf::from("/usr/bin"))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl Pg {
    /// PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user.
    fn server_cmd(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    pub fn start() -> Pg {
        let dir = tempfile::Builder::new().prefix("khlang-pg-").tempdir().expect("temp dir").keep();
        let pg = Pg { dir, bin: pg_bin(), port: free_port() };
        if is_root() {
            assert!(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&pg.dir).status().expect("chown").success());
        }
        let pwfile = pg.dir.join("pw");
        std::fs::write(&pwfile, PASSWORD).expect("password file");
        if is_root() {
            Command::new("chown").args(["postgres:postgres"]).arg(&pwfile).status().expect("chown");
        }
        let o = pg
            .server_cmd("initdb")
            .args(["-D"])
            .arg(pg.dir.join("data"))
            .args(["-U", "ministry", "--auth-host=scram-sha-256", "--auth-local=trust", "--encoding=UTF8", "--locale=C"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("run initdb (Debian package postgresql)");
        assert_ok(&o, "initdb");
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", pg.port, pg.dir.display());
        let o = pg
            .server_cmd("pg_ctl")
            .args(["-D"])
            .arg(pg.dir.join("data"))
            .args(["-o", &opts, "-l"])
            .arg(pg.dir.join("log"))
            .args(["-w", "start"])
            .output()
            .expect("run pg_ctl");
        assert_ok(&o, "pg_ctl start");
        pg
    }

    pub fn url(&self, db: &str, schema: &str) -> String {
        format!("postgres://ministry@127.0.0.1:{}/{db}?schema={schema}", self.port)
    }

    /// Runs SQL (or psql meta-commands) with psql over TCP with the password.
    pub fn psql(&self, db: &str, sql: &str) -> Output {
        let o = Command::new("psql")
            .env("PGPASSWORD", PASSWORD)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "ministry", "-d", db, "-c", sql])
            .output()
            .expect("run psql");
        assert_ok(&o, sql);
        o
    }

    /// Creates `schema` in `db` with one table per feed and copies the pull's files into it.
    pub fn load_pull(&self, db: &str, schema: &str, pull: &Path) {
        self.psql(db, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"));
        let mut files: Vec<PathBuf> = std::fs::read_dir(pull).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "csv")).collect();
        files.sort();
        let mut created = std::collections::BTreeSet::new();
        for f in files {
            let name = f.file_stem().unwrap().to_string_lossy().to_string();
            let feed = FEED_TABLES.iter().map(|(feed, _)| *feed).find(|feed| name == *feed || name.starts_with(&format!("{feed}_"))).expect("a feed file");
            let text = std::fs::read_to_string(&f).expect("a UTF-8 file (generate --style utf8-english)");
            let header: Vec<&str> = text.lines().next().unwrap().trim_start_matches('\u{feff}').split(',').collect();
            if created.insert(feed) {
                let cols: Vec<String> = header.iter().map(|c| format!("{c} {}", column_type(c))).collect();
                self.psql(db, &format!("CREATE TABLE {schema}.{feed} ({})", cols.join(", ")));
            }
            self.psql(db, &format!("\\copy {schema}.{feed} ({}) FROM '{}' WITH (FORMAT csv, HEADER true)", header.join(", "), f.display()));
        }
    }
}

/// The types a ministry database would give the columns.
fn column_type(c: &str) -> &'static str {
    match c {
        "snapshot_date" | "birth_date" | "as_of_date" | "appointed_date" | "transaction_date" | "last_checked" => "date",
        "academic_year" | "fiscal_year" | "built_year" | "examinees" | "disability" => "integer",
        "weight_kg" | "height_cm" | "salary_baht" | "allocated_baht" | "disbursed_baht" | "mean_score" | "area_m2" | "latitude" | "longitude" => "numeric",
        "is_dltv" => "boolean",
        _ => "text",
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = self.server_cmd("pg_ctl").args(["-D"]).arg(self.dir.join("data")).args(["-m", "immediate", "-w", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ingest_url(env: &Env, wh: &Path, url: &str) -> Output {
    env.cmd_for(wh).env("PGPASSWORD", PASSWORD).args(["ingest", "--from", url]).output().expect("run khlang ingest")
}

#[test]
fn a_pull_from_postgresql_loads_the_same_warehouse_as_the_same_pull_from_files() {
    let env = Env::new();
    let pull = env.generate("pull", 41, "utf8-english");
    let pg = Pg::start();
    pg.psql("postgres", "CREATE DATABASE ministry");
    pg.load_pull("ministry", "dmc", &pull);

    let (from_files, from_pg) = (env.path("wh_files"), env.path("wh_pg"));
    assert_ok(&env.ingest_into(&pull, &from_files), "ingest from files");
    let o = env.cmd_for(&from_pg).env("PGPASSWORD", PASSWORD).env("KHLANG_LOG", "info").args(["ingest", "--from", &pg.url("ministry", "dmc")]).output().expect("run khlang ingest");
    assert_ok(&o, "ingest from PostgreSQL");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains(PASSWORD) && !String::from_utf8_lossy(&o.stderr).contains(PASSWORD));
    // The students' table was sent in two halves at once (and still loads what the files load).
    let log = plain(&format!("{out}{}", String::from_utf8_lossy(&o.stderr)));
    let read = log.lines().find(|l| l.contains("read from PostgreSQL") && l.contains("feed=\"students\"")).unwrap_or_default();
    assert!(read.contains("parts=2"), "the students were not read in two parts: {log}");
    let rejected = "SELECT feed, school_code, rule, count(*) FROM rejected_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
    assert_same_tables(&env, &from_files, &from_pg, rejected, "the loads from files and from PostgreSQL");
    // The run log names the database, without the password.
    let source = env.sql_csv_in(&from_pg, "SELECT DISTINCT source FROM ingest_runs");
    assert!(source.contains("postgres://ministry@127.0.0.1") && source.contains("schema=dmc"), "{source}");
    // Rejected rows name the table they came from.
    let files = env.sql_csv_in(&from_pg, "SELECT DISTINCT source_file FROM rejected_rows WHERE feed = 'students'");
    assert!(files.contains("dmc.students"), "{files}");

    // A pull twice the usual size (the whole province, three areas) still loads, every valid row.
    let province = env.path("province");
    let o = env.cmd().args(["generate", "--scale", "province", "--seed", "41", "--style", "utf8-english", "--out"]).arg(&province).output().unwrap();
    assert_ok(&o, "generate province");
    pg.load_pull("ministry", "dmc", &province);
    let o = ingest_url(&env, &from_pg, &pg.url("ministry", "dmc"));
    assert_ok(&o, "ingest of the province from PostgreSQL");
    let valid = valid_by_feed(&manifest(&province));
    for (feed, table) in FEED_TABLES {
        let n = env.count_in(&from_pg, &format!("SELECT count(*) FROM {table}"));
        assert_eq!(n, valid[feed], "{table} after the province pull");
    }
}

/// Text without its terminal colours.
fn plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Loads a good pull from the database, breaks the database, and checks the refusal.
fn refuse(pg: &Pg, env: &Env, wh: &Path, url: &str, expect: &[&str]) {
    let before: Vec<String> = log_files(wh).into_iter().filter(|f| !f.starts_with("ingest_runs/")).collect();
    let o = ingest_url(env, wh, url);
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let message: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(message.len(), 1, "one error line expected, got: {stderr}");
    for e in expect {
        assert!(message[0].contains(e), "the error does not say '{e}': {stderr}");
    }
    assert!(!stderr.contains("panicked") && !stderr.contains(PASSWORD), "{stderr}");
    let after: Vec<String> = log_files(wh).into_iter().filter(|f| !f.starts_with("ingest_runs/")).collect();
    assert_eq!(after, before, "the warehouse moved to a new version");
    let _ = pg;
}

#[test]
fn a_broken_ministry_database_is_refused_with_a_clear_error_and_no_partial_load() {
    let env = Env::new();
    let pull = env.generate("pull", 42, "utf8-english");
    let pg = Pg::start();
    pg.psql("postgres", "CREATE DATABASE ministry");
    pg.load_pull("ministry", "public", &pull);
    let wh = env.warehouse();
    let url = pg.url("ministry", "public");
    assert_ok(&ingest_url(&env, &wh, &url), "first ingest");
    let enrolled = env.count("SELECT count(*) FROM enrollments");

    // Nobody listening.
    let dead = format!("postgres://ministry@127.0.0.1:{}/ministry", free_port());
    refuse(&pg, &env, &wh, &dead, &["cannot connect", "127.0.0.1"]);
    // Wrong password.
    let o = env.cmd().env("PGPASSWORD", "wrong").args(["ingest", "--from", &url]).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr.contains("password authentication failed"), "{stderr}");
    // A feed table missing.
    pg.psql("ministry", "ALTER TABLE buildings RENAME TO buildings_old");
    refuse(&pg, &env, &wh, &url, &["no table public.buildings"]);
    pg.psql("ministry", "ALTER TABLE buildings_old RENAME TO buildings");
    // A column renamed.
    pg.psql("ministry", "ALTER TABLE personnel RENAME COLUMN birth_date TO dob");
    refuse(&pg, &env, &wh, &url, &["public.personnel", "no column birth_date"]);
    pg.psql("ministry", "ALTER TABLE personnel RENAME COLUMN dob TO birth_date");
    // A column of the wrong type.
    pg.psql("ministry", "ALTER TABLE students ALTER COLUMN citizen_id TYPE bigint USING NULLIF(regexp_replace(citizen_id, '[^0-9]', '', 'g'), '')::bigint");
    refuse(&pg, &env, &wh, &url, &["public.students", "column citizen_id", "bigint"]);

    // Every failure is in the run log, and the data is as the first load left it.
    assert_eq!(env.count("SELECT count(DISTINCT run_id) FROM ingest_runs WHERE status = 'failed'"), 5);
    assert_eq!(env.count("SELECT count(*) FROM enrollments"), enrolled);
}

/// A copy of `pull` whose personnel files, like a school-only HRMS export, have no area_code column.
fn pull_without_personnel_area(env: &Env, pull: &Path, out: &str) -> PathBuf {
    let out = env.path(out);
    std::fs::create_dir_all(&out).unwrap();
    for f in std::fs::read_dir(pull).unwrap().flatten() {
        let name = f.file_name().to_string_lossy().to_string();
        if !name.starts_with("personnel_") {
            std::fs::copy(f.path(), out.join(&name)).unwrap();
            continue;
        }
        let text = std::fs::read_to_string(f.path()).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let area = header.iter().position(|c| *c == "area_code").expect("an area_code column to drop");
        let drop = |l: &str| l.split(',').enumerate().filter(|(i, _)| *i != area).map(|(_, v)| v).collect::<Vec<_>>().join(",");
        let kept: Vec<String> = std::iter::once(drop(&header.join(","))).chain(lines.map(drop)).collect();
        std::fs::write(out.join(&name), kept.join("\n") + "\n").unwrap();
    }
    out
}

#[test]
fn a_school_only_hrms_export_takes_each_persons_area_from_their_school() {
    let env = Env::new();
    let pull = env.generate("pull", 43, "utf8-english");
    let school_only = pull_without_personnel_area(&env, &pull, "school_only");
    let (full, from_files, from_pg) = (env.path("wh_full"), env.path("wh_files"), env.path("wh_pg"));
    assert_ok(&env.ingest_into(&pull, &full), "ingest of the full pull");
    assert_ok(&env.ingest_into(&school_only, &from_files), "ingest of personnel without area_code from files");

    // Everyone at a school is loaded with the school's area, exactly as when the file names it.
    let at_schools = "SELECT as_of_date, area_code, school_code, person_key, position, salary_baht FROM personnel WHERE school_code IS NOT NULL ORDER BY as_of_date, person_key";
    let (a, b) = (env.sql_csv_in(&full, at_schools), env.sql_csv_in(&from_files, at_schools));
    assert!(a.lines().count() > 20, "{a}");
    assert_eq!(a, b, "school staff's areas from their schools");
    // Office staff (no school) cannot be placed without an area: each is rejected with the rule.
    let office = env.count_in(&full, "SELECT count(*) FROM personnel WHERE school_code IS NULL");
    assert!(office > 0, "the pull has office staff");
    let rejected = env.count_in(&from_files, "SELECT count(*) FROM rejected_rows WHERE feed = 'personnel' AND rule = 'area_code_unknown'");
    // (Office staff with another fault of their own are rejected here too.)
    assert!(rejected >= office, "office staff without an area are rejected, not dropped: {rejected} of {office}");
    assert_eq!(env.count_in(&from_files, "SELECT count(*) FROM personnel WHERE school_code IS NULL"), 0);

    // The same export as a ministry database table without the column loads the same rows.
    let pg = Pg::start();
    pg.psql("postgres", "CREATE DATABASE ministry");
    pg.load_pull("ministry", "hrms", &school_only);
    let o = ingest_url(&env, &from_pg, &pg.url("ministry", "hrms"));
    assert_ok(&o, "ingest of personnel without area_code from PostgreSQL");
    assert_eq!(env.sql_csv_in(&from_pg, at_schools), b, "the database's school staff");
    let rules = "SELECT feed, rule, count(*) FROM rejected_rows GROUP BY 1, 2 ORDER BY 1, 2";
    assert_eq!(env.sql_csv_in(&from_pg, rules), env.sql_csv_in(&from_files, rules), "the same rejections from the database");
}

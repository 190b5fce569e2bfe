//! SQL behaviour in sqllogictest files (`tests/sql/<role>/*.slt`), run by the `sqllogictest` crate
//! over the PostgreSQL wire protocol (the `postgres` client) against `khlang serve`, signed in as
//! the folder's role: `admin`, `analyst`, `director` (of the pull's area), `other_director` (of an
//! area with no schools here) and `school` (of one school). Column types are checked (`I` integer,
//! `R` float or numeric, `T` anything else); NULL prints `NULL`, the empty string `(empty)`.
//!
//! The warehouse holds two loads of the same area: the second lost the latest snapshot's last
//! thousand students. Files that say `control substitution on` may use `$AREA`, `$SCHOOL` and
//! `$BETWEEN_LOADS` (a time after the first load and before the second, for `as_of`).
//!
//! `KHLANG_SLT_COMPLETE=1` rewrites the files' expected results with what the server answers
//! (sqllogictest's completion mode): review the diff before committing it.

use std::path::{Path, PathBuf};

use sqllogictest::{DBOutput, DefaultColumnType, Runner};

use super::common::*;
use super::server::{PASSWORD, Server, add_user};

/// One signed-in wire connection.
struct Wire {
    client: postgres::Client,
}

/// A server error as the client reports it: the message and its SQLSTATE.
#[derive(Debug)]
struct WireError(String);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WireError {}

impl From<postgres::Error> for WireError {
    fn from(e: postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => WireError(format!("{} (SQLSTATE {})", db.message(), db.code().code())),
            None => WireError(e.to_string()),
        }
    }
}

impl Wire {
    fn connect(port: u16, user: &str) -> Result<Wire, WireError> {
        let dsn = format!("host=127.0.0.1 port={port} user={user} password='{PASSWORD}' dbname=khlang connect_timeout=10");
        Ok(Wire { client: postgres::Client::connect(&dsn, postgres::NoTls)? })
    }
}

fn column_type(t: &postgres::types::Type) -> DefaultColumnType {
    use postgres::types::Type;
    match *t {
        Type::INT2 | Type::INT4 | Type::INT8 => DefaultColumnType::Integer,
        Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC => DefaultColumnType::FloatingPoint,
        _ => DefaultColumnType::Text,
    }
}

impl sqllogictest::DB for Wire {
    type Error = WireError;
    type ColumnType = DefaultColumnType;

    /// The values in the text the simple protocol sends; the column types from the extended
    /// protocol's description of the same statement.
    fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, WireError> {
        use postgres::SimpleQueryMessage as M;
        let mut rows = Vec::new();
        let mut described = false;
        let mut complete = 0;
        for m in self.client.simple_query(sql)? {
            match m {
                M::RowDescription(_) => described = true,
                M::Row(r) => rows.push((0..r.len()).map(|i| r.get(i).map_or("NULL".to_string(), |v| if v.is_empty() { "(empty)".into() } else { v.to_string() })).collect()),
                M::CommandComplete(n) => complete = n,
                _ => {}
            }
        }
        if !described && rows.is_empty() {
            return Ok(DBOutput::StatementComplete(complete));
        }
        let types = self.client.prepare(sql)?.columns().iter().map(|c| column_type(c.type_())).collect();
        Ok(DBOutput::Rows { types, rows })
    }

    fn engine_name(&self) -> &str {
        "khlang"
    }
}

/// The user each folder's files run as: (folder, user, role, scope arguments).
fn users(area: &str, school: &str) -> Vec<(&'static str, &'static str, &'static str, Vec<String>)> {
    vec![
        ("admin", "root", "admin", vec![]),
        ("analyst", "ana", "analyst", vec![]),
        ("director", "dir", "director", vec!["--area".into(), area.into()]),
        ("other_director", "far", "director", vec!["--area".into(), "99999999".into()]),
        ("school", "sch", "school", vec!["--school".into(), school.into()]),
    ]
}

#[test]
fn sql_logic_files() {
    let env = Env::new();
    let a = env.generate("a", 17, "mixed");
    let b = env.generate("b", 17, "mixed");
    cut_latest_snapshot(&b, 1000);
    assert_ok(&env.ingest(&a), "load A");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let between = now_utc();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_ok(&env.ingest(&b), "load B");

    let area = env.first("SELECT min(area_code) FROM areas");
    let school = env.first("SELECT min(school_code) FROM schools");
    let users = users(&area, &school);
    for (_, user, role, scope) in &users {
        let scope: Vec<&str> = scope.iter().map(String::as_str).collect();
        add_user(&env, user, role, &scope);
    }
    let server = Server::start(&env, &[]);
    let complete = std::env::var("KHLANG_SLT_COMPLETE").is_ok_and(|v| v == "1");

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sql");
    let mut failures = Vec::new();
    let mut ran = 0;
    for (folder, user, _, _) in &users {
        let Ok(dir) = std::fs::read_dir(root.join(folder)) else { continue };
        let mut files: Vec<PathBuf> = dir.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "slt")).collect();
        files.sort();
        for file in files {
            let (port, user) = (server.pg, user.to_string());
            let mut runner = Runner::new(move || {
                let user = user.clone();
                async move { Wire::connect(port, &user) }
            });
            runner.set_var("AREA".into(), area.clone());
            runner.set_var("SCHOOL".into(), school.clone());
            runner.set_var("BETWEEN_LOADS".into(), between.clone());
            runner.with_column_validator(sqllogictest::strict_column_validator);
            ran += 1;
            if complete {
                let done = futures::executor::block_on(runner.update_test_file(
                    &file,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::strict_column_validator,
                ));
                if let Err(e) = done {
                    failures.push(format!("{}: {e}", file.display()));
                }
            } else if let Err(e) = runner.run_file(&file) {
                failures.push(format!("{} (as {folder}):\n{}", file.display(), e.display(false)));
            }
        }
    }
    assert!(ran >= 5, "only {ran} files found under {}", root.display());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    // analyst/counts.slt checked the answers; here, that they came from the counts wherever the
    // caller may read them, and from the rows for a school.
    let explain = "EXPLAIN SELECT level, count(*) FROM enrollments GROUP BY level";
    for (_, user, role, _) in &users {
        let plan = server.psql_ok(user, explain);
        assert_eq!(plan.contains("enrollment_counts"), *role != "school", "{user} ({role}): {plan}");
    }
}


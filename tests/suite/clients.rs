//! Analysts' own tools against a running `khlang serve`, connecting as they connect to PostgreSQL:
//! pgjdbc (DBeaver, Metabase) from a Java program, psqlODBC through pyodbc (Excel), SQLAlchemy
//! with pandas over psycopg2 and psycopg 3 (Superset), Npgsql's statements and binary transfer
//! (Power BI), TLS with certificate checks, SCRAM, and cancel requests. Each runs as an analyst and
//! as a school user, whose catalog must not show another school's rows or a hidden table.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{Env, assert_ok};
use crate::server::{PASSWORD, Server, add_user};

fn setup() -> (Env, String, String) {
    let env = Env::new();
    let pull = env.generate("pull", 41, "mixed");
    assert_ok(&env.ingest(&pull), "ingest");
    let first = |sql: &str| env.sql_csv(sql).lines().nth(1).unwrap().to_string();
    let school = first("SELECT school_code FROM school_snapshot_summary WHERE students > 50 ORDER BY school_code LIMIT 1");
    let other = first(&format!("SELECT school_code FROM school_snapshot_summary WHERE students > 50 AND school_code <> '{school}' ORDER BY school_code LIMIT 1"));
    add_user(&env, "ana", "analyst", &[]);
    add_user(&env, "kru", "school", &["--school", &school]);
    add_user(&env, "root", "admin", &[]);
    (env, school, other)
}

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// The tables a user sees in `public`, as psql reads information_schema.
fn visible_tables(server: &Server, user: &str) -> Vec<String> {
    let mut t: Vec<String> =
        server.psql_ok(user, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'").lines().skip(1).map(str::to_string).collect();
    t.sort();
    t
}

fn kv(out: &str) -> std::collections::HashMap<String, String> {
    out.lines().filter_map(|l| l.split_once('\t')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn javac(env: &Env) -> PathBuf {
    let classes = env.path("java");
    std::fs::create_dir_all(&classes).unwrap();
    let o = Command::new("javac").args(["-cp", "/usr/share/java/postgresql.jar", "-d"]).arg(&classes).arg(clients_dir().join("JdbcCheck.java")).output().unwrap();
    assert_ok(&o, "javac JdbcCheck.java");
    classes
}

fn jdbc(classes: &Path, server: &Server, user: &str, school: &str) -> std::collections::HashMap<String, String> {
    let url = format!("jdbc:postgresql://127.0.0.1:{}/khlang", server.pg);
    let cp = format!("/usr/share/java/postgresql.jar:{}", classes.display());
    let o = Command::new("java").args(["-cp", &cp, "JdbcCheck", &url, user, PASSWORD, school]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "JDBC as {user}:\n{out}\n{}", String::from_utf8_lossy(&o.stderr));
    kv(&out)
}

#[test]
fn jdbc_works_as_dbeaver_and_metabase_use_it() {
    let (env, school, other) = setup();
    let server = Server::start(&env, &[]);
    let classes = javac(&env);
    for (user, code) in [("ana", school.as_str()), ("kru", school.as_str()), ("kru", other.as_str())] {
        let r = jdbc(&classes, &server, user, code);
        assert!(r["product"].starts_with("PostgreSQL 16.6 (Khlang") && r["product"].ends_with(" 16"), "{:?}", r["product"]);
        assert_eq!(r["user"], user);
        assert!(r["schemas"].split(',').any(|s| s == "public"), "{}", r["schemas"]);
        assert_eq!(r["tables"], visible_tables(&server, user).join(","), "{user}: getTables lists what information_schema does");
        assert!(r["columns"].contains("snapshot_date:date:91") && r["columns"].contains("school_code:text:12") && r["columns"].contains("disadvantaged:bool:-7"), "{}", r["columns"]);
        assert!(r["remarks"].contains("รหัสโรงเรียน") && r["remarks"].contains("School code"), "column description: {}", r["remarks"]);
        assert_eq!(r["primary_keys"], "0");
        assert_eq!(r["imported_keys"], "0");
        // A school user asking for another school's rows gets none: the scope holds under binary transfer too.
        let want = if user == "kru" && code == other { 0 } else { env.count(&format!("SELECT count(*) FROM enrollments WHERE school_code = '{code}'")) };
        assert!(r["prepared"].starts_with(&format!("{want},")), "{user} {code}: {}", r["prepared"]);
        assert_eq!(r["fetched"], "12345");
        assert_eq!(r["timeout_state"], "57014", "setQueryTimeout ends the query with query_canceled");
        assert!(r["timeout_ms"].parse::<u64>().unwrap() < 30_000, "the cancel took {} ms", r["timeout_ms"]);
        let schools = if user == "kru" { "1".to_string() } else { env.count("SELECT count(*) FROM schools").to_string() };
        assert_eq!(r["after_timeout"], schools, "the connection works after the cancel");
        assert!(r["dbeaver_rows"].parse::<u64>().unwrap() > 0);
        assert_eq!(r["metabase_tables"], visible_tables(&server, user).len().to_string(), "{user}: Metabase's table sync");
        assert!(!r["tables"].contains("audit_log") && (user != "kru" || !r["tables"].contains("ingest_runs")), "{user}: {}", r["tables"]);
    }
}

fn python(check: &str, server: &Server, user: &str, args: &[&str]) -> serde_json::Value {
    let o = Command::new("python3")
        .arg(clients_dir().join("python_clients.py"))
        .args([check, "127.0.0.1", &server.pg.to_string(), user, PASSWORD])
        .args(args)
        .output()
        .unwrap();
    assert_ok(&o, &format!("python_clients.py {check} as {user}"));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn odbc_sqlalchemy_and_pandas_answer_as_psql_does() {
    let (env, school, _other) = setup();
    let server = Server::start(&env, &[]);
    let query = "SELECT school_code, grade, count(*) AS students FROM enrollments GROUP BY school_code, grade ORDER BY school_code, grade";
    for user in ["ana", "kru"] {
        let psql = server.psql_ok(user, query);
        // ODBC: catalog calls and a `?` parameter.
        let r = python("odbc", &server, user, &[&school]);
        let tables: Vec<String> = r["tables"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
        assert_eq!(tables, visible_tables(&server, user), "{user}: ODBC tables");
        let cols: Vec<&str> = r["columns"].as_array().unwrap().iter().map(|c| c[0].as_str().unwrap()).collect();
        assert_eq!(cols.first(), Some(&"snapshot_date"), "{user}: {cols:?}");
        assert!(cols.contains(&"student_key") && cols.contains(&"bmi"));
        let by_grade = server.psql_ok(user, &format!("SELECT grade, count(*) AS n FROM enrollments WHERE school_code = '{school}' GROUP BY grade ORDER BY grade"));
        let odbc_rows: Vec<String> = r["by_grade"].as_array().unwrap().iter().map(|row| format!("{},{}", row[0].as_str().unwrap(), row[1])).collect();
        assert_eq!(odbc_rows, by_grade.lines().skip(1).map(str::to_string).collect::<Vec<_>>(), "{user}: ODBC parameter query");
        let budget = server.psql_ok(user, "SELECT count(*), sum(allocated_baht) FROM budget_lines");
        let b = &r["budget"];
        assert_eq!(format!("{},{}", b[0], b[1].as_str().unwrap_or("")), budget.lines().nth(1).unwrap(), "{user}: ODBC numeric");

        for dialect in ["postgresql+psycopg2", "postgresql+psycopg"] {
            let r = python("sqlalchemy", &server, user, &[dialect, query]);
            assert_eq!(r["server_version_info"], serde_json::json!([16, 6]), "{dialect}");
            assert!(r["version"].as_str().unwrap().starts_with("PostgreSQL 16.6"));
            assert!(r["databases"].as_array().unwrap().iter().any(|d| d == "khlang"), "{}", r["databases"]);
            assert!(r["pid"].as_i64().unwrap() > 0);
            let mut tables: Vec<String> = r["tables"].as_array().unwrap().iter().chain(r["views"].as_array().unwrap()).map(|t| t.as_str().unwrap().to_string()).collect();
            tables.sort();
            assert_eq!(tables, visible_tables(&server, user), "{user} {dialect}: tables and views");
            assert_eq!(r["has_table"], true);
            assert_eq!(r["foreign_keys"], serde_json::json!([]));
            assert_eq!(r["schemas"], serde_json::json!(["information_schema", "public"]));
            assert_eq!(r["read_sql"].as_str().unwrap().trim_end(), psql.trim_end(), "{user} {dialect}: pandas.read_sql equals psql");
            // Column reflection: information_schema's columns in order, PostgreSQL types, the
            // contract's descriptions as comments; no keys, indexes or checks are declared.
            let cols = server.psql_ok(user, "SELECT column_name, is_nullable FROM information_schema.columns WHERE table_name = 'enrollments' ORDER BY ordinal_position");
            let expected: Vec<String> = cols.lines().skip(1).map(|l| l.to_string()).collect();
            let got: Vec<String> =
                r["columns"].as_array().unwrap().iter().map(|c| format!("{},{}", c[0].as_str().unwrap(), if c[2] == true { "YES" } else { "NO" })).collect();
            assert_eq!(got, expected, "{user} {dialect}: get_columns");
            let types: std::collections::HashMap<&str, &str> = r["columns"].as_array().unwrap().iter().map(|c| (c[0].as_str().unwrap(), c[1].as_str().unwrap())).collect();
            assert_eq!((types["snapshot_date"], types["school_code"], types["disadvantaged"], types["age_years"]), ("DATE", "TEXT", "BOOLEAN", "INTEGER"), "{types:?}");
            let school_code = r["columns"].as_array().unwrap().iter().find(|c| c[0] == "school_code").unwrap();
            assert!(school_code[3].as_str().is_some_and(|c| c.contains("รหัสโรงเรียน") && c.contains("School code")), "{school_code}");
            assert_eq!(r["pk"]["constrained_columns"], serde_json::json!([]));
            assert_eq!((&r["indexes"], &r["unique"], &r["check"]), (&serde_json::json!([]), &serde_json::json!([]), &serde_json::json!([])));
            assert!(r["table_comment"].as_str().is_some_and(|c| !c.is_empty()), "{user} {dialect}: table comment {}", r["table_comment"]);
            let schools_cols = server.psql_ok(user, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'schools'");
            let schools_rows = server.psql_ok(user, "SELECT count(*) FROM schools");
            assert_eq!(
                (r["read_sql_table"][0].as_array().unwrap().len().to_string(), r["read_sql_table"][1].to_string()),
                (schools_cols.lines().nth(1).unwrap().to_string(), schools_rows.lines().nth(1).unwrap().to_string()),
                "{user} {dialect}: pandas.read_sql_table"
            );
        }
    }
}

#[test]
fn npgsql_statements_and_binary_transfer() {
    let (env, _school, _other) = setup();
    let server = Server::start(&env, &[]);
    for user in ["ana", "kru"] {
        // Npgsql 4's type-loading batch at connect: three statements in one query.
        let o = server.psql(user, PASSWORD, &["-v", "ON_ERROR_STOP=1", "-f", clients_dir().join("npgsql_types.sql").to_str().unwrap()]);
        assert_ok(&o, "Npgsql's type-loading batch");
        let out = String::from_utf8(o.stdout).unwrap();
        for t in ["int4", "int8", "text", "varchar", "date", "numeric", "bool", "float8", "timestamptz", "timestamp"] {
            assert!(out.lines().any(|l| l.split(',').nth(1) == Some(t)), "{user}: type {t} missing from Npgsql's type list:\n{out}");
        }
        // What Npgsql sends when it takes a connection from its pool.
        let o = server.psql(user, PASSWORD, &["-v", "ON_ERROR_STOP=1", "-c", "SET application_name = 'Power BI'", "-c", "DISCARD ALL", "-c", "SHOW application_name"]);
        assert_ok(&o, "DISCARD ALL");
        assert_eq!(String::from_utf8(o.stdout).unwrap(), "SET\nDISCARD ALL\napplication_name\npsql\n", "DISCARD ALL resets the settings");
        // Binary results decode as text results do, for every contract column type.
        let mut queries = vec![
            "SELECT snapshot_date, academic_year, area_code, school_code, student_key, grade, grade_order, level, classroom, sex, age_years, nationality, disadvantaged, disability, bmi, status FROM enrollments ORDER BY student_key, snapshot_date LIMIT 500",
            "SELECT fiscal_year, category, allocated_baht, disbursed_baht, transaction_date, fiscal_quarter FROM budget_lines ORDER BY document_no LIMIT 500",
            "SELECT snapshot_date, students, size_band, students_per_teacher, teacher_gap FROM school_snapshot_summary ORDER BY school_code, snapshot_date",
            "SELECT run_id, line_no, rule, snapshot_date FROM rejected_rows ORDER BY run_id, line_no LIMIT 200",
        ];
        if user == "ana" {
            queries.push("SELECT run_id, started_at, finished_at, rows_read, table_version FROM ingest_runs ORDER BY feed");
        }
        for q in queries {
            let r = python("binary", &server, user, &[q]);
            assert!(r["rows"].as_u64().unwrap() > 0 || q.contains("rejected_rows"), "{user}: no rows from {q}");
            assert_eq!(r["equal"], true, "{user}: binary differs from text for {q}: {} vs {}", r["first_binary"], r["first_text"]);
        }
    }
}

#[test]
fn postgresql_identity_settings_and_catalog() {
    let (env, school, other) = setup();
    let server = Server::start(&env, &[]);
    let one = |user: &str, sql: &str| server.psql_ok(user, sql).lines().nth(1).unwrap_or("").trim_matches('"').to_string();
    for user in ["ana", "kru"] {
        assert!(one(user, "SELECT version()").starts_with("PostgreSQL 16.6 (Khlang "), "{user}");
        assert!(one(user, "SELECT pg_catalog.version()").starts_with("PostgreSQL 16.6 (Khlang "));
        assert_eq!(one(user, "SHOW server_version_num"), "160006");
        assert!(one(user, "SHOW server_version").starts_with("16.6 (Khlang "));
        assert_eq!(one(user, "SELECT current_setting('server_version_num')"), "160006");
        assert_eq!(server.psql_ok(user, "SHOW DateStyle"), "DateStyle\n\"ISO, MDY\"\n");
        assert_eq!(server.psql_ok(user, "SHOW TIME ZONE"), "TimeZone\nAsia/Bangkok\n");
        assert_eq!(server.psql_ok(user, "SHOW transaction isolation level"), "transaction_isolation\nread committed\n");
        assert_eq!(one(user, "SHOW max_identifier_length"), "63");
        assert_eq!(one(user, "SHOW standard_conforming_strings"), "on");
        assert_eq!(one(user, "SELECT current_user || ',' || session_user"), format!("{user},{user}"));
        // The statements clients send on connect are accepted; writing is still refused.
        let o = server.psql(
            user,
            PASSWORD,
            &[
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                "SET extra_float_digits = 3",
                "-c",
                "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
                "-c",
                "SET search_path = public",
                "-c",
                "RESET ALL",
                "-c",
                "DEALLOCATE ALL",
                "-c",
                "BEGIN READ ONLY",
                "-c",
                "SELECT count(*) FROM schools",
                "-c",
                "COMMIT",
                "-c",
                "SET statement_timeout = 0",
                "-c",
                "RESET statement_timeout",
            ],
        );
        assert_ok(&o, "session statements");
        let o = server.psql(user, PASSWORD, &["-c", "INSERT INTO schools (school_code) VALUES ('x')"]);
        assert!(String::from_utf8_lossy(&o.stderr).contains("read-only"), "{}", String::from_utf8_lossy(&o.stderr));
        let o = server.psql(user, PASSWORD, &["-c", "SELECT current_setting('no_such_setting')"]);
        assert!(String::from_utf8_lossy(&o.stderr).contains("unrecognized configuration parameter"));
        // Catalog functions.
        assert_eq!(one(user, "SELECT to_regtype('int4')"), "integer");
        assert_eq!(one(user, "SELECT to_regclass('enrollments')"), "enrollments");
        assert_eq!(one(user, "SELECT to_regclass('audit_log') IS NULL"), "t", "{user}: a hidden table is not a relation");
        assert!(one(user, "SELECT obj_description(c.oid, 'pg_class') FROM pg_catalog.pg_class c WHERE c.relname = 'schools'").contains("โรงเรียน"));
        assert!(one(user, "SELECT col_description(c.oid, 2) FROM pg_catalog.pg_class c WHERE c.relname = 'schools'").contains("SMIS"));
        assert!(one(user, "SELECT pg_backend_pid()").parse::<i32>().unwrap() > 0);
        assert_eq!(one(user, "SELECT array_to_string(current_schemas(false), ',')"), "public");
        assert_eq!(one(user, "SELECT has_table_privilege('enrollments', 'select')"), "t");
        assert_eq!(one(user, "SELECT format_type(23, NULL)"), "integer");
        // information_schema as PostgreSQL has it, with no keys declared.
        assert_eq!(one(user, "SELECT count(*) FROM information_schema.table_constraints"), "0");
        assert_eq!(one(user, "SELECT count(*) FROM information_schema.key_column_usage"), "0");
        assert_eq!(one(user, "SELECT count(*) FROM information_schema.referential_constraints"), "0");
        assert_eq!(
            server.psql_ok(user, "SELECT column_name, data_type, udt_name FROM information_schema.columns WHERE table_name = 'budget_lines' AND column_name IN ('fiscal_year', 'allocated_baht', 'transaction_date') ORDER BY ordinal_position"),
            "column_name,data_type,udt_name\nfiscal_year,integer,int4\nallocated_baht,numeric,numeric\ntransaction_date,date,date\n"
        );
        // pg_stat_activity shows the caller's own session only.
        assert_eq!(server.psql_ok(user, "SELECT usename, state FROM pg_stat_activity"), format!("usename,state\n{user},active\n"));
        // No catalog view names a hidden table.
        for q in [
            "SELECT count(*) FROM pg_catalog.pg_class WHERE relname IN ('audit_log', 'usage_summary')",
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'audit_log' OR column_name = 'raw'",
            "SELECT count(*) FROM pg_catalog.pg_description d JOIN pg_catalog.pg_class c ON c.oid = d.objoid WHERE c.relname = 'audit_log'",
        ] {
            assert_eq!(one(user, q), "0", "{user}: {q}");
        }
    }
    // A school user's catalog shows no table outside its role, also when the same catalog
    // statement's answer was just kept for another kind of caller (the connect-probe cache).
    let probe = "SELECT count(*) FROM pg_catalog.pg_class WHERE relname = 'ingest_runs'";
    assert_eq!(one("root", probe), "1");
    assert_eq!(one("root", probe), "1");
    assert_eq!(one("kru", probe), "0");
    assert_eq!(one("kru", probe), "0");
    assert_eq!(one("root", probe), "1");
    assert_eq!(one("kru", &format!("SELECT count(*) FROM enrollments WHERE school_code = '{other}'")), "0");
    assert_ne!(one("kru", &format!("SELECT count(*) FROM enrollments WHERE school_code = '{school}'")), "0");
}

/// Reads the server's first answer to a startup packet for `user`: the sign-in method it asks for.
fn auth_request(port: u16, user: &str) -> String {
    let script = r#"
import socket, struct, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
body = struct.pack('!I', 196608) + b'user\x00' + sys.argv[2].encode() + b'\x00database\x00khlang\x00\x00'
s.sendall(struct.pack('!I', len(body) + 4) + body)
kind = s.recv(1)
length = struct.unpack('!I', s.recv(4))[0]
data = s.recv(length - 4)
code = struct.unpack('!I', data[:4])[0]
print(kind.decode(), code, data[4:].split(b'\x00')[0].decode())
"#;
    let o = Command::new("python3").args(["-c", script, &port.to_string(), user]).output().unwrap();
    assert_ok(&o, "startup packet");
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

#[test]
fn tls_and_scram_sign_in() {
    let (env, _school, _other) = setup();
    // The default: SCRAM-SHA-256 (AuthenticationSASL, code 10), TLS not offered.
    let plain = Server::start(&env, &[]);
    assert_eq!(auth_request(plain.pg, "ana"), "R 10 SCRAM-SHA-256");
    assert_eq!(auth_request(plain.pg, "nobody"), "R 10 SCRAM-SHA-256", "an unknown user is not told apart");
    drop(plain);

    let certs = env.path("certs");
    let o = env.cmd().args(["tls", "self-signed", "--out"]).arg(&certs).output().unwrap();
    assert_ok(&o, "khlang tls self-signed");
    let (crt, key) = (certs.join("server.crt"), certs.join("server.key"));
    let server = Server::start(
        &env,
        &[("KHLANG_TLS_CERT", crt.to_str().unwrap()), ("KHLANG_TLS_KEY", key.to_str().unwrap()), ("KHLANG_TLS_REQUIRED", "true")],
    );
    let psql = |user: &str, password: &str, conn: &str, sql: &str| {
        Command::new("psql")
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "10")
            .args(["-X", "--csv", "-c", sql])
            .arg(format!("host=127.0.0.1 port={} user={user} dbname=khlang {conn}", server.pg))
            .output()
            .unwrap()
    };
    let verify = format!("sslmode=verify-full sslrootcert={}", crt.display());
    let o = psql("ana", PASSWORD, &verify, "SELECT count(*) FROM schools");
    assert_ok(&o, "psql over TLS with verify-full");
    let o = psql("ana", PASSWORD, &verify, "SHOW ssl");
    assert_eq!(String::from_utf8(o.stdout).unwrap(), "ssl\non\n");
    // Cleartext is refused with a reason.
    let o = psql("ana", PASSWORD, "sslmode=disable", "SELECT 1");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("only over TLS") && err.contains("tls_required"), "{err}");
    // A certificate the client does not trust is refused by the client.
    let o = psql("ana", PASSWORD, "sslmode=verify-full sslrootcert=/etc/ssl/certs/ca-certificates.crt", "SELECT 1");
    assert!(!o.status.success(), "verify-full accepted a certificate no CA signed");
    // SCRAM: a wrong password is refused and recorded.
    let o = psql("ana", "not the password", &verify, "SELECT 1");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("password authentication failed for user \"ana\""), "{err}");
    // HTTPS with the same certificate.
    let o = Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"]).arg(&crt).arg(format!("https://127.0.0.1:{}/healthz", server.http)).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "200", "HTTPS: {}", String::from_utf8_lossy(&o.stderr));
    std::thread::sleep(Duration::from_secs(3));
    let o = psql("root", PASSWORD, &verify, "SELECT user_name, action, object FROM audit_log WHERE action IN ('login', 'login_failed') ORDER BY at");
    assert_ok(&o, "read the audit log");
    let log = String::from_utf8(o.stdout).unwrap();
    assert!(log.contains("ana,login_failed,wire: wrong password"), "{log}");
    assert!(log.contains("ana,login_failed,wire: a sign-in without TLS"), "{log}");
    assert!(log.contains("ana,login,wire"), "{log}");
    // A bad certificate setting stops serve at start with the file named.
    let o = env.cmd().env("KHLANG_TLS_CERT", &key).env("KHLANG_TLS_KEY", &key).env("KHLANG_PG", "127.0.0.1:0").env("KHLANG_HTTP", "127.0.0.1:0").arg("serve").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("tls_cert") && err.contains("server.key"), "{err}");
}

/// psycopg cancels its running query from another thread, then uses the same connection again.
const CANCEL_THEN_QUERY: &str = r#"
import sys, threading, time, psycopg
conn = psycopg.connect(sys.argv[1], autocommit=True)
threading.Timer(1.5, conn.cancel_safe).start()
try:
    conn.execute("SELECT sum(value) FROM generate_series(1, 50000000000)").fetchall()
    print("not cancelled")
except psycopg.errors.QueryCanceled as e:
    print(e.sqlstate)
print(conn.execute("SELECT count(*) FROM schools").fetchone()[0])
"#;

#[test]
fn a_cancel_request_ends_the_running_query_and_the_connection_goes_on() {
    let (env, _school, _other) = setup();
    let server = Server::start(&env, &[]);
    for user in ["ana", "kru"] {
        let child = Command::new("psql")
            .env("PGPASSWORD", PASSWORD)
            .args(["-X", "-h", "127.0.0.1", "-p", &server.pg.to_string(), "-U", user, "-d", "khlang", "--csv", "-v", "VERBOSITY=verbose"])
            .args(["-c", "SELECT sum(value) FROM generate_series(1, 50000000000)"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(2500));
        // psql turns Ctrl-C (SIGINT) into a cancel request on a new connection.
        let o = Command::new("kill").args(["-INT", &child.id().to_string()]).output().unwrap();
        assert_ok(&o, "kill -INT psql");
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("57014") && err.contains("canceling statement due to user request"), "{user}: {err}");
        // The connection that was cancelled goes on.
        let o = server.psycopg(user, CANCEL_THEN_QUERY, &[]);
        assert_ok(&o, "psycopg cancel");
        let schools = if user == "kru" { 1 } else { env.count("SELECT count(*) FROM schools") };
        assert_eq!(String::from_utf8(o.stdout).unwrap(), format!("57014\n{schools}\n"), "{user}");
    }
}

//! SQL for analysts over the PostgreSQL wire protocol and the HTTP API: real psql, psycopg and curl
//! against a running `khlang serve`; users, scope, PDPA, limits, audit.

use std::process::Command;

use crate::common::{Env, assert_ok};
use crate::server::{PASSWORD, Server, add_user};

/// Queries an analyst runs, with answers in types every client prints alike (integers, text, dates,
/// decimals).
const ANALYST_QUERIES: [&str; 6] = [
    "SELECT area_code, level, sex, count(*) AS students FROM enrollments WHERE status = 'studying' GROUP BY area_code, level, sex ORDER BY area_code, level, sex",
    "SELECT snapshot_date, sum(students) AS students, sum(teachers) AS teachers FROM school_snapshot_summary GROUP BY snapshot_date ORDER BY snapshot_date",
    "SELECT s.school_code, s.school_name, count(p.person_key) AS teachers FROM schools s LEFT JOIN personnel p ON p.school_code = s.school_code GROUP BY s.school_code, s.school_name ORDER BY s.school_code LIMIT 20",
    "SELECT fiscal_year, category, sum(allocated_baht) AS allocated, sum(disbursed_baht) AS disbursed FROM budget_lines GROUP BY fiscal_year, category ORDER BY fiscal_year, category",
    "WITH t AS (SELECT school_code, size_band, teacher_gap FROM school_snapshot_summary WHERE snapshot_date = (SELECT max(snapshot_date) FROM school_snapshot_summary)) SELECT size_band, count(*) AS schools, sum(teacher_gap) AS gap FROM t GROUP BY size_band ORDER BY size_band",
    "SELECT grade, rank() OVER (ORDER BY count(*) DESC, grade) AS r, count(*) AS n FROM enrollments GROUP BY grade ORDER BY grade",
];

fn khlang_csv(env: &Env, sql: &str) -> String {
    env.sql_csv(sql)
}

/// A Python script: runs each query given on the command line with psycopg (extended protocol) and
/// prints CSV like `khlang sql --format csv`.
const PSYCOPG_CSV: &str = r#"
import sys, csv, io, psycopg
conn = psycopg.connect(sys.argv[1], autocommit=True)
for q in sys.argv[2:]:
    cur = conn.execute(q)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow([d.name for d in cur.description])
    for row in cur.fetchall():
        w.writerow(["" if v is None else v for v in row])
    print(out.getvalue(), end="")
    print("----")
"#;

fn setup() -> (Env, String, String) {
    let env = Env::new();
    let pull = env.generate("pull", 41, "mixed");
    assert_ok(&env.ingest(&pull), "ingest");
    let area = env.sql_csv("SELECT min(area_code) FROM schools").lines().nth(1).unwrap().to_string();
    let school = env
        .sql_csv("SELECT school_code FROM school_snapshot_summary WHERE students > 50 ORDER BY school_code LIMIT 1")
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    (env, area, school)
}

#[test]
fn psql_and_psycopg_answer_as_khlang_sql_does() {
    let (env, _area, school) = setup();
    add_user(&env, "ana", "analyst", &[]);
    let server = Server::start(&env, &[]);

    for q in ANALYST_QUERIES {
        let ours = khlang_csv(&env, q);
        assert!(ours.lines().count() > 1, "no rows from {q}");
        let psql = server.psql_ok("ana", q);
        assert_eq!(psql.trim_end(), ours.trim_end(), "psql differs from khlang sql on {q}");
    }
    // psycopg uses the extended protocol (Parse/Bind/Execute).
    let o = server.psycopg("ana", PSYCOPG_CSV, &ANALYST_QUERIES);
    assert_ok(&o, "psycopg");
    let out = String::from_utf8(o.stdout).unwrap();
    for (q, got) in ANALYST_QUERIES.iter().zip(out.split("----\n")) {
        assert_eq!(got.trim_end(), khlang_csv(&env, q).trim_end(), "psycopg differs from khlang sql on {q}");
    }
    // A bound parameter.
    let script = "import sys, psycopg\nc = psycopg.connect(sys.argv[1], autocommit=True)\nprint(c.execute('SELECT count(*) FROM enrollments WHERE school_code = %s', (sys.argv[2],)).fetchone()[0])\n";
    let o = server.psycopg("ana", script, &[&school]);
    assert_ok(&o, "psycopg parameter");
    let want = env.count(&format!("SELECT count(*) FROM enrollments WHERE school_code = '{school}'"));
    assert_eq!(String::from_utf8(o.stdout).unwrap().trim(), want.to_string());

    // Schema browsers: psql's \dt and \d read pg_catalog.
    let o = server.psql("ana", PASSWORD, &["-c", "\\dt"]);
    assert_ok(&o, "\\dt");
    let dt = String::from_utf8(o.stdout).unwrap();
    for t in ["enrollments", "schools", "school_snapshot_summary", "budget_lines"] {
        assert!(dt.contains(t), "\\dt does not list {t}:\n{dt}");
    }
    assert!(!dt.contains("audit_log"), "an analyst must not see audit_log:\n{dt}");
    let tables = server.psql_ok("ana", "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name");
    assert!(tables.contains("enrollments") && tables.contains("submission_status") && !tables.contains("audit_log"), "{tables}");

    // A syntax error comes back as a PostgreSQL error with its position; the connection lives on.
    let o = server.psql("ana", PASSWORD, &["-c", "SELECT count(*) FROM enrollments WHERE", "-c", "SELECT 41 + 1 AS answer"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("ERROR:") && err.contains("LINE 1:") && err.contains('^'), "no positioned syntax error: {err}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("42"), "the connection did not survive the error: {err}");
    let script = "import sys, psycopg\nc = psycopg.connect(sys.argv[1], autocommit=True)\ntry:\n    c.execute('SELEC 1')\nexcept psycopg.errors.SyntaxError as e:\n    print('syntax', e.diag.sqlstate, e.diag.statement_position, e.diag.message_primary)\nprint(c.execute('SELECT 1').fetchone()[0])\n";
    let o = server.psycopg("ana", script, &[]);
    assert_ok(&o, "psycopg syntax error");
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.starts_with("syntax 42601 1 ") && out.ends_with("\n1\n"), "{out}");

    // Read-only: nothing that writes gets through.
    for bad in ["CREATE TABLE x AS SELECT 1", "INSERT INTO areas VALUES ('1', '2', '3', '4')", "COPY (SELECT 1) TO '/tmp/khlang-copy-out.csv'", "DROP TABLE enrollments"] {
        let o = server.psql("ana", PASSWORD, &["-c", bad]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains("read-only"), "{bad} was not refused: {err}");
    }
    assert!(!std::path::Path::new("/tmp/khlang-copy-out.csv").exists());

    // Time travel in SQL over the wire: before the first load there was nothing.
    let before = server.psql_ok("ana", "SELECT count(*) AS n FROM as_of('enrollments', '2000-01-01 00:00')");
    assert_eq!(before.lines().nth(1), Some("0"));
    let now = server.psql_ok("ana", "SELECT count(*) AS n FROM as_of('enrollments', '2100-01-01 00:00')");
    assert_eq!(now.lines().nth(1).unwrap(), env.count("SELECT count(*) FROM enrollments").to_string());

    // A connection left open (a DBeaver session) sees tonight's load once it is published.
    use std::io::{BufRead as _, Write as _};
    let script = "import sys, psycopg\nc = psycopg.connect(sys.argv[1], autocommit=True)\nq = 'SELECT count(*) FROM enrollments'\nprint(c.execute(q).fetchone()[0], flush=True)\nsys.stdin.readline()\nprint(c.execute(q).fetchone()[0], flush=True)\n";
    let dsn = format!("host=127.0.0.1 port={} user=ana password='{PASSWORD}' dbname=khlang", server.pg);
    let mut child = Command::new("python3").args(["-c", script, &dsn]).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert_eq!(first.trim(), env.count("SELECT count(*) FROM enrollments").to_string());
    let pull = env.generate("pull2", 42, "utf8-english");
    assert_ok(&env.ingest(&pull), "second ingest");
    let after = env.count("SELECT count(*) FROM enrollments");
    assert_ne!(first.trim(), after.to_string(), "the second pull should change the count");
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut second = String::new();
    out.read_line(&mut second).unwrap();
    assert_eq!(second.trim(), after.to_string(), "the open connection still reads the old load");
    assert!(child.wait().unwrap().success());
}

#[test]
fn bad_sign_ins_are_refused_clearly_and_logged() {
    let (env, _area, _school) = setup();
    add_user(&env, "root", "admin", &[]);
    add_user(&env, "ana", "analyst", &[]);
    let server = Server::start(&env, &[]);

    let o = server.psql("ana", "wrong password", &["-c", "SELECT 1"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("password authentication failed for user \"ana\""), "{err}");
    let o = server.psql("nobody", PASSWORD, &["-c", "SELECT 1"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("password authentication failed for user \"nobody\""), "{err}");
    // A malformed startup packet: the client is told why before the connection closes.
    let script = "import socket, sys\ns = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\ns.sendall(b'\\x00\\x00\\x00\\x10GET / HTTP/1.1\\r\\n')\ns.settimeout(10)\nprint(s.recv(1000))\n";
    let o = Command::new("python3").args(["-c", script, &server.pg.to_string()]).output().unwrap();
    let got = String::from_utf8_lossy(&o.stdout);
    assert!(got.contains("invalid startup packet") || got.contains("unsupported frontend protocol"), "{got}");
    // HTTP sign-in with a wrong password.
    let (status, body) = server.curl(&["-X", "POST", "-H", "Content-Type: application/json", "-d", "{\"user\":\"ana\",\"password\":\"nope\"}", "/api/login"]);
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&body));

    // A good sign-in and a query, then the admin reads the log.
    server.psql_ok("ana", "SELECT count(*) FROM schools");
    let log = server.psql_ok("root", "SELECT user_name, action, object, client_addr, sql_text FROM audit_log ORDER BY at");
    let has = |user: &str, action: &str, object: &str| log.lines().any(|l| l.starts_with(&format!("{user},{action},")) && l.contains(object));
    assert!(has("ana", "login_failed", "wire: wrong password"), "{log}");
    assert!(has("nobody", "login_failed", "wire: unknown user"), "{log}");
    assert!(log.lines().any(|l| l.contains("login_failed") && (l.contains("invalid startup packet") || l.contains("unsupported frontend protocol"))), "{log}");
    assert!(has("ana", "login_failed", "http: wrong password"), "{log}");
    assert!(has("ana", "login", "wire"), "{log}");
    assert!(has("ana", "query", "schools") && log.contains("SELECT count(*) FROM schools"), "{log}");
    assert!(log.lines().all(|l| !l.contains(PASSWORD)), "a password reached the audit log");
    // Only admins read the log, and usage_summary counts queries per user, day and table.
    let o = server.psql("ana", PASSWORD, &["-c", "SELECT count(*) FROM audit_log"]);
    assert!(!o.status.success(), "an analyst read the audit log");
    let usage = server.psql_ok("root", "SELECT user_name, action, table_name, events FROM usage_summary WHERE user_name = 'ana' AND table_name = 'schools'");
    assert!(usage.lines().nth(1).is_some_and(|l| l.starts_with("ana,query,schools,")), "{usage}");

    // Retention can be raised, never lowered below the law's 90 days.
    let o = env.cmd().env("KHLANG_AUDIT_RETENTION_DAYS", "30").args(["config", "show"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("audit_retention_days = 30") && err.contains("90"), "{err}");
}

#[test]
fn five_wrong_passwords_lock_the_account_and_sign_ins_outlive_a_restart() {
    let env = Env::new();
    add_user(&env, "root", "admin", &[]);
    add_user(&env, "ana", "analyst", &[]);
    add_user(&env, "bee", "analyst", &[]);
    let mut server = Server::start(&env, &[]);

    // A web sign-in, then the server restarts: the same token still works; a signed-out one does not.
    let kept = server.login("ana");
    let ended = server.login("bee");
    let (status, _) = server.curl(&["-X", "POST", "-H", &format!("Authorization: Bearer {ended}"), "/api/logout"]);
    assert_eq!(status, 200);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let server = Server::start(&env, &[]);
    let (status, body) = server.api_sql(&kept, "SELECT 1 AS one", "csv");
    assert_eq!((status, String::from_utf8_lossy(&body).trim().to_string()), (200, "one\n1".to_string()), "a sign-in kept across the restart");
    let (status, _) = server.api_sql(&ended, "SELECT 1", "csv");
    assert_eq!(status, 401, "a signed-out token works again after a restart");
    let sessions = std::fs::read_to_string(env.path("warehouse/_khlang/sessions.json")).unwrap();
    assert!(!sessions.contains(&kept) && sessions.contains("token_sha256"), "tokens are kept only as digests: {sessions}");

    // Five wrong passwords in a row lock the account: the right one is refused too, over every channel.
    for _ in 0..4 {
        assert!(!server.psql("ana", "wrong password", &["-c", "SELECT 1"]).status.success());
    }
    let (status, _) = server.curl(&["-X", "POST", "-H", "Content-Type: application/json", "-d", "{\"user\":\"ana\",\"password\":\"nope\"}", "/api/login"]);
    assert_eq!(status, 401);
    let o = server.psql("ana", PASSWORD, &["-c", "SELECT 1"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("password authentication failed"), "a locked account signed in");
    let (status, _) = server.curl(&["-X", "POST", "-H", "Content-Type: application/json", "-d", &format!("{{\"user\":\"ana\",\"password\":\"{PASSWORD}\"}}"), "/api/login"]);
    assert_eq!(status, 401, "a locked account signed in over HTTP");
    // Another account is not affected, and the lock is in the audit log.
    server.psql_ok("bee", "SELECT 1");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let log = server.psql_ok("root", "SELECT user_name, object FROM audit_log WHERE action = 'login_failed' ORDER BY at");
    assert!(log.contains("ana,wire: account locked for 15 minutes after 5 wrong passwords") || log.contains("ana,http: account locked for 15 minutes after 5 wrong passwords"), "{log}");
    assert!(log.contains("ana,wire: the account is locked for a while after repeated wrong passwords"), "{log}");
}

/// What a scoped user may see: counts of their own rows, per table, computed by the operator.
fn own_counts(env: &Env, column: &str, value: &str) -> Vec<(String, u64)> {
    ["enrollments", "personnel", "budget_lines", "test_results", "buildings", "school_snapshot_summary", "schools"]
        .iter()
        .map(|t| (t.to_string(), env.count(&format!("SELECT count(*) FROM {t} WHERE {column} = '{value}'"))))
        .collect()
}

fn scalar(csv: &str) -> String {
    csv.lines().nth(1).unwrap_or("").trim().to_string()
}

/// Tries every way out of a scope, over the wire and over HTTP, for one user.
pub fn assert_scope_holds(env: &Env, server: &Server, user: &str, column: &str, value: &str, partial: bool) {
    let own = own_counts(env, column, value);
    for (t, n) in &own {
        assert_eq!(scalar(&server.psql_ok(user, &format!("SELECT count(*) FROM {t}"))), n.to_string(), "{user}: {t}");
    }
    let enrolled = own[0].1.to_string();
    let all = env.count("SELECT count(*) FROM enrollments");
    assert!(own[0].1 > 0 && (!partial || own[0].1 < all), "the test needs a scope smaller than the whole");
    let escapes = [
        // Join to a table of everything.
        "SELECT count(*) FROM enrollments e JOIN schools s ON s.school_code = e.school_code".to_string(),
        // Subquery naming another school.
        format!("SELECT count(*) FROM enrollments WHERE school_code IN (SELECT school_code FROM schools WHERE {column} <> '{value}') OR {column} = '{value}'"),
        // CTE.
        "WITH x AS (SELECT * FROM enrollments) SELECT count(*) FROM x".to_string(),
        // UNION of the table with itself under another filter.
        format!("SELECT count(*) FROM (SELECT student_key FROM enrollments WHERE {column} = '{value}' UNION ALL SELECT student_key FROM enrollments WHERE {column} <> '{value}') u"),
        // Window over everything.
        "SELECT max(n) FROM (SELECT count(*) OVER () AS n FROM enrollments) w".to_string(),
        // Time travel.
        "SELECT count(*) FROM as_of('enrollments', '2100-01-01 00:00')".to_string(),
        // A fully qualified name.
        "SELECT count(*) FROM khlang.public.enrollments".to_string(),
    ];
    for q in &escapes {
        assert_eq!(scalar(&server.psql_ok(user, q)), enrolled, "{user} escaped with {q}");
    }
    // Time travel to the first version: the user's own rows then.
    let first = env.count(&format!("SELECT count(*) FROM at_version('enrollments', 1) WHERE {column} = '{value}'"));
    let q = "SELECT count(*) FROM at_version('enrollments', 1)";
    assert_eq!(scalar(&server.psql_ok(user, q)), first.to_string(), "{user} escaped with {q}");
    // Other schools' rows do not exist for this user.
    let other = scalar(&server.psql_ok(user, &format!("SELECT count(*) FROM enrollments WHERE {column} <> '{value}'")));
    assert_eq!(other, "0", "{user}");
    // COPY … TO STDOUT (psql \copy) exports only their rows.
    let out = env.path(&format!("{user}-copy.csv"));
    let o = server.psql(user, PASSWORD, &["-c", &format!("\\copy (SELECT {column}, student_key FROM enrollments) TO '{}' WITH (FORMAT csv, HEADER)", out.display())]);
    assert_ok(&o, "\\copy");
    let copied = std::fs::read_to_string(&out).unwrap();
    assert_eq!(copied.lines().count() as u64, own[0].1 + 1, "{user}: COPY row count");
    assert!(copied.lines().skip(1).all(|l| l.starts_with(&format!("{value},"))), "{user}: COPY reached other rows");
    // information_schema shows no audit log and no raw rejected rows.
    let cols = server.psql_ok(user, "SELECT table_name, column_name FROM information_schema.columns WHERE table_name IN ('rejected_rows', 'audit_log')");
    assert!(!cols.contains("audit_log") && !cols.contains(",raw"), "{user}: {cols}");
    let o = server.psql(user, PASSWORD, &["-c", "SELECT raw FROM rejected_rows"]);
    assert!(!o.status.success(), "{user} read rejected_rows.raw");
    // HTTP exports: CSV, JSON and Parquet hold only their rows.
    let token = server.login(user);
    let sql = format!("SELECT {column}, student_key FROM enrollments");
    let (status, csv) = server.api_sql(&token, &sql, "csv");
    assert_eq!(status, 200);
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(csv.lines().count() as u64, own[0].1 + 1, "{user}: HTTP CSV rows");
    assert!(csv.lines().skip(1).all(|l| l.starts_with(&format!("{value},"))));
    let (status, parquet) = server.api_sql(&token, &sql, "parquet");
    assert_eq!(status, 200);
    let path = env.path(&format!("{user}.parquet"));
    std::fs::write(&path, parquet).unwrap();
    let script = format!("import pyarrow.parquet as pq\nt = pq.read_table('{}')\nprint(t.num_rows, sorted(set(t.column(0).to_pylist())))\n", path.display());
    let o = Command::new("python3").args(["-c", &script]).output().unwrap();
    assert_ok(&o, "read parquet");
    assert_eq!(String::from_utf8(o.stdout).unwrap().trim(), format!("{} ['{value}']", own[0].1));
}

#[test]
fn school_and_director_users_cannot_leave_their_scope() {
    let (env, area, school) = setup();
    add_user(&env, "kru", "school", &["--school", &school]);
    add_user(&env, "director", "director", &["--area", &area]);
    let server = Server::start(&env, &[]);
    assert_scope_holds(&env, &server, "kru", "school_code", &school, true);
    // The area pull is one area; a director of it sees it all, which proves nothing about scope. A
    // director of another area sees nothing of this one.
    assert_scope_holds(&env, &server, "director", "area_code", &area, false);
    add_user(&env, "elsewhere", "director", &["--area", "99999999"]);
    assert_eq!(scalar(&server.psql_ok("elsewhere", "SELECT count(*) FROM enrollments")), "0");
    assert_eq!(scalar(&server.psql_ok("elsewhere", "SELECT count(*) FROM schools")), "0");
    // Sessions are kept per kind of caller: a second school's user, signed in between the first
    // one's queries, sees only its own school, and the first still only theirs.
    let other = env.sql_csv(&format!("SELECT min(school_code) FROM enrollments WHERE school_code <> '{school}'"));
    let other = scalar(&other);
    add_user(&env, "kru2", "school", &["--school", &other]);
    let q = "SELECT count(*), count(DISTINCT school_code), min(school_code) FROM enrollments";
    let mine = |code: &str| format!("{},1,{code}", env.count(&format!("SELECT count(*) FROM enrollments WHERE school_code = '{code}'")));
    assert_eq!(scalar(&server.psql_ok("kru2", q)), mine(&other));
    assert_eq!(scalar(&server.psql_ok("kru", q)), mine(&school));
    assert_eq!(scalar(&server.psql_ok("kru2", q)), mine(&other));
    let (status, csv) = server.api_sql(&server.login("kru2"), q, "csv");
    assert_eq!((status, scalar(&String::from_utf8(csv).unwrap())), (200, mine(&other)));
}

#[test]
fn the_http_api_streams_every_format_and_keeps_saved_queries() {
    let (env, area, _school) = setup();
    add_user(&env, "ana", "analyst", &["--area", &area]);
    add_user(&env, "bee", "analyst", &["--area", &area]);
    add_user(&env, "far", "analyst", &["--area", "99999999"]);
    let server = Server::start(&env, &[("KHLANG_QUERY_TIMEOUT_SECONDS", "3"), ("KHLANG_QUERY_MEMORY_MB", "64")]);
    let token = server.login("ana");
    let q = ANALYST_QUERIES[0];
    let want = env.sql_csv(q);

    let (status, csv) = server.api_sql(&token, q, "csv");
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8(csv).unwrap().trim_end(), want.trim_end());
    let (status, json) = server.api_sql(&token, q, "json");
    assert_eq!(status, 200);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&json).unwrap();
    assert_eq!(rows.len(), want.lines().count() - 1);
    // Accept header instead of ?format=.
    let (status, arrow) = server.curl(&["-X", "POST", "-H", &format!("Authorization: Bearer {token}"), "-H", "Accept: application/vnd.apache.arrow.stream", "--data-binary", q, "/api/sql"]);
    assert_eq!(status, 200);
    let (status, xlsx) = server.api_sql(&token, q, "xlsx");
    assert_eq!(status, 200);
    let (apath, xpath) = (env.path("r.arrows"), env.path("r.xlsx"));
    std::fs::write(&apath, arrow).unwrap();
    std::fs::write(&xpath, xlsx).unwrap();
    let script = format!(
        "import pyarrow.ipc as ipc, zipfile\nt = ipc.open_stream(open('{}', 'rb')).read_all()\nprint(t.num_rows, t.column_names)\nz = zipfile.ZipFile('{}')\nprint('sheet1' in ' '.join(z.namelist()))\n",
        apath.display(),
        xpath.display()
    );
    let o = Command::new("python3").args(["-c", &script]).output().unwrap();
    assert_ok(&o, "read arrow and xlsx");
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.starts_with(&format!("{} ['area_code', 'level', 'sex', 'students']", want.lines().count() - 1)) && out.contains("True"), "{out}");

    // Tables and the OpenAPI document.
    let (status, tables) = server.curl(&["-H", &format!("Authorization: Bearer {token}"), "/api/tables"]);
    assert_eq!(status, 200);
    let tables: serde_json::Value = serde_json::from_slice(&tables).unwrap();
    let names: Vec<&str> = tables["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"enrollments") && !names.contains(&"audit_log"), "{names:?}");
    let (status, doc) = server.curl(&["/api/openapi.json"]);
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&doc).unwrap();
    assert!(doc["paths"]["/api/sql"]["post"].is_object());

    // Errors: bad SQL is a 400 with the engine's message; writing is refused.
    let (status, body) = server.api_sql(&token, "SELECT nope FROM enrollments", "json");
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("nope"));
    let (status, _) = server.api_sql(&token, "CREATE TABLE x AS SELECT 1", "json");
    assert_eq!(status, 400);

    // Limits name themselves and their value.
    let heavy = "SELECT a.student_key, b.student_key, a.bmi + b.bmi FROM enrollments a, enrollments b ORDER BY 3 DESC";
    let (status, body) = server.api_sql(&token, heavy, "csv");
    let body = String::from_utf8_lossy(&body);
    assert!(status != 200 || body.len() < 1000, "a runaway query ran unchecked");
    let o = server.psql("ana", PASSWORD, &["-c", heavy]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        (err.contains("query_memory_mb = 64") && err.contains("64 MiB")) || (err.contains("query_timeout_seconds = 3") && err.contains("3 s")),
        "the limit is not named: {err}"
    );

    // Saved queries: shared within the area, private otherwise; run with the runner's scope.
    let auth = |t: &str| format!("Authorization: Bearer {t}");
    let save = |name: &str, shared: bool| {
        let body = serde_json::json!({ "name": name, "sql": "SELECT count(*) AS n FROM schools", "shared": shared }).to_string();
        let (status, out) = server.curl(&["-X", "POST", "-H", &auth(&token), "-H", "Content-Type: application/json", "-d", &body, "/api/saved"]);
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&out));
    };
    save("schools shared", true);
    save("schools mine", false);
    let bee = server.login("bee");
    let far = server.login("far");
    let list = |t: &str| String::from_utf8(server.curl(&["-H", &auth(t), "/api/saved"]).1).unwrap();
    assert!(list(&bee).contains("schools shared") && !list(&bee).contains("schools mine"));
    assert!(!list(&far).contains("schools shared"));
    let (status, run) = server.curl(&["-H", &auth(&bee), "/api/saved/schools%20shared/run?format=csv"]);
    assert_eq!(status, 200);
    assert_eq!(scalar(&String::from_utf8(run).unwrap()), env.count("SELECT count(*) FROM schools").to_string());
    let (status, _) = server.curl(&["-H", &auth(&far), "/api/saved/schools%20shared/run?format=csv"]);
    assert_eq!(status, 404);
    // And from the web: the list, and the result as a page.
    let (status, page) = server.curl(&["-H", &auth(&bee), "/saved"]);
    assert_eq!(status, 200);
    assert!(String::from_utf8(page).unwrap().contains("schools shared"));
    let (status, page) = server.curl(&["-H", &auth(&bee), "/saved/schools%20shared"]);
    assert_eq!(status, 200);
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains(&format!("<td>{}</td>", env.count("SELECT count(*) FROM schools"))), "{page}");
}

#[test]
fn the_public_sees_only_suppressed_aggregates() {
    let (env, _area, _school) = setup();
    let server = Server::start(&env, &[]);
    let (status, body) = server.api_sql("", "SELECT count(*) FROM enrollments", "json");
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    // Nothing is public before a director or an admin approves it.
    let (status, none) = server.api_sql("", "SELECT count(*) AS n FROM public_enrollment", "csv");
    assert_eq!((status, scalar(&String::from_utf8(none).unwrap())), (200, "0".to_string()));
    assert_ok(&env.cmd().args(["publish", "approve", "--reason", "public test"]).output().unwrap(), "publish approve");
    let (status, body) = server.api_sql("", "SELECT students FROM public_enrollment", "csv");
    assert_eq!(status, 200);
    let body = String::from_utf8(body).unwrap();
    assert!(body.lines().count() > 5);
    for v in body.lines().skip(1).filter(|l| !l.is_empty()) {
        let n: u64 = v.parse().unwrap();
        assert!(n >= 5, "a count under 5 was published: {n}");
    }
    // Small cells exist in the data and are withheld, not dropped.
    let small = env.count("SELECT count(*) FROM (SELECT snapshot_date, academic_year, area_code, level, sex, count(*) AS n FROM enrollments WHERE status = 'studying' GROUP BY snapshot_date, academic_year, area_code, level, sex) t WHERE n < 5");
    let (_, nulls) = server.api_sql("", "SELECT count(*) AS n FROM public_enrollment WHERE students IS NULL", "csv");
    assert_eq!(scalar(&String::from_utf8(nulls).unwrap()), small.to_string());
}

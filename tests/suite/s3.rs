//! The warehouse on S3-compatible object storage: a real S3 server (moto's, from PyPI) started by the
//! test, the real binary against it, and other engines (Python deltalake, Polars) reading the same
//! tables from it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::crash::STATE;
use crate::server::free_port;

pub const BUCKET: &str = "khlang";

/// A moto S3 server on its own port, stopped when dropped.
pub struct S3 {
    child: Child,
    pub host: String,
    pub port: u16,
}

impl S3 {
    /// Starts a server on 127.0.0.1 with the bucket `khlang`; its log goes to `log`.
    pub fn start(log: &Path) -> S3 {
        Self::start_on("127.0.0.1", log, None)
    }

    /// Starts a server listening on `host`, inside network namespace `netns` when given.
    pub fn start_on(host: &str, log: &Path, netns: Option<&str>) -> S3 {
        let port = free_port();
        let python = std::env::var("KHLANG_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, &python]);
                c
            }
            None => Command::new(&python),
        };
        let child = cmd
            .args(["-m", "moto.server", "-H", host, "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(log).expect("moto log")))
            .spawn()
            .expect("start moto_server (pip install 'moto[s3,server]')");
        let s3 = S3 { child, host: host.to_string(), port };
        let t0 = Instant::now();
        while std::net::TcpStream::connect((host, port)).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(60), "moto_server did not come up: {}", std::fs::read_to_string(log).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(100));
        }
        s3.python(&format!("s3.create_bucket(Bucket='{BUCKET}')"));
        s3
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// The standard variables that reach this server.
    pub fn vars(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "khlang-test".into()),
            ("AWS_SECRET_ACCESS_KEY", "khlang-test-secret".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// The same settings as a Python dict literal, for deltalake's and Polars' `storage_options`.
    pub fn storage_options(&self) -> String {
        let items: Vec<String> = self.vars().iter().map(|(k, v)| format!("'{}': '{v}'", k.to_ascii_lowercase())).collect();
        format!("{{{}}}", items.join(", "))
    }

    /// Runs Python with `s3`, a boto3 client of this server, bound; returns its standard output.
    pub fn python(&self, code: &str) -> String {
        let python = std::env::var("KHLANG_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = format!(
            "import boto3\ns3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='khlang-test', aws_secret_access_key='khlang-test-secret', region_name='us-east-1')\n{code}\n",
            self.endpoint()
        );
        let o = Command::new(python).arg("-c").arg(script).output().expect("run python3");
        assert_ok(&o, &format!("python with boto3: {code}"));
        String::from_utf8_lossy(&o.stdout).to_string()
    }

    /// Every key under `prefix` in the bucket.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let out = self.python(&format!(
            "for page in s3.get_paginator('list_objects_v2').paginate(Bucket='{BUCKET}', Prefix='{prefix}'):\n    for o in page.get('Contents', []):\n        print(o['Key'])"
        ));
        let mut keys: Vec<String> = out.lines().map(str::to_string).collect();
        keys.sort();
        keys
    }

    /// Every `_delta_log` file of the warehouse under `prefix`, as `table/_delta_log/file` would be
    /// listed locally (`table/file`).
    pub fn log_files(&self, prefix: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .keys(prefix)
            .iter()
            .filter_map(|k| {
                let rest = k.strip_prefix(prefix)?.trim_start_matches('/');
                let (table, file) = rest.split_once("/_delta_log/")?;
                (!file.contains('/')).then(|| format!("{table}/{file}"))
            })
            .collect();
        out.sort();
        out
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_warehouse_on_s3_holds_what_a_local_one_holds_travels_in_time_and_other_engines_read_it() {
    let scratch = Env::new();
    let s3 = S3::start(&scratch.path("moto.log"));
    let env = Env::on_store(&format!("s3://{BUCKET}/office/warehouse"), s3.vars());
    let a = env.generate("a", 41, "mixed");
    let b = env.generate("b", 42, "mixed");

    // The reference: the same two pulls into a local directory.
    let local = env.path("local");
    assert_ok(&env.ingest_into(&a, &local), "local load of A");
    let s_a = env.sql_csv_in(&local, STATE);
    assert_ok(&env.ingest_into(&b, &local), "local load of B");
    let s_ab = env.sql_csv_in(&local, STATE);
    assert_ne!(s_a, s_ab);

    let o = env.ingest(&a);
    assert_ok(&o, "load of A into S3");
    assert_eq!(env.sql_csv(STATE), s_a, "S3 after A");
    // The tables really are in the bucket, not in a local folder.
    assert!(s3.keys("office/warehouse/enrollments/").iter().any(|k| k.ends_with(".parquet")));
    assert!(!env.path("s3:").exists() && !env.path("office").exists());
    std::thread::sleep(Duration::from_millis(1100));
    let between = chrono_now();
    std::thread::sleep(Duration::from_millis(1100));
    assert_ok(&env.ingest(&b), "load of B into S3");
    assert_eq!(env.sql_csv(STATE), s_ab, "S3 after B");
    let rejected = "SELECT source_file, line_no, school_code, rule, raw FROM rejected_rows ORDER BY source_file, line_no";
    assert_same_tables(&env, &local, &env.warehouse(), rejected, "the S3 and the local warehouse");

    // Time travel on S3: the state published before B.
    let o = env.cmd().args(["sql", "--format", "csv", "--as-of", &between, STATE]).output().unwrap();
    assert_ok(&o, "sql --as-of on S3");
    assert_eq!(String::from_utf8_lossy(&o.stdout), s_a, "--as-of {between} on S3");
    let o = env.cmd().arg("history").output().unwrap();
    assert_ok(&o, "history on S3");
    assert!(String::from_utf8_lossy(&o.stdout).lines().count() >= 2, "{}", String::from_utf8_lossy(&o.stdout));

    // The same pull again makes no new version of any data table; only the run logs grow.
    let before = s3.log_files("office/warehouse");
    assert!(before.iter().any(|f| f.starts_with("enrollments/")), "{before:?}");
    assert_ok(&env.ingest(&b), "second load of B into S3");
    let grown: Vec<String> = s3.log_files("office/warehouse").into_iter().filter(|f| !before.contains(f)).collect();
    assert!(!grown.is_empty());
    assert!(grown.iter().all(|f| f.starts_with("ingest_runs/") || f.starts_with("rejected_rows/")), "new versions on unchanged input: {grown:?}");
    // No lease is left behind by a finished load.
    assert!(s3.keys("office/warehouse/_khlang/writer").is_empty(), "{:?}", s3.keys("office/warehouse/_khlang/"));

    // Other engines read the same tables from the bucket with the same settings.
    let ours: BTreeMap<&str, u64> = ["enrollments", "schools", "personnel", "budget_lines"].iter().map(|t| (*t, env.count(&format!("SELECT count(*) FROM {t}")))).collect();
    let script = format!(
        "import sys\nfrom deltalake import DeltaTable\nimport polars as pl\nopts = {}\nfor t in sys.argv[1:]:\n    uri = 's3://{BUCKET}/office/warehouse/' + t\n    \
         n = DeltaTable(uri, storage_options=opts).to_pyarrow_dataset().count_rows()\n    \
         m = pl.scan_delta(uri, storage_options=opts).select(pl.len()).collect().item()\n    print(t, n, m)\n",
        s3.storage_options()
    );
    let python = std::env::var("KHLANG_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let o = Command::new(python).arg("-c").arg(script).args(ours.keys()).output().unwrap();
    assert_ok(&o, "Python deltalake and Polars over S3");
    let theirs = String::from_utf8_lossy(&o.stdout);
    for line in theirs.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let n = ours[f[0]];
        assert!(n > 0);
        assert_eq!(f[1], n.to_string(), "deltalake's count of {}", f[0]);
        assert_eq!(f[2], n.to_string(), "Polars' count of {}", f[0]);
    }
    assert_eq!(theirs.lines().count(), ours.len(), "{theirs}");
}

/// An ISO time now, for `--as-of`.
pub fn chrono_now() -> String {
    let o = Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]).output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn users_saved_queries_and_the_audit_live_in_the_bucket_and_serve_answers_from_it() {
    let scratch = Env::new();
    let s3 = S3::start(&scratch.path("moto.log"));
    let env = Env::on_store(&format!("s3://{BUCKET}/wh"), s3.vars());
    let pull = env.generate("pull", 43, "mixed");
    assert_ok(&env.ingest(&pull), "load into S3");
    crate::server::add_user(&env, "analyst", "analyst", &[]);
    crate::server::add_user(&env, "school1", "school", &["--school", &env.first("SELECT min(school_code) FROM schools")]);
    assert!(s3.keys("wh/_khlang/").iter().any(|k| k.ends_with("users.json")), "{:?}", s3.keys("wh/_khlang/"));

    let server = crate::server::Server::start(&env, &[]);
    let all = server.psql_ok("analyst", "SELECT count(*) FROM enrollments");
    assert_eq!(all.lines().nth(1).unwrap(), env.count("SELECT count(*) FROM enrollments").to_string());
    let school = env.first("SELECT min(school_code) FROM schools");
    let mine = server.psql_ok("school1", "SELECT count(*) FROM enrollments");
    assert_eq!(
        mine.lines().nth(1).unwrap(),
        env.count(&format!("SELECT count(*) FROM enrollments WHERE school_code = '{school}'")).to_string(),
        "a school user sees its own school on S3 too"
    );
    // A saved query is kept in the bucket.
    let token = server.login("analyst");
    let (status, body) = server.curl(&[
        "-X",
        "POST",
        "-H",
        &format!("Authorization: Bearer {token}"),
        "-H",
        "Content-Type: application/json",
        "-d",
        "{\"name\":\"per school\",\"sql\":\"SELECT school_code, count(*) FROM enrollments GROUP BY 1\"}",
        "/api/saved",
    ]);
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert!(s3.keys("wh/_khlang/").iter().any(|k| k.contains("saved_queries")), "{:?}", s3.keys("wh/_khlang/"));
    drop(server);
    // Every access was logged, in the audit table on S3.
    let logged = env.count("SELECT count(*) FROM audit_log WHERE user_name IN ('analyst', 'school1')");
    assert!(logged >= 2, "{logged} audit records");
    assert!(s3.keys("wh/audit_log/").iter().any(|k| k.ends_with(".parquet")));
}

/// A store that takes `If-None-Match` and `If-Match` but ignores them: a proxy in front of moto that
/// drops both headers. Khlang must refuse to run on it.
const IGNORING_PROXY: &str = r#"
import http.server, http.client, sys
upstream_port = int(sys.argv[2])
class P(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def handle_one(self):
        n = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(n) if n else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ('if-none-match', 'if-match', 'host')}
        c = http.client.HTTPConnection('127.0.0.1', upstream_port)
        c.request(self.command, self.path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ('content-length', 'transfer-encoding', 'connection', 'server', 'date'):
                self.send_header(k, v)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_one
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), P).serve_forever()
"#;

#[test]
fn a_store_that_ignores_conditional_writes_is_refused_with_one_sentence() {
    let scratch = Env::new();
    let s3 = S3::start(&scratch.path("moto.log"));
    let port = free_port();
    let python = std::env::var("KHLANG_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut proxy = Command::new(python).arg("-c").arg(IGNORING_PROXY).arg(port.to_string()).arg(s3.port.to_string()).stderr(Stdio::null()).spawn().unwrap();
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(30), "the proxy did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let vars: Vec<(String, String)> = s3.vars().into_iter().map(|(k, v)| if k == "AWS_ENDPOINT_URL" { (k, format!("http://127.0.0.1:{port}")) } else { (k, v) }).collect();
    let env = Env::on_store(&format!("s3://{BUCKET}/wh"), vars);
    let pull = env.generate("pull", 44, "mixed");
    let o = env.ingest(&pull);
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert!(!o.status.success(), "a load ran on a store without conditional writes");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("does not honour conditional writes") && stderr.contains("s3://khlang/wh"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
    assert!(!stderr.contains("panicked"));
    // Nothing was loaded; the same store without the proxy works.
    assert!(s3.keys("wh/enrollments/").is_empty());
    let direct = Env::on_store(&format!("s3://{BUCKET}/wh"), s3.vars());
    assert_ok(&direct.ingest(&pull), "the load on the store itself");
}

/// `khlang user add` from several processes at once, each with its own user: every one is kept.
fn add_users_at_once(env: &Env, n: usize) -> Vec<String> {
    use std::io::Write as _;
    let children: Vec<_> = (0..n)
        .map(|i| {
            let mut c = env
                .cmd()
                .args(["user", "add", &format!("analyst{i}"), "--role", "analyst"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            c.stdin.take().unwrap().write_all(b"correct horse 42\n").unwrap();
            c
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert_ok(&o, "user add at the same time as others");
    }
    let o = env.cmd().args(["user", "list"]).output().unwrap();
    assert_ok(&o, "user list");
    String::from_utf8(o.stdout).unwrap().lines().skip(1).filter_map(|l| l.split_whitespace().next().map(str::to_string)).collect()
}

#[test]
fn users_added_by_several_processes_at_once_are_all_kept_locally_and_on_s3() {
    let names: Vec<String> = (0..6).map(|i| format!("analyst{i}")).collect();
    let local = Env::new();
    assert_eq!(add_users_at_once(&local, 6), names, "local warehouse");
    let scratch = Env::new();
    let s3 = S3::start(&scratch.path("moto.log"));
    let env = Env::on_store(&format!("s3://{BUCKET}/office/warehouse"), s3.vars());
    assert_eq!(add_users_at_once(&env, 6), names, "S3 warehouse");
}

//! A running `khlang serve` for tests, with users, driven by real clients: psql, Python's psycopg
//! and curl.

use std::io::Write as _;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Env, assert_ok};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

pub const PASSWORD: &str = "correct horse 42";

/// Adds a user through the command line, password on standard input.
pub fn add_user(env: &Env, name: &str, role: &str, scope: &[&str]) {
    let mut c = env.cmd().args(["user", "add", name, "--role", role]).args(scope).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    c.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    assert_ok(&o, &format!("user add {name}"));
}

pub struct Server {
    pub child: Child,
    pub http: u16,
    pub pg: u16,
    /// The certificate to trust when the server speaks HTTPS.
    pub tls_ca: Option<String>,
}

impl Server {
    pub fn start(env: &Env, extra_env: &[(&str, &str)]) -> Server {
        // A port picked free can be taken by another test before serve binds it: then serve exits
        // ("cannot listen") and we try other ports.
        for _attempt in 0..3 {
            let (http, pg) = (free_port(), free_port());
            let mut cmd = env.cmd();
            cmd.env("KHLANG_HTTP", format!("127.0.0.1:{http}")).env("KHLANG_PG", format!("127.0.0.1:{pg}")).env("KHLANG_SCHEDULE", "0 2 * * *");
            for (k, v) in extra_env {
                cmd.env(k, v);
            }
            let child = cmd.arg("serve").stdout(Stdio::null()).stderr(Stdio::from(std::fs::File::create(env.path("serve.log")).unwrap())).spawn().unwrap();
            let tls_ca = extra_env.iter().find(|(k, _)| *k == "KHLANG_TLS_CERT").map(|(_, v)| v.to_string());
            let mut s = Server { child, http, pg, tls_ca };
            let t0 = Instant::now();
            loop {
                let up = std::net::TcpStream::connect(("127.0.0.1", pg)).is_ok() && s.curl(&["/healthz"]).0 == 200;
                if up {
                    return s;
                }
                if s.child.try_wait().unwrap().is_some() {
                    break;
                }
                assert!(t0.elapsed() < Duration::from_secs(90), "serve did not come up: {}", std::fs::read_to_string(env.path("serve.log")).unwrap_or_default());
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        panic!("serve exited three times: {}", std::fs::read_to_string(env.path("serve.log")).unwrap_or_default());
    }

    /// curl with these arguments (the last is the path); returns status and body.
    pub fn curl(&self, args: &[&str]) -> (u16, Vec<u8>) {
        let (path, rest) = args.split_last().unwrap();
        let mut c = Command::new("curl");
        c.arg("-s").args(rest).args(["-w", "\n%{http_code}"]);
        let url = match &self.tls_ca {
            Some(ca) => {
                c.args(["--cacert", ca]);
                format!("https://127.0.0.1:{}{path}", self.http)
            }
            None => format!("http://127.0.0.1:{}{path}", self.http),
        };
        let o = c.arg(url).output().unwrap();
        let out = o.stdout;
        let cut = out.iter().rposition(|b| *b == b'\n').unwrap_or(0);
        let status = String::from_utf8_lossy(&out[cut..]).trim().parse().unwrap_or(0);
        (status, out[..cut].to_vec())
    }

    /// Posts a form (fields URL-encoded), signed in with `cookie` when given.
    pub fn post_form(&self, cookie: Option<&str>, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let mut args: Vec<String> = Vec::new();
        if let Some(c) = cookie {
            args.extend(["-H".to_string(), c.to_string()]);
        }
        for (k, v) in fields {
            args.extend(["--data-urlencode".to_string(), format!("{k}={v}")]);
        }
        args.push(path.to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (status, body) = self.curl(&args);
        (status, String::from_utf8_lossy(&body).to_string())
    }

    /// A bearer token for the user.
    pub fn login(&self, user: &str) -> String {
        let body = format!("{{\"user\":\"{user}\",\"password\":\"{PASSWORD}\"}}");
        let (status, out) = self.curl(&["-X", "POST", "-H", "Content-Type: application/json", "-d", &body, "/api/login"]);
        assert_eq!(status, 200, "login {user}: {}", String::from_utf8_lossy(&out));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        v["token"].as_str().unwrap().to_string()
    }

    /// POST /api/sql as the token's user; returns status and body.
    pub fn api_sql(&self, token: &str, sql: &str, format: &str) -> (u16, Vec<u8>) {
        let auth = format!("Authorization: Bearer {token}");
        let path = format!("/api/sql?format={format}");
        if token.is_empty() {
            self.curl(&["-X", "POST", "--data-binary", sql, &path])
        } else {
            self.curl(&["-X", "POST", "-H", &auth, "--data-binary", sql, &path])
        }
    }

    /// psql as `user`, unaligned CSV output.
    pub fn psql(&self, user: &str, password: &str, args: &[&str]) -> Output {
        Command::new("psql")
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "10")
            .args(["-X", "-h", "127.0.0.1", "-p", &self.pg.to_string(), "-U", user, "-d", "khlang", "--csv"])
            .args(args)
            .output()
            .unwrap()
    }

    pub fn psql_ok(&self, user: &str, sql: &str) -> String {
        let o = self.psql(user, PASSWORD, &["-v", "ON_ERROR_STOP=1", "-c", sql]);
        assert_ok(&o, &format!("psql as {user}: {sql}"));
        String::from_utf8(o.stdout).unwrap()
    }

    /// Runs a Python script with psycopg; argv[1] is the connection string.
    pub fn psycopg(&self, user: &str, script: &str, args: &[&str]) -> Output {
        let dsn = format!("host=127.0.0.1 port={} user={user} password='{PASSWORD}' dbname=khlang", self.pg);
        Command::new("python3").arg("-c").arg(script).arg(dsn).args(args).output().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

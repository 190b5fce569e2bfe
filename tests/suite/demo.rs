//! `khlang demo`, as the README tells a newcomer to run it: it generates an area, loads it, serves
//! the web app and the wire protocol with the sign-in it prints, and stops cleanly on SIGTERM.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::Env;
use crate::server::free_port;

#[test]
fn the_demo_serves_what_it_prints_and_stops_on_sigterm() {
    let env = Env::new();
    let (http, pg) = (free_port(), free_port());
    let mut child = env
        .cmd()
        .env("TMPDIR", env.dir.path())
        .args(["demo", "--http", &format!("127.0.0.1:{http}"), "--pg", &format!("127.0.0.1:{pg}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(env.path("demo.log")).unwrap()))
        .spawn()
        .unwrap();
    // The banner names the page to open and the psql command line.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let t0 = Instant::now();
    let mut banner = Vec::new();
    while banner.len() < 2 {
        match lines.next() {
            Some(Ok(l)) if l.starts_with("Khlang demo:") || l.contains("sign in as demo") => banner.push(l),
            Some(Ok(_)) => {}
            _ => panic!("the demo ended before serving: {}", std::fs::read_to_string(env.path("demo.log")).unwrap_or_default()),
        }
        assert!(t0.elapsed() < Duration::from_secs(180), "no banner");
    }
    assert!(banner[0].contains(&format!("http://127.0.0.1:{http}/login?next=/area/")), "{banner:?}");
    assert!(banner[1].contains(&format!("psql -h 127.0.0.1 -p {pg} -U demo khlang")), "{banner:?}");
    let password = banner[1].split("demo / ").nth(1).and_then(|r| r.split_whitespace().next()).unwrap().to_string();

    // The printed sign-in works over the wire, and the load is there.
    let o = Command::new("psql")
        .env("PGPASSWORD", &password)
        .args(["-X", "-h", "127.0.0.1", "-p", &pg.to_string(), "-U", "demo", "-d", "khlang", "--csv", "-t", "-c", "SELECT count(*) > 0 FROM schools"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "t", "{}", String::from_utf8_lossy(&o.stderr));
    // The load was approved at start, so the open-data page has figures without a sign-in.
    let o = Command::new("curl").args(["-s", "-w", "\n%{http_code}", &format!("http://127.0.0.1:{http}/public")]).output().unwrap();
    let body = String::from_utf8_lossy(&o.stdout);
    assert!(body.ends_with("\n200"), "{body}");

    // SIGTERM (systemd's stop): a clean exit.
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "the demo did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}: {}", std::fs::read_to_string(env.path("demo.log")).unwrap_or_default());
    // Its temporary warehouse went with it.
    let left: Vec<_> = std::fs::read_dir(env.dir.path()).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().starts_with("khlang-demo-")).collect();
    assert!(left.is_empty(), "the demo left {left:?}");
}

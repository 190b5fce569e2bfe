//! Analysts' SQL on a Ballista cluster: the S3 server, the scheduler and two executors each on a host
//! of its own (network namespaces joined by a bridge, so traffic crosses interfaces), the real
//! binary as every node, and the answers compared with one node's.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::s3::{BUCKET, S3};
use crate::server::{PASSWORD, Server, add_user, free_port};
use crate::wire::assert_scope_holds;

/// Hosts on this machine: network namespaces on one bridge, or the loopback where namespaces
/// cannot be made (said on standard error).
pub struct Hosts {
    bridge: Option<String>,
    namespaces: Vec<String>,
    addrs: Vec<String>,
}

static HOSTS_MADE: AtomicU32 = AtomicU32::new(0);

fn ip(args: &[&str]) -> Result<(), String> {
    let o = Command::new("ip").args(args).output().map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if o.status.success() { Ok(()) } else { Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr).trim())) }
}

impl Hosts {
    pub fn new(n: usize) -> Hosts {
        let id = (std::process::id() % 1000) * 10 + HOSTS_MADE.fetch_add(1, Ordering::SeqCst) % 10;
        let net = format!("10.{}.{}", 200 + (id / 250) % 50, id % 250);
        let mut hosts = Hosts { bridge: None, namespaces: Vec::new(), addrs: Vec::new() };
        match hosts.make(id, &net, n) {
            Ok(()) => hosts,
            Err(e) => {
                drop(hosts);
                eprintln!("cluster test: network namespaces cannot be made here ({e}); every host shares the loopback instead");
                Hosts { bridge: None, namespaces: Vec::new(), addrs: vec!["127.0.0.1".into(); n] }
            }
        }
    }

    fn make(&mut self, id: u32, net: &str, n: usize) -> Result<(), String> {
        let bridge = format!("khb{id}");
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        self.bridge = Some(bridge.clone());
        ip(&["addr", "add", &format!("{net}.1/24"), "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        for i in 0..n {
            let (ns, outside, inside) = (format!("khn{id}h{i}"), format!("khv{id}h{i}"), format!("khp{id}h{i}"));
            ip(&["netns", "add", &ns])?;
            self.namespaces.push(ns.clone());
            ip(&["link", "add", &outside, "type", "veth", "peer", "name", &inside])?;
            ip(&["link", "set", &inside, "netns", &ns])?;
            ip(&["link", "set", &outside, "master", &bridge, "up"])?;
            let addr = format!("{net}.{}", 10 + i);
            ip(&["netns", "exec", &ns, "ip", "addr", "add", &format!("{addr}/24"), "dev", &inside])?;
            ip(&["netns", "exec", &ns, "ip", "link", "set", &inside, "up"])?;
            ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"])?;
            self.addrs.push(addr);
        }
        Ok(())
    }

    pub fn addr(&self, i: usize) -> &str {
        &self.addrs[i]
    }

    pub fn ns(&self, i: usize) -> Option<&str> {
        self.namespaces.get(i).map(String::as_str)
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = ip(&["netns", "del", ns]);
        }
        if let Some(b) = &self.bridge {
            let _ = ip(&["link", "del", b]);
        }
    }
}

/// A node process, killed when dropped.
struct Node {
    child: Child,
    log: std::path::PathBuf,
}

impl Node {
    fn start(env: &Env, netns: Option<&str>, args: &[&str], log: &str) -> Node {
        let log = env.path(log);
        let child = env
            .cmd_in(netns)
            .env("KHLANG_LOG", "warn,ballista=info,ballista_executor=info,ballista_scheduler=info")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .unwrap();
        Node { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `addr` takes connections (from this host).
    fn wait_for(&mut self, host: &str, port: u16) {
        let t0 = Instant::now();
        while std::net::TcpStream::connect((host, port)).is_err() {
            assert!(self.child.try_wait().unwrap().is_none(), "node exited: {}", self.log());
            assert!(t0.elapsed() < Duration::from_secs(60), "node did not come up on {host}:{port}: {}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sql(env: &Env, cluster: Option<&str>, args: &[&str]) -> String {
    let mut c = env.cmd();
    if let Some(url) = cluster {
        c.args(["--cluster", url]);
    }
    let o = c.args(["sql", "--format", "csv"]).args(args).output().unwrap();
    assert_ok(&o, &format!("khlang sql {args:?} (cluster {cluster:?})"));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn analysts_sql_on_a_two_executor_cluster_answers_as_one_node_does_for_every_role_and_in_time() {
    // Host 0: S3; 1: the scheduler; 2 and 3: executors. This test and the operator are the client.
    let hosts = Hosts::new(4);
    let scratch = Env::new();
    let s3 = S3::start_on(hosts.addr(0), &scratch.path("moto.log"), hosts.ns(0));
    let env = Env::on_store(&format!("s3://{BUCKET}/office/warehouse"), s3.vars());
    let a = env.generate("a", 41, "mixed");
    assert_ok(&env.ingest(&a), "load A into S3");
    std::thread::sleep(Duration::from_millis(1100));
    let after_a = chrono::Utc::now().to_rfc3339();
    std::thread::sleep(Duration::from_millis(1100));
    let b = env.generate("b", 42, "mixed");
    assert_ok(&env.ingest(&b), "load B into S3");

    let port = free_port();
    let mut scheduler = Node::start(
        &env,
        hosts.ns(1),
        &["cluster", "scheduler", "--bind", &format!("0.0.0.0:{port}"), "--external-host", hosts.addr(1), "--executor-timeout-seconds", "10"],
        "scheduler.log",
    );
    scheduler.wait_for(hosts.addr(1), port);
    let scheduler_addr = format!("{}:{port}", hosts.addr(1));
    let mut executors: Vec<Node> = (2..4)
        .map(|i| {
            let flight = free_port();
            let mut e = Node::start(
                &env,
                hosts.ns(i),
                &[
                    "cluster",
                    "executor",
                    "--scheduler",
                    &scheduler_addr,
                    "--bind",
                    &format!("0.0.0.0:{flight}"),
                    "--external-host",
                    hosts.addr(i),
                    "--vcores",
                    "2",
                    "--work-dir",
                    env.path(&format!("executor{i}")).to_str().unwrap(),
                ],
                &format!("executor{i}.log"),
            );
            e.wait_for(hosts.addr(i), flight);
            e
        })
        .collect();
    let url = format!("df://{scheduler_addr}");
    let cluster = Some(url.as_str());

    // The first query waits for the executors to have registered.
    let t0 = Instant::now();
    loop {
        let o = env.cmd().args(["--cluster", &url, "sql", "--format", "csv", "SELECT count(*) FROM enrollments"]).output().unwrap();
        if o.status.success() {
            assert_eq!(String::from_utf8(o.stdout).unwrap(), sql(&env, None, &["SELECT count(*) FROM enrollments"]));
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "the cluster did not answer: {}\n{}", String::from_utf8_lossy(&o.stderr), scheduler.log());
        std::thread::sleep(Duration::from_millis(500));
    }

    // The operator (an admin): the analyst suite, now and as published after load A.
    let suite = analyst_queries();
    assert!(suite.len() >= 8, "{suite:?}");
    // A LIMIT cuts through ties (which of two schools of equal ratio is the 100th is the engine's
    // choice): the whole answers are compared, and the cut ones by their length.
    let queries: Vec<(String, String)> = suite.iter().map(|(n, q)| (n.clone(), without_final_limit(q))).collect();
    for ((name, q), (_, limited)) in queries.iter().zip(&suite) {
        let local = sql(&env, None, &[q]);
        assert!(local.lines().count() > 1, "{name} gives rows");
        assert_eq!(canonical(&sql(&env, cluster, &[q])), canonical(&local), "{name} on the cluster");
        if limited != q {
            assert_eq!(sql(&env, cluster, &[limited]).lines().count(), sql(&env, None, &[limited]).lines().count(), "{name} with its LIMIT");
        }
    }
    for (name, q) in queries.iter().take(4) {
        assert_eq!(canonical(&sql(&env, cluster, &["--as-of", &after_a, q])), canonical(&sql(&env, None, &["--as-of", &after_a, q])), "{name} as of load A");
    }
    let travel = format!("SELECT snapshot_date, count(*) FROM as_of('enrollments', '{after_a}') GROUP BY 1");
    assert_eq!(canonical(&sql(&env, cluster, &[&travel])), canonical(&sql(&env, None, &[&travel])), "as_of() on the cluster");
    assert_ne!(canonical(&sql(&env, None, &[&travel])), canonical(&sql(&env, None, &["SELECT snapshot_date, count(*) FROM enrollments GROUP BY 1"])));
    // Both executors took part.
    for e in &executors {
        assert!(e.log().contains("Execute task"), "an executor ran no task: {}", e.log());
    }

    // A school user and a director, over the wire and HTTP: the same rows on the cluster as here.
    let area = scalar(&sql(&env, None, &["SELECT min(area_code) FROM schools"]));
    let school = scalar(&sql(&env, None, &["SELECT school_code FROM school_snapshot_summary WHERE students > 50 ORDER BY school_code LIMIT 1"]));
    add_user(&env, "kru", "school", &["--school", &school]);
    add_user(&env, "director", "director", &["--area", &area]);
    add_user(&env, "elsewhere", "director", &["--area", "99999999"]);
    let users = ["kru", "director", "elsewhere"];
    let mut local_answers = Vec::new();
    {
        let server = Server::start(&env, &[]);
        for user in users {
            for (_, q) in &queries {
                local_answers.push(canonical(&server.psql_ok(user, q)));
            }
        }
    }
    let server = Server::start(&env, &[("KHLANG_CLUSTER", &url)]);
    let mut answers = local_answers.iter();
    for user in users {
        for (name, q) in &queries {
            assert_eq!(Some(&canonical(&server.psql_ok(user, q))), answers.next(), "{user}: {name} on the cluster");
        }
    }
    assert_scope_holds(&env, &server, "kru", "school_code", &school, true);
    assert_scope_holds(&env, &server, "director", "area_code", &area, false);
    assert_eq!(scalar(&server.psql_ok("elsewhere", "SELECT count(*) FROM enrollments")), "0");
    // The audit records cluster queries as it does local ones (written every 2 s).
    std::thread::sleep(Duration::from_secs(3));
    let audit = sql(&env, None, &["SELECT count(*) FROM audit_log WHERE user_name = 'kru' AND action = 'query'"]);
    assert!(scalar(&audit).parse::<u64>().unwrap() > queries.len() as u64, "{audit}");
    // A statement stopped by its time limit stops on the cluster too: its job is cancelled.
    let heavy = "SELECT count(*) FROM enrollments a JOIN enrollments b ON a.school_code = b.school_code AND a.grade = b.grade";
    let o = server.psql("director", PASSWORD, &["-c", "SET statement_timeout = 100", "-c", heavy]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("canceling statement due to statement timeout"), "{err}");
    let t0 = Instant::now();
    while !scheduler.log().contains("Received cancellation request for job") {
        assert!(t0.elapsed() < Duration::from_secs(20), "the stopped statement's job was not cancelled: {}", scheduler.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(canonical(&server.psql_ok("director", &queries[0].1)), local_answers[queries.len()], "the cluster after a cancelled job");
    drop(server);

    // One executor killed during a query: a clear error or the right answer; the next query works.
    let truth = sql(&env, None, &[heavy]);
    let run = {
        let mut c = env.cmd();
        c.args(["--cluster", &url, "sql", "--format", "csv", heavy]).stdout(Stdio::piped()).stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    std::thread::sleep(Duration::from_millis(700));
    let mut lost = executors.remove(1);
    lost.child.kill().unwrap();
    lost.child.wait().unwrap();
    let o = run.wait_with_output().unwrap();
    if o.status.success() {
        assert_eq!(String::from_utf8(o.stdout).unwrap(), truth, "the answer with an executor lost");
    } else {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(&format!("the cluster at {url} could not run the query")), "{err}");
    }
    // Once the scheduler has taken the executor as lost (10 s), queries run on the one left.
    std::thread::sleep(Duration::from_secs(12));
    assert_eq!(sql(&env, cluster, &[heavy]), truth, "after the loss");
    assert_eq!(canonical(&sql(&env, cluster, &[&queries[0].1])), canonical(&sql(&env, None, &[&queries[0].1])));
    drop(executors);
    drop(scheduler);
}

/// `q` without a LIMIT at its end.
fn scalar(csv: &str) -> String {
    csv.lines().nth(1).unwrap_or("").trim().to_string()
}

#[test]
fn a_cluster_setting_that_is_not_df_host_port_is_refused_in_one_sentence() {
    let env = Env::new();
    let o = env.cmd().args(["--cluster", "http://10.0.0.5:50050", "sql", "SELECT 1"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("setting cluster = 'http://10.0.0.5:50050'") && err.contains("df://HOST:PORT"), "{err}");
    let o = env.cmd().args(["cluster", "executor", "--scheduler", "nowhere", "--bind", "0.0.0.0:0"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.lines().count() == 1, "{err}");
}

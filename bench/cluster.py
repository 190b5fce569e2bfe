#!/usr/bin/env python3
"""The cluster benchmark: the analyst suite of bench/analyst.py over the wire (psycopg) on
  1. one node, warehouse on local disk;
  2. one node, warehouse on S3 (a moto server, behind a proxy that counts the bytes it serves);
  3. a Ballista cluster (scheduler + 1 executor, then + 2 executors) over the S3 warehouse;
and DuckDB in-process over the local warehouse's Parquet files, all in one run. Prints per-query
times (median of 3 after a warm-up), geometric-mean ratios to DuckDB, and the bytes read from S3 per
query. Everything runs on this machine's cores, so the cluster's figures are its overhead, not a
speed-up.

Usage: python3 bench/cluster.py [--work DIR] [--scale national|province|area]
  --work DIR reuses DIR/pull and DIR/warehouse (see bench/analyst.py); the S3 copy is loaded each run.
Needs: the release binary and `pip install -r scripts/requirements.txt`. Not a test: nothing asserts a time.
"""
import http.client
import http.server
import math
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from analyst import PASSWORD, duck_connect, free_port, prepare, timed  # noqa: E402
from analyst_queries import QUERIES  # noqa: E402
from national import KHLANG  # noqa: E402

import psycopg  # noqa: E402

SERVED = {"bytes": 0, "gets": 0}
LOCK = threading.Lock()


def counting_proxy(upstream_port):
    """An HTTP proxy in front of the S3 server that counts the bytes of GET responses."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def forward(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if self.command in ("PUT", "POST") else None
            conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=600)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
            conn.request(self.command, self.path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            if self.command == "GET":
                with LOCK:
                    SERVED["bytes"] += len(data)
                    SERVED["gets"] += 1
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def wait_port(port, what, proc=None):
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                sys.exit(f"{what} exited")
            time.sleep(0.1)
    sys.exit(f"{what} did not come up on port {port}")


def serve(env, cluster=None):
    http_port, pg = free_port(), free_port()
    e = dict(env, KHLANG_HTTP=f"127.0.0.1:{http_port}", KHLANG_PG=f"127.0.0.1:{pg}", KHLANG_SCHEDULE="0 2 * * *",
             KHLANG_QUERY_TIMEOUT_SECONDS="900", KHLANG_MAX_CONCURRENT_QUERIES="20")
    if cluster:
        e["KHLANG_CLUSTER"] = cluster
    p = subprocess.Popen([KHLANG, "serve"], env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(pg, "khlang serve", p)
    dsn = f"host=127.0.0.1 port={pg} user=bench password={PASSWORD} dbname=khlang"
    for _ in range(300):
        try:
            return p, psycopg.connect(dsn, autocommit=True)
        except Exception:
            time.sleep(0.2)
    sys.exit("khlang serve took no sign-in")


def suite(conn, count_bytes=False):
    """Per query: (median seconds, rows, bytes read from S3 by the last run)."""
    out = {}
    for name, sql in QUERIES.items():
        t, rows = timed(lambda: len(conn.execute(sql).fetchall()))
        with LOCK:
            before = SERVED["bytes"]
        conn.execute(sql).fetchall()
        with LOCK:
            read = SERVED["bytes"] - before
        out[name] = (t, rows, read if count_bytes else None)
    return out


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def main():
    wh, env = prepare()
    work = os.path.dirname(wh)
    procs = []
    try:
        # S3: moto on its own port, reached through the counting proxy.
        moto_port = free_port()
        procs.append(subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(moto_port, "moto_server")
        proxy = counting_proxy(moto_port)
        aws = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy}", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret",
               "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}
        import boto3
        boto3.client("s3", endpoint_url=aws["AWS_ENDPOINT_URL"], aws_access_key_id="bench", aws_secret_access_key="bench-secret",
                     region_name="us-east-1").create_bucket(Bucket="khlang")
        s3env = dict(env, KHLANG_WAREHOUSE="s3://khlang/warehouse", **aws)
        t = time.perf_counter()
        subprocess.run([KHLANG, "ingest", "--from", os.path.join(work, "pull")], env=s3env, check=True, stdout=subprocess.DEVNULL)
        print(f"loaded the pull into S3 in {time.perf_counter() - t:.0f} s")
        for e in (env, s3env):
            subprocess.run([KHLANG, "user", "add", "bench", "--role", "analyst"], env=e, input=PASSWORD + "\n", text=True, capture_output=True)

        duck = duck_connect(wh)
        runs = {"duckdb": {n: (*timed(lambda: len(duck.execute(q).fetchall())), None) for n, q in QUERIES.items()}}

        p, conn = serve(env)
        runs["one node, local disk"] = suite(conn)
        conn.close(); p.terminate(); p.wait()

        p, conn = serve(s3env)
        runs["one node, S3"] = suite(conn, count_bytes=True)
        conn.close(); p.terminate(); p.wait()

        sched_port = free_port()
        sched = subprocess.Popen([KHLANG, "cluster", "scheduler", "--bind", f"127.0.0.1:{sched_port}"], env=s3env,
                                 stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "scheduler.log"), "w"))
        procs.append(sched)
        wait_port(sched_port, "scheduler", sched)

        def free_pair():
            """A port whose next port is free too (the executor's gRPC service)."""
            while True:
                p = free_port()
                try:
                    socket.create_server(("127.0.0.1", p + 1)).close()
                    return p
                except OSError:
                    continue

        def executor(i):
            port = free_pair()
            e = subprocess.Popen([KHLANG, "cluster", "executor", "--scheduler", f"127.0.0.1:{sched_port}", "--bind", f"127.0.0.1:{port}",
                                  "--vcores", "2", "--work-dir", os.path.join(work, f"executor{i}")], env=s3env,
                                 stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, f"executor{i}.log"), "w"))
            procs.append(e)
            wait_port(port, f"executor {i}", e)
            time.sleep(6)  # registered with the scheduler (first heartbeat)

        executor(1)
        p, conn = serve(s3env, cluster=f"df://127.0.0.1:{sched_port}")
        runs["cluster, 1 executor"] = suite(conn, count_bytes=True)
        executor(2)
        runs["cluster, 2 executors"] = suite(conn, count_bytes=True)
        conn.close(); p.terminate(); p.wait()

        names = list(runs)
        print(f"\nper query, seconds (median of 3 after a warm-up); MiB = bytes read from S3 by one run\n")
        print(f"{'query':<48}" + "".join(f" {n[:20]:>20}" for n in names) + f" {'S3 MiB':>8} {'cl2 MiB':>8}")
        for q in QUERIES:
            rows = {runs[n][q][1] for n in names}
            flag = "" if len(rows) == 1 else f"  ! rows differ: {sorted(rows)}"
            s3_mib = runs["one node, S3"][q][2] / 2**20
            cl_mib = runs["cluster, 2 executors"][q][2] / 2**20
            print(f"{q:<48}" + "".join(f" {runs[n][q][0]:>20.3f}" for n in names) + f" {s3_mib:>8.1f} {cl_mib:>8.1f}{flag}")
        print("\ngeometric mean of time / DuckDB's:")
        for n in names[1:]:
            print(f"  {n:<24} {geomean([runs[n][q][0] / runs['duckdb'][q][0] for q in QUERIES]):.2f}")
        print(f"  cluster(2) / one node on S3: {geomean([runs['cluster, 2 executors'][q][0] / runs['one node, S3'][q][0] for q in QUERIES]):.2f}")
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()

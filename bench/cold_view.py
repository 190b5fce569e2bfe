#!/usr/bin/env python3
"""The cold (first) view of several areas' overviews, each computing its whole four-domain report, against
DuckDB running the overview's queries for the same area over the same Parquet files, in the same run.
bench/dashboards.py measures one cold view (the server's first page, sessions included); this takes
five areas after the server's first page and reports the medians.

Usage: python3 bench/cold_view.py [--work DIR] [--scale national]   (DIR as for bench/analyst.py)
Needs: the release binary and `pip install -r scripts/requirements.txt`. Not a test.
"""
import json, os, subprocess, sys, time, statistics
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from national import KHLANG
from analyst import duck_connect, free_port, prepare
from dashboards import OVERVIEW, http, PASSWORD
wh, env = prepare()
con = duck_connect(wh)
areas = [r[0] for r in con.execute("SELECT DISTINCT area_code FROM schools ORDER BY 1").fetchall()]
sample = areas[10::48][:5]
subprocess.run([KHLANG, "user", "add", "bench-admin", "--role", "admin"], env=env, input=PASSWORD + "\n", text=True, capture_output=True)
port, pg = free_port(), free_port()
server = subprocess.Popen([KHLANG, "serve"], env=dict(env, KHLANG_HTTP=f"127.0.0.1:{port}", KHLANG_PG=f"127.0.0.1:{pg}", KHLANG_SCHEDULE="0 2 * * *"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
base = f"http://127.0.0.1:{port}"
try:
    for _ in range(300):
        try:
            if http(base, "/healthz", None)[0] == 200: break
        except OSError: time.sleep(0.2)
    _, body, _ = http(base, "/api/login", None, "POST", json.dumps({"user": "bench-admin", "password": PASSWORD}).encode())
    cookie = "khlang_session=" + json.loads(body)["token"]
    http(base, f"/area/{areas[0]}", cookie)  # first page of the server: sessions, directory
    ks, ds = [], []
    for a in sample:
        _, _, k = http(base, f"/area/{a}", cookie)
        t = time.perf_counter()
        for q in OVERVIEW: con.execute(q.format(a=a)).fetchall()
        ds.append(time.perf_counter() - t); ks.append(k)
        print(f"area {a}: khlang cold view {k*1000:.0f} ms, duckdb overview queries {ds[-1]*1000:.0f} ms")
    print(f"median: khlang {statistics.median(ks)*1000:.0f} ms, duckdb {statistics.median(ds)*1000:.0f} ms, ratio {statistics.median(ks)/statistics.median(ds):.2f}")
finally:
    server.terminate(); server.wait()

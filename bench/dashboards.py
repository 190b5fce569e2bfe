#!/usr/bin/env python3
"""The dashboard benchmark, at national scale, Khlang and its peer in the same run.

1. Area overview under load: 50 concurrent clients (wrk) on `/area/{code}` of a running `khlang serve`,
   signed in as the area's director: p50 / p95 / p99 latency and throughput. The peer is what a BI tool
   pointed at a database does for the same page: DuckDB (in-process, over the very same Parquet files)
   running the overview's queries for the area on every view, with the same 50 concurrent clients.
   Also, while the page is under load, one analyst's heavy query over the wire (dashboards must stay
   responsive), and the cold (first) view, which computes the whole report.
2. PDF and XLSX report per area (a sample of areas, cold: computed and rendered), and the whole
   four-domain report's SQL in DuckDB for the same areas.
3. All 245 area reports (PDF and XLSX) in one batch: `khlang report --all-areas`.

Usage: python3 bench/dashboards.py [--work DIR] [--scale national]   (DIR as for bench/analyst.py)
Needs: the release binary, wrk (Debian), `pip install -r scripts/requirements.txt`. Not a test.
"""
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from national import KHLANG  # noqa: E402
from analyst import duck_connect, free_port, prepare  # noqa: E402

import psycopg  # noqa: E402

PASSWORD = "bench-password-1"
CLIENTS = 50
SECONDS = 20

WRK_LUA = """
done = function(summary, latency, requests)
  io.write(string.format("JSON {\\"p50\\": %f, \\"p95\\": %f, \\"p99\\": %f, \\"requests\\": %d, \\"seconds\\": %f, \\"errors\\": %d, \\"non2xx\\": %d}\\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000, summary.requests,
    summary.duration / 1e6, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
"""

# What the area overview shows, as a BI tool would query it on every page view.
OVERVIEW = [
    "SELECT count(*), sum(students), sum(classrooms), sum(teachers), sum(required_teachers), sum(CASE WHEN teacher_gap < 0 THEN -teacher_gap ELSE 0 END), "
    "sum(CASE WHEN teacher_gap < 0 THEN 1 ELSE 0 END), sum(CASE WHEN size_band = 'small' THEN 1 ELSE 0 END) FROM school_snapshot_summary "
    "WHERE area_code = '{a}' AND snapshot_date = (SELECT max(snapshot_date) FROM school_snapshot_summary)",
    "SELECT grade_order, sum(CASE WHEN sex = 1 THEN 1 ELSE 0 END), sum(CASE WHEN sex = 2 THEN 1 ELSE 0 END) FROM enrollments "
    "WHERE area_code = '{a}' AND snapshot_date = (SELECT max(snapshot_date) FROM school_snapshot_summary) AND status = 'studying' GROUP BY grade_order ORDER BY grade_order",
    "SELECT sum(CASE WHEN status = 'dropped_out' THEN 1 ELSE 0 END), count(*), sum(CASE WHEN status = 'studying' AND disadvantaged THEN 1 ELSE 0 END) FROM enrollments "
    "WHERE area_code = '{a}' AND snapshot_date = (SELECT max(snapshot_date) FROM school_snapshot_summary)",
    "SELECT fiscal_quarter, sum(allocated_baht), sum(disbursed_baht) FROM budget_lines WHERE area_code = '{a}' AND fiscal_year = (SELECT max(fiscal_year) FROM budget_lines) GROUP BY fiscal_quarter",
    "SELECT category, sum(allocated_baht), sum(disbursed_baht) FROM budget_lines WHERE area_code = '{a}' AND fiscal_year = (SELECT max(fiscal_year) FROM budget_lines) GROUP BY category",
    "SELECT position, sum(CASE WHEN sex = 1 THEN 1 ELSE 0 END), count(*) FROM personnel WHERE area_code = '{a}' AND as_of_date = (SELECT max(as_of_date) FROM personnel) GROUP BY position",
    "SELECT retirement_fiscal_year, count(*) FROM personnel WHERE area_code = '{a}' AND as_of_date = (SELECT max(as_of_date) FROM personnel) GROUP BY 1",
    "SELECT size_band, count(*), sum(students) FROM school_snapshot_summary WHERE area_code = '{a}' AND snapshot_date = (SELECT max(snapshot_date) FROM school_snapshot_summary) GROUP BY size_band",
    "SELECT condition, count(*) FROM buildings WHERE area_code = '{a}' GROUP BY condition",
    "SELECT item, sum(installed), sum(working) FROM dltv_equipment WHERE area_code = '{a}' GROUP BY item",
]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))] if xs else float("nan")


def http(base, path, cookie, method="GET", body=None):
    req = urllib.request.Request(base + path, data=body, method=method, headers={"Cookie": cookie} if cookie else {})
    if body is not None:
        req.add_header("Content-Type", "application/json")
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=600) as r:
        data = r.read()
        return r.status, data, time.perf_counter() - t


def duck_overview_load(con, areas):
    """50 threads, each a DuckDB cursor, each view runs the overview's queries for one area."""
    lat, stop = [], time.perf_counter() + SECONDS
    lock = threading.Lock()

    def client(i):
        cur = con.cursor()
        rnd = random.Random(i)
        while time.perf_counter() < stop:
            a = areas[rnd.randrange(len(areas))]
            t = time.perf_counter()
            for q in OVERVIEW:
                cur.execute(q.format(a=a)).fetchall()
            with lock:
                lat.append(time.perf_counter() - t)

    ts = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    t0 = time.perf_counter()
    [t.start() for t in ts]
    [t.join() for t in ts]
    return lat, time.perf_counter() - t0


def wrk(base, path, cookie, script):
    out = subprocess.run(["wrk", "-t2", f"-c{CLIENTS}", f"-d{SECONDS}s", "--timeout", "30s", "-s", script, "-H", f"Cookie: {cookie}", base + path],
                         capture_output=True, text=True, check=True).stdout
    line = [l for l in out.splitlines() if l.startswith("JSON ")][0]
    return json.loads(line[5:])


def main():
    wh, env = prepare()
    con = duck_connect(wh)
    areas = [r[0] for r in con.execute("SELECT DISTINCT area_code FROM schools ORDER BY 1").fetchall()]
    area = areas[len(areas) // 2]
    for user, role, scope in [("bench-director", "director", ["--area", area]), ("bench-admin", "admin", []), ("bench", "analyst", [])]:
        subprocess.run([KHLANG, "user", "add", user, "--role", role, *scope], env=env, input=PASSWORD + "\n", text=True, capture_output=True)
    print(f"national data: {len(areas)} areas; area under load {area}")

    port, pg = free_port(), free_port()
    server = subprocess.Popen([KHLANG, "serve"], env=dict(env, KHLANG_HTTP=f"127.0.0.1:{port}", KHLANG_PG=f"127.0.0.1:{pg}", KHLANG_SCHEDULE="0 2 * * *",
                                                        KHLANG_QUERY_TIMEOUT_SECONDS="600"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    try:
        for _ in range(300):
            try:
                if http(base, "/healthz", None)[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        # The server makes the published state ready ahead (sessions, directory) and says so on /readyz.
        while time.perf_counter() - started < 120:
            try:
                if http(base, "/readyz", None)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.02)
        ready = time.perf_counter() - started
        cookies = {}
        for user in ["bench-director", "bench-admin"]:
            _, body, _ = http(base, "/api/login", None, "POST", json.dumps({"user": user, "password": PASSWORD}).encode())
            cookies[user] = "khlang_session=" + json.loads(body)["token"]

        print("\n== 1. area overview, 50 concurrent clients ==")
        _, _, cold = http(base, f"/area/{area}", cookies["bench-director"])
        t = time.perf_counter()
        for q in OVERVIEW:
            con.execute(q.format(a=area)).fetchall()
        duck_once = time.perf_counter() - t
        print(f"server started and its published state made ready (sessions, directory) in {ready * 1000:.0f} ms")
        print(f"first (cold) view of a fresh, ready server (Parquet footers read, the overview computed): Khlang {cold * 1000:.0f} ms; DuckDB running the overview's {len(OVERVIEW)} queries once: {duck_once * 1000:.0f} ms")
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(WRK_LUA)
            script = f.name
        k = wrk(base, f"/area/{area}", cookies["bench-director"], script)
        print(f"Khlang  /area/{area}: p50 {k['p50']:.1f} ms, p95 {k['p95']:.1f} ms, p99 {k['p99']:.1f} ms, {k['requests'] / k['seconds']:.0f} pages/s "
              f"({k['requests']} in {k['seconds']:.0f} s, errors {k['errors']}, non-2xx {k['non2xx']})")
        lat, secs = duck_overview_load(con, [area])
        print(f"DuckDB  overview queries per view, same area: p50 {pct(lat, 50) * 1000:.1f} ms, p95 {pct(lat, 95) * 1000:.1f} ms, p99 {pct(lat, 99) * 1000:.1f} ms, {len(lat) / secs:.0f} views/s")
        print(f"ratio (DuckDB / Khlang): p95 {pct(lat, 95) * 1000 / k['p95']:.1f}x, throughput {k['requests'] / k['seconds'] / (len(lat) / secs):.1f}x")

        # Dashboards stay responsive while an analyst's heavy query runs.
        heavy_done = {}

        def heavy():
            t = time.perf_counter()
            with psycopg.connect(f"host=127.0.0.1 port={pg} user=bench password={PASSWORD} dbname=khlang") as c:
                c.execute("SELECT grade, sex, count(*), avg(bmi) FROM enrollments GROUP BY grade, sex").fetchall()
            heavy_done["s"] = time.perf_counter() - t

        th = threading.Thread(target=heavy)
        th.start()
        time.sleep(0.5)
        k2 = wrk(base, f"/area/{area}", cookies["bench-director"], script)
        th.join()
        print(f"Khlang  /area/{area} while a national scan runs over the wire ({heavy_done.get('s', float('nan')):.1f} s): "
              f"p50 {k2['p50']:.1f} ms, p95 {k2['p95']:.1f} ms, p99 {k2['p99']:.1f} ms, {k2['requests'] / k2['seconds']:.0f} pages/s")

        print("\n== 2. four-domain report per area (cold: computed and rendered) ==")
        sample = random.Random(7).sample(areas, 8)
        times = {"pdf": [], "xlsx": []}
        for code in sample:
            for ext in ["pdf", "xlsx"]:
                status, body, dt = http(base, f"/reports/area/{code}.{ext}", cookies["bench-admin"])
                assert status == 200 and len(body) > 1000
                times[ext].append(dt)
        # The first format computed the report; the second rendered it from the cache.
        print(f"PDF  first request per area (report computed + PDF): mean {statistics.mean(times['pdf']):.2f} s, max {max(times['pdf']):.2f} s")
        print(f"XLSX after the PDF (report cached, XLSX rendered):    mean {statistics.mean(times['xlsx']):.2f} s, max {max(times['xlsx']):.2f} s")
        duck_times = []
        for code in sample:
            t = time.perf_counter()
            for q in OVERVIEW:
                con.execute(q.format(a=code)).fetchall()
            duck_times.append(time.perf_counter() - t)
        print(f"DuckDB, the overview's queries for the same areas: mean {statistics.mean(duck_times):.2f} s (no rendering)")
    finally:
        server.terminate()
        server.wait()

    print("\n== 3. all area reports in one batch (khlang report --all-areas, PDF + XLSX) ==")
    out = tempfile.mkdtemp(prefix="khlang-reports-")
    t = time.perf_counter()
    subprocess.run([KHLANG, "report", "--all-areas", "--format", "pdf,xlsx", "--out", out], env=env, check=True)
    batch = time.perf_counter() - t
    files = os.listdir(out)
    print(f"Khlang: {len(files)} files for {len(areas)} areas in {batch:.1f} s ({batch / len(areas):.2f} s per area)")
    t = time.perf_counter()
    for code in areas:
        for q in OVERVIEW:
            con.execute(q.format(a=code)).fetchall()
    print(f"DuckDB: the overview's queries for all {len(areas)} areas in {time.perf_counter() - t:.1f} s (queries only, no documents)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The analyst benchmark: realistic queries over national-scale data, run by Khlang (a running
`khlang serve`, over the PostgreSQL wire protocol with psycopg) and by DuckDB (in-process, over the very
same Parquet files of the warehouse's current table versions), in the same run. Prints per-query
times (median of 3 after a warm-up) and the geometric-mean ratio, then p50/p95 latency of a
dashboard-sized query with 20 concurrent wire clients.

Usage: python3 bench/analyst.py [--work DIR] [--scale national|province|area]
  --work DIR reuses DIR/pull and DIR/warehouse when present (generate + ingest otherwise).
Needs: the release binary and `pip install -r scripts/requirements.txt`. Not a test: nothing asserts a time.
"""
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from national import KHLANG, work_args  # noqa: E402
from analyst_queries import LATEST, QUERIES  # noqa: E402

import duckdb  # noqa: E402
import psycopg  # noqa: E402
from deltalake import DeltaTable  # noqa: E402

PASSWORD = "bench-password-1"

# Analyst queries of the suite that count students by the codes enrollment_counts keeps, written over it.
COUNTED = {
    "students by area, grade, sex": f"""
        SELECT area_code, grade, sex, sum(students) AS students FROM enrollment_counts
        WHERE snapshot_date = {LATEST} AND status = 'studying' GROUP BY area_code, grade, sex ORDER BY area_code, grade, sex""",
    "students by level per snapshot (trend)": """
        SELECT snapshot_date, level, sum(students) AS students FROM enrollment_counts WHERE status = 'studying'
        GROUP BY snapshot_date, level ORDER BY snapshot_date, level""",
    "per-capita subsidy due by area": f"""
        SELECT area_code, sum(students * CASE level WHEN 'pre_primary' THEN 1700 WHEN 'primary' THEN 1900
                                                    WHEN 'lower_secondary' THEN 3500 ELSE 3800 END) AS subsidy_baht
        FROM enrollment_counts WHERE snapshot_date = {LATEST} AND status = 'studying' GROUP BY area_code ORDER BY area_code""",
    "disadvantaged share by area": f"""
        SELECT area_code, round(100.0 * sum(CASE WHEN disadvantaged THEN students ELSE 0 END) / sum(students), 2) AS pct
        FROM enrollment_counts WHERE snapshot_date = {LATEST} AND status = 'studying' GROUP BY area_code ORDER BY pct DESC""",
    "overage students by grade": f"""
        SELECT grade, sum(students) AS students, sum(CASE WHEN age_years > grade_order + 4 THEN students ELSE 0 END) AS overage
        FROM enrollment_counts WHERE snapshot_date = {LATEST} AND status = 'studying' GROUP BY grade ORDER BY grade""",
}

DASHBOARD = f"""SELECT size_band, count(*) AS schools, sum(students) AS students, sum(teachers) AS teachers, sum(teacher_gap) AS gap
FROM school_snapshot_summary WHERE snapshot_date = {LATEST} AND area_code = %s GROUP BY size_band ORDER BY size_band"""

TABLES = ["enrollments", "personnel", "budget_lines", "test_results", "schools", "school_snapshot_summary", "dltv_equipment", "buildings"]
HIVE_TYPES = {"enrollments": "{'snapshot_date': DATE}", "personnel": "{'as_of_date': DATE}", "budget_lines": "{'fiscal_year': INTEGER}",
              "test_results": "{'academic_year': INTEGER}", "school_snapshot_summary": "{'snapshot_date': DATE}"}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def duck_connect(wh):
    con = duckdb.connect()
    con.execute("SET threads = 2")
    for t in TABLES:
        dt = DeltaTable(os.path.join(wh, t))
        files = [u.replace("file://", "") for u in dt.file_uris()]
        lst = "[" + ", ".join(f"'{f}'" for f in files) + "]"
        if t in HIVE_TYPES:
            con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet({lst}, hive_partitioning = true, hive_types = {HIVE_TYPES[t]})")
        else:
            con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet({lst})")
    return con


def timed(fn, runs=3):
    fn()  # warm-up (file cache, plan caches) for both engines alike
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        rows = fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), rows


def prepare():
    """The work folder's warehouse (generated and loaded on first use) and the environment for khlang."""
    a, work = work_args()
    pull, wh = os.path.join(work, "pull"), os.path.join(work, "warehouse")
    env = dict(os.environ, KHLANG_SECRET_FILE=os.path.join(work, "secret.key"), KHLANG_LOG="warn", KHLANG_WAREHOUSE=wh)
    if not os.path.isdir(pull):
        subprocess.run([KHLANG, "generate", "--scale", a.scale, "--seed", "1", "--style", "utf8-english", "--out", pull], env=env, check=True)
    if not os.path.isdir(os.path.join(wh, "_khlang", "commits")):
        subprocess.run([KHLANG, "ingest", "--from", pull], env=env, check=True)
    return wh, env


def main():
    wh, env = prepare()
    subprocess.run([KHLANG, "user", "add", "bench", "--role", "analyst"], env=env, check=True, input=PASSWORD + "\n", text=True, capture_output=True)

    http, pg = free_port(), free_port()
    server = subprocess.Popen([KHLANG, "serve"], env=dict(env, KHLANG_HTTP=f"127.0.0.1:{http}", KHLANG_PG=f"127.0.0.1:{pg}",
                                                        KHLANG_SCHEDULE="0 2 * * *", KHLANG_QUERY_TIMEOUT_SECONDS="600",
                                                        KHLANG_MAX_CONCURRENT_QUERIES="20"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dsn = f"host=127.0.0.1 port={pg} user=bench password={PASSWORD} dbname=khlang"
    try:
        for _ in range(300):
            try:
                psycopg.connect(dsn).close()
                break
            except Exception:
                time.sleep(0.2)
        conn = psycopg.connect(dsn, autocommit=True)
        duck = duck_connect(wh)
        students = duck.execute("SELECT count(*) FROM enrollments").fetchone()[0]
        print(f"data: {students:,} enrollment rows, same Parquet files for both engines\n")
        print(f"{'query':<48} {'khlang s':>9} {'duckdb s':>9} {'ratio':>7} {'rows':>7}")
        ratios = []
        for name, sql in QUERIES.items():
            k, krows = timed(lambda: len(conn.execute(sql).fetchall()))
            d, drows = timed(lambda: len(duck.execute(sql).fetchall()))
            if krows != drows:
                print(f"  ! {name}: khlang {krows} rows, duckdb {drows} rows")
            ratios.append(k / d)
            print(f"{name:<48} {k:>9.3f} {d:>9.3f} {k / d:>7.2f} {krows:>7}")
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print(f"\ngeometric mean of khlang/duckdb over {len(ratios)} queries: {geo:.2f} (below 1: Khlang faster)")

        # The same breakdowns read from enrollment_counts (counted at load), against DuckDB's own
        # answer from enrollments: what the planner gains when it reads the counts for the analyst.
        print(f"\n{'the same, from enrollment_counts':<48} {'khlang s':>9} {'duckdb s':>9} {'ratio':>7} {'same':>7}")
        counted = []
        for name, sql in COUNTED.items():
            k, krows = timed(lambda: sorted(map(tuple, conn.execute(sql).fetchall())))
            d, drows = timed(lambda: sorted(map(tuple, duck.execute(QUERIES[name]).fetchall())))
            same = [tuple(float(x) if isinstance(x, (int, float)) or type(x).__name__ == "Decimal" else x for x in r) for r in krows] == \
                   [tuple(float(x) if isinstance(x, (int, float)) or type(x).__name__ == "Decimal" else x for x in r) for r in drows]
            counted.append(k / d)
            print(f"{name:<48} {k:>9.3f} {d:>9.3f} {k / d:>7.2f} {str(same):>7}")

        area = duck.execute("SELECT min(area_code) FROM schools").fetchone()[0]
        lat = []
        lock = threading.Lock()

        def client(n):
            c = psycopg.connect(dsn, autocommit=True)
            for _ in range(n):
                t = time.perf_counter()
                c.execute(DASHBOARD, (area,)).fetchall()
                with lock:
                    lat.append(time.perf_counter() - t)
            c.close()

        threads = [threading.Thread(target=client, args=(25,)) for _ in range(20)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        lat.sort()
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
        dq = DASHBOARD.replace("%s", f"'{area}'")
        d1, _ = timed(lambda: duck.execute(dq).fetchall(), runs=20)
        print(f"\ndashboard query, 20 concurrent wire clients x 25: p50 {p(0.50):.1f} ms, p95 {p(0.95):.1f} ms, "
              f"p99 {p(0.99):.1f} ms, {len(lat) / wall:.0f} queries/s; DuckDB in-process, one client: {d1 * 1000:.1f} ms")
        print(json.dumps({"geomean_ratio": geo, "p50_ms": p(0.5), "p95_ms": p(0.95)}))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Issue 3 benchmark: one national-scale students snapshot, loaded by Khlang from CSV files and from
PostgreSQL (validation, hashing and the summary included), against DuckDB's plain CSV -> partitioned
Parquet conversion of the same students file, and of every feed of the same pull, in the same run. Prints time, rows/s and peak memory
of each, and the ratios.

Usage: python3 bench/snapshot.py [--scale national|province|area] [--work DIR] [--keep]
Needs: the release binary, Debian's postgresql (initdb, pg_ctl), psql, and
`pip install -r scripts/requirements.txt`. Not a test: nothing here asserts a time.
"""
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from national import KHLANG, DUCKDB, measure, work_args  # noqa: E402

PASSWORD = "bench"
TYPES = {
    **dict.fromkeys(["snapshot_date", "birth_date", "as_of_date", "appointed_date", "transaction_date", "last_checked"], "date"),
    **dict.fromkeys(["academic_year", "fiscal_year", "built_year", "examinees", "disability"], "integer"),
    **dict.fromkeys(["weight_kg", "height_cm", "salary_baht", "allocated_baht", "disbursed_baht", "mean_score", "area_m2", "latitude", "longitude"], "numeric"),
}
FEEDS = ["areas", "schools", "students", "personnel", "budget", "tests", "buildings", "dltv_equipment"]
# The like-for-like peer: DuckDB converting every feed of the same pull (not only the students) to
# Parquet, the dated feeds partitioned as their tables are.
PARTITIONS = {"students": "snapshot_date", "personnel": "as_of_date", "budget": "fiscal_year", "tests": "academic_year"}
DUCKDB_ALL = r"""
import duckdb, json, os, sys
feeds, out = json.loads(sys.argv[1]), sys.argv[2]
con = duckdb.connect()
con.execute("SET threads = 2")
for feed, (paths, partition) in feeds.items():
    files = ", ".join(f"'{p}'" for p in paths)
    by = f", PARTITION_BY ({partition})" if partition else ""
    con.execute(f"COPY (SELECT * FROM read_csv([{files}], header = true, union_by_name = true)) TO '{os.path.join(out, feed)}' (FORMAT parquet{by})")
"""


def as_postgres(cmd):
    return (["runuser", "-u", "postgres", "--"] + cmd) if os.geteuid() == 0 else cmd


def pg_bin():
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return dirs[-1] if dirs else "/usr/bin"


def start_pg(work):
    # Under /tmp: the server runs as the postgres user, who cannot enter root's home.
    d = tempfile.mkdtemp(prefix="khlang-bench-pg-")
    os.chmod(d, 0o755)
    with open(os.path.join(d, "pw"), "w") as f:
        f.write(PASSWORD)
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "postgres:postgres", d], check=True)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    b = pg_bin()
    subprocess.run(as_postgres([f"{b}/initdb", "-D", f"{d}/data", "-U", "bench", "--auth-host=scram-sha-256", "--auth-local=trust",
                                f"--pwfile={d}/pw", "--encoding=UTF8", "--locale=C"]), check=True, stdout=subprocess.DEVNULL)
    opts = f"-p {port} -k {d} -c listen_addresses=127.0.0.1 -c fsync=off -c max_wal_size=4GB"
    subprocess.run(as_postgres([f"{b}/pg_ctl", "-D", f"{d}/data", "-o", opts, "-l", f"{d}/log", "-w", "start"]), check=True, stdout=subprocess.DEVNULL)
    return d, port


def stop_pg(d):
    subprocess.run(as_postgres([f"{pg_bin()}/pg_ctl", "-D", f"{d}/data", "-m", "fast", "-w", "stop"]), stdout=subprocess.DEVNULL)
    shutil.rmtree(d, ignore_errors=True)


def psql(port, sql):
    env = dict(os.environ, PGPASSWORD=PASSWORD)
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(port), "-U", "bench", "-d", "postgres", "-c", sql],
                   check=True, env=env)


def main():
    a, work = work_args()
    env = dict(os.environ, KHLANG_SECRET_FILE=os.path.join(work, "secret.key"), KHLANG_LOG="warn", PGPASSWORD=PASSWORD)
    full = os.path.join(work, "pull")
    if not os.path.exists(os.path.join(full, "_manifest.json")):
        measure([KHLANG, "generate", "--scale", a.scale, "--seed", "1", "--style", "utf8-english", "--out", full], env)
    manifest = json.load(open(os.path.join(full, "_manifest.json")))
    snapshot_file = sorted(f["file"] for f in manifest["files"] if f["feed"] == "students")[-1]
    # The nightly pull of one snapshot: the latest students file and every other feed.
    pull = os.path.join(work, "one_snapshot")
    shutil.rmtree(pull, ignore_errors=True)
    os.makedirs(pull)
    for f in manifest["files"]:
        if f["feed"] != "students" or f["file"] == snapshot_file:
            os.symlink(os.path.join(full, f["file"]), os.path.join(pull, f["file"]))
    files = [f for f in manifest["files"] if f["feed"] != "students" or f["file"] == snapshot_file]
    rows_all = sum(f["rows"] for f in files)
    rows_students = next(f["rows"] for f in files if f["file"] == snapshot_file)
    students_csv = os.path.join(pull, snapshot_file)

    results = []
    wh = os.path.join(work, "wh_csv")
    shutil.rmtree(wh, ignore_errors=True)
    results.append(("khlang ingest from CSV (all feeds, validated)", measure([KHLANG, "ingest", "--from", pull, "--warehouse", wh], env), rows_all))

    pq = os.path.join(work, "duckdb_parquet")
    shutil.rmtree(pq, ignore_errors=True)
    results.append(("duckdb students CSV -> Parquet by snapshot", measure([sys.executable, "-c", DUCKDB, students_csv, pq]), rows_students))

    # Every feed's files, as the PostgreSQL tables below are loaded from them.
    feed_files = {feed: sorted(p for p in glob.glob(os.path.join(pull, f"{feed}*.csv")) if os.path.basename(p).split(".")[0] == feed or os.path.basename(p).startswith(feed + "_"))
                  for feed in FEEDS}
    pq_all = os.path.join(work, "duckdb_parquet_all")
    shutil.rmtree(pq_all, ignore_errors=True)
    os.makedirs(pq_all)
    spec = json.dumps({f: (paths, PARTITIONS.get(f)) for f, paths in feed_files.items()})
    results.append(("duckdb every feed CSV -> Parquet", measure([sys.executable, "-c", DUCKDB_ALL, spec, pq_all]), rows_all))

    pgdir, port = start_pg(work)
    try:
        psql(port, "CREATE SCHEMA ministry")
        for feed, paths in feed_files.items():
            header = open(paths[0], encoding="utf-8-sig").readline().strip().split(",")
            psql(port, f"CREATE TABLE ministry.{feed} ({', '.join(c + ' ' + TYPES.get(c, 'boolean' if c == 'is_dltv' else 'text') for c in header)})")
            for p in paths:
                psql(port, f"\\copy ministry.{feed} ({', '.join(header)}) FROM '{p}' WITH (FORMAT csv, HEADER true)")
        psql(port, "VACUUM ANALYZE")
        wh = os.path.join(work, "wh_pg")
        shutil.rmtree(wh, ignore_errors=True)
        url = f"postgres://bench@127.0.0.1:{port}/postgres?schema=ministry"
        results.append(("khlang ingest from PostgreSQL (all feeds, validated)", measure([KHLANG, "ingest", "--from", url, "--warehouse", wh], env), rows_all))
    finally:
        stop_pg(pgdir)

    print(f"scale {a.scale}: one students snapshot ({snapshot_file}, {rows_students:,} rows, "
          f"{os.path.getsize(os.path.realpath(students_csv)) / 2**20:,.0f} MiB) + the other feeds: {rows_all:,} rows")
    print(f"{'step':<52} {'time':>9} {'rows/s':>13} {'peak memory':>12}")
    for name, r, rows in results:
        print(f"{name:<52} {r['seconds']:>7.1f} s {rows / r['seconds']:>13,.0f} {r['peak_kib'] / 1024:>8,.0f} MiB")
    duck, duck_all = results[1][1], results[2][1]
    for name, r, _ in (results[0], results[3]):
        print(f"{name}: wall time {r['seconds'] / duck['seconds']:.2f}x DuckDB's on the students, "
              f"{r['seconds'] / duck_all['seconds']:.2f}x on every feed; "
              f"time per row read {(r['seconds'] / rows_all) / (duck['seconds'] / rows_students):.2f}x, peak memory {r['peak_kib'] / duck['peak_kib']:.2f}x")
    if not a.keep and not a.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

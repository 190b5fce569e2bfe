#!/usr/bin/env python3
"""National-scale benchmark of the foundation: generation, ingest (time, rows/s, peak memory) and, in
the same run on the same students files, DuckDB's CSV -> Parquet partitioned by snapshot.

Usage: python3 bench/national.py [--scale national|province|area] [--work DIR] [--keep]
Needs: the release binary (cargo build --release) and `pip install -r scripts/requirements.txt`.
Prints a table of figures and the Khlang/DuckDB ratio. Not a test: nothing here asserts a time.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/khlang/target"))
KHLANG = os.path.join(TARGET, "release", "khlang")

# Runs a command in a fresh Python process so ru_maxrss is that command's own peak.
MEASURE = r"""
import resource, subprocess, sys, time, json
t = time.perf_counter()
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "code": r.returncode, "stderr": r.stderr.decode(errors="replace")[-2000:]}))
"""

DUCKDB = r"""
import duckdb, sys
src, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute(f"COPY (SELECT * FROM read_csv('{src}', header = true)) TO '{out}' (FORMAT parquet, PARTITION_BY (snapshot_date))")
"""


def measure(cmd, env=None):
    out = subprocess.run([sys.executable, "-c", MEASURE] + cmd, capture_output=True, text=True, env=env)
    res = json.loads(out.stdout)
    if res["code"] != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{res['stderr']}")
    return res


def work_args():
    """The benchmarks' common options: --scale, --work DIR (kept, and reused), --keep."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", default="national")
    ap.add_argument("--work", default=None)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="khlang-bench-")
    os.makedirs(work, exist_ok=True)
    return a, work


def main():
    a, work = work_args()
    pull, wh, pq = (os.path.join(work, x) for x in ("pull", "warehouse", "duckdb_parquet"))
    for d in (pull, wh, pq):
        shutil.rmtree(d, ignore_errors=True)
    env = dict(os.environ, KHLANG_SECRET_FILE=os.path.join(work, "secret.key"), KHLANG_LOG="warn")

    # The utf8-english style lets DuckDB read the very same students files Khlang reads.
    gen = measure([KHLANG, "generate", "--scale", a.scale, "--seed", "1", "--style", "utf8-english", "--out", pull], env)
    manifest = json.load(open(os.path.join(pull, "_manifest.json")))
    rows_all = sum(f["rows"] for f in manifest["files"])
    rows_students = sum(f["rows"] for f in manifest["files"] if f["feed"] == "students")
    size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(pull, "*")))
    students_size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(pull, "students_*.csv")))

    ing = measure([KHLANG, "ingest", "--from", pull, "--warehouse", wh], env)
    duck = measure([sys.executable, "-c", DUCKDB, os.path.join(pull, "students_*.csv"), pq])

    def line(name, r, rows):
        print(f"{name:<44} {r['seconds']:>9.1f} s {rows / r['seconds']:>13,.0f} rows/s {r['peak_kib'] / 1024:>9,.0f} MiB")

    print(f"scale {a.scale}: {manifest['schools']:,} schools, {manifest['areas']} areas, snapshots {', '.join(manifest['snapshots'])}")
    print(f"pull: {rows_all:,} rows in {len(manifest['files'])} files, {size / 2**20:,.0f} MiB; students {rows_students:,} rows, {students_size / 2**20:,.0f} MiB")
    print(f"{'step':<44} {'time':>11} {'throughput':>20} {'peak memory':>13}")
    line("khlang generate (all feeds)", gen, rows_all)
    line("khlang ingest (all feeds, validated, + summary)", ing, rows_all)
    line("duckdb students CSV -> Parquet by snapshot", duck, rows_students)
    per_row_k = ing["seconds"] / rows_all
    per_row_d = duck["seconds"] / rows_students
    print(f"ratio khlang ingest / duckdb conversion, time per row: {per_row_k / per_row_d:.2f} (>1 means Khlang is slower)")
    print(f"ratio khlang ingest / duckdb conversion, wall time: {ing['seconds'] / duck['seconds']:.2f}; peak memory: {ing['peak_kib'] / duck['peak_kib']:.2f}")
    if not a.keep and not a.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

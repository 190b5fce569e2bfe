#!/usr/bin/env python3
"""Issue 11 benchmark: connect-to-first-row time of analysts' clients against Khlang's wire protocol
and against a real PostgreSQL server (Debian's, a throwaway cluster) holding the same tables, in
the same run. Each client signs in with SCRAM-SHA-256 on both servers, runs
`SELECT count(*) FROM schools` and reads the row; the figure is the median of 21 tries after one
warm-up, the two servers tried in turn. Clients: psycopg 3, psycopg2, SQLAlchemy + pandas (read_sql), pyodbc over psqlODBC, pgjdbc
(measured inside the JVM, so JVM start is not counted), psql (a whole process, for both alike).

Usage: python3 bench/clients.py [--scale area|province|national] [--work DIR]
Needs: the release binary, Debian's postgresql, psql, odbc-postgresql, libpostgresql-jdbc-java,
javac, and `pip install -r scripts/requirements.txt`. Not a test: nothing here asserts a time.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from analyst import free_port, prepare  # noqa: E402
from national import KHLANG  # noqa: E402
from snapshot import as_postgres, pg_bin, start_pg, stop_pg  # noqa: E402
from snapshot import PASSWORD as PG_SUPER_PASSWORD  # noqa: E402

USER, PASSWORD = "ana", "bench-password"
QUERY = "SELECT count(*) FROM schools"
TABLES = ["schools", "areas", "enrollments", "budget_lines", "personnel", "school_snapshot_summary"]
HERE = os.path.dirname(os.path.abspath(__file__))


def copy_tables(khlang_port, pg_port):
    """The same rows in PostgreSQL: each table's columns with PostgreSQL types from Khlang's own
    information_schema, and its rows streamed with COPY from one server to the other."""
    kenv = dict(os.environ, PGPASSWORD=PASSWORD)
    penv = dict(os.environ, PGPASSWORD=PG_SUPER_PASSWORD)
    kpsql = ["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(khlang_port), "-U", USER, "-d", "khlang"]
    ppsql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(pg_port), "-U", "bench", "-d", "khlang"]
    subprocess.run(ppsql + ["-c", f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'"], env=penv, check=True)
    for t in TABLES:
        cols = subprocess.run(kpsql + ["-At", "-F", "\t", "-c", f"SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '{t}' ORDER BY ordinal_position"],
                              env=kenv, check=True, capture_output=True, text=True).stdout.split("\n")
        defs = ", ".join(f'"{c.split(chr(9))[0]}" {c.split(chr(9))[1]}' for c in cols if c)
        subprocess.run(ppsql + ["-c", f"CREATE TABLE {t} ({defs}); GRANT SELECT ON {t} TO {USER}"], env=penv, check=True)
        out = subprocess.Popen(kpsql + ["-c", f"COPY (SELECT * FROM {t}) TO STDOUT"], env=kenv, stdout=subprocess.PIPE)
        subprocess.run(ppsql + ["-c", f"COPY {t} FROM STDIN"], env=penv, stdin=out.stdout, check=True)
        out.wait()
    subprocess.run(ppsql + ["-c", "ANALYZE"], env=penv, check=True)


def clients(port, classes):
    dsn = f"host=127.0.0.1 port={port} user={USER} password={PASSWORD} dbname=khlang"

    def psycopg3():
        import psycopg
        with psycopg.connect(dsn) as c:
            return c.execute(QUERY).fetchone()[0]

    def psycopg2_():
        import psycopg2
        c = psycopg2.connect(dsn)
        cur = c.cursor()
        cur.execute(QUERY)
        n = cur.fetchone()[0]
        c.close()
        return n

    def sqlalchemy_pandas():
        import pandas
        import sqlalchemy as sa
        e = sa.create_engine(sa.engine.URL.create("postgresql+psycopg2", username=USER, password=PASSWORD, host="127.0.0.1", port=port, database="khlang"))
        n = int(pandas.read_sql(sa.text(QUERY), e).iloc[0, 0])
        e.dispose()
        return n

    def odbc():
        import pyodbc
        c = pyodbc.connect(f"DRIVER={{PostgreSQL Unicode}};SERVER=127.0.0.1;PORT={port};DATABASE=khlang;UID={USER};PWD={PASSWORD};sslmode=disable")
        n = c.cursor().execute(QUERY).fetchone()[0]
        c.close()
        return n

    def psql():
        r = subprocess.run(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(port), "-U", USER, "-d", "khlang", "-c", QUERY],
                           env=dict(os.environ, PGPASSWORD=PASSWORD), capture_output=True, text=True, check=True)
        return int(r.stdout.strip())

    return {"psycopg 3": psycopg3, "psycopg2": psycopg2_, "SQLAlchemy + pandas": sqlalchemy_pandas, "pyodbc (psqlODBC)": odbc, "psql": psql}


def jdbc_ms(port, classes):
    """pgjdbc's own connect-to-first-row time, measured inside the JVM by JdbcCheck."""
    cp = f"/usr/share/java/postgresql.jar:{classes}"
    r = subprocess.run(["java", "-cp", cp, "JdbcCheck", f"jdbc:postgresql://127.0.0.1:{port}/khlang", USER, PASSWORD, "0", "first-row"], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        if line.startswith("first_row_ms\t"):
            return float(line.split("\t")[1])
    raise RuntimeError(f"JdbcCheck printed no first_row_ms: {r.stdout} {r.stderr}")


def paired_ms(kfn, pfn, runs=21):
    """Median times of the two servers' clients, tried in turn (Khlang, PostgreSQL, Khlang, ...)
    so a busy moment of the machine falls on both alike."""
    kfn(), pfn()
    ks, ps = [], []
    for _ in range(runs):
        for fn, ts in ((kfn, ks), (pfn, ps)):
            t = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t) * 1000)
    return statistics.median(ks), statistics.median(ps)


def main():
    wh, env = prepare()
    subprocess.run([KHLANG, "user", "add", USER, "--role", "analyst"], env=env, check=True, input=PASSWORD + "\n", text=True, capture_output=True)
    kport, hport = free_port(), free_port()
    server = subprocess.Popen([KHLANG, "serve"], env=dict(env, KHLANG_PG=f"127.0.0.1:{kport}", KHLANG_HTTP=f"127.0.0.1:{hport}"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pg_dir, pport = start_pg(None)
    classes = tempfile.mkdtemp(prefix="khlang-bench-java-")
    try:
        for _ in range(100):
            try:
                import psycopg
                psycopg.connect(f"host=127.0.0.1 port={kport} user={USER} password={PASSWORD} dbname=khlang").close()
                break
            except Exception:  # noqa: BLE001 - waiting for the server to listen
                time.sleep(0.2)
        # PostgreSQL's database is named khlang too, so every client's connection string is the same.
        subprocess.run(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(pport), "-U", "bench", "-d", "postgres", "-c", "CREATE DATABASE khlang"],
                       env=dict(os.environ, PGPASSWORD=PG_SUPER_PASSWORD), check=True)
        copy_tables(kport, pport)
        subprocess.run(["javac", "-cp", "/usr/share/java/postgresql.jar", "-d", classes, os.path.join(HERE, "..", "tests", "clients", "JdbcCheck.java")], check=True)
        print(f"{'client':<22} {'Khlang ms':>10} {'PostgreSQL 15 ms':>17} {'ratio':>7}")
        ratios = []
        kc, pc = clients(kport, classes), clients(pport, classes)
        for name in kc:
            if kc[name]() != pc[name]():
                raise SystemExit(f"{name}: the servers gave different counts")
            k, p = paired_ms(kc[name], pc[name])
            ratios.append(k / p)
            print(f"{name:<22} {k:>10.1f} {p:>17.1f} {k / p:>7.2f}")
        pairs = [(jdbc_ms(kport, classes), jdbc_ms(pport, classes)) for _ in range(7)]
        k, p = statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs)
        ratios.append(k / p)
        print(f"{'pgjdbc (in the JVM)':<22} {k:>10.1f} {p:>17.1f} {k / p:>7.2f}")
        print(f"geometric mean of the ratios: {statistics.geometric_mean(ratios):.2f}")
    finally:
        server.terminate()
        server.wait()
        stop_pg(pg_dir)


if __name__ == "__main__":
    main()

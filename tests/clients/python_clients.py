"""Analysts' Python-side tools against a running Khlang (or PostgreSQL) server, as they really connect:
ODBC (psqlODBC through pyodbc, Excel's route), SQLAlchemy with pandas (psycopg2 and psycopg 3
dialects, what Superset uses), psycopg's binary transfer (what Npgsql asks for on every column).

Each check prints one JSON object on standard output; the Rust test compares it with psql's and
`khlang sql`'s answers. Exits non-zero with the exception when a client fails.

    python3 python_clients.py CHECK HOST PORT USER PASSWORD [ARGS...]
"""

import csv
import io
import json
import sys
import time


def odbc(host, port, user, password, school):
    import pyodbc

    t0 = time.perf_counter()
    conn = pyodbc.connect(
        "DRIVER={PostgreSQL Unicode};"
        f"SERVER={host};PORT={port};DATABASE=khlang;UID={user};PWD={password};"
        "sslmode=disable",
        autocommit=True,
    )
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM schools")
    cur.fetchone()
    first_row_ms = (time.perf_counter() - t0) * 1000
    tables = sorted({r.table_name for r in cur.tables(schema="public")})
    columns = [(r.column_name, r.type_name) for r in cur.columns(table="enrollments", schema="public")]
    cur.execute(
        "SELECT grade, count(*) AS n FROM enrollments WHERE school_code = ? GROUP BY grade ORDER BY grade",
        school,
    )
    rows = [[r[0], r[1]] for r in cur.fetchall()]
    cur.execute("SELECT count(*), sum(allocated_baht) FROM budget_lines")
    count, allocated = cur.fetchone()
    return {
        "first_row_ms": first_row_ms,
        "tables": tables,
        "columns": columns,
        "by_grade": rows,
        "budget": [count, str(allocated) if allocated is not None else None],
    }


def sqlalchemy(host, port, user, password, dialect, query):
    import pandas
    import sqlalchemy as sa

    url = sa.engine.URL.create(dialect, username=user, password=password, host=host, port=int(port), database="khlang")
    t0 = time.perf_counter()
    engine = sa.create_engine(url)
    with engine.connect() as c:
        c.execute(sa.text("SELECT count(*) FROM schools")).fetchone()
        first_row_ms = (time.perf_counter() - t0) * 1000
        # What Superset runs when a database is added and tested.
        databases = [r[0] for r in c.execute(sa.text("SELECT datname FROM pg_database WHERE datistemplate = false"))]
        c.execute(sa.text("set search_path = public"))
        pid = c.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        version = c.execute(sa.text("SELECT version()")).scalar()
    insp = sa.inspect(engine)
    out = {
        "first_row_ms": first_row_ms,
        "server_version_info": list(engine.dialect.server_version_info),
        "version": version,
        "databases": databases,
        "pid": pid,
        "schemas": insp.get_schema_names(),
        "tables": sorted(insp.get_table_names()),
        "views": sorted(insp.get_view_names()),
        "has_table": insp.has_table("enrollments"),
        "foreign_keys": insp.get_foreign_keys("enrollments"),
    }
    # Reflection, as Superset's dataset editor and pandas.read_sql_table use it.
    out["columns"] = [[c["name"], str(c["type"]), c["nullable"], c["comment"]] for c in insp.get_columns("enrollments")]
    out["pk"] = insp.get_pk_constraint("enrollments")
    out["indexes"] = insp.get_indexes("enrollments")
    out["unique"] = insp.get_unique_constraints("enrollments")
    out["check"] = insp.get_check_constraints("enrollments")
    out["table_comment"] = insp.get_table_comment("enrollments")["text"]
    schools = pandas.read_sql_table("schools", engine)
    out["read_sql_table"] = [list(schools.columns), len(schools)]
    frame = pandas.read_sql(sa.text(query), engine)
    buf = io.StringIO()
    frame.to_csv(buf, index=False, lineterminator="\n")
    out["read_sql"] = buf.getvalue()
    engine.dispose()
    return out


def binary(host, port, user, password, query):
    """The same query in text and binary transfer: every value must decode alike."""
    import psycopg

    with psycopg.connect(host=host, port=port, user=user, password=password, dbname="khlang", autocommit=True) as conn:
        text = conn.execute(query).fetchall()
        with conn.cursor(binary=True) as cur:
            cur.execute(query)
            binary_rows = cur.fetchall()
            types = [d.type_code for d in cur.description]
    return {"rows": len(text), "equal": [list(map(str, r)) for r in text] == [list(map(str, r)) for r in binary_rows], "types": types,
            "first_text": list(map(str, text[0])) if text else [], "first_binary": list(map(str, binary_rows[0])) if binary_rows else []}


def main():
    check, host, port, user, password, *rest = sys.argv[1:]
    if check == "odbc":
        out = odbc(host, port, user, password, *rest)
    elif check == "sqlalchemy":
        out = sqlalchemy(host, port, user, password, *rest)
    elif check == "binary":
        out = binary(host, port, user, password, *rest)
    else:
        raise SystemExit(f"unknown check {check}")
    print(json.dumps(out, default=str, ensure_ascii=False))


if __name__ == "__main__":
    main()

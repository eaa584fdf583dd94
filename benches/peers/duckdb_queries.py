"""The query peer of `benches/scale.rs`: DuckDB (PyPI `duckdb`) runs the
statements the query model wrote for the embedded store (DataFusion's SQL)
over the same Parquet files, each question `REPEATS` times, and prints one
JSON line per question: its name, p50 and p95 in milliseconds, and the rows
of its last statement and the first of them.

The SQL is the same but for DataFusion's `arrow_cast` forms, written here
in DuckDB's functions (instants as microseconds and back), and integer
division kept integer (`SET integer_division`), as DataFusion divides.

Run: python duckdb_queries.py QUESTIONS.json REPEATS (the file names the
Parquet files of the facts and the questions' statements)
"""

import json
import sys
import time

import duckdb

UTC = "'Timestamp(Microsecond, Some(\"UTC\"))'"


def close_of(sql, open_at):
    """The index of the parenthesis closing the one at `open_at`, and the
    index of the last comma at its top level."""
    depth, comma, quoted = 0, None, False
    for i in range(open_at, len(sql)):
        c = sql[i]
        if c == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i, comma
        elif c == "," and depth == 1:
            comma = i
    raise ValueError("unbalanced parentheses in: " + sql)


def to_duckdb(sql):
    """DataFusion's casts of the dialect as DuckDB's functions."""
    while True:
        at = sql.find("arrow_cast(")
        if at < 0:
            return sql
        end, comma = close_of(sql, at + len("arrow_cast"))
        inner = to_duckdb(sql[at + len("arrow_cast("):comma])
        target = sql[comma + 1:end].strip()
        if target == "'Int64'":
            new = f"epoch_us({inner})"
        elif target == UTC:
            new = f"CAST(make_timestamp(CAST({inner} AS BIGINT)) AS TIMESTAMPTZ)"
        else:
            raise ValueError("no DuckDB form for arrow_cast to " + target)
        sql = sql[:at] + new + sql[end + 1:]


def main():
    with open(sys.argv[1]) as f:
        asked = json.load(f)
    repeats = int(sys.argv[2])
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET integer_division = true")
    files = ", ".join("'" + f.replace("'", "''") + "'" for f in asked["files"])
    con.execute(f"CREATE VIEW facts AS SELECT * FROM read_parquet([{files}], union_by_name = true)")
    # The catalogue as the embedded store gives it (none registered here).
    columns = ", ".join(f'"{c}" ' + ("DOUBLE" if c in ("duration", "bitrate") else "VARCHAR") for c in asked["content_columns"])
    con.execute(f"CREATE TABLE contents ({columns})")
    for q in asked["questions"]:
        statements = [(to_duckdb(s["text"]), s["params"]) for s in q["statements"]]
        times, rows, first = [], 0, None
        for _ in range(repeats):
            began = time.perf_counter()
            for sql, params in statements:
                answer = con.execute(sql, params or None).fetchall()
                rows, first = len(answer), (list(answer[0]) if answer else None)
            times.append((time.perf_counter() - began) * 1000.0)
        times.sort()
        p95 = times[min(len(times) - 1, len(times) * 95 // 100)]
        print(json.dumps({"name": q["name"], "p50_ms": times[len(times) // 2], "p95_ms": p95, "rows": rows, "first": first}, default=str), flush=True)


if __name__ == "__main__":
    main()

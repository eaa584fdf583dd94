"""Replays the statements a ClickHouse 18.16 server ran (its query_log) on
the same data in two engines: that server and chdb (a current ClickHouse
release, in-process), and compares their answers.

Usage: chdb_replay.py HTTP_PORT SOURCE_DB CONTENTS_STRUCTURE CONTENTS_TSV USERS_STRUCTURE
Prints one JSON object: {"statements": n, "differ": [...], "errors": [...]}.
"""
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

import chdb.session

port, source, contents_structure, contents_tsv, users_structure = sys.argv[1:6]
BASE = f"http://127.0.0.1:{port}/"


def old(sql, database="default"):
    url = BASE + "?" + urllib.parse.urlencode({"database": database, "output_format_json_quote_64bit_integers": 0})
    req = urllib.request.Request(url, data=sql.encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.read().decode()
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{sql[:300]}: {e.read().decode()[:600]}") from None


old("SYSTEM FLUSH LOGS")
statements = sorted(
    {
        line
        for line in old(
            "SELECT DISTINCT replaceAll(replaceAll(query, '\\n', ' '), '\\t', ' ') FROM system.query_log "
            "WHERE type = 2 AND query LIKE 'SELECT%FORMAT JSONCompact' AND query NOT LIKE '%system.%' FORMAT TabSeparatedRaw"
        ).splitlines()
        if line
    }
)

# The same data in a database of its own on both engines; what the store
# hands a query as external data becomes plain tables there.
old("DROP DATABASE IF EXISTS replay")
old("CREATE DATABASE replay")
setup = []
for table in ["facts", "events"]:
    old(f"CREATE TABLE replay.{table} AS {source}.{table}")
    old(f"INSERT INTO replay.{table} SELECT * FROM {source}.{table}")
    old(f"CREATE TABLE replay.{table}_recent AS {source}.{table} ENGINE = Memory")
old(f"CREATE TABLE replay.contents ({contents_structure}) ENGINE = Memory")
old(f"INSERT INTO replay.contents FORMAT TabSeparated\n{contents_tsv}")
old(f"CREATE TABLE replay.users ({users_structure}) ENGINE = Memory")

new = chdb.session.Session()
new.query("CREATE DATABASE IF NOT EXISTS replay")
new.query("USE replay")
for table in ["facts", "events", "facts_recent", "events_recent", "contents", "users"]:
    ddl = old(f"SHOW CREATE TABLE replay.{table} FORMAT TabSeparatedRaw").strip()
    new.query(ddl)
    rows = old(f"SELECT * FROM replay.{table} FORMAT TabSeparated")
    if rows.strip():
        new.query(f"INSERT INTO replay.{table} FORMAT TabSeparated\n{rows}")


def same(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, str) and isinstance(b, str) and a != b:
        # Decimal instants: 18.16 writes them as numbers, newer servers as text.
        try:
            return float(a) == float(b)
        except ValueError:
            return False
    return a == b


def numbers(rows):
    return [[float(c) if isinstance(c, str) and c.lstrip("-").isdigit() else c for c in row] for row in rows]


differ, errors = [], []
for sql in statements:
    try:
        a = json.loads(old(sql, "replay"))["data"]
    except Exception as e:  # noqa: BLE001 - reported, not raised
        errors.append({"engine": "18.16", "sql": sql[:600], "error": str(e)[:400]})
        continue
    try:
        b = json.loads(str(new.query(sql.replace(" FORMAT JSONCompact", ""), "JSONCompact")))["data"]
    except Exception as e:  # noqa: BLE001
        errors.append({"engine": "chdb", "sql": sql[:600], "error": str(e)[:400]})
        continue
    if not same(numbers(a), numbers(b)):
        differ.append({"sql": sql[:600], "18.16": a[:5], "current": b[:5]})
print(json.dumps({"statements": len(statements), "differ": differ, "errors": errors}))

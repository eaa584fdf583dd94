"""The log-import peer of `benches/logs.rs`: DuckDB (PyPI `duckdb`) reads a
combined-format access log with `read_csv` and computes podcast downloads
per content per day with the IAB filters written in SQL (GET, status 200 or
206, at least 70 000 bytes, no bot or tool User-Agent, one download per
address and User-Agent per episode and day). Prints the lines read, the
rows and the downloads summed, on one line.

Run: python duckdb_logs.py ACCESS_LOG
"""

import sys

import duckdb

# The same words the bot rules start from (crawler lists); a peer's filter,
# not ours: enough to drop the generated log's crawler.
BOTS = "(?i)(bot|crawl|spider|slurp|curl|wget|python-requests|headless|monitor)"

SQL = """
WITH lines AS (
    SELECT * FROM read_csv($log, delim = ' ', quote = '"', escape = '\\', header = false,
        auto_detect = false, strict_mode = false, null_padding = true,
        columns = {'ip': 'VARCHAR', 'ident': 'VARCHAR', 'who': 'VARCHAR', 'ts': 'VARCHAR',
                   'zone': 'VARCHAR', 'request': 'VARCHAR', 'status': 'VARCHAR',
                   'bytes': 'VARCHAR', 'referer': 'VARCHAR', 'ua': 'VARCHAR'})
), requests AS (
    SELECT ip, ua,
        CAST(strptime(substr(ts, 2), '%d/%b/%Y:%H:%M:%S') AS DATE) AS day,
        split_part(request, ' ', 1) AS method,
        split_part(request, ' ', 2) AS path,
        TRY_CAST(status AS INTEGER) AS status,
        TRY_CAST(bytes AS BIGINT) AS bytes
    FROM lines
), downloads AS (
    SELECT regexp_extract(path, '([^/]+)\\.mp3$', 1) AS content, day, COUNT(DISTINCT (ip, ua)) AS downloads
    FROM requests
    WHERE method = 'GET' AND status IN (200, 206) AND bytes >= 70000
      AND path LIKE '%.mp3' AND NOT regexp_matches(ua, $bots)
    GROUP BY ALL
)
SELECT (SELECT COUNT(*) FROM lines), COUNT(*), COALESCE(SUM(downloads), 0) FROM downloads
"""


def main():
    log = sys.argv[1]
    con = duckdb.connect()
    lines, rows, downloads = con.execute(SQL, {"log": log, "bots": BOTS}).fetchone()
    print(f"lines={lines} rows={rows} downloads={downloads}")


if __name__ == "__main__":
    main()

"""Disguised writes and escapes that ``tradewire sql`` must refuse, store or file alike.

``{db}`` stands for the store's own file. Each case is (what it tries, the SQL).
"""

from __future__ import annotations

__all__ = ["ALLOWED", "CORPUS"]

_ROW = "('x-1', 'b1', 'x', 1, 1.0, 1, 'S', 1.0)"
_COLS = "(id, bot, run, seq, ts, v, symbol, price)"

CORPUS: list[tuple[str, str]] = [
    # Data-modifying CTEs: DuckDB calls these SELECT.
    ("CTE DELETE", "WITH x AS (DELETE FROM marks WHERE bot = 'b1' RETURNING id) SELECT * FROM x"),
    ("CTE UPDATE", "WITH x AS (UPDATE marks SET price = 0 RETURNING id) SELECT count(*) FROM x"),
    ("CTE INSERT", f"WITH x AS (INSERT INTO marks {_COLS} VALUES {_ROW} RETURNING id) FROM x"),
    (
        "CTE DELETE in a subquery",
        "SELECT * FROM marks WHERE id IN (WITH d AS (DELETE FROM marks RETURNING id) FROM d)",
    ),
    ("CTE COPY", "WITH x AS (COPY marks TO 'x.csv') SELECT 1"),
    (
        "SUMMARIZE runs its query",
        "SUMMARIZE (WITH x AS (DELETE FROM marks RETURNING id) SELECT * FROM x)",
    ),
    # EXPLAIN ANALYZE runs the statement it explains.
    ("EXPLAIN ANALYZE INSERT", f"EXPLAIN ANALYZE INSERT INTO marks {_COLS} VALUES {_ROW}"),
    ("EXPLAIN ANALYZE DELETE", "EXPLAIN ANALYZE DELETE FROM marks"),
    ("EXPLAIN (ANALYZE) option", "EXPLAIN (FORMAT json, ANALYZE) DELETE FROM marks"),
    ("EXPLAIN ANALYZE behind comments", "/* */ EXPLAIN /* hi */ aNaLyZe -- x\n DELETE FROM marks"),
    ("EXPLAIN of a DELETE", "EXPLAIN DELETE FROM marks"),
    ("EXPLAIN of checkpoint()", "EXPLAIN SELECT * FROM checkpoint()"),
    # State inside SELECT: sequences, checkpoints, logs.
    ("nextval", "SELECT nextval('seq')"),
    ("setval in a lambda", "SELECT list_transform([1], lambda x: setval('seq', 9))"),
    ("checkpoint()", "SELECT * FROM checkpoint()"),
    ("force_checkpoint() lateral", "SELECT * FROM marks, LATERAL (FROM force_checkpoint())"),
    ("checkpoint() quoted, mixed case", 'sElEcT * FrOm main."CHECKPOINT"()'),
    ("enable_logging()", "SELECT * FROM enable_logging()"),
    ("write_log()", "SELECT write_log('x')"),
    ("query() runs SQL text", "SELECT * FROM query('DELETE FROM marks RETURNING *')"),
    ("query_table()", "SELECT * FROM query_table('marks')"),
    (
        "serialized SQL",
        "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))",
    ),
    ("sleep_ms holds the thread", "SELECT sleep_ms(100000)"),
    # Files, the network, the database file itself.
    ("read_csv", "SELECT * FROM read_csv('/etc/passwd')"),
    ("read_text of the store", "SELECT * FROM read_text('{db}')"),
    ("read_blob of the WAL", "SELECT * FROM read_blob('{db}.wal')"),
    ("read_duckdb of the store", "SELECT * FROM read_duckdb('{db}')"),
    ("glob", "SELECT * FROM glob('/*')"),
    ("parquet_scan", "SELECT * FROM parquet_scan('/tmp/x.parquet')"),
    ("file as a table", "SELECT * FROM '/etc/passwd'"),
    ("the store's file as a table", "SELECT * FROM '{db}'"),
    ("URL as a table", "SELECT * FROM 'https://example.com/x.parquet'"),
    # The host's configuration and environment.
    ("getenv", "SELECT getenv('HOME')"),
    ("current_setting", "SELECT current_setting('secret_directory')"),
    ("duckdb_settings()", "SELECT * FROM duckdb_settings()"),
    ("pg_settings", "SELECT name, setting FROM pg_catalog.pg_settings"),
    ("duckdb_secrets()", "SELECT * FROM duckdb_secrets()"),
    # Statements that are not queries.
    ("CHECKPOINT", "CHECKPOINT"),
    ("FORCE CHECKPOINT", "FORCE CHECKPOINT"),
    ("CALL", "CALL force_checkpoint()"),
    ("VACUUM", "VACUUM ANALYZE marks"),
    ("ANALYZE", "ANALYZE"),
    ("CREATE MACRO", "CREATE MACRO m(x) AS x + 1"),
    ("CREATE TEMP TABLE", "CREATE TEMP TABLE t AS SELECT 1"),
    ("CREATE OR REPLACE VIEW", "CREATE OR REPLACE VIEW events AS SELECT 1"),
    ("CREATE SECRET", "CREATE SECRET (TYPE s3, KEY_ID 'k', SECRET 's')"),
    ("DROP", "DROP TABLE marks"),
    ("TRUNCATE", "TRUNCATE marks"),
    (
        "MERGE",
        "MERGE INTO marks USING (SELECT 'x' AS id) s ON marks.id = s.id WHEN MATCHED THEN DELETE",
    ),
    ("EXPORT DATABASE", "EXPORT DATABASE '/tmp/tradewire-export'"),
    ("INSTALL", "INSTALL httpfs"),
    ("LOAD", "LOAD httpfs"),
    ("ATTACH", "ATTACH '/tmp/x.duckdb' AS x"),
    ("DETACH", "DETACH store"),
    ("USE", "USE memory"),
    ("COPY TO", "COPY marks TO '/tmp/out.csv'"),
    ("COPY FROM", "COPY marks FROM '/etc/hostname'"),
    ("PRAGMA", "PRAGMA enable_profiling"),
    ("SET", "SET enable_external_access = true"),
    ("RESET", "RESET lock_configuration"),
    ("SET VARIABLE", "SET VARIABLE x = 1"),
    ("PREPARE", "PREPARE p AS DELETE FROM marks"),
    ("BEGIN", "BEGIN TRANSACTION"),
    ("COMMIT", "COMMIT"),
    ("ROLLBACK", "ROLLBACK"),
    ("PIVOT makes types", "PIVOT marks ON symbol USING count(*)"),
    # Several statements, and comments hiding one.
    ("two statements", "SELECT 1; DELETE FROM marks"),
    ("a statement after a line comment", "SELECT 1 -- ;\n; DELETE FROM marks"),
    ("a DELETE behind a block comment", "/* SELECT */ DELETE FROM marks"),
]

# What an operator does use: it must keep working.
ALLOWED: list[str] = [
    "SELECT bot, count(*) FROM marks GROUP BY ALL",
    "FROM marks",
    "EXPLAIN SELECT * FROM marks",
    "EXPLAIN (FORMAT json) SELECT * FROM marks",
    "DESCRIBE marks",
    "SHOW TABLES",
    "SUMMARIZE marks",
    "SELECT * FROM information_schema.columns WHERE table_name = 'marks'",
    "SELECT * FROM duckdb_tables()",
    "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) FROM t",
    "SELECT * FROM range(3) r, unnest([1, 2]) u",
    "SELECT to_timestamp(ts), ts FROM marks",
    "SELECT * FROM seq_gaps",
]

"""database-query: the domain module against real SQLite files, then the tools through a real MCP session."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import sqlite_core
from claudex_testing import assert_stdout_is_jsonrpc, connect
from sqlite_core import QueryError, Settings

FOLDER = Path(__file__).resolve().parent.parent


@pytest.fixture
def database(tmp_path) -> Path:
    path = tmp_path / "shop.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), total REAL,
                             receipt BLOB);
        CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
    """)
    conn.executemany("INSERT INTO customers (name, email) VALUES (?, ?)",
                     [("Ada", "ada@example.org"), ("Grace", "grace@example.org"), ("Robert'); DROP TABLE customers;--", None)])
    conn.executemany("INSERT INTO orders (customer_id, total, receipt) VALUES (?, ?, ?)",
                     [(1, 12.5, b"\x00\x01"), (2, 250.0, None)] + [(1, float(i), None) for i in range(1000)])
    conn.commit()
    conn.close()
    return path


def settings(database: Path, **kw) -> Settings:
    return Settings(**{"database": database, "allow_write": False, "max_rows": 500, "timeout": 5.0, **kw})


def test_parameters_carry_the_values(database):
    hostile = "Robert'); DROP TABLE customers;--"
    result = sqlite_core.query(settings(database), "SELECT id, name FROM customers WHERE name = ?", [hostile])
    assert result == {"columns": ["id", "name"], "rows": [[3, hostile]], "truncated": False}
    named = sqlite_core.query(settings(database), "SELECT email FROM customers WHERE id = :id", {"id": 1})
    assert named["rows"] == [["ada@example.org"]]
    assert sqlite_core.query(settings(database), "SELECT count(*) FROM customers")["rows"] == [[3]]


def test_blobs_come_back_as_base64(database):
    rows = sqlite_core.query(settings(database), "SELECT receipt FROM orders WHERE id = 1")["rows"]
    assert rows == [[{"base64": "AAE="}]]


@pytest.mark.parametrize("sql", ["DELETE FROM customers", "INSERT INTO customers (name) VALUES ('x')",
                                 "DROP TABLE orders", "CREATE TABLE t (x)", "PRAGMA query_only = OFF; DELETE FROM orders"])
def test_read_only_by_default(database, sql):
    before = database.read_bytes()
    with pytest.raises(QueryError):
        sqlite_core.query(settings(database), sql)
    assert database.read_bytes() == before


def test_mode_ro_holds_when_query_only_is_turned_off(database):
    conn = sqlite_core.connect(settings(database))
    try:
        conn.execute("PRAGMA query_only = OFF")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM customers")
    finally:
        conn.close()


def test_attach_is_refused(database, tmp_path):
    with pytest.raises(QueryError, match="not authorized"):
        sqlite_core.query(settings(database), "ATTACH DATABASE ? AS other", [str(tmp_path / "new.db")])
    assert not (tmp_path / "new.db").exists()


def test_writes_when_allowed(database):
    result = sqlite_core.query(settings(database, allow_write=True), "DELETE FROM orders WHERE total < ?", [10])
    assert result["changed"] == 10 and result["columns"] == []
    assert sqlite_core.query(settings(database), "SELECT count(*) FROM orders")["rows"] == [[992]]


def test_one_statement_per_call(database):
    with pytest.raises(QueryError, match="one statement"):
        sqlite_core.query(settings(database), "SELECT 1; SELECT 2")


def test_row_limit(database):
    result = sqlite_core.query(settings(database, max_rows=50), "SELECT id FROM orders ORDER BY id")
    assert len(result["rows"]) == 50 and result["truncated"]
    smaller = sqlite_core.query(settings(database, max_rows=50), "SELECT id FROM orders", max_rows=3)
    assert len(smaller["rows"]) == 3 and smaller["truncated"]
    capped = sqlite_core.query(settings(database, max_rows=5), "SELECT id FROM orders", max_rows=100)
    assert len(capped["rows"]) == 5
    whole = sqlite_core.query(settings(database), "SELECT id FROM customers")
    assert len(whole["rows"]) == 3 and not whole["truncated"]


def test_time_limit_interrupts_a_long_query(database):
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    with pytest.raises(QueryError, match="longer than 0.2 s"):
        sqlite_core.query(settings(database, timeout=0.2), endless)


def test_missing_database_is_said_and_never_created(tmp_path):
    with pytest.raises(QueryError, match="SQLITE_DATABASE"):
        sqlite_core.query(settings(None), "SELECT 1")
    with pytest.raises(QueryError, match="no SQLite file"):
        sqlite_core.query(settings(tmp_path / "absent.db"), "SELECT 1")
    assert not (tmp_path / "absent.db").exists()


def test_settings_from_the_environment(database):
    got = Settings.from_env({"SQLITE_DATABASE": str(database), "SQLITE_MAX_ROWS": "7", "SQLITE_TIMEOUT": "1.5"})
    assert got == Settings(database, False, 7, 1.5)
    assert Settings.from_env({"SQLITE_ALLOW_WRITE": "1"}).allow_write
    with pytest.raises(QueryError):
        Settings.from_env({"SQLITE_MAX_ROWS": "many"})


def test_tables_with_their_columns(database):
    listed = {t["name"]: t for t in sqlite_core.tables(settings(database))}
    assert sorted(listed) == ["big_orders", "customers", "orders"]
    assert listed["big_orders"]["type"] == "view"
    assert listed["customers"]["columns"][0] == {"name": "id", "type": "INTEGER", "not_null": False, "primary_key": True}


def test_tools_through_mcp(database):
    with connect(FOLDER, env={"SQLITE_DATABASE": str(database), "SQLITE_MAX_ROWS": "10"}) as session:
        assert session.tool_names() == ["db_query", "db_tables"]
        tables = session.call("db_tables").structured_content["tables"]
        assert [t["name"] for t in tables] == ["big_orders", "customers", "orders"]
        result = session.call("db_query", {"sql": "SELECT name FROM customers WHERE id = ?", "params": [2]})
        assert not result.is_error and result.structured_content["rows"] == [["Grace"]]
        cut = session.call("db_query", {"sql": "SELECT id FROM orders"}).structured_content
        assert len(cut["rows"]) == 10 and cut["truncated"]
        refused = session.call("db_query", {"sql": "DELETE FROM customers"})
        assert refused.is_error and "invalid_input: the database is read-only" in session.text(refused)
        tools = {t.name: t for t in session.list_tools()}
        assert tools["db_query"].annotations.read_only_hint is True


def test_without_a_database_the_tools_say_how_to_set_one():
    with connect(FOLDER, env={"SQLITE_DATABASE": ""}) as session:
        failed = session.call("db_tables")
        assert failed.is_error and "not_configured: no database: set SQLITE_DATABASE" in session.text(failed)


def test_stdout_is_only_jsonrpc():
    assert_stdout_is_jsonrpc(FOLDER)


def self_check(**env: str) -> tuple[int, dict]:
    import json
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "server.py", "--check"], cwd=FOLDER, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60)
    return proc.returncode, json.loads(proc.stdout)


def test_the_self_check_names_a_missing_file_or_a_bad_setting(database, tmp_path):
    code, report = self_check(SQLITE_DATABASE="")
    assert (code, report["ok"], report["database"]) == (0, True, None)   # unset: the tools say how to set it
    code, report = self_check(SQLITE_DATABASE=str(database))
    assert (code, report["ok"], report["read_only"]) == (0, True, True)
    code, report = self_check(SQLITE_DATABASE=str(tmp_path / "gone.db"))
    assert code == 1 and report["problems"] == [f"no SQLite file at {tmp_path / 'gone.db'} (SQLITE_DATABASE)"]
    code, report = self_check(SQLITE_MAX_ROWS="many")
    assert code == 1 and "SQLITE_MAX_ROWS must be an integer" in report["problems"][0]

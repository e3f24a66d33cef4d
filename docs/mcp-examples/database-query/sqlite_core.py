"""The database-query server's work: read a SQLite database safely, in plain Python (no mcp import).

Safety comes from SQLite itself, not from inspecting SQL text:
- read-only by default: the file is opened with a `mode=ro` URI and `PRAGMA query_only` is on,
  so no statement can change it (SQLITE_ALLOW_WRITE=1 lifts both);
- values travel as parameters (`?` or `:name`), never formatted into the SQL; one statement per call;
- a row limit (fetchmany, one row more to tell a cut) and a time limit (a progress handler that
  interrupts the statement at its deadline).
"""

from __future__ import annotations

import base64
import os
import sqlite3
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claudex_server.errors import ServerError

DEFAULT_MAX_ROWS = 500
DEFAULT_TIMEOUT = 5.0
# How often (in SQLite virtual-machine instructions) the progress handler looks at the clock.
PROGRESS_STEPS = 1000
TRUE = ("1", "true", "yes", "on")


class QueryError(ServerError):
    """A failure the caller can act on (a bad statement, a missing file, a limit reached); its
    ``code`` (invalid_input unless said otherwise) starts the tool's error."""

    code = "invalid_input"


@dataclass(frozen=True)
class Settings:
    database: Path | None
    allow_write: bool
    max_rows: int
    timeout: float

    @classmethod
    def from_env(cls, environ=os.environ) -> "Settings":
        database = environ.get("SQLITE_DATABASE", "").strip()
        try:
            max_rows = int(environ.get("SQLITE_MAX_ROWS", DEFAULT_MAX_ROWS))
            timeout = float(environ.get("SQLITE_TIMEOUT", DEFAULT_TIMEOUT))
        except ValueError:
            raise QueryError("SQLITE_MAX_ROWS must be an integer and SQLITE_TIMEOUT a number of seconds") from None
        if max_rows < 1 or timeout <= 0:
            raise QueryError("SQLITE_MAX_ROWS and SQLITE_TIMEOUT must be positive")
        return cls(Path(database).expanduser() if database else None, writes_allowed(environ), max_rows, timeout)


def check(environ=os.environ) -> dict:
    """The self-check behind `server.py --check` (the manifest's healthCheck.command): the settings
    are well-formed and SQLITE_DATABASE, when set, names a file. Unset is fine: the tools say how
    to set it."""
    try:
        settings = Settings.from_env(environ)
    except QueryError as exc:
        return {"ok": False, "problems": [str(exc)]}
    report: dict = {"ok": True, "problems": [], "database": str(settings.database) if settings.database else None,
                    "read_only": not settings.allow_write}
    if settings.database is not None and not settings.database.is_file():
        report.update(ok=False, problems=[f"no SQLite file at {settings.database} (SQLITE_DATABASE)"],
                      hint="set SQLITE_DATABASE to the path of an existing SQLite file")
    return report


def writes_allowed(environ=os.environ) -> bool:
    return environ.get("SQLITE_ALLOW_WRITE", "").strip().lower() in TRUE


def _authorize(action: int, *_args) -> int:
    # One database per server: ATTACH would open (or create) another file beside the rules above.
    return sqlite3.SQLITE_DENY if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH) else sqlite3.SQLITE_OK


def connect(settings: Settings) -> sqlite3.Connection:
    """The database opened as the settings allow: read-only unless SQLITE_ALLOW_WRITE is on; never
    created when missing."""
    if settings.database is None:
        raise QueryError("no database: set SQLITE_DATABASE to the path of a SQLite file "
                         "(claudex mcp config set database-query env.SQLITE_DATABASE /path/to/file.db)",
                         code="not_configured")
    if not settings.database.is_file():
        raise QueryError(f"no SQLite file at {settings.database}", code="not_found")
    mode = "rw" if settings.allow_write else "ro"
    uri = f"file:{urllib.parse.quote(str(settings.database.resolve()))}?mode={mode}"
    conn = sqlite3.connect(uri, uri=True, timeout=settings.timeout, check_same_thread=False)
    if not settings.allow_write:
        conn.execute("PRAGMA query_only = ON")
    conn.set_authorizer(_authorize)
    return conn


def _value(value: Any) -> Any:
    return {"base64": base64.b64encode(value).decode("ascii")} if isinstance(value, bytes) else value


def query(settings: Settings, sql: str, params: list | dict | None = None, max_rows: int | None = None) -> dict:
    """Run one parameterised statement; its columns and at most ``max_rows`` rows (never more than
    SQLITE_MAX_ROWS), and whether rows were cut. Stops the statement at SQLITE_TIMEOUT seconds."""
    if not sql.strip():
        raise QueryError("sql must not be empty")
    limit = min(max_rows or settings.max_rows, settings.max_rows)
    if limit < 1:
        raise QueryError("max_rows must be at least 1")
    conn = connect(settings)
    deadline = time.monotonic() + settings.timeout
    conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, PROGRESS_STEPS)
    try:
        cursor = conn.execute(sql, params if params is not None else ())
        rows = cursor.fetchmany(limit + 1)
        columns = [d[0] for d in cursor.description or ()]
        if settings.allow_write:
            conn.commit()
        changed = cursor.rowcount if cursor.description is None else None
    except sqlite3.OperationalError as exc:
        if "interrupted" in str(exc):
            raise QueryError(f"the query took longer than {settings.timeout:g} s and was stopped "
                             "(SQLITE_TIMEOUT); add a WHERE or a LIMIT", code="timeout") from None
        if "readonly" in str(exc) or "query_only" in str(exc):
            raise QueryError("the database is read-only here (set SQLITE_ALLOW_WRITE=1 to allow changes)") from None
        raise QueryError(f"SQLite: {exc}") from None
    except sqlite3.ProgrammingError as exc:  # two statements, a wrong number of parameters
        raise QueryError(f"SQLite: {exc}") from None
    except sqlite3.Error as exc:
        raise QueryError(f"SQLite: {exc}") from None
    finally:
        conn.close()
    result = {"columns": columns, "rows": [[_value(v) for v in row] for row in rows[:limit]],
              "truncated": len(rows) > limit}
    if changed is not None and changed >= 0:
        result["changed"] = changed
    return result


def tables(settings: Settings) -> list[dict]:
    """Every table and view, with its columns (name, declared type, not null, primary key)."""
    conn = connect(settings)
    try:
        names = conn.execute("SELECT name, type FROM sqlite_schema WHERE type IN ('table', 'view') "
                             "AND name NOT LIKE 'sqlite_%' ORDER BY name").fetchall()
        out = []
        for name, kind in names:
            columns = conn.execute("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?)", (name,)).fetchall()
            out.append({"name": name, "type": kind,
                        "columns": [{"name": c[0], "type": c[1], "not_null": bool(c[2]), "primary_key": bool(c[3])}
                                    for c in columns]})
        return out
    except sqlite3.Error as exc:
        raise QueryError(f"SQLite: {exc}") from None
    finally:
        conn.close()

"""The database-query MCP server: read-only SQL over one SQLite file (SQLITE_DATABASE), with
parameters, a row limit and a time limit. Thin tools over sqlite_core; `python server.py` serves
stdio, `python server.py --check` prints its self-check."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import claudex_server
import sqlite_core
from sqlite_core import QueryError

claudex_server.check_first(__name__, sqlite_core.check)   # `server.py --check`, before the SDK's import

import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

VERSION = "1.0.0"

server = MCPServer(
    "database-query", version=VERSION,
    instructions="Query one SQLite database. Look at db_tables first, then db_query with '?' or ':name' "
                 "placeholders and the values in params (never put values into the SQL). Read-only unless "
                 "the server is configured otherwise; results are cut at a row limit.")
tool = claudex_server.tools(server, QueryError)   # a QueryError is the tool's error, its code first


class Column(BaseModel):
    name: str
    type: str = Field(description="the declared type ('' when none)")
    not_null: bool
    primary_key: bool


class Table(BaseModel):
    name: str
    type: str = Field(description="'table' or 'view'")
    columns: list[Column]


class Tables(BaseModel):
    tables: list[Table]


class QueryResult(BaseModel):
    columns: list[str] = Field(description="column names, in order (empty for a statement without rows)")
    rows: list[list[Any]] = Field(description="the rows; a BLOB is {'base64': ...}")
    truncated: bool = Field(description="true when more rows matched than were returned (the row limit)")
    changed: int | None = Field(default=None, description="rows changed (only when writes are allowed)")


async def _run(fn, *args):
    # SQLite blocks: the statement runs in a worker thread so the session keeps answering pings.
    return await anyio.to_thread.run_sync(fn, sqlite_core.Settings.from_env(), *args)


def _hints(read_only: bool) -> ToolAnnotations:
    # Static at start-up, like the setting: with writes allowed, db_query may change the database.
    return ToolAnnotations(read_only_hint=read_only, destructive_hint=not read_only, idempotent_hint=read_only,
                           open_world_hint=False)


_READ_ONLY = not sqlite_core.writes_allowed()


@tool(annotations=_hints(True))
async def db_tables() -> Tables:
    """List the database's tables and views with their columns."""
    return Tables(tables=await _run(sqlite_core.tables))


@tool(annotations=_hints(_READ_ONLY))
async def db_query(
        sql: Annotated[str, Field(description="One SQL statement, with ? or :name placeholders for values.")],
        params: Annotated[list[Any] | dict[str, Any] | None, Field(
            description="The values of the placeholders: a list for ?, an object for :name.")] = None,
        max_rows: Annotated[int | None, Field(ge=1, description="Return at most this many rows "
                                              "(never more than the server's SQLITE_MAX_ROWS).")] = None,
) -> QueryResult:
    """Run one parameterised SQL statement and return its rows (read-only unless the server allows writes)."""
    return QueryResult(**await _run(sqlite_core.query, sql, params, max_rows))


def main(argv: list[str] | None = None) -> int:
    return claudex_server.serve(server, argv, sqlite_core.check)


if __name__ == "__main__":
    sys.exit(main())

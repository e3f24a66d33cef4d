"""The qdrant MCP server: vector storage and semantic search for agents, in an embedded store
(default) or a Qdrant server (QDRANT_URL). Thin tools over qdrant_store; run with
`python server.py` (stdio), `python server.py --check` for a self-test (JSON on stdout, exit 0
when the store can be used, 1 when QDRANT_URL is set and its server does not answer, or the
server extra, qdrant-client, is not installed)."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import claudex_server
import qdrant_store
from claudex_server import ServerError
from qdrant_store import MAX_LIMIT, Point

claudex_server.check_first(__name__, qdrant_store.check)   # `server.py --check`, before the SDK's import

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

VERSION = "0.1.0"
server = MCPServer(
    "qdrant", version=VERSION,
    instructions="Vector storage and semantic search. Create a collection, upsert points given as text "
                 "(embedded by the server) or vectors with a JSON payload, then search by text or vector, "
                 "optionally filtered on payload fields. The store opens on first use; qdrant_status tells "
                 "the mode, the collections and the embedding model.")
tool = claudex_server.tools(server, ServerError)
store = qdrant_store.Store()

READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
LIFECYCLE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
DESTROY = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False)

Collection = Annotated[str, Field(description="Collection name: letters, digits, '_', '-', '.'; no '/'.")]
FolderCollection = Annotated[str | None, Field(description=(
    "Collection name: letters, digits, '_', '-', '.'; no '/'. Omit it to use the collection of the agent's "
    "folder (named after it: qdrant_status shows it as default_collection)."))]
Filter = Annotated[dict[str, Any] | None, Field(
    description='Payload filter. Short form: {"field": "value"} (match), {"field": ["a", "b"]} (any of), '
                '{"field": {"gte": 1, "lt": 5}} (range); several keys must all hold. Or a native Qdrant '
                'filter: {"must": [{"key": "field", "match": {"value": "x"}}], "must_not": [...]}.')]


async def agent_folder(ctx: Context) -> Path:
    """The folder of the agent calling: the gateway's (one process serves every agent), else the
    project the launcher names, else the client's first root, else the working directory."""
    from claudex_server.folder import meta_folder, root_folder

    project = os.environ.get("CLAUDEX_PROJECT_DIR")
    return meta_folder(ctx) or (Path(project) if project and os.path.isabs(project) else None) or \
        await root_folder(ctx) or Path.cwd()


async def collection_of(ctx: Context, collection: str | None) -> tuple[str, bool]:
    """The collection asked for, or the agent's folder's; whether it is the folder's."""
    if collection is not None:
        return collection, False
    return qdrant_store.folder_collection(await agent_folder(ctx)), True


@tool(annotations=LIFECYCLE)
def qdrant_start() -> dict[str, Any]:
    """Check the store and report its status. Embedded mode: this process owns the store from its
    first call on (one process serves every agent through the claudex gateway; a second process is
    refused with a conflict). Server mode: starts a local Qdrant process when QDRANT_BINARY (or qdrant on PATH) is set and
    none runs, waits until it is ready, then connects. Other tools open the store on demand, so
    calling this first is optional."""
    return store.start()


@tool(annotations=LIFECYCLE)
def qdrant_stop() -> dict[str, Any]:
    """Close the store (embedded mode: another process may own it then; the next call opens it again). In
    server mode, also stops the Qdrant process that qdrant_start started (SIGTERM, then SIGKILL);
    a server it did not start is never stopped. Data is kept."""
    return store.stop()


@tool(annotations=READ)
async def qdrant_status(ctx: Context) -> dict[str, Any]:
    """Mode (embedded or server), whether Qdrant is reachable, its version, the collections with
    point counts and vector size/distance, the storage path and size, the embedding model, and the
    collection of the agent's folder (default_collection: the one used when a tool is given none)."""
    folder = await agent_folder(ctx)
    status = await anyio.to_thread.run_sync(store.status)
    return {**status, "folder": str(folder), "default_collection": qdrant_store.folder_collection(folder)}


@tool(annotations=READ)
def qdrant_list_collections() -> dict[str, Any]:
    """List the collections with their point counts, vector size and distance."""
    return {"collections": store.list_collections()}


@tool(annotations=WRITE)
async def qdrant_create_collection(
    ctx: Context,
    name: FolderCollection = None,
    size: Annotated[int | None, Field(ge=1, le=qdrant_store.MAX_SIZE, description=(
        "Vector dimension; omit to use the embedding model's (384 for the default multilingual-e5-small)."))] = None,
    distance: Annotated[Literal["cosine", "dot", "euclid", "manhattan"], Field(
        description="Similarity measure.")] = "cosine",
) -> dict[str, Any]:
    """Create a collection of vectors. Creating one that exists with the same size and distance
    changes nothing (created: false); with a different one it fails."""
    name, _ = await collection_of(ctx, name)
    return await anyio.to_thread.run_sync(store.create_collection, name, size, distance)


@tool(annotations=DESTROY)
def qdrant_delete_collection(name: Collection) -> dict[str, Any]:
    """Delete a collection and all its points, for good."""
    return store.delete_collection(name)


@tool(annotations=WRITE)
async def qdrant_upsert(
    points: Annotated[list[Point], Field(min_length=1, max_length=qdrant_store.MAX_POINTS, description=(
        "Points to insert or replace. Each has `text` (embedded by the server, stored in the payload as "
        "`text`) or `vector`, an optional `payload` object, and an optional `id` (unsigned integer or UUID; "
        "when absent a stable UUID is derived from the content, so repeating an upsert stores nothing new)."))],
    ctx: Context,
    collection: FolderCollection = None,
) -> dict[str, Any]:
    """Insert or replace points in a collection (the folder's collection is created on first use).
    Every point is checked (and every text embedded) before anything is written: one bad point
    writes nothing. Returns the ids."""
    collection, own = await collection_of(ctx, collection)
    if own:
        await anyio.to_thread.run_sync(store.ensure_collection, collection)

    def progress(done: int, total: int) -> None:
        anyio.from_thread.run(functools.partial(ctx.report_progress, done, total, f"embedded {done}/{total} texts"))

    return await anyio.to_thread.run_sync(functools.partial(store.upsert, collection, points, progress))


@tool(annotations=READ)
async def qdrant_search(
    ctx: Context,
    collection: FolderCollection = None,
    query: Annotated[str | None, Field(description="Text to search for (embedded by the server).")] = None,
    vector: Annotated[list[float] | None, Field(description="A query vector instead of text.")] = None,
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT, description="How many results at most.")] = 10,
    filter: Filter = None,
    score_threshold: Annotated[float | None, Field(description=(
        "Drop results scoring below this (cosine/dot: higher is closer)."))] = None,
) -> dict[str, Any]:
    """Find the points closest to a text query or a vector, best first, with their scores and
    payloads; optionally only those whose payload matches a filter."""
    collection, _ = await collection_of(ctx, collection)
    return await anyio.to_thread.run_sync(functools.partial(
        store.search, collection, query=query, vector=vector, limit=limit, filter=filter,
        score_threshold=score_threshold))


@tool(annotations=DESTROY)
async def qdrant_delete(
    ctx: Context,
    collection: FolderCollection = None,
    ids: Annotated[list[int | str] | None, Field(description="Point ids to delete.")] = None,
    filter: Filter = None,
) -> dict[str, Any]:
    """Delete points from a collection, by ids or by a payload filter (one of the two). Returns
    how many were deleted."""
    collection, _ = await collection_of(ctx, collection)
    return await anyio.to_thread.run_sync(functools.partial(store.delete, collection, ids=ids, filter=filter))


def main(argv: list[str] | None = None) -> int:
    return claudex_server.serve(server, argv, qdrant_store.check, stop=store.close)


if __name__ == "__main__":
    sys.exit(main())

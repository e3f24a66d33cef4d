"""codequery without its extras, as `claudex mcp install` makes it unless asked (--with chat,server):
cq_chat and QDRANT_URL each say which extra is missing and the command that adds it (the tool,
and the self-check that `status` shows); the embedded store, and an old index whose vectors were in
qdrant-client's local mode, work without qdrant-client."""

from __future__ import annotations

import json
import socket
import sqlite3
import sys

import pytest

from conftest import CLAUDEX, claudex, installed_env, run_installed

pytestmark = pytest.mark.anyio
CHAT = "claudex mcp upgrade codequery --with chat"
SERVER = "claudex mcp upgrade codequery --with server"


@pytest.fixture
def anyio_backend():
    return "asyncio"


def refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_without_the_extras_chat_and_a_qdrant_server_name_the_command_that_adds_them(installed, home, sample):
    from claudex_testing.gateway import own_gateway

    # codequery is shared: its one process has the environment of the session that started it, so
    # each environment gets a gateway (and a process) of its own.
    with own_gateway(installed, claudex=str(CLAUDEX)) as gw:
        async with run_installed(gw, home, sample, QDRANT_URL=refused_url()) as s:
            text = await s.error_text("cq_embed", {})
            assert "QDRANT_URL is set, but qdrant-client" in text and SERVER in text and "unset QDRANT_URL" in text
            assert "Traceback" not in text
    with own_gateway(installed, claudex=str(CLAUDEX)) as gw:
        async with run_installed(gw, home, sample) as s:
            done = await s.call_data("cq_embed", {"wait": True})  # the embedded store, no qdrant-client
            assert done["dense"]["complete"] is True
            result = await s.call("cq_chat", {"question": "How are HTTP requests retried?"})
            assert result.is_error
            text = "\n".join(c.text for c in result.content)
            assert f"cq_chat needs codequery's chat extra (the LLM providers), which is not installed: run '{CHAT}'" in text
            assert "src/net/http_client.py" in text  # the retrieved code is still there to read


def test_status_of_codequery_without_extras(gw, home, project):
    """Healthy without them (cq_chat is optional); QDRANT_URL without the server extra is degraded,
    with the one problem and its command."""
    def status(**extra):
        proc = claudex(installed_env(gw, home, project, **extra), "status", "codequery", "--json", "--refresh",
                       timeout=180)
        found = json.loads(proc.stdout)
        return found[0] if isinstance(found, list) else found

    healthy = status()
    assert healthy["state"] == "healthy", healthy
    degraded = status(QDRANT_URL=refused_url())
    assert degraded["state"] == "degraded", degraded
    assert degraded["error"].startswith("QDRANT_URL is set, but qdrant-client") and SERVER in degraded["hint"]
    assert "not reachable" not in degraded["error"]  # one clear problem, not the unreachable URL too


def test_an_index_of_qdrant_clients_local_mode_is_rebuilt_without_qdrant_client(cq, sample, monkeypatch):
    """An index of schema 1 with its vectors in qdrant-client's local mode (before qdrant-edge):
    cq_embed rebuilds it from the files (lexical first, then the vectors), the old store dropped
    unread, with qdrant_client not importable."""
    from qdrant_client import QdrantClient, models

    index = cq.index_for(str(sample))
    index.folder.mkdir(parents=True)
    db = sqlite3.connect(index.folder / "index.sqlite")
    db.executescript("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                     "CREATE TABLE chunks(rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, path TEXT NOT NULL);"
                     "INSERT INTO meta VALUES ('schema', '1'), ('model', 'all-MiniLM-L6-v2'), ('dimension', '3');")
    db.close()
    old = QdrantClient(path=str(index.folder / "qdrant"))
    old.create_collection("chunks", vectors_config=models.VectorParams(size=3, distance=models.Distance.COSINE))
    old.upsert("chunks", points=[models.PointStruct(id=1, vector=[1.0, 0.0, 0.0], payload={"language": "python"})])
    old.close()
    monkeypatch.setitem(sys.modules, "qdrant_client", None)  # as in a venv without the server extra

    result = cq.embed(None, wait=True)
    assert result["files"]["added"] == 6 and result["dense"]["complete"] is True
    hits = cq.index_for().search("retry HTTP requests when they fail", mode="semantic")["results"]
    assert (hits[0]["path"], hits[0]["symbol"]) == ("src/net/http_client.py", "fetch_with_retry")
    assert not (index.folder / "qdrant" / "meta.json").exists() and not (index.folder / "qdrant" / "collection").exists()

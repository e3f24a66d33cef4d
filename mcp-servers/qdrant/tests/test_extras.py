"""qdrant without its server extra, as `claudex mcp install` makes it unless asked (--with server):
no qdrant-client in its venv. The embedded store works, a store of qdrant-client's local mode (the
store before qdrant-edge) is migrated from its files, and QDRANT_URL says which extra is missing
and the command that adds it (the tool, and the self-check that `status` shows)."""

from __future__ import annotations

import json
import socket

import anyio

from conftest import claudex, installed_env, run_installed

SERVER = "claudex mcp upgrade qdrant --with server"


def refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_an_old_store_is_migrated_and_used_without_qdrant_client(installed, gateway, home):
    """The memories a user kept with the previous version are there after the upgrade: copied on
    the first call, searched by vector and by a filter, and the store takes new points."""
    from qdrant_client import QdrantClient, models

    path = home / ".local" / "share" / "claudex" / "qdrant"
    old = QdrantClient(path=str(path))
    old.create_collection("notes", vectors_config=models.VectorParams(size=384, distance=models.Distance.COSINE))
    old.upsert("notes", points=[
        models.PointStruct(id=1, vector=[1.0] + [0.0] * 383, payload={"text": "the build cache moved", "kind": "ci"}),
        models.PointStruct(id="5c56c793-69f3-4fbf-87e6-c4bf54c28c26", vector=[0.0, 1.0] + [0.0] * 382,
                           payload={"text": "deploy on Fridays", "kind": "ops"})])
    old.close()

    async def main():
        async with run_installed(installed, home) as s:
            status = await s.call_data("qdrant_status")
            assert status["migrated"]["collections"] == {"notes": 2} and "delete them" in status["migrated"]["hint"]
            hits = (await s.call_data("qdrant_search", {"collection": "notes", "vector": [0.0, 1.0] + [0.0] * 382,
                                                        "limit": 1}))["results"]
            assert hits[0]["id"] == "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"
            assert hits[0]["payload"] == {"text": "deploy on Fridays", "kind": "ops"}
            native = {"must": [{"key": "kind", "match": {"value": "ci"}}]}
            found = await s.call_data("qdrant_search", {"collection": "notes", "query": "cache", "filter": native})
            assert [h["id"] for h in found["results"]] == [1] and "migrated" in found["warning"]
            await s.call_data("qdrant_upsert", {"collection": "notes", "points": [{"text": "a new note"}]})
            assert (await s.call_data("qdrant_delete", {"collection": "notes", "filter": {"kind": "ops"}}))["deleted"] == 1
            text = await s.error_text("qdrant_search", {"collection": "notes", "query": "x",
                                                        "filter": {"must": [{"key": "kind", "match": {"nope": 1}}]}})
            assert "filter is not a valid Qdrant filter for the embedded store: filter.must[0].match" in text
            counts = {c["name"]: c["points"] for c in (await s.call_data("qdrant_list_collections"))["collections"]}
            assert counts == {"notes": 2}

    anyio.run(main)
    assert (path / "meta.json").is_file()  # the old files are left for the user to delete


def test_without_the_server_extra_qdrant_url_names_the_command_that_adds_it(installed, gateway, home):
    url = refused_url()

    async def main():
        async with run_installed(installed, home, QDRANT_URL=url) as s:
            text = await s.error_text("qdrant_list_collections")
            assert "QDRANT_URL is set, but qdrant-client, which talks to a Qdrant server, is not installed " \
                   "(qdrant's server extra)" in text
            assert SERVER in text and "unset QDRANT_URL" in text and "Traceback" not in text
            status = await s.call_data("qdrant_status")
            assert status["reachable"] is False and SERVER in status["error"]

    anyio.run(main)

    def status(**extra):
        proc = claudex(installed_env(installed, home, **extra), "status", "qdrant", "--json", "--refresh", timeout=180)
        found = json.loads(proc.stdout)
        return found[0] if isinstance(found, list) else found

    assert status()["state"] == "healthy"
    degraded = status(QDRANT_URL=url)
    assert degraded["state"] == "degraded", degraded
    assert degraded["error"].startswith("QDRANT_URL is set, but qdrant-client") and SERVER in degraded["hint"]
    assert "not reachable" not in degraded["error"]  # one clear problem, not the unreachable URL too

"""The server through a real MCP session: the SDK's stdio client starts `python server.py`."""

from __future__ import annotations

import os

import anyio
import pytest

from conftest import REAL_QDRANT_API_KEY, REAL_QDRANT_URL, mcp_server, server_env

TOOLS = {"qdrant_start", "qdrant_stop", "qdrant_status", "qdrant_create_collection", "qdrant_search",
         "qdrant_upsert", "qdrant_delete", "qdrant_list_collections", "qdrant_delete_collection"}


def run(fn, *args):
    return anyio.run(fn, *args)


def test_tools_are_typed_annotated_and_documented(home):
    async def main():
        async with mcp_server(server_env(home)) as s:
            return await s.list_tools()

    tools = {t.name: t for t in run(main)}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description and tool.annotations is not None
        assert tool.annotations.read_only_hint is not None
    assert tools["qdrant_search"].annotations.read_only_hint is True
    assert tools["qdrant_delete"].annotations.destructive_hint is True
    assert tools["qdrant_upsert"].annotations.idempotent_hint is True
    schema = tools["qdrant_search"].input_schema
    assert "required" not in schema and schema["properties"]["limit"]["maximum"] == 1000  # collection: the folder's
    assert "points" in tools["qdrant_upsert"].input_schema["required"]


def test_data_flow_and_persistence_across_restarts(home):
    env = server_env(home)

    async def first():
        async with mcp_server(env) as s:
            started = await s.call_data("qdrant_start")
            assert started["mode"] == "embedded" and started["reachable"] is True
            created = await s.call_data("qdrant_create_collection", {"name": "notes"})
            assert created == {"name": "notes", "points": 0, "size": 384, "distance": "Cosine", "created": True}
            await s.call_data("qdrant_create_collection", {"name": "raw", "size": 3, "distance": "dot"})
            up = await s.call_data("qdrant_upsert", {"collection": "notes", "points": [
                {"text": "The cat sleeps on the sofa", "payload": {"kind": "pet", "year": 2020}},
                {"text": "Qdrant is a vector search engine", "payload": {"kind": "db", "year": 2023}},
                {"text": "Dogs love long walks", "payload": {"kind": "pet", "year": 2024}, "id": 42}]})
            assert up["upserted"] == 3 and up["ids"][2] == 42
            await s.call_data("qdrant_upsert", {"collection": "raw", "points": [
                {"vector": [1, 0, 0], "id": 1}, {"vector": [0, 1, 0], "id": 2, "payload": {"tag": "y"}}]})
            hits = (await s.call_data("qdrant_search", {"collection": "notes", "query": "database for embeddings",
                                                   "limit": 1}))["results"]
            assert hits[0]["payload"]["kind"] == "db"
            pets = (await s.call_data("qdrant_search", {"collection": "notes", "query": "database for embeddings",
                                                   "filter": {"kind": "pet", "year": {"gte": 2021}}}))["results"]
            assert [h["id"] for h in pets] == [42]
            raw = (await s.call_data("qdrant_search", {"collection": "raw", "vector": [0, 1, 0], "limit": 1}))["results"]
            assert raw[0]["id"] == 2 and raw[0]["payload"] == {"tag": "y"}
            deleted = await s.call_data("qdrant_delete", {"collection": "notes", "filter": {"kind": "db"}})
            assert deleted["deleted"] == 1
            assert (await s.call_data("qdrant_delete", {"collection": "raw", "ids": [1]}))["deleted"] == 1
            stopped = await s.call_data("qdrant_stop")
            assert stopped["closed"] is True  # embedded: owned by the process since its first call

    async def second():
        async with mcp_server(env) as s:
            status = await s.call_data("qdrant_status")
            counts = {c["name"]: c["points"] for c in status["collections"]}
            assert counts == {"notes": 2, "raw": 1}
            assert status["storage_bytes"] > 0 and status["storage_path"].startswith(str(home))
            hits = (await s.call_data("qdrant_search", {"collection": "notes", "query": "a kitten napping",
                                                   "limit": 1}))["results"]
            assert hits[0]["payload"]["text"] == "The cat sleeps on the sofa"
            assert (await s.call_data("qdrant_delete_collection", {"name": "raw"}))["deleted"] is True
            names = [c["name"] for c in (await s.call_data("qdrant_list_collections"))["collections"]]
            assert names == ["notes"]

    run(first)
    run(second)


def test_one_process_serves_agents_of_two_folders_each_with_its_own_collection(home, tmp_path):
    """As the gateway shares it: one process, the caller's folder in each request's _meta; a
    tool given no collection uses the folder's."""
    from claudex_server.folder import FOLDER_KEY

    env = server_env(home)
    one, two = str(tmp_path / "one"), str(tmp_path / "two")

    async def main():
        async with mcp_server(env) as s:
            async def writer(folder, base):
                for i in range(5):
                    await s.call_data("qdrant_upsert", {"points": [{"vector": [1.0] * 384, "id": base + i}]},
                                      meta={FOLDER_KEY: folder})

            async with anyio.create_task_group() as group:
                group.start_soon(writer, one, 100)
                group.start_soon(writer, two, 200)
            mine = await s.call_data("qdrant_status", meta={FOLDER_KEY: one})
            theirs = await s.call_data("qdrant_status", meta={FOLDER_KEY: two})
            assert mine["folder"] == one and mine["default_collection"].startswith("one-")
            assert theirs["default_collection"].startswith("two-")
            counts = {c["name"]: c["points"] for c in mine["collections"]}
            assert counts == {mine["default_collection"]: 5, theirs["default_collection"]: 5}
            hits = await s.call_data("qdrant_search", {"vector": [1.0] * 384, "limit": 10}, meta={FOLDER_KEY: two})
            assert sorted(h["id"] for h in hits["results"]) == [200, 201, 202, 203, 204]
            named = await s.call_data("qdrant_search", {"collection": mine["default_collection"], "vector": [1.0] * 384},
                                      meta={FOLDER_KEY: two})
            assert len(named["results"]) == 5  # a named collection is any agent's

    run(main)


def test_a_second_process_on_the_store_is_a_conflict_with_a_hint(home):
    env = server_env(home)

    async def main():
        async with mcp_server(env) as one, mcp_server(env) as two:
            await one.call_data("qdrant_create_collection", {"name": "shared", "size": 2})
            text = await two.error_text("qdrant_list_collections")
            assert "conflict: the embedded Qdrant store" in text and "open in another process" in text and "gateway" in text
            status = await two.call_data("qdrant_status")
            assert status["reachable"] is False and "another process" in status["error"]
            assert (await one.call_data("qdrant_list_collections"))["collections"][0]["name"] == "shared"
            await one.call_data("qdrant_stop")  # lets go: the other process may own it now
            assert (await two.call_data("qdrant_list_collections"))["collections"][0]["name"] == "shared"

    run(main)


@pytest.mark.parametrize("tool, args, expected", [
    ("qdrant_search", {"collection": "missing", "query": "x"}, "does not exist"),
    ("qdrant_upsert", {"collection": "missing", "points": [{"text": "x"}]}, "does not exist"),
    ("qdrant_upsert", {"collection": "c", "points": [{"vector": [1.0, 2.0]}]}, "2 dimensions"),
    ("qdrant_search", {"collection": "c", "vector": [1.0, 2.0]}, "2 dimensions"),
    ("qdrant_search", {"collection": "c", "query": "x", "filter": {"kind": {"like": "p%"}}}, "filter on 'kind'"),
    ("qdrant_delete", {"collection": "c", "filter": {"must": "everything"}}, "not a valid Qdrant filter"),
    ("qdrant_search", {"collection": "c", "query": "x", "limit": 1_000_000}, "less than or equal to 1000"),
    ("qdrant_upsert", {"collection": "c", "points": [{"text": "fine"}, {"text": ""}]}, "points[1].text is empty"),
    ("qdrant_search", {"collection": "c", "query": "  "}, "query is empty"),
    ("qdrant_create_collection", {"name": "a/b"}, "is not valid"),
    ("qdrant_upsert", {"collection": "a/b", "points": [{"text": "x"}]}, "is not valid"),
])
def test_bad_input_is_a_tool_error_and_writes_nothing(home, tool, args, expected):
    async def main():
        async with mcp_server(server_env(home)) as s:
            await s.call_data("qdrant_create_collection", {"name": "c", "size": 384})
            await s.call_data("qdrant_upsert", {"collection": "c", "points": [{"text": "kept", "payload": {"kind": "p"}}]})
            message = await s.error_text(tool, args)
            assert expected in message, message
            assert message.strip() != f"Error executing tool {tool}"  # a real message, not a crash
            collections = (await s.call_data("qdrant_list_collections"))["collections"]
            assert [(c["name"], c["points"]) for c in collections] == [("c", 1)]

    run(main)


@pytest.mark.skipif(not REAL_QDRANT_URL, reason="QDRANT_URL is not set: no real Qdrant server to test server mode")
def test_server_mode_against_a_real_qdrant(home):
    name = f"claudex_test_{os.getpid()}"
    env = server_env(home, QDRANT_URL=REAL_QDRANT_URL, **({"QDRANT_API_KEY": REAL_QDRANT_API_KEY}
                                                          if REAL_QDRANT_API_KEY else {}))

    async def main():
        async with mcp_server(env) as s:
            status = await s.call_data("qdrant_status")
            assert status["mode"] == "server" and status["reachable"] is True and status["version"]
            try:
                await s.call_data("qdrant_create_collection", {"name": name})
                await s.call_data("qdrant_upsert", {"collection": name, "points": [
                    {"text": "server mode works", "payload": {"k": 1}}, {"text": "another point", "payload": {"k": 2}}]})
                hits = (await s.call_data("qdrant_search", {"collection": name, "query": "server mode",
                                                       "filter": {"k": 1}}))["results"]
                assert hits[0]["payload"]["text"] == "server mode works"
                assert (await s.call_data("qdrant_delete", {"collection": name, "filter": {"k": 2}}))["deleted"] == 1
                stopped = await s.call_data("qdrant_stop")
                assert stopped["process"]["stopped"] is False  # never stops a server it did not start
            finally:
                await s.call("qdrant_delete_collection", {"name": name})

    run(main)


def closed_port_url() -> str:
    """A URL at which nothing listens: a port the kernel just gave us, closed again."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def self_check(env: dict) -> tuple[int, dict]:
    import json
    import subprocess
    import sys

    from conftest import SERVER_DIR

    proc = subprocess.run([sys.executable, str(SERVER_DIR / "server.py"), "--check"], capture_output=True,
                          text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
    return proc.returncode, json.loads(proc.stdout)


def test_the_self_check_passes_in_embedded_mode_and_names_an_unreachable_qdrant_url(home):
    code, report = self_check(server_env(home))
    assert (code, report["ok"], report["mode"], report["problems"]) == (0, True, "embedded", [])
    url = closed_port_url()
    code, report = self_check(server_env(home, QDRANT_URL=url))
    assert code == 1 and report["ok"] is False and report["mode"] == "server"
    assert report["problems"] == [f"the Qdrant server at QDRANT_URL={url} is not reachable: [Errno 111] Connection refused"]
    assert "unset QDRANT_URL" in report["hint"]


@pytest.mark.skipif(not REAL_QDRANT_URL, reason="QDRANT_URL is not set: no real Qdrant server to check")
def test_the_self_check_passes_against_a_real_qdrant(home):
    code, report = self_check(server_env(home, QDRANT_URL=REAL_QDRANT_URL, **({"QDRANT_API_KEY": REAL_QDRANT_API_KEY}
                                                                           if REAL_QDRANT_API_KEY else {})))
    assert (code, report["ok"], report["problems"]) == (0, True, [])

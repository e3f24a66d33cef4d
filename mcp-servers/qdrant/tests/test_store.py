"""qdrant_store without MCP: the embedded store, input checks, filters, ids, and the managed
Qdrant process (against a fake binary)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

import qdrant_store
from qdrant_store import Conflict, InvalidInput, NotFound, Point


def test_the_store_never_imports_mcp():
    code = "import sys, qdrant_store, claudex_embeddings; " \
           "s = qdrant_store.Store(); assert not any(m == 'mcp' or m.startswith('mcp.') for m in sys.modules), 'mcp'"
    proc = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(qdrant_store.__file__),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_settings_default_to_embedded_under_xdg_data_home(home):
    s = qdrant_store.Settings.from_env()
    assert s.mode == "embedded"
    assert s.path == home / ".local" / "share" / "claudex" / "qdrant"


def test_settings_qdrant_path_and_url(monkeypatch, tmp_path):
    monkeypatch.setenv("QDRANT_PATH", str(tmp_path / "x"))
    monkeypatch.setenv("QDRANT_URL", "http://127.0.0.1:6333/")
    s = qdrant_store.Settings.from_env()
    assert (s.mode, s.path, s.url) == ("server", tmp_path / "x", "http://127.0.0.1:6333")


def test_create_upsert_search_delete(store):
    assert store.create_collection("notes")["created"] is True
    assert store.create_collection("notes")["created"] is False  # same config: nothing to do
    with pytest.raises(Conflict):
        store.create_collection("notes", size=16)
    result = store.upsert("notes", [{"text": "alpha", "payload": {"lang": "en", "n": 1}},
                                    {"text": "beta", "payload": {"lang": "de", "n": 2}},
                                    {"vector": [1, 0, 0, 0, 0, 0, 0, 0], "id": 7, "payload": {"lang": "en", "n": 3}}])
    assert result["upserted"] == 3 and result["ids"][2] == 7
    hit = store.search("notes", query="alpha", limit=1)["results"][0]
    assert hit["payload"] == {"lang": "en", "n": 1, "text": "alpha"} and hit["score"] > 0.99
    assert [h["id"] for h in store.search("notes", vector=[1, 0, 0, 0, 0, 0, 0, 0], limit=1)["results"]] == [7]
    german = store.search("notes", query="alpha", filter={"lang": "de"})["results"]
    assert [h["payload"]["text"] for h in german] == ["beta"]
    assert len(store.search("notes", query="alpha", filter={"n": {"gte": 2}})["results"]) == 2
    assert len(store.search("notes", query="alpha", filter={"lang": ["de", "fr"]})["results"]) == 1
    native = {"must_not": [{"key": "lang", "match": {"value": "en"}}]}
    assert len(store.search("notes", query="alpha", filter=native)["results"]) == 1
    assert store.search("notes", query="alpha", score_threshold=0.99)["results"][0]["payload"]["text"] == "alpha"
    assert store.delete("notes", filter={"lang": "en"})["deleted"] == 2
    assert store.delete("notes", ids=[7])["deleted"] == 0
    assert [c["points"] for c in store.list_collections()] == [1]
    assert store.delete_collection("notes")["deleted"] is True
    assert store.list_collections() == []


def test_ids_derived_from_content_are_stable(store):
    store.create_collection("c")
    first = store.upsert("c", [{"text": "same", "payload": {"a": 1}}])["ids"]
    again = store.upsert("c", [{"text": "same", "payload": {"a": 1}}])["ids"]
    other = store.upsert("c", [{"text": "same", "payload": {"a": 2}}])["ids"]
    assert first == again != other
    assert store.list_collections()[0]["points"] == 2


@pytest.mark.parametrize("call, message", [
    (lambda s: s.search("missing", query="x"), "does not exist"),
    (lambda s: s.upsert("c", [{"vector": [1.0, 2.0]}]), "2 dimensions"),
    (lambda s: s.search("c", vector=[1.0]), "1 dimensions"),
    (lambda s: s.search("c", query="x", filter={"n": {"near": 3}}), "filter on 'n'"),
    (lambda s: s.search("c", query="x", filter={"must": [{"key": "n", "match": {"nope": 1}}]}), "not a valid Qdrant filter"),
    (lambda s: s.search("c", query="x", limit=1_000_000), "limit must be from 1 to 1000"),
    (lambda s: s.upsert("c", [{"text": "ok"}, {"text": "   "}]), "points[1].text is empty"),
    (lambda s: s.search("c", query=""), "query is empty"),
    (lambda s: s.create_collection("a/b"), "is not valid"),
    (lambda s: s.upsert("c", [{"text": "x", "vector": [0.0] * 8}]), "exactly one of text or vector"),
    (lambda s: s.upsert("c", [{"text": "x", "id": "not-a-uuid"}]), "unsigned integer or a UUID"),
    (lambda s: s.upsert("c", [{"text": "x", "id": -1}]), "unsigned integer or a UUID"),
    (lambda s: s.upsert("c", [{"vector": [float("nan")] * 8}]), "NaN"),
    (lambda s: s.delete("c"), "exactly one of ids or filter"),
    (lambda s: s.delete("c", filter={}), "every point"),
    (lambda s: s.create_collection("d", distance="hamming"), "distance"),
    (lambda s: s.create_collection("d", size=0), "size must be"),
])
def test_bad_input_is_refused_and_writes_nothing(store, call, message):
    store.create_collection("c")
    store.upsert("c", [{"text": "kept", "payload": {"n": 1}}])
    with pytest.raises((InvalidInput, NotFound)) as info:
        call(store)
    assert message in str(info.value)
    assert [(c["name"], c["points"]) for c in store.list_collections()] == [("c", 1)]


def test_a_second_process_is_refused_with_a_hint_until_the_owner_lets_go(store, home):
    """One process owns the embedded store (the gateway shares it between agents): a second one
    gets a conflict naming the way out at once, and the store once the owner closes it."""
    store.start()
    store.create_collection("c", size=8)
    code = ("import sys, qdrant_store\nfrom claudex_server import ServerError\ns = qdrant_store.Store()\n"
            "try:\n    s.upsert('c', [{'vector': [1, 0, 0, 0, 0, 0, 0, 0], 'id': 7}])\n"
            "except ServerError as exc:\n    print(exc.code, exc); sys.exit(3)\n"
            "print(s.list_collections()[0]['points'])")
    run = lambda: subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(qdrant_store.__file__),  # noqa: E731
                                 capture_output=True, text=True, env=dict(os.environ), timeout=60)
    refused = run()
    assert refused.returncode == 3 and refused.stdout.startswith("conflict "), refused.stderr
    assert "open in another process" in refused.stdout and "gateway" in refused.stdout
    assert store.stop()["closed"] is True  # lets go of it
    served = run()
    assert served.returncode == 0 and served.stdout.strip() == "1", served.stdout + served.stderr
    assert store.list_collections()[0]["points"] == 1  # opened again on the next call


def test_status_embedded(store, home):
    store.create_collection("c", size=4, distance="dot")
    status = store.status()
    assert status["mode"] == "embedded" and status["reachable"] is True
    assert status["version"].startswith("qdrant-edge ") and status["open"] is True
    assert status["collections"] == [{"name": "c", "points": 0, "size": 4, "distance": "Dot"}]
    assert status["storage_path"].startswith(str(home)) and status["storage_bytes"] > 0


def test_point_model_rejects_unknown_keys():
    with pytest.raises(InvalidInput):
        qdrant_store._parse_point({"txt": "typo"}, 0)
    assert qdrant_store.point_id(Point(text="a")) == qdrant_store.point_id(Point(text="a"))


# -- the managed Qdrant process ---------------------------------------------------------------

FAKE_QDRANT = textwrap.dedent("""\
    #!{python}
    # A stand-in for the qdrant binary: answers /readyz on QDRANT__SERVICE__HTTP_PORT.
    import http.server, os, signal, sys
    if os.environ.get("FAKE_IGNORE_TERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{{"title": "qdrant - fake", "version": "9.9.9"}}'
            self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a): pass
    port = int(os.environ.get("QDRANT__SERVICE__HTTP_PORT", "6333"))
    http.server.HTTPServer((os.environ.get("QDRANT__SERVICE__HOST", "127.0.0.1"), port), H).serve_forever()
    """)


@pytest.fixture
def fake_server(tmp_path, monkeypatch):
    binary = tmp_path / "qdrant"
    binary.write_text(FAKE_QDRANT.format(python=sys.executable))
    binary.chmod(0o755)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("QDRANT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("QDRANT_BINARY", str(binary))
    process = qdrant_store.QdrantProcess(qdrant_store.Settings.from_env())
    yield process
    record = process.running()
    if record:  # stop what a failing test left running
        os.kill(record["pid"], 9)


def test_start_waits_for_readiness_and_stop_terminates(fake_server):
    started = fake_server.start()
    assert started["started"] is True and fake_server.pid_file.exists()
    assert fake_server._ready()
    assert fake_server.start()["started"] is False  # already running: not a second one
    stopped = fake_server.stop()
    assert stopped == {"stopped": True, "pid": started["pid"], "signal": "SIGTERM"}
    assert not fake_server.pid_file.exists() and not fake_server._ready()
    assert fake_server.stop()["stopped"] is False


def test_stop_escalates_to_sigkill(fake_server, monkeypatch):
    monkeypatch.setenv("FAKE_IGNORE_TERM", "1")
    monkeypatch.setattr(qdrant_store, "STOP_TIMEOUT", 1.0)
    fake_server.start()
    assert fake_server.stop()["signal"] == "SIGKILL"
    assert not fake_server._ready()


def test_a_server_it_did_not_start_is_never_stopped(fake_server):
    port = str(fake_server.port)
    foreign = subprocess.Popen([fake_server.settings.binary], env=dict(os.environ, QDRANT__SERVICE__HTTP_PORT=port))
    try:
        deadline = time.monotonic() + 10
        while not fake_server._ready() and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(Conflict, match="did not start"):
            fake_server.start()
        assert fake_server.stop()["stopped"] is False
        assert foreign.poll() is None and fake_server._ready()
        # A stale pid file naming a live process that is not ours is not trusted either.
        fake_server.pid_file.parent.mkdir(parents=True, exist_ok=True)
        fake_server.pid_file.write_text('{"pid": %d, "started": "0", "cmdline": ["x"]}' % foreign.pid)
        assert fake_server.stop()["stopped"] is False and foreign.poll() is None
    finally:
        foreign.kill()
        foreign.wait()


def test_start_without_binary_is_an_error(monkeypatch):
    monkeypatch.setenv("QDRANT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(InvalidInput, match="QDRANT_BINARY"):
        qdrant_store.QdrantProcess(qdrant_store.Settings.from_env()).start()


def test_a_store_of_the_previous_version_is_migrated_and_its_text_searches_warned(store, home):
    """The store before qdrant-edge (qdrant-client's local mode, texts embedded by MiniLM) is copied
    on first open; a text query says the vectors come from another model, a vector query does not."""
    from qdrant_client import QdrantClient, models

    old = QdrantClient(path=str(store.settings.path))
    old.create_collection("notes", vectors_config=models.VectorParams(size=8, distance=models.Distance.COSINE))
    old.upsert("notes", points=[models.PointStruct(id=1, vector=[1.0] + [0.0] * 7, payload={"text": "old note"})])
    old.close()
    status = store.status()
    assert status["migrated"]["collections"] == {"notes": 1} and "delete them" in status["migrated"]["hint"]
    found = store.search("notes", query="a note")
    assert found["results"][0]["payload"] == {"text": "old note"} and "migrated" in found["warning"]
    assert "warning" not in store.search("notes", vector=[1.0] + [0.0] * 7)
    store.create_collection("fresh")
    store.upsert("fresh", [{"text": "new"}])
    assert "warning" not in store.search("fresh", query="new")  # embedded by the model that embeds the query

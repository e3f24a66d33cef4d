"""The index: incremental by content hash, no stale hits, search modes and filters, the token
budget, bad input, and two processes on one index at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

import cq_index
from conftest import SERVER_DIR
from claudex_server.errors import Conflict, InvalidInput, NotFound


def top(index, query, mode="hybrid", **kw):
    return [(r["path"], r["symbol"]) for r in index.search(query, mode=mode, **kw)["results"]]


def test_index_then_search_by_meaning_and_by_name(cq, sample):
    result = cq.embed(None, progress=None)
    assert result["files"]["added"] == 6 and result["chunks"]["added"] == result["chunks"]["total"] > 8
    index = cq.index_for()
    assert top(index, "retry HTTP requests when they fail", "semantic")[0] == ("src/net/http_client.py", "fetch_with_retry")
    assert top(index, "user name", "lexical")[0] == ("src/users/store.py", "UserStore.getUserName")
    assert top(index, "area of a circle")[0] == ("src/geometry/shapes.ts", "Circle.area")
    assert top(index, "average of an array")[0] == ("web/stats.js", "computeAverage")
    first = index.search("start the web server", limit=1)["results"][0]
    assert first["path"] == "cmd/server/main.go" and first["start_line"] == 5 and first["end_line"] == 7
    assert "ListenAndServe" in first["snippet"] and first["stale"] is False


def test_filters_by_language_and_path_glob(cq, sample):
    cq.embed(None)
    index = cq.index_for()
    assert {p for p, _ in top(index, "function", language="python", limit=20)} <= {
        "src/net/http_client.py", "src/users/store.py"}
    assert {p for p, _ in top(index, "function", path_glob="src/**/*.py", limit=20)} <= {
        "src/net/http_client.py", "src/users/store.py"}
    assert {p for p, _ in top(index, "value", path_glob="*.js", limit=20)} == {"web/stats.js"}


def test_incremental_reindex_replaces_changed_and_removes_deleted(cq, sample):
    cq.embed(None)
    index = cq.index_for()
    again = cq.embed(None)
    assert again["files"]["unchanged"] == 6 and again["chunks"] == {"added": 0, "removed": 0,
                                                                     "total": again["chunks"]["total"]}
    # Rename a function: the old chunk must be gone, the new one found; the other chunks of the
    # file are unchanged, so they are not embedded again.
    store = sample / "src/users/store.py"
    store.write_text(store.read_text().replace("def delete_user(self, user_id):", "def purge_account(self, user_id):"))
    assert index.search("delete user", mode="lexical")["results"][0]["stale"] is True
    changed = cq.embed(None)
    assert changed["files"]["updated"] == 1 and changed["chunks"]["added"] == 1 and changed["chunks"]["removed"] == 1
    symbols = [s for _p, s in top(index, "delete user purge account", limit=50)]
    assert "UserStore.purge_account" in symbols and "UserStore.delete_user" not in symbols
    (sample / "web/stats.js").unlink()
    removed = cq.embed(None)
    assert removed["files"]["removed"] == 1
    for mode in ("lexical", "semantic", "hybrid"):
        assert "web/stats.js" not in {p for p, _ in top(index, "average of values", mode, limit=50)}
    stats = index.stats()
    assert stats["files"] == 5 and stats["changed_since"]["changed"] == 0 and stats["dimension"] == 384
    assert stats["languages"]["python"] == 2 and stats["index_bytes"] > 0 and stats["last_indexed"]
    (sample / "new.py").write_text("def brand_new():\n    return 42\n")
    assert index.stats()["changed_since"]["added"] == 1


def test_full_rebuild(cq, sample):
    first = cq.embed(None)
    rebuilt = cq.embed(None, incremental=False)
    assert rebuilt["incremental"] is False and rebuilt["chunks"]["total"] == first["chunks"]["total"]


def test_token_budget_trims_snippets(cq, sample):
    cq.embed(None)
    index = cq.index_for()
    big = index.search("code", limit=20, max_tokens=32000)
    small = index.search("code", limit=20, max_tokens=200)
    assert small["approx_tokens"] <= 200 < big["approx_tokens"]
    assert len(json.dumps(small["results"])) // 4 <= 200


@pytest.mark.parametrize("args, message", [
    ({"query": ""}, "query is empty"),
    ({"query": "   "}, "query is empty"),
    ({"query": "x", "limit": 10 ** 6}, "limit must be from 1 to 100"),
    ({"query": "x", "limit": 0}, "limit must be"),
    ({"query": "x", "mode": "fuzzy"}, "mode must be"),
    ({"query": "x", "max_tokens": 5}, "max_tokens must be"),
    ({"query": "x" * 3000}, "at most"),
])
def test_bad_search_input(cq, sample, args, message):
    cq.embed(None)
    with pytest.raises(InvalidInput, match=message):
        cq.index_for().search(**args)


def test_roots_are_checked(cq, sample, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    with pytest.raises(InvalidInput, match="outside the folders"):
        cq.embed(str(outside))
    with pytest.raises(InvalidInput, match="outside the folders"):
        cq.embed("../elsewhere")
    os.symlink(outside, sample / "link-out")
    with pytest.raises(InvalidInput, match="outside the folders"):
        cq.embed("link-out")
    with pytest.raises(NotFound, match="does not exist"):
        cq.embed("no/such/dir")
    with pytest.raises(InvalidInput, match="not a folder"):
        cq.embed("docs/guide.md")
    assert cq.embed("src")["files"]["total"] == 3  # a sub-folder is a root of its own
    assert not any(outside.iterdir())


def test_search_before_indexing_says_what_to_do(cq, sample):
    with pytest.raises(NotFound, match="cq_embed"):
        cq.index_for().search("x")


def test_extra_roots(model, sample, tmp_path, monkeypatch):
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "a.py").write_text("def extra_function():\n    pass\n")
    monkeypatch.setenv("CODEQUERY_ROOTS", str(extra))
    cq = cq_index.Codequery(embedder_factory=lambda: model)
    assert cq.embed(str(extra))["files"]["total"] == 1


WORKER = textwrap.dedent("""
    import json, sys, time
    import cq_index   # python -c imports from the working directory: the server's folder
    cq = cq_index.Codequery()
    action = sys.argv[1]
    out = []
    deadline = time.monotonic() + 30
    if action == "index":
        out.append(cq.embed(None)["chunks"]["total"])
    else:
        cq.current = cq.settings.resolve_root(None)
        for _ in range(int(sys.argv[2])):
            out.append([r["symbol"] for r in cq.index_for().search("retry http", limit=1)["results"]])
    print(json.dumps(out))
""")


def _workers(args_list):
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=SERVER_DIR) for args in args_list]
    try:
        return [p.communicate(timeout=240) + (p.returncode,) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_two_processes_index_and_search_the_same_root_at_once(sample):
    """Two servers (Claude Code's and Codex's) on one index: neither fails, the index stays whole."""
    results = _workers([("index",), ("index",)])
    for out, err, code in results:
        assert code == 0, err
    totals = [json.loads(out)[0] for out, _err, _code in results]
    assert totals[0] == totals[1] > 8
    results = _workers([("search", "5"), ("search", "5")])
    for out, err, code in results:
        assert code == 0, err
        assert all(hit == ["fetch_with_retry"] for hit in json.loads(out))


def test_a_store_held_too_long_is_a_clear_conflict(cq, sample, monkeypatch):
    from claudex_embeddings import store

    cq.embed(None)
    index = cq.index_for()
    monkeypatch.setattr(store, "LOCK_TIMEOUT", 0.2)
    with store.store_lock(index.vectors.path):
        start = time.monotonic()
        with pytest.raises(Conflict, match="in use by another process"):
            index.search("retry", mode="semantic")
        assert time.monotonic() - start < 5
    assert index.search("retry", mode="semantic")["results"]

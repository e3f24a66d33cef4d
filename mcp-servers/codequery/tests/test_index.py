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
from claudex_server.errors import InvalidInput, NotFound, Unavailable


def top(index, query, mode="hybrid", **kw):
    return [(r["path"], r["symbol"]) for r in index.search(query, mode=mode, **kw)["results"]]


def test_index_then_search_by_meaning_and_by_name(cq, sample):
    result = cq.embed(None, progress=None, wait=True)
    assert result["files"]["added"] == 6 and result["chunks"]["added"] == result["chunks"]["total"] > 8
    assert result["dense"]["done"] == result["dense"]["total"] == result["chunks"]["total"]
    index = cq.index_for()
    assert top(index, "retry HTTP requests when they fail", "semantic")[0] == ("src/net/http_client.py", "fetch_with_retry")
    assert top(index, "user name", "lexical")[0] == ("src/users/store.py", "UserStore.getUserName")
    assert top(index, "area of a circle")[0] == ("src/geometry/shapes.ts", "Circle.area")
    assert top(index, "average of an array")[0] == ("web/stats.js", "computeAverage")
    first = index.search("start the web server", limit=1)["results"][0]
    assert first["path"] == "cmd/server/main.go" and first["start_line"] == 5 and first["end_line"] == 7
    assert "ListenAndServe" in first["snippet"] and first["stale"] is False


def test_filters_by_language_and_path_glob(cq, sample):
    cq.embed(None, wait=True)
    index = cq.index_for()
    assert {p for p, _ in top(index, "function", language="python", limit=20)} <= {
        "src/net/http_client.py", "src/users/store.py"}
    assert {p for p, _ in top(index, "function", path_glob="src/**/*.py", limit=20)} <= {
        "src/net/http_client.py", "src/users/store.py"}
    assert {p for p, _ in top(index, "value", path_glob="*.js", limit=20)} == {"web/stats.js"}


def test_incremental_reindex_replaces_changed_and_removes_deleted(cq, sample):
    cq.embed(None, wait=True)
    index = cq.index_for()
    again = cq.embed(None, wait=True)
    assert again["files"]["unchanged"] == 6 and again["chunks"] == {"added": 0, "removed": 0,
                                                                     "total": again["chunks"]["total"]}
    # Rename a function: the old chunk must be gone, the new one found; the other chunks of the
    # file are unchanged, so they are not embedded again.
    store = sample / "src/users/store.py"
    store.write_text(store.read_text().replace("def delete_user(self, user_id):", "def purge_account(self, user_id):"))
    assert index.search("delete user", mode="lexical")["results"][0]["stale"] is True
    changed = cq.embed(None, wait=True)
    assert changed["files"]["updated"] == 1 and changed["chunks"]["added"] == 1 and changed["chunks"]["removed"] == 1
    symbols = [s for _p, s in top(index, "delete user purge account", limit=50)]
    assert "UserStore.purge_account" in symbols and "UserStore.delete_user" not in symbols
    (sample / "web/stats.js").unlink()
    removed = cq.embed(None, wait=True)
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
    cq.embed(None, wait=True)
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
    import json, sys
    import cq_index   # python -c imports from the working directory: the server's folder
    from claudex_server import ServerError
    cq = cq_index.Codequery()
    try:
        result = cq.embed(None, incremental=False)  # a rebuild: it must write the vectors
    except ServerError as exc:
        print(json.dumps({"code": exc.code, "message": exc.message, "hint": exc.hint}))
    else:
        print(json.dumps({"chunks": result["chunks"]["total"]}))
    finally:
        cq.close()
""")


def _worker():
    proc = subprocess.run([sys.executable, "-c", WORKER], capture_output=True, text=True, cwd=SERVER_DIR, timeout=240)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_second_process_on_an_owned_index_is_a_conflict_with_a_hint(cq, sample):
    """One process owns a root's vectors (the gateway shares it between agents): another one is
    told at once, with the way out, and works once the owner has let go."""
    cq.embed(None, wait=True)
    refused = _worker()
    assert refused["code"] == "conflict" and "open in another process" in refused["message"]
    assert "gateway" in refused["hint"]
    cq.close()
    assert _worker()["chunks"] > 8


class SlowEmbedder:
    """The test model, a batch at a time with a pause: the background's progress can be seen."""

    def __init__(self, model, pause: float) -> None:
        self.model, self.pause, self.name, self.dimension = model, pause, model.name, model.dimension
        self.calls = 0

    def embed(self, texts):
        self.calls += 1
        time.sleep(self.pause)
        return self.model.embed(texts)

    def embed_query(self, texts):
        return self.model.embed_query(texts)


def test_lexical_first_then_dense_in_the_background(model, sample, monkeypatch):
    """cq_embed returns once the index is searchable; vectors follow batch by batch, each answer
    and cq_stats say how far; wait=True returns once they are all there."""
    monkeypatch.setattr(cq_index, "EMBED_BATCH", 2)
    slow = SlowEmbedder(model, 0.4)
    cq = cq_index.Codequery(embedder_factory=lambda: slow)
    try:
        started = time.monotonic()
        result = cq.embed(None)
        assert time.monotonic() - started < 5 and result["dense"]["done"] < result["dense"]["total"]
        index = cq.index_for()
        found = index.search("user name", mode="lexical")
        assert found["results"][0]["symbol"] == "UserStore.getUserName" and "note" not in found["dense"]
        hybrid = index.search("average of an array")
        assert hybrid["dense"]["done"] < hybrid["dense"]["total"] and "vectors cover" in hybrid["dense"]["note"]
        assert hybrid["results"][0]["symbol"] == "computeAverage"  # found by its words meanwhile
        stats = index.stats()["dense"]
        assert stats["running"] is True and stats["total"] == result["chunks"]["total"]
        seen = []
        cq.index_for().wait_dense(lambda done, total, message: seen.append(done))
        final = index.stats()["dense"]
        assert final["complete"] is True and final["running"] is False and final["chunks_per_s"] > 0
        assert seen == sorted(seen) and seen[-1] == final["total"]
        assert "note" not in index.search("average of an array")["dense"]
        again = cq.embed(None, wait=True)  # nothing changed: nothing embedded again
        assert again["dense"]["complete"] is True and slow.calls == -(-final["total"] // 2)
        # A file just changed is found at once, its new chunk not ranked below those both lists found.
        guide = sample / "docs/guide.md"
        guide.write_text(guide.read_text() + "\n## Dates\n\nTo parse a date, call parse_rfc822_date with the text.\n")
        (sample / "src/net/dates.py").write_text("def parse_rfc822_date(text):\n    return email.utils.parsedate_to_datetime(text)\n")
        cq.embed(None)
        fresh = index.search("parse a date", limit=3)
        assert fresh["dense"]["done"] < fresh["dense"]["total"]
        assert fresh["results"][0]["symbol"] == "parse_rfc822_date", fresh["results"]
    finally:
        cq.close()


def test_a_failing_model_leaves_the_index_searchable_and_says_why(model, sample):
    class Broken(SlowEmbedder):
        def embed(self, texts):
            from claudex_embeddings import EmbeddingError

            raise EmbeddingError("the endpoint said no")

    cq = cq_index.Codequery(embedder_factory=lambda: Broken(model, 0))
    try:
        with pytest.raises(Unavailable, match="could not all be computed: the embedding model failed"):
            cq.embed(None, wait=True)
        index = cq.index_for()
        assert index.search("user name", mode="lexical")["results"]
        assert "the endpoint said no" in index.stats()["dense"]["error"]
    finally:
        cq.close()


# A definition, its call sites (more mentions, shorter), and the module code that imports it.
CALLERS = {
    "billing/ledger.py": '''\
def reconcile_ledger(entries, statement):
    matched, missing = [], []
    for entry in entries:
        line = statement.find(entry.amount, entry.day)
        if line is None:
            missing.append(entry)
        else:
            matched.append((entry, line))
    totals = sum(e.amount for e, _ in matched)
    return matched, missing, totals
''',
    "jobs/nightly.py": '''\
from billing.ledger import reconcile_ledger
from billing import ledger as reconcile_ledger_module

RECONCILE_LEDGER_EVERY = 24


def nightly(books):
    for book in books:
        reconcile_ledger(book.entries, book.statement)
        reconcile_ledger(book.pending, book.statement)
''',
}


def test_a_query_that_names_a_definition_finds_it_before_its_call_sites(cq, project):
    from conftest import write_tree

    write_tree(project, CALLERS)
    cq.embed(None, wait=True)
    index = cq.index_for()
    for mode in ("lexical", "hybrid"):
        found = top(index, "reconcile the ledger", mode)
        assert found[0] == ("billing/ledger.py", "reconcile_ledger"), (mode, found)
    # BM25 alone ranks the imports and the call sites first: the boosts are what makes the difference.
    bare = index.search("reconcile the ledger", mode="lexical", weights=cq_index.Weights())["results"]
    assert (bare[0]["path"], bare[0]["symbol"]) != ("billing/ledger.py", "reconcile_ledger"), bare


def test_rank_weighs_each_retriever_and_each_boost():
    rows = {1: (1, "billing/ledger.py", 1, 9, "python", "function", "reconcile_ledger", "def reconcile_ledger():", ""),
            2: (2, "jobs/nightly.py", 6, 9, "python", "function", "nightly", "def nightly(books):", ""),
            3: (3, "jobs/nightly.py", 1, 3, "python", "module", None, None, "")}
    lexical = [(3, 9.0), (2, 8.0), (1, 6.0)]
    semantic = [(2, 0.9), (1, 0.8), (3, 0.5)]
    order = lambda ranked, weights, **kw: [rid for rid, _ in cq_index.rank(ranked, rows, "reconcile ledger", weights, **kw)]
    assert order({"lexical": lexical}, cq_index.Weights()) == [3, 2, 1]  # BM25 alone
    assert order({"lexical": lexical}, cq_index.Weights(name=1.0)) == [1, 3, 2]  # the definition named
    assert order({"lexical": lexical}, cq_index.Weights(module=-0.5)) == [2, 1, 3]  # module code last
    assert order({"semantic": semantic}, cq_index.Weights(lexical=0, semantic=1)) == [2, 1, 3]
    both = {"lexical": lexical, "semantic": semantic}
    # Scaled: lexical 1, 8/9, 6/9; semantic from the last hit (0) to the best (1): 0, 1, 0.75.
    scores = dict(cq_index.rank(both, rows, "reconcile ledger", cq_index.Weights(lexical=1, semantic=1)))
    assert scores == pytest.approx({3: 1.0, 2: 8 / 9 + 1.0, 1: 6 / 9 + 0.75})
    # A chunk not embedded yet counts its lexical score for its semantic one.
    pending = dict(cq_index.rank({"lexical": lexical, "semantic": semantic[:1]}, rows, "x",
                                 cq_index.Weights(lexical=1, semantic=1), pending={1}))
    assert pending[1] == pytest.approx(2 * 6 / 9)

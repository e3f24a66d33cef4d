"""The small built-in retrieval evaluation: part of `requests` (code we did not write) with its
docstrings removed, queried by their first lines. The floor is well under what the index scores
and well over the plain BM25 baseline, so a broken ingredient shows. bench.py runs the full one."""

from __future__ import annotations

from pathlib import Path

import cq_eval

FILES = ["api.py", "adapters.py", "sessions.py"]


def test_hybrid_retrieval_beats_plain_bm25_with_a_floor(cq, tmp_path, monkeypatch):
    import requests

    corpus = tmp_path / "corpus"
    queries = cq_eval.build_corpus(Path(requests.__file__).parent, corpus, FILES)
    assert len(queries) >= 25
    # The stripped code has no docstrings left to match against.
    assert '"""' not in (corpus / "requests" / "api.py").read_text()
    monkeypatch.setenv("CLAUDEX_PROJECT_DIR", str(corpus))
    cq.settings = type(cq.settings).from_env()
    cq.embed(None, wait=True)
    scores = cq_eval.evaluate(cq.index_for(), corpus, queries, modes=("hybrid",))
    hybrid, baseline = scores["hybrid"]["all"], scores["baseline_bm25_functions"]["all"]
    assert hybrid["mrr@10"] >= 0.5 and hybrid["recall@10"] >= 0.75, scores
    assert hybrid["mrr@10"] >= baseline["mrr@10"] + 0.05, scores

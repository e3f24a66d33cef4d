"""Benchmark of the qdrant server's store: embedded-mode upsert of 10k 384-d points, search
latency p50/p95, and the default embedding model's throughput. Prints JSON and writes it to
--output. Usage: python bench.py [--output bench.json] [--points 10000] [--searches 200]"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bench_store(points: int, searches: int, dim: int = 384) -> dict:
    import qdrant_store

    rng = random.Random(42)
    vec = lambda: [rng.uniform(-1, 1) for _ in range(dim)]  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["QDRANT_PATH"] = tmp
        os.environ.pop("QDRANT_URL", None)
        store = qdrant_store.Store()
        try:
            store.create_collection("bench", size=dim)
            batch = [{"vector": vec(), "payload": {"n": i, "group": i % 10}} for i in range(points)]
            start = time.perf_counter()
            for i in range(0, points, 1000):
                store.upsert("bench", batch[i:i + 1000])
            upsert = time.perf_counter() - start
            queries = [vec() for _ in range(searches)]
            latencies = []
            for q in queries:
                t = time.perf_counter()
                store.search("bench", vector=q, limit=10)
                latencies.append((time.perf_counter() - t) * 1000)
            filtered = []
            for q in queries[:50]:
                t = time.perf_counter()
                store.search("bench", vector=q, limit=10, filter={"group": 3})
                filtered.append((time.perf_counter() - t) * 1000)
            size = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
        finally:
            store.close()
    return {"points": points, "dimension": dim, "upsert_seconds": round(upsert, 3),
            "upsert_points_per_second": round(points / upsert), "searches": searches,
            "search_ms_p50": round(percentile(latencies, 0.5), 2), "search_ms_p95": round(percentile(latencies, 0.95), 2),
            "filtered_search_ms_p50": round(percentile(filtered, 0.5), 2),
            "filtered_search_ms_p95": round(percentile(filtered, 0.95), 2), "storage_bytes": size}


def bench_embeddings(texts: int) -> dict:
    import claudex_embeddings

    rng = random.Random(7)
    words = ("vector search engine stores points with payloads and the agent asks questions about code "
             "files functions tests errors configuration servers memory notes documents").split()
    sample = [" ".join(rng.choice(words) for _ in range(rng.randint(6, 30))) for _ in range(texts)]
    start = time.perf_counter()
    provider = claudex_embeddings.from_env({})
    provider.embed(["warm up"])
    load = time.perf_counter() - start
    start = time.perf_counter()
    provider.embed(sample)
    took = time.perf_counter() - start
    return {"model": provider.name, "dimension": provider.dimension, "load_seconds": round(load, 2),
            "texts": texts, "words_per_text": "6-30", "seconds": round(took, 2),
            "texts_per_second": round(texts / took, 1), "cores": os.cpu_count()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="write the JSON result here too")
    parser.add_argument("--points", type=int, help="stored points (default 10000; 500 with --quick)")
    parser.add_argument("--searches", type=int, help="searches timed (default 200; 50 with --quick)")
    parser.add_argument("--texts", type=int, help="texts embedded (default 1000; 100 with --quick)")
    parser.add_argument("--quick", action="store_true", help="the small sizes, for CI (make bench QUICK=1)")
    args = parser.parse_args(argv)
    args.points = args.points or (500 if args.quick else 10000)
    args.searches = args.searches or (50 if args.quick else 200)
    args.texts = args.texts or (100 if args.quick else 1000)
    result = {"embedded_store": bench_store(args.points, args.searches), "embeddings": bench_embeddings(args.texts)}
    text = json.dumps(result, indent=2, sort_keys=True) + "\n"
    sys.stdout.write(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.output.with_name(args.output.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

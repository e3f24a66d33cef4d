"""Benchmark of the qdrant server's store: embedded-mode upsert of 10k 384-d points, search
latency p50/p95 (qdrant-edge, owned by the process), beside today's store (qdrant-client's local
mode opened per call) in the same run; the default embedding model's throughput beside the NumPy
all-MiniLM-L6-v2 it replaced (when its weights are on this machine); 2,000 texts embedded and
upserted; the server venvs' sizes as `claudex mcp install` leaves them (with --quick, those
without extras: a few seconds each from uv's warm cache). Prints JSON and writes it to --output.
Usage: python bench.py [--output bench.json] [--points 10000] [--searches 200] [--quick]"""

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
            size = sum(f.stat().st_blocks * 512 for f in Path(tmp).rglob("*") if f.is_file())
        finally:
            store.close()
    return {"points": points, "dimension": dim, "upsert_seconds": round(upsert, 3),
            "upsert_points_per_second": round(points / upsert), "searches": searches,
            "search_ms_p50": round(percentile(latencies, 0.5), 2), "search_ms_p95": round(percentile(latencies, 0.95), 2),
            "filtered_search_ms_p50": round(percentile(filtered, 0.5), 2),
            "filtered_search_ms_p95": round(percentile(filtered, 0.95), 2), "storage_bytes": size}


def bench_local_mode_per_call(points: int, searches: int, dim: int = 384) -> dict:
    """Today's embedded store, as the servers used it before qdrant-edge: qdrant-client's local
    mode, opened for each call under the store lock."""
    from qdrant_client import models

    from claudex_embeddings.store import store_lock

    rng = random.Random(42)
    vec = lambda: [rng.uniform(-1, 1) for _ in range(dim)]  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp)

        def client():
            from qdrant_client import QdrantClient

            return QdrantClient(path=str(path))

        with store_lock(path):
            c = client()
            c.create_collection("bench", vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE))
            start = time.perf_counter()
            for i in range(0, points, 1000):
                c.upsert("bench", points=[models.PointStruct(id=j, vector=vec(), payload={"n": j})
                                          for j in range(i, min(points, i + 1000))])
            upsert = time.perf_counter() - start
            c.close()
        latencies = []
        for _ in range(searches):
            t = time.perf_counter()
            with store_lock(path):
                c = client()
                c.query_points("bench", query=vec(), limit=10)
                c.close()
            latencies.append((time.perf_counter() - t) * 1000)
    return {"points": points, "upsert_seconds": round(upsert, 3), "searches": searches,
            "search_ms_p50": round(percentile(latencies, 0.5), 2), "search_ms_p95": round(percentile(latencies, 0.95), 2)}


def bench_embeddings(texts: int) -> dict:
    import claudex_embeddings

    rng = random.Random(7)
    words = ("vector search engine stores points with payloads and the agent asks questions about code "
             "files functions tests errors configuration servers memory notes documents").split()
    sample = [" ".join(rng.choice(words) for _ in range(rng.randint(6, 30))) for _ in range(texts)]
    code = [f"def {rng.choice(words)}_{rng.choice(words)}(path, retries=3):\n"
            + "".join(f"    {rng.choice(words)} = {rng.choice(words)}({rng.choice(words)}, {i})\n" for i in range(8))
            for _ in range(texts // 2)]
    from claudex_testing import baseline as before

    models = {"default": claudex_embeddings.from_env({})}
    baseline = before.minilm_folder()
    if baseline is not None:
        models["minilm_numpy"] = claudex_embeddings.from_env({"EMBEDDINGS_MODEL_PATH": str(baseline)})
    out: dict = {"texts": texts, "words_per_text": "6-30", "code_texts": len(code), "cores": os.cpu_count()}
    for key, provider in models.items():
        start = time.perf_counter()
        provider.embed(["warm up"])
        load = time.perf_counter() - start
        out[key] = {"model": provider.name, "dimension": provider.dimension, "load_seconds": round(load, 2)}
    # Interleaved, twice each: the machine's load weighs on both alike.
    for key in [*models, *models]:
        for kind, batch in (("texts", sample), ("code", code)):
            start = time.perf_counter()
            models[key].embed(batch)
            rate = len(batch) / (time.perf_counter() - start)
            out[key][f"{kind}_per_second"] = round(max(rate, out[key].get(f"{kind}_per_second", 0)), 1)
    out["texts_per_second"] = out["default"]["texts_per_second"]
    out["model"] = out["default"]["model"]
    if baseline is not None:
        out["speedup_vs_minilm"] = {kind: round(out["default"][f"{kind}_per_second"] / out["minilm_numpy"][f"{kind}_per_second"], 2)
                                    for kind in ("texts", "code")}
    else:
        out["minilm_numpy"] = {"skipped": before.why or "no all-MiniLM-L6-v2 folder"}
    return out


def bench_text_upsert(texts: int) -> dict:
    """Texts embedded by the server's model and upserted, as qdrant_upsert does."""
    import qdrant_store

    rng = random.Random(11)
    words = ("agent note remembers the build failed because the cache key changed after the lock file moved "
             "so the test suite ran twice and the report was late").split()
    points = [{"text": " ".join(rng.choice(words) for _ in range(rng.randint(8, 40))), "payload": {"i": i}}
              for i in range(texts)]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["QDRANT_PATH"] = tmp
        store = qdrant_store.Store()
        try:
            store.create_collection("notes")
            start = time.perf_counter()
            for i in range(0, texts, 500):
                store.upsert("notes", points[i:i + 500])
            took = time.perf_counter() - start
        finally:
            store.close()
    return {"texts": texts, "seconds": round(took, 1), "seconds_per_2000": round(took * 2000 / texts, 1)}


# Each venv measured: (its name in the report, the server, its extras).
VENVS = (("qdrant", "qdrant", ()), ("qdrant+server", "qdrant", ("server",)),
         ("codequery", "codequery", ()), ("codequery+chat", "codequery", ("chat",)),
         ("codequery+server", "codequery", ("server",)), ("codequery+chat+server", "codequery", ("chat", "server")))


def du_bytes(folder: Path) -> int:
    """What `du -s` counts: the blocks of every file and folder, a hard-linked file once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for current, dirs, files in os.walk(folder):
        for name in [".", *files]:
            st = os.lstat(os.path.join(current, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def venv_sizes(quick: bool = False) -> dict:
    """Each embedding server's venv as `claudex mcp install` leaves it, without its extras and
    (unless ``quick``) with each (`--with chat`): built by the same function,
    claudex_mcp.install.deps.install (uv venv, uv pip install, byte-compiled but for what a server
    does not import), in a copy of the servers' folder; its size in MB as `du -s` counts it, and
    the seconds it took. uv's cache is the one `make install` filled (UV_CACHE_DIR, else uv's
    own), so in CI nothing is downloaded: ~4 s a venv."""
    import shutil
    import subprocess

    from claudex_mcp.errors import ClaudexError
    from claudex_mcp.install import deps

    uv = deps.uv_binary()
    if uv is None:
        return {"skipped": "no uv: claudex mcp install would build with venv + pip"}
    if not os.environ.get("UV_CACHE_DIR"):
        found = subprocess.run([uv, "cache", "dir"], capture_output=True, text=True, env=deps.uv_env())
        if found.returncode == 0 and found.stdout.strip():
            os.environ["UV_CACHE_DIR"] = found.stdout.strip()
    servers = Path(__file__).resolve().parent.parent
    out: dict = {}
    for label, name, extras in VENVS:
        if quick and extras:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            # A copy of the servers' tree: building the local packages writes build/ next to them.
            shutil.copytree(servers, Path(tmp) / "src", ignore=shutil.ignore_patterns(
                ".venv", "__pycache__", "build", "*.egg-info", "node_modules"))
            folder = Path(tmp) / "src" / name
            declared = json.loads((folder / "manifest.json").read_text()).get("extras", {})
            start = time.perf_counter()
            try:
                deps.install(folder, extras=[declared[extra]["requirements"] for extra in extras])
            except (ClaudexError, KeyError) as exc:
                out[label] = {"skipped": f"could not build it: {exc}"}
                continue
            took = time.perf_counter() - start
            venv = folder / ".venv"
            site = next(venv.glob("lib/python*/site-packages"))
            banned = sorted(p for p in ("torch", "pandas", "duckdb") if (site / p).exists())
            out[label] = {"mb": round(du_bytes(venv) / 2 ** 20, 1), "seconds": round(took, 1), "heavy": banned}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="write the JSON result here too")
    parser.add_argument("--points", type=int, help="stored points (default 10000; 500 with --quick)")
    parser.add_argument("--searches", type=int, help="searches timed (default 200; 50 with --quick)")
    parser.add_argument("--texts", type=int, help="texts embedded (default 1000; 40 with --quick)")
    parser.add_argument("--quick", action="store_true", help="the small sizes, for CI (make bench QUICK=1)")
    args = parser.parse_args(argv)
    args.points = args.points or (500 if args.quick else 10000)
    args.searches = args.searches or (50 if args.quick else 200)
    args.texts = args.texts or (40 if args.quick else 1000)
    result = {"embedded_store": bench_store(args.points, args.searches),
              "local_mode_per_call": bench_local_mode_per_call(args.points, min(args.searches, 20 if args.quick else 50)),
              "embeddings": bench_embeddings(args.texts),
              "upsert_texts": bench_text_upsert(100 if args.quick else 2000)}
    result["venv"] = venv_sizes(args.quick)
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

"""Benchmarks: median wall time of whole commands over repeated runs, written as JSON.

Run with `make bench`. Numbers, not pass/fail: targets are recorded beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLAUDEX = str(Path(sys.executable).parent / "claudex")
MANIFEST = ROOT / "tests" / "fixtures" / "schemas" / "manifest" / "valid" / "full-stdio.json"


def time_command(argv: list[str], runs: int, env: dict) -> dict:
    subprocess.run(argv, capture_output=True, env=env)  # warm the page cache
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, env=env)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {"runs": runs, "median_ms": round(statistics.median(samples), 2),
            "p90_ms": round(samples[int(len(samples) * 0.9) - 1], 2), "min_ms": round(samples[0], 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "bench.json")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, HOME=tmp, CLAUDEX_MCP_REGISTRY=os.path.join(tmp, "registry"),
                   XDG_CACHE_HOME=os.path.join(tmp, "cache"))
        results = {
            "help": dict(time_command([CLAUDEX, "mcp", "--help"], args.runs, env), target_ms=50),
            "validate_manifest": time_command([CLAUDEX, "mcp", "validate", str(MANIFEST)], args.runs, env),
            "python_startup": time_command([sys.executable, "-c", "pass"], args.runs, env),
        }
    report = {"cpus": os.cpu_count(), "python": sys.version.split()[0], "results": results}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    for name, r in results.items():
        target = f"  (target < {r['target_ms']} ms)" if "target_ms" in r else ""
        print(f"{name:20} median {r['median_ms']:8.2f} ms   p90 {r['p90_ms']:8.2f} ms{target}")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

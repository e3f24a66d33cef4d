"""Benchmark of the llm-wrapper server against the local fake APIs: the overhead claudex_llm adds
per call (p50/p95, over the bare OpenAI SDK streaming the same answer from the same fake), the
round trip of llm_chat through MCP stdio, and the time to the first progress notification of a
streamed answer. Prints JSON and writes it to --output.
Usage: python bench.py [--output bench.json] [--calls 200]"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import anyio

SERVER_DIR = Path(__file__).resolve().parent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(ms: list[float]) -> dict:
    return {"p50_ms": round(percentile(ms, 0.5), 2), "p95_ms": round(percentile(ms, 0.95), 2),
            "mean_ms": round(statistics.fmean(ms), 2)}


async def bench_overhead(calls: int) -> dict:
    """The same streamed answer, alternately through claudex_llm.Client.chat and the bare SDK."""
    from openai import AsyncOpenAI

    from claudex_llm import Client
    from claudex_llm.fake_api import FakeAPI

    with FakeAPI("openai") as api:
        env = api.env()
        client = Client()
        sdk = AsyncOpenAI(api_key=api.key, base_url=api.base_url, max_retries=0)

        async def bare() -> str:
            stream = await sdk.chat.completions.create(model="gpt-4o-mini", stream=True,
                                                       messages=[{"role": "user", "content": "bench"}],
                                                       stream_options={"include_usage": True})
            parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
            return "".join(parts)

        async def wrapped() -> str:
            return (await client.chat(prompt="bench", model="openai/gpt-4o-mini", environ=env)).text

        for _ in range(10):  # warm up both (imports, connection pools, tokenizer)
            await bare()
            await wrapped()
        bare_ms, wrapped_ms = [], []
        for _ in range(calls):
            t = time.perf_counter()
            await bare()
            bare_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            await wrapped()
            wrapped_ms.append((time.perf_counter() - t) * 1000)
        await sdk.close()
        await client.aclose()
    overhead = [w - b for w, b in zip(sorted(wrapped_ms), sorted(bare_ms))]
    return {"calls": calls, "bare_sdk": summary(bare_ms), "claudex_llm": summary(wrapped_ms),
            "overhead_p50_ms": round(percentile(wrapped_ms, 0.5) - percentile(bare_ms, 0.5), 2),
            "overhead_p95_ms": round(percentile(wrapped_ms, 0.95) - percentile(bare_ms, 0.95), 2),
            "overhead_mean_ms": round(statistics.fmean(overhead), 2)}


async def bench_mcp(calls: int) -> dict:
    """llm_chat through the real server over stdio: the round trip, and the first progress
    notification of an answer streamed in 20 pieces 50 ms apart."""
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    from claudex_llm.fake_api import FakeAPI, Plan

    with FakeAPI("openai") as api:
        env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": os.environ.get("HOME", "/tmp"), **api.env()}
        params = StdioServerParameters(command=sys.executable, args=[str(SERVER_DIR / "server.py")], env=env,
                                       cwd=str(SERVER_DIR))
        with open(os.devnull, "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    for _ in range(5):
                        await session.call_tool("llm_chat", {"prompt": "warm up"})
                    round_trip = []
                    for _ in range(calls):
                        t = time.perf_counter()
                        await session.call_tool("llm_chat", {"prompt": "bench"})
                        round_trip.append((time.perf_counter() - t) * 1000)
                    first, total, notes = [], [], []
                    for _ in range(10):
                        api.script(Plan(text="x" * 200, chunks=20, delay=0.05))
                        seen: list[float] = []

                        async def on_progress(value, total_, message, seen=seen):
                            seen.append(time.perf_counter())

                        t = time.perf_counter()
                        await session.call_tool("llm_chat", {"prompt": "stream"}, progress_callback=on_progress)
                        total.append((time.perf_counter() - t) * 1000)
                        first.append((seen[0] - t) * 1000)
                        notes.append(len(seen))
    return {"calls": calls, "llm_chat_round_trip": summary(round_trip),
            # the fake sends the role chunk at once and the first text one interval later (50 ms)
            "streamed_answer": {"pieces": 20, "piece_interval_ms": 50, "first_text_sent_at_ms": 50,
                                "first_progress": summary(first), "whole_answer": summary(total),
                                "progress_notifications_per_answer": round(statistics.fmean(notes), 1)}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path)
    parser.add_argument("--calls", type=int, help="calls timed (default 200; 50 with --quick)")
    parser.add_argument("--quick", action="store_true", help="the small sizes, for CI (make bench QUICK=1)")
    args = parser.parse_args()
    args.calls = args.calls or (50 if args.quick else 200)
    result = {"overhead": anyio.run(bench_overhead, args.calls),
              "mcp": anyio.run(bench_mcp, max(20, args.calls // 4)), "cores": os.cpu_count()}
    text = json.dumps(result, indent=2, sort_keys=True) + "\n"
    sys.stdout.write(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Compare `make bench`'s figures with their documented targets (tests/bench/targets.json).

A figure fails only when it is more than twice as bad as its target (over 2 x `max`, under
`min` / 2): shared machines are noisy, and that must not turn CI red; a real regression does.
A count that is not a time (`{"equals": 1}`: server processes) fails on any other value. A
figure that does not vary from run to run (a venv's size) says so with `"factor": 1`: it fails
beyond its target itself.
A target may be another figure of the same file, by its path (`{"max": "claude_mcp_list_8.median_ms"}`:
status against Claude Code timed in the same run), and a figure may have several (a list).
Prints one line per target; exit 1 when any failed, 2 when a figure is missing (a bench that
skipped it says why) or the files cannot be read.

Usage: python tests/bench/check.py [--results build] [--targets tests/bench/targets.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FACTOR = 2.0


SIDES = ("max", "min", "equals")


def verdict(value: float, target: dict) -> str:
    """"ok" (within the target), "slow" (worse than the target, within its factor: twice unless
    the target says) or "fail"."""
    if "equals" in target:
        return "ok" if value == target["equals"] else "fail"
    factor = target.get("factor", FACTOR)
    if "max" in target:
        limit = target["max"]
        return "ok" if value <= limit else "slow" if value <= limit * factor else "fail"
    limit = target["min"]
    return "ok" if value >= limit else "slow" if value >= limit / factor else "fail"


def lookup(results: dict, path: str):
    value = results
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def skipped(results: dict, path: str) -> str | None:
    """The reason a bench gave for not measuring the figure at ``path`` ({"skipped": why} on the way)."""
    value = results
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        if isinstance(value.get("skipped"), str):
            return value["skipped"]
        value = value.get(part)
    return None


def check(results_dir: Path, targets: dict) -> tuple[list[str], int]:
    """(report lines, exit code)."""
    loaded: dict[str, dict] = {}
    lines, code = [], 0
    listed = ((k, t) for k, v in sorted(targets.items()) if not k.startswith("_")
              for t in (v if isinstance(v, list) else [v]))
    for key, target in listed:
        source, _, path = key.rpartition(":")
        name = f"{source}-bench.json" if source else "bench.json"
        if name not in loaded:
            try:
                doc = json.loads((results_dir / name).read_text())
                loaded[name] = doc.get("results", doc)  # the servers' benches write their figures at the top
            except (OSError, ValueError, AttributeError):
                loaded[name] = {}
        value = lookup(loaded[name], path)
        side = next(s for s in SIDES if s in target)
        limit = target[side]
        if isinstance(limit, str):  # another figure of the same run
            limit = lookup(loaded[name], target[side])
        if value is None or limit is None:
            missing = path if value is None else target[side]
            why = skipped(loaded[name], missing)
            lines.append(f"missing  {key}: {missing} not in {results_dir / name}"
                         + (f" (skipped: {why})" if why else ""))
            code = max(code, 2)
            continue
        factor = target.get("factor", FACTOR)
        state = verdict(value, {side: limit, "factor": factor})
        named = f"{target[side]} = {limit}" if isinstance(target[side], str) else f"{limit}"
        if side == "equals":
            lines.append(f"{state:7}  {key} = {value} (target {named}; fails on any other value)")
        else:
            bound = f"< {named}" if side == "max" else f"> {named}"
            beyond = "fails beyond it" if factor == 1 else f"fails beyond {factor:g}x"
            lines.append(f"{state:7}  {key} = {value} (target {bound}; {beyond})")
        if state == "fail":
            code = max(code, 1)
    return lines, code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=ROOT / "build", help="the folder of bench.json")
    parser.add_argument("--targets", type=Path, default=ROOT / "tests" / "bench" / "targets.json")
    args = parser.parse_args(argv)
    try:
        targets = json.loads(args.targets.read_text())
    except (OSError, ValueError) as exc:
        print(f"bench-check: cannot read {args.targets}: {exc}", file=sys.stderr)
        return 2
    lines, code = check(args.results, targets)
    print("\n".join(lines))
    if code:
        print("bench-check: " + ("a figure is more than twice its target" if code == 1 else "figures are missing"),
              file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())

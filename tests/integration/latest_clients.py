"""`make test-latest-clients`: the client integration tests against the pinned clients
(client-versions.json) and against the newest Claude Code, Codex and MCP Inspector, then what
changed between the two runs, test by test.

Exit 0 when every test that passes with the pinned clients passes with the newest too; 1 when
one does not (the behaviour that changed is printed with the newest client's failure); 5 when
npm cannot say what the newest versions are. To bump: change the version in client-versions.json,
run `make test`, commit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VERSIONS = json.loads((HERE / "client-versions.json").read_text())
# The variable that points each client at another version for one run (clients.py reads them).
OVERRIDES = {"claude-code": "CLAUDEX_CLAUDE_CODE_VERSION", "codex": "CLAUDEX_CODEX_VERSION",
             "inspector": "CLAUDEX_INSPECTOR_VERSION"}


def newest(package: str) -> str:
    npm = shutil.which("npm")
    if not npm:
        raise SystemExit("test-latest-clients: npm is not on PATH")
    proc = subprocess.run([npm, "view", f"{package}@latest", "version"], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    if proc.returncode != 0 or not proc.stdout.strip():
        print(f"test-latest-clients: npm could not tell the newest {package}: {proc.stderr.strip()[-300:]}",
              file=sys.stderr)
        raise SystemExit(5)
    return proc.stdout.strip()


def outcomes(junit: Path) -> dict[str, tuple[str, str]]:
    """{test id: (passed|failed|skipped, first line of the failure)} from a pytest junit file."""
    found: dict[str, tuple[str, str]] = {}
    if not junit.exists():
        return found
    for case in ET.parse(junit).getroot().iter("testcase"):
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        state, text = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                state, text = "failed", (child.get("message") or child.text or "").strip()
            elif child.tag == "skipped":
                state, text = "skipped", (child.get("message") or "").strip()
        found[test_id] = (state, text.splitlines()[0][:300] if text else "")
    return found


def run(label: str, env: dict[str, str], junit: Path, pytest_args: list[str]) -> int:
    print(f"== {label}", flush=True)
    return subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            f"--junitxml={junit}", str(HERE), *pytest_args], cwd=ROOT, env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest (e.g. -k claude)")
    args = parser.parse_args(argv)
    base = {k: v for k, v in os.environ.items() if k not in OVERRIDES.values()}
    latest = {name: newest(entry["package"]) for name, entry in VERSIONS.items() if name in OVERRIDES}
    pinned = {name: VERSIONS[name]["version"] for name in latest}
    for name in latest:
        mark = "same" if latest[name] == pinned[name] else "NEWER"
        print(f"{name:12} pinned {pinned[name]:12} newest {latest[name]:12} {mark}")
    build = ROOT / "build"
    build.mkdir(exist_ok=True)
    before, after = build / "clients-pinned.xml", build / "clients-latest.xml"
    # The pinned run is the reference: a test that already fails there tells nothing about a change.
    run("pinned clients", base, before, args.pytest_args)
    run("newest clients", {**base, **{OVERRIDES[n]: v for n, v in latest.items()}}, after, args.pytest_args)
    old, new = outcomes(before), outcomes(after)
    changed = sorted(t for t in old.keys() | new.keys() if old.get(t, ("absent", ""))[0] != new.get(t, ("absent", ""))[0])
    broken = [t for t in changed if old.get(t, ("absent",))[0] == "passed" and new.get(t, ("absent",))[0] != "passed"]
    print()
    if not changed:
        print(f"no behaviour changed: {sum(1 for s, _ in new.values() if s == 'passed')} tests pass with both")
        return 0
    print("behaviour that changed (pinned -> newest):")
    for test in changed:
        (was, _), (now, why) = old.get(test, ("absent", "")), new.get(test, ("absent", ""))
        print(f"  {test}: {was} -> {now}" + (f"\n      {why}" if why else ""))
    if broken:
        print(f"\n{len(broken)} test(s) pass with the pinned clients and not with the newest: "
              "adapt claudex (or the test, if the client's change is right) before bumping client-versions.json")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

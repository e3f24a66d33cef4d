"""A server's own test suite (`claudex mcp test NAME --suite`): `npm test`, or pytest in the server's
venv with the shared harness (claudex_testing) and its test requirements importable, outside its
venv (deps.suite_packages), so the runtime venv stays as install made it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from claudex_mcp import paths
from claudex_mcp.errors import ClaudexError


# How the suite starts pytest in the server's Python: the shared harness first, the test
# packages (deps.suite_packages) after the venv's own (site.addsitedir appends, and reads their
# .pth files), in this process only: a server the tests start runs on its venv alone.
_PYTEST = ("import site, sys; harness, packages = sys.argv[1:3]; sys.path.insert(1, harness); "
           "site.addsitedir(packages); sys.argv[:] = ['pytest', *sys.argv[3:]]; "
           "import pytest; raise SystemExit(pytest.console_main())")
# What a suite that fails shows of its output: the failures, at most this many.
SUITE_FAILURES = 20


def run_suite(folder: str) -> dict:
    """The server's own tests: `npm test` for a Node package with a test script, else pytest in
    its venv (or claudex's Python), with the shared harness (claudex_testing) and the test
    requirements (deps.suite_packages, outside the venv) importable."""
    import shutil
    import subprocess
    import sys

    from claudex_mcp.install import deps

    tests = Path(folder) / "tests"
    if not tests.is_dir():
        return {"ran": False, "reason": "the server has no tests/ folder"}
    package = Path(folder) / "package.json"
    try:
        doc = json.loads(package.read_text(encoding="utf-8")) if package.is_file() else {}
        scripts = doc.get("scripts", {})
    except (OSError, ValueError, AttributeError):
        doc, scripts = {}, {}
    env = dict(os.environ)
    if isinstance(scripts, dict) and "test" in scripts:
        npm = shutil.which("npm")
        if npm is None:
            return {"ran": False, "passed": False, "reason": "npm is not installed, so npm test cannot run"}
        if not (Path(folder) / "node_modules").is_dir():
            return {"ran": False, "passed": False, "reason": "run 'npm install' in the folder first"}
        dev = doc.get("devDependencies")
        missing = sorted(n for n in (dev if isinstance(dev, dict) else {})
                         if not (Path(folder) / "node_modules" / n / "package.json").is_file())
        if missing:  # install leaves them out (npm --omit=dev)
            return {"ran": False, "passed": False,
                    "reason": f"the devDependencies the tests need are not installed: {', '.join(missing)}",
                    "hint": "run the suite in the server's source folder after 'npm install' "
                            "(claudex mcp test PATH --suite)"}
        argv = [npm, "test", "--silent"]
    else:
        venv_python = Path(folder) / ".venv" / "bin" / "python"
        python = str(venv_python) if venv_python.exists() else sys.executable
        try:
            packages = deps.suite_packages(Path(folder), python)
        except ClaudexError as exc:
            return {"ran": False, "passed": False, "reason": exc.message, **({"hint": exc.hint} if exc.hint else {})}
        harness = str(paths.PROJECT_ROOT / "mcp-servers" / "lib" / "claudex-testing")
        argv = [python, "-c", _PYTEST, harness, str(packages), "-q", "tests"]
        env["COLUMNS"] = "200"  # pytest cuts its summary lines (the failures) to the terminal's width
    proc = subprocess.run(argv, cwd=folder, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env)
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    counts = {l.split()[1]: l.split()[2] for l in lines if l.startswith(("# ", "ℹ ")) and len(l.split()) == 3}
    if "pass" in counts and "fail" in counts:  # node's test runner (TAP, or the spec reporter)
        summary = f"{counts['pass']} passed, {counts['fail']} failed"
    else:
        summary = lines[-1] if lines else proc.stderr.strip()[-300:]
    result = {"ran": True, "passed": proc.returncode == 0, "exitCode": proc.returncode, "summary": summary}
    if proc.returncode != 0:
        result["failures"] = _failures(lines) or [l for l in (proc.stderr or proc.stdout).splitlines() if l.strip()][-10:]
    return result


def _failures(lines: list[str]) -> list[str]:
    """The failed tests and why: pytest's short summary (its FAILED and ERROR lines), node's test
    runner (TAP: `not ok`, with the `error:` of its YAML block; the spec reporter: its ✖ lines)."""
    found = []
    for i, line in enumerate(lines):
        text = line.strip()
        if line.startswith(("FAILED ", "ERROR ")) or (text.startswith("✖ ") and text != "✖ failing tests:"):
            found.append(text)
        elif text.startswith("not ok "):
            found.append(text + _tap_error(lines[i + 1:]))
    return list(dict.fromkeys(found))[:SUITE_FAILURES]


def _tap_error(block: list[str]) -> str:
    """': <the error>' from the YAML block after a TAP `not ok` line, '' when it has none."""
    for j, line in enumerate(block):
        text = line.strip()
        if text == "..." or text.startswith(("ok ", "not ok ", "# Subtest")):
            return ""
        if text.startswith("error:"):
            value = text.removeprefix("error:").strip()
            if value in ("|", "|-", ">", ">-"):  # a block scalar: the lines indented deeper
                depth = len(line) - len(line.lstrip())
                body = []
                for more in block[j + 1:]:
                    if more.strip() and len(more) - len(more.lstrip()) <= depth:
                        break
                    body.append(more.strip())
                value = " ".join(b for b in body if b)
            return f": {value[:500]}"
    return ""

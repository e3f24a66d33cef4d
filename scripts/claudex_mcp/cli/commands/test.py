"""Start a server exactly as a client would and hold a real MCP session with it.

A registry server starts through the launcher ('claudex mcp run'); a server folder starts from
its manifest; a remote server is reached at its URL. The session: initialize, tools/list (and
prompts/list and resources/list for the capabilities the manifest declares), ping, shutdown.
Reports name, version, protocol, latency and tools, or the cause of the failure: missing env,
command not found, crash on start (with the stderr tail), timeout, a non-MCP answer, a declared
capability that is not served, an invalid tool input schema. --suite also runs the server's own
tests. Exit 0 healthy, 1 unhealthy.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from .. import common

EXAMPLES = (
    "claudex mcp test codex",
    "claudex mcp test ./my-server --suite",
    "claudex mcp test qdrant --json --jq .tools",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("target", metavar="SERVER|PATH", help="a server in the registry, or a server folder")
    p.add_argument("--timeout", type=float, help="seconds to wait (default: healthCheck.timeout, else 10)")
    p.add_argument("--suite", action="store_true", help="also run the server's own tests (its tests/ folder)")
    common.add_project(p)
    common.add_json(p)
    return p


def _folder_entry(folder: Path) -> dict:
    from ... import index, validation
    from ...errors import InvalidInput

    problems = validation.validate_folder(folder)
    if problems:
        raise InvalidInput(f"{folder} is not a valid server: {problems[0]['pointer']}: {problems[0]['message']}",
                           path=str(folder), hint=f"run 'claudex mcp validate {folder}'", code="invalid_server")
    entry = index.scan_server(folder.resolve(), "installed", None)
    # A folder outside the registry may be named anything (validate and install accept it); only
    # inside the registry must the folder's name be metadata.name.
    other = [p for p in entry["problems"] if p.get("rule") != "folder-name"]
    if other:
        raise InvalidInput(f"{folder} is not a valid server: {other[0]['message']}", path=str(folder),
                           hint=f"run 'claudex mcp validate {folder}'", code="invalid_server")
    if "manifest" not in entry:
        from ... import jsonio

        manifest = jsonio.load(folder / validation.MANIFEST)
        entry.update(valid=True, manifest=manifest, problems=[])
    entry["name"] = entry["manifest"]["metadata"]["name"]
    return entry


def _run_folder(entry: dict, timeout: float | None) -> dict:
    """A server that is not in the registry: started from its manifest, stderr captured."""
    import tempfile

    from ... import checks, expand, health
    from ...errors import ClaudexError

    server = entry["manifest"]["server"]
    result = {"name": entry["name"], "version": entry["version"], "folder": entry["folder"]}
    if server.get("transport", "stdio") != "stdio":
        try:
            report = checks._remote(entry, {"headers": server.get("headers", {})}, dict(os.environ),
                                    timeout or checks.DEFAULT_TIMEOUT)
        except ClaudexError as exc:
            return dict(result, state="unhealthy", cause=exc.code, error=exc.message, hint=exc.hint)
        return dict(result, state="healthy", **_summary(report))
    scope = dict(os.environ, SERVER_DIR=entry["folder"])
    env = dict(os.environ, **{k: expand.expand(v, scope) for k, v in server.get("env", {}).items()},
               SERVER_DIR=entry["folder"])
    argv = [expand.expand(server["command"], scope)] + [expand.expand(a, scope) for a in server.get("args", [])]
    venv_python = str(Path(entry["folder"]) / ".venv" / "bin" / "python")
    if argv[0].startswith(venv_python) and not Path(argv[0]).exists():
        # Not installed yet, so no venv: run it with claudex's own Python, which has the mcp SDK.
        argv[0] = sys.executable
        result["note"] = "the folder has no .venv yet (install creates it): ran with claudex's Python"
    with tempfile.NamedTemporaryFile("w+", suffix=".log") as err:
        try:
            report = health.probe(argv, env, entry["folder"], timeout or float(
                entry["manifest"].get("healthCheck", {}).get("timeout", checks.DEFAULT_TIMEOUT)),
                server.get("capabilities", []), err.name, label=entry["name"])
        except ClaudexError as exc:
            err.seek(0)
            return dict(result, state="unhealthy", cause=exc.code, error=exc.message, hint=exc.hint,
                        stderr=[l for l in err.read().splitlines() if l.strip()][-10:])
    return dict(result, state="healthy", **_summary(report))


def _summary(report: dict) -> dict:
    return {"latencyMs": report["latencyMs"], "protocolVersion": report["protocolVersion"],
            "serverInfo": {"name": report["server"], "version": report["version"]},
            "tools": report["tools"], "prompts": report["prompts"], "resources": report["resources"]}


def _suite(folder: str) -> dict:
    """The server's own tests: `npm test` for a Node package with a test script, else pytest in
    its venv (or claudex's Python), with the shared harness (claudex_testing) importable."""
    import json
    import shutil

    from ... import paths

    tests = Path(folder) / "tests"
    if not tests.is_dir():
        return {"ran": False, "reason": "the server has no tests/ folder"}
    package = Path(folder) / "package.json"
    try:
        scripts = json.loads(package.read_text(encoding="utf-8")).get("scripts", {}) if package.is_file() else {}
    except (OSError, ValueError, AttributeError):
        scripts = {}
    env = dict(os.environ)
    if isinstance(scripts, dict) and "test" in scripts:
        npm = shutil.which("npm")
        if npm is None:
            return {"ran": False, "passed": False, "reason": "npm is not installed, so npm test cannot run"}
        if not (Path(folder) / "node_modules").is_dir():
            return {"ran": False, "passed": False, "reason": "run 'npm install' in the folder first"}
        argv = [npm, "test", "--silent"]
    else:
        python = Path(folder) / ".venv" / "bin" / "python"
        argv = [str(python) if python.exists() else sys.executable, "-m", "pytest", "-q", "tests"]
        harness = str(paths.PROJECT_ROOT / "mcp-servers" / "lib" / "claudex-testing")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (harness, env.get("PYTHONPATH")) if p)
    proc = subprocess.run(argv, cwd=folder, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env)
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    counts = {l.split()[1]: l.split()[2] for l in lines if l.startswith("# ") and len(l.split()) == 3}
    if "pass" in counts and "fail" in counts:  # node's test runner (TAP)
        summary = f"{counts['pass']} passed, {counts['fail']} failed"
    else:
        summary = lines[-1] if lines else proc.stderr.strip()[-300:]
    return {"ran": True, "passed": proc.returncode == 0, "exitCode": proc.returncode, "summary": summary}


def action(args: argparse.Namespace) -> int:
    from ... import checks, config, project

    target = Path(args.target)
    if "/" in args.target or args.target.startswith(".") or (target.is_dir() and (target / "manifest.json").exists()):
        entry = _folder_entry(target)
        result = _run_folder(entry, args.timeout)
    else:
        registry, index = common.registry_index()
        entry = common.valid_server_entry(index, args.target)
        layers = config.Layers(registry, project.resolve(args.project, args.project_dir))
        result = checks.check(entry, layers, dict(os.environ), args.timeout)
        if "toolNames" in result:
            result["tools"] = result.pop("toolNames")
    if args.suite:
        result["suite"] = _suite(entry["folder"])
    healthy = result["state"] in ("healthy", "degraded") and result.get("suite", {}).get("passed", True) is not False
    if args.json:
        common.write_json(result)
    else:
        _print(result)
    return 0 if healthy else 1


def _print(r: dict) -> None:
    if r["state"] in ("healthy", "degraded"):
        info = r.get("serverInfo", {})
        state = common.paint(r["state"], "32" if r["state"] == "healthy" else "33")
        print(f"{state}  {r['name']}: {info.get('name')} {info.get('version')}, "
              f"protocol {r.get('protocolVersion')}, {r['latencyMs']:.0f} ms")
        print(f"  tools: {', '.join(r['tools']) or '-'}")
        if r["state"] == "degraded":
            print(common.paint(f"  degraded: {r['error']}", "33"))
    else:
        print(f"{common.paint(r['state'], '31')}  {r['name']}: {r.get('error')}")
        if r.get("hint"):
            print(f"  hint: {r['hint']}")
        for line in r.get("stderr", []):
            print(f"  | {line}")
    suite = r.get("suite")
    if suite:
        print(f"  suite: {suite.get('summary') or suite.get('reason')}")


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp test") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)

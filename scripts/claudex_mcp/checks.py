"""Health of servers as clients see them: each one started through the launcher (or reached
at its URL) for a real MCP session; many at once with bounded concurrency, per-server timeouts
and results kept for the manifest's healthCheck.interval."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from . import atomic, config, effective, launcher, paths
from .errors import ClaudexError

DEFAULT_TIMEOUT = 10.0
DEFAULT_INTERVAL = 30.0
MAX_PARALLEL = 8
# How often a progress report hears that checks are still running (its clock moves on).
TICK = 0.25


def _results_file() -> Path:
    return paths.cache_home() / "claudex" / "mcp-status.json"


def results_file() -> Path:
    """Where check_all keeps its results (read by `info` and shell completion)."""
    return _results_file()


def log_tail(name: str, lines: int = 20) -> list[str]:
    try:
        with open(launcher.log_file(name), "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def last_error(name: str) -> str | None:
    """The last line of the server's latest run (since the launcher's last `--- ... ---` start
    line) that reads like an error; an earlier run's errors are history."""
    for line in reversed(log_tail(name, 200)):
        if line.startswith("--- "):
            return None
        if any(word in line.lower() for word in ("error", "exception", "traceback", "fatal", "failed")):
            return line.strip()
    return None


def run_record(name: str) -> dict:
    try:
        record = json.loads(launcher.run_record_file(name).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def live_pid(record: dict) -> int | None:
    """The recorded pid, when that process still runs and is still the recorded server (same
    executable: a pid is reused once its process is gone); else None."""
    pid = record.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return None
    except (OSError, IndexError):
        return None
    command = record.get("command")
    if not isinstance(command, str) or os.path.realpath(command) != os.path.realpath(exe):
        return None
    return pid


def _started(result: dict, name: str) -> dict:
    """lastStart (when a client last started it) and pid (only while that process runs)."""
    record = run_record(name)
    result.pop("pid", None)
    if record:
        result["lastStart"] = record.get("startedAt")
        pid = live_pid(record)
        if pid is not None:
            result["pid"] = pid
    return result


def _health(entry: dict) -> dict:
    return entry["manifest"].get("healthCheck", {})


def check(entry: dict, layers: config.Layers, environ: dict, timeout: float | None = None,
          quick: bool = False) -> dict:
    """One registry server's state as its clients would start it: healthy, degraded, unhealthy,
    disabled or missing env, with the details.

    By default (`test`) the server is started as clients start it, `claudex mcp run NAME`, for a
    session through the SDK. ``quick`` (`status`) starts what that launcher would exec, with the
    environment and folder it would give (launcher.prepare, the same code), after checking what
    it would refuse, and talks to it with stdio_probe: one Python start-up and the SDK's import
    fewer per check."""
    name = entry["name"]
    merged, _ = config.merge(layers.sources(entry))
    result: dict = {"name": name, "location": entry["location"], "version": entry["version"],
                    "transport": entry["manifest"]["server"].get("transport", "stdio")}
    _started(result, name)
    result["lastError"] = last_error(name)
    if not merged.get("enabled"):
        return dict(result, state="disabled")

    def start():
        if result["transport"] != "stdio":
            return None, None
        env = dict(environ, CLAUDEX_MCP_REGISTRY=str(layers.registry))
        if quick:
            launcher.refusal(name, layers)
        launch = launcher.prepare(entry, layers, env)  # missing env and a missing command, said plainly
        if quick:
            return (launch.argv, launch.env, launch.cwd), launch
        return (effective.run_argv(name, layers.project), dict(env, CLAUDEX_MCP_PROBE="1"), None), launch

    # Through the launcher the server's stderr goes to its log (read once its writer is done);
    # started directly, to the probe's own file.
    tail = (lambda: []) if quick else (lambda: launcher.settled_log(name) or log_tail(name, 10))
    return _session(entry, result, start, merged, environ, timeout, tail, quick)


def check_folder(entry: dict, environ: dict, timeout: float | None = None) -> dict:
    """A server folder outside the registry, started from its manifest (what `test ./folder`
    does), through the same session and report as a registry server."""
    server = entry["manifest"]["server"]
    result: dict = {"name": entry["name"], "version": entry["version"], "folder": entry["folder"],
                    "transport": server.get("transport", "stdio")}

    def start():
        if result["transport"] != "stdio":
            return None, None
        argv, env = launcher.start_command(entry["folder"], server["command"], server.get("args"),
                                           server.get("env"), environ)
        venv_python = str(Path(entry["folder"]) / ".venv" / "bin" / "python")
        if argv[0].startswith(venv_python) and not Path(argv[0]).exists():
            # Not installed yet, so no venv: run it with claudex's own Python, which has the mcp SDK.
            import sys

            argv[0] = sys.executable
            result["note"] = "the folder has no .venv yet (install creates it): ran with claudex's Python"
        return (argv, env, entry["folder"]), launcher.Launch(entry["name"], argv, env, entry["folder"], Path(os.devnull))

    return _session(entry, result, start, {"headers": server.get("headers", {})}, environ, timeout, lambda: [])


def _session(entry: dict, result: dict, start, merged: dict, environ: dict, timeout: float | None, fallback_log,
             quick: bool = False) -> dict:
    """The one check `status` and `test` share: an MCP session (stdio through ``start()``, or at
    the URL), a failure turned into its cause, and the self-check that can make it degraded.
    The self-check runs beside the session, so it adds nothing to the wait when it is quicker."""
    from concurrent.futures import ThreadPoolExecutor

    timeout = timeout or float(_health(entry).get("timeout", DEFAULT_TIMEOUT))
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as beside:
        problem = None
        try:
            how, launch = start()
            if launch is not None and _health(entry).get("command"):
                problem = beside.submit(self_check, entry, launch, timeout)
            report = _probe(entry, result, how, merged, environ, timeout, fallback_log, quick)
        except ClaudexError as exc:
            state = "missing env" if exc.code == "missing_env" else "unhealthy"
            return dict(result, state=state, cause=exc.code, error=exc.message, hint=exc.hint,
                        seconds=round(time.perf_counter() - started, 2))
        problem = problem.result() if problem is not None else None
    result.update(state="healthy", latencyMs=report["latencyMs"], tools=len(report["tools"]),
                  toolNames=report["tools"], toolDescriptions=report.get("toolDescriptions", {}),
                  protocolVersion=report["protocolVersion"],
                  serverInfo={"name": report["server"], "version": report["version"]},
                  prompts=report["prompts"], resources=report["resources"])
    if problem:
        result.update(state="degraded", cause="self_check", error=problem[0], hint=problem[1])
    return result


def _probe(entry: dict, result: dict, how, merged: dict, environ: dict, timeout: float, fallback_log,
           quick: bool) -> dict:
    """The MCP session itself: at the URL (``how`` None), else the stdio command ``how``
    (through stdio_probe when ``quick``, else the SDK)."""
    from . import health

    if how is None:
        return _remote(entry, merged, environ, timeout)
    argv, env, cwd = how
    if quick:
        from . import stdio_probe as prober
    else:
        prober = health
    with tempfile.NamedTemporaryFile("w+", prefix="claudex-probe-", suffix=".log") as err:
        try:
            return prober.probe(argv, env, cwd, timeout, entry["manifest"]["server"].get("capabilities", []),
                                err.name, label=entry["name"])
        except health.ProbeFailure:
            err.seek(0)
            result["stderr"] = [l for l in err.read().splitlines() if l.strip()][-10:] or fallback_log()
            raise


def run_suite(folder: str) -> dict:
    """The server's own tests: `npm test` for a Node package with a test script, else pytest in
    its venv (or claudex's Python), with the shared harness (claudex_testing) importable."""
    import shutil
    import subprocess
    import sys

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


def self_check(entry: dict, launch: "launcher.Launch", timeout: float) -> tuple[str, str | None] | None:
    """Run the manifest's healthCheck.command like the server (its env, its folder); None when
    it exits 0, else (what is wrong, how to fix it). For what a handshake cannot see (Codex not
    installed, no Docker daemon, an unreachable QDRANT_URL, a provider key missing).

    The shipped servers' `server.py --check` print a JSON report: {"ok", "problems": [...],
    "hint"?}; any other command is read by its exit status and its last line of output."""
    import subprocess

    argv = launcher.expand_in(launch.env["SERVER_DIR"], _health(entry)["command"], launch.env)
    try:
        proc = subprocess.run(argv, cwd=launch.cwd, env=launch.env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"the self-check took longer than {timeout:g} s", "raise healthCheck.timeout, or see the server's log"
    except OSError as exc:
        return f"the self-check could not run: {exc.strerror}", "reinstall the server (claudex mcp upgrade NAME)"
    if proc.returncode == 0:
        return None
    try:
        report = json.loads(proc.stdout)
        problems = report.get("problems")
        if isinstance(problems, list) and problems:
            hint = report.get("hint")
            return "; ".join(str(p) for p in problems), hint if isinstance(hint, str) else None
    except (ValueError, AttributeError):
        pass
    lines = [l for l in (proc.stdout + proc.stderr).splitlines() if l.strip()]
    return (lines[-1] if lines else f"the self-check exited {proc.returncode}"), None


def _remote(entry: dict, merged: dict, environ: dict, timeout: float) -> dict:
    """GET healthCheck.endpoint (when there is one), then an MCP session at the URL."""
    from . import expand, health
    from .errors import ExternalFailure

    server = entry["manifest"]["server"]
    url = expand.expand(server["url"], environ)
    headers = {k: expand.expand(v, environ) for k, v in (merged.get("headers") or {}).items()}
    endpoint = _health(entry).get("endpoint")
    if endpoint:
        import requests
        from urllib.parse import urljoin

        target = endpoint if endpoint.startswith("http") else urljoin(url, endpoint)
        try:
            answer = requests.get(target, headers=headers, timeout=timeout)
        except requests.RequestException as exc:
            raise ExternalFailure(f"health endpoint {target} unreachable: {type(exc).__name__}",
                                  code="unreachable") from None
        if answer.status_code >= 400:
            raise ExternalFailure(f"health endpoint {target} answered HTTP {answer.status_code}", code="http_error")
    return health.probe([], timeout=timeout, declared=server.get("capabilities", []), url=url, headers=headers,
                        label=entry["name"])


def _key(entry: dict, layers: config.Layers, environ: dict) -> str:
    """What a kept result depends on: the manifest, the merged config, the project, and the
    variables the manifest names (digested: the cache file must not hold a secret), so that
    exporting a missing key is seen at once."""
    import hashlib

    merged, _ = config.merge(layers.sources(entry))
    server = entry["manifest"].get("server", {})
    names = sorted({(v.get("name") if isinstance(v, dict) else v) for v in
                    (server.get("requiredEnv") or []) + (server.get("optionalEnv") or [])} - {None}, key=str)
    variables = hashlib.sha256(json.dumps([[n, environ.get(n)] for n in names if isinstance(n, str)]).encode()).hexdigest()
    return json.dumps([entry.get("manifestDigest"), merged, str(layers.project.dir) if layers.project else None,
                       variables], sort_keys=True, default=str)


def check_all(entries: list[dict], layers: config.Layers, environ: dict, refresh: bool = False,
              timeout: float | None = None, report=None) -> list[dict]:
    """Every entry checked at once (at most MAX_PARALLEL at a time), reusing a result younger
    than the server's healthCheck.interval unless ``refresh``. ``report(step, detail)`` hears
    which servers are still being checked: when the checks begin, when one ends, and every
    TICK seconds in between (a terminal's progress line keeps its clock running)."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    try:
        kept = {} if refresh else json.loads(_results_file().read_text())
    except (OSError, ValueError):
        kept = {}
    now = time.time()
    results: dict[str, dict] = {}
    todo = []
    for entry in entries:
        old = kept.get(entry["name"]) if isinstance(kept, dict) else None
        interval = float(_health(entry).get("interval", DEFAULT_INTERVAL))
        if old and old.get("key") == _key(entry, layers, environ) and 0 <= now - old.get("at", 0) < interval:
            # The health is the kept one, said so with its age; the process facts are read now.
            results[entry["name"]] = _started(dict(old["result"], cached=True, checkedAt=old["at"],
                                                   ageSeconds=round(now - old["at"], 1)), entry["name"])
        else:
            todo.append(entry)
    if todo:
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(todo))) as pool:
            try:
                running = {pool.submit(check, e, layers, environ, timeout, quick=True): e for e in todo}
                while running:
                    if report is not None:
                        report("checking", f"{len(todo) - len(running)}/{len(todo)} done, waiting for "
                                           + ", ".join(sorted(e["name"] for e in running.values())))
                    done, _ = wait(running, timeout=TICK if report is not None else None, return_when=FIRST_COMPLETED)
                    for future in done:
                        entry = running.pop(future)
                        results[entry["name"]] = future.result()
                        kept[entry["name"]] = {"at": now, "key": _key(entry, layers, environ),
                                               "result": results[entry["name"]]}
            except KeyboardInterrupt:  # end the servers being checked, so that no probe waits out its timeout
                from . import stdio_probe

                pool.shutdown(wait=False, cancel_futures=True)
                stdio_probe.stop_all()
                raise
        try:
            _results_file().parent.mkdir(parents=True, exist_ok=True)
            atomic.write_json(_results_file(), kept)
        except OSError:
            pass
    return [results[e["name"]] for e in entries]


def status(index: dict, layers: config.Layers, environ: dict, server: str | None = None, show_all: bool = False,
           refresh: bool = False, timeout: float | None = None, report=None) -> list[dict]:
    """The rows of `claudex mcp status`: every server of the index (or ``server``) checked,
    invalid ones and those the config names but the registry lacks said so; disabled ones only
    with ``show_all`` (or when asked for by name)."""
    from .index import server_entry

    if server:
        entries = [server_entry(index, server)]
    else:
        entries = [e for k, e in sorted(index["servers"].items()) if "/" not in k]
    results = check_all([e for e in entries if e.get("valid")], layers, environ, refresh=refresh, timeout=timeout,
                        report=report)
    results += [{"name": e["name"], "location": e["location"], "state": "invalid",
                 "error": e["problems"][0]["message"] if e["problems"] else "invalid"} for e in entries if not e.get("valid")]
    if not server:
        known = {e["name"] for e in entries}
        results += [{"name": n, "state": "not installed", "error": "named in the config, not in the registry"}
                    for n in sorted(layers.configured_servers() - known)]
        if not show_all:
            results = [r for r in results if r["state"] != "disabled"]
    return sorted(results, key=lambda r: r["name"])

"""Health of servers as clients see them: each one started through the launcher (or reached
at its URL) for a real MCP session; many at once with bounded concurrency, per-server timeouts
and results kept for the manifest's healthCheck.interval."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from claudex_mcp import cachedir, jsonio
from claudex_mcp.settings import config, effective
from claudex_mcp.runtime import launcher
from claudex_mcp.errors import ClaudexError

DEFAULT_TIMEOUT = 10.0
DEFAULT_INTERVAL = 30.0
MAX_PARALLEL = 8
# How often a progress report hears that checks are still running (its clock moves on).
TICK = 0.25


# The results file's format. A file without it is discarded whole: its keys held the merged
# config in plain text, secrets included.
RESULTS_FORMAT = 2


def kept_results() -> dict:
    """The results check_all keeps (cachedir.STATUS), by server name: {"at", "key", "result"}.
    Empty when the file is missing, corrupt, of another format or unusable (cachedir.read_json);
    an entry of the wrong shape is left out. Read by `status`, `info` and shell completion."""
    doc = cachedir.read_json(cachedir.STATUS)
    if not isinstance(doc, dict) or doc.get("format") != RESULTS_FORMAT or not isinstance(doc.get("servers"), dict):
        return {}
    return {name: kept for name, kept in doc["servers"].items()
            if isinstance(kept, dict) and isinstance(kept.get("key"), str) and isinstance(kept.get("result"), dict)
            and isinstance(kept.get("at"), (int, float)) and not isinstance(kept.get("at"), bool)}


def log_tail(name: str, lines: int = 20) -> list[str]:
    try:
        # Not through a link, never blocking on a FIFO, the last 64 KiB of a huge file only.
        text = jsonio.read_bytes(launcher.log_file(name), limit=64 * 1024, follow_symlinks=False,
                                 tail=True).decode("utf-8", "replace")
    except (OSError, ClaudexError):
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
    return launcher.read_run_record(name)


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
    it would refuse, and talks to it with quick_probe: one Python start-up and the SDK's import
    fewer per check."""
    name = entry["name"]
    merged, _ = config.merge(layers.sources(entry))
    result: dict = {"name": name, "location": entry["location"], "version": entry["version"],
                    "transport": entry["manifest"]["server"].get("transport", "stdio")}
    if result["transport"] == "stdio" and merged.get("shared") is True:
        result["shared"] = True  # its clients reach one process through the gateway (its pid below)
    _started(result, name)
    result["lastError"] = last_error(name)
    if not merged.get("enabled"):
        return scrub(dict(result, state="disabled"), secret_values(entry, merged, environ))  # its lastError

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
    return _session(entry, result, start, merged, layers, environ, timeout, tail, quick)


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

    return _session(entry, result, start, {"headers": server.get("headers", {}), "env": server.get("env", {})}, None,
                    environ, timeout, lambda: [])


def _session(entry: dict, result: dict, start, merged: dict, layers: config.Layers | None, environ: dict,
             timeout: float | None, fallback_log, quick: bool = False) -> dict:
    """The one check `status` and `test` share: an MCP session (stdio through ``start()``, or at
    the URL), a failure turned into its cause, and the self-check that can make it degraded.
    The self-check runs beside the session, so it adds nothing to the wait when it is quicker.
    What the server said (its stderr, an error, its tools) is scrubbed of secret values: the
    result is shown, and kept in the cache."""
    found = _session_result(entry, result, start, layers, environ, timeout, fallback_log, quick)
    return scrub(found, secret_values(entry, merged, environ))


def secret_values(entry: dict, merged: dict, environ: dict) -> list[str]:
    """The values a check's result must not carry: the literal secrets of the server's config
    (as written and as expanded), the values of the server's own secret variables (those it
    declares, unless "secret": false, or refers to under a secret name: API_KEY, DB_PASSWORD...),
    and those of the other variables of the environment (the server inherits them all) that have
    a secret's name and shape (sk-..., ghp_..., a long random string). Longest first; paths and
    values too short to be a credential are left out, so that a folder or a word is not masked."""
    from claudex_mcp import expand
    from claudex_mcp import secrets

    declared = config.secret_names(entry)
    found = set()
    for key in ("env", "args", "headers", "settings"):
        for path in secrets.secret_pointers(merged.get(key), (key,), declared):
            value = merged
            for part in path:
                value = value[part]
            found |= {value, expand.expand(value, environ)}
    for name, value in (merged.get("env") or {}).items():
        if isinstance(value, str) and (name in declared or secrets.secret_name(name)):
            found.add(expand.expand(value, environ))
    own = declared | expand.references([merged.get("env"), merged.get("args"), merged.get("headers")])
    for name, value in environ.items():
        named = name in declared or secrets.secret_name(name)
        if named and (name in own or secrets.secret_shape(value)) and not value.startswith("/"):
            found.add(value)
    return sorted((v for v in found if isinstance(v, str) and len(v.strip()) >= MIN_SECRET), key=len, reverse=True)


MIN_SECRET = 6  # shorter values are not masked in what servers say (a flag, a word, a port)


def scrub(value, found: list[str]):
    """``value`` (a result: strings, lists, objects) with each of ``found`` masked in its
    strings, and the password of every URL in them."""
    from claudex_mcp import secrets

    if isinstance(value, str):
        for secret in found:
            if secret in value:
                value = value.replace(secret, secrets.MASK)
        return secrets.redact_url(value) if "://" in value else value
    if isinstance(value, list):
        return [scrub(v, found) for v in value]
    if isinstance(value, dict):
        return {k: scrub(v, found) for k, v in value.items()}
    return value


def _session_result(entry: dict, result: dict, start, layers: config.Layers | None, environ: dict,
                    timeout: float | None, fallback_log, quick: bool) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    timeout = timeout or float(_health(entry).get("timeout", DEFAULT_TIMEOUT))
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as beside:
        problem = None
        try:
            how, launch = start()
            if launch is not None and _health(entry).get("command"):
                problem = beside.submit(self_check, entry, launch, timeout)
            report = _probe(entry, result, how, layers, environ, timeout, fallback_log, quick)
        except ClaudexError as exc:
            state = "missing env" if exc.code == "missing_env" else "unhealthy"
            hint = exc.hint
            if exc.code == "timeout":
                from claudex_mcp.runtime.runners import first_download_hint

                hint = first_download_hint(entry["manifest"]["server"]) or hint
            return dict(result, state=state, cause=exc.code, error=exc.message, hint=hint,
                        seconds=round(time.perf_counter() - started, 2))
        problem = problem.result() if problem is not None else None
    result.update(state="healthy", latencyMs=report["latencyMs"], tools=len(report["tools"]),
                  toolNames=report["tools"], toolDescriptions=report.get("toolDescriptions", {}),
                  toolSchemas=report.get("toolSchemas", {}),
                  protocolVersion=report["protocolVersion"],
                  serverInfo={"name": report["server"], "version": report["version"]},
                  prompts=report["prompts"], resources=report["resources"])
    if problem:
        result.update(state="degraded", cause="self_check", error=problem[0], hint=problem[1])
    return result


def _probe(entry: dict, result: dict, how, layers: config.Layers | None, environ: dict, timeout: float, fallback_log,
           quick: bool) -> dict:
    """The MCP session itself: at the URL (``how`` None), else the stdio command ``how``
    (through quick_probe when ``quick``, else the SDK)."""
    from claudex_mcp.runtime import sdk_probe

    if how is None:
        return _remote(entry, layers, environ, timeout)
    argv, env, cwd = how
    if quick:
        from claudex_mcp.runtime import quick_probe as prober
    else:
        prober = sdk_probe
    with tempfile.NamedTemporaryFile("w+", prefix="claudex-probe-", suffix=".log") as err:
        try:
            return prober.probe(argv, env, cwd, timeout, entry["manifest"]["server"].get("capabilities", []),
                                err.name, label=entry["name"])
        except sdk_probe.ProbeFailure:
            err.seek(0)
            result["stderr"] = [l for l in err.read().splitlines() if l.strip()][-10:] or fallback_log()
            raise


def self_check(entry: dict, launch: "launcher.Launch", timeout: float) -> tuple[str, str | None] | None:
    """Run the manifest's healthCheck.command like the server (its env, its folder); None when
    it exits 0, else (what is wrong, how to fix it). For what a handshake cannot see (Codex not
    installed, no Docker daemon, an unreachable QDRANT_URL, a provider key missing).

    The shipped servers' `server.py --check` print a JSON report: {"ok", "problems": [...],
    "hint"?}; any other command is read by its exit status and its last line of output."""
    import subprocess

    argv = launcher.expand_in(launch.env["SERVER_DIR"], _health(entry)["command"], launch.env)
    venv_python = str(Path(launch.env["SERVER_DIR"]) / ".venv" / "bin" / "python")
    if argv and argv[0].startswith(venv_python) and not Path(argv[0]).exists():
        import sys

        argv[0] = sys.executable  # a folder not installed yet has no venv: claudex's Python, as check_folder
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


def _remote(entry: dict, layers: config.Layers | None, environ: dict, timeout: float) -> dict:
    """GET healthCheck.endpoint (when there is one), then an MCP session at the URL."""
    from claudex_mcp import expand
    from claudex_mcp.runtime import sdk_probe
    from claudex_mcp.errors import ExternalFailure

    server = entry["manifest"]["server"]
    if layers is None:  # a folder outside the registry: its manifest and the environment
        url = expand.expand(server["url"], environ)
        headers = {k: expand.expand(v, environ) for k, v in (server.get("headers") or {}).items()}
    else:
        url, headers = launcher.remote(entry, layers, environ)
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
    return sdk_probe.probe([], timeout=timeout, declared=server.get("capabilities", []), url=url, headers=headers,
                        label=entry["name"])


# What a server's kept result also depends on, in its folder (besides the files its command
# names): the manifest (a reinstall or upgrade renames a new folder in, so every inode changes),
# what its environment is built from, and the environment (a venv made or remade, node packages).
# Not the folder's own mtime: a server that writes a file beside itself at each start would
# never have a result kept.
SERVER_FILES = ("manifest.json", "pyproject.toml", "requirements.txt", "package.json", "node_modules",
                ".venv", ".venv/pyvenv.cfg", ".venv/bin/python")


def _stat(path: str) -> list | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _shared_fingerprint(layers: config.Layers) -> list:
    """What every server's kept result depends on: claudex's version, each config layer file
    (global, project, user) as it is on disk, which of them is broken, the project and whether it
    is trusted. A change to any layer file, even one that leaves a server's merged config as it
    was (a typo that breaks the file), checks every server again."""
    from claudex_mcp import __version__

    return [RESULTS_FORMAT, __version__, [[name, str(path), _stat(path)] for name, path, _ in layers.files],
            sorted(p["file"] for p in layers.problems), layers.trusted,
            str(layers.project.dir) if layers.project else None]


def _key(entry: dict, layers: config.Layers, environ: dict, shared: list, secret: bytes) -> str:
    """What a kept result depends on, as a keyed digest: the shared fingerprint, the manifest
    (digest) and the server's files (stat: size, mtime_ns, ctime_ns, inode), the merged config,
    and the values of the variables the server declares or refers to, so that exporting a
    missing key is seen at once. HMAC-SHA256 with ``secret``, a random key of this user's cache
    (cachedir.STATUS_KEY), so that the results file holds no value of the config or the
    environment, and a short secret cannot be guessed from its digest without that key."""
    import hashlib
    import hmac

    from claudex_mcp import expand

    merged, _ = config.merge(layers.sources(entry))
    server = entry["manifest"].get("server", {})
    folder = entry["folder"]
    named = [v for v in [server.get("command"), *(merged.get("args") or [])]
             if isinstance(v, str) and v.startswith("${SERVER_DIR}/")]
    files = [os.path.join(folder, f) for f in SERVER_FILES] + [folder + v[len("${SERVER_DIR}"):] for v in named]
    names = {(v.get("name") if isinstance(v, dict) else v) for v in
             (server.get("requiredEnv") or []) + (server.get("optionalEnv") or [])}
    names |= expand.references([server.get("command"), server.get("url"), server.get("cwd"), merged.get("args"),
                                merged.get("env"), merged.get("headers"), _health(entry).get("command")])
    variables = [[n, environ.get(n)] for n in sorted(n for n in names if isinstance(n, str) and n != "SERVER_DIR")]
    material = [shared, entry.get("manifestDigest"), entry.get("installedAt"), entry.get("updatedAt"),
                [_stat(f) for f in files], merged, variables]
    # ensure_ascii: a value that is not UTF-8 (a lone surrogate from the environment) is still encoded.
    data = json.dumps(material, sort_keys=True, default=str).encode("ascii")
    return hmac.new(secret, data, hashlib.sha256).hexdigest()


def _digest_key() -> bytes:
    """The key of the results' digests: random, made once per cache (`cache clear` makes a new
    one, and with it every kept result stale); kept apart from the results, mode 600."""
    found = cachedir.read(cachedir.STATUS_KEY, limit=1024)
    if found is not None and len(found) >= 32:
        return found
    key = os.urandom(32)
    cachedir.write(cachedir.STATUS_KEY, key)
    again = cachedir.read(cachedir.STATUS_KEY, limit=1024)  # two first runs at once: the key that was kept
    return again if again is not None and len(again) >= 32 else key


def kept_result(entry: dict, layers: config.Layers, environ: dict) -> dict | None:
    """The last result check_all kept for ``entry``, with when it was taken (checkedAt,
    ageSeconds), when it still speaks of the server as it is now (its key, _key, holds); else None."""
    old = kept_results().get(entry["name"])
    if old is None or old["key"] != _key(entry, layers, environ, _shared_fingerprint(layers), _digest_key()):
        return None
    return dict(old["result"], cached=True, checkedAt=old["at"], ageSeconds=round(time.time() - old["at"], 1))


def check_all(entries: list[dict], layers: config.Layers, environ: dict, refresh: bool = False,
              timeout: float | None = None, report=None) -> list[dict]:
    """Every entry checked at once (at most MAX_PARALLEL at a time), reusing a result younger
    than the server's healthCheck.interval unless ``refresh`` and while its key (_key) holds.
    ``report(step, detail)`` hears which servers are still being checked: when the checks begin,
    when one ends, and every TICK seconds in between (a terminal's progress line keeps its clock
    running)."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    kept = kept_results()
    secret = _digest_key()
    shared = _shared_fingerprint(layers)
    now = time.time()
    results: dict[str, dict] = {}
    todo = []
    keys = {}
    for entry in entries:
        keys[entry["name"]] = _key(entry, layers, environ, shared, secret)
        old = None if refresh else kept.get(entry["name"])
        interval = float(_health(entry).get("interval", DEFAULT_INTERVAL))
        if old and old["key"] == keys[entry["name"]] and 0 <= now - old["at"] < interval:
            # The health is the kept one, said so with its age; the process facts are read now.
            results[entry["name"]] = _started(dict(old["result"], cached=True, checkedAt=old["at"],
                                                   ageSeconds=round(now - old["at"], 1)), entry["name"])
        else:
            todo.append(entry)
    if todo:
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(todo))) as pool:
            try:
                fresh = {}
                running = {pool.submit(check, e, layers, environ, timeout, quick=True): e for e in todo}
                while running:
                    if report is not None:
                        report("checking", f"{len(todo) - len(running)}/{len(todo)} done, waiting for "
                                           + ", ".join(sorted(e["name"] for e in running.values())))
                    done, _ = wait(running, timeout=TICK if report is not None else None, return_when=FIRST_COMPLETED)
                    for future in done:
                        entry = running.pop(future)
                        results[entry["name"]] = future.result()
                        fresh[entry["name"]] = {"at": now, "key": keys[entry["name"]], "result": results[entry["name"]]}
            except KeyboardInterrupt:  # end the servers being checked, so that no probe waits out its timeout
                from claudex_mcp.runtime import quick_probe

                pool.shutdown(wait=False, cancel_futures=True)
                quick_probe.stop_all()
                raise
        # Read again: what another status or info kept meanwhile stays (fresh results win).
        cachedir.write_json(cachedir.STATUS, {"format": RESULTS_FORMAT, "servers": {**kept_results(), **fresh}})
    return [results[e["name"]] for e in entries]


def status(index: dict, layers: config.Layers, environ: dict, server: str | None = None, show_all: bool = False,
           refresh: bool = False, timeout: float | None = None, report=None) -> list[dict]:
    """The rows of `claudex mcp status`: every server of the index (or ``server``) checked,
    invalid ones and those the config names but the registry lacks said so; disabled ones only
    with ``show_all`` (or when asked for by name)."""
    from claudex_mcp.store.index import server_entry

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

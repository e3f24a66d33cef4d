"""Benchmarks: median wall time of whole commands over repeated runs, written as JSON.

Run with `make bench`. Numbers, not pass/fail: the targets are in targets.json (one place),
checked by `make bench-check` (check.py).
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
from contextlib import asynccontextmanager, contextmanager
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


def make_registry(root: Path, count: int, name: str | None = None, health: dict | None = None) -> Path:
    """A registry with ``count`` small valid servers (with ``health`` as their healthCheck)."""
    registry = root / (name or f"registry-{count}")
    for location in ("core", "installed", "disabled"):
        (registry / location).mkdir(parents=True, exist_ok=True)
    (registry / "registry.json").write_text('{"apiVersion": "v1", "servers": {}}')
    for i in range(count):
        folder = registry / ("core" if i == 0 else "installed") / f"server-{i:03d}"
        folder.mkdir()
        (folder / "server.py").write_text("print('hi')\n")
        doc = {"apiVersion": "v1", "metadata": {"name": folder.name, "version": "1.0.0", "description": "bench"},
               "server": {"command": "python3", "args": ["${SERVER_DIR}/server.py"], "env": {"TOKEN": "${TOKEN}"},
                          "requiredEnv": ["TOKEN"]}}
        if health:
            doc["healthCheck"] = health
        (folder / "manifest.json").write_text(json.dumps(doc))
    return registry


def time_in_process(func, runs: int) -> dict:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {"runs": runs, "median_ms": round(statistics.median(samples), 3),
            "p90_ms": round(samples[int(len(samples) * 0.9) - 1], 3), "min_ms": round(samples[0], 3)}


def cache_lookup(env: dict, registry: Path, runs: int) -> dict:
    sys.path.insert(0, str(ROOT / "scripts"))
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        from claudex_mcp.store import cache

        cache.load(registry)  # warm
        return time_in_process(lambda: cache.load(registry), runs)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def hit_rate(env: dict, registry: Path) -> dict:
    """A scripted session: list, explain, run-like lookups, one config change, more lookups."""
    env = dict(env, CLAUDEX_MCP_REGISTRY=str(registry))
    subprocess.run([CLAUDEX, "mcp", "cache", "clear"], capture_output=True, env=env)
    session = [["mcp", "list"]] * 5 + [["mcp", "config", "explain", "server-001"]] * 5 + \
        [["mcp", "list", "--enabled"]] * 5
    for argv in session:
        subprocess.run([CLAUDEX, *argv], capture_output=True, env=env)
    (registry / "installed" / "server-002" / "manifest.json").touch()  # an edit: the next lookup must miss
    for argv in session:
        subprocess.run([CLAUDEX, *argv], capture_output=True, env=env)
    stats = json.loads(subprocess.run([CLAUDEX, "mcp", "cache", "stats", "--json"], capture_output=True,
                                      env=env, text=True).stdout)
    return {"lookups": stats["hits"] + stats["misses"], "hits": stats["hits"], "misses": stats["misses"],
            "hit_rate": stats["hitRate"]}


def install_times(root: Path, env: dict, runs: int) -> dict:
    """Install then uninstall a small server without dependencies from a local folder."""
    registry = root / "registry-install"
    env = dict(env, CLAUDEX_MCP_REGISTRY=str(registry))
    subprocess.run([CLAUDEX, "mcp", "init"], capture_output=True, env=env, check=True)
    source = root / "small-server"
    source.mkdir()
    (source / "server.py").write_text("print('hi')\n")
    (source / "manifest.json").write_text(json.dumps({
        "apiVersion": "v1", "metadata": {"name": "small", "version": "1.0.0", "description": "bench"},
        "server": {"command": "python3", "args": ["${SERVER_DIR}/server.py"]}}))
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([CLAUDEX, "mcp", "install", str(source)], capture_output=True, env=env, check=True)
        samples.append((time.perf_counter() - start) * 1000)
        subprocess.run([CLAUDEX, "mcp", "uninstall", "small"], capture_output=True, env=env, check=True)
    samples.sort()
    return {"runs": runs, "median_ms": round(statistics.median(samples), 2),
            "p90_ms": round(samples[int(len(samples) * 0.9) - 1], 2), "min_ms": round(samples[0], 2)}


def echo_registry(registry: Path, names: list[str]) -> Path:
    """A registry whose installed servers are copies of the test echo server (a real MCP server)."""
    for location in ("core", "installed", "disabled"):
        (registry / location).mkdir(parents=True)
    (registry / "registry.json").write_text('{"apiVersion": "v1", "servers": {}}')
    echo = (ROOT / "tests" / "servers" / "echo_server.py").read_text()
    for name in names:
        folder = registry / "installed" / name
        folder.mkdir()
        (folder / "server.py").write_text(echo)
        (folder / "manifest.json").write_text(json.dumps({
            "apiVersion": "v1", "metadata": {"name": name, "version": "1.0.0", "description": "bench"},
            "server": {"command": sys.executable, "args": ["${SERVER_DIR}/server.py"]}}))
    return registry


def status_times(root: Path, env: dict, runs: int) -> dict:
    """`claudex mcp status --refresh` over 20 real MCP servers (the test echo server), each
    started through the launcher: bounded by the parallelism, not the sum of start-ups."""
    registry = echo_registry(root / "registry-status", [f"echo-{i:02d}" for i in range(20)])
    result = time_command([CLAUDEX, "mcp", "status", "--refresh"], runs, dict(env, CLAUDEX_MCP_REGISTRY=str(registry)))
    single = time_command([CLAUDEX, "mcp", "test", "echo-00"], runs, dict(env, CLAUDEX_MCP_REGISTRY=str(registry)))
    return dict(result, one_server_test_median_ms=single["median_ms"], servers=20)


def status_cached(root: Path, env: dict, runs: int) -> dict:
    """`claudex mcp status` (no --refresh) over 100 servers whose results are kept: the cost of
    deciding, per server, that its kept result still holds (every config layer, manifest and
    server folder fingerprinted), not of any check. The servers lack a required variable, so
    the first run (which fills the results) starts nothing either."""
    registry = make_registry(root, 100, name="registry-status-100", health={"interval": 3600})
    env = dict(env, CLAUDEX_MCP_REGISTRY=str(registry))
    env.pop("TOKEN", None)
    subprocess.run([CLAUDEX, "mcp", "status"], capture_output=True, env=env)  # fills the results
    return dict(time_command([CLAUDEX, "mcp", "status"], runs, env), servers=100)


CLAUDE_BIN = ROOT / ".tools" / "clients" / "claude-code" / "node_modules" / ".bin" / "claude"
# Variables of a coding client or of a login that must not reach `claude` (tests/integration/clients.py).
_CLIENT_PREFIXES = ("CLAUDE_", "CLAUDECODE", "ANTHROPIC_", "CODEX_", "OPENAI_", "MCP_")


def status_vs_claude(root: Path, env: dict, runs: int) -> dict:
    """`claudex mcp status --refresh` against Claude Code's `claude mcp list` on the same 8 stdio
    servers (the test echo server; Claude Code starts each through `claudex mcp run` from the
    config that `claudex mcp generate` wrote, status starts what that launcher would exec),
    alternated in one run so that both see the same machine. Target (targets.json): status's
    median below claude's. Claude Code is the one the client tests install under .tools/clients
    (or CLAUDEX_CLAUDE_BIN); without it the pair is skipped, saying so."""
    claude = Path(os.environ.get("CLAUDEX_CLAUDE_BIN") or CLAUDE_BIN)
    if not os.access(claude, os.X_OK):
        return {"status_refresh_8": {"skipped": f"no Claude Code at {claude} (the client tests install it, "
                                                "or set CLAUDEX_CLAUDE_BIN)"}}
    home = root / "status-vs-claude"
    registry = echo_registry(home / "registry", [f"echo-{i}" for i in range(8)])
    run_env = {k: v for k, v in env.items() if not k.upper().startswith(_CLIENT_PREFIXES)}
    run_env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), XDG_CONFIG_HOME=str(home / ".config"),
                   CLAUDEX_MCP_REGISTRY=str(registry), NO_COLOR="1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
                   DISABLE_AUTOUPDATER="1", DISABLE_TELEMETRY="1", DISABLE_ERROR_REPORTING="1")
    subprocess.run([CLAUDEX, "mcp", "generate"], capture_output=True, env=run_env, cwd=home, check=True)
    commands = {"status_refresh_8": [CLAUDEX, "mcp", "status", "--refresh"],
                "claude_mcp_list_8": [str(claude), "mcp", "list"]}
    samples: dict[str, list[float]] = {name: [] for name in commands}
    failed = dict.fromkeys(commands, 0)
    for name, argv in commands.items():  # once each first: page cache, Claude Code's first-run files
        subprocess.run(argv, capture_output=True, env=run_env, cwd=home, timeout=120)
    for run in range(runs):
        # ABBA: each goes first as often as the other, so that what one leaves behind (a
        # server still exiting, a warm cache) does not always favour the same side.
        for name, argv in (list(commands.items()) if run % 2 == 0 else list(commands.items())[::-1]):
            start = time.perf_counter()
            proc = subprocess.run(argv, capture_output=True, text=True, env=run_env, cwd=home, timeout=120)
            samples[name].append((time.perf_counter() - start) * 1000)
            # A run in which not every server answered is timed all the same, and counted.
            if (proc.returncode != 0 if name == "status_refresh_8" else proc.stdout.count("Connected") != 8):
                failed[name] += 1
    results = {}
    for name, values in samples.items():
        values.sort()
        results[name] = {"runs": runs, "median_ms": round(statistics.median(values), 2),
                         "p90_ms": round(values[max(0, int(len(values) * 0.9) - 1)], 2), "min_ms": round(values[0], 2),
                         "runs_not_all_connected": failed[name]}
    return results


def create_to_healthy(root: Path, env: dict) -> dict:
    """The plan's "new server creation < 5 minutes": per built-in template, a scripted session
    `create --defaults`, `validate`, `install`, `status` until it says healthy. A fresh HOME, so the
    npm and pip caches start empty (a first server on a new machine)."""
    results = {}
    for template in ("node", "python", "shell"):
        home = root / f"create-{template}"
        home.mkdir()
        run_env = dict(env, HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
                       CLAUDEX_MCP_REGISTRY=str(home / "registry"), npm_config_update_notifier="false")
        subprocess.run([CLAUDEX, "mcp", "init"], capture_output=True, env=run_env, check=True)
        folder = home / f"new-{template}"
        steps, start = {}, time.perf_counter()
        for step, argv in (("create", ["create", folder.name, "--template", template, "--defaults",
                                       "--output", str(folder)]),
                           ("validate", ["validate", str(folder)]), ("install", ["install", str(folder)]),
                           ("status", ["status", "--json", "--refresh"])):
            begun = time.perf_counter()
            proc = subprocess.run([CLAUDEX, "mcp", *argv], capture_output=True, text=True, env=run_env, cwd=home)
            steps[f"{step}_s"] = round(time.perf_counter() - begun, 2)
            if proc.returncode != 0:
                raise SystemExit(f"create_to_healthy {template}: {step} failed: {proc.stderr}")
        states = {s["name"]: s["state"] for s in json.loads(proc.stdout)}
        results[template] = dict(steps, total_s=round(time.perf_counter() - start, 2),
                                 healthy=states.get(folder.name) == "healthy")
    return results


def python_server_install(root: Path, env: dict, runs: int, pip_runs: int) -> dict:
    """A scaffolded Python server (`create --template python --defaults`, which depends on the
    mcp SDK) installed warm: its environment built with uv (the default) and with venv + pip
    (CLAUDEX_MCP_UV=none), alternating in the same run. Warm: each installer ran once before
    (uv's shared cache, pip's HTTP cache), as on a machine that installed a server before."""
    home = root / "python-install"
    home.mkdir()
    env = dict(env, HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), CLAUDEX_MCP_REGISTRY=str(home / "registry"))
    env.pop("UV_CACHE_DIR", None)
    subprocess.run([CLAUDEX, "mcp", "init"], capture_output=True, env=env, check=True)
    folder = home / "scaffolded"
    subprocess.run([CLAUDEX, "mcp", "create", "scaffolded", "--template", "python", "--defaults", "--output",
                    str(folder)], capture_output=True, env=env, check=True, cwd=home)

    def install(installer_env: dict) -> float:
        start = time.perf_counter()
        proc = subprocess.run([CLAUDEX, "mcp", "install", str(folder)], capture_output=True, text=True,
                              env=installer_env)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"python_server_install: install failed: {proc.stderr}")
        subprocess.run([CLAUDEX, "mcp", "uninstall", "scaffolded"], capture_output=True, env=installer_env, check=True)
        staging = home / "registry" / ".staging"
        deadline = time.monotonic() + 120
        while any(staging.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.1)  # the old venv is deleted in the background: a user's next install comes later
        return elapsed

    uv_env, pip_env = dict(env, CLAUDEX_MCP_UV=""), dict(env, CLAUDEX_MCP_UV="none")
    cold = {"uv": install(uv_env), "pip": install(pip_env)}  # first installs: they fill the caches
    samples: dict[str, list[float]] = {"uv": [], "pip": []}
    for i in range(max(runs, pip_runs)):
        if i < runs:
            samples["uv"].append(install(uv_env))
        if i < pip_runs:
            samples["pip"].append(install(pip_env))
    uv_s, pip_s = statistics.median(samples["uv"]), statistics.median(samples["pip"])
    return {"uv_warm_s": round(uv_s, 2), "pip_warm_s": round(pip_s, 2), "uv_cold_s": round(cold["uv"], 2),
            "pip_cold_s": round(cold["pip"], 2), "speedup": round(pip_s / uv_s, 1), "runs": runs,
            "pip_runs": pip_runs}


def fresh_clone_setup(root: Path) -> dict:
    """`make install`, then `make run`, in a fresh clone of this checkout (its working tree), as
    on a machine that set claudex up before: a new HOME, registry and XDG folders, uv's and pip's
    caches warm (the real user's), and its uv (fresh_clone.warm_uv). The documented target is
    their sum, what `make run` takes on a fresh clone. One run each: the figure is tens of seconds."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from claudex_testing import fresh_clone

    clone = fresh_clone.copy_checkout(root / "fresh-clone")
    home = root / "fresh-clone-home"
    home.mkdir()
    uv = fresh_clone.warm_uv(os.environ)  # warm too: a machine that set claudex up has a uv
    env = fresh_clone.environment(os.environ, home, root / "fresh-clone-registry",
                                  fresh_clone.warm_caches(os.environ), uv=uv)
    result = {}
    for target in ("install", "run"):
        start = time.perf_counter()
        proc = subprocess.run(["make", target], cwd=clone, env=env, capture_output=True, text=True, timeout=1800)
        result[f"make_{target}_s"] = round(time.perf_counter() - start, 2)
        if proc.returncode != 0:
            raise SystemExit(f"fresh_clone: make {target} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    result["total_s"] = round(result["make_install_s"] + result["make_run_s"], 2)
    result["uv"] = uv or "none: pip fetched it first"
    return result


def _rss_mb(argv_tail: list[str], registry: Path) -> float | None:
    """The resident memory of the live process whose command line ends with ``argv_tail`` and
    whose environment names ``registry``."""
    tail = "\0".join(argv_tail).encode()
    mine = f"CLAUDEX_MCP_REGISTRY={registry}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read().rstrip(b"\0")
            with open(f"/proc/{entry}/environ", "rb") as fh:
                environ = fh.read().split(b"\0")
            if cmdline.endswith(tail) and mine in environ:
                with open(f"/proc/{entry}/status") as fh:
                    for line in fh:
                        if line.startswith("VmRSS:"):
                            return round(int(line.split()[1]) / 1024, 1)
        except OSError:
            continue
    return None


def gateway_figures(root: Path, env: dict, calls: int) -> dict:
    """The gateway against a direct stdio session to the same server (tests/servers/echo_server.py),
    in one run: per-call p50 of each and the difference; the bridge's memory; two agents making
    ``calls`` interleaved calls through one shared process (errors, processes)."""
    import anyio
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    registry = echo_registry(root / "registry-gateway", ["echo"])
    manifest_file = registry / "installed" / "echo" / "manifest.json"
    doc = json.loads(manifest_file.read_text())
    doc["server"]["shared"] = True
    manifest_file.write_text(json.dumps(doc))
    runtime = tempfile.mkdtemp(prefix="gw", dir="/tmp")
    genv = dict(env, CLAUDEX_MCP_REGISTRY=str(registry), XDG_RUNTIME_DIR=runtime,
                XDG_STATE_HOME=str(root / "state-gateway"))

    async def session(args: list[str], talk):
        params = StdioServerParameters(command=CLAUDEX, args=["mcp", "run", "echo", *args], env=genv, cwd=str(root))
        with open(os.devnull, "w") as quiet:
            async with stdio_client(params, errlog=quiet) as (read, write):
                async with ClientSession(read, write) as client:
                    await client.initialize()
                    return await talk(client)

    def latencies(args: list[str], n: int) -> tuple[list[float], float | None]:
        async def talk(client):
            await client.call_tool("echo", {"text": "warm"})
            rss = _rss_mb(["mcp", "run", "echo"], registry) if not args else None
            out = []
            for i in range(n):
                start = time.perf_counter()
                await client.call_tool("echo", {"text": f"call {i}"})
                out.append((time.perf_counter() - start) * 1000)
            return sorted(out), rss
        return anyio.run(session, args, talk)

    def two_agents() -> dict:
        errors: list[str] = []
        pids: set[str] = set()

        async def agent(name: str) -> None:
            async def talk(client):
                for i in range(calls // 2):
                    result = await client.call_tool("echo", {"text": f"{name} {i}"})
                    if result.is_error or result.content[0].text != f"{name} {i}":
                        errors.append(f"{name} {i}: {result.content[0].text}")
                await anyio.sleep(0)
            await session([], talk)

        async def both() -> None:
            async with anyio.create_task_group() as group:
                group.start_soon(agent, "a")
                group.start_soon(agent, "b")

        start = time.perf_counter()
        anyio.run(both)
        took = time.perf_counter() - start
        status = json.loads(subprocess.run([CLAUDEX, "mcp", "gateway", "status", "--json"], capture_output=True,
                                           env=genv, text=True).stdout)
        pids.update(str(s["pid"]) for s in status.get("servers", []) if s.get("pid"))
        return {"calls": calls, "errors": len(errors), "server_processes": len(pids), "total_s": round(took, 2)}

    try:
        direct, _ = latencies(["--direct"], calls)
        through, rss = latencies([], calls)
        agents = two_agents()
    finally:
        subprocess.run([CLAUDEX, "mcp", "gateway", "stop"], capture_output=True, env=genv)
        import shutil

        shutil.rmtree(runtime, ignore_errors=True)
    p50 = lambda values: round(statistics.median(values), 3)  # noqa: E731
    return {"gateway_overhead": {"calls": calls, "direct_p50_ms": p50(direct), "gateway_p50_ms": p50(through),
                                 "overhead_p50_ms": round(p50(through) - p50(direct), 3)},
            "gateway_bridge_rss": {"rss_mb": rss},
            "gateway_two_agents": agents}


def gateway_aggregate(root: Path, env: dict, runs: int) -> dict:
    """tools/list on the gateway's aggregate endpoint over 5 servers (tests/servers/echo_server.py),
    warm: the median of ``runs`` listings in one HTTP session."""
    import socket

    import anyio
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    registry = echo_registry(root / "registry-aggregate", [f"echo-{i}" for i in range(5)])
    runtime = tempfile.mkdtemp(prefix="gw", dir="/tmp")
    genv = dict(env, CLAUDEX_MCP_REGISTRY=str(registry), XDG_RUNTIME_DIR=runtime,
                XDG_STATE_HOME=str(root / "state-aggregate"), XDG_CONFIG_HOME=str(root / "config-aggregate"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve = subprocess.Popen([CLAUDEX, "mcp", "gateway", "serve", "--http", f"127.0.0.1:{port}"], env=genv,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        token = ""
        for _ in range(300):
            status = subprocess.run([CLAUDEX, "mcp", "gateway", "status", "--json"], capture_output=True, text=True,
                                    env=genv)
            if json.loads(status.stdout or "{}").get("http"):
                token = subprocess.run([CLAUDEX, "mcp", "gateway", "token"], capture_output=True, text=True,
                                       env=genv).stdout.strip()
                break
            time.sleep(0.1)

        async def listings() -> tuple[list[float], int]:
            async with create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http:
                async with streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http) as streams:
                    async with ClientSession(streams[0], streams[1]) as client:
                        await client.initialize()
                        count = len((await client.list_tools()).tools)  # starts the 5 servers
                        samples = []
                        for _ in range(runs):
                            start = time.perf_counter()
                            await client.list_tools()
                            samples.append((time.perf_counter() - start) * 1000)
                        return sorted(samples), count

        samples, count = anyio.run(listings)
    finally:
        subprocess.run([CLAUDEX, "mcp", "gateway", "stop"], capture_output=True, env=genv)
        if serve.poll() is None:
            serve.kill()
        serve.wait()
        import shutil

        shutil.rmtree(runtime, ignore_errors=True)
    return {"servers": 5, "tools": count, "runs": runs, "median_ms": round(statistics.median(samples), 2),
            "p90_ms": round(samples[int(len(samples) * 0.9) - 1], 2), "min_ms": round(samples[0], 2)}


@contextmanager
def shipped_gateway(root: Path, env: dict, names: tuple[str, ...]):
    """The shipped servers ``names`` installed (shared, as they ship) into a registry of their own,
    with XDG folders of their own and a runtime folder for their gateway. Yields (environment,
    None), or (None, why) when an install failed; the gateway is stopped on the way out."""
    import shutil

    runtime = tempfile.mkdtemp(prefix="gw", dir="/tmp")  # short: a unix socket's path has 107 bytes
    genv = dict(env, CLAUDEX_MCP_REGISTRY=str(root / "registry-shipped"), XDG_RUNTIME_DIR=runtime,
                XDG_STATE_HOME=str(root / "state-shipped"), XDG_DATA_HOME=str(root / "data-shipped"),
                XDG_CONFIG_HOME=str(root / "config-shipped"), CLAUDEX_MCP_CORE_SOURCE="")
    try:
        for argv in (["init"], *(["install", str(ROOT / "mcp-servers" / name)] for name in names)):
            proc = subprocess.run([CLAUDEX, "mcp", *argv], capture_output=True, text=True, env=genv)
            if proc.returncode != 0:
                yield None, f"claudex mcp {' '.join(argv)} failed: {proc.stderr.strip()[-300:]}"
                return
        yield genv, None
    finally:
        stop_gateway(genv)
        shutil.rmtree(runtime, ignore_errors=True)


def stop_gateway(genv: dict) -> dict:
    """`claudex mcp gateway status --json` just before `claudex mcp gateway stop`."""
    proc = subprocess.run([CLAUDEX, "mcp", "gateway", "status", "--json"], capture_output=True, text=True, env=genv)
    subprocess.run([CLAUDEX, "mcp", "gateway", "stop"], capture_output=True, env=genv)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        return {}


@asynccontextmanager
async def shipped_session(genv: dict, name: str, folder: Path, *, data: Path, direct: bool = False):
    """An SDK stdio session with the shipped server ``name`` as an agent working in ``folder``
    reaches it: `claudex mcp run NAME` started there (a session of the gateway's one process;
    ``direct``: a process of its own); ``data``: its XDG_DATA_HOME, where its store is (the
    gateway's process has the one of the session that started it)."""
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=CLAUDEX, args=["mcp", "run", name, *(["--direct"] if direct else [])],
                                   env=dict(genv, XDG_DATA_HOME=str(data)), cwd=str(folder))
    with open(os.devnull, "w") as quiet:
        async with stdio_client(params, errlog=quiet) as (read, write):
            async with ClientSession(read, write) as client:
                await client.initialize()
                yield client


def percentiles(samples: list[float], label: str) -> dict:
    samples = sorted(samples)
    return {f"{label}_p50_ms": round(statistics.median(samples), 2),
            f"{label}_p95_ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 2)}


def server_processes(registry: str, name: str) -> int:
    """How many processes run server ``name`` of ``registry`` (its server.py in their argv)."""
    script = os.fsencode(os.path.join(registry, "installed", name, "server.py"))
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    count += script in fh.read().split(b"\0")
            except OSError:
                continue
    return count


def gateway_qdrant(root: Path, genv: dict, searches: int) -> dict:
    """The shipped qdrant, shared: one agent's warm semantic searches in its own process (--direct)
    and through the gateway, then two agents at once through the gateway (each upserts a few
    notes, then searches). Each makes ``searches`` searches whose text no one asked before
    (``distinct``: the embedder computes each query), then the same again (``repeated``: its
    query cache answers them); the p50 and p95 of each, the errors, and how many qdrant
    processes served them."""
    import anyio

    errors: list[str] = []
    samples: dict[str, list[float]] = {}

    async def agent(name: str, direct: bool = False) -> None:
        # Each way its own store (the embedded store is opened per call: a store another phase
        # filled would make this one slower), the gateway's the one its first agent names.
        data = root / ("data-direct" if direct else "data-gateway")
        async with shipped_session(genv, "qdrant", root, data=data, direct=direct) as client:
            collection = f"notes-{name}"
            await client.call_tool("qdrant_create_collection", {"name": collection})
            points = [{"text": f"{name} note {i}: deploys run on day {i % 7}"} for i in range(20)]
            await client.call_tool("qdrant_upsert", {"collection": collection, "points": points})
            await client.call_tool("qdrant_search", {"collection": collection, "query": "warm"})
            queries = [f"when does team {name} deploy build {i}?" for i in range(searches)]  # new to every process
            for label in ("distinct", "repeated"):
                for query in queries:
                    start = time.perf_counter()
                    result = await client.call_tool("qdrant_search", {"collection": collection, "query": query})
                    samples.setdefault(label, []).append((time.perf_counter() - start) * 1000)
                    if result.is_error:
                        errors.append(result.content[0].text)

    async def both() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(agent, "a")
            group.start_soon(agent, "b")

    figures = {}
    try:
        for phase, run in (("direct_one_agent", lambda: anyio.run(agent, "solo", True)),  # the server's own figure
                           ("gateway_one_agent", lambda: anyio.run(agent, "one")),  # the same, through the gateway
                           # two at once on one process: each waits for the other's CPU-bound search
                           ("gateway_two_agents", lambda: anyio.run(both))):
            samples.clear()
            run()
            figures[phase] = {**percentiles(samples["distinct"], "distinct"), **percentiles(samples["repeated"], "repeated")}
    finally:
        status = stop_gateway(genv)
    return {"searches": searches, "errors": len(errors), **figures,
            "server_processes": len([s for s in status.get("servers", []) if s.get("pid")])}


def write_project(folder: Path, agent: str, files: int) -> None:
    """A small repository of ``files`` Python files, each path under ``agent/`` (an answer from
    the other agent's folder is seen at once)."""
    words = ("invoice", "shipment", "refund", "login", "report", "upload", "backup", "search")
    for k in range(files):
        word = words[k % len(words)]
        path = folder / agent / f"{word}_{k:03d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'def handle_{word}_{k}(request):\n    """Handle the {word} request {k} of team {agent}."""\n'
                        f'    return request.get("{word}")\n\n\n'
                        f'class {word.title()}Store{k}:\n    def save(self, item):\n        self.items.append(item)\n')


def gateway_two_agents_shipped(root: Path, genv: dict, calls: int, files: int) -> dict:
    """The issue's pair: two agents, each in a project of its own (a generated repository of
    ``files`` files), each with a session of the shipped qdrant and one of codequery through
    `claudex mcp run` (the SDK's stdio client), make ``calls`` calls in all, interleaved:
    qdrant_upsert and qdrant_search in the folder's default collection, cq_search and cq_stats on
    the folder's index (each agent indexes its project first, not counted). An error is a tool
    error, a failed request, or an answer from the other agent's folder; the processes are
    those of each server that run for the registry (1 each: the gateway's)."""
    import anyio

    projects = {agent: root / f"project-{agent}" for agent in ("a", "b")}
    for agent, folder in projects.items():
        write_project(folder, agent, files)
    errors: list[str] = []
    samples: dict[str, list[float]] = {"qdrant": [], "codequery": []}
    data = root / "data-two-agents"

    def wrong(agent: str, tool: str, result) -> str | None:
        if result.is_error:
            return result.content[0].text if result.content else "a tool error"
        found = result.structured_content or {}
        if tool == "qdrant_upsert":
            return None if found.get("upserted") == 1 else f"upserted {found.get('upserted')}"
        if tool == "qdrant_search":
            others = [h["payload"].get("agent") for h in found.get("results", []) if h["payload"].get("agent") != agent]
            return f"found the notes of {others}" if others or not found.get("results") else None
        if tool == "cq_search":
            paths = [r["path"] for r in found.get("results", [])]
            return None if paths and all(p.startswith(f"{agent}/") for p in paths) else f"found {paths[:3]}"
        return None if found.get("root") == str(projects[agent]) else f"the stats of {found.get('root')}"

    async def agent(name: str) -> None:
        made = 0
        try:
            async with shipped_session(genv, "qdrant", projects[name], data=data) as qdrant, \
                    shipped_session(genv, "codequery", projects[name], data=data) as codequery:
                indexed = await codequery.call_tool("cq_embed", {"wait": True})
                if indexed.is_error:
                    errors.append(f"{name} cq_embed: {indexed.content[0].text[:200]}")
                for i in range(calls // 2):
                    word = ("invoice", "refund", "backup", "login")[i % 4]
                    server, client, tool, args = [
                        ("qdrant", qdrant, "qdrant_upsert", {"points": [{"text": f"{name} note {i}: the {word} job "
                                                                                  f"runs on day {i % 7}",
                                                                          "payload": {"agent": name}}]}),
                        ("qdrant", qdrant, "qdrant_search", {"query": f"which {word} job runs on day {i % 7}?",
                                                             "limit": 5}),
                        ("codequery", codequery, "cq_search", {"query": f"handle a {word} request", "limit": 5}),
                        ("codequery", codequery, "cq_stats", {}),
                    ][i % 4]
                    start = time.perf_counter()
                    made += 1
                    result = await client.call_tool(tool, args)
                    samples[server].append((time.perf_counter() - start) * 1000)
                    problem = wrong(name, tool, result)
                    if problem:
                        errors.append(f"{name} {tool} {i}: {problem[:200]}")
        except Exception as exc:  # a failed session: it and the calls it did not make are errors
            errors.extend([f"{name}: {type(exc).__name__}: {exc}"] * (calls // 2 - made + 1))

    async def both() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(agent, "a")
            group.start_soon(agent, "b")

    try:
        start = time.perf_counter()
        anyio.run(both)
        took = time.perf_counter() - start
        processes = {name: server_processes(genv["CLAUDEX_MCP_REGISTRY"], name) for name in samples}
    finally:
        status = stop_gateway(genv)
    restarts = {s["name"]: s.get("restarts", 0) for s in status.get("servers", [])}
    return {"calls": calls, "errors": len(errors), "first_errors": errors[:3], "processes": processes,
            "restarts": restarts, "files_per_project": files, "total_s": round(took, 2),
            **{f"{name}_{key}": value for name, values in samples.items() if values
               for key, value in percentiles(values, "call").items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "bench.json")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--quick", action="store_true",
                        help="fewer runs of the slow measurements (CI): the same figures, wider noise")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, HOME=tmp, CLAUDEX_MCP_REGISTRY=os.path.join(tmp, "registry"),
                   XDG_CACHE_HOME=os.path.join(tmp, "cache"))
        results = {
            "help": dict(time_command([CLAUDEX, "mcp", "--help"], args.runs, env)),
            "validate_manifest": time_command([CLAUDEX, "mcp", "validate", str(MANIFEST)], args.runs, env),
            "python_startup": time_command([sys.executable, "-c", "pass"], args.runs, env),
        }
        registry = make_registry(Path(tmp), 100)
        env100 = dict(env, CLAUDEX_MCP_REGISTRY=str(registry))
        subprocess.run([CLAUDEX, "mcp", "list"], capture_output=True, env=env100)
        results["list_100_servers"] = dict(time_command([CLAUDEX, "mcp", "list"], args.runs, env100))
        results["cache_lookup_100_servers"] = dict(cache_lookup(env100, registry, args.runs * 10))
        results["cache_hit_rate_session"] = hit_rate(env, registry)
        registry50 = make_registry(Path(tmp), 50)
        env50 = dict(env, CLAUDEX_MCP_REGISTRY=str(registry50), PATH=f"{Path(CLAUDEX).parent}:{os.environ['PATH']}")
        entrypoint = [str(ROOT / "scripts" / "docker-entrypoint.sh"), "true"]
        subprocess.run(entrypoint, capture_output=True, env=env50)
        results["entrypoint_50_servers"] = dict(time_command(entrypoint, args.runs, env50))
        results["install_small_local_server"] = dict(install_times(Path(tmp), env, args.runs))
        results["status_cached_100_servers"] = status_cached(Path(tmp), env, args.runs)
        results["status_20_servers"] = status_times(Path(tmp), env, max(3, args.runs // 10))
        results["create_to_healthy"] = create_to_healthy(Path(tmp), env)
        results["python_server_install"] = python_server_install(Path(tmp), env, 3 if args.quick else 5,
                                                                 1 if args.quick else 3)
        results.update(status_vs_claude(Path(tmp), env, 6 if args.quick else max(10, args.runs // 3)))
        results["fresh_clone"] = fresh_clone_setup(Path(tmp))
        results.update(gateway_figures(Path(tmp), env, 200 if args.quick else 1000))
        results["gateway_tools_list_5_servers"] = gateway_aggregate(Path(tmp), env, args.runs)
        with shipped_gateway(Path(tmp), env, ("qdrant", "codequery")) as (genv, failed):
            results["gateway_qdrant_search"] = {"error": failed} if failed else \
                gateway_qdrant(Path(tmp), genv, 50 if args.quick else 200)
            results["gateway_two_agents_shipped"] = {"error": failed} if failed else \
                gateway_two_agents_shipped(Path(tmp), genv, 200 if args.quick else 1000, 20 if args.quick else 60)
    report = {"cpus": os.cpu_count(), "python": sys.version.split()[0], "results": results}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    targets = json.loads((ROOT / "tests" / "bench" / "targets.json").read_text())
    for name, r in results.items():
        if "median_ms" not in r:
            print(f"{name:28} {json.dumps(r)}")
            continue
        found = targets.get(f"{name}.median_ms", [])
        bound = next((t["max"] for t in (found if isinstance(found, list) else [found]) if "max" in t), None)
        target = f"  (target < {bound}{' ms' if not isinstance(bound, str) else ''})" if bound is not None else ""
        print(f"{name:28} median {r['median_ms']:8.2f} ms   p90 {r['p90_ms']:8.2f} ms{target}")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""status, test and logs against real servers: healthy, crashing, hanging, garbage on stdout,
slow to start, missing a variable; each classified, all checked at once."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from conftest import ECHO_SERVER, ROOT, add_echo_servers, add_server, manifest
from claudex_mcp.store import registry as registry_mod

PY = sys.executable


def m(name: str, **top) -> dict:
    doc = manifest(name, command=PY)
    doc.update(top)
    return doc


@pytest.fixture
def zoo(sandbox):
    reg = sandbox.registry
    registry_mod.init(reg)
    add_echo_servers(reg)
    add_server(reg, "crash", doc=m("crash"), files={"server.py": "import sys\nprint('boom: no config', file=sys.stderr)\nsys.exit(3)\n"})
    add_server(reg, "hang", doc=m("hang", healthCheck={"timeout": 3}), files={"server.py": "import time\ntime.sleep(60)\n"})
    add_server(reg, "hang2", doc=m("hang2", healthCheck={"timeout": 3}), files={"server.py": "import time\ntime.sleep(60)\n"})
    add_server(reg, "garbage", doc=m("garbage"), files={"server.py": "print('hello there', flush=True)\nimport time\ntime.sleep(30)\n"})
    add_server(reg, "slow", doc=m("slow"), files={"server.py": f"import runpy, time\ntime.sleep(1.5)\nrunpy.run_path({str(ECHO_SERVER)!r}, run_name='__main__')\n"})
    add_server(reg, "liar", doc=m("liar", server={"command": PY, "args": ["${SERVER_DIR}/server.py"],
                                                  "capabilities": ["tools", "logging", "completions"]}),
               files={"server.py": "from mcp.server.mcpserver import MCPServer\ns = MCPServer('liar')\n"
                                   "@s.tool()\ndef t() -> str:\n    '''t'''\n    return 'x'\ns.run('stdio')\n"})
    return reg


def status(sandbox, *argv):
    proc = sandbox.run("mcp", "status", "--json", *argv, timeout=120)
    return proc.returncode, {r["name"]: r for r in json.loads(proc.stdout)} if proc.stdout.startswith("[") else json.loads(proc.stdout)


def test_status_classifies_each_server_and_checks_them_at_once(sandbox, zoo):
    started = time.monotonic()
    code, results = status(sandbox)
    elapsed = time.monotonic() - started
    assert code == 1
    states = {name: (r["state"], r.get("cause")) for name, r in results.items()}
    assert states == {
        "echo": ("healthy", None), "echo-core": ("healthy", None), "slow": ("healthy", None),
        "echo-key": ("missing env", "missing_env"), "crash": ("unhealthy", "crashed"),
        "hang": ("unhealthy", "timeout"), "hang2": ("unhealthy", "timeout"), "garbage": ("unhealthy", "not_mcp"),
        "liar": ("unhealthy", "capability")}
    assert results["echo"]["tools"] == 2 and results["echo"]["latencyMs"] > 0
    assert "hello there" in results["garbage"]["error"]
    assert "logging, completions" in results["liar"]["error"]
    assert any("boom: no config" in line for line in results["crash"]["stderr"])  # the stderr tail
    # Two servers that never answer, 3 s each: checked side by side, not one after the other.
    assert elapsed < 3 + 3 + 1.5 + 5


def test_status_reuses_results_for_the_interval(sandbox, zoo):
    status(sandbox)
    code, again = status(sandbox)
    assert all(r.get("cached") for r in again.values())
    code, fresh = status(sandbox, "--refresh")
    assert not any(r.get("cached") for r in fresh.values())


def test_status_of_disabled_and_unknown_servers(sandbox, zoo):
    user = sandbox.config / "claudex" / "mcp.json"
    user.parent.mkdir(parents=True)
    user.write_text(json.dumps({"servers": {"echo": {"enabled": False}, "ghost": {"enabled": True}}}))
    code, results = status(sandbox, "--all")
    assert results["echo"]["state"] == "disabled" and results["ghost"]["state"] == "not installed"
    assert results["echo-off"]["state"] == "disabled"
    code, results = status(sandbox)
    assert "echo" not in results


def test_status_of_one_server_with_its_last_start(sandbox, zoo):
    sandbox.env["ECHO_TOKEN"] = "t"
    code, one = status(sandbox, "echo-key")
    assert code == 0 and one["state"] == "healthy" and one["toolNames"] == ["add", "echo"]
    assert "pid" not in one  # health checks are not recorded as client starts
    human = sandbox.run("mcp", "status", "echo-key")
    assert "echo-key: healthy" in human.stdout and "tools: add, echo" in human.stdout


@pytest.mark.parametrize("name,code,state", [("echo", 0, "healthy"), ("crash", 1, "unhealthy"),
                                             ("garbage", 1, "unhealthy"), ("echo-key", 1, "missing env")])
def test_test_verb(sandbox, zoo, name, code, state):
    proc = sandbox.run("mcp", "test", name, "--json", timeout=60)
    assert proc.returncode == code, proc.stderr
    result = json.loads(proc.stdout)
    assert result["state"] == state
    if state == "healthy":
        assert result["tools"] == ["add", "echo"] and result["serverInfo"]["name"] == "echo"


def test_test_a_folder_and_its_suite(sandbox, tmp_path):
    folder = tmp_path / "echo"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(manifest("echo", command=PY, capabilities=["tools", "prompts", "resources"])))
    (folder / "server.py").write_text(ECHO_SERVER.read_text())
    (folder / "tests").mkdir()
    (folder / "tests" / "test_it.py").write_text("def test_ok():\n    assert True\n")
    caches = {"UV_CACHE_DIR": str(ROOT / ".tools" / "uv-cache")}  # pytest for the suite, downloaded once
    proc = sandbox.run("mcp", "test", str(folder), "--suite", "--json", env=caches, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["prompts"] == ["greet"] and result["resources"] == ["echo://info"]
    assert result["suite"]["passed"] is True and "1 passed" in result["suite"]["summary"]
    (folder / "tests" / "test_it.py").write_text("def test_bad():\n    assert False\n")
    assert sandbox.run("mcp", "test", str(folder), "--suite", env=caches).returncode == 1


def test_no_orphans_after_a_timeout(sandbox, zoo):
    import os

    sandbox.run("mcp", "test", "hang", "--timeout", "1")
    time.sleep(0.5)
    leftovers = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
            except OSError:
                continue
            if str(zoo / "installed" / "hang") in cmd:
                leftovers.append(pid)
    assert leftovers == []


def test_logs(sandbox, zoo):
    assert sandbox.run("mcp", "logs", "crash").returncode == 4  # never started by a client yet
    sandbox.run("mcp", "test", "crash")
    proc = sandbox.run("mcp", "logs", "crash", "-n", "1", "--json")
    result = json.loads(proc.stdout)
    assert result["lines"] == ["boom: no config"]
    assert sandbox.run("mcp", "logs", "../x").returncode == 2


@pytest.fixture
def remote(sandbox):
    """The HTTP test server on a free port, stopped even when the test fails."""
    from conftest import http_mcp_server

    with http_mcp_server("tok-9") as port:
        yield port


def test_status_of_a_remote_server(sandbox, remote):
    reg = sandbox.registry
    registry_mod.init(reg)
    doc = {"apiVersion": "v1", "metadata": {"name": "far", "version": "1.0.0", "description": "remote"},
           "server": {"transport": "http", "url": f"http://127.0.0.1:{remote}/mcp",
                      "headers": {"Authorization": "Bearer ${FAR_TOKEN}"}},
           "healthCheck": {"endpoint": "/health", "timeout": 5}}
    add_server(reg, "far", doc=doc, files={})
    sandbox.env["FAR_TOKEN"] = "tok-9"
    code, one = status(sandbox, "far")
    assert (code, one["state"], one.get("toolNames")) == (0, "healthy", ["echo"]), one
    sandbox.env["FAR_TOKEN"] = "wrong"
    code, one = status(sandbox, "far", "--refresh")
    assert (code, one["state"], one["cause"]) == (1, "unhealthy", "http_error")
    assert "401" in one["error"]


def test_an_invalid_tool_input_schema_is_unhealthy(sandbox, tmp_path):
    from conftest import ROOT

    folder = tmp_path / "badschema"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(manifest("badschema", command=PY)))
    (folder / "server.py").write_text((ROOT / "tests" / "servers" / "bad_schema_server.py").read_text())
    proc = sandbox.run("mcp", "test", str(folder), "--json", timeout=60)
    result = json.loads(proc.stdout)
    assert (proc.returncode, result["cause"]) == (1, "schema")
    assert "broken" in result["error"]


def test_a_failing_self_check_is_degraded_not_unhealthy(sandbox):
    reg = sandbox.registry
    registry_mod.init(reg)
    doc = m("selfish", healthCheck={"command": [PY, "-c", "import json; print(json.dumps({'problems': ['tool X is not installed']})); raise SystemExit(1)"]})
    add_server(reg, "selfish", doc=doc, files={"server.py": ECHO_SERVER.read_text()})
    code, one = status(sandbox, "selfish")
    assert (code, one["state"], one["cause"], one["error"]) == (0, "degraded", "self_check", "tool X is not installed")
    tested = sandbox.run("mcp", "test", "selfish", "--json", timeout=60)
    assert tested.returncode == 0 and json.loads(tested.stdout)["state"] == "degraded"


def test_test_a_folder_named_unlike_its_server(sandbox, tmp_path):
    """`test ./folder` takes the server's name from its manifest, as validate and install do."""
    folder = tmp_path / "checkout-of-echo"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(manifest("echo", command=PY)))
    (folder / "server.py").write_text(ECHO_SERVER.read_text())
    proc = sandbox.run("mcp", "test", str(folder), "--json", timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["name"], result["state"], result["tools"]) == ("echo", "healthy", ["add", "echo"])


def test_a_self_checks_hint_is_the_fix_beside_the_problem(sandbox):
    reg = sandbox.registry
    registry_mod.init(reg)
    report = {"ok": False, "problems": ["cannot reach the daemon at unix:///nowhere.sock"], "hint": "start the daemon"}
    doc = m("selfish", healthCheck={"command": [PY, "-c", f"print({json.dumps(json.dumps(report))}); raise SystemExit(1)"]})
    add_server(reg, "selfish", doc=doc, files={"server.py": ECHO_SERVER.read_text()})
    code, one = status(sandbox, "selfish")
    assert (code, one["state"], one["error"], one["hint"]) == (0, "degraded", report["problems"][0], "start the daemon")
    table = sandbox.run("mcp", "status").stdout.splitlines()
    assert table == [f"selfish\tdegraded\t{one['latencyMs']:.0f} ms\t2\t-\t" + table[0].split("\t")[5] +
                     "\tcannot reach the daemon at unix:///nowhere.sock (start the daemon)"]


def test_the_pid_column_shows_only_a_live_client_started_instance(sandbox):
    """A client's start is recorded; its pid is shown while it runs, and not once it has exited."""
    import subprocess

    reg = sandbox.registry
    registry_mod.init(reg)
    add_echo_servers(reg)
    client = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "claudex"), "mcp", "run", "echo"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, env=sandbox.env, start_new_session=True)
    try:
        record = Path(sandbox.env["XDG_STATE_HOME"]) / "claudex" / "run" / "echo.json"
        deadline = time.monotonic() + 60
        while not record.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        code, results = status(sandbox)
        assert results["echo"]["pid"] == client.pid and results["echo"]["lastStart"]
        assert "pid" not in results["echo-core"]
    finally:
        client.stdin.close()
        try:
            client.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(client.pid, 9)
            client.wait()
    code, results = status(sandbox)  # the kept result, with the process facts read again
    assert results["echo"]["cached"] is True and "pid" not in results["echo"] and results["echo"]["lastStart"]


def test_live_pid_is_this_process_only_while_it_runs_as_that_program():
    import subprocess

    from claudex_mcp.runtime import checks

    assert checks.live_pid({"pid": os.getpid(), "command": sys.executable}) == os.getpid()
    assert checks.live_pid({"pid": os.getpid(), "command": "/bin/true"}) is None  # the pid is another program now
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert checks.live_pid({"pid": gone.pid, "command": "/bin/true"}) is None
    for bad in ({}, {"pid": "1"}, {"pid": True}, {"pid": -4}, {"pid": 0, "command": "x"}):
        assert checks.live_pid(bad) is None


def test_kept_results_say_their_age_and_a_changed_variable_is_checked_again(sandbox, tmp_path):
    reg = sandbox.registry
    registry_mod.init(reg)
    add_echo_servers(reg)
    code, first = status(sandbox)
    assert first["echo-key"]["state"] == "missing env" and not first["echo"].get("cached")
    code, again = status(sandbox)
    assert again["echo"]["cached"] is True and 0 <= again["echo"]["ageSeconds"] < 30
    table = {line.split("\t")[0]: line.split("\t") for line in sandbox.run("mcp", "status").stdout.splitlines()}
    assert table["echo"][5].endswith(" s ago")
    sandbox.env["ECHO_TOKEN"] = "now set"  # a variable the manifest names: its result is not reused
    code, fresh = status(sandbox)
    assert fresh["echo-key"]["state"] == "healthy" and not fresh["echo-key"].get("cached")
    assert fresh["echo"]["cached"] is True
    cache_text = (Path(sandbox.env["XDG_CACHE_HOME"]) / "claudex" / "mcp-status.json").read_text()
    assert "now set" not in cache_text  # values are kept as a digest only


@pytest.mark.parametrize("env,tty,expected", [
    ({}, True, True), ({}, False, False), ({"NO_COLOR": "1"}, True, False), ({"NO_COLOR": ""}, True, True),
    ({"TERM": "dumb"}, True, False), ({"FORCE_COLOR": "1"}, False, True), ({"CLICOLOR_FORCE": "1"}, False, True),
    ({"FORCE_COLOR": "0"}, False, False), ({"FORCE_COLOR": "1", "TERM": "dumb"}, False, True),
    ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, True, False)])
def test_colour_follows_no_color_force_color_clicolor_force_and_term(monkeypatch, env, tty, expected):
    from claudex_mcp.cli import common

    for name in ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    class Stream:
        def isatty(self):
            return tty

    assert common.color_enabled(Stream()) is expected
    assert (common.paint("x", "31", Stream()) == "\033[31mx\033[0m") is expected


def test_tables_fit_the_width_the_free_text_column_first():
    from claudex_mcp.cli.common import MIN_COLUMN, fit_widths

    assert fit_widths([10, 20, 100], 200) == [10, 20, 100]
    assert fit_widths([10, 20, 100], 80) == [10, 20, 46]  # 10 + 2 + 20 + 2 + 46 = 80
    assert fit_widths([30, 40, 20], 50) == [19, 19, MIN_COLUMN]  # then the widest, in turn
    assert fit_widths([30, 30, 30], 10) == [MIN_COLUMN] * 3  # as narrow as it goes; the terminal wraps


SHIPPED = ROOT / "mcp-servers"


def shipped_server(registry: Path, folder: Path) -> None:
    """A shipped server as installed, its manifest unchanged: its .venv/bin/python is this
    interpreter (which has every server's dependencies), so status runs its real self-check."""
    import shutil

    target = registry / "installed" / folder.name
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns(".venv", "tests", "__pycache__", "*.egg-info"))
    python = target / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)


def test_shipped_servers_are_degraded_with_the_reason_and_the_fix(sandbox, tmp_path):
    """No Docker daemon, an unreachable QDRANT_URL, no provider key: each shipped server still
    answers MCP, and status says degraded, naming the socket, the URL or the variable."""
    import socket

    registry_mod.init(sandbox.registry)
    for name in ("docker-mgmt", "qdrant", "llm-wrapper", "codequery"):
        shipped_server(sandbox.registry, SHIPPED / name)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    socket_path = tmp_path / "no-docker.sock"
    for name in list(sandbox.env):
        if name.startswith(("OPENAI_", "ANTHROPIC_", "LLM_WRAPPER_", "QDRANT_", "DOCKER_")):
            del sandbox.env[name]
    sandbox.env.update(DOCKER_HOST=f"unix://{socket_path}", QDRANT_URL=url, CLAUDEX_PROJECT_DIR=str(tmp_path))
    code, results = status(sandbox, "--timeout", "90")
    assert code == 0, results  # degraded is reported, not a failure
    assert {n: r["state"] for n, r in results.items()} == dict.fromkeys(
        ("codequery", "docker-mgmt", "llm-wrapper", "qdrant"), "degraded"), results
    docker = results["docker-mgmt"]
    assert f"cannot reach the Docker daemon at DOCKER_HOST=unix://{socket_path}" in docker["error"]
    assert docker["hint"].startswith("start the daemon, or point DOCKER_HOST at it")
    assert results["qdrant"]["error"].startswith(f"the Qdrant server at QDRANT_URL={url} is not reachable")
    assert "unset QDRANT_URL" in results["qdrant"]["hint"]
    assert "OPENAI_API_KEY" in results["llm-wrapper"]["error"]
    assert f"QDRANT_URL={url}" in results["codequery"]["error"] and "OPENAI_API_KEY" in results["codequery"]["error"]
    table = {line.split("\t")[0]: line.split("\t")[1] for line in sandbox.run("mcp", "status").stdout.splitlines()}
    assert set(table.values()) == {"degraded"}  # never healthy beside the reason
    sandbox.env.pop("QDRANT_URL")  # embedded mode needs nothing running
    code, one = status(sandbox, "qdrant", "--timeout", "90")
    assert one["state"] == "healthy" and not one.get("cached")


def test_status_refuses_what_the_launcher_refuses(sandbox, zoo):
    """status starts what `claudex mcp run` would exec, not run itself: what run would refuse
    (here a log folder that is a link elsewhere) is a refusal in status too, and nothing is
    written through the link."""
    import subprocess

    elsewhere = sandbox.root / "elsewhere"
    elsewhere.mkdir()
    logs = sandbox.state / "claudex" / "logs"
    logs.parent.mkdir(parents=True, exist_ok=True)
    logs.symlink_to(elsewhere)
    code, one = status(sandbox, "echo")
    assert code == 1 and one["state"] == "unhealthy" and one["cause"] == "unsafe_path"
    assert str(logs) in one["error"]
    run = subprocess.run([PY, str(ROOT / "scripts" / "claudex"), "mcp", "run", "echo"], input="",
                         capture_output=True, text=True, env=sandbox.env, timeout=30)
    assert run.returncode != 0 and "claudex will not use it" in run.stderr, run.stderr
    assert list(elsewhere.iterdir()) == []


def test_a_failed_check_reads_the_log_once_its_writer_is_done(sandbox):
    """Through the launcher a server's stderr reaches its log by a writer process, which may
    still be writing the last lines when the check sees the server gone: settled_log waits for
    the writer's lock, and the tail then has them."""
    import fcntl
    import threading

    from claudex_mcp.runtime import checks, launcher

    log = launcher.log_file("crash")
    log.parent.mkdir(parents=True)
    log.write_text("--- start ---\nboom: first\n")
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    fcntl.flock(fd, fcntl.LOCK_SH)  # a writer at work

    def finish() -> None:
        time.sleep(0.5)
        os.write(fd, b"boom: the last line\n")
        os.close(fd)  # the writer exits

    writer = threading.Thread(target=finish)
    writer.start()
    started = time.monotonic()
    launcher.settled_log("crash")
    waited = time.monotonic() - started
    writer.join()
    assert checks.log_tail("crash")[-1] == "boom: the last line"
    assert 0.4 < waited < 2
    started = time.monotonic()
    launcher.settled_log("crash")  # no writer: no wait
    assert time.monotonic() - started < 1.5  # not the 2 s it waits for a writer that stays


def test_a_typo_in_a_config_layer_is_not_hidden_by_a_kept_healthy(sandbox):
    """A kept "healthy" holds only while nothing it depends on changed: a syntax error in the
    user layer (which leaves the server's merged config as it was: the broken layer is left
    out) means no server starts, and status says so at once."""
    reg = sandbox.registry
    registry_mod.init(reg)
    add_echo_servers(reg)
    user = sandbox.config / "claudex" / "mcp.json"
    user.parent.mkdir(parents=True)
    user.write_text(json.dumps({"servers": {"echo-core": {"enabled": True}}}))
    assert sandbox.run("mcp", "status", "echo", "--refresh").returncode == 0
    kept = sandbox.run("mcp", "status", "echo")
    assert kept.returncode == 0 and "echo: healthy (checked" in kept.stdout
    user.write_text('{"servers": {"echo-core": {"enabled": true,}}')
    proc = sandbox.run("mcp", "status", "echo")
    assert proc.returncode == 1, proc.stdout
    assert proc.stdout.startswith("echo: unhealthy\n") and "config_broken" in proc.stdout
    assert "the user config layer is broken" in proc.stderr


QUICK = manifest("quick", command=PY, env={"QUICK_TOKEN": "${QUICK_TOKEN}"}, requiredEnv=["QUICK_TOKEN"])


def _touch_later(path: Path, text: str | None = None) -> None:
    """Rewrite ``path`` (same text unless given) and move its mtime on by a second, as an edit
    made a moment later would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(path.read_text() if text is None else text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


@pytest.mark.parametrize("change", ["user layer", "global layer", "project layer", "manifest", "server file",
                                    "venv", "nothing"])
def test_a_change_to_any_layer_manifest_or_server_file_checks_the_server_again(sandbox, change):
    """Every file that feeds a server's effective config (each config layer, its manifest) and
    its folder's files (its entry script, its venv) are part of its kept result's key (stat
    fingerprints, cheap), even when the change leaves its merged config as it was."""
    reg = sandbox.registry
    registry_mod.init(reg)
    folder = add_server(reg, "quick", doc=QUICK)  # missing QUICK_TOKEN: checked without starting anything
    project = sandbox.root / "proj"
    (project / ".claudex").mkdir(parents=True)
    layers = {"user layer": sandbox.config / "claudex" / "mcp.json", "global layer": reg / "config.json",
              "project layer": project / ".claudex" / "mcp.json"}
    for path in layers.values():
        _touch_later(path, json.dumps({"servers": {"other": {"enabled": True}}}))
    argv = ("mcp", "status", "quick", "--json", "--project-dir", str(project))
    first = sandbox.run(*argv)
    assert json.loads(first.stdout)["state"] == "missing env", first.stderr
    assert json.loads(sandbox.run(*argv).stdout)["cached"] is True
    if change in layers:
        _touch_later(layers[change], json.dumps({"servers": {"other": {"enabled": False}}}))
    elif change == "manifest":
        _touch_later(folder / "manifest.json")  # the same bytes, rewritten
    elif change == "server file":
        _touch_later(folder / "server.py", "print('edited')\n")
    elif change == "venv":
        (folder / ".venv" / "bin").mkdir(parents=True)
        (folder / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    again = json.loads(sandbox.run(*argv).stdout)
    assert again["state"] == "missing env"
    assert again.get("cached", False) is (change == "nothing")


def test_the_status_cache_holds_no_secret_and_is_private(sandbox):
    """A secret set in the config, and a secret of the environment a server prints on its
    stderr, reach neither the results kept in the cache nor any other file of claudex's cache
    and state; the output shows them masked. The files are 600 in a 700 folder."""
    import stat

    reg = sandbox.registry
    registry_mod.init(reg)
    add_echo_servers(reg)
    add_server(reg, "leaky", doc=m("leaky"), files={"server.py": (
        "import os, sys\nprint('starting with', os.environ['API_KEY'], 'and', os.environ['OTHER_SECRET'], 'on',"
        " os.environ['XDG_SESSION_DESKTOP'], file=sys.stderr)\nsys.exit(3)\n")})
    for name in ("echo", "leaky"):
        proc = sandbox.run("mcp", "config", "set", name, "env.API_KEY", "SECRET123")
        assert proc.returncode == 0, proc.stderr
    sandbox.env["OTHER_SECRET"] = "ghp_" + "aB3dE5fG7h" * 4  # inherited, not the server's: masked by its shape
    sandbox.env["XDG_SESSION_DESKTOP"] = "ubuntu-desktop"
    code, results = status(sandbox)
    assert results["echo"]["state"] == "healthy" and results["leaky"]["state"] == "unhealthy"
    # A variable with a session's name but no secret's shape, and not the server's, is left as it is.
    assert "starting with ******** and ******** on ubuntu-desktop" in results["leaky"]["stderr"], results["leaky"]
    code, again = status(sandbox)
    assert again["echo"]["cached"] is True and again["leaky"]["cached"] is True
    shown = sandbox.run("mcp", "info", "leaky")  # an unhealthy server: its document, and exit 5
    assert shown.returncode == 5 and "SECRET123" not in shown.stdout + shown.stderr, shown.stderr
    found = []
    for base in (sandbox.cache, sandbox.state):
        for path in base.rglob("*"):
            if path.is_file() and (b"SECRET123" in path.read_bytes() or b"aB3dE5fG7h" in path.read_bytes()):
                found.append(str(path))
    assert found == []
    folder = sandbox.cache / "claudex"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("mcp-status.json", "mcp-status.key", "mcp-registry.json", "mcp-registry.stats", "validated.json"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name


def test_a_secret_in_a_servers_log_is_masked_in_its_status_even_when_disabled(sandbox):
    """The last error of a server's log (shown for a disabled server too) is masked like
    everything else a server said, on the screen and in the kept results."""
    from claudex_mcp.runtime import launcher

    registry_mod.init(sandbox.registry)
    add_server(sandbox.registry, "quiet", doc=m("quiet"))
    user = sandbox.config / "claudex" / "mcp.json"
    user.parent.mkdir(parents=True)
    user.write_text(json.dumps({"servers": {"quiet": {"enabled": False, "env": {"DB_PASSWORD": "s3cr3t-pw"}}}}))
    log = launcher.log_file("quiet")
    log.parent.mkdir(parents=True)
    log.write_text("--- start ---\nerror: login refused for s3cr3t-pw at postgres://app:pw2pw2@db/app\n")
    code, results = status(sandbox, "--all")
    assert results["quiet"]["state"] == "disabled"
    assert results["quiet"]["lastError"] == "error: login refused for ******** at postgres://app:********@db/app"
    kept = (sandbox.cache / "claudex" / "mcp-status.json").read_text()
    assert "s3cr3t-pw" not in kept and "pw2pw2" not in kept

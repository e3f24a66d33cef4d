"""claudex mcp add: a command or a URL becomes a registry server with a generated manifest, and no
literal secret lands in a manifest, registry.json, a shared layer or a generated client file."""

from __future__ import annotations

import json
import os
import pty
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import ECHO_SERVER, ROOT, http_mcp_server, stderr_on_terminal
from claudex_mcp.store import registry as registry_mod

TOKEN = "ghp_Addtest0123456789abcdefABCDEF0123"
BEARER = "sk-addtest-0123456789abcdef"


@pytest.fixture
def registry(sandbox):
    registry_mod.init(sandbox.registry)
    return sandbox.registry


def files_under(*roots):
    # A lock file holds its last holder (pid, verb, time): its inode stays, its bytes do not.
    return {str(p): b"" if p.name.endswith(".lock") else p.read_bytes()
            for root in roots if root.exists() for p in root.rglob("*") if p.is_file()}


def test_a_command_with_a_secret_env(sandbox, registry):
    proc = sandbox.run("mcp", "add", "github", "--env", f"GITHUB_TOKEN={TOKEN}", "--env", "LOG_LEVEL=info", "--json",
                       "--no-pin", "--", "npx", "-y", "@modelcontextprotocol/server-github", "--verbose")
    assert proc.returncode == 0, proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["secrets"] == {"userLayer": ["GITHUB_TOKEN"], "export": []}
    manifest = json.loads((registry / "installed" / "github" / "manifest.json").read_text())
    assert manifest["server"] == {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github", "--verbose"],
                                  "env": {"GITHUB_TOKEN": "${GITHUB_TOKEN}", "LOG_LEVEL": "info"},
                                  "requiredEnv": [{"name": "GITHUB_TOKEN", "secret": True}]}
    assert manifest["metadata"]["version"] == "0.0.0"
    assert json.loads((registry / "registry.json").read_text())["servers"]["github"]["source"] == {"type": "added"}
    user = sandbox.config / "claudex" / "mcp.json"
    assert json.loads(user.read_text())["servers"]["github"]["env"] == {"GITHUB_TOKEN": TOKEN}
    assert stat.S_IMODE(os.stat(user).st_mode) == 0o600
    assert all(TOKEN.encode() not in data for data in files_under(registry).values())
    assert sandbox.run("mcp", "validate", str(registry / "installed" / "github")).returncode == 0


def test_a_remote_server_with_secret_headers_and_url_password(sandbox, registry):
    proc = sandbox.run("mcp", "add", "docs", "--url", "https://me:pa55word@mcp.example.com/sse", "--transport", "sse",
                       "--header", f"Authorization=Bearer {BEARER}", "--header", "X-Team: blue", "--json")
    assert proc.returncode == 0, proc.stderr
    assert BEARER not in proc.stdout and "pa55word" not in proc.stdout
    assert json.loads(proc.stdout)["secrets"] == {"userLayer": ["DOCS_TOKEN", "DOCS_URL_PASSWORD"],
                                                  "export": ["DOCS_URL_PASSWORD"]}
    server = json.loads((registry / "installed" / "docs" / "manifest.json").read_text())["server"]
    assert server["transport"] == "sse"
    assert server["url"] == "https://me:${DOCS_URL_PASSWORD}@mcp.example.com/sse"
    assert server["headers"] == {"Authorization": "Bearer ${DOCS_TOKEN}", "X-Team": "blue"}
    user = sandbox.config / "claudex" / "mcp.json"
    assert json.loads(user.read_text())["servers"]["docs"] == {"env": {"DOCS_TOKEN": BEARER, "DOCS_URL_PASSWORD": "pa55word"}}
    assert stat.S_IMODE(os.stat(user).st_mode) == 0o600


def test_add_regenerates_the_clients_claudex_wrote(sandbox, registry):
    assert sandbox.run("mcp", "generate").returncode == 0
    proc = sandbox.run("mcp", "add", "tool", "--env", f"API_KEY={TOKEN}", "--", "python3", "-m", "tool")
    assert proc.returncode == 0, proc.stderr
    claude = json.loads((sandbox.home / ".claude.json").read_text())
    assert claude["mcpServers"]["tool"]["args"][-3:] == ["mcp", "run", "tool"]
    assert TOKEN not in (sandbox.home / ".claude.json").read_text()


def test_a_project_server_is_enabled_for_that_project_only(sandbox, registry):
    project = sandbox.home / "claudex" / "demo"
    project.mkdir(parents=True)
    proc = sandbox.run("mcp", "add", "local", "--project", "demo", "--", "python3", "tool.py")
    assert proc.returncode == 0, proc.stderr
    assert (registry / "disabled" / "local" / "manifest.json").exists()
    layer = json.loads((project / ".claudex" / "mcp.json").read_text())
    assert layer["servers"]["local"] == {"enabled": True}


@pytest.mark.parametrize("argv, code, error", [
    (["Bad", "--", "x"], 2, "invalid_name"),
    (["ok"], 2, "no_command"),
    (["ok", "--url", "https://a.example", "--", "x"], 2, "command_and_url"),
    (["ok", "--transport", "sse", "--", "x"], 2, "transport_without_url"),
    (["ok", "--env", "NOEQUALS", "--", "x"], 2, "invalid_pair"),
    (["ok", "--env", "lower=1", "--", "x"], 1, "invalid_definition"),
    (["ok", "--url", "ftp://a.example"], 1, "invalid_url"),
    (["ok", "--header", "Bad Name=1", "--url", "https://a.example"], 1, "invalid_definition"),
    (["ok", "--header", "X-A: b\r\nX-B: 1", "--url", "https://a.example"], 1, "invalid_definition"),  # #24.11
    (["ok", "--header", "X-A=b\nX-B: 1", "--url", "https://a.example"], 1, "invalid_definition"),
    (["ok", "--", "../../bin/sh"], 1, "invalid_definition"),  # #24.11: a relative command leaving the folder
    (["ok", "--", "./run.sh"], 1, "invalid_definition"),
    (["ok", "--url", f"https://a.example/{TOKEN}/mcp"], 1, "secret_in_url"),
    (["ok", "-s", "local", "--", "x"], 2, "unsupported_scope"),
    (["ok", "-s", "project", "--project-dir", ".", "--", "x"], 2, "scope_and_project"),
    (["ok", "--transport", "http", "--", "x"], 2, "transport_without_url"),
    (["ok", "-t", "stdio", "https://a.example/mcp"], 2, "transport_without_url"),
    (["ok", "https://a.example/mcp", "--url", "https://b.example/mcp"], 2, "command_and_url"),
])
def test_bad_input_changes_nothing(sandbox, registry, argv, code, error):
    before = files_under(registry, sandbox.home)
    proc = sandbox.run("mcp", "add", *argv)
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == ""
    assert json.loads(proc.stderr.splitlines()[-1])["error"]["code"] == error
    assert "Traceback" not in proc.stderr
    assert files_under(registry, sandbox.home) == before


def test_a_name_in_use_is_a_conflict(sandbox, registry):
    assert sandbox.run("mcp", "add", "dup", "--", "python3", "a.py").returncode == 0
    before = files_under(registry)
    proc = sandbox.run("mcp", "add", "dup", "--env", f"API_KEY={TOKEN}", "--", "python3", "b.py")
    assert proc.returncode == 3
    error = json.loads(proc.stderr.splitlines()[-1])["error"]
    assert error["code"] == "already_installed" and "uninstall dup" in error["hint"]
    assert files_under(registry) == before
    assert not (sandbox.config / "claudex" / "mcp.json").exists()


@pytest.mark.parametrize("step", ["secrets", "commit", "record"])
def test_killed_while_adding(sandbox, registry, step):
    proc = sandbox.run("mcp", "add", "killed", "--env", f"API_KEY={TOKEN}", "--", "python3", "a.py",
                       env={"CLAUDEX_MCP_FAULT": step})
    assert proc.returncode == -9
    assert sandbox.run("mcp", "list").returncode == 0
    # The next mutation recovers: the server is wholly there (killed after the commit) or not at all.
    proc = sandbox.run("mcp", "add", "other", "--", "python3", "b.py")
    assert proc.returncode == 0, proc.stderr
    assert list((registry / ".staging").iterdir()) == []
    there = (registry / "installed" / "killed").exists()
    assert there == (step == "record")
    recorded = json.loads((registry / "registry.json").read_text())["servers"]
    assert ("killed" in recorded) == there


def test_a_token_in_the_url_query_becomes_a_variable(sandbox, registry):
    proc = sandbox.run("mcp", "add", "q", "--url", f"https://a.example/mcp?api_key={TOKEN}&team=blue", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["secrets"] == {"userLayer": ["Q_API_KEY"], "export": ["Q_API_KEY"]}
    server = json.loads((registry / "installed" / "q" / "manifest.json").read_text())["server"]
    assert server["url"] == "https://a.example/mcp?api_key=${Q_API_KEY}&team=blue"


def test_a_definitions_cwd_is_kept_when_absolute():
    from claudex_mcp.install import adopt

    kept = adopt.to_manifest("notes", adopt.definition(command="python3", args=["serve.py"], cwd="/srv/notes"), "d")
    assert kept.manifest["server"]["cwd"] == "/srv/notes" and not kept.warnings
    by_variable = adopt.to_manifest("notes", adopt.definition(command="python3", cwd="${HOME}/notes"), "d")
    assert by_variable.manifest["server"]["cwd"] == "${HOME}/notes"
    relative = adopt.to_manifest("notes", adopt.definition(command="python3", cwd="sub/dir"), "d")
    assert "cwd" not in relative.manifest["server"]
    assert any("relative cwd sub/dir" in w for w in relative.warnings)


# ---- secrets given on the command line: kept in the user layer, sent to the server ----------

def every_file_holding(root: Path, secret: str, but: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and not p.is_symlink() and p != but
            and secret.encode() in p.read_bytes()]


def test_a_header_secret_is_kept_in_the_user_layer_and_sent_to_the_server(sandbox, registry):
    """-H 'Authorization: Bearer sk-...' for a server that wants it: the token is in the user layer
    only, the generated Claude Code and Codex entries run `claudex mcp headers docs` for it (as the
    clients run it: a shell with only HOME and PATH), and test, status and call send it."""
    assert sandbox.run("mcp", "generate").returncode == 0
    with http_mcp_server(BEARER) as port:
        url = f"http://127.0.0.1:{port}/mcp"
        proc = sandbox.run("mcp", "add", "--transport", "http", "docs", url, "-H", f"Authorization: Bearer {BEARER}",
                           "-H", "X-Team: blue", "--json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["secrets"] == {"userLayer": ["DOCS_TOKEN"], "export": []}
        claude = json.loads((sandbox.home / ".claude.json").read_text())["mcpServers"]["docs"]
        assert claude["url"] == url and claude["headers"] == {"X-Team": "blue"}
        assert claude["headersHelper"].endswith(" mcp headers docs")
        codex = tomllib.loads((sandbox.home / ".codex" / "config.toml").read_text())["mcp_servers"]["docs"]
        assert codex["http_headers_helper"] == claude["headersHelper"] and codex["http_headers"] == {"X-Team": "blue"}
        bare = {"HOME": str(sandbox.home), "PATH": os.environ["PATH"]}
        helper = subprocess.run(["sh", "-c", claude["headersHelper"]], env=bare, capture_output=True, text=True,
                                cwd=sandbox.home, timeout=60)
        assert helper.returncode == 0, helper.stderr
        assert json.loads(helper.stdout) == {"Authorization": f"Bearer {BEARER}"}
        tested = sandbox.run("mcp", "test", "docs", "--json", timeout=90)
        assert json.loads(tested.stdout)["state"] == "healthy", tested.stdout + tested.stderr
        status = sandbox.run("mcp", "status", "docs", "--json", timeout=90)
        assert status.returncode == 0 and json.loads(status.stdout)["state"] == "healthy", status.stdout
        called = sandbox.run("mcp", "call", "docs", "echo", "--args", '{"text": "hi"}', timeout=90)
        assert (called.returncode, called.stdout) == (0, "hi\n"), called.stderr
        assert sandbox.run("mcp", "config", "set", "docs", "env.DOCS_TOKEN", "sk-wrong-0123456789").returncode == 0
        refused = sandbox.run("mcp", "test", "docs", "--json", timeout=90)
        assert json.loads(refused.stdout)["state"] == "unhealthy"  # the server really checks the token
    user = sandbox.config / "claudex" / "mcp.json"
    assert every_file_holding(sandbox.root, BEARER, but=user) == []


def test_the_headers_helper_masks_on_a_terminal_and_says_what_is_wrong(sandbox, registry):
    assert sandbox.run("mcp", "add", "docs", "https://mcp.example.com/mcp", "-H", f"Authorization=Bearer {BEARER}").returncode == 0
    master, slave = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "claudex"), "mcp", "headers", "docs"],
                              stdout=slave, stderr=subprocess.PIPE, env=sandbox.env, timeout=60)
        os.close(slave)
        shown = os.read(master, 65536).decode()
    finally:
        os.close(master)
    assert proc.returncode == 0 and BEARER not in shown and "Bearer ********" in shown
    assert b"--reveal" in proc.stderr
    assert sandbox.run("mcp", "add", "local", "--no-pin", "--", "python3", "a.py").returncode == 0
    stdio = sandbox.run("mcp", "headers", "local")
    assert stdio.returncode == 2 and "local (stdio) server" in stdio.stderr and stdio.stdout == ""
    assert sandbox.run("mcp", "headers", "nosuch").returncode == 4
    assert sandbox.run("mcp", "config", "set", "docs", "env.DOCS_TOKEN", "${MY_TOKEN}").returncode == 0
    missing = sandbox.run("mcp", "headers", "docs")
    assert missing.returncode == 1 and "docs needs DOCS_TOKEN" in missing.stderr and missing.stdout == ""
    assert not missing.stderr.startswith("{")  # one readable line: the clients show it to people
    given = sandbox.run("mcp", "headers", "docs", env={"MY_TOKEN": "tok-1"})
    assert json.loads(given.stdout) == {"Authorization": "Bearer tok-1"}
    assert sandbox.run("mcp", "config", "unset", "docs", "env.DOCS_TOKEN").returncode == 0
    exported = sandbox.run("mcp", "headers", "docs", env={"DOCS_TOKEN": "from-env"})
    assert (exported.returncode, json.loads(exported.stdout)) == (0, {}), exported.stderr  # no layer header left


def test_an_env_secret_reaches_the_command_through_the_launcher(sandbox, registry):
    secret = "sk-live-envtest0123456789"
    proc = sandbox.run("mcp", "add", "echoer", "-e", f"ECHO_PREFIX={secret}", "--", sys.executable, str(ECHO_SERVER))
    assert proc.returncode == 0, proc.stderr
    assert "kept in your user layer (mode 600): ECHO_PREFIX" in proc.stdout
    called = sandbox.run("mcp", "call", "echoer", "echo", "--args", '{"text": "!"}', timeout=90)
    assert (called.returncode, called.stdout) == (0, f"{secret}!\n"), called.stderr
    status = sandbox.run("mcp", "status", "echoer", "--json", timeout=90)  # keeps its result in the cache
    assert json.loads(status.stdout)["state"] == "healthy", status.stdout
    assert every_file_holding(sandbox.root, secret, but=sandbox.config / "claudex" / "mcp.json") == []


def test_an_argument_secret_is_kept_in_the_user_layer_and_given_by_the_launcher(sandbox, registry):
    secret = "sk-live-argtest0123456789"
    proc = sandbox.run("mcp", "add", "argy", "--json", "--", sys.executable, "-c", "import sys; print(sys.argv[1:])",
                       f"--api-key={secret}")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["secrets"] == {"userLayer": ["API_KEY"], "export": []}
    server = json.loads((registry / "installed" / "argy" / "manifest.json").read_text())["server"]
    assert server["args"][-1] == "--api-key=${API_KEY}"
    ran = sandbox.run("mcp", "run", "argy")  # the launcher execs the command: its stdout is ours
    assert (ran.returncode, ran.stdout) == (0, f"['--api-key={secret}']\n"), ran.stderr
    assert every_file_holding(sandbox.root, secret, but=sandbox.config / "claudex" / "mcp.json") == []


# ---- what Claude Code users type -----------------------------------------------------------

def test_claude_code_spellings(sandbox, registry):
    assert sandbox.run("mcp", "add", "--transport", "http", "web", "https://mcp.example.com/mcp").returncode == 0
    assert sandbox.run("mcp", "add", "-t", "sse", "events", "https://mcp.example.com/sse").returncode == 0
    assert sandbox.run("mcp", "add", "plain", "https://mcp.example.com/plain").returncode == 0
    proc = sandbox.run("mcp", "add", "tool", "-e", "MODE=fast", "-s", "user", "-t", "stdio", "--", "python3", "t.py")
    assert proc.returncode == 0, proc.stderr
    servers = {name: json.loads((registry / "installed" / name / "manifest.json").read_text())["server"]
               for name in ("web", "events", "plain", "tool")}
    assert servers["web"] == {"transport": "http", "url": "https://mcp.example.com/mcp"}
    assert servers["events"] == {"transport": "sse", "url": "https://mcp.example.com/sse"}
    assert servers["plain"]["transport"] == "http"
    assert servers["tool"] == {"command": "python3", "args": ["t.py"], "env": {"MODE": "fast"}}


def test_scope_project_is_the_project_of_the_working_directory(sandbox, registry):
    project = sandbox.home / "src" / "app"
    (project / ".claudex").mkdir(parents=True)
    (project / "sub").mkdir()
    proc = sandbox.run("mcp", "add", "-s", "project", "local", "--", "python3", "tool.py", cwd=project / "sub")
    assert proc.returncode == 0, proc.stderr
    assert "for project app" in proc.stdout
    assert (registry / "disabled" / "local").is_dir()
    assert json.loads((project / ".claudex" / "mcp.json").read_text())["servers"]["local"] == {"enabled": True}


def test_get_is_info(sandbox, registry):
    assert sandbox.run("mcp", "add", "web", "https://mcp.example.com/mcp").returncode == 0
    got, info = sandbox.run("mcp", "get", "web", "--json"), sandbox.run("mcp", "info", "web", "--json")

    def timeless(doc: dict) -> dict:  # when the server was asked differs between the two runs
        return dict(doc, tools={k: v for k, v in doc["tools"].items() if k not in ("checkedAt", "ageSeconds", "cached")})

    assert got.returncode == info.returncode == 5  # its host does not resolve: the document, and exit 5
    assert timeless(json.loads(got.stdout)) == timeless(json.loads(info.stdout))


def test_install_of_an_npm_package_points_at_add(sandbox, registry):
    proc = sandbox.run("mcp", "install", "@modelcontextprotocol/server-everything")
    assert proc.returncode == 4
    error = json.loads(proc.stderr)["error"]
    assert error["code"] == "npm_package"
    assert "claudex mcp add everything -- npx -y @modelcontextprotocol/server-everything" in error["hint"]
    bare = json.loads(sandbox.run("mcp", "install", "mcp-server-time").stderr)["error"]
    assert "claudex mcp add time -- uvx mcp-server-time" in bare["hint"]


# ---- npx and uvx: pinned and fetched before the first start (the real registries) ----------

EVERYTHING = "@modelcontextprotocol/server-everything"


def runner_env(sandbox) -> dict:
    """The sandbox's HOME and XDG folders hold npm's and uv's caches: a first download is real."""
    env = {k: v for k, v in sandbox.env.items() if not k.lower().startswith(("npm_config_", "uv_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["COLUMNS"] = "60"  # uv and npm wrap their messages at it: what claudex reads of them must not care
    return env


def test_npx_is_pinned_and_fetched_so_the_first_test_passes(sandbox, registry):
    env = runner_env(sandbox)
    proc = sandbox.run("mcp", "add", "everything", "--json", "--", "npx", "-y", EVERYTHING, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr
    pinned = json.loads(proc.stdout)["pinned"]
    assert (pinned["manager"], pinned["package"]) == ("npm", EVERYTHING)
    server = json.loads((registry / "installed" / "everything" / "manifest.json").read_text())["server"]
    assert server["args"] == ["-y", f"{EVERYTHING}@{pinned['version']}"]
    assert any((sandbox.home / ".npm" / "_npx").iterdir())
    tested = sandbox.run("mcp", "test", "everything", "--json", env=env, timeout=120)  # the default 10 s
    assert json.loads(tested.stdout)["state"] == "healthy", tested.stdout + tested.stderr


def test_uvx_is_pinned_and_fetched_with_progress_on_a_terminal(sandbox, registry):
    env = {**runner_env(sandbox), "NO_COLOR": "1"}
    proc, shown = stderr_on_terminal([sys.executable, str(ROOT / "scripts" / "claudex"), "mcp", "add", "time", "--",
                                      "uvx", "mcp-server-time"], env, timeout=900)
    assert proc.returncode == 0
    phases = [line.split()[1] for line in shown.splitlines() if line.strip()]
    assert phases[:2] == ["resolving", "downloading"], shown
    server = json.loads((registry / "installed" / "time" / "manifest.json").read_text())["server"]
    version = server["args"][0].removeprefix("mcp-server-time@")
    assert version[:1].isdigit() and f"pinned mcp-server-time@{version}" in proc.stdout.decode()
    tested = sandbox.run("mcp", "test", "time", "--json", env=env, timeout=120)
    assert json.loads(tested.stdout)["state"] == "healthy", tested.stdout + tested.stderr


def test_no_pin_floats_fetches_nothing_and_a_time_out_names_the_download(sandbox, registry):
    env = runner_env(sandbox)
    proc = sandbox.run("mcp", "add", "everything", "--no-pin", "--json", "--", "npx", "-y", EVERYTHING, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["pinned"] is None
    server = json.loads((registry / "installed" / "everything" / "manifest.json").read_text())["server"]
    assert server["args"] == ["-y", EVERYTHING] and not (sandbox.home / ".npm" / "_npx").exists()
    tested = sandbox.run("mcp", "test", "everything", "--timeout", "1", "--json", env=env, timeout=120)
    result = json.loads(tested.stdout)
    assert (result["state"], result["cause"]) == ("unhealthy", "timeout")
    assert "npx may still be downloading" in result["hint"]
    called = sandbox.run("mcp", "call", "everything", "echo", "--timeout", "1", env=env, timeout=120)
    assert called.returncode == 5 and "npx may still be downloading" in json.loads(called.stderr)["error"]["hint"]


@pytest.mark.parametrize("argv, extra, code, error", [
    (["npx", "-y", "@claudex-no-such-scope-zz/nope"], {}, 4, "no_such_package"),
    (["uvx", "claudex-no-such-package-zzz-123"], {}, 4, "no_such_package"),
    (["npx", "-y", "left-pad@no-such-tag"], {}, 4, "no_such_version"),
    (["uvx", "mcp-server-time@0.0.0.1"], {}, 4, "no_such_version"),
    (["npx", "-y", "left-pad"], {"npm_config_registry": "http://127.0.0.1:9/", "npm_config_fetch_retries": "0"},
     5, "registry_unreachable"),
    (["uvx", "mcp-server-time"], {"UV_DEFAULT_INDEX": "http://127.0.0.1:9/simple"}, 5, "registry_unreachable"),
])
def test_a_package_that_cannot_be_resolved_adds_nothing(sandbox, registry, argv, extra, code, error):
    before = files_under(registry)
    proc = sandbox.run("mcp", "add", "pkg", "--", *argv, env={**runner_env(sandbox), **extra}, timeout=300)
    assert proc.returncode == code, proc.stderr
    assert json.loads(proc.stderr)["error"]["code"] == error, proc.stderr
    assert ("--no-pin" in proc.stderr) == (code == 5)  # offline: add it unpinned; no such package: no way round
    assert proc.stdout == "" and files_under(registry) == before


def test_ctrl_c_while_resolving_ends_npm_and_adds_nothing(sandbox, registry):
    """A registry that accepts and never answers keeps npm waiting: Ctrl-C ends it, exit 130."""
    import signal
    import socket
    import time

    from claudex_mcp import procs

    before = files_under(registry)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        env = {**runner_env(sandbox), "npm_config_registry": f"http://127.0.0.1:{silent.getsockname()[1]}/"}
        proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "claudex"), "mcp", "add", "pkg", "--",
                                 "npx", "-y", "left-pad"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while not procs._tagged(str(proc.pid)) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert procs._tagged(str(proc.pid)), "npm never started"
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and json.loads(err)["error"]["code"] == "interrupted" and out == b""
    assert procs._tagged(str(proc.pid)) == [] and files_under(registry) == before

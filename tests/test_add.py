"""claudex mcp add: a command or a URL becomes a registry server with a generated manifest, and no
literal secret lands in a manifest, registry.json, a shared layer or a generated client file."""

from __future__ import annotations

import json
import os
import stat

import pytest

from claudex_mcp import registry as registry_mod

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
                       "--", "npx", "-y", "@modelcontextprotocol/server-github", "--verbose")
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
    user = json.loads((sandbox.config / "claudex" / "mcp.json").read_text())
    assert user["servers"]["docs"]["env"] == {"DOCS_TOKEN": BEARER, "DOCS_URL_PASSWORD": "pa55word"}


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
    (["ok", "--url", f"https://a.example/{TOKEN}/mcp"], 1, "secret_in_url"),
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
    from claudex_mcp import adopt

    kept = adopt.to_manifest("notes", adopt.definition(command="python3", args=["serve.py"], cwd="/srv/notes"), "d")
    assert kept.manifest["server"]["cwd"] == "/srv/notes" and not kept.warnings
    by_variable = adopt.to_manifest("notes", adopt.definition(command="python3", cwd="${HOME}/notes"), "d")
    assert by_variable.manifest["server"]["cwd"] == "${HOME}/notes"
    relative = adopt.to_manifest("notes", adopt.definition(command="python3", cwd="sub/dir"), "d")
    assert "cwd" not in relative.manifest["server"]
    assert any("relative cwd sub/dir" in w for w in relative.warnings)

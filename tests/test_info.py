"""info: one server's manifest, place, source, variables (set or not, never their values), tools
from the last check (or how to get them), and config provenance; a reader that writes nothing
but the status results."""

from __future__ import annotations

import json
import sys

import pytest

from conftest import add_echo_servers, add_server, manifest
from claudex_mcp import registry as registry_mod

PY = sys.executable


@pytest.fixture
def reg(sandbox):
    registry_mod.init(sandbox.registry)
    add_echo_servers(sandbox.registry)
    add_server(sandbox.registry, "vars", doc=manifest(
        "vars", command=PY, requiredEnv=[{"name": "VARS_TOKEN", "description": "the token", "secret": True}],
        optionalEnv=[{"name": "VARS_URL", "description": "where", "secret": False}, "VARS_OLD"]))
    return sandbox.registry


def info(sandbox, *argv, env=None) -> dict:
    proc = sandbox.run("mcp", "info", *argv, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def tree(path) -> dict:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_info_describes_the_manifest_and_where_it_is(sandbox, reg):
    doc = info(sandbox, "echo")
    assert (doc["name"], doc["version"], doc["description"]) == ("echo", "1.0.0", "The echo server")
    assert (doc["location"], doc["folder"], doc["valid"], doc["enabled"]) == ("installed", str(reg / "installed" / "echo"), True, True)
    assert doc["transport"] == "stdio" and doc["command"] == [PY, "${SERVER_DIR}/server.py"]
    assert doc["source"]["type"] == "path"
    assert info(sandbox, "echo-off")["enabled"] is False


def test_variables_say_required_secret_and_set_without_values(sandbox, reg):
    found = {v["name"]: v for v in info(sandbox, "vars")["variables"]}
    assert [found[n]["required"] for n in ("VARS_TOKEN", "VARS_URL", "VARS_OLD")] == [True, False, False]
    assert [found[n]["secret"] for n in ("VARS_TOKEN", "VARS_URL", "VARS_OLD")] == [True, False, True]
    assert not any(v["set"] for v in found.values())
    proc = sandbox.run("mcp", "config", "set", "vars", "env.VARS_TOKEN", "tok-Very-Secret-123")
    assert proc.returncode == 0, proc.stderr
    proc = sandbox.run("mcp", "info", "vars", "--json", env={"VARS_URL": "http://x"})
    assert "tok-Very-Secret-123" not in proc.stdout and "http://x" not in proc.stdout
    found = {v["name"]: v for v in json.loads(proc.stdout)["variables"]}
    assert (found["VARS_TOKEN"]["set"], found["VARS_TOKEN"]["from"]) == (True, "user layer")
    assert found["VARS_TOKEN"]["file"] == str(sandbox.config / "claudex" / "mcp.json")
    assert (found["VARS_URL"]["set"], found["VARS_URL"]["from"]) == (True, "environment")
    assert (found["VARS_OLD"]["set"], found["VARS_OLD"]["from"]) == (False, None)
    text = sandbox.run("mcp", "info", "vars").stdout
    assert "tok-Very-Secret-123" not in text and "VARS_TOKEN  [required, secret]  set (user layer)" in text


def test_config_provenance_names_layer_and_file_and_masks_secrets(sandbox, reg):
    sandbox.run("mcp", "config", "set", "vars", "env.VARS_TOKEN", "tok-Very-Secret-123")
    sandbox.run("mcp", "config", "set", "vars", "args", '["--fast"]')
    config = {c["key"]: c for c in info(sandbox, "vars")["config"]}
    assert config["args"] == {"key": "args", "layer": "user", "file": str(sandbox.config / "claudex" / "mcp.json"),
                              "value": ["--fast"]}
    assert config["env.VARS_TOKEN"]["value"] == "********"
    assert config["enabled"]["layer"] == "registry"


def test_tools_come_from_the_last_check_or_say_how_to_get_them(sandbox, reg):
    doc = info(sandbox, "echo")
    assert doc["tools"] == {"checked": False, "list": None}
    text = sandbox.run("mcp", "info", "echo").stdout
    assert "claudex mcp info echo --refresh" in text and "claudex mcp status" in text
    assert sandbox.run("mcp", "status", "echo", "--json").returncode == 0
    tools = info(sandbox, "echo")["tools"]
    assert tools["checked"] and tools["state"] == "healthy"
    assert tools["list"] == [{"name": "add", "description": "Return the sum of two integers."},
                             {"name": "echo", "description": "Return the text, preceded by $ECHO_PREFIX when it is set."}]


def test_refresh_checks_the_server_now(sandbox, reg):
    tools = info(sandbox, "echo", "--refresh")["tools"]
    assert [t["name"] for t in tools["list"]] == ["add", "echo"]
    failed = info(sandbox, "echo-key", "--refresh")["tools"]
    assert failed["list"] is None and failed["state"] == "missing env" and "ECHO_TOKEN" in failed["error"]
    assert "found it missing env: echo-key needs ECHO_TOKEN" in sandbox.run("mcp", "info", "echo-key").stdout
    off = info(sandbox, "echo-off", "--refresh")["tools"]
    assert (off["list"], off["state"]) == (None, "disabled")
    assert "found it disabled\n" in sandbox.run("mcp", "info", "echo-off").stdout


def test_info_writes_nothing_to_the_registry_or_the_config(sandbox, reg):
    before = tree(reg), tree(sandbox.config) if sandbox.config.exists() else {}
    for name in ("echo", "vars", "echo-off"):
        assert sandbox.run("mcp", "info", name).returncode == 0
    assert (tree(reg), tree(sandbox.config) if sandbox.config.exists() else {}) == before


def test_an_invalid_server_is_described_with_its_problems(sandbox, reg):
    folder = add_server(reg, "broken", doc={"apiVersion": "v1", "metadata": {"name": "broken"}})
    doc = info(sandbox, "broken")
    assert doc["valid"] is False and doc["problems"] and doc["folder"] == str(folder)
    assert "invalid" in sandbox.run("mcp", "info", "broken").stdout


def test_an_unknown_server_exits_4_with_did_you_mean(sandbox, reg):
    proc = sandbox.run("mcp", "info", "ecoh")
    assert proc.returncode == 4 and proc.stdout == ""
    error = json.loads(proc.stderr)["error"]
    assert error["code"] == "no_server" and "did you mean echo" in error["hint"]


def test_a_git_source_shows_its_commit(sandbox, reg):
    registry_mod.init(reg)
    recorded = json.loads((reg / "registry.json").read_text())
    recorded["servers"]["echo"] = {"location": "installed", "version": "1.0.0",
                                   "source": {"type": "git", "url": "https://u:pw@example.com/echo.git",
                                              "ref": "v1", "commit": "0123456789abcdef0123456789abcdef01234567"},
                                   "installedAt": "2026-11-30T10:00:00Z"}
    (reg / "registry.json").write_text(json.dumps(recorded))
    doc = info(sandbox, "echo")
    assert doc["source"]["commit"].startswith("0123456789ab") and "pw" not in json.dumps(doc)
    text = sandbox.run("mcp", "info", "echo").stdout
    assert "@v1 (commit 0123456789ab)" in text and "pw@" not in text


def test_without_a_record_the_install_marker_says_the_source(sandbox, reg):
    from claudex_mcp.staging import MARKER

    folder = reg / "installed" / "echo"
    (folder / MARKER).write_text(json.dumps({"source": {"type": "git", "url": "https://example.com/e.git",
                                                        "commit": "f" * 40}, "installedAt": "2026-11-30T10:00:00Z"}))
    (reg / "registry.json").unlink()
    source = info(sandbox, "echo")["source"]
    assert (source["type"], source["commit"]) == ("git", "f" * 40)
    assert not (reg / "registry.json").exists()  # a reader: nothing written back

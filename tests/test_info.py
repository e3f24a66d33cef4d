"""info: one server's manifest, place, source, variables (set or not, never their values), tools
with their input schemas (a kept listing, or the server asked now), and config provenance; a
reader that writes nothing but the status results."""

from __future__ import annotations

import json
import sys

import pytest

from conftest import ECHO_SERVER, add_echo_servers, add_server, manifest
from claudex_mcp.store import registry as registry_mod

PY = sys.executable


@pytest.fixture
def reg(sandbox):
    registry_mod.init(sandbox.registry)
    add_echo_servers(sandbox.registry)
    add_server(sandbox.registry, "vars", doc=manifest(
        "vars", command=PY, requiredEnv=[{"name": "VARS_TOKEN", "description": "the token", "secret": True}],
        optionalEnv=[{"name": "VARS_URL", "description": "where", "secret": False}, "VARS_OLD"]),
        files={"server.py": ECHO_SERVER.read_text()})
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
    sandbox.run("mcp", "config", "set", "vars", "args", '["${SERVER_DIR}/server.py", "--fast"]')
    config = {c["key"]: c for c in info(sandbox, "vars")["config"]}
    assert config["args"] == {"key": "args", "layer": "user", "file": str(sandbox.config / "claudex" / "mcp.json"),
                              "value": ["${SERVER_DIR}/server.py", "--fast"]}
    assert config["env.VARS_TOKEN"]["value"] == "********"
    assert config["enabled"]["layer"] == "registry"


ECHO_TOOLS = [
    {"name": "add", "description": "Return the sum of two integers.",
     "inputSchema": {"properties": {"a": {"title": "A", "type": "integer"}, "b": {"title": "B", "type": "integer"}},
                     "required": ["a", "b"], "title": "addArguments", "type": "object"}},
    {"name": "echo", "description": "Return the text, preceded by $ECHO_PREFIX when it is set.",
     "inputSchema": {
         "$defs": {"Frame": {"description": "Text put around the echo (a nested object in the input schema).",
                             "properties": {"before": {"default": "", "title": "Before", "type": "string"},
                                            "after": {"default": "", "title": "After", "type": "string"}},
                             "title": "Frame", "type": "object"}},
         "properties": {"text": {"title": "Text", "type": "string"},
                        "case": {"default": "keep", "description": "change the case", "enum": ["keep", "upper", "lower"],
                                 "title": "Case", "type": "string"},
                        "frame": {"anyOf": [{"$ref": "#/$defs/Frame"}, {"type": "null"}], "default": None}},
         "required": ["text"], "title": "echoArguments", "type": "object"}},
]
CRASH = "import sys\nprint('boom: no config', file=sys.stderr)\nsys.exit(3)\n"


def test_json_has_each_tool_with_its_whole_input_schema(sandbox, reg):
    tools = info(sandbox, "echo")["tools"]
    assert (tools["state"], tools["cached"]) == ("healthy", False)  # nothing kept: the server was asked now
    assert tools["list"] == ECHO_TOOLS


def test_a_terminal_shows_each_argument_in_one_line(sandbox, reg):
    code, shown = sandbox.run_tty("mcp", "info", "echo", env={"NO_COLOR": "1"})
    assert code == 0, shown
    tools = shown[shown.index("tools  (listed now)"):shown.index("\n\nconfig")].splitlines()
    assert tools[1:] == [
        "  add  Return the sum of two integers.",
        "      a  integer, required",
        "      b  integer, required",
        "  echo  Return the text, preceded by $ECHO_PREFIX when it is set.",
        "      text   string, required",
        '      case   string, default "keep", one of "keep", "upper", "lower"  change the case',
        "      frame  object {before, after} or null, default null",
    ]
    code, shown = sandbox.run_tty("mcp", "info", "echo")  # coloured: names cyan, the summary dimmed
    assert code == 0 and "\x1b[36mecho\x1b[0m" in shown and "\x1b[2m  change the case\x1b[0m" in shown


def test_a_kept_listing_is_used_until_the_server_or_its_config_changes(sandbox, reg):
    assert sandbox.run("mcp", "status", "echo").returncode == 0
    checked_at = info(sandbox, "echo")["tools"]["checkedAt"]
    tools = info(sandbox, "echo")["tools"]
    assert tools["cached"] and tools["list"] == ECHO_TOOLS and tools["checkedAt"] == checked_at
    code, shown = sandbox.run_tty("mcp", "info", "echo", env={"NO_COLOR": "1"})
    assert code == 0 and "tools  (listed " in shown and " s ago; --refresh asks again)" in shown
    # A config value changes what the server is started with: the kept listing no longer says.
    assert sandbox.run("mcp", "config", "set", "echo", "env.GREETING", "hi").returncode == 0
    assert info(sandbox, "echo")["tools"]["checkedAt"] != checked_at
    # So does a change to the server's own file: it is asked again (and now crashes).
    (reg / "installed" / "echo" / "server.py").write_text(CRASH)
    assert sandbox.run("mcp", "info", "echo", "--json").returncode == 5


def test_a_server_that_does_not_answer_still_gets_its_document_and_exits_5(sandbox, reg):
    add_server(reg, "crash", doc=manifest("crash", command=PY), files={"server.py": CRASH})
    proc = sandbox.run("mcp", "info", "crash", "--json")
    assert proc.returncode == 5
    doc = json.loads(proc.stdout)
    assert doc["name"] == "crash" and doc["variables"] == [] and doc["config"]  # the rest is all there
    assert (doc["tools"]["list"], doc["tools"]["state"], doc["tools"]["cause"]) == (None, "unhealthy", "crashed")
    error = json.loads(proc.stderr)["error"]
    assert error["code"] == "crashed" and error["message"].startswith("crash did not answer, so its tools are not listed")
    code, shown = sandbox.run_tty("mcp", "info", "crash", env={"NO_COLOR": "1"})
    assert code == 5 and "location: installed" in shown and "\ntools  not listed: crash exited before" in shown
    assert "claudex mcp info: error: crash did not answer" in shown


def test_the_listing_says_why_a_server_has_none(sandbox, reg):
    failed = info(sandbox, "echo-key")["tools"]  # missing env and disabled are states, not failures: exit 0
    assert failed["list"] is None and failed["state"] == "missing env" and "ECHO_TOKEN" in failed["error"]
    assert "not listed: echo-key needs ECHO_TOKEN" in sandbox.run("mcp", "info", "echo-key").stdout
    off = info(sandbox, "echo-off")["tools"]
    assert (off["list"], off["state"]) == (None, "disabled")
    assert "not listed: echo-off is disabled here" in sandbox.run("mcp", "info", "echo-off").stdout
    assert [t["name"] for t in info(sandbox, "echo-key", env={"ECHO_TOKEN": "t"})["tools"]["list"]] == ["add", "echo"]


def test_refresh_asks_the_server_again(sandbox, reg):
    assert info(sandbox, "echo")["tools"]["cached"] is False
    assert info(sandbox, "echo")["tools"]["cached"] is True
    tools = info(sandbox, "echo", "--refresh")["tools"]
    assert tools["cached"] is False and [t["name"] for t in tools["list"]] == ["add", "echo"]


def test_the_hint_of_a_tool_error_points_at_a_true_schema(sandbox, reg):
    """call's tool_error hint says to check the arguments with info: info shows the enum."""
    proc = sandbox.run("mcp", "call", "echo", "echo", "--args", '{"text": "x", "case": "big"}')
    assert proc.returncode == 1
    hint = json.loads(proc.stderr)["error"]["hint"]
    assert "claudex mcp info echo" in hint
    assert '"keep", "upper", "lower"' in sandbox.run("mcp", "info", "echo").stdout


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
    from claudex_mcp.store.staging import MARKER

    folder = reg / "installed" / "echo"
    (folder / MARKER).write_text(json.dumps({"source": {"type": "git", "url": "https://example.com/e.git",
                                                        "commit": "f" * 40}, "installedAt": "2026-11-30T10:00:00Z"}))
    (reg / "registry.json").unlink()
    source = info(sandbox, "echo")["source"]
    assert (source["type"], source["commit"]) == ("git", "f" * 40)
    assert not (reg / "registry.json").exists()  # a reader: nothing written back

"""generate-mcp-json: golden output per client, no secret in any written file, the user's own
entries and keys kept, idempotent atomic writes with a backup, Codex's TOML edited in place, and
bad targets refused."""

from __future__ import annotations

import copy
import json
import os
import stat
import tomllib
from pathlib import Path

import pytest

from conftest import ROOT, run_script
from claudex_mcp.clients import renderers, generate
from claudex_mcp import jsonio
from claudex_mcp.errors import InvalidInput, UsageError

GOLDEN = ROOT / "tests" / "golden" / "generate"
CASES = sorted(p.stem for p in (GOLDEN / "effective").glob("*.json"))
EXTENSION = {"codex": "toml"}
SECRETS = ("sk-test-SECRET-123", "tenant-SECRET-456", "sk-raw-SECRET-789", "ghp_raw-SECRET-000")


def load_case(case: str) -> dict:
    return json.loads((GOLDEN / "effective" / f"{case}.json").read_text())


def launch(name: str, project: str | None = "/abs/project") -> dict:
    args = ["mcp", "run", name] + (["--project-dir", project] if project else [])
    return {"command": "/abs/.venv/bin/claudex", "args": args, "env": {"CLAUDEX_MCP_REGISTRY": "/abs/registry"}}


def stdio(name: str, enabled: bool = True, **extra) -> dict:
    return {"enabled": enabled, "transport": "stdio", "location": "core", "folder": f"/abs/registry/core/{name}",
            "version": "1.0.0", "command": "python3", "args": [], "env": {}, "settings": {},
            "launch": launch(name), "passEnv": [], **extra}


def http(url: str = "https://mcp.example.com/mcp", headers: dict | None = None, **extra) -> dict:
    return {"enabled": True, "transport": "http", "location": "installed", "folder": "/abs/registry/installed/r",
            "version": "1.0.0", "url": url, "headers": headers or {}, "settings": {}, "passEnv": [], **extra}


def effective(servers: dict, project: str | None = "/abs/project") -> dict:
    return {"apiVersion": "v1", "project": {"name": "demo", "dir": project} if project else None,
            "registry": "/abs/registry", "servers": servers, "warnings": []}


def generate_cli(doc: dict, *argv: str, env: dict | None = None):
    return run_script("generate-mcp-json", *argv, input=json.dumps(doc), env=env or dict(os.environ))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---- golden -------------------------------------------------------------------------------

@pytest.mark.parametrize("client", renderers.CLIENTS)
@pytest.mark.parametrize("case", CASES)
def test_golden(client, case):
    expected = (GOLDEN / client / f"{case}.{EXTENSION.get(client, 'json')}").read_bytes()
    proc = run_script("generate-mcp-json", "--client", client, "--output", "-",
                      "--input", str(GOLDEN / "effective" / f"{case}.json"), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.encode() == expected


@pytest.mark.parametrize("case", CASES)
def test_golden_codex_parses_back_to_the_rendered_entries(case):
    text = (GOLDEN / "codex" / f"{case}.toml").read_text()
    assert tomllib.loads(text).get("mcp_servers", {}) == renderers.render("codex", load_case(case)).entries


def test_output_dash_reports_skipped_servers_on_stderr_and_writes_nothing(sandbox):
    proc = generate_cli(load_case("mixed"), "--client", "codex", "--output", "-")
    assert proc.returncode == 0
    assert proc.stderr == "warning: skipped events: Codex connects to stdio and streamable HTTP servers only, not sse\n"
    assert not any(sandbox.home.rglob("*"))


# ---- secrets ------------------------------------------------------------------------------

def secret_effective() -> dict:
    doc = load_case("secrets")
    github = doc["servers"]["github"]
    github["env"]["LEAK"] = "sk-raw-SECRET-789"
    github["command"] = "github-mcp --token ghp_raw-SECRET-000"
    github["args"] = ["--token", "sk-raw-SECRET-789"]
    doc["servers"]["stripe"]["headers"]["X-Tenant"] = "${TENANT}"
    return doc


def test_no_secret_reaches_any_written_file(sandbox, tmp_path):
    env = dict(os.environ, API_TOKEN="sk-test-SECRET-123", TENANT="tenant-SECRET-456",
               GITHUB_TOKEN="ghp_raw-SECRET-000", CODEX_HOME=str(sandbox.home / "codex-home"))
    doc = secret_effective()
    project = tmp_path / "project"
    doc["project"]["dir"] = str(project)
    runs = [("claude-code", "default"), ("claude-code", "project"), ("claude-code", "user"), ("codex", "default"),
            ("codex", "project"), ("claude-desktop", "user"), ("cursor", "project"), ("cursor", "user"),
            ("vscode", "project")]
    for round_ in range(2):  # the second round changes the files, so backups are written too
        if round_:
            doc["servers"]["github"]["launch"]["args"].append("--changed")
        for client, scope in runs:
            proc = generate_cli(doc, "--client", client, "--scope", scope, "--json", env=env)
            assert proc.returncode == 0, proc.stderr
            assert not any(s in proc.stdout + proc.stderr for s in SECRETS)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    names = {p.name for p in written}
    assert {".mcp.json", ".claude.json", "config.toml", "claude_desktop_config.json", "mcp.json",
            "generated.json", ".mcp.json.bak", ".claude.json.bak", "config.toml.bak", "mcp.json.bak"} <= names
    for path in written:
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret} leaked into {path}"
    codex = tomllib.loads((sandbox.home / "codex-home" / "config.toml").read_text())["mcp_servers"]
    assert codex["github"]["env_vars"] == ["GITHUB_TOKEN", "XDG_STATE_HOME"]
    assert codex["stripe"] == {"url": "https://mcp.stripe.example/v1", "bearer_token_env_var": "API_TOKEN",
                               "env_http_headers": {"Stripe-Account": "STRIPE_ACCOUNT", "X-Tenant": "TENANT"}}


# ---- non-destructive ----------------------------------------------------------------------

CLAUDE_JSON = {
    "numStartups": 42,
    "tipsHistory": {"memory": 3, "nested": {"list": [1, 2.5, True, None], "text": "héllo ✓"}},
    "mcpServers": {
        "mine": {"type": "stdio", "command": "my-server", "args": [], "env": {}},
        "notes": {"type": "stdio", "command": "my-own-notes", "args": ["--mine"], "env": {}},
    },
    "projects": {"/abs/project": {"allowedTools": [], "mcpServers": {}}},
    "zLast": 1e-7,
}


def write_json(path: Path, doc, mode_: int = 0o600) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(doc, indent=2).encode()
    path.write_bytes(data)
    os.chmod(path, mode_)
    return data


def test_claude_json_keeps_every_other_key_in_order_and_the_users_entries(sandbox):
    target = sandbox.home / ".claude.json"
    write_json(target, CLAUDE_JSON)
    doc = effective({"notes": stdio("notes"), "search": http(headers={"Authorization": "Bearer ${API_TOKEN}"})})
    result = generate.write(doc, "claude-code", "user")
    after = json.loads(target.read_text())
    assert list(after) == list(CLAUDE_JSON)
    for key in ("numStartups", "tipsHistory", "projects", "zLast"):
        assert after[key] == CLAUDE_JSON[key]
    assert list(after["mcpServers"]) == ["mine", "notes", "search"]
    assert after["mcpServers"]["mine"] == CLAUDE_JSON["mcpServers"]["mine"]
    assert after["mcpServers"]["notes"] == CLAUDE_JSON["mcpServers"]["notes"]  # the user's, not ours
    assert after["mcpServers"]["search"] == {"type": "http", "url": "https://mcp.example.com/mcp",
                                             "headers": {"Authorization": "Bearer ${API_TOKEN}"}}
    assert result["servers"] == ["search"] and result["kept"] == ["notes"] and result["removed"] == []
    assert result["warnings"] == [f"kept your entry notes in {target}; claudex's notes was not written"]
    assert mode(target) == 0o600
    assert target.read_text().endswith("}\n") and '\n  "numStartups": 42,\n' in target.read_text()


def test_a_managed_server_that_is_disabled_is_removed_next_time(sandbox):
    target = sandbox.home / ".mcp.json"
    write_json(target, {"mcpServers": {"mine": {"command": "x"}}}, 0o644)
    servers = {"a": stdio("a"), "b": stdio("b")}
    first = generate.write(effective(servers), "claude-code")
    assert first["servers"] == ["a", "b"] and list(json.loads(target.read_text())["mcpServers"]) == ["mine", "a", "b"]
    servers["a"] = stdio("a", enabled=False)
    second = generate.write(effective(servers), "claude-code")
    assert second["removed"] == ["a"] and second["servers"] == ["b"] and second["changed"]
    assert json.loads(target.read_text())["mcpServers"] == {"mine": {"command": "x"},
                                                            "b": renderers.render("claude-code", effective(servers)).entries["b"]}
    state = json.loads(generate.state_file().read_text())
    assert state == {str(target): {"client": "claude-code", "servers": ["b"], "project": "/abs/project"}}


def test_an_entry_the_user_wrote_is_never_removed(sandbox):
    target = sandbox.home / ".mcp.json"
    write_json(target, {"mcpServers": {"a": {"command": "mine"}}}, 0o644)
    result = generate.write(effective({"a": stdio("a", enabled=False)}), "claude-code")
    assert result["removed"] == [] and not result["changed"]
    assert json.loads(target.read_text()) == {"mcpServers": {"a": {"command": "mine"}}}


def test_vscode_keeps_inputs_and_other_keys(sandbox, tmp_path):
    project = tmp_path / "project"
    target = project / ".vscode" / "mcp.json"
    original = {"inputs": [{"type": "promptString", "id": "key", "description": "Key", "password": True}],
                "servers": {"theirs": {"type": "stdio", "command": "x", "env": {"K": "${input:key}"}}}}
    write_json(target, original, 0o664)
    result = generate.write(effective({"notes": stdio("notes")}, str(project)), "vscode")
    after = json.loads(target.read_text())
    assert after["inputs"] == original["inputs"] and list(after["servers"]) == ["theirs", "notes"]
    assert after["servers"]["notes"]["type"] == "stdio"
    assert result["scope"] == "project" and mode(target) == 0o664


JSONC_BEFORE = """// VS Code's MCP servers for this project
{
  /* prompts VS Code asks for */
  "inputs": [
    {"type": "promptString", "id": "key", "description": "Key", "password": true}, // mine
  ],
  "servers": {
    "theirs": {
      "type": "stdio",
      "command": "x", // keep me
    },
  },
  // the end
}
"""


def test_vscode_jsonc_is_merged_and_every_byte_outside_the_servers_object_kept(sandbox, tmp_path):
    project = tmp_path / "project"
    target = project / ".vscode" / "mcp.json"
    target.parent.mkdir(parents=True)
    target.write_text(JSONC_BEFORE)
    result = generate.write(effective({"notes": stdio("notes")}, str(project)), "vscode")
    assert result["changed"] and result["servers"] == ["notes"]
    after = target.read_text()
    head, _, rest = JSONC_BEFORE.partition('"servers": {')
    assert after.startswith(head + '"servers": {')  # comments and trailing commas before it kept
    assert after.endswith("  },\n  // the end\n}\n")
    assert '"command": "x", // keep me' in after  # the user's own entry, as written
    doc = jsonio.parse_jsonc(after.encode())
    assert list(doc["servers"]) == ["theirs", "notes"] and doc["servers"]["notes"]["type"] == "stdio"
    # A second run changes nothing, a third after removing ours takes it out again.
    again = generate.write(effective({"notes": stdio("notes")}, str(project)), "vscode")
    assert not again["changed"] and target.read_text() == after
    generate.write(effective({"notes": stdio("notes", enabled=False)}, str(project)), "vscode")
    assert "notes" not in target.read_text() and target.read_text().startswith(head)


def test_vscode_jsonc_without_servers_gets_them_after_a_trailing_comma(sandbox, tmp_path):
    project = tmp_path / "project"
    target = project / ".vscode" / "mcp.json"
    target.parent.mkdir(parents=True)
    target.write_text('{\n  // nothing yet\n}\n')
    generate.write(effective({"notes": stdio("notes")}, str(project)), "vscode")
    after = target.read_text()
    assert after.startswith('{\n  // nothing yet\n  "servers": {')
    target.write_text('{\n  "inputs": [], // none\n}\n')
    generate.state_file().unlink()  # a new file, not one whose notes the user removed
    generate.write(effective({"notes": stdio("notes")}, str(project)), "vscode")
    after = target.read_text()
    assert after.startswith('{\n  "inputs": [],\n  "servers": {') and after.endswith("}, // none\n}\n")


@pytest.mark.parametrize("content,fragment", [
    (b'{\n  /* never closed\n', ":2:3: a /* comment is never closed"),
    (b'{\n  // ok\n  "servers": {,}\n}', ":3:15: invalid JSON"),
])
def test_broken_vscode_jsonc_is_refused_with_line_and_column(sandbox, tmp_path, content, fragment):
    project = tmp_path / "project"
    target = project / ".vscode" / "mcp.json"
    target.parent.mkdir(parents=True)
    target.write_bytes(content)
    with pytest.raises(InvalidInput) as caught:
        generate.write(effective({"notes": stdio("notes")}, str(project)), "vscode")
    assert fragment in caught.value.message and target.read_bytes() == content


def test_comments_stay_refused_in_strict_json_clients(sandbox):
    target = sandbox.home / ".mcp.json"
    target.write_text('{"mcpServers": {} // no\n}')
    with pytest.raises(InvalidInput, match="invalid JSON"):
        generate.write(effective({"notes": stdio("notes")}), "claude-code")


# ---- idempotent, atomic, backed up --------------------------------------------------------

def test_second_run_changes_nothing_on_disk(sandbox):
    doc = effective({"notes": stdio("notes")})
    proc = generate_cli(doc, "--json")
    assert proc.returncode == 0, proc.stderr
    first = json.loads(proc.stdout)
    target = sandbox.home / ".mcp.json"
    assert first == {"client": "claude-code", "scope": "default", "target": str(target), "changed": True,
                     "backup": None, "servers": ["notes"], "removed": [], "kept": [], "excluded": [],
                     "folders": [], "warnings": []}
    before = target.stat()
    state_before = generate.state_file().stat()
    second = json.loads(generate_cli(doc, "--json").stdout)
    assert second["changed"] is False and second["backup"] is None
    after = target.stat()
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)
    assert generate.state_file().stat().st_mtime_ns == state_before.st_mtime_ns
    assert not (sandbox.home / ".mcp.json.bak").exists()
    assert mode(target) == 0o644


def test_backup_holds_the_previous_bytes_with_the_same_mode(sandbox):
    target = sandbox.home / ".claude.json"
    original = write_json(target, {"numStartups": 1}, 0o640)
    result = generate.write(effective({"notes": stdio("notes")}), "claude-code", "user")
    backup = sandbox.home / ".claude.json.bak"
    assert result["backup"] == str(backup) and backup.read_bytes() == original and mode(backup) == 0o640
    assert mode(target) == 0o640
    second_bytes = target.read_bytes()
    generate.write(effective({"notes": stdio("notes")}), "claude-code", "user")
    assert backup.read_bytes() == original  # unchanged run: the backup is not rotated
    generate.write(effective({}), "claude-code", "user")
    assert backup.read_bytes() == second_bytes


@pytest.mark.parametrize("client,scope,relative,expected_mode", [
    ("claude-code", "default", ".mcp.json", 0o644),
    ("claude-code", "user", ".claude.json", 0o600),
    ("codex", "default", ".codex/config.toml", 0o600),
    ("claude-desktop", "default", ".config/Claude/claude_desktop_config.json", 0o644),
    ("cursor", "user", ".cursor/mcp.json", 0o644),
])
def test_new_files_and_their_folders(sandbox, client, scope, relative, expected_mode):
    result = generate.write(effective({"notes": stdio("notes")}), client, scope)
    target = sandbox.home / relative
    assert result["target"] == str(target) and result["changed"] and result["backup"] is None
    assert mode(target) == expected_mode


def test_project_scopes_and_cursor_default(tmp_path):
    project = tmp_path / "p"
    doc = effective({"notes": stdio("notes")}, str(project))
    assert generate.write(doc, "claude-code", "project")["target"] == str(project / ".mcp.json")
    assert generate.write(doc, "cursor")["target"] == str(project / ".cursor" / "mcp.json")
    assert generate.write(doc, "vscode")["target"] == str(project / ".vscode" / "mcp.json")
    assert generate.write(doc, "codex", "project")["target"] == str(project / ".codex" / "config.toml")
    assert generate.write(effective({}, None), "cursor")["scope"] == "user"


def test_codex_home_and_output_override(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "ch"))
    doc = effective({"notes": stdio("notes")})
    assert generate.write(doc, "codex")["target"] == str(tmp_path / "ch" / "config.toml")
    out = tmp_path / "deep" / "er" / "x.json"
    assert generate.write(doc, "vscode", "project", output=str(out))["target"] == str(out)
    assert json.loads(out.read_text())["servers"]["notes"]["type"] == "stdio"


def test_writes_through_a_symlink(sandbox, tmp_path):
    real = tmp_path / "dotfiles" / "mcp.json"
    write_json(real, {"mcpServers": {}}, 0o644)
    (sandbox.home / ".mcp.json").symlink_to(real)
    generate.write(effective({"notes": stdio("notes")}), "claude-code")
    assert (sandbox.home / ".mcp.json").is_symlink()
    assert "notes" in json.loads(real.read_text())["mcpServers"]


def test_human_summary(sandbox):
    write_json(sandbox.home / ".mcp.json", {"mcpServers": {"b": {"command": "mine"}}}, 0o644)
    doc = effective({"a": stdio("a"), "b": stdio("b")})
    proc = generate_cli(doc)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"wrote  {sandbox.home / '.mcp.json'} (claude-code, default scope)",
        "  servers: a", "  kept yours: b", f"  previous file: {sandbox.home / '.mcp.json.bak'}"]
    assert proc.stderr == f"warning: kept your entry b in {sandbox.home / '.mcp.json'}; claudex's b was not written\n"
    assert generate_cli(doc).stdout.splitlines()[0].startswith("unchanged  ")


# ---- Codex --------------------------------------------------------------------------------

USER_CONFIG = '''# Codex settings, written by hand
model = "o3"
approval_policy = "on-request"

[mcp_servers.mine]
command = "npx"
args = ["-y", "my-server"]   # keep this comment

[profiles.fast]
model = "o4-mini"
notes = """
[mcp_servers.notes]
not a table: this is inside a string
"""
'''


def test_codex_keeps_the_users_text_byte_for_byte(sandbox):
    target = sandbox.home / ".codex" / "config.toml"
    target.parent.mkdir()
    target.write_text(USER_CONFIG)
    servers = {"notes": stdio("notes", passEnv=["API_TOKEN"]),
               "search": http(headers={"Authorization": "Bearer ${API_TOKEN}", "X-Team": "core"})}
    first = generate.write(effective(servers), "codex")
    text = target.read_text()
    assert text.startswith(USER_CONFIG + "\n[mcp_servers.notes]\n")
    parsed = tomllib.loads(text)
    assert parsed["mcp_servers"] == {
        "mine": {"command": "npx", "args": ["-y", "my-server"]},
        "notes": {"command": "/abs/.venv/bin/claudex", "args": ["mcp", "run", "notes", "--project-dir", "/abs/project"],
                  "env": {"CLAUDEX_MCP_REGISTRY": "/abs/registry"}, "env_vars": ["API_TOKEN"]},
        "search": {"url": "https://mcp.example.com/mcp", "bearer_token_env_var": "API_TOKEN",
                   "http_headers": {"X-Team": "core"}}}
    assert first["servers"] == ["notes", "search"] and first["warnings"] == []
    # The user adds a table after ours; we disable one server and change the other.
    target.write_text(text + "\n[tui]\nnotifications = true\n")
    servers["notes"] = stdio("notes", enabled=False)
    servers["search"]["url"] = "https://mcp.example.com/v2"
    second = generate.write(effective(servers), "codex")
    text = target.read_text()
    assert second["removed"] == ["notes"]
    assert text == USER_CONFIG + "\n[tui]\nnotifications = true\n\n" + \
        '[mcp_servers.search]\nurl = "https://mcp.example.com/v2"\nbearer_token_env_var = "API_TOKEN"\n' \
        'http_headers = { X-Team = "core" }\n'
    assert generate.write(effective(servers), "codex")["changed"] is False


def test_codex_keeps_a_users_table_of_the_same_name(sandbox):
    target = sandbox.home / ".codex" / "config.toml"
    target.parent.mkdir()
    target.write_text('[mcp_servers.notes]\ncommand = "mine"\n')
    result = generate.write(effective({"notes": stdio("notes"), "b": stdio("b")}), "codex")
    assert result["kept"] == ["notes"] and result["servers"] == ["b"]
    assert result["warnings"] == [f"kept your entry notes in {target}; claudex's notes was not written"]
    assert tomllib.loads(target.read_text())["mcp_servers"]["notes"] == {"command": "mine"}


def test_codex_reports_skipped_servers(sandbox):
    result = generate.write(load_case("remote-edge"), "codex")
    assert result["servers"] == ["quoting"]
    assert sorted(w.split(":")[0] for w in result["warnings"]) == [
        "skipped mixed-header", "skipped tenant-url", "skipped with-default"]


def test_codex_refuses_an_inline_mcp_servers_table(sandbox):
    target = sandbox.home / ".codex" / "config.toml"
    target.parent.mkdir()
    original = 'mcp_servers = { mine = { command = "x" } }\n'
    target.write_text(original)
    with pytest.raises(InvalidInput) as caught:
        generate.write(effective({"notes": stdio("notes")}), "codex")
    assert "cannot update the mcp_servers tables" in caught.value.message
    assert target.read_text() == original and not (target.parent / "config.toml.bak").exists()


def test_codex_subtables_of_a_managed_server_are_removed_with_it(sandbox):
    target = sandbox.home / ".codex" / "config.toml"
    generate.write(effective({"notes": stdio("notes")}), "codex")
    target.write_text(target.read_text() + '\n[mcp_servers.notes.extra]\nx = 1\n\n# mine\nmodel = "o3"\n'
                      .replace('model = "o3"', '[profile]\nmodel = "o3"'))
    generate.write(effective({"notes": stdio("notes", enabled=False)}), "codex")
    assert target.read_text() == '# mine\n[profile]\nmodel = "o3"\n'


# ---- bad targets and bad input ------------------------------------------------------------

@pytest.mark.parametrize("content,fragment", [
    (b'{"mcpServers": {,}}', ":1:17: invalid JSON"),
    (b"[1, 2]", "the top level is not a JSON object"),
    (b'{"mcpServers": []}', "/mcpServers: expected an object"),
])
def test_an_invalid_json_target_is_refused_and_left_alone(sandbox, content, fragment):
    target = sandbox.home / ".mcp.json"
    target.write_bytes(content)
    before = target.stat()
    proc = generate_cli(effective({"notes": stdio("notes")}))
    assert proc.returncode == 1 and proc.stdout == ""
    error = json.loads(proc.stderr.splitlines()[-1])["error"]
    assert fragment in error["message"] and error["path"] == str(target)
    assert "move it away" in error["hint"]
    assert target.read_bytes() == content and target.stat().st_mtime_ns == before.st_mtime_ns
    assert not (sandbox.home / ".mcp.json.bak").exists()


def test_an_invalid_toml_target_is_refused_with_line_and_column(sandbox):
    target = sandbox.home / ".codex" / "config.toml"
    target.parent.mkdir()
    target.write_text('model = "o3"\nbroken = \n')
    proc = generate_cli(effective({"notes": stdio("notes")}), "--client", "codex")
    assert proc.returncode == 1
    assert "(at line 2, column 10)" in json.loads(proc.stderr)["error"]["message"]
    assert target.read_text() == 'model = "o3"\nbroken = \n'


@pytest.mark.parametrize("argv", [["--scope", "project"], ["--client", "cursor", "--scope", "project"],
                                  ["--client", "vscode"], ["--client", "vscode", "--scope", "user"],
                                  ["--client", "claude-desktop", "--scope", "project"], ["--client", "zed"]])
def test_usage_errors_exit_2(sandbox, argv):
    proc = generate_cli(effective({"notes": stdio("notes")}, project=None), *argv)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == "" and json.loads(proc.stderr)["error"]["code"] in ("no_project", "bad_scope", "usage")
    assert not any(sandbox.home.rglob("*.json"))


def test_malformed_effective_config_exits_1_with_a_pointer(sandbox):
    doc = effective({"notes": stdio("notes")})
    del doc["servers"]["notes"]["launch"]
    proc = generate_cli(doc)
    assert proc.returncode == 1
    error = json.loads(proc.stderr)["error"]
    assert error["code"] == "invalid_effective_config" and error["message"].startswith("<stdin> /servers/notes: missing required key \"launch\"")


def test_invalid_json_on_stdin_exits_1(sandbox):
    proc = run_script("generate-mcp-json", input="{nope", env=dict(os.environ))
    assert proc.returncode == 1 and json.loads(proc.stderr)["error"]["code"] == "invalid_json"


def test_a_locked_target_exits_3(sandbox):
    from claudex_mcp.store import lock

    with lock.path_lock(Path(os.path.realpath(sandbox.home / ".mcp.json"))):
        proc = generate_cli(effective({"notes": stdio("notes")}), env=dict(os.environ, CLAUDEX_MCP_LOCK_TIMEOUT="0.2"))
    assert proc.returncode == 3 and json.loads(proc.stderr)["error"]["code"] == "locked"
    assert not (sandbox.home / ".mcp.json").exists()


def test_no_lock_file_lands_next_to_the_users_files(sandbox):
    generate.write(effective({"notes": stdio("notes")}), "claude-code", "user")
    assert sorted(p.name for p in sandbox.home.iterdir() if p.is_file()) == [".claude.json"]


def test_a_corrupt_state_file_is_refused(sandbox):
    generate.state_file().parent.mkdir(parents=True)
    generate.state_file().write_text("[]")
    with pytest.raises(InvalidInput):
        generate.write(effective({"notes": stdio("notes")}), "claude-code")
    assert not (sandbox.home / ".mcp.json").exists()


def test_resolve_target_needs_a_project_for_project_scope():
    with pytest.raises(UsageError):
        generate.resolve_target("claude-code", "project", effective({}, None))


def test_does_not_modify_its_input():
    doc = load_case("mixed")
    before = copy.deepcopy(doc)
    generate.render_document(doc, "codex")
    generate.write(doc, "claude-code")
    assert doc == before


# ---- an entry the user removed stays removed ----------------------------------------------

GONE = ("was removed from {target} outside claudex (with 'claude mcp remove', 'codex mcp remove' or an "
        "edit): claudex leaves it out of that file from now on")


def test_an_entry_the_user_removed_stays_out_and_is_said_once(sandbox):
    target = sandbox.home / ".mcp.json"
    doc = effective({"a": stdio("a"), "b": stdio("b")})
    assert generate_cli(doc).returncode == 0
    written = json.loads(target.read_text())
    del written["mcpServers"]["a"]  # `claude mcp remove a`, or an editor
    write_json(target, written, 0o644)
    proc = generate_cli(doc, "--json")
    result = json.loads(proc.stdout)
    assert result["servers"] == ["b"] and result["excluded"] == ["a"] and not result["changed"]
    assert result["warnings"] == [f"a {GONE.format(target=target)}; 'claudex mcp enable a' writes it back, "
                                  f"'claudex mcp disable a' switches it off everywhere"]
    assert list(json.loads(target.read_text())["mcpServers"]) == ["b"]
    again = generate_cli(doc)  # said once; then listed
    assert again.stderr == "" and "  left out (you removed them): a" in again.stdout.splitlines()
    assert generate.readmit("a", True)  # what `claudex mcp enable a` does
    assert json.loads(generate_cli(doc, "--json").stdout)["servers"] == ["a", "b"]
    assert list(json.loads(target.read_text())["mcpServers"]) == ["b", "a"]


def test_a_removed_entry_is_forgotten_once_claudex_would_not_write_it(sandbox):
    target = sandbox.home / ".mcp.json"
    assert generate_cli(effective({"a": stdio("a")})).returncode == 0
    write_json(target, {"mcpServers": {}}, 0o644)
    assert json.loads(generate_cli(effective({"a": stdio("a")}), "--json").stdout)["excluded"] == ["a"]
    assert json.loads(generate_cli(effective({"a": stdio("a", enabled=False)}), "--json").stdout)["excluded"] == []
    # Uninstalled, disabled: when it is wanted again, it is written again.
    assert json.loads(generate_cli(effective({"a": stdio("a")}), "--json").stdout)["servers"] == ["a"]


def test_a_deleted_file_is_written_anew_in_full(sandbox):
    target = sandbox.home / ".mcp.json"
    doc = effective({"a": stdio("a")})
    assert generate_cli(doc).returncode == 0
    target.unlink()
    result = json.loads(generate_cli(doc, "--json").stdout)
    assert result["servers"] == ["a"] and result["excluded"] == [] and result["warnings"] == []


def test_codex_a_table_the_user_removed_stays_out(sandbox):
    target = sandbox.home / ".codex" / "config.toml"
    doc = effective({"a": stdio("a"), "b": stdio("b")})
    assert generate_cli(doc, "--client", "codex").returncode == 0
    text = target.read_text()
    target.write_text(text[text.index("[mcp_servers.b]"):])  # `codex mcp remove a`
    result = json.loads(generate_cli(doc, "--client", "codex", "--json").stdout)
    assert result["excluded"] == ["a"] and result["warnings"][0].startswith(f"a {GONE.format(target=target)}")
    assert list(tomllib.loads(target.read_text())["mcp_servers"]) == ["b"]


def test_a_write_cut_short_leaves_no_entry_taken_for_removed(sandbox):
    """Recorded as being written, then the write never happened (a crash in between): written now,
    without a word about the user."""
    target = sandbox.home / ".mcp.json"
    write_json(target, {"mcpServers": {}}, 0o644)
    generate.state_file().parent.mkdir(parents=True)
    generate.state_file().write_text(json.dumps({str(target): {"client": "claude-code", "servers": [], "pending": ["a"],
                                                               "project": "/abs/project"}}))
    result = json.loads(generate_cli(effective({"a": stdio("a")}), "--json").stdout)
    assert result["servers"] == ["a"] and result["excluded"] == [] and result["warnings"] == []
    assert json.loads(generate.state_file().read_text())[str(target)] == {
        "client": "claude-code", "servers": ["a"], "project": "/abs/project"}


def test_the_record_before_a_write_keeps_what_a_crash_would_confuse(sandbox):
    target = sandbox.home / ".mcp.json"
    doc = effective({"a": stdio("a"), "b": stdio("b")})
    generate.write(doc, "claude-code")
    write_json(target, {"mcpServers": {"b": json.loads(target.read_text())["mcpServers"]["b"]}}, 0o644)
    doc["servers"]["c"] = stdio("c")
    plan = generate._plan(str(target), json.loads(target.read_text())["mcpServers"],
                          generate._Owned(json.loads(generate.state_file().read_text())[str(target)]),
                          renderers.render("claude-code", doc).entries)
    # b is confirmed; c is claudex's but not yet in the file; a the user removed.
    assert plan.before == {"servers": ["b"], "pending": ["c"], "excluded": ["a"]}
    assert plan.after == {"servers": ["b", "c"], "excluded": ["a"]}


def test_claude_code_user_scope_removal_keeps_the_others(sandbox):
    """The verb: removed from ~/.claude.json (Claude Code's user scope), kept in ~/.mcp.json and
    Codex; `claudex mcp enable` writes it back."""
    from conftest import add_server
    from claudex_mcp.store import registry as registry_mod

    registry_mod.init(sandbox.registry)
    add_server(sandbox.registry, "qdrant", "installed")
    add_server(sandbox.registry, "web", "installed")
    assert sandbox.run("mcp", "generate").returncode == 0
    claude = sandbox.home / ".claude.json"
    doc = json.loads(claude.read_text())
    del doc["mcpServers"]["qdrant"]
    claude.write_text(json.dumps(doc, indent=2))
    proc = sandbox.run("mcp", "generate")
    assert proc.returncode == 0, proc.stderr
    assert f"warning: qdrant {GONE.format(target=claude)}" in proc.stderr
    assert list(json.loads(claude.read_text())["mcpServers"]) == ["web"]
    assert "qdrant" in json.loads((sandbox.home / ".mcp.json").read_text())["mcpServers"]
    assert "qdrant" in tomllib.loads((sandbox.home / ".codex" / "config.toml").read_text())["mcp_servers"]
    proc = sandbox.run("mcp", "enable", "qdrant")
    assert proc.returncode == 0 and "qdrant enabled everywhere" in proc.stdout  # on again in Claude Code
    assert f"regenerated: {claude}" in proc.stdout
    assert list(json.loads(claude.read_text())["mcpServers"]) == ["web", "qdrant"]

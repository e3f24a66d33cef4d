"""claudex mcp migrate on a realistic home (tests/fixtures/migrate): the dry run, the migration,
what the clients' files keep, the secrets, conflicts, rollback byte for byte, and a SIGKILL or
SIGTERM at each step."""

from __future__ import annotations

import json
import os
import stat
import tomllib

import pytest

from migrate_helpers import CLIENT_FILES, make_home, registry_names, snapshot

SECRETS = ("ghp_Fixture0123456789abcdefABCDEF0123", "sk-fixture-0123456789abcdef", "hunter2secret",
           "sk-proj-Fixture0123456789abcdef", "sntrys_fixture_0123456789abcdef0123", "ghp_Other0123456789abcdefABCDEF012345")
ADDED = {"github", "docs", "pg", "fetch", "filesystem", "context7", "linear", "sentry", "weather"}


@pytest.fixture
def home(sandbox):
    return make_home(sandbox)


def migrate(sandbox, *argv, env=None):
    return sandbox.run("mcp", "migrate", *argv, cwd=sandbox.home / "code" / "demo", env=env, timeout=120)


def everything(sandbox) -> dict[str, bytes]:
    """Every file under the home and the registry (not the backup sets, locks and logs)."""
    found = {}
    for root in (sandbox.home, sandbox.registry):
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink() and ".local" not in path.parts and ".cache" not in path.parts:
                # A lock file holds its last holder (pid, verb, time): its inode stays, its bytes do not.
                found[str(path)] = b"" if path.name.endswith(".lock") else path.read_bytes()
    return found


def test_dry_run_shows_the_plan_and_changes_nothing(sandbox, home):
    before = everything(sandbox)
    proc = migrate(sandbox, "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["dryRun"] is True and result["backup"] is None
    assert {s["name"] for s in result["servers"]} == ADDED
    by_name = {s["name"]: s for s in result["servers"]}
    assert by_name["github"]["from"] == [f"{home}/.claude.json#/mcpServers/github", f"{home}/.mcp.json#/mcpServers/github"]
    assert by_name["pg"]["scope"] == "project" and by_name["pg"]["projects"] == [str(home / "code" / "demo")]
    assert by_name["pg"]["secrets"] == {"userLayer": ["DATABASE_URL"], "export": []}
    assert by_name["docs"]["secrets"] == {"userLayer": ["DOCS_TOKEN"], "export": []}
    reasons = {s["entry"].split("#")[1]: s["reason"] for s in result["skipped"]}
    assert reasons["/mcpServers/qdrant"] == "already a claudex launcher entry"
    assert "defined differently" in reasons["/mcpServers/github"]
    assert "does not exist" in reasons[f"/projects/{str(home / 'gone').replace('/', '~1')}/mcpServers/old"]
    assert result["codex"]["entries"] == [f"{home}/.claude.json#/mcpServers/codex"]
    invalid = [s for s in result["sources"] if s.get("problem")]
    assert [s["file"] for s in invalid] == [str(home / "code" / "demo" / ".cursor" / "mcp.json")]
    assert not any(secret in proc.stdout + proc.stderr for secret in SECRETS)
    assert everything(sandbox) == before
    assert not (sandbox.state / "claudex" / "migrations").exists()


def test_migrate_then_rollback_byte_identical(sandbox, home):
    original = snapshot(home)
    proc = migrate(sandbox, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert not any(secret in proc.stdout + proc.stderr for secret in SECRETS)
    assert registry_names(sandbox.registry) == ADDED
    assert {p.name for p in (sandbox.registry / "disabled").iterdir()} == {"pg", "weather"}
    # No literal secret in the registry, a shared layer or a client file; the user layer has them, 600.
    for path, data in everything(sandbox).items():
        if path != str(sandbox.config / "claudex" / "mcp.json"):
            assert not any(s.encode() in data for s in SECRETS[:5]), path
    user = sandbox.config / "claudex" / "mcp.json"
    assert stat.S_IMODE(os.stat(user).st_mode) == 0o600
    assert set(json.loads(user.read_text())["servers"]) == {"github", "pg", "codex", "docs", "sentry"}
    # The origin is recorded.
    recorded = json.loads((sandbox.registry / "registry.json").read_text())["servers"]
    origin = recorded["linear"]["source"]["origin"]
    assert origin["file"] == str(home / ".codex" / "config.toml") and origin["pointer"] == "mcp_servers.linear"
    assert origin["digest"].startswith("sha256:") and origin["backup"] == result["backup"]["id"]
    assert recorded["pg"]["source"]["origin"]["project"] == str(home / "code" / "demo")
    assert json.loads((home / "code/demo/.claudex/mcp.json").read_text())["servers"] == {
        "pg": {"enabled": True}, "weather": {"enabled": True}}
    # The clients' files: launcher entries for the migrated servers, everything else kept.
    claude_text = (home / ".claude.json").read_text()
    claude = json.loads(claude_text)
    for name in ("github", "docs", "codex"):
        assert name in claude["mcpServers"]
    assert claude["mcpServers"]["github"]["args"][-3:] == ["mcp", "run", "github"]
    assert claude["mcpServers"]["codex"]["args"][-3:] == ["mcp", "run", "codex"]
    docs = claude["mcpServers"]["docs"]  # its token is in the user layer: the headers helper sends it
    assert "Authorization" not in docs.get("headers", {}) and docs["headersHelper"].endswith(" mcp headers docs")
    assert claude["projects"][str(home / "code/demo")]["mcpServers"]["pg"]["args"][-5:] == [
        "mcp", "run", "pg", "--project-dir", str(home / "code/demo")]
    for kept in ('"bigNumber": 1e400', '"escaped": "caf\\u00e9"', '"args": ["mcp", "run", "qdrant"]',
                 '"mcpServers": {"old": {"command": "true"}}', '"hasTrustDialogAccepted": true'):
        assert kept in claude_text
    desktop = json.loads((home / ".config/Claude/claude_desktop_config.json").read_text())
    assert desktop["globalShortcut"] == "Ctrl+Space"
    assert desktop["mcpServers"]["github"]["command"] == "docker"  # the conflicting one stays the user's
    codex = (home / ".codex/config.toml").read_text()
    assert "# Codex settings (kept by the migration)" in codex and "# trailing comment" in codex
    parsed = tomllib.loads(codex)
    assert parsed["model"] == "o3" and parsed["profiles"] == {"fast": {"model": "o4-mini"}}
    assert parsed["mcp_servers"]["context7"]["args"][-3:] == ["mcp", "run", "context7"]
    assert parsed["mcp_servers"]["linear"] == {"url": "https://mcp.linear.app/mcp", "bearer_token_env_var": "LINEAR_TOKEN"}
    assert (home / ".cursor" / "mcp.json").is_symlink()
    assert json.loads((home / "dotfiles/cursor-mcp.json").read_text())["theme"] == "dark"
    vscode = (home / "code/demo/.vscode/mcp.json").read_text()
    assert "// Prompted once by VS Code" in vscode and "/* the project's own server */" in vscode
    assert '"id": "weather-key"' in vscode and '"run",\n        "weather"' in vscode
    assert (home / "code/demo/.cursor/mcp.json").read_bytes() == original["code/demo/.cursor/mcp.json"]
    # The backup set: only the user can read it.
    backup = sandbox.state / "claudex" / "migrations" / result["backup"]["id"]
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o700
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o600 for p in backup.rglob("*") if p.is_file())
    # generate still works beside the migrated entries.
    assert sandbox.run("mcp", "generate").returncode == 0
    # Migrating again finds launcher entries only.
    again = json.loads(migrate(sandbox, "--dry-run", "--json").stdout)
    assert again["servers"] == []
    # Rollback: every file byte for byte, the servers gone.
    listed = json.loads(migrate(sandbox, "--list-backups", "--json").stdout)["backups"]
    assert [b["id"] for b in listed] == [result["backup"]["id"]] and listed[0]["complete"] is True
    proc = migrate(sandbox, "--rollback", "--json")
    assert proc.returncode == 0, proc.stderr
    assert snapshot(home) == original
    assert not (home / "code/demo/.claudex").exists() and not (sandbox.config / "claudex").exists()
    assert registry_names(sandbox.registry) == set()
    assert set(json.loads((sandbox.registry / "registry.json").read_text())["servers"]) == {"codex"}
    assert (home / ".cursor" / "mcp.json").is_symlink()


def test_on_conflict_rename_and_replace(sandbox, home):
    proc = migrate(sandbox, "--on-conflict", "rename", "--json")
    assert proc.returncode == 0, proc.stderr
    desktop = json.loads((home / ".config/Claude/claude_desktop_config.json").read_text())
    assert "github" not in desktop["mcpServers"] and desktop["mcpServers"]["github-2"]["args"][-1] == "github-2"
    manifest = json.loads((sandbox.registry / "installed/github-2/manifest.json").read_text())
    assert manifest["server"]["command"] == "docker"
    assert migrate(sandbox, "--rollback").returncode == 0
    proc = migrate(sandbox, "--on-conflict", "replace", "--json")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((sandbox.registry / "installed/github/manifest.json").read_text())
    assert manifest["server"]["command"] == "docker"  # the later definition won


def test_a_server_already_in_the_registry(sandbox, home):
    assert sandbox.run("mcp", "add", "fetch", "--", "python3", "fetch.py").returncode == 0
    result = json.loads(migrate(sandbox, "--json").stdout)
    assert "fetch" not in {s["name"] for s in result["servers"]}
    assert any("already in the registry" in s["reason"] for s in result["skipped"])
    assert json.loads((home / ".mcp.json").read_text())["mcpServers"]["fetch"] == {"command": "uvx", "args": ["mcp-server-fetch"]}


@pytest.mark.parametrize("argv, code, error", [
    (["--from", "code/demo/.cursor/mcp.json"], 1, "invalid_source"),
    (["--from", "nope.json"], 4, "not_found"),
    (["--rollback", "not-an-id"], 2, "invalid_backup_id"),
    (["--rollback"], 4, "no_backup"),
])
def test_bad_input_changes_nothing(sandbox, home, argv, code, error):
    before = everything(sandbox)
    argv = [str(home / a) if a.endswith(".json") else a for a in argv]
    proc = migrate(sandbox, *argv)
    assert proc.returncode == code, proc.stderr
    assert json.loads(proc.stderr.splitlines()[-1])["error"]["code"] == error
    assert everything(sandbox) == before


def test_from_one_file(sandbox, home):
    proc = migrate(sandbox, "--from", str(home / ".cursor" / "mcp.json"), "--json")
    assert proc.returncode == 0, proc.stderr
    assert registry_names(sandbox.registry) == {"sentry"}
    assert (home / ".cursor" / "mcp.json").is_symlink()
    assert json.loads((home / "dotfiles/cursor-mcp.json").read_text())["mcpServers"]["sentry"]["url"] == "https://mcp.sentry.dev/sse"


def _whole(home, rel: str, original: bytes) -> bool:
    """A client file is as it was, or wholly migrated (it parses, and its entries are launchers)."""
    data = (home / rel).read_bytes()
    if data == original:
        return True
    if rel.endswith(".toml"):
        servers = tomllib.loads(data.decode())["mcp_servers"]
    else:
        from claudex_mcp.migrate import blank_jsonc

        doc = json.loads(blank_jsonc(data.decode()))
        servers = doc.get("servers") or doc["mcpServers"]
    return all("run" in (entry.get("args") or []) or "url" in entry for entry in servers.values())


STEPS = ["backup", "secrets", "commit", "record", "done", "server", "clients", "client", "regenerate"]


@pytest.mark.parametrize("step", STEPS)
def test_killed_at_each_step_then_rolled_back(sandbox, home, step):
    original = snapshot(home)
    proc = migrate(sandbox, env={"CLAUDEX_MCP_FAULT": step})
    assert proc.returncode == -9, proc.stderr
    for rel, data in original.items():
        if rel in CLIENT_FILES:
            assert _whole(home, rel, data), rel
    assert sandbox.run("mcp", "list").returncode == 0
    proc = migrate(sandbox, "--rollback", "--json")
    assert proc.returncode == 0, proc.stderr
    assert snapshot(home) == original
    assert registry_names(sandbox.registry) == set()
    staging = sandbox.registry / ".staging"
    assert not staging.exists() or list(staging.iterdir()) == []


@pytest.mark.parametrize("step", ["server", "client"])
def test_interrupted_migration_rolls_itself_back(sandbox, home, step):
    original = snapshot(home)
    proc = migrate(sandbox, env={"CLAUDEX_MCP_FAULT": f"{step}:term"})
    assert proc.returncode == 130, proc.stderr
    assert snapshot(home) == original
    assert registry_names(sandbox.registry) == set()


def test_a_refused_client_file_rolls_back(sandbox, home):
    original = snapshot(home)
    os.chmod(home / ".codex" / "config.toml", 0o444)  # claudex leaves a read-only file alone
    proc = migrate(sandbox)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stderr.splitlines()[-1])["error"]["code"] == "read_only_target"
    assert snapshot(home) == original
    assert registry_names(sandbox.registry) == set()


def test_files_claudex_already_writes(sandbox, home):
    """After `generate`, ~/.claude.json, ~/.mcp.json and Codex's file are claudex's targets too: the
    migrated entries become its own (no "kept your entry" later), the new servers reach every
    target, and the rollback restores them, their .bak copies and the record byte for byte."""
    assert sandbox.run("mcp", "generate").returncode == 0
    before = everything(sandbox)
    state = sandbox.state / "claudex" / "generated.json"
    record = state.read_bytes()
    proc = migrate(sandbox, "--json")
    assert proc.returncode == 0, proc.stderr
    assert {"codex", "docs", "github"} <= set(json.loads(state.read_text())[str(home / ".claude.json")]["servers"])
    proc = sandbox.run("mcp", "generate")
    assert proc.returncode == 0 and "kept your entry" not in proc.stderr, proc.stderr
    assert json.loads((home / ".mcp.json").read_text())["mcpServers"]["context7"]["args"][-1] == "context7"
    assert migrate(sandbox, "--rollback").returncode == 0
    after = everything(sandbox)
    registry_json = str(sandbox.registry / "registry.json")  # reconciled by the mutations: it lists core/codex now
    assert {k: v for k, v in after.items() if k != registry_json} == {k: v for k, v in before.items() if k != registry_json}
    assert state.read_bytes() == record


def test_replace_a_registry_server_and_put_it_back(sandbox, home):
    assert sandbox.run("mcp", "add", "fetch", "--", "python3", "fetch.py").returncode == 0
    old = (sandbox.registry / "installed/fetch/manifest.json").read_bytes()
    proc = migrate(sandbox, "--on-conflict", "replace", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((sandbox.registry / "installed/fetch/manifest.json").read_text())["server"]["command"] == "uvx"
    assert migrate(sandbox, "--rollback").returncode == 0
    assert (sandbox.registry / "installed/fetch/manifest.json").read_bytes() == old
    recorded = json.loads((sandbox.registry / "registry.json").read_text())["servers"]
    assert recorded["fetch"]["source"] == {"type": "added"}
    assert registry_names(sandbox.registry) == {"fetch"}


def test_the_same_entry_again_reuses_its_server(sandbox, home):
    """A file restored by hand after a migration (or a second copy of an entry) finds the server
    the first migration made from the same definition, and only its entry is rewritten."""
    original = (home / ".mcp.json").read_bytes()
    assert migrate(sandbox, "--from", str(home / ".mcp.json")).returncode == 0
    (home / ".mcp.json").write_bytes(original)
    proc = migrate(sandbox, "--from", str(home / ".mcp.json"), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert {s["name"]: s["existing"] for s in result["servers"]} == {"github": True, "fetch": True}
    assert result["skipped"] == []
    assert json.loads((home / ".mcp.json").read_text())["mcpServers"]["fetch"]["args"][-1] == "fetch"

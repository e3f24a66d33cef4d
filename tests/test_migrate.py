"""claudex mcp migrate on a realistic home (tests/fixtures/migrate): the dry run, the migration,
what the clients' files keep, the secrets, conflicts, rollback byte for byte, and a SIGKILL or
SIGTERM at each step."""

from __future__ import annotations

import json
import os
import stat
import sys
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
        from claudex_mcp.jsonio import parse_jsonc

        doc = parse_jsonc(data)
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


def test_a_failed_rollback_leaves_the_registry_as_it_was(sandbox, home):
    """The rollback's servers and config layers are one mutation: when a layer cannot be restored
    (the user layer made read-only), the servers it removed come back and registry.json is as it
    was; the next rollback finishes the job."""
    original = snapshot(home)
    assert migrate(sandbox).returncode == 0
    recorded = (sandbox.registry / "registry.json").read_bytes()
    user = sandbox.config / "claudex" / "mcp.json"
    os.chmod(user, 0o444)
    proc = migrate(sandbox, "--rollback")
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stderr.splitlines()[-1])["error"]["code"] == "read_only_target"
    assert registry_names(sandbox.registry) == ADDED
    assert (sandbox.registry / "registry.json").read_bytes() == recorded
    assert list((sandbox.registry / ".staging").iterdir()) == []
    os.chmod(user, 0o600)
    assert migrate(sandbox, "--rollback").returncode == 0
    assert snapshot(home) == original
    assert registry_names(sandbox.registry) == set()


@pytest.mark.parametrize("step", ["commit", "record", "done"])
def test_a_rollback_killed_at_each_step_finishes_when_run_again(sandbox, home, step):
    """SIGKILL inside the rollback's mutation (before its first commit, before its record, after
    it): run again, the rollback finishes, a file claudex generates included."""
    out = sandbox.root / "generated" / "mcp.json"
    assert sandbox.run("mcp", "generate", "--output", str(out)).returncode == 0
    generated = out.read_bytes()
    original = snapshot(home)
    assert migrate(sandbox).returncode == 0
    assert out.read_bytes() != generated  # the migrated servers reached it
    proc = migrate(sandbox, "--rollback", env={"CLAUDEX_MCP_FAULT": step})
    assert proc.returncode == -9, proc.stderr
    assert migrate(sandbox, "--rollback").returncode == 0
    assert snapshot(home) == original
    assert registry_names(sandbox.registry) == set()
    assert out.read_bytes() == generated
    assert list((sandbox.registry / ".staging").iterdir()) == []


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
    target, and the rollback restores them and the record byte for byte (generate's .bak copies
    hold what they hold: the version before its last write)."""
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
    for path, data in everything(sandbox).items():  # nor in a copy that generate keeps
        if path.endswith(".bak"):
            assert not any(secret.encode() in data for secret in SECRETS[:5]), path
    assert migrate(sandbox, "--rollback").returncode == 0
    after = everything(sandbox)
    registry_json = str(sandbox.registry / "registry.json")  # reconciled by the mutations: it lists core/codex now
    mine = lambda files: {k: v for k, v in files.items() if k != registry_json and not k.endswith(".bak")}
    assert mine(after) == mine(before)
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


# ---- secrets that migrate takes out of a client file --------------------------------------------

TAKEN = {"env": "sk-envsecret-0123456789abcdef", "arg": "sk-argsecret-0123456789abcdef",
         "header": "sk-header-0123456789abcdef", "password": "hunter2urlsecret", "query": "sk-query-0123456789abcdef"}


def _secret_home(sandbox) -> bytes:
    """A ~/.claude.json whose servers hold a secret in each place: an env value and an argument
    (of real echo servers), a header, a URL password and a URL query value (remote servers)."""
    from conftest import ECHO_SERVER
    from claudex_mcp.store import registry as registry_mod

    registry_mod.init(sandbox.registry)
    python = sys.executable
    doc = {"numStartups": 3, "mcpServers": {
        "greeter": {"command": python, "args": [str(ECHO_SERVER)], "env": {"ECHO_PREFIX": TAKEN["env"]}},
        # The argument reaches the server as $1 of the shell, which makes it the echo prefix.
        "argsy": {"command": "sh", "args": ["-c", f'ECHO_PREFIX="$1" exec {python} {ECHO_SERVER}', "sh",
                                            f"--api-key={TAKEN['arg']}"]},
        "docs": {"type": "http", "url": "https://mcp.example.com/mcp",
                 "headers": {"Authorization": f"Bearer {TAKEN['header']}", "X-Team": "blue"}},
        "vault": {"type": "http", "url": f"https://me:{TAKEN['password']}@mcp.example.org/mcp"},
        "search": {"type": "sse", "url": f"https://mcp.example.net/sse?api_key={TAKEN['query']}&lang=en"}}}
    data = (json.dumps(doc, indent=2) + "\n").encode()
    (sandbox.home / ".claude.json").write_bytes(data)
    return data


def test_secrets_taken_from_a_client_file_live_in_the_user_layer_only(sandbox):
    """Each secret migrate takes out of a client file is in the user layer (600) behind a ${VAR}
    reference, nowhere else in the sandbox (registry, manifests, generated files, the backup set,
    logs, caches), reaches a stdio server when it starts, and is put back by the rollback."""
    original = _secret_home(sandbox)
    proc = sandbox.run("mcp", "migrate", "--from", str(sandbox.home / ".claude.json"), "--json", timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert {s["name"]: s["secrets"] for s in result["servers"]} == {
        "greeter": {"userLayer": ["ECHO_PREFIX"], "export": []}, "argsy": {"userLayer": ["API_KEY"], "export": []},
        "docs": {"userLayer": ["DOCS_TOKEN"], "export": []}, "vault": {"userLayer": ["VAULT_URL_PASSWORD"], "export": ["VAULT_URL_PASSWORD"]},
        "search": {"userLayer": ["SEARCH_API_KEY"], "export": ["SEARCH_API_KEY"]}}
    user = sandbox.config / "claudex" / "mcp.json"
    assert stat.S_IMODE(os.stat(user).st_mode) == 0o600
    assert {name: s["env"] for name, s in json.loads(user.read_text())["servers"].items()} == {
        "greeter": {"ECHO_PREFIX": TAKEN["env"]}, "argsy": {"API_KEY": TAKEN["arg"]},
        "docs": {"DOCS_TOKEN": TAKEN["header"]}, "vault": {"VAULT_URL_PASSWORD": TAKEN["password"]},
        "search": {"SEARCH_API_KEY": TAKEN["query"]}}
    manifests = {n: json.loads((sandbox.registry / "installed" / n / "manifest.json").read_text())["server"]
                 for n in ("argsy", "docs", "vault", "search")}
    assert manifests["argsy"]["args"][-1] == "--api-key=${API_KEY}"
    assert manifests["docs"]["headers"]["Authorization"] == "Bearer ${DOCS_TOKEN}"
    assert manifests["vault"]["url"] == "https://me:${VAULT_URL_PASSWORD}@mcp.example.org/mcp"
    assert manifests["search"]["url"] == "https://mcp.example.net/sse?api_key=${SEARCH_API_KEY}&lang=en"
    # They reach the server when it runs: the launcher reads the user layer.
    for name, expected in (("greeter", TAKEN["env"] + "hi"), ("argsy", f"--api-key={TAKEN['arg']}hi")):
        call = sandbox.run("mcp", "call", name, "echo", "--args", '{"text": "hi"}', timeout=60)
        assert call.returncode == 0, call.stderr
        assert call.stdout.strip() == expected
    # And nowhere else: every file under the sandbox (home, state, caches, logs, registry).
    for path in sandbox.root.rglob("*"):
        if path.is_file() and not path.is_symlink() and path != user:
            data = path.read_bytes()
            assert not [k for k, secret in TAKEN.items() if secret.encode() in data], path
    assert not any(secret in proc.stdout + proc.stderr for secret in TAKEN.values())
    # The rollback puts each back where it was, from the user layer.
    proc = sandbox.run("mcp", "migrate", "--rollback", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (sandbox.home / ".claude.json").read_bytes() == original
    assert not user.exists()


# ---- the rollback keeps what the clients wrote since --------------------------------------------

def _as_claude_code_writes(path, change) -> None:
    """Rewrite ~/.claude.json as Claude Code does on every start: parse it (1e400 is Infinity to
    JavaScript, written back as null), change its own keys, write it all again with JSON.stringify
    (2-space indent, no newline at the end)."""
    import math

    doc = json.loads(path.read_text(), parse_float=lambda s: float(s) if math.isfinite(float(s)) else None)
    change(doc)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False))


def test_rollback_keeps_the_clients_later_writes(sandbox, home):
    """After the migration Claude Code bumps numStartups, adds a project and a user-scope server
    (and reformats the file): the rollback puts back the migrated entries in place, keeps every
    one of those writes, and says what it restored; the files no client touched come back byte
    for byte."""
    original = snapshot(home)
    fixture = json.loads(original[".claude.json"].decode().replace("1e400", "1"))
    assert migrate(sandbox).returncode == 0
    later = str(home / "code" / "later")

    def client(doc):
        doc["numStartups"] += 1
        doc["projects"][later] = {"allowedTools": [], "hasTrustDialogAccepted": True}
        doc["mcpServers"]["added-later"] = {"type": "stdio", "command": "later-mcp", "args": [], "env": {}}
    _as_claude_code_writes(home / ".claude.json", client)
    proc = migrate(sandbox, "--rollback", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    claude = next(r for r in result["restored"] if r["file"] == str(home / ".claude.json"))
    demo = str(home / "code" / "demo").replace("/", "~1")
    assert claude["whole"] is False and sorted(claude["entries"]) == sorted(
        ["/mcpServers/github", "/mcpServers/docs", "/mcpServers/codex", f"/projects/{demo}/mcpServers/pg"])
    doc = json.loads((home / ".claude.json").read_text())
    assert doc["numStartups"] == 43 and doc["bigNumber"] is None  # the client's writes
    assert doc["projects"][later] == {"allowedTools": [], "hasTrustDialogAccepted": True}
    assert doc["mcpServers"]["added-later"]["command"] == "later-mcp"
    for name in ("github", "docs", "qdrant", "codex"):  # the user's entries, secrets and all
        assert doc["mcpServers"][name] == fixture["mcpServers"][name], name
    assert doc["projects"][str(home / "code/demo")] == fixture["projects"][str(home / "code/demo")]
    for rel, data in original.items():
        if rel != ".claude.json":
            assert (home / rel).read_bytes() == data, rel
    assert registry_names(sandbox.registry) == set()
    text = migrate(sandbox, "--list-backups").stdout
    assert "rolled back" in text


def test_rollback_says_what_it_restored(sandbox, home):
    assert migrate(sandbox, "--from", str(home / ".mcp.json")).returncode == 0
    _as_claude_code_writes(home / ".mcp.json", lambda doc: doc.setdefault("later", True))
    proc = migrate(sandbox, "--rollback")
    assert proc.returncode == 0, proc.stderr
    assert f"restored {home}/.mcp.json (in place; every other change since the migration kept): " \
           "/mcpServers/github, /mcpServers/fetch" in proc.stdout
    assert "removed server fetch" in proc.stdout
    assert json.loads((home / ".mcp.json").read_text())["later"] is True


@pytest.mark.parametrize("change, reason", [
    (lambda doc: doc["mcpServers"].update(github={"command": "my-github"}), "/mcpServers/github was changed"),
    (lambda doc: doc["mcpServers"].pop("docs"), "/mcpServers/docs was removed"),
    (None, "no longer parses"),
])
def test_rollback_refuses_what_it_cannot_tell(sandbox, home, change, reason):
    """An entry the user edited or removed since, or a file that no longer parses: the rollback
    refuses with the reason (exit 3) and changes nothing; once the entry is the migration's
    again, it goes through."""
    assert migrate(sandbox).returncode == 0
    path = home / ".claude.json"
    migrated = path.read_bytes()
    if change is None:
        path.write_bytes(migrated[:-10])
    else:
        _as_claude_code_writes(path, change)
    before = everything(sandbox)
    proc = migrate(sandbox, "--rollback")
    assert proc.returncode == 3, proc.stderr
    error = json.loads(proc.stderr.splitlines()[-1])["error"]
    assert error["code"] == "rollback_conflict" and reason in error["message"], error
    assert f"{path}: " in error["message"] and "nothing was changed" in error["hint"]
    assert everything(sandbox) == before
    assert not json.loads(migrate(sandbox, "--list-backups", "--json").stdout)["backups"][0]["rolledBack"]
    path.write_bytes(migrated)
    assert migrate(sandbox, "--rollback").returncode == 0
    assert registry_names(sandbox.registry) == set()


def test_rollback_again_is_refused(sandbox, home):
    assert migrate(sandbox, "--from", str(home / ".mcp.json")).returncode == 0
    assert migrate(sandbox, "--rollback").returncode == 0
    proc = migrate(sandbox, "--rollback")
    assert proc.returncode == 1
    assert json.loads(proc.stderr.splitlines()[-1])["error"]["code"] == "rolled_back"


# ---- which folders get a project layer ----------------------------------------------------------

def test_only_real_folders_of_the_user_inside_home_get_a_project_layer(sandbox):
    """A projects[...] key of ~/.claude.json is text: one outside HOME, one spelled with '..', a
    symlink, or a folder of another user gets no .claudex/mcp.json; the entry is skipped with
    the reason and stays in the file. A real folder of the user's inside HOME gets its layer."""
    from claudex_mcp.store import registry as registry_mod

    registry_mod.init(sandbox.registry)
    home = sandbox.home
    outside = sandbox.root / "outside"
    real = home / "code" / "real"
    for folder in (outside, real, home / "code" / "other", home / "theirs"):
        folder.mkdir(parents=True)
    (home / "link").symlink_to(real)
    keys = {"outside": str(outside), "dotdot": f"{home}/code/../code/other", "link": str(home / "link"),
            "ok": str(real)}
    if os.geteuid() == 0:  # only root can give a folder to another user
        os.chown(home / "theirs", 4242, 4242)
        keys["theirs"] = str(home / "theirs")
    doc = {"projects": {folder: {"mcpServers": {f"srv-{label}": {"command": "uvx", "args": [f"mcp-{label}"]}}}
                        for label, folder in keys.items()}}
    (home / ".claude.json").write_text(json.dumps(doc, indent=2))
    proc = sandbox.run("mcp", "migrate", "--json", cwd=home, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert [s["name"] for s in result["servers"]] == ["srv-ok"]
    reasons = {s["entry"].rsplit("/", 1)[1]: s["reason"] for s in result["skipped"]}
    assert "outside your home folder" in reasons["srv-outside"]
    assert "not a canonical absolute path" in reasons["srv-dotdot"]
    assert "symbolic link" in reasons["srv-link"]
    if "theirs" in keys:
        assert "belongs to another user" in reasons["srv-theirs"]
    for folder in (outside, home / "code" / "other", home / "theirs"):
        assert not (folder / ".claudex").exists(), folder
    assert not (real / ".claudex" / "mcp.json").is_symlink()
    assert json.loads((real / ".claudex" / "mcp.json").read_text())["servers"] == {"srv-ok": {"enabled": True}}
    kept = json.loads((home / ".claude.json").read_text())["projects"]
    assert kept[str(outside)]["mcpServers"]["srv-outside"] == {"command": "uvx", "args": ["mcp-outside"]}


def test_rollback_in_place_in_toml_jsonc_and_a_renamed_entry(sandbox, home):
    """Codex trusts a folder (a new table in config.toml), Claude Desktop rewrites its file, VS Code
    gets a comment and an input: the rollback puts back the migrated tables and entries (the one
    --on-conflict rename renamed under its own name again) and keeps all of that."""
    original = snapshot(home)
    assert migrate(sandbox, "--on-conflict", "rename").returncode == 0
    codex = home / ".codex" / "config.toml"
    codex.write_text(codex.read_text() + '\n[projects."/srv/x"]\ntrust_level = "trusted"\n')
    _as_claude_code_writes(home / ".config/Claude/claude_desktop_config.json", lambda doc: doc.update(darkMode=True))
    vscode = home / "code/demo/.vscode/mcp.json"
    vscode.write_text("// mine\n" + vscode.read_text().replace('"inputs": [', '"inputs": [\n    {"type": "promptString", "id": "mine"},'))
    proc = migrate(sandbox, "--rollback", "--json")
    assert proc.returncode == 0, proc.stderr
    assert not any(r["whole"] for r in json.loads(proc.stdout)["restored"]
                   if r["file"] in (str(codex), str(vscode), str(home / ".config/Claude/claude_desktop_config.json")))
    before, after = tomllib.loads(original[".codex/config.toml"].decode()), tomllib.loads(codex.read_text())
    assert after["mcp_servers"] == before["mcp_servers"] and after["projects"] == {"/srv/x": {"trust_level": "trusted"}}
    assert "# Context7 docs" in codex.read_text() and 'env_vars = ["CONTEXT7_API_KEY"]' in codex.read_text()
    desktop = json.loads((home / ".config/Claude/claude_desktop_config.json").read_text())
    assert desktop["mcpServers"] == json.loads(original[".config/Claude/claude_desktop_config.json"])["mcpServers"]
    assert desktop["darkMode"] is True
    text = vscode.read_text()
    assert text.startswith("// mine\n") and '"id": "mine"' in text
    assert text.replace("// mine\n", "").replace('\n    {"type": "promptString", "id": "mine"},', "") == \
        original["code/demo/.vscode/mcp.json"].decode()

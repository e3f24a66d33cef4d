"""Project decisions reach Claude Code in the project's folder: `enable`/`disable --project` and
`add --project` write the local scope of the folder (``projects[<dir>]`` of ~/.claude.json:
``mcpServers`` and ``disabledMcpServers``) beside the user scope that `generate` writes, keep
everything of Claude Code's own there, and take out again only what claudex put there. (That the
real Claude Code honours it: tests/integration/test_generated_configs.py.)"""

from __future__ import annotations

import json
import shutil
import tomllib

import pytest

from conftest import add_server, manifest
from claudex_mcp.clients import renderers, folders
from claudex_mcp.store import registry as registry_mod

# Claude Code's own data in its user file: it must survive claudex's writes, byte for byte.
CLAUDE_OWN = {"hasTrustDialogAccepted": True, "allowedTools": [], "history": [{"display": "hi ✓", "pastedContents": {}}],
              "mcpServers": {"mine": {"type": "stdio", "command": "my-server", "args": []}},
              "disabledMcpServers": ["switched-off-by-me"]}


@pytest.fixture
def setup(sandbox):
    reg = sandbox.registry
    registry_mod.init(reg)
    add_server(reg, "codex", "core")
    add_server(reg, "qdrant", "installed")
    add_server(reg, "old", "disabled")
    project = sandbox.home / "claudex" / "demo"
    (project / ".claudex").mkdir(parents=True)
    other = sandbox.root / "work" / "other"
    other.mkdir(parents=True)
    text = json.dumps({"numStartups": 7, "big": 1, "projects": {str(project): CLAUDE_OWN, str(other): {"history": []}},
                       "mcpServers": {}}, indent=2, ensure_ascii=False).replace('"big": 1', '"big": 1e400') + "\n"
    (sandbox.home / ".claude.json").write_text(text)
    assert sandbox.run("mcp", "generate").returncode == 0
    return project


def claude_json(sandbox) -> dict:
    return json.loads((sandbox.home / ".claude.json").read_text())


def local(sandbox, folder) -> dict:
    return claude_json(sandbox)["projects"].get(str(folder), {})


def run(sandbox, *argv, cwd=None):
    proc = sandbox.run("mcp", *argv, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_disable_for_a_project_disables_the_server_in_its_folder_only(sandbox, setup):
    before = (sandbox.home / ".claude.json").read_text()
    proc = run(sandbox, "disable", "qdrant", "--project", "demo")
    assert f"  for {setup}: disabled qdrant\n" in proc.stdout
    after = (sandbox.home / ".claude.json").read_text()
    assert local(sandbox, setup) == {**CLAUDE_OWN, "disabledMcpServers": ["switched-off-by-me", "qdrant"]}
    assert sorted(claude_json(sandbox)["mcpServers"]) == ["codex", "qdrant"]  # the user scope: every folder
    # Only the list changed: every other byte of Claude Code's file is as it was.
    assert after.replace('"switched-off-by-me",\n        "qdrant"', '"switched-off-by-me"') == before
    assert '"big": 1e400' in after
    proc = run(sandbox, "enable", "qdrant", "--project", "demo")
    assert f"  for {setup}: enabled again qdrant\n" in proc.stdout
    assert local(sandbox, setup) == CLAUDE_OWN
    assert (sandbox.home / ".claude.json").read_text() == before


def test_a_server_on_only_in_a_project_gets_a_local_entry(sandbox, setup):
    run(sandbox, "enable", "old", "--project", "demo")
    entry = local(sandbox, setup)["mcpServers"]["old"]
    assert entry["args"][-4:] == ["run", "old", "--project-dir", str(setup)]
    assert list(local(sandbox, setup)["mcpServers"]) == ["mine", "old"]
    assert "old" not in claude_json(sandbox)["mcpServers"]
    run(sandbox, "disable", "old", "--project", "demo")
    assert local(sandbox, setup) == CLAUDE_OWN


def test_add_for_a_project_folder_reaches_that_folder(sandbox, setup):
    app = sandbox.root / "work" / "app"  # anywhere, not under $CLAUDEX_PROJECTS_DIR
    app.mkdir(parents=True)
    proc = run(sandbox, "add", "tiny", "--project-dir", str(app), "--", "python3", "-c", "pass")
    assert f"  for {app}: servers tiny\n" in proc.stdout
    assert list(local(sandbox, app)["mcpServers"]) == ["tiny"]
    assert "tiny" not in claude_json(sandbox)["mcpServers"]
    # Later writes keep it up to date: the folder is in claudex's record.
    run(sandbox, "disable", "qdrant")
    assert list(local(sandbox, app)["mcpServers"]) == ["tiny"]
    assert "qdrant" not in claude_json(sandbox)["mcpServers"]


def test_generate_in_a_project_folder_writes_its_local_scope(sandbox, setup):
    (setup / ".claudex" / "mcp.json").write_text(json.dumps({"servers": {"qdrant": {"enabled": False}}}))
    proc = run(sandbox, "generate", cwd=setup)
    assert local(sandbox, setup)["disabledMcpServers"] == ["switched-off-by-me", "qdrant"]
    assert "qdrant" in claude_json(sandbox)["mcpServers"]
    # Claude Code's user file gets the layer through the folder; ~/.mcp.json does not get it.
    assert f"is not applied to {sandbox.home / '.mcp.json'}" in proc.stderr
    assert str(sandbox.home / ".claude.json") not in proc.stderr


def test_generate_from_anywhere_applies_every_project_it_knows(sandbox, setup):
    """A layer edited by hand, in a project under $CLAUDEX_PROJECTS_DIR."""
    (setup / ".claudex" / "mcp.json").write_text(json.dumps({"servers": {"qdrant": {"enabled": False},
                                                                         "old": {"enabled": True}}}))
    proc = run(sandbox, "generate", "--json")
    claude = json.loads(proc.stdout)["targets"][0]
    assert claude["folders"] == [{"dir": str(setup), "target": str(sandbox.home / ".claude.json"), "servers": ["old"],
                                  "disabled": ["qdrant"], "removed": [], "reenabled": [], "excluded": [],
                                  "skipped": None}]
    assert local(sandbox, setup)["disabledMcpServers"] == ["switched-off-by-me", "qdrant"]
    assert "old" in local(sandbox, setup)["mcpServers"]
    assert run(sandbox, "generate", "--json").stdout.count('"changed": false') == 3


def test_an_explicit_project_shapes_the_user_scope_and_the_others_differ_from_it(sandbox, setup):
    other = sandbox.home / "claudex" / "other"
    (other / ".claudex").mkdir(parents=True)
    (setup / ".claudex" / "mcp.json").write_text(json.dumps({"servers": {"qdrant": {"enabled": False}}}))
    run(sandbox, "generate", "--project", "demo", "--client", "claude-code", "--scope", "user")
    assert "qdrant" not in claude_json(sandbox)["mcpServers"]
    assert local(sandbox, setup) == CLAUDE_OWN  # demo is what the user scope says
    assert "qdrant" not in local(sandbox, other).get("mcpServers", {})  # no layer: nothing known of it
    (other / ".claudex" / "mcp.json").write_text("{}")
    run(sandbox, "generate", "--project", "demo", "--client", "claude-code", "--scope", "user")
    # qdrant is on there and off in the user scope; the user scope starts codex with demo's layer
    # (--project-dir demo), so the folder gets its own.
    assert list(local(sandbox, other)["mcpServers"]) == ["codex", "qdrant"]
    assert local(sandbox, other)["mcpServers"]["codex"]["args"][-1] == str(other)


def test_a_folder_that_is_gone_loses_what_claudex_put_in_its_local_scope(sandbox, setup):
    app = sandbox.root / "work" / "app"
    (app / ".claudex").mkdir(parents=True)
    run(sandbox, "disable", "qdrant", "--project-dir", str(app))
    assert local(sandbox, app) == {"disabledMcpServers": ["qdrant"]}
    shutil.rmtree(app)
    run(sandbox, "generate")
    assert local(sandbox, app) == {"disabledMcpServers": []}
    state = json.loads((sandbox.state / "claudex" / "generated.json").read_text())
    assert "folders" not in state[str(sandbox.home / ".claude.json")]


def test_a_project_below_a_git_root_is_said_not_to_reach_claude_code(sandbox, setup):
    repo = sandbox.root / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "app" / ".claudex").mkdir(parents=True)
    proc = run(sandbox, "disable", "qdrant", "--project-dir", str(repo / "app"))
    assert (f"for {repo / 'app'}: nothing written to {sandbox.home / '.claude.json'}: Claude Code keeps one local "
            f"scope for the whole git repository {repo}") in proc.stdout
    assert str(repo / "app") not in claude_json(sandbox)["projects"]
    assert str(repo) not in claude_json(sandbox)["projects"]


def test_a_broken_local_scope_is_refused_and_nothing_changes(sandbox, setup):
    text = (sandbox.home / ".claude.json").read_text().replace(
        '"disabledMcpServers": [\n        "switched-off-by-me"\n      ]', '"disabledMcpServers": "qdrant"')
    (sandbox.home / ".claude.json").write_text(text)
    proc = sandbox.run("mcp", "generate", "--client", "claude-code", "--scope", "user", "--project", "demo")
    assert proc.returncode == 1
    error = json.loads(proc.stderr)["error"]
    assert error["code"] == "invalid_target" and f"/projects/{setup}/disabledMcpServers" in error["message"]
    assert (sandbox.home / ".claude.json").read_text() == text


def test_a_broken_project_layer_is_said_and_the_rest_is_written(sandbox, setup):
    (setup / ".claudex" / "mcp.json").write_text("{nope")
    proc = run(sandbox, "disable", "codex")
    assert f"left the local scope of {setup} in {sandbox.home / '.claude.json'} as it was" in proc.stderr
    assert sorted(claude_json(sandbox)["mcpServers"]) == ["qdrant"]


def test_the_user_scope_entry_of_a_stdio_server_serves_the_project_folder_as_it_is():
    """A stdio entry without --project-dir starts the launcher in the folder, which finds the
    project itself: no local copy. A remote server the project configures differently gets one."""
    base = {"type": "stdio", "command": "/x/claudex", "args": ["mcp", "run", "a"], "env": {}}
    here = renderers.Rendered(renderers.CLAUDE_CODE)
    here.entries = {"a": {**base, "args": [*base["args"], "--project-dir", "/p"]},
                    "r": {"type": "http", "url": "https://x/mcp", "headers": {"X-Team": "p"}}}
    remote = {"type": "http", "url": "https://x/mcp", "headers": {"X-Team": "all"}}
    assert folders.local({"a": base, "r": remote}, here, "/p", set()) == ({"r": here.entries["r"]}, [])
    assert folders.local({"a": base}, here, "/elsewhere", set())[0].keys() == {"a", "r"}
    assert folders.local({"a": base, "b": base}, here, "/p", {"r"}) == ({}, ["b"])


# ---- what the user undid in Claude Code stays undone ------------------------------------------

def save(sandbox, doc: dict) -> None:
    """Claude Code's file, as Claude Code writes it (JSON.stringify keeps 1e400 as it read it)."""
    text = json.dumps(doc, indent=2, ensure_ascii=False).replace('"big": Infinity', '"big": 1e400')
    (sandbox.home / ".claude.json").write_text(text + "\n")


def edit_local(sandbox, folder, change) -> None:
    doc = claude_json(sandbox)
    change(doc["projects"][str(folder)])
    save(sandbox, doc)


def test_a_local_entry_the_user_removed_stays_out(sandbox, setup):
    run(sandbox, "enable", "old", "--project", "demo")
    edit_local(sandbox, setup, lambda p: p["mcpServers"].pop("old"))  # `claude mcp remove -s local old`
    proc = run(sandbox, "generate")
    assert (f"warning: old was removed from the local scope of {setup} in {sandbox.home / '.claude.json'} outside "
            f"claudex (with 'claude mcp remove -s local' or an edit): claudex leaves it out there from now on; "
            f"'claudex mcp enable old --project-dir {setup}' writes it back") in proc.stderr
    assert f"  for {setup}: left out (you removed them) old\n" in proc.stdout
    assert list(local(sandbox, setup)["mcpServers"]) == ["mine"]
    assert "warning" not in run(sandbox, "generate").stderr  # said once
    run(sandbox, "enable", "old", "--project", "demo")
    assert list(local(sandbox, setup)["mcpServers"]) == ["mine", "old"]


def test_a_server_switched_back_on_in_claude_code_stays_on_there(sandbox, setup):
    run(sandbox, "disable", "qdrant", "--project", "demo")
    edit_local(sandbox, setup, lambda p: p["disabledMcpServers"].remove("qdrant"))  # /mcp: enable
    proc = run(sandbox, "generate")
    assert f"qdrant was switched back on for {setup} in Claude Code" in proc.stderr
    assert f"'claudex mcp disable qdrant --project-dir {setup}' switches it off again" in proc.stderr
    assert local(sandbox, setup)["disabledMcpServers"] == ["switched-off-by-me"]
    run(sandbox, "disable", "qdrant", "--project", "demo")
    assert local(sandbox, setup)["disabledMcpServers"] == ["switched-off-by-me", "qdrant"]


def test_a_server_removed_from_the_user_scope_comes_back_in_no_folder(sandbox, setup):
    (setup / ".claudex" / "mcp.json").write_text(json.dumps({"servers": {"qdrant": {"enabled": True}}}))
    doc = claude_json(sandbox)
    del doc["mcpServers"]["qdrant"]  # `claude mcp remove -s user qdrant`
    save(sandbox, doc)
    run(sandbox, "generate")
    assert "qdrant" not in claude_json(sandbox)["mcpServers"]
    assert local(sandbox, setup)["mcpServers"] == CLAUDE_OWN["mcpServers"]


# ---- Codex: <dir>/.codex/config.toml, in a folder Codex trusts ------------------------------

def codex_trusts(sandbox, *folders) -> None:
    """What Codex writes when the user trusts a folder (its first start there asks)."""
    config = sandbox.home / ".codex" / "config.toml"
    config.parent.mkdir(exist_ok=True)
    text = config.read_text() if config.exists() else ""
    config.write_text(text + "".join(f'\n[projects."{f}"]\ntrust_level = "trusted"\n' for f in folders))


def folder_tables(folder) -> dict:
    return tomllib.loads((folder / ".codex" / "config.toml").read_text())["mcp_servers"]


def test_codex_gets_a_projects_decisions_in_a_folder_it_trusts(sandbox, setup):
    codex_trusts(sandbox, setup)
    proc = run(sandbox, "disable", "qdrant", "--project", "demo")
    file = setup / ".codex" / "config.toml"
    assert f"  for {setup} in {file}: disabled qdrant\n" in proc.stdout
    user = tomllib.loads((sandbox.home / ".codex" / "config.toml").read_text())["mcp_servers"]
    # Whole, so that Codex reads the file even if the user-level table goes away.
    assert folder_tables(setup) == {"qdrant": {**user["qdrant"], "enabled": False}}
    assert oct(file.stat().st_mode & 0o777) == "0o600"
    run(sandbox, "enable", "old", "--project", "demo")
    assert folder_tables(setup)["old"]["args"][-2:] == ["--project-dir", str(setup)]
    file.write_text(file.read_text() + '\n[mcp_servers.mine]\ncommand = "my-server"\n')  # the user's own
    run(sandbox, "enable", "qdrant", "--project", "demo")
    run(sandbox, "disable", "old", "--project", "demo")
    assert folder_tables(setup) == {"mine": {"command": "my-server"}}
    file.write_text("")
    run(sandbox, "disable", "qdrant", "--project", "demo")
    run(sandbox, "enable", "qdrant", "--project", "demo")
    assert not file.exists()  # only claudex's tables were there: gone with them (the .bak stays)


def test_codex_an_untrusted_folder_gets_no_file_and_it_is_said(sandbox, setup):
    proc = run(sandbox, "disable", "qdrant", "--project", "demo")
    assert (f"for {setup}: nothing written to {setup / '.codex' / 'config.toml'}: Codex reads this file only in a "
            f"folder it trusts, and it does not trust {setup} yet") in proc.stdout
    assert not (setup / ".codex").exists()
    codex_trusts(sandbox, setup)  # then the next write reaches it
    run(sandbox, "generate")
    assert folder_tables(setup)["qdrant"]["enabled"] is False


def test_codex_trust_of_the_repository_root_covers_a_project_below_it(sandbox, setup):
    repo = sandbox.root / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "app" / ".claudex").mkdir(parents=True)
    codex_trusts(sandbox, repo)
    run(sandbox, "disable", "qdrant", "--project-dir", str(repo / "app"))
    assert folder_tables(repo / "app")["qdrant"]["enabled"] is False


def test_several_folders_written_at_once_read_as_claude_code_writes_its_file(sandbox, setup):
    """Two folders Claude Code keeps and one it does not yet, changed in one write: the file is
    what JSON.stringify(doc, null, 2) gives for the new document, every other byte in place."""
    other, new = sandbox.home / "claudex" / "other", sandbox.home / "claudex" / "new"
    for folder in (other, new):
        (folder / ".claudex").mkdir(parents=True)
    doc = claude_json(sandbox)
    doc.pop("big")
    doc["projects"][str(other)] = {"history": [{"display": "é ✓"}], "mcpServers": {}}
    (sandbox.home / ".claude.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    off = json.dumps({"servers": {"qdrant": {"enabled": False}, "old": {"enabled": True}}})
    for folder in (setup, other, new):
        (folder / ".claudex" / "mcp.json").write_text(off)
    run(sandbox, "generate")
    entry = claude_json(sandbox)["projects"][str(setup)]["mcpServers"]["old"]
    doc["projects"][str(setup)]["mcpServers"]["old"] = entry
    doc["projects"][str(setup)]["disabledMcpServers"].append("qdrant")
    doc["projects"][str(other)]["mcpServers"]["old"] = {**entry, "args": [*entry["args"][:-1], str(other)]}
    doc["projects"][str(other)]["disabledMcpServers"] = ["qdrant"]
    doc["projects"][str(new)] = {"mcpServers": {"old": {**entry, "args": [*entry["args"][:-1], str(new)]}},
                                 "disabledMcpServers": ["qdrant"]}
    assert (sandbox.home / ".claude.json").read_text() == json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def test_codex_a_project_file_generated_in_full_switches_off_what_the_project_does(sandbox, setup):
    """`generate --client codex --scope project` writes the project's servers, and the user
    file's that the project switches off, with enabled = false: Codex merges the two files."""
    run(sandbox, "disable", "qdrant", "--project", "demo")  # Codex does not trust demo: no folder part
    assert not (setup / ".codex").exists()
    run(sandbox, "generate", "--client", "codex", "--scope", "project", "--project", "demo")
    tables = folder_tables(setup)
    assert tables["qdrant"]["enabled"] is False and tables["codex"]["args"][-1] == str(setup)
    run(sandbox, "enable", "qdrant", "--project", "demo")
    assert folder_tables(setup)["qdrant"]["args"][-1] == str(setup) and "enabled" not in folder_tables(setup)["qdrant"]


def test_codex_the_folder_part_hands_its_tables_to_a_file_generated_in_full(sandbox, setup):
    codex_trusts(sandbox, setup)
    run(sandbox, "disable", "qdrant", "--project", "demo")  # the folder part first
    run(sandbox, "generate", "--client", "codex", "--scope", "project", "--project", "demo")
    run(sandbox, "generate")  # the folder part steps aside, and hands its tables over
    state = json.loads((sandbox.state / "claudex" / "generated.json").read_text())
    assert "folders" not in state[str(sandbox.home / ".codex" / "config.toml")]
    assert state[str(setup / ".codex" / "config.toml")]["servers"] == ["codex", "qdrant"]
    run(sandbox, "enable", "qdrant", "--project", "demo")
    assert "enabled" not in folder_tables(setup)["qdrant"]

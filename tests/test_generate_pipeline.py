"""`claudex mcp generate` end to end: the pipe scripts compose to the same bytes, the layers
decide what is written, no secret reaches a file, and the Docker entrypoint never blocks a start."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT, add_server, manifest
from claudex_mcp.store import registry as registry_mod

SECRET = "sk-test-SECRET-4242"


@pytest.fixture
def setup(sandbox):
    reg = sandbox.registry
    registry_mod.init(reg)
    add_server(reg, "codex", "core")
    add_server(reg, "qdrant", "installed", manifest("qdrant", env={"QDRANT_API_KEY": "${QDRANT_API_KEY}"},
                                                   requiredEnv=["QDRANT_API_KEY"]))
    add_server(reg, "old", "disabled")
    add_server(reg, "web", "installed", {"apiVersion": "v1", "metadata": {"name": "web", "version": "1.0.0",
               "description": "remote"}, "server": {"transport": "http", "url": "https://mcp.example.com/mcp",
               "headers": {"Authorization": "Bearer ${WEB_TOKEN}"}, "requiredEnv": ["WEB_TOKEN"]}}, files={})
    project = sandbox.home / "claudex" / "demo"
    (project / ".claudex").mkdir(parents=True)
    (project / ".claudex" / "mcp.json").write_text(json.dumps({"servers": {"codex": {"enabled": False}}}))
    user = sandbox.config / "claudex" / "mcp.json"
    user.parent.mkdir(parents=True)
    user.write_text(json.dumps({"servers": {"qdrant": {"env": {"QDRANT_API_KEY": SECRET}}}}))
    sandbox.env.update(QDRANT_API_KEY=SECRET, WEB_TOKEN=SECRET)
    return project


def pipeline(sandbox, *merge_args: str, client: str = "claude-code") -> bytes:
    scripts = ROOT / "scripts"
    cmd = (f"{sys.executable} {scripts}/mcp-utils scan | {sys.executable} {scripts}/merge-config "
           f"{' '.join(merge_args)} | {sys.executable} {scripts}/generate-mcp-json --client {client} --output -")
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, env=sandbox.env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("client", ["claude-code", "codex", "cursor", "vscode", "claude-desktop"])
@pytest.mark.parametrize("project", [(), ("--project", "demo")])
def test_pipe_scripts_compose_to_the_verb_output(sandbox, setup, client, project):
    verb = subprocess.run([sys.executable, str(ROOT / "scripts" / "claudex"), "mcp", "generate", *project,
                           "--client", client, "--output", "-"], capture_output=True, env=sandbox.env)
    assert verb.returncode == 0, verb.stderr
    assert pipeline(sandbox, *project, client=client) == verb.stdout


def test_the_layers_decide_what_is_written(sandbox, setup):
    assert sandbox.run("mcp", "generate").returncode == 0
    written = json.loads((sandbox.home / ".mcp.json").read_text())["mcpServers"]
    assert sorted(written) == ["codex", "qdrant", "web"]  # old is in disabled/
    assert written["qdrant"]["args"] == ["mcp", "run", "qdrant"]
    assert written["web"] == {"type": "http", "url": "https://mcp.example.com/mcp",
                              "headers": {"Authorization": "Bearer ${WEB_TOKEN}"}}
    proc = sandbox.run("mcp", "generate", "--project", "demo", "--scope", "project", "--json")
    result = json.loads(proc.stdout)
    assert result["target"] == str(setup / ".mcp.json") and result["servers"] == ["qdrant", "web"]
    entry = json.loads((setup / ".mcp.json").read_text())["mcpServers"]["qdrant"]
    assert entry["args"][-2:] == ["--project-dir", str(setup)]


def test_no_secret_in_any_generated_file(sandbox, setup):
    sandbox.env["CODEX_HOME"] = str(sandbox.home / ".codex")
    for argv in (["--client", "claude-code"], ["--client", "claude-code", "--scope", "user"],
                 ["--client", "codex"], ["--client", "claude-desktop"], ["--client", "cursor", "--scope", "user"],
                 ["--client", "vscode", "--project", "demo", "--scope", "project"],
                 ["--client", "claude-code", "--project", "demo", "--scope", "project"]):
        proc = sandbox.run("mcp", "generate", *argv)
        assert proc.returncode == 0, (argv, proc.stderr)
    sandbox.run("mcp", "config", "set", "qdrant", "enabled", "false")  # a second generation: backups appear
    sandbox.run("mcp", "generate", "--client", "codex")
    written = [p for p in sandbox.root.rglob("*") if p.is_file() and "mcp-servers" not in p.parts
               and p != sandbox.config / "claudex" / "mcp.json"]
    assert len([p for p in written if p.name in (".mcp.json", ".claude.json", "config.toml", "mcp.json",
                                                  "claude_desktop_config.json")]) >= 6
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path


def test_generate_twice_changes_nothing(sandbox, setup):
    sandbox.env["CODEX_HOME"] = str(sandbox.home / ".codex")
    sandbox.run("mcp", "generate")
    targets = [sandbox.home / ".claude.json", sandbox.home / ".mcp.json", sandbox.home / ".codex" / "config.toml"]
    before = [(t.stat().st_mtime_ns, t.stat().st_ino) for t in targets]
    result = json.loads(sandbox.run("mcp", "generate", "--json").stdout)
    assert [(r["client"], r["target"], r["changed"]) for r in result["targets"]] == [
        ("claude-code", str(targets[0]), False), ("claude-code", str(targets[1]), False), ("codex", str(targets[2]), False)]
    assert [(t.stat().st_mtime_ns, t.stat().st_ino) for t in targets] == before


def test_generate_by_default_writes_claude_code_user_scope_mcp_json_and_codex(sandbox, setup):
    """Claude Code sees ~/.mcp.json only as a project file; its user scope in ~/.claude.json is
    seen from any folder. Foreign entries and settings in ~/.claude.json stay."""
    sandbox.env["CODEX_HOME"] = str(sandbox.home / ".codex")
    (sandbox.home / ".claude.json").write_text(json.dumps(
        {"numStartups": 3, "projects": {"/x": {}}, "mcpServers": {"mine": {"command": "mine"}}}))
    proc = sandbox.run("mcp", "generate")
    assert proc.returncode == 0, proc.stderr
    claude = json.loads((sandbox.home / ".claude.json").read_text())
    assert claude["numStartups"] == 3
    # Project demo (under $CLAUDEX_PROJECTS_DIR) switches codex off: so does its folder's local scope.
    assert claude["projects"] == {"/x": {}, str(setup): {"disabledMcpServers": ["codex"]}}
    assert sorted(claude["mcpServers"]) == ["codex", "mine", "qdrant", "web"]
    assert (sandbox.home / ".claude.json").stat().st_mode & 0o777 == 0o644  # an existing file keeps its mode
    assert sorted(json.loads((sandbox.home / ".mcp.json").read_text())["mcpServers"]) == ["codex", "qdrant", "web"]
    assert "[mcp_servers.qdrant]" in (sandbox.home / ".codex" / "config.toml").read_text()


def test_docker_entrypoint_generates_then_execs(sandbox, setup):
    env = dict(sandbox.env, PATH=f"{sys.executable.rsplit('/', 1)[0]}:/usr/bin:/bin",
               CLAUDEX_MCP_GENERATE="claude-code claude-code:user")
    proc = subprocess.run([str(ROOT / "scripts" / "docker-entrypoint.sh"), "sh", "-c", "echo started $$"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and proc.stdout.startswith("started"), proc.stderr
    assert "qdrant" in json.loads((sandbox.home / ".mcp.json").read_text())["mcpServers"]
    assert "qdrant" in json.loads((sandbox.home / ".claude.json").read_text())["mcpServers"]


def test_generate_trust_folder_marks_only_that_folder_and_keeps_the_file(sandbox, setup):
    (sandbox.home / ".claude.json").write_text('{"numStartups": 3, "big": 1e400,\n "projects": {"/x": {"history": [1]}}}\n')
    workspace = sandbox.root / "ws"
    workspace.mkdir()
    proc = sandbox.run("mcp", "generate", "--trust-folder", str(workspace))
    assert proc.returncode == 0, proc.stderr
    assert f"marked trusted in Claude Code" in proc.stderr and str(workspace) in proc.stderr
    text = (sandbox.home / ".claude.json").read_text()
    assert '"big": 1e400' in text  # the rest of the client's file keeps its bytes
    claude = json.loads(text)
    assert claude["projects"] == {"/x": {"history": [1]}, str(workspace): {"hasTrustDialogAccepted": True},
                                  str(setup): {"disabledMcpServers": ["codex"]}}  # demo's decision, in its folder
    assert "qdrant" in claude["mcpServers"]
    again = sandbox.run("mcp", "generate", "--trust-folder", str(workspace))
    assert again.returncode == 0 and "marked trusted" not in again.stderr  # already trusted: nothing to say


def test_generate_trust_folder_refuses_a_missing_folder_and_writes_nothing(sandbox, setup):
    proc = sandbox.run("mcp", "generate", "--trust-folder", str(sandbox.root / "nope"))
    assert proc.returncode == 4, proc.stderr
    assert json.loads(proc.stderr)["error"]["code"] == "folder_not_found"
    assert not (sandbox.home / ".claude.json").exists()


def test_docker_entrypoint_starts_even_when_generation_fails(sandbox):
    env = dict(sandbox.env, PATH=f"{sys.executable.rsplit('/', 1)[0]}:/usr/bin:/bin")  # no registry exists
    proc = subprocess.run([str(ROOT / "scripts" / "docker-entrypoint.sh"), "sh", "-c", "echo started; exit 7"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 7 and proc.stdout == "started\n"
    assert "no registry" in proc.stderr and "starting anyway" in proc.stderr


def test_the_readme_pipe_runs_as_written_from_the_venv(sandbox, setup):
    """After `make install`, with the venv's bin on PATH (as `source .venv/bin/activate` does)."""
    readme = (ROOT / "README.md").read_text()
    command = "mcp-utils scan | merge-config --project demo | generate-mcp-json --output -"
    assert command in readme
    env = dict(sandbox.env, PATH=f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin")
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, env=env, cwd=sandbox.home)
    assert proc.returncode == 0, proc.stderr
    verb = sandbox.run("mcp", "generate", "--project", "demo", "--output", "-")
    assert proc.stdout.decode() == verb.stdout
    assert sorted(json.loads(proc.stdout)["mcpServers"]) == ["qdrant", "web"]


def test_every_pipe_script_is_on_the_venv_path():
    from claudex_mcp.cli.pipes import PIPES

    for name in PIPES:
        assert (ROOT / ".venv" / "bin" / name).is_file(), f"{name}: run make install"
        proc = subprocess.run([str(ROOT / ".venv" / "bin" / name), "--help"], capture_output=True, text=True)
        assert proc.returncode == 0 and f"usage: {name}" in proc.stdout, (name, proc.stderr)


def test_a_discovered_project_does_not_shape_the_home_file(sandbox, setup):
    """generate run inside a project writes ~/.mcp.json without that project's layer, and later
    mutations do not regenerate it for the project; an explicit --project still applies."""
    proc = sandbox.run("mcp", "generate", cwd=setup)
    assert proc.returncode == 0, proc.stderr
    assert "is not applied to" in proc.stderr
    assert sorted(json.loads((sandbox.home / ".mcp.json").read_text())["mcpServers"]) == ["codex", "qdrant", "web"]
    state = json.loads((sandbox.state / "claudex" / "generated.json").read_text())
    assert all(not entry.get("project") for entry in state.values()), state
    proc = sandbox.run("mcp", "disable", "qdrant", "--json", cwd=setup)
    regenerated = json.loads(proc.stdout)["regenerated"]
    home_targets = [sandbox.home / ".claude.json", sandbox.home / ".mcp.json", sandbox.home / ".codex" / "config.toml"]
    assert sorted((r["target"], r["project"]) for r in regenerated) == sorted((str(t), None) for t in home_targets)
    assert sorted(json.loads((sandbox.home / ".mcp.json").read_text())["mcpServers"]) == ["codex", "web"]
    proc = sandbox.run("mcp", "generate", "--scope", "project", cwd=setup)  # inside the project: applied
    assert proc.returncode == 0 and "not applied" not in proc.stderr
    assert sorted(json.loads((setup / ".mcp.json").read_text())["mcpServers"]) == ["web"]


def test_a_mutation_says_which_client_files_it_regenerated(sandbox, setup):
    assert sandbox.run("mcp", "generate").returncode == 0
    proc = sandbox.run("mcp", "disable", "qdrant")
    assert proc.returncode == 0, proc.stderr
    assert f"regenerated: {sandbox.home / '.mcp.json'} (claude-code; claudex wrote it before" in proc.stdout

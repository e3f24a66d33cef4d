"""The fixture home of `claudex mcp migrate` (tests/fixtures/migrate/), put into a sandbox."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ROOT, manifest

FIXTURE = ROOT / "tests" / "fixtures" / "migrate" / "home"
# The client files of the fixture home, relative to HOME.
CLIENT_FILES = (".claude.json", ".mcp.json", ".config/Claude/claude_desktop_config.json", ".codex/config.toml",
                "dotfiles/cursor-mcp.json", "code/demo/.vscode/mcp.json", "code/demo/.cursor/mcp.json")


def make_home(sandbox, core_codex: bool = True) -> Path:
    """Copy the fixture home into the sandbox's HOME (``@HOME@`` replaced), link
    ~/.cursor/mcp.json to the dotfiles copy, and make a registry (with a core codex server)."""
    from claudex_mcp.store import registry as registry_mod

    home = sandbox.home
    for path in sorted(FIXTURE.rglob("*")):
        target = home / path.relative_to(FIXTURE)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.write_text(path.read_text().replace("@HOME@", str(home)))
    (home / ".cursor").mkdir()
    (home / ".cursor" / "mcp.json").symlink_to(home / "dotfiles" / "cursor-mcp.json")
    registry_mod.init(sandbox.registry)
    if core_codex:
        folder = sandbox.registry / "core" / "codex"
        folder.mkdir()
        (folder / "manifest.json").write_text(json.dumps(
            manifest("codex", "2.0.0", optionalEnv=[{"name": "OPENAI_API_KEY", "secret": True}])))
        (folder / "server.py").write_text("print()\n")
    return home


def snapshot(home: Path) -> dict[str, bytes]:
    """The bytes of every client file (and the user layer) under ``home``."""
    found = {}
    for rel in CLIENT_FILES + (".config/claudex/mcp.json", "code/demo/.claudex/mcp.json"):
        path = home / rel
        if path.exists():
            found[rel] = path.read_bytes()
    return found


def registry_names(registry: Path) -> set[str]:
    return {p.name for location in ("installed", "disabled") for p in (registry / location).iterdir()}

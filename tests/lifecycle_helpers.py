"""Building real git repositories of servers, and checking the registry's invariants."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ECHO_SERVER, manifest

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent"}


def git(*args: str, cwd: Path) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}, check=True)
    return proc.stdout.strip()


def server_files(name: str, version: str, mcp: bool = True, **server) -> dict[str, str]:
    """The files of a server at a version; an MCP (echo) server by default, run by this python."""
    doc = manifest(name, version, command=sys.executable, **server) if mcp else manifest(name, version, **server)
    return {"manifest.json": json.dumps(doc, indent=2), "server.py": ECHO_SERVER.read_text() if mcp else "print()\n",
            "VERSION": version + "\n"}


def write_files(folder: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)


def git_repo(root: Path, name: str, versions: list[str], mcp: bool = True) -> str:
    """A bare repository with one commit and tag v<version> per version; its file:// URL."""
    work = root / f"{name}-work"
    work.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=work)
    for version in versions:
        write_files(work, server_files(name, version, mcp))
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", version, cwd=work)
        git("tag", f"v{version}", cwd=work)
    bare = root / f"{name}.git"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=root)
    return f"file://{bare}"


def add_release(url: str, root: Path, name: str, version: str, tag: bool = True, mcp: bool = True) -> None:
    work = root / f"{name}-work"
    write_files(work, server_files(name, version, mcp))
    git("commit", "-q", "-am", version, cwd=work)
    if tag:
        git("tag", f"v{version}", cwd=work)
    git("push", "-q", url.removeprefix("file://"), "main", "--tags", cwd=work)


def snapshot(registry: Path) -> dict[str, bytes]:
    """Every file of the registry (but the lock), for byte-identical comparisons."""
    found = {}
    for path in sorted(registry.rglob("*")):
        rel = path.relative_to(registry)
        if path.is_file() and rel.name != ".lock" and rel.parts[0] != ".staging":
            found[str(rel)] = path.read_bytes()
        elif path.is_dir() and rel.parts[0] != ".staging":
            found[str(rel) + "/"] = b""
    return found


def check_invariants(registry: Path, versions: dict[str, set[str]]) -> None:
    """registry.json parses and is valid; each server folder is wholly one of the versions its
    name may have (no mix of files), and none that must exist is lost."""
    from claudex_mcp.schemas import validation

    doc = json.loads((registry / "registry.json").read_text())
    assert validation.validate_document(doc, "registry", "registry.json") == []
    for name, allowed in versions.items():
        folders = [registry / loc / name for loc in ("installed", "disabled") if (registry / loc / name).exists()]
        if not folders:
            assert None in allowed, f"{name} was lost"
            continue
        assert len(folders) == 1, f"{name} is in two places"
        version = (folders[0] / "VERSION").read_text().strip()
        assert version in allowed, f"{name} is at {version}, not one of {allowed}"
        assert json.loads((folders[0] / "manifest.json").read_text())["metadata"]["version"] == version

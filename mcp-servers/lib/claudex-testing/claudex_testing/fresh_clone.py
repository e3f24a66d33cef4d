"""A fresh clone of this checkout on a machine that has set up claudex before: the working tree
(tracked and new files, not the ignored .venv, .tools, build), a new HOME, registry and XDG
folders, and the package caches of the real user (uv's, pip's), so that downloads are warm.
Used by the `make install` / `make run` test and bench."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]   # the checkout: this is mcp-servers/lib/claudex-testing/claudex_testing/
# What a `make` in the clone must not inherit from a make that runs the test or the bench.
MAKE_VARS = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")
# Where the caller's own claudex, registry and configs would be found: the clone gets its own.
PLACES = ("CLAUDEX_MCP_REGISTRY", "CLAUDEX_MCP_CORE_SOURCE", "CLAUDEX_PROJECTS_DIR", "CODEX_HOME",
          "UV_TOOL_DIR", "UV_TOOL_BIN_DIR", "XDG_BIN_HOME", "VIRTUAL_ENV")


def warm_caches(env: Mapping[str, str]) -> dict[str, str]:
    """uv's and pip's cache folders in ``env`` (the real user's), as their own rules find them."""
    home = Path(env.get("HOME") or Path.home())
    base = env.get("XDG_CACHE_HOME")
    cache = Path(base) if base and os.path.isabs(base) else home / ".cache"
    return {"UV_CACHE_DIR": env.get("UV_CACHE_DIR") or str(cache / "uv"),
            "PIP_CACHE_DIR": env.get("PIP_CACHE_DIR") or str(cache / "pip")}


def warm_uv(env: Mapping[str, str]) -> str | None:
    """The uv such a machine has: on PATH, else the one make install fetched into claudex's
    cache folder (scripts/bootstrap.py), else this checkout's venv's (a project dependency)."""
    home = Path(env.get("HOME") or Path.home())
    base = env.get("XDG_CACHE_HOME")
    cache = Path(base) if base and os.path.isabs(base) else home / ".cache"
    for candidate in (shutil.which("uv", path=env.get("PATH")), cache / "claudex" / "bin" / "uv",
                      ROOT / ".venv" / "bin" / "uv"):
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def copy_checkout(dest: Path, root: Path = ROOT) -> Path:
    """``dest``: a `git clone` of ``root`` with its working tree as it is now (a change not yet
    committed is tested too)."""
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(root), str(dest)], check=True)
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = root / name
        if not os.path.lexists(source):
            continue  # deleted in the working tree
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        elif source.is_file():
            shutil.copy2(source, target)
    subprocess.run(["git", "reset", "--quiet"], cwd=dest, check=True)  # the index of HEAD
    return dest


def environment(base: Mapping[str, str], home: Path, registry: Path, caches: Mapping[str, str],
                uv: str | None = None) -> dict[str, str]:
    """``base`` with a new HOME and XDG folders under ``home``, the registry at ``registry``
    (never /opt/mcp-servers), the warm ``caches``, and ``uv`` first on PATH when given (alone in
    a folder of its own: nothing else of the caller's comes with it)."""
    env = {k: v for k, v in base.items() if k not in MAKE_VARS + PLACES and not k.startswith("XDG_")}
    env.update(HOME=str(home), CLAUDEX_MCP_REGISTRY=str(registry), **caches)
    if uv is not None:
        bin_dir = home / ".uv-bin"
        bin_dir.mkdir(exist_ok=True)
        os.symlink(uv, bin_dir / "uv")
        env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", os.defpath)])
    return env

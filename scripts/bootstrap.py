#!/usr/bin/env python3
"""make install's first step: the project's venv (.venv) made by uv, with claudex (editable) and
its test dependencies. When no uv is found, pip fetches one from PyPI first.

Standard library only: it runs on the python3 make was given (PYTHON), before the venv exists.
On a terminal, one line per step on stderr; nothing otherwise. `inv install` (tasks.py) goes on
from here with the servers' requirements.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from claudex_mcp import atomic, paths, safepath
from claudex_mcp.install import deps  # noqa: E402  (standard library only)
from claudex_mcp.cli import common  # noqa: E402
from claudex_mcp.errors import ExternalFailure  # noqa: E402

PROG = "make install"
VENV = ROOT / ".venv"


def fetched_uv() -> Path:
    """Where a uv fetched by this script is kept: claudex's cache folder, so that a new clone
    or `make clean` does not fetch it again (uv is one static binary; it needs no Python)."""
    return paths.cache_home() / "claudex" / "bin" / "uv"


def find_uv() -> str | None:
    """uv on PATH, else the venv's (a project dependency, from an earlier install), else the one
    this script fetched before (run only from a private folder of this user's: safepath)."""
    for candidate in (shutil.which("uv"), VENV / "bin" / "uv"):
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    kept = fetched_uv()
    if safepath.real_dir(kept.parent, private=True) and os.access(kept, os.X_OK):
        return str(kept)
    return None


def fetch_uv(report) -> str:
    """pip installs uv from PyPI into a throwaway venv (pip's own configuration, index and
    proxy apply), and its binary is kept (fetched_uv). A venv, not `pip install --user`: Debian's
    python3 refuses user installs (PEP 668) and may have no pip but ensurepip."""
    target = fetched_uv()
    report("fetching", f"uv from PyPI (pip), into {target.parent}")
    target.parent.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    safepath.real_dir(target.parent, create=0o700, private=True)  # what is kept here is run
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        venv = Path(tmp) / "venv"
        run([sys.executable, "-m", "venv", str(venv)], "python3 -m venv",
            "install uv (https://docs.astral.sh/uv/), or python3's venv module (Debian: apt-get install python3-venv)")
        run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "uv"],
            "pip install uv", "check the network and pip's index configuration, or install uv yourself")
        # Whole or not at all, even with another clone doing the same.
        atomic.write_bytes(target, (venv / "bin" / "uv").read_bytes(), mode=0o755)
    return str(target)


def run(argv: list[str], what: str, hint: str, env: dict | None = None) -> None:
    """Run ``argv`` quietly; on failure, its last lines of output in the error."""
    try:
        proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    except FileNotFoundError:
        raise ExternalFailure(f"{argv[0]} is not there, so {what} cannot run", code="missing_runtime",
                              hint=hint) from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
        raise ExternalFailure(f"{what} failed", code="install_failed", hint=hint, details=tail)


def uv_install(uv: str, argv: list[str], what: str) -> None:
    """``uv <argv>`` from uv's cache alone when it holds everything (no index round trips), else
    with the index, as deps.py does for the servers."""
    env = deps.uv_env()
    if subprocess.run([uv, *argv, "--offline"], cwd=ROOT, env=env, capture_output=True).returncode != 0:
        run([uv, *argv], what, "check the network and uv's index configuration; then run make install again", env)


def build_parser(prog: str) -> argparse.ArgumentParser:
    return common.parser(prog, __doc__)


def action(args: argparse.Namespace) -> int:
    report = common.progress(True, label=PROG)
    uv = find_uv() or fetch_uv(report)
    python = VENV / "bin" / "python"
    if not os.access(python, os.X_OK):
        report("venv", f"{VENV.name} (uv venv, {sys.executable})")
        run([uv, "venv", "--quiet", "--python", sys.executable, str(VENV)], "uv venv",
            "check that python3 is 3.11 or newer (make install PYTHON=python3.12 names another)", deps.uv_env())
    report("installing", "claudex and its test dependencies (uv pip install -e '.[test]')")
    # Byte-compiled, as pip did: where PYTHONDONTWRITEBYTECODE is set (CI images, containers)
    # Python would otherwise compile jsonschema, the mcp SDK... at every claudex command. Only
    # what this step installs is compiled; the servers' requirements (inv install) are not.
    uv_install(uv, ["pip", "install", "--quiet", "--compile-bytecode", "--python", str(python), "-e", ".[test]"],
               "uv pip install -e '.[test]'")
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.run(PROG, lambda: build_parser(PROG), action, argv, human_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())

"""Installing a server's dependencies in its own folder: a venv for a Python server, npm for a
Node server; and checking that its command will be found. The only code from a server folder
that runs during an install is what these installers run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import ExternalFailure, InvalidInput

TIMEOUT = 900


def kind(folder: Path) -> str | None:
    if (folder / "requirements.txt").exists() or (folder / "pyproject.toml").exists():
        return "python"
    if (folder / "package.json").exists():
        return "node"
    return None


def _run(argv: list[str], cwd: Path, what: str) -> None:
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=TIMEOUT, env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"))
    except subprocess.TimeoutExpired:
        raise ExternalFailure(f"{what} took longer than {TIMEOUT} s", code="dependencies_failed") from None
    except FileNotFoundError:
        raise ExternalFailure(f"{argv[0]} is not installed, so {what} cannot run", code="missing_runtime",
                              hint=f"install {Path(argv[0]).name}") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise ExternalFailure(f"{what} failed:\n{tail}", code="dependencies_failed",
                              hint="check the server's requirements; nothing was installed")


def python_for_venvs() -> str:
    """The interpreter that creates server venvs: CLAUDEX_MCP_PYTHON, else python3 on PATH,
    else the one running claudex."""
    return os.environ.get("CLAUDEX_MCP_PYTHON") or shutil.which("python3") or sys.executable


def install(folder: Path) -> str | None:
    """Install the dependencies of the server in ``folder``; return what was done."""
    found = kind(folder)
    if found == "python":
        venv = folder / ".venv"
        _run([python_for_venvs(), "-m", "venv", str(venv)], folder, "creating the server's venv")
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-input"]
        if (folder / "requirements.txt").exists():
            _run(pip + ["-r", "requirements.txt"], folder, "pip install -r requirements.txt")
        else:
            _run(pip + ["."], folder, "pip install .")
        return "python venv"
    if found == "node":
        npm = shutil.which("npm")
        if npm is None:
            raise ExternalFailure("the server is a Node package but npm is not installed", code="missing_runtime",
                                  hint="install Node.js and npm")
        if (folder / "package-lock.json").exists():
            _run([npm, "ci", "--omit=dev", "--no-audit", "--no-fund"], folder, "npm ci")
        else:
            _run([npm, "install", "--omit=dev", "--no-audit", "--no-fund"], folder, "npm install")
        return "npm"
    return None


def check_command(folder: Path, manifest: dict) -> None:
    """The server's command exists: inside its folder (after the dependencies) or on PATH."""
    server = manifest["server"]
    if server.get("transport", "stdio") != "stdio":
        return
    command = server["command"].replace("${SERVER_DIR}", str(folder))
    if "${" in command:
        return  # chosen at launch time from the environment
    if "/" in command:
        path = command if os.path.isabs(command) else str(folder / command)
        if not os.access(path, os.X_OK):
            raise InvalidInput(f"the server's command {server['command']} does not exist or is not executable",
                               code="command_not_found", hint="fix server.command in manifest.json, or add its "
                               "requirements.txt / package.json so the dependencies provide it")
    elif shutil.which(command) is None:
        raise ExternalFailure(f"the server's command {command!r} is not on PATH", code="missing_runtime",
                              hint=f"install {command} first")


def normalise_permissions(folder: Path) -> None:
    """Folders 755, files 644, executables 755; links untouched (whatever the umask or the source)."""
    for current, dirs, files in os.walk(folder):
        os.chmod(current, 0o755)
        for name in files:
            path = os.path.join(current, name)
            st = os.lstat(path)
            if not os.path.islink(path):
                os.chmod(path, 0o755 if st.st_mode & 0o111 else 0o644)

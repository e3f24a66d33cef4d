"""Installing a server's dependencies in its own folder: a venv for a Python server, npm for a
Node server; and checking that its command will be found. The only code from a server folder
that runs during an install is what these installers run."""

from __future__ import annotations

import os
import shutil
import stat
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
    from . import procs

    try:
        proc = procs.run(argv, cwd=cwd, timeout=TIMEOUT, env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"))
    except subprocess.TimeoutExpired:
        raise ExternalFailure(f"{what} took longer than {TIMEOUT} s", code="dependencies_failed",
                              hint="check the network and the package index (pip/npm config), then run it again; "
                                   "nothing was installed") from None
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


def install(folder: Path, ignore_scripts: bool = False) -> str | None:
    """Install the dependencies of the server in ``folder``; return what was done.

    ``ignore_scripts``: npm runs no package scripts (--ignore-scripts); pip takes only wheels
    from indexes (--only-binary :all:), so no downloaded sdist's setup.py or build backend runs.
    pip still builds local project folders (the server's own pyproject.toml, vendored
    packages) with their build backend: that is the server's own code, which claudex installs
    anyway. docs/lifecycle.md says the same."""
    found = kind(folder)
    if found == "python":
        venv = folder / ".venv"
        _run([python_for_venvs(), "-m", "venv", str(venv)], folder, "creating the server's venv")
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-input"]
        if ignore_scripts:
            pip += ["--only-binary", ":all:"]
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
        flags = ["--omit=dev", "--no-audit", "--no-fund"] + (["--ignore-scripts"] if ignore_scripts else [])
        if (folder / "package-lock.json").exists():
            _run([npm, "ci", *flags], folder, "npm ci")
        else:
            _run([npm, "install", *flags], folder, "npm install")
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


# What the dependency installers made: their files get the usual modes whatever the umask.
INSTALLER_OUTPUT = (".venv", "node_modules")


def normalise_permissions(folder: Path) -> None:
    """Folders 755, files 644, executables 755; links untouched (whatever the umask or the
    source). What the copy made owner-only (a source file others could not read) stays so:
    700 or 600."""
    for current, dirs, files in os.walk(folder):
        rel = os.path.relpath(current, folder)
        installed = rel.split(os.sep)[0] in INSTALLER_OUTPUT
        for path in [current] + [os.path.join(current, name) for name in files]:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            executable = st.st_mode & 0o111 or stat.S_ISDIR(st.st_mode)
            if not installed and not st.st_mode & stat.S_IROTH:
                os.chmod(path, 0o700 if executable else 0o600)
            else:
                os.chmod(path, 0o755 if executable else 0o644)

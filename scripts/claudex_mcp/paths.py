"""Every path claudex uses, resolved in one place from the environment.

Functions take an optional ``env`` mapping so tests and callers can resolve paths for an
environment other than the current process's.
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Mapping

DEFAULT_REGISTRY = "/opt/mcp-servers"
REGISTRY_FILE = "registry.json"
LOCATIONS = ("core", "installed", "disabled")
LOCK_FILE = ".lock"
# A server's name: the one rule, used by the code and (as ^...(?!\n)$) by every schema.
NAME_PATTERN = r"[a-z0-9][a-z0-9-]{0,62}"

# The source tree this package lives in (scripts/claudex_mcp -> repo root).
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
SCHEMAS_DIR = PROJECT_ROOT / "schemas"


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def env_number(name: str, default: float, env: Mapping[str, str] | None = None) -> float:
    """A number from the environment (a timeout, a size, a TTL); the default when it is unset
    or not a number."""
    try:
        return float(_env(env).get(name) or default)
    except ValueError:
        return default


def home(env: Mapping[str, str] | None = None) -> Path:
    value = _env(env).get("HOME")
    return Path(value) if value else Path.home()


def _xdg(name: str, fallback: str, env: Mapping[str, str] | None) -> Path:
    value = _env(env).get(name)
    # The XDG spec says relative values are invalid and must be ignored.
    if value and os.path.isabs(value):
        return Path(value)
    return home(env) / fallback


def data_home(env: Mapping[str, str] | None = None) -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share", env)


def cache_home(env: Mapping[str, str] | None = None) -> Path:
    return _xdg("XDG_CACHE_HOME", ".cache", env)


def config_home(env: Mapping[str, str] | None = None) -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config", env)


def state_home(env: Mapping[str, str] | None = None) -> Path:
    return _xdg("XDG_STATE_HOME", ".local/state", env)


def _expand_user(value: str, env: Mapping[str, str] | None) -> Path:
    """``~`` and ``~/x`` against the HOME of ``env`` (Path.expanduser would read os.environ)."""
    if value == "~" or value.startswith("~/"):
        return home(env) / value[2:]
    return Path(value)


def registry_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$CLAUDEX_MCP_REGISTRY``; else /opt/mcp-servers when it exists and is writable;
    else ``$XDG_DATA_HOME/claudex/mcp-servers``."""
    value = _env(env).get("CLAUDEX_MCP_REGISTRY")
    if value:
        return _expand_user(value, env).absolute()
    default = Path(DEFAULT_REGISTRY)
    if default.is_dir() and os.access(default, os.W_OK | os.X_OK):
        return default
    return data_home(env) / "claudex" / "mcp-servers"


def registry_file(registry: Path) -> Path:
    return registry / REGISTRY_FILE


def registry_lock_file(registry: Path) -> Path:
    return registry / LOCK_FILE


def cache_file(env: Mapping[str, str] | None = None) -> Path:
    return cache_home(env) / "claudex" / "mcp-registry.json"


def user_config_file(env: Mapping[str, str] | None = None) -> Path:
    return config_home(env) / "claudex" / "mcp.json"


def logs_dir(env: Mapping[str, str] | None = None) -> Path:
    return state_home(env) / "claudex" / "logs"


def projects_dir(env: Mapping[str, str] | None = None) -> Path:
    value = _env(env).get("CLAUDEX_PROJECTS_DIR")
    return _expand_user(value, env) if value else home(env) / "claudex"


def schema_file(name: str) -> Path:
    return SCHEMAS_DIR / f"{name}-v1.schema.json"


def server_folders(registry: Path) -> dict[str, tuple[str, Path]]:
    """{name: (location, folder)} of the server folders under ``registry``: real folders (not
    links) with a server's name, the first location winning (core, installed, disabled)."""
    import re

    found: dict[str, tuple[str, Path]] = {}
    for location in LOCATIONS:
        try:
            names = sorted(os.listdir(registry / location))
        except OSError:
            continue
        for name in names:
            folder = registry / location / name
            if re.fullmatch(NAME_PATTERN, name) and folder.is_dir() and not folder.is_symlink():
                found.setdefault(name, (location, folder))
    return found


# The distribution `uv tool install` names claudex's tool environment after (pyproject.toml).
TOOL_NAME = "claudex-mcp"


def uv_tool_bin(env: Mapping[str, str] | None = None) -> Path:
    """Where `uv tool install` puts commands, in uv's order: ``$UV_TOOL_BIN_DIR``,
    ``$XDG_BIN_HOME``, ``$XDG_DATA_HOME/../bin``, ``~/.local/bin``."""
    e = _env(env)
    if e.get("UV_TOOL_BIN_DIR"):
        return Path(e["UV_TOOL_BIN_DIR"]).absolute()
    for name, below in (("XDG_BIN_HOME", ""), ("XDG_DATA_HOME", "../bin")):
        value = e.get(name)
        if value and os.path.isabs(value):
            return Path(os.path.normpath(os.path.join(value, below)))
    return home(env) / ".local" / "bin"


def installed_claudex(env: Mapping[str, str] | None = None) -> Path | None:
    """The claudex command of claudex's own uv tool install (`make run` makes it; it lives
    outside the checkout's .venv, so `make clean` leaves it working), or None: a `claudex` in
    uv's bin folder that leads into a tool environment named claudex-mcp with uv's receipt."""
    command = uv_tool_bin(env) / "claudex"
    try:
        target = command.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, dangling, a loop
        return None
    tool = target.parent.parent
    if target.name == "claudex" and tool.name == TOOL_NAME and (tool / "uv-receipt.toml").is_file():
        return command
    return None

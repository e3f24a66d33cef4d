"""Preparing a server's start: the effective config for the project, required variables,
expansion, working directory, log file and run record. The `run` verb then execs it."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from . import atomic, config, expand, paths, safepath
from .errors import InvalidInput, NotFound, UsageError
from .index import require_valid
from .project import Project

DEFAULT_LOG_MAX_BYTES = 5 * 1024 * 1024


class Launch:
    """What to exec: the resolved argv, the environment, the folder and the log file."""

    __slots__ = ("name", "argv", "env", "cwd", "log")

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: str, log: Path) -> None:
        self.name, self.argv, self.env, self.cwd, self.log = name, argv, env, cwd, log


def log_file(name: str) -> Path:
    return paths.logs_dir() / f"{name}.log"


def run_record_file(name: str) -> Path:
    return paths.state_home() / "claudex" / "run" / f"{name}.json"


def _log_cap() -> int:
    try:
        return int(os.environ.get("CLAUDEX_MCP_LOG_MAX_BYTES", DEFAULT_LOG_MAX_BYTES))
    except ValueError:
        return DEFAULT_LOG_MAX_BYTES


def prepare(entry: dict, layers: config.Layers, environ: dict[str, str]) -> Launch:
    name = require_valid(entry)["name"]
    server = entry["manifest"]["server"]
    if server.get("transport", "stdio") != "stdio":
        raise UsageError(f"{name} is a remote server ({server['url']}); clients connect to it directly",
                         code="remote_server")
    sources = layers.sources(entry)
    merged, history = config.merge(sources)
    if not merged.get("enabled"):
        decided = history.get(("enabled",), [{}])[-1]
        raise InvalidInput(f"{name} is disabled here (by the {decided.get('layer', '?')} layer, "
                           f"{decided.get('file', '?')})", code="disabled",
                           hint=f"claudex mcp enable {name}, or see 'claudex mcp config explain {name}'")
    missing = config.env_reference_problems(entry, merged, environ)
    if missing:
        user_file = paths.user_config_file()
        raise InvalidInput(f"{name} needs {', '.join(missing)}: set {'it' if len(missing) == 1 else 'them'} "
                           f"in the environment, or with 'claudex mcp config set {name} env.{missing[0]} VALUE' "
                           f"({user_file})", code="missing_env")
    folder = entry["folder"]
    (command, *args), env = start_command(folder, server["command"], merged.get("args"), merged.get("env"), environ)
    if layers.project is not None:  # the launcher chdirs to the server: say where the project is
        env["CLAUDEX_PROJECT_DIR"] = str(layers.project.dir)
    if "/" in command:
        resolved = command if os.path.isabs(command) else os.path.join(folder, command)
        if not os.access(resolved, os.X_OK):
            raise NotFound(f"{name}: command {command} does not exist or is not executable", path=resolved,
                           hint="reinstall the server (its dependencies may be missing)", code="command_not_found")
    else:
        resolved = shutil.which(command, path=env.get("PATH", os.defpath))
        if resolved is None:
            raise NotFound(f"{name}: command {command!r} is not on PATH", code="command_not_found",
                           hint=f"install {command}, or fix server.command in {folder}/manifest.json")
    return Launch(name, [resolved, *args], env, folder, log_file(name))


def expand_in(folder: str, values, environ) -> list[str]:
    """``values`` with ${SERVER_DIR} (the server's folder) and the environment's variables
    expanded: the one place a server's command line is expanded."""
    scope = dict(environ, SERVER_DIR=str(folder))
    return [expand.expand(value, scope) for value in values]


def start_command(folder: str, command: str, args, env, environ) -> tuple[list[str], dict[str, str]]:
    """The argv and environment a server in ``folder`` starts with: its command and args, and
    ``environ`` plus its env values, all expanded; SERVER_DIR set."""
    folder = str(folder)
    keys = list(env or {})
    return (expand_in(folder, [command, *(args or [])], environ),
            {**environ, **dict(zip(keys, expand_in(folder, [env[k] for k in keys], environ))), "SERVER_DIR": folder})


def open_log(launch: Launch) -> int:
    """The log file's descriptor, opened for append; rotated to .log.1 when over the cap."""
    launch.log.parent.parent.mkdir(parents=True, exist_ok=True)
    safepath.real_dir(launch.log.parent, create=0o700)  # never a log written through a linked folder
    try:
        if launch.log.stat().st_size > _log_cap():
            os.replace(launch.log, launch.log.with_suffix(".log.1"))
    except FileNotFoundError:
        pass
    fd = safepath.open_regular(launch.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # never through a link
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    os.write(fd, f"--- {stamp} claudex mcp run {launch.name} (pid {os.getpid()}) ---\n".encode())
    return fd


def record_start(launch: Launch, project: Project | None) -> None:
    if os.environ.get("CLAUDEX_MCP_PROBE"):
        return  # a health check (status/test), not a client's start
    record_file = run_record_file(launch.name)
    record_file.parent.parent.mkdir(parents=True, exist_ok=True)
    safepath.real_dir(record_file.parent, create=0o700)
    atomic.write_json(record_file, {"name": launch.name, "pid": os.getpid(), "startedAt": time.time(),
                                    "command": launch.argv[0], "cwd": launch.cwd, "log": str(launch.log),
                                    "project": project.to_dict() if project else None})


def stop_running(name: str, project=None) -> list[int]:
    """Stop the instance `claudex mcp run` recorded for ``name`` (only for that project when
    one is given): SIGTERM, a grace period, then SIGKILL. Only a process that is still the
    recorded server (same executable) is signalled."""
    import json
    import signal

    try:
        record = json.loads(run_record_file(name).read_text())
        pid = int(record["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if project is not None and (record.get("project") or {}).get("dir") != str(project.dir):
        return []
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return []
    if os.path.realpath(record.get("command", "")) != os.path.realpath(exe):
        return []  # the pid now belongs to another program
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            time.sleep(0.1)
            os.kill(pid, 0)
            if _zombie(pid):
                break
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return [pid]


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True

"""Preparing a server's start: the effective config for the project, required variables,
expansion, working directory, log file and run record. The `run` verb then execs it."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from . import atomic, config, expand, paths
from .errors import InvalidInput, NotFound, UsageError
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
    name = entry["name"]
    if not entry.get("valid"):
        first = entry["problems"][0] if entry["problems"] else {"message": "invalid"}
        raise InvalidInput(f"{name} is not a valid server: {first['message']}", path=entry["folder"],
                           hint=f"run 'claudex mcp validate {entry['folder']}'", code="invalid_server")
    server = entry["manifest"]["server"]
    if server.get("transport", "stdio") != "stdio":
        raise UsageError(f"{name} is a remote server ({server['url']}); clients connect to it directly",
                         code="remote_server", hint=f"'claudex mcp generate' writes its URL into the client configs; "
                                                    f"'claudex mcp test {name}' checks it")
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
                           f"({user_file})", code="missing_env",
                           hint=f"export {missing[0]}=..., or set it in the user layer")
    folder = entry["folder"]
    scope = dict(environ, SERVER_DIR=folder)
    env = dict(environ)
    for key, value in (merged.get("env") or {}).items():
        env[key] = expand.expand(value, scope)
    env["SERVER_DIR"] = folder
    if layers.project is not None:  # the launcher chdirs to the server: say where the project is
        env["CLAUDEX_PROJECT_DIR"] = str(layers.project.dir)
    command = expand.expand(server["command"], scope)
    args = [expand.expand(arg, scope) for arg in merged.get("args") or []]
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


def open_log(launch: Launch) -> int:
    """The log file's descriptor, opened for append; rotated to .log.1 when over the cap."""
    launch.log.parent.mkdir(parents=True, exist_ok=True)
    try:
        if launch.log.stat().st_size > _log_cap():
            os.replace(launch.log, launch.log.with_suffix(".log.1"))
    except FileNotFoundError:
        pass
    fd = os.open(launch.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    os.write(fd, f"--- {stamp} claudex mcp run {launch.name} (pid {os.getpid()}) ---\n".encode())
    return fd


def record_start(launch: Launch, project: Project | None) -> None:
    if os.environ.get("CLAUDEX_MCP_PROBE"):
        return  # a health check (status/test), not a client's start
    record_file = run_record_file(launch.name)
    record_file.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(record_file, {"name": launch.name, "pid": os.getpid(), "startedAt": time.time(),
                                    "command": launch.argv[0], "cwd": launch.cwd, "log": str(launch.log),
                                    "project": project.to_dict() if project else None})

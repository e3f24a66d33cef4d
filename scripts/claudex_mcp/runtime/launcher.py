"""Preparing a server's start: the effective config for the project, required variables,
expansion, working directory, log file and run record. The `run` verb then execs it."""

from __future__ import annotations

import os
import shutil
import stat
import time
from pathlib import Path

from claudex_mcp import atomic, expand, paths, safepath
from claudex_mcp.settings import config
from claudex_mcp.errors import InvalidInput, NotFound, UsageError
from claudex_mcp.store.index import require_valid
from claudex_mcp.settings.project import Project

DEFAULT_LOG_MAX_BYTES = 5 * 1024 * 1024
EXIT_CANNOT_START = 5  # the server's command could not be executed (an external failure)


class Launch:
    """What to exec: the resolved argv, the environment, the folder and the log file; ``shared``:
    the agents reach one process of it through the gateway (the merged config's ``shared``, a
    layer's over the manifest's ``server.shared``)."""

    __slots__ = ("name", "argv", "env", "cwd", "log", "shared")

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: str, log: Path,
                 shared: bool = False) -> None:
        self.name, self.argv, self.env, self.cwd, self.log, self.shared = name, argv, env, cwd, log, shared


def log_file(name: str) -> Path:
    return paths.logs_dir() / f"{name}.log"


def run_record_file(name: str) -> Path:
    return paths.state_home() / "claudex" / "run" / f"{name}.json"


def read_run_record(name: str) -> dict:
    """The run record of ``name`` (what record_start wrote), {} when there is none or it is not a
    regular file holding a JSON object: read through the one safe reader (no blocking open, no
    link, a size cap), so a FIFO or a device planted in its place never hangs a reader."""
    from claudex_mcp import jsonio
    from claudex_mcp.errors import ClaudexError

    try:
        record = jsonio.parse(jsonio.read_bytes(run_record_file(name), limit=64 * 1024, follow_symlinks=False))
    except ClaudexError:
        return {}
    return record if isinstance(record, dict) else {}


def _log_cap() -> int:
    try:
        return int(os.environ.get("CLAUDEX_MCP_LOG_MAX_BYTES", DEFAULT_LOG_MAX_BYTES))
    except ValueError:
        return DEFAULT_LOG_MAX_BYTES


def prepare(entry: dict, layers: config.Layers, environ: dict[str, str], check_enabled: bool = True) -> Launch:
    """What `run` execs. ``check_enabled`` False: the gateway starts a shared server that a
    session's own project enabled (the bridge checked that with the session's layers)."""
    name = require_valid(entry)["name"]
    server = entry["manifest"]["server"]
    if server.get("transport", "stdio") != "stdio":
        raise UsageError(f"{name} is a remote server ({server['url']}); clients connect to it directly",
                         code="remote_server", hint=f"'claudex mcp generate' writes its URL into the client configs; "
                                                    f"'claudex mcp test {name}' checks it")
    sources = layers.sources(entry)
    merged, history = config.merge(sources)
    if check_enabled:
        _refuse_disabled(name, merged, history)
    _refuse_missing(name, config.env_reference_problems(entry, merged, environ))
    folder = entry["folder"]
    (command, *args), env = start_command(folder, server["command"], merged.get("args"), merged.get("env"), environ)
    if layers.project is not None:  # the launcher chdirs to the server (or its cwd): say where the project is
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
    return Launch(name, [resolved, *args], env, start_folder(name, folder, server.get("cwd"), environ), log_file(name),
                  merged.get("shared") is True)


def _refuse_disabled(name: str, merged: dict, history: dict) -> None:
    if not merged.get("enabled"):
        decided = history.get(("enabled",), [{}])[-1]
        raise InvalidInput(f"{name} is disabled here (by the {decided.get('layer', '?')} layer, "
                           f"{decided.get('file', '?')})", code="disabled",
                           hint=f"claudex mcp enable {name}, or see 'claudex mcp config explain {name}'")


def _refuse_missing(name: str, missing: list[str]) -> None:
    if missing:
        user_file = paths.user_config_file()
        raise InvalidInput(f"{name} needs {', '.join(missing)}: set {'it' if len(missing) == 1 else 'them'} "
                           f"in the environment, or with 'claudex mcp config set {name} env.{missing[0]} VALUE' "
                           f"({user_file})", code="missing_env",
                           hint=f"export {missing[0]}=..., or set it in the user layer")


def remote(entry: dict, layers: config.Layers, environ: dict[str, str], only_layer_headers: bool = False
           ) -> tuple[str, dict[str, str]]:
    """The URL and headers of a remote server as its clients send them, with ${VAR} expanded from
    the environment and from the server's env in the layers (the layer wins, as for a command).
    Refuses a stdio server, a disabled one, and a required variable that a header or the URL
    needs and nothing sets. ``only_layer_headers``: just the headers of ``layer_headers`` (what
    the headers helper prints; the client sends the others from its own file)."""
    name = require_valid(entry)["name"]
    server = entry["manifest"]["server"]
    if server.get("transport", "stdio") == "stdio":
        raise UsageError(f"{name} is a local (stdio) server; it has no URL or headers", code="not_remote",
                         hint=f"clients start it with 'claudex mcp run {name}'")
    merged, history = config.merge(layers.sources(entry))
    _refuse_disabled(name, merged, history)
    headers = {k: v for k, v in (merged.get("headers") or {}).items() if isinstance(v, str)}
    if only_layer_headers:
        from claudex_mcp.settings import effective

        keep = set(effective.layer_headers(merged, history))
        headers = {k: v for k, v in headers.items() if k in keep}
    env = merged.get("env") or {}
    scope = {**environ, **{k: expand.expand(v, environ) for k, v in env.items() if isinstance(v, str)}}
    needed = expand.references(list(headers.values()) + ([] if only_layer_headers else [server["url"]]))
    required = [item if isinstance(item, str) else item["name"] for item in server.get("requiredEnv", [])]
    _refuse_missing(name, [var for var in required if var in needed and not scope.get(var)])
    return expand.expand(server["url"], scope), {k: expand.expand(v, scope) for k, v in sorted(headers.items())}


def refusal(name: str, layers: config.Layers) -> None:
    """Raise what `claudex mcp run NAME` would refuse before it execs, without starting or
    writing anything: a broken config layer file (run loads the layers strictly; ``layers`` may
    have left it out), and a log or run-record folder, or log file, that is a link or not the
    user's. For `status`, which starts what run would exec without run itself (checks.check)."""
    if layers.problems:
        problem = layers.problems[0]
        raise InvalidInput(f"{name} does not start: the {problem['layer']} config layer "
                           f"{problem['file']} is broken", code="config_broken", path=problem["file"],
                           hint=problem["hint"])
    log = log_file(name)
    for folder in (log.parent, run_record_file(name).parent):
        safepath.real_dir(folder)
    try:
        st = os.lstat(log)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise safepath.unsafe(log, "is not a regular file")


def start_folder(name: str, folder: str, cwd: str | None, environ: dict[str, str]) -> str:
    """The folder a server starts in: its manifest's ``cwd`` expanded, else its own folder."""
    if not cwd:
        return str(folder)
    where = expand_in(folder, [cwd], environ)[0]
    if not os.path.isabs(where) or not os.path.isdir(where):
        raise NotFound(f"{name}: its start folder {where!r} (server.cwd) is not an absolute path to a folder",
                       path=where, code="cwd_not_found",
                       hint=f"create that folder, or fix server.cwd in {folder}/manifest.json")
    return where


def expand_in(folder: str, values, environ) -> list[str]:
    """``values`` with ${SERVER_DIR} (the server's folder) and the environment's variables
    expanded: the one place a server's command line is expanded."""
    scope = dict(environ, SERVER_DIR=str(folder))
    return [expand.expand(value, scope) for value in values]


def start_command(folder: str, command: str, args, env, environ) -> tuple[list[str], dict[str, str]]:
    """The argv and environment a server in ``folder`` starts with: ``environ`` plus its env
    values (expanded from ``environ``), then its command and args expanded from that, so that an
    argument can refer to a value of the layers (``--api-key=${API_KEY}``, the key in the user
    layer); SERVER_DIR set."""
    folder = str(folder)
    keys = list(env or {})
    own = {**environ, **dict(zip(keys, expand_in(folder, [env[k] for k in keys], environ)))}
    return expand_in(folder, [command, *(args or [])], own), {**own, "SERVER_DIR": folder}


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


def log_pipe(launch: Launch) -> int:
    """The write end of a pipe for the server's stderr, read by a small log writer process
    that keeps the log under CLAUDEX_MCP_LOG_MAX_BYTES while the server runs (rotating it to
    .log.1 as it grows).

    Why a process, not a file: the launcher execs the server (stdin and stdout reach the client
    directly, the pid stays the recorded one), so nothing in the server's process can watch the
    log's size. The writer is double-forked and in a session of its own, so the server has no
    unknown child, a signal to the server's process group does not cut the log short, and it
    ends by itself when the last writer of the pipe (the server and its children) is gone. It
    holds nothing of the client's: stdin and stdout are /dev/null in it.

    While it writes, the writer holds a shared flock on the log (taken here, before the fork, so
    there is no moment without it): settled_log waits for it to let go, so that a check that saw
    the server die reads its last lines, not the log as it was a moment before."""
    import fcntl

    log_fd = open_log(launch)
    fcntl.flock(log_fd, fcntl.LOCK_SH)
    read_fd, write_fd = os.pipe()
    middle = os.fork()
    if middle == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                _write_log(read_fd, log_fd, launch.log, _log_cap())
            os._exit(0)
        except BaseException:
            os._exit(1)
    os.waitpid(middle, 0)
    os.close(read_fd)
    os.close(log_fd)
    return write_fd


def _write_log(read_fd: int, log_fd: int, log: Path, cap: int) -> None:
    import fcntl
    import signal

    try:
        for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_IGN)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        keep = sorted({read_fd, log_fd})  # everything else (the write end, the client's pipes) closed
        os.closerange(3, keep[0])
        os.closerange(keep[0] + 1, keep[1])
        os.closerange(keep[1] + 1, 65536)
        size = os.fstat(log_fd).st_size
        while True:
            data = os.read(read_fd, 65536)
            if not data:
                break
            data = data[:max(cap, 1)]
            # A log that cannot be written (deleted folder, full disk) must not stop the
            # server: the pipe is drained whatever happens, so its writes never fail or block.
            try:
                if log_fd < 0 or (size and size + len(data) > cap):
                    if log_fd >= 0:
                        os.close(log_fd)
                        log_fd = -1
                        os.replace(log, log.with_suffix(".log.1"))
                    log_fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
                    fcntl.flock(log_fd, fcntl.LOCK_SH)
                    size = 0
                os.write(log_fd, data)
                size += len(data)
            except OSError:
                continue
    finally:
        os._exit(0)


def settled_log(name: str, wait: float = 2.0) -> None:
    """Wait (at most ``wait`` seconds) until no log writer of ``name`` holds its log: once the
    server is gone, its writer drains the pipe, writes the last lines and exits."""
    import fcntl

    try:
        fd = os.open(log_file(name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError:
                if time.monotonic() >= deadline:
                    return
                time.sleep(0.02)
    finally:
        os.close(fd)


def record_start(launch: Launch, project: Project | None, pid: int | None = None) -> None:
    if os.environ.get("CLAUDEX_MCP_PROBE"):
        return  # a health check (status/test), not a client's start
    record_file = run_record_file(launch.name)
    record_file.parent.parent.mkdir(parents=True, exist_ok=True)
    safepath.real_dir(record_file.parent, create=0o700)
    atomic.write_json(record_file, {"name": launch.name, "pid": pid or os.getpid(), "startedAt": time.time(),
                                    "command": launch.argv[0], "cwd": launch.cwd, "log": str(launch.log),
                                    "project": project.to_dict() if project else None})


def run_on_terminal(launch: Launch, project: Project | None) -> int:
    """Run the server for a person at a terminal (stdin is a tty): the server is a child that
    ignores SIGINT, and Ctrl-C here ends it with SIGTERM, as a client ends a server (a second
    Ctrl-C kills it). Its exit code, or 130 after Ctrl-C.

    Why not exec, as for a client: the terminal sends SIGINT to the whole foreground group, and a
    Python server turns it into a KeyboardInterrupt traceback in its log, which `status` would
    then show as the server's last error although nothing failed. No signal setting that an exec
    keeps can change that (SIG_IGN would leave Ctrl-C without effect), so this process stays to
    translate it. stdin and stdout are still the terminal's own, passed to the child, never
    copied through here."""
    import signal

    child: list[int] = []  # filled once forked; the handlers are in place before, so no Ctrl-C is lost
    interrupts = []

    def send(signum: int) -> None:
        try:
            if child:
                os.kill(child[0], signum)
        except ProcessLookupError:
            pass

    def interrupt(signum, _frame) -> None:
        interrupts.append(signum)
        send(signal.SIGKILL if len(interrupts) > 1 else signal.SIGTERM)

    signal.signal(signal.SIGINT, interrupt)
    for forwarded in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(forwarded, lambda signum, _frame: send(signum))
    pid = os.fork()
    if pid == 0:
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            for forwarded in (signal.SIGTERM, signal.SIGHUP):
                signal.signal(forwarded, signal.SIG_DFL)
            os.execve(launch.argv[0], launch.argv, launch.env)
        except BaseException as exc:  # in the child: say why in the log, never return into claudex
            os.write(2, f"claudex mcp run {launch.name}: cannot start {launch.argv[0]}: {exc}\n".encode())
        os._exit(EXIT_CANNOT_START)
    child.append(pid)
    if interrupts:  # Ctrl-C came while forking
        send(signal.SIGTERM)
    record_start(launch, project, pid)
    _, status = os.waitpid(pid, 0)  # retried after each signal handler (PEP 475)
    if interrupts:
        os.write(2, f"--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} ended by Ctrl-C on the terminal "
                    f"(SIGTERM to pid {pid}) ---\n".encode())
        return 130
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def stop_running(name: str, project=None) -> list[int]:
    """Stop the instance `claudex mcp run` recorded for ``name`` (only for that project when
    one is given): SIGTERM, a grace period, then SIGKILL; then whatever it started (its
    descendants, and its process group when it leads one). Only a process that is still the
    recorded server (same executable) is signalled."""
    import signal

    from claudex_mcp import procs

    record = read_run_record(name)
    try:
        pid = int(record["pid"])
    except (ValueError, KeyError, TypeError):
        return []
    if project is not None and (record.get("project") or {}).get("dir") != str(project.dir):
        return []
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return []
    if os.path.realpath(record.get("command", "")) != os.path.realpath(exe):
        return []  # the pid now belongs to another program
    children = procs.descendants(pid)  # now: once the server is gone, they are reparented
    leads_group = False
    try:
        leads_group = os.getpgid(pid) == pid
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
    procs.kill_all(children)
    if leads_group:
        procs.kill_group(pid)
    return [pid]


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True

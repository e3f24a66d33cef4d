"""The docker-mgmt server's operations: the safety policy (which containers the mutating tools may
touch, what docker_exec may run) and the Docker operations behind the tools. Never imports mcp;
the docker SDK is imported when the first operation needs the daemon."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import fnmatch
import os
import re
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from claudex_server.errors import ServerError

DEFAULT_HOST = "unix:///var/run/docker.sock"
DEFAULT_LABELS = "claudex.managed=true"
DEFAULT_MAX_OUTPUT = 65536
MAX_STATS_CONTAINERS = 50
SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "pwsh"})
# Programs that run their first operand as another program: the shell check looks through them.
# Programs that run a shell or switch user (around DOCKER_MGMT_EXEC_USERS): treated as shells.
SWITCHERS = frozenset({"su", "sudo", "doas", "runuser", "setpriv", "chpst", "gosu", "su-exec", "setuidgid"})
LAUNCHERS = frozenset({"env", "nice", "nohup", "timeout", "stdbuf", "setsid", "exec", "chroot", "ionice",
                       "taskset", "xargs", "unshare", "nsenter", "script", "flock"})

ENV_NAMES = "DOCKER_MGMT_ALLOW_NAMES"
ENV_PATTERNS = "DOCKER_MGMT_ALLOW_PATTERNS"
ENV_LABELS = "DOCKER_MGMT_ALLOW_LABELS"
ENV_EXEC = "DOCKER_MGMT_EXEC"
ENV_PROGRAMS = "DOCKER_MGMT_EXEC_PROGRAMS"
ENV_SHELL = "DOCKER_MGMT_EXEC_SHELL"
ENV_USERS = "DOCKER_MGMT_EXEC_USERS"
ENV_MAX_OUTPUT = "DOCKER_MGMT_MAX_OUTPUT"


class DockerMgmtError(ServerError):
    """A failure the agent can act on. `code` is one of invalid_input, not_found, refused,
    conflict, timeout, unavailable, failed."""

    def __init__(self, code: str, message: str):
        super().__init__(message, code=code)


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(item for item in re.split(r"[,\s]+", value or "") if item)


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise DockerMgmtError("invalid_input", f"{name}={environ[name]!r} is not a switch: use on or off")


def _user_part(user: str) -> str:
    name = user.split(":", 1)[0]
    return "root" if name in ("", "0") else name


@dataclass(frozen=True)
class Policy:
    """What the mutating tools may do. Read-only tools are not restricted."""

    allow_names: frozenset[str] = frozenset()
    allow_patterns: tuple[str, ...] = ()
    allow_labels: tuple[tuple[str, str | None], ...] = (("claudex.managed", "true"),)
    exec_enabled: bool = False
    exec_programs: tuple[str, ...] | None = None
    exec_shell: bool = False
    exec_users: tuple[str, ...] | None = None
    max_output: int = DEFAULT_MAX_OUTPUT
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Policy":
        env = os.environ if environ is None else environ
        labels = []
        for item in _split(env.get(ENV_LABELS, DEFAULT_LABELS)):
            key, sep, value = item.partition("=")
            if not key:
                raise DockerMgmtError("invalid_input", f"{ENV_LABELS}: {item!r} has no label key")
            labels.append((key, value if sep else None))
        raw_max = env.get(ENV_MAX_OUTPUT, "").strip()
        try:
            max_output = int(raw_max) if raw_max else DEFAULT_MAX_OUTPUT
        except ValueError:
            max_output = 0
        if max_output < 1024:
            raise DockerMgmtError("invalid_input", f"{ENV_MAX_OUTPUT}={raw_max!r}: give a number of bytes, at least 1024")
        programs = env.get(ENV_PROGRAMS)
        users = env.get(ENV_USERS)
        sources = {name: env[name] for name in (ENV_NAMES, ENV_PATTERNS, ENV_LABELS, ENV_EXEC, ENV_PROGRAMS,
                                                ENV_SHELL, ENV_USERS) if name in env}
        return cls(allow_names=frozenset(_split(env.get(ENV_NAMES))),
                   allow_patterns=_split(env.get(ENV_PATTERNS)),
                   allow_labels=tuple(labels),
                   exec_enabled=_flag(env, ENV_EXEC),
                   exec_programs=_split(programs) if programs is not None and programs.strip() else None,
                   exec_shell=_flag(env, ENV_SHELL),
                   exec_users=_split(users) if users is not None and users.strip() else None,
                   max_output=max_output, sources=sources)

    def describe(self) -> dict[str, Any]:
        """The policy as the agent sees it (docker_ps reports it)."""
        return {"allow_names": sorted(self.allow_names), "allow_patterns": list(self.allow_patterns),
                "allow_labels": [k if v is None else f"{k}={v}" for k, v in self.allow_labels],
                "exec_enabled": self.exec_enabled,
                "exec_programs": None if self.exec_programs is None else list(self.exec_programs),
                "exec_shell": self.exec_shell,
                "exec_users": None if self.exec_users is None else list(self.exec_users),
                "max_output_bytes": self.max_output}

    def allows(self, name: str, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        if name in self.allow_names:
            return True
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in self.allow_patterns):
            return True
        return any(key in labels and (value is None or labels[key] == value) for key, value in self.allow_labels)

    def check_container(self, tool: str, name: str, labels: Mapping[str, str] | None) -> None:
        if self.allows(name, labels):
            return
        shown = ", ".join(f"{k}={v!r}" for k, v in self._settings((ENV_NAMES, ENV_PATTERNS, ENV_LABELS)))
        raise DockerMgmtError(
            "refused",
            f"{tool} refused: container {name!r} is not allowed by the policy ({shown}). To allow it, add "
            f"{name!r} to {ENV_NAMES}, a matching glob to {ENV_PATTERNS}, or start the container with a "
            f"label listed in {ENV_LABELS} (e.g. --label {DEFAULT_LABELS}); set these in the server's env, "
            f"e.g. `claudex mcp config set docker-mgmt env.{ENV_NAMES} {name}`.")

    def _settings(self, names: Iterable[str]) -> list[tuple[str, str]]:
        defaults = {ENV_NAMES: "", ENV_PATTERNS: "", ENV_LABELS: DEFAULT_LABELS}
        return [(n, self.sources.get(n, defaults.get(n, ""))) for n in names]

    def check_exec(self, name: str, labels: Mapping[str, str] | None, command: list[str],
                   user: str | None, default_user: str) -> None:
        if not self.exec_enabled:
            raise DockerMgmtError("refused", f"docker_exec refused: exec is off. Set {ENV_EXEC}=on in the server's "
                                             f"env to enable it (`claudex mcp config set docker-mgmt env.{ENV_EXEC} on`).")
        self.check_container("docker_exec", name, labels)
        if not command or not command[0]:
            raise DockerMgmtError("invalid_input", "command must be a non-empty argv list, e.g. [\"ls\", \"-l\", \"/\"]")
        program = command[0]
        if self.exec_programs is not None and program not in self.exec_programs:
            raise DockerMgmtError(
                "refused", f"docker_exec refused: program {program!r} is not in {ENV_PROGRAMS}="
                           f"{','.join(self.exec_programs)!r}; add it there (exact argv[0]) to allow it.")
        shell = _shell_in(command)
        if shell and not self.exec_shell:
            raise DockerMgmtError(
                "refused", f"docker_exec refused: {shell!r} is a shell (or runs one, or switches user) and shells are "
                           f"off; pass the program and its arguments as an argv list, or set {ENV_SHELL}=on "
                           f"to allow shells.")
        if self.exec_users is None:
            if user is not None:
                raise DockerMgmtError(
                    "refused", f"docker_exec refused: running as user {user!r} needs {ENV_USERS} to list it; "
                               f"without {ENV_USERS} commands run as the container's own user.")
            return
        effective = user if user is not None else default_user
        allowed = {_user_part(u) for u in self.exec_users}
        if _user_part(effective) not in allowed:
            what = f"user {effective!r}" if user is not None else f"the container's default user {_user_part(effective)!r}"
            raise DockerMgmtError(
                "refused", f"docker_exec refused: {what} is not in {ENV_USERS}={','.join(self.exec_users)!r}; "
                           f"add it there or pass an allowed `user`.")


def _shell_in(command: list[str]) -> str | None:
    """The shell this argv would start. busybox/toybox run their first operand as the applet; for
    the other launchers (env, nice, timeout, ...) any later argument that names a shell counts, since
    their option syntax varies (a false alarm is cheaper than a missed shell)."""
    base = os.path.basename(command[0])
    if base in SHELLS or base in SWITCHERS:
        return command[0]
    if base in ("busybox", "toybox"):
        return _shell_in(command[1:]) if len(command) > 1 else None
    if base in LAUNCHERS:
        for arg in command[1:]:
            if os.path.basename(arg) in SHELLS | SWITCHERS | {"busybox", "toybox"}:
                return _shell_in([arg, *command[command.index(arg) + 1:]]) or None
    return None


class Capped:
    """Collects bytes up to `limit`, keeping the end ("tail") or the beginning and the end ("both"),
    and counts what it dropped."""

    def __init__(self, limit: int, keep: str = "tail"):
        self.limit, self.keep, self.total = limit, keep, 0
        self.head = bytearray()
        self.tail: deque[bytes] = deque()
        self.tail_size = 0

    def add(self, data: bytes) -> None:
        if not data:
            return
        self.total += len(data)
        if self.keep == "both" and len(self.head) < self.limit // 2:
            room = self.limit // 2 - len(self.head)
            self.head += data[:room]
            data = data[room:]
        if not data:
            return
        tail_limit = self.limit - (self.limit // 2 if self.keep == "both" else 0)
        self.tail.append(data)
        self.tail_size += len(data)
        while self.tail_size - len(self.tail[0]) >= tail_limit:
            self.tail_size -= len(self.tail.popleft())

    @property
    def truncated(self) -> bool:
        return self.total > self.limit

    def text(self, hint: str) -> str:
        tail = b"".join(self.tail)
        if not self.truncated:
            return (bytes(self.head) + tail).decode("utf-8", "replace")
        tail_limit = self.limit - (self.limit // 2 if self.keep == "both" else 0)
        tail = tail[-tail_limit:]
        newline = tail.find(b"\n", 0, 1024)  # start the kept part on a whole line when one is near
        if 0 <= newline < len(tail) - 1:
            tail = tail[newline + 1:]
        dropped = self.total - len(self.head) - len(tail)
        marker = f"[... truncated: {dropped} of {self.total} bytes omitted; {hint} ...]\n"
        head = bytes(self.head).decode("utf-8", "replace")
        if head and not head.endswith("\n"):
            head += "\n"
        return head + marker + tail.decode("utf-8", "replace")


_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(value: str | None, now: float | None = None) -> int | float | None:
    """A relative duration (`90s`, `10m`, `1h30m`, `2d`), unix seconds or an ISO 8601 time, as unix seconds."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    now = time.time() if now is None else now
    if re.fullmatch(r"(\d+(?:\.\d+)?[smhd])+", text):
        return now - sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DockerMgmtError("invalid_input", f"since={value!r}: give a duration (10m, 1h30m, 2d), unix seconds "
                                               f"or an ISO 8601 time (2025-01-31T12:00:00Z)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def _cpu_percent(stats: dict) -> float | None:
    cpu, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    try:
        cpu_delta = cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
        system_delta = cpu["system_cpu_usage"] - pre["system_cpu_usage"]
    except (KeyError, TypeError):
        return None
    cpus = cpu.get("online_cpus") or len(cpu["cpu_usage"].get("percpu_usage") or []) or 1
    if system_delta <= 0 or cpu_delta < 0:
        return 0.0
    return round(cpu_delta / system_delta * cpus * 100.0, 2)


def summarize_stats(stats: dict) -> dict[str, Any]:
    """The numbers `docker stats` shows, from one raw stats sample."""
    mem = stats.get("memory_stats") or {}
    detail = mem.get("stats") or {}
    usage = mem.get("usage")
    if usage is not None:
        # As the docker CLI does: page cache is not counted (cgroup v1 total_inactive_file, v2 inactive_file).
        cache = detail.get("total_inactive_file", detail.get("inactive_file", 0))
        usage = max(usage - cache, 0)
    limit = mem.get("limit")
    rx = tx = 0
    for net in (stats.get("networks") or {}).values():
        rx += net.get("rx_bytes", 0)
        tx += net.get("tx_bytes", 0)
    read = write = 0
    for entry in (stats.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = str(entry.get("op", "")).lower()
        if op == "read":
            read += entry.get("value", 0)
        elif op == "write":
            write += entry.get("value", 0)
    return {"cpu_percent": _cpu_percent(stats), "memory_bytes": usage, "memory_limit_bytes": limit,
            "memory_percent": round(usage / limit * 100.0, 2) if usage is not None and limit else None,
            "net_rx_bytes": rx, "net_tx_bytes": tx, "block_read_bytes": read, "block_write_bytes": write,
            "pids": (stats.get("pids_stats") or {}).get("current")}


def _host_description(environ: Mapping[str, str]) -> str:
    host = environ.get("DOCKER_HOST")
    return f"DOCKER_HOST={host}" if host else f"DOCKER_HOST (unset, so the default {DEFAULT_HOST})"


UNAVAILABLE_HINT = ("Start the daemon, or point DOCKER_HOST at it (unix:///path/docker.sock, "
                    "tcp://host:2376 with DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH, or ssh://user@host)")
CHECK_TIMEOUT = 5  # seconds the self-check waits for the daemon; status gives it healthCheck.timeout in all


def check(environ: Mapping[str, str] | None = None) -> dict:
    """The self-test behind `server.py --check` (status's healthCheck): the policy settings are
    valid and the daemon answers a ping. ok is False (the server is degraded) when it does not,
    with the daemon's address (DOCKER_HOST or the default socket) and what to do."""
    environ = dict(os.environ if environ is None else environ)
    report: dict = {"ok": False, "problems": [], "docker_host": environ.get("DOCKER_HOST") or DEFAULT_HOST}
    try:
        engine = Docker(environ=environ, timeout=CHECK_TIMEOUT)
        client = engine.client()
        engine._call(client.ping, what="the daemon")
        report["server_version"] = engine._call(client.version, what="the daemon").get("Version")
        report["policy"] = engine.policy.describe()
    except DockerMgmtError as exc:
        message = str(exc)
        if exc.code == "unavailable" and message.endswith(f"{UNAVAILABLE_HINT}."):
            message = message[: -len(UNAVAILABLE_HINT) - 1].rstrip()
            report["hint"] = UNAVAILABLE_HINT[0].lower() + UNAVAILABLE_HINT[1:]
        report["problems"].append(message)
    report["ok"] = not report["problems"]
    return report


class Docker:
    """The Docker operations behind the tools. The client is made on first use and remade after a
    failed connection, so the server starts (and answers) without a daemon."""

    def __init__(self, policy: Policy | None = None, environ: Mapping[str, str] | None = None, timeout: int = 60):
        self.environ = dict(os.environ if environ is None else environ)
        self.timeout = timeout
        self.policy = policy or Policy.from_env(self.environ)
        self._client = None
        self._lock = threading.Lock()

    # -- connection ---------------------------------------------------------------------------
    def client(self):
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self):
        import docker

        host = self.environ.get("DOCKER_HOST", "")
        kwargs: dict[str, Any] = {"environment": self.environ, "version": "auto", "timeout": self.timeout}
        if host.startswith("ssh://"):
            try:
                import paramiko  # noqa: F401
            except ImportError:
                kwargs["use_ssh_client"] = True  # the ssh binary instead of the optional paramiko
        try:
            return docker.DockerClient.from_env(**kwargs)
        except docker.errors.TLSParameterError as exc:
            raise DockerMgmtError("invalid_input", f"TLS settings for {_host_description(self.environ)}: {exc} "
                                                   f"(check DOCKER_TLS_VERIFY and DOCKER_CERT_PATH)") from None
        except Exception as exc:
            raise self._unavailable(exc) from None

    def _unavailable(self, exc: BaseException) -> DockerMgmtError:
        reason = str(exc).strip() or type(exc).__name__
        return DockerMgmtError(
            "unavailable", f"cannot reach the Docker daemon at {_host_description(self.environ)}: {reason}. "
                           f"{UNAVAILABLE_HINT}.")

    def _call(self, fn, *args, what: str = "", **kwargs):
        """Run one SDK call, turning its exceptions into DockerMgmtError."""
        try:
            return fn(*args, **kwargs)
        except DockerMgmtError:
            raise
        except Exception as exc:
            raise self._translate(exc, what) from None

    def _translate(self, exc: Exception, what: str) -> Exception:
        import docker
        import requests

        if isinstance(exc, docker.errors.NotFound):
            hint = "; docker_ps lists the containers" if "container" in what else ""
            return DockerMgmtError("not_found", f"{what or 'object'} not found: {_explain(exc)}{hint}")
        if isinstance(exc, docker.errors.APIError):
            code = {400: "invalid_input", 409: "conflict"}.get(exc.status_code or 0, "failed")
            return DockerMgmtError(code, f"the Docker daemon refused ({exc.status_code}): {_explain(exc)}")
        if isinstance(exc, requests.exceptions.Timeout):
            return DockerMgmtError("timeout", f"the Docker daemon did not answer in time: {exc}")
        if isinstance(exc, (requests.exceptions.ConnectionError, docker.errors.DockerException, ConnectionError)):
            with self._lock:
                self._client = None
            return self._unavailable(exc)
        return exc

    def _container(self, ref: str):
        if not ref or not ref.strip():
            raise DockerMgmtError("invalid_input", "container must be a name or an id")
        client = self.client()
        return self._call(client.containers.get, ref.strip(), what=f"container {ref!r}")

    # -- tools --------------------------------------------------------------------------------
    def ps(self, all: bool = False, filters: Mapping[str, Any] | None = None, limit: int = 100) -> dict[str, Any]:
        client = self.client()
        clean = {k: v for k, v in (filters or {}).items() if v not in (None, "", [])}
        rows = self._call(client.api.containers, all=all, filters=clean or None, what="containers")
        containers = []
        for row in rows[:limit]:
            name = (row.get("Names") or ["/" + row["Id"][:12]])[0].lstrip("/")
            labels = row.get("Labels") or {}
            containers.append({
                "id": row["Id"][:12], "name": name, "image": row.get("Image"), "command": row.get("Command"),
                "state": row.get("State"), "status": row.get("Status"),
                "created": dt.datetime.fromtimestamp(row.get("Created", 0), dt.timezone.utc).isoformat(),
                "ports": [_port(p) for p in row.get("Ports") or []], "labels": labels,
                "managed": self.policy.allows(name, labels)})
        return {"containers": containers, "count": len(containers), "total": len(rows),
                "truncated": len(rows) > limit, "policy": self.policy.describe()}

    def start(self, ref: str) -> dict[str, Any]:
        c = self._container(ref)
        self.policy.check_container("docker_start", c.name, c.labels)
        was_running = c.status == "running"
        if not was_running:
            self._call(c.start, what=f"container {c.name!r}")
        self._call(c.reload, what=f"container {c.name!r}")
        return {"id": c.short_id, "name": c.name, "state": c.status, "started": not was_running}

    def stop(self, ref: str, timeout: int = 10) -> dict[str, Any]:
        c = self._container(ref)
        self.policy.check_container("docker_stop", c.name, c.labels)
        was_running = c.status in ("running", "restarting", "paused")
        if was_running:
            self._call(c.stop, timeout=timeout, what=f"container {c.name!r}")
        self._call(c.reload, what=f"container {c.name!r}")
        return {"id": c.short_id, "name": c.name, "state": c.status, "stopped": was_running,
                "exit_code": c.attrs.get("State", {}).get("ExitCode")}

    def logs(self, ref: str, tail: int | None = 200, since: str | None = None,
             timestamps: bool = False) -> dict[str, Any]:
        since_ts = parse_since(since)
        c = self._container(ref)
        kwargs: dict[str, Any] = {"stdout": True, "stderr": True, "timestamps": timestamps, "stream": True,
                                  "follow": False, "tail": "all" if tail is None else tail}
        if since_ts is not None:
            kwargs["since"] = since_ts
        buf = Capped(self.policy.max_output, keep="tail")

        def read():
            for chunk in c.logs(**kwargs):
                buf.add(chunk)

        self._call(read, what=f"container {c.name!r}")
        text = buf.text("showing the end; narrow with tail or since")
        return {"id": c.short_id, "name": c.name, "logs": text, "bytes": buf.total, "truncated": buf.truncated}

    def exec(self, ref: str, command: list[str], workdir: str | None = None, env: Mapping[str, str] | None = None,
             user: str | None = None, timeout: float = 30) -> dict[str, Any]:
        c = self._container(ref)
        config = c.attrs.get("Config") or {}
        self.policy.check_exec(c.name, c.labels, list(command), user, config.get("User") or "root")
        for key in env or {}:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise DockerMgmtError("invalid_input", f"env: {key!r} is not a variable name")
        if c.status != "running":
            raise DockerMgmtError("conflict", f"container {c.name!r} is {c.status}, not running; "
                                              f"start it with docker_start first")
        api = self.client().api
        created = self._call(api.exec_create, c.id, list(command), stdout=True, stderr=True, stdin=False, tty=False,
                             privileged=False, user=user or "", workdir=workdir or None,
                             environment=[f"{k}={v}" for k, v in (env or {}).items()] or None,
                             what=f"container {c.name!r}")
        exec_id = created["Id"]
        out, err = Capped(self.policy.max_output, "both"), Capped(self.policy.max_output, "both")
        failure: list[BaseException] = []

        def pump():
            try:
                for stdout, stderr in api.exec_start(exec_id, stream=True, demux=True):
                    out.add(stdout or b"")
                    err.add(stderr or b"")
            except BaseException as exc:  # reported by the caller; a killed exec may end the stream abruptly
                failure.append(exc)

        started = time.monotonic()
        reader = threading.Thread(target=pump, name=f"exec-{exec_id[:12]}", daemon=True)
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            killed = self._kill_exec(exec_id, c.id)
            reader.join(5 if killed else 0.5)
            tail = out.text("partial output").strip()[-2000:]
            raise DockerMgmtError(
                "timeout", f"docker_exec: {command!r} in {c.name!r} did not finish within {timeout:g} s; "
                           + ("it was killed." if killed else "it could not be killed from here (remote daemon) "
                              "and may still be running; docker_stop ends it.")
                           + (f" Output so far:\n{tail}" if tail else ""))
        if failure:
            if not isinstance(failure[0], Exception):
                raise failure[0]
            raise self._translate(failure[0], f"container {c.name!r}")
        info = self._call(api.exec_inspect, exec_id, what="exec")
        hint = "output too long; narrow the command"
        return {"id": c.short_id, "name": c.name, "command": list(command), "exit_code": info.get("ExitCode"),
                "stdout": out.text(hint), "stderr": err.text(hint),
                "truncated": out.truncated or err.truncated,
                "duration_ms": int((time.monotonic() - started) * 1000)}

    def _kill_exec(self, exec_id: str, container_id: str) -> bool:
        """Docker has no API to stop an exec: kill its process from here when the daemon is local,
        after checking (via its cgroup) that the pid really is in that container."""
        try:
            pid = int(self.client().api.exec_inspect(exec_id).get("Pid") or 0)
        except Exception:
            return False
        if pid <= 0 or not _in_container(pid, container_id):
            return False
        victims = [pid] + _descendants(pid)
        for victim in victims:
            if _in_container(victim, container_id):
                try:
                    os.kill(victim, signal.SIGKILL)
                except OSError:
                    pass
        return True

    def stats(self, ref: str | None = None) -> dict[str, Any]:
        client = self.client()
        if ref is not None and ref.strip():
            c = self._container(ref)
            targets = [(c.id, c.name, c.status)]
            total = 1
        else:
            rows = self._call(client.api.containers, what="containers")
            total = len(rows)
            targets = [(r["Id"], (r.get("Names") or ["/" + r["Id"][:12]])[0].lstrip("/"), r.get("State"))
                       for r in rows[:MAX_STATS_CONTAINERS]]

        def one(target):
            cid, name, state = target
            row: dict[str, Any] = {"id": cid[:12], "name": name, "state": state}
            if state != "running":
                return row | summarize_stats({})
            try:
                raw = self._call(client.api.stats, cid, stream=False, what=f"container {name!r}")
            except DockerMgmtError as exc:
                if exc.code == "not_found":  # gone between the listing and the sample
                    return row | {"state": "removed"} | summarize_stats({})
                raise
            return row | summarize_stats(raw)

        with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, max(1, len(targets)))) as pool:
            results = list(pool.map(one, targets))
        return {"containers": results, "count": len(results), "total": total,
                "truncated": total > len(results)}


def _explain(exc) -> str:
    explanation = getattr(exc, "explanation", None)
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    return str(explanation or exc).strip()


def _port(p: Mapping[str, Any]) -> str:
    inner = f"{p.get('PrivatePort')}/{p.get('Type', 'tcp')}"
    if p.get("PublicPort"):
        return f"{p.get('IP', '0.0.0.0')}:{p['PublicPort']}->{inner}"
    return inner


def _in_container(pid: int, container_id: str) -> bool:
    try:
        with open(f"/proc/{pid}/cgroup") as fh:
            return container_id in fh.read()
    except OSError:
        return False


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found

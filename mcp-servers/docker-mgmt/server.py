"""The docker-mgmt MCP server: list, start, stop, inspect logs and stats of Docker containers, and run
commands in them under a safety policy. Thin tools over docker_ops; run with `python server.py` (stdio),
`python server.py --check` for a self-test (JSON on stdout, exit 0 when the Docker daemon answers, 1 when not)."""

from __future__ import annotations

import functools
import sys
from typing import Annotated, Any

import claudex_server
import docker_ops
from claudex_server import ServerError

claudex_server.check_first(__name__, docker_ops.check)   # `server.py --check`, before the SDK's import

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

VERSION = "0.1.0"
server = MCPServer(
    "docker-mgmt", version=VERSION,
    instructions="Docker containers: docker_ps lists them (with `managed`: whether the policy lets you start, "
                 "stop or exec in it), docker_logs and docker_stats inspect any container; docker_start, "
                 "docker_stop and docker_exec act only on containers the policy allows, and docker_exec only "
                 "when enabled. A refusal names the setting that would allow it.")

tool = claudex_server.tools(server, ServerError)

READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
START = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
STOP = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False)
EXEC = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True)

Container = Annotated[str, Field(min_length=1, description="Container name or id (a unique id prefix works).")]


@functools.cache
def engine() -> docker_ops.Docker:
    """The Docker operations under the policy of the environment, made at start (see _start)."""
    return docker_ops.Docker()


@tool(annotations=READ)
def docker_ps(
    all: Annotated[bool, Field(description="Include stopped containers (default: running only).")] = False,
    filters: Annotated[dict[str, str | list[str]] | None, Field(description=(
        'Docker filters, e.g. {"name": "web"}, {"label": "claudex.managed=true"}, {"status": "exited"}, '
        '{"ancestor": "nginx"}; a list value matches any of its items.'))] = None,
    limit: Annotated[int, Field(ge=1, le=1000, description="Most containers to return.")] = 100,
) -> dict[str, Any]:
    """List containers: id, name, image, state, status, ports, labels, and `managed` (true when the
    policy lets docker_start/docker_stop/docker_exec act on it). Also returns the active policy."""
    return engine().ps(all=all, filters=filters, limit=limit)


@tool(annotations=START)
def docker_start(container: Container) -> dict[str, Any]:
    """Start a stopped container the policy allows; starting a running one changes nothing
    (started: false)."""
    return engine().start(container)


@tool(annotations=STOP)
def docker_stop(
    container: Container,
    timeout: Annotated[int, Field(ge=0, le=300, description=(
        "Seconds to wait after SIGTERM before the container is killed."))] = 10,
) -> dict[str, Any]:
    """Stop a running container the policy allows (SIGTERM, then SIGKILL after `timeout`); stopping a
    stopped one changes nothing (stopped: false)."""
    return engine().stop(container, timeout)


@tool(annotations=READ)
def docker_logs(
    container: Container,
    tail: Annotated[int | None, Field(ge=1, le=100000, description=(
        "Only the last N lines; null for all."))] = 200,
    since: Annotated[str | None, Field(description=(
        "Only lines after this: a duration ago (30s, 10m, 1h30m, 2d), unix seconds, or an ISO 8601 time."))] = None,
    timestamps: Annotated[bool, Field(description="Prefix each line with its RFC 3339 timestamp.")] = False,
) -> dict[str, Any]:
    """Read a container's logs (stdout and stderr interleaved). Output over the size cap keeps the end
    and starts with a "[... truncated: ...]" line; `truncated` says so too."""
    return engine().logs(container, tail=tail, since=since, timestamps=timestamps)


@tool(annotations=EXEC)
def docker_exec(
    container: Container,
    command: Annotated[list[str], Field(min_length=1, description=(
        'The program and its arguments as an argv list, e.g. ["ls", "-la", "/app"]; no shell is involved, '
        'so pipes and globs are not expanded.'))],
    workdir: Annotated[str | None, Field(description="Working directory inside the container.")] = None,
    env: Annotated[dict[str, str] | None, Field(description='Extra environment variables, e.g. {"DEBUG": "1"}.')] = None,
    user: Annotated[str | None, Field(description=(
        "User (name or uid[:gid]) to run as; default the container's own user. Must be allowed by the policy."))] = None,
    timeout: Annotated[float, Field(gt=0, le=600, description=(
        "Seconds before the command is killed and the call fails."))] = 30,
) -> dict[str, Any]:
    """Run a command in a running container the policy allows (exec must be enabled; never privileged).
    Returns exit_code, stdout and stderr (each capped, keeping the start and the end); a non-zero
    exit code is a result, not an error."""
    return engine().exec(container, command, workdir=workdir, env=env, user=user, timeout=timeout)


@tool(annotations=READ)
def docker_stats(
    container: Annotated[str | None, Field(description=(
        "Container name or id; omit for every running container."))] = None,
) -> dict[str, Any]:
    """CPU %, memory use and limit, network and block I/O bytes and process count, sampled over about
    a second, for one container or all running ones."""
    return engine().stats(container)


def _start() -> None:
    engine()   # a malformed policy setting stops the start, in one line saying which (serve)


def main(argv: list[str] | None = None) -> int:
    return claudex_server.serve(server, argv, docker_ops.check, start=_start)


if __name__ == "__main__":
    sys.exit(main())

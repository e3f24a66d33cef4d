"""`generate --via-gateway`: the effective config turned into one client entry, ``claudex``, at the
gateway's aggregate endpoint (its bearer token from a headers helper, never written into the
file), in place of an entry per local server. Remote servers keep their own entries."""

from __future__ import annotations

import os
from urllib.parse import quote, urlsplit

from claudex_mcp import __version__, paths
from claudex_mcp.errors import Conflict, InvalidInput, UsageError

ENTRY = "claudex"


def gateway_url(given: str | None) -> str:
    """The aggregate endpoint's URL: ``given`` (the gateway's base or its /mcp), else that of the
    running gateway of this registry (`gateway serve --http`)."""
    if not given:
        from claudex_mcp.gateway import daemon

        found = daemon.read_state().get("http") if _running() else None
        if not isinstance(found, str):
            raise InvalidInput("no gateway serves HTTP for this registry, so there is no URL to write",
                               code="no_gateway_http",
                               hint="start one ('claudex mcp gateway serve --http 127.0.0.1:8765'), or give its URL: "
                                    "--via-gateway http://127.0.0.1:8765/mcp")
        return found
    parts = urlsplit(given)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--via-gateway {given!r} is not an http(s) URL", hint="e.g. --via-gateway http://127.0.0.1:8765")
    path = parts.path.rstrip("/")
    return given.rstrip("/") if path.endswith("/mcp") else f"{given.rstrip('/')}/mcp"


def _running() -> bool:
    from claudex_mcp.gateway import client

    return client.running_pid() is not None


def via_gateway(doc: dict, url: str) -> dict:
    """``doc`` (an effective config) with its stdio servers off and one remote entry, ENTRY, at
    ``url`` (with ``?project=DIR`` for a project's document: the gateway then serves that project's
    enabled set)."""
    from claudex_mcp.settings import effective

    if ENTRY in doc["servers"]:
        raise Conflict(f"a server of the registry is named {ENTRY!r}, the name of the gateway's entry",
                       code="entry_taken", hint=f"rename that server, or generate without --via-gateway")
    servers = {}
    local = False
    for name, server in doc["servers"].items():
        if server["transport"] == "stdio":
            local = local or bool(server["enabled"])
            servers[name] = dict(server, enabled=False)
        else:
            servers[name] = server
    project = doc.get("project") or None
    if project and project.get("dir"):
        url += ("&" if "?" in url else "?") + "project=" + quote(project["dir"], safe="/")
    argv = effective.launcher_argv() + ["mcp", "gateway", "token", "--header"]
    env = {"CLAUDEX_MCP_REGISTRY": str(paths.registry_dir()),
           **{var: os.environ[var] for var in ("XDG_CONFIG_HOME", "XDG_RUNTIME_DIR") if os.environ.get(var)}}
    servers[ENTRY] = {"enabled": local, "transport": "http", "location": "installed", "folder": "",
                      "version": __version__, "settings": {}, "url": url, "headers": {}, "passEnv": [],
                      "headersHelper": {"command": argv[0], "args": argv[1:], "env": dict(sorted(env.items())),
                                        "headers": ["Authorization"]}}
    return dict(doc, servers=dict(sorted(servers.items())))

"""The effective configuration of every server for one project: the merged layers plus what a
client needs to start each server (through the launcher) or reach it (remote)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from claudex_mcp import expand, paths
from claudex_mcp.settings import config
from claudex_mcp.errors import InvalidInput
from claudex_mcp.settings.project import Project
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from typing import Any

# Passed on to the launcher when set, so it finds the same registry, config and state.
LOCATION_VARS = ("CLAUDEX_MCP_REGISTRY", "CLAUDEX_PROJECTS_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME",
                 "XDG_STATE_HOME", "XDG_DATA_HOME")


def launcher_argv() -> list[str]:
    """How a client runs `claudex`: claudex's own uv tool install (a stable path, which `make
    clean` does not remove; `make run` installs it), else the executable beside this
    interpreter (the venv's), else the one on PATH, else this interpreter with the module."""
    installed = paths.installed_claudex()
    if installed is not None:
        return [str(installed)]
    beside = Path(sys.executable).parent / "claudex"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("claudex")
    return [found] if found else [sys.executable, "-m", "claudex_mcp.cli.dispatch"]


def run_argv(name: str, project: Project | None) -> list[str]:
    """How a client starts a registry server: `claudex mcp run NAME [--project-dir DIR]`."""
    argv = launcher_argv() + ["mcp", "run", name]
    return argv + ["--project-dir", str(project.dir)] if project is not None else argv


def headers_helper(name: str, project: Project | None, registry: Path, headers: list[str]) -> dict:
    """How a client gets ``headers`` of a remote server, whose values the layers keep: `claudex
    mcp headers NAME [--project-dir DIR]` {command, args, env}, and the headers it prints. The
    env names the registry and the folders claudex found its layers in: a client may run the
    helper with a bare environment (Codex passes only HOME and PATH)."""
    argv = launcher_argv() + ["mcp", "headers", name]
    if project is not None:
        argv += ["--project-dir", str(project.dir)]
    env = {"CLAUDEX_MCP_REGISTRY": str(registry),
           **{var: os.environ[var] for var in LOCATION_VARS if os.environ.get(var) and var != "CLAUDEX_MCP_REGISTRY"}}
    return {"command": argv[0], "args": argv[1:], "env": dict(sorted(env.items())), "headers": list(headers)}


def _withhold(result: dict, secret_names: set[str], history: dict) -> None:
    """Mask every literal secret in the document (it is printed by merge-config and read by other
    tools) and list where in ``withheld``. For a remote server, a header whose literal text comes
    from the user layer (the place for secrets) is withheld too, whatever it looks like: the
    client would have to be given the value itself, and generated files are shared."""
    from claudex_mcp import secrets

    found = set()
    for key in ("env", "args", "headers", "settings"):
        if key in result:
            found |= set(secrets.secret_pointers(result[key], (key,), secret_names))
            result[key] = secrets.mask((key,), result[key], secret_names)
    for header, value in list((result.get("headers") or {}).items()):
        origin = (history.get(("headers", header)) or [{}])[-1].get("layer")
        literal = secrets.literal_text(value) if isinstance(value, str) else ""
        if origin == "user" and literal.strip() and literal.strip().lower() not in ("bearer", "basic", "token"):
            found.add(("headers", header))
            scheme = literal.split(" ", 1)[0] if " " in literal.strip() else ""
            keep = scheme if scheme.lower() in ("bearer", "basic", "token") else ""
            result["headers"][header] = (keep + " " if keep else "") + secrets.MASK
    if found:
        result["withheld"] = sorted("".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in p)
                                    for p in found)


def server_entry(entry: dict, merged: dict, project: Project | None, registry: Path,
                 history: dict | None = None) -> dict:
    server = entry["manifest"]["server"]
    transport = server.get("transport", "stdio")
    result = {
        "enabled": bool(merged.get("enabled")),
        "transport": transport,
        "location": entry["location"],
        "folder": entry["folder"],
        "version": entry["version"],
        "settings": merged.get("settings", {}),
    }
    declared = {item if isinstance(item, str) else item["name"]
                for item in server.get("requiredEnv", []) + server.get("optionalEnv", [])}
    if transport == "stdio":
        result.update(command=server["command"], args=merged.get("args", []), env=merged.get("env", {}))
        argv = run_argv(entry["name"], project)
        result["launch"] = {"command": argv[0], "args": argv[1:], "env": {"CLAUDEX_MCP_REGISTRY": str(registry)}}
        referenced = expand.references([server["command"], result["args"], result["env"]])
    else:
        result.update(url=server["url"], headers=merged.get("headers", {}))
        referenced = expand.references([result["url"], result["headers"]])
        helped = layer_headers(merged, history or {})
        if helped:
            result["headersHelper"] = headers_helper(entry["name"], project, registry, helped)
    located = {name for name in LOCATION_VARS if name in os.environ and name != "CLAUDEX_MCP_REGISTRY"}
    result["passEnv"] = sorted((declared | referenced | located) - {"SERVER_DIR"})
    _withhold(result, config.secret_names(entry), history or {})
    return result


def build(index: dict, project: Project | None, registry: Path) -> dict:
    """The effective config document (the input of generate-mcp-json)."""
    layers = config.Layers(registry, project)
    servers = {}
    warnings = list(index.get("warnings", []))
    for name, entry in sorted(index["servers"].items()):
        if not entry.get("valid"):
            if "/" not in name:
                warnings.append(f"{name} is invalid and left out: {entry['problems'][0]['message']}"
                                if entry["problems"] else f"{name} is invalid and left out")
            continue
        merged, history = config.merge(layers.sources(entry))
        servers[name] = server_entry(entry, merged, project, registry, history)
    if layers.notice():
        warnings.append(layers.notice())
    for name in sorted(layers.configured_servers() - set(servers)):
        if name not in index["servers"]:
            warnings.append(f"the config names {name!r}, which is not in the registry")
    return {"apiVersion": "v1", "project": project.to_dict() if project else None, "registry": str(registry),
            "servers": servers, "warnings": warnings}


def check(doc: Any, name: str = "<input>") -> None:
    """Raise InvalidInput, naming the JSON pointer, when ``doc`` is not an effective config that
    can be rendered (schemas/effective-v1.schema.json; disabled servers are only checked for
    ``enabled``)."""
    from claudex_mcp.schemas import engine

    problems = engine.validate(doc, "effective")
    if problems:
        # A bad name first, then the deepest problem: a bad transport explains the missing url.
        first = max(problems, key=lambda p: (p["rule"] == "propertyNames", p["pointer"].count("/")))
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InvalidInput(f"{name} {first['pointer'] or '/'}: {first['message']}{more}", path=name,
                           code="invalid_effective_config",
                           hint=(first.get("hint") or "") + (" - " if first.get("hint") else "") +
                                "pipe in the effective config that merge-config produces")


def layer_headers(merged: dict, history: dict) -> list[str]:
    """The headers of a remote server that take their value from the config layers rather than
    from the client's environment: a literal set in the user layer, or a ${VAR} that a layer's
    env sets (where `add` keeps a header's secret). A generated client file cannot hold them;
    the clients that run a headers helper get them from `claudex mcp headers NAME`."""
    from claudex_mcp import secrets

    env = merged.get("env") or {}
    found = []
    for header, value in (merged.get("headers") or {}).items():
        if not isinstance(value, str):
            continue
        origin = (history.get(("headers", header)) or [{}])[-1].get("layer")
        literal = secrets.literal_text(value).strip().lower()
        if (origin == "user" and literal not in ("", "bearer", "basic", "token")) or expand.references(value) & set(env):
            found.append(header)
    return sorted(found)

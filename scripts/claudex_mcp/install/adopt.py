"""Adopting a server that a client defines (``claude mcp add`` style, or an entry of a client's
config file) as a registry server: a generated manifest in its own folder, committed through the
one mutation path, with every literal secret moved out of it. Used by `add` and `migrate`.

A secret (the one detector, ``claudex_mcp.secrets``) never reaches the manifest, registry.json or
a shared layer: an env value, an argument, a header, a URL password or token becomes a ``${VAR}``
reference (declared in requiredEnv) with the value in the user layer's ``servers.<name>.env``
(mode 600), where the launcher reads it when the server starts (a command's env and arguments)
and ``claudex mcp headers`` gives it to the clients of a remote server. A URL's variable is also
one for the user to export: a client that connects to the URL expands it from its own
environment. Results name secrets by variable, never by value. ``to_manifest`` then ``add`` is
the one way a literal secret is moved into the user layer behind ``${VAR}``. Nothing here prints.
"""

from __future__ import annotations

import copy
import os
import re
import time
from pathlib import Path

from claudex_mcp import atomic, paths
from claudex_mcp.clients import regeneration
from claudex_mcp.store import mutation, registry as registry_mod, staging
from claudex_mcp.errors import Conflict, InvalidInput, UsageError
from claudex_mcp.store.mutation import Report, quiet
from claudex_mcp.store.staging import fault

VERSION = "0.0.0"
TRANSPORTS = ("stdio", "http", "sse")
_NAME = re.compile(paths.NAME_PATTERN)
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_SCHEME = re.compile(r"^\s*(Bearer|Basic|Token|Digest)\s+", re.I)
_URL_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*:)(?P<password>[^@/\s]+)(?=@)")
_FLAG = re.compile(r"^(?P<flag>--?(?P<name>[A-Za-z0-9_.-]+)=)(?P<value>.+)$", re.S)


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UsageError(f"invalid server name {name!r}", code="invalid_name",
                         hint="names are lowercase letters, digits and dashes, 1-63 characters")
    return name


def suggest_name(raw: str) -> str | None:
    """A registry name for a client's entry name ("GitHub Tools" -> "github-tools"), or None."""
    name = re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-")[:63].strip("-")
    return name if name and _NAME.fullmatch(name) else None


def variable(*parts: str) -> str:
    """An environment variable name made of ``parts`` ("my-api", "x-key" -> "MY_API_X_KEY")."""
    name = re.sub(r"[^A-Z0-9]+", "_", "_".join(parts).upper()).strip("_")
    return ("_" + name if name[:1].isdigit() else name) or "SECRET"


def definition(*, command: str | None = None, args=None, env=None, cwd: str | None = None,
               url: str | None = None, transport: str | None = None, headers=None) -> dict:
    """A client-style definition, checked: stdio (command, args, env, cwd) or remote (url,
    transport http|sse, headers). Raises InvalidInput naming what is wrong."""
    if (command is None) == (url is None):
        raise InvalidInput("a server is either a command (stdio) or a url (http/sse), and this one is "
                           + ("both" if command is not None else "neither"), code="invalid_definition",
                           hint="give a command with its arguments, or --url")
    if url is not None:
        transport = transport or "http"
        if transport not in ("http", "sse"):
            raise InvalidInput(f"unknown transport {transport!r} for a url", code="invalid_transport",
                               hint="the transports of a remote server are http (streamable HTTP) and sse")
        if not isinstance(url, str) or not re.match(r"^https?://\S+$", url):
            # Not echoed: a mistyped URL may still hold a token.
            raise InvalidInput("the url is not an http(s) URL without spaces", code="invalid_url",
                               hint="give a URL such as https://mcp.example.com/mcp")
        if args or env or cwd:
            raise InvalidInput("a remote server takes no arguments, env or cwd", code="invalid_definition",
                               hint="pass secrets to a remote server through --header")
        return {"transport": transport, "url": url, "headers": _strings(headers, "headers", _HEADER_NAME)}
    if transport not in (None, "stdio"):
        raise InvalidInput(f"a command runs over stdio, not {transport!r}", code="invalid_transport",
                           hint="leave out the transport, or give --url for a remote server")
    if not isinstance(command, str) or not command.strip():
        raise InvalidInput("the command is empty", code="invalid_definition", hint="give the program to start")
    if headers:
        raise InvalidInput("a command (stdio) server takes no headers", code="invalid_definition",
                           hint="headers are for --url servers; pass values to a command through --env")
    if args is not None and (not isinstance(args, list) or not all(isinstance(a, str) for a in args)):
        raise InvalidInput("args must be a list of strings", code="invalid_definition", hint="fix the entry's args")
    if cwd is not None and not isinstance(cwd, str):
        raise InvalidInput("cwd must be a string", code="invalid_definition", hint="fix the entry's cwd")
    return {"transport": "stdio", "command": command, "args": list(args or []),
            "env": _strings(env, "env", _ENV_NAME), **({"cwd": cwd} if cwd else {})}


def _strings(value, what: str, pattern: re.Pattern) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be an object of strings", code="invalid_definition", hint=f"fix the {what}")
    for key, item in value.items():
        if not isinstance(key, str) or not pattern.fullmatch(key):
            hint = ("variable names are uppercase letters, digits and _, not starting with a digit"
                    if what == "env" else "header names are letters, digits and !#$%&'*+.^_`|~-")
            raise InvalidInput(f"invalid {what} name {key!r}", code="invalid_definition", hint=hint)
        if not isinstance(item, str):
            raise InvalidInput(f"{what}.{key} must be a string", code="invalid_definition",
                               hint=f"quote the value of {key}")
    return dict(value)


def parse_pairs(pairs: list[str] | None, what: str) -> dict[str, str]:
    """``KEY=VALUE`` (``--env``) or ``Name: value`` / ``Name=value`` (``--header``) pairs."""
    found: dict[str, str] = {}
    for pair in pairs or []:
        sep = ":" if what == "header" and ":" in pair.split("=", 1)[0] else "="
        key, eq, value = pair.partition(sep)
        key, value = key.strip(), value.strip() if what == "header" else value
        if not eq or not key:  # the text itself is not shown: it may be a secret given without its name
            raise UsageError(f"an --{what} value is not {'KEY=VALUE' if what == 'env' else 'NAME=VALUE'}",
                             code="invalid_pair", hint=f"write --{what} " + ("API_KEY=value" if what == "env"
                                                                            else "'Authorization=Bearer ${TOKEN}'"))
        if key in found:
            raise UsageError(f"--{what} {key} is given twice", code="invalid_pair", hint="give each once")
        found[key] = value
    return found


class Adopted:
    """A definition turned into a manifest: the manifest, the secrets it no longer holds (variable
    -> value, for the user layer), the variables the user must export (a URL's, which clients
    expand themselves; migrate: a VS Code ``${input:...}`` prompt, whose value is in VS Code's
    secret storage), and warnings."""

    __slots__ = ("name", "manifest", "user_env", "export", "warnings")

    def __init__(self, name: str, manifest: dict, user_env: dict[str, str], export: dict[str, str],
                 warnings: list[str]) -> None:
        self.name, self.manifest, self.user_env, self.export, self.warnings = name, manifest, user_env, export, warnings

    def secrets(self) -> dict:
        """What the results say of the secrets: names only."""
        return {"userLayer": sorted(self.user_env), "export": sorted(self.export)}


def to_manifest(name: str, spec: dict, description: str) -> Adopted:
    """The manifest of ``spec`` (from ``definition``), with each literal secret replaced by a
    ``${VAR}`` reference declared in requiredEnv."""
    from claudex_mcp import secrets
    from claudex_mcp.schemas import validation

    check_name(name)
    server: dict = {}
    user_env: dict[str, str] = {}
    export: dict[str, str] = {}  # kept too, but a client expands a URL's variables from its own environment
    required: list[str] = []
    warnings: list[str] = []
    taken: set[str] = set(spec.get("env") or {})

    def fresh(wanted: str) -> str:
        candidate, n = wanted, 2
        while candidate in taken:
            candidate, n = f"{wanted}_{n}", n + 1
        taken.add(candidate)
        return candidate

    if spec["transport"] == "stdio":
        server["command"] = spec["command"]
        if secrets.is_secret(("args", 0), spec["command"]):
            raise InvalidInput(f"the command of {name} holds a secret", code="secret_in_command",
                               hint="move the secret into an environment variable")
        args = []
        for index, arg in enumerate(spec["args"]):
            if secrets.is_secret(("args", index), arg):  # kept in the user layer: the launcher expands it
                flag = _FLAG.match(arg)
                var = fresh(variable(flag.group("name")) if flag else variable(name, "arg", str(index)))
                user_env[var] = flag.group("value") if flag else arg
                arg = (flag.group("flag") if flag else "") + "${" + var + "}"
                required.append(var)
            args.append(arg)
        if args:
            server["args"] = args
        env = {}
        for key, value in spec["env"].items():
            if secrets.is_secret(("env", key), value):
                user_env[key] = value
                value = "${" + key + "}"
                required.append(key)
            env[key] = value
        if env:
            server["env"] = env
        import shutil

        command = spec["command"]
        if "/" not in command and "${" not in command and shutil.which(command) is None:
            warnings.append(f"{name}: its command {command!r} is not on PATH here; install it before a client starts it")
        cwd = spec.get("cwd")
        if cwd and (os.path.isabs(cwd) or cwd.startswith("${")):
            server["cwd"] = cwd
        elif cwd:  # relative to wherever the client happened to start: nothing to keep it relative to
            warnings.append(f"{name}: its relative cwd {cwd} is not kept (a registry server starts in its own "
                            f"folder, or in an absolute server.cwd); give it as an absolute path")
    else:
        server["transport"] = spec["transport"]
        url = spec["url"]
        found = _URL_PASSWORD.match(url)
        if found:
            var = fresh(variable(name, "url", "password"))
            user_env[var] = export[var] = found.group("password")
            url = found.group("head") + "${" + var + "}" + url[found.end():]
            required.append(var)
        def query(match: re.Match) -> str:  # ?api_key=sk-... -> ?api_key=${NAME_API_KEY}
            key, value = match.group(2), match.group(3)
            if not secrets.is_secret(("url", key), value) and not secrets.secret_shape(value):
                return match.group(0)
            var = fresh(variable(name, key))
            user_env[var] = export[var] = value
            required.append(var)
            return f"{match.group(1)}{key}=${{{var}}}"
        url = re.sub(r"([?&])([^=&#]+)=([^&#]*)", query, url)
        if secrets.secret_shape(url):
            raise InvalidInput(f"the url of {name} holds a token that cannot be told apart", code="secret_in_url",
                               hint="put the token in a header (--header 'Authorization=Bearer ...') instead")
        server["url"] = url
        headers = {}
        for header, value in spec["headers"].items():
            if secrets.is_secret(("headers", header), value):
                # Kept in the user layer; the clients get it from `claudex mcp headers NAME`.
                scheme = _SCHEME.match(value)
                var = fresh(variable(name, "token" if header.lower() == "authorization" else header))
                user_env[var] = value[scheme.end():] if scheme else value
                value = (scheme.group(0) if scheme else "") + "${" + var + "}"
                required.append(var)
            headers[header] = value
        if headers:
            server["headers"] = headers
    if required:
        server["requiredEnv"] = [{"name": var, "secret": True} for var in dict.fromkeys(required)]
    manifest = {"apiVersion": "v1",
                "metadata": {"name": name, "version": VERSION, "description": description[:500]},
                "server": server}
    problems = validation.validate_document(manifest, "manifest", f"{name}/manifest.json")
    if problems:
        first = problems[0]
        raise InvalidInput(f"{name} cannot be a registry server: {first['pointer']}: {first['message']}",
                           code="invalid_definition", hint=first.get("hint") or "fix the definition")
    return Adopted(name, manifest, user_env, export, warnings)


def check_free(registry: Path, name: str) -> None:
    """Raise what ``add`` would raise for a name already in the registry (before the lock: a
    caller with slow work to do first, such as a download, fails early; add checks again)."""
    where = locate(registry, name)
    if where is not None and where[0] == "core":
        raise Conflict(f"{name} is a core server; an added server cannot shadow it", code="core_name",
                       hint="choose another name")
    if where is not None:
        raise Conflict(f"{name} is already in the registry ({where[0]}/)", code="already_installed",
                       hint=f"choose another name, or 'claudex mcp uninstall {name}' first")


def _refuse_invalid(folder: Path) -> None:
    """Raise InvalidInput with the first problem of the server folder ``add`` built (a relative
    command that leaves the folder, a header that is not one line), as install would."""
    from claudex_mcp.schemas import validation

    problems = validation.validate_folder(folder)
    if problems:
        first = problems[0]
        hint = first.get("hint") or "fix the definition and add it again"
        if first["pointer"] == "/server/command" and first["rule"] == "path-escape":
            hint = "give the command as a name on PATH (node, uvx) or an absolute path (/usr/bin/node)"
        raise InvalidInput(f"the server would be invalid: {first['pointer'] or '/'}: {first['message']}",
                           code="invalid_definition", hint=hint + "; nothing was added")


def locate(registry: Path, name: str) -> tuple[str, Path] | None:
    """Where ``name`` is in the registry: (location, folder), or None."""
    for location in paths.LOCATIONS:
        folder = registry / location / name
        if folder.is_dir() and not folder.is_symlink():
            return location, folder
    return None


def _set_user_env(name: str, env: dict[str, str] | None) -> dict | None:
    """Put ``env`` into the user layer's servers.<name>.env (None: drop that env); returns what
    was there before, to put back."""
    from claudex_mcp.settings import config

    before: dict = {}

    def change(doc: dict | None) -> dict | None:
        doc = doc or {"apiVersion": "v1", "servers": {}}
        servers = doc.setdefault("servers", {})
        entry = servers.get(name) or {}
        before["env"] = copy.deepcopy(entry.get("env"))
        if env is None:
            entry.pop("env", None)
        else:
            entry["env"] = {**(entry.get("env") or {}), **env}
        if entry:
            servers[name] = entry
        else:
            servers.pop(name, None)
        return doc

    config.update_layer(paths.user_config_file(), "user", change)
    return before.get("env")


def add(registry: Path, adopted: Adopted, source: dict, *, project=None, replace: bool = False,
        regenerate: bool = True, report: Report = quiet) -> dict:
    """Put ``adopted`` into the registry (in installed/; with ``project``, in disabled/ and
    enabled in that project's layer only), its secrets into the user layer. An existing server is a conflict unless
    ``replace`` (then it must not be a core server). ``regenerate`` False leaves the clients'
    files to the caller (migrate regenerates once, at its end). Returns what was done, secrets
    by name."""
    name = adopted.name
    location = "disabled" if project is not None else "installed"
    with regeneration.after(registry, "add", report, regenerate_clients=regenerate, project=project) as m:
        where = locate(registry, name)
        if where is not None and (where[0] == "core" or not replace):
            check_free(registry, name)
        txn = m.stage(name, location=location)
        report("manifest")
        folder = txn.new
        folder.mkdir(mode=0o755)
        os.chmod(folder, 0o755)
        atomic.write_json(folder / "manifest.json", adopted.manifest, mode=0o644)
        atomic.write_json(folder / staging.MARKER, {"source": source, "installedAt": _now()}, mode=0o644)
        _refuse_invalid(folder)  # what install would refuse, add refuses too: nothing changed yet
        fault("secrets")
        previous_env = _set_user_env(name, adopted.user_env) if adopted.user_env else None
        if project is not None:
            report("project", str(project.config_file))
            enable_for_project(project, name)
        target = registry / location / name
        try:
            if where is not None:  # replace: one atomic exchange; the old folder leaves with the transaction
                report("replace", f"{where[0]}/{name}")
                location, target = where
                m.commit(lambda: staging.exchange(folder, target), undo=lambda: staging.exchange(folder, target))
            else:
                m.commit(lambda: (os.rename(folder, target), atomic.fsync_dir(target.parent)),
                         undo=lambda: os.rename(target, folder))
        except BaseException:
            if adopted.user_env:
                _set_user_env(name, previous_env)
            raise
        m.record(name, {"location": location, "version": VERSION, "source": source,
                        "manifestDigest": registry_mod.manifest_digest((target / "manifest.json").read_bytes()),
                        "installedAt": _now()})
    return {"action": "add", "name": name, "location": location, "folder": str(target),
            "transport": adopted.manifest["server"].get("transport", "stdio"), "replaced": where is not None,
            "project": project.to_dict() if project is not None else None, "secrets": adopted.secrets(), "warnings": adopted.warnings + m.result["warnings"],
            "regenerated": m.result["regenerated"]}


def set_user_secrets(registry: Path, name: str, env: dict[str, str], report: Report = quiet,
                     regenerate: bool = True) -> dict:
    """Secrets of an existing server (the core codex server a migrated entry maps to) into the
    user layer, as a mutation (the clients are regenerated unless ``regenerate`` is False)."""
    with regeneration.after(registry, "secrets", report, regenerate_clients=regenerate) as m:
        if env:
            _set_user_env(name, env)
            m.touched()
    return m.result


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def enable_in_projects(registry: Path, name: str, projects: list, report: Report = quiet) -> dict:
    """``name`` enabled in each of ``projects``' layers, as one mutation (migrate: a server that
    more than one project defines)."""
    with mutation.begin(registry, "enable", report) as m:
        for project in projects:
            if enable_for_project(project, name):
                m.touched()
    return m.result


def enable_for_project(project, name: str) -> bool:
    """The project's layer says servers.<name>.enabled: true (the server itself stays off
    everywhere else, in disabled/). True when the layer changed."""
    from claudex_mcp.settings import config

    return config.update_layer(project.config_file, "project",
                               lambda doc: config.set_value(doc, name, "enabled", True))


def put_back_in(m: mutation.Mutation, name: str, copy_of: Path) -> None:
    """A server folder saved before it was replaced goes back into installed/, as one commit of
    the mutation ``m`` (a migration's rollback)."""
    import json
    import shutil

    registry = m.registry
    if locate(registry, name) is not None:
        raise Conflict(f"{name} is in the registry again", code="already_installed",
                       hint=f"uninstall {name} first, then roll back again")
    txn = m.stage(name, location="installed")
    shutil.copytree(copy_of, txn.new, symlinks=True)
    target = registry / "installed" / name
    m.commit(lambda: (os.rename(txn.new, target), atomic.fsync_dir(target.parent)),
             undo=lambda: os.rename(target, txn.new))
    marker = registry_mod.read_marker(target)
    data = (target / "manifest.json").read_bytes()
    m.record(name, {"location": "installed", "version": json.loads(data)["metadata"]["version"],
                    "source": marker.get("source") or {"type": "path", "path": str(target)},
                    "manifestDigest": registry_mod.manifest_digest(data),
                    "installedAt": marker.get("installedAt") or _now()})

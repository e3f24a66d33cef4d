"""A server.json (the MCP Registry's document for one server version): validated against the
vendored, versioned schema before anything is fetched, then mapped to what a claudex server
needs: which package (npm, pypi, oci, mcpb) or remote to use, the arguments and environment with
every input resolved, and a manifest.

Inputs (environment variables, headers, arguments, and the ``{variables}`` in their values and in
a remote's URL) each get a variable name (``API_KEY``, ``CONFIG_PATH`` from a valueHint, ...): the
value the user gives for it (``--env NAME=VALUE`` or on a terminal), else its default. A secret
value never reaches the manifest: the manifest holds ``${NAME}`` and the value goes to the user
layer (mode 600), as `add` does it. A required input with no value is listed in ``missing``. No
value is ever passed through a shell: arguments stay a list. Nothing here prints."""

from __future__ import annotations

import json
import re
from functools import lru_cache

from claudex_mcp import expand, paths
from claudex_mcp.errors import InvalidInput

SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
SCHEMA_FILE = paths.SCHEMAS_DIR / "mcp-registry" / "server-2025-12-11.schema.json"
SUPPORTED = ("npm", "pypi", "oci", "mcpb")
USES = SUPPORTED + ("remote",)
_RANGE = re.compile(r"[\^~<>=*\s]|(^|\.)[xX](\.|$)|^latest$")
_TEMPLATE = re.compile(r"\{([A-Za-z0-9_.-]+)\}")
_ENV_NAME = re.compile("^" + expand.NAME + "$")  # a variable name, as ${VAR} references name them
TRANSPORTS = {"streamable-http": "http", "sse": "sse"}


@lru_cache(maxsize=None)
def _validator():
    from jsonschema import Draft7Validator

    with open(SCHEMA_FILE, encoding="utf-8") as fh:
        return Draft7Validator(json.load(fh), format_checker=Draft7Validator.FORMAT_CHECKER)


def _pointer(parts) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def problems(doc: object) -> list[dict]:
    """Every way ``doc`` breaks the schema, or the registry's own rules the schema only describes
    (a version range, a package version that is not one version); [] when it is valid."""
    found = []
    for error in sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path)):
        leaf = error
        while leaf.context:  # anyOf/oneOf: the deepest reason says most
            leaf = max(leaf.context, key=lambda e: len(e.absolute_path))
        message = leaf.message if len(leaf.message) <= 200 else leaf.message[:197] + "..."
        if leaf.validator == "not" and leaf.instance == "latest":
            message = "'latest' is not a version: a server.json pins one exact version"
        found.append({"pointer": _pointer(error.absolute_path), "rule": leaf.validator, "message": message})
    if isinstance(doc, dict) and not found:
        if isinstance(doc.get("version"), str) and _RANGE.search(doc["version"]):
            found.append({"pointer": "/version", "rule": "version-range",
                          "message": f"{doc['version']!r} is a range, not one version"})
        for i, package in enumerate(doc.get("packages") or []):
            version = package.get("version")
            if package.get("registryType") in ("npm", "pypi", "nuget") and not version:
                found.append({"pointer": f"/packages/{i}", "rule": "required",
                              "message": f"the {package['registryType']} package has no version"})
            elif isinstance(version, str) and _RANGE.search(version):
                found.append({"pointer": f"/packages/{i}/version", "rule": "version-range",
                              "message": f"{version!r} is a range, not one version"})
    return found


def validate(doc: object, where: str) -> dict:
    """``doc`` when it is a valid server.json, else InvalidInput naming every problem."""
    found = problems(doc)
    if found:
        first = found[0]
        raise InvalidInput(f"{where} is not a valid server.json: {first['pointer'] or '/'}: {first['message']}",
                           code="invalid_server_json", path=where,
                           details=[f"{p['pointer'] or '/'}: {p['message']}" for p in found],
                           hint="nothing was fetched or installed; the publisher must fix the document "
                                f"(schema {SCHEMA_URL})")
    return doc  # type: ignore[return-value]


def short_name(registry_name: str) -> str:
    """The folder name a registry name gets: its last part, as a claudex name."""
    from claudex_mcp.install import adopt

    return adopt.suggest_name(registry_name.rsplit("/", 1)[-1]) or "server"


def choose(doc: dict, use: str | None = None) -> tuple[str, dict]:
    """(kind, package or remote): the first package claudex can run (a stdio npm, pypi, oci or
    mcpb package, in the document's order), else the first remote; ``use`` picks a kind."""
    packages = [p for p in doc.get("packages") or [] if isinstance(p, dict)]
    remotes = [r for r in doc.get("remotes") or [] if isinstance(r, dict)]
    offered = [p.get("registryType") for p in packages] + (["remote"] * bool(remotes))
    for package in packages:
        kind, transport = package.get("registryType"), (package.get("transport") or {}).get("type")
        if kind in SUPPORTED and transport == "stdio" and use in (None, kind):
            return kind, package
    for remote in remotes:
        if remote.get("type") in TRANSPORTS and use in (None, "remote"):
            return "remote", remote
    if use is not None and use not in offered:
        raise InvalidInput(f"{doc['name']} offers no {use} package" + (f" (it offers {', '.join(offered)})" if offered else ""),
                           code="unsupported_package", hint="leave out --use, or pick one it offers")
    local = [f"{p.get('registryType')} over {(p.get('transport') or {}).get('type')}" for p in packages]
    raise InvalidInput(f"{doc['name']} {doc['version']} has nothing claudex can install: "
                       + (", ".join(local) if local else "no packages and no remotes"), code="unsupported_package",
                       hint="claudex installs npm, pypi, oci and mcpb packages that speak stdio, and remote "
                            "servers (streamable-http, sse); nuget and local http packages are unsupported")


class Need:
    """One input the server takes: its variable, and what the document says of it."""

    __slots__ = ("var", "description", "required", "secret", "default", "choices", "where")

    def __init__(self, var: str, spec: dict, where: str) -> None:
        self.var, self.where = var, where
        self.description = spec.get("description") if isinstance(spec.get("description"), str) else None
        self.required = bool(spec.get("isRequired"))
        self.secret = bool(spec.get("isSecret"))
        self.default = spec.get("default") if isinstance(spec.get("default"), str) else None
        self.choices = [c for c in spec.get("choices") or [] if isinstance(c, str)]

    def to_dict(self) -> dict:
        return {"name": self.var, "description": self.description, "required": self.required,
                "secret": self.secret, "default": None if self.secret else self.default,
                "choices": self.choices, "for": self.where}


def variable_name(*parts: str) -> str:
    from claudex_mcp.install import adopt

    return adopt.variable(*parts)


class Resolver:
    """Values for the inputs, from what the user gave (``given``: variable -> value); secret
    ones go to ``user_env`` and come back as ``${VAR}``."""

    def __init__(self, given: dict[str, str]) -> None:
        self.given = dict(given)
        self.needs: dict[str, Need] = {}
        self.user_env: dict[str, str] = {}
        self.missing: list[Need] = []
        self.used: set[str] = set()

    def variable(self, var: str, spec: dict, where: str) -> str | None:
        need = self.needs.setdefault(var, Need(var, spec, where))
        self.used.add(var)
        value = self.given.get(var, need.default)
        if value is None:
            if need.required and need not in self.missing:
                self.missing.append(need)
            return None
        if need.choices and value not in need.choices:
            raise InvalidInput(f"{var} must be one of {', '.join(need.choices)}", code="invalid_value",
                               hint=f"give --env {var}=<one of them>")
        from claudex_mcp import secrets

        if need.secret or secrets.is_secret(("env", var), value):  # a key the document forgot to mark
            self.user_env[var] = value
            return "${" + var + "}"
        return value

    def value(self, spec: dict, var: str, where: str) -> str | None:
        """An input's value: its fixed ``value`` with the ``{variables}`` in it filled in, or the
        user's own value for ``var``."""
        fixed = spec.get("value")
        if not isinstance(fixed, str):
            return self.variable(var, spec, where)
        variables = spec.get("variables") if isinstance(spec.get("variables"), dict) else {}
        unresolved = []

        def fill(match: re.Match) -> str:
            key = match.group(1)
            if key not in variables or not isinstance(variables[key], dict):
                return match.group(0)  # left as it is, as the schema says
            got = self.variable(variable_name(key), variables[key], where)
            if got is None:
                unresolved.append(key)
                return ""
            return got
        filled = _TEMPLATE.sub(fill, fixed)
        if unresolved:
            return None
        if spec.get("isSecret") and "${" not in filled:
            self.user_env[var] = filled
            self.needs.setdefault(var, Need(var, dict(spec, isRequired=False), where))
            return "${" + var + "}"
        return filled


class Plan:
    """What a server.json maps to, for the chosen package or remote."""

    def __init__(self, doc: dict, kind: str, chosen: dict, resolver: Resolver) -> None:
        self.doc, self.kind, self.chosen, self.resolver = doc, kind, chosen, resolver
        self.args: list[str] = []
        self.runtime_args: list[str] = []
        self.env: dict[str, str] = {}
        self.optional_env: list[Need] = []
        self.url: str | None = None
        self.headers: dict[str, str] = {}
        self.warnings: list[str] = []

    @property
    def missing(self) -> list[Need]:
        return self.resolver.missing

    @property
    def user_env(self) -> dict[str, str]:
        return self.resolver.user_env

    def needs(self) -> list[dict]:
        return [n.to_dict() for n in self.resolver.needs.values()]

    def package_record(self) -> dict:
        if self.kind == "remote":
            return {"remote": {"type": self.chosen["type"], "url": self.chosen["url"]}}
        keep = ("registryType", "identifier", "version", "fileSha256", "registryBaseUrl")
        return {"package": {k: self.chosen[k] for k in keep if isinstance(self.chosen.get(k), str)}}

    def manifest(self, name: str, command: str | None = None, prefix: list[str] | None = None) -> dict:
        """The claudex manifest: ``command`` with ``prefix`` + the package's arguments (stdio), or
        the URL and headers (remote)."""
        from claudex_mcp.versions import parse

        doc = self.doc
        version = doc["version"] if parse(doc["version"]) and not doc["version"][:1] in "vV" else None
        if version is None:  # claudex versions are semver: "1.2" is 1.2.0, anything else 0.0.0
            match = re.fullmatch(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", doc["version"])
            version = ".".join(str(int(g or 0)) for g in match.groups()) if match else "0.0.0"
        metadata = {"name": name, "version": version,
                    "description": (doc.get("description") or doc["name"])[:500]}
        for link in (doc.get("websiteUrl"), (doc.get("repository") or {}).get("url")):
            if isinstance(link, str) and re.fullmatch(r"https?://\S+", link):
                metadata["homepage"] = link
                break
        server: dict = {}
        if self.kind == "remote":
            server["transport"] = TRANSPORTS[self.chosen["type"]]
            server["url"] = self.url
            if self.headers:
                server["headers"] = dict(self.headers)
        else:
            server["command"] = command
            args = list(prefix or []) + self.args
            if args:
                server["args"] = args
            if self.env:
                server["env"] = dict(self.env)
        secrets = [n for n in self.resolver.needs.values() if n.var in self.user_env]
        if secrets:
            server["requiredEnv"] = [_env_item(n, True) for n in secrets]
        if self.optional_env:
            server["optionalEnv"] = [_env_item(n, n.secret) for n in self.optional_env]
        return {"apiVersion": "v1", "metadata": metadata, "server": server}


def _env_item(need: Need, secret: bool) -> dict:
    item: dict = {"name": need.var}
    if need.description:
        item["description"] = need.description[:500]
    if secret:
        item["secret"] = True
    return item


def _arguments(items, resolver: Resolver, where: str) -> list[str]:
    out: list[str] = []
    for i, arg in enumerate(items or []):
        if not isinstance(arg, dict):
            continue
        here = f"{where}/{i}"
        if arg.get("type") == "named":
            flag = arg.get("name")
            if not isinstance(flag, str) or not flag:
                continue
            value = resolver.value(arg, variable_name(flag.lstrip("-")), here)
            if value is not None:
                out += [flag, value]
            elif "value" not in arg and not arg.get("isRequired") and arg.get("default") is None \
                    and not arg.get("variables") and arg.get("format") == "boolean":
                out.append(flag)  # a switch
        else:
            hint = arg.get("valueHint") if isinstance(arg.get("valueHint"), str) else f"arg_{i}"
            value = resolver.value(arg, variable_name(hint), here)
            if value is not None:
                out.append(value)
    return out


def plan(doc: dict, given: dict[str, str] | None = None, use: str | None = None) -> Plan:
    """Map a valid server.json: choose what to run, resolve every input. ``plan.missing`` lists
    the required inputs still without a value; unknown names in ``given`` are refused."""
    kind, chosen = choose(doc, use)
    resolver = Resolver(given or {})
    result = Plan(doc, kind, chosen, resolver)
    if kind == "remote":
        variables = chosen.get("variables") if isinstance(chosen.get("variables"), dict) else {}
        result.url = resolver.value({"value": chosen["url"], "variables": variables}, "URL", "/remotes/url")
        for i, header in enumerate(chosen.get("headers") or []):
            name = header.get("name") if isinstance(header, dict) else None
            if not isinstance(name, str):
                continue
            value = resolver.value(header, variable_name(name), f"/remotes/headers/{i}")
            if value is not None:
                result.headers[name] = value
        if result.url is not None and not re.fullmatch(r"https?://\S+", result.url):
            raise InvalidInput(f"the remote's URL {result.url!r} is not an http(s) URL once its variables are filled in",
                               code="invalid_value", hint="check the values given for its variables")
    else:
        runtime = [a for a in chosen.get("runtimeArguments") or [] if isinstance(a, dict)]
        if kind in ("oci", "mcpb"):
            result.runtime_args = _arguments(runtime, resolver, "/runtimeArguments")
        elif runtime:  # npx's or uvx's own: claudex starts the installed command itself, so never asked for
            shown = " ".join(a.get("name") or a.get("value") or a.get("valueHint") or "?" for a in runtime)
            result.warnings.append(f"the runtime arguments for {chosen.get('runtimeHint') or 'the runtime'} "
                                   f"({shown}) are not used: claudex installs the package and starts its "
                                   f"command itself")
        result.args = _arguments(chosen.get("packageArguments"), resolver, "/packageArguments")
        for i, item in enumerate(chosen.get("environmentVariables") or []):
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str) or not _ENV_NAME.match(name):
                raise InvalidInput(f"environment variable name {name!r} is not one a process can take",
                                   code="invalid_server_json", hint="the publisher must fix the document")
            value = resolver.value(item, name, f"/environmentVariables/{i}")
            if value is not None:
                result.env[name] = value
            elif not item.get("isRequired"):
                result.optional_env.append(resolver.needs.get(name) or Need(name, item, name))
    unknown = sorted(set(resolver.given) - resolver.used)
    if unknown:
        known = sorted(resolver.needs)
        raise InvalidInput(f"{doc['name']} takes no input named {', '.join(unknown)}", code="unknown_input",
                           hint=f"its inputs are: {', '.join(known)}" if known else "it takes no inputs")
    return result

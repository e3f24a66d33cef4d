"""Package runners (``npx -y PKG``, ``uvx PKG``) in an added server's command: the package resolved
to an exact version, recorded in the command (``PKG@X.Y.Z``), and fetched into the runner's own
cache before the first start, so that the first client or `test` does not wait for a download.

npm: ``npm view PKG@SPEC version`` resolves, ``npm exec --package=PKG@X.Y.Z -- true`` fills the
npx cache (the same folder ``npx -y PKG@X.Y.Z`` uses, keyed by the spec). uv: ``uv pip compile
--no-deps`` resolves, ``uvx --from PKG==X.Y.Z python -c pass`` builds the environment that ``uvx
PKG@X.Y.Z`` then finds in uv's cache. Each tool is the one beside the runner the server will
use, run with the user's environment (their registry, proxy and cache settings), in a private
empty folder (no project's .npmrc or uv.toml), as an installer child (procs.run). Nothing here
prints; no argument goes through a shell.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from claudex_mcp.errors import ExternalFailure, NotFound

RESOLVE_TIMEOUT = 90.0   # one registry query
FETCH_TIMEOUT = 900.0    # a whole package with its dependencies
NPX_FLAGS = {"-y", "--yes", "-q", "--quiet", "--silent"}  # flags that may stand before the package
UVX_FLAGS = {"-q", "--quiet", "--offline", "--no-progress"}
_NPM_NAME = re.compile(r"^(?P<name>(?:@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*)(?:@(?P<spec>[^@\s/]+))?$", re.I)
_PYPI_NAME = re.compile(r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(?:(?:@|==)(?P<spec>[A-Za-z0-9.!+_-]+))?$")
_EXACT_NPM = re.compile(r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_NETWORK = re.compile(
    r"\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ESOCKETTIMEDOUT|ENETUNREACH|EHOSTUNREACH|"
    r"ENETDOWN|EPROTO|CERT_|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED_CERT|socket hang up|"
    r"request to https?://\S+ failed|error sending request|dns error|failed to lookup address|"
    r"tcp connect error|Connection refused|Could not connect|Failed to fetch|network is unreachable|"
    r"the network was disabled|operation timed out)", re.I)
RUNNERS = {"npx": "npm", "uvx": "uv"}


class Package:
    """A package that a runner fetches: the manager (npm or uv), the runner's path, where the
    package is in the arguments, its name and the version or spec it was given (None: latest)."""

    __slots__ = ("manager", "runner", "index", "name", "spec")

    def __init__(self, manager: str, runner: str, index: int, name: str, spec: str | None) -> None:
        self.manager, self.runner, self.index, self.name, self.spec = manager, runner, index, name, spec

    def with_version(self, version: str) -> str:
        """The argument that names this package at ``version``, in the runner's syntax."""
        return f"{self.name}@{version}"

    def label(self) -> str:
        return self.name + (f"@{self.spec}" if self.spec else "")


def find(command: str, args: list[str]) -> Package | None:
    """The package of ``npx [-y] PKG ...`` or ``uvx PKG ...``, or None for any other command
    (another program, options before the package that this does not know, a path or URL)."""
    runner = os.path.basename(command)
    manager = RUNNERS.get(runner)
    if manager is None:
        return None
    allowed = NPX_FLAGS if manager == "npm" else UVX_FLAGS
    for index, arg in enumerate(args):
        if arg in allowed:
            continue
        if arg.startswith("-"):
            return None  # --package, --from, --python...: a form this does not rewrite
        match = (_NPM_NAME if manager == "npm" else _PYPI_NAME).match(arg)
        if match is None:
            return None
        return Package(manager, command, index, match.group("name"), match.group("spec"))
    return None


def first_download_hint(server: dict) -> str | None:
    """What a time-out of a server that a package runner starts most likely means."""
    package = find(server.get("command") or "", list(server.get("args") or []))
    if package is None:
        return None
    what = "npx" if package.manager == "npm" else "uvx"
    return (f"{what} may still be downloading {package.label()} (its first start fetches the package and "
            f"its dependencies); wait for it with --timeout 300 once, or add the server again: "
            f"'claudex mcp add' fetches the package before the first start")


def _tool(package: Package, name: str) -> str:
    """``npm``/``uv`` beside the runner the server will use, else on PATH."""
    runner = package.runner if "/" in package.runner else shutil.which(package.runner)
    if runner:
        beside = Path(runner).parent / name
        if os.access(beside, os.X_OK):
            return str(beside)
    found = shutil.which(name)
    if found is None:
        hint = ("install Node.js with npm" if name == "npm" else "install uv (https://docs.astral.sh/uv/)")
        raise ExternalFailure(f"{name} is not installed, so {package.label()} cannot be resolved and fetched",
                              code="missing_runtime",
                              hint=f"{hint}, or add the server with --no-pin (the package is then fetched at "
                                   f"its first start)")
    return found


def _run(argv: list[str], package: Package, what: str, timeout: float):
    from claudex_mcp import procs

    with tempfile.TemporaryDirectory(prefix="claudex-runner-") as neutral:
        env = dict(os.environ, npm_config_update_notifier="false", npm_config_fund="false",
                   npm_config_audit="false", NO_COLOR="1")
        try:
            proc = procs.run(argv, cwd=neutral, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            doing = {"resolved": "resolving", "fetched": "fetching"}[what]
            raise ExternalFailure(f"{doing} {package.label()} took longer than {timeout:g} s", code="registry_unreachable",
                                  hint="check the network and the registry settings (npm config, uv.toml), or add "
                                       "the server with --no-pin; nothing was added") from None
        except FileNotFoundError:
            raise ExternalFailure(f"{argv[0]} is not installed", code="missing_runtime",
                                  hint="install it, or add the server with --no-pin") from None
    if proc.returncode != 0:
        _failed(proc.stderr + "\n" + proc.stdout, package, what)
    return proc


def _failed(text: str, package: Package, what: str):
    from claudex_mcp.secrets import redact_url

    manager = "npm registry" if package.manager == "npm" else "Python package index"
    # One line: uv wraps its messages at $COLUMNS ("... not found in the package\n registry ...").
    lower = " ".join(text.lower().split())
    if _NETWORK.search(text):
        found = [line.strip() for line in text.splitlines() if _NETWORK.search(line)]
        reason = next((line for line in found if re.search(r"request to|Failed to fetch|error sending", line)), found[0])
        raise ExternalFailure(f"the {manager} is unreachable, so {package.label()} cannot be {what}: "
                              f"{redact_url(reason.removeprefix('npm error').strip())[:300]}",
                              code="registry_unreachable",
                              hint="check the network, proxy and registry settings, or add the server with "
                                   "--no-pin (nothing is fetched now; the first start downloads it); nothing was added")
    if package.manager == "npm" and any(word in lower for word in ("etarget", "no matching version",
                                                                     "no match found for version")):
        raise NotFound(f"{package.name} has no version matching {package.spec!r}", code="no_such_version",
                       hint=f"'npm view {package.name} versions' lists them; nothing was added")
    if package.manager == "npm" and ("e404" in lower or "404 not found" in lower):
        raise NotFound(f"the npm registry has no package {package.name}", code="no_such_package",
                       hint="check the name (npm search NAME, or https://www.npmjs.com); nothing was added")
    if package.manager == "uv" and "not found in the package registry" in lower:
        raise NotFound(f"the Python package index has no package {package.name}", code="no_such_package",
                       hint="check the name (https://pypi.org); nothing was added")
    if package.manager == "uv" and ("no solution found" in lower or "no version" in lower):
        raise NotFound(f"{package.name} has no version matching {package.spec!r}", code="no_such_version",
                       hint="check the version on https://pypi.org; nothing was added")
    tail = [redact_url(line)[:300] for line in text.strip().splitlines() if line.strip()][-5:]
    raise ExternalFailure(f"{package.label()} cannot be {what}: {package.manager} failed",
                          code="package_fetch_failed", details=tail,
                          hint="see the lines below; or add the server with --no-pin; nothing was added")


def resolve(package: Package) -> str:
    """The exact version the registry gives for the package's spec (latest when none)."""
    import json

    if package.manager == "npm":
        if package.spec and _EXACT_NPM.match(package.spec):
            return package.spec.removeprefix("v")
        proc = _run([_tool(package, "npm"), "view", package.label(), "version", "--json"], package,
                    "resolved", RESOLVE_TIMEOUT)
        try:
            found = json.loads(proc.stdout) if proc.stdout.strip() else None
        except ValueError:
            found = None
        if isinstance(found, list):  # a range: every matching version, oldest first
            found = found[-1] if found else None
        if not isinstance(found, str) or not _EXACT_NPM.match(found):
            raise NotFound(f"{package.name} has no version matching {package.spec or 'latest'!r}",
                           code="no_such_version", hint=f"'npm view {package.name} versions' lists them")
        return found
    with tempfile.NamedTemporaryFile("w", suffix=".in", prefix="claudex-") as wanted:
        wanted.write(package.name + (f"=={package.spec}" if package.spec else "") + "\n")
        wanted.flush()
        proc = _run([_tool(package, "uv"), "pip", "compile", wanted.name, "--no-deps", "--no-header",
                     "--no-annotate", "--quiet"], package, "resolved", RESOLVE_TIMEOUT)
    for line in proc.stdout.splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and _normal(name) == _normal(package.name):
            return version.strip()
    raise NotFound(f"the Python package index has no version of {package.name}", code="no_such_package",
                   hint="check the name (https://pypi.org)")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def fetch(package: Package, version: str) -> None:
    """Fill the runner's cache with the package at ``version`` and its dependencies, exactly as
    the pinned command (``with_version``) will ask for them."""
    if package.manager == "npm":
        argv = [_tool(package, "npm"), "exec", "--yes", f"--package={package.with_version(version)}", "--", "true"]
    else:
        runner = package.runner if "/" in package.runner else shutil.which(package.runner)
        if runner is None:
            raise ExternalFailure(f"{package.runner} is not installed, so {package.label()} cannot be fetched",
                                  code="missing_runtime", hint="install uv (https://docs.astral.sh/uv/), or add the "
                                                               "server with --no-pin")
        argv = [runner, "--from", f"{package.name}=={version}", "python", "-c", "pass"]
    _run(argv, package, "fetched", FETCH_TIMEOUT)

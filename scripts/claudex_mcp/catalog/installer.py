"""Install and upgrade of a catalog server: the server.json found (in a catalog, or a file),
validated before anything is fetched, mapped (serverjson.plan), then written as a server folder
through install's one mutation path (lifecycle.install_generated): npm → the exact version
installed into the folder (its command from node_modules/.bin); pypi → a uv venv with
``pkg==version``; oci → ``docker run -i --rm`` the image at its version; mcpb → downloaded,
checked against fileSha256, unpacked; a remote → a remote server. No value goes through a shell.
Nothing here prints."""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import re
from pathlib import Path

from claudex_mcp import atomic, jsonio
from claudex_mcp.catalog import client, feeds, index, serverjson
from claudex_mcp.errors import ExternalFailure, InvalidInput, NotFound, UsageError

PREFIX = "registry:"
DEFAULT_REGISTRIES = {"npm": "https://registry.npmjs.org", "pypi": "https://pypi.org"}
MAX_BUNDLE_BYTES = 512 * 1024 * 1024
_NPM_NAME = re.compile(r"^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$", re.I)
_NPM_VERSION = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_PYPI_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_PYPI_VERSION = re.compile(r"^[0-9][0-9A-Za-z.!+_-]*$")
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(@sha256:[a-f0-9]{64})?$")


def parse_spec(spec: str) -> tuple[str, str | None]:
    """registry:NAME[@VERSION] -> (NAME, VERSION or None)."""
    rest = spec[len(PREFIX):]
    name, _, version = rest.partition("@")
    if not index.is_server({"name": name, "version": version or "x", "description": ""}):
        raise UsageError(f"{spec!r} is not registry:NAME[@VERSION]", code="invalid_source",
                         hint="the name is the catalog's, e.g. registry:io.github.acme/weather@1.2.0 "
                              "('claudex mcp search TERM' finds it)")
    if version == "latest":
        version = ""
    return name, version or None


def did_you_mean(name: str, registry: Path | None) -> str:
    import difflib

    names = set()
    for url in feeds.urls(registry):
        copy = index.load(url)
        if copy:
            names.update(copy["servers"])
    # Names share long prefixes (io.github.): their last parts say which one was meant.
    by_short: dict[str, list[str]] = {}
    for known in sorted(names):
        by_short.setdefault(known.rsplit("/", 1)[-1].lower(), []).append(known)
    namespace = name.rsplit("/", 1)[0]
    close = [n for s in difflib.get_close_matches(name.rsplit("/", 1)[-1].lower(), sorted(by_short), n=3, cutoff=0.6)
             for n in sorted(by_short[s], key=lambda n: n.rsplit("/", 1)[0] != namespace)][:3]
    return (f"did you mean {' or '.join(close)}? " if close else "") + f"run 'claudex mcp search {name.rsplit('/', 1)[-1]}'"


def find(registry: Path | None, name: str, version: str | None, report=lambda *a: None) -> tuple[dict, dict, str | None]:
    """(server.json, where it came from, a note when the local copy stood in for an unreachable
    catalog) of ``name`` (at ``version``, else the latest) in the first catalog that has it."""
    unreachable = None
    for url in feeds.urls(registry):
        report("catalog", f"{name} in {url}")
        note = None
        try:
            item = client.version(url, name, version)
        except NotFound:
            continue
        except ExternalFailure as exc:  # down or failing: its local copy may know the name
            copy = index.load(url)
            entry = copy["servers"].get(name) if copy else None
            chosen = (version or entry["latest"]) if entry else None
            if entry is None or chosen not in entry["versions"]:
                unreachable = unreachable or exc
                continue
            item = {"server": entry["versions"][chosen]["server"], "_meta": {}}
            note = f"{exc.message}; using the copy synced {index.summary(url, copy)['syncedAt']}"
        if not index.active(item):
            status = index.official(item).get("status")
            raise InvalidInput(f"{name} {version or ''} is {status} in the catalog at {url}".replace("  ", " "),
                               code="catalog_entry_inactive", hint="choose another version or server")
        return item["server"], {"catalog": url}, note
    if unreachable is not None:
        raise unreachable
    raise NotFound(f"no catalog has {name}" + (f" {version}" if version else ""), code="not_in_catalog",
                   hint=did_you_mean(name, registry))


def read_file(path: str) -> tuple[dict, dict]:
    doc = jsonio.load(path)
    return doc, {"file": "-" if path == "-" else str(Path(path).resolve())}


def prepare(doc: object, where: str, given: dict[str, str], use: str | None) -> serverjson.Plan:
    """The validated document's plan (serverjson.plan); the package's name and version checked
    for what they will be handed to (npm, uv, docker) before anything is fetched."""
    serverjson.validate(doc, where)
    plan = serverjson.plan(doc, given, use)  # type: ignore[arg-type]
    chosen, kind = plan.chosen, plan.kind
    ident, version = chosen.get("identifier", ""), chosen.get("version", "")
    if kind == "npm" and not (_NPM_NAME.match(ident) and _NPM_VERSION.match(version)):
        raise InvalidInput(f"the npm package {ident}@{version} is not a package name at one exact version",
                           code="invalid_server_json", hint="the publisher must pin an exact semver version")
    if kind == "pypi" and not (_PYPI_NAME.match(ident) and _PYPI_VERSION.match(version)):
        raise InvalidInput(f"the PyPI package {ident}=={version} is not a package name at one exact version",
                           code="invalid_server_json", hint="the publisher must pin an exact version")
    if kind == "oci" and not _IMAGE.match(_image(chosen)):
        raise InvalidInput(f"the image reference {_image(chosen)!r} is not one claudex passes to docker",
                           code="invalid_server_json", hint="the publisher must give a plain image reference")
    if kind == "mcpb":
        if not re.match(r"^https://\S+$|^http://(127\.0\.0\.1|localhost|\[::1\])[:/]\S*$", ident):
            raise InvalidInput(f"the bundle URL {ident!r} is not https", code="invalid_server_json",
                               hint="an mcpb package is downloaded over https only")
        if not chosen.get("fileSha256"):
            raise InvalidInput("the mcpb package has no fileSha256", code="invalid_server_json",
                               hint="the publisher must give the bundle's SHA-256; claudex does not run an unchecked download")
    return plan


def _image(package: dict) -> str:
    ident = package.get("identifier", "")
    last = ident.rsplit("/", 1)[-1]
    if ":" in last or "@" in ident or not package.get("version"):
        return ident
    return f"{ident}:{package['version']}"


def _pick(commands: dict[str, str], preferred: str) -> str | None:
    if not commands:
        return None
    if preferred in commands:
        return preferred
    if len(commands) == 1:
        return next(iter(commands))
    mcp = sorted(c for c in commands if "mcp" in c)
    return (mcp or sorted(commands))[0]


def _materials(plan: serverjson.Plan, name: str):
    """(populate, finish) for lifecycle.install_generated."""
    chosen, kind = plan.chosen, plan.kind
    ident = chosen.get("identifier", "")

    def write_manifest(folder: Path, command: str | None = None, prefix: list[str] | None = None) -> None:
        atomic.write_json(folder / "manifest.json", plan.manifest(name, command, prefix))

    if kind == "npm":
        def populate(folder: Path, scratch: Path) -> None:
            atomic.write_json(folder / "package.json", {
                "name": f"claudex-{name}", "version": "0.0.0", "private": True,
                "description": f"{plan.doc['name']} from the MCP Registry, pinned by claudex",
                "dependencies": {ident: chosen["version"]}})
            base = chosen.get("registryBaseUrl")
            if base and base.rstrip("/") != DEFAULT_REGISTRIES["npm"]:
                atomic.write_text(folder / ".npmrc", f"registry={base}\n")

        def finish(folder: Path) -> dict:
            try:
                meta = json.loads((folder / "node_modules" / ident / "package.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raise ExternalFailure(f"npm did not install {ident}@{chosen['version']}", code="dependencies_failed",
                                      hint="check the package's name and version on the npm registry") from None
            unscoped = ident.rsplit("/", 1)[-1]
            bins = meta.get("bin")
            commands = {unscoped: bins} if isinstance(bins, str) else dict(bins) if isinstance(bins, dict) else {}
            command = _pick(commands, unscoped)
            if command is None:
                raise InvalidInput(f"the npm package {ident}@{chosen['version']} has no command (no bin in its "
                                   f"package.json)", code="no_command", hint="it cannot be started as a stdio server")
            write_manifest(folder, "${SERVER_DIR}/node_modules/.bin/" + command)
            package = plan.package_record()["package"]
            try:
                lock = json.loads((folder / "package-lock.json").read_text(encoding="utf-8"))
                integrity = lock["packages"][f"node_modules/{ident}"]["integrity"]
                if isinstance(integrity, str):
                    package["integrity"] = integrity
            except (OSError, ValueError, KeyError, TypeError):
                pass
            return {"package": package}
        return populate, finish

    if kind == "pypi":
        def populate(folder: Path, scratch: Path) -> None:
            lines = []
            base = chosen.get("registryBaseUrl")
            if base and base.rstrip("/") != DEFAULT_REGISTRIES["pypi"]:
                lines.append(f"--index-url {base.rstrip('/')}/simple")
            lines.append(f"{ident}=={chosen['version']}")
            atomic.write_text(folder / "requirements.txt", "\n".join(lines) + "\n")

        def finish(folder: Path) -> dict:
            wanted = re.sub(r"[-_.]+", "_", ident).lower()
            scripts: dict[str, str] = {}
            for info in (folder / ".venv").glob("lib/python*/site-packages/*.dist-info"):
                if re.sub(r"[-_.]+", "_", info.name.removesuffix(".dist-info").rsplit("-", 1)[0]).lower() != wanted:
                    continue
                parser = configparser.ConfigParser(interpolation=None)
                try:
                    parser.read(info / "entry_points.txt", encoding="utf-8")
                except (OSError, configparser.Error):
                    continue
                if parser.has_section("console_scripts"):
                    scripts.update(parser["console_scripts"])
            command = _pick(scripts, ident.lower())
            if command is None:
                raise InvalidInput(f"the PyPI package {ident}=={chosen['version']} has no command (no console "
                                   f"script)", code="no_command", hint="it cannot be started as a stdio server")
            write_manifest(folder, "${SERVER_DIR}/.venv/bin/" + command)
            return {}
        return populate, finish

    if kind == "oci":
        if plan.runtime_args:
            plan.warnings.append(f"docker gets the document's runtime arguments: {' '.join(plan.runtime_args)} "
                                 f"(check them in {name}'s manifest.json: they decide what the container may reach)")

        def populate(folder: Path, scratch: Path) -> None:
            passed = [part for var in plan.env for part in ("-e", var)]  # docker passes its own env on
            write_manifest(folder, "docker", ["run", "-i", "--rm", *plan.runtime_args, *passed, _image(chosen)])
        return populate, None

    if kind == "mcpb":
        def populate(folder: Path, scratch: Path) -> None:
            bundle = scratch / "bundle.mcpb"
            _download(ident, bundle, chosen["fileSha256"])
            _unpack(bundle, folder / "bundle")
            command, prefix, env = _bundle_command(folder / "bundle")
            plan.env = {**env, **plan.env}
            write_manifest(folder, command, prefix)
        return populate, None

    def populate_remote(folder: Path, scratch: Path) -> None:
        write_manifest(folder)
    return populate_remote, None


def _download(url: str, dest: Path, sha256: str) -> None:
    import urllib.error
    import urllib.request

    digest = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(url, timeout=client.timeout()) as response, open(dest, "wb") as out:  # noqa: S310
            while chunk := response.read(1024 * 1024):
                size += len(chunk)
                if size > MAX_BUNDLE_BYTES:
                    raise InvalidInput(f"the bundle at {url} is over {MAX_BUNDLE_BYTES // (1024 * 1024)} MiB",
                                       code="too_large", hint="nothing was installed")
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError) as exc:
        raise ExternalFailure(f"the bundle {url} could not be downloaded: {getattr(exc, 'reason', exc)}",
                              code="download_failed", hint="check the network; nothing was installed") from None
    if digest.hexdigest() != sha256:
        raise InvalidInput(f"the bundle {url} does not match its fileSha256 (got {digest.hexdigest()}, the "
                           f"server.json says {sha256})", code="digest_mismatch",
                           hint="the download was changed or the document is wrong; nothing was installed")


def _unpack(archive: Path, dest: Path) -> None:
    """A zip unpacked without letting a member leave ``dest`` (no absolute path, no ``..``, no
    link), within the size limit (counted as it unpacks: a member's declared size may lie)."""
    import zipfile

    try:
        bundle = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise InvalidInput("the bundle is not a zip archive", code="invalid_bundle", hint="nothing was installed") from None
    try:
        _extract(bundle, dest)
    except (zipfile.BadZipFile, EOFError, NotADirectoryError, IsADirectoryError, FileExistsError) as exc:
        # a CRC error, a truncated member, a file where a folder is (or the other way round)
        raise InvalidInput(f"the bundle cannot be unpacked: {exc}", code="invalid_bundle",
                           hint="nothing was installed") from None


def _extract(bundle, dest: Path) -> None:
    import stat

    with bundle:
        members = bundle.infolist()
        if sum(m.file_size for m in members) > MAX_BUNDLE_BYTES:
            raise InvalidInput("the bundle unpacks to more than the limit", code="too_large", hint="nothing was installed")
        os.mkdir(dest, 0o755)
        written = 0
        for member in members:
            parts = member.filename.replace("\\", "/").split("/")
            mode = member.external_attr >> 16
            if member.filename.startswith("/") or ".." in parts or stat.S_ISLNK(mode):
                raise InvalidInput(f"the bundle's member {member.filename!r} would leave its folder",
                                   code="invalid_bundle", hint="nothing was installed")
            target = dest.joinpath(*[p for p in parts if p])
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(member) as src, open(target, "xb") as out:
                while chunk := src.read(1024 * 1024):
                    written += len(chunk)
                    if written > MAX_BUNDLE_BYTES:
                        raise InvalidInput("the bundle unpacks to more than the limit", code="too_large",
                                           hint="nothing was installed")
                    out.write(chunk)
            os.chmod(target, 0o755 if mode & 0o111 else 0o644)


def _bundle_command(bundle: Path) -> tuple[str, list[str], dict[str, str]]:
    """(command, args, env) of an unpacked MCP bundle, from its manifest's server.mcp_config;
    ${__dirname} is the bundle's folder, ${user_config.KEY} the variable KEY."""
    try:
        meta = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
        config = meta["server"]["mcp_config"]
        command, args, env = config["command"], config.get("args") or [], config.get("env") or {}
        assert isinstance(command, str) and isinstance(args, list) and isinstance(env, dict)
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        raise InvalidInput("the bundle has no manifest.json with server.mcp_config (command, args, env)",
                           code="invalid_bundle", hint="nothing was installed") from None

    def fill(text: str) -> str:
        text = str(text).replace("${__dirname}", "${SERVER_DIR}/bundle")
        return re.sub(r"\$\{user_config\.([A-Za-z0-9_]+)\}", lambda m: "${" + serverjson.variable_name(m.group(1)) + "}", text)
    return fill(command), [fill(a) for a in args], {str(k): fill(v) for k, v in env.items()
                                                     if re.fullmatch(r"[A-Z_][A-Z0-9_]*", str(k))}


def source_record(plan: serverjson.Plan, origin: dict, given: dict[str, str]) -> dict:
    inputs = {k: v for k, v in given.items() if k not in plan.user_env}
    record = {"type": "catalog", **origin, "name": plan.doc["name"], "version": plan.doc["version"],
              "use": plan.kind, **plan.package_record()}
    if inputs:
        record["inputs"] = inputs
    return record


def install(registry: Path, plan: serverjson.Plan, origin: dict, name: str, given: dict[str, str],
            report=lambda *a: None) -> dict:
    from claudex_mcp.install import lifecycle

    populate, finish = _materials(plan, name)
    result = lifecycle.install_generated(registry, name, populate, source_record(plan, origin, given), finish=finish,
                                         user_env=plan.user_env, report=report)
    result.pop("health", None)
    result.pop("stopped", None)
    # A client connects to a remote's URL itself and expands its variables from its own environment.
    in_url = sorted(v for v in plan.user_env if plan.url and "${" + v + "}" in plan.url)
    result["secrets"] = {"userLayer": sorted(plan.user_env), "export": in_url}
    result["warnings"] = plan.warnings + result.get("warnings", [])
    return result


def upgrade(registry: Path, name: str, entry: dict, *, check: bool = False, force: bool = False,
            report=lambda *a: None) -> dict:
    """Upgrade a catalog server to its catalog's newest version (the same inputs; its secrets
    stay in the user layer), with install's rollback; ``check`` only says whether there is one."""
    from claudex_mcp.install import lifecycle
    from claudex_mcp.settings import config
    from claudex_mcp import paths
    from claudex_mcp.versions import parse

    record = entry["source"]
    current = record.get("version")
    result = {"action": "upgrade", "name": name, "from": current, "catalogName": record.get("name")}
    if not record.get("catalog"):
        return dict(result, reason="installed from a file: no catalog to look in", check=check, available=False,
                    to=None, upgraded=False)
    report("check", f"{record['name']} in {record['catalog']}")
    item = client.version(record["catalog"], record["name"], None)
    doc = item["server"]
    newest = doc.get("version") if isinstance(doc, dict) else None
    old, new = parse(current or ""), parse(newest or "")
    newer = (new > old) if (old and new) else newest != current
    if not newer and not force:
        return dict(result, reason=f"{current} is the catalog's newest version", check=check, available=False,
                    to=None, upgraded=False)
    if check:
        return dict(result, reason=f"the catalog has {newest}", check=True, available=True, to=None, upgraded=False)
    layer = config.load_layer(paths.user_config_file()) or {}
    secrets = ((layer.get("servers") or {}).get(name) or {}).get("env") or {}
    given = {**(record.get("inputs") or {}), **secrets}
    takes = {n["name"] for n in prepare(doc, f"{record['name']} {newest}", {}, record.get("use")).needs()}
    given = {k: v for k, v in given.items() if k in takes}
    plan = prepare(doc, f"{record['name']} {newest}", given, record.get("use"))
    if plan.missing:
        raise InvalidInput(f"{record['name']} {newest} needs {', '.join(n.var for n in plan.missing)}, which "
                           f"{name} was not given", code="missing_env", hint=f"uninstall {name} and install "
                           f"registry:{record['name']} again with --env NAME=VALUE")
    populate, finish = _materials(plan, name)
    done = lifecycle.install_generated(registry, name, populate, source_record(plan, {"catalog": record["catalog"]}, given),
                                       finish=finish, user_env=plan.user_env, upgrading=entry, report=report)
    return dict(result, reason=f"the catalog has {newest}", to=done["version"], catalogVersion=newest, upgraded=True,
                source=done["source"], health=done["health"], stopped=done["stopped"],
                regenerated=done["regenerated"], warnings=plan.warnings + done["warnings"])

"""Validating manifests, server folders, registry files and config files.

Returns problems (never raises for a problem in the thing validated); raises ClaudexError only
for what stops validation itself: a path that does not exist, or a kind that cannot be told.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from typing import Any, BinaryIO

from claudex_mcp import expand, jsonio
from claudex_mcp.schemas import engine
from claudex_mcp.errors import ClaudexError, InvalidInput, NotFound, UsageError

MANIFEST = "manifest.json"
SERVER_DIR_VAR = "${SERVER_DIR}"
# Made by the dependency installer, not shipped: not checked for existence or symlinks.
GENERATED_DIRS = (".venv", "node_modules")
SKIPPED_DIRS = (".git",) + GENERATED_DIRS
# Anything written as a reference, well formed or not (expand.BODY tells which).
_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_SCHEMA_HINT = {"manifest-v1": "manifest", "registry-v1": "registry", "config-v1": "config",
                "effective-v1": "effective"}


def _problem(file: str, pointer: str, rule: str, message: str, hint: str | None = None) -> dict:
    return {"file": file, "pointer": pointer, "rule": rule, "message": message, "hint": hint}


def detect_kind(doc: Any, name: str) -> str:
    """Which schema a document follows: from its file name, its $schema, or its keys."""
    base = os.path.basename(name)
    if base == MANIFEST:
        return "manifest"
    if base == "registry.json":
        return "registry"
    if isinstance(doc, dict):
        declared = doc.get("$schema")
        if isinstance(declared, str):
            for marker, kind in _SCHEMA_HINT.items():
                if marker in declared:
                    return kind
        if "metadata" in doc or "server" in doc:
            return "manifest"
        servers = doc.get("servers")
        if isinstance(servers, dict):
            entries = [v for v in servers.values() if isinstance(v, dict)]
            if entries and all("passEnv" in v or "launch" in v for v in entries):
                return "effective"
            if entries and all("location" in v or "source" in v for v in entries):
                return "registry"
            return "config"
    raise UsageError(f"cannot tell whether {name} is a manifest, a registry or a config file",
                     path=name, hint="name the kind with --schema manifest|registry|config|effective",
                     code="unknown_kind")


def _reference_problems(doc: Any, file: str) -> list[dict]:
    """${VAR} and ${VAR:-default} references must be well formed wherever expansion happens."""
    found = []

    def walk(value: Any, parts: list) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, parts + [key])
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, parts + [index])
        elif isinstance(value, str):
            value = value.replace(expand.ESCAPE, "")  # an escaped, literal "${"
            bad = [m.group(0) for m in _REFERENCE.finditer(value) if not expand.BODY.fullmatch(m.group(1))]
            unclosed = value.count("${") > len(_REFERENCE.findall(value))
            if bad or unclosed:
                what = engine.show(bad[0]) if bad else 'an unclosed "${"'
                found.append(_problem(file, engine.pointer(parts), "variable-syntax",
                                      f"malformed variable reference: {what}",
                                      "write ${NAME} or ${NAME:-default}; NAME is letters, digits and _; "
                                      "write $${ for a literal ${"))

    server = doc.get("server") if isinstance(doc, dict) else None
    if isinstance(server, dict):
        for key in ("command", "args", "env", "url", "headers"):
            if key in server:
                walk(server[key], ["server", key])
    servers = doc.get("servers") if isinstance(doc, dict) and not isinstance(server, dict) else None
    if isinstance(servers, dict):  # a config layer: the values the launcher expands
        for name, layer in servers.items():
            for key in ("env", "args", "headers"):
                if isinstance(layer, dict) and key in layer:
                    walk(layer[key], ["servers", name, key])
    return found


def _env_names(entries: Any) -> list[str]:
    names = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, str):
            names.append(entry)
        elif isinstance(entry, dict) and isinstance(entry.get("name"), str):
            names.append(entry["name"])
    return names


def _manifest_semantics(doc: Any, file: str) -> list[dict]:
    found = _reference_problems(doc, file)
    server = doc.get("server") if isinstance(doc, dict) else None
    if isinstance(server, dict):
        both = sorted(set(_env_names(server.get("requiredEnv"))) & set(_env_names(server.get("optionalEnv"))))
        for name in both:
            found.append(_problem(file, "/server/optionalEnv", "env-overlap",
                                  f"{name} is listed as both required and optional",
                                  "keep it in requiredEnv or in optionalEnv, not both"))
    return found


# What JSON may hold but nothing downstream can carry: (rule, message, hint) by kind.
_UNCARRIABLE = {
    "surrogate": ("not_utf8", "a lone surrogate escape (\\ud800-\\udfff) is not text",
                  "write the character itself, or a surrogate pair"),
    "nul": ("nul-character", "a NUL character (\\u0000) cannot be part of a command, an argument, a "
            "variable, a file name or a setting", "remove the \\u0000"),
    "infinite": ("not-finite", "a number too large for JSON (it overflows to infinity)",
                 "write a smaller number, or the value as a string"),
}


def uncarriable(value: Any, pointer: str = "") -> tuple[str, str] | None:
    """(JSON pointer, kind) of the first value that JSON allows but no environment, argv, file or
    later JSON writer takes: a lone surrogate or a NUL in a string or key ("surrogate", "nul"), a
    number that overflowed to infinity ("infinite"). None when there is none."""
    def bad(text: str) -> str | None:
        if "\0" in text:
            return "nul"
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "surrogate"
        return None

    if isinstance(value, str):
        kind = bad(value)
        return (pointer, kind) if kind else None
    if isinstance(value, float):
        return (pointer, "infinite") if value != value or value in (float("inf"), float("-inf")) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        here = pointer + "/" + str(key).replace("~", "~0").replace("/", "~1")
        kind = bad(key) if isinstance(key, str) else None
        if kind:
            return here.encode("utf-8", "backslashreplace").decode("utf-8").replace("\0", "\\u0000"), kind
        found = uncarriable(item, here)
        if found is not None:
            return found
    return None


def uncarriable_problem(value: Any, file: str) -> dict | None:
    """uncarriable as a validation problem."""
    found = uncarriable(value)
    if found is None:
        return None
    pointer, kind = found
    rule, message, hint = _UNCARRIABLE[kind]
    return _problem(file, pointer.replace("\0", "\\u0000"), rule, message, hint)


def validate_document(doc: Any, kind: str, file: str) -> list[dict]:
    bad = uncarriable_problem(doc, file)
    if bad is not None:  # "\ud800", "\u0000", 1e999: JSON allows them, no environment, argv or file takes them
        return [bad]
    problems = [dict(p, file=file) for p in engine.validate(doc, kind)]
    if kind == "manifest":
        problems += _manifest_semantics(doc, file)
    elif kind == "config":
        problems += _reference_problems(doc, file)
    return problems


def _inside(root: Path, candidate: Path) -> bool:
    return candidate == root or root in candidate.parents


def _folder_reference_problems(folder: Path, doc: dict, file: str) -> list[dict]:
    """Files that command/args name inside the folder must exist there and stay inside."""
    server = doc.get("server") if isinstance(doc.get("server"), dict) else {}
    real = folder.resolve()
    refs: list[tuple[str, str]] = []
    command = server.get("command")
    if isinstance(command, str):
        refs.append(("/server/command", command))
    for index, arg in enumerate(server.get("args") or []):
        if isinstance(arg, str) and SERVER_DIR_VAR in arg:
            refs.append((f"/server/args/{index}", arg))
    found = []
    for where, value in refs:
        if value.startswith(SERVER_DIR_VAR + "/"):
            relative = value[len(SERVER_DIR_VAR) + 1:]
        elif where == "/server/command" and "/" in value and not value.startswith("/") and "$" not in value:
            relative = value  # a relative command path is relative to the server folder
        else:
            continue
        if not relative or "$" in relative:
            continue
        target = Path(os.path.normpath(real / relative))
        if not _inside(real, target) or ".." in Path(relative).parts:
            found.append(_problem(file, where, "path-escape", f"{engine.show(value)} points outside the server folder",
                                  "name a file inside the server folder"))
            continue
        if Path(relative).parts[0] in GENERATED_DIRS:
            continue
        if not os.path.lexists(target):
            found.append(_problem(file, where, "file-exists", f"{engine.show(value)} names a file that does not exist",
                                  f"add {relative} to the server folder, or fix the name"))
        elif not _inside(real, target.resolve()):
            found.append(_problem(file, where, "path-escape",
                                  f"{engine.show(value)} is a symlink that leaves the server folder",
                                  "ship the file itself instead of a link to it"))
    return found


def _extras_problems(folder: Path, doc: dict, file: str) -> list[dict]:
    """Each extra's requirements file is a regular file in the folder itself (the schema checked
    its name), and the server is a Python one: only its venv takes extras."""
    extras = doc.get("extras")
    if not isinstance(extras, dict) or not extras:
        return []
    found = []
    if not any(os.path.isfile(folder / name) for name in ("requirements.txt", "pyproject.toml")):
        found.append(_problem(file, "/extras", "extras-python", "extras are for Python servers, and this folder has "
                              "no requirements.txt or pyproject.toml", "add requirements.txt, or remove \"extras\""))
    for name, extra in extras.items():
        requirements = extra.get("requirements") if isinstance(extra, dict) else None
        if not isinstance(requirements, str) or "/" in requirements or requirements in ("", ".", ".."):
            continue  # the schema says what is wrong with it
        where, target = f"/extras/{engine.pointer([name])[1:]}/requirements", folder / requirements
        try:
            mode = os.lstat(target).st_mode
        except OSError:
            found.append(_problem(file, where, "file-exists", f"{engine.show(requirements)} names a file that does "
                                  "not exist", f"add {requirements} to the server folder, or fix the name"))
            continue
        if stat.S_ISLNK(mode):
            found.append(_problem(file, where, "path-escape", f"{engine.show(requirements)} is a symlink",
                                  "ship the requirements file itself instead of a link to it"))
        elif not stat.S_ISREG(mode):
            found.append(_problem(file, where, "special-file", f"{engine.show(requirements)} is not a regular file",
                                  "make it a requirements file"))
    return found


def _tree_problems(folder: Path) -> list[dict]:
    """No symlink leaves the folder, no special files, nothing world-writable."""
    real = folder.resolve()
    found = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not (Path(current) == folder and d in SKIPPED_DIRS))
        for name in sorted(dirs) + sorted(files):
            path = Path(current) / name
            shown = str(path)
            st = path.lstat()
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:  # bytes that are not UTF-8, as os.fsdecode gives them back
                shown = os.fsencode(shown).decode("utf-8", "backslashreplace")
                found.append(_problem(shown, "", "not_utf8", "the file name is not UTF-8 (no manifest, log or "
                                      "client config can name it)", "rename it with UTF-8 characters"))
                continue
            if stat.S_ISLNK(st.st_mode):
                target = Path(os.path.normpath(Path(current).resolve() / os.readlink(path)))
                if not _inside(real, target) or not _inside(real, path.resolve()):
                    found.append(_problem(shown, "", "symlink-escape",
                                          f"symlink leaves the server folder (-> {os.readlink(path)})",
                                          "replace the link with the file itself"))
            elif not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                found.append(_problem(shown, "", "special-file",
                                      "device files, sockets and pipes are not allowed in a server folder",
                                      "remove it"))
            elif st.st_mode & stat.S_IWOTH:
                found.append(_problem(shown, "", "world-writable",
                                      f"writable by every user (mode {stat.S_IMODE(st.st_mode):o})",
                                      f"chmod o-w {shown}"))
    return found


def validate_folder(folder: Path) -> list[dict]:
    manifest = folder / MANIFEST
    shown = str(manifest)
    if not manifest.exists() and not manifest.is_symlink():
        raise InvalidInput(f"{folder} is a directory but not a server folder: it has no {MANIFEST}",
                           path=str(folder), hint=f"add {MANIFEST}, or name a file instead of a directory",
                           code="not_a_server_folder")
    try:
        doc = jsonio.load(manifest)
    except ClaudexError as exc:
        if isinstance(exc, NotFound):
            raise
        return [_problem(shown, "", exc.code, exc.message, exc.hint)] + _tree_problems(folder)
    problems = validate_document(doc, "manifest", shown)
    if isinstance(doc, dict):
        problems += _folder_reference_problems(folder, doc, shown) + _extras_problems(folder, doc, shown)
    return problems + _tree_problems(folder)


def is_registry_folder(folder: Path) -> bool:
    """A registry folder: no manifest.json of its own, and registry.json or a location folder."""
    from claudex_mcp import paths

    return not (folder / MANIFEST).exists() and (
        (folder / paths.REGISTRY_FILE).exists() or any((folder / loc).is_dir() for loc in paths.LOCATIONS))


def validate_registry_folder(folder: Path) -> list[dict]:
    """Every server folder in core/, installed/ and disabled/ (as a folder: manifest, files,
    links, modes), registry.json and the global config layer (config.json), when present."""
    from claudex_mcp import paths

    problems: list[dict] = []
    for name, kind in ((paths.REGISTRY_FILE, "registry"), ("config.json", "config")):
        if (folder / name).exists() or (folder / name).is_symlink():
            problems += validate_source(str(folder / name), kind)[1]
    for location in paths.LOCATIONS:
        where = folder / location
        if not where.is_dir():
            continue
        for server in sorted(where.iterdir()):
            if server.name.startswith("."):  # staging and backups of an unfinished mutation
                continue
            if server.is_symlink() or not server.is_dir():
                problems.append(_problem(str(server), "", "not_a_server_folder",
                                         f"{location}/ holds only server folders; {server.name} is not one",
                                         "move it out of the registry"))
            elif not (server / MANIFEST).exists():
                problems.append(_problem(str(server), "", "not_a_server_folder", f"it has no {MANIFEST}",
                                         f"add {MANIFEST}, or move the folder out of the registry"))
            else:
                problems += validate_folder(server)
    return problems + _sync_problems(folder)


def _sync_problems(folder: Path) -> list[dict]:
    """registry.json against the server folders, which are the truth: a server it does not
    record (an install killed between its commit and its record), or records in another place
    or not at all on disk. A registry.json that is itself invalid was reported already."""
    from claudex_mcp import paths

    file = str(folder / paths.REGISTRY_FILE)
    try:
        doc = jsonio.load(file)
    except ClaudexError:
        return []
    recorded = doc.get("servers") if isinstance(doc, dict) else None
    if not isinstance(recorded, dict) or not all(isinstance(r, dict) for r in recorded.values()):
        return []
    hint = "run 'claudex mcp cache refresh' (or any install, enable or disable): registry.json is rewritten from the folders"
    found = []
    on_disk = paths.server_folders(folder)
    for name, (location, _) in sorted(on_disk.items()):
        record = recorded.get(name)
        if record is None:
            found.append(_problem(file, f"/servers", "out-of-sync", f"{location}/{name} is not recorded", hint))
        elif record.get("location") != location:
            found.append(_problem(file, f"/servers/{name}/location", "out-of-sync",
                                  f"records {name} in {record.get('location')}/, but it is in {location}/", hint))
    for name in sorted(set(recorded) - set(on_disk)):
        found.append(_problem(file, f"/servers/{name}", "out-of-sync", f"records {name}, which has no folder", hint))
    return found


def validate_source(source: str, kind: str | None = None, *, stdin: BinaryIO | None = None) -> tuple[str, list[dict]]:
    """Validate a path (file or server folder) or ``-``; returns (kind, problems)."""
    name = jsonio.display_name(source)
    if source != jsonio.STDIN:
        path = Path(source)
        if not path.exists() and not path.is_symlink():
            raise NotFound(f"no such file or directory: {source}", path=source,
                           hint="check the path; relative paths start at the current directory")
        if path.is_dir() and kind in (None, "registry") and is_registry_folder(path):
            return "registry folder", validate_registry_folder(path)
        if path.is_dir():
            if kind not in (None, "manifest"):
                raise InvalidInput(f"{source} is a directory, but a {kind} file is expected", path=source,
                                   hint="name the JSON file itself", code="is_directory")
            return "manifest", validate_folder(path)
    try:
        doc = jsonio.load(source, stdin=stdin)
    except NotFound:
        raise
    except InvalidInput as exc:
        return kind or "unknown", [_problem(name, "", exc.code, exc.message, exc.hint)]
    if not isinstance(doc, dict) and kind is None:
        return "unknown", [_problem(name, "", "type", f"the document is a JSON {_json_type(doc)}, not an object",
                                    "manifests, registries and config files are JSON objects: { ... }")]
    kind = kind or detect_kind(doc, name)
    return kind, validate_document(doc, kind, name)


def _json_type(value: Any) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}
    return names.get(type(value), type(value).__name__)

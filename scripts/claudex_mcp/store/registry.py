"""The registry on disk: its folders, its registry.json (reading it, reconciling it with the
folders, writing it under the lock), and creating them. It knows nothing of the cache or the
index above it: the cache's fingerprint sees every change made here."""

from __future__ import annotations

import os
import re
from pathlib import Path

from claudex_mcp import atomic, jsonio, paths
from claudex_mcp.errors import ClaudexError, InvalidInput, NotFound
from claudex_mcp.store.lock import registry_lock

DIR_MODE = 0o755
FILE_MODE = 0o644
EXTRA_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")  # manifest-v1's extraName


def empty_index() -> dict:
    return {"apiVersion": "v1", "servers": {}}


def _mkdir(path: Path, created: list[str]) -> None:
    if path.is_dir():
        return
    if path.exists() or path.is_symlink():
        raise InvalidInput(f"{path} exists but is not a directory", path=str(path),
                           hint="move it away, or point CLAUDEX_MCP_REGISTRY elsewhere", code="not_a_directory")
    try:
        path.mkdir(mode=DIR_MODE)
    except PermissionError:
        raise InvalidInput(f"permission denied creating {path}", path=str(path),
                           hint="set CLAUDEX_MCP_REGISTRY to a folder you can write", code="permission_denied") from None
    except OSError as exc:  # e.g. a regular file where a parent folder should be
        raise InvalidInput(f"cannot create {path}: {exc.strerror}", path=str(path),
                           hint="point CLAUDEX_MCP_REGISTRY at a folder path you can create", code="not_a_directory") from None
    os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask
    created.append(str(path))


def init(registry: Path) -> list[str]:
    """Create whatever is missing of the registry layout; return the paths created.
    Existing files are never rewritten, so a second run changes nothing."""
    created: list[str] = []
    index = paths.registry_file(registry)
    if index.exists():
        _check_index(index)  # before creating anything: bad state changes nothing on disk
    missing_parents = [p for p in reversed(registry.parents) if not p.exists()]
    for parent in missing_parents + [registry]:
        _mkdir(parent, created)
    with registry_lock(registry):
        for location in paths.LOCATIONS:
            _mkdir(registry / location, created)
        if not index.exists():
            atomic.write_json(index, empty_index(), mode=FILE_MODE)
            created.append(str(index))
    return created


def _check_index(index: Path) -> None:
    from claudex_mcp.schemas import validation

    try:
        doc = jsonio.load(index)
    except ClaudexError as exc:
        raise InvalidInput(f"{index} is not a valid registry: {exc.message}", path=str(index),
                           hint=f"run 'claudex mcp validate {index}' to see every problem", code="invalid_registry") from None
    problems = validation.validate_document(doc, "registry", str(index))
    if problems:
        first = problems[0]
        raise InvalidInput(f"{index} is not a valid registry: {first['pointer'] or '/'}: {first['message']}",
                           path=str(index), hint=f"run 'claudex mcp validate {index}' to see every problem",
                           code="invalid_registry")


def read_recorded(registry: Path) -> tuple[dict | None, str | None]:
    """The servers registry.json records, or (None, why) when it is missing or invalid."""
    from claudex_mcp.schemas import validation

    index_file = paths.registry_file(registry)
    try:
        doc = jsonio.load(index_file)
    except NotFound:
        return None, f"{index_file} is missing"
    except ClaudexError as exc:
        return None, f"{index_file} is corrupt ({exc.message})"
    problems = validation.validate_document(doc, "registry", str(index_file))
    if problems:
        first = problems[0]
        return None, f"{index_file} is invalid ({first['pointer'] or '/'}: {first['message']})"
    return doc["servers"], None


def read_records(registry: Path) -> dict:
    """The servers registry.json records ({} when it is missing or invalid)."""
    recorded, _ = read_recorded(registry)
    return dict(recorded or {})


def write_records(registry: Path, records: dict) -> bool:
    """Replace registry.json's servers (the caller holds the registry lock); False when it
    already said exactly that."""
    return atomic.write_json(paths.registry_file(registry),
                             {"apiVersion": "v1", "servers": dict(sorted(records.items()))})


def manifest_digest(data: bytes) -> str:
    """What registry.json and the index record of a manifest's bytes."""
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def read_marker(folder: Path) -> dict:
    """The install marker a server folder carries ({} when it has none): the source it came
    from, when, and for a folder source the digest of that folder's tree."""
    import json

    from claudex_mcp.errors import ClaudexError
    from claudex_mcp.store.staging import MARKER

    try:
        marker = json.loads(jsonio.read_bytes(folder / MARKER, follow_symlinks=False))
    except (OSError, ValueError, ClaudexError):
        return {}
    return marker if isinstance(marker, dict) else {}


def default_source(location: str, folder: Path) -> dict:
    # A folder registry.json does not know: core servers ship with claudex; anything else is
    # recorded as coming from its own folder, which an upgrade re-copies unchanged.
    return {"type": "core"} if location == "core" else {"type": "path", "path": str(folder)}


def reconciled(registry: Path) -> dict:
    """registry.json's records brought in line with the folders, which are the truth after an
    interrupted operation: entries without a folder go, folders without an entry are added (with
    the source their install marker recorded), locations, versions, digests and the extras
    installed (the marker's) follow the folders. Every mutation writes this (plus its own
    change), so registry.json converges."""
    import json

    from claudex_mcp.errors import ClaudexError
    from claudex_mcp.versions import parse

    records = read_records(registry)
    updated = {}
    for name, (location, folder) in paths.server_folders(registry).items():
        record = dict(records.get(name) or {})
        try:
            data = jsonio.read_bytes(folder / "manifest.json")
            version = json.loads(data)["metadata"]["version"]
            record["manifestDigest"] = manifest_digest(data)
        except (OSError, ValueError, KeyError, TypeError, ClaudexError):
            version = None
        marker = read_marker(folder)
        if not record.get("source"):
            record.update({k: marker[k] for k in ("source", "installedAt") if k in marker})
            record.setdefault("source", default_source(location, folder))
        if marker:  # the extras its venv holds, as the install that built it wrote them
            extras = marker.get("extras")
            extras = sorted({x for x in extras if isinstance(x, str) and EXTRA_NAME.fullmatch(x)}) \
                if isinstance(extras, list) else []
            if extras:
                record["extras"] = extras
            else:
                record.pop("extras", None)
        record["location"] = location
        record["version"] = version if isinstance(version, str) and parse(version) else record.get("version", "0.0.0")
        updated[name] = record
    return updated


# What running a server writes into its own folder, and the install record itself: left out of
# its content digest, so that a server that ran still verifies.
UNDIGESTED_DIRS = {"__pycache__"}
UNDIGESTED_SUFFIXES = (".pyc",)


def content_digest(folder: Path) -> str:
    """A digest of everything an installed server folder holds (its environment too: .venv,
    node_modules), as `verify` recomputes it: each path, its kind, whether it is executable, and
    its bytes or link target. Nothing is followed; byte code and the install record are left
    out; a special file counts by its kind alone (validation refuses them at install). Every install writes it into the record (install/lifecycle.py, adopt.py); `verify` recomputes it (catalog/provenance.py)."""
    import hashlib
    import os
    import stat

    from claudex_mcp.store.staging import MARKER

    digest = hashlib.sha256()
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in UNDIGESTED_DIRS)
        rel_dir = os.path.relpath(current, folder)
        for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(current, d))]):
            rel = name if rel_dir == "." else os.path.join(rel_dir, name)
            if name.endswith(UNDIGESTED_SUFFIXES) or rel == MARKER:
                continue
            path = os.path.join(current, name)
            st = os.lstat(path)
            digest.update(os.fsencode(rel) + b"\0")
            if stat.S_ISLNK(st.st_mode):
                digest.update(b"l" + os.fsencode(os.readlink(path)))
            elif stat.S_ISREG(st.st_mode):
                digest.update(b"x" if st.st_mode & 0o100 else b"f")
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
                try:
                    while data := os.read(fd, 1024 * 1024):
                        digest.update(data)
                finally:
                    os.close(fd)
            else:
                digest.update(b"s")
            digest.update(b"\0")
    return "sha256:" + digest.hexdigest()


def content_fingerprint(folder: Path) -> str:
    """What the same files look like to ``stat`` (relative path, size, mtime, ctime, inode, mode),
    with the same files left out as ``content_digest``: cheap to compute, and the same while no
    file was touched (a user cannot set ctime back). Recorded with the digest at install, so a
    reader (`status`) can tell that a server is unchanged without reading it; a different one
    only means the digest must be computed (a hard link added to a shared file changes its ctime)."""
    import hashlib
    import os

    from claudex_mcp.store.staging import MARKER

    digest = hashlib.sha256()
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in UNDIGESTED_DIRS)
        rel_dir = os.path.relpath(current, folder)
        for name in sorted(files):
            rel = name if rel_dir == "." else os.path.join(rel_dir, name)
            if name.endswith(UNDIGESTED_SUFFIXES) or rel == MARKER:
                continue
            try:
                st = os.lstat(os.path.join(current, name))
            except OSError:
                continue
            digest.update(os.fsencode(rel) + f"\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\0"
                          f"{st.st_mode}\n".encode())
    return digest.hexdigest()

"""A store of qdrant-client's local mode (the embedded store before qdrant-edge), read from its
files without qdrant-client, so that a server without it (qdrant without its server extra)
still migrates its users' stores.

The format, as qdrant-client 1.x writes it: ``<store>/meta.json`` holds each collection's
config (``{"collections": {name: {"vectors": {"size", "distance", ...}, ...}}, "aliases": ...}``),
and ``<store>/collection/<name>/storage.sqlite`` its points: a table ``points(id TEXT PRIMARY KEY,
point BLOB)`` whose ``point`` is a pickled ``qdrant_client.http.models.models.PointStruct``. An
older version may have left several rows for one point (one per spelling of a UUID); the last
written (highest rowid) wins, as qdrant-client reads them.

A pickle from disk may name any callable, and loading it would call it: the unpickler here
gives qdrant-client's model classes a plain holder of their state and refuses every other
global, so reading a tampered file fails with StoreError and runs nothing.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import StoreError

# Where qdrant-client's pydantic models live; a pickled point names only these.
_MODEL_MODULES = ("qdrant_client.http.models.models", "qdrant_client.models")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")
DISTANCES = ("Cosine", "Dot", "Euclid", "Manhattan")


class _Model:
    """What a pickled qdrant-client model becomes: the state pickle gives it, nothing run."""

    kind = "?"
    state: Any = None  # pickle makes the object without __init__, then hands it its state

    def __init__(self, *_: Any) -> None:  # called only by a pickle that names the class with arguments
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def fields(self) -> dict:
        # pydantic 2 and 1 both pickle {"__dict__": fields, ...}.
        state = self.state
        inner = state.get("__dict__") if isinstance(state, dict) else None
        return inner if isinstance(inner, dict) else {}


_HOLDERS: dict[str, type[_Model]] = {}


class _Refused(pickle.UnpicklingError):
    """The pickle names something the unpickler will not give it."""


class _PointUnpickler(pickle.Unpickler):
    """Unpickles a point of qdrant-client's local mode, and nothing that could run code."""

    def find_class(self, module: str, name: str) -> type:
        if module in _MODEL_MODULES and name.isidentifier():
            holder = _HOLDERS.get(name)
            if holder is None:
                holder = _HOLDERS[name] = type(name, (_Model,), {"kind": name})
            return holder
        raise _Refused(f"it names {module}.{name}, which is not one of qdrant-client's models")

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("it holds a persistent id")


@dataclass
class Collection:
    """One collection of the old store, read whole before anything is copied."""

    name: str
    size: int
    distance: str
    points: list[tuple[int | str, list[float], dict]] = field(default_factory=list)
    without_vector: int = 0  # points whose vector was deleted: nothing to copy


def _point_id(value: Any, where: str) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2 ** 64:
        return value
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))  # one spelling per UUID, as qdrant-client normalises it
        except ValueError:
            pass
    raise StoreError(f"{where}: the point id {value!r} is neither an unsigned integer nor a UUID")


def _vector(value: Any, size: int, where: str) -> list[float] | None:
    if isinstance(value, dict):  # named vectors: only the unnamed one ("") is ours
        if set(value) - {""}:
            raise StoreError(f"{where}: the point has named vectors {sorted(value)}, which the servers never wrote")
        value = value.get("")
        if value is None:
            return None
    if not isinstance(value, list) or len(value) != size or \
            not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
        raise StoreError(f"{where}: the point's vector is not a list of {size} numbers")
    return [float(x) for x in value]


def _load_point(blob: Any, where: str) -> dict:
    if not isinstance(blob, bytes):
        raise StoreError(f"{where}: the point is not a pickled object")
    try:
        point = _PointUnpickler(io.BytesIO(blob)).load()
    except _Refused as exc:
        raise StoreError(f"{where}: the point cannot be read safely: {exc}; refused, nothing was run") from None
    except Exception as exc:  # a damaged pickle raises anything from EOFError to TypeError
        raise StoreError(f"{where}: the point cannot be read ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(point, _Model) or point.kind != "PointStruct":
        raise StoreError(f"{where}: the row holds {getattr(point, 'kind', type(point).__name__)}, not a point")
    return point.fields()


def _read_points(path: Path, collection: Collection, where: str) -> None:
    """The points of one collection's storage.sqlite, opened read-only: the old files stay as they are."""
    uri = Path(os.path.abspath(path)).as_uri() + "?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"{where} cannot be opened: {exc}") from None
    try:
        rows = db.execute("SELECT rowid, point FROM points ORDER BY rowid DESC").fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"{where} cannot be read: {exc}") from None
    finally:
        db.close()
    seen: set[int | str] = set()
    for rowid, blob in rows:
        row = f"{where}, row {rowid}"
        fields = _load_point(blob, row)
        point_id = _point_id(fields.get("id"), row)
        if point_id in seen:
            continue  # an older copy of a point written again since
        seen.add(point_id)
        vector = _vector(fields.get("vector"), collection.size, row)
        payload = fields.get("payload") or {}
        try:  # JSON, as qdrant-client stored it: a tampered row could hold bytes or sets
            payload = json.loads(json.dumps(payload)) if isinstance(payload, dict) else None
        except (TypeError, ValueError, RecursionError):
            payload = None
        if payload is None:
            raise StoreError(f"{row}: the point's payload is not a JSON object")
        if vector is None:
            collection.without_vector += 1
        else:
            collection.points.append((point_id, vector, payload))
    collection.points.reverse()  # in the order they were written


def read(store: Path) -> tuple[list[Collection], dict[str, str]]:
    """Every collection of the local-mode store at ``store`` with its points, and those left out
    with the reason (named vectors, a name no server would give). Raises StoreError, naming the
    file and row, when a file cannot be read or holds what qdrant-client never writes."""
    meta_path = store / "meta.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"{meta_path} cannot be read: {exc}") from None
    configs = meta.get("collections") if isinstance(meta, dict) else None
    if not isinstance(configs, dict):
        raise StoreError(f"{meta_path} has no collections object: it is not a store of qdrant-client's local mode")
    collections: list[Collection] = []
    skipped: dict[str, str] = {}
    base = store / "collection"
    for name, config in sorted(configs.items()):
        vectors = config.get("vectors") if isinstance(config, dict) else None
        if not _SAFE_NAME.fullmatch(name) or name in (".", ".."):
            skipped[name] = "a collection name with characters the servers never used"
            continue
        if not isinstance(vectors, dict) or not isinstance(vectors.get("size"), int) or \
                isinstance(vectors.get("size"), bool) or vectors.get("distance") not in DISTANCES:
            skipped[name] = "named vectors, which the servers never wrote"
            continue
        collection = Collection(name, vectors["size"], vectors["distance"])
        folder = base / name
        storage = folder / "storage.sqlite"
        if folder.is_symlink() or storage.is_symlink():
            raise StoreError(f"{storage} is a symbolic link: a store of qdrant-client's local mode has none")
        if storage.is_file():
            _read_points(storage, collection, str(storage))
        collections.append(collection)
    return collections, skipped

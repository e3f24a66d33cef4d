"""The embedded store on Qdrant's own engine (qdrant-edge, in process): one folder per store, one
shard per collection, owned by one process for its whole life (the claudex gateway's shared
server, or a server started alone). A second process that opens the same store is refused at once
with StoreOwned, which says what to do, instead of waiting or failing half-way.

``EdgeStore`` answers the part of qdrant-client's API the servers use (get_collections,
collection_exists, get_collection, create_collection, delete_collection, upsert, query_points,
retrieve, delete, count, scroll), taking qdrant-client's models or their dict form
(``{"size", "distance"}`` for vectors_config, ``{"id", "vector", "payload"}`` for a point,
``{"must": [{"key", "match": {"value"}}]}`` for a filter, a list of ids or ``{"points"}`` /
``{"filter"}`` for a points selector), so a server's code is the same against a Qdrant server
(QDRANT_URL, qdrant-client) and the embedded store, and a server without qdrant-client installed
(codequery without its server extra) uses the dict forms.

Layout: ``<store>/edge/owner.lock`` (held while the process owns the store),
``<store>/edge/shards/<collection>/`` (qdrant-edge's files) and ``<store>/edge/collections/<collection>.json``
(size and distance; qdrant-edge keeps them but does not tell them). A store qdrant-client's local
mode wrote (``<store>/meta.json``) is copied into this layout on first open (``legacy="migrate"``;
its files are read directly, by local_mode.py: qdrant-client is not needed); its files are left as
they were (delete ``<store>/collection`` and ``<store>/meta.json`` once the copy is checked). A
caller whose vectors can be computed again (codequery re-indexes from the files) opens with
``legacy="drop"``: the old files are deleted unread.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .errors import StoreError

EDGE_DIR = "edge"
OWNER_LOCK = "owner.lock"
_DISTANCES = ("Cosine", "Dot", "Euclid", "Manhattan")
_SCROLL_PAGE = 1000
LEGACY = ("migrate", "drop")  # what opening a store does with one of qdrant-client's local mode
MIGRATED_FROM = "qdrant-client local mode"


class StoreOwned(Exception):
    """Another process owns the embedded store."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"the embedded Qdrant store {path} is open in another process (one process owns a store)")
        self.path = path
        self.hint = ("run the server shared through the claudex gateway (`claudex mcp run NAME` connects every agent "
                     "to one process), stop the other process, or point this one at another folder "
                     "(QDRANT_PATH / CODEQUERY_DATA) or at a Qdrant server (QDRANT_URL)")


def _edge():
    import qdrant_edge

    return qdrant_edge


def _write_json(path: Path, doc: dict) -> None:
    # claudex_server is in every server's venv (its requirements.txt), beside this package.
    from claudex_server.files import write_atomic

    write_atomic(path, json.dumps(doc, sort_keys=True).encode())


def _out_id(value: Any) -> int | str:
    return str(value) if isinstance(value, uuid.UUID) else value


def _in_id(value: Any) -> int | str:
    return value if isinstance(value, int) else str(value)


# -- qdrant-client's models into qdrant-edge's ------------------------------------------------

_FILTER_KEYS = ("must", "should", "must_not", "min_should")
_MATCHES = ("value", "any", "except", "except_", "text", "phrase")
_RANGE_KEYS = ("gt", "gte", "lt", "lte")


def convert_filter(spec: Any, where: str = "filter"):
    """A qdrant_client ``models.Filter`` (or its dict form) as a qdrant_edge ``Filter``; None stays
    None. What is not a filter, or a condition the embedded store does not know, raises
    StoreError naming where in the filter (``filter.must[0].match``)."""
    if spec is None:
        return None
    e = _edge()
    if hasattr(spec, "model_dump"):
        spec = spec.model_dump(exclude_none=True)
    if not isinstance(spec, dict):
        raise StoreError(f"{where} is not an object with {', '.join(_FILTER_KEYS)}")
    unknown = sorted(set(spec) - set(_FILTER_KEYS))
    if unknown:
        raise StoreError(f"{where} has {', '.join(map(repr, unknown))}; a filter has {', '.join(_FILTER_KEYS)}")

    def conditions(items: Any, at: str) -> list | None:
        if items is None:
            return None
        if not isinstance(items, list):
            return [condition(items, at)]
        return [condition(c, f"{at}[{i}]") for i, c in enumerate(items)]

    def condition(c: Any, at: str):
        if not isinstance(c, dict):
            raise StoreError(f"{at} is not a condition (an object)")
        try:
            return _condition(e, c, at)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:  # a value of the wrong shape
            raise StoreError(f"{at} is not valid: {exc.__class__.__name__}: {exc}") from None

    min_should = spec.get("min_should")
    if min_should is not None and not (isinstance(min_should, dict) and isinstance(min_should.get("min_count"), int)):
        raise StoreError(f"{where}.min_should is not an object with conditions and min_count")
    return e.Filter(must=conditions(spec.get("must"), f"{where}.must"),
                    should=conditions(spec.get("should"), f"{where}.should"),
                    must_not=conditions(spec.get("must_not"), f"{where}.must_not"),
                    min_should=e.MinShould(conditions(min_should.get("conditions") or [], f"{where}.min_should.conditions"),
                                           min_should["min_count"]) if min_should is not None else None)


def _condition(e, c: dict, at: str):
    """One condition of a filter (see convert_filter) as qdrant-edge's."""
    if any(k in c for k in _FILTER_KEYS):
        return convert_filter(c, at)
    if "has_id" in c:
        return e.HasIdCondition({_in_id(i) for i in c["has_id"]})
    if isinstance(c.get("is_empty"), dict):
        return e.IsEmptyCondition(c["is_empty"]["key"])
    if isinstance(c.get("is_null"), dict):
        return e.IsNullCondition(c["is_null"]["key"])
    if "nested" in c:
        return e.NestedCondition(c["nested"]["key"], convert_filter(c["nested"]["filter"], f"{at}.nested.filter"))
    if not isinstance(c.get("key"), str):
        raise StoreError(f"{at} has no key (a payload field) and is no condition the embedded store supports "
                         f"(it has {', '.join(map(repr, sorted(c))) or 'nothing'})")
    kwargs: dict[str, Any] = {}
    match = c.get("match")
    if match is not None:
        found = [k for k in _MATCHES if isinstance(match, dict) and k in match]
        if not found:
            raise StoreError(f"{at}.match is not one of the matches the embedded store supports "
                             "({\"value\"}, {\"any\"}, {\"except\"}, {\"text\"}, {\"phrase\"})")
        kind = found[0]
        value = match[kind]
        kwargs["match"] = {"value": e.MatchValue, "any": e.MatchAny, "except": e.MatchExcept, "except_": e.MatchExcept,
                           "text": e.MatchText, "phrase": e.MatchPhrase}[kind](value)
    rng = c.get("range")
    if rng is not None:
        if not isinstance(rng, dict) or not set(rng) & set(_RANGE_KEYS):
            raise StoreError(f"{at}.range is not an object with {', '.join(_RANGE_KEYS)}")
        kwargs["range"] = e.RangeFloat(**{k: rng[k] for k in _RANGE_KEYS if k in rng})
    for flag in ("is_empty", "is_null"):
        if isinstance(c.get(flag), bool):
            kwargs[flag] = c[flag]
    unsupported = sorted(set(c) - {"key", "match", "range", "is_empty", "is_null"})
    if unsupported:
        raise StoreError(f"{at} uses {', '.join(map(repr, unsupported))}, which the embedded store does not support")
    if not kwargs:
        raise StoreError(f"{at} on {c['key']!r} has no match or range")
    return e.FieldCondition(key=c["key"], **kwargs)


def _field(value: Any, name: str, default: Any = None) -> Any:
    """``name`` of a qdrant-client model or of its dict form."""
    return value.get(name, default) if isinstance(value, dict) else getattr(value, name, default)


def _selector_ids(selector: Any) -> list | None:
    if isinstance(selector, list):
        return selector
    points = _field(selector, "points")
    return points if isinstance(points, list) else None


# -- the store ------------------------------------------------------------------------------

class EdgeStore:
    """The collections of one store folder, open in this process until ``close``."""

    def __init__(self, path: Path, legacy: str = "migrate") -> None:
        if legacy not in LEGACY:
            raise ValueError(f"legacy must be one of {LEGACY}, not {legacy!r}")
        self.path = Path(path)
        self.root = self.path / EDGE_DIR
        self._lock = threading.RLock()
        self._shards: dict[str, Any] = {}
        self._meta: dict[str, dict] = {}
        self.migrated: dict | None = None
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._owner = os.open(self.root / OWNER_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._owner)
            raise StoreOwned(self.path) from None
        try:
            (self.root / "shards").mkdir(exist_ok=True)
            (self.root / "collections").mkdir(exist_ok=True)
            for meta in sorted((self.root / "collections").glob("*.json")):
                name = meta.name[:-len(".json")]
                if (self.root / "shards" / name).is_dir():
                    self._meta[name] = json.loads(meta.read_text())
            if (self.path / "meta.json").is_file() and legacy == "drop":
                self._drop_local_mode()
            elif (self.path / "meta.json").is_file() and not (self.root / "migrated.json").exists():
                self._migrate_local_mode()
        except BaseException:
            self.close()
            raise

    # ownership ---------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            for shard in self._shards.values():
                try:
                    shard.flush()
                finally:
                    shard.close()
            self._shards.clear()
            if self._owner is not None:
                os.close(self._owner)  # releases the flock: another process may own the store now
                self._owner = None

    def _shard(self, name: str):
        if name not in self._meta:
            raise StoreError(f"Collection {name} not found")
        shard = self._shards.get(name)
        if shard is None:
            shard = self._shards[name] = _edge().EdgeShard.load(str(self.root / "shards" / name))
        return shard

    # collections -------------------------------------------------------------------------
    def get_collections(self):
        with self._lock:
            return SimpleNamespace(collections=[SimpleNamespace(name=n) for n in sorted(self._meta)])

    def collection_exists(self, name: str) -> bool:
        with self._lock:
            return name in self._meta

    def get_collection(self, name: str):
        with self._lock:
            meta = self._meta.get(name)
            if meta is None:
                raise StoreError(f"Collection {name} not found")
            count = self._shard(name).count(_edge().CountRequest(exact=True))
            vectors = SimpleNamespace(size=meta["size"], distance=SimpleNamespace(value=meta["distance"]))
            return SimpleNamespace(points_count=count, config=SimpleNamespace(params=SimpleNamespace(vectors=vectors)),
                                   metadata=meta)

    def create_collection(self, name: str, vectors_config: Any = None, size: int | None = None,
                          distance: str | None = None, **extra: Any) -> bool:
        if vectors_config is not None:
            size = _field(vectors_config, "size")
            distance = _field(vectors_config, "distance")
            distance = getattr(distance, "value", distance)
        if distance not in _DISTANCES or not isinstance(size, int):
            raise StoreError(f"a collection needs a whole size and one of {', '.join(_DISTANCES)} as distance")
        e = _edge()
        with self._lock:
            if name in self._meta:
                raise StoreError(f"Collection {name} already exists")
            folder = self.root / "shards" / name
            if folder.exists():  # a create that died before its metadata: nothing in it is kept
                shutil.rmtree(folder)
            config = e.EdgeConfig(vectors=e.EdgeVectorParams(size=size, distance=getattr(e.Distance, distance)))
            self._shards[name] = e.EdgeShard.create(str(folder), config)
            meta = {"size": size, "distance": distance, **{k: v for k, v in extra.items() if isinstance(v, str)}}
            _write_json(self.root / "collections" / f"{name}.json", meta)
            self._meta[name] = meta
            return True

    def set_metadata(self, name: str, **values: str) -> None:
        """Record facts about a collection beside its size (the embedding model of its texts)."""
        with self._lock:
            meta = dict(self._meta[name], **values)
            _write_json(self.root / "collections" / f"{name}.json", meta)
            self._meta[name] = meta

    def delete_collection(self, name: str) -> bool:
        with self._lock:
            if name not in self._meta:
                return False
            shard = self._shards.pop(name, None)
            if shard is not None:
                shard.close()
            (self.root / "collections" / f"{name}.json").unlink()
            del self._meta[name]
            shutil.rmtree(self.root / "shards" / name, ignore_errors=True)
            return True

    # points ------------------------------------------------------------------------------
    def upsert(self, collection_name: str, points: list, wait: bool = True, **_: Any):
        e = _edge()
        converted = [e.Point(_in_id(_field(p, "id")), list(_field(p, "vector")), dict(_field(p, "payload") or {}))
                     for p in points]
        with self._lock:
            shard = self._shard(collection_name)
            if converted:
                shard.update(e.UpdateOperation.upsert_points(converted))
        return SimpleNamespace(status="completed")

    def query_points(self, collection_name: str, query: list[float], limit: int = 10, query_filter: Any = None,
                     score_threshold: float | None = None, with_payload: bool = True, **_: Any):
        e = _edge()
        request = e.QueryRequest(limit=limit, query=e.Query.Nearest([float(x) for x in query]),
                                 filter=convert_filter(query_filter), score_threshold=score_threshold,
                                 with_payload=with_payload)
        with self._lock:
            hits = self._shard(collection_name).query(request)
        return SimpleNamespace(points=[SimpleNamespace(id=_out_id(h.id), score=h.score, payload=h.payload)
                                       for h in hits])

    def retrieve(self, collection_name: str, ids: list, with_payload: bool = True, with_vectors: bool = False, **_: Any):
        with self._lock:
            records = self._shard(collection_name).retrieve([_in_id(i) for i in ids], with_payload, with_vectors)
        return [SimpleNamespace(id=_out_id(r.id), payload=r.payload, vector=r.vector) for r in records]

    def count(self, collection_name: str, count_filter: Any = None, exact: bool = True, **_: Any):
        with self._lock:
            n = self._shard(collection_name).count(_edge().CountRequest(exact=True, filter=convert_filter(count_filter)))
        return SimpleNamespace(count=n)

    def delete(self, collection_name: str, points_selector: Any, wait: bool = True, **_: Any):
        e = _edge()
        ids = _selector_ids(points_selector)
        if ids is not None:
            operation = e.UpdateOperation.delete_points([_in_id(i) for i in ids])
        else:
            operation = e.UpdateOperation.delete_points_by_filter(convert_filter(_field(points_selector, "filter")))
        with self._lock:
            self._shard(collection_name).update(operation)
        return SimpleNamespace(status="completed")

    def scroll(self, collection_name: str, limit: int = 10, offset: Any = None, scroll_filter: Any = None,
               with_payload: bool = True, with_vectors: bool = False, **_: Any):
        request = _edge().ScrollRequest(offset=None if offset is None else _in_id(offset), limit=limit,
                                        filter=convert_filter(scroll_filter), with_payload=with_payload,
                                        with_vector=with_vectors)
        with self._lock:
            records, next_offset = self._shard(collection_name).scroll(request)
        return ([SimpleNamespace(id=_out_id(r.id), payload=r.payload, vector=r.vector) for r in records],
                None if next_offset is None else _out_id(next_offset))

    def flush(self) -> None:
        with self._lock:
            for shard in self._shards.values():
                shard.flush()

    # migration ---------------------------------------------------------------------------
    def _drop_local_mode(self) -> None:
        """Delete the files of qdrant-client's local mode unread (``legacy="drop"``: the caller
        computes its vectors again), under that store's own lock."""
        from .store import store_lock

        with store_lock(self.path):
            old = self.path / "collection"
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            (self.path / "meta.json").unlink(missing_ok=True)
        self.migrated = {"from": MIGRATED_FROM, "dropped": True}

    def _migrate_local_mode(self) -> None:
        """Copy every collection of qdrant-client's local mode (the store before qdrant-edge) into
        shards, under that store's own lock (a server of the old kind may still use it). The old
        files are read whole first, without qdrant-client (local_mode.py): a file that cannot be
        read raises StoreError before anything is copied. A collection that an interrupted copy
        left half-made is made again."""
        from . import local_mode
        from .store import store_lock

        with store_lock(self.path):
            collections, skipped = local_mode.read(self.path)
            copied: dict[str, int] = {}
            for c in collections:
                existing = self._meta.get(c.name)
                if existing is not None and existing.get("migrated_from") != MIGRATED_FROM:
                    skipped[c.name] = "a collection of that name exists in the embedded store already"
                    continue
                if existing is not None:
                    self.delete_collection(c.name)
                self.create_collection(c.name, size=c.size, distance=c.distance, migrated_from=MIGRATED_FROM)
                for start in range(0, len(c.points), _SCROLL_PAGE):
                    self.upsert(c.name, [{"id": i, "vector": v, "payload": p}
                                         for i, v, p in c.points[start:start + _SCROLL_PAGE]])
                copied[c.name] = len(c.points)
                if c.without_vector:
                    skipped[c.name] = f"{c.without_vector} of its points had no vector (deleted): left out"
        self.flush()
        self.migrated = {"from": MIGRATED_FROM, "collections": copied}
        if skipped:
            self.migrated["skipped"] = skipped
        _write_json(self.root / "migrated.json", self.migrated)


_OPEN: dict[Path, EdgeStore] = {}
_OPEN_LOCK = threading.Lock()


def owned(path: Path, legacy: str = "migrate") -> EdgeStore:
    """The store at ``path``, opened (and owned) by this process on first use, kept open after;
    ``legacy``: what that first open does with a store of qdrant-client's local mode there."""
    key = Path(os.path.abspath(path))
    with _OPEN_LOCK:
        store = _OPEN.get(key)
        if store is None:
            store = _OPEN[key] = EdgeStore(key, legacy)
        return store


def forget(path: Path) -> None:
    """Close the store at ``path`` if this process owns it: another process may own it next."""
    with _OPEN_LOCK:
        store = _OPEN.pop(Path(os.path.abspath(path)), None)
    if store is not None:
        store.close()


def close_all() -> None:
    """Close every store this process owns (at shutdown): flushed, and free for another process."""
    with _OPEN_LOCK:
        stores = list(_OPEN.values())
        _OPEN.clear()
    for store in stores:
        store.close()

"""The qdrant server's store: settings from the environment, the embedded store or a remote
Qdrant, a managed local Qdrant process, and input checks. Never imports mcp; every failure is a
claudex_server ServerError (InvalidInput, NotFound, Conflict, Unavailable) with a message an
agent can act on. The embedded store takes the dict forms of qdrant-client's models, so
qdrant-client (the server extra: `claudex mcp upgrade qdrant --with server`) is needed only for a
Qdrant server at QDRANT_URL."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal
from urllib.parse import urlparse

from claudex_server.errors import Conflict, InvalidInput, NotFound, ServerError, Unavailable
from claudex_server.files import write_atomic
from pydantic import BaseModel, ConfigDict, Field

MAX_LIMIT = 1000
MAX_POINTS = 10000
MAX_SIZE = 65536
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")
# Namespace of the content-derived point ids (uuid5): fixed forever, or ids would change.
ID_NAMESPACE = uuid.UUID("6f3c8a52-7d4b-5e0f-9a1c-2b8e4d6f0a13")
DISTANCES = {"cosine": "Cosine", "dot": "Dot", "euclid": "Euclid", "manhattan": "Manhattan"}
RANGE_OPS = {"gt", "gte", "lt", "lte"}
NATIVE_FILTER_KEYS = {"must", "should", "must_not", "min_should"}
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


# -- inputs --------------------------------------------------------------------------------

class Point(BaseModel):
    """One point to upsert: `text` (embedded by the server) or `vector`, plus a payload."""

    model_config = ConfigDict(extra="forbid")
    id: int | str | None = Field(None, description="Unsigned integer or UUID; derived from the content when absent.")
    text: str | None = Field(None, description="Text to embed; stored in the payload as `text`.")
    vector: list[float] | None = Field(None, description="A ready vector of the collection's size.")
    payload: dict[str, Any] = Field(default_factory=dict, description="JSON object stored with the point.")


# -- settings ------------------------------------------------------------------------------

def _xdg(name: str, default: str) -> Path:
    value = os.environ.get(name, "")
    return Path(value) if os.path.isabs(value) else Path.home() / default


@dataclass
class Settings:
    url: str | None
    api_key: str | None
    path: Path
    binary: str | None
    server_dir: Path

    @property
    def mode(self) -> Literal["embedded", "server"]:
        return "server" if self.url else "embedded"

    @classmethod
    def from_env(cls) -> "Settings":
        data = _xdg("XDG_DATA_HOME", ".local/share") / "claudex"
        path = Path(os.environ["QDRANT_PATH"]).expanduser() if os.environ.get("QDRANT_PATH") else data / "qdrant"
        url = os.environ.get("QDRANT_URL") or None
        binary = os.environ.get("QDRANT_BINARY") or (shutil.which("qdrant") if url else None)
        return cls(url=url.rstrip("/") if url else None, api_key=os.environ.get("QDRANT_API_KEY") or None,
                   path=path, binary=binary, server_dir=data / "qdrant-server")


def check() -> dict:
    """The self-test behind `server.py --check` (status's healthCheck): in server mode, qdrant-client
    (the server extra) is installed and the Qdrant server at QDRANT_URL answers; ok is False (the
    server is degraded) when not, with the one problem and what to do. The embedded store needs
    nothing running, so embedded mode is ok."""
    from claudex_embeddings.store import SERVER_HINT, ClientMissing, qdrant_client, server_problem

    settings = Settings.from_env()
    report: dict = {"ok": True, "problems": [], "mode": settings.mode}
    if settings.url:
        report["url"] = settings.url
        try:
            qdrant_client("qdrant")
        except ClientMissing as exc:  # the server extra is not installed: one problem, its command
            report.update(ok=False, problems=[str(exc)], hint=exc.hint)
            return report
        problem = server_problem(settings.url, settings.api_key)
        if problem:
            report.update(ok=False, problems=[problem], hint=SERVER_HINT)
    else:
        report["path"] = str(settings.path)
    return report


def _qdrant_client():
    """qdrant_client, for a Qdrant server at QDRANT_URL: qdrant's server extra installs it."""
    from claudex_embeddings.store import ClientMissing, qdrant_client

    try:
        return qdrant_client("qdrant")
    except ClientMissing as exc:
        raise Unavailable(str(exc), hint=exc.hint) from None


def _dir_size(path: Path) -> int:
    total = 0
    for current, _dirs, files in os.walk(path):
        for name in files:
            try:
                # Blocks on disk: qdrant-edge preallocates sparse files far larger than their data.
                total += os.lstat(os.path.join(current, name)).st_blocks * 512
            except OSError:
                pass
    return total


# -- the managed local Qdrant process -------------------------------------------------------

class QdrantProcess:
    """A Qdrant server this package started: its pid file records pid, binary and port, so a
    stop never signals a process that is not the one it started."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.server_dir
        self.pid_file = self.dir / "qdrant.pid"
        parsed = urlparse(settings.url or "")
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 6333

    def _record(self) -> dict | None:
        try:
            record = json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        return record if self._alive(record) else None

    @staticmethod
    def _alive(record: dict) -> bool:
        # Same pid, same start time, same command line: a recycled pid is not our process.
        now = _identity(record.get("pid"))
        return bool(now) and now.get("state") != "Z" and now["started"] == record.get("started") and \
            now["cmdline"] == record.get("cmdline")

    def _ready(self, timeout: float = 2.0) -> bool:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.settings.url}/readyz", timeout=timeout) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError, ValueError):  # refused, not ready (an HTTP error), timed out
            return False

    def start(self) -> dict:
        binary = self.settings.binary
        if not binary:
            raise InvalidInput("no Qdrant binary to start", hint="set QDRANT_BINARY or put qdrant on PATH")
        record = self._record()
        if record:
            return {"started": False, "pid": record["pid"], "reason": "already running (started earlier by this server)"}
        if self._ready():
            raise Conflict(f"something already answers at {self.settings.url} that this server did not start; "
                           "it is left alone", hint="use it as it is, or choose another port in QDRANT_URL")
        storage = self.dir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, QDRANT__STORAGE__STORAGE_PATH=str(storage),
                   QDRANT__STORAGE__SNAPSHOTS_PATH=str(self.dir / "snapshots"),
                   QDRANT__SERVICE__HOST=self.host, QDRANT__SERVICE__HTTP_PORT=str(self.port),
                   QDRANT__SERVICE__GRPC_PORT=str(self.port + 1), QDRANT__TELEMETRY_DISABLED="true")
        if self.settings.api_key:
            env["QDRANT__SERVICE__API_KEY"] = self.settings.api_key
        log = open(self.dir / "qdrant.log", "ab")
        try:
            proc = subprocess.Popen([binary], cwd=self.dir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            raise Unavailable(f"could not start {binary}: {exc}") from None
        finally:
            log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise Unavailable(f"{binary} exited with {proc.returncode} before it was ready",
                                  hint=f"see {self.dir / 'qdrant.log'}")
            if self._ready(timeout=1.0):
                # Recorded once it serves: right after the exec /proc may not show the command line yet.
                identity = _identity(proc.pid)
                record = {"pid": proc.pid, "started": identity.get("started"), "cmdline": identity.get("cmdline"),
                          "port": self.port, "storage": str(storage)}
                write_atomic(self.pid_file, json.dumps(record).encode())
                return {"started": True, "pid": proc.pid, "storage": str(storage), "port": self.port}
            time.sleep(0.1)
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise Unavailable(f"{binary} was not ready at {self.settings.url} within {READY_TIMEOUT:.0f} s; stopped it",
                          hint=f"see {self.dir / 'qdrant.log'}")

    def _signal_and_wait(self, pid: int, record: dict) -> str:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        how = "SIGTERM"
        while self._alive(record):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                how = "SIGKILL"
                deadline = float("inf")
            _reap(pid)
            time.sleep(0.05)
        _reap(pid)
        self.pid_file.unlink(missing_ok=True)
        return how

    def stop(self) -> dict:
        record = self._record()
        if record is None:
            self.pid_file.unlink(missing_ok=True)
            return {"stopped": False, "reason": "no Qdrant process started by this server is running; "
                                                "a server it did not start is never stopped"}
        how = self._signal_and_wait(record["pid"], record)
        return {"stopped": True, "pid": record["pid"], "signal": how}

    def running(self) -> dict | None:
        return self._record()


def _identity(pid: Any) -> dict:
    """Start time, state and command line of a live process, from /proc; {} when it is gone."""
    try:
        cmdline = [os.fsdecode(a) for a in Path(f"/proc/{int(pid)}/cmdline").read_bytes().split(b"\0") if a]
        fields = Path(f"/proc/{int(pid)}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, TypeError, ValueError):
        return {}
    return {"started": fields[19], "state": fields[0], "cmdline": cmdline}


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _in_session(method):
    """Run a Store method with the store open (see Store.session)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self.session():
            return method(self, *args, **kwargs)
    return wrapper


# -- the store -----------------------------------------------------------------------------

class Store:
    """One Qdrant connection (embedded or remote), opened on first use; thread-safe."""

    def __init__(self, settings: Settings | None = None, embedder_factory: Callable[[], Any] | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self._client = None
        self._lock = threading.RLock()
        self._embedder = None
        self._embedder_factory = embedder_factory
        self.process = QdrantProcess(self.settings)

    # connection ---------------------------------------------------------------------------
    def _open(self):
        if self._client is not None:
            return self._client
        if self.settings.mode == "embedded":
            from claudex_embeddings.edge import StoreError, StoreOwned, owned

            try:
                self._client = owned(self.settings.path)
            except StoreOwned as exc:
                raise Conflict(str(exc), hint=exc.hint) from None
            except (StoreError, OSError) as exc:
                raise Unavailable(f"the embedded store {self.settings.path} could not be opened: {exc}",
                                  hint="check the folder (QDRANT_PATH) and its permissions") from None
            return self._client
        self._client = _qdrant_client().QdrantClient(url=self.settings.url, api_key=self.settings.api_key, timeout=30)
        return self._client

    def _model(self, kind: str, **fields):
        """qdrant-client's model for a Qdrant server; its dict form for the embedded store."""
        return getattr(_qdrant_client().models, kind)(**fields) if self.settings.mode == "server" else fields

    def _filter(self, spec: dict | None):
        """A filter given to a tool (see build_filter) as the store takes it, checked: a
        qdrant-client Filter for a Qdrant server, the dict form for the embedded store."""
        native = build_filter(spec)
        if native is None:
            return None
        if self.settings.mode == "server":
            from pydantic import ValidationError

            try:
                return _qdrant_client().models.Filter.model_validate(native)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(x) for x in first["loc"])
                raise InvalidInput(f"filter is not a valid Qdrant filter: {where}: {first['msg']}") from None
        from claudex_embeddings.edge import StoreError, convert_filter

        try:
            convert_filter(native)
        except StoreError as exc:
            raise InvalidInput(f"filter is not a valid Qdrant filter for the embedded store: {exc}") from None
        return native

    @contextlib.contextmanager
    def session(self):
        """The store, open for this call and after: the embedded store (qdrant-edge) is owned by
        this process from its first call on (the gateway shares the process between agents; a
        second process is refused with a conflict that says so)."""
        with self._lock:
            yield self._open()

    @property
    def client(self):
        with self._lock:
            return self._open()

    def _call(self, fn: Callable, *args, **kwargs):
        """Run a client call, turning transport failures into Unavailable."""
        from claudex_embeddings.edge import StoreError

        try:
            return fn(*args, **kwargs)
        except ServerError:
            raise
        except StoreError as exc:
            raise InvalidInput(str(exc)) from None
        except Exception as exc:
            from claudex_embeddings.store import unreachable

            if unreachable(exc):
                raise Unavailable(f"Qdrant at {self.settings.url} is not reachable: {exc}",
                                  hint="start it (qdrant_start) or check QDRANT_URL") from None
            if exc.__class__.__name__ == "UnexpectedResponse":
                raise InvalidInput(f"Qdrant refused the request: {exc}") from None
            raise

    def embedder(self):
        if self._embedder is None:
            if self._embedder_factory is not None:
                self._embedder = self._embedder_factory()
            else:
                import claudex_embeddings

                self._embedder = claudex_embeddings.from_env()
        return self._embedder

    def _embed(self, texts: list[str], query: bool = False) -> list[list[float]]:
        from claudex_embeddings import EmbeddingError, embed_query

        try:
            return embed_query(self.embedder(), texts) if query else self.embedder().embed(texts)
        except EmbeddingError as exc:
            raise InvalidInput(str(exc)) from None

    # lifecycle ----------------------------------------------------------------------------
    def start(self) -> dict:
        with self._lock:
            result: dict[str, Any] = {"mode": self.settings.mode}
            if self.settings.mode == "server" and self.settings.binary:
                result["process"] = self.process.start()
            result.update(self.status())
            if not result["reachable"]:
                raise (Conflict if self.settings.mode == "embedded" else Unavailable)(result["error"])
            return result

    def stop(self) -> dict:
        with self._lock:
            # Closing the embedded store lets another process own it; the next call opens it again.
            result: dict[str, Any] = {"mode": self.settings.mode, "closed": self._client is not None}
            self.close()
            if self.settings.mode == "server":
                result["process"] = self.process.stop()
            return result

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                client, self._client = self._client, None
                if self.settings.mode == "embedded":
                    from claudex_embeddings.edge import forget

                    forget(self.settings.path)
                else:
                    client.close()

    # inspection ---------------------------------------------------------------------------
    def status(self) -> dict:
        with self._lock:
            s = self.settings
            out: dict[str, Any] = {"mode": s.mode, "url": s.url, "reachable": False, "version": None,
                                   "collections": [], "embedding_model": None}
            if s.mode == "embedded":
                out["storage_path"] = str(s.path)
                out["storage_bytes"] = _dir_size(s.path) if s.path.exists() else 0
                out["open"] = self._client is not None
                out["locking"] = "owned by this process (pid %d) once open" % os.getpid()
            else:
                running = self.process.running()
                out["managed_process"] = running
                if running:
                    out["storage_path"] = running.get("storage")
                    out["storage_bytes"] = _dir_size(Path(running["storage"]))
            with contextlib.ExitStack() as stack:
                try:
                    client = stack.enter_context(self.session())
                    collections = self._call(client.get_collections).collections
                    out["reachable"] = True
                except (Unavailable, Conflict) as exc:
                    out["error"] = str(exc)
                    return out
                return self._status_of(out, client, collections)

    def _status_of(self, out: dict, client, collections) -> dict:
        s = self.settings
        if s.mode == "embedded":
            from importlib.metadata import version

            out["version"] = f"qdrant-edge {version('qdrant-edge-py')} (embedded)"
            if getattr(client, "migrated", None):
                out["migrated"] = {**client.migrated, "hint": f"the old local-mode files in {s.path} (meta.json, "
                                   "collection/) are no longer read: delete them once the collections look right"}
        else:
            try:
                out["version"] = self._call(client.info).version
            except Exception:  # older servers have no / info; the status is still useful
                out["version"] = None
        out["collections"] = [self._describe(c.name) for c in sorted(collections, key=lambda c: c.name)]
        embedder = self._embedder
        out["embedding_model"] = getattr(embedder, "name", None) if embedder else "not loaded yet"
        return out

    def _describe(self, name: str) -> dict:
        info = self._call(self.client.get_collection, name)
        vectors = info.config.params.vectors
        return {"name": name, "points": info.points_count or 0,
                "size": getattr(vectors, "size", None),
                "distance": getattr(getattr(vectors, "distance", None), "value", None)}

    @_in_session
    def list_collections(self) -> list[dict]:
        with self._lock:
            names = sorted(c.name for c in self._call(self.client.get_collections).collections)
            return [self._describe(n) for n in names]

    def _existing(self, name: str) -> dict:
        check_name(name)
        if not self._call(self.client.collection_exists, name):
            known = sorted(c.name for c in self._call(self.client.get_collections).collections)
            raise NotFound(f"collection {name!r} does not exist",
                           hint=f"existing: {', '.join(known) if known else 'none'}; create it with qdrant_create_collection")
        return self._describe(name)

    # collections --------------------------------------------------------------------------
    @_in_session
    def create_collection(self, name: str, size: int | None = None, distance: str = "cosine") -> dict:
        check_name(name)
        key = distance.lower()
        if key not in DISTANCES:
            raise InvalidInput(f"distance {distance!r} is not one of {', '.join(DISTANCES)}")
        if size is None:
            size = self._embed_dimension()
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_SIZE:
            raise InvalidInput(f"size must be a whole number from 1 to {MAX_SIZE}, not {size!r}")
        with self._lock:
            if self._call(self.client.collection_exists, name):
                existing = self._describe(name)
                if existing["size"] == size and existing["distance"] == DISTANCES[key]:
                    return {**existing, "created": False}
                raise Conflict(f"collection {name!r} already exists with size {existing['size']} and distance "
                               f"{existing['distance']}", hint="choose another name or delete it first")
            self._call(self.client.create_collection, name,
                       vectors_config=self._model("VectorParams", size=size, distance=DISTANCES[key]))
            return {**self._describe(name), "created": True}

    def ensure_collection(self, name: str) -> None:
        """The collection, created with the model's size and cosine when it does not exist."""
        with self.session():
            if not self._call(self.client.collection_exists, name):
                self.create_collection(name)

    def _embed_dimension(self) -> int:
        from claudex_embeddings import EmbeddingError

        try:
            return self.embedder().dimension
        except EmbeddingError as exc:
            raise InvalidInput(str(exc)) from None

    @_in_session
    def delete_collection(self, name: str) -> dict:
        with self._lock:
            info = self._existing(name)
            self._call(self.client.delete_collection, name)
            return {"name": name, "deleted": True, "points": info["points"]}

    # points -------------------------------------------------------------------------------
    def upsert(self, collection: str, points: list[Point | dict], progress: Callable[[int, int], None] | None = None) -> dict:
        parsed = [p if isinstance(p, Point) else _parse_point(p, i) for i, p in enumerate(points)]
        if not parsed:
            raise InvalidInput("points is empty: give at least one point")
        if len(parsed) > MAX_POINTS:
            raise InvalidInput(f"{len(parsed)} points in one call; at most {MAX_POINTS}", hint="split the batch")
        with self.session():
            info = self._existing(collection)
        size = info["size"]
        for i, p in enumerate(parsed):
            _check_point(p, i, size)
        texts = [(i, p.text) for i, p in enumerate(parsed) if p.vector is None]
        vectors: dict[int, list[float]] = {}
        done = 0
        total = len(texts)
        for start in range(0, total, 64):
            chunk = texts[start:start + 64]
            for (i, _), vector in zip(chunk, self._embed([t for _, t in chunk])):
                vectors[i] = vector
            done += len(chunk)
            if progress:
                progress(done, total)
        structs, ids = [], []
        for i, p in enumerate(parsed):
            vector = p.vector if p.vector is not None else vectors[i]
            if len(vector) != size:
                raise InvalidInput(f"the embedding model gives {len(vector)}-d vectors but collection "
                                   f"{collection!r} has size {size}",
                                   hint="create the collection without size to use the model's dimension")
            payload = dict(p.payload)
            if p.text is not None:
                payload["text"] = p.text
            ids.append(point_id(p))
            structs.append(self._model("PointStruct", id=ids[-1], vector=vector, payload=payload))
        with self.session():
            self._call(self.client.upsert, collection, points=structs, wait=True)
            if texts:
                self._note_model(collection)
        return {"collection": collection, "upserted": len(structs), "ids": ids}

    def _note_model(self, collection: str) -> None:
        """The embedded store records which model embedded a collection's texts (the first one)."""
        setter = getattr(self.client, "set_metadata", None)
        if setter is not None and "embedding_model" not in self.client.get_collection(collection).metadata:
            setter(collection, embedding_model=self.embedder().name)

    def _model_warning(self, collection: str) -> str | None:
        """Why a text query may not match this collection's vectors: another model embedded them."""
        info = self.client.get_collection(collection)
        meta = getattr(info, "metadata", None) or {}
        current = self.embedder().name
        recorded = meta.get("embedding_model")
        if recorded and recorded != current:
            return (f"this collection's texts were embedded by {recorded} and the query by {current}: the scores "
                    "mean little; re-upsert the texts into a new collection, or set the EMBEDDINGS_* variables back")
        if not recorded and meta.get("migrated_from"):
            from claudex_embeddings import PREVIOUS_DEFAULT_MODEL

            return (f"this collection was migrated from the store of an earlier version, whose texts were embedded by "
                    f"{PREVIOUS_DEFAULT_MODEL} unless EMBEDDINGS_* said otherwise; the query is embedded by {current}: "
                    "re-upsert its texts into a new collection for good results")
        return None

    @_in_session
    def search(self, collection: str, query: str | None = None, vector: list[float] | None = None,
               limit: int = 10, filter: dict | None = None, score_threshold: float | None = None) -> dict:
        check_limit(limit)
        if (query is None) == (vector is None):
            raise InvalidInput("give exactly one of query (text) or vector")
        if query is not None and not query.strip():
            raise InvalidInput("query is empty: give some text to search for")
        info = self._existing(collection)
        qfilter = self._filter(filter)
        warning = None
        if vector is None:
            vector = self._embed([query], query=True)[0]
            warning = self._model_warning(collection)
        _check_vector(vector, info["size"], "vector")
        with self._lock:
            hits = self._call(self.client.query_points, collection, query=vector, limit=limit, query_filter=qfilter,
                              score_threshold=score_threshold, with_payload=True).points
        out = {"collection": collection,
               "results": [{"id": h.id, "score": h.score, "payload": h.payload or {}} for h in hits]}
        if warning:
            out["warning"] = warning
        return out

    @_in_session
    def delete(self, collection: str, ids: list[int | str] | None = None, filter: dict | None = None) -> dict:
        if (ids is None) == (filter is None):
            raise InvalidInput("give exactly one of ids or filter")
        self._existing(collection)
        if ids is not None:
            if not ids:
                raise InvalidInput("ids is empty")
            checked = [check_id(i) for i in ids]
            with self._lock:
                found = self._call(self.client.retrieve, collection, ids=checked, with_payload=False)
                self._call(self.client.delete, collection, points_selector=self._model("PointIdsList", points=checked),
                           wait=True)
            return {"collection": collection, "deleted": len(found)}
        if not any((build_filter(filter) or {}).get(k) for k in NATIVE_FILTER_KEYS):
            raise InvalidInput("an empty filter would delete every point", hint="use qdrant_delete_collection for that")
        qfilter = self._filter(filter)
        with self._lock:
            count = self._call(self.client.count, collection, count_filter=qfilter, exact=True).count
            self._call(self.client.delete, collection, points_selector=self._model("FilterSelector", filter=qfilter),
                       wait=True)
        return {"collection": collection, "deleted": count}


def folder_collection(folder: Path) -> str:
    """The collection of an agent's folder: its name, made safe, and a hash of its path (two
    folders of the same name differ)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", folder.name)[:40].lstrip(".-") or "folder"
    return f"{safe}-{hashlib.sha256(os.fsencode(folder)).hexdigest()[:8]}"


# -- checks --------------------------------------------------------------------------------

def check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidInput(f"collection name {name!r} is not valid: use 1-255 letters, digits, '_', '-' or '.', "
                           "starting with a letter, digit or '_' (no '/')")


def check_limit(limit: int) -> None:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be from 1 to {MAX_LIMIT}, not {limit!r}")


def check_id(value: int | str) -> int | str:
    if isinstance(value, bool):
        raise InvalidInput(f"point id {value!r} is not an unsigned integer or a UUID")
    if isinstance(value, int):
        if 0 <= value < 2 ** 64:
            return value
    elif isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise InvalidInput(f"point id {value!r} is not an unsigned integer or a UUID",
                       hint="omit the id to derive a stable one from the content")


def _check_vector(vector: list[float], size: int, what: str) -> None:
    if len(vector) != size:
        raise InvalidInput(f"{what} has {len(vector)} dimensions but the collection's vectors have {size}")
    if any(x != x or x in (float("inf"), float("-inf")) for x in vector):
        raise InvalidInput(f"{what} contains NaN or infinity")


def _parse_point(raw: dict, index: int) -> Point:
    from pydantic import ValidationError

    try:
        return Point.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(f"points[{index}] is not valid: {exc.errors()[0]['msg']}") from None


def _check_point(p: Point, index: int, size: int) -> None:
    if (p.text is None) == (p.vector is None):
        raise InvalidInput(f"points[{index}] needs exactly one of text or vector")
    if p.text is not None and not p.text.strip():
        raise InvalidInput(f"points[{index}].text is empty")
    if p.vector is not None:
        _check_vector(p.vector, size, f"points[{index}].vector")
    if p.id is not None:
        check_id(p.id)
    try:
        json.dumps(p.payload, allow_nan=False)
    except ValueError as exc:
        raise InvalidInput(f"points[{index}].payload is not JSON: {exc}") from None


def point_id(p: Point) -> int | str:
    """The given id, or a UUID derived from the content: the same point upserted twice is
    stored once."""
    if p.id is not None:
        return check_id(p.id)
    content = {"text": p.text} if p.text is not None else {"vector": p.vector}
    content["payload"] = p.payload
    return str(uuid.uuid5(ID_NAMESPACE, json.dumps(content, sort_keys=True, separators=(",", ":"))))


def build_filter(spec: dict | None) -> dict | None:
    """The native Qdrant filter (its dict form: ``{"must": [...], ...}``) of a tool's filter: the
    native one as given (Store._filter checks it), or the short form {"field": value, "field":
    [any, of], "field": {"gte": 1, "lt": 5}} translated."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise InvalidInput("filter must be a JSON object")
    if spec and set(spec) <= NATIVE_FILTER_KEYS:
        return spec
    conditions = []
    for key, value in spec.items():
        if not isinstance(key, str) or not key:
            raise InvalidInput("filter keys must be payload field names")
        if isinstance(value, (str, int)) and not isinstance(value, float):
            conditions.append({"key": key, "match": {"value": value}})
        elif isinstance(value, list) and value and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
            conditions.append({"key": key, "match": {"any": value}})
        elif isinstance(value, dict) and value and set(value) <= RANGE_OPS and \
                all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()):
            conditions.append({"key": key, "range": value})
        else:
            raise InvalidInput(f"filter on {key!r} is not valid: use a string, integer or boolean to match, a non-empty "
                               "list of strings or integers to match any, or an object with gt/gte/lt/lte numbers",
                               hint='or a native Qdrant filter {"must": [{"key": ..., "match": {"value": ...}}]}')
    return {"must": conditions}

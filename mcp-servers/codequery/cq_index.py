"""The codequery index: a per-root index (SQLite for files, chunks and the BM25 lexical index;
Qdrant for the vectors), built incrementally, searched lexically, semantically or both fused.
Never imports mcp; every failure is a claudex_server ServerError (InvalidInput, NotFound,
Conflict, Unavailable)."""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cq_chunks
import cq_files
from claudex_server.errors import Conflict, InvalidInput, NotFound, ServerError, Unavailable
from claudex_server.files import write_atomic

MAX_LIMIT = 100
MAX_QUERY_CHARS = 2000
DEFAULT_MAX_TOKENS = 4000
MIN_MAX_TOKENS, MAX_MAX_TOKENS = 200, 32000
SNIPPET_LINES = 30
SNIPPET_CHARS = 1600
CANDIDATES = 50  # hits taken from each retriever before fusion
RRF_K = 60  # reciprocal-rank fusion constant (Cormack et al.): the fusion before Weights, kept for the ablation
LEXICAL_WEIGHTS = (2.0, 1.0)  # BM25 weight of the head (path, symbol, signature) and of the body
INDEX_LOCK_TIMEOUT = 600.0  # seconds an index run waits for another process's run on the same root
PROGRESS_FILE = "indexing.json"  # next to index.lock while a run holds it: what cq_stats shows of it
PROGRESS_EVERY = 0.5  # seconds between two writes of the progress file (a phase change writes at once)
EMBED_BATCH = 16  # chunks embedded per background step: progress, and a stop, every few seconds
SCHEMA_VERSION = "3"  # 2: chunks.dense (lexical first, vectors in the background); 3: embedding text names the symbol
COLLECTION = "chunks"
ProgressFn = Callable[[int, int, str], None]


# -- ranking -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Weights:
    """How an answer ranks its candidates (the lexical and the semantic retrievers' CANDIDATES
    best each): a weighted sum of
    - ``lexical``: the chunk's BM25 score divided by the best one's (0 when BM25 did not find it);
    - ``semantic``: its cosine scaled from the CANDIDATES-th semantic hit's (0) to the best's (1);
    - ``name`` (the symbol boost): the share of the query's words that are in the definition's
      own name, so that a query naming what it looks for ranks the definition over its call sites;
    - ``module`` (the definition boost): added for module-level code between the definitions
      (imports, constants), which a query about what code does rarely means;
    - ``path``: the share of the query's words in the file's name.
    Fitted on the training queries only (cq_eval's split: never the held-out ones) of six packages'
    evaluations (urllib3, email, logging, http, requests, asyncio), each with e5 and with MiniLM:
    the grid point whose neighbours score best on average (a flat optimum, not one that fits the
    noise). The training scores keep rising as the module penalty grows (the evaluation asks only
    for definitions): it is kept where a module chunk that both retrievers rank first still comes
    first. bench.py measures each one's gain on the held-out queries."""
    lexical: float = 1.0
    semantic: float = 0.0
    name: float = 0.0
    module: float = 0.0
    path: float = 0.0


HYBRID = Weights(lexical=1.0, semantic=1.0, name=0.8, module=-0.6, path=0.1)
LEXICAL = Weights(lexical=1.0, name=1.0, module=-0.6, path=0.1)


def rank(ranked: dict[str, list[tuple[int, float]]], rows: dict[int, tuple], query: str, weights: Weights,
         pending: set[int] | frozenset[int] = frozenset()) -> list[tuple[int, float]]:
    """The candidates of ``ranked`` (``lexical``: rowid and BM25 score, best first; ``semantic``:
    rowid and cosine) ordered by ``weights``. ``rows``: each candidate's chunk row (rowid, path,
    start, end, language, kind, symbol, ...). A ``pending`` chunk (not embedded yet: its file just
    changed) could not be found semantically: its lexical score stands in for its semantic one."""
    lexical, semantic = ranked.get("lexical", []), ranked.get("semantic", [])
    lex = {rid: score / lexical[0][1] for rid, score in lexical} if lexical and lexical[0][1] > 0 else {}
    sem: dict[int, float] = {}
    if semantic:
        best, floor = semantic[0][1], semantic[min(len(semantic), CANDIDATES) - 1][1]
        sem = {rid: (score - floor) / (best - floor) if best > floor else 1.0 for rid, score in semantic}
    for rid in pending:
        if rid in lex and weights.semantic:
            sem.setdefault(rid, lex[rid])
    terms = set(cq_chunks.query_tokens(query))
    scores: list[tuple[int, float]] = []
    for rid in lex.keys() | sem.keys():
        row = rows.get(rid)
        if row is None:
            continue
        score = weights.lexical * lex.get(rid, 0.0) + weights.semantic * sem.get(rid, 0.0)
        if terms and weights.name:
            score += weights.name * len(terms & cq_chunks.name_tokens(row[6])) / len(terms)
        if terms and weights.path:
            score += weights.path * len(terms & cq_chunks.file_name_tokens(row[1])) / len(terms)
        if row[5] == "module":
            score += weights.module
        scores.append((rid, score))
    return sorted(scores, key=lambda item: (-item[1], item[0]))


# -- settings ------------------------------------------------------------------------------

def _xdg_data() -> Path:
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if os.path.isabs(value) else Path.home() / ".local" / "share"


@dataclass
class Settings:
    project_dir: Path
    allowed_roots: list[Path]
    data_dir: Path
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None

    @classmethod
    def from_env(cls, environ: dict | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        project = env.get("CLAUDEX_PROJECT_DIR") or env.get("PWD") or os.getcwd()
        project_dir = Path(project).expanduser().resolve()
        roots = [project_dir]
        for extra in (env.get("CODEQUERY_ROOTS") or "").split(os.pathsep):
            if extra.strip():
                roots.append(Path(extra.strip()).expanduser().resolve())
        data = env.get("CODEQUERY_DATA")
        data_dir = Path(data).expanduser() if data else _xdg_data() / "claudex" / "codequery"
        url = env.get("QDRANT_URL") or None
        return cls(project_dir, roots, data_dir, url.rstrip("/") if url else None, env.get("QDRANT_API_KEY") or None)

    def resolve_root(self, path: str | None) -> Path:
        """The folder to index: inside an allowed root, existing, a directory."""
        if path is not None and (not isinstance(path, str) or not path.strip() or "\0" in path):
            raise InvalidInput("path must be a folder name or path", hint="omit it to use the project folder")
        raw = Path(path).expanduser() if path else self.project_dir
        candidate = raw if raw.is_absolute() else self.project_dir / raw
        resolved = Path(os.path.realpath(candidate))
        if not any(resolved == r or r in resolved.parents for r in self.allowed_roots):
            raise InvalidInput(f"{path} is outside the folders codequery may read ({', '.join(map(str, self.allowed_roots))})",
                               hint="give a folder inside the project, or add it to CODEQUERY_ROOTS", path=str(path))
        if not resolved.exists():
            raise NotFound(f"{candidate} does not exist", hint="give an existing folder", path=str(path))
        if not resolved.is_dir():
            raise InvalidInput(f"{candidate} is not a folder", hint="give the folder that holds the code", path=str(path))
        return resolved


# -- helpers -------------------------------------------------------------------------------

def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _dir_size(path: Path) -> int:
    total = 0
    for current, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                # Blocks on disk: qdrant-edge preallocates sparse files far larger than their data.
                total += os.lstat(os.path.join(current, name)).st_blocks * 512
    return total


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class IndexProgress:
    """The progress of the index run that holds the lock, published for other processes (and the
    server's own cq_stats) in PROGRESS_FILE, written atomically (os.replace). ``files``: done (unchanged ones as they are scanned, changed ones once their chunks are
    embedded), scanned, total; ``chunks``: embedded of those to embed."""

    def __init__(self, folder: Path, root: Path, by: str | None) -> None:
        self.path = folder / PROGRESS_FILE
        self.doc: dict[str, Any] = {"root": str(root), "pid": os.getpid(), "by": by, "started": _now_iso(),
                                    "updated": None, "phase": "scanning",
                                    "files": {"done": 0, "scanned": 0, "total": None},
                                    "chunks": {"done": 0, "total": None}}
        self._written = 0.0
        self.publish(force=True)

    def update(self, phase: str | None = None, force: bool = False, **counts: Any) -> None:
        """New counts (``files_done=3``: files.done); written now on a phase change or with
        ``force`` (each embedded batch: seconds of work), else at most every PROGRESS_EVERY s."""
        changed = force or (phase is not None and phase != self.doc["phase"])
        if phase is not None:
            self.doc["phase"] = phase
        for key, value in counts.items():
            group, _, field_name = key.partition("_")
            self.doc[group][field_name] = value
        self.publish(force=changed)

    def publish(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._written < PROGRESS_EVERY:
            return
        self.doc["updated"] = _now_iso()
        with contextlib.suppress(OSError):  # progress is a courtesy: a full disk must not fail the run
            write_atomic(self.path, json.dumps(self.doc).encode())
        self._written = time.monotonic()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.path)


def running_index(folder: Path) -> dict[str, Any] | None:
    """The progress of the index run that holds ``folder``'s lock now, in this process or another;
    None when no run holds it (a progress file a killed run left behind is not read)."""
    try:
        fd = os.open(folder / "index.lock", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:  # never indexed here, or not a lock we made
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # held: a run is going on
        else:
            return None
        try:
            doc = json.loads((folder / PROGRESS_FILE).read_text())
        except (OSError, ValueError):
            doc = None  # the run has the lock but has not published yet
        return doc if isinstance(doc, dict) else {"phase": "starting"}
    finally:
        os.close(fd)


def describe_run(run: dict[str, Any]) -> str:
    """One line for people: `embedding, files 12/80, chunks 64/130, started 2026-01-05T10:00:00Z by claude-code (pid 4242)`."""
    parts = [str(run.get("phase", "running"))]
    for group in ("files", "chunks"):
        counts = run.get(group) if isinstance(run.get(group), dict) else {}
        if counts.get("total") is not None:
            parts.append(f"{group} {counts.get('done', 0)}/{counts['total']}")
    who = " by " + str(run["by"]) if run.get("by") else ""
    pid = f" (pid {run['pid']})" if run.get("pid") else ""
    if run.get("started"):
        parts.append(f"started {run['started']}{who}{pid}")
    return ", ".join(parts)


def glob_match(path: str, pattern: str) -> bool:
    """Shell-style match of a relative path: `*` also crosses '/', `**/` may match nothing, and
    a pattern without '/' matches the file name anywhere (`*.py`)."""
    if "/" not in pattern:
        return fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pattern) or fnmatch.fnmatchcase(path, pattern)
    return fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path, pattern.replace("**/", ""))


# -- the vector store ----------------------------------------------------------------------

class Vectors:
    """Qdrant for one root: the embedded store in the root's index folder (qdrant-edge, owned by
    this process from its first use: the gateway shares the process between agents), or a
    collection of a Qdrant server (QDRANT_URL, through qdrant-client: the server extra). The
    embedded store takes the dict forms of qdrant-client's models, so it needs no qdrant-client."""

    def __init__(self, settings: Settings, folder: Path, key: str) -> None:
        self.settings = settings
        self.path = folder / "qdrant"
        self.collection = f"codequery_{key}" if settings.qdrant_url else COLLECTION
        self._remote = None

    @contextlib.contextmanager
    def open(self):
        if self.settings.qdrant_url:
            if self._remote is None:
                self._remote = _qdrant_client().QdrantClient(
                    url=self.settings.qdrant_url, api_key=self.settings.qdrant_api_key, timeout=30)
            yield self._remote
            return
        from claudex_embeddings.edge import StoreError, StoreOwned
        from claudex_embeddings.store import open_embedded

        try:
            # A store of qdrant-client's local mode (before qdrant-edge) belongs to an index of
            # schema 1, which is rebuilt from the files: its vectors are dropped unread.
            with open_embedded(self.path, legacy="drop") as client:
                yield client
        except StoreOwned as exc:
            raise Conflict(str(exc), hint=exc.hint) from None
        except StoreError as exc:
            raise Unavailable(f"the vectors of this index could not be read: {exc}",
                              hint="rebuild the index (cq_embed with incremental: false)") from None

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ServerError:
            raise
        except Exception as exc:
            from claudex_embeddings.store import unreachable

            if unreachable(exc):
                raise Unavailable(f"Qdrant at {self.settings.qdrant_url} is not reachable: {exc}",
                                  hint="start it, or unset QDRANT_URL to use the embedded store") from None
            raise

    def _model(self, kind: str, **fields):
        """qdrant-client's model for a Qdrant server; its dict form for the embedded store."""
        return getattr(_qdrant_client().models, kind)(**fields) if self.settings.qdrant_url else fields

    def reset(self, client, dimension: int) -> None:
        if self._call(client.collection_exists, self.collection):
            self._call(client.delete_collection, self.collection)
        self._call(client.create_collection, self.collection,
                   vectors_config=self._model("VectorParams", size=dimension, distance="Cosine"))

    def ensure(self, client, dimension: int) -> None:
        if not self._call(client.collection_exists, self.collection):
            self.reset(client, dimension)

    def write(self, client, remove: list[str], add: list[tuple[str, list[float], dict]]) -> None:
        for start in range(0, len(remove), 1000):
            self._call(client.delete, self.collection,
                       points_selector=self._model("PointIdsList", points=remove[start:start + 1000]), wait=True)
        for start in range(0, len(add), 500):
            batch = add[start:start + 500]
            self._call(client.upsert, self.collection, wait=True,
                       points=[self._model("PointStruct", id=i, vector=v, payload=p) for i, v, p in batch])

    def query(self, client, vector: list[float], limit: int, language: str | None) -> list[tuple[str, float]]:
        if not self._call(client.collection_exists, self.collection):
            return []
        qfilter = None
        if language:
            qfilter = self._model("Filter", must=[self._model("FieldCondition", key="language",
                                                              match=self._model("MatchValue", value=language))])
        hits = self._call(client.query_points, self.collection, query=vector, limit=limit, query_filter=qfilter,
                          with_payload=False).points
        return [(str(h.id), float(h.score)) for h in hits]


CHAT_EXTRA = "claudex mcp upgrade codequery --with chat"


def _qdrant_client():
    """qdrant_client, for a Qdrant server at QDRANT_URL: codequery's server extra installs it."""
    from claudex_embeddings.store import ClientMissing, qdrant_client

    try:
        return qdrant_client("codequery")
    except ClientMissing as exc:
        raise Unavailable(str(exc), hint=exc.hint) from None


# -- the index of one root -----------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files(path TEXT PRIMARY KEY, hash TEXT NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, language TEXT NOT NULL, chunks INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS chunks(rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, path TEXT NOT NULL,
    start_line INTEGER NOT NULL, end_line INTEGER NOT NULL, language TEXT NOT NULL, kind TEXT NOT NULL,
    symbol TEXT, signature TEXT, text TEXT NOT NULL, dense INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS chunks_path ON chunks(path);
CREATE INDEX IF NOT EXISTS chunks_dense ON chunks(dense);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(head, body, tokenize='unicode61');
"""


class CodeIndex:
    """The index of one root folder, kept in `<data_dir>/<name>-<hash>/`."""

    def __init__(self, settings: Settings, root: Path, embedder_factory: Callable[[], Any]) -> None:
        self.settings = settings
        self.root = root
        key = hashlib.sha256(os.fsencode(root)).hexdigest()[:16]
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in root.name)[:40] or "root"
        self.folder = settings.data_dir / f"{safe}-{key}"
        self.vectors = Vectors(settings, self.folder, key)
        self._embedder_factory = embedder_factory
        self._write = threading.Lock()  # an index run's and the dense worker's writes, one at a time
        self._dense_cond = threading.Condition()
        self._dense_state: dict[str, Any] = {"running": False, "error": None, "again": False, "rate": None}

    # storage ------------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        db = sqlite3.connect(self.folder / "index.sqlite", timeout=60, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        columns = [row[1] for row in db.execute("PRAGMA table_info(chunks)")]
        if columns and "dense" not in columns:  # an index of schema 1: rebuilt by the next run
            db.executescript("DROP TABLE IF EXISTS chunks; DROP TABLE IF EXISTS fts; DROP TABLE IF EXISTS files; "
                             "DELETE FROM meta;")
        db.executescript(SCHEMA)
        return db

    def _meta(self, db: sqlite3.Connection) -> dict[str, str]:
        return dict(db.execute("SELECT key, value FROM meta"))

    def embedder(self):
        return self._embedder_factory()

    def _embed(self, texts: list[str], query: bool = False) -> list[list[float]]:
        from claudex_embeddings import EmbeddingError, embed_query

        try:
            return embed_query(self.embedder(), texts) if query else self.embedder().embed(texts)
        except EmbeddingError as exc:
            raise Unavailable(f"the embedding model failed: {exc}",
                              hint="check EMBEDDINGS_URL / EMBEDDINGS_MODEL_PATH, or unset them for the bundled model") from None

    # indexing -----------------------------------------------------------------------------
    def index(self, incremental: bool = True, progress: ProgressFn | None = None, by: str | None = None,
              wait: bool = False) -> dict[str, Any]:
        """Index the root (under its lock): files, chunks and the lexical index, then returns, the
        root searchable; the chunks' vectors are computed in the background (``wait``: returns once
        they are all there). ``by`` names who asked (the MCP client), for cq_stats of other sessions."""
        started = time.monotonic()
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        from claudex_embeddings.store import exclusive

        def busy(waited: float) -> Conflict:
            return Conflict(f"indexing {self.root} has been running in another process for over {waited:.0f} s",
                            hint="wait for it to finish, then call again")

        with exclusive(self.folder / "index.lock", INDEX_LOCK_TIMEOUT, busy):
            published = IndexProgress(self.folder, self.root, by)
            try:
                result = self._index(incremental, started, published)
            finally:
                published.close()
        self.start_dense()
        if wait:
            self.wait_dense(progress)
        result["dense"] = self.dense_progress()
        return result

    def running(self) -> dict[str, Any] | None:
        """The index run going on for this root now (any process), or None."""
        return running_index(self.folder)

    def _index(self, incremental: bool, started: float, published: IndexProgress) -> dict[str, Any]:
        embedder = self.embedder()
        model, dimension = embedder.name, embedder.dimension
        db = self._db()
        try:
            meta = self._meta(db)
            same_model = meta.get("model") == model and meta.get("dimension") == str(dimension) \
                and meta.get("schema") == SCHEMA_VERSION
            rebuild = not incremental or not same_model
            known = {} if rebuild else {p: (h, s, m) for p, h, s, m in db.execute(
                "SELECT path, hash, size, mtime_ns FROM files")}
            old_ids_by_path: dict[str, set[str]] = {}
            for cid, path in db.execute("SELECT id, path FROM chunks"):
                old_ids_by_path.setdefault(path, set()).add(cid)

            files = cq_files.walk(self.root)
            published.update(files_total=len(files))
            current: dict[str, tuple] = {}
            changed: dict[str, tuple[str, list[cq_chunks.Chunk], cq_files.SourceFile, str]] = {}
            unchanged_touch: list[tuple[int, int, str]] = []
            for scanned, f in enumerate(files, start=1):
                published.update(files_scanned=scanned - 1, files_done=scanned - 1)
                before = known.get(f.path)
                # The cheap check first: a file of the same size and mtime is not read at all.
                if before and before[1] == f.size and before[2] == f.mtime_ns:
                    current[f.path] = before
                    continue
                text = cq_files.read_text(self.root, f.path)
                if text is None:
                    continue
                digest = _hash(text)
                current[f.path] = (digest, f.size, f.mtime_ns)
                if before and before[0] == digest:
                    unchanged_touch.append((f.size, f.mtime_ns, f.path))
                    continue
                language = cq_files.language_of(f.path)
                changed[f.path] = (digest, cq_chunks.chunk_file(f.path, text, language), f, language)
            deleted_paths = sorted(set(old_ids_by_path) - set(current)) if rebuild else sorted(set(known) - set(current))

            existing_ids = {cid for ids in old_ids_by_path.values() for cid in ids} if not rebuild else set()
            new_chunks = [c for _d, chunks, _f, _l in changed.values() for c in chunks]
            new_ids = {c.id for c in new_chunks}
            to_add = [c for c in new_chunks if c.id not in existing_ids]
            stale_paths = set(changed) | set(deleted_paths)
            to_remove = sorted({cid for p in stale_paths for cid in old_ids_by_path.get(p, ())} - new_ids)
            published.update("storing", files_scanned=len(files), files_done=len(files))

            with self._write:  # the dense worker writes vectors and flags under the same lock
                if to_remove or rebuild:
                    with self.vectors.open() as client:
                        if rebuild:
                            self.vectors.reset(client, dimension)
                        else:
                            self.vectors.write(client, to_remove, [])
                self._store_lexical(db, rebuild, to_remove, to_add, deleted_paths, changed, unchanged_touch,
                                    model, dimension)
            added = sorted(p for p in changed if p not in known)
            updated = sorted(p for p in changed if p in known)
            return {"root": str(self.root), "incremental": not rebuild,
                    "files": {"added": len(added), "updated": len(updated), "removed": len(deleted_paths),
                              "unchanged": len(current) - len(changed), "total": len(current)},
                    "chunks": {"added": len(to_add), "removed": len(to_remove),
                               "total": db.execute("SELECT count(*) FROM chunks").fetchone()[0]},
                    "seconds": round(time.monotonic() - started, 3)}
        finally:
            db.close()

    def _store_lexical(self, db: sqlite3.Connection, rebuild: bool, to_remove: list[str], to_add: list[cq_chunks.Chunk],
                       deleted_paths: list[str], changed: dict, unchanged_touch: list, model: str,
                       dimension: int) -> None:
        """Files, chunks (not dense yet) and the lexical index, in one transaction."""
        db.execute("BEGIN IMMEDIATE")
        try:
            if rebuild:
                db.execute("DELETE FROM chunks")
                db.execute("DELETE FROM fts")
                db.execute("DELETE FROM files")
            for start in range(0, len(to_remove), 500):
                part = to_remove[start:start + 500]
                marks = ",".join("?" * len(part))
                db.execute(f"DELETE FROM fts WHERE rowid IN (SELECT rowid FROM chunks WHERE id IN ({marks}))", part)
                db.execute(f"DELETE FROM chunks WHERE id IN ({marks})", part)
            for c in to_add:
                cur = db.execute("INSERT INTO chunks(id, path, start_line, end_line, language, kind, symbol, signature, "
                                 "text, dense) VALUES (?,?,?,?,?,?,?,?,?,0)",
                                 (c.id, c.path, c.start_line, c.end_line, c.language, c.kind, c.symbol, c.signature,
                                  c.text))
                head = " ".join(cq_chunks.tokens(f"{c.path} {c.symbol or ''} {c.signature or ''}"))
                db.execute("INSERT INTO fts(rowid, head, body) VALUES (?,?,?)",
                           (cur.lastrowid, head, " ".join(cq_chunks.tokens(c.text))))
            for path in deleted_paths:
                db.execute("DELETE FROM files WHERE path = ?", (path,))
            for path, (digest, chunks, f, language) in changed.items():
                db.execute("INSERT OR REPLACE INTO files(path, hash, size, mtime_ns, language, chunks) "
                           "VALUES (?,?,?,?,?,?)", (path, digest, f.size, f.mtime_ns, language, len(chunks)))
            db.executemany("UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?", unchanged_touch)
            for key, value in (("model", model), ("dimension", str(dimension)), ("schema", SCHEMA_VERSION),
                               ("root", str(self.root)), ("last_indexed", _now_iso())):
                db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # dense vectors, in the background ------------------------------------------------------
    def dense_counts(self, db: sqlite3.Connection) -> tuple[int, int]:
        done, total = db.execute("SELECT coalesce(sum(dense), 0), count(*) FROM chunks").fetchone()
        return int(done), int(total)

    def dense_progress(self) -> dict[str, Any]:
        """How much of the index has its vectors: ``done`` of ``total`` chunks, whether the worker
        runs, its rate, and the error that stopped it (it starts again with the next call)."""
        db = self._db()
        try:
            done, total = self.dense_counts(db)
        finally:
            db.close()
        with self._dense_cond:
            state = dict(self._dense_state)
        out: dict[str, Any] = {"done": done, "total": total, "complete": done == total, "running": state["running"]}
        if state.get("rate"):
            out["chunks_per_s"] = state["rate"]
            if state["running"] and done < total:
                out["eta_s"] = round((total - done) / state["rate"], 1)
        if state.get("error"):
            out["error"] = state["error"]
        return out

    def start_dense(self) -> None:
        """Start the worker that embeds the chunks without vectors, unless it runs already."""
        with self._dense_cond:
            if self._dense_state["running"]:
                self._dense_state["again"] = True  # new chunks since it looked: it looks once more
                return
            self._dense_state.update(running=True, error=None, again=False, stop=False)
        thread = threading.Thread(target=self._dense_loop, name=f"codequery-dense-{self.folder.name}", daemon=True)
        thread.start()

    def wait_dense(self, progress: ProgressFn | None = None, timeout: float | None = None) -> None:
        """Until the worker has stopped (every chunk dense, or an error); progress as it goes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._dense_cond:
                if not self._dense_state["running"]:
                    break
                self._dense_cond.wait(0.5)
            if progress is not None:
                counts = self.dense_progress()
                progress(counts["done"], counts["total"], f"embedded {counts['done']}/{counts['total']} chunks")
            if deadline is not None and time.monotonic() > deadline:
                break
        error = self._dense_state.get("error")
        if error:
            raise Unavailable(f"the vectors of {self.root} could not all be computed: {error}",
                              hint="the index is searchable lexically; call cq_embed again to resume")

    def _dense_loop(self) -> None:
        started, embedded = time.monotonic(), 0
        try:
            while True:
                db = self._db()
                try:
                    rows = db.execute("SELECT id, path, start_line, end_line, language, kind, symbol, signature, text "
                                      "FROM chunks WHERE dense = 0 ORDER BY rowid LIMIT ?", (EMBED_BATCH,)).fetchall()
                finally:
                    db.close()
                if self._dense_state.get("stop"):
                    break
                if not rows:
                    with self._dense_cond:
                        if not self._dense_state.get("again"):
                            break
                        self._dense_state["again"] = False
                    continue
                chunks = [cq_chunks.Chunk(path, start, end, language, kind, symbol, signature, text)
                          for _id, path, start, end, language, kind, symbol, signature, text in rows]
                vectors = self._embed([c.embedding_text() for c in chunks])
                self._store_dense([(row[0], c, v) for row, c, v in zip(rows, chunks, vectors)])
                embedded += len(rows)
                with self._dense_cond:
                    self._dense_state["rate"] = round(embedded / max(time.monotonic() - started, 1e-6), 1)
                    self._dense_cond.notify_all()
        except ServerError as exc:
            with self._dense_cond:
                self._dense_state.update(error=exc.message, failed_at=time.monotonic())
        except Exception as exc:  # the worker must never die silently: the error is shown by cq_stats
            with self._dense_cond:
                self._dense_state.update(error=f"{exc.__class__.__name__}: {exc}", failed_at=time.monotonic())
        finally:
            with self._dense_cond:
                self._dense_state["running"] = False
                self._dense_cond.notify_all()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the dense worker after its batch (the next run resumes where it stopped)."""
        with self._dense_cond:
            self._dense_state["stop"] = True
            deadline = time.monotonic() + timeout
            while self._dense_state["running"] and time.monotonic() < deadline:
                self._dense_cond.wait(0.2)

    def _store_dense(self, batch: list[tuple[str, cq_chunks.Chunk, list[float]]]) -> None:
        """Vectors of chunks still in the index (an index run may have removed some meanwhile), and
        their dense flag, under the write lock the index runs take too."""
        with self._write:
            db = self._db()
            try:
                ids = [cid for cid, _c, _v in batch]
                alive = {row[0] for row in db.execute(
                    f"SELECT id FROM chunks WHERE dense = 0 AND id IN ({','.join('?' * len(ids))})", ids)}
                keep = [(cid, v, {"path": c.path, "language": c.language}) for cid, c, v in batch if cid in alive]
                if keep:
                    dimension = len(keep[0][1])
                    with self.vectors.open() as client:
                        self.vectors.ensure(client, dimension)
                        self.vectors.write(client, [], keep)
                    marks = ",".join("?" * len(keep))
                    db.execute(f"UPDATE chunks SET dense = 1 WHERE id IN ({marks})", [k[0] for k in keep])
            finally:
                db.close()

    # searching ----------------------------------------------------------------------------
    def _require_index(self, db: sqlite3.Connection) -> dict[str, str]:
        meta = self._meta(db)
        if "last_indexed" not in meta:
            run = self.running()
            if run is not None:
                raise Conflict(f"{self.root} is being indexed for the first time ({describe_run(run)})",
                               hint="wait until it is done (cq_stats shows how far it is), then call again")
            raise NotFound(f"{self.root} has not been indexed yet", hint="call cq_embed first")
        return meta

    def lexical(self, db: sqlite3.Connection, query: str, n: int, language: str | None) -> list[tuple[int, float]]:
        terms = cq_chunks.query_tokens(query)
        if not terms:
            return []
        match = " OR ".join(f'"{t}"' for t in terms)
        sql = ("SELECT fts.rowid, bm25(fts, ?, ?) AS s FROM fts JOIN chunks ON chunks.rowid = fts.rowid "
               "WHERE fts MATCH ?" + (" AND chunks.language = ?" if language else "") + " ORDER BY s LIMIT ?")
        args: list[Any] = [*LEXICAL_WEIGHTS, match] + ([language] if language else []) + [n]
        return [(rowid, -score) for rowid, score in db.execute(sql, args)]

    def semantic(self, db: sqlite3.Connection, query: str, n: int, language: str | None) -> list[tuple[int, float]]:
        vector = self._embed([query], query=True)[0]
        with self.vectors.open() as client:
            hits = self.vectors.query(client, vector, n, language)
        if not hits:
            return []
        ids = [h[0] for h in hits]
        rows = dict(db.execute(f"SELECT id, rowid FROM chunks WHERE id IN ({','.join('?' * len(ids))})", ids))
        # A vector whose chunk is not in the index (a run that crashed half-way) is never a hit.
        return [(rows[i], s) for i, s in hits if i in rows]

    def search(self, query: str, limit: int = 10, path_glob: str | None = None, language: str | None = None,
               mode: str = "hybrid", max_tokens: int = DEFAULT_MAX_TOKENS,
               weights: Weights | str | None = None) -> dict[str, Any]:
        """``weights``: how the candidates are ranked, HYBRID or LEXICAL by default (by mode; a
        semantic answer is ranked by its cosines); "rrf" fuses by reciprocal ranks instead (the
        evaluation's ablations)."""
        check_search(query, limit, mode, max_tokens, path_glob)
        db = self._db()
        try:
            self._require_index(db)
            done, total = self.dense_counts(db)
            if done < total:
                self._resume_dense()
            depth = max(CANDIDATES, limit * (4 if path_glob else 2))
            ranked: dict[str, list[tuple[int, float]]] = {}
            if mode in ("lexical", "hybrid"):
                ranked["lexical"] = self.lexical(db, query, depth, language)
            unavailable = None
            if mode == "semantic" or (mode == "hybrid" and done):
                try:
                    ranked["semantic"] = self.semantic(db, query, depth, language) if done else []
                except Conflict as exc:  # another process owns the vectors: hybrid answers by words
                    if mode == "semantic":
                        raise
                    unavailable = exc.message
            rows = {r[0]: r for r in self._rows(db, {rid for hits in ranked.values() for rid, _ in hits})}
            if path_glob:
                ranked = {k: [h for h in v if h[0] in rows and glob_match(rows[h[0]][1], path_glob)]
                          for k, v in ranked.items()}
            pending: set[int] = set()
            if mode == "hybrid" and "semantic" in ranked and done < total:
                ids = [rid for rid, _ in ranked["lexical"]]
                pending = {r[0] for r in db.execute(
                    f"SELECT rowid FROM chunks WHERE dense = 0 AND rowid IN ({','.join('?' * len(ids))})", ids)}
            if mode == "semantic" and weights is None:
                fused = list(ranked["semantic"])
            elif weights == "rrf":
                fused = fuse(ranked, pending=pending)
            else:
                # Hybrid without vectors yet (or another process owns them) ranks as lexical does.
                chosen = weights or (HYBRID if "semantic" in ranked else LEXICAL)
                fused = rank(ranked, rows, query, chosen, pending)
            files = dict((p, (h, s, m)) for p, h, s, m in db.execute("SELECT path, hash, size, mtime_ns FROM files"))
        finally:
            db.close()
        answer = self._shape(fused[:limit], rows, files, max_tokens)
        answer["dense"] = {"done": done, "total": total}
        if unavailable:
            answer["dense"]["note"] = f"found by name and words only: {unavailable}"
        elif done < total and mode != "lexical":
            answer["dense"]["note"] = (f"vectors cover {done} of {total} chunks so far (computed in the background): "
                                       "the rest is found by name and words only; cq_stats shows the progress")
        return answer

    def _resume_dense(self) -> None:
        """Chunks without vectors and no worker (the server restarted, or a worker stopped on an
        error): start one, unless the last one failed less than a minute ago."""
        with self._dense_cond:
            state = self._dense_state
            if state["running"] or (state.get("error") and time.monotonic() - state.get("failed_at", 0) < 60):
                return
        self.start_dense()

    @staticmethod
    def _rows(db: sqlite3.Connection, rowids: set[int]) -> list[tuple]:
        ids = list(rowids)
        out = []
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            out += db.execute("SELECT rowid, path, start_line, end_line, language, kind, symbol, signature, text "
                              f"FROM chunks WHERE rowid IN ({','.join('?' * len(part))})", part).fetchall()
        return out

    def _shape(self, fused, rows, files, max_tokens: int) -> dict[str, Any]:
        results, used, omitted = [], 0, 0
        stale_cache: dict[str, bool] = {}
        for rid, score in fused:
            _rid, path, start, end, language, kind, symbol, signature, text = rows[rid]
            lines = text.splitlines()
            snippet = "\n".join(lines[:SNIPPET_LINES])
            if len(snippet) > SNIPPET_CHARS:
                snippet = snippet[:SNIPPET_CHARS]
            trimmed = snippet != text
            if path not in stale_cache:
                stale_cache[path] = self._stale(path, files.get(path))
            result = {"path": path, "start_line": start, "end_line": end, "symbol": symbol, "kind": kind,
                      "language": language, "score": round(score, 6), "snippet": snippet,
                      "snippet_trimmed": trimmed, "stale": stale_cache[path]}
            cost = len(json.dumps(result)) // 4 + 1
            if used + cost > max_tokens:
                # Out of budget: the location still helps, the code does not fit.
                result = {**result, "snippet": "", "snippet_trimmed": True}
                cost = len(json.dumps(result)) // 4 + 1
                if used + cost > max_tokens:
                    omitted += 1
                    continue
            used += cost
            results.append(result)
        return {"root": str(self.root), "results": results, "omitted": omitted, "approx_tokens": used}

    def _stale(self, path: str, known: tuple | None) -> bool:
        """Whether the file changed since it was indexed (then line numbers may be off)."""
        if known is None:
            return True
        try:
            st = os.lstat(self.root / path)
        except OSError:
            return True
        if st.st_size == known[1] and st.st_mtime_ns == known[2]:
            return False
        text = cq_files.read_text(self.root, path)
        return text is None or _hash(text) != known[0]

    # inspection ---------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """The index's state; ``indexing`` is the run going on now (any process), when there is one:
        before the first run ends, the stats are that and ``indexed: false``."""
        run = self.running()
        db = self._db()
        try:
            meta = self._meta(db)
            if "last_indexed" not in meta and run is not None:
                return {"root": str(self.root), "indexed": False, "indexing": run, "index_path": str(self.folder)}
            meta = self._require_index(db)
            known = {p: (h, s, m) for p, h, s, m in db.execute("SELECT path, hash, size, mtime_ns FROM files")}
            languages = dict(db.execute("SELECT language, count(*) FROM files GROUP BY language ORDER BY language"))
            chunks = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        finally:
            db.close()
        now = {f.path: f for f in cq_files.walk(self.root)}
        added = [p for p in now if p not in known]
        removed = [p for p in known if p not in now]
        changed = [p for p, f in now.items() if p in known and self._stale(p, known[p])]
        mode = "server" if self.settings.qdrant_url else "embedded"
        return {"root": str(self.root), "indexed": True, **({"indexing": run} if run is not None else {}),
                "files": len(known), "chunks": chunks, "languages": languages,
                "index_bytes": _dir_size(self.folder), "index_path": str(self.folder), "vector_store": mode,
                "embedding_model": meta.get("model"), "dimension": int(meta.get("dimension", 0)),
                "last_indexed": meta.get("last_indexed"), "dense": self.dense_progress(),
                "changed_since": {"added": len(added), "changed": len(changed), "removed": len(removed),
                                  "paths": sorted(added + changed + removed)[:50]}}

    def context(self, query: str, limit: int, max_tokens: int) -> dict[str, Any]:
        return self.search(query, limit=limit, mode="hybrid", max_tokens=max_tokens)


def fuse(ranked: dict[str, list[tuple[int, float]]], k: int = RRF_K,
         pending: set[int] | frozenset[int] = frozenset()) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion: each list adds 1/(k + rank) for the chunks it found. A ``pending``
    chunk (not embedded yet: a file just changed) could not be in the semantic list: its lexical
    share counts for both, so that it is not ranked below what both lists found."""
    scores: dict[int, float] = {}
    for name, hits in ranked.items():
        for position, (rid, _score) in enumerate(hits, start=1):
            share = 1.0 / (k + position)
            scores[rid] = scores.get(rid, 0.0) + (share * len(ranked) if rid in pending and name == "lexical" else share)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def check_search(query: str, limit: int, mode: str, max_tokens: int, path_glob: str | None) -> None:
    if not isinstance(query, str) or not query.strip():
        raise InvalidInput("query is empty", hint="say what the code you are looking for does, or name it")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(f"query is {len(query)} characters; at most {MAX_QUERY_CHARS}", hint="shorten it")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be from 1 to {MAX_LIMIT}, not {limit!r}")
    if mode not in ("hybrid", "semantic", "lexical"):
        raise InvalidInput(f"mode must be hybrid, semantic or lexical, not {mode!r}")
    if not isinstance(max_tokens, int) or not MIN_MAX_TOKENS <= max_tokens <= MAX_MAX_TOKENS:
        raise InvalidInput(f"max_tokens must be from {MIN_MAX_TOKENS} to {MAX_MAX_TOKENS}, not {max_tokens!r}")
    if path_glob is not None and (not path_glob.strip() or len(path_glob) > 500):
        raise InvalidInput("path_glob must be a non-empty glob such as 'src/**/*.py'")


def check(environ: dict | None = None) -> dict:
    """The self-test behind `server.py --check` (status's healthCheck): the project folder can be
    indexed, the Qdrant server at QDRANT_URL (when set) answers (qdrant-client, the server extra,
    is installed), and cq_chat's provider has its key (when the chat extra is installed). ok is
    False (the server is degraded) otherwise; each problem names the variable to set or the
    command to run."""
    from claudex_embeddings.store import SERVER_HINT, server_problem

    env = dict(os.environ if environ is None else environ)
    settings = Settings.from_env(env)
    report: dict = {"ok": False, "problems": [], "project_dir": str(settings.project_dir),
                    "store": "server" if settings.qdrant_url else "embedded"}
    hints = []
    try:
        settings.resolve_root(None)
    except ServerError as exc:
        report["problems"].append(exc.message)
        hints.append(exc.hint)
    if settings.qdrant_url:
        report["qdrant_url"] = settings.qdrant_url
        try:
            _qdrant_client()
        except Unavailable as exc:  # the server extra is not installed: one problem, its command
            report["problems"].append(exc.message)
            hints.append(exc.hint)
        else:
            problem = server_problem(settings.qdrant_url, settings.qdrant_api_key)
            if problem:
                report["problems"].append(problem)
                hints.append(SERVER_HINT)
    try:
        from claudex_llm import LLMError
        from claudex_llm.client import default_model, provider_config, split_model
    except ImportError:  # cq_chat is an extra: without it, nothing is missing
        report["chat"] = f"not installed (the chat extra: {CHAT_EXTRA})"
    else:
        try:
            report["chat_model"] = model = default_model(env)
            provider_config(split_model(model)[0], env)
        except LLMError as exc:
            report["problems"].append(f"cq_chat cannot answer with {report.get('chat_model', 'its model')}: "
                                      f"{exc.message}")
            hints.append(exc.hint)
    if hints and any(hints):
        report["hint"] = "; ".join(h.rstrip(".") for h in hints if h)
    report["ok"] = not report["problems"]
    return report


class Codequery:
    """The server's state: settings, one embedding model, the index of each root, and the current
    root of each agent's folder. One process may serve many agents (the claudex gateway shares it):
    ``folder`` is the calling agent's (the gateway's _meta); None is the process's own project
    (CLAUDEX_PROJECT_DIR, else PWD)."""

    def __init__(self, settings: Settings | None = None, embedder_factory: Callable[[], Any] | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self._embedder = None
        self._factory = embedder_factory
        self._indexes: dict[Path, CodeIndex] = {}
        self.current: Path | None = None  # of the process's own project
        self._current: dict[Path, Path] = {}  # of each agent's folder
        self._lock = threading.Lock()

    def embedder(self):
        with self._lock:
            if self._embedder is None:
                if self._factory is not None:
                    self._embedder = self._factory()
                else:
                    import claudex_embeddings
                    from claudex_embeddings import EmbeddingError

                    try:
                        self._embedder = claudex_embeddings.from_env()
                    except EmbeddingError as exc:
                        raise Unavailable(str(exc)) from None
            return self._embedder

    def close(self, timeout: float = 5.0) -> None:
        """Stop the dense workers (each after its batch, ``timeout`` at most) and close the
        embedded stores this process owns (at shutdown)."""
        for index in list(self._indexes.values()):
            index.close(timeout)
        from claudex_embeddings.edge import close_all

        close_all()

    def settings_for(self, folder: Path | None) -> Settings:
        """The settings of an agent's folder: it is the project, and the root paths stay in (with
        CODEQUERY_ROOTS)."""
        if folder is None:
            return self.settings
        project = Path(os.path.realpath(folder))
        return replace(self.settings, project_dir=project, allowed_roots=[project, *self.settings.allowed_roots[1:]])

    def index_for(self, path: str | None = None, folder: Path | None = None) -> CodeIndex:
        settings = self.settings_for(folder)
        current = self.current if folder is None else self._current.get(settings.project_dir)
        root = settings.resolve_root(path) if path is not None else (current or settings.resolve_root(None))
        with self._lock:
            if root not in self._indexes:
                self._indexes[root] = CodeIndex(settings, root, self.embedder)
            return self._indexes[root]

    def embed(self, path: str | None, incremental: bool = True, progress: ProgressFn | None = None,
              by: str | None = None, wait: bool = False, folder: Path | None = None) -> dict:
        settings = self.settings_for(folder)
        index = self.index_for(path if path is not None else str(settings.project_dir), folder)
        result = index.index(incremental, progress, by, wait)
        if folder is None:
            self.current = index.root
        else:
            self._current[settings.project_dir] = index.root
        return result

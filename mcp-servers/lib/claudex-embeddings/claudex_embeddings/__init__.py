"""Text embeddings for claudex MCP servers: a local BERT sentence encoder in NumPy (offline,
no torch) and an OpenAI-compatible HTTP client. Knows nothing of MCP. `claudex_embeddings.store`
opens the embedded Qdrant store per call under a lock (the servers that embed are the ones that
store vectors); nothing else here imports qdrant_client.

    provider = from_env()            # chosen by EMBEDDINGS_* variables
    vectors = provider.embed(["some text"])   # list of lists of floats, L2-normalised
"""

from __future__ import annotations

import os

from .errors import EmbeddingError
from .provider import Provider

__all__ = ["EmbeddingError", "Provider", "from_env", "DEFAULT_MODEL"]

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def from_env(environ: dict | None = None) -> Provider:
    """The provider the environment asks for.

    EMBEDDINGS_URL set: an OpenAI-compatible /v1/embeddings endpoint (EMBEDDINGS_MODEL,
    EMBEDDINGS_API_KEY, EMBEDDINGS_DIMENSION). Otherwise a local model: EMBEDDINGS_MODEL_PATH (a
    sentence-transformers BERT folder), else all-MiniLM-L6-v2 as shipped in a PyPI package."""
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
    from .local import LocalBertProvider, bundled_model_dir

    path = env.get("EMBEDDINGS_MODEL_PATH")
    return LocalBertProvider(path if path else bundled_model_dir(), name=None if path else DEFAULT_MODEL)

"""The package's errors: EmbeddingError from the embedding providers, StoreError from the
embedded store (edge.py) and from reading a store of qdrant-client's local mode (local_mode.py)."""

from __future__ import annotations


class EmbeddingError(Exception):
    """The text could not be embedded: bad input, a missing model, a failing endpoint."""


class StoreError(Exception):
    """A request the embedded store cannot serve (an unknown collection, a filter it does not
    know), or a store it cannot open (an old store's file that cannot be read)."""

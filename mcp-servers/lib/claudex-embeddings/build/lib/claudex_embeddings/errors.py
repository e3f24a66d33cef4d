"""The one error the embedding providers raise."""

from __future__ import annotations


class EmbeddingError(Exception):
    """The text could not be embedded: bad input, a missing model, a failing endpoint."""

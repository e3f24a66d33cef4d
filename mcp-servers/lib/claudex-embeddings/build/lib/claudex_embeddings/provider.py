"""What every embedding provider offers."""

from __future__ import annotations

from typing import Protocol


class Provider(Protocol):
    name: str

    @property
    def dimension(self) -> int:
        """Length of every vector this provider returns."""

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One L2-normalised vector per text, in order; raises EmbeddingError."""

"""The hello-world server's work, in plain Python: no mcp import, so it is tested without a session.

A bad argument raises ValueError with a message the client can act on; server.py turns it into
the tool's error.
"""

from __future__ import annotations

GREETINGS = {"en": "Hello, {name}!", "fr": "Bonjour, {name} !", "de": "Hallo, {name}!", "es": "¡Hola, {name}!"}
MAX_NAME = 100


def greet(name: str, language: str = "en") -> str:
    """The greeting for ``name`` in ``language`` (one of GREETINGS)."""
    name = " ".join(name.split())
    if not name:
        raise ValueError("name must not be empty")
    if len(name) > MAX_NAME:
        raise ValueError(f"name is longer than {MAX_NAME} characters")
    if language not in GREETINGS:
        raise ValueError(f"unknown language {language!r}; one of: {', '.join(sorted(GREETINGS))}")
    return GREETINGS[language].format(name=name)


def languages() -> list[str]:
    """The languages greet speaks, sorted."""
    return sorted(GREETINGS)

"""The hello-world server's work, in plain Python: no mcp import, so it is tested without a session.

A bad argument raises claudex_server's InvalidInput with a message the client can act on;
server.py turns it into the tool's error (`invalid_input: name must not be empty`).
"""

from __future__ import annotations

from claudex_server.errors import InvalidInput

GREETINGS = {"en": "Hello, {name}!", "fr": "Bonjour, {name} !", "de": "Hallo, {name}!", "es": "¡Hola, {name}!"}
MAX_NAME = 100


def greet(name: str, language: str = "en") -> str:
    """The greeting for ``name`` in ``language`` (one of GREETINGS)."""
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("name must not be empty")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"name is longer than {MAX_NAME} characters")
    if language not in GREETINGS:
        raise InvalidInput(f"unknown language {language!r}; one of: {', '.join(sorted(GREETINGS))}")
    return GREETINGS[language].format(name=name)


def languages() -> list[str]:
    """The languages greet speaks, sorted."""
    return sorted(GREETINGS)


def check() -> dict:
    """The self-check behind `server.py --check` (the manifest's healthCheck.command): this server
    needs no setting and no service, so it is always ok. A server that needs a key or a program
    says here what is missing, in `problems`, and how to fix it, in `hint`."""
    return {"ok": True, "problems": []}

"""Scrubbing what leaves a server: the values of its keys, the values of credential headers
(Authorization, x-api-key, api-key), passwords in URLs and well-known token shapes are masked in
every message it writes to stdout (results, errors, progress, log notifications) and every line
it writes to stderr (its log), whoever wrote them: the server, the SDK, a library or a child.

An upstream service (an LLM provider, a proxy in front of it) may answer an error with the request
it was sent, headers included; what a server passes on must never carry them. `serve()` runs the
server behind the pumps of claudex_server.guard, which pass every line through a Scrubber.
Standard library only (the SDK is not imported here).

`refusal()` is the answer to a request whose JSON holds a lone surrogate (`"\\ud800"`, which JSON
allows and Unicode text does not): the SDK's transport would drop it without an answer, leaving
the client waiting.

The token shapes are those of the claudex core's one secret detector (scripts/claudex_mcp/secrets.py),
which a server cannot import; a test keeps the two patterns the same.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "********"
MIN_SECRET_LENGTH = 8   # shorter values are not masked by value: masking "k" everywhere would mangle every text
# A variable whose name ends like these holds a secret, whatever the server says (QDRANT_API_KEY, GH_TOKEN...).
SECRET_SUFFIXES = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIALS")

# Shapes of well-known credentials: the same pattern as claudex_mcp.secrets._TOKEN_SHAPES.
TOKEN_SHAPES = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"sk-[A-Za-z0-9_-]{6,}|sk_(?:live|test)_[A-Za-z0-9]{6,}|[pr]k_(?:live|test)_[A-Za-z0-9]{6,}"
    r"|sk-live[A-Za-z0-9_-]*|gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{16,}"
    r"|xox[abposr]-[A-Za-z0-9-]{8,}|AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{30,}|ya29\.[0-9A-Za-z_-]{20,}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|npm_[A-Za-z0-9]{30,}|hf_[A-Za-z0-9]{30,}"
    r")")
# A credential header's value as an HTTP line, a JSON member, a Python repr or a query string writes it:
# `Authorization: Bearer X`, `"x-api-key": "X"`, `'api-key': 'X'`, `api_key=X`.
_HEADER = re.compile(
    r"(?P<name>(?<![A-Za-z0-9])(?:proxy-authorization|authorization|x-api-key|api[-_]?key))"
    r"(?P<sep>[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<scheme>(?:bearer|basic|token|digest)\s+)?"
    r"(?P<value>[^\s\"',;()}\]&<>]+)", re.I)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*:)(?P<password>[^@/\s]+)(?=@)")


class Scrubber:
    """Masks secrets in text. ``secrets``: values to mask wherever they appear (shorter than
    MIN_SECRET_LENGTH are ignored); ``headers``: credential header values; ``shapes``: token
    shapes and URL passwords. A server whose results carry other people's text (code, files)
    keeps ``headers`` and ``shapes`` off, so that it does not mangle what it shows."""

    def __init__(self, secrets: Iterable[str] = (), *, headers: bool = False, shapes: bool = False) -> None:
        values = sorted({s for s in secrets if isinstance(s, str) and len(s.strip()) >= MIN_SECRET_LENGTH},
                        key=len, reverse=True)   # longest first: a key that contains another is masked whole
        self.secrets = tuple(values)
        # How each value looks inside a JSON document too (a quote or backslash in it is escaped there).
        self._needles = tuple({n for v in values for n in (v, json.dumps(v)[1:-1])})
        self.headers = headers
        self.shapes = shapes

    @classmethod
    def from_env(cls, names: Iterable[str] = (), environ: Mapping[str, str] | None = None, **rules: bool) -> Scrubber:
        """The values of the variables ``names`` and of every variable named like a secret
        (SECRET_SUFFIXES), as the process's environment (or ``environ``) holds them."""
        env = os.environ if environ is None else environ
        wanted = set(names)
        values = [v for k, v in env.items() if k in wanted or k.upper().endswith(SECRET_SUFFIXES)]
        return cls(values, **rules)

    def hit(self, text: str) -> bool:
        """Whether ``text`` (plain or a JSON document) holds anything to mask."""
        return (any(n in text for n in self._needles)
                or (self.headers and _HEADER.search(text) is not None)
                or (self.shapes and (TOKEN_SHAPES.search(text) is not None or _URL_PASSWORD.search(text) is not None)))

    def text(self, text: str) -> str:
        """``text`` with every secret masked."""
        for value in self.secrets:
            if value in text:
                text = text.replace(value, MASK)
        if self.headers:
            text = _HEADER.sub(lambda m: m["name"] + m["sep"] + (m["scheme"] or "") + MASK
                               if m["value"] != MASK else m[0], text)
        if self.shapes:
            text = TOKEN_SHAPES.sub(MASK, text)
            text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK, text)
        return text

    def data(self, value: Any) -> Any:
        """``value`` (decoded JSON) with every string in it, keys included, scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.data(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.data(v) for k, v in value.items()}
        return value

    def json_line(self, line: str) -> str:
        """One JSON-RPC message as the stdio transport writes it, scrubbed member by member (a
        mask never breaks the document); a line that is not JSON is scrubbed as text."""
        if not self.hit(line):
            return line
        try:
            return json.dumps(self.data(json.loads(line)), separators=(",", ":"))   # ASCII: a lone surrogate stays escaped
        except (ValueError, RecursionError):
            return self.text(line)


def _surrogate_at(value: Any, path: str = "") -> str | None:
    """The JSON pointer of the first string (or key) in ``value`` holding a lone surrogate."""
    if isinstance(value, str):
        return path if any("\ud800" <= c <= "\udfff" for c in value) else None
    if isinstance(value, list):
        items = enumerate(value)
    elif isinstance(value, dict):
        items = value.items()
    else:
        return None
    for key, item in items:
        here = f"{path}/{key}"
        if isinstance(key, str) and _surrogate_at(key) is not None:
            return here
        found = _surrogate_at(item, here)
        if found is not None:
            return found
    return None


def refusal(line: bytes) -> bytes | None:
    """The answer to a JSON-RPC request that holds a lone surrogate, or None for any other line
    (passed on to the SDK). A notification with one is dropped (b"")."""
    if b"\\ud" not in line.lower():
        return None
    try:
        message = json.loads(line)
    except (ValueError, RecursionError):
        return None
    where = _surrogate_at(message)
    if where is None or not isinstance(message, dict):
        return None
    if "id" not in message or not isinstance(message.get("method"), str):
        return b""
    shown = where.encode("utf-8", "backslashreplace").decode("utf-8") or "/"   # a key may hold one too
    text = (f"the request holds a lone surrogate in {shown}: that string is not Unicode text, so "
            "nothing was done; send valid text (a surrogate only as half of a pair)")
    if message["method"] == "tools/call":
        answer = {"jsonrpc": "2.0", "id": message["id"],
                  "result": {"content": [{"type": "text", "text": text}], "isError": True}}
    else:
        answer = {"jsonrpc": "2.0", "id": message["id"], "error": {"code": -32602, "message": text}}
    return json.dumps(answer, separators=(",", ":")).encode() + b"\n"

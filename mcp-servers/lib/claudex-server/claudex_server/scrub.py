"""Scrubbing what leaves a server: the values of its keys, the values of credential headers
(Authorization, x-api-key, api-key), passwords in URLs and well-known token shapes are masked in
every message it writes to stdout (results, errors, progress, log notifications) and every line
it writes to stderr (its log), whoever wrote them: the server, the SDK, a library or a child.

An upstream service (an LLM provider, a proxy in front of it) may answer an error with the request
it was sent, headers included; what a server passes on must never carry them. `serve()` runs the
server behind two pumps: fd 1 and fd 2 become pipes, and a thread per pipe copies each line to the
real descriptor through the Scrubber. Standard library only (the SDK is not imported here).

A third pump stands before stdin: a request whose JSON holds a lone surrogate (`"\\ud800"`, which
JSON allows and Unicode text does not) would be dropped by the SDK's transport without an answer,
leaving the client waiting; the pump answers it itself (a tool error for tools/call, else
invalid params) and the session goes on.

The token shapes are those of the claudex core's one secret detector (scripts/claudex_mcp/secrets.py),
which a server cannot import; a test keeps the two patterns the same.
"""

from __future__ import annotations

import json
import os
import re
import select
import threading
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "********"
MAX_LINE = 16 << 20     # bytes of a line without its end before it goes out anyway (a JSON-RPC message is one line)
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


class _Pump(threading.Thread):
    """Copies a pipe to a descriptor line by line through ``scrub``. A partial line waits for its
    end (or the end of the server, or MAX_LINE bytes): flushed early, a secret written in two
    pieces would go out half masked."""

    def __init__(self, source: int, dest: int, scrub) -> None:
        super().__init__(name=f"claudex-scrub-{dest}", daemon=True)
        self.source, self.dest, self.scrub = source, dest, scrub
        self._wake_r, self._wake_w = os.pipe()
        self._broken = False
        self._lock = threading.Lock()   # the writes of this pump and the answers the stdin pump adds

    def stop(self, timeout: float = 5.0) -> None:
        """Drain what the pipe holds, write it, end (every writer has stopped writing)."""
        os.write(self._wake_w, b"x")
        self.join(timeout)
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)

    def _out(self, data: bytes) -> None:
        body, end = (data[:-1], b"\n") if data.endswith(b"\n") else (data, b"")
        self.write(self.scrub(body.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape") + end)

    def write(self, data: bytes) -> None:
        """Write whole lines to the real descriptor, one writer at a time."""
        with self._lock:
            if self._broken:
                return
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(self.dest, view):]
            except OSError:   # the reader went away: keep draining, so that writers never block
                self._broken = True

    def _lines(self, buffer: bytearray) -> None:
        end = buffer.rfind(b"\n")
        if end >= 0:
            for line in bytes(buffer[:end]).split(b"\n"):
                self._out(line + b"\n")
            del buffer[:end + 1]

    def run(self) -> None:
        buffer = bytearray()
        try:
            while True:
                ready, _, _ = select.select([self.source, self._wake_r], [], [])
                if self.source in ready:
                    chunk = os.read(self.source, 1 << 16)
                    if not chunk:
                        break
                    buffer += chunk
                    self._lines(buffer)
                    if len(buffer) > MAX_LINE:
                        self._out(bytes(buffer))
                        buffer.clear()
                elif self._wake_r in ready:
                    os.set_blocking(self.source, False)
                    while True:
                        try:
                            chunk = os.read(self.source, 1 << 16)
                        except BlockingIOError:
                            break
                        if not chunk:
                            break
                        buffer += chunk
                    self._lines(buffer)
                    break
            if buffer:
                self._out(bytes(buffer))
        finally:
            os.close(self.source)


class _Inlet(threading.Thread):
    """Copies the real stdin to the pipe the server reads, line by line, answering through
    ``out`` the requests that hold a lone surrogate instead of passing them on."""

    def __init__(self, source: int, dest: int, out: _Pump) -> None:
        super().__init__(name="claudex-stdin", daemon=True)
        self.source, self.dest, self.out = source, dest, out

    def run(self) -> None:
        buffer = bytearray()
        try:
            while True:
                chunk = os.read(self.source, 1 << 16)
                if not chunk:
                    break
                buffer += chunk
                end = buffer.rfind(b"\n")
                if end < 0 and len(buffer) <= MAX_LINE:
                    continue
                whole, buffer = (bytes(buffer[:end + 1]), buffer[end + 1:]) if end >= 0 else (bytes(buffer), bytearray())
                passed = []
                for line in whole.splitlines(keepends=True):
                    answer = refusal(line)
                    if answer is None:
                        passed.append(line)
                    elif answer:
                        self.out.write(answer)
                self._write(b"".join(passed))
            self._write(bytes(buffer))
        except OSError:
            pass
        finally:
            for fd in (self.source, self.dest):   # the server reads EOF
                os.close(fd)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.dest, view):]


class Guard:
    """fd 0, 1 and 2 behind pumps while the server runs (stdout and stderr scrubbed, stdin
    screened for lone surrogates); `close()` puts them back."""

    def __init__(self, scrubber: Scrubber) -> None:
        self._saved: list[tuple[int, int]] = []
        self._pumps: list[_Pump] = []
        for fd, scrub in ((1, scrubber.json_line), (2, scrubber.text)):
            real = os.dup(fd)
            os.set_inheritable(real, False)
            read, write = os.pipe()
            os.dup2(write, fd)
            os.close(write)
            self._saved.append((fd, real))
            pump = _Pump(read, real, scrub)
            pump.start()
            self._pumps.append(pump)
        real_in = os.dup(0)
        os.set_inheritable(real_in, False)
        read, write = os.pipe()
        os.dup2(read, 0)
        os.close(read)
        self._saved_in = os.dup(real_in)   # what fd 0 goes back to; the inlet owns real_in
        os.set_inheritable(self._saved_in, False)
        _Inlet(real_in, write, self._pumps[0]).start()

    def close(self) -> None:
        import sys

        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        for fd, real in self._saved:
            os.dup2(real, fd)
        os.dup2(self._saved_in, 0)   # the inlet may still wait on the real stdin: it is a daemon, left to end with us
        os.close(self._saved_in)
        for pump in self._pumps:   # a copy of a pipe's write end may outlive us (the SDK keeps one): no EOF to wait for
            pump.stop()
        for _fd, real in self._saved:
            os.close(real)

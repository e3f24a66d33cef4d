"""Codex's config.toml: rendering ``[mcp_servers.<name>]`` tables, and splicing them into the
user's file so that every other byte stays as it was (tomllib reads TOML; nothing in the standard
library writes it, and a TOML writer would reformat the user's file)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from typing import Any

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


def toml_string(text: str) -> str:
    """A TOML basic string; control characters are escaped, other non-ASCII stays as it is."""
    out = []
    for ch in text:
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else toml_string(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def toml_table(path: Iterable[str], entry: Mapping[str, Any]) -> str:
    header = "[" + ".".join(toml_key(p) for p in path) + "]\n"
    return header + "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in entry.items())


def render_codex(entries: Mapping[str, Mapping]) -> str:
    """The ``[mcp_servers.<name>]`` tables for ``entries``, one blank line between them."""
    return "\n".join(toml_table(("mcp_servers", name), entry) for name, entry in entries.items())


class _Line:
    __slots__ = ("start", "end", "kind", "path")

    def __init__(self, start: int, end: int, kind: str, path: tuple[str, ...] = ()) -> None:
        self.start, self.end, self.path = start, end, path
        self.kind = kind  # "header", "blank", "comment" or "content"


_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _header_path(line: str) -> tuple[str, ...]:
    """The dotted key of a ``[table]`` or ``[[array]]`` header line, decoded by tomllib itself."""
    import tomllib

    body = line.strip()
    double = body.startswith("[[")
    i = 2 if double else 1
    quote = None
    while i < len(body):
        ch = body[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "]":
            break
        i += 1
    key_text = body[2 if double else 1:i]
    # Bare keys (letters, digits, _ and -) split at the dots as TOML does; quoted ones go to
    # tomllib: one parse per header cost the entrypoint ~0.4 ms a server.
    parts = [part.strip() for part in key_text.split(".")]
    if all(_BARE.fullmatch(part) for part in parts):
        return tuple(parts)
    node: Any = tomllib.loads(f"{key_text} = 0")
    path = []
    while isinstance(node, dict):
        (name, node), = node.items()
        path.append(name)
    return tuple(path)


def _scan_toml(text: str) -> list[_Line]:
    """Every line of a valid TOML document, classified; multi-line strings and arrays are
    followed so that a '[' inside a value is never taken for a table header."""
    lines: list[_Line] = []
    in_multiline: str | None = None  # '"""' or "'''"
    depth = 0
    pos = 0
    for raw in text.splitlines(keepends=True):
        start, pos = pos, pos + len(raw)
        stripped = raw.strip()
        if in_multiline is None and depth == 0:
            if not stripped:
                lines.append(_Line(start, pos, "blank"))
                continue
            if stripped.startswith("#"):
                lines.append(_Line(start, pos, "comment"))
                continue
            if stripped.startswith("["):
                lines.append(_Line(start, pos, "header", _header_path(raw)))
                continue
        lines.append(_Line(start, pos, "content"))
        i, n = 0, len(raw)
        quote = None  # a one-line string: '"' or "'"
        while i < n:
            ch = raw[i]
            if in_multiline:
                if in_multiline == '"""' and ch == "\\":
                    i += 2
                    continue
                if raw.startswith(in_multiline, i):
                    i += 3
                    while i < n and raw[i] == in_multiline[0]:  # up to two quotes end the content
                        i += 1
                    in_multiline = None
                    continue
            elif quote:
                if quote == '"' and ch == "\\":
                    i += 2
                    continue
                if ch == quote:
                    quote = None
            elif ch == "#":
                break
            elif raw.startswith('"""', i) or raw.startswith("'''", i):
                in_multiline = raw[i:i + 3]
                i += 3
                continue
            elif ch in "\"'":
                quote = ch
            elif ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
            i += 1
    return lines


def codex_blocks(text: str) -> dict[str, list[tuple[int, int]]]:
    """For each ``[mcp_servers.<name>]`` table (and its sub-tables), the character ranges of its
    text: the header through its last key line, plus the blank lines right after it. Comments
    and blank lines that precede the next header stay with that header."""
    lines = _scan_toml(text)
    blocks: dict[str, list[tuple[int, int]]] = {}
    for index, line in enumerate(lines):
        if line.kind != "header" or len(line.path) < 2 or line.path[0] != "mcp_servers":
            continue
        last = index
        following = index + 1
        while following < len(lines) and lines[following].kind != "header":
            if lines[following].kind == "content":
                last = following
            following += 1
        end = last + 1
        while end < len(lines) and lines[end].kind == "blank":
            end += 1
        stop = lines[end].start if end < len(lines) else len(text)
        blocks.setdefault(line.path[1], []).append((line.start, stop))
    return blocks


def splice_codex(text: str, remove: Iterable[str], tables: str) -> str:
    """``text`` without the blocks of the ``remove`` servers, with ``tables`` appended at the end
    after one blank line. Everything else keeps its bytes."""
    cuts = sorted(span for name, spans in codex_blocks(text).items() if name in set(remove) for span in spans)
    kept, pos = [], 0
    for start, stop in cuts:
        kept.append(text[pos:start])
        pos = stop
    kept.append(text[pos:])
    rest = "".join(kept)
    if not tables:
        return rest
    if not rest.strip():
        return tables
    if not rest.endswith("\n"):
        rest += "\n"
    if not rest.endswith("\n\n"):
        rest += "\n"
    return rest + tables

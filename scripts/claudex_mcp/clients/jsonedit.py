"""Editing one member of a JSON document in its text, so that everything else keeps its bytes.

A client's file holds values claudex does not own (``~/.claude.json`` is Claude Code's whole
state): parsing and dumping it would turn ``1e400`` into ``Infinity``, big or precise numbers
into floats, ``"\\u00e9"`` into ``"é"``, and a lone surrogate into an unwritable string. So the
file is parsed only to check it and to find where things are; the new text is the old text with
the servers object replaced, and inside it every entry claudex does not write is copied byte for
byte.

The same holds for JSONC (VS Code's ``mcp.json``: comments, trailing commas) with ``jsonc=True``:
positions are found in ``jsonio.strip_jsonc(text)``, which has every character at the same
index, and the splice is made in the original text, so every comment outside the servers object
(and inside the entries kept) stays.
"""

from __future__ import annotations

import json
from json.decoder import scanstring
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from typing import Any
    from collections.abc import Callable, Mapping, Sequence

_WS = " \t\n\r"
_DECODER = json.JSONDecoder()


class Member:
    __slots__ = ("key", "key_start", "key_end", "value_start", "value_end")

    def __init__(self, key: str, key_start: int, key_end: int, value_start: int, value_end: int) -> None:
        self.key, self.key_start, self.key_end = key, key_start, key_end
        self.value_start, self.value_end = value_start, value_end


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def members(text: str, start: int) -> tuple[list[Member], int]:
    """The members of the object whose ``{`` is at ``start``, and the index of its ``}``. The
    text must be valid JSON (it was parsed before)."""
    found: list[Member] = []
    i = _skip(text, start + 1)
    if text[i] == "}":
        return found, i
    while True:
        key_start = i
        key, key_end = scanstring(text, i + 1)
        i = _skip(text, _skip(text, key_end) + 1)  # past the colon
        _, end = _DECODER.raw_decode(text, i)
        found.append(Member(key, key_start, key_end, i, end))
        i = _skip(text, end)
        if text[i] == ",":
            i = _skip(text, i + 1)
            continue
        return found, i


def _line_indent(text: str, pos: int) -> str | None:
    """The whitespace before ``pos`` on its line, or None when something else comes first."""
    line_start = text.rfind("\n", 0, pos) + 1
    before = text[line_start:pos]
    return before if before.strip() == "" else None


def _render(value: Any, unit: str, indent: str) -> str:
    return json.dumps(value, indent=unit, ensure_ascii=False).replace("\n", "\n" + indent)


def items(text: str, start: int) -> list[tuple[int, int]]:
    """The (start, end) of each item of the array whose ``[`` is at ``start``."""
    found = []
    i = _skip(text, start + 1)
    if text[i] == "]":
        return found
    while True:
        _, end = _DECODER.raw_decode(text, i)
        found.append((i, end))
        i = _skip(text, end)
        if text[i] != ",":
            return found
        i = _skip(text, i + 1)


class _Place:
    """The object a member is set in: its ``{`` and ``}``, its members, the indent of its members
    and of its closing brace, the file's indent unit, and the keys of the path that are missing
    below it (the member to add then holds the rest of the path)."""

    __slots__ = ("start", "members", "end", "indent", "outer", "unit", "missing")

    def __init__(self, start: int, found: list[Member], end: int, indent: str, outer: str, unit: str,
                 missing: tuple[str, ...]) -> None:
        self.start, self.members, self.end = start, found, end
        self.indent, self.outer, self.unit, self.missing = indent, outer, unit, missing


def _place(text: str, scan: str, at: tuple[str, ...], within: tuple[str, str] | None = None) -> _Place:
    """The object at the path ``at`` (``()``: the top level), or the deepest object of that path
    that exists, with what is missing below it. ``within``: ``text`` is an object value cut out of
    a larger document (``spans``), whose key line has the indent ``within[0]``, in a document
    indented by ``within[1]``."""
    start = _skip(scan, 1 if scan.startswith("\ufeff") else 0)
    found, end = members(scan, start)
    first = _line_indent(text, found[0].key_start) if found else None
    if within is None:
        indent = first or "  "
        unit, outer = indent, ""
    else:
        outer, unit = within
        indent = first or outer + unit
    for depth, key in enumerate(at):
        member = next((m for m in found if m.key == key), None)
        if member is None or scan[member.value_start] != "{":
            return _Place(start, found, end, indent, outer, unit, tuple(at[depth:]))
        own = _line_indent(text, member.key_start)
        outer = indent if own is None else own
        start = member.value_start
        found, end = members(scan, start)
        indent = (_line_indent(text, found[0].key_start) if found else None) or outer + unit
    return _Place(start, found, end, indent, outer, unit, ())


def _indent_of(text: str, place: _Place, current: Member | None) -> str:
    key_indent = _line_indent(text, current.key_start) if current is not None else None
    return place.indent if key_indent is None else key_indent


def _set_member(text: str, key: str, body: str, place: _Place, key_indent: str) -> str:
    """``text`` with the member ``key`` of the object at ``place`` set to the JSON text ``body``."""
    current = next((m for m in place.members if m.key == key), None)
    if current is not None:
        return text[:current.value_start] + body + text[current.value_end:]
    return _add(text, {key: body}, place, key_indent)


def _add(text: str, bodies: Mapping[str, str], place: _Place, key_indent: str) -> str:
    """``text`` with new members (key -> JSON text) added at the end of the object at ``place``."""
    added = ",\n".join(f"{key_indent}{json.dumps(key, ensure_ascii=False)}: {body}" for key, body in bodies.items())
    if not place.members:
        # Whatever the empty object held (a comment, in JSONC) stays before the new members.
        inside = text[place.start + 1:place.end].rstrip()
        return (text[:place.start] + "{" + inside + "\n" + added + "\n" + place.outer + "}"
                + text[place.end + 1:])
    last = place.members[-1]
    return text[:last.value_end] + ",\n" + added + text[last.value_end:]


def spans(text: str, at: tuple[str, ...], jsonc: bool = False) -> tuple[dict[str, tuple[int, int, str]], str] | None:
    """Where the members of the object at the path ``at`` are, found in one reading of ``text``:
    ({key: (value start, value end, indent of its key line)}, the document's indent unit), or
    None when the path leads to no object. To edit several of them, cut each value out, edit it
    on its own with ``within=(indent, unit)``, and splice the results back from the last to the
    first: every other byte stays where it was."""
    scan = _scan_text(text, jsonc)
    place = _place(text, scan, at)
    if place.missing:
        return None
    return {m.key: (m.value_start, m.value_end, _indent_of(text, place, m)) for m in place.members}, place.unit


def add_members(text: str, at: tuple[str, ...], new: Mapping[str, Any], jsonc: bool = False) -> str:
    """``text`` with the members ``new`` (keys the object at the path ``at`` does not have yet)
    added to that object, which is created if missing."""
    if not new:
        return text
    scan = _scan_text(text, jsonc)
    place = _place(text, scan, at)
    if place.missing:
        return _set_missing(text, dict(new), place)
    return _add(text, {key: _render(value, place.unit, place.indent) for key, value in new.items()}, place,
                place.indent)


def _set_missing(text: str, inner: dict, place: _Place) -> str:
    """``text`` with the objects that ``place`` misses added, the innermost one being ``inner``."""
    body: Any = inner
    for part in reversed(place.missing[1:]):
        body = {part: body}
    return _set_member(text, place.missing[0], _render(body, place.unit, place.indent), place, place.indent)


def _scan_text(text: str, jsonc: bool) -> str:
    if not jsonc:
        return text
    from claudex_mcp.jsonio import strip_jsonc

    return strip_jsonc(text)


def replace_array(text: str, key: str, values: list, raw_from: dict[int, int], jsonc: bool = False,
                  at: tuple[str, ...] = (), within: tuple[str, str] | None = None) -> str:
    """``text`` with its array ``key`` (a member of the object at the path ``at``, which is
    created if missing) set to ``values``; the items named in ``raw_from`` (new index -> index in
    the old array) are copied as they were written."""
    scan = _scan_text(text, jsonc)
    place = _place(text, scan, at, within)
    if place.missing:
        return _set_missing(text, {key: list(values)}, place)
    current = next((m for m in place.members if m.key == key), None)
    old = items(scan, current.value_start) if current is not None and scan[current.value_start] == "[" else []
    key_indent = _indent_of(text, place, current)
    unit = place.unit if at or within else key_indent or "  "
    inner = key_indent + unit
    parts = []
    for index, value in enumerate(values):
        if index in raw_from and raw_from[index] < len(old):
            start, end = old[raw_from[index]]
            parts.append(inner + text[start:end])
        else:
            parts.append(inner + _render(value, unit, inner))
    body = "[\n" + ",\n".join(parts) + "\n" + key_indent + "]" if parts else "[]"
    return _set_member(text, key, body, place, key_indent)


def replace_object(text: str, key: str, entries: Mapping[str, Any], keep: set[str], jsonc: bool = False,
                   at: tuple[str, ...] = (), within: tuple[str, str] | None = None) -> str:
    """``text`` (a JSON object, or JSONC with ``jsonc``) with its member ``key`` (of the object at
    the path ``at``, which is created if missing) set to an object of ``entries``, in their order.
    The entries named in ``keep`` are taken from the old ``key`` object as they were written; the
    others are rendered. The rest of ``text`` keeps its bytes."""
    scan = _scan_text(text, jsonc)
    place = _place(text, scan, at, within)
    if place.missing:
        return _set_missing(text, {key: dict(entries)}, place)
    current = next((m for m in place.members if m.key == key), None)
    old_raw: dict[str, tuple[str, str]] = {}
    if current is not None and scan[current.value_start] == "{":
        inner, _ = members(scan, current.value_start)
        for m in inner:
            old_raw[m.key] = (text[m.key_start:m.key_end], text[m.value_start:m.value_end])
    key_indent = _indent_of(text, place, current)
    unit = place.unit if at or within else key_indent or "  "
    inner_indent = key_indent + unit
    parts = []
    for name, value in entries.items():
        if name in keep and name in old_raw:
            raw_key, raw_value = old_raw[name]
            parts.append(f"{inner_indent}{raw_key}: {raw_value}")
        else:
            parts.append(f"{inner_indent}{json.dumps(name, ensure_ascii=False)}: {_render(value, unit, inner_indent)}")
    body = "{\n" + ",\n".join(parts) + "\n" + key_indent + "}" if parts else "{}"
    return _set_member(text, key, body, place, key_indent)


def object_members(text: str, path: Sequence[str], jsonc: bool = False) -> list[Member]:
    """The members of the object at ``path`` (keys down from the top) of ``text``, with their
    positions in it; KeyError when ``path`` does not lead to an object."""
    scan = _scan_text(text, jsonc)
    place = _place(text, scan, tuple(path))
    if place.missing:
        raise KeyError(place.missing[0])
    return place.members


def replace_members(text: str, path: Sequence[str], changes: Mapping[str, tuple[str, Callable[[str], str]]],
                    jsonc: bool = False) -> str:
    """``text`` with members of the object at ``path`` (keys down from the top) changed: each
    key of ``changes`` is renamed to its new key and gets the JSON text that its function
    returns, called with the leading white space of the member's line (to continue a multi-line
    value). Every other byte stays; a key that is not in that object is left alone, and a
    ``path`` that does not lead to an object raises KeyError."""
    edits: list[tuple[int, int, str]] = []
    for member in object_members(text, path, jsonc):
        if member.key not in changes:
            continue
        new_key, body = changes[member.key]
        line_start = text.rfind("\n", 0, member.key_start) + 1
        indent_end = line_start
        while text[indent_end] in " \t":
            indent_end += 1
        edits.append((member.value_start, member.value_end, body(text[line_start:indent_end])))
        if new_key != member.key:
            edits.append((member.key_start, member.key_end, json.dumps(new_key, ensure_ascii=False)))
    for begin, end, new in sorted(edits, reverse=True):
        text = text[:begin] + new + text[end:]
    return text

"""Reading JSON documents defensively and writing them in one stable format."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from typing import Any, BinaryIO

from claudex_mcp.errors import InvalidInput, NotFound

# Manifests, registries and configs are small; anything bigger is a mistake (a wrong file).
MAX_DOCUMENT_BYTES = 8 * 1024 * 1024
STDIN = "-"


def dumps(obj: Any) -> str:
    """The one output format: 2-space indent, sorted keys, UTF-8, newline at the end."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def display_name(source: str | os.PathLike) -> str:
    return "<stdin>" if str(source) == STDIN else str(source)


def read_bytes(source: str | os.PathLike, *, limit: int = MAX_DOCUMENT_BYTES,
               stdin: BinaryIO | None = None, follow_symlinks: bool = True, tail: bool = False) -> bytes:
    """The bytes of a file (or of stdin for ``-``), refusing directories and oversized input.

    The one safe reader of a file: opened without blocking (a FIFO or a device in its place
    never hangs the reader), refused unless it is a regular file (fstat of what was opened, not
    of the name), and read to at most ``limit`` bytes. ``follow_symlinks=False`` refuses a
    symlink too (claudex's own caches and state: code ``unsafe_path``). With ``tail`` a larger
    file is not refused: its last ``limit`` bytes are read (a log)."""
    name = display_name(source)
    if str(source) == STDIN:
        stream = stdin if stdin is not None else sys.stdin.buffer
        if stream.isatty():
            raise InvalidInput("refusing to read JSON from a terminal", path=name,
                               hint="pipe a document in, or name a file instead of '-'",
                               code="stdin_is_terminal")
        data = stream.read(limit + 1)
    else:
        fd = _open_regular(source, name, follow_symlinks)
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise InvalidInput(f"{name} is a directory, not a file", path=name,
                                   hint="name the JSON file inside it", code="is_directory")
            if not stat.S_ISREG(st.st_mode):
                raise InvalidInput(f"{name} is not a regular file", path=name, code="not_a_file",
                                   hint="name a JSON file; a device, pipe or socket is not read")
            if st.st_size > limit:
                if not tail:
                    raise _too_large(name, st.st_size, limit)
                os.lseek(fd, st.st_size - limit, os.SEEK_SET)
            chunks, size = [], 0
            while size <= limit:
                chunk = os.read(fd, min(limit + 1 - size, 1024 * 1024))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            data = b"".join(chunks)
        except OSError as exc:
            raise InvalidInput(f"cannot read {name}: {exc.strerror}", path=name, code="unreadable",
                               hint="check that the file is readable") from None
        finally:
            os.close(fd)
    if len(data) > limit:
        if tail:
            return data[-limit:]
        raise _too_large(name, len(data), limit)
    return data


def _open_regular(source: str | os.PathLike, name: str, follow_symlinks: bool) -> int:
    import errno

    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        return os.open(source, flags)
    except FileNotFoundError:
        raise NotFound(f"no such file: {name}", path=name,
                       hint="check the path; relative paths start at the current directory") from None
    except PermissionError:
        raise InvalidInput(f"permission denied: {name}", path=name,
                           hint="check the file's permissions", code="permission_denied") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks and os.path.islink(source):
            from claudex_mcp.safepath import unsafe

            raise unsafe(Path(source), "is a symbolic link") from None
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO opened for writing by no one
            raise InvalidInput(f"{name} is not a regular file", path=name, code="not_a_file",
                               hint="name a JSON file; a device, pipe or socket is not read") from None
        raise InvalidInput(f"cannot read {name}: {exc.strerror}", path=name, code="unreadable",
                           hint="check the path (a symlink loop? a name too long?)") from None


def _too_large(name: str, size: int, limit: int) -> InvalidInput:
    return InvalidInput(
        f"{name} is too large ({_mib(size)}; the limit is {_mib(limit)})", path=name,
        hint="manifests, registries and configs are small JSON files; check that this is the right file",
        code="too_large")


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB" if size >= 1024 * 1024 else f"{size} bytes"


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse(data: bytes, name: str = "<input>") -> Any:
    """Parse UTF-8 JSON; every failure is an InvalidInput that says where and why."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a UTF-8 byte order mark is harmless; editors on Windows add it
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        col = len(data[line_start:exc.start].decode("utf-8", "replace")) + 1
        raise InvalidInput(f"{name}:{line}:{col}: not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
                           path=name, hint="save the file as UTF-8", code="not_utf8") from None
    if not text.strip():
        raise InvalidInput(f"{name} is empty", path=name,
                           hint="a JSON document is expected, e.g. {\"apiVersion\": \"v1\", ...}", code="empty")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{name}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}", path=name,
                           hint="fix the syntax at that line and column (a missing comma or quote, "
                                "a trailing comma, or a comment)", code="invalid_json") from None
    except _DuplicateKey as exc:
        raise InvalidInput(f"{name}: duplicate key {str(exc)!r}", path=name,
                           hint="a key may appear once per object; remove one of them",
                           code="duplicate_key") from None
    except ValueError as exc:  # NaN / Infinity
        raise InvalidInput(f"{name}: {exc}", path=name, hint="use a number or null",
                           code="invalid_json") from None
    except RecursionError:
        raise InvalidInput(f"{name}: nested too deeply", path=name, code="too_deep",
                           hint="manifests, registries and configs are shallow documents; flatten it") from None


def load(source: str | os.PathLike, *, stdin: BinaryIO | None = None) -> Any:
    """Read and parse a JSON document from a path or ``-``."""
    return parse(read_bytes(source, stdin=stdin), display_name(source))


# ---- JSONC: JSON with comments and trailing commas (VS Code's settings and mcp.json) ----------
# Hand-written on purpose: the JSONC libraries on PyPI (json5, commentjson, jsonc-parser) parse to
# Python values and cannot give back positions in the original text, which jsonedit needs to
# rewrite one member of a file and keep every other byte (comments included).

def strip_jsonc(text: str, name: str = "<input>") -> str:
    """``text`` with its comments (``//``, ``/* */``) and trailing commas replaced by spaces:
    strict JSON of the same length, every character at the same index, newlines kept, so that
    positions found in the result (and line/column in errors) are those of ``text``."""
    out = list(text)
    i, n = 0, len(text)
    last_comma = -1  # the index of a comma after a value, not yet followed by another value
    previous = ""  # the last character of JSON seen (outside strings and comments)
    while i < n:
        c = text[i]
        if c == '"':
            last_comma, previous = -1, '"'
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
        elif c == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out[i:end] = " " * (end - i)
            i = end
        elif c == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                line = text.count("\n", 0, i) + 1
                col = i - (text.rfind("\n", 0, i) + 1) + 1
                raise InvalidInput(f"{name}:{line}:{col}: a /* comment is never closed", path=name,
                                   hint="close it with */", code="invalid_json")
            end += 2
            out[i:end] = ["\n" if ch == "\n" else " " for ch in text[i:end]]
            i = end
        elif c == ",":
            last_comma = i if previous not in ("", "{", "[", ",") else -1
            previous = c
            i += 1
        elif c in "}]":
            if last_comma >= 0:
                out[last_comma] = " "
            last_comma, previous = -1, c
            i += 1
        else:
            if c not in " \t\r\n":
                last_comma, previous = -1, c
            i += 1
    return "".join(out)


def parse_jsonc(data: bytes, name: str = "<input>") -> Any:
    """Parse UTF-8 JSONC (JSON with comments and trailing commas, as VS Code writes it); errors
    as in ``parse``, with the line and column of the original text."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return parse(data, name)  # the same not-UTF-8 error, with its line and column
    return parse(strip_jsonc(text, name).encode("utf-8"), name)


def parse_json_or_jsonc(data: bytes, name: str = "<input>") -> tuple[Any, bool]:
    """A document that may be JSONC (a client's file), and whether it needed the JSONC reader
    (comments or trailing commas: positions in it are then found in ``strip_jsonc``'s text).
    Strict JSON is tried first, as the JSONC reader takes ten times as long over a large
    ~/.claude.json (0.6 s for 2 MB)."""
    try:
        return parse(data, name), False
    except InvalidInput as exc:
        if exc.code != "invalid_json":
            raise
    return parse_jsonc(data, name), True


def load_jsonc(source: str | os.PathLike, *, stdin: BinaryIO | None = None) -> Any:
    """Read and parse a JSONC document (comments, trailing commas) from a path or ``-``."""
    return parse_jsonc(read_bytes(source, stdin=stdin), display_name(source))

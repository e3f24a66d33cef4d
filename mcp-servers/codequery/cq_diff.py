"""Applying a unified diff (as `git diff` writes it) inside a root, all or nothing: every path is
checked, every hunk is matched (at its line numbers, else by its context nearby) before anything is
written; then each file is replaced atomically with its mode kept, and a failure restores them all.

A diff never touches the files that configure git, an agent or claudex (PROTECTED_*): a tool call
that could write `.mcp.json` or `.claudex/mcp.json` would choose what a client starts next."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from claudex_server.errors import InvalidInput
from claudex_server.files import write_atomic

MAX_DIFF_BYTES = 5_000_000
MAX_FILE_BYTES = 5_000_000
HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")

# What configures git, an agent or claudex, at any depth (clients read .mcp.json, CLAUDE.md and
# AGENTS.md in every parent folder; any folder with .claudex/ is a project), compared case-folded
# (a case-insensitive file system opens .CLAUDE/ as .claude/). Folders: they and all under them;
# files: that name; sequences: a path such as .config/claudex (when the root is a home folder).
PROTECTED_DIRS = frozenset({".git", ".claudex", ".claude", ".codex", ".cursor", ".vscode", ".gemini", ".windsurf"})
PROTECTED_FILES = frozenset({".mcp.json", ".claude.json", "claude.md", "claude.local.md", "agents.md",
                             "agents.override.md", "gemini.md", ".cursorrules", ".windsurfrules"})
PROTECTED_SEQUENCES = ((".config", "claudex"), (".config", "claude"), (".local", "share", "claudex"),
                       (".github", "copilot-instructions.md"))


@dataclass
class Hunk:
    old_start: int
    old_len: int
    new_start: int
    new_len: int
    lines: list[tuple[str, str]] = field(default_factory=list)  # (' ' | '-' | '+', text)
    old_eof_newline: bool = True
    new_eof_newline: bool = True

    @property
    def old(self) -> list[str]:
        return [t for k, t in self.lines if k in " -"]

    @property
    def new(self) -> list[str]:
        return [t for k, t in self.lines if k in " +"]


@dataclass
class FilePatch:
    old_path: str | None  # None: the file is created
    new_path: str | None  # None: the file is deleted
    hunks: list[Hunk] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""


def _strip_prefix(name: str) -> str | None:
    name = name.split("\t", 1)[0].strip()
    if name.startswith('"') and name.endswith('"'):
        raise InvalidInput(f"quoted path {name} is not supported", hint="use paths without special characters")
    if name == "/dev/null":
        return None
    if name.startswith(("a/", "b/")):
        return name[2:]
    return name


def parse(diff: str) -> list[FilePatch]:
    if not isinstance(diff, str) or not diff.strip():
        raise InvalidInput("diff is empty", hint="give a unified diff as `git diff` prints it")
    bad = next((i for i, c in enumerate(diff) if "\ud800" <= c <= "\udfff"), None)
    if bad is not None:
        raise InvalidInput(f"the diff holds a lone surrogate at character {bad}: it is not Unicode text",
                           hint="send the diff as valid text")
    if len(diff.encode()) > MAX_DIFF_BYTES:
        raise InvalidInput(f"diff is over {MAX_DIFF_BYTES} bytes", hint="apply it in parts")
    patches: list[FilePatch] = []
    lines = diff.splitlines()
    i = 0
    current: FilePatch | None = None
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            current = FilePatch(_strip_prefix(line[4:]), _strip_prefix(lines[i + 1][4:]))
            patches.append(current)
            i += 2
            continue
        m = HUNK.match(line)
        if m:
            if current is None:
                raise InvalidInput(f"line {i + 1}: a hunk before any '--- a/file' / '+++ b/file' header")
            hunk = Hunk(int(m[1]), int(m[2]) if m[2] is not None else 1, int(m[3]), int(m[4]) if m[4] is not None else 1)
            i += 1
            old_left, new_left = hunk.old_len, hunk.new_len
            while i < len(lines) and (old_left > 0 or new_left > 0 or lines[i].startswith("\\")):
                body = lines[i]
                if body.startswith("\\"):  # "\ No newline at end of file" for the line before
                    if hunk.lines:
                        kind = hunk.lines[-1][0]
                        if kind in " -":
                            hunk.old_eof_newline = False
                        if kind in " +":
                            hunk.new_eof_newline = False
                    i += 1
                    continue
                kind, text = (body[0], body[1:]) if body else (" ", "")
                if kind not in " -+":
                    raise InvalidInput(f"line {i + 1}: {body[:60]!r} is not a hunk line (' ', '-' or '+')",
                                       hint="the hunk's line counts in its @@ header may be wrong")
                hunk.lines.append((kind, text))
                if kind in " -":
                    old_left -= 1
                if kind in " +":
                    new_left -= 1
                i += 1
            if old_left or new_left:
                raise InvalidInput(f"a hunk of {current.path} ends before the line counts of its @@ header",
                                   hint="regenerate the diff with git diff")
            current.hunks.append(hunk)
            continue
        i += 1  # diff --git, index, mode lines and commentary
    if not patches:
        raise InvalidInput("no file changes found in the diff", hint="it needs '--- a/path', '+++ b/path' and @@ hunks")
    for p in patches:
        if not p.hunks:
            raise InvalidInput(f"{p.path}: no hunks", hint="renames and mode-only changes are not supported")
    return patches


def protected(parts: tuple[str, ...]) -> str | None:
    """The part of a path (its components) that configures git, an agent or claudex, or None."""
    folded = tuple(p.casefold() for p in parts)
    for i, part in enumerate(folded):
        if part in PROTECTED_DIRS or part in PROTECTED_FILES:
            return parts[i]
        for seq in PROTECTED_SEQUENCES:
            if folded[i:i + len(seq)] == seq:
                return "/".join(parts[i:i + len(seq)])
    return None


def check_path(root: Path, rel: str) -> Path:
    """The absolute path of ``rel`` inside ``root``, or InvalidInput saying why not."""
    if not rel or "\0" in rel:
        raise InvalidInput("a diff path is empty", path=rel)
    posix = PurePosixPath(rel)
    if posix.is_absolute() or rel.startswith("~"):
        raise InvalidInput(f"{rel}: absolute paths are refused", hint="paths are relative to the indexed root", path=rel)
    if ".." in posix.parts:
        raise InvalidInput(f"{rel}: '..' is refused", hint="every path must stay inside the root", path=rel)
    target = root / posix
    # Every existing component must stay inside the root once symlinks are followed.
    real = Path(os.path.realpath(target))
    if real != root and root not in real.parents:
        raise InvalidInput(f"{rel}: a symlink leads outside the root", hint="edit the file where it really is", path=rel)
    # As the diff names it, and where it really is (a symlink to .claude/, a root inside ~/.codex/).
    found = protected(posix.parts) or protected(real.parts[1:])
    if found is not None:
        raise InvalidInput(f"{rel}: writing into {found} is refused: it configures git, an agent or claudex, "
                           "so the whole diff was refused and nothing was written",
                           hint="leave that file out of the diff; change it yourself after reading the change",
                           path=rel)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return target
    except NotADirectoryError:
        raise InvalidInput(f"{rel}: a parent of it is not a folder", path=rel) from None
    if stat.S_ISLNK(st.st_mode):
        raise InvalidInput(f"{rel} is a symlink; refusing to replace it", path=rel)
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"{rel} is not a regular file", path=rel)
    return target


def _read(target: Path) -> bytes:
    fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput(f"{target.name} is over {MAX_FILE_BYTES} bytes")
    return data


def _find(lines: list[str], old: list[str], start: int) -> int | None:
    """Where ``old`` occurs: at ``start`` if it does, else the nearest offset either way."""
    n = len(lines)
    if not old:
        return min(max(start, 0), n)
    for offset in range(0, n + 1):
        for pos in ((start + offset, start - offset) if offset else (start,)):
            if 0 <= pos <= n - len(old) and lines[pos:pos + len(old)] == old:
                return pos
    return None


def plan(root: Path, patches: list[FilePatch]) -> tuple[list[dict], dict[Path, tuple[bytes | None, bytes | None, int | None]]]:
    """Per-file reports, and for every file that can be patched: (old bytes, new bytes, mode)."""
    reports: list[dict] = []
    writes: dict[Path, tuple[bytes | None, bytes | None, int | None]] = {}
    seen: set[str] = set()
    for patch in patches:
        for name in {patch.old_path, patch.new_path} - {None}:
            check_path(root, name)
        if patch.old_path and patch.new_path and patch.old_path != patch.new_path:
            raise InvalidInput(f"{patch.old_path} -> {patch.new_path}: renames are not supported",
                               hint="apply the rename with git mv, then the diff")
        rel = patch.path
        if rel in seen:
            raise InvalidInput(f"{rel} appears twice in the diff", hint="merge its hunks into one file section")
        seen.add(rel)
        target = check_path(root, rel)
        report: dict = {"path": rel, "action": "create" if patch.old_path is None else
                        "delete" if patch.new_path is None else "modify", "hunks": []}
        reports.append(report)
        exists = os.path.lexists(target)
        if patch.old_path is None and exists:
            report["error"] = "the diff creates this file but it already exists"
            continue
        if patch.old_path is not None and not exists:
            report["error"] = "the file does not exist"
            continue
        old_bytes = _read(target) if exists else b""
        mode = stat.S_IMODE(os.lstat(target).st_mode) if exists else None
        try:
            text = old_bytes.decode("utf-8")
        except UnicodeDecodeError:
            report["error"] = "the file is not UTF-8 text"
            continue
        newline = "\r\n" if "\r\n" in text else "\n"
        lines = text.splitlines()
        had_final_newline = text.endswith(("\n", "\r"))
        out: list[str] = []
        cursor = 0
        ok = True
        final_newline = had_final_newline if exists else True
        for number, hunk in enumerate(patch.hunks, start=1):
            want = max(hunk.old_start - 1, 0) if hunk.old_len else hunk.old_start
            pos = _find(lines, hunk.old, max(want, cursor))
            if pos is None or pos < cursor:
                pos = _find(lines[cursor:], hunk.old, max(want - cursor, 0))
                pos = None if pos is None else pos + cursor
            if pos is None:
                ok = False
                first = next((t for k, t in hunk.lines if k in " -"), "")
                report["hunks"].append({"hunk": number, "applied": False, "old_start": hunk.old_start,
                                        "reason": f"its context/removed lines do not match the file (first: {first[:60]!r})"})
                continue
            report["hunks"].append({"hunk": number, "applied": True, "old_start": hunk.old_start,
                                    "at_line": pos + 1, "offset": pos + 1 - hunk.old_start if hunk.old_len else 0})
            out.extend(lines[cursor:pos])
            out.extend(hunk.new)
            cursor = pos + len(hunk.old)
            if cursor >= len(lines):
                final_newline = hunk.new_eof_newline
        if not ok:
            report["error"] = "some hunks do not apply"
            continue
        out.extend(lines[cursor:])
        if patch.new_path is None:
            if out:
                report["error"] = "the diff deletes the file but lines would remain"
                continue
            writes[target] = (old_bytes, None, mode)
        else:
            new_text = newline.join(out) + (newline if out and final_newline else "")
            writes[target] = (old_bytes if exists else None, new_text.encode("utf-8"), mode)
    return reports, writes


def _write(target: Path, data: bytes, mode: int | None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)   # a new file may name new folders
    write_atomic(target, data, mode)


def apply(root: Path, diff: str, dry_run: bool = True) -> dict:
    patches = parse(diff)
    reports, writes = plan(root, patches)
    ok = all("error" not in r for r in reports)
    result = {"root": str(root), "dry_run": dry_run, "ok": ok, "applied": False, "files": reports}
    if not ok or dry_run:
        return result
    done: list[tuple[Path, bytes | None, int | None]] = []
    try:
        for target, (old, new, mode) in writes.items():
            check_path(root, str(target.relative_to(root)))  # again: nothing may have moved meanwhile
            if new is None:
                os.unlink(target)
            else:
                _write(target, new, mode)
            done.append((target, old, mode))
    except BaseException as exc:
        for target, old, mode in reversed(done):  # put every file back as it was
            if old is None:
                with_suppress_unlink(target)
            else:
                _write(target, old, mode)
        if isinstance(exc, OSError):
            raise InvalidInput(f"writing {exc.filename or 'a file'} failed ({exc.strerror or exc}); every file "
                               "was put back as it was", hint="check the folder's permissions") from None
        raise
    result["applied"] = True
    return result


def with_suppress_unlink(target: Path) -> None:
    try:
        os.unlink(target)
    except FileNotFoundError:
        pass

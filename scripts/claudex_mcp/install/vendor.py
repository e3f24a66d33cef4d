"""Shared server packages: what a server's requirements.txt (and its extras' requirements
files) may point at on disk, and the vendoring of `../lib/<dist>` packages into the staged server.

A local path in requirements.txt that stays inside the server folder is left alone. One that
leaves it is accepted only when its realpath lies inside the *source root* (the clone of a git
source; for a folder source the git work tree holding it, found by walking up to a `.git`, never
by running git) and is a Python project folder; it is copied into `<server>/vendor/<dist>/` and
the line rewritten to `./vendor/<dist>`. Everything else that reaches outside the folder
(absolute paths, `-e /abs`, `-r`/`-c`/`-f` outside, `file:` URLs, `${VAR}` in a path) is
refused, and a refused file is never opened, so no error can show its contents.

pip's rules, which this follows (pip 23, req_file.py and constructors.py): a nested `-r`/`-c`
is relative to the file that names it; a requirement path and `-e PATH` are relative to the
working directory (the server folder: deps.install runs pip there); `-f PATH` is relative to
the file when that exists, else to the working directory.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
from pathlib import Path

from claudex_mcp.errors import Conflict, InvalidInput

REQUIREMENTS = "requirements.txt"
VENDOR = "vendor"
MAX_FILE_BYTES = 1024 * 1024
MAX_NESTING = 10
_DIST = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_ENV = re.compile(r"\$\{")
_COMMENT = re.compile(r"(^|\s+)#.*$")
# The options pip accepts in a requirements file (optparse also accepts a unique prefix of a
# long one, so `--req ../x` is `--requirement ../x`); True: the option takes a value.
_LONG = {"--requirement": True, "--constraint": True, "--editable": True, "--find-links": True,
         "--index-url": True, "--extra-index-url": True, "--no-index": False, "--no-binary": True,
         "--only-binary": True, "--prefer-binary": False, "--require-hashes": False, "--pre": False,
         "--trusted-host": True, "--use-feature": True, "--global-option": True, "--hash": True,
         "--config-settings": True}
_SHORT = {"-r": "--requirement", "-c": "--constraint", "-e": "--editable", "-f": "--find-links",
          "-i": "--index-url", "-C": "--config-settings"}
_PATH_OPTIONS = {"--requirement", "--constraint", "--editable", "--find-links", "--index-url", "--extra-index-url"}
# A file: URL anywhere, also inside a VCS URL (git+file:///...) or a direct reference (name @ file:...).
_FILE_URL = re.compile(r"(^|[+@\s])file:", re.I)


class Line:
    """One logical line of a requirements file that names something on disk."""

    __slots__ = ("file", "number", "option", "value")

    def __init__(self, file: Path, number: int, option: str | None, value: str) -> None:
        self.file, self.number, self.option, self.value = file, number, option, value


def source_root(folder: Path) -> Path:
    """For a server that ships with claudex (a folder in this claudex's own `mcp-servers/`),
    that folder: a copy without `.git`, as in the image, must still find `lib/`. Else the git
    work tree holding ``folder`` (the nearest parent with a `.git` folder or file, looked at
    with lstat only), else the folder itself."""
    from claudex_mcp.paths import PROJECT_ROOT

    folder = Path(os.path.realpath(folder))
    shipped = Path(os.path.realpath(PROJECT_ROOT / "mcp-servers"))
    if folder != shipped and folder.is_relative_to(shipped):
        return shipped
    for candidate in (folder, *folder.parents):
        try:
            mode = os.lstat(candidate / ".git").st_mode
        except OSError:
            continue
        if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
            return candidate
    return folder


def _shown(text: str) -> str:
    """A value from a server's file, safe to put in a message (no control characters, short)."""
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 120 else text[:117] + "..."


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _refuse(line: Line, folder: Path, why: str, hint: str) -> InvalidInput:
    where = os.path.relpath(line.file, folder)
    what = f"{line.option} {line.value}" if line.option else line.value
    return InvalidInput(f"{where} line {line.number}: {_shown(what)} {why}", code="requirement_outside",
                        path=where, hint=hint)


def _read(path: Path, folder: Path, shown: str) -> str:
    """A requirements file inside ``folder``: a regular file (never a FIFO or device, which
    would hang or never end), small, UTF-8."""
    real = os.path.realpath(path)
    if not _inside(real, os.path.realpath(folder)):
        raise InvalidInput(f"{shown} leaves the server folder", code="requirement_outside", path=shown,
                           hint="requirements files must be inside the server folder")
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InvalidInput(f"{shown} does not exist", code="requirement_missing", path=shown,
                           hint="add the file, or remove the line that names it") from None
    except OSError as exc:
        raise InvalidInput(f"{shown} cannot be read: {exc.strerror}", code="requirement_unreadable",
                           path=shown, hint="make it a readable regular file") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidInput(f"{shown} is not a regular file", code="special-file", path=shown,
                               hint="requirements files must be regular files")
        if st.st_size > MAX_FILE_BYTES:
            raise InvalidInput(f"{shown} is larger than {MAX_FILE_BYTES // 1024} KiB", code="too_large",
                               path=shown, hint="a requirements file is a short list")
        data = os.read(fd, MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{shown} is not UTF-8", code="not_utf8", path=shown,
                           hint="save it as UTF-8") from None


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """pip's preprocessing: join `\\` continuations, drop comments and blank lines."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if raw.endswith("\\") and not _COMMENT.search(raw):
            pending += raw[:-1]
            continue
        line = _COMMENT.sub("", pending + raw).strip()
        pending = ""
        if line:
            out.append((start, line))
    if pending.strip():
        out.append((start, _COMMENT.sub("", pending).strip()))
    return out


def _long_option(token: str) -> str | None:
    if token in _LONG:
        return token
    matches = [name for name in _LONG if name.startswith(token)]
    return matches[0] if len(matches) == 1 else None


def _options(file: Path, number: int, text: str, folder: Path) -> list[Line]:
    """The on-disk values of the options on one line (an option line, or the --hash and
    --config-settings after a requirement)."""
    try:
        tokens = shlex.split(text)
    except ValueError:
        raise _refuse(Line(file, number, None, text), folder, "cannot be parsed",
                      "fix the quoting on that line") from None
    found, i = [], 0
    while i < len(tokens):
        token, value = tokens[i], None
        if token.startswith("--"):
            name, eq, inline = token.partition("=")
            option = _long_option(name)
            if eq:
                value = inline
        elif token.startswith("-") and len(token) >= 2:
            option = _SHORT.get(token[:2])
            value = token[2:] or None
        else:
            option = None
        if option is None:
            i += 1  # pip itself reports an unknown option or a stray word
            continue
        if value is None and _LONG[option]:
            i += 1
            value = tokens[i] if i < len(tokens) else ""
        if option in _PATH_OPTIONS:
            found.append(Line(file, number, option, value or ""))
        i += 1
    return found


def _requirement_value(text: str) -> str:
    """The requirement part of a requirement line (before its per-requirement options)."""
    words = text.split(" ")
    kept = []
    for word in words:
        if word.startswith("-"):
            break
        kept.append(word)
    return " ".join(kept).strip()


def _split_path(value: str) -> tuple[str, str]:
    """(path, the rest: extras and markers) of a local requirement, as pip splits them."""
    path, sep, markers = value.partition(";")
    path = path.strip()
    extras = ""
    match = re.search(r"(\[[^\]]*\])$", path)
    if match:
        path, extras = path[: match.start()], match.group(1)
    return path, extras + (f" ;{markers}" if sep else "")


def _is_local(value: str) -> bool:
    """pip's `_looks_like_path`, plus `file:` URLs and `name @ file:` references."""
    if _FILE_URL.search(value):
        return True
    if _SCHEME.match(value) or re.match(r"^[A-Za-z][A-Za-z0-9.-]*\+", value):
        return False  # https://..., git+https://...: fetched by pip, not read from disk
    if re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*@", value):
        return False  # name @ https://...
    return os.sep in value or value.startswith(".") or value.startswith("~")


# The requirements file of an extra: a bare file name beside requirements.txt (the manifest's schema).
_EXTRA_FILE = re.compile(r"(?!requirements\.txt$)[A-Za-z0-9_][A-Za-z0-9._-]{0,99}\.txt")


def extra_files(folder: Path) -> dict[str, str]:
    """{extra: its requirements file} of the extras ``folder``'s manifest.json declares. Read
    leniently (a fetched folder is validated after its requirements are vendored): an unreadable
    manifest, or a name that is not a bare file name, gives nothing here and a problem there."""
    from claudex_mcp import jsonio
    from claudex_mcp.errors import ClaudexError

    try:
        doc = jsonio.parse(jsonio.read_bytes(folder / "manifest.json", follow_symlinks=False), "manifest.json")
    except (OSError, ClaudexError):
        return {}
    extras = doc.get("extras") if isinstance(doc, dict) else None
    if not isinstance(extras, dict):
        return {}
    return {name: extra["requirements"] for name, extra in extras.items()
            if isinstance(extra, dict) and isinstance(extra.get("requirements"), str)
            and _EXTRA_FILE.fullmatch(extra["requirements"])}


def requirement_files(folder: Path) -> list[Path]:
    """The top requirements files of a server that exist: requirements.txt, then its extras' (in
    name order): what an install may read, what vendoring and the tree digest look at."""
    names = [REQUIREMENTS, *sorted(set(extra_files(folder).values()))]
    return [folder / name for name in names if os.path.lexists(folder / name)]


def scan(folder: Path) -> list[Line]:
    """Every line of ``folder``'s requirements files (requirements.txt, its extras' files and what
    they include) that names a local path; refuses files that cannot be read safely."""
    found: list[Line] = []
    seen: set[str] = set()

    def walk(file: Path, depth: int) -> None:
        real = os.path.realpath(file)
        if real in seen:
            return
        seen.add(real)
        shown = os.path.relpath(file, folder)
        if depth > MAX_NESTING:
            raise InvalidInput(f"{shown}: requirements files nest more than {MAX_NESTING} deep",
                               code="requirement_nesting", path=shown, hint="flatten the -r includes")
        for number, text in _logical_lines(_read(file, folder, shown)):
            if text.startswith("-"):
                lines = _options(file, number, text, folder)
            else:
                value = _requirement_value(text)
                lines = [Line(file, number, None, value)] if _is_local(value) else []
                rest = text[len(value):]
                lines += _options(file, number, rest, folder) if rest.strip() else []
            for line in lines:
                if line.option in ("--requirement", "--constraint") and not _SCHEME.match(line.value):
                    target = _nested_file(line, folder)
                    found.append(line)
                    walk(target, depth + 1)
                elif line.option in ("--requirement", "--constraint"):
                    if line.value.lower().startswith("file:"):
                        raise _refuse(line, folder, "is a file: URL", "name the file by a relative path "
                                      "inside the server folder")
                else:
                    found.append(line)

    for top in requirement_files(folder):
        walk(top, 0)
    return found


def _nested_file(line: Line, folder: Path) -> Path:
    value = line.value
    if not value or _ENV.search(value) or value.startswith(("/", "~")):
        raise _refuse(line, folder, "is not a relative path inside the server folder",
                      "name requirements files by a relative path inside the server folder")
    target = Path(os.path.normpath(line.file.parent / value))
    if not _inside(os.path.realpath(target), os.path.realpath(folder)):
        raise _refuse(line, folder, "points outside the server folder (the file is not read)",
                      "keep -r/-c files inside the server folder")
    return target


def resolve(line: Line, folder: Path, origin: Path, root: Path) -> tuple[str, Path] | None:
    """None for a path inside the server folder; ("dist", realpath) for a package to vendor;
    refuses anything else. ``folder`` is where the file is read (the staged copy); ``origin``
    is the source folder the relative path is resolved against."""
    if line.option in ("--index-url", "--extra-index-url"):
        if _FILE_URL.search(line.value):
            raise _refuse(line, folder, "is an index on this machine (a file: URL)",
                          "use an https index, or put the wheels inside the server folder and use -f ./wheels")
        return None
    if _FILE_URL.search(line.value):
        raise _refuse(line, folder, "is a file: URL", "name the package by a relative path (../lib/<dist>)")
    if line.option == "--find-links":
        path = line.value
    else:
        path, _rest = _split_path(line.value)
    if not path or _ENV.search(path):
        raise _refuse(line, folder, "uses an environment variable in a path",
                      "write the path literally, relative to the server folder")
    if path.startswith(("/", "~")):
        raise _refuse(line, folder, "is an absolute path outside the server folder",
                      "put the package inside the server folder or the repository's mcp-servers/lib/, "
                      "and name it by a relative path")
    base = origin
    if line.option == "--find-links":
        nested = line.file.parent / path
        if os.path.lexists(nested):
            base = origin / os.path.relpath(line.file.parent, folder)
    real = os.path.realpath(base / path)
    if _inside(real, os.path.realpath(origin)):
        if os.path.normpath(path).startswith(".."):  # out and back in: wrong once the folder is staged
            raise _refuse(line, folder, "leaves the server folder and comes back into it",
                          "write the path relative to the server folder without '..'")
        return None
    if line.option == "--find-links":
        raise _refuse(line, folder, "points outside the server folder", "keep find-links folders inside "
                      "the server folder")
    if not _inside(real, os.path.realpath(root)):
        raise _refuse(line, folder, "points outside the source root (the repository holding the server)",
                      "shared packages must live in the same repository, e.g. mcp-servers/lib/<dist>")
    if not os.path.isdir(real) or not any(os.path.isfile(os.path.join(real, f)) for f in ("pyproject.toml", "setup.py")):
        raise _refuse(line, folder, "is not a Python project folder (pyproject.toml or setup.py)",
                      "point at the package's folder, e.g. ../lib/<dist>")
    dist = os.path.basename(real)
    if not _DIST.fullmatch(dist):
        raise _refuse(line, folder, "has a folder name that cannot be a distribution name",
                      "name the folder after the package: letters, digits, . _ -")
    return dist, Path(real)


def outside_packages(origin: Path, root: Path, folder: Path | None = None) -> dict[str, Path]:
    """The packages outside ``origin`` that its requirements name ({dist: realpath}); checks
    every local path on the way."""
    folder = folder or origin
    packages: dict[str, Path] = {}
    for line in scan(folder):
        if line.option in ("--requirement", "--constraint"):
            continue
        found = resolve(line, folder, origin, root)
        if found is None:
            continue
        dist, real = found
        if packages.get(dist, real) != real:
            raise _refuse(line, folder, f"is a second package named {dist}", "give shared packages distinct "
                          "folder names")
        packages[dist] = real
    return packages


def vendor(staged: Path, origin: Path, root: Path, copy) -> list[str]:
    """Copy the outside packages into ``staged``/vendor/ (with ``copy(src, dest)``) and rewrite
    the lines naming them in the staged requirements files. Returns the vendored dists."""
    lines = [line for line in scan(staged) if line.option not in ("--requirement", "--constraint")]
    packages: dict[str, Path] = {}
    rewrites: dict[Path, dict[int, str]] = {}
    for line in lines:
        found = resolve(line, staged, origin, root)
        if found is None:
            continue
        dist, real = found
        if packages.get(dist, real) != real:
            raise _refuse(line, staged, f"is a second package named {dist}", "give shared packages distinct "
                          "folder names")
        packages[dist] = real
        _path, rest = _split_path(line.value)
        # `-e` is dropped: an editable install points at the staging folder, which is renamed
        # away at the commit; the vendored copy is the server's own, so a plain install is right.
        rewrites.setdefault(line.file, {})[line.number] = f"./{VENDOR}/{dist}{rest}"
    if not packages:
        return []
    vendor_dir = staged / VENDOR
    if os.path.lexists(vendor_dir) and not (vendor_dir.is_dir() and not vendor_dir.is_symlink()):
        raise Conflict(f"{VENDOR} in the server folder is not a folder", code="vendor_conflict", path=VENDOR,
                       hint=f"rename it: claudex puts shared packages in {VENDOR}/")
    vendor_dir.mkdir(exist_ok=True)
    for dist, real in sorted(packages.items()):
        if os.path.lexists(vendor_dir / dist):
            raise Conflict(f"{VENDOR}/{dist} already exists in the server folder", code="vendor_conflict",
                           path=f"{VENDOR}/{dist}", hint=f"remove it, or stop naming ../{dist} in requirements.txt")
        copy(real, vendor_dir / dist)
    for file, changes in rewrites.items():
        _rewrite(file, changes)
    return sorted(packages)


def drop_editable(staged: Path) -> list[str]:
    """Make every `-e PATH` of a local folder in the staged requirements a plain install of
    PATH: an editable install points the venv at the staging folder, which the commit renames
    away (the server would then fail to import it). Returns the paths changed."""
    rewrites: dict[Path, dict[int, str]] = {}
    for line in scan(staged):
        # After -e, anything that is not a URL is a folder (pip: `-e pkg` is ./pkg).
        if line.option != "--editable" or _FILE_URL.search(line.value) or _SCHEME.match(line.value) \
                or re.match(r"^[A-Za-z][A-Za-z0-9.-]*\+", line.value):
            continue
        path, rest = _split_path(line.value)
        if not path.startswith((".", os.sep)):
            path = "./" + path  # a bare word after -e is a folder; without -e it would be a name
        rewrites.setdefault(line.file, {})[line.number] = f"{path}{rest}"
    for file, changes in rewrites.items():
        _rewrite(file, changes)
    return sorted(v for changes in rewrites.values() for v in changes.values())


def _rewrite(file: Path, changes: dict[int, str]) -> None:
    """Replace the logical lines starting at the given numbers (and their continuations)."""
    from claudex_mcp import atomic

    raw = file.read_text(encoding="utf-8").splitlines()
    out, skipping = [], False
    for number, text in enumerate(raw, 1):
        if skipping:
            skipping = text.endswith("\\")
            continue
        if number in changes:
            out.append(changes[number])
            skipping = text.endswith("\\")
        else:
            out.append(text)
    atomic.write_text(file, "\n".join(out) + "\n", mode=stat.S_IMODE(os.lstat(file).st_mode))


def pip_lines(folder: Path) -> list[str]:
    """``folder``'s requirements (its extras' too) as lines pip reads the same from any working
    directory: nested -r files inlined, local paths made absolute (for the dev venv, which installs every
    shipped server's requirements in one pip run from the repository's root)."""
    out: list[str] = []

    def walk(file: Path, depth: int) -> None:
        shown = os.path.relpath(file, folder)
        if depth > MAX_NESTING:
            raise InvalidInput(f"{shown}: requirements files nest too deep", code="requirement_nesting", path=shown)
        for number, text in _logical_lines(_read(file, folder, shown)):
            if text.startswith("-"):
                lines = _options(file, number, text, folder)
                nested = [ln for ln in lines if ln.option in ("--requirement", "--constraint")
                          and not _SCHEME.match(ln.value)]
                if nested:
                    for line in nested:
                        walk(_nested_file(line, folder), depth + 1)
                    continue
                editable = [ln for ln in lines if ln.option == "--editable" and _is_local(ln.value)]
                if editable:
                    path, rest = _split_path(editable[0].value)
                    out.append(f"-e {os.path.realpath(folder / path)}{rest}")
                    continue
                out.append(text)
            else:
                value = _requirement_value(text)
                if _is_local(value) and not value.lower().startswith("file:"):
                    path, rest = _split_path(value)
                    out.append(f"{os.path.realpath(folder / path)}{rest}{text[len(value):]}")
                else:
                    out.append(text)

    for top in requirement_files(folder):
        walk(top, 0)
    return out

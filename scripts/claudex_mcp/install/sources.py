"""Where a server comes from: a local folder or a git repository (URL and ref), fetched into
a staging folder without running anything from it."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

from claudex_mcp.errors import ClaudexError, ExternalFailure, InvalidInput, NotFound, UsageError

# Copied from a local folder or a clone, never: VCS data, environments, caches.
EXCLUDED = {".git", ".venv", "node_modules", "__pycache__", ".pytest_cache", ".mypy_cache"}
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
_SCP_LIKE = re.compile(r"[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/\\][^\\]*")
_SUBDIR_PART = re.compile(r"[A-Za-z0-9._+@-]{1,255}")
_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/+-]{0,199}")
GIT_TIMEOUT = 300


def max_bytes() -> int:
    try:
        return int(os.environ.get("CLAUDEX_MCP_MAX_SOURCE_BYTES", DEFAULT_MAX_BYTES))
    except ValueError:
        return DEFAULT_MAX_BYTES


def parse(spec: str) -> dict:
    """{"type": "path", "path"} or {"type": "git", "url", "ref"?} for a command-line source."""
    if not spec or spec.startswith("-"):
        raise UsageError(f"invalid source {spec!r}: it may not be empty or start with '-'", code="invalid_source",
                         hint="give a server folder (./my-server) or a git URL (https://host/repo.git); "
                              "'-' is not a source")
    from claudex_mcp import secrets

    if secrets.url_credentials(spec):  # the URL itself would be stored in registry.json and shown
        raise InvalidInput(f"the URL {secrets.strip_url_credentials(spec)!r} was given with a user name and "
                           f"password or token in it; claudex does not store or show credentials",
                           code="credentials_in_url",
                           hint="give the URL without them and let git supply them: a credential helper "
                                "(git config credential.helper), ~/.netrc, or an ssh:// URL with a key")
    lowered = spec.lower()
    if lowered.startswith(("ext::", "fd::")) or "::" in spec.split("/")[0]:
        raise InvalidInput(f"the git transport in {spec!r} is not allowed", code="invalid_source",
                           hint="use an https://, ssh://, git@host:path or file:// URL")
    is_url = lowered.startswith(("https://", "ssh://", "file://")) or bool(_SCP_LIKE.fullmatch(spec))
    if not is_url or Path(spec).is_dir():
        if lowered.startswith(("http://", "git://")):
            raise InvalidInput(f"{spec!r} uses an unauthenticated transport", code="invalid_source",
                               hint="use https://, ssh://, git@host:path or file://")
        path = Path(spec).expanduser()
        if not path.exists() and "@" in spec:
            local = _local_repository_at_ref(spec)
            if local is not None:
                return local
        if not path.exists():
            raise NotFound(f"no such folder: {spec}", path=spec, code=_package_code(spec),
                           hint=_package_hint(spec) or
                           "give a server folder, or a git URL (https://, ssh://, git@host:path, file://)")
        if not path.is_dir():
            raise InvalidInput(f"{spec} is not a folder", path=spec, hint="give the server's folder", code="not_a_folder")
        return {"type": "path", "path": str(path.resolve())}
    url, ref = spec, None
    tail = spec.rsplit("/", 1)[-1] if "/" in spec else spec.split(":", 1)[-1]
    if "@" in tail:
        url, ref = spec[: len(spec) - len(tail)] + tail.rsplit("@", 1)[0], tail.rsplit("@", 1)[1]
        check_ref(ref)
    return {"type": "git", "url": url, **({"ref": ref} if ref else {})}


_NPM_PACKAGE = re.compile(r"^@[a-z0-9][a-z0-9._~-]*/[a-z0-9][a-z0-9._~-]*(@[^\s/]+)?$", re.I)
_BARE_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9._-]*$", re.I)


def _package_code(spec: str) -> str:
    return "npm_package" if _NPM_PACKAGE.match(spec) else "not_found"


def _package_hint(spec: str) -> str | None:
    """What to run for a name that is a package rather than a folder (`install @scope/pkg`, as
    `npm install` takes it): `add`, which runs it with npx or uvx."""
    from claudex_mcp.install.adopt import suggest_name

    if _NPM_PACKAGE.match(spec):
        base = spec[1:].split("/", 1)[1].split("@", 1)[0]
        name = suggest_name(re.sub(r"^(mcp-server-|server-|mcp-)|(-mcp-server|-mcp|-server)$", "", base)) or "NAME"
        return (f"{spec} is an npm package, not a server folder: add it as a command, "
                f"'claudex mcp add {name} -- npx -y {spec}'")
    if _BARE_PACKAGE.match(spec) and "." not in spec:
        name = suggest_name(re.sub(r"^(mcp-server-|server-|mcp-)|(-mcp-server|-mcp|-server)$", "", spec)) or "NAME"
        return (f"if {spec} is a package rather than a folder, add it as a command: 'claudex mcp add {name} -- "
                f"npx -y {spec}' (npm) or 'claudex mcp add {name} -- uvx {spec}' (PyPI); else give a server "
                f"folder or a git URL")
    return None


def _local_repository_at_ref(spec: str) -> dict | None:
    """PATH@REF for a git repository on this machine, as file://PATH@REF; None when the part
    before the last @ is no folder. (A path that exists as given, @ and all, never gets here.)"""
    folder, ref = spec.rsplit("@", 1)
    path = Path(folder).expanduser()
    if not folder or not path.is_dir():
        return None
    check_ref(ref)
    if not ((path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())):
        raise InvalidInput(f"{folder} is not a git repository, so @{ref} cannot be checked out of it",
                           path=folder, code="not_git_repository",
                           hint=f"install the folder as it is ('claudex mcp install {folder}'), or give a git "
                                "repository with PATH@TAG")
    return {"type": "git", "url": "file://" + str(path.resolve()), "ref": ref}


def check_ref(ref: str) -> str:
    if not _REF.fullmatch(ref) or ".." in ref or ref.endswith((".lock", "/", ".")) or "//" in ref:
        raise InvalidInput(f"invalid git ref {ref!r}", code="invalid_ref",
                           hint="a tag, branch or commit: letters, digits and . _ / + -, not starting with '-'")
    return ref


def _git_env() -> dict:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="/bin/false", SSH_ASKPASS="/bin/false",
               GIT_CONFIG_NOSYSTEM="1", GIT_PROTOCOL_FROM_USER="0")
    env["GIT_SSH_COMMAND"] = env.get("GIT_SSH_COMMAND", "ssh -oBatchMode=yes")
    return env


# Only these transports: no ext::, fd::, plain http or git://, whatever the user's git config says.
_GIT_SAFE = ["-c", "protocol.allow=never", "-c", "protocol.https.allow=always", "-c", "protocol.ssh.allow=always",
             "-c", "protocol.file.allow=always", "-c", "core.hooksPath=/dev/null", "-c", "submodule.recurse=false"]


def git(*args: str, cwd: Path | None = None, timeout: float = GIT_TIMEOUT) -> str:
    if shutil.which("git") is None:
        raise ExternalFailure("git is not installed", hint="install git (apt-get install git)", code="no_git")
    from claudex_mcp import procs

    try:
        proc = procs.run(["git", *_GIT_SAFE, *args], cwd=cwd, env=_git_env(), timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ExternalFailure(f"git {args[0]} took longer than {timeout:.0f} s", code="git_timeout",
                              hint="check that the host answers (git ls-remote URL), then run it again") from None
    if proc.returncode != 0:
        raise _git_failure(args, proc.stderr)
    return proc.stdout


# The lines of git's stderr that say why, in git's own words ("ssh: Could not resolve hostname
# x", "fatal: repository '...' not found"); the advice git adds after them is left out.
_GIT_REASON = ("fatal:", "error:", "ssh:", "remote:", "warning: redirecting")


def git_reason(stderr: str) -> str:
    """Why git failed, in its own words: its fatal/error/ssh lines (the last lines of its
    stderr when it wrote none of those)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    reasons = [line for line in lines if line.lower().startswith(_GIT_REASON)]
    # "Could not read from remote repository" only repeats that the line before it failed.
    useful = [line for line in reasons if "could not read from remote repository" not in line.lower()] or reasons
    return " ".join(dict.fromkeys(useful or lines[-3:]))[:1000] or "no reason given"


def _git_failure(args: tuple, stderr: str) -> ClaudexError:
    """The error for a failed git command: git's own reason, and for an https URL that serves
    something else than a git repository (a web page, a remote MCP server), where to go."""
    reason = git_reason(stderr)
    url = next((a for a in args if isinstance(a, str) and a.lower().startswith("https://")), None)
    if url is not None and ("is this a git repository" in reason or "not valid:" in reason):
        return InvalidInput(f"{url} is not a git repository (git {args[0]}: {reason})", code="not_git_repository",
                            path=url, hint="install takes a git repository or a server folder; for a remote "
                                           f"MCP server at this URL, run 'claudex mcp add NAME --url {url}'")
    hint = "check the URL, the ref and your access to the repository"
    if url is not None and "not found" in reason.lower():
        hint += f"; if {url} is a remote MCP server, not a git repository, run 'claudex mcp add NAME --url {url}'"
    return ExternalFailure(f"git {args[0]} failed: {reason}", code="git_failed", hint=hint)


def _tree_size(folder: Path) -> int:
    total = 0
    for current, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(current, name)).st_size
            except OSError:
                pass
    return total


def _too_large(what: str, size: int, limit: int) -> InvalidInput:
    return InvalidInput(f"{what} is too large (over {size // (1024 * 1024)} MiB; the limit is {limit // (1024 * 1024)} MiB)",
                        code="too_large", hint="raise CLAUDEX_MCP_MAX_SOURCE_BYTES if this is really the server")


def _check_size(folder: Path, what: str) -> None:
    size, limit = _tree_size(folder), max_bytes()
    if size > limit:
        raise _too_large(what, size, limit)


class Budget:
    """The bytes a fetch may still copy: counted while copying, so a file that grows (or
    never ends) stops the copy at the limit instead of filling the disk."""

    def __init__(self, what: str, limit: int | None = None) -> None:
        self.what, self.limit = what, max_bytes() if limit is None else limit
        self.used = 0

    def spend(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise _too_large(self.what, self.used, self.limit)


def _refuse_special(top: Path, rel: str, st: os.stat_result) -> None:
    """Only regular files, folders and symlinks that stay inside ``top`` may be copied: a
    device copies forever or as a file, a FIFO blocks the reader, a socket cannot be read."""
    shown = str(top / rel)
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        real = os.path.realpath(top / rel)
        root = os.path.realpath(top)
        if real != root and not real.startswith(root + os.sep):
            raise InvalidInput(f"{shown} is a symlink that leaves the server folder (-> {os.readlink(top / rel)})",
                               code="symlink-escape", path=shown, hint="replace the link with the file itself")
    elif not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "a device file" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file")
        raise InvalidInput(f"{shown} is {kind}; a server folder holds only files, folders and symlinks",
                           code="special-file", path=shown, hint=f"remove {rel} from the server folder")


def entries(top: Path):
    """(relative path, lstat) of everything a copy of ``top`` takes, in a stable order, parents
    before children; nothing is followed, nothing is opened, and anything but regular files,
    folders and symlinks inside ``top`` is refused."""
    def walk(rel: str):
        try:
            with os.scandir(top / rel if rel else top) as it:
                found = sorted((e.name, e.stat(follow_symlinks=False)) for e in it if e.name not in EXCLUDED)
        except OSError as exc:
            raise InvalidInput(f"{top / rel} cannot be read: {exc.strerror}", code="unreadable",
                               path=str(top / rel), hint="check its permissions") from None
        for name, st in found:
            child = os.path.join(rel, name) if rel else name
            _refuse_special(top, child, st)
            yield child, st
            if stat.S_ISDIR(st.st_mode):
                yield from walk(child)
    return walk("")


def read_chunks(path: Path, budget: Budget | None = None, chunk: int = 1024 * 1024):
    """The bytes of a regular file, opened without following a link and without blocking
    (what lstat saw may have been swapped for a FIFO since)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise InvalidInput(f"{path} cannot be read: {exc.strerror}", code="unreadable", path=str(path),
                           hint="check its permissions") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InvalidInput(f"{path} is not a regular file", code="special-file", path=str(path),
                               hint="remove it from the server folder")
        while True:
            data = os.read(fd, chunk)
            if not data:
                return
            if budget is not None:
                budget.spend(len(data))
            yield data
    finally:
        os.close(fd)


def _copy_mode(st: os.stat_result, private_modes: bool) -> int:
    """A file or folder that others may not read stays owner-only (a mode-600 file, or a hard
    link to one, never becomes a world-readable copy); git records no read bits, so a clone's
    files get the usual modes. normalise_permissions keeps owner-only modes."""
    executable = st.st_mode & 0o111 or stat.S_ISDIR(st.st_mode)
    if private_modes and not st.st_mode & stat.S_IROTH:
        return 0o700 if executable else 0o600
    if private_modes:
        return stat.S_IMODE(st.st_mode) & 0o777  # world-writable stays, for validation to refuse
    return 0o755 if executable else 0o644


def copy_tree(src: Path, dest: Path, budget: Budget | None = None, private_modes: bool = True) -> None:
    """Copy a server folder: lstat the whole tree first (refusing special files and links that
    leave it, and a tree over the size limit), then copy it without following anything,
    counting the bytes against ``budget`` as they are copied. Symlinks are copied as links."""
    budget = budget or Budget(str(src))
    listed = list(entries(src))
    total = sum(st.st_size for _rel, st in listed if stat.S_ISREG(st.st_mode))
    if budget.used + total > budget.limit:
        raise _too_large(budget.what, budget.used + total, budget.limit)
    os.mkdir(dest, 0o700)
    folders = [("", os.lstat(src))]
    for rel, st in listed:
        target = dest / rel
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(target, 0o700)
            folders.append((rel, st))
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src / rel), target)
        else:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                for data in read_chunks(src / rel, budget):
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                os.fchmod(fd, _copy_mode(st, private_modes))
            finally:
                os.close(fd)
    for rel, st in reversed(folders):  # last, so an owner-only folder did not block its own copy
        os.chmod(dest / rel if rel else dest, _copy_mode(st, private_modes))


def tree_digest(folder: Path, root: Path | None = None) -> str:
    """A digest of a server folder's files and of the shared packages it vendors (what a copy
    would take), to see whether it changed; special files are refused, never read."""
    import hashlib

    from claudex_mcp.install import vendor

    digest = hashlib.sha256()
    trees = [("", folder)]
    packages = vendor.outside_packages(folder, root or vendor.source_root(folder))
    trees += [(f"{vendor.VENDOR}/{dist}/", path) for dist, path in sorted(packages.items())]
    budget = Budget(str(folder))
    for prefix, top in trees:
        for rel, st in entries(top):
            if stat.S_ISDIR(st.st_mode):
                continue
            # os.fsencode: a name that is not UTF-8 is digested as its bytes (validation refuses it)
            digest.update(os.fsencode(prefix + rel) + b"\0")
            if stat.S_ISLNK(st.st_mode):
                digest.update(os.fsencode(os.readlink(top / rel)))
            else:
                for data in read_chunks(top / rel, budget):
                    digest.update(data)
            digest.update(b"\0")
    return "sha256:" + digest.hexdigest()


def check_subdir(subdir: str) -> str:
    """A folder inside a repository: relative, no '..', nothing unusual."""
    parts = subdir.strip("/").split("/")
    if (not subdir or subdir.startswith("/") or any(p in ("", ".", "..") or p.startswith("-") for p in parts)
            or not all(_SUBDIR_PART.fullmatch(p) for p in parts)):
        raise InvalidInput(f"invalid --subdir {subdir!r}", code="invalid_subdir",
                           hint="a folder inside the repository, e.g. mcp-servers/my-server (no '..', not absolute)")
    return "/".join(parts)


def _subfolder(clone: Path, subdir: str, url: str) -> Path:
    folder = clone / subdir
    real = os.path.realpath(folder)
    if not (real.startswith(os.path.realpath(clone) + os.sep)) or not os.path.isdir(real) or folder.is_symlink():
        raise NotFound(f"{url} has no folder {subdir}", code="no_subdir", path=subdir,
                       hint="check --subdir: the server's folder inside the repository (not a symlink)")
    return folder


def fetch(source: dict, dest: Path, scratch: Path) -> dict:
    """Put the server's files in ``dest`` (with the shared packages its requirements name
    vendored, see vendor.py); return the source record (with the commit for git)."""
    from claudex_mcp.install import vendor

    if source["type"] == "path":
        origin = Path(source["path"])
        budget = Budget(source["path"])
        copy_tree(origin, dest, budget)
        # The shipped core servers' shared packages are in claudex's own mcp-servers/lib.
        root = Path(source["root"]) if source.get("root") else vendor.source_root(origin)
        vendor.vendor(dest, origin, root, lambda src, to: copy_tree(src, to, budget))
        return {k: v for k, v in source.items() if k != "root"}
    clone = scratch / "clone"
    git("clone", "--quiet", "--no-recurse-submodules", "--", source["url"], str(clone))
    if not git("rev-list", "-n", "1", "--all", cwd=clone).strip():
        raise _no_commits(source["url"])
    _check_size(clone, source["url"])
    if source.get("ref"):  # a tag, branch or commit; check_ref() made sure it is not an option
        commit = None
        for candidate in (source["ref"], f"origin/{source['ref']}"):  # a tag or commit, or a branch
            try:
                commit = git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{candidate}^{{commit}}",
                             cwd=clone).strip()
                break
            except ExternalFailure:
                continue
        if commit is None:
            raise ExternalFailure(f"{source['url']} has no tag, branch or commit {source['ref']!r}", code="no_ref",
                                  hint="check the ref (git ls-remote URL lists tags and branches)")
        git("checkout", "--quiet", "--detach", commit, cwd=clone)
    if source.get("submodules"):  # only when asked for (install --submodules)
        # Never the file transport for submodules: a hostile .gitmodules could otherwise pull
        # any repository on this machine (the user's private ones) into the registry.
        try:
            git("-c", "protocol.file.allow=never", "submodule", "--quiet", "update", "--init", "--recursive",
                cwd=clone)
        except ExternalFailure as exc:
            if "transport 'file' not allowed" not in exc.message:
                raise
            raise InvalidInput(f"a submodule of {source['url']} points at a repository on this machine, "
                               "which is not fetched", code="submodule_transport",
                               hint="submodules are fetched over https or ssh only; install without --submodules") from None
        _check_size(clone, source["url"])
    commit = git("rev-parse", "HEAD", cwd=clone).strip()
    origin = _subfolder(clone, source["subdir"], source["url"]) if source.get("subdir") else clone
    budget = Budget(source["url"])
    copy_tree(origin, dest, budget, private_modes=False)
    vendor.vendor(dest, origin, clone, lambda src, to: copy_tree(src, to, budget, private_modes=False))
    return {**source, "commit": commit}


def _no_commits(url: str) -> InvalidInput:
    """A clone without a commit: an empty repository, or over https a web page (git's "dumb"
    HTTP protocol reads a page that answers 200 as a repository with no refs)."""
    if url.lower().startswith("https://"):
        return InvalidInput(f"{url} is not a git repository with commits: git found nothing to check out (a web "
                            "page or another service answered, or the repository is empty)",
                            code="not_git_repository", path=url,
                            hint="install takes a git repository or a server folder; for a remote MCP server "
                                 f"at this URL, run 'claudex mcp add NAME --url {url}'")
    return InvalidInput(f"{url} is an empty git repository: it has no commits", code="empty_repository", path=url,
                        hint="push the server's files to it first, or install from another URL or a folder")


def remote_tags(url: str) -> list[str]:
    out = git("ls-remote", "--tags", "--refs", "--", url)
    return [line.split("refs/tags/", 1)[1] for line in out.splitlines() if "refs/tags/" in line]


def remote_head(url: str, branch: str) -> str | None:
    out = git("ls-remote", "--heads", "--", url, f"refs/heads/{branch}")
    return out.split()[0] if out.strip() else None

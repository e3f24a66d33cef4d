"""Where a server comes from: a local folder or a git repository (URL and ref), fetched into
a staging folder without running anything from it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from .errors import ExternalFailure, InvalidInput, NotFound, UsageError

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
    from . import secrets

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
        if not path.exists():
            raise NotFound(f"no such folder: {spec}", path=spec,
                           hint="give a server folder, or a git URL (https://, ssh://, git@host:path, file://)")
        if not path.is_dir():
            raise InvalidInput(f"{spec} is not a folder", path=spec, hint="give the server's folder", code="not_a_folder")
        return {"type": "path", "path": str(path.resolve())}
    url, ref = spec, None
    tail = spec.rsplit("/", 1)[-1] if "/" in spec else spec.split(":", 1)[-1]
    if "@" in tail:
        url, ref = spec[: len(spec) - len(tail)] + tail.rsplit("@", 1)[0], tail.rsplit("@", 1)[1]
        check_ref(ref)
    return {"type": "git", "url": url, **({"ref": ref} if ref else {})}


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
    try:
        proc = subprocess.run(["git", *_GIT_SAFE, *args], cwd=cwd, env=_git_env(), capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ExternalFailure(f"git {args[0]} took longer than {timeout:.0f} s", code="git_timeout") from None
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.strip().splitlines()[-3:])
        raise ExternalFailure(f"git {args[0]} failed: {tail}", code="git_failed",
                              hint="check the URL, the ref and your access to the repository")
    return proc.stdout


def _tree_size(folder: Path) -> int:
    total = 0
    for current, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(current, name)).st_size
            except OSError:
                pass
    return total


def _check_size(folder: Path, what: str) -> None:
    size, limit = _tree_size(folder), max_bytes()
    if size > limit:
        raise InvalidInput(f"{what} is too large ({size // (1024 * 1024)} MiB; the limit is {limit // (1024 * 1024)} MiB)",
                           code="too_large", hint="raise CLAUDEX_MCP_MAX_SOURCE_BYTES if this is really the server")


def copy_tree(src: Path, dest: Path) -> None:
    """Copy a server folder, symlinks as links (validation refuses those that leave it)."""
    shutil.copytree(src, dest, symlinks=True, ignore=lambda _d, names: [n for n in names if n in EXCLUDED])


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
    from . import vendor

    if source["type"] == "path":
        origin = Path(source["path"])
        copy_tree(origin, dest)
        # The shipped core servers' shared packages are in claudex's own mcp-servers/lib.
        root = Path(source["root"]) if source.get("root") else vendor.source_root(origin)
        vendor.vendor(dest, origin, root, copy_tree)
        _check_size(dest, source["path"])
        return {k: v for k, v in source.items() if k != "root"}
    clone = scratch / "clone"
    git("clone", "--quiet", "--no-recurse-submodules", "--", source["url"], str(clone))
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
        git("-c", "protocol.file.allow=always", "submodule", "--quiet", "update", "--init", "--recursive", cwd=clone)
        _check_size(clone, source["url"])
    commit = git("rev-parse", "HEAD", cwd=clone).strip()
    origin = _subfolder(clone, source["subdir"], source["url"]) if source.get("subdir") else clone
    copy_tree(origin, dest)
    vendor.vendor(dest, origin, clone, copy_tree)
    _check_size(dest, source["url"])
    return {**source, "commit": commit}


def remote_tags(url: str) -> list[str]:
    out = git("ls-remote", "--tags", "--refs", "--", url)
    return [line.split("refs/tags/", 1)[1] for line in out.splitlines() if "refs/tags/" in line]


def remote_head(url: str, branch: str) -> str | None:
    out = git("ls-remote", "--heads", "--", url, f"refs/heads/{branch}")
    return out.split()[0] if out.strip() else None

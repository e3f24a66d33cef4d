"""Where the gateway lives: its private runtime folder (``$XDG_RUNTIME_DIR/claudex``, else
``/tmp/claudex-<uid>``), the unix socket in it, its locks, its bearer token file, and whether a
server is shared. Standard library only: the bridge imports it on every start."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from claudex_mcp import paths, safepath
from claudex_mcp.errors import InvalidInput

# One gateway per registry (a server name means a server of one registry): its files are named
# gateway-<key>.<kind>, the key a digest of the registry's path.
SOCKET = "sock"
SERVE_LOCK = "lock"  # held by the running gateway for its whole life, its pid inside
START_LOCK = "start"  # held by the one bridge that starts a gateway, while it does
STATE = "json"  # pid, socket, since, http, registry: written by the gateway
SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with its NUL


def key(env=None) -> str:
    import hashlib

    return hashlib.sha256(os.fsencode(paths.registry_dir(env))).hexdigest()[:12]


def file(kind: str, env=None) -> Path:
    """The runtime folder's file of this registry's gateway: SOCKET, SERVE_LOCK, START_LOCK or STATE."""
    return runtime_dir(env) / f"gateway-{key(env)}.{kind}"


def unsafe(path: Path, why: str) -> InvalidInput:
    return InvalidInput(f"the gateway's folder {path} {why}", path=str(path), code="unsafe_path",
                        hint="remove it (claudex recreates it private), or set XDG_RUNTIME_DIR to a private folder")


def runtime_dir(env=None) -> Path:
    """The gateway's folder, created 700 when missing; refused when it is a link, not a folder,
    another user's, or reachable by others when claudex cannot make it private (it holds the
    socket that runs the user's servers with the user's secrets)."""
    env = os.environ if env is None else env
    base = env.get("XDG_RUNTIME_DIR", "")
    if base and os.path.isabs(base):
        folder = Path(base) / "claudex"
    else:
        folder = Path("/tmp") / f"claudex-{os.geteuid()}"
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except FileNotFoundError:
        raise unsafe(folder, "cannot be created: its parent does not exist") from None
    except OSError as exc:
        raise unsafe(folder, f"cannot be created: {exc.strerror}") from None
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        raise unsafe(folder, "is a symbolic link or not a folder") from None
    try:
        why = safepath.folder_problem(fd)  # this user's own: not even root's
        if why is not None:
            raise unsafe(folder, why)
        if stat.S_IMODE(os.fstat(fd).st_mode) != 0o700:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
    return folder


def socket_path(env=None) -> Path:
    path = file(SOCKET, env)
    if len(os.fsencode(path)) > SOCKET_PATH_MAX:
        raise InvalidInput(f"the gateway's socket path {path} is longer than the {SOCKET_PATH_MAX} bytes a unix "
                           f"socket may have", path=str(path), code="name_too_long",
                           hint="set XDG_RUNTIME_DIR to a shorter folder")
    return path


def open_lock(name: str, env=None) -> int:
    """A lock file of the runtime folder, opened (created 600) without following a link."""
    path = file(name, env)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise unsafe(path, f"cannot be opened: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise unsafe(path, "is not a regular file")
    return fd


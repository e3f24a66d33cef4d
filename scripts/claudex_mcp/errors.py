"""The one domain error type, and the exit code that each kind of failure maps to."""

from __future__ import annotations

# Exit codes, documented in docs/conventions.md. One table for every script and verb.
OK = 0
INVALID = 1       # the input or the state is wrong
USAGE = 2         # the command line is wrong
CONFLICT = 3      # a conflict, or the registry lock is held
NOT_FOUND = 4     # a named thing does not exist
EXTERNAL = 5      # an external tool or service failed
UNEXPECTED = 70   # a bug: never a user's fault
INTERRUPTED = 130


class ClaudexError(Exception):
    """A failure the user can act on: what went wrong, where, and how to fix it."""

    exit_code = INVALID
    code = "invalid"

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None,
                 code: str | None = None, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.hint = hint
        self.details = details  # lines that show why (a server's last stderr lines)
        if code is not None:
            self.code = code

    def to_dict(self) -> dict:
        error: dict = {"code": self.code, "message": self.message}
        if self.path is not None:
            error["path"] = self.path
        if self.hint is not None:
            error["hint"] = self.hint
        if self.details:
            error["details"] = list(self.details)
        return {"error": error}


class InvalidInput(ClaudexError):
    exit_code = INVALID
    code = "invalid"


class UsageError(ClaudexError):
    exit_code = USAGE
    code = "usage"


class Conflict(ClaudexError):
    exit_code = CONFLICT
    code = "conflict"


class NotFound(ClaudexError):
    exit_code = NOT_FOUND
    code = "not_found"


class ExternalFailure(ClaudexError):
    exit_code = EXTERNAL
    code = "external"


def no_registry(registry) -> NotFound:
    """The one "there is no registry" error."""
    return NotFound(f"there is no registry at {registry}", path=str(registry),
                    hint="run 'claudex mcp init', or set CLAUDEX_MCP_REGISTRY", code="no_registry")


def no_server(name: str, known, registry=None) -> NotFound:
    """The one "there is no such server" error (exit 4), with the closest of the ``known``
    names in the hint: `uninstall weathr` asks "did you mean weather?"."""
    import difflib

    close = difflib.get_close_matches(name, sorted(set(known)), n=3, cutoff=0.6)
    where = f" in the registry at {registry}" if registry is not None else ""
    suggestion = f"did you mean {' or '.join(close)}? " if close else ""
    return NotFound(f"no server {name!r}{where}", code="no_server",
                    hint=suggestion + "'claudex mcp list' shows the servers")


def invalid_server(what, folder, problem: str, hint: str | None = None) -> InvalidInput:
    """The one "not a valid server" error: ``what`` (a name or a folder) and its first problem."""
    return InvalidInput(f"{what} is not a valid server: {problem}", code="invalid_server",
                        path=None if folder is None else str(folder),
                        hint=hint or f"run 'claudex mcp validate {folder}'")


# What the environment did, and what the user can do about it. A verb that meets one of these has
# changed nothing: every write goes through a temp file and os.replace, and mutations roll back.
_OS_HINTS = {
    "ENOSPC": ("no_space", "no space left on the device", "free some space (df -h shows where), then run it again"),
    "EDQUOT": ("no_space", "the disk quota is used up", "free some space, then run it again"),
    "EROFS": ("read_only", "the file system is read-only", "run it where the folder is writable, or remount it read-write"),
    "EACCES": ("permission_denied", "permission denied", "check the owner and mode of the path (ls -ld)"),
    "EPERM": ("permission_denied", "operation not permitted (an immutable or append-only file?)",
              "check the path's attributes (lsattr; chattr -i) and permissions"),
    "ENAMETOOLONG": ("name_too_long", "a file name is too long", "use a shorter path or name"),
    "EISDIR": ("is_directory", "a folder is in the way of a file", "move the folder away"),
    "ENOTDIR": ("not_a_directory", "a file is in the way of a folder", "move the file away"),
    "ELOOP": ("symlink_loop", "too many levels of symbolic links", "fix the symlinks on the path"),
    "EMFILE": ("too_many_files", "too many open files", "raise the limit (ulimit -n)"),
    "EXDEV": ("cross_device", "the move crosses file systems", "keep the folders on one file system"),
    "EBUSY": ("busy", "the file or device is busy", "try again when the other program is done"),
    "ETXTBSY": ("busy", "the file is being executed", "stop the program that runs it, then try again"),
}


def from_os_error(exc: OSError) -> ClaudexError | None:
    """The ClaudexError for an OSError the environment caused (a full disk, a read-only mount, an
    immutable file); None for one that is not known to be the environment's doing."""
    import errno as errno_mod

    name = errno_mod.errorcode.get(exc.errno or 0)
    if name not in _OS_HINTS:
        return None
    code, what, hint = _OS_HINTS[name]
    where = exc.filename if isinstance(exc.filename, str) else None
    message = f"{what}: {where}" if where else what
    return ClaudexError(message, path=where, hint=hint + "; nothing was changed", code=code)

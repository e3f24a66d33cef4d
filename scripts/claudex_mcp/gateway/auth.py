"""What guards the gateway's HTTP endpoint: the bearer token (made on first use, kept in a mode-600
file), its constant-time check, the Origin check against DNS rebinding, and the bind address
(loopback unless the user says otherwise). Standard library only."""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import stat
from pathlib import Path
from urllib.parse import urlsplit

from claudex_mcp import paths, safepath
from claudex_mcp.errors import InvalidInput, UsageError

TOKEN_BYTES = 32


def token_file() -> Path:
    return paths.config_home() / "claudex" / "gateway.token"


def token() -> str:
    """The bearer token; the first call makes it (32 random bytes, hex), atomically: two first
    calls at once agree on one token (the file is linked into place only when absent)."""
    path = token_file()
    found = _read(path)
    if found:
        return found
    path.parent.parent.mkdir(parents=True, exist_ok=True)
    safepath.real_dir(path.parent, create=0o700)
    value = secrets.token_hex(TOKEN_BYTES)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, value.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(temp)
    found = _read(path)
    if not found:
        raise InvalidInput(f"the gateway token file {path} is empty or not a token", path=str(path),
                           code="invalid_token_file", hint=f"remove it; 'claudex mcp gateway token' makes a new one")
    return found


def _read(path: Path) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError:
        raise safepath.unsafe(path, "is a symbolic link or cannot be read") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise safepath.unsafe(path, "is not a regular file")
        if st.st_mode & 0o077:
            os.fchmod(fd, 0o600)  # a token others can read is no secret: make it private again
        text = os.read(fd, 4096).decode("ascii", "replace").strip()
    finally:
        os.close(fd)
    return text if len(text) >= 32 and text.isalnum() else None


def bearer_ok(header: str | None, expected: str) -> bool:
    """Whether an Authorization header carries the token (compared in constant time)."""
    if not header or not header[:7].lower() == "bearer ":
        return False
    return hmac.compare_digest(header[7:].strip().encode(), expected.encode())


def origin_ok(origin: str | None, host: str | None) -> bool:
    """The MCP spec's rule against DNS rebinding: a request that carries an Origin (a browser's)
    must come from the endpoint's own origin or from a loopback one; no Origin (an agent, curl)
    passes, the token decides."""
    if origin is None:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if _loopback(parts.hostname):
        return True
    return host is not None and parts.netloc.lower() == host.lower()


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_bind(text: str, allow_remote: bool) -> tuple[str, int]:
    """HOST:PORT (``[::1]:PORT`` for IPv6) as (host, port); a host that is not loopback only
    with ``allow_remote``."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--http {text!r} is not HOST:PORT", hint="e.g. --http 127.0.0.1:8765")
    if not _loopback(host) and not allow_remote:
        raise UsageError(f"--http {host} is not a loopback address: the gateway would run your servers for anyone "
                         f"who can reach it with the token", code="remote_bind",
                         hint="add --allow-remote, and put a TLS reverse proxy in front of it (docs/gateway.md)")
    return host, int(port)

"""A minimal Debian base image without an image registry: debootstrap from the machine's own Debian
mirror, packed as a tarball for `docker import`, cached under ~/.cache/claudex/ and keyed by suite,
mirror and package list (built once, reused).

    python -m claudex_testing.debian_base            # prints the cached tarball's path
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# What the image needs from Debian so that its build installs nothing with apt: Python with venv
# (claudex and the server venvs), git (installing servers from repositories), CA certificates (pip).
PACKAGES = ("ca-certificates", "git", "python3", "python3-venv")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SUITE = "bookworm"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "claudex"


def apt_source() -> tuple[str, str]:
    """The mirror and suite this machine's apt uses (deb822 or one-line sources), else Debian's default."""
    files = [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]
    files += sorted(Path("/etc/apt/sources.list.d").glob("*"))
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        uris = re.search(r"^URIs:\s*(\S+/debian)/?\s*$", text, re.M)
        suites = re.search(r"^Suites:\s*(\S+)", text, re.M)
        if uris and suites:
            return uris.group(1), suites.group(1)
        line = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s+(\S+)\s", text, re.M)
        if line:
            return line.group(1), line.group(2)
    return DEFAULT_MIRROR, DEFAULT_SUITE


def key(suite: str, mirror: str, packages: tuple[str, ...] = PACKAGES) -> str:
    text = "\n".join([suite, mirror, "minbase", *sorted(packages)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def image_tag(suite: str, mirror: str) -> str:
    """The tag the tarball is imported as: the key in it, so a changed package list is a new image."""
    return f"claudex-base/debian:{suite}-{key(suite, mirror)}"


def tarball(log=sys.stderr) -> tuple[Path, str]:
    """The cached rootfs tarball (built now when missing) and the tag to import it as."""
    mirror, suite = apt_source()
    out = cache_dir() / f"debian-{suite}-{key(suite, mirror)}.tar"
    if out.exists():
        return out, image_tag(suite, mirror)
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not os.path.exists(debootstrap):
        raise RuntimeError("debootstrap is not installed (apt-get install debootstrap)")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="claudex-rootfs-", dir=out.parent))
    try:
        root = work / "rootfs"
        print(f"debian_base: debootstrap {suite} from {mirror} ({', '.join(PACKAGES)})", file=log, flush=True)
        subprocess.run([debootstrap, "--variant=minbase", f"--include={','.join(PACKAGES)}", suite, str(root), mirror],
                       check=True, stdout=subprocess.DEVNULL, stderr=None)
        # Smaller and reproducible enough: no apt lists or caches, no logs.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "var/log"):
            for child in (root / junk).glob("*"):
                if child.is_file() or child.is_symlink():
                    child.unlink()
        partial = work / "rootfs.tar"
        subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(partial), "."], check=True)
        os.replace(partial, out)  # published whole, or not at all
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out, image_tag(suite, mirror)


if __name__ == "__main__":
    path, tag = tarball()
    print(path)
    print(tag)

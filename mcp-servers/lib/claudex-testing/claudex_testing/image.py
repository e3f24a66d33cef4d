"""Building the Claudex image (`make image`, and the image tests): with BASE=debootstrap the base
is the cached Debian tarball from debian_base, imported once into the engine.

    python -m claudex_testing.image [--base IMAGE|debootstrap] [--tag TAG] [--no-clis]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from . import debian_base, dockerd

ROOT = Path(__file__).resolve().parents[4]   # the checkout: this is mcp-servers/lib/claudex-testing/claudex_testing/
DEBOOTSTRAP = "debootstrap"
DEFAULT_TAG = "claudex:latest"


def docker(host: str | None, *args: str, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, DOCKER_BUILDKIT="0")  # the classic builder: no buildx plugin needed
    if host:
        env["DOCKER_HOST"] = host
    return subprocess.run(["docker", *args], env=env, **kwargs)


def ensure_base(host: str | None) -> str:
    """The tag of the debootstrap base in the engine at ``host``, imported when missing."""
    tar, tag = debian_base.tarball()
    if docker(host, "image", "inspect", tag, capture_output=True).returncode != 0:
        docker(host, "import", str(tar), tag, check=True, stdout=subprocess.DEVNULL)
    return tag


def write_build_ca() -> None:
    """The host's extra CAs (a TLS-intercepting proxy's), for the Dockerfile's build stage only."""
    found = sorted(Path("/usr/local/share/ca-certificates").glob("**/*.crt"))
    target = ROOT / ".build-ca.crt"
    if found:  # published whole: another build may be reading it
        partial = target.with_name(f".build-ca.{os.getpid()}.tmp")
        partial.write_bytes(b"".join(p.read_bytes().rstrip(b"\n") + b"\n" for p in found))
        os.replace(partial, target)
    elif target.exists():
        target.unlink()


def build(host: str | None, base: str = "", tag: str = DEFAULT_TAG, clis: bool = True, quiet: bool = False) -> None:
    write_build_ca()
    argv = ["build", "--network", "host", "-t", tag, "--build-arg", f"WITH_AGENT_CLIS={int(clis)}"]
    if base == DEBOOTSTRAP:
        base = ensure_base(host)
    if base:
        argv += ["--build-arg", f"BASE={base}"]
    if quiet:
        argv.append("--quiet")
    docker(host, *argv, str(ROOT), check=True, stdout=subprocess.DEVNULL if quiet else None)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="make image", description=__doc__.strip().splitlines()[0])
    p.add_argument("--base", default="", help="the base image, or 'debootstrap' (default: the Dockerfile's)")
    p.add_argument("--tag", default=DEFAULT_TAG)
    p.add_argument("--no-clis", action="store_true", help="leave the Claude Code and Codex CLIs out")
    args = p.parse_args(argv)
    host = dockerd.running()
    if host is None:
        print("make image: no Docker engine answers ($DOCKER_HOST or /var/run/docker.sock); start dockerd "
              "(make image-test starts a private one for its tests)", file=sys.stderr)
        return 5
    try:
        build(host, args.base, args.tag, clis=not args.no_clis)
    except subprocess.CalledProcessError as exc:
        print(f"make image: {' '.join(exc.cmd[:2])} failed (exit {exc.returncode})", file=sys.stderr)
        return 5
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

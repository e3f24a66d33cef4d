"""Invoke tasks: `inv mcp.<verb>` for every `claudex mcp` verb, plus the project chores.

Verb tasks pass their arguments on unchanged: `inv mcp.validate --args "x.json --json"` or
`inv mcp.validate -- x.json --json`. Nothing goes through a shell.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from invoke import Collection, Exit, task

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "scripts"))
from claudex_mcp.cli.dispatch import verbs  # noqa: E402  (standard library only)
BIN = Path(sys.executable).parent
TOOLS = ROOT / ".tools"
BATS_VERSION = "1.13.0"
ARGS_HELP = {"args": "the verb's arguments as one string, e.g. \"PATH --json\" (or give them after --)"}


def _call(argv: list[str]) -> None:
    code = subprocess.call(argv, cwd=ROOT)
    if code:
        raise Exit(code=code)


def _claudex_argv() -> list[str]:
    claudex = BIN / "claudex"
    return [str(claudex)] if claudex.exists() else [sys.executable, "-m", "claudex_mcp.cli.dispatch"]


def _claudex(c, verb: str, args: str) -> None:
    code = subprocess.call(_claudex_argv() + ["mcp", verb] + shlex.split(args) + shlex.split(c.remainder or ""))
    if code:
        raise Exit(code=code)


def _verb_task(verb: str, summary: str):
    """`inv mcp.<verb>`: runs `claudex mcp <verb>` with the given arguments."""
    def body(c, args=""):
        _claudex(c, verb, args)
    body.__name__ = body.__qualname__ = verb.replace("-", "_")
    body.__doc__ = f"{summary} (claudex mcp {verb})."
    return task(help=ARGS_HELP)(body)


def bats_path() -> str:
    """bats from PATH, else from npm's `bats` package under .tools/ (installed on first use)."""
    found = shutil.which("bats")
    if found:
        return found
    # npm 11 makes no .bin link for bats (it declares its command under directories.bin).
    local = TOOLS / "node_modules" / "bats" / "bin" / "bats"
    if not local.exists():
        _call(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(TOOLS),
               f"bats@{BATS_VERSION}"])
    return str(local)


def server_test_dirs() -> list[Path]:
    """The shipped servers' tests, the shared packages' (mcp-servers/lib/<dist>/tests) and the
    example servers' (docs/mcp-examples/<name>/tests)."""
    servers = ROOT / "mcp-servers"
    patterns = ("*/tests", "core/*/tests", "lib/*/tests")
    found = [p for pattern in patterns for p in servers.glob(pattern) if p.is_dir()]
    return sorted(found) + sorted(p for p in (ROOT / "docs" / "mcp-examples").glob("*/tests") if p.is_dir())


def example_servers() -> list[Path]:
    """The worked examples of docs/mcp-development.md: servers in the shipped ones' shape."""
    return sorted(p.parent for p in (ROOT / "docs" / "mcp-examples").glob("*/manifest.json"))


def shared_packages() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "mcp-servers" / "lib").glob("*/pyproject.toml"))


@task(name="install")
def install_dev(c):
    """Install the shared server packages (mcp-servers/lib/*, editable) and every shipped and example
    server's requirements into this venv, so the servers' tests run in `make test`."""
    from claudex_mcp import vendor

    libs = {str(p.resolve()) for p in shared_packages()}
    # pip reads a path in a -r file relative to its working directory, not to the file, so a
    # server's `../lib/<dist>` cannot be passed to one pip run as `-r server/requirements.txt`:
    # the lines are made absolute, and a shared package becomes its editable install.
    lines = [f"-e {lib}" for lib in sorted(libs)]
    folders = sorted(p.parent for pattern in ("*/requirements.txt", "core/*/requirements.txt")
                     for p in (ROOT / "mcp-servers").glob(pattern))
    folders += [p for p in example_servers() if (p / "requirements.txt").is_file()]  # their tests share the venv
    for folder in folders:
        lines.append(f"# {folder.relative_to(ROOT)}")
        for line in vendor.pip_lines(folder):
            bare = line.removeprefix("-e ").split("[")[0].split(";")[0].strip()
            if bare not in libs:
                lines.append(line)
    build = ROOT / "build"
    build.mkdir(exist_ok=True)
    (build / "dev-requirements.txt").write_text("\n".join(lines) + "\n")
    _call([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "-r", str(build / "dev-requirements.txt")])


@task
def pytest(c):
    """Run the Python test suite, then each shipped server's own tests (from its own folder)."""
    _call([sys.executable, "-m", "pytest", "-q"])
    for tests in server_test_dirs():
        code = subprocess.call([sys.executable, "-m", "pytest", "-q", "tests"], cwd=tests.parent)
        if code:
            raise Exit(code=code)


@task
def bats(c):
    """Run the bats tests of the CLI and the shell scripts."""
    _call([bats_path(), "--print-output-on-failure", str(ROOT / "tests" / "bats")])


@task(help={"base": "the base image, or 'debootstrap' to build one from Debian's mirror (no image registry)",
            "tag": "the image's tag", "clis": "with the Claude Code and Codex CLIs (--no-clis leaves them out)"})
def image(c, base="", tag="claudex:latest", clis=True):
    """Build the Claudex image from the Dockerfile."""
    _call([sys.executable, "-m", "claudex_testkit.image", "--tag", tag, *(["--base", base] if base else []),
           *([] if clis else ["--no-clis"])])


@task
def image_test(c):
    """Build the image from a debootstrap base and assert it in running containers (starts and
    stops its own dockerd when none is running)."""
    code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-s", "tests/image"], cwd=ROOT,
                           env={**os.environ, "CLAUDEX_IMAGE_TEST": "1"})
    if code:
        raise Exit(code=code)


@task(name="test-latest-clients")
def test_latest_clients(c):
    """Run the client integration tests with the pinned clients (tests/integration/client-versions.json)
    and with the newest Claude Code, Codex and Inspector, and say which behaviour changed."""
    _call([sys.executable, str(ROOT / "tests" / "integration" / "latest_clients.py")])


@task(pre=[pytest, bats, image_test])
def test(c):
    """Run every test: pytest, bats, then the image tests."""


@task(help={"quick": "fewer runs and the servers' benches at their small sizes (CI: ~4 min instead of ~40)"})
def bench(c, quick=False):
    """Measure start-up and command times; write build/bench.json (and build/<server>-bench.json)."""
    # Byte-compiled first, as an installed claudex is (PYTHONDONTWRITEBYTECODE would otherwise
    # make every run compile the modules it imports).
    _call([sys.executable, "-m", "compileall", "-q", str(ROOT / "scripts" / "claudex_mcp")])
    size = ["--quick", "--runs", "10"] if quick else []
    _call([sys.executable, str(ROOT / "tests" / "bench" / "bench.py"), *size,
           "--output", str(ROOT / "build" / "bench.json")])
    for bench_script in sorted((ROOT / "mcp-servers").glob("*/bench.py")):  # the shipped servers' own numbers
        _call([sys.executable, str(bench_script), *(["--quick"] if quick else []),
               "--output", str(ROOT / "build" / f"{bench_script.parent.name}-bench.json")])


@task(name="bench-check")
def bench_check(c):
    """Fail when a figure of the last `make bench` is more than twice its target (tests/bench/targets.json)."""
    _call([sys.executable, str(ROOT / "tests" / "bench" / "check.py"), "--results", str(ROOT / "build")])


@task
def docs(c):
    """Regenerate the CLI reference (docs/cli.md) from the verbs' --help, and the MCP API reference
    (docs/mcp-api-reference.md) from the shipped servers' tools/list."""
    _call([sys.executable, str(ROOT / "tests" / "cli_reference.py"), "--write"])
    _call([sys.executable, str(ROOT / "tests" / "api_reference.py"), "--write"])


def shipped_servers() -> list[Path]:
    """The servers in mcp-servers/ that are installed (not core: init puts those in core/)."""
    return sorted(p.parent for p in (ROOT / "mcp-servers").glob("*/manifest.json"))


@task
def run(c):
    """The main job: the registry at its default place with every shipped server (core ones by
    init, the others installed, or upgraded when their folder changed), the client config
    generated, and the status of every server."""
    _claudex(c, "init", "")
    for folder in shipped_servers():
        code = subprocess.call(_claudex_argv() + ["mcp", "install", str(folder)], stderr=subprocess.DEVNULL)
        if code == 3:  # already installed: bring it up to date
            _claudex(c, "upgrade", shlex.quote(folder.name))
        elif code:
            _claudex(c, "install", shlex.quote(str(folder)))  # again, to show the error
    _claudex(c, "generate", "")
    _claudex(c, "status", "")


# The verbs are the dispatcher's own list (one module each in cli/commands/); the Makefile reads
# the same folder.
mcp = Collection("mcp")
for _verb, _summary in verbs().items():
    mcp.add_task(_verb_task(_verb, _summary), name=_verb)
ns = Collection(mcp, install_dev, test, pytest, bats, bench, bench_check, docs, run, image, image_test,
                test_latest_clients)

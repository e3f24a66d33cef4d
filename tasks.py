"""Invoke tasks: `inv mcp.<verb>` for every `claudex mcp` verb, plus the project chores.

Verb tasks pass their arguments on unchanged: `inv mcp.validate --args "x.json --json"` or
`inv mcp.validate -- x.json --json`. Nothing goes through a shell.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from invoke import Collection, Exit, task

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "scripts"))
from claudex_mcp.cli.dispatch import verbs  # noqa: E402  (standard library only)
BIN = Path(sys.executable).parent
UV = str(BIN / "uv")  # a dependency of the project (pyproject.toml)
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


def _failed(exc, prog: str) -> Exit:
    """A ClaudexError said as claudex says it on a terminal; the task exits with its code."""
    from claudex_mcp.cli import common

    common.report_error(exc, prog, human=True)
    return Exit(code=exc.exit_code)


def _extras_of(package: Path) -> str:
    """``[a,b]``: the optional dependencies a package's pyproject.toml declares, or ""."""
    import tomllib

    try:
        declared = tomllib.loads((package / "pyproject.toml").read_text()).get("project", {}).get("optional-dependencies", {})
    except (OSError, ValueError):
        return ""
    return f"[{','.join(sorted(declared))}]" if declared else ""


@task(name="install")
def install_dev(c):
    """Install the shared server packages (mcp-servers/lib/*, editable) and every shipped and example
    server's requirements, with those of all its extras (codequery's chat and server), into this
    venv with uv, so the servers' tests run in `make test` (make install's second step, after
    scripts/bootstrap.py made the venv)."""
    import bootstrap
    from claudex_mcp.install import vendor
    from claudex_mcp.cli import common
    from claudex_mcp.errors import ClaudexError

    report = common.progress(True, label="make install")
    libs = {str(p.resolve()) for p in shared_packages()}
    # A path in a -r file is read relative to the installer's working directory, not to the
    # file, so a server's `../lib/<dist>` cannot be passed on as `-r server/requirements.txt`:
    # the lines are made absolute, and a shared package becomes its editable install.
    # Each with all its extras (claudex-embeddings[bert]: the NumPy BERT encoder's test and the
    # benches' MiniLM baseline need tokenizers).
    lines = [f"-e {lib}{_extras_of(Path(lib))}" for lib in sorted(libs)]
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
    requirements = build / "dev-requirements.txt"
    requirements.write_text("\n".join(lines) + "\n")
    report("installing", "the servers' requirements and mcp-servers/lib/* "
                         "(uv pip install -r build/dev-requirements.txt)")
    try:
        bootstrap.uv_install(UV, ["pip", "install", "--quiet", "--python", sys.executable, "-r", str(requirements)],
                             "uv pip install -r build/dev-requirements.txt")
    except ClaudexError as exc:
        raise _failed(exc, "make install") from None
    # Byte-compiled now, as an installed claudex is: its first runs do not pay for it.
    report("compiling", "scripts/claudex_mcp")
    _call([sys.executable, "-m", "compileall", "-q", str(ROOT / "scripts" / "claudex_mcp")])


@task
def pytest(c):
    """Run the Python test suite, then each shipped server's own tests (from its own folder)."""
    # Two workers (pytest-xdist), each test file on one of them (its module fixtures built once);
    # a short base folder, so that a test's gateway socket ($XDG_RUNTIME_DIR below it) stays
    # within the 107 bytes of a unix socket path.
    base = tempfile.mkdtemp(prefix="cxt-")
    try:
        _call([sys.executable, "-m", "pytest", "-q", "-n", str(min(os.cpu_count() or 1, 2)), "--dist", "loadfile",
               "--basetemp", base])
    finally:
        shutil.rmtree(base, ignore_errors=True)
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
    _call([sys.executable, "-m", "claudex_testing.image", "--tag", tag, *(["--base", base] if base else []),
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


def _tool_receipt() -> Path | None:
    """uv's receipt of claudex's tool install, when there is one."""
    from claudex_mcp import paths

    command = paths.installed_claudex()
    return command.resolve().parent.parent / "uv-receipt.toml" if command is not None else None


def _tool_is_current(receipt: Path | None) -> bool:
    """The tool install is of this checkout and newer than pyproject.toml (its dependencies and
    commands); being editable, it runs this checkout's code as it is now."""
    import tomllib

    if receipt is None:
        return False
    try:
        requirements = tomllib.loads(receipt.read_text()).get("tool", {}).get("requirements", [])
        newer = receipt.stat().st_mtime >= (ROOT / "pyproject.toml").stat().st_mtime
    except (OSError, ValueError):
        return False
    return newer and any(isinstance(r, dict) and r.get("editable") == str(ROOT) for r in requirements)


def install_tool(report) -> str | None:
    """`uv tool install --editable .`: the claudex command at a stable place (uv's bin folder,
    ~/.local/bin by default), which the generated client configs start servers with. Not inside
    the checkout's .venv, so `make clean` leaves the clients working. Editable: the tool runs this
    checkout's code (its schemas, templates and core servers are read from here too), so `git
    pull` needs no reinstall; only a changed pyproject.toml does. A failure is a warning: the
    configs then point into .venv, and the summary says so."""
    import bootstrap
    from claudex_mcp import paths
    from claudex_mcp.cli import common
    from claudex_mcp.errors import ClaudexError

    if _tool_is_current(_tool_receipt()):
        return str(paths.installed_claudex())
    report("claudex", f"uv tool install --editable {ROOT} (into {paths.uv_tool_bin()})")
    # The base interpreter, not the venv's: uv records it, and the venv goes with `make clean`.
    python = getattr(sys, "_base_executable", sys.executable)
    try:
        bootstrap.uv_install(UV, ["tool", "install", "--quiet", "--python", python, "--editable", str(ROOT)],
                             "uv tool install --editable .")
    except ClaudexError as exc:
        common.report_error(exc, "make run", human=True)
        return None
    installed = paths.installed_claudex()
    return str(installed) if installed is not None else None


# What each state of `claudex mcp status` means, for make run's closing summary.
MEANINGS = {
    "degraded": "runs, but its self-check found something missing (see the DETAIL column)",
    "unhealthy": "does not start or does not answer MCP (`claudex mcp logs NAME` shows its stderr)",
    "missing env": "a required variable is set nowhere (`claudex mcp info NAME` lists them)",
    "invalid": "its folder fails validation (`claudex mcp validate` on it says why)",
    "not installed": "named in a config layer but not in the registry",
}


def summary(rows: list[dict], command: str | None) -> list[str]:
    """make run's closing lines: the count of each state, what the states other than healthy
    mean and the next step, and the command the clients start servers with."""
    from collections import Counter

    counts = Counter(r["state"] for r in rows)
    lines = [f"make run: {len(rows)} servers: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))]
    for state, meaning in MEANINGS.items():
        if counts.get(state):
            lines.append(f"  {state} = {meaning}")
    if set(counts) - {"healthy", "disabled"}:
        lines.append("  `claudex mcp status NAME` for details; docs/mcp-troubleshooting.md has each fix")
    if command:
        lines.append(f"Clients start servers with {command} (uv tool install --editable .: `make clean` keeps it).")
        if shutil.which("claudex") != command:
            lines.append(f"  {Path(command).parent} is not on PATH: add it (`uv tool update-shell`) to type `claudex`.")
    else:
        lines.append(f"Clients start servers with {BIN / 'claudex'}: `make clean` removes it; "
                     "run make run again after.")
    return lines


def _json_of(argv: list[str]) -> list:
    """`claudex mcp <argv> --json`'s list, or [] when it fails (the step that showed it said why)."""
    proc = subprocess.run(_claudex_argv() + ["mcp", *argv, "--json"], capture_output=True, text=True)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        return []
    return result if isinstance(result, list) else []


@task
def run(c):
    """The main job: the claudex command installed at a stable place (uv tool install), the
    registry at its default place with every shipped server (core ones by init, the others
    installed, or upgraded when their folder changed), the client config generated, and the
    status of every server, with a closing summary. On a terminal, one line per step on stderr."""
    from claudex_mcp.cli import common

    report = common.progress(True, label="make run")
    command = install_tool(report)
    report("init")
    _claudex(c, "init", "")
    installed = {s["name"] for s in _json_of(["list"]) if s.get("location") != "core"}
    folders = shipped_servers()
    for number, folder in enumerate(folders, 1):
        verb = "upgrade" if folder.name in installed else "install"  # upgrade: when its folder changed
        report(verb, f"{folder.name} ({number}/{len(folders)})")
        _claudex(c, verb, shlex.quote(folder.name if verb == "upgrade" else str(folder)))
    report("generate")
    _claudex(c, "generate", "")
    report("status")
    code = subprocess.call(_claudex_argv() + ["mcp", "status"])
    # The results the table showed, kept for their healthCheck.interval: read again, not re-checked.
    rows = _json_of(["status"])
    print("\n".join(summary(rows, command)), flush=True)
    if code:
        raise Exit(code=code)


# The verbs are the dispatcher's own list (one module each in cli/commands/); the Makefile reads
# the same folder.
mcp = Collection("mcp")
for _verb, _summary in verbs().items():
    mcp.add_task(_verb_task(_verb, _summary), name=_verb)
ns = Collection(mcp, install_dev, test, pytest, bats, bench, bench_check, docs, run, image, image_test,
                test_latest_clients)

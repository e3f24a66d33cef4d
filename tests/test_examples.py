"""Every example a user may copy runs as written: each line of every verb's `--help` examples
(read from the verbs' own parsers, so a new verb or example is picked up) and every `claudex mcp`
command of README.md and docs/*.md (their sh code blocks; README's inline commands too). bash
runs each, as a terminal would, in a sandbox where what the examples name exists (furnish), and
each must exit 0; the few that reach a documentation host must fail for that reason (NETWORK).

Two worlds, each built once:
- the full one, for the examples that read the registry or talk to its servers (SHARED): the
  shipped qdrant and the core codex, installed for real; these examples share it, in order;
- the light one, for the examples that change things: there qdrant and codex are stand-ins (the
  echo test server under their manifests) and every example starts from a fresh copy.
So an example stands alone: it must work on its own, not only after the one above it.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from catalog_registry import Registry, item
from conftest import ECHO_SERVER, ROOT

BIN = Path(sys.executable).parent  # claudex, as `make install` puts it on PATH
DOCS = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "cli.md")]
# docs/cli.md is the --help texts again (generated). mcp-development.md's walk-through is one
# sequence (create, cd, git, install file://$PWD ...): test_docs_examples runs it as a whole.
WALKTHROUGH = "<!-- walkthrough -->"
CACHES = {"UV_CACHE_DIR": str(ROOT / ".tools" / "uv-cache"), "PIP_CACHE_DIR": str(ROOT / ".tools" / "pip-cache"),
          "npm_config_cache": str(ROOT / ".tools" / "npm-cache")}

# Verbs (and config's actions) whose examples only read, or talk to the servers: they share the
# full world. Every other example, a new verb's too, gets a fresh light world.
SHARED = {"cache", "call", "completion", "generate", "info", "list", "logs", "run", "status", "test",
          "validate", "watch", "config show", "config get", "config explain"}
# Examples that reach a documentation host or repository (example.org, github.com/acme): each must
# fail for that reason alone, with this exit code and error code, its syntax and names accepted.
NETWORK = {
    "https://github.com/acme/": (5, "git_failed"),
    "git@github.com:acme/": (5, "git_failed"),
    "https://example.org/": (5, "copier_failed"),
}
# The one rewrite: an example's folder outside the sandbox, moved into it.
OUTSIDE = {"/tmp/registry": "{world}/tmp-registry"}
# A line that shows a syntax rather than a command: NAME, <folder>, [ID], stats|clear|refresh.
SYNTAX = re.compile(r"(?<![\w$.{-])[A-Z][A-Z_]+(?![\w=}])|<[^>]*>|\[[A-Z]+\]|\w\|\w")


@dataclass(frozen=True)
class Example:
    where: str
    line: str

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.line, comments=True)

    @property
    def verb(self) -> str:
        """`status`, `config get`, ...; '' for a line that is not a claudex mcp command."""
        words = self.argv
        for i in range(len(words) - 2):
            if words[i].endswith("claudex") and words[i + 1] == "mcp":
                verb = words[i + 2]
                return f"{verb} {words[i + 3]}" if verb == "config" and len(words) > i + 3 else verb
        return ""


def help_examples() -> list[Example]:
    from claudex_mcp.cli import dispatch

    found = []
    for verb in dispatch.verbs():
        module = importlib.import_module(f"claudex_mcp.cli.commands.{verb.replace('-', '_')}")
        epilog = module.build_parser(f"claudex mcp {verb}").epilog or ""
        assert epilog.startswith("examples:\n"), f"claudex mcp {verb} --help shows no examples"
        found += [Example(f"claudex mcp {verb} --help", line.strip()) for line in epilog.splitlines()[1:]]
    return found


def doc_lines() -> list[Example]:
    """The `claudex mcp` lines of the docs' sh code blocks, and README's inline commands."""
    found = []
    for path in DOCS:
        text = path.read_text()
        where = str(path.relative_to(ROOT))
        for match in re.finditer(r"^([^\n]*)\n```(?:sh|bash|shell|console)\n(.*?)^```", text, re.M | re.S):
            if match.group(1).strip() != WALKTHROUGH:
                lines = match.group(2).replace("\\\n", " ").splitlines()  # continued lines joined
                found += [Example(where, line.strip()) for line in lines if "claudex mcp" in _code(line)]
        if path.name == "README.md":
            found += [Example(where, span) for span in re.findall(r"`(claudex mcp [^`]+)`", text)
                      if len(span.split()) > 3]
    return found


def _code(line: str) -> str:
    """The command of a line, without its comment."""
    return " ".join(shlex.split(line, comments=True))


def examples() -> list[Example]:
    """Every help example, then every doc line that is a command (not a syntax), each once."""
    seen, chosen = set(), []
    for example in help_examples() + [e for e in doc_lines() if not SYNTAX.search(_code(e.line))]:
        if _code(example.line) not in seen:
            seen.add(_code(example.line))
            chosen.append(example)
    return chosen


def syntax_lines() -> list[Example]:
    return [e for e in doc_lines() if SYNTAX.search(_code(e.line))]


# ---- the worlds

SHIPPED = {"qdrant": ROOT / "mcp-servers" / "qdrant", "codex": ROOT / "mcp-servers" / "core" / "codex"}
CURSOR_SERVERS = {"mcpServers": {"notes": {"command": sys.executable, "args": [str(ECHO_SERVER)]}}}
CLAUDE_SERVERS = {"mcpServers": {"scratch": {"command": sys.executable, "args": [str(ECHO_SERVER)]}}}
# The catalog the examples name (docs/catalog.md, README, the catalog verbs' --help), served by a
# local MCP Registry: acme's weather (a remote whose key header is optional, so that the example
# without --env installs without a terminal; 1.3.0 newer than the 1.2.0 examples pin), and the
# time server of PyPI (the working folder's server.json).
WEATHER = {"name": "io.github.acme/weather", "title": "Weather", "description": "Weather forecasts for any city",
           "version": "1.2.0", "remotes": [{"type": "streamable-http", "url": "https://weather.example.com/mcp",
                                            "headers": [{"name": "Weather-Api-Key", "isSecret": True}]}]}
TIME = {"name": "io.github.modelcontextprotocol/time", "title": "Time",
        "description": "Time and time zone conversion", "version": "2026.10.19",
        "packages": [{"registryType": "pypi", "identifier": "mcp-server-time", "version": "2026.10.19",
                      "transport": {"type": "stdio"}}],
        "remotes": [{"type": "streamable-http", "url": "https://time.example.com/mcp"}]}
# What an example needs beforehand, in its own fresh world (it stands alone): by the line's start.
BEFORE = {"claudex mcp upgrade weather": [("mcp", "install", "registry:io.github.acme/weather@1.2.0")],
          "claudex mcp verify time": [("mcp", "install", "--from-file", "server.json", "--use", "remote")]}

MY_TEMPLATE = {  # a custom copier template with a task, hence --trust
    "copier.yml": "name:\n  type: str\n_tasks:\n  - [touch, made-by-a-task]\n",
    "manifest.json.jinja": json.dumps({"apiVersion": "v1", "metadata": {"name": "{{ name }}", "version": "0.1.0",
                                       "description": "made from my-template"},
                                       "server": {"command": "python3", "args": ["${SERVER_DIR}/server.py"]}}),
    "server.py": "print()\n",
}


@dataclass
class World:
    root: Path
    env: dict

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def work(self) -> Path:
        """The working folder of the examples: ./my-server, ./my-template, manifest.json ..."""
        return self.root / "work"

    def claudex(self, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(BIN / "claudex"), *argv], cwd=self.work, env=self.env, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=timeout)
        assert proc.returncode == 0, f"claudex {' '.join(argv)}: {proc.stderr}"
        return proc


def world_env(root: Path, core_source: Path | None, catalog: str) -> dict:
    home = root / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDEX_", "XDG_", "CODEX_", "UV_"))}
    env.update(CACHES, HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local" / "share"), XDG_STATE_HOME=str(home / ".local" / "state"),
               CLAUDEX_MCP_REGISTRY=str(root / "registry"), CLAUDEX_PROJECTS_DIR=str(home / "claudex"),
               PATH=os.pathsep.join([str(BIN), str(ROOT / "scripts"), os.environ["PATH"]]),
               GIT_TERMINAL_PROMPT="0", GIT_SSH_COMMAND="ssh -o BatchMode=yes -o StrictHostKeyChecking=yes",
               CLAUDEX_MCP_CATALOG_URL=catalog)
    # The gateway a shared server's `run` starts: its socket outside the world (which is copied),
    # and gone soon after the example that started it.
    runtime = root.with_name(root.name + "-run")
    runtime.mkdir(mode=0o700, exist_ok=True)
    env.update(XDG_RUNTIME_DIR=str(runtime), CLAUDEX_MCP_GATEWAY_IDLE="5")
    if core_source is not None:
        env["CLAUDEX_MCP_CORE_SOURCE"] = str(core_source)
    return env


def furnish(world: World) -> None:
    """What the examples name besides the servers: the projects, the working folder's server,
    template, manifest.json and registry.json, servers in client configs to migrate (and a backup
    of a migration, to roll back), a user layer."""
    (world.home / "claudex" / "demo" / ".claudex").mkdir(parents=True)
    (world.home / "src" / "demo" / ".claudex").mkdir(parents=True)
    world.claudex("mcp", "create", "my-server", "--template", "python", "--defaults")
    shutil.copy(world.work / "my-server" / "manifest.json", world.work / "manifest.json")
    shutil.copy(world.root / "registry" / "registry.json", world.work / "registry.json")
    for rel, text in MY_TEMPLATE.items():
        (world.work / "my-template" / rel).parent.mkdir(parents=True, exist_ok=True)
        (world.work / "my-template" / rel).write_text(text)
    (world.home / ".cursor").mkdir()
    (world.home / ".cursor" / "mcp.json").write_text(json.dumps(CURSOR_SERVERS))
    (world.home / ".claude.json").write_text(json.dumps(CLAUDE_SERVERS))
    world.claudex("mcp", "migrate", "--from", str(world.home / ".claude.json"))  # so there is a backup to roll back
    world.claudex("mcp", "config", "set", "qdrant", "env.QDRANT_PATH", str(world.home / "qdrant"))
    (world.work / "server.json").write_text(json.dumps(dict(TIME, **{"$schema": item(TIME)["server"]["$schema"]})))


@pytest.fixture(scope="module")
def catalog() -> str:
    """The local MCP Registry every world's catalog is (its URL); stopped after the module."""
    registry = Registry().start()
    registry.items = [item(WEATHER, latest=False), item(dict(WEATHER, version="1.3.0")), item(TIME)]
    try:
        yield registry.url
    finally:
        registry.stop()


@pytest.fixture(scope="module")
def full_world(tmp_path_factory, catalog) -> World:
    """The shipped qdrant and the core codex, installed for real; each has been started once by
    the launcher (so it has a log)."""
    root = tmp_path_factory.mktemp("full")
    world = World(root, world_env(root, None, catalog))
    world.work.mkdir()
    world.claudex("mcp", "init")
    world.claudex("mcp", "install", str(SHIPPED["qdrant"]))
    furnish(world)
    for name, tool in (("qdrant", "qdrant_status"), ("codex", "codex_history")):
        world.claudex("mcp", "call", name, tool, timeout=120)
    return world


@pytest.fixture(scope="module")
def light_world(tmp_path_factory, catalog) -> tuple[Path, Path]:
    """A world whose qdrant and codex are the echo test server under their manifests (no venv to
    build or copy), built in a folder and kept as a pristine copy: (folder, pristine)."""
    root = tmp_path_factory.mktemp("light")
    live = root / "world"
    sources = root / "sources"
    for name, real in SHIPPED.items():
        doc = json.loads((real / "manifest.json").read_text())
        doc["server"].update(command=sys.executable, args=["${SERVER_DIR}/server.py"])
        doc.pop("healthCheck", None)
        doc.pop("extras", None)  # a stand-in has no Python environment to add them to
        folder = sources / ("core" if name == "codex" else "") / name
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps(doc, indent=2))
        shutil.copy(ECHO_SERVER, folder / "server.py")
    world = World(live, world_env(live, sources / "core", catalog))
    world.work.mkdir(parents=True)
    world.claudex("mcp", "init")
    world.claudex("mcp", "install", str(sources / "qdrant"))
    furnish(world)
    # A remote server whose header secret lives in the user layer (`headers` prints it); only
    # here: its host does not resolve, and the shared world's `status` must find every server well.
    world.claudex("mcp", "add", "notes-api", "https://mcp.example.com/mcp", "-H", "Authorization: Bearer sk-live-examples0example")
    pristine = root / "pristine"
    shutil.copytree(live, pristine, symlinks=True)
    return live, pristine


@pytest.fixture
def world(request, full_world, light_world, catalog) -> World:
    """The full world, shared, for the examples that only read (SHARED); else a fresh light one."""
    example = request.node.callspec.params["example"]
    if example.verb in SHARED:
        return full_world
    live, pristine = light_world
    shutil.rmtree(live)
    shutil.copytree(pristine, live, symlinks=True)
    world = World(live, world_env(live, live.parent / "sources" / "core", catalog))
    for argv in next((v for k, v in BEFORE.items() if example.line.startswith(k)), []):
        world.claudex(*argv)
    return world


# ---- running an example

def run(world: World, example: Example) -> tuple[int, str, str]:
    """bash runs the line in the world's working folder; whatever it left running (the image's
    background watch) is stopped. Output goes to files: what is left running cannot hold it open."""
    line = example.line
    for outside, inside in OUTSIDE.items():
        line = line.replace(outside, inside.format(world=world.root))
    serves = example.verb == "run"
    long_running = serves or example.verb == "watch" or (example.verb == "logs" and "-f" in example.argv) \
        or (example.verb == "gateway" and "serve" in example.argv)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(["bash", "-o", "pipefail", "-c", line], cwd=world.work, env=world.env,
                                stdin=subprocess.PIPE if long_running else subprocess.DEVNULL,
                                stdout=subprocess.PIPE if serves else out, stderr=err, text=True,
                                start_new_session=True)
        answer = ""
        try:
            if serves:
                code, answer = _serve(proc)
            elif long_running:
                code = _until_interrupted(proc)
            else:
                code = proc.wait(timeout=300)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        out.seek(0)
        err.seek(0)
        return code, answer + out.read(), err.read()


def _serve(proc: subprocess.Popen) -> tuple[int, str]:
    """`run` serves MCP on stdin/stdout until its input ends: it answers an initialize, then
    ends at the end of its input."""
    proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}) + "\n")
    proc.stdin.flush()
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    answer = proc.stdout.readline() if ready else ""
    proc.stdin.close()
    code = proc.wait(timeout=60)
    return (code if '"result"' in answer else code or 1), answer


def _until_interrupted(proc: subprocess.Popen) -> int:
    """`watch`, `logs -f`, `gateway serve`: still running after 3 s; then Ctrl-C ends it (exit 0, or 130)."""
    time.sleep(3)
    if proc.poll() is not None:
        return proc.returncode or 1
    os.killpg(proc.pid, signal.SIGINT)
    code = proc.wait(timeout=30)
    return 0 if code in (130, -signal.SIGINT) else code


@pytest.mark.parametrize("example", examples(), ids=lambda e: e.line[:80])
def test_example_runs_as_written(world, example):
    code, out, err = run(world, example)
    network = next((v for k, v in NETWORK.items() if k in example.line), None)
    where = f"{example.where}: {example.line}\nexit {code}\nstdout: {out[-2000:]}\nstderr: {err[-2000:]}"
    if network is None:
        assert code == 0, where
        return
    error = json.loads(err.strip().splitlines()[-1])["error"] if err.strip() else {}
    host = re.search(r"(?:https://|@)([^/:]+)", example.line).group(1)
    assert (code, error.get("code")) == network and host in error["message"], where


def test_syntax_lines_name_real_verbs():
    """A docs line that shows a syntax (NAME, <folder>, [ID]) is not run, but its verb exists."""
    from claudex_mcp.cli import dispatch

    for example in syntax_lines():
        verb = example.verb.split()[0]
        assert verb in dispatch.verbs() or verb in dispatch.ALIASES, example

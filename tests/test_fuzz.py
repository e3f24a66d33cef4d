"""Fuzz every verb with hostile arguments and environments (issue #11, Tests).

Deterministic (a fixed seed) and bounded (a fixed number of runs, each with a timeout). Every run
must end without exit 70 and without a traceback; a failure writes nothing on stdout and one error
object with a hint on stderr (the launcher, `run`, writes the readable line with its hint).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, add_server, manifest
from claudex_mcp.store import registry as registry_mod
from claudex_mcp.cli import dispatch

SEED = 20261130
RUNS = 120
TIMEOUT = 30


# Each verb's usual shape, so that most runs get past argparse into the verb's own code; X is a
# hostile word. `logs -f` is left out: it follows a file until interrupted.
SHAPES = {
    "add": [["X", "--", "X"], ["X", "--url", "X"], ["newsrv", "--env", "X", "--", "python3"],
            ["newsrv", "--url", "https://a.example/mcp", "--header", "X"], ["newsrv", "--project-dir", "X", "--", "X"]],
    "cache": [["stats"], ["clear"], ["refresh"], ["X"]],
    "catalog": [["list"], ["X"], ["show", "X", "--versions"], ["sync", "--full", "X"], ["show", "X", "--version", "X"]],
    "call": [["X", "X"], ["notes", "X"], ["notes", "X", "--args", "X"], ["notes", "X", "--timeout", "X"],
             ["X", "X", "--args", "-"]],
    "completion": [["X"], ["bash"], ["__complete", "mcp", "X", "X"], ["__complete", "X", "X"]],
    "info": [["X"], ["notes"], ["notes", "--refresh", "--timeout", "3"], ["X", "--project-dir", "X"]],
    "config": [["show", "X"], ["explain", "notes"], ["set", "notes", "X", "X"], ["set", "X", "env.A", "X"],
               ["set", "notes", "X", "X", "--global"], ["trust", "X"], ["untrust", "X"], ["show", "notes"]],
    "create": [["X", "--dest", "X"], ["newsrv", "--dest", "X", "--license", "X"],
               ["newsrv", "--dest", "X", "--description", "X"]],
    "disable": [["X"], ["notes", "--project-dir", "X"]],
    "enable": [["X"], ["notes", "--project", "X"]],
    "headers": [["X"], ["notes"], ["notes", "--reveal", "--project-dir", "X"]],
    "gateway": [["status"], ["stop"], ["X"], ["token", "--header"], ["status", "X"]],  # serve runs until signalled
    "generate": [[], ["--output", "X"], ["--client", "codex", "--output", "X"], ["--scope", "user"],
                 ["--client", "vscode", "--project-dir", "X"]],
    "init": [[]],
    "install": [["X"], ["X", "--ref", "X"], ["X", "--submodules"], ["registry:X"], ["--from-file", "X"],
                ["--from-file", "X", "--env", "X", "--name", "X"], ["registry:a/X", "--use", "X"],
                ["X", "--with", "X"]],
    "list": [[], ["--project-dir", "X"], ["--project", "X"], ["--enabled", "--refresh"]],
    "logs": [["X"], ["notes", "-n", "X"]],
    "migrate": [["--dry-run"], ["--from", "X"], ["--from", "X", "--dry-run"], ["--rollback", "X"], ["--list-backups"],
                [], ["--on-conflict", "X"]],
    "run": [["X"], ["notes", "--project-dir", "X"]],
    "search": [["X", "--offline"], ["X", "--limit", "X"], ["X", "X", "--json"]],
    "status": [["X"], ["notes", "--timeout", "X"], ["--project-dir", "X"]],
    "test": [["X"], ["X", "--timeout", "3"]],
    "uninstall": [["X"], ["X", "--purge"]],
    "upgrade": [["X"], ["--all", "--check"], ["X", "--force"], ["notes", "--with", "X"], ["X", "--without", "X"],
                ["notes", "--with", "X", "--without", "X"]],
    "watch": None,  # runs until it is signalled; its own tests cover start-up errors
    "validate": [["X"], ["X", "--schema", "config"], ["-", "--schema", "effective"], ["X", "X"]],
    "verify": [["X"], [], ["notes", "X"]],
}
EXTRA = ["--json", "--jq", ".[0]", "--project-dir", "--refresh", "-n", "-1"]


def _hostile(rng: random.Random, tmp):
    pool = [
        "", "-", "--", "x" * 5000, "a/../../etc/passwd", "../../..", "\n", "tab\tbed", "${", "$${X}",
        "${UNSET:-sk-live-abcdef123456}", "é" * 300, "\udcff", "/dev/zero", "/dev/full", "/proc/self/mem",
        str(tmp / "missing"), str(tmp / ("n" * 300)), str(tmp / "loop"), str(tmp / "dangling"),
        str(tmp / "file.txt"), str(tmp / "out.json"), str(tmp / "server"), "notes", "NOTES", "notes/..",
        "https://user:tok3nsecret@git.example.com/x.git", "ext::sh -c id", "git@host:x.git@..",
        "settings." + ".".join(["a"] * 100), "env.LD_PRELOAD", "enabled", "null", "[1,", "1e400", "-1",
        json.dumps({"a": [[[[[[[[[[{}]]]]]]]]]]}), "args", "headers.Cookie", "NaN",
    ]
    if rng.random() < 0.1:
        return bytes(rng.randrange(128, 256) for _ in range(rng.randint(1, 8)))
    return rng.choice(pool)


def _words(rng: random.Random, verb: str, tmp) -> list:
    shape = rng.choice(SHAPES.get(verb, [["X"]]))
    words = [_hostile(rng, tmp) if w == "X" else w for w in shape]
    if rng.random() < 0.3:
        words.append(rng.choice(EXTRA))
    if rng.random() < 0.5 and verb != "run":
        words.append("--json")
    return words


def _link(path: Path, target: Path) -> None:
    if path.is_symlink() or path.exists():
        path.unlink()
    path.symlink_to(target)


def _replace(path: Path, text: str) -> None:
    """Write ``path`` anew, even where an earlier run left a dangling link."""
    if path.is_symlink():
        path.unlink()
    path.write_text(text)


def _environment(rng: random.Random, sandbox, tmp) -> dict:
    """The sandbox's environment with one or two hostile changes."""
    env = dict(sandbox.env)
    user = sandbox.config / "claudex" / "mcp.json"
    changes = [
        lambda: env.update(CLAUDEX_MCP_REGISTRY=str(tmp / "file.txt")),
        lambda: env.update(CLAUDEX_MCP_REGISTRY=str(tmp / "missing")),
        lambda: env.update(CLAUDEX_MCP_REGISTRY=""),
        lambda: env.update(CLAUDEX_MCP_LOCK_TIMEOUT="soon"),
        lambda: env.update(HOME=""),
        lambda: env.update(CODEX_HOME=str(tmp / "file.txt")),
        lambda: env.update(XDG_CONFIG_HOME=str(tmp / "dangling")),
        lambda: env.update(CLAUDEX_MCP_LOG_MAX_BYTES="-5"),
        lambda: env.update(CLAUDEX_PROJECTS_DIR="/dev/null"),
        lambda: user.write_bytes(b'{"servers": {"notes": {"settings": ' + b"[" * 3000 + b"]" * 3000 + b"}}}"),
        lambda: user.write_bytes(b'{"servers": {"notes": {"env": {"A": "\xff\xfe"}}}}'),
        lambda: user.write_text('{"servers": {"notes": {"env": {"A": "\\ud800"}}}}'),
        lambda: user.write_text('{"servers": {"notes": {"env": {"A": "${oops"}}}}'),
        lambda: user.write_text("{" * 10),
        lambda: _replace(sandbox.home / ".mcp.json", '{"mcpServers": [1e400]}'),
        lambda: _link(user, Path("/dev/zero")),
        lambda: _link(user, user),
        lambda: _link(sandbox.home / ".mcp.json", tmp / "nowhere" / "mcp.json"),
        lambda: None,
    ]
    # In list order: a file written after a link to itself was made would fail here, not in claudex.
    for index in sorted(rng.sample(range(len(changes)), rng.randint(1, 2))):
        changes[index]()
    return env


@pytest.fixture
def arena(sandbox, tmp_path):
    registry_mod.init(sandbox.registry)
    add_server(sandbox.registry, "notes", doc=manifest("notes", command=sys.executable))
    # Deep enough that relative hostile paths ("../../..") still land inside tmp_path: a project
    # layer written there must not make pytest's shared temp root look like a project to later tests.
    tmp = tmp_path / "d1" / "d2" / "d3" / "arena"
    tmp.mkdir(parents=True)
    (tmp / "file.txt").write_text("not json\n")
    (tmp / "loop").symlink_to(tmp / "loop")
    (tmp / "dangling").symlink_to(tmp / "nowhere")
    server = tmp / "server"  # a valid server folder whose name differs from metadata.name
    server.mkdir()
    (server / "manifest.json").write_text(json.dumps(manifest("fuzzed", command=sys.executable)))
    (server / "server.py").write_text("print('hi')\n")
    (sandbox.config / "claudex").mkdir(parents=True, exist_ok=True)
    return tmp


def test_every_verb_survives_hostile_input(sandbox, arena):
    rng = random.Random(SEED)
    assert set(dispatch.verbs()) <= set(SHAPES), "a new verb: give it a shape here"
    verbs = sorted(v for v in dispatch.verbs() if SHAPES[v] is not None)
    user = sandbox.config / "claudex" / "mcp.json"
    failures = []
    codes: dict[int, int] = {}
    for run in range(RUNS):
        verb = verbs[run % len(verbs)]
        words = _words(rng, verb, arena)
        for leftover in (user, sandbox.home / ".mcp.json"):
            if leftover.is_symlink() or leftover.exists():
                leftover.unlink()
        env = _environment(rng, sandbox, arena)
        argv = [sys.executable, str(ROOT / "scripts" / "claudex"), "mcp", verb,
                *[w if isinstance(w, bytes) else w.encode("utf-8", "surrogateescape") for w in words]]
        try:
            proc = subprocess.run(argv, capture_output=True, env=env, cwd=arena, stdin=subprocess.DEVNULL,
                                  timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            failures.append((verb, words, "timed out"))
            continue
        out, err = proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
        problem = None
        if proc.returncode == 70 or "Traceback" in err:
            problem = f"exit {proc.returncode}: {err[-600:]}"
        elif proc.returncode not in (0, 1, 2, 3, 4, 5):
            problem = f"undocumented exit {proc.returncode}: {err[-300:]}"
        elif verb in ("validate", "status", "test") and proc.returncode == 1 and out:
            pass  # their report (problems found, servers unhealthy) is the payload: exit 1 with stdout
        elif (verb == "info" and proc.returncode == 5 or verb == "upgrade" and "--all" in words) and out and err:
            pass  # what is known (info: all but the tools of a server that did not answer; upgrade --all:
            # each server's result), then the error on stderr
        elif proc.returncode != 0 and out and verb != "run":
            problem = f"stdout on failure: {out[:200]} (exit {proc.returncode}) {err[-400:]}"
        elif proc.returncode != 0 and verb in ("run", "headers"):  # one readable line: clients show it
            if "hint:" not in err:
                problem = f"no hint: {err[-300:]}"
        elif proc.returncode != 0:
            lines = [line for line in err.splitlines() if line.startswith("{")]
            try:
                error = json.loads(lines[-1])["error"]
            except (IndexError, ValueError, KeyError):
                problem = f"no error object: {err[-300:]}"
            else:
                if not error.get("hint"):
                    problem = f"no hint: {error}"
        codes[proc.returncode] = codes.get(proc.returncode, 0) + 1
        if problem:
            failures.append((verb, words, problem))
    print("exit codes:", dict(sorted(codes.items())))
    assert not failures, "\n".join(f"{v} {w!r}: {p}" for v, w, p in failures)

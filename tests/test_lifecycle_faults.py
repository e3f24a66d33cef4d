"""Crash safety: a SIGKILL or SIGTERM at every named step, SIGKILLs at random instants, and eight
processes at once. After each: registry.json is valid, every server folder is wholly one
version, nothing is lost, and the next command cleans up."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from lifecycle_helpers import add_release, check_invariants, git_repo, snapshot
from claudex_mcp.store import registry as registry_mod

CLAUDEX = [sys.executable, str(ROOT / "scripts" / "claudex"), "mcp"]
STEPS = ["fetch", "validate", "dependencies", "permissions", "commit", "record", "done"]


@pytest.fixture
def world(sandbox):
    """A registry with 'keep' installed, and a repository 'echo' at 1.0.0 (then 1.1.0)."""
    registry_mod.init(sandbox.registry)
    keep = git_repo(sandbox.root, "keep", ["1.0.0"], mcp=False)
    assert sandbox.run("mcp", "install", keep).returncode == 0
    url = git_repo(sandbox.root, "echo", ["1.0.0"])
    return sandbox.registry, url


def run(sandbox, *argv, env=None):
    return subprocess.run(CLAUDEX + list(argv), capture_output=True, text=True, env={**sandbox.env, **(env or {})},
                          timeout=120)


def settle(sandbox, registry):
    """The next mutation recovers; afterwards staging is empty and registry.json is reconciled."""
    proc = run(sandbox, "disable", "keep")
    assert proc.returncode == 0, proc.stderr
    assert run(sandbox, "enable", "keep").returncode == 0
    assert list((registry / ".staging").iterdir()) == []
    assert registry_mod.reconciled(registry) == json.loads((registry / "registry.json").read_text())["servers"]


@pytest.mark.parametrize("how", ["kill", "term"])
@pytest.mark.parametrize("step", STEPS)
def test_install_interrupted_at_each_step(sandbox, world, step, how):
    registry, url = world
    before = snapshot(registry)
    proc = run(sandbox, "install", url, env={"CLAUDEX_MCP_FAULT": f"{step}:{how}" if how == "term" else step})
    assert proc.returncode in ((-9,) if how == "kill" else (130,)), proc.stderr
    committed = how == "kill" and step in ("record", "done") or how == "term" and step == "done"
    check_invariants(registry, {"keep": {"1.0.0"}, "echo": {"1.0.0"} if committed else {None}})
    if how == "term" and step != "done":
        assert snapshot(registry) == before  # rolled back
        assert list((registry / ".staging").iterdir()) == []
    settle(sandbox, registry)
    assert (registry / "installed" / "echo").exists() == committed
    if committed:  # the source survived the crash through the install marker
        assert json.loads((registry / "registry.json").read_text())["servers"]["echo"]["source"]["url"] == url


@pytest.mark.parametrize("step", STEPS)
def test_upgrade_killed_at_each_step(sandbox, world, step):
    registry, url = world
    assert run(sandbox, "install", f"{url}@v1.0.0").returncode == 0
    add_release(url, sandbox.root, "echo", "1.1.0")
    proc = run(sandbox, "upgrade", "echo", env={"CLAUDEX_MCP_FAULT": step})
    assert proc.returncode == -9, proc.stderr
    check_invariants(registry, {"keep": {"1.0.0"}, "echo": {"1.0.0", "1.1.0"}})
    settle(sandbox, registry)
    version = (registry / "installed" / "echo" / "VERSION").read_text().strip()
    assert version == ("1.1.0" if step in ("record", "done") else "1.0.0")


@pytest.mark.parametrize("step", ["commit", "record", "done"])
def test_uninstall_killed_at_each_step(sandbox, world, step):
    registry, url = world
    assert run(sandbox, "install", url).returncode == 0
    proc = run(sandbox, "uninstall", "echo", env={"CLAUDEX_MCP_FAULT": step})
    assert proc.returncode == -9
    check_invariants(registry, {"keep": {"1.0.0"}, "echo": {"1.0.0", None}})
    settle(sandbox, registry)
    assert (registry / "installed" / "echo").exists() == (step == "commit")


def test_sigkill_at_random_instants(sandbox, world):
    registry, url = world
    add_release(url, sandbox.root, "echo", "1.1.0")
    rng = random.Random(20261124)
    for round_ in range(12):
        installed = (registry / "installed" / "echo").exists()
        argv = rng.choice([["upgrade", "echo", "--force"], ["uninstall", "echo"]]) if installed \
            else ["install", f"{url}@v1.0.0"]
        proc = subprocess.Popen(CLAUDEX + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=sandbox.env)
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        check_invariants(registry, {"keep": {"1.0.0"}, "echo": {"1.0.0", "1.1.0", None}})
        settle(sandbox, registry)


def test_eight_processes_at_once(sandbox, world):
    registry, url = world
    others = {f"s{i}": git_repo(sandbox.root, f"s{i}", ["1.0.0"], mcp=False) for i in range(4)}
    assert run(sandbox, "install", others["s0"]).returncode == 0
    assert run(sandbox, "install", others["s1"]).returncode == 0
    commands = [["install", others["s2"]], ["install", others["s3"]], ["uninstall", "s0"], ["upgrade", "s1"],
                ["install", f"{url}@v1.0.0"], ["disable", "keep"], ["list"], ["upgrade", "--all", "--check"]]
    env = {**sandbox.env, "CLAUDEX_MCP_LOCK_TIMEOUT": "120"}
    procs = [subprocess.Popen(CLAUDEX + c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for c in commands]
    outcomes = [(c, p.wait(timeout=300), p.stderr.read()) for c, p in zip(commands, procs)]
    for command, code, err in outcomes:
        assert code == 0, (command, err)
    servers = json.loads((registry / "registry.json").read_text())["servers"]
    assert sorted(servers) == ["echo", "keep", "s1", "s2", "s3"]
    assert servers["keep"]["location"] == "disabled" and (registry / "disabled" / "keep").is_dir()
    assert registry_mod.reconciled(registry) == servers  # the file and the folders agree
    assert list((registry / ".staging").iterdir()) == []


def test_a_kill_between_commit_and_record_is_reported_by_validate_and_repaired_by_any_mutation(sandbox, world):
    """#24.9: registry.json behind the folders after a SIGKILL at "record": `validate` says so, and
    the next mutation repairs it even when it commits nothing itself (enable of an enabled server)."""
    registry, url = world
    assert run(sandbox, "install", url, env={"CLAUDEX_MCP_FAULT": "record"}).returncode == -9
    assert "echo" not in json.loads((registry / "registry.json").read_text())["servers"]
    proc = run(sandbox, "validate", str(registry), "--json")
    assert proc.returncode == 1
    assert [(p["rule"], p["message"]) for p in json.loads(proc.stdout)] == [("out-of-sync", "installed/echo is not recorded")]
    proc = run(sandbox, "enable", "keep")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((registry / "registry.json").read_text())["servers"]["echo"]["location"] == "installed"
    assert run(sandbox, "validate", str(registry)).returncode == 0

"""init: creates the registry layout with fixed modes, is idempotent, and never rewrites state."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from conftest import FIXTURES, run_script, umask
from claudex_mcp import errors, jsonio, paths
from claudex_mcp.store import registry
from claudex_mcp.schemas import validation
from claudex_mcp.errors import InvalidInput

LAYOUT_DIRS = ("core", "installed", "disabled")
EMPTY = {"apiVersion": "v1", "servers": {}}


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def snapshot(root: Path) -> dict:
    """Every entry under ``root`` (and root itself): inode, mode, mtime_ns and, for files, content."""
    state = {}
    for entry in [root, *sorted(root.rglob("*"))]:
        st = os.lstat(entry)
        if entry.name == ".lock":  # the same file (never replaced), whose holder writes who it is into it
            state[str(entry)] = (st.st_ino, st.st_mode)
            continue
        content = entry.read_bytes() if stat.S_ISREG(st.st_mode) else None
        state[str(entry)] = (st.st_ino, st.st_mode, st.st_mtime_ns, content)
    return state


def expected_created(reg: Path) -> list[str]:
    return [str(reg), *(str(reg / d) for d in LAYOUT_DIRS), str(reg / "registry.json")]


def assert_layout(reg: Path) -> None:
    assert reg.is_dir()
    for name in LAYOUT_DIRS:
        assert (reg / name).is_dir()
        assert mode_of(reg / name) == 0o755, name
    assert mode_of(reg) == 0o755
    index = reg / "registry.json"
    assert index.is_file()
    assert mode_of(index) == 0o644
    assert json.loads(index.read_bytes()) == EMPTY
    assert index.read_bytes() == jsonio.dumps(EMPTY).encode("utf-8")
    assert validation.validate_document(json.loads(index.read_text()), "registry", str(index)) == []


def error_of(proc) -> dict:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return json.loads(lines[0])["error"]


# --- in process --------------------------------------------------------------------------------

def test_init_creates_layout_with_fixed_modes_under_strict_umask(sandbox):
    reg = sandbox.registry
    with umask(0o077):
        created = registry.init(reg)
    assert sorted(created) == sorted(expected_created(reg))
    assert_layout(reg)


def test_init_lock_file_is_644_under_strict_umask(sandbox):
    reg = sandbox.registry
    with umask(0o077):
        registry.init(reg)
    # Every file in the registry (registry.json and the lock file) is 644, every folder 755.
    for entry in [reg, *reg.rglob("*")]:
        expected = 0o755 if entry.is_dir() else 0o644
        assert mode_of(entry) == expected, entry
    assert mode_of(paths.registry_lock_file(reg)) == 0o644


def test_init_creates_missing_parents_with_fixed_modes(sandbox):
    reg = sandbox.root / "a" / "b" / "registry"
    with umask(0o077):
        created = registry.init(reg)
    assert str(sandbox.root / "a") in created
    assert str(sandbox.root / "a" / "b") in created
    assert mode_of(sandbox.root / "a") == 0o755
    assert mode_of(sandbox.root / "a" / "b") == 0o755
    assert_layout(reg)


def test_second_init_returns_nothing_and_changes_nothing(sandbox):
    reg = sandbox.registry
    registry.init(reg)
    # Old timestamps, so that any rewrite or touch would be visible whatever the clock resolution.
    for entry in [reg, *reg.rglob("*")]:
        os.utime(entry, ns=(1_000_000_000, 1_000_000_000))
    before = snapshot(reg)
    assert registry.init(reg) == []
    assert snapshot(reg) == before


def test_init_completes_a_partial_layout_and_keeps_existing_index(sandbox):
    reg = sandbox.registry
    reg.mkdir()
    (reg / "core").mkdir()
    index = reg / "registry.json"
    content = jsonio.dumps({"apiVersion": "v1", "servers": {}}).replace("\n", "\n ").encode()  # valid, unusual
    index.write_bytes(content)
    os.utime(index, ns=(1_000_000_000, 1_000_000_000))
    created = registry.init(reg)
    assert sorted(created) == sorted([str(reg / "installed"), str(reg / "disabled")])
    assert index.read_bytes() == content
    assert os.stat(index).st_mtime_ns == 1_000_000_000


@pytest.mark.parametrize("fixture", sorted(p.name for p in (FIXTURES / "schemas" / "registry" / "valid").glob("*.json")))
def test_init_keeps_an_existing_valid_registry_byte_for_byte(sandbox, fixture):
    reg = sandbox.registry
    reg.mkdir()
    index = reg / "registry.json"
    content = (FIXTURES / "schemas" / "registry" / "valid" / fixture).read_bytes()
    index.write_bytes(content)
    os.utime(index, ns=(1_000_000_000, 1_000_000_000))
    created = registry.init(reg)
    assert str(index) not in created
    assert index.read_bytes() == content
    assert os.stat(index).st_mtime_ns == 1_000_000_000


def test_init_rejects_invalid_index_in_process(sandbox):
    reg = sandbox.registry
    reg.mkdir()
    (reg / "registry.json").write_bytes(b'{"apiVersion": "v2", "servers": {}}')
    with pytest.raises(InvalidInput) as info:
        registry.init(reg)
    assert info.value.code == "invalid_registry"
    assert info.value.exit_code == 1
    assert info.value.path == str(reg / "registry.json")
    assert (reg / "registry.json").read_bytes() == b'{"apiVersion": "v2", "servers": {}}'


def test_empty_index():
    assert registry.empty_index() == EMPTY
    assert registry.empty_index() is not registry.empty_index()


# --- through the CLI ---------------------------------------------------------------------------

def test_cli_init_creates_the_layout(sandbox):
    proc = sandbox.run("mcp", "init")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert str(sandbox.registry) in proc.stdout
    assert "initialised" in proc.stdout
    assert_layout(sandbox.registry)


def test_cli_init_modes_under_strict_umask(sandbox):
    # The child inherits the umask of this process.
    with umask(0o077):
        proc = sandbox.run("mcp", "init")
    assert proc.returncode == 0, proc.stderr
    assert_layout(sandbox.registry)


def test_cli_init_json_output(sandbox):
    proc = sandbox.run("mcp", "init", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"core", "created", "registry"}
    assert out["registry"] == str(sandbox.registry)
    assert sorted(out["created"]) == sorted(expected_created(sandbox.registry))
    assert proc.stdout == jsonio.dumps(out)  # sorted keys, 2-space indent, newline at the end


def test_cli_second_run_changes_nothing(sandbox):
    assert sandbox.run("mcp", "init").returncode == 0
    reg = sandbox.registry
    for entry in [reg, *reg.rglob("*")]:
        os.utime(entry, ns=(1_000_000_000, 1_000_000_000))
    before = snapshot(reg)
    proc = sandbox.run("mcp", "init", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"core": [], "created": [], "registry": str(reg)}
    assert snapshot(reg) == before
    proc = sandbox.run("mcp", "init")
    assert proc.returncode == 0
    assert "nothing to do" in proc.stdout
    assert snapshot(reg) == before


def test_cli_init_creates_missing_parents(sandbox):
    reg = sandbox.root / "deep" / "er" / "registry"
    proc = sandbox.run("mcp", "init", "--json", env={"CLAUDEX_MCP_REGISTRY": str(reg)})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["registry"] == str(reg)
    assert str(sandbox.root / "deep") in out["created"]
    assert str(sandbox.root / "deep" / "er") in out["created"]
    assert_layout(reg)


def test_cli_init_registry_with_tilde_and_relative_path(sandbox):
    proc = sandbox.run("mcp", "init", "--json", env={"CLAUDEX_MCP_REGISTRY": "~/reg"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["registry"] == str(sandbox.home / "reg")
    assert_layout(sandbox.home / "reg")

    proc = sandbox.run("mcp", "init", "--json", cwd=sandbox.root, env={"CLAUDEX_MCP_REGISTRY": "rel"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["registry"] == str(sandbox.root / "rel")
    assert_layout(sandbox.root / "rel")


def test_cli_init_without_variable_uses_xdg_data_home(sandbox):
    env = dict(sandbox.env)
    del env["CLAUDEX_MCP_REGISTRY"]
    if Path(paths.DEFAULT_REGISTRY).is_dir():
        pytest.skip(f"{paths.DEFAULT_REGISTRY} exists on this machine; the CLI would use it")
    proc = run_script("claudex", "mcp", "init", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    expected = Path(sandbox.env["XDG_DATA_HOME"]) / "claudex" / "mcp-servers"
    assert json.loads(proc.stdout)["registry"] == str(expected)
    assert_layout(expected)


@pytest.mark.parametrize("content", [
    b"{",
    b"",
    b'{"apiVersion": "v1", "servers": {}, "servers": {}}',
    b'{"apiVersion": "v2", "servers": {}}',
    b'{"apiVersion": "v1"}',
    b'{"apiVersion": "v1", "servers": {}, "unknown": 1}',
    b"[]",
    b"\xff\xfe",
])
def test_cli_invalid_existing_index_exits_1_and_is_untouched(sandbox, content):
    reg = sandbox.registry
    reg.mkdir()
    index = reg / "registry.json"
    index.write_bytes(content)
    os.chmod(index, 0o600)
    os.utime(index, ns=(1_000_000_000, 1_000_000_000))
    before = os.stat(index)
    proc = sandbox.run("mcp", "init")
    assert proc.returncode == errors.INVALID == 1, proc.stderr
    assert proc.stdout == ""
    error = error_of(proc)
    assert error["code"] == "invalid_registry"
    assert error["path"] == str(index)
    assert "hint" in error
    assert index.read_bytes() == content
    after = os.stat(index)
    assert (after.st_ino, after.st_mtime_ns, stat.S_IMODE(after.st_mode)) == \
        (before.st_ino, before.st_mtime_ns, 0o600)


def test_cli_index_that_is_a_directory_is_invalid(sandbox):
    (sandbox.registry / "registry.json").mkdir(parents=True)
    proc = sandbox.run("mcp", "init")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert error_of(proc)["code"] == "invalid_registry"
    assert (sandbox.registry / "registry.json").is_dir()


def test_cli_regular_file_in_place_of_registry_exits_1_unchanged(sandbox):
    reg = sandbox.registry
    reg.write_bytes(b"I am not a folder\n")
    os.utime(reg, ns=(1_000_000_000, 1_000_000_000))
    siblings = sorted(os.listdir(reg.parent))
    proc = sandbox.run("mcp", "init")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    error = error_of(proc)
    assert error["code"] == "not_a_directory"
    assert error["path"] == str(reg)
    assert reg.is_file()
    assert reg.read_bytes() == b"I am not a folder\n"
    assert os.stat(reg).st_mtime_ns == 1_000_000_000
    assert sorted(os.listdir(reg.parent)) == siblings


def test_cli_regular_file_in_place_of_a_layout_folder_exits_1(sandbox):
    reg = sandbox.registry
    reg.mkdir()
    (reg / "installed").write_bytes(b"oops")
    proc = sandbox.run("mcp", "init")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    assert error_of(proc)["code"] == "not_a_directory"
    assert (reg / "installed").read_bytes() == b"oops"


def test_cli_dangling_symlink_in_place_of_registry_exits_1(sandbox):
    sandbox.registry.symlink_to(sandbox.root / "nowhere")
    proc = sandbox.run("mcp", "init")
    assert proc.returncode == 1, proc.stderr
    assert error_of(proc)["code"] == "not_a_directory"
    assert sandbox.registry.is_symlink()
    assert not (sandbox.root / "nowhere").exists()


def test_cli_regular_file_in_place_of_a_parent_exits_1(sandbox):
    blocker = sandbox.root / "blocker"
    blocker.write_bytes(b"file")
    proc = sandbox.run("mcp", "init", env={"CLAUDEX_MCP_REGISTRY": str(blocker / "registry")})
    assert blocker.read_bytes() == b"file"
    assert proc.stdout == ""
    assert proc.returncode == 1, proc.stderr
    assert error_of(proc)["code"] != "internal"


def test_cli_init_help(sandbox):
    proc = sandbox.run("mcp", "init", "--help")
    assert proc.returncode == 0
    assert "--json" in proc.stdout
    assert not sandbox.registry.exists()


def test_cli_init_rejects_unknown_option(sandbox):
    proc = sandbox.run("mcp", "init", "--bogus")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert error_of(proc)["code"] == "usage"
    assert not sandbox.registry.exists()

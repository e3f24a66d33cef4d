"""A hostile registry or state folder (#11.1): symlinked `.staging`, `.lock`, path locks and
transaction entries, a `.staging` that is a file. Nothing outside is deleted or chmodded; the
command fails with a clear error (exit 1, code unsafe_path, a hint), never exit 70."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from conftest import add_server
from lifecycle_helpers import snapshot


def build_decoy(root: Path) -> Path:
    """A folder of files and folders with distinct modes, shaped like leftover transactions."""
    decoy = root / "decoy"
    (decoy / "install-1-deadbeef").mkdir(parents=True)
    (decoy / "install-1-deadbeef" / "journal.json").write_text(json.dumps({"op": "install"}))
    (decoy / "precious.txt").write_text("keep me\n")
    (decoy / "secret").write_text("s3cret\n")
    os.chmod(decoy / "secret", 0o600)
    (decoy / "ro").mkdir()
    (decoy / "ro" / "file").write_text("x")
    os.chmod(decoy / "ro", 0o500)
    os.chmod(decoy, 0o700)
    return decoy


def state_of(folder: Path) -> dict:
    """Every entry under ``folder`` (and itself): type, mode and bytes."""
    found = {}
    for path in [folder, *sorted(folder.rglob("*"))]:
        st = os.lstat(path)
        body = path.read_bytes() if stat.S_ISREG(st.st_mode) else None
        found[str(path.relative_to(folder))] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), body)
    return found


@pytest.fixture
def reg(sandbox):
    proc = sandbox.run("mcp", "init")
    assert proc.returncode == 0, proc.stderr
    add_server(sandbox.registry, "hello")
    return sandbox.registry


@pytest.fixture
def decoy(sandbox):
    folder = build_decoy(sandbox.root)
    before = state_of(folder)
    yield folder
    assert state_of(folder) == before
    os.chmod(folder / "ro", 0o700)  # let pytest clean up


def refused(proc, path: Path) -> dict:
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    error = json.loads(proc.stderr.strip().splitlines()[-1])["error"]
    assert error["code"] == "unsafe_path" and error["hint"], error
    assert error["path"] == str(path)
    return error


@pytest.mark.parametrize("verb", [("disable", "hello"), ("uninstall", "hello"), ("enable", "hello")])
def test_a_symlinked_staging_folder_is_refused(sandbox, reg, decoy, verb):
    (reg / ".staging").symlink_to(decoy)
    before = snapshot(reg)
    refused(sandbox.run("mcp", *verb), reg / ".staging")
    assert snapshot(reg) == before
    assert (reg / ".staging").is_symlink()


def test_install_through_a_symlinked_staging_folder_is_refused(sandbox, reg, decoy, tmp_path):
    source = add_server(tmp_path / "src", "other")
    (reg / ".staging").symlink_to(decoy)
    refused(sandbox.run("mcp", "install", str(source)), reg / ".staging")
    assert not (reg / "installed" / "other").exists()


def test_a_staging_that_is_a_file_is_refused(sandbox, reg):
    (reg / ".staging").write_text("not a folder\n")
    refused(sandbox.run("mcp", "disable", "hello"), reg / ".staging")
    assert (reg / ".staging").read_text() == "not a folder\n"
    assert (reg / "installed" / "hello").is_dir()


def test_a_symlinked_lock_file_is_neither_locked_nor_chmodded(sandbox, reg, decoy):
    (reg / ".lock").unlink()
    (reg / ".lock").symlink_to(decoy / "secret")
    refused(sandbox.run("mcp", "disable", "hello"), reg / ".lock")
    assert (reg / "installed" / "hello").is_dir()


def test_a_dangling_symlinked_lock_file_creates_nothing(sandbox, reg, decoy):
    (reg / ".lock").unlink()
    (reg / ".lock").symlink_to(decoy / "created-by-claudex")
    refused(sandbox.run("mcp", "disable", "hello"), reg / ".lock")


def test_a_lock_that_is_a_folder_is_a_clear_error(sandbox, reg):
    (reg / ".lock").unlink()
    (reg / ".lock").mkdir()
    refused(sandbox.run("mcp", "disable", "hello"), reg / ".lock")


def test_a_symlinked_path_lock_is_refused(sandbox, reg, decoy):
    from claudex_mcp.store import lock

    target = sandbox.home / ".mcp.json"
    lock_file = lock.path_lock_file(target)
    lock_file.parent.mkdir(parents=True, mode=0o700)
    lock_file.symlink_to(decoy / "secret")
    refused(sandbox.run("mcp", "generate"), lock_file)
    assert not target.exists()


def test_a_symlinked_locks_folder_is_refused(sandbox, reg, decoy):
    from claudex_mcp.store import lock

    folder = lock.path_lock_file(sandbox.home / ".mcp.json").parent
    folder.parent.mkdir(parents=True)
    folder.symlink_to(decoy)
    refused(sandbox.run("mcp", "generate"), folder)


def test_recovery_leaves_alone_what_it_cannot_prove_is_its_own(sandbox, reg, decoy):
    staging = reg / ".staging"
    staging.mkdir()
    (staging / "install-7-0badc0de").symlink_to(decoy)          # named like a transaction, a link
    (staging / "notes").symlink_to(decoy / "precious.txt")      # a link to a file
    (staging / "precious").mkdir()                              # a real folder, not named like one
    (staging / "precious" / "f").write_text("x")
    (staging / "install-3-11111111").mkdir()                    # a journal for another operation
    (staging / "install-3-11111111" / "journal.json").write_text(json.dumps({"op": "upgrade"}))
    (staging / "core-4-22222222").mkdir()                       # the journal is a link
    (staging / "core-4-22222222" / "journal.json").symlink_to(decoy / "install-1-deadbeef" / "journal.json")
    kept = sorted(p.name for p in staging.iterdir())
    ours = staging / "uninstall-5-33333333"                     # a real leftover: recovered
    (ours / "removed").mkdir(parents=True)
    (ours / "journal.json").write_text(json.dumps({"op": "uninstall", "name": "gone", "location": "installed"}))
    (staging / "install-6-44444444" / "scratch").mkdir(parents=True)  # killed before its journal
    (staging / "install-6-44444444" / "scratch" / "f").write_text("x")
    proc = sandbox.run("mcp", "disable", "hello")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in staging.iterdir()) == kept
    assert (staging / "precious" / "f").read_text() == "x"


def test_a_staging_folder_others_may_write_is_refused(sandbox, reg):
    (reg / ".staging").mkdir()
    os.chmod(reg / ".staging", 0o777)
    (reg / ".staging" / "install-1-00000000").mkdir()
    error = refused(sandbox.run("mcp", "disable", "hello"), reg / ".staging")
    assert "chmod go-w" in error["hint"]
    assert (reg / ".staging" / "install-1-00000000").is_dir()


def test_recovery_never_follows_a_link_inside_a_transaction(sandbox, reg, decoy):
    txn = reg / ".staging" / "install-8-55555555"
    (txn / "new").mkdir(parents=True)
    (txn / "journal.json").write_text(json.dumps({"op": "install"}))
    (txn / "new" / "link").symlink_to(decoy)
    (txn / "new" / "ro").mkdir()
    (txn / "new" / "ro" / "f").write_text("x")
    os.chmod(txn / "new" / "ro", 0o500)
    proc = sandbox.run("mcp", "disable", "hello")
    assert proc.returncode == 0, proc.stderr
    assert not txn.exists()


def test_remove_tree_unlinks_a_link_and_chmods_nothing_outside(tmp_path, decoy):
    from claudex_mcp.store import staging

    parent = tmp_path / "parent"
    parent.mkdir(mode=0o700)
    (parent / "link").symlink_to(decoy)
    staging.remove_tree(parent / "link")
    assert not os.path.lexists(parent / "link")
    assert stat.S_IMODE(os.lstat(parent).st_mode) == 0o700


def test_remove_tree_empties_read_only_folders_inside(tmp_path):
    from claudex_mcp.store import staging

    outer = tmp_path / "outer"
    outer.mkdir(mode=0o555)
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "f").write_text("x")
    os.chmod(tree / "a" / "b", 0o500)
    os.chmod(tree / "a", 0o500)
    staging.remove_tree(tree)
    assert not tree.exists()
    assert stat.S_IMODE(os.lstat(outer).st_mode) == 0o555
    os.chmod(outer, 0o755)


def test_a_symlinked_log_file_is_refused(sandbox, reg, decoy):
    from claudex_mcp.runtime import launcher

    log = launcher.log_file("hello")
    log.parent.mkdir(parents=True)
    log.symlink_to(decoy / "secret")
    proc = sandbox.run("mcp", "run", "hello")
    assert proc.returncode == 1, proc.stderr
    assert "symbolic link" in proc.stderr


def test_a_symlinked_cache_stats_file_is_not_written_through(sandbox, reg, decoy):
    from claudex_mcp.store import cache

    cache.stats_file().parent.mkdir(parents=True)
    cache.stats_file().symlink_to(decoy / "secret")
    assert sandbox.run("mcp", "list").returncode == 0


@pytest.mark.parametrize("folder", ["logs", "run"])
def test_a_symlinked_logs_or_run_folder_is_refused(sandbox, reg, decoy, folder):
    state = sandbox.state / "claudex"
    state.mkdir(parents=True)
    (state / folder).symlink_to(decoy)
    proc = sandbox.run("mcp", "run", "hello")
    assert proc.returncode == 1, proc.stderr
    assert f"{state / folder} is a symbolic link" in proc.stderr


def test_a_folder_of_another_user_is_refused_and_one_of_root_is_trusted(tmp_path):
    """safepath.real_dir: another (unprivileged) user's folder could hold planted links; root's
    cannot be more hostile than root already is (the image keeps core/ root's)."""
    from claudex_mcp import safepath
    from claudex_mcp.errors import InvalidInput

    folder = tmp_path / "location"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root to chown a folder to another user")
    os.chown(folder, 0, 0)
    assert safepath.real_dir(folder) is True
    os.chown(folder, 4321, 4321)
    with pytest.raises(InvalidInput) as caught:
        safepath.real_dir(folder)
    assert caught.value.code == "unsafe_path" and "another user" in caught.value.message


def test_one_judge_of_a_folder_for_a_path_and_a_descriptor(tmp_path):
    """safepath.folder_problem is what real_dir, the cache folder, a transaction folder and a
    migrated project folder are judged by: a link is never followed, and the phrase is the same."""
    from claudex_mcp import safepath

    folder, link, file = tmp_path / "real", tmp_path / "link", tmp_path / "file"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o775)
    link.symlink_to(folder)
    file.write_text("")
    assert safepath.folder_problem(folder) is None
    assert safepath.folder_problem(folder, private=True) == safepath.SHARED == "may be written by other users"
    assert safepath.folder_problem(link) == safepath.LINK == "is a symbolic link"
    assert safepath.folder_problem(file) == safepath.NOT_A_FOLDER
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        assert safepath.folder_problem(fd) is None
    finally:
        os.close(fd)
    with pytest.raises(FileNotFoundError):
        safepath.folder_problem(tmp_path / "missing")
    if os.geteuid() == 0:
        os.chown(folder, 4321, 4321)
        assert safepath.folder_problem(folder) == safepath.NOT_YOURS == "belongs to another user"

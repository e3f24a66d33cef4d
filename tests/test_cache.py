"""The registry cache: hits while nothing changed, misses on any change, TTL, counters, and a
broken or unwritable cache is never an error."""

from __future__ import annotations

import json
import os
import stat
import time

import pytest

from conftest import add_server, manifest
from claudex_mcp.store import cache, registry as registry_mod
from claudex_mcp import paths


@pytest.fixture
def reg(sandbox):
    registry_mod.init(sandbox.registry)
    add_server(sandbox.registry, "alpha")
    return sandbox.registry


def test_second_lookup_hits(reg):
    first, hit1 = cache.load(reg)
    second, hit2 = cache.load(reg)
    assert (hit1, hit2) == (False, True)
    assert first == second
    assert cache.stats()["hits"] == 1 and cache.stats()["misses"] == 1 and cache.stats()["hitRate"] == 0.5


@pytest.mark.parametrize("change", ["new server", "edit manifest", "remove server", "registry.json", "move"])
def test_any_registry_change_misses(reg, change):
    cache.load(reg)
    folder = reg / "installed" / "alpha"
    if change == "new server":
        add_server(reg, "beta")
    elif change == "edit manifest":
        (folder / "manifest.json").write_text(json.dumps(manifest("alpha", "1.0.1")))
    elif change == "remove server":
        import shutil
        shutil.rmtree(folder)
    elif change == "registry.json":
        (reg / "registry.json").write_text(json.dumps({"apiVersion": "v1", "servers": {}}) + " ")
    else:
        os.rename(folder, reg / "disabled" / "alpha")
    index, hit = cache.load(reg)
    assert not hit
    if change == "edit manifest":
        assert index["servers"]["alpha"]["version"] == "1.0.1"
    if change == "move":
        assert index["servers"]["alpha"]["location"] == "disabled"


def test_ttl_expiry_and_refresh(reg, monkeypatch):
    cache.load(reg)
    assert cache.load(reg, refresh=True)[1] is False
    monkeypatch.setenv("CLAUDEX_MCP_CACHE_TTL", "0")
    assert cache.load(reg)[1] is False
    monkeypatch.setenv("CLAUDEX_MCP_CACHE_TTL", "300")
    cache.load(reg)
    data = json.loads(paths.cache_file().read_text())
    data["createdAt"] = time.time() - 301
    paths.cache_file().write_text(json.dumps(data))
    assert cache.load(reg)[1] is False


def test_another_registry_does_not_reuse_the_cache(reg, sandbox):
    cache.load(reg)
    other = sandbox.root / "other"
    registry_mod.init(other)
    index, hit = cache.load(other)
    assert not hit and index["servers"] == {}


@pytest.mark.parametrize("garbage", [b"", b"{", b"[]", b'{"format": 1}', b"\xff\xfe"])
def test_corrupt_cache_is_rebuilt_silently(reg, garbage):
    cache.load(reg)
    paths.cache_file().write_bytes(garbage)
    index, hit = cache.load(reg)
    assert not hit and "alpha" in index["servers"]
    assert json.loads(paths.cache_file().read_text())["index"] == index


def test_unwritable_cache_folder_means_no_cache(reg, sandbox):
    blocker = sandbox.root / "not-a-dir"
    blocker.write_text("x")
    os.environ["XDG_CACHE_HOME"] = str(blocker)  # restored by monkeypatch in the sandbox fixture
    index, hit = cache.load(reg)
    assert not hit and "alpha" in index["servers"]
    assert cache.load(reg)[1] is False


def test_mutation_invalidates(reg):
    cache.load(reg)
    cache.invalidate()
    assert not paths.cache_file().exists()
    assert cache.load(reg)[1] is False


def test_cli_stats_clear_refresh(reg, sandbox):
    sandbox.run("mcp", "list")
    sandbox.run("mcp", "list")
    stats = json.loads(sandbox.run("mcp", "cache", "stats", "--json").stdout)
    assert (stats["hits"], stats["misses"], stats["hitRate"], stats["cached"]) == (1, 1, 0.5, True)
    assert "hit rate 50.0%" in sandbox.run("mcp", "cache", "stats").stdout
    refreshed = json.loads(sandbox.run("mcp", "cache", "refresh", "--json").stdout)
    assert refreshed["servers"] == 1
    cleared = sandbox.run("mcp", "cache", "clear", "--json")
    assert cleared.returncode == 0 and len(json.loads(cleared.stdout)["removed"]) == 2
    assert json.loads(sandbox.run("mcp", "cache", "stats", "--json").stdout)["hits"] == 0


def test_init_invalidates_the_cache(sandbox):
    sandbox.registry.mkdir()
    (sandbox.registry / "installed").mkdir()
    paths.cache_file().parent.mkdir(parents=True)
    paths.cache_file().write_text("{}")
    assert sandbox.run("mcp", "init").returncode == 0
    assert not paths.cache_file().exists()


# ---- every cache file: corrupt, hostile, private, cleared ----------------------------------

QUICK = manifest("quick", command="python3", env={"QUICK_TOKEN": "${QUICK_TOKEN}"}, requiredEnv=["QUICK_TOKEN"])
CACHE_FILES = ("validated.json", "mcp-status.json", "mcp-registry.json", "mcp-registry.stats", "mcp-status.key")


@pytest.fixture
def quick(sandbox):
    """A registry with a server that status checks without starting anything (a required
    variable is missing), and a user config layer, so that every cache file is read and written
    by list, status and info."""
    registry_mod.init(sandbox.registry)
    add_server(sandbox.registry, "quick", doc=QUICK)
    user = sandbox.config / "claudex" / "mcp.json"
    user.parent.mkdir(parents=True)
    user.write_text(json.dumps({"servers": {"quick": {"enabled": True}}}))
    return sandbox


def _verbs_work(sandbox) -> None:
    """list, status and info answer as usual (a corrupt or hostile cache file is never an
    error, and nothing about it is said when stderr is not a terminal); each within 20 s, so a
    reader that hangs fails the test instead of the suite."""
    listed = sandbox.run("mcp", "list", "--json", timeout=20)
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    assert [s["name"] for s in json.loads(listed.stdout)] == ["quick"]
    checked = sandbox.run("mcp", "status", "quick", "--json", timeout=20)
    assert checked.returncode == 1 and checked.stderr == "", checked.stderr
    assert json.loads(checked.stdout)["state"] == "missing env"
    info = sandbox.run("mcp", "info", "quick", "--json", timeout=20)
    assert info.returncode == 0 and info.stderr == "", info.stderr


@pytest.mark.parametrize("name", ["validated.json", "mcp-status.json", "mcp-registry.json"])
@pytest.mark.parametrize("content", [b"null", b"[]", b'"\\ud800"', b"garbage", b'{"\\ud800": true}',
                                     b'{"format": 2, "servers": {"quick": {"at": "x", "key": 1, "result": []}}}',
                                     b'{"format": 2, "servers": []}', b"[" * 100000])
def test_a_corrupt_cache_file_is_discarded_and_rebuilt(quick, name, content):
    path = quick.cache / "claudex" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    _verbs_work(quick)
    _verbs_work(quick)  # and again, from what the first run wrote back
    assert isinstance(json.loads(path.read_bytes()), dict)  # rebuilt


def _plant(path, kind: str) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        try:
            os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero's numbers
        except PermissionError:
            pytest.skip("making a device node needs root")
    elif kind == "sparse":
        with open(path, "wb") as fh:
            fh.truncate(1 << 30)
    else:
        path.symlink_to(path.parent.parent / "decoy")


@pytest.mark.parametrize("name", CACHE_FILES + ("run",))
@pytest.mark.parametrize("kind", ["fifo", "device", "sparse", "symlink"])
def test_a_fifo_device_huge_file_or_link_in_place_of_a_cache_file_hangs_nothing(quick, name, kind):
    """Every cache file (and the run record status reads) is opened without blocking and
    without following a link, used only when it is a regular file, and read up to a cap; the
    planted thing is replaced, never written through."""
    if name == "run":
        path = quick.state / "claudex" / "run" / "quick.json"
        path.parent.mkdir(parents=True, mode=0o700)
    else:
        path = quick.cache / "claudex" / name
        path.parent.mkdir(parents=True, mode=0o700)
    decoy = path.parent.parent / "decoy"
    decoy.write_text("decoy")
    _plant(path, kind)
    _verbs_work(quick)
    assert decoy.read_text() == "decoy"
    if name in ("validated.json", "mcp-status.json", "mcp-registry.json") and kind != "sparse":
        assert stat.S_ISREG(os.lstat(path).st_mode)  # discarded and rebuilt


def test_the_cache_folder_is_made_private_and_a_linked_one_is_not_used(quick):
    folder = quick.cache / "claudex"
    folder.mkdir(parents=True, mode=0o755)
    os.chmod(folder, 0o755)
    (folder / "mcp-registry.json").write_text("{}")
    os.chmod(folder / "mcp-registry.json", 0o644)
    _verbs_work(quick)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "mcp-registry.json").stat().st_mode) == 0o600
    import shutil

    shutil.rmtree(folder)
    elsewhere = quick.root / "elsewhere"
    elsewhere.mkdir()
    folder.symlink_to(elsewhere)
    _verbs_work(quick)
    assert list(elsewhere.iterdir()) == []  # nothing read or written through the link
    stats = json.loads(quick.run("mcp", "cache", "stats", "--json").stdout)
    assert "symbolic link" in stats["problem"] and stats["cached"] is False


def test_a_cache_folder_of_another_user_is_not_used(quick):
    if os.geteuid() != 0:
        pytest.skip("giving a folder to another user needs root")
    folder = quick.cache / "claudex"
    folder.mkdir(parents=True, mode=0o777)
    os.chmod(folder, 0o777)
    os.chown(folder, 12345, 12345)
    _verbs_work(quick)
    assert list(folder.iterdir()) == []
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777  # not claudex's to change
    stats = json.loads(quick.run("mcp", "cache", "stats", "--json").stdout)
    assert stats["problem"] == f"{folder} belongs to another user; claudex works without a cache"


def test_cache_clear_removes_every_cache_file(quick):
    _verbs_work(quick)
    folder = quick.cache / "claudex"
    (folder / "uv").mkdir()  # uv's package cache: not claudex's to clear
    (folder / ".mcp-status.json.abc123.tmp").write_text("{")  # an interrupted write
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == sorted(
        (".mcp-status.json.abc123.tmp",) + CACHE_FILES)
    cleared = quick.run("mcp", "cache", "clear", "--json")
    assert cleared.returncode == 0, cleared.stderr
    assert len(json.loads(cleared.stdout)["removed"]) == len(CACHE_FILES) + 1
    assert [p.name for p in folder.iterdir()] == ["uv"]
    from claudex_mcp import cachedir

    assert sorted(cachedir.FILES) == sorted(CACHE_FILES)  # the one list is the list tested here

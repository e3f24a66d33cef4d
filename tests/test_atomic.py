"""atomic: temp file in the same folder, fsync, os.replace; unchanged content touches nothing."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from conftest import umask

from claudex_mcp import atomic, jsonio


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def folder(tmp_path):
    """A folder of our own: the sandbox keeps its HOME in the test's tmp_path."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def fingerprint(path: Path) -> tuple:
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns, st.st_ctime_ns, stat.S_IMODE(st.st_mode), path.read_bytes()


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o640, 0o755, 0o664])
def test_creates_with_given_mode_regardless_of_umask(folder, mode):
    target = folder / "file.json"
    with umask(0o077):
        assert atomic.write_bytes(target, b"data\n", mode=mode) is True
    assert target.read_bytes() == b"data\n"
    assert mode_of(target) == mode


def test_default_mode_is_644_under_strict_umask(folder):
    target = folder / "file.txt"
    with umask(0o077):
        atomic.write_text(target, "x")
    assert mode_of(target) == 0o644


def test_umask_is_not_changed_by_a_write(folder):
    with umask(0o027):
        atomic.write_bytes(folder / "f", b"x")
        assert os.umask(0o027) == 0o027


def test_replacing_leaves_no_temp_files(folder):
    target = folder / "file.json"
    (folder / "neighbour").write_text("keep me")
    for i in range(5):
        assert atomic.write_bytes(target, f"version {i}\n".encode()) is True
    assert target.read_bytes() == b"version 4\n"
    assert sorted(os.listdir(folder)) == ["file.json", "neighbour"]
    assert (folder / "neighbour").read_text() == "keep me"


def test_replacement_is_a_new_inode_so_readers_of_the_old_file_see_old_content(folder):
    target = folder / "file.json"
    target.write_bytes(b"old\n")
    old_link = folder / "old-link"
    os.link(target, old_link)
    assert atomic.write_bytes(target, b"new\n") is True
    assert target.read_bytes() == b"new\n"
    assert old_link.read_bytes() == b"old\n"  # rewritten in place would have changed this too
    assert os.stat(target).st_ino != os.stat(old_link).st_ino


def test_identical_content_and_mode_returns_false_and_touches_nothing(folder):
    target = folder / "file.json"
    assert atomic.write_bytes(target, b"same\n", mode=0o644) is True
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))  # a distinct, old mtime any write would change
    before = fingerprint(target)
    dir_before = os.stat(folder).st_mtime_ns
    assert atomic.write_bytes(target, b"same\n", mode=0o644) is False
    assert fingerprint(target) == before
    assert os.stat(folder).st_mtime_ns == dir_before
    assert os.listdir(folder) == ["file.json"]


def test_identical_json_returns_false(folder):
    target = folder / "doc.json"
    doc = {"b": [1, 2], "a": "é"}
    assert atomic.write_json(target, doc) is True
    before = fingerprint(target)
    assert atomic.write_json(target, {"a": "é", "b": [1, 2]}) is False
    assert fingerprint(target) == before


def test_identical_content_does_not_fsync_or_replace(folder, monkeypatch):
    target = folder / "file"
    atomic.write_bytes(target, b"x")

    def boom(*args, **kwargs):
        raise AssertionError("unchanged content must not be written")

    monkeypatch.setattr(os, "replace", boom)
    monkeypatch.setattr(atomic, "fsync_dir", boom)
    assert atomic.write_bytes(target, b"x") is False


def test_same_content_different_mode_returns_true_and_sets_mode(folder):
    target = folder / "file"
    atomic.write_bytes(target, b"content", mode=0o600)
    assert mode_of(target) == 0o600
    assert atomic.write_bytes(target, b"content", mode=0o644) is True
    assert mode_of(target) == 0o644
    assert target.read_bytes() == b"content"
    assert os.listdir(folder) == ["file"]


def test_different_content_same_mode_returns_true(folder):
    target = folder / "file"
    atomic.write_bytes(target, b"one")
    assert atomic.write_bytes(target, b"two") is True
    assert target.read_bytes() == b"two"


def test_empty_content_over_missing_file_is_written(folder):
    target = folder / "empty"
    assert atomic.write_bytes(target, b"") is True
    assert target.exists() and target.read_bytes() == b""
    assert atomic.write_bytes(target, b"") is False


def test_a_changed_write_fsyncs_the_directory(folder, monkeypatch):
    calls = []
    real = atomic.fsync_dir
    monkeypatch.setattr(atomic, "fsync_dir", lambda p: (calls.append(Path(p)), real(p)))
    atomic.write_bytes(folder / "f", b"x")
    assert calls == [folder]


def test_failed_replace_keeps_old_content_and_leaves_no_temp(folder, monkeypatch):
    target = folder / "file.json"
    target.write_bytes(b"old content\n")
    os.chmod(target, 0o644)
    before = fingerprint(target)

    def failing_replace(src, dst, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space left"):
        atomic.write_bytes(target, b"new content\n")
    assert fingerprint(target) == before
    assert os.listdir(folder) == ["file.json"]


def test_failed_write_of_a_new_file_creates_nothing(folder, monkeypatch):
    def failing_replace(src, dst, *args, **kwargs):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        atomic.write_json(folder / "new.json", {"a": 1})
    assert os.listdir(folder) == []


def test_interrupt_during_fsync_cleans_up_the_temp_file(folder, monkeypatch):
    target = folder / "file"
    target.write_bytes(b"old")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic.write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(folder) == ["file"]


def test_write_json_matches_dumps_exactly(folder):
    doc = {"zeta": 1, "alpha": {"y": [1, 2, {"b": None, "a": True}], "x": "naïve ✓ 日本"}, "mid": 1.5}
    target = folder / "doc.json"
    atomic.write_json(target, doc)
    raw = target.read_bytes()
    assert raw == jsonio.dumps(doc).encode("utf-8")
    text = raw.decode("utf-8")
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert "naïve ✓ 日本" in text and "\\u" not in text          # non-ASCII kept as UTF-8
    assert text.splitlines()[1] == '  "alpha": {'                  # sorted keys, 2-space indent
    assert [line.strip().split('"')[1] for line in text.splitlines() if line.startswith('  "')] == \
        ["alpha", "mid", "zeta"]
    assert json.loads(text) == doc


def test_write_text_encodes_utf8(folder):
    target = folder / "t.txt"
    atomic.write_text(target, "café\n")
    assert target.read_bytes() == "café\n".encode("utf-8")


def test_write_into_missing_directory_raises_and_creates_nothing(folder):
    with pytest.raises(FileNotFoundError):
        atomic.write_bytes(folder / "missing" / "f", b"x")
    assert os.listdir(folder) == []

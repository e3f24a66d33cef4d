"""claudex_embeddings.store: the embedded Qdrant store opened per call under a lock that real
processes share; a second process waits its turn, and a lock held too long is StoreBusy."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from claudex_embeddings import store

WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from qdrant_client import models
    from claudex_embeddings.store import open_embedded
    path, base = Path(sys.argv[1]), int(sys.argv[2])
    for i in range(10):
        with open_embedded(path) as client:
            if not client.collection_exists("c"):
                client.create_collection("c", vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
            client.upsert("c", points=[models.PointStruct(id=base + i, vector=[1.0, float(i)])])
""")


def test_two_processes_write_one_store_at_once(tmp_path):
    path = tmp_path / "store"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(base)], stderr=subprocess.PIPE, text=True)
             for base in (0, 100)]
    try:
        for p in procs:
            _out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    with store.open_embedded(path) as client:
        assert client.count("c").count == 20


def test_a_lock_held_too_long_is_store_busy(tmp_path):
    path = tmp_path / "store"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from pathlib import Path
        from claudex_embeddings.store import store_lock
        with store_lock(Path(sys.argv[1])):
            print("held", flush=True)
            time.sleep(30)
    """), str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        with pytest.raises(store.StoreBusy, match="in use by another process"):
            with store.open_embedded(path, timeout=0.3):
                pass
        assert time.monotonic() - start < 10
    finally:
        holder.kill()
        holder.wait()
    with store.open_embedded(path, timeout=5) as client:  # released when the holder died
        assert client.get_collections().collections == []


def test_any_lock_file_waits_its_turn_then_raises_what_the_caller_says(tmp_path):
    """store.exclusive is the one flock loop of the servers (the store's lock, codequery's index run)."""
    lock = tmp_path / "run.lock"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from pathlib import Path
        from claudex_embeddings.store import exclusive
        with exclusive(Path(sys.argv[1]), 5, RuntimeError):
            print("held", flush=True)
            time.sleep(float(sys.argv[2]))
    """), str(lock), "1.0"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LookupError, match=r"busy after 0\.2"):
            with store.exclusive(lock, 0.2, lambda waited: LookupError(f"busy after {waited:.1f}")):
                pass
        with store.exclusive(lock, 30, LookupError) as waited:   # the holder lets go after 1 s
            assert 0 < waited < 30
    finally:
        holder.kill()
        holder.wait()
    link = tmp_path / "link.lock"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError):   # never through a symlink
        with store.exclusive(link, 1, LookupError):
            pass
    assert not (tmp_path / "elsewhere").exists()

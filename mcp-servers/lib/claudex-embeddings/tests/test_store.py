"""claudex_embeddings.store: the embedded store one real process owns (a second is refused with a
hint), and the flock with bounded waiting other one-at-a-time work uses."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from claudex_embeddings import store

OWNER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from qdrant_client import models
    from claudex_embeddings.store import open_embedded
    with open_embedded(Path(sys.argv[1])) as client:
        client.create_collection("c", vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
        client.upsert("c", points=[models.PointStruct(id=i, vector=[1.0, float(i)], payload={"i": i}) for i in range(10)])
        print("owned", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def test_one_process_owns_a_store_and_a_second_is_refused_at_once(tmp_path):
    from claudex_embeddings.edge import StoreOwned, close_all

    path = tmp_path / "store"
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(path), "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout.readline().strip() == "owned"
        start = time.monotonic()
        with pytest.raises(StoreOwned, match="open in another process") as caught:
            with store.open_embedded(path):
                pass
        assert time.monotonic() - start < 2 and "gateway" in caught.value.hint
    finally:
        owner.kill()
        owner.wait()
    try:
        with store.open_embedded(path) as client:  # the owner is gone: its data is there, and now ours
            assert client.count("c").count == 10
            with store.open_embedded(path) as again:  # this process keeps it open: the same store
                assert again is client
    finally:
        close_all()


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

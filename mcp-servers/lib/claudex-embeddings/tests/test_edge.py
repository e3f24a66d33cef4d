"""claudex_embeddings.edge: qdrant-client's calls and models served by qdrant-edge shards, filters
translated, collections kept across a reopen, and a store of qdrant-client's local mode migrated
on first open."""

from __future__ import annotations

import json
import os
import pickle
import re
import sqlite3
import subprocess
import sys
import textwrap

import pytest
from qdrant_client import QdrantClient, models

from claudex_embeddings.edge import EdgeStore, StoreError


@pytest.fixture
def edge(tmp_path):
    store = EdgeStore(tmp_path / "store")
    yield store
    store.close()


def fill(client, name="c"):
    client.create_collection(name, vectors_config=models.VectorParams(size=3, distance=models.Distance.COSINE))
    client.upsert(name, points=[
        models.PointStruct(id=1, vector=[1.0, 0.0, 0.0], payload={"lang": "py", "n": 1}),
        models.PointStruct(id=2, vector=[0.9, 0.1, 0.0], payload={"lang": "go", "n": 2}),
        models.PointStruct(id="5c56c793-69f3-4fbf-87e6-c4bf54c28c26", vector=[0.0, 1.0, 0.0],
                           payload={"lang": "py", "n": 3})])


def test_the_calls_the_servers_make(edge):
    fill(edge)
    assert edge.collection_exists("c") and not edge.collection_exists("d")
    info = edge.get_collection("c")
    assert (info.points_count, info.config.params.vectors.size, info.config.params.vectors.distance.value) == (3, 3, "Cosine")
    hits = edge.query_points("c", query=[1.0, 0.0, 0.0], limit=2, with_payload=True).points
    assert [h.id for h in hits] == [1, 2] and hits[0].payload == {"lang": "py", "n": 1}
    only_py = models.Filter(must=[models.FieldCondition(key="lang", match=models.MatchValue(value="py"))])
    assert [h.id for h in edge.query_points("c", query=[1.0, 0.0, 0.0], limit=5, query_filter=only_py).points] == \
        [1, "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"]
    ranged = models.Filter(must=[models.FieldCondition(key="n", range=models.Range(gte=2))],
                           must_not=[models.FieldCondition(key="lang", match=models.MatchAny(any=["go"]))])
    assert edge.count("c", count_filter=ranged).count == 1
    assert [r.id for r in edge.retrieve("c", ids=[2, 7])] == [2]
    edge.delete("c", points_selector=models.FilterSelector(filter=only_py))
    edge.delete("c", points_selector=models.PointIdsList(points=[2]))
    assert edge.count("c").count == 0
    with pytest.raises(StoreError, match="not found"):
        edge.count("nope")


def test_collections_survive_a_reopen_and_a_delete_is_for_good(tmp_path):
    first = EdgeStore(tmp_path / "s")
    fill(first, "a")
    fill(first, "b")
    first.delete_collection("b")
    first.close()
    again = EdgeStore(tmp_path / "s")
    try:
        assert [c.name for c in again.get_collections().collections] == ["a"]
        assert again.count("a").count == 3
    finally:
        again.close()


def test_a_local_mode_store_is_migrated_on_first_open(tmp_path):
    path = tmp_path / "old"
    old = QdrantClient(path=str(path))
    fill(old, "notes")
    old.close()
    store = EdgeStore(path)
    try:
        assert store.migrated == {"from": "qdrant-client local mode", "collections": {"notes": 3}}
        hits = store.query_points("notes", query=[0.0, 1.0, 0.0], limit=1).points
        assert hits[0].id == "5c56c793-69f3-4fbf-87e6-c4bf54c28c26" and hits[0].payload["n"] == 3
        assert store.get_collection("notes").metadata["migrated_from"] == "qdrant-client local mode"
    finally:
        store.close()
    assert (path / "meta.json").is_file()  # the old files are left for the user to delete
    again = EdgeStore(path)  # migrated once: a second open copies nothing
    try:
        assert again.migrated is None and again.count("notes").count == 3
    finally:
        again.close()


def test_the_dict_forms_need_no_qdrant_client(edge, monkeypatch):
    """What a server without qdrant-client passes (codequery without its server extra): the same
    calls with plain dicts and lists, and qdrant_client never imported."""
    import sys

    monkeypatch.setitem(sys.modules, "qdrant_client", None)  # an import of it fails
    edge.create_collection("c", vectors_config={"size": 3, "distance": "Cosine"})
    edge.upsert("c", points=[{"id": 1, "vector": [1.0, 0.0, 0.0], "payload": {"lang": "py"}},
                             {"id": 2, "vector": [0.9, 0.1, 0.0], "payload": {"lang": "go"}},
                             {"id": 3, "vector": [0.0, 1.0, 0.0]}])
    only_go = {"must": [{"key": "lang", "match": {"value": "go"}}]}
    assert [h.id for h in edge.query_points("c", query=[1.0, 0.0, 0.0], limit=5, query_filter=only_go).points] == [2]
    edge.delete("c", points_selector={"points": [1]})
    edge.delete("c", points_selector={"filter": only_go})
    assert [r.id for r in edge.scroll("c", limit=10)[0]] == [3]
    edge.create_collection("d", size=2, distance="Dot")
    assert edge.get_collection("d").config.params.vectors.distance.value == "Dot"


def test_a_local_mode_store_is_dropped_unread_when_asked(tmp_path, monkeypatch):
    """legacy="drop" (vectors computed again by the caller): the old files go, nothing is read,
    qdrant-client is not needed."""
    import sys

    path = tmp_path / "old"
    old = QdrantClient(path=str(path))
    fill(old, "notes")
    old.close()
    monkeypatch.setitem(sys.modules, "qdrant_client", None)
    store = EdgeStore(path, legacy="drop")
    try:
        assert store.migrated == {"from": "qdrant-client local mode", "dropped": True}
        assert not store.collection_exists("notes")
    finally:
        store.close()
    assert not (path / "meta.json").exists() and not (path / "collection").exists()
    again = EdgeStore(path)  # nothing of the old kind is left to migrate
    try:
        assert again.migrated is None
    finally:
        again.close()


# Run in a process of its own, where importing qdrant_client fails (as in a server's venv without
# it): migrates the store at argv[1], prints what it copied and what a query finds.
WITHOUT_QDRANT_CLIENT = textwrap.dedent("""
    import json, sys

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name == "qdrant_client" or name.startswith("qdrant_client."):
                raise ImportError(f"{name} is blocked in this test")

    sys.meta_path.insert(0, Blocker())
    from claudex_embeddings.edge import EdgeStore, StoreError

    try:
        store = EdgeStore(sys.argv[1])
    except StoreError as exc:
        print(json.dumps({"error": str(exc)}))
        sys.exit(1)
    try:
        hits = store.query_points("notes", query=[0.0, 1.0, 0.0], limit=3).points
        print(json.dumps({"migrated": store.migrated, "hits": [[h.id, h.payload] for h in hits],
                          "count": store.count("notes").count, "size": store.get_collection("notes").config.params.vectors.size,
                          "qdrant_client": any(m.startswith("qdrant_client") for m in sys.modules)}))
    finally:
        store.close()
""")


def migrate_without_qdrant_client(path):
    proc = subprocess.run([sys.executable, "-c", WITHOUT_QDRANT_CLIENT, str(path)], capture_output=True, text=True,
                          timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def files_of(path):
    """The old store's files (not the embedded store's, nor the lock the migration takes)."""
    return {p.relative_to(path): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and "edge" not in p.parts and p.name != "claudex-store.lock"}


def test_a_local_mode_store_is_migrated_without_qdrant_client(tmp_path):
    """Read from its files (meta.json, each collection's storage.sqlite of pickled points), with
    qdrant_client not importable: ids (a UUID in any spelling), vectors and payloads come out; a
    point written twice is copied once, as it was last written; a deleted one is not copied."""
    path = tmp_path / "old"
    old = QdrantClient(path=str(path))
    fill(old, "notes")
    old.upsert("notes", points=[models.PointStruct(id=2, vector=[0.0, 0.9, 0.1], payload={"lang": "go", "n": 20}),
                                models.PointStruct(id=4, vector=[0.5, 0.5, 0.0], payload={"gone": True})])
    old.delete("notes", points_selector=models.PointIdsList(points=[4]))
    old.create_collection("empty", vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    old.close()
    # An older qdrant-client kept a row per spelling of a UUID: the later write wins.
    db = sqlite3.connect(path / "collection" / "notes" / "storage.sqlite")
    stale = models.PointStruct(id="5C56C793-69F3-4FBF-87E6-C4BF54C28C26", vector=[1.0, 0.0, 0.0], payload={"stale": 1})
    db.execute("INSERT INTO points(rowid, id, point) VALUES (-1, 'old-key', ?)", (pickle.dumps(stale),))
    db.commit()
    db.close()
    before = files_of(path)

    code, out = migrate_without_qdrant_client(path)
    assert code == 0, out
    assert out["migrated"] == {"from": "qdrant-client local mode", "collections": {"empty": 0, "notes": 3}}
    assert out["count"] == 3 and out["size"] == 3 and out["qdrant_client"] is False
    assert out["hits"][:2] == [["5c56c793-69f3-4fbf-87e6-c4bf54c28c26", {"lang": "py", "n": 3}],
                               [2, {"lang": "go", "n": 20}]]
    assert files_of(path) == before  # the old files are left as they were, for the user to delete
    again = EdgeStore(path)
    try:
        assert again.migrated is None and again.get_collection("empty").config.params.vectors.distance.value == "Dot"
    finally:
        again.close()


class Evil:
    """A pickle that would run a shell command when loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_tampered_pickle_is_refused_and_nothing_is_lost(tmp_path):
    """A point whose pickle names os.system: StoreError naming the file and row, the command never
    runs, nothing is copied, and the old store is untouched (a fixed file migrates after)."""
    path = tmp_path / "old"
    old = QdrantClient(path=str(path))
    fill(old, "notes")
    old.close()
    marker = tmp_path / "ran"
    storage = path / "collection" / "notes" / "storage.sqlite"
    db = sqlite3.connect(storage)
    good = db.execute("SELECT point FROM points WHERE rowid = 2").fetchone()[0]
    db.execute("UPDATE points SET point = ? WHERE rowid = 2", (pickle.dumps(Evil(marker)),))
    db.commit()
    before = files_of(path)

    code, out = migrate_without_qdrant_client(path)
    assert code == 1
    assert out["error"] == (f"{storage}, row 2: the point cannot be read safely: it names posix.system, which is not "
                            "one of qdrant-client's models; refused, nothing was run")
    assert not marker.exists()
    assert files_of(path) == before
    assert not (path / "edge" / "migrated.json").exists() and not list((path / "edge" / "shards").iterdir())
    with pytest.raises(StoreError, match="row 2: the point cannot be read safely"):
        EdgeStore(path)  # the same in this process, where qdrant_client is importable
    assert not marker.exists()

    db.execute("UPDATE points SET point = ? WHERE rowid = 2", (good,))
    db.commit()
    db.close()
    code, out = migrate_without_qdrant_client(path)
    assert code == 0 and out["migrated"]["collections"] == {"notes": 3}


def test_filters_that_are_not_valid_name_where(edge):
    """A filter the embedded store cannot use is a StoreError that says where, never a TypeError."""
    edge.create_collection("c", size=3, distance="Cosine")
    for bad, where in [({"must": "everything"}, "filter.must is not a condition"),
                       ({"must": [{"key": "n", "match": {"nope": 1}}]}, "filter.must[0].match is not one of"),
                       ({"must": [{"key": "n", "match": {"value": 1.5}}]}, "filter.must[0] is not valid"),
                       ({"must": [{"key": "n", "range": {"gte": "x"}}]}, "filter.must[0] is not valid"),
                       ({"must": [{"key": "n", "geo_radius": {}}]}, "filter.must[0] uses 'geo_radius'"),
                       ({"should": [{"must": [{"nokey": 1}]}]}, "filter.should[0].must[0] has no key"),
                       ({"mustnt": []}, "filter has 'mustnt'"),
                       ([1], "filter is not an object")]:
        with pytest.raises(StoreError, match=re.escape(where)):
            edge.query_points("c", query=[1.0, 0.0, 0.0], query_filter=bad)


@pytest.mark.parametrize("row, message", [
    (pickle.dumps(models.PointStruct.model_construct(id=1, vector=[1.0, 0.0, 0.0], payload={"b": b"x"})),
     "the point's payload is not a JSON object"),
    (pickle.dumps(models.PointStruct.model_construct(id="nope", vector=[1.0, 0.0, 0.0])),
     "the point id 'nope' is neither an unsigned integer nor a UUID"),
    (pickle.dumps(models.PointStruct.model_construct(id=1, vector=[1.0])), "the point's vector is not a list of 3 numbers"),
    (pickle.dumps(models.VectorParams(size=3, distance="Cosine")), "the row holds VectorParams, not a point"),
    (pickle.dumps([1, 2]), "the row holds list, not a point"),
    (b"\x80\x04\x95garbage", "the point cannot be read (UnpicklingError: pickle data was truncated)"),
])
def test_a_row_qdrant_client_never_writes_stops_the_migration_before_anything_is_copied(tmp_path, row, message):
    path = tmp_path / "old"
    old = QdrantClient(path=str(path))
    fill(old, "notes")
    old.close()
    storage = path / "collection" / "notes" / "storage.sqlite"
    with sqlite3.connect(storage) as db:
        db.execute("INSERT INTO points(rowid, id, point) VALUES (9, 'bad', ?)", (row,))
    with pytest.raises(StoreError) as caught:
        EdgeStore(path)
    assert str(caught.value) == f"{storage}, row 9: {message}"
    again = EdgeStore(path, legacy="drop")  # nothing was copied: the store is as empty as it was
    try:
        assert again.get_collections().collections == []
    finally:
        again.close()

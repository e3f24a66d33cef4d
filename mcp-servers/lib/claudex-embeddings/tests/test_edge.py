"""claudex_embeddings.edge: qdrant-client's calls and models served by qdrant-edge shards, filters
translated, collections kept across a reopen, and a store of qdrant-client's local mode migrated
on first open."""

from __future__ import annotations

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
    qdrant-client is not needed; without it, "migrate" says what is missing instead of a traceback."""
    import sys

    path = tmp_path / "old"
    old = QdrantClient(path=str(path))
    fill(old, "notes")
    old.close()
    monkeypatch.setitem(sys.modules, "qdrant_client", None)
    with pytest.raises(StoreError, match="qdrant-client, which reads it .* is not installed"):
        EdgeStore(path)
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

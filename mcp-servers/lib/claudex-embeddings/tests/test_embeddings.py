"""claudex_embeddings: the NumPy MiniLM against reference vectors from sentence-transformers,
and the OpenAI-compatible client against a local HTTP server speaking /v1/embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import claudex_embeddings
from claudex_embeddings import EmbeddingError
from claudex_testing.embeddings import FakeEmbeddings

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def minilm():
    return claudex_embeddings.from_env({})


def test_default_model_matches_sentence_transformers(minilm):
    ref = json.loads((FIXTURES / "minilm_reference.json").read_text())
    vectors = minilm.embed(ref["texts"])
    assert minilm.dimension == 384 and minilm.name == claudex_embeddings.DEFAULT_MODEL
    for vector, expected in zip(vectors, ref["first8"]):
        assert len(vector) == 384
        assert max(abs(a - b) for a, b in zip(vector[:8], expected)) < 1e-5
        assert abs(sum(x * x for x in vector) - 1.0) < 1e-5


def test_similar_texts_are_closer(minilm):
    a, b, c = minilm.embed(["How do I bake bread?", "A recipe for baking a loaf", "Kubernetes pod networking"])
    dot = lambda x, y: sum(p * q for p, q in zip(x, y))  # noqa: E731
    assert dot(a, b) > dot(a, c) + 0.2


def test_batches_and_order_do_not_change_vectors(minilm):
    texts = [f"sentence {i} " + "word " * (i % 40) for i in range(70)]
    together = minilm.embed(texts)
    alone = minilm.embed([texts[45]])[0]
    assert max(abs(a - b) for a, b in zip(together[45], alone)) < 1e-5


def test_empty_text_and_bad_model_path(tmp_path):
    with pytest.raises(EmbeddingError, match="empty"):
        claudex_embeddings.from_env({}).embed(["ok", " "])
    provider = claudex_embeddings.from_env({"EMBEDDINGS_MODEL_PATH": str(tmp_path)})
    with pytest.raises(EmbeddingError, match="config.json"):
        provider.embed(["x"])


@pytest.fixture
def api():
    """claudex_testing's fake endpoint; the vector encodes the text's length."""
    with FakeEmbeddings(vector=lambda text: [float(len(text)), 1.0, 0.0], dimension=3) as fake:
        yield fake


def test_openai_compatible_endpoint(api):
    provider = claudex_embeddings.from_env({"EMBEDDINGS_URL": api.url, "EMBEDDINGS_MODEL": "m1",
                                            "EMBEDDINGS_API_KEY": "sk-test"})
    vectors = provider.embed(["abc", "a"])
    assert provider.dimension == 3
    assert vectors[0][0] == pytest.approx(3 / (10 ** 0.5)) and vectors[1][0] == pytest.approx(1 / (2 ** 0.5))
    first = api.requests[0]
    assert first == {"path": "/v1/embeddings", "auth": "Bearer sk-test", "body": {"model": "m1", "input": ["abc", "a"]}}


def test_openai_endpoint_failures_are_embedding_errors(api):
    with pytest.raises(EmbeddingError, match="HTTP 500"):
        claudex_embeddings.from_env({"EMBEDDINGS_URL": api.url, "EMBEDDINGS_MODEL": "broken"}).embed(["x"])
    with pytest.raises(EmbeddingError, match="could not be reached"):
        claudex_embeddings.from_env({"EMBEDDINGS_URL": "http://127.0.0.1:9/v1"}).embed(["x"])
    with pytest.raises(EmbeddingError, match="EMBEDDINGS_DIMENSION"):
        claudex_embeddings.from_env({"EMBEDDINGS_URL": api.url, "EMBEDDINGS_DIMENSION": "big"})

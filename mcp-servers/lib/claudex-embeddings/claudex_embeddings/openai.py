"""An OpenAI-compatible embeddings endpoint (`POST {EMBEDDINGS_URL}/embeddings`): OpenAI itself,
or a local server (llama.cpp, vLLM, Ollama, LM Studio, text-embeddings-inference) speaking the
same wire format."""

from __future__ import annotations

import json
import math
import os
import threading

from .errors import EmbeddingError

BATCH = 128
TIMEOUT = 60


class OpenAIProvider:
    def __init__(self, url: str, model: str, api_key: str | None = None, dimension: int | None = None) -> None:
        base = url.rstrip("/")
        self.url = base if base.endswith("/embeddings") else base + "/embeddings"
        self.model = model
        self.name = f"{model} @ {self.url}"
        self._api_key = api_key
        self._dimension = dimension
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = len(self.embed(["dimension probe"])[0])
        return self._dimension

    def _post(self, texts: list[str]) -> list[list[float]]:
        # The standard library, not requests: one JSON POST does not need 3 MB in every server's venv
        # (requests, urllib3, charset_normalizer, certifi). It honours the same proxy variables.
        import urllib.error
        import urllib.request

        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        body = json.dumps({"model": self.model, "input": texts}).encode()
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT, context=_tls_context()) as response:
                status, text = response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError, ValueError) as exc:  # refused, DNS, TLS, timeout, a bad URL
            reason = getattr(exc, "reason", None) or exc
            raise EmbeddingError(f"the embeddings endpoint {self.url} could not be reached: {reason}") from None
        if status != 200:
            raise EmbeddingError(f"the embeddings endpoint {self.url} answered HTTP {status}: {text[:300]}")
        try:
            data = sorted(json.loads(text)["data"], key=lambda item: item["index"])
            vectors = [[float(x) for x in item["embedding"]] for item in data]
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(f"the embeddings endpoint {self.url} gave an answer that is not the OpenAI "
                                 f"embeddings format ({exc.__class__.__name__}: {exc})") from None
        if len(vectors) != len(texts):
            raise EmbeddingError(f"the embeddings endpoint {self.url} returned {len(vectors)} vectors "
                                 f"for {len(texts)} texts")
        return vectors

    def embed(self, texts: list[str]) -> list[list[float]]:
        for text in texts:
            if not isinstance(text, str) or not text.strip():
                raise EmbeddingError("cannot embed an empty text")
        out: list[list[float]] = []
        for start in range(0, len(texts), BATCH):
            out.extend(self._post(list(texts[start:start + BATCH])))
        dims = {len(v) for v in out}
        if len(dims) > 1 or (self._dimension is not None and dims and dims != {self._dimension}):
            raise EmbeddingError(f"the embeddings endpoint {self.url} returned vectors of length {sorted(dims)}, "
                                 f"expected {self._dimension}")
        normalised = []
        for vector in out:
            norm = math.sqrt(sum(x * x for x in vector)) or 1.0
            normalised.append([x / norm for x in vector])
        return normalised


def _tls_context():
    """The certificates an HTTPS endpoint is checked against: the operating system's store
    (truststore, which the MCP SDK's HTTP client brings, when it is there), else OpenSSL's
    defaults (SSL_CERT_FILE); a bundle named by REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE, which the
    requests-based client before this one honoured, first."""
    import ssl

    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        return ssl.create_default_context(cafile=bundle)
    try:
        import truststore
    except ImportError:
        return ssl.create_default_context()
    return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)

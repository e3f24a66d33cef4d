"""A fake OpenAI-compatible embeddings endpoint for tests (the wire format of POST /v1/embeddings)
on 127.0.0.1, in a thread: what claudex_embeddings' `EMBEDDINGS_URL` provider talks to, without
the network or a model.

    with FakeEmbeddings() as api:                  # api.env: EMBEDDINGS_URL, EMBEDDINGS_DIMENSION
        provider = claudex_embeddings.from_env(api.env)

Answers come back in reverse order (a client must place each vector by its index); the model
"broken" is answered with HTTP 500; every request is recorded; with ``hold_after=N`` the requests
after the Nth wait until ``release()`` (an index run that stays in the middle of embedding); with
``tls=(certificate, key)`` it speaks HTTPS.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOLD_TIMEOUT = 300.0   # seconds a held request waits for release() before it is answered anyway
DIMENSION = 8


def hash_vector(text: str) -> list[float]:
    """8 numbers from the text's hash: the same text, the same vector; never all zero."""
    return [b / 255 + 0.01 for b in hashlib.sha256(text.encode()).digest()[:DIMENSION]]


class FakeEmbeddings:
    """The endpoint; ``vector(text)`` makes each embedding (default: hash_vector, 8 numbers)."""

    def __init__(self, vector: Callable[[str], list[float]] = hash_vector, dimension: int = DIMENSION,
                 hold_after: int | None = None, tls: tuple[str, str] | None = None) -> None:
        """``tls``: (certificate file, key file) to serve HTTPS with instead of HTTP."""
        self.vector, self.dimension, self.hold_after = vector, dimension, hold_after
        self.requests: list[dict] = []
        self.held = threading.Event()   # set once a request waits for release()
        self._release = threading.Event()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake._lock:
                    fake.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                    count = len(fake.requests)
                if fake.hold_after is not None and count > fake.hold_after:
                    fake.held.set()
                    fake._release.wait(HOLD_TIMEOUT)
                if body.get("model") == "broken":
                    self._send(500, b"boom", "text/plain")
                    return
                data = [{"object": "embedding", "index": i, "embedding": fake.vector(text)}
                        for i, text in enumerate(body["input"])]
                self._send(200, json.dumps({"object": "list", "data": list(reversed(data)), "model": body["model"],
                                            "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode(),
                           "application/json")

            def _send(self, status: int, payload: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self.env = {"EMBEDDINGS_URL": self.url, "EMBEDDINGS_DIMENSION": str(dimension)}

    def release(self) -> None:
        """Let the held requests (and every later one) through."""
        self._release.set()

    def close(self) -> None:
        self.release()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(10)

    def __enter__(self) -> FakeEmbeddings:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

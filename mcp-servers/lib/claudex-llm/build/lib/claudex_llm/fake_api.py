"""Local stand-ins for the OpenAI Chat Completions and Anthropic Messages APIs, for tests and
benchmarks (no real API is reachable there). They speak the real wire formats (JSON errors,
SSE streams with usage chunks and `ping` events, rate-limit headers) and can be told, request
by request, to answer 429 with Retry-After, 500, 401, malformed JSON, a stream cut midway, an
`error` event inside a 200 stream, or to be slow. Every request is recorded (path, headers, body).
With `echo_headers` set, every error (a status, a refused key, an error inside a stream) carries
the request's headers in its message and body, as a debugging proxy in front of a provider may.

    with FakeAPI("openai") as api:
        api.script(Plan(status=429, headers={"retry-after-ms": "100"}), Plan(text="hi"))
        env = {"OPENAI_API_KEY": api.key, "OPENAI_BASE_URL": api.base_url}
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Plan:
    """How to answer one chat request. The default streams `text` in `chunks` pieces."""

    text: str | None = None          # None: "You said: <last user message>"
    chunks: int = 3
    status: int = 200                 # non-200: a JSON error body in the provider's format
    headers: dict = field(default_factory=dict)
    error_type: str | None = None     # for an error body (default by status)
    delay: float = 0.0                # seconds between two stream events
    hang: float = 0.0                 # seconds before anything is sent
    cut_after: int | None = None      # close the connection after this many text events
    malformed: bool = False           # one event's data is not JSON
    stream_error: str | None = None   # an error inside the stream (of this type) after the first text event:
                                      # Anthropic's `error` event, OpenAI's `data: {"error": ...}` chunk
    finish: str | None = None         # finish_reason / stop_reason (default stop / end_turn)
    usage: bool = True                # send usage (OpenAI: the usage chunk)
    model: str | None = None          # the model named in the answer (default: the one asked for)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict
    body: dict | None


_STATUS_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                 404: "not_found_error", 409: "conflict", 422: "invalid_request_error", 429: "rate_limit_error",
                 500: "api_error", 503: "api_error", 529: "overloaded_error"}


class FakeAPI:
    """One fake API ("openai" or "anthropic") on 127.0.0.1, in a thread of this process."""

    def __init__(self, flavor: str, key: str = "sk-test-local-key", models: list[str] | None = None,
                 rate_headers: dict | None = None) -> None:
        assert flavor in ("openai", "anthropic")
        self.flavor = flavor
        self.key = key
        self.models = models if models is not None else (
            ["gpt-4o-mini", "gpt-4o"] if flavor == "openai" else ["claude-haiku-4-5-20251001"])
        self.rate_headers = rate_headers or {}
        self.echo_headers = False   # errors repeat the request's headers (Authorization included)
        self.requests: list[Seen] = []
        self._plans: list[Plan] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control -----------------------------------------------------------------------------

    def __enter__(self) -> FakeAPI:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        api = self

        class Handler(_Handler):
            fake = api

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name=f"fake-{self.flavor}-api")
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """The base URL as each SDK wants it (OpenAI's includes /v1)."""
        root = f"http://127.0.0.1:{self.port}"
        return root + "/v1" if self.flavor == "openai" else root

    def env(self) -> dict[str, str]:
        if self.flavor == "openai":
            return {"OPENAI_API_KEY": self.key, "OPENAI_BASE_URL": self.base_url}
        return {"ANTHROPIC_API_KEY": self.key, "ANTHROPIC_BASE_URL": self.base_url}

    def script(self, *plans: Plan) -> None:
        """Answer the next chat requests with these plans, in order (then the default plan)."""
        with self._lock:
            self._plans.extend(plans)

    def chat_requests(self) -> list[Seen]:
        path = "/v1/chat/completions" if self.flavor == "openai" else "/v1/messages"
        return [r for r in self.requests if r.path == path]

    def _next_plan(self) -> Plan:
        with self._lock:
            return self._plans.pop(0) if self._plans else Plan()

    def _pause(self, seconds: float) -> bool:
        """Sleep, unless the fake is stopping; False when it is."""
        return not self._stopping.wait(seconds) if seconds > 0 else not self._stopping.is_set()


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAPI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        # As real API servers do: without it, Nagle's algorithm holds each small SSE event back
        # until the client's delayed ACK (some 40 ms), which would swamp every timing.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- requests ---------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._record(None)
        if not self._authorised():
            return
        if self.path.split("?")[0] == "/v1/models":
            if self.fake.flavor == "openai":
                body = {"object": "list", "data": [{"id": m, "object": "model", "created": 1700000000,
                                                    "owned_by": "fake"} for m in self.fake.models]}
            else:
                body = {"data": [{"type": "model", "id": m, "display_name": m, "created_at": "2025-10-01T00:00:00Z"}
                                 for m in self.fake.models], "has_more": False,
                        "first_id": self.fake.models[0] if self.fake.models else None,
                        "last_id": self.fake.models[-1] if self.fake.models else None}
            self._json(200, body)
        else:
            self._error(404, "not_found_error", f"no route {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self._record(body)
        if not self._authorised():
            return
        expected = "/v1/chat/completions" if self.fake.flavor == "openai" else "/v1/messages"
        if self.path.split("?")[0] != expected:
            self._error(404, "not_found_error", f"no route {self.path}")
            return
        plan = self.fake._next_plan()
        if plan.hang and not self.fake._pause(plan.hang):
            return
        if plan.status != 200:
            self._error(plan.status, plan.error_type or _STATUS_TYPES.get(plan.status, "api_error"),
                        f"fake {plan.status}", plan.headers)
            return
        if not isinstance(body, dict) or not body.get("stream"):
            self._error(400, "invalid_request_error", "this fake only streams")
            return
        self._stream(plan, body)

    # -- answers ------------------------------------------------------------------------------------

    def _record(self, body: dict | None) -> None:
        with self.fake._lock:
            self.fake.requests.append(Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))

    def _authorised(self) -> bool:
        if self.fake.flavor == "openai":
            ok = self.headers.get("authorization") == f"Bearer {self.fake.key}"
            message = "Incorrect API key provided."
        else:
            # the key in x-api-key, or (newer SDKs) as a bearer token
            ok = (self.headers.get("x-api-key") == self.fake.key
                  or self.headers.get("authorization") == f"Bearer {self.fake.key}")
            message = "invalid x-api-key"
        if not ok:
            self._error(401, "authentication_error", message)
        return ok

    def _json(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, kind: str, message: str, headers: dict | None = None) -> None:
        self._json(status, self._error_body(kind, message), headers)

    def _error_body(self, kind: str, message: str) -> dict:
        """The provider's error shape; with echo_headers, the request's headers in the message
        (as an HTTP dump) and beside it (as JSON), as a proxy that shows what it forwarded."""
        echoed = {k: v for k, v in self.headers.items()} if self.fake.echo_headers else None
        if echoed is not None:
            message += " (request headers: " + "; ".join(f"{k}: {v}" for k, v in echoed.items()) + ")"
        if self.fake.flavor == "openai":
            body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        else:
            body = {"type": "error", "error": {"type": kind, "message": message}}
        if echoed is not None:
            body["request"] = {"headers": echoed}
        return body

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _stream(self, plan: Plan, body: dict) -> None:
        text = plan.text if plan.text is not None else "You said: " + _last_user(body)
        n = max(1, min(plan.chunks, len(text) or 1))
        size = -(-len(text) // n) if text else 0
        pieces = [text[i:i + size] for i in range(0, len(text), size)] if text else [""]
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", [])) + 3
        completion_tokens = max(1, len(text.split()))
        model = plan.model or body.get("model", "")
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("cache-control", "no-cache")
        for k, v in {**self.fake.rate_headers, **plan.headers}.items():
            self.send_header(k, v)
        self.end_headers()
        events = (self._openai_events if self.fake.flavor == "openai" else self._anthropic_events)(
            plan, pieces, model, prompt_tokens, completion_tokens)
        sent_text = 0
        try:
            for kind, payload in events:
                if kind == "text":
                    if plan.cut_after is not None and sent_text >= plan.cut_after:
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)  # the stream is cut: no terminating chunk
                        return
                    sent_text += 1
                self._chunk(payload)
                if plan.delay and not self.fake._pause(plan.delay):
                    return
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def _openai_events(self, plan: Plan, pieces: list[str], model: str, pt: int, ct: int):
        created = int(time.time())

        def chunk(choices: list, usage: dict | None = None) -> bytes:
            obj = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created, "model": model,
                   "system_fingerprint": "fp_fake", "choices": choices}
            if usage is not None or plan.usage:
                obj["usage"] = usage
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        yield "meta", chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                              "finish_reason": None}])
        for i, piece in enumerate(pieces):
            if plan.malformed and i == 1:
                yield "text", b'data: {"id": "chatcmpl-fake", "choices": [{"delta": \n\n'
                continue
            yield "text", chunk([{"index": 0, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}])
            if plan.stream_error and i == 0:
                yield "meta", b"data: " + json.dumps(self._error_body(plan.stream_error, "fake stream error")).encode() + b"\n\n"
                return
        yield "meta", chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": plan.finish or "stop"}])
        if plan.usage:
            yield "meta", chunk([], {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct})
        yield "meta", b"data: [DONE]\n\n"

    def _anthropic_events(self, plan: Plan, pieces: list[str], model: str, pt: int, ct: int):
        def event(name: str, obj: dict) -> bytes:
            return b"event: " + name.encode() + b"\ndata: " + json.dumps(obj).encode() + b"\n\n"

        yield "meta", event("message_start", {"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "content": [], "model": model,
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": pt, "output_tokens": 1, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0}}})
        yield "meta", event("content_block_start", {"type": "content_block_start", "index": 0,
                                                    "content_block": {"type": "text", "text": ""}})
        yield "meta", event("ping", {"type": "ping"})
        for i, piece in enumerate(pieces):
            if plan.malformed and i == 1:
                yield "text", b'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": \n\n'
                continue
            yield "text", event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                        "delta": {"type": "text_delta", "text": piece}})
            if plan.stream_error and i == 0:
                yield "meta", event("error", self._error_body(plan.stream_error, "fake stream error"))
                return
            if i == 0:
                yield "meta", event("ping", {"type": "ping"})
        yield "meta", event("content_block_stop", {"type": "content_block_stop", "index": 0})
        yield "meta", event("message_delta", {"type": "message_delta",
                                              "delta": {"stop_reason": plan.finish or "end_turn", "stop_sequence": None},
                                              "usage": {"output_tokens": ct}})
        yield "meta", event("message_stop", {"type": "message_stop"})


def _last_user(body: dict) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""

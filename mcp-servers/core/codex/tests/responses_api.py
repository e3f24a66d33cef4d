"""A local stand-in for the OpenAI Responses API (`POST {base_url}/responses`, streamed as
server-sent events), enough for the real Codex CLI to run a turn against it.

Codex 0.169 reaches it through a custom provider in $CODEX_HOME/config.toml (see
`codex_config`). Each request is answered from the last input item:

- a `function_call_output` (Codex ran the command we asked for): the final message
  "Final answer";
- a user message containing RUN-COMMAND: a reasoning item and an `exec_command` call;
- FAIL-401: HTTP 401 with an OpenAI-style error body; HANG: `response.created`, then nothing;
- anything else: the message "echo: <the user's text>".

Every request is kept in `requests` (path, headers, JSON body) for the tests to look at.
"""

from __future__ import annotations

import http.server
import json
import threading

USAGE = {"input_tokens": 1, "input_tokens_details": None, "output_tokens": 1,
         "output_tokens_details": None, "total_tokens": 2}


def sse(events: list[dict]) -> bytes:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def message(text: str, rid: str) -> list[dict]:
    return [{"type": "response.created", "response": {"id": rid}},
            {"type": "response.output_item.done",
             "item": {"type": "message", "role": "assistant", "id": f"msg_{rid}",
                      "content": [{"type": "output_text", "text": text}]}},
            {"type": "response.completed", "response": {"id": rid, "usage": USAGE}}]


def command_call(rid: str) -> list[dict]:
    return [{"type": "response.created", "response": {"id": rid}},
            {"type": "response.output_item.done",
             "item": {"type": "reasoning", "id": f"rs_{rid}",
                      "summary": [{"type": "summary_text", "text": "**Planning** look around"}]}},
            {"type": "response.output_item.done",
             "item": {"type": "function_call", "id": f"fc_{rid}", "call_id": f"call_{rid}",
                      "name": "exec_command", "arguments": json.dumps({"cmd": "echo hi-from-cmd"})}},
            {"type": "response.completed", "response": {"id": rid, "usage": USAGE}}]


def user_text(item: dict) -> str:
    return "\n".join(p.get("text", "") for p in item.get("content") or []
                     if isinstance(p, dict) and p.get("type") == "input_text")


class ResponsesAPI:
    """The server, on 127.0.0.1 and a free port, in a thread."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.stop = threading.Event()
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # e.g. /v1/models: not needed, Codex falls back
                self._send(404, "application/json", b"{}")

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                api.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                rid = f"r{len(api.requests)}"
                last = body["input"][-1] if body.get("input") else {}
                text = user_text(last) if last.get("role") == "user" else ""
                if self.path != "/v1/responses":
                    self._send(404, "application/json", b"{}")
                elif last.get("type") == "function_call_output":
                    self._send(200, "text/event-stream", sse(message("Final answer", rid)))
                elif "FAIL-401" in text:
                    error = {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}
                    self._send(401, "application/json", json.dumps(error).encode())
                elif "HANG" in text:
                    self._send(200, "text/event-stream", sse(message("x", rid)[:1]), close=False)
                    api.stop.wait(120)
                elif "RUN-COMMAND" in text:
                    self._send(200, "text/event-stream", sse(command_call(rid)))
                else:
                    self._send(200, "text/event-stream", sse(message(f"echo: {text}", rid)))

            def _send(self, status: int, ctype: str, data: bytes, close: bool = True) -> None:
                self.send_response(status)
                self.send_header("content-type", ctype)
                if close:
                    self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ResponsesAPI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def prompts(self) -> list[str]:
        """The user text of each request that ended with a user message."""
        return [user_text(r["body"]["input"][-1]) for r in self.requests
                if r["body"].get("input") and r["body"]["input"][-1].get("role") == "user"]


def codex_config(base_url: str, key_env: str = "CLAUDEX_TEST_API_KEY") -> str:
    """A config.toml that sends Codex's model traffic to base_url (Responses API) with the key
    from $key_env, failing at once instead of retrying."""
    return (f'model = "mock-model"\nmodel_provider = "mock"\n\n'
            f'[model_providers.mock]\nname = "mock"\nbase_url = "{base_url}"\n'
            f'wire_api = "responses"\nenv_key = "{key_env}"\n'
            f'request_max_retries = 0\nstream_max_retries = 0\nstream_idle_timeout_ms = 300000\n')

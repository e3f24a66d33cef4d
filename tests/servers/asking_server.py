"""A raw MCP stdio server (standard library only) that asks its client for its roots as soon as
the session is initialized, when no call is in flight, and tells what it was answered: for the
gateway's refusal of a server-to-client request that no session can take."""

from __future__ import annotations

import json
import sys

answers: list = []


def send(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    message = json.loads(line)
    method, id_ = message.get("method"), message.get("id")
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": id_, "result": {
            "protocolVersion": message["params"]["protocolVersion"], "capabilities": {"tools": {}},
            "serverInfo": {"name": "asking", "version": "1.0.0"}}})
    elif method == "notifications/initialized":
        send({"jsonrpc": "2.0", "id": "roots-1", "method": "roots/list"})
    elif method is None and id_ == "roots-1":
        answers.append(message)
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": id_, "result": {"tools": [{
            "name": "answers", "description": "What the server's own requests were answered.",
            "inputSchema": {"type": "object", "properties": {}}}]}})
    elif method == "tools/call":
        send({"jsonrpc": "2.0", "id": id_, "result": {"content": [{"type": "text", "text": json.dumps(answers)}]}})
    elif id_ is not None:
        send({"jsonrpc": "2.0", "id": id_, "error": {"code": -32601, "message": f"no method {method}"}})

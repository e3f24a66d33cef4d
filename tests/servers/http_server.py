"""A tiny real MCP server over streamable HTTP on 127.0.0.1 (for the remote-server tests), with
a plain GET /health route. Usage: python http_server.py PORT [TOKEN]; with TOKEN, every request
(/health and the MCP endpoint /mcp) wants "Authorization: Bearer TOKEN" and gets 401 without."""

from __future__ import annotations

import sys

from mcp.server.mcpserver import MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse

PORT = int(sys.argv[1])
TOKEN = sys.argv[2] if len(sys.argv) > 2 else None
server = MCPServer("remote-echo", version="1.0.0")


@server.tool()
def echo(text: str) -> str:
    """Return the text."""
    return text


@server.custom_route("/health", methods=["GET"])
async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def guarded(app):
    """``app`` behind the bearer token: a request without it gets 401, as a real hosted server's."""
    async def guard(scope, receive, send):
        if scope["type"] == "http" and TOKEN:
            sent = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
            if sent != f"Bearer {TOKEN}":
                await JSONResponse({"error": "unauthorized"}, status_code=401)(scope, receive, send)
                return
        await app(scope, receive, send)
    return guard


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(guarded(server.streamable_http_app()), host="127.0.0.1", port=PORT, log_level="warning")

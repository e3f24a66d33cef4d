"""A tiny real MCP server over streamable HTTP on 127.0.0.1 (for the remote-server tests), with
a plain GET /health route. Usage: python http_server.py PORT [TOKEN]; with TOKEN, /health wants
"Authorization: Bearer TOKEN"."""

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
    if TOKEN and request.headers.get("authorization") != f"Bearer {TOKEN}":
        return JSONResponse({"ok": False}, status_code=401)
    return JSONResponse({"ok": True})


if __name__ == "__main__":
    server.run("streamable-http", host="127.0.0.1", port=PORT)

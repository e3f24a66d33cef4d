"""A small MCP Registry on 127.0.0.1 for the catalog tests: the registry's API v0.1 (pages with
limit and cursor, updated_since, search on names, a server's versions, one version or the
latest, 404s) over a list of entries the test controls, plus plain files (an mcpb bundle).
Started in a thread of the test process, stopped by the fixture whatever happens."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCHEMA = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
OFFICIAL = "io.modelcontextprotocol.registry/official"


def item(server: dict, *, status: str = "active", latest: bool = True, updated: str = "2026-01-01T00:00:00Z") -> dict:
    return {"server": {"$schema": SCHEMA, **server},
            "_meta": {OFFICIAL: {"status": status, "publishedAt": updated, "updatedAt": updated, "isLatest": latest}}}


class Registry:
    def __init__(self) -> None:
        self.items: list[dict] = []
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.page_size_cap = 2  # small pages, so that a sync follows cursors
        self.failing: int | None = None  # an HTTP status every API request gets, when set
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> "Registry":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self):
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def send(self, code: int, body: object, raw: bool = False) -> None:
                data = body if raw else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/octet-stream" if raw else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                registry.requests.append(self.path)
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query))
                path = parts.path
                if path in registry.files:
                    return self.send(200, registry.files[path], raw=True)
                if registry.failing:
                    return self.send(registry.failing, {"title": "failing", "status": registry.failing})
                if path == "/v0.1/servers":
                    return self.send(200, registry.page(query))
                prefix = "/v0.1/servers/"
                if path.startswith(prefix) and "/versions" in path:
                    quoted, _, rest = path[len(prefix):].partition("/versions")
                    name = urllib.parse.unquote(quoted)
                    mine = [i for i in registry.items if i["server"].get("name") == name]
                    if not mine:
                        return self.send(404, {"title": "Not Found", "status": 404, "detail": "Server not found"})
                    if rest in ("", "/"):
                        return self.send(200, {"servers": mine, "metadata": {"count": len(mine)}})
                    wanted = urllib.parse.unquote(rest.lstrip("/"))
                    found = [i for i in mine if (i["_meta"][OFFICIAL].get("isLatest") if wanted == "latest"
                                                 else i["server"].get("version") == wanted)]
                    if not found:
                        return self.send(404, {"title": "Not Found", "status": 404, "detail": "Version not found"})
                    return self.send(200, found[-1])
                return self.send(404, {"title": "Not Found", "status": 404})

        return Handler

    def page(self, query: dict) -> dict:
        chosen = self.items
        if query.get("updated_since"):
            chosen = [i for i in chosen
                      if i.get("_meta", {}).get(OFFICIAL, {}).get("updatedAt", "") >= query["updated_since"]]
        if query.get("search"):
            chosen = [i for i in chosen if query["search"].lower() in str(i["server"].get("name", "")).lower()]
        start = int(query.get("cursor") or 0)
        size = min(int(query.get("limit") or 30), self.page_size_cap)
        page = chosen[start:start + size]
        metadata = {"count": len(page)}
        if start + size < len(chosen):
            metadata["nextCursor"] = str(start + size)
        return {"servers": page, "metadata": metadata}

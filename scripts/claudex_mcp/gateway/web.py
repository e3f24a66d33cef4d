"""The gateway's HTTP endpoint: MCP over streamable HTTP (the official SDK's session manager and
low-level server, served by uvicorn in the gateway's own event loop). ``/mcp`` aggregates the
tools of every enabled stdio server; ``/servers/NAME/mcp`` serves one server's tools, prompts and
resources. Every request needs the bearer token; a browser's Origin must be loopback or the
endpoint's own (auth.py). Imported only by `gateway serve --http`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import time

from claudex_mcp import atomic, paths
from claudex_mcp.gateway import auth
from claudex_mcp.gateway.upstream import default_init

SEPARATOR = "__"  # <server>__<tool>: a server name has no "__", so the split is never ambiguous
NAME_LIMIT = 64  # Claude Code's limit on mcp__<entry>__<tool>
ENTRY = "claudex"  # the entry name `generate --via-gateway` writes
MAX_LISTENERS = 1000  # HTTP connections told of list_changed (the oldest forgotten first)
RELOAD_POLL = 0.5  # seconds between looks at the enabled set (a change shows within 2 s)
SERVER_PATH = re.compile(r"^/servers/([a-z0-9][a-z0-9-]{0,62})/mcp/?$")


class LinkError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class Link:
    """The endpoint's own session with one upstream: requests as awaitables, progress to a
    callback, list_changed to the endpoint's listeners."""

    def __init__(self, gateway, server: str, on_changed) -> None:
        self.gateway, self.server, self.on_changed = gateway, server, on_changed
        self.futures: dict[int, asyncio.Future] = {}
        self.progress: dict[int, object] = {}
        self.next_id = 0
        self.session = None
        self.opened: asyncio.Task | None = None

    def _receive(self, message: dict) -> None:
        method = message.get("method")
        if method is None:
            future = self.futures.pop(message.get("id"), None)
            if future is not None and not future.done():
                future.set_result(message)
        elif "id" in message:  # a request from the server: an HTTP caller cannot be asked back here
            answer = {"jsonrpc": "2.0", "id": message["id"],
                      "error": {"code": -32002, "message": f"{method}: the gateway's HTTP endpoint takes no "
                                                           "requests from servers"}}
            asyncio.ensure_future(self.gateway.upstream(self.server).from_session(self.session, answer))
        elif method == "notifications/progress":
            params = message.get("params") or {}
            callback = self.progress.get(params.get("progressToken"))
            if callback is not None:
                asyncio.ensure_future(callback(params))
        elif method.endswith("/list_changed"):
            self.on_changed(self.server, method)

    async def open(self) -> None:
        if self.opened is None:
            self.opened = asyncio.ensure_future(self._open())
        await asyncio.shield(self.opened)

    async def _open(self) -> None:
        self.session = self.gateway.open_session(self.server, "", self._receive, "http")
        await self._send("initialize", default_init())

    async def request(self, method: str, params: dict | None, on_progress=None) -> dict:
        await self.open()
        return await self._send(method, params, on_progress)

    async def _send(self, method: str, params: dict | None, on_progress=None) -> dict:
        self.next_id += 1
        rid = self.next_id
        params = dict(params or {})
        if on_progress is not None:
            params["_meta"] = {**(params.get("_meta") or {}), "progressToken": rid}
            self.progress[rid] = on_progress
        future = asyncio.get_running_loop().create_future()
        self.futures[rid] = future
        try:
            upstream = self.gateway.upstream(self.server)
            await upstream.from_session(self.session, {"jsonrpc": "2.0", "id": rid, "method": method,
                                                       "params": params})
            answer = await future
        finally:
            self.futures.pop(rid, None)
            self.progress.pop(rid, None)
        if "error" in answer:
            raise LinkError(answer["error"].get("code", -32603), answer["error"].get("message", "failed"))
        return answer.get("result") or {}

    def close(self) -> None:
        if self.session is not None:
            self.gateway.close_session(self.session)


def enabled_servers(project_dir: str | None = None) -> list[str]:
    """The enabled, valid stdio servers of the registry: by the layers that are not a project's,
    or by those of the project at ``project_dir`` (its enabled set)."""
    from claudex_mcp.settings import config, project
    from claudex_mcp.store import cache

    registry = paths.registry_dir()
    index, _ = cache.load(registry)
    layers = config.Layers(registry, project.by_dir(project_dir) if project_dir else None, strict=False)
    found = []
    for name, entry in sorted(index.get("servers", {}).items()):
        if "/" in name or not entry.get("valid"):
            continue
        if entry["manifest"]["server"].get("transport", "stdio") != "stdio":
            continue
        merged, _ = config.merge(layers.sources(entry))
        if merged.get("enabled"):
            found.append(name)
    return found


def names_file():
    return paths.state_home() / "claudex" / "gateway-names.json"


class Names:
    """The aggregate endpoint's tool names. A tool keeps its own name unless another server's
    tool had it first; then it is <server>__<tool>. Who had a name first is kept in
    names_file(), so a name, once given, is never taken back from its tool (installing a server
    later never renames a tool that already existed)."""

    def __init__(self) -> None:
        from claudex_mcp import jsonio
        from claudex_mcp.errors import ClaudexError

        try:
            found = jsonio.parse(jsonio.read_bytes(names_file(), limit=4 * 1024 * 1024, follow_symlinks=False))
        except ClaudexError:
            found = {}
        owners = found.get("owners") if isinstance(found, dict) else None
        self.owners: dict[str, str] = {k: v for k, v in (owners or {}).items()
                                       if isinstance(k, str) and isinstance(v, str)}

    def assign(self, tools: dict[str, list[str]]) -> dict[str, tuple[str, str]]:
        """{public name: (server, tool)} for {server: [tool, ...]}; new owners recorded."""
        changed = False
        for server in sorted(tools):  # a first listing: servers in name order
            for tool in tools[server]:
                if tool not in self.owners:
                    self.owners[tool] = server
                    changed = True
        if changed:
            path = names_file()
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_json(path, {"owners": dict(sorted(self.owners.items()))}, mode=0o600)
        public = {}
        for server, listed in tools.items():
            for tool in listed:
                public[tool if self.owners.get(tool) == server else f"{server}{SEPARATOR}{tool}"] = (server, tool)
        return public


def too_long(public: str) -> bool:
    return len(f"mcp__{ENTRY}__{public}") > NAME_LIMIT


class Endpoint:
    def __init__(self, gateway) -> None:
        self.gateway = gateway
        self.token = auth.token()
        self.links: dict[str, Link] = {}
        self.names = Names()
        # The SDK's sessions to tell of list_changed, one per HTTP connection (the session object
        # of a request notifies the connection's stream once the request is over), newest last.
        self.sessions: dict[int, object] = {}
        self.host = ""
        self.known: dict[str | None, dict[str, tuple[str, str]]] = {}  # the last listing's names, by project

    async def reload(self) -> None:
        """Watch the enabled set (install, uninstall, enable, disable, a layer's edit): when it
        changes, every HTTP session gets one tools/list_changed, the links of servers that left
        are closed (their processes stop once idle), and nothing else restarts."""
        from claudex_mcp.errors import ClaudexError

        last = None
        while True:
            try:
                current = enabled_servers()
            except ClaudexError as exc:  # a registry caught mid-change: look again next time
                self.gateway.log(f"http: the enabled servers cannot be read now: {exc.message}")
                current = last
            if last is not None and current != last:
                for gone in set(last) - set(current):
                    link = self.links.pop(gone, None)
                    if link is not None:
                        link.close()
                self.gateway.log(f"http: enabled servers now {', '.join(current) or 'none'}")
                self.changed("", "notifications/tools/list_changed")
            last = current
            await asyncio.sleep(RELOAD_POLL)

    def link(self, server: str) -> Link:
        found = self.links.get(server)
        if found is None:
            found = self.links[server] = Link(self.gateway, server, self.changed)
        return found

    def remember(self, session) -> None:
        connection = getattr(session, "_connection", session)
        self.sessions.pop(id(connection), None)
        self.sessions[id(connection)] = session
        while len(self.sessions) > MAX_LISTENERS:
            self.sessions.pop(next(iter(self.sessions)))

    def changed(self, server: str, method: str) -> None:
        self.known.clear()
        for session in list(self.sessions.values()):
            asyncio.ensure_future(_notify(session, method))

    async def tools_of(self, server: str) -> list[dict]:
        result = await self.link(server).request("tools/list", {})
        return [t for t in result.get("tools", []) if isinstance(t, dict) and isinstance(t.get("name"), str)]

    async def aggregate(self, project_dir: str | None = None) -> tuple[list[dict], dict[str, tuple[str, str]]]:
        from claudex_mcp.errors import ClaudexError

        try:
            servers = enabled_servers(project_dir)
        except ClaudexError as exc:
            raise _mcp_error(-32602, exc.message) from None
        listed = await asyncio.gather(*(self.tools_of(s) for s in servers), return_exceptions=True)
        by_server = {s: tools for s, tools in zip(servers, listed) if isinstance(tools, list)}
        for server, failed in zip(servers, listed):
            if not isinstance(failed, list):
                self.gateway.log(f"http: {server} left out of /mcp: {failed}")
        public = self.names.assign({s: [t["name"] for t in tools] for s, tools in by_server.items()})
        self.known[project_dir] = public
        back = {v: k for k, v in public.items()}
        tools = [{**t, "name": back[(s, t["name"])]} for s, listed_tools in by_server.items() for t in listed_tools]
        return sorted(tools, key=lambda t: t["name"]), public

    def build_server(self):
        from mcp import types
        from mcp.server.lowlevel.server import Server

        endpoint = self

        def which(ctx) -> str | None:
            request = getattr(ctx, "request", None)
            path = getattr(getattr(request, "url", None), "path", "") if request is not None else ""
            match = SERVER_PATH.match(path or "")
            return match.group(1) if match else None

        def project_of(ctx) -> str | None:
            request = getattr(ctx, "request", None)
            found = request.query_params.get("project") if request is not None else None
            return found if found and found.startswith("/") else None

        async def list_tools(ctx, params):
            endpoint.remember(ctx.session)
            server = which(ctx)
            tools = await endpoint.tools_of(server) if server else (await endpoint.aggregate(project_of(ctx)))[0]
            return types.ListToolsResult(tools=[types.Tool.model_validate(t) for t in tools])

        async def call_tool(ctx, params):
            endpoint.remember(ctx.session)
            server = which(ctx)
            name, tool = params.name, params.name
            if server is None:
                public = endpoint.known.get(project_of(ctx)) or {}
                if name not in public:  # not listed yet, or since a change: list again
                    _, public = await endpoint.aggregate(project_of(ctx))
                if name not in public:
                    raise _mcp_error(-32602, f"no tool {name!r} on the claudex gateway's /mcp")
                server, tool = public[name]
            meta = ctx.meta if isinstance(ctx.meta, dict) else (ctx.meta.model_dump() if ctx.meta else {})
            token = (meta or {}).get("progressToken")

            async def progress(p):
                if token is not None:
                    await ctx.session.send_progress_notification(token, p.get("progress", 0), p.get("total"),
                                                                 p.get("message"))

            call = {"name": tool, "arguments": params.arguments or {}}
            folder = (meta or {}).get("claudex/folder")
            if isinstance(folder, str):
                call["_meta"] = {"claudex/folder": folder}
            try:
                result = await endpoint.link(server).request("tools/call", call, progress if token is not None else None)
            except LinkError as exc:
                raise _mcp_error(exc.code, exc.message) from None
            return types.CallToolResult.model_validate(result)

        async def list_prompts(ctx, params):
            return types.ListPromptsResult.model_validate(await endpoint._one(ctx, which, "prompts/list", {}))

        async def get_prompt(ctx, params):
            return types.GetPromptResult.model_validate(await endpoint._one(
                ctx, which, "prompts/get", {"name": params.name, "arguments": params.arguments or {}}))

        async def list_resources(ctx, params):
            return types.ListResourcesResult.model_validate(await endpoint._one(ctx, which, "resources/list", {}))

        async def read_resource(ctx, params):
            return types.ReadResourceResult.model_validate(await endpoint._one(
                ctx, which, "resources/read", {"uri": str(params.uri)}))

        from mcp.server.lowlevel.server import NotificationOptions

        class Gateway(Server):
            def get_capabilities(self, notification_options=None, *args, **kwargs):  # listChanged: passed on
                return super().get_capabilities(NotificationOptions(True, True, True), *args, **kwargs)

        server = Gateway("claudex-gateway", version="1", instructions="The claudex gateway: every enabled MCP server "
                        "of this machine, one process each (docs/gateway.md).",
                        on_list_tools=list_tools, on_call_tool=call_tool, on_list_prompts=list_prompts,
                        on_get_prompt=get_prompt, on_list_resources=list_resources, on_read_resource=read_resource)
        return server

    async def _one(self, ctx, which, method: str, params: dict) -> dict:
        server = which(ctx)
        if server is None:
            if method.endswith("/list"):
                return {method.split("/")[0]: []}
            raise _mcp_error(-32601, f"{method} is served at /servers/NAME/mcp, not on the aggregate /mcp")
        try:
            return await self.link(server).request(method, params)
        except LinkError as exc:
            raise _mcp_error(exc.code, exc.message) from None


def _mcp_error(code: int, message: str):
    from mcp.shared.exceptions import MCPError

    return MCPError(code=code, message=message)


async def _notify(session, method: str) -> None:
    try:
        if method == "notifications/tools/list_changed":
            await session.send_tool_list_changed()
        elif method == "notifications/prompts/list_changed":
            await session.send_prompt_list_changed()
        elif method == "notifications/resources/list_changed":
            await session.send_resource_list_changed()
    except Exception:  # a session that went away
        pass


async def _reply(send, status: int, body: dict, headers: list | None = None) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": data})


async def start(gateway, host: str, port: int):
    """Serve HTTP on host:port in this event loop: (the endpoint's URL, an async stop function)."""
    import uvicorn
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    endpoint = Endpoint(gateway)
    gateway.endpoint = endpoint
    # Origin and the token are checked before the manager (app below); its own defaults stay: a
    # 4 MiB body limit, sessions idle for 30 minutes closed.
    manager = StreamableHTTPSessionManager(app=endpoint.build_server(), json_response=False, stateless=False,
                                           security_settings=None)

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if not auth.origin_ok(headers.get("origin"), headers.get("host")):
            await _reply(send, 403, {"error": "Origin not allowed"})
            return
        if not auth.bearer_ok(headers.get("authorization"), endpoint.token):
            await _reply(send, 401, {"error": "a bearer token is required ('claudex mcp gateway token')"},
                         [(b"www-authenticate", b'Bearer realm="claudex-gateway"')])
            return
        path = scope.get("path", "")
        if path.rstrip("/") == "/mcp" or SERVER_PATH.match(path):
            await manager.handle_request(scope, receive, send)
            return
        await _reply(send, 404, {"error": "not found: the endpoints are /mcp and /servers/NAME/mcp"})

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        from claudex_mcp.errors import ExternalFailure

        raise ExternalFailure(f"cannot listen on {host}:{port}: {exc.strerror}", code="http_bind",
                              hint="choose another port, or stop what listens there") from None
    sock.listen(128)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/mcp"
    endpoint.host = f"{shown}:{bound}"

    class Quiet(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):  # the gateway's loop has its own handlers
            yield

    server = Quiet(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    stack = contextlib.AsyncExitStack()
    await stack.enter_async_context(manager.run())
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    reloader = asyncio.ensure_future(endpoint.reload())
    started = time.monotonic()
    while not server.started and not task.done() and time.monotonic() - started < 10:
        await asyncio.sleep(0.01)

    async def stop() -> None:
        reloader.cancel()
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        for link in endpoint.links.values():
            link.close()
        await stack.aclose()
        sock.close()

    return url, stop


"""The gateway's HTTP endpoint: MCP over streamable HTTP (the official SDK's session manager and
low-level server, served by uvicorn in the gateway's own event loop). ``/mcp`` aggregates the
tools of every enabled stdio server; ``/servers/NAME/mcp`` serves one server's tools, prompts and
resources. ``?project=DIR`` makes DIR the session's project (its enabled set, its layers' env and
args: the process a bridge of that project reaches) and its folder; without it a request's folder
is the client's first file:// root. Every request needs the bearer token; a browser's Origin must
be loopback or the endpoint's own (auth.py). Imported only by `gateway serve --http`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import time
from urllib.parse import parse_qs

from claudex_mcp import atomic, paths
from claudex_mcp.gateway import auth
from claudex_mcp.gateway.upstream import FOLDER_KEY, NO_SESSION, SERVER_DOWN, default_init, error

SEPARATOR = "__"  # <server>__<tool>: a server name has no "__", so the split is never ambiguous
NAME_LIMIT = 64  # Claude Code's limit on mcp__<entry>__<tool>
ENTRY = "claudex"  # the entry name `generate --via-gateway` writes
MAX_LISTENERS = 1000  # HTTP connections told of list_changed (the oldest forgotten first)
RELOAD_POLL = 0.5  # seconds between looks at the enabled sets (a change shows within 2 s)
ROOTS_TIMEOUT = 5.0  # seconds an HTTP client may take to list its roots
SERVER_PATH = re.compile(r"^/servers/([a-z0-9][a-z0-9-]{0,62})/mcp/?$")


class LinkError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class Closed(LinkError):
    """The link was closed before the request was sent: the endpoint has another in its place."""


class Link:
    """The endpoint's own session with the process of one server for one project (None: no
    project; the process is the one a bridge of that project reaches): requests as awaitables,
    progress to a callback, list_changed to the endpoint's listeners of that project."""

    def __init__(self, gateway, server: str, project: str | None, on_changed) -> None:
        self.gateway, self.server, self.project, self.on_changed = gateway, server, project, on_changed
        self.futures: dict[int, asyncio.Future] = {}
        self.progress: dict[int, object] = {}
        self.next_id = 0
        self.session = None
        self.opened: asyncio.Task | None = None
        self.closed = self.retired = False

    def _receive(self, message: dict) -> None:
        method = message.get("method")
        if method is None:
            future = self.futures.pop(message.get("id"), None)
            if future is not None and not future.done():
                future.set_result(message)
        elif "id" in message:  # a request from the server: an HTTP caller cannot be asked back here
            answer = {"jsonrpc": "2.0", "id": message["id"],
                      "error": {"code": NO_SESSION, "message": f"{method}: the gateway's HTTP endpoint takes no "
                                                               "requests from servers"}}
            asyncio.ensure_future(self.gateway.upstream_of(self.session).from_session(self.session, answer))
        elif method == "notifications/progress":
            params = message.get("params") or {}
            callback = self.progress.get(params.get("progressToken"))
            if callback is not None:
                asyncio.ensure_future(callback(params))
        elif method.endswith("/list_changed"):
            self.on_changed(self.server, self.project, method)

    async def open(self) -> None:
        if self.opened is None:
            self.opened = asyncio.ensure_future(self._open())
        try:
            await asyncio.shield(self.opened)
        except LinkError:
            self.opened = None  # the server could not start: the next request tries again
            raise

    async def _open(self) -> None:
        from claudex_mcp.errors import ClaudexError

        if self.session is None:
            try:
                self.session = self.gateway.open_session(self.server, "", self._receive, "http", self.project)
            except ClaudexError as exc:  # what `run` would refuse (a broken layer, a missing variable)
                raise LinkError(SERVER_DOWN, f"{self.server} cannot be started: {exc.message}") from None
        await self._send("initialize", default_init())

    async def request(self, method: str, params: dict | None, on_progress=None) -> dict:
        await self.open()
        return await self._send(method, params, on_progress)

    async def _send(self, method: str, params: dict | None, on_progress=None) -> dict:
        if self.closed:
            raise Closed(SERVER_DOWN, f"{self.server} left this endpoint; ask again")
        self.next_id += 1
        rid = self.next_id
        params = dict(params or {})
        if on_progress is not None:
            params["_meta"] = {**(params.get("_meta") or {}), "progressToken": rid}
            self.progress[rid] = on_progress
        future = asyncio.get_running_loop().create_future()
        self.futures[rid] = future
        try:
            upstream = self.gateway.upstream_of(self.session)
            await upstream.from_session(self.session, {"jsonrpc": "2.0", "id": rid, "method": method,
                                                       "params": params})
            answer = await future
        finally:
            self.futures.pop(rid, None)
            self.progress.pop(rid, None)
            if self.retired and not self.futures:
                self.close()
        if "error" in answer:
            raise LinkError(answer["error"].get("code", -32603), answer["error"].get("message", "failed"))
        return answer.get("result") or {}

    def retire(self) -> None:
        """Close once the requests in flight are answered (the endpoint has opened, or will open,
        another link in its place)."""
        self.retired = True
        if not self.futures:
            self.close()

    def close(self) -> None:
        """Leave the server's process (it stops once idle); what waits for it is answered."""
        if self.closed:
            return
        self.closed = True
        for rid, future in list(self.futures.items()):
            if not future.done():
                future.set_result(error(rid, SERVER_DOWN, f"{self.server} left this endpoint"))
        if self.session is not None:
            self.gateway.close_session(self.session)


def configured(project_dir: str | None = None, index: dict | None = None) -> dict[str, dict]:
    """The valid stdio servers of the registry, each as {enabled, launch (what its start depends
    on: folder, args and env as the layers say)}: by the layers that are not a project's, or by
    those of the project at ``project_dir``."""
    from claudex_mcp.settings import config, project
    from claudex_mcp.store import cache

    registry = paths.registry_dir()
    if index is None:
        index, _ = cache.load(registry)
    layers = config.Layers(registry, project.by_dir(project_dir) if project_dir else None, strict=False)
    found = {}
    for name, entry in sorted(index.get("servers", {}).items()):
        if "/" in name or not entry.get("valid"):
            continue
        if entry["manifest"]["server"].get("transport", "stdio") != "stdio":
            continue
        merged, _ = config.merge(layers.sources(entry))
        found[name] = {"enabled": bool(merged.get("enabled")),
                       "launch": [entry["folder"], merged.get("args"), merged.get("env")]}
    return found


def enabled_of(servers: dict[str, dict]) -> list[str]:
    """The enabled ones of configured()'s servers: what /mcp lists."""
    return [name for name, server in servers.items() if server["enabled"]]


def project_dir(given: str) -> str:
    """The folder of ``?project=DIR``, resolved; InvalidInput unless DIR is an absolute path to an
    existing folder of the user's (or root's), as safepath judges the folders claudex uses."""
    from claudex_mcp import safepath
    from claudex_mcp.errors import InvalidInput

    hint = "give the project's folder as an absolute path: ?project=/home/you/src/demo (URL-encoded)"
    if not os.path.isabs(given):
        raise InvalidInput(f"?project={given!r} is not an absolute path", code="invalid_project", hint=hint)
    real = given
    try:
        real = os.path.realpath(given)
        why = safepath.folder_problem(real, root=True)
    except FileNotFoundError:
        why = "does not exist"
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        why = f"cannot be read ({getattr(exc, 'strerror', None) or exc})"
    if why is not None:
        raise InvalidInput(f"?project={given}: {real} {why}", code="invalid_project", path=given, hint=hint)
    return real


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
        self.links: dict[tuple[str, str | None], Link] = {}  # by (server, project)
        self.names = Names()
        # The SDK's sessions to tell of list_changed, one per HTTP connection (the session object
        # of a request notifies the connection's stream once the request is over), newest last,
        # each with what it asked for: (session, its server or None for /mcp, its project).
        self.listeners: dict[int, tuple[object, str | None, str | None]] = {}
        self.roots: dict[object, str | None] = {}  # an HTTP session's folder from its MCP roots
        self.host = ""
        self.known: dict[str | None, dict[str, tuple[str, str]]] = {}  # the last listing's names, by project
        self.last: dict[str | None, dict[str, dict]] = {}  # configured(), by project: what a change is seen against

    async def reload(self) -> None:
        """Watch the configuration of every project that HTTP sessions use (and of none): when a
        project's enabled set changes (install, uninstall, enable, disable, a layer's edit, that
        project's own layer included), that project's sessions of /mcp get one tools/list_changed,
        the links of servers that left are closed (their processes stop once idle), and nothing
        else restarts. A link whose server's env or args changed moves to the process of its new
        spec on its next request (the old one stops once idle)."""
        from claudex_mcp.errors import ClaudexError
        from claudex_mcp.store import cache

        while True:
            projects = {None} | {p for _, _, p in self.listeners.values()} | {p for _, p in self.links}
            try:
                index, _ = cache.load(paths.registry_dir())
            except ClaudexError as exc:  # a registry caught mid-change: look again next time
                self.gateway.log(f"http: the enabled servers cannot be read now: {exc.message}")
                index = None
            for project in sorted(projects, key=lambda p: p or "") if index is not None else ():
                try:
                    current = configured(project, index)
                except ClaudexError as exc:  # a project folder gone, a layer mid-edit
                    self.gateway.log(f"http: the servers of {project or 'the registry'} cannot be read now: "
                                     f"{exc.message}")
                    continue
                before = self.last.get(project)
                self.last[project] = current
                if before is not None:
                    self._compare(project, before, current)
            for gone in set(self.last) - projects:
                del self.last[gone]
            await asyncio.sleep(RELOAD_POLL)

    def _compare(self, project: str | None, before: dict[str, dict], current: dict[str, dict]) -> None:
        was, now = enabled_of(before), enabled_of(current)
        if was != now:
            for gone in set(was) - set(now):
                link = self.links.pop((gone, project), None)
                if link is not None:
                    link.retire()
            self.gateway.log(f"http: enabled servers{f' of {project}' if project else ''} now {', '.join(now) or 'none'}")
            self.known.pop(project, None)
            self._notify(project, None, "notifications/tools/list_changed")
        for (server, where), link in list(self.links.items()):
            if where == project and server in current and server in before \
                    and current[server]["launch"] != before[server]["launch"]:
                self._relink(server, project, link)

    def _relink(self, server: str, project: str | None, link: Link) -> None:
        """Close ``link`` when its server's spec for ``project`` is no longer its process's: the
        next request opens a link to the process of the new one."""
        from claudex_mcp.errors import ClaudexError

        if link.session is None:
            return
        try:
            key = self.gateway.spec_for(server, project)
        except ClaudexError as exc:  # it could not start now: its process goes on
            self.gateway.log(f"http: {server} cannot start with its new config: {exc.message}")
            return
        if self.gateway.upstreams.get(key) is not self.gateway.upstream_of(link.session):
            self.gateway.log(f"http: {server}{f' of {project}' if project else ''}: its config changed; "
                             f"the next request starts its new process")
            self.links.pop((server, project), None)
            link.retire()

    def link(self, server: str, project: str | None) -> Link:
        found = self.links.get((server, project))
        if found is None:
            found = self.links[(server, project)] = Link(self.gateway, server, project, self.changed)
        return found

    def remember(self, session, server: str | None, project: str | None) -> None:
        connection = getattr(session, "_connection", session)
        self.listeners.pop(id(connection), None)
        self.listeners[id(connection)] = (session, server, project)
        while len(self.listeners) > MAX_LISTENERS:
            self.listeners.pop(next(iter(self.listeners)))

    def changed(self, server: str, project: str | None, method: str) -> None:
        """``server``'s process said a list changed: to the sessions of ``project`` that see it."""
        self.known.clear()
        self._notify(project, server, method)

    def _notify(self, project: str | None, server: str | None, method: str) -> None:
        """Tell the sessions of ``project``: those of /mcp, and (``server``) those of that server."""
        for session, one, where in list(self.listeners.values()):
            if where == project and one in (None, server):
                asyncio.ensure_future(_notify(session, method))

    async def tools_of(self, server: str, project: str | None) -> list[dict]:
        try:
            result = await self.link(server, project).request("tools/list", {})
        except Closed:
            result = await self.link(server, project).request("tools/list", {})
        return [t for t in result.get("tools", []) if isinstance(t, dict) and isinstance(t.get("name"), str)]

    async def aggregate(self, project: str | None = None) -> tuple[list[dict], dict[str, tuple[str, str]]]:
        from claudex_mcp.errors import ClaudexError

        try:
            current = configured(project)
        except ClaudexError as exc:
            raise _mcp_error(-32602, exc.message) from None
        self.last.setdefault(project, current)  # a change from now on is told to the lister
        servers = enabled_of(current)
        listed = await asyncio.gather(*(self.tools_of(s, project) for s in servers), return_exceptions=True)
        by_server = {s: tools for s, tools in zip(servers, listed) if isinstance(tools, list)}
        for server, failed in zip(servers, listed):
            if not isinstance(failed, list):
                self.gateway.log(f"http: {server} left out of /mcp: {failed}")
        public = self.names.assign({s: [t["name"] for t in tools] for s, tools in by_server.items()})
        self.known[project] = public
        back = {v: k for k, v in public.items()}
        tools = [{**t, "name": back[(s, t["name"])]} for s, listed_tools in by_server.items() for t in listed_tools]
        return sorted(tools, key=lambda t: t["name"]), public

    async def folder(self, ctx, project: str | None) -> str | None:
        """The folder a request of this HTTP session carries to its server: the request's own
        ``_meta["claudex/folder"]``, else the session's ``?project=DIR``, else the client's first
        ``file://`` MCP root (asked once per session), else none."""
        meta = _meta(ctx)
        own = meta.get(FOLDER_KEY)
        if isinstance(own, str) and os.path.isabs(own):
            return own
        if project is not None:
            return project
        request = getattr(ctx, "request", None)
        key = (request.headers.get("mcp-session-id") if request is not None else None) or \
            id(getattr(ctx.session, "_connection", ctx.session))
        if key not in self.roots:
            self.roots[key] = await _root_folder(ctx)
            while len(self.roots) > MAX_LISTENERS:
                self.roots.pop(next(iter(self.roots)))
        return self.roots[key]

    def forget_roots(self, ctx) -> None:
        request = getattr(ctx, "request", None)
        key = (request.headers.get("mcp-session-id") if request is not None else None) or \
            id(getattr(ctx.session, "_connection", ctx.session))
        self.roots.pop(key, None)

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
            """The session's ?project=DIR (checked by the app before the request got here)."""
            from claudex_mcp.errors import ClaudexError

            request = getattr(ctx, "request", None)
            found = request.query_params.get("project") if request is not None else None
            if found is None:
                return None
            try:
                return project_dir(found)
            except ClaudexError as exc:  # removed since the request was let in
                raise _mcp_error(-32602, exc.message) from None

        async def list_tools(ctx, params):
            server, project = which(ctx), project_of(ctx)
            endpoint.remember(ctx.session, server, project)
            if server:
                tools = await endpoint._one(ctx, server, project, "tools/list", {})
                tools = [t for t in tools.get("tools", []) if isinstance(t, dict)]
            else:
                tools = (await endpoint.aggregate(project))[0]
            return types.ListToolsResult(tools=[types.Tool.model_validate(t) for t in tools])

        async def call_tool(ctx, params):
            server, project = which(ctx), project_of(ctx)
            endpoint.remember(ctx.session, server, project)
            name, tool = params.name, params.name
            if server is None:
                public = endpoint.known.get(project) or {}
                if name not in public:  # not listed yet, or since a change: list again
                    _, public = await endpoint.aggregate(project)
                if name not in public:
                    raise _mcp_error(-32602, f"no tool {name!r} on the claudex gateway's /mcp")
                server, tool = public[name]
            token = _meta(ctx).get("progressToken")

            async def progress(p):
                if token is not None:
                    await ctx.session.send_progress_notification(token, p.get("progress", 0), p.get("total"),
                                                                 p.get("message"))

            call = {"name": tool, "arguments": params.arguments or {}}
            return types.CallToolResult.model_validate(await endpoint._one(
                ctx, server, project, "tools/call", call, progress if token is not None else None))

        async def list_prompts(ctx, params):
            return types.ListPromptsResult.model_validate(await endpoint._one(ctx, which(ctx), project_of(ctx),
                                                                              "prompts/list", {}))

        async def get_prompt(ctx, params):
            return types.GetPromptResult.model_validate(await endpoint._one(
                ctx, which(ctx), project_of(ctx), "prompts/get", {"name": params.name,
                                                                  "arguments": params.arguments or {}}))

        async def list_resources(ctx, params):
            return types.ListResourcesResult.model_validate(await endpoint._one(ctx, which(ctx), project_of(ctx),
                                                                                "resources/list", {}))

        async def read_resource(ctx, params):
            return types.ReadResourceResult.model_validate(await endpoint._one(
                ctx, which(ctx), project_of(ctx), "resources/read", {"uri": str(params.uri)}))

        async def roots_changed(ctx, params):
            endpoint.forget_roots(ctx)

        from mcp.server.lowlevel.server import NotificationOptions

        class Gateway(Server):
            def get_capabilities(self, notification_options=None, *args, **kwargs):  # listChanged: passed on
                return super().get_capabilities(NotificationOptions(True, True, True), *args, **kwargs)

        server = Gateway("claudex-gateway", version="1", instructions="The claudex gateway: every enabled MCP server "
                        "of this machine, one process each (docs/gateway.md).",
                        on_list_tools=list_tools, on_call_tool=call_tool, on_list_prompts=list_prompts,
                        on_get_prompt=get_prompt, on_list_resources=list_resources, on_read_resource=read_resource,
                        on_roots_list_changed=roots_changed)
        return server

    async def _one(self, ctx, server: str | None, project: str | None, method: str, params: dict,
                   on_progress=None) -> dict:
        """``method`` at ``server``'s process for ``project``, with the session's folder."""
        if server is None:
            if method.endswith("/list"):
                return {method.split("/")[0]: []}
            raise _mcp_error(-32601, f"{method} is served at /servers/NAME/mcp, not on the aggregate /mcp")
        folder = await self.folder(ctx, project)
        if folder is not None:
            params = {**params, "_meta": {FOLDER_KEY: folder}}
        try:
            try:
                return await self.link(server, project).request(method, params, on_progress)
            except Closed:  # its config changed on the way: once more, with the link of the new one
                return await self.link(server, project).request(method, params, on_progress)
        except LinkError as exc:
            raise _mcp_error(exc.code, exc.message) from None


def _meta(ctx) -> dict:
    meta = getattr(ctx, "meta", None)
    if meta is not None and not isinstance(meta, dict):
        meta = meta.model_dump()
    return meta or {}


async def _root_folder(ctx) -> str | None:
    """The first file:// root the client lists (asked on this request's own stream), None when it
    declares no roots or cannot answer; as claudex_server.folder.root_folder reads them."""
    from urllib.parse import unquote, urlparse

    from mcp import types
    from mcp.shared.message import ServerMessageMetadata

    capabilities = getattr(ctx.session, "client_capabilities", None)
    if capabilities is None or capabilities.roots is None:
        return None
    try:
        result = await ctx.session.send_request(types.ListRootsRequest(), types.ListRootsResult,
                                                request_read_timeout_seconds=ROOTS_TIMEOUT,
                                                metadata=ServerMessageMetadata(related_request_id=ctx.request_id))
    except Exception:  # a client that cannot answer: no folder, as without roots
        return None
    for root in result.roots:
        parsed = urlparse(str(root.uri))
        if parsed.scheme == "file" and parsed.path and os.path.isabs(unquote(parsed.path)):
            return unquote(parsed.path)
    return None


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


def _project_problem(scope) -> dict | None:
    """Why the request's ``?project=DIR`` cannot be its session's project and folder (the error
    document), None when it is fine or absent."""
    from claudex_mcp.errors import ClaudexError

    try:
        query = parse_qs(scope.get("query_string", b"").decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return {"error": {"code": "invalid_project", "message": "the query string is not UTF-8"}}
    given = query.get("project")
    if given is None:
        return None
    if len(given) > 1:
        return {"error": {"code": "invalid_project", "message": "give ?project=DIR once",
                          "hint": "one session, one project"}}
    try:
        project_dir(given[0])
    except ClaudexError as exc:
        return exc.to_dict()
    return None


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
            refused = _project_problem(scope)
            if refused is not None:
                await _reply(send, 400, refused)
                return
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


"""claudex_server.folder: the caller's folder of a request to a shared server, through real MCP
stdio sessions with the official SDK: the gateway's _meta, else the client's first file root,
else the server's working directory."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from claudex_server.folder import FOLDER_KEY

SERVER = '''
from mcp.server.mcpserver import Context, MCPServer

from claudex_server.folder import session_folder

server = MCPServer("folder-test")


@server.tool()
async def where(ctx: Context) -> str:
    """The caller's folder."""
    return str(await session_folder(ctx))


server.run("stdio")
'''


def ask(tmp_path: Path, meta: dict | None = None, roots: list[str] | None = None) -> str:
    from mcp import ClientSession, types
    from mcp.client.stdio import StdioServerParameters, stdio_client

    script = tmp_path / "server.py"
    script.write_text(SERVER)
    started_in = tmp_path / "server-cwd"
    started_in.mkdir(exist_ok=True)

    async def list_roots(context):
        return types.ListRootsResult(roots=[types.Root(uri=uri) for uri in roots or []])

    async def run() -> str:
        params = StdioServerParameters(command=sys.executable, args=[str(script)], cwd=str(started_in))
        async with stdio_client(params) as (read, write):
            callback = list_roots if roots is not None else None
            async with ClientSession(read, write, list_roots_callback=callback) as session:
                await session.initialize()
                result = await session.call_tool("where", {}, meta=meta)
                return result.content[0].text

    return anyio.run(run)


def test_the_gateway_folder_wins(tmp_path):
    assert ask(tmp_path, {FOLDER_KEY: str(tmp_path / "agent")}, roots=["file:///elsewhere"]) == str(tmp_path / "agent")


def test_a_relative_folder_is_not_taken(tmp_path):
    assert ask(tmp_path, {FOLDER_KEY: "relative/path"}, roots=[f"file://{tmp_path}"]) == str(tmp_path)


def test_the_first_file_root_when_no_gateway(tmp_path):
    folder = tmp_path / "with space"
    first = f"file://{str(folder).replace(' ', '%20')}"
    assert ask(tmp_path, roots=[first, f"file://{tmp_path}"]) == str(folder)


def test_the_working_directory_last(tmp_path):
    assert ask(tmp_path) == str(tmp_path / "server-cwd")

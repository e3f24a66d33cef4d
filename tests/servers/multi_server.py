"""A real MCP stdio server for the gateway's tests (built on the official SDK): it tells whose
folder a request came from, sends progress, list_changed and sampling requests, and crashes on
demand.

Environment:
  MULTI_MARK   a file that every start appends its pid to (how many processes ran).
"""

from __future__ import annotations

import asyncio
import os

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import SamplingMessage, TextContent

from claudex_server.folder import session_folder

server = MCPServer("multi", instructions="Multiplexing test server.", version="1.0.0")

mark = os.environ.get("MULTI_MARK")
if mark:
    with open(mark, "a") as fh:
        fh.write(f"{os.getpid()}\n")


@server.tool()
async def where(ctx: Context) -> str:
    """The folder of the agent that called."""
    return str(await session_folder(ctx))


@server.tool()
def pid() -> int:
    """This server's process id."""
    return os.getpid()


@server.tool()
def getenv(name: str) -> str:
    """The value of an environment variable of this server, empty when unset."""
    return os.environ.get(name, "")


@server.tool()
def echo(text: str) -> str:
    """Return the text."""
    return text


@server.tool()
async def slow(steps: int, delay: float, ctx: Context) -> str:
    """Report progress ``steps`` times, ``delay`` seconds apart, then answer."""
    try:
        for step in range(steps):
            await asyncio.sleep(delay)
            await ctx.report_progress(step + 1, steps, f"step {step + 1}")
    except asyncio.CancelledError:
        if mark:
            with open(mark + ".cancelled", "a") as fh:
                fh.write(f"{steps}\n")
        raise
    return f"done after {steps}"


@server.tool()
async def ask(question: str, ctx: Context) -> str:
    """Ask the client's model (sampling) and return its answer."""
    result = await ctx.session.create_message(
        messages=[SamplingMessage(role="user", content=TextContent(type="text", text=question))], max_tokens=10)
    return result.content.text


@server.tool()
async def grow(ctx: Context) -> str:
    """Add a tool and say that the list changed."""
    server.add_tool(lambda: "new", name="grown", description="Added at run time.")
    await ctx.session.send_tool_list_changed()
    return "grown"


@server.tool()
def crash() -> str:
    """Exit at once, as a crash would."""
    os._exit(3)


if __name__ == "__main__":
    server.run("stdio")

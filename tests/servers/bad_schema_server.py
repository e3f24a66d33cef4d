"""A real MCP server (the SDK's low-level Server) whose one tool has an invalid input schema."""
import anyio
import mcp_types as types
from mcp.server.lowlevel.server import Server
import mcp.server.stdio

async def list_tools(ctx, params):
    return types.ListToolsResult(tools=[types.Tool(name="broken", input_schema={"type": "object", "properties": {"x": {"type": "nonsense"}}})])

async def call_tool(ctx, params):
    return types.CallToolResult(content=[])

server = Server("badschema", on_list_tools=list_tools, on_call_tool=call_tool)

async def main():
    async with mcp.server.stdio.stdio_server() as (r, w):
        await server.run(r, w, server.create_initialization_options())

anyio.run(main)

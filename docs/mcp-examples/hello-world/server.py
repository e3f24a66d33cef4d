"""The hello-world MCP server: two thin tools over hello_core; `python server.py` serves stdio,
`python server.py --check` prints its self-check.

The shape of every claudex server (claudex_server, mcp-servers/lib/claudex-server): the self-check
answered before the SDK's import, one call that turns the domain's errors into tool errors, and
main(). stdout carries the MCP protocol only: anything to say goes to stderr (the launcher logs it).
"""

from __future__ import annotations

import sys
from typing import Annotated, Literal

import claudex_server
import hello_core
from claudex_server import ServerError

claudex_server.check_first(__name__, hello_core.check)   # `server.py --check`, before the SDK's import

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

VERSION = "1.0.0"

server = MCPServer("hello-world", version=VERSION,
                   instructions="Greets people: hello_greet(name, language), hello_languages().")
tool = claudex_server.tools(server, ServerError)   # a domain error is the tool's error: `invalid_input: ...`

PURE = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


@tool(annotations=PURE)
def hello_greet(name: Annotated[str, Field(description="Who to greet (1 to 100 characters).")],
                language: Literal["de", "en", "es", "fr"] = "en") -> str:
    """Greet someone by name, in one of the languages hello_languages lists."""
    return hello_core.greet(name, language)


@tool(annotations=PURE)
def hello_languages() -> list[str]:
    """The language codes hello_greet speaks."""
    return hello_core.languages()


def main(argv: list[str] | None = None) -> int:
    return claudex_server.serve(server, argv, hello_core.check)


if __name__ == "__main__":
    sys.exit(main())

"""The hello-world MCP server: two thin tools over hello_core; `python server.py` serves stdio.

stdout carries the MCP protocol only: anything to say goes to stderr (the launcher logs it).
"""

from __future__ import annotations

import sys
from typing import Annotated, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

import hello_core

VERSION = "1.0.0"

server = MCPServer("hello-world", version=VERSION,
                   instructions="Greets people: hello_greet(name, language), hello_languages().")

PURE = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


@server.tool(annotations=PURE)
def hello_greet(name: Annotated[str, Field(description="Who to greet (1 to 100 characters).")],
                language: Literal["de", "en", "es", "fr"] = "en") -> str:
    """Greet someone by name, in one of the languages hello_languages lists."""
    try:
        return hello_core.greet(name, language)
    except ValueError as exc:  # the one place a domain error becomes the tool's error
        raise ToolError(str(exc)) from None


@server.tool(annotations=PURE)
def hello_languages() -> list[str]:
    """The language codes hello_greet speaks."""
    return hello_core.languages()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args:
        sys.stderr.write("usage: server.py (serves MCP on stdio)\n")
        return 2
    server.run("stdio")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A tiny real MCP stdio server for the client integration tests, built on the official SDK.

Run it with the project venv's python: `python tests/servers/echo_server.py`.

Environment:
  ECHO_PREFIX   text put in front of every echo result (default: none).
  ECHO_REQUIRE  the name of an environment variable that must be set; when it is missing
                the server exits 1 at once with a message on stderr (to test missing env).
"""

from __future__ import annotations

import os
import sys


def _check_required_env() -> None:
    required = os.environ.get("ECHO_REQUIRE", "").strip()
    if required and required not in os.environ:
        print(f"echo_server: required environment variable {required} is not set", file=sys.stderr)
        sys.exit(1)


_check_required_env()

from typing import Annotated, Literal  # noqa: E402

from mcp.server.mcpserver import MCPServer  # noqa: E402  (after the env check: fail fast, import late)
from pydantic import BaseModel, Field  # noqa: E402

server = MCPServer("echo", instructions="Echo and add, for integration tests.", version="1.0.0")


class Frame(BaseModel):
    """Text put around the echo (a nested object in the input schema)."""

    before: str = ""
    after: str = ""


@server.tool()
def echo(text: str, case: Annotated[Literal["keep", "upper", "lower"], Field(description="change the case")] = "keep",
         frame: Frame | None = None) -> str:
    """Return the text, preceded by $ECHO_PREFIX when it is set."""
    if case != "keep":
        text = text.upper() if case == "upper" else text.lower()
    if frame is not None:
        text = frame.before + text + frame.after
    return os.environ.get("ECHO_PREFIX", "") + text


@server.tool()
def add(a: int, b: int) -> int:
    """Return the sum of two integers."""
    return a + b


@server.prompt()
def greet(name: str) -> str:
    """Ask for a greeting for a name."""
    return f"Please greet {name}."


@server.resource("echo://info", mime_type="text/plain")
def info() -> str:
    """Describe this server."""
    return "echo test server"


if __name__ == "__main__":
    server.run("stdio")

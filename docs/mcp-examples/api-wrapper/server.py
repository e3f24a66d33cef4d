"""The api-wrapper MCP server: an HTTP API (Open-Meteo's weather forecast) as MCP tools, with
timeouts and retries. Thin tools over weather_api; `python server.py` serves stdio, `python
server.py --check` prints its self-check."""

from __future__ import annotations

import functools
import sys
from typing import Annotated, Any

import claudex_server
import weather_api
from weather_api import ApiError

claudex_server.check_first(__name__, weather_api.check)   # `server.py --check`, before the SDK's import

import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

VERSION = "1.0.0"

server = MCPServer(
    "api-wrapper", version=VERSION,
    instructions="Weather at a place given by latitude and longitude (decimal degrees): weather_current "
                 "for now, weather_forecast for the next days. Data from Open-Meteo.")
tool = claudex_server.tools(server, ApiError)   # an ApiError is the tool's error, its code first

Latitude = Annotated[float, Field(ge=-90, le=90, description="Latitude in decimal degrees (north positive).")]
Longitude = Annotated[float, Field(ge=-180, le=180, description="Longitude in decimal degrees (east positive).")]
WEB = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)


@functools.cache
def _client() -> weather_api.Client:
    # One session for the server's life: connections are pooled between calls.
    return weather_api.Client(weather_api.Settings.from_env())


async def _run(fn, *args) -> dict[str, Any]:
    # requests blocks: the call runs in a worker thread so the session keeps answering pings.
    return await anyio.to_thread.run_sync(lambda: fn(_client(), *args))


@tool(annotations=WEB)
async def weather_current(latitude: Latitude, longitude: Longitude) -> dict[str, Any]:
    """The weather now at a place: temperature, humidity, wind speed and WMO weather code, with units."""
    return await _run(weather_api.current, latitude, longitude)


@tool(annotations=WEB)
async def weather_forecast(latitude: Latitude, longitude: Longitude,
                           days: Annotated[int, Field(ge=1, le=16, description="How many days, today first.")] = 3,
                           ) -> dict[str, Any]:
    """The daily forecast at a place: highest and lowest temperature, precipitation and weather code per day."""
    return await _run(weather_api.forecast, latitude, longitude, days)


def main(argv: list[str] | None = None) -> int:
    return claudex_server.serve(server, argv, weather_api.check)


if __name__ == "__main__":
    sys.exit(main())

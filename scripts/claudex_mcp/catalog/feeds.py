"""The catalogs claudex searches and installs from: CLAUDEX_MCP_CATALOG_URL (one URL, or several
separated by spaces or commas), else ``catalog.url`` of the user layer, else of the global layer
(a URL or a list of them), else the official MCP Registry. The first catalog that has a name wins
an install. ``catalog.maxAge`` (seconds; CLAUDEX_MCP_CATALOG_MAX_AGE) is how old the local copy
may be before `search` syncs it first."""

from __future__ import annotations

import os
import re
from pathlib import Path

from claudex_mcp import paths
from claudex_mcp.errors import InvalidInput

DEFAULT_URL = "https://registry.modelcontextprotocol.io"
DEFAULT_MAX_AGE = 24 * 3600
_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")


def _layer_setting(registry: Path | None) -> dict:
    """The ``catalog`` object of the user layer, else of the global layer ({} when neither)."""
    from claudex_mcp.settings import config

    files = [paths.user_config_file()] + ([config.global_file(registry)] if registry is not None else [])
    for path in files:
        doc = config.load_layer(path)
        if doc and isinstance(doc.get("catalog"), dict):
            return doc["catalog"]
    return {}


def check_url(url: str, where: str) -> str:
    url = url.strip().rstrip("/")
    if not _URL.match(url):
        raise InvalidInput(f"the catalog URL {url!r} (from {where}) is not an http(s) URL", code="invalid_catalog_url",
                           hint="give the registry's base URL, e.g. https://registry.modelcontextprotocol.io")
    return url


def urls(registry: Path | None = None) -> list[str]:
    raw = os.environ.get("CLAUDEX_MCP_CATALOG_URL", "").strip()
    if raw:
        return list(dict.fromkeys(check_url(u, "CLAUDEX_MCP_CATALOG_URL") for u in re.split(r"[\s,]+", raw) if u))
    setting = _layer_setting(registry).get("url")
    if setting:
        listed = [setting] if isinstance(setting, str) else list(setting)
        return list(dict.fromkeys(check_url(u, "catalog.url") for u in listed))
    return [DEFAULT_URL]


def max_age(registry: Path | None = None) -> float:
    if os.environ.get("CLAUDEX_MCP_CATALOG_MAX_AGE"):
        return paths.env_number("CLAUDEX_MCP_CATALOG_MAX_AGE", DEFAULT_MAX_AGE)
    value = _layer_setting(registry).get("maxAge")
    return float(value) if isinstance(value, (int, float)) else DEFAULT_MAX_AGE

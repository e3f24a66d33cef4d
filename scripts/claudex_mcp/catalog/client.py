"""The MCP Registry's HTTP API (v0.1), read with the standard library: a page of servers
(``GET /v0.1/servers?limit=&cursor=&updated_since=``) and one server's versions
(``GET /v0.1/servers/{name}/versions[/{version|latest}]``). Answers are JSON of a bounded size;
a registry that cannot be reached, times out or answers something else than JSON is an
ExternalFailure (exit 5), a 404 a NotFound. Nothing here prints."""

from __future__ import annotations

import json
import urllib.parse

from claudex_mcp import __version__, paths
from claudex_mcp.errors import ExternalFailure, NotFound

API = "v0.1"
PAGE_SIZE = 100
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
DEFAULT_TIMEOUT = 20.0  # seconds per request (CLAUDEX_MCP_CATALOG_TIMEOUT)


class Unreachable(ExternalFailure):
    """The registry did not answer (DNS, connection, timeout, TLS): a copy may stand in for it."""

    code = "catalog_unreachable"


def timeout() -> float:
    return paths.env_number("CLAUDEX_MCP_CATALOG_TIMEOUT", DEFAULT_TIMEOUT)


def get_json(url: str) -> object:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Accept": "application/json",
                                                   "User-Agent": f"claudex-mcp/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout()) as response:  # noqa: S310 (http(s) only: feeds.check_url)
            data = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise NotFound(f"the catalog has no {urllib.parse.unquote(urllib.parse.urlsplit(url).path)}",
                           code="not_in_catalog", path=url, hint="check the name with 'claudex mcp search'") from None
        raise ExternalFailure(f"the catalog answered HTTP {exc.code} for {url}", code="catalog_failed", path=url,
                              hint="try again later; 'claudex mcp search' answers from the local copy meanwhile") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unreachable(f"the catalog at {_base(url)} cannot be reached: {reason}", path=url,
                          hint="check the network and the catalog's URL (catalog.url, CLAUDEX_MCP_CATALOG_URL)") from None
    if len(data) > MAX_RESPONSE_BYTES:
        raise ExternalFailure(f"the catalog's answer for {url} is over {MAX_RESPONSE_BYTES // (1024 * 1024)} MiB",
                              code="catalog_failed", path=url, hint="check the catalog's URL")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ExternalFailure(f"the catalog's answer for {url} is not JSON", code="catalog_failed", path=url,
                              hint="check that catalog.url is an MCP Registry's base URL") from None


def _base(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def page(base: str, cursor: str | None = None, updated_since: str | None = None, limit: int = PAGE_SIZE) -> dict:
    """One page: {"servers": [{"server": ..., "_meta": ...}], "metadata": {"nextCursor"?}}."""
    query = {"limit": str(limit)}
    if cursor:
        query["cursor"] = cursor
    if updated_since:
        query["updated_since"] = updated_since
    doc = get_json(f"{base}/{API}/servers?{urllib.parse.urlencode(query)}")
    if not isinstance(doc, dict) or not isinstance(doc.get("servers"), list):
        raise ExternalFailure(f"the catalog at {base} answered a page without a servers list", code="catalog_failed",
                              path=base, hint="check that catalog.url is an MCP Registry's base URL")
    return doc


def version(base: str, name: str, wanted: str | None = None) -> dict:
    """One version of a server ({"server", "_meta"}); the latest when ``wanted`` is None."""
    quoted = urllib.parse.quote(name, safe="")
    doc = get_json(f"{base}/{API}/servers/{quoted}/versions/{urllib.parse.quote(wanted or 'latest', safe='')}")
    if not isinstance(doc, dict) or not isinstance(doc.get("server"), dict):
        raise ExternalFailure(f"the catalog at {base} answered {name} without a server document",
                              code="catalog_failed", path=base, hint="check that catalog.url is an MCP Registry")
    return doc


def versions(base: str, name: str) -> list[dict]:
    doc = get_json(f"{base}/{API}/servers/{urllib.parse.quote(name, safe='')}/versions")
    if not isinstance(doc, dict) or not isinstance(doc.get("servers"), list):
        raise ExternalFailure(f"the catalog at {base} answered {name}'s versions without a list",
                              code="catalog_failed", path=base, hint="check that catalog.url is an MCP Registry")
    return doc["servers"]

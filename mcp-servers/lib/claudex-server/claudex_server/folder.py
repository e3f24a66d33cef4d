"""The folder of the agent a request comes from, for a server that many agents share.

A shared server is one process for every agent (the claudex gateway, docs/gateway.md), so its
working directory says nothing about the caller: the gateway puts the caller's folder into each
request as ``params._meta["claudex/folder"]``. Without the gateway (the server started by its
client, or by another tool) the client's MCP roots say it, else the working directory does.

Standard library only: the SDK's context object is read by duck typing, so this works with the
versions of the SDK the servers pin."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

FOLDER_KEY = "claudex/folder"


def _request_context(ctx: Any) -> Any:
    try:
        return ctx.request_context
    except (AttributeError, ValueError):  # outside a request
        return None


def _meta_value(meta: Any) -> Any:
    if meta is None:
        return None
    if isinstance(meta, Mapping):
        return meta.get(FOLDER_KEY)
    extra = getattr(meta, "model_extra", None) or {}  # a pydantic model keeps unknown keys here
    return extra.get(FOLDER_KEY) if isinstance(extra, Mapping) else None


def meta_folder(ctx: Any) -> Path | None:
    """The folder the gateway sent with this request, None when it sent none (or not an
    absolute path)."""
    request = _request_context(ctx)
    if request is None:
        return None
    params = getattr(request, "params", None)
    found = None
    if isinstance(params, Mapping) and isinstance(params.get("_meta"), Mapping):
        found = params["_meta"].get(FOLDER_KEY)
    if found is None:
        found = _meta_value(getattr(request, "meta", None))
    if isinstance(found, str) and os.path.isabs(found):
        return Path(found)
    return None


async def root_folder(ctx: Any) -> Path | None:
    """The first ``file://`` root the client lists, None when it lists none or cannot."""
    request = _request_context(ctx)
    session = getattr(request, "session", None) if request is not None else None
    if session is None or not hasattr(session, "list_roots"):
        return None
    try:
        result = await session.list_roots()
    except Exception:  # a client without roots answers with an error: not this caller's problem
        return None
    for root in getattr(result, "roots", None) or []:
        parsed = urlparse(str(getattr(root, "uri", "")))
        if parsed.scheme == "file" and parsed.path:
            return Path(unquote(parsed.path))
    return None


async def session_folder(ctx: Any) -> Path:
    """The caller's folder: the gateway's ``_meta``, else the client's first file root, else the
    server's working directory."""
    return meta_folder(ctx) or await root_folder(ctx) or Path.cwd()

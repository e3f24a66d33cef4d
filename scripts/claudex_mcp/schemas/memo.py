"""Schema validation remembered by file fingerprint, so commands on the start-up path of every
server (run, generate) import jsonschema only when a config file has changed."""

from __future__ import annotations

import os
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

from claudex_mcp import __version__, cachedir

MEMO_SIZE = 256  # the newest documents remembered


def problems(path: Path, data: bytes, doc: Any, kind: str) -> list[dict]:
    """validation.validate_document(doc), skipped when these exact bytes were valid before."""
    # The file's identity and change stamps, not a digest of its bytes: no hashlib on start-up,
    # and nothing of the file's content (a layer may hold secrets) in the cache.
    st = os.stat(path)
    key = f"{__version__}:{kind}:{path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"
    memo = cachedir.read_json(cachedir.VALIDATED)
    if not isinstance(memo, dict):
        memo = {}  # missing, corrupt or of another shape: rebuilt
    if memo.get(key) is True:
        return []
    from claudex_mcp.schemas.validation import validate_document

    found = validate_document(doc, kind, str(path))
    if not found and st.st_size == len(data):  # not rewritten meanwhile
        memo = {k: v for k, v in list(memo.items())[-(MEMO_SIZE - 1):] if v is True}
        memo[key] = True
        cachedir.write_json(cachedir.VALIDATED, memo)
    return found

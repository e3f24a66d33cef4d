"""Hot reload: watch the registry and the config layers, and regenerate the client configs when
they change. Never prints: what happened goes to the caller's ``log`` callback, one dict per event.

Changes are debounced (an install touches many files; one regeneration follows the last of them).
A registry that is invalid for a moment (mid-install, a half-edited config) is logged and waited
out: the configs written before stay until the next valid state.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
TYPE_CHECKING = False
if TYPE_CHECKING:
    from claudex_mcp.settings.project import Project

from claudex_mcp.store import cache
from claudex_mcp.settings import config
from claudex_mcp.clients import generate
from claudex_mcp import paths
from claudex_mcp.errors import ClaudexError
from claudex_mcp.clients.inotify import Inotify

DEBOUNCE_SECONDS = 0.3  # quiet time after the last change before regenerating
STOP_POLL_SECONDS = 1.0  # how long one wait lasts before checking for a stop request
# Not changes to the registry's content: the lock, staging, temp files, venvs, byte code.
_NOISE = (".lock", ".staging", "__pycache__", ".venv", "node_modules")


def folders(registry: Path, project: Project | None) -> dict[str, set[str] | None]:
    """What to watch: the registry, its location folders and each server folder (manifests),
    and the folder of each config layer file. A missing folder is watched through its nearest
    existing parent, for the one name that leads to it: {folder: names that matter (None: all)}."""
    wanted = [registry] + [registry / loc for loc in paths.LOCATIONS]
    for loc in paths.LOCATIONS:
        try:
            wanted += [e for e in (registry / loc).iterdir() if e.is_dir() and not e.is_symlink()
                       and not e.name.startswith(".")]
        except OSError:
            pass
    wanted += [path.parent for _, path in config.layer_files(registry, project)]
    found: dict[str, set[str] | None] = {}
    for folder in wanted:
        child = None
        while not folder.is_dir() and folder.parent != folder:
            folder, child = folder.parent, folder.name  # created later: its parent reports the creation
        key = str(folder)
        if child is None:
            found[key] = None
        elif key not in found or found[key] is not None:
            found.setdefault(key, set()).add(child)  # type: ignore[union-attr]
    return found


def _meaningful(name: str, names: set[str] | None) -> bool:
    if names is not None:
        return name in names
    if not name:
        return True  # the folder itself (deleted or moved)
    return not (name in _NOISE or name.endswith(".tmp") or name.startswith("."))


def regenerate(registry: Path, project: Project | None) -> dict:
    """Rescan and write the default client configs. Returns {servers, targets (changed files)}."""
    from claudex_mcp.settings import effective

    index, _ = cache.load(registry, refresh=True)
    doc = effective.build(index, project, registry)
    results = generate.write_defaults(doc, generate.Folders(lambda p: effective.build(index, p, registry), [project]))
    servers = sorted(name for name, s in doc["servers"].items() if s.get("enabled"))
    return {"servers": servers, "targets": [r["target"] for r in results if r["changed"]],
            "warnings": sorted({w for r in results for w in r["warnings"]})}


def run(registry: Path, project: Project | None, log: Callable[[dict], None],
        should_stop: Callable[[], bool], debounce: float = DEBOUNCE_SECONDS) -> None:
    """Regenerate now, then after every (debounced) change, until ``should_stop()``."""
    state = {"servers": None}

    def once(changed: list[str]) -> None:
        try:
            result = regenerate(registry, project)
        except (ClaudexError, OSError) as exc:
            log({"event": "invalid", "changed": changed, "error": getattr(exc, "message", None) or str(exc),
                 "hint": "the configs written before are kept; waiting for the next change"})
            return
        before = state["servers"]
        state["servers"] = result["servers"]
        log({"event": "regenerated" if before is not None else "started", "changed": changed,
             "added": sorted(set(result["servers"]) - set(before or [])) if before is not None else [],
             "removed": sorted(set(before or []) - set(result["servers"])),
             "servers": result["servers"], "targets": result["targets"], "warnings": result["warnings"]})

    watched: dict[str, set[str] | None] = {}

    def relevant(events: list[tuple[str, str, int]]) -> set[str]:
        return {os.path.join(f, n) for f, n, _ in events if f in watched and _meaningful(n, watched[f])}

    with Inotify() as ino:
        def rewatch() -> None:
            ino.unwatch_all()
            watched.clear()
            for folder, names in folders(registry, project).items():
                if ino.watch(folder):
                    watched[folder] = names

        rewatch()
        once([])
        while not should_stop():
            events = ino.read(STOP_POLL_SECONDS)
            changed = relevant(events)
            if not events:
                continue
            deadline = time.monotonic() + debounce
            while not should_stop():  # debounce: wait until the folders are quiet
                more = ino.read(max(0.0, deadline - time.monotonic()))
                if not more:
                    break
                changed |= relevant(more)
                deadline = time.monotonic() + debounce
            rewatch()  # server folders come and go
            if changed:
                once(sorted(changed))

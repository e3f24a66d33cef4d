"""The clients' files again after a change: every client config claudex wrote before is
regenerated for the registry that changed. ``after`` is the one mutation path (store/mutation.py)
for a verb whose change the clients see: the transaction commits, then the files are rewritten."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from claudex_mcp.store import cache, mutation
from claudex_mcp.store.mutation import Mutation, Report, quiet


@contextmanager
def after(registry: Path, op: str, report: Report = quiet, *, regenerate_clients: bool = True,
          project=None) -> Iterator[Mutation]:
    """mutation.begin, then (when it changed something the clients see, and
    ``regenerate_clients``) the clients' files regenerated; their list and any warning go into
    the mutation's ``result``. ``project``: the project the verb decides for (its folder's part
    of Claude Code's user file is regenerated too)."""
    with mutation.begin(registry, op, report) as m:
        m.result = {"regenerated": [], "warnings": []}
        yield m
    if m.changed and regenerate_clients:
        report("regenerate")
        m.result = regenerate(registry, [project])


def regenerate(registry: Path, named: list | tuple = ()) -> dict:
    """Rewrite every client config claudex wrote before (their list is in its state file), for
    the registry that changed, so the agents see the change; Claude Code's user file gets the
    local scope of the projects in ``named`` and of those claudex knows (generate.Folders).
    Returns each file rewritten (or found up to date) with the reason; a failure here is a
    warning, never a failed operation."""
    from claudex_mcp.settings import effective, project
    from claudex_mcp.clients import generate

    done: dict = {"regenerated": [], "warnings": []}
    try:
        targets = generate.load_state()
    except Exception as exc:  # a broken state file must not fail an install
        done["warnings"].append(f"client configs not regenerated: {exc}")
        return done
    if not targets:
        return done
    try:
        index, _ = cache.load(registry)
    except Exception as exc:
        done["warnings"].append(f"client configs not regenerated: {exc}")
        return done
    folders = generate.Folders(lambda p: effective.build(index, p, registry), named)
    for target, info in sorted(targets.items()):
        try:
            where = project.by_dir(info["project"]) if info.get("project") else None
            doc = effective.build(index, where, registry)
            written = generate.write(doc, info["client"], "default", target, folders)
        except Exception as exc:
            done["warnings"].append(f"could not regenerate {target}: {getattr(exc, 'message', exc)}")
            continue
        done["regenerated"].append({
            "target": written["target"], "client": written["client"], "changed": written["changed"],
            "project": where.to_dict() if where else None,
            "reason": "claudex wrote it before" + (f", for project {where.name}" if where else ""),
            "folders": written["folders"], "warnings": written["warnings"]})
    return done

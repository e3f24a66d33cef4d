"""Project decisions in Claude Code's per-folder config: which projects claudex knows, and what the
local scope of each one's folder (``projects[<dir>]`` of ~/.claude.json) must hold so that Claude
Code started there sees that project's servers rather than the user scope's. Decisions only;
generate.py edits the file and records what it wrote.

What Claude Code (2.1) reads for the folder it starts in, keyed by the root of the folder's git
repository, else by the folder itself: ``projects[<dir>].mcpServers`` (the local scope, which wins
over a .mcp.json and over the user scope) and ``projects[<dir>].disabledMcpServers`` (names it does
not start there; ``claude mcp list`` says "Disabled for this project"). It starts no server in a
folder whose trust dialog was not accepted (``hasTrustDialogAccepted``): that is left to the user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from . import clients, project as project_mod
from .errors import NotFound
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from .project import Project


class Folders:
    """The projects whose folders claudex writes a part for beside a user-level file, and their
    effective configs: ``build(project)`` makes one; ``named`` are the projects the command acts
    on (``--project``, ``--project-dir``, the one found from the working folder)."""

    def __init__(self, build: Callable[[Project], dict], named: Iterable[Project | None] = ()) -> None:
        self.build = build
        self.named = [p for p in named if p is not None]
        self._rendered: dict[str, clients.Rendered | None] = {}

    def dirs(self, recorded: Iterable[str]) -> list[str]:
        """Every folder to look at: the named projects', those recorded (claudex wrote for them
        before, or may have to take its entries out again), and every project under
        $CLAUDEX_PROJECTS_DIR that has a layer."""
        found = {str(p.dir) for p in self.named} | set(recorded)
        found |= {str(p.dir) for p in project_mod.listed()}
        return sorted(found)

    def rendered(self, folder: str) -> clients.Rendered | None:
        """Claude Code's entries for the servers the project in ``folder`` enables; None when the
        folder is gone. A layer that cannot be read raises (the caller says so and goes on)."""
        if folder not in self._rendered:
            try:
                where = project_mod.by_dir(folder)
            except NotFound:
                self._rendered[folder] = None
            else:
                self._rendered[folder] = clients.render(clients.CLAUDE_CODE, self.build(where))
        return self._rendered[folder]


def claude_keeps(folder: str) -> bool:
    """Whether Claude Code keeps ``folder``'s settings under ``folder`` itself: it is the root of
    its git repository, or in none. In a repository whose root is above it, Claude Code reads the
    root's settings, for the whole repository."""
    path = Path(folder)
    if (path / ".git").exists():
        return True
    return not any((parent / ".git").exists() for parent in path.parents)


def claude_local(base: Mapping[str, dict], here: clients.Rendered | None, folder: str,
                 never: set[str]) -> tuple[dict[str, dict], list[str]]:
    """(local entries, names to disable) for ``folder``, whose project enables the servers of
    ``here``, when the user scope holds claudex's ``base`` entries. A server the user scope gives
    the folder as the project would (``_same_here``) needs no local entry; the names in ``never``
    (the user's own entries, and those the user removed) get none. A folder that is gone needs
    nothing."""
    if here is None:
        return {}, []
    entries = {name: entry for name, entry in here.entries.items()
               if name not in never and not _same_here(base.get(name), entry, folder)}
    disabled = sorted(name for name in base if name not in here.entries)
    return entries, disabled


def _same_here(base: dict | None, entry: dict, folder: str) -> bool:
    """Whether the user-scope entry ``base`` starts, in ``folder``, the server ``entry`` describes.
    A stdio entry without --project-dir runs `claudex mcp run NAME` in the folder Claude Code was
    started in, and the launcher finds the project there itself: the same server as the project's
    entry, which says ``--project-dir <folder>``."""
    if base is None:
        return False
    if base == entry:
        return True
    args = base.get("args")
    return (base.get("type") == "stdio" and isinstance(args, list) and "--project-dir" not in args
            and entry == {**base, "args": [*args, "--project-dir", folder]})

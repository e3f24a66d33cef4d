"""Project decisions in the clients' per-folder config: which projects claudex knows, and what a
client must read in each one's folder so that, started there, it sees that project's servers
rather than those of its user-level file. Decisions only; generate.py edits the files and records
what it wrote.

Both clients key a folder's settings by the root of its git repository, else by the folder itself
(``settings_root``), and read them only once the user trusted that folder:

- Claude Code (2.1): in its user file (~/.claude.json), ``projects[<dir>].mcpServers`` (the local
  scope, which wins over a .mcp.json and over the user scope) and
  ``projects[<dir>].disabledMcpServers`` (names it does not start there: "Disabled for this
  project"). Trust: ``projects[<dir>].hasTrustDialogAccepted``.
- Codex (0.17x): ``<dir>/.codex/config.toml``, whose ``[mcp_servers.<name>]`` tables override
  those of $CODEX_HOME/config.toml key by key (``enabled = false`` switches one off), read from
  the repository's root down to the folder Codex runs in. Trust: ``[projects."<root>"]
  trust_level = "trusted"`` in $CODEX_HOME/config.toml. A table there without a command or url
  makes Codex refuse its whole config, so a server switched off is written whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from claudex_mcp.clients import renderers
from claudex_mcp.settings import project as project_mod
from claudex_mcp.errors import NotFound
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from claudex_mcp.settings.project import Project


class Folders:
    """The projects whose folders claudex writes a part for beside a user-level file, and their
    effective configs: ``build(project)`` makes one; ``named`` are the projects the command acts
    on (``--project``, ``--project-dir``, the one found from the working folder)."""

    def __init__(self, build: Callable[[Project], dict], named: Iterable[Project | None] = ()) -> None:
        self.build = build
        self.named = [p for p in named if p is not None]
        self._docs: dict[str, dict | None] = {}

    def dirs(self, recorded: Iterable[str]) -> list[str]:
        """Every folder to look at: the named projects', those recorded (claudex wrote for them
        before, or may have to take its entries out again), and every project under
        $CLAUDEX_PROJECTS_DIR that has a layer."""
        found = {str(p.dir) for p in self.named} | set(recorded)
        found |= {str(p.dir) for p in project_mod.listed()}
        return sorted(found)

    def rendered(self, folder: str, client: str) -> renderers.Rendered | None:
        """``client``'s entries for the servers the project in ``folder`` enables; None when the
        folder is gone. A layer that cannot be read raises (the caller says so and goes on)."""
        if folder not in self._docs:
            try:
                where = project_mod.by_dir(folder)
            except NotFound:
                self._docs[folder] = None
            else:
                self._docs[folder] = self.build(where)
        doc = self._docs[folder]
        return None if doc is None else renderers.render(client, doc)


def settings_root(folder: str) -> str:
    """The folder the clients keep ``folder``'s settings under: the root of its git repository,
    else ``folder`` itself."""
    path = Path(folder)
    return next((str(p) for p in (path, *path.parents) if (p / ".git").exists()), folder)


def local(base: Mapping[str, dict], here: renderers.Rendered | None, folder: str,
          never: set[str]) -> tuple[dict[str, dict], list[str]]:
    """(entries, names to switch off) for ``folder``, whose project enables the servers of
    ``here``, when the user-level file holds claudex's ``base`` entries. A server the user-level
    entry gives the folder as the project would (``_same_here``) needs no entry of its own; the
    names in ``never`` (the user's own entries, and those the user removed) get none. A folder
    that is gone needs nothing."""
    if here is None:
        return {}, []
    entries = {name: entry for name, entry in here.entries.items()
               if name not in never and not _same_here(base.get(name), entry, folder)}
    return entries, sorted(name for name in base if name not in here.entries)


def codex_tables(base: Mapping[str, dict], here: renderers.Rendered | None, folder: str,
                 never: set[str]) -> dict[str, dict]:
    """The ``[mcp_servers.<name>]`` tables of ``<folder>/.codex/config.toml`` (``local``): a
    server switched off there is the user-level table with ``enabled = false``, whole, so that
    Codex can read the file even when the user-level table is gone."""
    entries, off = local(base, here, folder, never)
    return {**entries, **{name: {**base[name], "enabled": False} for name in off}}


def _same_here(base: dict | None, entry: dict, folder: str) -> bool:
    """Whether the user-level entry ``base`` starts, in ``folder``, the server ``entry`` describes.
    A stdio entry without --project-dir runs `claudex mcp run NAME` in the folder the client was
    started in, and the launcher finds the project there itself: the same server as the project's
    entry, which says ``--project-dir <folder>``."""
    if base is None:
        return False
    if base == entry:
        return True
    args = base.get("args")
    return ("command" in base and isinstance(args, list) and "--project-dir" not in args
            and entry == {**base, "args": [*args, "--project-dir", folder]})

"""Which project is in effect: `--project NAME` (under $CLAUDEX_PROJECTS_DIR), `--project-dir DIR`,
or the nearest folder above the working directory that has a `.claudex/` folder."""

from __future__ import annotations

import os
import re
from pathlib import Path

from claudex_mcp import paths
from claudex_mcp.errors import NotFound, UsageError

MARKER = ".claudex"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class Project:
    # A plain class: dataclasses costs 4 ms of imports on the start-up path of every verb.
    __slots__ = ("name", "dir")

    def __init__(self, name: str, dir: Path) -> None:
        self.name = name
        self.dir = dir

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Project) and (self.name, self.dir) == (other.name, other.dir)

    def __repr__(self) -> str:
        return f"Project({self.name!r}, {str(self.dir)!r})"

    @property
    def config_file(self) -> Path:
        return self.dir / MARKER / "mcp.json"

    def to_dict(self) -> dict:
        return {"name": self.name, "dir": str(self.dir)}


def by_name(name: str) -> Project:
    if not _NAME.fullmatch(name) or ".." in name:
        raise UsageError(f"invalid project name {name!r}", hint="a project name is a folder name: letters, "
                         "digits, '.', '_' and '-', not starting with '.'", code="invalid_name")
    folder = paths.projects_dir() / name
    if not folder.is_dir():
        raise NotFound(f"no project {name!r} (looked for {folder})", path=str(folder),
                       hint="create the folder, or set CLAUDEX_PROJECTS_DIR", code="no_project")
    return Project(name, folder.resolve())


def by_dir(folder: str | os.PathLike) -> Project:
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise NotFound(f"no project folder {path}", path=str(path), code="no_project",
                       hint="--project-dir names an existing folder (the project's root, which holds .claudex/)")
    path = path.resolve()
    return Project(path.name, path)


def listed() -> list[Project]:
    """The projects under $CLAUDEX_PROJECTS_DIR that have a layer (``.claudex/mcp.json``)."""
    root = paths.projects_dir()
    try:
        names = sorted(entry.name for entry in os.scandir(root) if _NAME.fullmatch(entry.name))
    except OSError:  # no projects folder
        return []
    return [Project(name, (root / name).resolve()) for name in names
            if (root / name).is_dir() and (root / name / MARKER / "mcp.json").is_file()]


def discover(start: Path | None = None) -> Project | None:
    """The nearest folder at or above ``start`` (default: the working directory) holding `.claudex/`."""
    try:
        current = (start or Path.cwd()).resolve()
    except OSError:
        return None
    for folder in (current, *current.parents):
        if (folder / MARKER).is_dir() and folder != paths.home().resolve():
            return Project(folder.name, folder)
    return None


def resolve(name: str | None = None, folder: str | None = None) -> Project | None:
    if name and folder:
        raise UsageError("give --project or --project-dir, not both",
                         hint="--project NAME is under $CLAUDEX_PROJECTS_DIR; --project-dir DIR is any folder")
    if name:
        return by_name(name)
    if folder:
        return by_dir(folder)
    return discover()

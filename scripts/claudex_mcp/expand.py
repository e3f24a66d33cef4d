"""${VAR} references: their syntax (the one definition, used wherever claudex reads, checks or
writes one), expanding them, and the names they refer to.

``${VAR}`` and ``${VAR:-default}`` in command, args, env, url and headers; ``$${`` is a literal
``${`` (``$${X}`` stays ``${X}``), as ``$$`` is in Compose files. A ``${`` that starts no valid
reference is refused by validation (manifests and config layers), never passed on."""

from __future__ import annotations

import re
from collections.abc import Mapping
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from typing import Any

NAME = r"[A-Za-z_][A-Za-z0-9_]*"  # a variable's name
ESCAPE = "$${"
# What stands between "${" and "}": a name, and a default after ":-".
BODY = re.compile(NAME + r"(:-[^}]*)?")
# An escape or a reference, left to right, so that "$${X}" is never read as "$" + "${X}":
# group 1 the name, group 2 the default (None without one).
TOKEN = re.compile(r"\$\$\{|\$\{(" + NAME + r")(?::-([^}]*))?\}")


def expand(value: str, env: Mapping[str, str]) -> str:
    """Replace each reference by its value; ``${VAR:-default}`` uses the default when VAR is
    unset or empty (as in the shell and in Claude Code); an unset ``${VAR}`` becomes ''."""
    def one(match: re.Match) -> str:
        if match.group(0) == ESCAPE:
            return "${"
        name, default = match.group(1), match.group(2)
        current = env.get(name)
        if default is not None and not current:
            return default
        return current or ""
    return TOKEN.sub(one, value)


def references(value: Any) -> set[str]:
    """Names of the variables ``value`` refers to (strings, lists and dict values)."""
    if isinstance(value, str):
        return {m.group(1) for m in TOKEN.finditer(value) if m.group(1)}
    if isinstance(value, list):
        return set().union(*(references(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(references(v) for v in value.values())) if value else set()
    return set()

"""Semantic versions and the version ranges of manifests (compatibility.claudex and .mcp).

Range grammar (the schemas' patterns): comparator sets joined by `||`; a set is comparators
joined by spaces; a comparator is an optional operator (>=, <=, >, <, =, ^, ~) and a partial
version with optional x/* wildcards, or `*`. MCP ranges compare protocol revisions (dates).
"""

from __future__ import annotations

import re

# The MCP protocol revisions claudex speaks, newest last: those its launcher and health checks
# agree on in the initialize handshake (the SDK's mcp_types.version.HANDSHAKE_PROTOCOL_VERSIONS;
# a test keeps them equal, as importing that module imports all of mcp_types), and those a
# manifest's compatibility.mcp must allow.
MCP_PROTOCOL_REVISIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")

_SEMVER = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?")
_PARTIAL = re.compile(r"(>=|<=|>|<|=|\^|~)?([0-9]+|[xX*])(?:\.([0-9]+|[xX*]))?(?:\.([0-9]+|[xX*]))?(?:-([0-9A-Za-z.-]+))?")
_DATE = re.compile(r"(>=|<=|>|<|=)?([0-9]{4}-[0-9]{2}-[0-9]{2})")


class Version:
    """A parsed semantic version, ordered as SemVer 2.0 says (pre-releases sort first)."""

    __slots__ = ("major", "minor", "patch", "pre", "text")

    def __init__(self, major: int, minor: int, patch: int, pre: tuple = (), text: str = "") -> None:
        self.major, self.minor, self.patch, self.pre = major, minor, patch, pre
        self.text = text or f"{major}.{minor}.{patch}" + (("-" + ".".join(map(str, pre))) if pre else "")

    def _key(self) -> tuple:
        # A release sorts after its pre-releases; numeric identifiers before alphanumeric ones.
        pre = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in self.pre)
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, pre)

    def __lt__(self, other: "Version") -> bool:
        return self._key() < other._key()

    def __le__(self, other: "Version") -> bool:
        return self._key() <= other._key()

    def __gt__(self, other: "Version") -> bool:
        return self._key() > other._key()

    def __ge__(self, other: "Version") -> bool:
        return self._key() >= other._key()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return self.text


def parse(text: str) -> Version | None:
    """The version in ``text`` (a leading 'v' is allowed, as in git tags), or None."""
    match = _SEMVER.fullmatch(text[1:] if text[:1] in "vV" else text)
    if not match:
        return None
    pre = tuple(int(p) if p.isdigit() else p for p in match.group(4).split(".")) if match.group(4) else ()
    return Version(int(match.group(1)), int(match.group(2)), int(match.group(3)), pre, text.lstrip("vV"))


def _bounds(op: str | None, parts: list[str | None], pre: str | None) -> list[tuple[str, Version]]:
    """The comparator as (operator, version) constraints, all of which must hold."""
    nums = []
    for part in parts:
        if part is None or part in "xX*":
            break
        nums.append(int(part))
    if not nums:
        return [] if op in (None, "=", ">=", "<=", "^", "~") else [("<", Version(0, 0, 0))] if op == "<" else []
    full = len(nums) == 3
    base = Version(*(nums + [0] * (3 - len(nums))), tuple(int(p) if p.isdigit() else p for p in pre.split(".")) if pre and full else ())

    def bump(index: int) -> Version:
        n = (nums + [0, 0, 0])[:3]
        n[index] += 1
        return Version(*[v if i <= index else 0 for i, v in enumerate(n)])

    if op in (None, "="):
        return [("=", base)] if full else [(">=", base), ("<", bump(len(nums) - 1))]
    if op == "^":
        index = next((i for i, v in enumerate(nums) if v != 0), len(nums) - 1)
        return [(">=", base), ("<", bump(min(index, len(nums) - 1)))]
    if op == "~":
        return [(">=", base), ("<", bump(1 if len(nums) >= 2 else 0))]
    if op == ">" and not full:
        return [(">=", bump(len(nums) - 1))]
    if op == "<=" and not full:
        return [("<", bump(len(nums) - 1))]
    return [(op, base)]


def _holds(version, op: str, bound) -> bool:
    return {"=": version == bound, ">": version > bound, ">=": version >= bound,
            "<": version < bound, "<=": version <= bound}[op]


def satisfies(version: Version, spec: str) -> bool:
    """Whether ``version`` is in the semver range ``spec``. A pre-release only matches a set
    that names a pre-release of the same major.minor.patch (npm's rule)."""
    for alternative in spec.split("||"):
        constraints, names_pre = [], False
        for token in alternative.split():
            if token == "*":
                continue
            match = _PARTIAL.fullmatch(token)
            if not match:
                raise ValueError(f"not a version range: {spec!r}")
            op, major, minor, patch, pre = match.groups()
            found = _bounds(op, [major, minor, patch], pre)
            names_pre |= any(b.pre and (b.major, b.minor, b.patch) == (version.major, version.minor, version.patch)
                             for _, b in found)
            constraints += found
        if version.pre and not names_pre:
            continue
        if all(_holds(version, op, bound) for op, bound in constraints):
            return True
    return False


def satisfies_date(revision: str, spec: str) -> bool:
    """Whether the MCP protocol revision ``revision`` (YYYY-MM-DD) is in ``spec``."""
    for alternative in spec.split("||"):
        ok = True
        for token in alternative.split():
            if token == "*":
                continue
            match = _DATE.fullmatch(token)
            if not match:
                raise ValueError(f"not a protocol range: {spec!r}")
            ok &= _holds(revision, match.group(1) or "=", match.group(2))
        if ok:
            return True
    return False

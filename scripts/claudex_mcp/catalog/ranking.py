"""Ranking a catalog's servers for a search: Okapi BM25 over three fields, each term counted with
its field's weight (a name hit counts most, then the title, then the description), plus a bonus
when the whole query is a part of the name. Computed at query time over the local copy: a few
thousand short documents take milliseconds, and there is no second index to keep in step."""

from __future__ import annotations

import math
import re

K1 = 1.2
B = 0.75
WEIGHTS = {"name": 3.0, "title": 2.0, "description": 1.0}
NAME_BONUS = 2.0
_TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _terms(server: dict) -> dict[str, float]:
    """Term -> weighted frequency of one server document."""
    counts: dict[str, float] = {}
    for field, weight in WEIGHTS.items():
        value = server.get(field)
        if isinstance(value, str):
            for token in tokens(value):
                counts[token] = counts.get(token, 0.0) + weight
    return counts


def rank(servers: list[dict], query: str, limit: int | None = None) -> list[tuple[float, dict]]:
    """(score, server) best first, only those that match a query term; ties by name."""
    wanted = list(dict.fromkeys(tokens(query)))
    if not wanted:
        return []
    docs = [(_terms(s), s) for s in servers]
    n = len(docs) or 1
    avg = sum(sum(t.values()) for t, _ in docs) / n or 1.0
    df = {w: sum(1 for t, _ in docs if w in t) for w in wanted}
    phrase = "".join(wanted)
    found = []
    for terms, server in docs:
        length = sum(terms.values())
        score = 0.0
        for w in wanted:
            tf = terms.get(w)
            if not tf:
                continue
            idf = math.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5))
            score += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / avg))
        if score and phrase in "".join(tokens(server.get("name", ""))):
            score += NAME_BONUS
        if score:
            found.append((round(score, 4), server))
    found.sort(key=lambda pair: (-pair[0], pair[1].get("name", "")))
    return found[:limit] if limit else found

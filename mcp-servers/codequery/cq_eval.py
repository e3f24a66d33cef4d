"""Retrieval evaluation on code we did not write: a package's Python sources with every
docstring removed, queried by the first line of each removed docstring. A hit is a result in
the right file whose lines overlap the documented definition. Used by bench.py (a large package,
held-out queries) and by the test suite (a small built-in set with a floor)."""

from __future__ import annotations

import ast
import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import cq_chunks


@dataclass
class Query:
    text: str
    path: str
    start: int
    end: int
    held_out: bool


def strip_docstrings(source: str) -> tuple[str, list[tuple[str, str]]]:
    """The source without docstrings, and (qualified name, first docstring line) of each
    function or class that had one."""
    tree = ast.parse(source)
    lines = source.splitlines()
    removals: list[tuple[int, int, str | None]] = []  # (first, last, indentation of a needed `pass`)
    found: list[tuple[str, str]] = []

    def visit(body, prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + node.name
                doc = ast.get_docstring(node)
                first = node.body[0]
                if doc and isinstance(first, ast.Expr):
                    summary = doc.strip().splitlines()[0].strip()
                    found.append((name, summary))
                    indent = re.match(r"\s*", lines[first.lineno - 1]).group(0)
                    removals.append((first.lineno, first.end_lineno, indent if len(node.body) == 1 else None))
                if isinstance(node, ast.ClassDef):
                    visit(node.body, name + ".")

    if tree.body and isinstance(tree.body[0], ast.Expr) and isinstance(getattr(tree.body[0], "value", None), ast.Constant) \
            and isinstance(tree.body[0].value.value, str):
        removals.append((tree.body[0].lineno, tree.body[0].end_lineno, None))
    visit(tree.body, "")
    for first, last, indent in sorted(removals, reverse=True):
        # A docstring that shares its line with code (`def f(): "doc"`) is left as it is.
        if not lines[first - 1].lstrip().startswith(('"', "'", "r\"", "r'", "u\"", "u'")):
            continue
        lines[first - 1:last] = [f"{indent}pass"] if indent is not None else []
    return "\n".join(lines) + "\n", found


def spans_by_name(source: str) -> dict[str, tuple[int, int]]:
    out = {}

    def visit(body, prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + node.name
                out.setdefault(name, (node.lineno, node.end_lineno or node.lineno))
                if isinstance(node, ast.ClassDef):
                    visit(node.body, name + ".")

    visit(ast.parse(source).body, "")
    return out


def held_out(text: str, share: float) -> bool:
    """A stable split: the same query is always on the same side."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF >= 1 - share


def build_corpus(package: Path, out: Path, files: list[str] | None = None, held_out_share: float = 0.7) -> list[Query]:
    """Copy the package's .py files without docstrings into ``out``; return the queries."""
    queries: list[Query] = []
    seen: set[str] = set()
    sources = sorted(package.rglob("*.py")) if files is None else [package / f for f in files]
    for src in sources:
        rel = src.relative_to(package.parent).as_posix()
        if "/tests/" in f"/{rel}" or "/vendor" in rel:
            continue
        try:
            stripped, documented = strip_docstrings(src.read_text())
            spans = spans_by_name(stripped)
        except (SyntaxError, UnicodeDecodeError):
            continue
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(stripped)
        for name, summary in documented:
            words = summary.split()
            if len(words) < 4 or summary in seen or name not in spans:
                continue  # too short to be a question, or ambiguous
            seen.add(summary)
            start, end = spans[name]
            queries.append(Query(summary, rel, start, end, held_out(summary, held_out_share)))
    return queries


def is_hit(result: dict, q: Query) -> bool:
    return result["path"] == q.path and result["start_line"] <= q.end and result["end_line"] >= q.start


def score(ranked: list[list[dict]], queries: list[Query], k: int = 10) -> dict:
    rr, recall = [], []
    for results, q in zip(ranked, queries):
        rank = next((i for i, r in enumerate(results[:k], start=1) if is_hit(r, q)), None)
        rr.append(1.0 / rank if rank else 0.0)
        recall.append(1.0 if rank else 0.0)
    n = max(len(queries), 1)
    return {"mrr@10": round(sum(rr) / n, 4), "recall@10": round(sum(recall) / n, 4), "queries": len(queries)}


class BM25:
    """Plain BM25 (k1=1.2, b=0.75) over the chunks given: the baseline, and the ablations."""

    def __init__(self, docs: list[tuple[dict, list[str]]], k1: float = 1.2, b: float = 0.75) -> None:
        self.docs = docs
        self.k1, self.b = k1, b
        self.tf = [Counter(tokens) for _d, tokens in docs]
        self.lengths = [len(tokens) for _d, tokens in docs]
        self.avg = sum(self.lengths) / max(len(docs), 1)
        df = Counter(t for tf in self.tf for t in tf)
        n = len(docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def search(self, terms: list[str], k: int = 10) -> list[dict]:
        scores = []
        for i, tf in enumerate(self.tf):
            s = 0.0
            for t in terms:
                f = tf.get(t)
                if f:
                    s += self.idf[t] * f * (self.k1 + 1) / (f + self.k1 * (1 - self.b + self.b * self.lengths[i] / self.avg))
            if s > 0:
                scores.append((s, i))
        scores.sort(reverse=True)
        return [self.docs[i][0] for _s, i in scores[:k]]


def plain_tokens(text: str) -> list[str]:
    """What a plain BM25 sees: lower-case words, identifiers whole, nothing removed."""
    return [w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+", text)]


def function_chunks(root: Path) -> list[tuple[dict, str]]:
    """Every function, method and class of the corpus (the baseline's unit), with its text."""
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        source = path.read_text()
        lines = source.splitlines()
        for name, (start, end) in spans_by_name(source).items():
            out.append(({"path": rel, "start_line": start, "end_line": end, "symbol": name},
                        "\n".join(lines[start - 1:end])))
    return out


def window_chunks(root: Path) -> list[tuple[dict, str]]:
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        lines = path.read_text().splitlines()
        for c in cq_chunks._windows(rel, lines, "python", 1, max(len(lines), 1), "window", None, None):
            out.append(({"path": rel, "start_line": c.start_line, "end_line": c.end_line, "symbol": None}, c.text))
    return out


def evaluate(index, root: Path, queries: list[Query], modes=("lexical", "semantic", "hybrid"),
             ablations: bool = False) -> dict:
    """Scores of each mode of ``index`` (a CodeIndex of ``root``) and of the baseline, on all
    queries and on the held-out ones; with ``ablations``, also each ranking ingredient's step
    (INGREDIENTS: the runs named there) and the index-free BM25 references."""
    import cq_index

    runs: dict[str, list[list[dict]]] = {}
    for mode in modes:
        runs[mode] = _search_all(index, queries, mode)
    functions = function_chunks(root)
    baseline = BM25([(meta, plain_tokens(text)) for meta, text in functions])
    runs["baseline_bm25_functions"] = [baseline.search(plain_tokens(q.text)) for q in queries]
    if ablations:
        split = BM25([(meta, cq_chunks.tokens(f"{meta['path']} {meta['symbol']} {text}")) for meta, text in functions])
        runs["bm25_functions_identifier_split"] = [split.search(cq_chunks.query_tokens(q.text)) for q in queries]
        windows = window_chunks(root)
        runs["bm25_windows_identifier_split"] = _bm25_all(
            BM25([(meta, cq_chunks.tokens(f"{meta['path']} {text}")) for meta, text in windows]), queries)
        for name, mode, weights in ranking_steps(cq_index):
            if name not in runs:
                runs[name] = _search_all(index, queries, mode, weights)
    held = [i for i, q in enumerate(queries) if q.held_out]
    out = {}
    for name, ranked in runs.items():
        out[name] = {"all": score(ranked, queries),
                     "held_out": score([ranked[i] for i in held], [queries[i] for i in held])}
    return out


# The ranking's ingredients, each run adding one to the run before it: (ingredient, run).
# `lexical`, `semantic` and `hybrid` are the index's defaults (cq_index.LEXICAL and HYBRID).
INGREDIENTS = {
    "lexical": [("plain BM25 over functions", "baseline_bm25_functions"),
                ("identifier splitting, stemming, stop words", "bm25_functions_identifier_split"),
                ("codequery's chunks, BM25 with head and body weights", "lexical_bm25"),
                ("symbol boost", "lexical_+name"),
                ("definition boost", "lexical_+module"),
                ("path signal", "lexical")],
    "hybrid": [("semantic alone", "semantic"),
               ("reciprocal-rank fusion with BM25 (k=60)", "hybrid_rrf"),
               ("weighted fusion of the scores instead", "hybrid_weighted"),
               ("symbol boost", "hybrid_+name"),
               ("definition boost", "hybrid_+module"),
               ("path signal", "hybrid")],
}


def ranking_steps(cq_index) -> list[tuple[str, str, object]]:
    """(run, mode, weights) of each ranking step: the weights of cq_index's defaults, one
    ingredient at a time (a step whose weight is 0 gives the same run as the one before)."""
    steps: list[tuple[str, str, object]] = [("hybrid_rrf", "hybrid", "rrf")]
    for mode, full, base in (("lexical", cq_index.LEXICAL, cq_index.Weights(lexical=cq_index.LEXICAL.lexical)),
                             ("hybrid", cq_index.HYBRID, cq_index.Weights(lexical=cq_index.HYBRID.lexical,
                                                                         semantic=cq_index.HYBRID.semantic))):
        steps.append((f"{mode}_bm25" if mode == "lexical" else f"{mode}_weighted", mode, base))
        current = base
        for field_name in ("name", "module"):
            current = replace(current, **{field_name: getattr(full, field_name)})
            steps.append((f"{mode}_+{field_name}", mode, current))
    return steps


def gains(scores: dict, side: str = "held_out") -> dict[str, list[dict]]:
    """Each ingredient's MRR@10 (on ``side``'s queries) and its gain over the step before, per
    chain of INGREDIENTS (the runs that ``scores`` has)."""
    out: dict[str, list[dict]] = {}
    for chain, steps in INGREDIENTS.items():
        rows, before = [], None
        for ingredient, run in steps:
            if run not in scores:
                continue
            mrr = scores[run][side]["mrr@10"]
            rows.append({"ingredient": ingredient, "run": run, "mrr@10": mrr,
                         "gain": None if before is None else round(mrr - before, 4)})
            before = mrr
        out[chain] = rows
    return out


def _search_all(index, queries: list[Query], mode: str, weights=None) -> list[list[dict]]:
    return [index.search(q.text, limit=10, mode=mode, max_tokens=32000, weights=weights)["results"] for q in queries]


def _bm25_all(bm25: BM25, queries: list[Query]) -> list[list[dict]]:
    return [bm25.search(cq_chunks.query_tokens(q.text)) for q in queries]

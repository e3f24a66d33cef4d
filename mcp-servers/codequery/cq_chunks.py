"""Chunks that follow the code's structure: functions, methods and classes (Python's `ast`,
tree-sitter for other common languages), line windows with overlap for everything else; and the
identifier-aware tokens the lexical index is built from."""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
from dataclasses import dataclass

WINDOW = 60  # lines in a window chunk
OVERLAP = 15
MAX_CHUNK_LINES = 150  # a longer function is cut into windows that keep its symbol
# A class's first chunk holds its constructor when that is its first method: the class with its
# signature, rather than a class line alone (measured: cq_eval, bench.py's ablation).
CONSTRUCTORS = frozenset({"__init__", "__new__", "__post_init__"})
CONSTRUCTORS_JOIN = True  # False: the chunking before it (the evaluation's ablation)
SYMBOL_WORDS = True  # False: the embedding text before the symbol's words (the evaluation's ablation)
MIN_GAP_WORDS = 2  # module-level code between definitions with fewer words is left out
# Of a chunk's text given to the embedding model. Measured on requests' code (233 chunks, 102
# queries): 256 characters embed 1.5x faster than 480 with e5 (about 95 tokens instead of 180)
# for the same hybrid MRR@10 (0.653 vs 0.650; semantic alone 0.606 vs 0.620).
EMBED_CHARS = 256
# Namespace of chunk ids (uuid5): fixed forever, or every id would change.
ID_NAMESPACE = uuid.UUID("3d0c5f2e-9b7a-5c41-8e26-7a1f4b9d2c60")


@dataclass
class Chunk:
    path: str
    start_line: int  # 1-based, inclusive
    end_line: int
    language: str
    kind: str  # function, method, class, module, window
    symbol: str | None
    signature: str | None
    text: str

    @property
    def id(self) -> str:
        digest = hashlib.sha1(self.text.encode()).hexdigest()
        return str(uuid.uuid5(ID_NAMESPACE, f"{self.path}\0{self.start_line}\0{self.end_line}\0{digest}"))

    def embedding_text(self, chars: int = EMBED_CHARS) -> str:
        # The head of a chunk says most of what it does; the cap keeps the encoder's cost (linear
        # and then quadratic in length) bounded: about 95 tokens of code for e5. The qualified
        # name in words ("HTTP Connection Pool get conn") names the method's class too, in words
        # an encoder of prose reads (the signature is the chunk's first line already). Measured
        # on urllib3 and email without docstrings, semantic MRR@10 of the training queries: e5
        # 0.445 -> 0.511 on urllib3, MiniLM +0.01 to +0.02 on both (cq_eval, bench.py).
        if self.symbol and SYMBOL_WORDS:
            return f"{self.path}: {' '.join(symbol_words(self.symbol))}\n{self.text}"[:chars]
        head = self.signature or self.symbol
        return (f"{self.path}\n{head}\n{self.text}" if head else f"{self.path}\n{self.text}")[:chars]


# -- tokens --------------------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*|[0-9]+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
STOPWORDS = frozenset("""a an and are as at be by do does for from how i if in is it its of on or our that the
this to we what when where which who why with you your into can there their then than these those""".split())


def stem(word: str) -> str:
    """A light suffix stripper: 'retries'/'retrying'/'retried' -> 'retri'/'retry'-like stems that
    match each other (good enough for code words; a full Porter stemmer adds little here)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith("ied"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith("ed"):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def tokens(text: str, split_identifiers: bool = True) -> list[str]:
    """Lower-case word tokens; identifiers are also split into their parts, so `getUserName`
    and `get_user_name` both give get, user, name (and the whole identifier)."""
    out: list[str] = []
    for ident in re.findall(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+", text):
        parts = [p for piece in ident.split("_") for p in _CAMEL.findall(piece)] if split_identifiers else []
        whole = ident.replace("_", "").lower()
        if len(parts) > 1 or not split_identifiers:
            out.append(whole)
        out.extend(stem(p.lower()) for p in parts)
    return [t for t in out if t and t not in STOPWORDS]


def query_tokens(query: str) -> list[str]:
    seen: dict[str, None] = {}
    for t in tokens(query):
        seen.setdefault(t, None)
    return list(seen)


def symbol_words(symbol: str) -> list[str]:
    """The words of a qualified name, as written: `HTTPConnectionPool._get_conn` gives HTTP,
    Connection, Pool, get, conn."""
    return [p for piece in re.split(r"[^A-Za-z0-9]+", symbol) for p in _CAMEL.findall(piece)]


@functools.lru_cache(maxsize=16384)  # each search ranks up to a hundred chunks, mostly the same ones
def name_tokens(symbol: str | None) -> frozenset[str]:
    """The tokens of a definition's own name (the last part of its qualified name: the method,
    not its class), for the symbol boost: a query that names what it looks for."""
    if not symbol:
        return frozenset()
    return frozenset(tokens(re.split(r"[.:]+", symbol)[-1] or symbol))


@functools.lru_cache(maxsize=16384)
def file_name_tokens(path: str) -> frozenset[str]:
    """The tokens of a file's name without its extension (`net/http_client.py`: http, client),
    for the path signal."""
    return frozenset(tokens(path.rsplit("/", 1)[-1].rsplit(".", 1)[0]))


# -- chunking ------------------------------------------------------------------------------

def chunk_file(path: str, text: str, language: str) -> list[Chunk]:
    lines = text.splitlines()
    if not lines:
        return []
    spans: list[tuple[int, int, str, str | None, str | None]] | None = None
    if language == "python":
        spans = _python_spans(text)
    elif language in TREE_SITTER:
        spans = _tree_sitter_spans(text, language)
    if not spans:
        return [c for c in _windows(path, lines, language, 1, len(lines), "window", None, None) if c.text.strip()]
    chunks: list[Chunk] = []
    covered = [False] * (len(lines) + 2)
    for start, end, kind, symbol, signature in spans:
        chunks.extend(_windows(path, lines, language, start, end, kind, symbol, signature,
                               size=MAX_CHUNK_LINES if end - start + 1 <= MAX_CHUNK_LINES else WINDOW))
        for i in range(start, end + 1):
            covered[i] = True
    # Module-level code between the definitions (imports, constants, scripts) as windows.
    i = 1
    while i <= len(lines):
        if covered[i]:
            i += 1
            continue
        j = i
        while j + 1 <= len(lines) and not covered[j + 1]:
            j += 1
        lo, hi = i, j
        while lo <= hi and not lines[lo - 1].strip():
            lo += 1
        while hi >= lo and not lines[hi - 1].strip():
            hi -= 1
        gap = "\n".join(lines[lo - 1:hi])
        if len(_WORD.findall(gap)) >= MIN_GAP_WORDS:  # not just a closing brace or a blank line
            chunks.extend(_windows(path, lines, language, lo, hi, "module", None, None))
        i = j + 1
    return [c for c in chunks if c.text.strip()]


def _windows(path: str, lines: list[str], language: str, start: int, end: int, kind: str, symbol: str | None,
             signature: str | None, size: int = WINDOW) -> list[Chunk]:
    out = []
    first = start
    while True:
        last = min(end, first + size - 1)
        out.append(Chunk(path, first, last, language, kind, symbol, signature, "\n".join(lines[first - 1:last])))
        if last >= end:
            return out
        first = last - OVERLAP + 1


def _python_spans(text: str):
    import ast

    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return None
    lines = text.splitlines()
    spans = []

    def visit(body, prefix: str, in_class: bool) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                end = node.end_lineno or node.lineno
                name = prefix + node.name
                header = lines[node.lineno - 1].strip()
                if isinstance(node, ast.ClassDef):
                    inner = [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
                    if inner:
                        # The class line, docstring and attributes up to its first method, and
                        # that method too when it is the constructor: the class with its signature.
                        opening = min(inner, key=lambda n: min([n.lineno] + [d.lineno for d in n.decorator_list]))
                        first = min([opening.lineno] + [d.lineno for d in opening.decorator_list])
                        if CONSTRUCTORS_JOIN and isinstance(opening, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                                and opening.name in CONSTRUCTORS:
                            spans.append((start, opening.end_lineno or opening.lineno, "class", name, header))
                            visit([n for n in node.body if n is not opening], name + ".", True)
                            continue
                        if first - 1 >= start:
                            spans.append((start, first - 1, "class", name, header))
                        visit(node.body, name + ".", True)
                    else:
                        spans.append((start, end, "class", name, header))
                else:
                    spans.append((start, end, "method" if in_class else "function", name, header))

    visit(tree.body, "", False)
    return spans


# Per language: the definition node types, which of them hold nested definitions, and the
# module that provides the grammar.
TREE_SITTER = {
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
}
DEFINITIONS = {
    "function_declaration": "function", "generator_function_declaration": "function", "method_definition": "method",
    "function_definition": "function", "method_declaration": "method", "constructor_declaration": "method",
    "function_item": "function", "class_declaration": "class", "interface_declaration": "class",
    "enum_declaration": "class", "struct_item": "class", "enum_item": "class", "trait_item": "class",
    "type_declaration": "class", "class_specifier": "class", "struct_specifier": "class",
    "abstract_class_declaration": "class", "record_declaration": "class",
}
CONTAINERS = {"class_declaration", "abstract_class_declaration", "interface_declaration", "impl_item",
              "trait_item", "class_specifier", "struct_specifier", "class_body", "declaration_list",
              "field_declaration_list", "export_statement", "namespace_definition", "enum_declaration",
              "record_declaration", "template_declaration"}
_parsers: dict[str, object] = {}


def _parser(language: str):
    if language not in _parsers:
        import importlib

        from tree_sitter import Language, Parser

        module, attr = TREE_SITTER[language]
        try:
            grammar = getattr(importlib.import_module(module), attr)()
        except ImportError:
            _parsers[language] = None
        else:
            _parsers[language] = Parser(Language(grammar))
    return _parsers[language]


def _tree_sitter_spans(text: str, language: str):
    parser = _parser(language)
    if parser is None:
        return None
    data = text.encode()
    tree = parser.parse(data)
    lines = text.splitlines()
    spans = []

    def name_of(node) -> str | None:
        named = node.child_by_field_name("name")
        if named is None:
            declarator = node.child_by_field_name("declarator")
            while declarator is not None and declarator.child_by_field_name("declarator") is not None:
                declarator = declarator.child_by_field_name("declarator")
            named = declarator
        if named is None and node.type == "impl_item":
            named = node.child_by_field_name("type")
        if named is None and node.type == "type_declaration" and node.named_children:  # Go: type X struct
            named = node.named_children[0].child_by_field_name("name")
        return data[named.start_byte:named.end_byte].decode(errors="replace") if named is not None else None

    skip: set[int] = set()  # constructors already in their class's chunk

    def visit(node, prefix: str, in_class: bool, depth: int) -> None:
        if depth > 40:
            return
        for child in node.named_children:
            if child.id in skip:
                continue
            kind = DEFINITIONS.get(child.type)
            # `const f = () => {...}` and `let f = function () {...}`
            if kind is None and child.type in ("lexical_declaration", "variable_declaration") and depth <= 2:
                for decl in child.named_children:
                    value = decl.child_by_field_name("value")
                    if value is not None and value.type in ("arrow_function", "function_expression", "function"):
                        kind = "function"
                        name = name_of(decl)
                        break
                else:
                    name = None
            else:
                name = name_of(child) if kind else None
            start, end = child.start_point[0] + 1, child.end_point[0] + 1
            if kind:
                symbol = prefix + name if name else None
                header = lines[start - 1].strip() if start - 1 < len(lines) else None
                if kind == "function" and in_class:
                    kind = "method"
                if kind == "class" and _has_nested(child):
                    opening = _first_nested(child)
                    first = opening.start_point[0] + 1
                    if CONSTRUCTORS_JOIN and _is_constructor(opening, name_of(opening), name):
                        # The class with its constructor, as for Python.
                        spans.append((start, opening.end_point[0] + 1, "class", symbol, header))
                        skip.add(opening.id)
                    elif first - 1 >= start:
                        spans.append((start, first - 1, "class", symbol, header))
                    visit(child, (symbol + ".") if symbol else prefix, True, depth + 1)
                else:
                    spans.append((start, end, kind, symbol, header))
            elif child.type in CONTAINERS:
                inner_prefix = prefix
                if child.type == "impl_item":
                    impl = name_of(child)
                    inner_prefix = f"{prefix}{impl}." if impl else prefix
                visit(child, inner_prefix, in_class or child.type in ("impl_item", "class_body"), depth + 1)

    visit(tree.root_node, "", False, 0)
    return spans


def _has_nested(node) -> bool:
    return _first_nested(node) is not None


def _first_nested(node):
    """The first definition inside a class (in its body, or a body's container), or None."""
    stack = list(node.named_children)
    best = None
    while stack:
        n = stack.pop()
        if n.type in DEFINITIONS and n is not node:
            if best is None or n.start_byte < best.start_byte:
                best = n
        elif n.type in CONTAINERS:
            stack.extend(n.named_children)
    return best


def _is_constructor(node, name: str | None, class_name: str | None) -> bool:
    """Java's and C#'s constructor declarations, JavaScript's `constructor`, C++'s method named
    as its class."""
    return node.type == "constructor_declaration" or (name is not None and (
        name in CONSTRUCTORS or name == "constructor" or (class_name is not None and name == class_name)))

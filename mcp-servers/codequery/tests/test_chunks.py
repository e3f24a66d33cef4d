"""Structural chunks (ast, tree-sitter), windows for text, identifier-aware tokens, stable ids."""

from __future__ import annotations

import cq_chunks
from conftest import SAMPLE


def spans(path: str, language: str, text: str | None = None):
    return [(c.kind, c.symbol, c.start_line, c.end_line)
            for c in cq_chunks.chunk_file(path, text if text is not None else SAMPLE[path], language)]


def test_python_functions_methods_and_classes():
    got = spans("src/users/store.py", "python")
    assert ("class", "UserStore", 1, 3) in got  # with its constructor: the class and its signature
    assert not any(symbol == "UserStore.__init__" for _k, symbol, _s, _e in got)
    assert ("method", "UserStore.getUserName", 5, 7) in got
    assert ("method", "UserStore.delete_user", 9, 10) in got
    got = spans("src/net/http_client.py", "python")
    assert ("function", "fetch_with_retry", 6, 14) in got
    assert ("module", None, 1, 3) in got  # the imports


def test_tree_sitter_languages():
    assert ("method", "Circle.area", 8, 10) in spans("src/geometry/shapes.ts", "typescript")
    assert ("class", "Shape", 1, 3) in spans("src/geometry/shapes.ts", "typescript")
    assert ("class", "Circle", 5, 6) in spans("src/geometry/shapes.ts", "typescript")  # with its constructor
    assert ("function", "computeAverage", 1, 5) in spans("web/stats.js", "javascript")
    assert ("function", "startServer", 5, 7) in spans("cmd/server/main.go", "go")
    rust = "struct Point { x: i32 }\n\nimpl Point {\n    fn norm(&self) -> i32 {\n        self.x\n    }\n}\n"
    assert ("method", "Point.norm", 4, 6) in spans("a.rs", "rust", rust)
    java = "class Greeter {\n  String greet(String who) {\n    return \"hi \" + who;\n  }\n}\n"
    assert ("method", "Greeter.greet", 2, 4) in spans("G.java", "java", java)
    java = "class Greeter {\n  Greeter(String name) {\n    this.name = name;\n  }\n  String greet() {\n    return name;\n  }\n}\n"
    assert spans("G.java", "java", java)[:2] == [("class", "Greeter", 1, 4), ("method", "Greeter.greet", 5, 7)]
    c = "#include <stdio.h>\n\nint add_numbers(int a, int b) {\n  return a + b;\n}\n"
    assert ("function", "add_numbers", 3, 5) in spans("a.c", "c", c)


def test_text_is_cut_into_overlapping_windows():
    text = "\n".join(f"line {i} of the notes" for i in range(1, 131))
    got = spans("notes.txt", "text", text)
    assert [(s, e) for _k, _s, s, e in got] == [(1, 60), (46, 105), (91, 130)]


def test_a_syntax_error_falls_back_to_windows():
    assert spans("broken.py", "python", "def broken(:\n    pass\n") == [("window", None, 1, 2)]


def test_long_functions_are_split_but_keep_their_symbol():
    body = "\n".join(f"    x{i} = {i}" for i in range(200))
    got = spans("long.py", "python", f"def long_one():\n{body}\n")
    assert len(got) > 1 and all(sym == "long_one" for _k, sym, _s, _e in got)


def test_a_class_whose_first_method_is_not_its_constructor_keeps_its_own_chunk():
    got = spans("m.py", "python", "class A:\n    x = 1\n\n    def run(self):\n        return self.x\n")
    assert got == [("class", "A", 1, 3), ("method", "A.run", 4, 5)]


def test_what_the_embedder_reads_names_the_definition_in_words():
    chunk = cq_chunks.chunk_file("net/pool.py", "class HTTPPool:\n    def _get_conn(self):\n        pass\n", "python")[-1]
    assert chunk.embedding_text() == "net/pool.py: HTTP Pool get conn\n    def _get_conn(self):\n        pass"
    assert cq_chunks.name_tokens("HTTPPool._get_conn") == {"get", "conn", "getconn"}


def test_identifier_aware_tokens():
    assert {"user", "name", "get", "getusername"} <= set(cq_chunks.tokens("getUserName"))
    assert {"user", "name", "get", "getusername"} <= set(cq_chunks.tokens("get_user_name"))
    assert {"http", "server"} <= set(cq_chunks.tokens("HTTPServer"))
    assert cq_chunks.query_tokens("where do we retry the requests") == ["retry", "request"]
    assert cq_chunks.stem("retries") == "retry" and cq_chunks.stem("retrying") == "retry"


def test_chunk_ids_are_deterministic_and_content_bound():
    a = cq_chunks.chunk_file("m.py", "def f():\n    return 1\n", "python")[0]
    b = cq_chunks.chunk_file("m.py", "def f():\n    return 1\n", "python")[0]
    c = cq_chunks.chunk_file("m.py", "def f():\n    return 2\n", "python")[0]
    d = cq_chunks.chunk_file("n.py", "def f():\n    return 1\n", "python")[0]
    assert a.id == b.id and len({a.id, c.id, d.id}) == 3

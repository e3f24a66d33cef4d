"""hello-world: the domain module alone, then the tools through a real MCP session (claudex_testing)."""

from __future__ import annotations

from pathlib import Path

import pytest

import hello_core
from claudex_server.errors import InvalidInput
from claudex_testing import assert_stdout_is_jsonrpc, connect

FOLDER = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("language, expected", [("en", "Hello, Ada!"), ("fr", "Bonjour, Ada !"),
                                                ("de", "Hallo, Ada!"), ("es", "¡Hola, Ada!")])
def test_greet_in_every_language(language, expected):
    assert hello_core.greet("  Ada ", language) == expected


@pytest.mark.parametrize("name, language, message", [(" ", "en", "must not be empty"), ("x" * 101, "en", "longer"),
                                                     ("Ada", "xx", "unknown language")])
def test_bad_arguments_are_invalid_input(name, language, message):
    with pytest.raises(InvalidInput, match=message):
        hello_core.greet(name, language)


def test_tools_through_mcp():
    with connect(FOLDER) as session:
        assert session.tool_names() == ["hello_greet", "hello_languages"]
        assert session.call_text("hello_greet", {"name": "Ada", "language": "fr"}) == "Bonjour, Ada !"
        assert session.call_text("hello_greet", {"name": "Ada"}) == "Hello, Ada!"
        languages = session.call("hello_languages")
        assert languages.structured_content == {"result": ["de", "en", "es", "fr"]}
        failed = session.call("hello_greet", {"name": " "})
        assert failed.is_error and "invalid_input: name must not be empty" in session.text(failed)
        refused = session.call("hello_greet", {"name": "Ada", "language": "xx"})  # the schema's enum
        assert refused.is_error


def test_stdout_is_only_jsonrpc():
    assert_stdout_is_jsonrpc(FOLDER)


def test_the_self_check():
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "server.py", "--check"], cwd=FOLDER, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"ok": True, "problems": []}

"""jsonio: defensive reading (size, type, encoding, syntax) and the one stable output format."""

from __future__ import annotations

import io
import json
import os
import re

import pytest

from claudex_mcp import errors, jsonio
from claudex_mcp.errors import InvalidInput, NotFound


def parse_error(data: bytes, name: str = "doc.json") -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        jsonio.parse(data, name)
    assert info.value.exit_code == errors.INVALID == 1
    assert info.value.path == name
    return info.value


# --- parse -------------------------------------------------------------------------------------

def test_parse_valid_document():
    assert jsonio.parse(b'{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}


@pytest.mark.parametrize("data, key", [
    (b'{"a": 1, "a": 2}', "a"),
    (b'{"a": 1, "b": {"x": 1, "y": 2, "x": 3}}', "x"),
    (b'[{"ok": 1}, {"k": 1, "k": 1}]', "k"),
])
def test_duplicate_keys_are_rejected(data, key):
    exc = parse_error(data)
    assert exc.code == "duplicate_key"
    assert repr(key) in exc.message
    assert exc.hint


def test_same_key_in_different_objects_is_fine():
    assert jsonio.parse(b'[{"a": 1}, {"a": 2}]') == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize("data", [b"NaN", b'{"x": NaN}', b"[Infinity]", b'{"x": -Infinity}'])
def test_nan_and_infinity_are_rejected(data):
    exc = parse_error(data)
    assert exc.code == "invalid_json"
    assert "NaN" in exc.message or "Infinity" in exc.message


def test_byte_order_mark_is_accepted():
    assert jsonio.parse(b'\xef\xbb\xbf{"apiVersion": "v1"}') == {"apiVersion": "v1"}


@pytest.mark.parametrize("data", [b"", b"   ", b" \n\t\r\n ", b"\xef\xbb\xbf", b"\xef\xbb\xbf \n"])
def test_empty_and_whitespace_only_documents(data):
    exc = parse_error(data)
    assert exc.code == "empty"
    assert "doc.json" in exc.message


def test_invalid_utf8_reports_line_and_column():
    exc = parse_error(b'{\n  "a": "\xff"\n}')
    assert exc.code == "not_utf8"
    assert exc.message.startswith("doc.json:2:9:")
    assert "0xff" in exc.message


def test_invalid_utf8_at_start():
    exc = parse_error(b"\xfe{}")
    assert exc.code == "not_utf8"
    assert exc.message.startswith("doc.json:1:1:")


def test_latin1_document_is_not_utf8():
    exc = parse_error('{"name": "café"}'.encode("latin-1"))
    assert exc.code == "not_utf8"
    assert exc.message.startswith("doc.json:1:")


def test_invalid_utf8_column_after_non_ascii_line():
    # Line 1 holds two 2-byte characters; the bad byte is the first one on line 2.
    exc = parse_error('"éé"\n'.encode("utf-8") + b"\xff")
    assert exc.code == "not_utf8"
    assert exc.message.startswith("doc.json:2:1:")


def test_malformed_json_missing_comma_line_and_column():
    data = b'{\n  "apiVersion": "v1",\n  "servers": {}\n  "extra": 1\n}\n'
    exc = parse_error(data)
    assert exc.code == "invalid_json"
    assert exc.message.startswith("doc.json:4:3: invalid JSON:")
    assert "delimiter" in exc.message


def test_malformed_json_missing_comma_on_line_3():
    exc = parse_error(b'{\n"a": 1\n"b": 2}')
    assert exc.code == "invalid_json"
    assert exc.message.startswith("doc.json:3:1:")


def test_malformed_json_column_counts_characters_on_the_line():
    exc = parse_error(b'[1,\n 2,,]')
    assert exc.code == "invalid_json"
    assert exc.message.startswith("doc.json:2:4:")


def test_trailing_comma_is_invalid():
    exc = parse_error(b'{"a": 1,}')
    assert exc.code == "invalid_json"
    assert exc.message.startswith("doc.json:1:9:")


def test_default_name_in_messages():
    with pytest.raises(InvalidInput, match=r"^<input>:1:"):
        jsonio.parse(b"{")


@pytest.mark.parametrize("data", [b"[" * 100_000, b'{"a":' * 100_000, b"[" * 100_000 + b"]" * 100_000])
def test_deep_nesting_is_invalid_input_not_recursion_error(data):
    exc = parse_error(data)
    assert exc.code in ("too_deep", "invalid_json")


def test_moderate_nesting_is_fine():
    doc = jsonio.parse(b"[" * 200 + b"]" * 200)
    depth = 0
    while doc:
        doc = doc[0]
        depth += 1
    assert depth == 199


# --- read_bytes --------------------------------------------------------------------------------

def test_read_bytes_of_a_file(tmp_path):
    f = tmp_path / "a.json"
    f.write_bytes(b'{"a": 1}')
    assert jsonio.read_bytes(f) == b'{"a": 1}'
    assert jsonio.read_bytes(str(f)) == b'{"a": 1}'


def test_missing_file_is_not_found(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(NotFound) as info:
        jsonio.read_bytes(missing)
    assert info.value.exit_code == errors.NOT_FOUND == 4
    assert info.value.code == "not_found"
    assert info.value.path == str(missing)
    assert str(missing) in info.value.message


def test_directory_is_refused(tmp_path):
    with pytest.raises(InvalidInput) as info:
        jsonio.read_bytes(tmp_path)
    assert info.value.code == "is_directory"
    assert info.value.exit_code == 1


def test_oversized_file_is_refused_without_reading_it(tmp_path, monkeypatch):
    big = tmp_path / "big.json"
    with open(big, "wb"):
        pass
    os.truncate(big, 50 * 1024 * 1024)  # sparse: costs no disk

    def no_open(*args, **kwargs):
        raise AssertionError("an oversized file must be refused before it is opened")

    monkeypatch.setattr(jsonio, "open", no_open, raising=False)
    with pytest.raises(InvalidInput) as info:
        jsonio.read_bytes(big)
    exc = info.value
    assert exc.code == "too_large"
    assert "50.0 MiB" in exc.message
    assert "8.0 MiB" in exc.message
    assert exc.path == str(big)


def test_load_of_oversized_file_is_too_large(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b"")
    os.truncate(big, jsonio.MAX_DOCUMENT_BYTES + 1)
    with pytest.raises(InvalidInput) as info:
        jsonio.load(big)
    assert info.value.code == "too_large"


def test_limit_boundary(tmp_path):
    f = tmp_path / "f.json"
    f.write_bytes(b"[1,2,3,4]")  # 9 bytes
    assert jsonio.read_bytes(f, limit=9) == b"[1,2,3,4]"
    with pytest.raises(InvalidInput) as info:
        jsonio.read_bytes(f, limit=8)
    assert info.value.code == "too_large"
    assert "9 bytes" in info.value.message and "8 bytes" in info.value.message


def test_stdin_dash_reads_the_given_stream():
    assert jsonio.read_bytes("-", stdin=io.BytesIO(b'{"a": 1}')) == b'{"a": 1}'
    assert jsonio.load("-", stdin=io.BytesIO(b'{"a": 1}')) == {"a": 1}


def test_stdin_errors_are_named_stdin():
    with pytest.raises(InvalidInput) as info:
        jsonio.load("-", stdin=io.BytesIO(b"{"))
    assert info.value.message.startswith("<stdin>:1:")
    assert info.value.path == "<stdin>"


def test_stdin_over_the_limit_is_too_large_and_not_read_whole():
    class Stream(io.BytesIO):
        sizes: list

        def read(self, size=-1):
            self.sizes.append(size)
            return super().read(size)

    stream = Stream(b"x" * 1000)
    stream.sizes = []
    with pytest.raises(InvalidInput) as info:
        jsonio.read_bytes("-", limit=10, stdin=stream)
    assert info.value.code == "too_large"
    assert stream.sizes and all(0 <= s <= 11 for s in stream.sizes)


def test_stdin_that_is_a_terminal_is_refused():
    class Tty:
        def isatty(self):
            return True

        def read(self, *args):
            raise AssertionError("a terminal must not be read")

    with pytest.raises(InvalidInput) as info:
        jsonio.read_bytes("-", stdin=Tty())
    assert info.value.code == "stdin_is_terminal"
    assert info.value.exit_code == 1
    assert info.value.path == "<stdin>"


def test_display_name():
    assert jsonio.display_name("-") == "<stdin>"
    assert jsonio.display_name("a/b.json") == "a/b.json"


def test_load_from_a_file(tmp_path):
    f = tmp_path / "x.json"
    f.write_bytes(b'\xef\xbb\xbf{"k": "\xc3\xa9"}')
    assert jsonio.load(f) == {"k": "é"}


def test_load_names_the_file_in_errors(tmp_path):
    f = tmp_path / "bad.json"
    f.write_bytes(b'{"a": 1, "a": 2}')
    with pytest.raises(InvalidInput) as info:
        jsonio.load(f)
    assert info.value.code == "duplicate_key"
    assert info.value.path == str(f)
    assert str(f) in info.value.message


# --- dumps -------------------------------------------------------------------------------------

def test_dumps_format():
    assert jsonio.dumps({"b": 1, "a": {"d": [1, 2], "c": "é"}}) == (
        '{\n'
        '  "a": {\n'
        '    "c": "é",\n'
        '    "d": [\n'
        '      1,\n'
        '      2\n'
        '    ]\n'
        '  },\n'
        '  "b": 1\n'
        '}\n'
    )


def test_dumps_is_stable_across_insertion_orders():
    one = {"z": 1, "a": {"y": 2, "b": 3}, "m": [{"q": 1, "p": 2}]}
    two = {"m": [{"p": 2, "q": 1}], "a": {"b": 3, "y": 2}, "z": 1}
    assert list(one) != list(two)
    assert jsonio.dumps(one) == jsonio.dumps(two)


def test_dumps_round_trips_through_parse():
    doc = {"apiVersion": "v1", "servers": {"ü": {"n": 1.5, "t": None}}}
    assert jsonio.parse(jsonio.dumps(doc).encode("utf-8")) == doc


def test_dumps_keeps_non_ascii():
    out = jsonio.dumps(["日本語", "naïve"])
    assert "日本語" in out and "naïve" in out and "\\u" not in out
    assert out.endswith("]\n")


# ---- JSONC --------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ('// head\n{"a": 1, /* b */ "b": [1, 2,],}\n', {"a": 1, "b": [1, 2]}),
    ('{"url": "http://x//y", "c": "/* not a comment */"}', {"url": "http://x//y", "c": "/* not a comment */"}),
    ('{"q": "a\\"//b", } // end', {"q": 'a"//b'}),
    ('{"a": {"b": [],},}', {"a": {"b": []}}),
])
def test_jsonc_comments_and_trailing_commas(text, expected):
    assert jsonio.parse_jsonc(text.encode()) == expected
    stripped = jsonio.strip_jsonc(text)
    assert len(stripped) == len(text) and stripped.count("\n") == text.count("\n")


@pytest.mark.parametrize("text,fragment", [
    ("{,}", ":1:2: invalid JSON"),
    ("[1,,]", ":1:4: invalid JSON"),
    ('{\n  /* open\n  "a": 1}', ":2:3: a /* comment is never closed"),
    ('{\n  // c\n  "a" 1}', ":3:7: invalid JSON"),
    ('{"a": 1, "a": 2,}', "duplicate key 'a'"),
])
def test_jsonc_errors_keep_line_and_column(text, fragment):
    with pytest.raises(InvalidInput, match=re.escape(fragment)):
        jsonio.parse_jsonc(text.encode(), "mcp.json")


def test_load_jsonc_reads_a_file(tmp_path):
    path = tmp_path / "mcp.json"
    path.write_bytes(b'\xef\xbb\xbf{"servers": {}, // none\n}')
    assert jsonio.load_jsonc(path) == {"servers": {}}


@pytest.mark.parametrize("text,expected,jsonc", [
    ('{"a": "//x"}', {"a": "//x"}, False),
    ('{"a": 1, // c\n}', {"a": 1}, True),
])
def test_parse_json_or_jsonc_says_which_reader_it_needed(text, expected, jsonc):
    """A client's file may be JSON or JSONC: the one reader says which, so that an edit finds its
    positions in the right text (jsonedit's ``jsonc``)."""
    assert jsonio.parse_json_or_jsonc(text.encode(), "mcp.json") == (expected, jsonc)


@pytest.mark.parametrize("data,code", [(b'{"a": 1, "a": 2}', "duplicate_key"), (b"\xff{}", "not_utf8"),
                                       (b'{"a": 1 /* open', "invalid_json")])
def test_parse_json_or_jsonc_errors(data, code):
    with pytest.raises(InvalidInput) as caught:
        jsonio.parse_json_or_jsonc(data, "mcp.json")
    assert caught.value.code == code

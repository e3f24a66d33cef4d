"""clients: each client's entries from an effective config, the TOML emitter and splicer, and
the checks on the effective config."""

from __future__ import annotations

import json
import tomllib

import pytest

from conftest import ROOT
from claudex_mcp.clients import renderers, codex_toml
from claudex_mcp.settings import effective as effective_mod
from claudex_mcp.errors import InvalidInput

EFFECTIVE = ROOT / "tests" / "golden" / "generate" / "effective"
LAUNCH = {"command": "/venv/bin/claudex", "args": ["mcp", "run", "notes"], "env": {"CLAUDEX_MCP_REGISTRY": "/reg"}}


def stdio(**extra) -> dict:
    return {"enabled": True, "transport": "stdio", "command": "raw-command", "args": ["--raw"],
            "env": {"RAW": "raw-value"}, "launch": LAUNCH, "passEnv": [], **extra}


def remote(url="https://x.example/mcp", headers=None, transport="http", **extra) -> dict:
    return {"enabled": True, "transport": transport, "url": url, "headers": headers or {}, "passEnv": [], **extra}


def effective(**servers) -> dict:
    return {"apiVersion": "v1", "project": None, "registry": "/reg", "servers": servers}


def render(client, **servers):
    return renderers.render(client, effective(**servers))


# ---- entries per client -------------------------------------------------------------------

@pytest.mark.parametrize("client", renderers.CLIENTS)
def test_stdio_is_rendered_from_launch_never_from_the_raw_fields(client):
    entry = render(client, notes=stdio()).entries["notes"]
    text = json.dumps(entry)
    assert entry["command"] == "/venv/bin/claudex" and entry["args"] == ["mcp", "run", "notes"]
    assert entry["env"] == {"CLAUDEX_MCP_REGISTRY": "/reg"}
    assert "raw" not in text.lower()


@pytest.mark.parametrize("client", renderers.CLIENTS)
def test_only_enabled_servers_in_name_order(client):
    result = render(client, zeta=stdio(), alpha=stdio(), off=dict(stdio(), enabled=False))
    assert list(result.entries) == ["alpha", "zeta"]
    assert result.warnings == []


@pytest.mark.parametrize("client,expected", [
    ("claude-code", {"type": "stdio", "command": "/venv/bin/claudex", "args": ["mcp", "run", "notes"],
                     "env": {"CLAUDEX_MCP_REGISTRY": "/reg"}}),
    ("vscode", {"type": "stdio", "command": "/venv/bin/claudex", "args": ["mcp", "run", "notes"],
                "env": {"CLAUDEX_MCP_REGISTRY": "/reg"}}),
    ("cursor", {"command": "/venv/bin/claudex", "args": ["mcp", "run", "notes"], "env": {"CLAUDEX_MCP_REGISTRY": "/reg"}}),
    ("claude-desktop", {"command": "/venv/bin/claudex", "args": ["mcp", "run", "notes"],
                        "env": {"CLAUDEX_MCP_REGISTRY": "/reg"}}),
    ("codex", {"command": "/venv/bin/claudex", "args": ["mcp", "run", "notes"], "env": {"CLAUDEX_MCP_REGISTRY": "/reg"},
               "env_vars": ["API_TOKEN", "TENANT"]}),
])
def test_stdio_entry_shape_and_key_order(client, expected):
    entry = render(client, notes=stdio(passEnv=["API_TOKEN", "TENANT"])).entries["notes"]
    assert entry == expected
    assert list(entry) == list(expected)


def test_claude_code_keeps_references_as_they_are():
    headers = {"Authorization": "Bearer ${API_TOKEN}", "X-Region": "${REGION:-eu}", "X-Team": "core"}
    entry = render("claude-code", r=remote("https://x/${TENANT}/mcp", headers, "sse")).entries["r"]
    assert entry == {"type": "sse", "url": "https://x/${TENANT}/mcp", "headers": headers}


@pytest.mark.parametrize("client", ["cursor", "vscode"])
def test_cursor_and_vscode_get_env_colon_references(client):
    entry = render(client, r=remote("https://x/${TENANT}/mcp", {"Authorization": "Bearer ${API_TOKEN}",
                                                                "X-Team": "core"})).entries["r"]
    assert entry["url"] == "https://x/${env:TENANT}/mcp"
    assert entry["headers"] == {"Authorization": "Bearer ${env:API_TOKEN}", "X-Team": "core"}
    assert entry.get("type") == ("http" if client == "vscode" else None)


@pytest.mark.parametrize("client", ["cursor", "vscode"])
def test_a_default_cannot_be_expressed_for_cursor_or_vscode(client):
    result = render(client, r=remote(headers={"X-Region": "${REGION:-eu}"}), ok=stdio())
    assert list(result.entries) == ["ok"]
    assert len(result.warnings) == 1 and result.warnings[0].startswith("skipped r: header X-Region")


def test_claude_desktop_skips_remote_servers():
    result = render("claude-desktop", h=remote(), s=remote(transport="sse"), ok=stdio())
    assert list(result.entries) == ["ok"]
    assert [w.split(":")[0] for w in result.warnings] == ["skipped h", "skipped s"]
    assert all("Connectors" in w for w in result.warnings)


@pytest.mark.parametrize("headers,expected", [
    ({}, {}),
    ({"Authorization": "Bearer ${API_TOKEN}"}, {"bearer_token_env_var": "API_TOKEN"}),
    ({"authorization": "Bearer ${API_TOKEN}"}, {"bearer_token_env_var": "API_TOKEN"}),
    ({"X-Api-Key": "${API_KEY}"}, {"env_http_headers": {"X-Api-Key": "API_KEY"}}),
    ({"Authorization": "${RAW_AUTH}"}, {"env_http_headers": {"Authorization": "RAW_AUTH"}}),
    ({"X-Team": "core", "X-Price": "$5"}, {"http_headers": {"X-Price": "$5", "X-Team": "core"}}),
    ({"Authorization": "Bearer ${T}", "X-Team": "core", "X-Tenant": "${TENANT}"},
     {"bearer_token_env_var": "T", "http_headers": {"X-Team": "core"}, "env_http_headers": {"X-Tenant": "TENANT"}}),
])
def test_codex_header_mapping(headers, expected):
    entry = render("codex", r=remote(headers=headers)).entries["r"]
    assert entry == {"url": "https://x.example/mcp", **expected}


@pytest.mark.parametrize("server,why", [
    (remote(headers={"Authorization": "Token ${API_TOKEN}"}), "header Authorization mixes text and variables"),
    (remote(headers={"X-Auth": "Bearer ${API_TOKEN}"}), "header X-Auth mixes text and variables"),
    (remote(headers={"X-Region": "${REGION:-eu}"}), "header X-Region"),
    (remote(url="https://x.example/${TENANT}/mcp"), "its url uses variables"),
    (remote(transport="sse"), "not sse"),
])
def test_codex_skips_what_it_cannot_express(server, why):
    result = render("codex", r=server, ok=stdio())
    assert list(result.entries) == ["ok"]
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("skipped r: ") and why in result.warnings[0]


def test_warnings_never_quote_header_values():
    result = render("codex", r=remote(headers={"Authorization": "Token literal-part ${API_TOKEN}"}))
    assert "literal-part" not in result.warnings[0]


# ---- JSON documents -----------------------------------------------------------------------

def test_merge_keeps_places_and_appends_new_entries():
    current = {"user-a": 1, "ours": 2, "user-b": 3, "gone": 4}
    merged = renderers.merge_servers(current, {"gone"}, {"ours": 20, "new": 30})
    assert list(merged.items()) == [("user-a", 1), ("ours", 20), ("user-b", 3), ("new", 30)]


def test_dump_json_keeps_key_order_and_non_ascii():
    data = renderers.dump_json({"z": 1, "a": {"é": "✓"}})
    assert data == '{\n  "z": 1,\n  "a": {\n    "é": "✓"\n  }\n}\n'.encode()


# ---- TOML ---------------------------------------------------------------------------------

TRICKY = ['', 'plain', 'with "quotes"', "back\\slash", "C:\\path\\", "tab\tand\nnewline\r\n",
          "é ünïcode ✓ 日本", "\x7f delete", "trailing quote\"", '"""', "'''", "${VAR} $HOME",
          "".join(chr(c) for c in range(0x20))]


@pytest.mark.parametrize("text", TRICKY)
def test_toml_string_round_trips(text):
    assert tomllib.loads(f"k = {codex_toml.toml_string(text)}\n") == {"k": text}


@pytest.mark.parametrize("key", ["plain", "X-Api-Key", "with space", "dot.ted", "quote\"d", "é", "a=b", ""])
def test_toml_keys_round_trip(key):
    table = codex_toml.toml_table(["mcp_servers", "x"], {"h": {key: "v"}, key: ["a", "b"]})
    assert tomllib.loads(table) == {"mcp_servers": {"x": {"h": {key: "v"}, key: ["a", "b"]}}}


@pytest.mark.parametrize("case", sorted(p.stem for p in EFFECTIVE.glob("*.json")))
def test_codex_render_round_trips_through_tomllib(case):
    doc = json.loads((EFFECTIVE / f"{case}.json").read_text())
    rendered = renderers.render("codex", doc)
    assert tomllib.loads(codex_toml.render_codex(rendered.entries)).get("mcp_servers", {}) == rendered.entries


USER_TOML = '''# my codex config
model = "o3"  # the model

[mcp_servers.mine]
command = "my-server"
args = [
  "[mcp_servers.ours]",
  ["nested"],
]

[profiles.fast]
model = "o4-mini"
notes = """
[mcp_servers.ours]
this is text inside a string
"""
'''

OURS_OLD = '''[mcp_servers.ours]
command = "old"
args = []

[mcp_servers.ours.env]
A = "1"

'''


def test_blocks_ignore_brackets_inside_values_and_strings():
    blocks = codex_toml.codex_blocks(USER_TOML)
    assert list(blocks) == ["mine"]
    start, stop = blocks["mine"][0]
    assert USER_TOML[start:stop].startswith("[mcp_servers.mine]\n") and USER_TOML[start:stop].endswith("]\n\n")


def test_splice_replaces_only_our_tables_and_keeps_the_rest_byte_for_byte():
    text = USER_TOML + "\n" + OURS_OLD + "# a comment that belongs to the next table\n[tui]\nnotifications = true\n"
    new = codex_toml.toml_table(["mcp_servers", "ours"], {"command": "new", "args": ["x"]})
    spliced = codex_toml.splice_codex(text, {"ours"}, new)
    expected_rest = USER_TOML + "\n" + "# a comment that belongs to the next table\n[tui]\nnotifications = true\n"
    assert spliced == expected_rest + "\n" + new
    parsed = tomllib.loads(spliced)
    assert parsed["mcp_servers"]["ours"] == {"command": "new", "args": ["x"]}
    assert parsed["mcp_servers"]["mine"]["args"] == ["[mcp_servers.ours]", ["nested"]]
    assert "[mcp_servers.ours]" in parsed["profiles"]["fast"]["notes"]


def test_splice_is_stable_when_repeated():
    new = codex_toml.toml_table(["mcp_servers", "ours"], {"command": "new"})
    once = codex_toml.splice_codex(USER_TOML, {"ours"}, new)
    assert codex_toml.splice_codex(once, {"ours"}, new) == once


@pytest.mark.parametrize("text,expected", [
    ("", "[mcp_servers.a]\n"),
    ("model = 1", "model = 1\n\n[mcp_servers.a]\n"),
    ("model = 1\n", "model = 1\n\n[mcp_servers.a]\n"),
    ("model = 1\n\n\n", "model = 1\n\n\n[mcp_servers.a]\n"),
])
def test_splice_separates_with_one_blank_line(text, expected):
    assert codex_toml.splice_codex(text, set(), "[mcp_servers.a]\n") == expected


def test_splice_with_nothing_to_append_only_removes():
    assert codex_toml.splice_codex("x = 1\n\n" + OURS_OLD, {"ours"}, "") == "x = 1\n\n"


# ---- the effective config -----------------------------------------------------------------

@pytest.mark.parametrize("doc,pointer", [
    ([], "/"),
    ({"apiVersion": "v2", "servers": {}}, "/apiVersion"),
    ({"apiVersion": "v1", "project": {"dir": "relative"}, "servers": {}}, "/project/dir"),
    ({"apiVersion": "v1", "servers": []}, "/servers"),
    ({"apiVersion": "v1", "servers": {"Bad_Name": {"enabled": True}}}, "/servers"),  # "invalid key 'Bad_Name'"
    ({"apiVersion": "v1", "servers": {"a": {"enabled": "yes"}}}, "/servers/a/enabled"),
    ({"apiVersion": "v1", "servers": {"a": {"enabled": True, "transport": "ws"}}}, "/servers/a/transport"),
    ({"apiVersion": "v1", "servers": {"a": {"enabled": True, "transport": "stdio"}}}, "/servers/a"),  # needs launch
    ({"apiVersion": "v1", "servers": {"a": dict(stdio(), launch={"command": "", "args": []})}}, "/servers/a/launch/command"),
    ({"apiVersion": "v1", "servers": {"a": dict(stdio(), launch=dict(LAUNCH, args=["ok", 3]))}}, "/servers/a/launch/args/1"),
    ({"apiVersion": "v1", "servers": {"a": dict(stdio(), launch=dict(LAUNCH, env={"A": 1}))}}, "/servers/a/launch/env/A"),
    ({"apiVersion": "v1", "servers": {"a": remote(url=None)}}, "/servers/a/url"),  # null is not a url
    ({"apiVersion": "v1", "servers": {"a": remote(headers={"X": None})}}, "/servers/a/headers/X"),
    ({"apiVersion": "v1", "servers": {"a": dict(stdio(), passEnv=["OK", "not a name"])}}, "/servers/a/passEnv/1"),
])
def test_malformed_effective_config_names_the_pointer(doc, pointer):
    with pytest.raises(InvalidInput) as caught:
        effective_mod.check(doc, "effective.json")
    assert caught.value.message.startswith(f"effective.json {pointer}: ")
    assert caught.value.exit_code == 1


def test_disabled_servers_are_not_checked_deeply():
    effective_mod.check({"apiVersion": "v1", "servers": {"a": {"enabled": False, "transport": "??"}}})


@pytest.mark.parametrize("case", sorted(p.stem for p in EFFECTIVE.glob("*.json")))
def test_golden_inputs_are_valid(case):
    effective_mod.check(json.loads((EFFECTIVE / f"{case}.json").read_text()))

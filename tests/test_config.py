"""Layered configuration: the merge rules (golden), explain, show, set, and secrets."""

from __future__ import annotations

import json
import os
import stat

import pytest

from conftest import ROOT, add_server, manifest
from claudex_mcp import config, registry as registry_mod

GOLDEN = ROOT / "tests" / "golden" / "merge"


@pytest.mark.parametrize("case", sorted(p.stem for p in GOLDEN.glob("*.json")))
def test_merge_rules(case):
    spec = json.loads((GOLDEN / f"{case}.json").read_text())
    merged, _ = config.merge([tuple(s) for s in spec["sources"]])
    assert merged == spec["merged"], spec["rule"]


def test_merge_does_not_alias_layer_documents():
    low = {"settings": {"a": [1]}}
    merged, _ = config.merge([("global", "g", low)])
    merged["settings"]["a"].append(2)
    assert low == {"settings": {"a": [1]}}


def write(path, doc):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def four_layers(sandbox):
    """A registry server, a global file, a project and a user file that all say something."""
    reg = sandbox.registry
    registry_mod.init(reg)
    add_server(reg, "qdrant", doc=manifest("qdrant", env={"QDRANT_URL": "http://registry:6333", "MODE": "registry"},
                                           requiredEnv=[{"name": "QDRANT_API_KEY", "description": "key"}],
                                           args=["${SERVER_DIR}/server.py", "--registry"]))
    add_server(reg, "other")
    write(reg / "config.json", {"servers": {"qdrant": {"env": {"MODE": "global", "EXTRA": "g"}, "settings": {"limit": 5}}}})
    project_dir = sandbox.home / "claudex" / "demo"
    write(project_dir / ".claudex" / "mcp.json", {"servers": {"qdrant": {"enabled": False, "env": {"EXTRA": None}}}})
    write(sandbox.config / "claudex" / "mcp.json",
          {"servers": {"qdrant": {"env": {"QDRANT_API_KEY": "sk-user-SECRET"}, "args": ["--user"]}},
           "trustedProjects": [str(project_dir.resolve())]})
    return project_dir


def explain(sandbox, *extra):
    proc = sandbox.run("mcp", "config", "explain", "qdrant", "--json", *extra)
    assert proc.returncode == 0, proc.stderr
    return {v["key"]: v for v in json.loads(proc.stdout)["values"]}


def test_explain_names_layer_file_and_shadowed_values(sandbox, four_layers):
    values = explain(sandbox, "--project", "demo")
    reg = sandbox.registry
    assert values["enabled"]["value"] is False and values["enabled"]["layer"] == "project"
    assert values["enabled"]["file"] == str(four_layers / ".claudex" / "mcp.json")
    assert [(s["layer"], s["value"]) for s in values["enabled"]["shadows"]] == [("registry", True)]
    assert values["env.MODE"]["layer"] == "registry"
    assert values["env.MODE"]["file"] == str(reg / "installed" / "qdrant" / "manifest.json")
    assert [(s["layer"], s["value"]) for s in values["env.MODE"]["shadows"]] == [("global", "global")]
    assert values["env.EXTRA"].get("removed") is True and values["env.EXTRA"]["layer"] == "project"
    assert [(s["layer"], s["value"]) for s in values["env.EXTRA"]["shadows"]] == [("global", "g")]
    assert values["args"]["value"] == ["--user"] and values["args"]["layer"] == "user"
    assert values["settings.limit"]["file"] == str(reg / "config.json")
    assert values["env.QDRANT_API_KEY"]["value"] == config.MASK  # a secret's literal value is masked


def test_without_the_project_the_server_is_enabled(sandbox, four_layers):
    values = explain(sandbox)
    assert values["enabled"]["value"] is True and values["enabled"]["layer"] == "registry"
    assert values["env.EXTRA"]["value"] == "g"


def test_project_found_by_walking_up_from_the_working_directory(sandbox, four_layers):
    deep = four_layers / "src" / "pkg"
    deep.mkdir(parents=True)
    proc = sandbox.run("mcp", "config", "explain", "qdrant", "--json", cwd=deep)
    result = json.loads(proc.stdout)
    assert result["enabled"] is False and result["project"]["dir"] == str(four_layers)


def test_human_explain_answers_why_not_enabled(sandbox, four_layers):
    out = sandbox.run("mcp", "config", "explain", "qdrant", "--project", "demo").stdout
    assert "qdrant is disabled in project demo" in out
    assert "enabled = false\n    from project: " in out
    assert "shadows true from registry: " in out
    assert "sk-user-SECRET" not in out


def test_show_masks_secrets_but_keeps_references(sandbox, four_layers):
    proc = sandbox.run("mcp", "config", "show", "qdrant", "--json")
    shown = json.loads(proc.stdout)
    assert shown["config"]["env"]["QDRANT_API_KEY"] == config.MASK
    assert shown["config"]["env"]["QDRANT_URL"] == "http://registry:6333"
    assert "sk-user-SECRET" not in proc.stdout


def test_list_enabled_follows_the_layers(sandbox, four_layers):
    names = lambda *a: [r["name"] for r in json.loads(sandbox.run("mcp", "list", "--enabled", "--json", *a).stdout)]
    assert names() == ["other", "qdrant"]
    assert names("--project", "demo") == ["other"]


@pytest.mark.parametrize("key,raw,expected", [
    ("enabled", "false", False),
    ("args", '["--a", "b"]', ["--a", "b"]),
    ("env.MODE", "fast", "fast"),
    ("env.PORT", "8080", None),  # a number is not a valid env value: refused
    ("settings.limit", "10", 10),
    ("settings.nested.deep", '{"x": 1}', {"x": 1}),
    ("settings.limit", "null", None),
])
def test_config_set(sandbox, four_layers, key, raw, expected):
    target = sandbox.config / "claudex" / "mcp.json"
    before = target.read_bytes()
    proc = sandbox.run("mcp", "config", "set", "qdrant", key, raw, "--json")
    if key == "env.PORT":
        assert proc.returncode == 1 and proc.stdout == ""
        assert json.loads(proc.stderr)["error"]["code"] == "invalid_value"
        assert target.read_bytes() == before
        return
    assert proc.returncode == 0, proc.stderr
    node = json.loads(target.read_text())["servers"]["qdrant"]
    for part in key.split("."):
        node = node[part]
    assert node == expected
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_config_set_layers_and_refusals(sandbox, four_layers):
    reg = sandbox.registry
    assert sandbox.run("mcp", "config", "set", "qdrant", "enabled", "true", "--project", "demo").returncode == 0
    assert json.loads((four_layers / ".claudex" / "mcp.json").read_text())["servers"]["qdrant"]["enabled"] is True
    assert sandbox.run("mcp", "config", "set", "other", "enabled", "false", "--global").returncode == 0
    assert json.loads((reg / "config.json").read_text())["servers"]["other"]["enabled"] is False
    assert json.loads(sandbox.run("mcp", "list", "--json").stdout)[0]["enabled"] is False
    before = (reg / "config.json").read_bytes()
    secret = sandbox.run("mcp", "config", "set", "qdrant", "env.QDRANT_API_KEY", "sk-plain", "--global")
    assert secret.returncode == 1 and json.loads(secret.stderr)["error"]["code"] == "secret_in_shared_layer"
    assert (reg / "config.json").read_bytes() == before
    ref = sandbox.run("mcp", "config", "set", "qdrant", "env.QDRANT_API_KEY", "${QDRANT_API_KEY}", "--global")
    assert ref.returncode == 0
    for argv, code in [(("nosuch", "enabled", "true"), 4), (("qdrant", "colour", "red"), 1),
                       (("qdrant", "enabled.x", "true"), 1), (("qdrant", "env.bad-name", "x"), 1)]:
        proc = sandbox.run("mcp", "config", "set", *argv)
        assert proc.returncode == code, (argv, proc.stderr)


def test_invalid_layer_is_reported_with_path_and_pointer(sandbox, four_layers):
    user = sandbox.config / "claudex" / "mcp.json"
    user.write_text(json.dumps({"servers": {"qdrant": {"enabeld": True}}}))
    proc = sandbox.run("mcp", "list")
    assert proc.returncode == 1
    error = json.loads(proc.stderr)["error"]
    assert error["path"] == str(user) and "/servers/qdrant" in error["message"] and "enabeld" in error["message"]

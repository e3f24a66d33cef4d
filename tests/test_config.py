"""Layered configuration: the merge rules (golden), explain, show, set, and secrets."""

from __future__ import annotations

import json
import os
import stat

import pytest

from conftest import ROOT, add_server, manifest
from claudex_mcp.settings import config
from claudex_mcp.store import registry as registry_mod

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
    ("env.PORT", "8080", "8080"),  # env values are text: 8080 is the string "8080"
    ("env.DEBUG", "true", "true"),
    ("env.MODE", '{"a": 1}', '{"a": 1}'),
    ("headers.X-Team", "42", "42"),
    ("env", '{"A": "1"}', {"A": "1"}),
    ("args", "verbose", None),  # args takes a JSON array: refused with an example
    ("enabled", "yes", None),
    ("enabled", "True", None),
    ("settings.limit", "10", 10),
    ("settings.nested.deep", '{"x": 1}', {"x": 1}),
    ("settings.limit", "null", None),
])
def test_config_set(sandbox, four_layers, key, raw, expected):
    target = sandbox.config / "claudex" / "mcp.json"
    before = target.read_bytes()
    proc = sandbox.run("mcp", "config", "set", "qdrant", key, raw, "--json")
    if expected is None and raw != "null":
        assert proc.returncode == 1 and proc.stdout == ""
        error = json.loads(proc.stderr)["error"]
        assert error["code"] == "invalid_value" and f'"{raw}"' in error["message"], error
        assert "'" + raw + "'" not in error["message"] and "claudex mcp config set" in error["hint"]
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


def test_messages_show_json_not_python_reprs(sandbox, tmp_path):
    doc = tmp_path / "layer.json"
    doc.write_text(json.dumps({"apiVersion": "v2", "servers": {"qdrant": {"enabled": "yes", "evn": {}}}}))
    proc = sandbox.run("mcp", "validate", "--schema", "config", str(doc), "--json")
    messages = [p["message"] for p in json.loads(proc.stdout)]
    assert '"yes" is not of type boolean or null' in messages
    assert '"v1" was expected, not "v2"' in messages
    assert 'unknown key "evn"' in messages
    assert not any("'" in m or "True" in m for m in messages), messages


def test_enabled_null_falls_back_to_the_lower_layer(sandbox, four_layers):
    user = sandbox.config / "claudex" / "mcp.json"
    assert sandbox.run("mcp", "config", "set", "qdrant", "enabled", "false").returncode == 0
    assert explain(sandbox)["enabled"]["value"] is False
    assert sandbox.run("mcp", "config", "set", "qdrant", "enabled", "null").returncode == 0
    assert "enabled" not in json.loads(user.read_text())["servers"]["qdrant"]  # taken out of the layer
    values = explain(sandbox)
    assert values["enabled"]["value"] is True and values["enabled"]["layer"] == "registry"
    # Written by hand, enabled: null has no opinion either: the project's false still decides.
    doc = json.loads(user.read_text())
    doc["servers"]["qdrant"]["enabled"] = None
    user.write_text(json.dumps(doc))
    assert explain(sandbox, "--project", "demo")["enabled"]["value"] is False
    assert explain(sandbox)["enabled"]["value"] is True


def test_unset_removes_keys_and_prunes_empty_parents(sandbox, four_layers):
    reg = sandbox.registry
    assert sandbox.run("mcp", "config", "set", "qdrant", "settings.a.b", "1", "--global").returncode == 0
    proc = sandbox.run("mcp", "config", "unset", "qdrant", "settings.a.b", "settings.limit", "env.EXTRA",
                       "env.NOPE", "--global", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["changed"] is True and result["layer"] == "global" and result["file"] == str(reg / "config.json")
    assert json.loads((reg / "config.json").read_text())["servers"]["qdrant"] == {"env": {"MODE": "global"}}
    values = explain(sandbox)
    assert values["env.MODE"]["layer"] == "registry" and "settings.limit" not in values
    again = sandbox.run("mcp", "config", "unset", "qdrant", "settings.limit", "--global")
    assert again.returncode == 0 and "unchanged" in again.stdout
    sandbox.run("mcp", "config", "unset", "qdrant", "env.MODE", "--global")
    assert "qdrant" not in json.loads((reg / "config.json").read_text())["servers"]
    before = (reg / "config.json").read_bytes()
    bad = sandbox.run("mcp", "config", "unset", "qdrant", "env.X", "colour", "--global")
    assert bad.returncode == 1 and json.loads(bad.stderr)["error"]["code"] == "unknown_key"
    assert (reg / "config.json").read_bytes() == before


def test_get_prints_the_effective_value_and_where_it_came_from(sandbox, four_layers):
    reg = sandbox.registry
    proc = sandbox.run("mcp", "config", "get", "qdrant", "env.MODE")
    assert proc.returncode == 0 and proc.stdout == "registry\n"
    got = json.loads(sandbox.run("mcp", "config", "get", "qdrant", "env.MODE", "--json").stdout)
    assert got["value"] == "registry" and got["layer"] == "registry"
    assert got["file"] == str(reg / "installed" / "qdrant" / "manifest.json")
    assert [(s["layer"], s["value"]) for s in got["shadows"]] == [("global", "global")]
    assert sandbox.run("mcp", "config", "get", "qdrant", "args").stdout == '["--user"]\n'
    assert sandbox.run("mcp", "config", "get", "qdrant", "enabled", "--project", "demo").stdout == "false\n"
    secret = sandbox.run("mcp", "config", "get", "qdrant", "env.QDRANT_API_KEY")
    assert secret.stdout == config.MASK + "\n" and "SECRET" not in secret.stdout
    explained = sandbox.run("mcp", "config", "get", "qdrant", "settings.limit", "--explain").stdout
    assert explained.startswith("5\n") and f"from global: {reg / 'config.json'}" in explained
    missing = sandbox.run("mcp", "config", "get", "qdrant", "env.NOPE")
    assert missing.returncode == 4 and missing.stdout == ""
    assert json.loads(missing.stderr)["error"]["code"] == "no_such_key"


def test_a_shadowed_value_is_written_with_a_warning_naming_the_winner(sandbox, four_layers):
    reg = sandbox.registry
    proc = sandbox.run("mcp", "config", "set", "other", "args", '["--global"]', "--global", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((reg / "config.json").read_text())["servers"]["other"]["args"] == ["--global"]
    result = json.loads(proc.stdout)
    manifest_file = str(reg / "installed" / "other" / "manifest.json")
    assert result["shadowedBy"] == {"layer": "registry", "file": manifest_file, "key": "args"}
    assert "warning: args in the global layer is shadowed: the registry layer" in proc.stderr
    assert manifest_file in proc.stderr
    # The user layer sets env.QDRANT_API_KEY: the project's value is written, and the user layer named.
    sandbox.run("mcp", "config", "trust", str(four_layers))
    proc = sandbox.run("mcp", "config", "set", "qdrant", "env.QDRANT_API_KEY", "${KEY}", "--project", "demo")
    assert proc.returncode == 0 and "the user layer" in proc.stderr
    assert str(sandbox.config / "claudex" / "mcp.json") in proc.stderr
    # The highest layer that sets it is the one named (the user's args win over the manifest's).
    proc = sandbox.run("mcp", "config", "set", "qdrant", "args", '["--g"]', "--global")
    assert "the user layer" in proc.stderr and "registry layer" not in proc.stderr
    # Nothing above it: no warning.
    quiet = sandbox.run("mcp", "config", "set", "qdrant", "env.NEW", "x", "--global")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_set_into_an_untrusted_project_says_the_value_is_ignored_and_explain_lists_it(sandbox, four_layers):
    wild = sandbox.home / "claudex" / "wild"
    wild.mkdir()
    proc = sandbox.run("mcp", "config", "set", "qdrant", "env.MODE", "wild", "--project", "wild", "--json")
    assert proc.returncode == 0, proc.stderr
    layer_file = wild / ".claudex" / "mcp.json"
    assert json.loads(layer_file.read_text())["servers"]["qdrant"]["env"]["MODE"] == "wild"  # written all the same
    result = json.loads(proc.stdout)
    assert result["ignoredUntilTrusted"] is True and result["warnings"] == [proc.stderr.strip()[len("warning: "):]]
    assert proc.stderr.startswith(f"warning: the project {wild} is not trusted, so env.MODE is written to its "
                                  "layer but ignored") and f"claudex mcp config trust {wild}" in proc.stderr
    quiet = sandbox.run("mcp", "config", "set", "qdrant", "enabled", "false", "--project", "wild")
    assert quiet.returncode == 0 and quiet.stderr == ""  # enabling and disabling is what an untrusted layer may do
    doc = json.loads(sandbox.run("mcp", "config", "explain", "qdrant", "--project", "wild", "--json").stdout)
    assert {v["key"]: v["layer"] for v in doc["values"]}["env.MODE"] == "registry"
    assert doc["ignored"] == [{"key": "env.MODE", "value": "wild", "layer": "project", "file": str(layer_file),
                               "why": f"the project {wild} is not trusted: its layer may only enable and disable "
                                      f"servers until 'claudex mcp config trust {wild}'"}]
    text = sandbox.run("mcp", "config", "explain", "qdrant", "--project", "wild").stdout
    assert f"\nignored  (the project {wild} is not trusted" in text
    assert f'\nenv.MODE = "wild"\n    in project: {layer_file}' in text
    # Trusted (by name, like every other verb): the value applies and nothing is ignored.
    trusted = sandbox.run("mcp", "config", "trust", "--project", "wild", "--json")
    assert trusted.returncode == 0, trusted.stderr
    assert json.loads(trusted.stdout)["dir"] == str(wild) and json.loads(trusted.stdout)["trusted"] is True
    doc = json.loads(sandbox.run("mcp", "config", "explain", "qdrant", "--project", "wild", "--json").stdout)
    assert {v["key"]: v["layer"] for v in doc["values"]}["env.MODE"] == "project" and doc["ignored"] == []
    assert "ignored" not in sandbox.run("mcp", "config", "explain", "qdrant", "--project", "wild").stdout
    again = sandbox.run("mcp", "config", "set", "qdrant", "env.MODE", "tame", "--project", "wild")
    assert again.returncode == 0 and "not trusted" not in again.stderr


@pytest.mark.parametrize("verb", ["trust", "untrust"])
def test_trust_takes_project_and_project_dir_like_every_verb(sandbox, four_layers, verb):
    wild = sandbox.home / "claudex" / "wild"
    wild.mkdir()
    for where in (("--project", "wild"), ("--project-dir", str(wild))):
        proc = sandbox.run("mcp", "config", verb, *where, "--json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["trusted"] is (verb == "trust")
    both = sandbox.run("mcp", "config", verb, str(wild), "--project", "wild")
    assert both.returncode == 2 and json.loads(both.stderr)["error"]["code"] == "usage"
    missing = sandbox.run("mcp", "config", verb, "--project", "nosuch")
    assert missing.returncode == 4 and json.loads(missing.stderr)["error"]["code"] == "no_project"


def test_a_syntax_error_in_a_layer_names_file_line_and_column(sandbox, four_layers):
    user = sandbox.config / "claudex" / "mcp.json"
    user.write_text('{\n  "servers": {\n    "qdrant": {"enabled": true,}\n  }\n}\n')
    problems = config.layer_problems(sandbox.registry, None)
    assert [(p["layer"], p["file"]) for p in problems] == [("user", str(user))]
    assert f"{user}:3:32: invalid JSON" in problems[0]["message"]
    proc = sandbox.run("mcp", "config", "show", "qdrant")
    assert proc.returncode == 1 and f"{user}:3:32" in json.loads(proc.stderr)["error"]["message"]
    set_proc = sandbox.run("mcp", "config", "set", "qdrant", "env.X", "y")
    assert set_proc.returncode == 1 and user.read_text().endswith("true,}\n  }\n}\n")  # never overwritten


def test_show_without_json_is_a_readable_tree(sandbox, four_layers):
    out = sandbox.run("mcp", "config", "show", "qdrant").stdout
    assert out.startswith("qdrant is enabled\n")
    assert "  config:\n    args:\n      - \"--user\"\n    env:\n" in out
    assert '      MODE: "registry"\n' in out and "      QDRANT_API_KEY: \"********\"" in out
    assert "    settings:\n      limit: 5\n" in out
    assert "{" not in out
    shown = sandbox.run("mcp", "config", "show", "qdrant", "--json").stdout
    assert shown == json.dumps(json.loads(shown), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_a_broken_layer_is_named_once_atop_status_and_by_run(sandbox, four_layers):
    import subprocess
    import sys

    from conftest import ROOT

    add_server(sandbox.registry, "echoenv", doc=manifest("echoenv", command=sys.executable,
                                                        args=["${SERVER_DIR}/server.py"], env={"MODE": "registry"}),
               files={"server.py": "import os; print(os.environ.get('MODE'))\n"})
    user = sandbox.config / "claudex" / "mcp.json"
    user.write_text('{"servers": {"echoenv": {"env": {"MODE": "user"}}}\n')  # one brace short
    proc = sandbox.run("mcp", "status", "--timeout", "5")
    first = proc.stderr.splitlines()[0]
    assert first.startswith("warning: the user config layer is broken: ") and f"{user}:2:1" in first
    assert "no server starts until it is fixed" in first
    assert proc.stderr.count("config layer is broken") == 1 and "echoenv" in proc.stdout
    assert proc.returncode == 1  # the rows: the launcher refused to start them
    as_json = sandbox.run("mcp", "status", "--timeout", "5", "--json")
    assert as_json.stderr.count("config layer is broken") == 1
    rows = {r["name"]: r for r in json.loads(as_json.stdout)}
    assert rows["echoenv"]["state"] == "unhealthy" and rows["echoenv"]["cause"] == "config_broken"
    assert str(user) in rows["echoenv"]["error"]  # as the launcher would refuse it
    # run starts nothing with half its config, and says where the file is broken.
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "claudex"), "mcp", "run", "echoenv"],
                         input="", capture_output=True, text=True, env=sandbox.env, timeout=30)
    assert run.returncode == 1 and run.stdout == ""
    assert f"{user}:2:1: invalid JSON" in run.stderr and "Traceback" not in run.stderr


def test_jq_prints_values_in_the_json_format_and_strings_raw(sandbox, four_layers):
    out = sandbox.run("mcp", "config", "show", "qdrant", "--jq", ".config.settings, .server").stdout
    assert out == '{\n  "limit": 5\n}\nqdrant\n'

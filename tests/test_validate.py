"""validate: every problem at once, server folders as a whole, and bad input handled."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import ROOT, run_script
from claudex_mcp.schemas import validation

GOLDEN = ROOT / "tests" / "golden" / "validate"
MANIFEST = {
    "apiVersion": "v1",
    "metadata": {"name": "demo", "version": "1.2.3", "description": "A demo server"},
    "server": {"command": "python3", "args": ["${SERVER_DIR}/server.py"], "capabilities": ["tools"]},
}


def write_json(path: Path, doc) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def make_server(folder: Path, manifest: dict | None = None, files=("server.py",)) -> Path:
    folder.mkdir(parents=True)
    write_json(folder / "manifest.json", manifest or MANIFEST)
    for name in files:
        (folder / name).write_text("print('hi')\n")
    return folder


def rules(problems) -> set[tuple[str, str]]:
    return {(p["pointer"], p["rule"]) for p in problems}


@pytest.mark.parametrize("case", sorted(p.stem for p in GOLDEN.glob("*.json") if not p.stem.endswith(".expected")))
def test_golden(case):
    proc = run_script("validate-schema", "--json", f"tests/golden/validate/{case}.json", cwd=ROOT)
    expected = (GOLDEN / f"{case}.expected.json").read_text()
    assert proc.stdout == expected
    assert proc.returncode == (1 if json.loads(expected) else 0)


def test_five_mistakes_are_all_reported_with_pointers(sandbox):
    proc = sandbox.run("mcp", "validate", "--json", str(GOLDEN / "five-mistakes.json"))
    assert proc.returncode == 1
    assert {(p["pointer"], p["rule"]) for p in json.loads(proc.stdout)} == {
        ("/apiVersion", "const"), ("/metadata/name", "pattern"), ("/metadata/version", "pattern"),
        ("/server", "additionalProperties"), ("/server/env", "propertyNames")}
    human = sandbox.run("mcp", "validate", str(GOLDEN / "five-mistakes.json"))
    assert human.returncode == 1
    assert "5 problems" in human.stdout
    assert "did you mean \"command\"?" in human.stdout
    for pointer in ("/apiVersion", "/metadata/name", "/metadata/version", "/server", "/server/env"):
        assert f" {pointer}: " in human.stdout


def test_valid_server_folder(tmp_path):
    folder = make_server(tmp_path / "demo")
    assert validation.validate_source(str(folder)) == ("manifest", [])


def test_folder_reports_missing_files_escapes_symlinks_and_world_writable(tmp_path):
    manifest = dict(MANIFEST, server={"command": "./bin/run", "args": [
        "${SERVER_DIR}/server.py", "${SERVER_DIR}/missing.py", "${SERVER_DIR}/../outside.py",
        "${SERVER_DIR}/.venv/lib/created-at-install.py", "--flag"]})
    folder = make_server(tmp_path / "demo", manifest, files=("server.py",))
    (tmp_path / "secret").write_text("x")
    os.symlink(tmp_path / "secret", folder / "link-out")
    os.symlink("server.py", folder / "link-in")
    (folder / "open.txt").write_text("x")
    os.chmod(folder / "open.txt", 0o666)
    os.mkfifo(folder / "pipe")
    kind, problems = validation.validate_source(str(folder))
    found = {(p["pointer"], p["rule"], Path(p["file"]).name) for p in problems}
    assert found == {
        ("/server/command", "file-exists", "manifest.json"),
        ("/server/args/1", "file-exists", "manifest.json"),
        ("/server/args/2", "path-escape", "manifest.json"),
        ("", "symlink-escape", "link-out"),
        ("", "world-writable", "open.txt"),
        ("", "special-file", "pipe"),
    }


def test_command_symlink_leaving_the_folder_is_an_escape(tmp_path):
    folder = make_server(tmp_path / "demo", dict(MANIFEST, server={"command": "${SERVER_DIR}/run"}), files=())
    os.symlink("/bin/sh", folder / "run")
    problems = validation.validate_folder(folder)
    assert ("/server/command", "path-escape") in rules(problems)


def test_generated_folders_are_not_walked(tmp_path):
    folder = make_server(tmp_path / "demo")
    (folder / ".venv" / "bin").mkdir(parents=True)
    os.symlink("/usr/bin/python3", folder / ".venv" / "bin" / "python")
    assert validation.validate_folder(folder) == []


def test_folder_with_a_broken_manifest_still_checks_the_tree(tmp_path):
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "manifest.json").write_text("{ nope")
    (folder / "x").write_text("x")
    os.chmod(folder / "x", 0o646)
    assert {p["rule"] for p in validation.validate_folder(folder)} == {"invalid_json", "world-writable"}


@pytest.mark.parametrize("name,content,rule", [
    ("empty.json", b"", "empty"),
    ("blank.json", b"  \n\t\n", "empty"),
    ("latin1.json", b'{"a": "caf\xe9"}', "not_utf8"),
    ("broken.json", b'{\n  "apiVersion": "v1"\n  "metadata": {}\n}', "invalid_json"),
    ("manifest.json", b"[1, 2]", "type"),
    ("dupes.json", b'{"servers": {}, "servers": {}}', "duplicate_key"),
])
def test_bad_input_gets_one_clear_problem(sandbox, tmp_path, name, content, rule):
    path = tmp_path / name
    path.write_bytes(content)
    proc = sandbox.run("mcp", "validate", "--json", str(path))
    assert proc.returncode == 1, proc.stderr
    problems = json.loads(proc.stdout)
    assert [p["rule"] for p in problems] == [rule]
    assert problems[0]["hint"]
    assert "Traceback" not in proc.stderr


def test_malformed_json_names_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "apiVersion": "v1"\n  "metadata": {}\n}')
    _, problems = validation.validate_source(str(path))
    assert f"{path}:3:3:" in problems[0]["message"]


def test_a_50_mb_file_is_refused_without_reading_it(sandbox, tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    proc = sandbox.run("mcp", "validate", "--json", str(path))
    assert proc.returncode == 1
    [problem] = json.loads(proc.stdout)
    assert problem["rule"] == "too_large" and "50.0 MiB" in problem["message"]


def test_a_50_mb_stream_on_stdin_is_refused(sandbox):
    proc = sandbox.run("mcp", "validate", "--json", "-", input=b" " * (50 * 1024 * 1024))
    assert proc.returncode == 1
    assert json.loads(proc.stdout)[0]["rule"] == "too_large"


def test_stdin(sandbox):
    ok = sandbox.run("mcp", "validate", "-", input=json.dumps(MANIFEST))
    assert (ok.returncode, ok.stdout.split()[:2]) == (0, ["ok", "<stdin>:"])
    bad = sandbox.run("mcp", "validate", "--json", "--schema", "config", "-", input='{"servers": 1}')
    assert bad.returncode == 1
    assert json.loads(bad.stdout)[0]["pointer"] == "/servers"


def test_missing_path_is_not_found_and_prints_nothing(sandbox, tmp_path):
    ok = write_json(tmp_path / "manifest.json", MANIFEST)
    proc = sandbox.run("mcp", "validate", str(ok), str(tmp_path / "nope.json"))
    assert proc.returncode == 4
    assert proc.stdout == ""
    error = json.loads(proc.stderr)["error"]
    assert error["code"] == "not_found" and error["path"].endswith("nope.json")


def test_directory_without_manifest(sandbox, tmp_path):
    (tmp_path / "empty").mkdir()
    proc = sandbox.run("mcp", "validate", str(tmp_path / "empty"))
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert json.loads(proc.stderr)["error"]["code"] == "not_a_server_folder"


def test_directory_where_a_registry_file_is_expected(sandbox, tmp_path):
    proc = sandbox.run("mcp", "validate", "--schema", "registry", str(tmp_path))
    assert proc.returncode == 1
    assert json.loads(proc.stderr)["error"]["code"] == "is_directory"


@pytest.mark.parametrize("name,doc,kind", [
    ("manifest.json", {}, "manifest"),
    ("registry.json", {}, "registry"),
    ("x.json", {"metadata": {}}, "manifest"),
    ("x.json", {"servers": {"a": {"location": "core"}}}, "registry"),
    ("x.json", {"servers": {"a": {"enabled": True}}}, "config"),
    ("x.json", {"servers": {}}, "config"),
    ("x.json", {"$schema": "https://claudex.dev/schemas/registry-v1.schema.json"}, "registry"),
])
def test_kind_detection(name, doc, kind):
    assert validation.detect_kind(doc, name) == kind


def test_undetectable_kind_is_a_usage_error(sandbox, tmp_path):
    path = write_json(tmp_path / "x.json", {"hello": 1})
    proc = sandbox.run("mcp", "validate", str(path))
    assert proc.returncode == 2
    assert "--schema" in json.loads(proc.stderr)["error"]["hint"]
    forced = sandbox.run("mcp", "validate", "--json", "--schema", "config", str(path))
    assert forced.returncode == 1
    assert json.loads(forced.stdout)[0]["rule"] == "additionalProperties"


def test_variable_references_and_env_overlap_are_checked():
    doc = dict(MANIFEST, server={
        "command": "python3", "args": ["${1BAD}", "${OK:-x}", "${SERVER_DIR}/server.py"],
        "env": {"A": "${UNCLOSED"}, "requiredEnv": ["TOKEN"], "optionalEnv": [{"name": "TOKEN"}]})
    problems = validation.validate_document(doc, "manifest", "m.json")
    assert rules(problems) == {("/server/args/0", "variable-syntax"), ("/server/env/A", "variable-syntax"),
                               ("/server/optionalEnv", "env-overlap")}


def test_trailing_newline_in_a_name_is_rejected():
    doc = dict(MANIFEST, metadata=dict(MANIFEST["metadata"], name="demo\n"))
    assert ("/metadata/name", "pattern") in rules(validation.validate_document(doc, "manifest", "m.json"))


def test_human_output_on_valid_files_and_schema_choice_errors(sandbox, tmp_path):
    path = write_json(tmp_path / "manifest.json", MANIFEST)
    proc = sandbox.run("mcp", "validate", str(path))
    assert proc.returncode == 0 and proc.stdout == f"ok  {path}: valid manifest\n"
    usage = sandbox.run("mcp", "validate", "--schema", "bogus", str(path))
    assert usage.returncode == 2 and usage.stdout == ""
    assert json.loads(usage.stderr)["error"]["code"] == "usage"


def test_validate_schema_script_matches_the_verb(sandbox):
    path = str(GOLDEN / "config-typo.json")
    script = run_script("validate-schema", path, env=sandbox.env)
    verb = sandbox.run("mcp", "validate", path)
    assert (script.returncode, script.stdout) == (verb.returncode, verb.stdout) == (1, verb.stdout)


def test_a_registry_folder_is_validated_whole(sandbox, tmp_path):
    from claudex_mcp.store import registry as registry_mod

    reg = tmp_path / "registry"
    registry_mod.init(reg)
    make_server(reg / "core" / "demo")
    make_server(reg / "installed" / "other", dict(MANIFEST, metadata=dict(MANIFEST["metadata"], name="other")))
    (reg / ".staging").mkdir(exist_ok=True)
    unrecorded = sandbox.run("mcp", "validate", "--json", str(reg))  # folders made by hand: registry.json lags
    assert unrecorded.returncode == 1
    assert {p["rule"] for p in json.loads(unrecorded.stdout)} == {"out-of-sync"}
    from claudex_mcp.store import mutation

    mutation.reconcile(reg)
    ok = sandbox.run("mcp", "validate", str(reg))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout == f"ok  {reg}: valid registry folder\n"
    broken = dict(MANIFEST, server={"comand": "python3"})
    make_server(reg / "disabled" / "bad", broken)
    (reg / "installed" / "stray.txt").write_text("x")
    (reg / "installed" / "empty").mkdir()
    write_json(reg / "config.json", {"servers": {"demo": {"enabled": "yes"}}})
    proc = sandbox.run("mcp", "validate", "--json", str(reg))
    assert proc.returncode == 1
    found = {(p["file"], p["pointer"], p["rule"]) for p in json.loads(proc.stdout)}
    assert (str(reg / "disabled" / "bad" / "manifest.json"), "/server", "additionalProperties") in found
    assert (str(reg / "installed" / "stray.txt"), "", "not_a_server_folder") in found
    assert (str(reg / "installed" / "empty"), "", "not_a_server_folder") in found
    assert (str(reg / "config.json"), "/servers/demo/enabled", "type") in found
    assert not any("demo/manifest.json" in f or "other" in f for f, _, _ in found)
    human = sandbox.run("mcp", "validate", "--schema", "registry", str(reg))
    assert human.returncode == 1 and f"invalid  {reg}: " in human.stdout
    write_json(reg / "registry.json", {"apiVersion": "v1", "servers": {"Bad": {}}})
    again = json.loads(sandbox.run("mcp", "validate", "--json", str(reg)).stdout)
    assert any(p["file"] == str(reg / "registry.json") for p in again)

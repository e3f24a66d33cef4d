"""Every verb is reachable the same way everywhere: help, docs section, invoke task, make target."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess

import pytest

import cli_reference
from conftest import ROOT
from claudex_mcp.cli.dispatch import verbs

VERBS = sorted(verbs())


def test_cli_reference_is_generated_from_help():
    assert (ROOT / "docs" / "cli.md").read_text() == cli_reference.render(), "run `make docs`"


@pytest.mark.parametrize("verb", VERBS)
def test_verb_has_a_docs_section(verb):
    assert re.search(rf"^## {re.escape(verb)}$", (ROOT / "docs" / "cli.md").read_text(), re.M)


@pytest.mark.parametrize("verb", VERBS)
def test_verb_has_an_invoke_task(verb):
    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tasks)
    task = tasks.mcp.tasks.get(verb)
    assert task is not None, f"tasks.py has no mcp.{verb}"
    assert task.__doc__ and f"claudex mcp {verb}" in task.__doc__


@pytest.mark.parametrize("verb", VERBS)
def test_verb_has_a_make_target(verb):
    proc = subprocess.run(["make", "-n", f"mcp-{verb}", "ARGS=--help"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"mcp.{verb} --args" in proc.stdout


def test_make_target_runs_the_verb(sandbox):
    proc = subprocess.run(["make", "--no-print-directory", "mcp-validate", "ARGS=--json -"], cwd=ROOT,
                          input='{"servers": {}}', capture_output=True, text=True, env=sandbox.env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("[]")


def test_readme_opens_with_the_two_commands():
    head = (ROOT / "README.md").read_text().splitlines()[:15]
    assert any("make run" in line for line in head) and any("make test" in line for line in head)


def test_readme_documents_every_environment_variable():
    readme = (ROOT / "README.md").read_text()
    source = "".join(p.read_text() for p in (ROOT / "scripts" / "claudex_mcp").rglob("*.py"))
    for name in sorted(set(re.findall(r'"((?:CLAUDEX|XDG)_[A-Z_]+)"', source))):
        assert f"`{name}`" in readme, f"README does not document {name}"


def test_every_pipe_script_is_installed_and_documented():
    import tomllib

    from claudex_mcp.cli.pipes import PIPES

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert {k: v for k, v in declared.items() if k != "claudex"} == {
        name: "claudex_mcp.cli.pipes:main" for name in PIPES}
    reference = (ROOT / "docs" / "cli.md").read_text()
    for name in PIPES:
        assert re.search(rf"^## {re.escape(name)}$", reference, re.M), name
        assert (ROOT / "scripts" / name).is_file(), name


def test_mcp_api_reference_is_generated_from_the_servers():
    import api_reference

    assert (ROOT / "docs" / "mcp-api-reference.md").read_text() == api_reference.render(), "run `make docs`"


def test_mcp_api_reference_covers_every_shipped_server():
    import api_reference

    shipped = {str(p.parent.relative_to(ROOT / "mcp-servers"))
               for pattern in ("*/manifest.json", "core/*/manifest.json") for p in (ROOT / "mcp-servers").glob(pattern)}
    assert set(api_reference.SERVERS) == shipped


def _failure_codes() -> set[str]:
    """Every state and cause that `status` and `test` can report, read from the code that makes them:
    the probes (runtime/sdk_probe.py, runtime/quick_probe.py), the checks (runtime/checks.py) and the
    launcher they start servers through."""
    core = ROOT / "scripts" / "claudex_mcp" / "runtime"
    codes: set[str] = set()
    for name in ("sdk_probe.py", "quick_probe.py", "checks.py", "launcher.py"):
        text = (core / name).read_text()
        codes |= set(re.findall(r'\bcode="([a-z_]+)"', text))
        codes |= set(re.findall(r'\bcause="([a-z_]+)"', text))
        codes |= set(re.findall(r'\bstate="([a-z ]+)"', text)) | set(re.findall(r'"state": "([a-z ]+)"', text))
        for line in re.findall(r"\bstate = (.+)", text):  # state = "missing env" if exc.code == ... else "unhealthy"
            codes |= {value for compared, value in re.findall(r'(== )?"([^"]*)"', line) if not compared}
    return codes


def test_troubleshooting_has_a_section_for_every_failure():
    codes = _failure_codes()
    assert {"timeout", "not_mcp", "crashed", "missing_env", "self_check", "unhealthy", "missing env"} <= codes
    page = (ROOT / "docs" / "mcp-troubleshooting.md").read_text()
    sections = set(re.findall(r"^###+ `([^`]+)`", page, re.M))
    assert not codes - sections, f"docs/mcp-troubleshooting.md has no section for {sorted(codes - sections)}"


def test_no_tracked_file_names_a_path_of_this_machine():
    """Docs, comments and tests name paths relative to the repository or the server, never the
    checkout's or a test run's absolute path (examples like /home/me/... are fine)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    # Split so that this file does not name them itself.
    machine = [str(ROOT) + "/", "/wo" "rk/", "/tmp/" "pytest-of-"]
    found = []
    for rel in filter(None, listed.decode().split("\0")):
        path = ROOT / rel
        if not path.is_file() or path.is_symlink():
            continue
        text = path.read_bytes()
        found += [f"{rel}: {m}" for m in machine if m.encode() in text]
    assert not found, found


def _api_reference_schemas() -> dict[tuple[str, str], dict]:
    """(server, tool) -> the tool's input schema, read back from docs/mcp-api-reference.md."""
    schemas = {}
    for server_part in (ROOT / "docs" / "mcp-api-reference.md").read_text().split("\n## ")[1:]:
        server = server_part.split("\n", 1)[0].strip()
        for tool_part in server_part.split("\n### ")[1:]:
            tool = tool_part.split("\n", 1)[0].strip()
            block = tool_part.split("```json\n", 1)[1].split("\n```", 1)[0]
            schemas[(server, tool)] = json.loads(block)["inputSchema"]
    return schemas


def test_readme_calls_each_shipped_server_with_valid_arguments():
    from jsonschema import Draft202012Validator

    import api_reference

    section = (ROOT / "README.md").read_text().split("### The shipped servers, by example", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ([a-z-]+)(?: \(core\))? \| `([a-z_]+)` \| `(\{.*\})` \| .+ \|$", section, re.M)
    schemas = _api_reference_schemas()
    listed = {listing.split("/")[-1] for listing in api_reference.SERVERS}
    assert {server for server, _, _ in rows} == listed, "one example at least for every shipped server"
    for server, tool, arguments in rows:
        assert (server, tool) in schemas, f"{server} has no tool {tool}"
        schema, given = schemas[(server, tool)], json.loads(arguments)
        problems = [e.message for e in Draft202012Validator(schema).iter_errors(given)]
        problems += [f"no argument {key!r}" for key in given if key not in schema.get("properties", {})]
        assert not problems, f"{tool} {arguments}: {problems}"


def test_links_of_the_mcp_docs_point_at_files_that_exist():
    pages = sorted((ROOT / "docs").glob("mcp-*.md")) + sorted((ROOT / "docs" / "mcp-examples").glob("*/README.md"))
    pages.append(ROOT / "README.md")
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken

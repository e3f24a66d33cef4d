"""The catalog: an MCP Registry synced into a local copy, searched offline, and its servers
installed pinned (npm, PyPI, OCI, MCPB, remote) with their inputs asked for or given, secrets
kept in the user layer only, provenance recorded and verified. Every test runs the real
`claudex` against a registry on 127.0.0.1 (tests/catalog_registry.py) that serves real
server.json documents; the npm and PyPI packages really install."""

from __future__ import annotations

import hashlib
import io
import json
import os
import select
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from catalog_registry import Registry, item
from conftest import ECHO_SERVER, FIXTURES, ROOT, http_mcp_server

EXAMPLES = FIXTURES / "catalog" / "examples"
# Package caches in the project's ignored .tools/, as test_create does: each download happens once.
CACHES = {"npm_config_cache": str(ROOT / ".tools" / "npm-cache"), "npm_config_update_notifier": "false",
          "npm_config_fund": "false", "npm_config_audit": "false", "UV_CACHE_DIR": str(ROOT / ".tools" / "uv-cache")}
EVERYTHING = {"name": "io.github.modelcontextprotocol/everything", "title": "Everything",
              "description": "MCP server that exercises all the features of the MCP protocol",
              "version": "2026.8.18",
              "packages": [{"registryType": "npm", "identifier": "@modelcontextprotocol/server-everything",
                            "version": "2026.8.18", "transport": {"type": "stdio"}}]}
TIME = {"name": "io.github.modelcontextprotocol/time", "title": "Time",
        "description": "Time and timezone conversion capabilities", "version": "2026.10.19",
        "packages": [{"registryType": "pypi", "identifier": "mcp-server-time", "version": "2026.10.19",
                      "transport": {"type": "stdio"}, "runtimeHint": "uvx",
                      "runtimeArguments": [{"type": "named", "name": "--with", "valueHint": "extra", "isRequired": True}],
                      "packageArguments": [{"type": "named", "name": "--local-timezone", "default": "UTC"}],
                      "environmentVariables": [{"name": "TIME_API_KEY", "isSecret": True, "isRequired": True,
                                                "description": "the key"}]}]}
WEATHER = {"name": "com.example/weather", "description": "Weather forecasts for any city on earth",
           "version": "1.0.0", "packages": [{"registryType": "nuget", "identifier": "Example.Weather",
                                             "version": "1.0.0", "transport": {"type": "stdio"}}]}
SECRET = "sk-live-Zq8Xr4Lm2Nv7Bt5Kp"


@pytest.fixture
def catalog(sandbox):
    """A running registry with the everything, time and weather servers, and a claudex registry
    that points at it; stopped after the test, whatever happens."""
    registry = Registry().start()
    registry.items = [item(EVERYTHING), item(TIME), item(WEATHER)]
    sandbox.env.update(CACHES, CLAUDEX_MCP_CATALOG_URL=registry.url)
    assert sandbox.run("mcp", "init").returncode == 0
    try:
        yield registry
    finally:
        registry.stop()


def run(sandbox, *argv, **kwargs):
    kwargs.setdefault("input", "")  # stdin is never a terminal here
    return sandbox.run("mcp", *argv, timeout=kwargs.pop("timeout", 600), **kwargs)


def error_of(proc) -> dict:
    return json.loads(proc.stderr.strip().splitlines()[-1])["error"]


def files_holding(root: Path, text: str) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.is_file() and not p.is_symlink()
                  and text.encode() in p.read_bytes())


# ---- the registry's own example documents ------------------------------------------------

@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*/*.json")), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_registrys_examples_are_classified_as_their_folder_says(sandbox, catalog, path):
    proc = run(sandbox, "install", "--from-file", str(path))
    error = error_of(proc)
    assert proc.returncode != 0  # none of them installs here: a missing key, nothing to run, or invalid
    if path.parent.name == "invalid":
        assert (proc.returncode, error["code"]) == (1, "invalid_server_json"), error
        assert "nothing was fetched" in error["hint"]
    else:
        assert error["code"] in ("missing_env", "unsupported_package"), error
    assert not any((sandbox.registry / "installed").iterdir())


def test_validation_says_why(sandbox, catalog, tmp_path):
    latest = error_of(run(sandbox, "install", "--from-file", str(EXAMPLES / "invalid" / "package-version-latest.json")))
    assert "/packages/0/version: 'latest' is not a version" in latest["message"]
    name = error_of(run(sandbox, "install", "--from-file", str(EXAMPLES / "invalid" / "bad-name-pattern.json")))
    assert name["message"].endswith("/name: 'no-namespace-separator' does not match '^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$'")
    value = error_of(run(sandbox, "install", "--from-file", str(EXAMPLES / "invalid" / "positional-argument-missing-value.json")))
    assert "/packages/0/packageArguments/0" in value["message"]
    ranged = tmp_path / "range.json"
    ranged.write_text(json.dumps(dict(EVERYTHING, packages=[dict(EVERYTHING["packages"][0], version="^2026.8.0")])))
    assert "'^2026.8.0' is a range, not one version" in error_of(run(sandbox, "install", "--from-file", str(ranged)))["message"]


# ---- sync and search -----------------------------------------------------------------------

def test_sync_follows_pages_then_reads_only_what_changed_and_drops_what_is_gone(sandbox, catalog):
    catalog.items.append({"server": {"description": "no name"}, "_meta": {}})  # not a server document: skipped
    first = json.loads(run(sandbox, "catalog", "sync", "--json").stdout)[0]
    assert (first["servers"], first["pages"], first["added"], first["skipped"], first["incremental"]) == (3, 2, 3, 1, False)
    assert all("updated_since" not in r for r in catalog.requests)
    catalog.requests.clear()
    catalog.items[2] = item(WEATHER, status="deleted", updated="2026-02-01T00:00:00Z")
    catalog.items.append(item(dict(EVERYTHING, version="2026.8.31", packages=[
        dict(EVERYTHING["packages"][0], version="2026.8.31")]), updated="2026-02-01T00:00:00Z"))
    catalog.items[0] = item(EVERYTHING, latest=False, updated="2026-02-01T00:00:00Z")
    second = json.loads(run(sandbox, "catalog", "sync", "--json").stdout)[0]
    assert all("updated_since=2026-01-01T00%3A00%3A00Z" in r for r in catalog.requests), catalog.requests
    assert (second["incremental"], second["dropped"], second["servers"]) == (True, 1, 2)
    shown = json.loads(run(sandbox, "catalog", "show", EVERYTHING["name"], "--versions", "--json").stdout)
    assert [(v["version"], v["latest"]) for v in shown] == [("2026.8.18", False), ("2026.8.31", True)]
    gone = run(sandbox, "catalog", "show", WEATHER["name"])
    assert gone.returncode == 4 and error_of(gone)["code"] == "not_in_catalog"
    listed = json.loads(run(sandbox, "catalog", "list", "--json").stdout)
    assert listed[0]["servers"] == 2 and listed[0]["catalog"] == catalog.url
    copy = Path(listed[0]["file"])
    assert oct(copy.stat().st_mode & 0o777) == "0o600" and oct(copy.parent.stat().st_mode & 0o777) == "0o700"


def test_search_ranks_from_the_copy_and_answers_with_the_registry_stopped(sandbox, catalog):
    found = json.loads(run(sandbox, "search", "time", "zone", "--json").stdout)
    assert [r["name"] for r in found] == [TIME["name"]]
    assert found[0]["packages"] == ["pypi"] and found[0]["install"] == f"claudex mcp install registry:{TIME['name']}"
    shown = run(sandbox, "catalog", "show", TIME["name"]).stdout.splitlines()
    assert shown[0] == f"{TIME['name']} 2026.10.19 (latest) from {catalog.url}"
    assert "  package: pypi mcp-server-time 2026.10.19" in shown and "  input LOCAL_TIMEZONE" in shown
    assert "  input TIME_API_KEY (required, secret): the key" in shown
    assert shown[-1] == f"  install: claudex mcp install registry:{TIME['name']}"
    protocol = json.loads(run(sandbox, "search", "protocol", "--json").stdout)
    assert [r["name"] for r in protocol] == [EVERYTHING["name"]]  # a description hit
    assert json.loads(run(sandbox, "search", "nothing-like-this", "--json").stdout) == []
    catalog.failing = 503
    failing = run(sandbox, "search", "weather", "--json", env={"CLAUDEX_MCP_CATALOG_MAX_AGE": "0"})
    assert failing.returncode == 0 and failing.stderr.count("answered HTTP 503") == 1, failing.stderr
    catalog.stop()
    stale = run(sandbox, "search", "weather", "--json", env={"CLAUDEX_MCP_CATALOG_MAX_AGE": "0"})
    assert stale.returncode == 0, stale.stderr
    assert [r["name"] for r in json.loads(stale.stdout)] == [WEATHER["name"]]
    assert stale.stderr.count("cannot be reached") == 1 and "answering from the copy synced" in stale.stderr
    offline = run(sandbox, "search", "everything", "--offline")
    assert offline.returncode == 0 and offline.stdout.startswith(EVERYTHING["name"]) and offline.stderr == ""


def test_search_without_a_copy_or_a_registry_fails_with_the_reason(sandbox, catalog):
    catalog.stop()
    proc = run(sandbox, "search", "time")
    assert proc.returncode == 5 and error_of(proc)["code"] == "catalog_unreachable"


def test_several_catalogs_from_the_user_layer_the_first_that_has_a_name_wins(sandbox, catalog):
    company = Registry().start()
    try:
        company.items = [item(dict(WEATHER, description="The company's own weather server",
                                   remotes=[{"type": "streamable-http", "url": "https://weather.example.com/mcp"}]))]
        layer = sandbox.config / "claudex" / "mcp.json"
        layer.parent.mkdir(parents=True)
        layer.write_text(json.dumps({"apiVersion": "v1", "catalog": {"url": [company.url, catalog.url]}}))
        layer.chmod(0o600)
        env = {"CLAUDEX_MCP_CATALOG_URL": ""}
        found = json.loads(run(sandbox, "search", "weather", "time", "--json", env=env).stdout)
        assert {r["name"]: r["catalog"] for r in found} == {WEATHER["name"]: company.url, TIME["name"]: catalog.url}
        installed = run(sandbox, "install", f"registry:{WEATHER['name']}", "--json", env=env)
        assert installed.returncode == 0, installed.stderr
        assert json.loads(installed.stdout)["source"]["catalog"] == company.url
    finally:
        company.stop()


# ---- install: npm, PyPI, remote, OCI, MCPB -----------------------------------------------

def test_npm_installs_the_exact_version_into_the_folder_then_answers_and_upgrades(sandbox, catalog):
    proc = run(sandbox, "install", f"registry:{EVERYTHING['name']}", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["name"], result["version"]) == ("everything", "2026.8.18")
    folder = sandbox.registry / "installed" / "everything"
    assert json.loads((folder / "manifest.json").read_text())["server"] == {
        "command": "${SERVER_DIR}/node_modules/.bin/mcp-server-everything"}
    installed = json.loads((folder / "node_modules" / "@modelcontextprotocol" / "server-everything" / "package.json").read_text())
    assert installed["version"] == "2026.8.18"
    package = result["source"]["package"]
    assert package["integrity"].startswith("sha512-") and package["version"] == "2026.8.18"
    tested = run(sandbox, "test", "everything", "--json", timeout=120)
    assert json.loads(tested.stdout)["state"] == "healthy", tested.stdout + tested.stderr
    called = run(sandbox, "call", "everything", "echo", "--args", '{"message": "hello catalog"}', timeout=120)
    assert called.returncode == 0 and "hello catalog" in called.stdout, called.stderr
    info = run(sandbox, "info", "everything", "--json", timeout=120)
    assert json.loads(info.stdout)["source"]["name"] == EVERYTHING["name"]
    text = run(sandbox, "info", "everything", timeout=120).stdout
    assert (f"source: {EVERYTHING['name']} 2026.8.18 (npm @modelcontextprotocol/server-everything 2026.8.18) "
            f"from {catalog.url}") in text
    unchanged = json.loads(run(sandbox, "upgrade", "everything", "--json").stdout)
    assert unchanged["state"] == "unchanged"
    catalog.items[0] = item(EVERYTHING, latest=False)
    catalog.items.append(item(dict(EVERYTHING, version="2026.8.31", packages=[
        dict(EVERYTHING["packages"][0], version="2026.8.31")])))
    assert json.loads(run(sandbox, "upgrade", "--check", "--json").stdout)[0]["state"] == "available"
    upgraded = run(sandbox, "upgrade", "everything", "--json")
    assert upgraded.returncode == 0, upgraded.stderr
    assert json.loads(upgraded.stdout)["to"] == "2026.8.31"
    assert json.loads((folder / "node_modules" / "@modelcontextprotocol" / "server-everything" / "package.json")
                      .read_text())["version"] == "2026.8.31"
    assert json.loads(run(sandbox, "verify", "everything", "--json").stdout)[0]["state"] == "ok"
    catalog.items[-1] = item(dict(EVERYTHING, version="2026.8.31", packages=[
        dict(EVERYTHING["packages"][0], version="2026.8.31")]), latest=False)
    catalog.items.append(item(dict(EVERYTHING, version="2099.1.1", packages=[  # not on npm: its install fails
        dict(EVERYTHING["packages"][0], version="2099.1.1")])))
    failed = run(sandbox, "upgrade", "everything")
    assert (failed.returncode, error_of(failed)["code"]) == (5, "dependencies_failed")
    assert json.loads((folder / "node_modules" / "@modelcontextprotocol" / "server-everything" / "package.json")
                      .read_text())["version"] == "2026.8.31"
    assert json.loads(run(sandbox, "verify", "everything", "--json").stdout)[0]["state"] == "ok"


def test_pypi_installs_a_uv_venv_with_the_pinned_package_and_keeps_the_secret_in_the_user_layer(sandbox, catalog):
    proc = run(sandbox, "install", f"registry:{TIME['name']}", "--env", f"TIME_API_KEY={SECRET}", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["secrets"] == {"userLayer": ["TIME_API_KEY"], "export": []}
    assert json.loads(proc.stdout)["warnings"] == ["the runtime arguments for uvx (--with) are not used: claudex "
                                                   "installs the package and starts its command itself"]
    folder = sandbox.registry / "installed" / "time"
    server = json.loads((folder / "manifest.json").read_text())["server"]
    assert server["command"] == "${SERVER_DIR}/.venv/bin/mcp-server-time"
    assert server["args"] == ["--local-timezone", "UTC"] and server["env"] == {"TIME_API_KEY": "${TIME_API_KEY}"}
    assert (folder / "requirements.txt").read_text() == "mcp-server-time==2026.10.19\n"
    assert list(folder.glob(".venv/lib/python*/site-packages/mcp_server_time-2026.10.19.dist-info"))
    called = run(sandbox, "call", "time", "get_current_time", "--args", '{"timezone": "Europe/Paris"}', timeout=120)
    assert called.returncode == 0 and "Europe/Paris" in called.stdout, called.stderr
    user_layer = sandbox.config / "claudex" / "mcp.json"
    assert json.loads(user_layer.read_text())["servers"]["time"]["env"] == {"TIME_API_KEY": SECRET}
    assert oct(user_layer.stat().st_mode & 0o777) == "0o600"
    holding = [f for base in (sandbox.root,) for f in files_holding(base, SECRET)]
    assert holding == [str(user_layer)]


def test_a_missing_required_input_without_a_terminal_installs_nothing_and_names_them_all(sandbox, catalog, tmp_path):
    doc = dict(TIME, packages=[dict(TIME["packages"][0], environmentVariables=[
        {"name": "TIME_API_KEY", "isSecret": True, "isRequired": True},
        {"name": "TIME_REGION", "isRequired": True, "description": "where"},
        {"name": "TIME_LOG", "default": "info"}])])
    path = tmp_path / "server.json"
    path.write_text(json.dumps(doc))
    proc = run(sandbox, "install", "--from-file", str(path), input="")
    error = error_of(proc)
    assert (proc.returncode, error["code"]) == (1, "missing_env")
    assert "TIME_API_KEY, TIME_REGION" in error["message"] and error["details"] == ["TIME_API_KEY (secret)",
                                                                                   "TIME_REGION: where"]
    assert "--env TIME_API_KEY=VALUE --env TIME_REGION=VALUE" in error["hint"]
    assert not any((sandbox.registry / "installed").iterdir()) and not (sandbox.config / "claudex" / "mcp.json").exists()
    unknown = error_of(run(sandbox, "install", "--from-file", str(path), "--env", "NOPE=1"))
    assert unknown["code"] == "unknown_input" and "TIME_API_KEY" in unknown["hint"]


def _remote_doc(port: int) -> dict:
    return {"name": "io.example/notes", "description": "Notes over HTTP", "version": "0.3.0",
            "remotes": [{"type": "streamable-http", "url": "http://{host}/mcp",
                         "headers": [{"name": "Authorization", "isSecret": True, "isRequired": True,
                                      "description": "Bearer and the token"}],
                         "variables": {"host": {"description": "host:port", "default": f"127.0.0.1:{port}"}}}]}


def test_a_remote_asks_for_its_secret_on_a_terminal_without_echo(sandbox, catalog, tmp_path):
    with http_mcp_server("tok-123456789") as port:
        path = tmp_path / "server.json"
        path.write_text(json.dumps(_remote_doc(port)))
        code, shown = _on_terminal(sandbox, ["install", "--from-file", str(path), "--name", "notes"],
                                   answers={"AUTHORIZATION": "Bearer tok-123456789"})
        assert code == 0, shown
        assert "AUTHORIZATION (Bearer and the token) (secret, not shown):" in shown
        assert "tok-123456789" not in shown
        manifest = json.loads((sandbox.registry / "installed" / "notes" / "manifest.json").read_text())["server"]
        assert manifest == {"transport": "http", "url": f"http://127.0.0.1:{port}/mcp",
                            "headers": {"Authorization": "${AUTHORIZATION}"},
                            "requiredEnv": [{"name": "AUTHORIZATION", "description": "Bearer and the token", "secret": True}]}
        tested = run(sandbox, "test", "notes", "--json", timeout=120)
        assert json.loads(tested.stdout)["state"] == "healthy", tested.stdout + tested.stderr
        assert files_holding(sandbox.root, "tok-123456789") == [str(sandbox.config / "claudex" / "mcp.json")]


def _on_terminal(sandbox, argv: list[str], answers: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """Run claudex with stdin and stderr on a pseudo-terminal (stdout piped), typing the answer
    to each prompt that names a variable of ``answers``: (exit code, what the terminal showed)."""
    import pty
    import signal

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "claudex"), "mcp", *argv], stdin=follower,
                            stdout=subprocess.PIPE, stderr=follower, env=sandbox.env, start_new_session=True)
    os.close(follower)
    shown, answered = b"", set()
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    shown += os.read(leader, 65536)
                except OSError:
                    break
            for var, answer in answers.items():
                if var not in answered and f"{var} (".encode() in shown and shown.rstrip().endswith(b":"):
                    os.write(leader, answer.encode() + b"\n")
                    answered.add(var)
        proc.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(leader)
    proc.stdout.close()
    return proc.returncode, shown.decode("utf-8", "replace")


def test_upgrade_gives_the_new_version_the_same_inputs_and_refuses_one_that_needs_more(sandbox, catalog):
    remote = {"name": "io.example/notes", "description": "Notes over HTTP", "version": "1.0.0",
              "remotes": [{"type": "streamable-http", "url": "https://{region}.notes.example.com/mcp",
                           "variables": {"region": {"isRequired": True, "choices": ["eu", "us"]}},
                           "headers": [{"name": "X-Api-Key", "isSecret": True, "isRequired": True}]}]}
    catalog.items = [item(remote)]
    proc = run(sandbox, "install", "registry:io.example/notes", "--env", "REGION=eu", "--env", f"X_API_KEY={SECRET}",
               "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["source"]["inputs"] == {"REGION": "eu"}
    assert json.loads(proc.stdout)["secrets"] == {"userLayer": ["X_API_KEY"], "export": []}
    wrong = run(sandbox, "install", "registry:io.example/notes", "--name", "other", "--env", "REGION=mars",
                "--env", "X_API_KEY=x")
    assert (wrong.returncode, error_of(wrong)["code"]) == (1, "invalid_value") and "eu, us" in error_of(wrong)["message"]
    catalog.items = [item(remote, latest=False), item(dict(remote, version="1.1.0"))]
    upgraded = run(sandbox, "upgrade", "notes", "--json")
    assert upgraded.returncode == 0, upgraded.stderr
    assert (json.loads(upgraded.stdout)["from"], json.loads(upgraded.stdout)["to"]) == ("1.0.0", "1.1.0")
    manifest = json.loads((sandbox.registry / "installed" / "notes" / "manifest.json").read_text())
    assert manifest["metadata"]["version"] == "1.1.0"
    assert manifest["server"]["url"] == "https://eu.notes.example.com/mcp"
    assert manifest["server"]["headers"] == {"X-Api-Key": "${X_API_KEY}"}
    assert files_holding(sandbox.root, SECRET) == [str(sandbox.config / "claudex" / "mcp.json")]
    more = dict(remote, version="2.0.0", remotes=[dict(remote["remotes"][0], headers=remote["remotes"][0]["headers"] + [
        {"name": "X-Tenant", "isRequired": True}])])
    catalog.items.append(item(more))
    catalog.items[1] = item(dict(remote, version="1.1.0"), latest=False)
    refused = run(sandbox, "upgrade", "notes")
    error = error_of(refused)
    assert (refused.returncode, error["code"]) == (1, "missing_env") and "X_TENANT" in error["message"]
    assert json.loads((sandbox.registry / "installed" / "notes" / "manifest.json").read_text())["metadata"]["version"] == "1.1.0"


def test_a_secret_in_a_remotes_url_is_kept_behind_a_variable_to_export(sandbox, catalog, tmp_path):
    path = tmp_path / "server.json"
    path.write_text(json.dumps({"name": "io.example/hooks", "description": "Hooks", "version": "1.0.0", "remotes": [
        {"type": "sse", "url": "https://hooks.example.com/{token}/sse",
         "variables": {"token": {"isSecret": True, "isRequired": True}}}]}))
    proc = run(sandbox, "install", "--from-file", str(path), "--env", f"TOKEN={SECRET}")
    assert proc.returncode == 0, proc.stderr
    assert "export before starting your client: TOKEN" in proc.stdout
    server = json.loads((sandbox.registry / "installed" / "hooks" / "manifest.json").read_text())["server"]
    assert (server["transport"], server["url"]) == ("sse", "https://hooks.example.com/${TOKEN}/sse")
    assert files_holding(sandbox.root, SECRET) == [str(sandbox.config / "claudex" / "mcp.json")]


def test_oci_maps_to_docker_run_with_its_arguments_and_no_shell(sandbox, catalog, tmp_path):
    doc = {"name": "io.example/db", "description": "A database server in a container", "version": "2.0.0",
           "packages": [{"registryType": "oci", "identifier": "ghcr.io/example/db-mcp", "version": "2.0.0",
                         "transport": {"type": "stdio"}, "runtimeHint": "docker",
                         "runtimeArguments": [{"type": "named", "name": "--network", "value": "host"}],
                         "packageArguments": [{"type": "positional", "value": "--read-only; rm -rf ~"}],
                         "environmentVariables": [{"name": "DB_PASSWORD", "isSecret": True, "isRequired": True}]}]}
    path = tmp_path / "server.json"
    path.write_text(json.dumps(doc))
    proc = run(sandbox, "install", "--from-file", str(path), "--env", f"DB_PASSWORD={SECRET}", "--json")
    assert proc.returncode == 0, proc.stderr
    server = json.loads((sandbox.registry / "installed" / "db" / "manifest.json").read_text())["server"]
    assert server["command"] == "docker"
    assert server["args"] == ["run", "-i", "--rm", "--network", "host", "-e", "DB_PASSWORD",
                              "ghcr.io/example/db-mcp:2.0.0", "--read-only; rm -rf ~"]
    assert server["env"] == {"DB_PASSWORD": "${DB_PASSWORD}"}
    result = json.loads(proc.stdout)
    assert result["source"]["file"] == str(path)
    assert any(w.startswith("docker gets the document's runtime arguments: --network host") for w in result["warnings"])


def _bundle() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("manifest.json", json.dumps({"manifest_version": "0.3", "name": "echo", "version": "1.0.0",
                                                "server": {"type": "python", "entry_point": "server.py",
                                                           "mcp_config": {"command": sys.executable,
                                                                          "args": ["${__dirname}/server.py"]}}}))
        z.writestr("server.py", ECHO_SERVER.read_text())
    return out.getvalue()


def test_mcpb_is_downloaded_checked_against_its_digest_and_unpacked(sandbox, catalog, tmp_path):
    data = _bundle()
    catalog.files["/files/echo.mcpb"] = data
    package = {"registryType": "mcpb", "identifier": f"{catalog.url}/files/echo.mcpb", "version": "1.0.0",
               "fileSha256": hashlib.sha256(data).hexdigest(), "transport": {"type": "stdio"}}
    doc = {"name": "io.example/echo", "description": "Echo in a bundle", "version": "1.0.0", "packages": [package]}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(doc, packages=[dict(package, fileSha256="0" * 64)])))
    refused = run(sandbox, "install", "--from-file", str(bad))
    assert (refused.returncode, error_of(refused)["code"]) == (1, "digest_mismatch")
    assert not any((sandbox.registry / "installed").iterdir())
    good = tmp_path / "good.json"
    good.write_text(json.dumps(doc))
    proc = run(sandbox, "install", "--from-file", str(good), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["source"]["package"]["fileSha256"] == hashlib.sha256(data).hexdigest()
    server = json.loads((sandbox.registry / "installed" / "echo" / "manifest.json").read_text())["server"]
    assert server == {"command": sys.executable, "args": ["${SERVER_DIR}/bundle/server.py"]}
    tested = run(sandbox, "test", "echo", "--json", timeout=120)
    assert json.loads(tested.stdout)["state"] == "healthy", tested.stdout + tested.stderr


def test_what_cannot_be_installed_is_refused_with_the_reason(sandbox, catalog):
    unsupported = run(sandbox, "install", f"registry:{WEATHER['name']}")
    error = error_of(unsupported)
    assert (unsupported.returncode, error["code"]) == (1, "unsupported_package")
    assert "nuget over stdio" in error["message"]
    missing = run(sandbox, "install", "registry:io.github.modelcontextprotocol/tiem")
    error = error_of(missing)
    assert (missing.returncode, error["code"]) == (4, "not_in_catalog")
    run(sandbox, "catalog", "sync")
    assert "did you mean io.github.modelcontextprotocol/time?" in error_of(
        run(sandbox, "install", "registry:io.github.modelcontextprotocol/tiem"))["hint"]
    catalog.items[0] = item(EVERYTHING, status="deleted")
    deleted = run(sandbox, "install", f"registry:{EVERYTHING['name']}")
    assert (deleted.returncode, error_of(deleted)["code"]) == (1, "catalog_entry_inactive")
    catalog.items.append(item({"name": "io.example/floating", "description": "Pins nothing", "version": "1.0.0",
                               "packages": [dict(EVERYTHING["packages"][0], version="latest")]}))
    floating = run(sandbox, "install", "registry:io.example/floating")
    error = error_of(floating)
    assert (floating.returncode, error["code"]) == (1, "invalid_server_json") and "'latest' is not a version" in error["message"]
    assert not any((sandbox.registry / "installed").iterdir())
    staging = sandbox.registry / ".staging"
    assert not staging.exists() or not any(staging.iterdir())


def test_a_bundle_member_that_would_leave_its_folder_is_refused(sandbox, catalog, tmp_path):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("manifest.json", "{}")
        z.writestr("../../escaped.py", "print('out')")
    data = out.getvalue()
    catalog.files["/files/evil.mcpb"] = data
    path = tmp_path / "server.json"
    path.write_text(json.dumps({"name": "io.example/evil", "description": "Leaves", "version": "1.0.0", "packages": [
        {"registryType": "mcpb", "identifier": f"{catalog.url}/files/evil.mcpb", "version": "1.0.0",
         "fileSha256": hashlib.sha256(data).hexdigest(), "transport": {"type": "stdio"}}]}))
    proc = run(sandbox, "install", "--from-file", str(path))
    assert (proc.returncode, error_of(proc)["code"]) == (1, "invalid_bundle")
    assert not list(sandbox.root.rglob("escaped.py")) and not any((sandbox.registry / "installed").iterdir())
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:  # a file where a folder must be
        z.writestr("lib", "a file")
        z.writestr("lib/x.py", "print('x')")
    data = out.getvalue()
    catalog.files["/files/evil.mcpb"] = data
    doc = json.loads(path.read_text())
    doc["packages"][0]["fileSha256"] = hashlib.sha256(data).hexdigest()
    path.write_text(json.dumps(doc))
    proc = run(sandbox, "install", "--from-file", str(path))
    assert (proc.returncode, error_of(proc)["code"]) == (1, "invalid_bundle"), proc.stderr


def test_a_value_shaped_like_a_secret_stays_out_of_the_manifest_even_when_not_marked(sandbox, catalog, tmp_path):
    doc = dict(TIME, packages=[dict(TIME["packages"][0], environmentVariables=[{"name": "GITHUB_TOKEN"}])])
    path = tmp_path / "server.json"
    path.write_text(json.dumps(dict(doc, remotes=[{"type": "sse", "url": "https://example.com/sse"}])))
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    proc = run(sandbox, "install", "--from-file", str(path), "--use", "remote", "--env", "GITHUB_TOKEN=x")
    assert error_of(proc)["code"] == "unknown_input"  # the remote takes no GITHUB_TOKEN: nothing is kept
    proc = run(sandbox, "install", "--from-file", str(path), "--use", "oci")
    assert error_of(proc)["code"] == "unsupported_package" and "no oci package" in error_of(proc)["message"]
    plan_doc = {"name": "io.example/tok", "description": "Token", "version": "1.0.0", "packages": [
        {"registryType": "oci", "identifier": "example/tok", "version": "1.0.0", "transport": {"type": "stdio"},
         "environmentVariables": [{"name": "GITHUB_TOKEN"}]}]}
    path.write_text(json.dumps(plan_doc))
    proc = run(sandbox, "install", "--from-file", str(path), "--env", f"GITHUB_TOKEN={token}", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["secrets"] == {"userLayer": ["GITHUB_TOKEN"], "export": []}
    assert files_holding(sandbox.root, token) == [str(sandbox.config / "claudex" / "mcp.json")]


# ---- provenance ------------------------------------------------------------------------------

def test_verify_finds_a_changed_file_and_status_mentions_it(sandbox, catalog, tmp_path):
    data = _bundle()
    catalog.files["/files/echo.mcpb"] = data
    path = tmp_path / "server.json"
    path.write_text(json.dumps({"name": "io.example/echo", "description": "Echo", "version": "1.0.0", "packages": [
        {"registryType": "mcpb", "identifier": f"{catalog.url}/files/echo.mcpb", "version": "1.0.0",
         "fileSha256": hashlib.sha256(data).hexdigest(), "transport": {"type": "stdio"}}]}))
    assert run(sandbox, "install", "--from-file", str(path)).returncode == 0
    assert run(sandbox, "test", "echo").returncode == 0  # running it (byte code) changes nothing verify sees
    ok = run(sandbox, "verify", "--json")
    assert ok.returncode == 0 and [(r["name"], r["state"]) for r in json.loads(ok.stdout)] == [("echo", "ok")]
    status = run(sandbox, "status", "echo", timeout=120)
    assert "changed since it was installed" not in status.stderr
    served = sandbox.registry / "installed" / "echo" / "bundle" / "server.py"
    served.write_text(served.read_text() + "\n# changed\n")
    changed = run(sandbox, "verify", "--json")
    assert changed.returncode == 1 and json.loads(changed.stdout)[0]["state"] == "changed"
    assert error_of(changed)["code"] == "verify_failed"
    status = run(sandbox, "status", "echo", timeout=120)
    assert "echo changed since it was installed (run 'claudex mcp verify echo')" in status.stderr
    assert run(sandbox, "verify", "nope").returncode == 4

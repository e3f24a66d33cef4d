"""create: a scaffolded server validates, answers a real MCP session, passes its own tests and
installs, as it is."""

from __future__ import annotations

import json

from claudex_mcp import registry as registry_mod


def test_create_test_and_install(sandbox, tmp_path):
    dest = tmp_path / "weather"
    proc = sandbox.run("mcp", "create", "weather", "--dest", str(dest), "--description", "Forecasts.", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert {"manifest.json", "server.py", "weather_core.py", "tests/test_server.py", "README.md"} <= set(result["files"])
    assert json.loads((dest / "manifest.json").read_text())["metadata"]["description"] == "Forecasts."
    assert sandbox.run("mcp", "validate", str(dest)).returncode == 0
    tested = json.loads(sandbox.run("mcp", "test", str(dest), "--suite", "--json", timeout=120).stdout)
    assert tested["state"] == "healthy" and tested["tools"] == ["hello"] and tested["suite"]["passed"] is True
    registry_mod.init(sandbox.registry)
    installed = sandbox.run("mcp", "install", str(dest), "--json", timeout=300)
    assert installed.returncode == 0, installed.stderr
    assert (sandbox.registry / "installed" / "weather" / ".venv" / "bin" / "python").exists()
    assert json.loads(sandbox.run("mcp", "test", "weather", "--json", timeout=60).stdout)["state"] == "healthy"


def test_create_refusals_change_nothing(sandbox, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("mine")
    proc = sandbox.run("mcp", "create", "weather", "--dest", str(tmp_path / "taken"))
    assert proc.returncode == 3 and json.loads(proc.stderr)["error"]["code"] == "exists"
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["x"]
    assert sandbox.run("mcp", "create", "Bad_Name", "--dest", str(tmp_path / "b")).returncode == 2
    assert not (tmp_path / "b").exists()

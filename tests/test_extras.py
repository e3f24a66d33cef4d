"""A server's optional extras (manifest.json's "extras"), through the real CLI: installed on
request (install --with), recorded (registry.json, the install marker, list and info), kept by
upgrade, added and removed later (upgrade --with / --without, the installed copy rebuilt), an
unknown one refused with nothing changed, and a failed one rolled back. The extras' packages are
wheels the tests build, so no index is needed."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ECHO_SERVER, manifest
from lifecycle_helpers import snapshot, write_files
from claudex_mcp.store import registry as registry_mod

EXTRAS = {"chat": {"description": "answers from an LLM", "requirements": "requirements-chat.txt"},
          "fast": {"description": "a faster engine", "requirements": "requirements-fast.txt"},
          "broken": {"description": "names a wheel that is not there", "requirements": "requirements-broken.txt"}}


def wheel(folder: Path, dist: str, version: str = "0.1.0") -> str:
    """A pure-Python wheel of one module ``dist`` in folder/wheels; its path as requirements name it."""
    info = f"{dist}-{version}.dist-info"
    files = {f"{dist}/__init__.py": f"NAME = {dist!r}\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: claudex-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = [f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},"
              f"{len(text.encode())}" for path, text in files.items()]
    files[f"{info}/RECORD"] = "\n".join(record + [f"{info}/RECORD,,"]) + "\n"
    name = f"{dist}-{version}-py3-none-any.whl"
    (folder / "wheels").mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "wheels" / name, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return f"./wheels/{name}"


def extras_server(root: Path, version: str = "1.0.0", name: str = "notes") -> Path:
    """An MCP server (the echo server, run by this interpreter) whose venv gets basepkg, and
    chatpkg or fastpkg with its extras; the broken extra names a wheel that does not exist."""
    folder = root / "src" / name
    folder.mkdir(parents=True, exist_ok=True)
    doc = manifest(name, version, command=sys.executable)
    doc["extras"] = EXTRAS
    write_files(folder, {"manifest.json": json.dumps(doc, indent=2), "server.py": ECHO_SERVER.read_text(),
                         "requirements.txt": wheel(folder, "basepkg") + "\n",
                         "requirements-chat.txt": wheel(folder, "chatpkg") + "\n",
                         "requirements-fast.txt": wheel(folder, "fastpkg") + "\n",
                         "requirements-broken.txt": "./wheels/missingpkg-0.1.0-py3-none-any.whl\n"})
    return folder


def venv_has(registry: Path, module: str, name: str = "notes") -> bool:
    python = registry / "installed" / name / ".venv" / "bin" / "python"
    return subprocess.run([str(python), "-c", f"import {module}"], capture_output=True).returncode == 0


def recorded(registry: Path, name: str = "notes") -> dict:
    return json.loads((registry / "registry.json").read_text())["servers"][name]


def cli(sandbox, *argv: str, timeout: float = 300):
    proc = sandbox.run("mcp", *argv, timeout=timeout)
    out = json.loads(proc.stdout) if proc.stdout.strip().startswith(("{", "[")) else None
    err = json.loads(proc.stderr)["error"] if proc.stderr.strip().startswith("{") else None
    return proc.returncode, out, err


@pytest.fixture
def reg(sandbox):
    registry_mod.init(sandbox.registry)
    return sandbox.registry


def test_install_without_extras_lists_them_and_installs_none(sandbox, reg):
    folder = extras_server(sandbox.root)
    code, out, err = cli(sandbox, "install", str(folder), "--json")
    assert code == 0, err
    assert out["extras"] == []
    assert venv_has(reg, "basepkg") and not venv_has(reg, "chatpkg") and not venv_has(reg, "fastpkg")
    assert "extras" not in recorded(reg)
    code, rows, _ = cli(sandbox, "list", "--json")
    assert rows[0]["extras"] == {"available": {k: v["description"] for k, v in sorted(EXTRAS.items())},
                                 "installed": []}
    code, doc, _ = cli(sandbox, "info", "notes", "--json")
    assert doc["extras"]["installed"] == [] and sorted(doc["extras"]["available"]) == ["broken", "chat", "fast"]
    text = sandbox.run("mcp", "info", "notes").stdout
    assert "chat  [not installed]  answers from an LLM" in text
    assert "add: claudex mcp upgrade notes --with broken,chat,fast" in text


def test_install_with_extras_installs_and_records_them(sandbox, reg):
    folder = extras_server(sandbox.root)
    proc = sandbox.run("mcp", "install", str(folder), "--with", "chat", "--with", "fast,chat", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("installed notes 1.0.0 with chat, fast in ")
    assert venv_has(reg, "chatpkg") and venv_has(reg, "fastpkg")
    assert recorded(reg)["extras"] == ["chat", "fast"]
    assert registry_mod.read_marker(reg / "installed" / "notes")["extras"] == ["chat", "fast"]
    _, doc, _ = cli(sandbox, "info", "notes", "--json")
    assert doc["extras"]["installed"] == ["chat", "fast"]
    assert "chat  [installed]" in sandbox.run("mcp", "info", "notes").stdout
    # The pipe-stage twin takes it too.
    other = extras_server(sandbox.root, name="other")
    proc = subprocess.run([str(Path(sys.executable).parent / "atomic-install"), str(other), "--with", "fast"],
                          capture_output=True, text=True, env=sandbox.env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["extras"] == ["fast"] and venv_has(reg, "fastpkg", "other")
    # registry.json lost (rebuilt from the folders): the install markers say which extras are there.
    (reg / "registry.json").unlink()
    assert cli(sandbox, "cache", "refresh", "--json")[0] == 0
    assert recorded(reg)["extras"] == ["chat", "fast"] and recorded(reg, "other")["extras"] == ["fast"]


def test_an_extra_is_added_and_removed_later(sandbox, reg):
    folder = extras_server(sandbox.root)
    assert cli(sandbox, "install", str(folder), "--json")[0] == 0
    before = recorded(reg)
    code, out, err = cli(sandbox, "upgrade", "notes", "--with", "fast", "--json")
    assert code == 0, err
    assert (out["state"], out["from"], out["to"], out["reason"], out["extras"]) == (
        "upgraded", "1.0.0", "1.0.0", "extras: +fast", ["fast"])
    assert out["health"]["tools"], out  # the rebuilt server passed its handshake before the exchange
    assert venv_has(reg, "fastpkg") and venv_has(reg, "basepkg")
    after = recorded(reg)
    assert after["extras"] == ["fast"] and after["source"] == before["source"]
    assert after["installedAt"] == before["installedAt"] and "updatedAt" in after
    assert cli(sandbox, "verify", "notes", "--json")[0] == 0  # the new venv is in the install record
    # Already there: nothing to do.
    code, out, _ = cli(sandbox, "upgrade", "notes", "--with", "fast", "--json")
    assert (code, out["state"]) == (0, "unchanged")
    # Both at once: one added, one removed, in one rebuild.
    proc = sandbox.run("mcp", "upgrade", "notes", "--with", "chat", "--without", "fast", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "rebuilt notes 1.0.0 (extras: +chat, -fast); its extras: chat" in proc.stdout
    assert venv_has(reg, "chatpkg") and not venv_has(reg, "fastpkg")
    code, out, _ = cli(sandbox, "upgrade", "notes", "--without", "chat", "--json")
    assert (code, out["extras"]) == (0, [])
    assert not venv_has(reg, "chatpkg") and "extras" not in recorded(reg)
    # The folder source did not change meanwhile: a plain upgrade still has nothing to copy.
    assert cli(sandbox, "upgrade", "notes", "--json")[1]["state"] == "unchanged"


def test_upgrade_keeps_the_extras(sandbox, reg):
    folder = extras_server(sandbox.root)
    assert cli(sandbox, "install", str(folder), "--with", "chat", "--json")[0] == 0
    extras_server(sandbox.root, "1.1.0")
    code, out, err = cli(sandbox, "upgrade", "notes", "--json")
    assert code == 0, err
    assert (out["state"], out["to"], out["extras"]) == ("upgraded", "1.1.0", ["chat"])
    assert venv_has(reg, "chatpkg") and recorded(reg)["extras"] == ["chat"]
    # A new version without that extra: it goes, and the upgrade says so.
    doc = json.loads((folder / "manifest.json").read_text())
    doc["metadata"]["version"] = "1.2.0"
    del doc["extras"]["chat"]
    (folder / "manifest.json").write_text(json.dumps(doc))
    code, out, err = cli(sandbox, "upgrade", "notes", "--json")
    assert code == 0, err
    assert (out["to"], out["extras"], out["extrasDropped"]) == ("1.2.0", [], ["chat"])
    assert not venv_has(reg, "chatpkg") and "extras" not in recorded(reg)


def test_an_unknown_extra_is_refused_and_nothing_changes(sandbox, reg):
    folder = extras_server(sandbox.root)
    before = snapshot(reg)
    code, out, err = cli(sandbox, "install", str(folder), "--with", "chat,nope")
    assert (code, out, err["code"]) == (1, None, "unknown_extra")
    assert err["message"] == "notes 1.0.0 has no extra 'nope'; its extras: broken, chat, fast"
    assert snapshot(reg) == before
    assert cli(sandbox, "install", str(folder), "--with", "chat", "--json")[0] == 0
    before = snapshot(reg)
    for flag in ("--with", "--without"):
        code, out, err = cli(sandbox, "upgrade", "notes", flag, "nope")
        assert (code, out, err["code"]) == (1, None, "unknown_extra"), err
        assert "its extras: broken, chat, fast" in err["message"]
        assert snapshot(reg) == before
    # A server that declares none.
    plain = sandbox.root / "src" / "plain"
    write_files(plain, {"manifest.json": json.dumps(manifest("plain", command=sys.executable)),
                        "server.py": ECHO_SERVER.read_text()})
    code, _, err = cli(sandbox, "install", str(plain), "--with", "chat")
    assert (code, err["code"]) == (1, "unknown_extra") and "it declares no extras" in err["message"]
    assert snapshot(reg) == before


@pytest.mark.parametrize("argv, code", [
    (["upgrade", "notes", "--check", "--with", "chat"], "check_with_extras"),
    (["upgrade", "--all", "--with", "chat"], "extras_with_all"),
    (["upgrade", "notes", "--with", "chat", "--without", "chat"], "extras_conflict"),
    (["upgrade", "notes", "--with", ","], "no_extra"),
    (["install", "registry:io.github.acme/weather", "--with", "chat"], "usage"),
])
def test_extras_options_that_cannot_work_are_usage_errors(sandbox, reg, argv, code):
    before = snapshot(reg)
    proc = sandbox.run("mcp", *argv)
    assert proc.returncode == 2, proc.stderr
    assert json.loads(proc.stderr)["error"]["code"] == code
    assert snapshot(reg) == before


def test_a_failing_extra_is_rolled_back(sandbox, reg):
    folder = extras_server(sandbox.root)
    before = snapshot(reg)
    code, _, err = cli(sandbox, "install", str(folder), "--with", "broken")
    assert (code, err["code"]) == (5, "dependencies_failed"), err
    assert "missingpkg" in err["message"]
    assert snapshot(reg) == before and not list((reg / ".staging").iterdir())
    assert cli(sandbox, "install", str(folder), "--with", "chat", "--json")[0] == 0
    before = snapshot(reg)
    code, _, err = cli(sandbox, "upgrade", "notes", "--with", "broken")
    assert (code, err["code"]) == (5, "dependencies_failed"), err
    assert snapshot(reg) == before  # the old venv, its chat extra and its record, byte for byte
    assert venv_has(reg, "chatpkg") and recorded(reg)["extras"] == ["chat"]


def test_the_extras_requirements_are_vendored_and_validated(sandbox, reg):
    """An extra's file naming ../lib/<dist> gets the package vendored like requirements.txt;
    validate refuses a file that is not a bare name in the folder, a missing one, and extras on a
    server without a Python environment."""
    repo = sandbox.root / "repo"
    (repo / ".git").mkdir(parents=True)  # the source root: a git work tree
    write_files(repo / "lib" / "sharedpkg", {"pyproject.toml": "[project]\nname = 'sharedpkg'\nversion = '0.1.0'\n",
                                             "sharedpkg/__init__.py": ""})
    folder = extras_server(repo)
    (folder / "requirements-chat.txt").write_text("../../lib/sharedpkg\n")
    code, out, err = cli(sandbox, "install", str(folder), "--json")
    assert code == 0, err
    installed = reg / "installed" / "notes"
    assert (installed / "vendor" / "sharedpkg" / "pyproject.toml").is_file()
    assert (installed / "requirements-chat.txt").read_text() == "./vendor/sharedpkg\n"

    doc = json.loads((folder / "manifest.json").read_text())
    doc["extras"] = {"up": {"description": "x", "requirements": "../requirements-up.txt"},
                     "gone": {"description": "x", "requirements": "requirements-gone.txt"}}
    (folder / "manifest.json").write_text(json.dumps(doc))
    code, problems, _ = cli(sandbox, "validate", str(folder), "--json")
    found = {(p["pointer"], p["rule"]) for p in problems}
    assert ("/extras/up/requirements", "pattern") in found and ("/extras/gone/requirements", "file-exists") in found
    (folder / "requirements.txt").unlink()
    (folder / "requirements-gone.txt").write_text("")
    code, problems, _ = cli(sandbox, "validate", str(folder), "--json")
    assert code == 1 and ("/extras", "extras-python") in {(p["pointer"], p["rule"]) for p in problems}

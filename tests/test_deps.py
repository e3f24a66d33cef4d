"""Server environments: built with uv (shared cache, hard links, relocatable venv) and, when uv
is turned off or absent, with venv + pip; real installs of small Python servers from a folder."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from conftest import ECHO_SERVER
from lifecycle_helpers import server_files, snapshot, write_files
from claudex_mcp.install import deps
from claudex_mcp.store import registry as registry_mod

LOCAL_PKG = {
    "pkg/pyproject.toml": '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
                          '[project]\nname = "localpkg"\nversion = "0.1.0"\n'
                          '[project.scripts]\nlocalpkg-hello = "localpkg:hello"\n',
    "pkg/localpkg/__init__.py": "GREETING = 'hello from localpkg'\n\ndef hello():\n    print(GREETING)\n",
    "pkg/localpkg/tests/__init__.py": "",
    "pkg/localpkg/tests/test_hello.py": "def test_hello():\n    pass\n",
}


@pytest.fixture
def reg(sandbox):
    registry_mod.init(sandbox.registry)
    return sandbox.registry


@pytest.fixture(scope="session")
def uv_cache(tmp_path_factory):
    """One uv cache for the tests of this file, as one user's cache is shared by every install."""
    return tmp_path_factory.mktemp("uv-cache")


def python_server(sandbox, requirements: str, name: str = "hello", mcp: bool = False):
    folder = sandbox.root / "src" / name
    files = server_files(name, "1.0.0", mcp=False, command="${SERVER_DIR}/.venv/bin/python")
    if mcp:  # the echo server, which also imports the local package: both come from the venv
        files["server.py"] = ECHO_SERVER.read_text().replace(
            "from __future__ import annotations\n", "from __future__ import annotations\nimport localpkg  # noqa\n", 1)
    write_files(folder, {**files, **LOCAL_PKG, "requirements.txt": requirements})
    return folder


def venv_python(reg, name="hello"):
    return reg / "installed" / name / ".venv" / "bin" / "python"


def imports_localpkg(reg) -> str:
    proc = subprocess.run([str(venv_python(reg)), "-c", "import localpkg; print(localpkg.__file__)"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def no_staging_path_in(venv) -> None:
    """Nothing the venv runs or imports through names the staging folder it was built in (renamed
    away at the commit): no editable finder, no .pth file, no script. (direct_url.json records
    where a package came from; it is provenance, never read at run time.)"""
    for current, _dirs, files in os.walk(venv):
        for name in files:
            path = os.path.join(current, name)
            assert not name.startswith("__editable__"), path
            if name.endswith(".pth") or os.path.basename(current) == "bin" and not os.path.islink(path):
                with open(path, "rb") as fh:
                    assert b"/.staging/" not in fh.read(), path


def test_uv_builds_the_venv_and_the_committed_server_runs(sandbox, reg, uv_cache, monkeypatch):
    sandbox.env["UV_CACHE_DIR"] = str(uv_cache)
    folder = python_server(sandbox, "mcp>=2.3,<3\n-e ./pkg\n", mcp=True)
    proc = sandbox.run("mcp", "install", str(folder), "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr
    venv = reg / "installed" / "hello" / ".venv"
    config = (venv / "pyvenv.cfg").read_text()
    assert "uv = " in config and "relocatable = true" in config
    # Compiled at install, as pip does: a read-only venv does not compile the SDK at every start;
    # but not the packages' test folders, which a server does not import.
    site = next(venv.glob("lib/python3*/site-packages"))
    assert list(site.glob("mcp/__pycache__/__init__.cpython-*.pyc"))
    assert list(site.glob("localpkg/__pycache__/__init__.cpython-*.pyc"))
    assert (site / "localpkg" / "tests" / "test_hello.py").is_file()
    assert not list(site.glob("localpkg/tests/__pycache__/*.pyc"))
    # -e ./pkg was installed as a copy inside the venv, not as a link to the staging folder
    assert imports_localpkg(reg).startswith(str(venv))
    no_staging_path_in(venv)
    # The entry point of the local package runs from its committed place.
    hello = subprocess.run([str(venv / "bin" / "localpkg-hello")], capture_output=True, text=True)
    assert hello.stdout.strip() == "hello from localpkg", hello.stderr
    # The server itself: a real MCP handshake through the launcher, from the registry.
    check = sandbox.run("mcp", "test", "hello", "--json", timeout=120)
    assert check.returncode == 0, check.stderr
    # The requirement file in the committed folder says what was installed.
    assert (reg / "installed" / "hello" / "requirements.txt").read_text().splitlines()[-1] == "./pkg"


def test_what_a_server_does_not_import_is_left_uncompiled_wherever_the_registry_is(sandbox, uv_cache):
    """Below site-packages, the folders packages ship for their developers and builders (tests,
    testing, distutils, f2py, benchmarks, PyInstaller hooks) get no byte code, and the rest does,
    also in a registry under a folder named tests or testing."""
    sandbox.env["UV_CACHE_DIR"] = str(uv_cache)
    registry = sandbox.root / "testing" / "tests" / "registry"
    registry_mod.init(registry)
    sandbox.env["CLAUDEX_MCP_REGISTRY"] = str(registry)
    folder = python_server(sandbox, "mcp>=2.3,<3\n./pkg\n", mcp=True)
    extra = {f"pkg/localpkg/{sub}/__init__.py": "X = 1\n"
             for sub in ("testing", "distutils", "f2py", "benchmarks", "_pyinstaller", "tools")}
    write_files(folder, extra)
    proc = sandbox.run("mcp", "install", str(folder), "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr
    site = next((registry / "installed" / "hello" / ".venv").glob("lib/python3*/site-packages"))
    assert list(site.glob("mcp/__pycache__/__init__.cpython-*.pyc"))
    assert list(site.glob("localpkg/__pycache__/__init__.cpython-*.pyc"))
    assert list(site.glob("localpkg/tools/__pycache__/*.pyc"))
    for sub in ("tests", "testing", "distutils", "f2py", "benchmarks", "_pyinstaller"):
        assert (site / "localpkg" / sub / "__init__.py").is_file(), sub
        assert not list(site.glob(f"localpkg/{sub}/__pycache__/*.pyc")), sub


EDITABLE_SOURCE = {  # localpkg needs inner, which its [tool.uv.sources] names as an editable path
    "pkg/pyproject.toml": '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
                          '[project]\nname = "localpkg"\nversion = "0.1.0"\ndependencies = ["inner"]\n'
                          '[tool.uv.sources]\ninner = { path = "../inner", editable = true }\n',
    "pkg/localpkg/__init__.py": "from inner import WORD\nGREETING = 'hello from ' + WORD\n",
    "inner/pyproject.toml": '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
                            '[project]\nname = "inner"\nversion = "0.1.0"\n',
    "inner/inner/__init__.py": "WORD = 'inner'\n",
}


def test_editable_path_sources_are_copies_that_outlive_the_staging_folder(sandbox, reg, uv_cache):
    """-e ./pkg in requirements.txt, and an `editable = true` path source in that package's own
    pyproject.toml: both installed into the venv, so the server still starts and answers once the
    staging folder and the source folder are gone."""
    import shutil

    sandbox.env["UV_CACHE_DIR"] = str(uv_cache)
    folder = python_server(sandbox, "mcp>=2.3,<3\n-e ./pkg\n", mcp=True)
    write_files(folder, EDITABLE_SOURCE)
    proc = sandbox.run("mcp", "install", str(folder), "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr
    venv = reg / "installed" / "hello" / ".venv"
    no_staging_path_in(venv)
    for record in venv.glob("lib/python3*/site-packages/*.dist-info/direct_url.json"):
        assert not json.loads(record.read_text()).get("dir_info", {}).get("editable"), record
    # What an install leaves behind goes, and so does the folder it came from.
    shutil.rmtree(reg / ".staging")
    folder.rename(folder.with_name("moved-away"))
    called = sandbox.run("mcp", "call", "hello", "echo", "--args", '{"text": "still here"}', timeout=120)
    assert (called.returncode, called.stdout) == (0, "still here\n"), called.stderr
    word = subprocess.run([str(venv / "bin" / "python"), "-c", "import localpkg; print(localpkg.GREETING)"],
                          capture_output=True, text=True)
    assert word.stdout == "hello from inner\n", word.stderr
    assert sandbox.run("mcp", "test", "hello", timeout=120).returncode == 0


def test_a_uv_that_still_installs_editable_is_refused_before_the_commit(sandbox, reg, uv_cache):
    """An older uv named by CLAUDEX_MCP_UV ignores UV_NO_EDITABLE (here: a wrapper that drops it):
    the venv would point at the staging folder, so the install fails, saying why, and the
    registry stays as it was."""
    sandbox.env["UV_CACHE_DIR"] = str(uv_cache)
    old_uv = sandbox.root / "old-uv"
    old_uv.write_text(f"#!/bin/sh\nunset UV_NO_EDITABLE\nexec {deps.uv_binary()} \"$@\"\n")
    old_uv.chmod(0o755)
    sandbox.env["CLAUDEX_MCP_UV"] = str(old_uv)
    folder = python_server(sandbox, "./pkg\n")
    write_files(folder, EDITABLE_SOURCE)
    before = snapshot(reg)
    proc = sandbox.run("mcp", "install", str(folder), timeout=300)
    assert proc.returncode == 5, proc.stderr
    error = json.loads(proc.stderr.splitlines()[-1])["error"]
    assert error["code"] == "editable_install" and "staging folder" in error["message"]
    assert "uv >= 0.11.12" in error["hint"]
    assert snapshot(reg) == before


def test_uv_links_from_the_shared_cache_on_the_same_filesystem(sandbox, reg, uv_cache, monkeypatch):
    cache = sandbox.root / "uv-cache"  # on the registry's filesystem (both under tmp_path)
    sandbox.env["UV_CACHE_DIR"] = str(cache)
    folder = python_server(sandbox, "./pkg\n")
    assert sandbox.run("mcp", "install", str(folder), timeout=300).returncode == 0
    installed = imports_localpkg(reg)
    assert os.stat(installed).st_nlink > 1  # the file is the cache's, hard-linked
    assert any(cache.iterdir())


def test_uv_copies_when_the_cache_is_on_another_filesystem(tmp_path, monkeypatch):
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "cache"))
    assert deps.uv_cache(tmp_path) == (tmp_path / "cache", "hardlink")
    shm = "/dev/shm"
    if not os.path.isdir(shm) or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem")
    assert deps.uv_cache(tmp_path)[1] == "hardlink"
    monkeypatch.setenv("UV_CACHE_DIR", os.path.join(shm, f"claudex-test-uv-{os.getpid()}"))
    try:
        assert deps.uv_cache(tmp_path)[1] == "copy"
    finally:
        os.rmdir(os.environ["UV_CACHE_DIR"])


def test_the_default_cache_is_claudex_own_and_private(sandbox, monkeypatch):
    monkeypatch.delenv("UV_CACHE_DIR", raising=False)
    cache, _ = deps.uv_cache(sandbox.root)
    assert cache == sandbox.home / ".cache" / "claudex" / "uv"
    assert cache.stat().st_mode & 0o077 == 0


def test_a_server_folder_s_uv_config_is_not_read(sandbox, reg, uv_cache):
    """uv reads uv.toml from its working directory: a server cannot point claudex's uv at
    another index (or any other setting) that way."""
    sandbox.env["UV_CACHE_DIR"] = str(uv_cache)
    folder = python_server(sandbox, "./pkg\n")
    (folder / "uv.toml").write_text('index-url = "http://127.0.0.1:9/simple"\nno-build = true\n')
    proc = sandbox.run("mcp", "install", str(folder), timeout=300)
    assert proc.returncode == 0, proc.stderr
    imports_localpkg(reg)


def test_pip_fallback_when_uv_is_turned_off(sandbox, reg):
    sandbox.env["CLAUDEX_MCP_UV"] = "none"
    folder = python_server(sandbox, "-e pkg\n")
    proc = sandbox.run("mcp", "install", str(folder), "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr
    venv = reg / "installed" / "hello" / ".venv"
    assert "uv = " not in (venv / "pyvenv.cfg").read_text()
    assert (venv / "bin" / "pip").exists()  # made by venv, which seeds pip
    assert imports_localpkg(reg).startswith(str(venv))
    no_staging_path_in(venv / "lib")


def test_pip_fallback_when_uv_is_not_found(sandbox, reg, monkeypatch, tmp_path):
    """No CLAUDEX_MCP_UV, and no uv beside the interpreter, in the uv package or on PATH."""
    import sys

    import claudex_mcp.install.deps as module

    monkeypatch.delenv("CLAUDEX_MCP_UV", raising=False)
    monkeypatch.setattr(module.sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setitem(sys.modules, "uv", None)  # `import uv` fails, as when the wheel is absent
    monkeypatch.setenv("PATH", str(tmp_path))
    assert deps.uv_binary() is None
    monkeypatch.setenv("CLAUDEX_MCP_UV", "none")
    assert deps.uv_binary() is None
    monkeypatch.setenv("CLAUDEX_MCP_UV", "/opt/uv/bin/uv")
    assert deps.uv_binary() == "/opt/uv/bin/uv"


def test_a_missing_uv_named_by_the_environment_is_one_clear_error(sandbox, reg):
    sandbox.env["CLAUDEX_MCP_UV"] = str(sandbox.root / "no-such-uv")
    folder = python_server(sandbox, "./pkg\n")
    before = snapshot(reg)
    proc = sandbox.run("mcp", "install", str(folder), timeout=60)
    assert proc.returncode == 5 and "Traceback" not in proc.stderr
    error = json.loads(proc.stderr.splitlines()[-1])["error"]
    assert error["code"] == "missing_runtime" and "CLAUDEX_MCP_UV" in error["hint"]
    assert snapshot(reg) == before


def test_drop_editable_rewrites_only_local_folders(tmp_path):
    from claudex_mcp.install import vendor

    write_files(tmp_path, {"requirements.txt": "-e ./a\n-r more.txt\nrequests\n-e git+https://example.org/x.git#egg=x\n",
                           "more.txt": "--editable b[extra]\n"})
    assert vendor.drop_editable(tmp_path) == ["./a", "./b[extra]"]
    assert (tmp_path / "requirements.txt").read_text().splitlines()[0] == "./a"
    assert (tmp_path / "more.txt").read_text() == "./b[extra]\n"
    assert "-e git+https" in (tmp_path / "requirements.txt").read_text()


def test_a_committed_transaction_s_environment_is_deleted_in_the_background(sandbox, reg, monkeypatch):
    """Deleting an old version's venv can take a minute on a busy disk: the uninstall returns
    without waiting, a detached child (tagged as this claudex's installer) finishes it."""
    from claudex_mcp.store import staging

    monkeypatch.setattr(staging, "DISCARD_WAIT", 0.0)
    txn = staging.Transaction(reg, "uninstall", "hello")
    write_files(txn.removed, {f".venv/lib/f{i}.py": "" for i in range(2000)})
    txn.committed = True
    txn.remove()
    assert txn.dir.exists()  # returned before the child (a new interpreter) could have finished
    deadline = time.monotonic() + 60
    while txn.dir.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not txn.dir.exists()


def test_an_uncommitted_transaction_is_deleted_at_once(sandbox, reg):
    from claudex_mcp.store import staging

    txn = staging.Transaction(reg, "install", "hello")
    write_files(txn.new, {".venv/lib/a.py": ""})
    txn.remove()
    assert not txn.dir.exists()

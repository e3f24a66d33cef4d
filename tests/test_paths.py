"""paths: where the registry, cache, config, logs and projects live, resolved from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from unittest import mock

import pytest

from claudex_mcp import paths

XDG_VARS = ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME")


@pytest.fixture
def no_registry_env(monkeypatch):
    monkeypatch.delenv("CLAUDEX_MCP_REGISTRY", raising=False)


@pytest.fixture
def missing_default(tmp_path, monkeypatch):
    """Point DEFAULT_REGISTRY somewhere that does not exist, whatever the machine has in /opt."""
    missing = tmp_path / "no-such-opt" / "mcp-servers"
    monkeypatch.setattr(paths, "DEFAULT_REGISTRY", str(missing))
    return missing


def fallback(sandbox) -> Path:
    return Path(sandbox.env["XDG_DATA_HOME"]) / "claudex" / "mcp-servers"


# --- registry_dir ------------------------------------------------------------------------------

def test_registry_env_var_wins_over_an_existing_default(sandbox, tmp_path, monkeypatch):
    default = tmp_path / "opt"
    default.mkdir()
    monkeypatch.setattr(paths, "DEFAULT_REGISTRY", str(default))
    chosen = tmp_path / "chosen"
    monkeypatch.setenv("CLAUDEX_MCP_REGISTRY", str(chosen))
    assert paths.registry_dir() == chosen
    assert isinstance(paths.registry_dir(), Path)


def test_registry_env_var_expands_tilde(sandbox, monkeypatch):
    monkeypatch.setenv("CLAUDEX_MCP_REGISTRY", "~/my-registry")
    assert paths.registry_dir() == sandbox.home / "my-registry"


def test_registry_env_var_relative_is_made_absolute(sandbox, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLAUDEX_MCP_REGISTRY", "rel/registry")
    result = paths.registry_dir()
    assert result.is_absolute()
    assert result == tmp_path / "rel" / "registry"


def test_registry_env_var_empty_is_ignored(sandbox, monkeypatch, missing_default):
    monkeypatch.setenv("CLAUDEX_MCP_REGISTRY", "")
    assert paths.registry_dir() == fallback(sandbox)


def test_unset_uses_default_when_it_exists_and_is_writable(sandbox, tmp_path, monkeypatch, no_registry_env):
    default = tmp_path / "opt-mcp-servers"
    default.mkdir()
    monkeypatch.setattr(paths, "DEFAULT_REGISTRY", str(default))
    assert paths.registry_dir() == default


def test_unset_and_default_missing_falls_back_to_xdg_data(sandbox, no_registry_env, missing_default):
    assert not missing_default.exists()
    assert paths.registry_dir() == fallback(sandbox)


def test_unset_and_default_is_a_file_falls_back(sandbox, tmp_path, monkeypatch, no_registry_env):
    default = tmp_path / "opt-file"
    default.write_text("not a folder")
    monkeypatch.setattr(paths, "DEFAULT_REGISTRY", str(default))
    assert paths.registry_dir() == fallback(sandbox)


def test_unset_and_default_not_writable_falls_back(sandbox, tmp_path, monkeypatch, no_registry_env):
    default = tmp_path / "opt-readonly"
    default.mkdir()
    monkeypatch.setattr(paths, "DEFAULT_REGISTRY", str(default))
    os.chmod(default, 0o555)
    try:
        if os.geteuid() == 0:
            # root may write anywhere, so os.access would say yes: make it answer as for a user.
            real_access = os.access

            def access(path, mode, *args, **kwargs):
                if os.fspath(path) == str(default) and mode & os.W_OK:
                    return False
                return real_access(path, mode, *args, **kwargs)

            monkeypatch.setattr(os, "access", access)
        assert not os.access(default, os.W_OK)
        assert paths.registry_dir() == fallback(sandbox)
    finally:
        os.chmod(default, 0o755)


def test_unset_with_xdg_data_unset_falls_back_under_home(sandbox, monkeypatch, no_registry_env, missing_default):
    monkeypatch.delenv("XDG_DATA_HOME")
    assert paths.registry_dir() == sandbox.home / ".local" / "share" / "claudex" / "mcp-servers"


def test_registry_file_and_lock_file(tmp_path):
    assert paths.registry_file(tmp_path) == tmp_path / "registry.json"
    assert paths.registry_lock_file(tmp_path) == tmp_path / ".lock"


# --- XDG base directories ----------------------------------------------------------------------

@pytest.mark.parametrize("func, var", [
    (paths.data_home, "XDG_DATA_HOME"),
    (paths.cache_home, "XDG_CACHE_HOME"),
    (paths.config_home, "XDG_CONFIG_HOME"),
    (paths.state_home, "XDG_STATE_HOME"),
])
def test_xdg_variable_is_used_when_absolute(sandbox, tmp_path, monkeypatch, func, var):
    target = tmp_path / f"custom-{var.lower()}"
    monkeypatch.setenv(var, str(target))
    assert func() == target


@pytest.mark.parametrize("func, default", [
    (paths.data_home, ".local/share"),
    (paths.cache_home, ".cache"),
    (paths.config_home, ".config"),
    (paths.state_home, ".local/state"),
])
def test_xdg_unset_defaults_under_home(sandbox, monkeypatch, func, default):
    for var in XDG_VARS:
        monkeypatch.delenv(var, raising=False)
    assert func() == sandbox.home / default


@pytest.mark.parametrize("value", ["relative/cache", "./cache", "~/cache", ""])
@pytest.mark.parametrize("func, var, default", [
    (paths.data_home, "XDG_DATA_HOME", ".local/share"),
    (paths.cache_home, "XDG_CACHE_HOME", ".cache"),
    (paths.config_home, "XDG_CONFIG_HOME", ".config"),
    (paths.state_home, "XDG_STATE_HOME", ".local/state"),
])
def test_xdg_relative_or_empty_value_is_ignored(sandbox, monkeypatch, func, var, default, value):
    monkeypatch.setenv(var, value)
    assert func() == sandbox.home / default


def test_home_follows_home_variable(sandbox, tmp_path, monkeypatch):
    assert paths.home() == sandbox.home
    monkeypatch.setenv("HOME", str(tmp_path / "other"))
    assert paths.home() == tmp_path / "other"


# --- files and folders -------------------------------------------------------------------------

def test_cache_file(sandbox):
    assert paths.cache_file() == sandbox.cache / "claudex" / "mcp-registry.json"


def test_user_config_file(sandbox):
    assert paths.user_config_file() == sandbox.config / "claudex" / "mcp.json"


def test_logs_dir(sandbox):
    assert paths.logs_dir() == sandbox.state / "claudex" / "logs"


def test_files_follow_xdg_changes(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "s"))
    assert paths.cache_file() == tmp_path / "c" / "claudex" / "mcp-registry.json"
    assert paths.user_config_file() == tmp_path / "cfg" / "claudex" / "mcp.json"
    assert paths.logs_dir() == tmp_path / "s" / "claudex" / "logs"


def test_files_with_xdg_unset(sandbox, monkeypatch):
    for var in XDG_VARS:
        monkeypatch.delenv(var, raising=False)
    assert paths.cache_file() == sandbox.home / ".cache" / "claudex" / "mcp-registry.json"
    assert paths.user_config_file() == sandbox.home / ".config" / "claudex" / "mcp.json"
    assert paths.logs_dir() == sandbox.home / ".local" / "state" / "claudex" / "logs"


def test_projects_dir_from_variable(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("CLAUDEX_PROJECTS_DIR", str(tmp_path / "projects"))
    assert paths.projects_dir() == tmp_path / "projects"


def test_projects_dir_variable_expands_tilde(sandbox, monkeypatch):
    monkeypatch.setenv("CLAUDEX_PROJECTS_DIR", "~/work")
    assert paths.projects_dir() == sandbox.home / "work"


@pytest.mark.parametrize("value", [None, ""])
def test_projects_dir_defaults_to_home_claudex(sandbox, monkeypatch, value):
    if value is None:
        monkeypatch.delenv("CLAUDEX_PROJECTS_DIR", raising=False)
    else:
        monkeypatch.setenv("CLAUDEX_PROJECTS_DIR", value)
    assert paths.projects_dir() == sandbox.home / "claudex"


def test_schema_file_exists_for_every_kind():
    for kind in ("manifest", "registry", "config"):
        path = paths.schema_file(kind)
        assert path.name == f"{kind}-v1.schema.json"
        assert path.is_file()


# --- an explicit environment -------------------------------------------------------------------

class _NoEnviron(Mapping):
    """Stands in for os.environ: any read fails the test."""

    def _fail(self, *args, **kwargs):
        raise AssertionError("os.environ was read although an explicit env mapping was given")

    __getitem__ = __iter__ = __len__ = __contains__ = get = _fail
    copy = keys = items = values = _fail


def test_explicit_env_mapping_does_not_read_os_environ(tmp_path, monkeypatch):
    env = {
        "HOME": "/e/home",
        "XDG_DATA_HOME": "/e/data",
        "XDG_CACHE_HOME": "/e/cache",
        "XDG_CONFIG_HOME": "/e/config",
        "XDG_STATE_HOME": "/e/state",
        "CLAUDEX_MCP_REGISTRY": "/e/registry",
        "CLAUDEX_PROJECTS_DIR": "/e/projects",
    }
    with mock.patch.object(os, "environ", _NoEnviron()):
        got = {
            "home": paths.home(env),
            "data": paths.data_home(env),
            "cache": paths.cache_home(env),
            "config": paths.config_home(env),
            "state": paths.state_home(env),
            "registry": paths.registry_dir(env),
            "cache_file": paths.cache_file(env),
            "user_config": paths.user_config_file(env),
            "logs": paths.logs_dir(env),
            "projects": paths.projects_dir(env),
        }
    assert got == {
        "home": Path("/e/home"),
        "data": Path("/e/data"),
        "cache": Path("/e/cache"),
        "config": Path("/e/config"),
        "state": Path("/e/state"),
        "registry": Path("/e/registry"),
        "cache_file": Path("/e/cache/claudex/mcp-registry.json"),
        "user_config": Path("/e/config/claudex/mcp.json"),
        "logs": Path("/e/state/claudex/logs"),
        "projects": Path("/e/projects"),
    }


def test_explicit_env_mapping_defaults_come_from_its_home(sandbox, monkeypatch, missing_default):
    env = {"HOME": "/e/home"}
    assert paths.registry_dir(env) == Path("/e/home/.local/share/claudex/mcp-servers")
    assert paths.cache_file(env) == Path("/e/home/.cache/claudex/mcp-registry.json")
    assert paths.user_config_file(env) == Path("/e/home/.config/claudex/mcp.json")
    assert paths.logs_dir(env) == Path("/e/home/.local/state/claudex/logs")
    assert paths.projects_dir(env) == Path("/e/home/claudex")
    # The process's own environment (the sandbox) is not consulted.
    assert str(sandbox.home) not in str(paths.registry_dir(env))


def test_explicit_env_mapping_ignores_relative_xdg(sandbox):
    env = {"HOME": "/e/home", "XDG_CACHE_HOME": "cache"}
    assert paths.cache_home(env) == Path("/e/home/.cache")


@pytest.mark.parametrize("func, var", [(paths.registry_dir, "CLAUDEX_MCP_REGISTRY"),
                                       (paths.projects_dir, "CLAUDEX_PROJECTS_DIR")])
def test_explicit_env_mapping_expands_tilde_with_its_own_home(sandbox, func, var):
    env = {"HOME": "/e/home", var: "~/place"}
    assert func(env) == Path("/e/home/place")

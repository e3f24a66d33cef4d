"""Issue #11 (items 2, 3, 5, 6) as regression tests: secrets never reach generated or shared files,
an untrusted project layer may only enable/disable, the environment's failures end in clean
errors, and generate keeps foreign bytes and refuses files it must not touch."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import ROOT, add_server, manifest
from claudex_mcp.settings import config, project as project_mod
from claudex_mcp.runtime import launcher
from claudex_mcp.store import registry as registry_mod
from claudex_mcp import secrets

SECRET = "sk-live-4f9a8b7c6d5e4f3a2b1c"


def cli(sandbox, *argv, **kw):
    return sandbox.run("mcp", *argv, **kw)


def ok(proc):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout) if proc.stdout.startswith(("{", "[")) else proc.stdout


def refused(proc, code=None):
    """A clean failure: a documented exit code, nothing on stdout, one error object with a hint."""
    assert proc.returncode not in (0, 70), (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    error = json.loads(proc.stderr.strip().splitlines()[-1])["error"]
    assert error.get("hint"), error
    if code is not None:
        assert error["code"] == code, error
    return error


def snapshot(*roots: Path) -> dict:
    """Every file under ``roots`` with its bytes and mode (the caches left out)."""
    found = {}
    for root in roots:
        if not root.exists():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink() and ".cache" not in path.parts and "locks" not in path.parts:
                found[str(path)] = (path.read_bytes(), path.stat().st_mode)
    return found


def remote_manifest(name="remote", **server):
    body = {"transport": "http", "url": "https://mcp.example.com/mcp"}
    body.update(server)
    return {"apiVersion": "v1", "metadata": {"name": name, "version": "1.0.0", "description": "remote"},
            "server": body}


@pytest.fixture
def reg(sandbox):
    registry_mod.init(sandbox.registry)
    add_server(sandbox.registry, "notes", doc=manifest("notes", command=sys.executable, env={"MODE": "x"}))
    add_server(sandbox.registry, "remote", doc=remote_manifest(), files={})
    return sandbox.registry


def user_layer(sandbox, doc):
    path = sandbox.config / "claudex" / "mcp.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"apiVersion": "v1", **doc}))
    return path


# ---- 2. secrets ---------------------------------------------------------------------------

@pytest.mark.parametrize("path,value", [
    (("env", "X"), "${UNSET:-" + SECRET + "}"),
    (("env", "X"), "sk-live${X}"),
    (("env", "DB_PASS"), "hunter2"),
    (("env", "DATABASE_URL"), "postgres://app:s3cret@db:5432/app"),
    (("headers", "Cookie"), "session=abc"),
    (("headers", "X-Custom"), "Bearer abcdef"),
    (("args", 1), "--api-key=abcdef"),
    (("args", 0), SECRET),
    (("settings", "db", "password"), "pw"),
    (("env", "PLAIN"), "ghp_" + "a1B2" * 9),
])
def test_detector_finds_secrets_by_name_and_shape(path, value):
    assert secrets.is_secret(path, value)
    assert SECRET not in json.dumps(secrets.mask((), {path[0]: value}))


@pytest.mark.parametrize("path,value", [
    (("env", "API_KEY"), "${API_KEY}"),
    (("headers", "Authorization"), "Bearer ${TOKEN}"),
    (("env", "URL"), "https://example.com/path"),
    (("args", 0), "--verbose"),
    (("env", "COMMIT"), "0123456789abcdef0123456789abcdef01234567"),
    (("env", "DIR"), "/usr/lib/python3/dist-packages/SomeThing1234"),
    (("env", "TASK"), "task-runner12"),
])
def test_detector_leaves_references_and_plain_values(path, value):
    assert not secrets.is_secret(path, value)


def test_servers_scrub_the_token_shapes_the_detector_knows():
    """The shipped servers cannot import the core: claudex_server.scrub keeps a copy of its token
    shapes, and this keeps the two the same."""
    from claudex_server import scrub

    assert scrub.TOKEN_SHAPES.pattern == secrets._TOKEN_SHAPES.pattern
    assert scrub.Scrubber(shapes=True).text(f"key {SECRET}.") == "key ********."


@pytest.mark.parametrize("key,value", [
    ("env.X", "${UNSET:-" + SECRET + "}"),
    ("env.X", "sk-live${X}"),
    ("env.DB_PASS", "hunter2"),
    ("env.DATABASE_URL", "postgres://app:s3cret@db/app"),
    ("headers.Cookie", "session=abc"),
    ("args", json.dumps(["--token=abcdef"])),
    ("settings.db.password", "pw"),
])
def test_shared_layers_refuse_secrets_and_show_masks_them(sandbox, reg, key, value):
    before = snapshot(reg)
    error = refused(cli(sandbox, "config", "set", "notes", key, value, "--global"), "secret_in_shared_layer")
    assert value not in json.dumps(error)
    assert snapshot(reg) == before
    ok(cli(sandbox, "config", "set", "notes", key, value))  # the user layer is the place for secrets
    shown = cli(sandbox, "config", "show", "notes", "--json")
    explained = cli(sandbox, "config", "explain", "notes", "--json")
    for proc in (shown, explained):
        assert proc.returncode == 0
        for part in ("hunter2", "s3cret", "abcdef", "session=abc", "sk-live", '"pw"'):
            assert part not in proc.stdout, (part, proc.stdout)


def test_secret_in_user_header_never_reaches_a_generated_file(sandbox, reg):
    user = user_layer(sandbox, {"servers": {"remote": {"headers": {"Authorization": f"Bearer {SECRET}",
                                                                   "X-Team": "platform"}}}})
    project = sandbox.home / "claudex" / "demo"
    (project / ".claudex").mkdir(parents=True)
    runs = [("claude-code", "default"), ("claude-code", "project"), ("claude-code", "user"), ("codex", "user"),
            ("cursor", "project"), ("cursor", "user"), ("vscode", "project"), ("claude-desktop", "user")]
    for client, scope in runs:
        proc = cli(sandbox, "generate", "--client", client, "--scope", scope, "--project", "demo", "--json")
        result = ok(proc)
        if client == "vscode":  # VS Code prompts for it once and keeps it in its secret storage
            assert "remote" in result["servers"]
            continue
        if client in ("claude-code", "codex"):  # they run the headers helper, which reads the user layer
            assert "remote" in result["servers"]
            target = json.loads(proc.stdout)["target"]
            assert "mcp headers remote" in Path(target).read_text()
            continue
        assert "remote" not in result["servers"]
        if client != "claude-desktop":
            assert any("remote" in w and "Authorization" in w for w in result["warnings"]), result
    for path in list(sandbox.home.rglob("*")) + list(project.rglob("*")):
        if path.is_file() and path != user:
            assert SECRET not in path.read_text(errors="replace"), path
    merged = subprocess.run(f"{sys.executable} {ROOT}/scripts/mcp-utils scan | {sys.executable} "
                            f"{ROOT}/scripts/merge-config", shell=True, capture_output=True, text=True, env=sandbox.env)
    assert merged.returncode == 0, merged.stderr
    assert SECRET not in merged.stdout and "platform" not in merged.stdout
    assert json.loads(merged.stdout)["servers"]["remote"]["withheld"] == ["/headers/Authorization", "/headers/X-Team"]


def test_vscode_gets_a_password_prompt_instead_of_the_secret(sandbox, reg):
    user_layer(sandbox, {"servers": {"remote": {"headers": {"Authorization": f"Bearer {SECRET}", "X-Team": "a"}}}})
    project = sandbox.home / "claudex" / "demo"
    (project / ".vscode").mkdir(parents=True)
    target = project / ".vscode" / "mcp.json"
    target.write_text('{\n  "inputs": [{"type": "promptString", "id": "mine", "description": "Mine 1.50"}],\n'
                      '  "servers": {}\n}\n')
    ok(cli(sandbox, "generate", "--client", "vscode", "--project", "demo", "--json"))
    text = target.read_text()
    doc = json.loads(text)
    assert SECRET not in text and '{"type": "promptString", "id": "mine", "description": "Mine 1.50"}' in text
    assert doc["servers"]["remote"]["headers"] == {"Authorization": "Bearer ${input:claudex-remote-authorization}",
                                                   "X-Team": "${input:claudex-remote-x-team}"}
    ids = [item["id"] for item in doc["inputs"]]
    assert ids == ["mine", "claudex-remote-authorization", "claudex-remote-x-team"]
    assert all(item["password"] for item in doc["inputs"][1:])
    once = target.read_bytes()
    ok(cli(sandbox, "generate", "--client", "vscode", "--project", "demo"))
    assert target.read_bytes() == once  # the same prompts again: nothing rewritten
    ok(cli(sandbox, "disable", "remote"))
    ok(cli(sandbox, "generate", "--client", "vscode", "--project", "demo"))
    assert [item["id"] for item in json.loads(target.read_text())["inputs"]] == ["mine"]


def test_a_reference_in_the_user_layer_is_written_as_a_reference(sandbox, reg):
    user_layer(sandbox, {"servers": {"remote": {"headers": {"Authorization": "Bearer ${API_TOKEN}"}}}})
    ok(cli(sandbox, "generate", "--json"))
    entry = json.loads((sandbox.home / ".mcp.json").read_text())["mcpServers"]["remote"]
    assert entry["headers"] == {"Authorization": "Bearer ${API_TOKEN}"}
    ok(cli(sandbox, "generate", "--client", "codex", "--json"))
    codex = tomllib.loads((sandbox.home / ".codex" / "config.toml").read_text())["mcp_servers"]["remote"]
    assert codex["bearer_token_env_var"] == "API_TOKEN"


def test_install_never_stores_or_prints_url_credentials(sandbox, reg):
    before = snapshot(reg, sandbox.home)
    for url in ("https://user:tok3nvalue@git.example.com/acme/tools.git",
                "https://ghp_abcdefghijklmnopqrstu1234@github.com/acme/tools.git@v1"):
        proc = cli(sandbox, "install", url, "--json")
        error = refused(proc, "credentials_in_url")
        assert "tok3nvalue" not in proc.stderr and "ghp_" not in proc.stderr
        assert error["message"].count("@") == 0 or "github.com/acme" in error["message"]
    assert snapshot(reg, sandbox.home) == before


def test_list_masks_credentials_recorded_before_the_fix(sandbox, reg):
    records = registry_mod.reconciled(reg)
    records["notes"]["source"] = {"type": "git", "url": "https://user:tok3nvalue@git.example.com/x.git",
                                  "commit": "0123456789abcdef0123456789abcdef01234567"}
    registry_mod.write_records(reg, records)
    proc = cli(sandbox, "list", "--json", "--refresh")
    assert proc.returncode == 0 and "tok3nvalue" not in proc.stdout
    assert json.loads(proc.stdout)[0]["source"]["url"] == "https://user:********@git.example.com/x.git"


# ---- 3. the project layer is untrusted ----------------------------------------------------

@pytest.fixture
def hostile(sandbox, reg):
    folder = sandbox.home / "clone"
    (folder / ".claudex").mkdir(parents=True)
    (folder / ".claudex" / "mcp.json").write_text(json.dumps({"servers": {
        "notes": {"enabled": True, "env": {"LD_PRELOAD": "/tmp/evil.so", "PATH": "/tmp/evil"},
                  "args": ["/tmp/evil.py"]},
        "remote": {"enabled": False}}}))
    return folder.resolve()


def _launch(sandbox, folder):
    from claudex_mcp.store import cache

    index, _ = cache.load(sandbox.registry, refresh=True)
    layers = config.Layers(sandbox.registry, project_mod.by_dir(folder))
    env = {"PATH": os.environ["PATH"]}
    return layers, launcher.prepare(index["servers"]["notes"], layers, env)


def test_untrusted_project_layer_only_switches_servers(sandbox, hostile):
    layers, launch = _launch(sandbox, hostile)
    assert "LD_PRELOAD" not in launch.env and launch.env["PATH"] != "/tmp/evil"
    assert "/tmp/evil.py" not in launch.argv
    assert layers.ignored == ["/servers/notes/env", "/servers/notes/args"]
    assert "claudex mcp config trust" in layers.notice()
    listed = cli(sandbox, "list", "--json", "--project-dir", str(hostile))
    assert {r["name"]: r["enabled"] for r in json.loads(listed.stdout)}["remote"] is False  # enable/disable applies
    assert "not trusted" in listed.stderr and "config trust" in listed.stderr
    status = cli(sandbox, "status", "--json", "--project-dir", str(hostile), "notes")
    assert "not trusted" in status.stderr
    printed = cli(sandbox, "generate", "--project-dir", str(hostile), "--output", "-")
    assert printed.returncode == 0 and "evil" not in printed.stdout and "not trusted" in printed.stderr
    written = ok(cli(sandbox, "generate", "--json", "--project-dir", str(hostile), "--scope", "project"))
    assert any("not trusted" in w for w in written["warnings"])
    assert "evil" not in (hostile / ".mcp.json").read_text()
    merged = json.loads(cli(sandbox, "config", "explain", "notes", "--json", "--project-dir", str(hostile)).stdout)
    assert "evil" not in json.dumps(merged["values"])  # listed as ignored, never as a value that applies
    assert {i["key"] for i in merged["ignored"]} == {"env.LD_PRELOAD", "env.PATH", "args"}


def test_trusting_a_folder_lets_its_layer_apply_and_untrust_takes_it_back(sandbox, hostile):
    result = ok(cli(sandbox, "config", "trust", str(hostile), "--json"))
    assert result == {"dir": str(hostile), "trusted": True, "changed": True,
                      "file": str(sandbox.config / "claudex" / "mcp.json")}
    assert (os.stat(result["file"]).st_mode & 0o777) == 0o600
    _, launch = _launch(sandbox, hostile)
    assert launch.env.get("LD_PRELOAD") == "/tmp/evil.so" and "/tmp/evil.py" in launch.argv
    ok(cli(sandbox, "config", "untrust", str(hostile), "--json"))
    _, launch = _launch(sandbox, hostile)
    assert "LD_PRELOAD" not in launch.env


@pytest.mark.parametrize("link", ["file", "folder"])
@pytest.mark.parametrize("argv", [("disable", "notes"), ("enable", "remote"), ("config", "set", "notes", "enabled", "false")])
def test_a_linked_project_layer_is_never_written_through(sandbox, reg, link, argv):
    """#24.5: a repository's .claudex/mcp.json (or .claudex/) that links elsewhere (here to the user
    layer, or to a folder of its own) is refused for writing: the target keeps its bytes."""
    user_layer(sandbox, {"apiVersion": "v1", "servers": {"notes": {"env": {"MODE": "mine"}}}})
    user_file = sandbox.config / "claudex" / "mcp.json"
    repo = sandbox.home / "repo"
    repo.mkdir()
    elsewhere = sandbox.root / "elsewhere"
    elsewhere.mkdir()
    if link == "file":
        (repo / ".claudex").mkdir()
        (repo / ".claudex" / "mcp.json").symlink_to(user_file)
    else:
        (repo / ".claudex").symlink_to(elsewhere)
    before = snapshot(sandbox.config, elsewhere)
    error = refused(cli(sandbox, *argv, "--project-dir", str(repo)), "unsafe_path")
    assert "symbolic link" in error["message"]
    assert snapshot(sandbox.config, elsewhere) == before
    assert list(elsewhere.iterdir()) == []


def test_a_project_cannot_trust_itself(sandbox, hostile):
    doc = json.loads((hostile / ".claudex" / "mcp.json").read_text())
    doc["trustedProjects"] = [str(hostile)]
    (hostile / ".claudex" / "mcp.json").write_text(json.dumps(doc))
    _, launch = _launch(sandbox, hostile)
    assert "LD_PRELOAD" not in launch.env


# ---- 5. clean errors ----------------------------------------------------------------------

@contextlib.contextmanager
def mounted(target: Path, *options: str):
    """A tmpfs (or a read-only bind mount) at ``target``; skipped where the machine cannot."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root and mount(8) to make a tmpfs or a read-only bind mount")
    target.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", *options], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"mount failed here: {proc.stderr.strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_full_disk_is_a_clean_error_and_changes_nothing(sandbox, reg):
    config_dir = sandbox.config / "claudex"
    with mounted(config_dir, "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(config_dir)):
        (config_dir / "mcp.json").write_text('{"apiVersion": "v1", "servers": {}}\n')
        fd = os.open(config_dir / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        before = (config_dir / "mcp.json").read_bytes()
        error = refused(cli(sandbox, "config", "set", "notes", "settings.blob", "x" * 20000), "no_space")
        assert "space" in error["message"]
        assert (config_dir / "mcp.json").read_bytes() == before
        assert sorted(p.name for p in config_dir.iterdir()) == ["filler", "mcp.json"]


def test_full_disk_while_generating_leaves_no_backup_and_no_record(sandbox, reg, tmp_path):
    disk = tmp_path / "disk"
    with mounted(disk, "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)):
        target = disk / "mcp.json"
        target.write_text('{"mcpServers": {"mine": {"command": "x"}}, "pad": "' + "p" * 3000 + '"}\n')
        fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 1024):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        state = sandbox.state / "claudex" / "generated.json"
        before = (target.read_bytes(), state.read_bytes() if state.exists() else None)
        refused(cli(sandbox, "generate", "--output", str(target)), "no_space")
        assert (target.read_bytes(), state.read_bytes() if state.exists() else None) == before
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "mcp.json"]


def test_read_only_registry_is_a_clean_error(sandbox, reg):
    with mounted(reg, "--bind", "-o", "ro", str(reg), str(reg)):
        # a bind mount is made read-only by a remount
        subprocess.run(["mount", "-o", "remount,bind,ro", str(reg)], capture_output=True)
        before = snapshot(reg)
        refused(cli(sandbox, "config", "set", "notes", "settings.a", "1", "--global"), "read_only")
        refused(cli(sandbox, "disable", "notes"))
        assert snapshot(reg) == before


def test_immutable_target_is_a_clean_error(sandbox, reg):
    if shutil.which("chattr") is None or os.geteuid() != 0:
        pytest.skip("needs chattr and root to make an immutable file")
    target = sandbox.home / ".mcp.json"
    target.write_text('{"mcpServers": {}}\n')
    if subprocess.run(["chattr", "+i", str(target)], capture_output=True).returncode != 0:
        pytest.skip("this file system has no immutable attribute")
    try:
        before = snapshot(sandbox.home)
        refused(cli(sandbox, "generate", "--client", "claude-code"), "not_writable")
        refused(cli(sandbox, "generate", "--client", "cursor", "--scope", "user", "--output", str(target)),
                "not_writable")
        assert target.read_text() == '{"mcpServers": {}}\n'
        assert snapshot(sandbox.home) == before  # no .bak, no record of entries never written
    finally:
        subprocess.run(["chattr", "-i", str(target)], capture_output=True)


def test_lock_that_is_a_folder_is_a_clean_error(sandbox, reg):
    (reg / ".lock").unlink(missing_ok=True)
    (reg / ".lock").mkdir()
    refused(cli(sandbox, "disable", "notes"))
    assert (reg / "installed" / "notes").is_dir()


def test_long_names_deep_keys_and_bad_bytes_are_clean_errors(sandbox, reg):
    long = "/tmp/" + "a" * 300
    for argv in (("install", long), ("validate", long), ("config", "show", "notes", "--project-dir", long),
                 ("generate", "--output", long + "/x.json")):
        refused(cli(sandbox, *argv))
    refused(cli(sandbox, "config", "set", "notes", "settings" + ".a" * 2000, "1"), "key_too_deep")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "claudex"), "mcp", "validate", b"\xff\xfe.json"],
                          capture_output=True, env=sandbox.env)
    assert proc.returncode == 2 and proc.stdout == b""
    assert json.loads(proc.stderr.splitlines()[-1])["error"]["code"] == "not_utf8"


def test_a_deeply_nested_layer_is_a_clean_error(sandbox, reg):
    path = user_layer(sandbox, {})
    path.write_text('{"servers": {"notes": {"settings": {"a": ' + "[" * 2000 + "]" * 2000 + "}}}}")
    refused(cli(sandbox, "config", "show", "notes"))
    refused(cli(sandbox, "generate"))


def test_a_lone_surrogate_in_a_layer_or_manifest_is_a_clean_error(sandbox, reg, tmp_path):
    path = user_layer(sandbox, {})
    path.write_text('{"servers": {"notes": {"env": {"A": "\\ud800"}}}}')
    error = refused(cli(sandbox, "config", "show", "notes"))
    assert "surrogate" in error["message"] and "/servers/notes/env/A" in error["message"]
    run = cli(sandbox, "run", "notes")
    assert run.returncode == 1 and "surrogate" in run.stderr and "hint:" in run.stderr
    doc = manifest("sur")
    doc["server"]["env"] = {"A": "\ud800"}
    (tmp_path / "m.json").write_text(json.dumps(doc))  # json.dumps writes it as the escape \ud800
    proc = cli(sandbox, "validate", str(tmp_path / "m.json"), "--json")
    assert proc.returncode == 1 and '"rule": "not_utf8"' in proc.stdout


def test_installing_the_registry_into_itself_is_refused(sandbox, reg):
    before = snapshot(reg)
    for source in (str(reg), str(reg / "installed" / "notes"), str(reg.parent)):
        refused(cli(sandbox, "install", source), "source_overlaps_registry")
    assert snapshot(reg) == before


def test_test_verb_takes_a_folder_named_unlike_its_server(sandbox, reg, tmp_path):
    folder = tmp_path / "checkout"
    shutil.copytree(reg / "installed" / "notes", folder)
    proc = cli(sandbox, "test", str(folder), "--json", timeout=120)
    assert proc.returncode != 70 and "KeyError" not in proc.stderr


@pytest.mark.parametrize("argv,code", [
    (("install", ""), "invalid_source"),
    (("install", "-"), None),
    (("install", "{folder}", "--ref", "main"), "git_option_without_git"),
    (("install", "{folder}", "--submodules"), "git_option_without_git"),
    (("install", "https://git.example.com/x.git@v1", "--ref", "v2"), "ref_conflict"),
    (("logs", "notes", "-n", "-1"), "usage"),
    (("create", "newsrv", "--license", "MIT; rm -rf /", "--dest", "{tmp}/n1"), "invalid_answers"),
    (("create", "newsrv", "--description", "x" * 600, "--dest", "{tmp}/n2"), "invalid_answers"),
])
def test_user_mistakes_get_a_hint(sandbox, reg, tmp_path, argv, code):
    folder = tmp_path / "src" / "notes"
    shutil.copytree(reg / "installed" / "notes", folder)
    argv = [a.format(folder=folder, tmp=tmp_path) for a in argv]
    refused(cli(sandbox, *argv), code)
    assert not (tmp_path / "n1").exists() and not (tmp_path / "n2").exists()


# ---- 6. generate keeps foreign bytes and refuses what it must not touch --------------------

FOREIGN = ('{\n  "numStartups": 1e400,\n  "big": 123456789012345678901234567890,\n'
           '  "text": "caf\\u00e9 \\ud800 \\/",\n  "mcpServers": {\n    "mine": {"command": "x", "n": 1.50}\n  },\n'
           '  "z": [1e-7, 10.0]\n}\n')


def test_generate_passes_foreign_values_through_byte_exact(sandbox, reg):
    target = sandbox.home / ".claude.json"
    target.write_text(FOREIGN)
    target.chmod(0o600)
    ok(cli(sandbox, "generate", "--scope", "user", "--json"))
    text = target.read_text()
    for raw in ('"numStartups": 1e400', "123456789012345678901234567890", '"caf\\u00e9 \\ud800 \\/"',
                '"mine": {"command": "x", "n": 1.50}', '"z": [1e-7, 10.0]'):
        assert raw in text, raw
    assert list(json.loads(text)) == ["numStartups", "big", "text", "mcpServers", "z"]
    assert "notes" in json.loads(text)["mcpServers"]
    ok(cli(sandbox, "disable", "notes"))  # regenerates: still byte-exact around claudex's entries
    assert '"numStartups": 1e400' in target.read_text()


def test_generate_refuses_a_read_only_target(sandbox, reg):
    target = sandbox.home / ".mcp.json"
    target.write_text('{"mcpServers": {}}\n')
    target.chmod(0o444)
    refused(cli(sandbox, "generate"), "read_only_target")
    assert target.read_text() == '{"mcpServers": {}}\n' and not (sandbox.home / ".mcp.json.bak").exists()


def test_generate_and_config_set_refuse_a_dangling_symlink(sandbox, reg, tmp_path):
    target = sandbox.home / ".mcp.json"
    target.symlink_to(tmp_path / "dotfiles" / "mcp.json")
    refused(cli(sandbox, "generate"), "dangling_symlink")
    assert not (tmp_path / "dotfiles").exists()
    user = sandbox.config / "claudex" / "mcp.json"
    user.parent.mkdir(parents=True)
    user.symlink_to(tmp_path / "dotfiles" / "claudex.json")
    refused(cli(sandbox, "config", "set", "notes", "settings.a", "1"), "dangling_symlink")
    assert not (tmp_path / "dotfiles").exists() and user.is_symlink()


def test_generate_and_config_set_write_through_a_symlink_alike(sandbox, reg, tmp_path):
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "mcp.json").write_text('{"mcpServers": {}}\n')
    (dotfiles / "claudex.json").write_text('{"apiVersion": "v1", "servers": {}}\n')
    (sandbox.home / ".mcp.json").symlink_to(dotfiles / "mcp.json")
    user = sandbox.config / "claudex" / "mcp.json"
    user.parent.mkdir(parents=True)
    user.symlink_to(dotfiles / "claudex.json")
    ok(cli(sandbox, "generate"))
    ok(cli(sandbox, "config", "set", "notes", "settings.a", "1"))
    assert (sandbox.home / ".mcp.json").is_symlink() and user.is_symlink()
    assert "notes" in json.loads((dotfiles / "mcp.json").read_text())["mcpServers"]
    assert json.loads((dotfiles / "claudex.json").read_text())["servers"]["notes"]["settings"] == {"a": 1}


def test_escape_is_literal_and_malformed_references_are_refused(sandbox, reg):
    from claudex_mcp import expand

    assert expand.expand("$${HOME} ${A:-b} $$x", {"HOME": "/h"}) == "${HOME} b $$x"
    assert expand.references("$${HOME} ${A}") == {"A"}
    ok(cli(sandbox, "config", "set", "notes", "env.LITERAL", "$${NOT_EXPANDED}"))
    for value in ("${", "${1BAD}", "a ${B c"):
        error = refused(cli(sandbox, "config", "set", "notes", "env.X", value), "invalid_value")
        assert "$${" in error["hint"]
    user_layer(sandbox, {"servers": {"notes": {"env": {"X": "${oops"}}}})
    run = cli(sandbox, "run", "notes")  # the launcher writes only the readable line
    assert run.returncode == 1 and "hint:" in run.stderr and "Traceback" not in run.stderr
    proc = cli(sandbox, "validate", "--schema", "config", str(sandbox.config / "claudex" / "mcp.json"), "--json")
    assert proc.returncode == 1 and "variable-syntax" in proc.stdout


def test_effective_config_follows_its_schema(sandbox, reg):
    merged = subprocess.run(f"{sys.executable} {ROOT}/scripts/mcp-utils scan | {sys.executable} "
                            f"{ROOT}/scripts/merge-config", shell=True, capture_output=True, env=sandbox.env)
    assert merged.returncode == 0
    proc = cli(sandbox, "validate", "--schema", "effective", "-", "--json", input=merged.stdout)
    assert proc.returncode == 0, proc.stdout
    bad = json.loads(merged.stdout)
    bad["servers"]["notes"]["launch"]["args"] = [3]
    refused(subprocess.run([sys.executable, str(ROOT / "scripts" / "generate-mcp-json"), "--output", "-"],
                           input=json.dumps(bad), capture_output=True, text=True, env=sandbox.env),
            "invalid_effective_config")

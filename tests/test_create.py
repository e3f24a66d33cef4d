"""create: every built-in template, with --defaults and with a set of --data, renders a server that
validates, passes its own tests and `claudex mcp test`, installs into a registry and is healthy
in `status`; custom templates (folder, git URL @REF, --trust); the questionnaire on a terminal;
refusals that write nothing; `copier update` on a rendered server."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from claudex_mcp.store import registry as registry_mod
from conftest import ROOT, add_server
from lifecycle_helpers import GIT_ENV, git

CLAUDEX = str(Path(sys.executable).parent / "claudex")
TEMPLATES = ("node", "python", "shell")
# The package caches live in the project's ignored .tools/, so a test run downloads each once.
CACHES = {"npm_config_cache": str(ROOT / ".tools" / "npm-cache"), "npm_config_update_notifier": "false",
          "npm_config_fund": "false", "npm_config_audit": "false", "PIP_CACHE_DIR": str(ROOT / ".tools" / "pip-cache"),
          "UV_CACHE_DIR": str(ROOT / ".tools" / "uv-cache")}
DATA = {"tools": "greet,add_numbers", "description": "Greetings and sums for agents.", "author": "Ada Lovelace",
        "license": "Apache-2.0"}


def create(sandbox, name: str, *argv: str, env: dict | None = None):
    return sandbox.run("mcp", "create", name, *argv, env={**CACHES, **(env or {})}, timeout=120)


def answers(folder: Path) -> dict:
    return yaml.safe_load((folder / ".copier-answers.yml").read_text())


def leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if ".create-" in p.name]


@pytest.mark.parametrize("template", TEMPLATES)
def test_template_renders_passes_its_tests_installs_and_is_healthy(sandbox, tmp_path, template):
    registry_mod.init(sandbox.registry)
    data = dict(DATA, **({"tool_timeout": "5"} if template == "shell" else {}))
    variants = {f"{template}-defaults": (["--defaults"], ["hello"]),
                f"{template}-data": ([a for k, v in data.items() for a in ("--data", f"{k}={v}")],
                                     ["add_numbers", "greet"])}
    for name, (argv, tools) in variants.items():
        dest = tmp_path / name
        proc = create(sandbox, name, "--template", template, "--output", str(dest), "--json", *argv)
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert result["folder"] == str(dest) and result["template"] == template
        recorded = answers(dest)
        assert recorded["template"] == template and recorded["name"] == name
        assert recorded["_src_path"] == str(ROOT) and recorded.get("_commit")
        assert {"manifest.json", "README.md", ".copier-answers.yml"} <= set(result["files"])
        manifest = json.loads((dest / "manifest.json").read_text())
        if name.endswith("-data"):
            assert recorded["tools"] == data["tools"] and manifest["metadata"]["license"] == "Apache-2.0"
            assert manifest["metadata"]["author"] == "Ada Lovelace"
        readme = (dest / "README.md").read_text()
        assert all(f"`{tool}`" in readme for tool in tools)
        assert sandbox.run("mcp", "validate", str(dest)).returncode == 0
        if template == "node":
            assert manifest["server"]["command"] == "node"
            assert sorted(p.stem for p in (dest / "tools").glob("*.js") if p.stem != "index") == tools
            subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=dest, check=True,
                           env={**os.environ, **CACHES}, timeout=300, capture_output=True)
        if template == "shell":
            assert sorted(p.name for p in (dest / "tools").iterdir()) == tools
            assert all(os.access(p, os.X_OK) for p in (dest / "tools").iterdir())
            checked = subprocess.run(["shellcheck", *map(str, sorted((dest / "tools").iterdir()))],
                                     capture_output=True, text=True)
            assert checked.returncode == 0, checked.stdout
        tested = sandbox.run("mcp", "test", str(dest), "--suite", "--json", timeout=300)
        report = json.loads(tested.stdout)
        assert report["state"] == "healthy" and report["tools"] == tools, tested.stdout
        assert report["suite"]["ran"] and report["suite"]["passed"], report["suite"]
        installed = sandbox.run("mcp", "install", str(dest), "--json", env=CACHES, timeout=600)
        assert installed.returncode == 0, installed.stderr
    status = json.loads(sandbox.run("mcp", "status", "--json", timeout=120).stdout)
    assert {s["name"]: s["state"] for s in status} == {name: "healthy" for name in variants}
    # The harness holds a session through the launcher, as a client would.
    from claudex_testing import connect

    with connect(f"{template}-data", via="run", claudex=CLAUDEX) as session:
        assert session.tool_names() == ["add_numbers", "greet"]
        assert session.call_text("greet", {"text": "Ada"}).strip() == "greet: Ada"


FAILING_TEST = {"node": ("tests/fails.test.js", 'import { test } from "node:test";\nimport assert from "node:assert/strict";\n'
                         'test("a broken promise", () => { assert.equal("kept", "broken"); });\n'),
                "python": ("tests/test_fails.py", 'def test_a_broken_promise():\n    assert "kept" == "broken"\n')}


@pytest.mark.parametrize("template", TEMPLATES)
def test_installed_server_runs_its_suite(sandbox, tmp_path, template):
    """create, install, `test NAME --suite` on a machine whose pytest is nowhere near the server:
    the suite's packages come from a cache beside its venv (which stays lean); a failing test then
    fails the command, shown, in a run that has no installer and no network (the cache is enough)."""
    registry_mod.init(sandbox.registry)
    name = f"suite-{template}"
    assert create(sandbox, name, "--template", template, "--defaults", "--output", str(tmp_path / name)).returncode == 0
    installed = sandbox.run("mcp", "install", str(tmp_path / name), env=CACHES, timeout=600)
    assert installed.returncode == 0, installed.stderr
    folder = sandbox.registry / "installed" / name
    if template != "node":
        lean = subprocess.run([str(folder / ".venv" / "bin" / "python"), "-c", "import pytest"], capture_output=True)
        assert lean.returncode == 1, "install put pytest into the server's venv"
    elsewhere = tmp_path / "elsewhere"  # not beside the source folder, so NAME is the registry's server
    elsewhere.mkdir(exist_ok=True)
    tested = sandbox.run("mcp", "test", name, "--suite", "--json", cwd=elsewhere, env=CACHES, timeout=300)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    suite = json.loads(tested.stdout)["suite"]
    assert suite["ran"] and suite["passed"] and "passed" in suite["summary"], suite
    if template != "node":
        assert list((sandbox.home / ".cache" / "claudex" / "suite").iterdir()), "the suite's packages are cached"
        assert lean.returncode == subprocess.run([str(folder / ".venv" / "bin" / "python"), "-c", "import pytest"],
                                                 capture_output=True).returncode
    offline = {**CACHES, "CLAUDEX_MCP_UV": str(tmp_path / "no-uv"), "UV_OFFLINE": "1",
               "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "npm_config_offline": "true"}
    rel, text = FAILING_TEST["node" if template == "node" else "python"]
    (folder / rel).write_text(text)
    failed = sandbox.run("mcp", "test", name, "--suite", cwd=elsewhere, env=offline, timeout=300)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    shown = [l for l in failed.stdout.splitlines() if l.startswith("  | ") and "broken promise" in l.replace("_", " ")]
    assert len(shown) == 1 and "'kept'" in shown[0] and "'broken'" in shown[0], failed.stdout


def test_the_python_templates_server_shape_is_claudex_servers():
    """templates/python's server_shape.py is the few lines of claudex_server a created server needs,
    copied so that it runs without claudex: the same functions with the same parameters (less the
    scrubbing), the same texts."""
    import importlib.util
    import inspect

    import claudex_server

    spec = importlib.util.spec_from_file_location("server_shape", ROOT / "templates" / "python" / "template" / "server_shape.py")
    shape = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shape)
    for name in ("check_first", "self_check", "error_text", "tools", "serve"):
        ours = list(inspect.signature(getattr(shape, name)).parameters)
        theirs = [p for p in inspect.signature(getattr(claudex_server, name)).parameters if p != "scrubber"]
        assert ours == theirs, name
    assert (shape.USAGE, shape.CHECK) == (claudex_server.USAGE, claudex_server.CHECK)
    for error in (claudex_server.NotFound("no such thing", hint="look"), ValueError("plain")):
        assert shape.error_text(error) == claudex_server.error_text(error)


def test_refusals_write_nothing(sandbox, tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("mine")
    proc = create(sandbox, "weather", "--template", "python", "--output", str(taken))
    assert proc.returncode == 3 and json.loads(proc.stderr)["error"]["code"] == "exists"
    assert [p.name for p in taken.iterdir()] == ["x"]
    (tmp_path / "empty").mkdir()
    os.symlink(tmp_path / "empty", tmp_path / "link")
    assert json.loads(create(sandbox, "weather", "--output", str(tmp_path / "link")).stderr)["error"]["code"] == "exists"
    cases = [
        (("Bad_Name",), 2, "invalid_name"),
        (("weather", "--data", "tools=Greet"), 2, "invalid_tools"),
        (("weather", "--data", "tools=a,a"), 2, "invalid_tools"),
        (("weather", "--template", "python", "--data", "tools=class"), 2, "invalid_tools"),
        (("weather", "--data", "no-equals"), 2, "invalid_data"),
        (("weather", "--data", "name=other"), 2, "invalid_data"),
        (("weather", "--template", "shell", "--data", "tool_timeout=soon"), 2, "invalid_data"),
        (("weather", "--template", str(tmp_path / "nowhere")), 4, "no_template"),
    ]
    for argv, code, error in cases:
        proc = create(sandbox, *argv, "--output", str(tmp_path / "new"), "--defaults")
        assert proc.returncode == code and json.loads(proc.stderr)["error"]["code"] == error, (argv, proc.stderr)
        assert proc.stdout == "" and not (tmp_path / "new").exists()
    (tmp_path / "afile").write_text("")
    proc = create(sandbox, "weather", "--output", str(tmp_path / "afile" / "weather"), "--defaults")
    assert proc.returncode == 1 and json.loads(proc.stderr)["error"]["code"] == "not_writable"
    add_server(sandbox.registry, "weather")
    (sandbox.registry / "registry.json").write_text('{"apiVersion": "v1", "servers": {}}')
    proc = create(sandbox, "weather", "--output", str(tmp_path / "new"), "--defaults")
    assert proc.returncode == 3 and json.loads(proc.stderr)["error"]["code"] == "name_taken"
    assert not (tmp_path / "new").exists() and leftovers(tmp_path) == []


INJECTION = 'json; import os; os.system("touch PWNED")'


@pytest.mark.parametrize("argv,message", [
    (("--template", "python", "--data", f"module={INJECTION}"), "cannot set 'module'"),
    (("--template", "node", "--data", 'tool_list=["x(); require(\'child_process\').execSync(\'touch PWNED\')"]'),
     "cannot set 'tool_list'"),
    (("--template", "shell", "--data", "modul=x"), "'modul' is not a question of the shell template"),
    (("--template", ""), "the template is empty"),
    (("--data", "template="), "the template is empty"),
])
def test_data_sets_only_the_questions_the_template_asks(sandbox, tmp_path, argv, message):
    """A --data value reaches the rendered code: only the answers the template asks are taken,
    never what it computes (the python template's module is `import`ed by server.py)."""
    proc = create(sandbox, "t6", *argv, "--defaults", "--output", str(tmp_path / "t6"))
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    error = json.loads(proc.stderr)["error"]
    assert message in error["message"] and error["code"] in ("invalid_data", "invalid_template") and error["hint"]
    assert not (tmp_path / "t6").exists() and leftovers(tmp_path) == []
    assert not list(tmp_path.rglob("PWNED")) and not list(sandbox.home.rglob("PWNED"))


def test_copier_itself_refuses_a_computed_answer(tmp_path):
    """The questionnaire's own validators: `copier copy` (and `copier update`) of the built-in
    templates cannot be given a module or tool list either."""
    copier_cli = str(Path(sys.executable).parent / "copier")
    for data in (f"module={INJECTION}", 'tool_list=["a; b"]'):
        dest = tmp_path / "out"
        proc = subprocess.run([copier_cli, "copy", "--defaults", "--quiet", "--vcs-ref", "HEAD", "--data", "name=t6",
                               "--data", "template=python", "--data", data, str(ROOT), str(dest)],
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert proc.returncode != 0 and "is computed from" in proc.stderr, proc.stderr
        assert not (dest / "server.py").exists()


def test_copiers_own_settings_neither_trust_a_template_nor_answer_for_create(sandbox, tmp_path):
    """copier's settings file may trust templates and give default answers; create reads none of
    it: a custom template's tasks still need --trust, and a computed answer stays computed."""
    decoy = tmp_path / "decoy"
    source = custom_template(tmp_path / "tpl")
    config = yaml.safe_load((source / "copier.yml").read_text())
    (source / "copier.yml").write_text(yaml.safe_dump({**config, "_tasks": [["touch", str(decoy)]]}))
    settings = tmp_path / "copier-settings.yml"
    settings.write_text(yaml.safe_dump({"trust": [str(tmp_path), str(source)], "defaults": {"module": INJECTION}}))
    env = {"COPIER_SETTINGS_PATH": str(settings)}
    proc = create(sandbox, "mine", "--template", str(source), "--output", str(tmp_path / "mine"), "--defaults", env=env)
    assert proc.returncode == 1 and json.loads(proc.stderr)["error"]["code"] == "untrusted_template", proc.stderr
    assert not decoy.exists() and not (tmp_path / "mine").exists() and leftovers(tmp_path) == []
    proc = create(sandbox, "t6", "--template", "python", "--output", str(tmp_path / "t6"), "--defaults", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "import t6_core\n" in (tmp_path / "t6" / "server.py").read_text()
    assert "PWNED" not in (tmp_path / "t6" / "server.py").read_text()


def test_custom_template_takes_only_its_own_questions(sandbox, tmp_path):
    source = custom_template(tmp_path / "tpl")
    proc = create(sandbox, "mine", "--template", str(source), "--output", str(tmp_path / "mine"), "--defaults",
                  "--data", "greting=hi")
    assert proc.returncode == 2 and "'greting' is not a question of the custom template" in proc.stderr
    assert "greeting" in json.loads(proc.stderr)["error"]["hint"]
    assert not (tmp_path / "mine").exists() and leftovers(tmp_path) == []


def custom_template(folder: Path, tasks: bool = False, valid: bool = True, marker: str = "v1") -> Path:
    folder.mkdir(parents=True)
    config = {"name": {"type": "str"}, "greeting": {"type": "str", "default": "hello"}}
    if tasks:
        config["_tasks"] = [["touch", "task-ran"]]
    (folder / "copier.yml").write_text(yaml.safe_dump(config))
    doc = {"apiVersion": "v1", "metadata": {"name": "{{ name }}", "version": "1.0.0", "description": marker},
           "server": {"command": "python3", "args": ["${SERVER_DIR}/server.py"]}}
    if not valid:
        doc["metadata"]["version"] = "one"
    (folder / "manifest.json.jinja").write_text(json.dumps(doc))
    (folder / "server.py.jinja").write_text("# {{ greeting }}\n")
    (folder / "{{_copier_conf.answers_file}}.jinja").write_text("{{ _copier_answers|to_nice_yaml -}}\n")
    return folder


def test_custom_template_from_a_folder_needs_trust_for_tasks(sandbox, tmp_path):
    source = custom_template(tmp_path / "tpl", tasks=True)
    proc = create(sandbox, "mine", "--template", str(source), "--output", str(tmp_path / "mine"), "--defaults")
    assert proc.returncode == 1 and json.loads(proc.stderr)["error"]["code"] == "untrusted_template"
    assert not (tmp_path / "mine").exists() and leftovers(tmp_path) == []
    proc = create(sandbox, "mine", "--template", str(source), "--output", str(tmp_path / "mine"), "--trust",
                  "--data", "greeting=hi", "--json")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "mine" / "task-ran").exists() and (tmp_path / "mine" / "server.py").read_text() == "# hi\n"
    assert json.loads(proc.stdout)["answers"] == {"greeting": "hi", "name": "mine"}
    bad = custom_template(tmp_path / "bad", valid=False)
    proc = create(sandbox, "other", "--template", str(bad), "--output", str(tmp_path / "other"), "--defaults")
    assert proc.returncode == 1 and json.loads(proc.stderr)["error"]["code"] == "invalid_template"
    assert not (tmp_path / "other").exists() and leftovers(tmp_path) == []


def test_custom_template_from_git_at_a_ref(sandbox, tmp_path):
    work = custom_template(tmp_path / "tpl", marker="first")
    git("init", "-q", "-b", "main", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-qm", "v1", cwd=work)
    git("tag", "v1.0.0", cwd=work)
    (work / "manifest.json.jinja").write_text((work / "manifest.json.jinja").read_text().replace("first", "second"))
    git("commit", "-qam", "v2", cwd=work)
    git("tag", "v2.0.0", cwd=work)
    url = f"file://{work}"
    for ref, marker in (("v1.0.0", "first"), (None, "second")):
        dest = tmp_path / f"out-{ref}"
        proc = create(sandbox, "mine", "--template", url + (f"@{ref}" if ref else ""), "--output", str(dest),
                      "--defaults", env=GIT_ENV | {"HOME": str(sandbox.home)})
        assert proc.returncode == 0, proc.stderr
        assert json.loads((dest / "manifest.json").read_text())["metadata"]["description"] == marker
        assert answers(dest)["_commit"] == (ref or "v2.0.0")
    proc = create(sandbox, "mine", "--template", url + "@v9.9.9", "--output", str(tmp_path / "nope"), "--defaults")
    assert proc.returncode == 5 and json.loads(proc.stderr)["error"]["code"] == "copier_failed"
    assert not (tmp_path / "nope").exists() and leftovers(tmp_path) == []


class Terminal:
    """`claudex mcp create` on a pseudo-terminal, answered keystroke by keystroke."""

    def __init__(self, argv: list[str], env: dict, cwd: Path):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the real command, on the terminal
            os.chdir(cwd)
            os.execve(sys.executable, [sys.executable, str(ROOT / "scripts" / "claudex"), *argv],
                      {**env, "TERM": "xterm", "COLUMNS": "120", "LINES": "40"})
        self.seen = b""

    def expect(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {text!r}; the terminal shows {self.seen[-600:]!r}"
            if select.select([self.fd], [], [], left)[0]:
                try:
                    self.seen += os.read(self.fd, 65536)
                except OSError:  # the child closed the terminal
                    assert text.encode() in self.seen, f"never saw {text!r}: {self.seen[-600:]!r}"
        self.seen = self.seen[self.seen.index(text.encode()) + len(text):]

    def send(self, keys: str) -> None:
        os.write(self.fd, keys.encode())
        time.sleep(0.2)  # prompt_toolkit reads a burst of keys as one paste

    def wait(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            if select.select([self.fd], [], [], 0.2)[0]:
                try:
                    self.seen += os.read(self.fd, 65536)
                except OSError:
                    pass
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        raise AssertionError(f"create did not finish: {self.seen[-600:]!r}")


@pytest.fixture
def terminal():
    made = []

    def start(argv, env, cwd):
        made.append(Terminal(argv, env, cwd))
        return made[-1]

    yield start
    for term in made:
        try:
            os.kill(term.pid, 9)
            os.waitpid(term.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(term.fd)


def test_questionnaire_on_a_terminal(sandbox, tmp_path, terminal):
    term = terminal(["mcp", "create", "weather"], sandbox.env, tmp_path)
    term.expect("Server type:")
    term.expect("Standard MCP Server (Node.js)")
    term.send("\x1b[B")  # arrow down: Python MCP Server
    term.send("\r")
    term.expect("Description:")
    term.send("\x15Forecasts for agents.\r")  # Ctrl-U clears the default
    term.expect("Author:")
    term.send("\r")  # the default
    term.expect("License")
    term.send("\r")
    term.expect("Initial tools")
    term.send("\x15forecast,alerts\r")  # Ctrl-U clears the default first
    assert term.wait() == 0, term.seen
    term.expect("Created server structure at")
    folder = tmp_path / "weather"
    recorded = answers(folder)
    assert (recorded["template"], recorded["description"], recorded["tools"], recorded["license"]) == (
        "python", "Forecasts for agents.", "forecast,alerts", "MIT")
    assert (folder / "weather_core.py").exists() and sandbox.run("mcp", "validate", str(folder)).returncode == 0


def test_ctrl_c_in_the_questionnaire_leaves_nothing(sandbox, tmp_path, terminal):
    term = terminal(["mcp", "create", "weather", "--template", "shell"], sandbox.env, tmp_path)
    term.expect("Description:")
    term.send("\x03")
    assert term.wait() == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "run"]  # run: the sandbox's XDG_RUNTIME_DIR
    assert list((tmp_path / "run").iterdir()) == []


def test_defaults_and_data_never_ask_on_a_terminal(sandbox, tmp_path, terminal):
    for name, argv in (("one", ["--defaults"]), ("two", ["--template", "shell", "--data", "tools=uptime"])):
        term = terminal(["mcp", "create", name, *argv], sandbox.env, tmp_path)
        assert term.wait() == 0, term.seen
        assert b"?" not in term.seen.split(b"Created")[0]
    assert answers(tmp_path / "one")["template"] == "node"
    assert answers(tmp_path / "two")["tools"] == "uptime"


def test_copier_update_brings_a_server_forward(sandbox, tmp_path):
    """The built-in templates are versioned by this repository's tags: a clone tagged twice stands
    in for two releases, and `copier update` carries a template change into the server."""
    import copier

    clone = tmp_path / "claudex"
    git("clone", "-q", str(ROOT), str(clone), cwd=tmp_path)
    if (clone / "templates" / "python" / "template").is_dir() is False:
        pytest.fail("the clone has no templates/python: commit the templates first")
    git("tag", "v0.1.0", cwd=clone)
    dest = tmp_path / "weather"
    proc = create(sandbox, "weather", "--template", f"file://{clone}@v0.1.0", "--data", "template=python",
                  "--output", str(dest), "--defaults", env=GIT_ENV | {"HOME": str(sandbox.home)})
    assert proc.returncode == 0, proc.stderr
    assert answers(dest)["_commit"] == "v0.1.0"
    readme = clone / "templates" / "python" / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nUpdated by the template.\n")
    git("commit", "-qam", "template change", cwd=clone)
    git("tag", "v0.2.0", cwd=clone)
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-qm", "scaffold")):
        git(*args, cwd=dest)
    saved = dict(os.environ)
    os.environ.update(GIT_ENV | {"HOME": str(sandbox.home)})
    try:
        copier.run_update(str(dest), defaults=True, overwrite=True, unsafe=False, quiet=True)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert "Updated by the template." in (dest / "README.md").read_text()
    assert answers(dest)["_commit"] == "v0.2.0"

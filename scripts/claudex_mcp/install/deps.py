"""Installing a server's dependencies in its own folder: a venv for a Python server, npm for a
Node server; and checking that its command will be found. The only code from a server folder
that runs during an install is what these installers run."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from claudex_mcp.errors import ExternalFailure, InvalidInput

TIMEOUT = 900


def kind(folder: Path) -> str | None:
    if (folder / "requirements.txt").exists() or (folder / "pyproject.toml").exists():
        return "python"
    if (folder / "package.json").exists():
        return "node"
    return None


def installer(folder: Path) -> str | None:
    """What will install the server's dependencies: "uv", "pip", "npm", or None."""
    found = kind(folder)
    if found == "python":
        return "uv" if uv_binary() is not None else "venv + pip"
    return "npm" if found == "node" else None


def _run(argv: list[str], cwd: Path, what: str, env: dict | None = None, check: bool = True) -> bool:
    from claudex_mcp import procs

    try:
        proc = procs.run(argv, cwd=cwd, timeout=TIMEOUT,
                         env=dict(env or os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"))
    except subprocess.TimeoutExpired:
        raise ExternalFailure(f"{what} took longer than {TIMEOUT} s", code="dependencies_failed",
                              hint="check the network and the package index (uv/pip/npm config), then run it again; "
                                   "nothing was installed") from None
    except FileNotFoundError:
        raise ExternalFailure(f"{argv[0]} is not installed, so {what} cannot run", code="missing_runtime",
                              hint=f"install {Path(argv[0]).name}") from None
    if proc.returncode != 0 and not check:
        return False
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise ExternalFailure(f"{what} failed:\n{tail}", code="dependencies_failed",
                              hint="check the server's requirements; nothing was installed")
    return True


def python_for_venvs() -> str:
    """The interpreter that creates server venvs: CLAUDEX_MCP_PYTHON, else python3 on PATH,
    else the one running claudex."""
    return os.environ.get("CLAUDEX_MCP_PYTHON") or shutil.which("python3") or sys.executable


UV_OFF = ("none", "off", "0", "false")


def uv_binary() -> str | None:
    """The uv that builds server environments, or None for venv + pip: CLAUDEX_MCP_UV (a path,
    or `none`), else the uv beside this interpreter (the `uv` wheel is a claudex dependency),
    else the one the uv package finds, else uv on PATH."""
    chosen = os.environ.get("CLAUDEX_MCP_UV")
    if chosen:
        return None if chosen.lower() in UV_OFF else chosen
    beside = Path(sys.executable).parent / "uv"
    if os.access(beside, os.X_OK):
        return str(beside)
    try:
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def uv_env(**extra: str) -> dict:
    """The environment claudex runs uv in (server venvs, and the project's own in make install
    and make run): the machine's Python, never a download; no progress bars; the system's CA
    store, as pip and npm use here, not uv's bundled roots: behind a TLS-inspecting proxy (a
    company's, CI's) only the system store has its CA (UV_NATIVE_TLS is its older name, for an
    older uv)."""
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1", **extra)
    env.setdefault("UV_SYSTEM_CERTS", "1")
    env.setdefault("UV_NATIVE_TLS", env["UV_SYSTEM_CERTS"])
    return env


def uv_cache(registry_side: Path) -> tuple[Path, str]:
    """(uv's cache folder, link mode): UV_CACHE_DIR, else uv/ in claudex's cache folder (made
    private: what is in it is linked into every server's venv). Hard links when the cache is on
    the same filesystem as the server folder (a venv then costs no space and no copying), copies
    otherwise (a hard link cannot cross filesystems)."""
    from claudex_mcp import paths, safepath

    if os.environ.get("UV_CACHE_DIR"):
        cache = Path(os.environ["UV_CACHE_DIR"])
        cache.mkdir(parents=True, exist_ok=True)
    else:
        parent = paths.cache_home() / "claudex"
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        cache = parent / "uv"
        safepath.real_dir(cache, create=0o700, private=True)
    same = os.stat(cache).st_dev == os.stat(registry_side).st_dev
    return cache, "hardlink" if same else "copy"


def _uv_config() -> list[str]:
    """The user's own uv.toml (indexes, credentials helpers), never one in the server folder or
    above it: uv would read a server's [tool.uv] or uv.toml from the working directory."""
    from claudex_mcp import paths

    user = paths.config_home() / "uv" / "uv.toml"
    return ["--config-file", str(user)] if user.is_file() else ["--no-config"]


def _editable_inside(folder: Path) -> None:
    """`-e ./inside` becomes a plain install of ./inside: an editable install would point the
    venv at the staging folder, which is renamed away at the commit."""
    from claudex_mcp.install import vendor

    vendor.drop_editable(folder)


def _python(folder: Path, ignore_scripts: bool, prefer_cache: bool, extras: list[str]) -> str:
    """The server's venv in ``folder``/.venv, with uv when there is one, else venv + pip; its
    requirements and its ``extras``' requirements files resolved together, in one install."""
    venv = folder / ".venv"
    requirement = ["-r", "requirements.txt"] if (folder / "requirements.txt").exists() else ["."]
    for extra in extras:
        requirement += ["-r", extra]
    what = "uv pip install " + " ".join(requirement)
    if (folder / "requirements.txt").exists():
        _editable_inside(folder)
    uv = uv_binary()
    if uv is not None and shutil.which(uv) is None:
        raise ExternalFailure(f"uv ({uv}, from CLAUDEX_MCP_UV) is not an executable file", code="missing_runtime",
                              hint="set CLAUDEX_MCP_UV to uv's path, or to 'none' to build with venv + pip")
    if uv is not None:
        cache, link = uv_cache(folder)
        env = uv_env(UV_CACHE_DIR=str(cache))
        # Every package a copy in the venv, also what a local package's [tool.uv.sources] marks
        # `editable = true` (drop_editable only sees requirements.txt): an editable install points
        # at the staging folder, which the commit renames away. (uv >= 0.11.12; an older uv named
        # by CLAUDEX_MCP_UV ignores the variable, and _check_no_staging_links says so.)
        env["UV_NO_EDITABLE"] = "1"
        config = _uv_config()
        # --relocatable: entry points and activation scripts find the venv from where they
        # are, so they keep working after the commit renames the folder into the registry.
        _run([uv, "venv", *config, "--quiet", "--relocatable", "--python", python_for_venvs(), str(venv)],
             folder, "creating the server's venv (uv venv)", env)
        command = [uv, "pip", "install", *config, "--python", str(venv / "bin" / "python"), "--link-mode", link]
        if ignore_scripts:
            command += ["--only-binary", ":all:"]
        # From the cache alone when it has everything (no index round trips: 0.5 s instead of
        # 2 s for the mcp SDK); the index when something is missing, or for an upgrade.
        if not (prefer_cache and _run(command + ["--offline"] + requirement, folder, what, env, check=False)):
            _run(command + requirement, folder, what, env)
        _check_no_staging_links(venv, folder)
        _compile(venv, folder)
        return "python venv (uv)"
    _run([python_for_venvs(), "-m", "venv", str(venv)], folder, "creating the server's venv")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-input"]
    if ignore_scripts:
        pip += ["--only-binary", ":all:"]
    _run(pip + requirement, folder, what.removeprefix("uv "))
    _check_no_staging_links(venv, folder)
    return "python venv (pip)"


def _check_no_staging_links(venv: Path, folder: Path) -> None:
    """No editable install in the venv points into ``folder`` (the staging copy, renamed away at
    the commit: the server could not import it after). Looked for where Python reads them: the
    .pth files and editable finders at the top of site-packages."""
    staged = os.fsencode(os.path.realpath(folder))
    for site in venv.glob("lib/python*/site-packages"):
        for entry in os.scandir(site):
            editable = entry.name.endswith(".pth") or entry.name.startswith("__editable__")
            if not editable or not entry.is_file(follow_symlinks=False):
                continue
            with open(entry.path, "rb") as fh:
                if staged in fh.read():
                    raise ExternalFailure(
                        f"{entry.name} in the server's venv is an editable install that points at the staging "
                        "folder, which is moved away at the commit", code="editable_install", path=entry.name,
                        hint="use uv >= 0.11.12 (it installs path sources as copies), or drop `editable = true` "
                             "from [tool.uv.sources]; nothing was installed")


# Folders of the installed packages that a server does not import at run time: tests (~40 % of a
# venv's code, when pandas/tests alone was 11 MB), and what a package ships for its developers or
# for building others: test helpers (numpy.testing), build tools (numpy.distutils, numpy.f2py),
# benchmarks, PyInstaller hooks. Their byte code was 1.9 MB of qdrant's and codequery's venvs
# (numpy's 1.8 MB), more than half of what codequery's 253 MB had to lose for issue #27's 250. Matched below
# site-packages only: a registry under a folder named tests/ is compiled all the same. A server
# that does import one of them still runs: Python compiles it then (or at each start when it
# cannot write the venv).
UNCOMPILED = r"[/\\]site-packages[/\\](?:.*[/\\])?(?:tests?|testing|distutils|f2py|benchmarks|_{1,2}pyinstaller)[/\\]"


def _compile(venv: Path, folder: Path) -> None:
    """Byte-compile the venv, as pip does: a server's venv may be read-only to the user who runs
    it (the image's registry is root's), or PYTHONDONTWRITEBYTECODE set, and Python then compiles
    every module it imports at each start (the mcp SDK: 0.88 s instead of 0.55 s). compileall
    rather than uv's --compile-bytecode, to leave out UNCOMPILED (qdrant's venv: 5.7 s of CPU
    instead of 10.4 s). A file that does not compile (Python 2 code in a package) is
    left to fail at import, if it ever is imported, as uv and pip leave it."""
    _run([str(venv / "bin" / "python"), "-m", "compileall", "-qq", "-j", "0", "-x", UNCOMPILED, str(venv / "lib")],
         folder, "byte-compiling the server's venv", check=False)


def install(folder: Path, ignore_scripts: bool = False, prefer_cache: bool = True,
            extras: list[str] | tuple[str, ...] = ()) -> str | None:
    """Install the dependencies of the server in ``folder``; return what was done.

    ``extras``: the requirements files of the extras chosen (manifest.json's "extras", which
    validation allows only for a Python server), installed with requirements.txt.

    ``ignore_scripts``: npm runs no package scripts (--ignore-scripts); uv and pip take only
    wheels from indexes (--only-binary :all:), so no downloaded sdist's setup.py or build
    backend runs. Both still build local project folders (the server's own pyproject.toml,
    vendored packages) with their build backend: that is the server's own code, which claudex
    installs anyway. docs/lifecycle.md says the same.

    ``prefer_cache``: uv takes what its cache holds when that satisfies the requirements
    (the newest cached versions), asking the index only for what is missing; an upgrade passes
    False, to get the newest releases."""
    found = kind(folder)
    if found == "python":
        return _python(folder, ignore_scripts, prefer_cache, list(extras))
    if found == "node":
        npm = shutil.which("npm")
        if npm is None:
            raise ExternalFailure("the server is a Node package but npm is not installed", code="missing_runtime",
                                  hint="install Node.js and npm")
        flags = ["--omit=dev", "--no-audit", "--no-fund"] + (["--ignore-scripts"] if ignore_scripts else [])
        if (folder / "package-lock.json").exists():
            _run([npm, "ci", *flags], folder, "npm ci")
        else:
            _run([npm, "install", *flags], folder, "npm install")
        return "npm"
    return None


TEST_REQUIREMENTS = "requirements-test.txt"
# A requirement that names a local path: the folder is part of what it is.
_LOCAL = (".", "/", "-e", "--editable", "file:")


def test_requirements(folder: Path) -> list[str]:
    """What a Python server's suite needs beyond its runtime: pytest, and the `test` list of
    [project.optional-dependencies] in pyproject.toml (requirements-test.txt is read as a file)."""
    import tomllib

    if not (folder / "pyproject.toml").is_file():
        return ["pytest"]
    try:
        with open(folder / "pyproject.toml", "rb") as fh:
            extras = tomllib.load(fh).get("project", {}).get("optional-dependencies", {}).get("test", [])
    except (OSError, tomllib.TOMLDecodeError, AttributeError) as exc:
        raise InvalidInput(f"pyproject.toml cannot be read: {exc}", code="invalid_pyproject",
                           path=str(folder / "pyproject.toml"), hint="fix the file's TOML") from None
    if not isinstance(extras, list) or not all(isinstance(e, str) for e in extras):
        raise InvalidInput("[project.optional-dependencies] test is not a list of requirements",
                           code="invalid_pyproject", path=str(folder / "pyproject.toml"),
                           hint='write it as test = ["pytest>=8", ...]')
    return ["pytest", *extras]


def suite_packages(folder: Path, python: str) -> Path:
    """A folder of the packages the server's suite needs beyond its runtime (test_requirements),
    installed for ``python`` (the server's venv Python): put after the venv's own packages on the
    suite's sys.path, so the server's runtime venv stays as install made it and its code is tested
    with the versions it runs with. Kept in claudex's cache under a key of what it holds and the
    Python that reads it: built once (uv pip install --target, from uv's cache when it can; else
    pip), then reused with no installer and no network."""
    import hashlib
    import json
    import tempfile
    import time

    from claudex_mcp import paths, safepath

    requirements = test_requirements(folder)
    # Its key: the Python, the requirements and the files they come from (requirements-test.txt
    # may include requirements.txt and the extras' files: every requirements*.txt beside it), and
    # the folder when one of them names a local path.
    names = [TEST_REQUIREMENTS] + sorted(p.name for p in folder.glob("requirements*.txt") if p.name != TEST_REQUIREMENTS)
    texts = [(folder / name).read_text(encoding="utf-8", errors="replace") if (folder / name).is_file() else None
             for name in names]
    local = any(line.strip().startswith(_LOCAL) for text in texts if text for line in text.splitlines())
    key = hashlib.sha256(json.dumps([_python_identity(python), requirements, list(zip(names, texts)),
                                     str(folder.resolve()) if local else None]).encode()).hexdigest()[:20]
    if texts[0] is not None:
        requirements += ["-r", str(folder / TEST_REQUIREMENTS)]
    parent = paths.cache_home() / "claudex"
    parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    root = parent / "suite"
    safepath.real_dir(root, create=0o700, private=True)
    target = root / key
    if safepath.real_dir(target):
        return target
    for stale in root.glob(".build-*"):  # what a killed build left, long after any build ends
        if time.time() - stale.lstat().st_mtime > 2 * TIMEOUT and safepath.real_dir(stale):
            shutil.rmtree(stale, ignore_errors=True)
    build = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    try:
        what = "installing the suite's test requirements (pytest, " + TEST_REQUIREMENTS + ")"
        uv = uv_binary()
        if uv is not None:
            cache, link = uv_cache(root)
            env = uv_env(UV_CACHE_DIR=str(cache))
            command = [uv, "pip", "install", *_uv_config(), "--python", python, "--target", str(build),
                       "--link-mode", link, *requirements]
            if not _run(command + ["--offline"], folder, what, env, check=False):
                _run(command, folder, what, env)
        else:
            _run([python, "-m", "pip", "install", "--quiet", "--no-input", "--target", str(build), *requirements],
                 folder, what)
        try:
            os.rename(build, target)  # published whole, or not at all
        except OSError:
            if not safepath.real_dir(target):  # else a run beside this one published it first
                raise
    finally:
        if build.exists():
            shutil.rmtree(build, ignore_errors=True)
    return target


def _python_identity(python: str) -> str:
    """Which Python ``python`` is (version, build, platform): packages built for one may not load in another."""
    try:
        proc = subprocess.run([python, "-c", "import sys, sysconfig; print(sys.version, sysconfig.get_platform())"],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ExternalFailure(f"{python} does not run: {exc}", code="missing_runtime",
                              hint="reinstall the server (claudex mcp upgrade NAME)") from None
    if proc.returncode != 0:
        raise ExternalFailure(f"{python} does not run: {proc.stderr.strip()[-300:]}", code="missing_runtime",
                              hint="reinstall the server (claudex mcp upgrade NAME)")
    return proc.stdout.strip()


def check_command(folder: Path, manifest: dict) -> None:
    """The server's command exists: inside its folder (after the dependencies) or on PATH."""
    server = manifest["server"]
    if server.get("transport", "stdio") != "stdio":
        return
    command = server["command"].replace("${SERVER_DIR}", str(folder))
    if "${" in command:
        return  # chosen at launch time from the environment
    if "/" in command:
        path = command if os.path.isabs(command) else str(folder / command)
        if not os.access(path, os.X_OK):
            raise InvalidInput(f"the server's command {server['command']} does not exist or is not executable",
                               code="command_not_found", hint="fix server.command in manifest.json, or add its "
                               "requirements.txt / package.json so the dependencies provide it")
    elif shutil.which(command) is None:
        raise ExternalFailure(f"the server's command {command!r} is not on PATH", code="missing_runtime",
                              hint=f"install {command} first")


# What the dependency installers made: their files get the usual modes whatever the umask.
INSTALLER_OUTPUT = (".venv", "node_modules")


def normalise_permissions(folder: Path) -> None:
    """Folders 755, files 644, executables 755; links untouched (whatever the umask or the
    source). What the copy made owner-only (a source file others could not read) stays so:
    700 or 600."""
    for current, dirs, files in os.walk(folder):
        rel = os.path.relpath(current, folder)
        installed = rel.split(os.sep)[0] in INSTALLER_OUTPUT
        for path in [current] + [os.path.join(current, name) for name in files]:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            executable = st.st_mode & 0o111 or stat.S_ISDIR(st.st_mode)
            if not installed and not st.st_mode & stat.S_IROTH:
                mode = 0o700 if executable else 0o600
            else:
                mode = 0o755 if executable else 0o644
            # Only when it differs: a venv holds thousands of files, mostly right already (and
            # a file uv hard-linked from its cache is the cache's too).
            if stat.S_IMODE(st.st_mode) != mode:
                os.chmod(path, mode)

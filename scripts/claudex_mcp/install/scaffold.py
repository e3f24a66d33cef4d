"""Creating a server folder from a copier template, the work behind 'claudex mcp create': the
built-in templates (templates/<name>/, one questionnaire in the repository's copier.yml) or any
copier template by path or git URL. Renders beside the destination, validates, then renames."""

from __future__ import annotations

import keyword
import os
import re
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from claudex_mcp import paths
from claudex_mcp.errors import Conflict, ExternalFailure, InvalidInput, NotFound, UsageError

BUILTIN = ("node", "python", "shell")
TEMPLATE_TITLES = {"node": "Standard MCP Server (Node.js)", "python": "Python MCP Server",
                   "shell": "Shell Script Wrapper"}
DEFAULT_TEMPLATE = "node"
MAX_TOOLS = 12
_TOOL = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Names a python-template tool cannot have: server.py defines or imports them.
_PYTHON_TAKEN = {"server", "main", "annotations", "domain_errors", "contextmanager"}
_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@|gh:|gl:)", re.I)
NEXT_STEPS = {
    "node": ["cd {folder}", "npm install", "claudex mcp validate .", "claudex mcp test . --suite",
             "claudex mcp install ."],
    "python": ["cd {folder}", "claudex mcp validate .", "claudex mcp test . --suite", "claudex mcp install ."],
    "shell": ["cd {folder}", "claudex mcp validate .", "claudex mcp test . --suite", "claudex mcp install ."],
    "custom": ["cd {folder}", "claudex mcp validate .", "claudex mcp test .", "claudex mcp install ."],
}


@dataclass
class Plan:
    """What create will do, every check that needs no writing already passed."""

    name: str
    template: str  # node, python, shell or custom
    source: str  # what copier renders from
    ref: str | None
    dest: Path
    data: dict = field(default_factory=dict)


def tool_names(value: str, template: str) -> list[str]:
    """The initial tools answer: comma-separated snake_case names, 1 to MAX_TOOLS, no repeats."""
    names = [n.strip() for n in value.split(",")]
    hint = "comma-separated snake_case names (a-z, 0-9, _; starting with a letter), e.g. tools=greet,add_numbers"
    if not value.strip() or any(not _TOOL.fullmatch(n) for n in names):
        raise UsageError(f"invalid tools {value!r}", code="invalid_tools", hint=hint)
    if len(names) > MAX_TOOLS or len(set(names)) != len(names):
        raise UsageError(f"tools must be 1 to {MAX_TOOLS} different names, not {value!r}", code="invalid_tools",
                         hint=hint)
    if template == "python":
        bad = [n for n in names if keyword.iskeyword(n) or n in _PYTHON_TAKEN]
        if bad:
            raise UsageError(f"{bad[0]!r} cannot be a tool of the python template (a Python keyword, or a name "
                             "server.py uses)", code="invalid_tools", hint="choose another name")
    return names


def check_answers(data: dict, questions: dict, template: str) -> None:
    """Every --data key must be a question the template asks: an unknown key would reach its
    files as a Jinja variable, and a computed one (``when: false``, derived from the other answers,
    such as the python template's module name) would replace what the template works out, into
    code. ``name`` (the first argument) and ``template`` are set by create itself."""
    asked = {k for k, spec in questions.items() if not k.startswith("_")
             and not (isinstance(spec, dict) and spec.get("when") is False)}
    computed = {k for k in questions if not k.startswith("_")} - asked
    for key in data:
        if key in ("name", "template"):
            continue
        if key in computed:
            raise UsageError(f"--data cannot set {key!r}: the {template} template computes it from the other answers",
                             code="invalid_data", hint=f"leave it out; the answers it takes: {_listed(asked)}")
        if key not in asked:
            raise UsageError(f"--data {key!r} is not a question of the {template} template", code="invalid_data",
                             hint=f"the answers it takes: {_listed(asked)}")


def _listed(keys: set) -> str:
    return ", ".join(sorted(keys - {"name", "template"})) or "none"


def builtin_questions() -> dict:
    """The built-in templates' one questionnaire (copier.yml at the repository's root)."""
    import yaml

    with open(paths.PROJECT_ROOT / "copier.yml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def plan(name: str, template: str, data: dict, output: str | None) -> Plan:
    """Check everything that can be checked before writing: the name, the answers, the template,
    the destination and the registry."""
    from claudex_mcp.install.lifecycle import check_name

    check_name(name)
    if not template.strip():
        raise UsageError("the template is empty", code="invalid_template",
                         hint="give node, python, shell, a copier template folder or a git URL; leave "
                              "--template out for the default")
    data = dict(data, name=name)
    if template in BUILTIN:
        check_answers(data, builtin_questions(), template)
        data["template"] = template
        if "tools" in data:
            data["tools"] = ",".join(tool_names(data["tools"], template))
        if "tool_timeout" in data and not (data["tool_timeout"].isdigit() and 1 <= int(data["tool_timeout"]) <= 3600):
            raise UsageError(f"invalid tool_timeout {data['tool_timeout']!r}", code="invalid_data",
                             hint="a whole number of seconds, 1 to 3600")
        if "description" in data and not data["description"].strip():
            raise UsageError("the description is empty", code="invalid_description",
                             hint="say in one sentence what the server does")
        source, ref, kind = str(paths.PROJECT_ROOT), None, template
        if _is_git_root(paths.PROJECT_ROOT):
            ref = "HEAD"  # this checkout as it is (copier otherwise takes the newest tag)
    else:
        source, ref = split_ref(template)
        kind = "custom"
        if source.startswith("file://") and not source.endswith(".git"):
            source = "git+" + source  # copier reads file:// as git only with git+ or .git
        if not _REMOTE.match(source):
            folder = Path(source).expanduser()
            if not folder.is_dir():
                raise NotFound(f"no template folder {source}", path=source, code="no_template",
                               hint="give node, python, shell, a copier template folder or a git URL")
            source = str(folder.absolute())
    dest = Path(output or name).expanduser().absolute()
    check_dest(dest)
    check_registry(name)
    return Plan(name=name, template=kind, source=source, ref=ref, dest=dest, data=data)


def split_ref(template: str) -> tuple[str, str | None]:
    """'URL@REF' -> (URL, REF); an '@' before the last '/' (git@host:...) is not a ref, and a folder
    that exists with its '@' is a folder."""
    if not _REMOTE.match(template) and Path(template).expanduser().exists():
        return template, None
    head, sep, ref = template.rpartition("@")
    if sep and head and "/" not in ref and ":" not in ref and ref:
        return head, ref
    return template, None


def check_dest(dest: Path) -> None:
    try:
        st = os.lstat(dest)
    except (FileNotFoundError, NotADirectoryError):
        return  # a parent that is a file is found when create makes it
    empty = stat.S_ISDIR(st.st_mode) and not stat.S_ISLNK(st.st_mode) and not _has_entries(dest)
    if not empty:
        raise Conflict(f"{dest} exists and is not an empty folder", path=str(dest), code="exists",
                       hint="choose another --output, or remove it")


def _has_entries(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(True for _ in entries)
    except OSError:
        return True  # unreadable: treat as taken


def check_registry(name: str) -> None:
    """A server of that name in the registry (by manifest name or folder) would clash on install."""
    registry = paths.registry_dir()
    if not paths.registry_file(registry).exists():
        return
    from claudex_mcp.store import cache

    index, _ = cache.load(registry)
    taken = name in index.get("servers", {}) or any(
        os.path.lexists(registry / location / name) for location in ("core", "installed", "disabled"))
    if taken:
        raise Conflict(f"the registry at {registry} already has a server named {name}", code="name_taken",
                       path=str(registry), hint="choose another name (see 'claudex mcp list')")


def _is_git_root(folder: Path) -> bool:
    try:
        top = subprocess.run(["git", "-C", str(folder), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return top.returncode == 0 and Path(top.stdout.strip()).resolve() == folder.resolve()


def create(plan: Plan, *, interactive: bool, trust: bool) -> dict:
    """Render the template into a temp folder beside the destination, validate it, rename it into
    place; return what was made. Nothing is left behind when any step fails."""
    from claudex_mcp.schemas import validation

    parent = plan.dest.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{plan.dest.name}.create-", dir=parent))
    except OSError as exc:
        raise InvalidInput(f"cannot create a folder in {parent}: {exc.strerror}", path=str(parent),
                           code="not_writable", hint="choose an --output in a folder you can write") from None
    try:
        answers = _render(plan, work, interactive=interactive, trust=trust)
        problems = validation.validate_folder(work)
        if problems:
            first = problems[0]
            raise InvalidInput(f"the new server is not valid: {first['file'].replace(str(work), str(plan.dest))}"
                               f"{first['pointer'] and ' ' + first['pointer']}: {first['message']}",
                               path=str(plan.dest), code="invalid_answers" if plan.template in BUILTIN
                               else "invalid_template", hint=first.get("hint") or "fix the answer or the template")
        _permissions(work)
        check_dest(plan.dest)  # again: it may have appeared while the questions were asked
        os.rename(work, plan.dest)  # onto a missing or empty folder, atomically
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    files = sorted(str(p.relative_to(plan.dest)) for p in plan.dest.rglob("*") if p.is_file())
    template = plan.template if plan.template != "custom" else plan.source + (f"@{plan.ref}" if plan.ref else "")
    shown = os.path.relpath(plan.dest) if not os.path.relpath(plan.dest).startswith("..") else str(plan.dest)
    return {"name": plan.name, "folder": str(plan.dest), "template": template, "answers": answers,
            "files": files, "next": [s.format(folder=shown) for s in NEXT_STEPS[plan.template]]}


def _render(plan: Plan, work: Path, *, interactive: bool, trust: bool) -> dict:
    import warnings

    import copier
    from copier.errors import CopierAnswersInterrupt, CopierError, UnsafeTemplateError, UserMessageError

    try:
        with warnings.catch_warnings():  # stderr carries only our error object; a dirty checkout is fine
            warnings.simplefilter("ignore")
            # copier.Settings(): copier's own settings file is not read. Its `trust` list would run a
            # custom template's tasks without --trust, and its `defaults` would answer questions,
            # computed ones included, with values no validator sees.
            worker = copier.run_copy(plan.source, work, data=plan.data, defaults=not interactive, quiet=True,
                                     unsafe=trust if plan.template == "custom" else False, vcs_ref=plan.ref,
                                     overwrite=True, settings=copier.Settings())
    except CopierAnswersInterrupt:
        raise KeyboardInterrupt from None  # Ctrl-C in the questionnaire: exit 130, like anywhere else
    except UnsafeTemplateError as exc:
        raise InvalidInput(f"the template uses copier features that run code: {exc}", code="untrusted_template",
                           path=plan.source, hint="read the template first; add --trust to allow them") from None
    except (ValueError, UserMessageError) as exc:  # an answer a validator refused, a bad template
        raise InvalidInput(f"copier refused: {exc}", code="invalid_answers", path=plan.source,
                           hint="check the --data answers against the template's questions") from None
    except CopierError as exc:
        raise ExternalFailure(f"copier could not render {plan.source}: {exc}", code="copier_failed",
                              path=plan.source, hint="check the template path or URL and its @REF") from None
    except Exception as exc:  # git (through plumbum) or the file system failed under copier
        lines = [line.strip(" |\t") for line in str(exc).splitlines() if line.strip(" |\t")]
        raise ExternalFailure(f"copier could not render {plan.source}: {lines[-1] if lines else type(exc).__name__}", code="copier_failed", path=plan.source,
                              hint="check the template path or URL, its @REF, and that git can reach it") from None
    if plan.template == "custom":  # its questions are known once copier has fetched it; create removes the folder
        check_answers(plan.data, worker.template.questions_data, "custom")
    return _recorded_answers(work)


def _recorded_answers(folder: Path) -> dict:
    """The answers the template recorded (.copier-answers.yml), without copier's own keys."""
    import yaml

    try:
        recorded = yaml.safe_load((folder / ".copier-answers.yml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return {}
    return {k: v for k, v in recorded.items() if not str(k).startswith("_")} if isinstance(recorded, dict) else {}


def _permissions(folder: Path) -> None:
    """mkdtemp made the folder 700: give it the mode a new folder gets under the umask."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(folder, 0o777 & ~mask)

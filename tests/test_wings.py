"""The core package's layout: its wings and the direction of imports between them (docs/mcp-architecture.md
has the picture). A module imports the top-level modules, its own wing, and the wings below its
own in WINGS; never a wing above. The top-level modules import only each other."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "scripts" / "claudex_mcp"
# Bottom to top: a wing may import those before it.
WINGS = ("schemas", "store", "settings", "clients", "runtime", "gateway", "install", "migrate", "catalog", "cli")
MAX_TOP_LEVEL = 15


def wing_of(module: str) -> str:
    """'' for the top-level modules (and the package itself), else the wing's name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in WINGS) else ""


def rank(wing: str) -> int:
    return WINGS.index(wing) + 1 if wing else 0


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """Every claudex_mcp module ``path`` imports, anywhere in it (functions too), with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: a relative import (the package imports absolutely)"
            if node.module and node.module.split(".")[0] == "claudex_mcp":
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    is_module = (PACKAGE.parent / target.replace(".", "/")).with_suffix(".py").exists() or \
                        (PACKAGE.parent / target.replace(".", "/") / "__init__.py").exists()
                    found.append((node.lineno, target if is_module else node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "claudex_mcp"]
    return found


def sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_import_points_down():
    wrong = []
    for path in sources():
        importer = module_name(path)
        for line, target in imports(path):
            mine, theirs = wing_of(importer), wing_of(target)
            if theirs and theirs not in WINGS:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {target}: not a wing")
            elif mine != theirs and rank(theirs) > rank(mine):
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} ({mine or 'top level'}) imports {target} "
                             f"({theirs}), a wing above it")
    assert not wrong, "\n".join(wrong)


def test_wings_are_the_folders():
    folders = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert folders == sorted(WINGS)
    for wing in WINGS:
        doc = ast.get_docstring(ast.parse((PACKAGE / wing / "__init__.py").read_text(encoding="utf-8")))
        assert doc, f"{wing}/__init__.py has no docstring map"
        modules = sorted(p.stem for p in (PACKAGE / wing).glob("*.py") if p.stem != "__init__")
        if wing != "cli":  # the CLI's own map is its dispatcher
            missing = [m for m in modules if m not in doc.split()]
            assert not missing, f"{wing}/__init__.py does not map {missing}"


def test_few_modules_at_the_top():
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    assert len(top) <= MAX_TOP_LEVEL, top


def test_the_checker_sees_a_wrong_import(tmp_path):
    """The rule is not vacuous: an import up the wings is reported with its place."""
    wing_ranks = [rank(w) for w in WINGS]
    assert wing_ranks == sorted(wing_ranks) and rank("store") > rank("schemas") > rank("")
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from claudex_mcp.clients import generate\n")
    assert imports(bad) == [(2, "claudex_mcp.clients.generate")]
    assert wing_of("claudex_mcp.clients.generate") == "clients" and wing_of("claudex_mcp.paths") == ""
    assert rank(wing_of("claudex_mcp.clients.generate")) > rank(wing_of("claudex_mcp.store.mutation"))


# Ideas the package once wrote more than once, each now defined in one module (the others use it).
ONE_DEFINITION = {
    "a ${VAR} reference's name": ("[A-Za-z_][A-Za-z0-9_]*", "expand.py"),
    "the MCP protocol revisions": ('"2024-11-05"', "versions.py"),
    "the JSONC reader": ("def strip_jsonc", "jsonio.py"),
    "a real folder of this user": ("st_uid != os.geteuid()", "safepath.py"),
}


def test_each_shared_idea_is_defined_once():
    wrong = []
    for idea, (text, home) in ONE_DEFINITION.items():
        found = [str(p.relative_to(PACKAGE)) for p in sources() if text in p.read_text(encoding="utf-8")]
        if found != [home]:
            wrong.append(f"{idea} ({text!r}) is written in {found}, not only in {home}")
    assert not wrong, "\n".join(wrong)

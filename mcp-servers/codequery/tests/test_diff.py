"""cq_apply_diff's core: git diffs applied all or nothing, hunks matched by context when their
line numbers are off, every hostile path refused with nothing written."""

from __future__ import annotations

import os
import re
import stat
import subprocess

import pytest

import cq_diff
from claudex_server.errors import InvalidInput

ORIGINAL = "".join(f"line {i}\n" for i in range(1, 21))


@pytest.fixture
def repo(project):
    """A real git repository, so the diffs are the ones `git diff` writes."""
    (project / "a.txt").write_text(ORIGINAL)
    (project / "run.sh").write_text("#!/bin/sh\necho hello\n")
    os.chmod(project / "run.sh", 0o755)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run(git + ["init", "-q"], cwd=project, check=True)
    subprocess.run(git + ["add", "."], cwd=project, check=True)
    subprocess.run(git + ["commit", "-qm", "init"], cwd=project, check=True)
    return project


def git_diff(repo, edits: dict[str, str | None]) -> str:
    """Make the edits, take `git diff`, then put the tree back."""
    for rel, text in edits.items():
        if text is None:
            (repo / rel).unlink()
        else:
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_text(text)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    diff = subprocess.run(["git", "diff", "--cached"], cwd=repo, check=True, capture_output=True, text=True).stdout
    subprocess.run(["git", "reset", "-q", "--hard"], cwd=repo, check=True)
    return diff


def snapshot(root):
    return {str(p.relative_to(root)): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
            for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts}


def test_dry_run_then_for_real(repo):
    diff = git_diff(repo, {"a.txt": ORIGINAL.replace("line 3\n", "line three\n").replace("line 18\n", ""),
                           "run.sh": "#!/bin/sh\necho goodbye\n", "new/b.txt": "fresh\n"})
    before = snapshot(repo)
    dry = cq_diff.apply(repo, diff, dry_run=True)
    assert dry["ok"] and not dry["applied"] and snapshot(repo) == before
    assert [f["action"] for f in dry["files"]] == ["modify", "create", "modify"]
    done = cq_diff.apply(repo, diff, dry_run=False)
    assert done["applied"]
    assert (repo / "a.txt").read_text() == ORIGINAL.replace("line 3\n", "line three\n").replace("line 18\n", "")
    assert (repo / "run.sh").read_text() == "#!/bin/sh\necho goodbye\n"
    assert stat.S_IMODE((repo / "run.sh").stat().st_mode) == 0o755  # mode kept
    assert (repo / "new/b.txt").read_text() == "fresh\n"
    assert subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout


def test_delete_a_file(repo):
    diff = git_diff(repo, {"run.sh": None})
    assert cq_diff.apply(repo, diff, dry_run=False)["applied"]
    assert not (repo / "run.sh").exists()


def test_hunks_whose_line_numbers_are_off_apply_by_context(repo):
    diff = git_diff(repo, {"a.txt": ORIGINAL.replace("line 10\n", "line ten\n")})
    (repo / "a.txt").write_text("header 1\nheader 2\nheader 3\n" + ORIGINAL)  # shifted by three lines
    result = cq_diff.apply(repo, diff, dry_run=False)
    assert result["files"][0]["hunks"][0]["offset"] == 3
    assert (repo / "a.txt").read_text() == "header 1\nheader 2\nheader 3\n" + ORIGINAL.replace("line 10\n", "line ten\n")


def test_context_that_does_not_match_writes_nothing(repo):
    diff = git_diff(repo, {"a.txt": ORIGINAL.replace("line 2\n", "line two\n").replace("line 15\n", "line 15!\n"),
                           "run.sh": "#!/bin/sh\necho changed\n"})
    (repo / "a.txt").write_text(ORIGINAL.replace("line 14\n", "line fourteen\n"))  # breaks the second hunk
    before = snapshot(repo)
    result = cq_diff.apply(repo, diff, dry_run=False)
    assert not result["ok"] and not result["applied"] and snapshot(repo) == before
    hunks = result["files"][0]["hunks"]
    assert hunks[0]["applied"] is True and hunks[1]["applied"] is False and "do not match" in hunks[1]["reason"]


def test_no_newline_at_end_of_file(repo):
    (repo / "c.txt").write_text("one\ntwo")
    subprocess.run(["git", "add", "c.txt"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"], cwd=repo, check=True)
    diff = git_diff(repo, {"c.txt": "one\n2"})
    cq_diff.apply(repo, diff, dry_run=False)
    assert (repo / "c.txt").read_text() == "one\n2"


HOSTILE = {
    "../x": "'..' is refused",
    "/etc/passwd": "absolute paths are refused",
    ".git/config": "writing into .git is refused",
    "sub/../../x": "'..' is refused",
    "link/evil.txt": "symlink leads outside",
    "passwd-link": "symlink",
}


@pytest.mark.parametrize("target, message", sorted(HOSTILE.items()))
def test_hostile_paths_are_refused(repo, tmp_path, target, message):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, repo / "link")
    os.symlink("/etc/passwd", repo / "passwd-link")
    before = snapshot(repo)
    diff = (f"--- a/a.txt\n+++ b/a.txt\n@@ -1,1 +1,1 @@\n-line 1\n+LINE 1\n"
            f"--- a/{target}\n+++ b/{target}\n@@ -0,0 +1,1 @@\n+owned\n")
    with pytest.raises(InvalidInput, match=message):
        cq_diff.apply(repo, diff, dry_run=False)
    assert snapshot(repo) == before and not any(outside.iterdir())


@pytest.mark.parametrize("diff, message", [
    ("", "diff is empty"),
    ("just some text\n", "no file changes"),
    ("--- a/a.txt\n+++ b/a.txt\n@@ -1,3 +1,3 @@\n line 1\n", "ends before"),
    ("--- a/a.txt\n+++ b/b.txt\n@@ -1,1 +1,1 @@\n-line 1\n+x\n", "renames are not supported"),
])
def test_malformed_diffs(repo, diff, message):
    with pytest.raises(InvalidInput, match=message):
        cq_diff.apply(repo, diff, dry_run=False)


def test_a_failed_write_puts_every_file_back(repo, monkeypatch):
    diff = git_diff(repo, {"a.txt": ORIGINAL.replace("line 1\n", "first\n"), "run.sh": "#!/bin/sh\necho x\n"})
    before = snapshot(repo)
    real = cq_diff._write
    calls = []

    def disk_full_on_second_file(target, data, mode):
        calls.append(target)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(target))
        real(target, data, mode)

    monkeypatch.setattr(cq_diff, "_write", disk_full_on_second_file)
    with pytest.raises(InvalidInput, match="put back"):
        cq_diff.apply(repo, diff, dry_run=False)
    assert snapshot(repo) == before


def test_a_parent_that_is_a_file_is_refused(repo):
    with pytest.raises(InvalidInput, match="not a folder"):
        cq_diff.apply(repo, "--- /dev/null\n+++ b/a.txt/x\n@@ -0,0 +1,1 @@\n+x\n", dry_run=True)


# What configures git, an agent or claudex: created, modified, deleted or renamed, at any depth and
# in any case. Each diff first changes a.txt, which is allowed: the whole diff must still be refused.
CONFIG = {"create": ("/dev/null", "b/{p}", "@@ -0,0 +1 @@\n+{{}}\n"),
          "modify": ("a/{p}", "b/{p}", "@@ -1 +1 @@\n-{{}}\n+{{\"mcpServers\": {{}}}}\n"),
          "delete": ("a/{p}", "/dev/null", "@@ -1 +0,0 @@\n-{{}}\n"),
          "rename to": ("a/a.txt", "b/{p}", "@@ -1 +1 @@\n-line 1\n+{{}}\n"),
          "rename from": ("a/{p}", "b/moved.json", "@@ -1 +1 @@\n-{{}}\n+{{}}\n")}
PROTECTED = [".mcp.json", "sub/dir/.mcp.json", ".MCP.JSON", ".claudex/mcp.json", "pkg/.claudex/mcp.json",
             ".Claudex/mcp.json", ".claude/settings.json", ".claude/commands/x.md", ".claude.json", "CLAUDE.md",
             "src/claude.md", "CLAUDE.local.md", "AGENTS.md", "web/agents.md", ".codex/config.toml",
             ".cursor/mcp.json", ".vscode/mcp.json", ".vscode/tasks.json", ".cursorrules", "GEMINI.md",
             ".gemini/settings.json", ".git/hooks/pre-commit", ".GIT/config", ".config/claudex/mcp.json",
             ".config/Claude/claude_desktop_config.json", ".local/share/claudex/mcp-servers/installed/x/server.py",
             ".github/copilot-instructions.md"]


@pytest.mark.parametrize("rel", PROTECTED)
def test_files_that_configure_agents_or_claudex_are_never_touched(repo, rel):
    name = next(p for p in rel.split("/") if cq_diff.protected((p,)) or p.lower() in (".config", ".local", ".github"))
    for kind, (old, new, hunk) in sorted(CONFIG.items()):
        target = repo / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind in ("modify", "delete", "rename from"):
            target.write_text("{}\n")
        elif target.exists():
            target.unlink()
        before = snapshot(repo), sorted(str(p) for p in repo.rglob("*"))
        diff = ("--- a/a.txt\n+++ b/a.txt\n@@ -2 +2 @@\n-line 2\n+LINE 2\n" if kind != "rename to" else "") + \
            f"--- {old.format(p=rel)}\n+++ {new.format(p=rel)}\n{hunk.format(p=rel)}"
        with pytest.raises(InvalidInput, match=re.escape(f"writing into {name}")) as refused:
            cq_diff.apply(repo, diff, dry_run=False)
        assert refused.value.path == rel and "nothing was written" in str(refused.value), kind
        assert (snapshot(repo), sorted(str(p) for p in repo.rglob("*"))) == before, kind


def test_a_symlink_to_an_agents_config_folder_is_refused_too(repo):
    (repo / ".claude").mkdir()
    os.symlink(".claude", repo / "docs")
    diff = "--- /dev/null\n+++ b/docs/settings.json\n@@ -0,0 +1 @@\n+{}\n"
    with pytest.raises(InvalidInput, match="writing into .claude is refused"):
        cq_diff.apply(repo, diff, dry_run=True)
    assert not any((repo / ".claude").iterdir())


@pytest.mark.parametrize("rel", ["src/claude.py", ".github/workflows/ci.yml", "docs/AGENTS.md.bak", ".gitignore",
                                 "config/claudex.toml", ".vscodeignore"])
def test_names_that_only_look_alike_are_written(repo, rel):
    result = cq_diff.apply(repo, f"--- /dev/null\n+++ b/{rel}\n@@ -0,0 +1 @@\n+x\n", dry_run=False)
    assert result["applied"] and (repo / rel).read_text() == "x\n"


def test_a_lone_surrogate_is_an_error_not_a_crash(repo):
    with pytest.raises(InvalidInput, match="lone surrogate at character 45"):
        cq_diff.apply(repo, "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-line 1\n+\ud800\n", dry_run=False)
    assert (repo / "a.txt").read_text() == ORIGINAL

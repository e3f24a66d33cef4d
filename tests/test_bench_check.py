"""The CI rule for benchmarks (tests/bench/check.py): a figure fails only beyond twice its target."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "bench"))
import check  # noqa: E402


@pytest.mark.parametrize("value,target,state", [
    (40, {"max": 50}, "ok"), (50, {"max": 50}, "ok"), (99.9, {"max": 50}, "slow"), (100, {"max": 50}, "slow"),
    (100.1, {"max": 50}, "fail"),
    (0.95, {"min": 0.9}, "ok"), (0.5, {"min": 0.9}, "slow"), (0.45, {"min": 0.9}, "slow"), (0.44, {"min": 0.9}, "fail"),
])
def test_twice_the_target_is_the_line(value, target, state):
    assert check.verdict(value, target) == state


def test_a_figure_that_does_not_vary_fails_beyond_its_target(tmp_path):
    """A venv's size is the same in every run: `"factor": 1` makes its target the line."""
    assert (check.verdict(250, {"max": 250, "factor": 1}), check.verdict(250.1, {"max": 250, "factor": 1})) == ("ok", "fail")
    write(tmp_path, "qdrant-bench.json", {"venv": {"codequery": {"mb": 251.5}}})
    proc = run(tmp_path, {"qdrant:venv.codequery.mb": {"max": 250, "factor": 1}})
    assert proc.returncode == 1
    assert "fail     qdrant:venv.codequery.mb = 251.5 (target < 250; fails beyond it)" in proc.stdout


def write(folder, name, results):
    (folder / name).write_text(json.dumps({"results": results}))


def run(tmp_path, targets):
    (tmp_path / "targets.json").write_text(json.dumps(targets))
    return subprocess.run([sys.executable, str(ROOT / "tests" / "bench" / "check.py"), "--results", str(tmp_path),
                           "--targets", str(tmp_path / "targets.json")], capture_output=True, text=True)


def test_the_script_fails_only_on_a_figure_beyond_twice(tmp_path):
    write(tmp_path, "bench.json", {"help": {"median_ms": 90}, "python_server_install": {"uv_warm_s": 1.2}})
    write(tmp_path, "codequery-bench.json", {"search": {"p50_ms": 30}})
    targets = {"_doc": "x", "help.median_ms": {"max": 50}, "python_server_install.uv_warm_s": {"max": 2},
               "codequery:search.p50_ms": {"max": 20}}
    proc = run(tmp_path, targets)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "slow     help.median_ms = 90" in proc.stdout and "slow     codequery:search.p50_ms = 30" in proc.stdout
    write(tmp_path, "bench.json", {"help": {"median_ms": 101}, "python_server_install": {"uv_warm_s": 1.2}})
    proc = run(tmp_path, targets)
    assert proc.returncode == 1 and "fail     help.median_ms = 101" in proc.stdout


def test_a_missing_figure_is_not_a_pass(tmp_path):
    write(tmp_path, "bench.json", {})
    proc = run(tmp_path, {"help.median_ms": {"max": 50}})
    assert proc.returncode == 2 and "missing" in proc.stdout


def test_a_target_may_be_another_figure_of_the_same_run(tmp_path):
    targets = {"status_refresh_8.median_ms": {"max": "claude_mcp_list_8.median_ms"}}
    write(tmp_path, "bench.json", {"status_refresh_8": {"median_ms": 1900}, "claude_mcp_list_8": {"median_ms": 2100}})
    proc = run(tmp_path, targets)
    assert proc.returncode == 0 and "ok       status_refresh_8.median_ms = 1900 (target < claude_mcp_list_8.median_ms = 2100" in proc.stdout
    write(tmp_path, "bench.json", {"status_refresh_8": {"median_ms": 3000}, "claude_mcp_list_8": {"median_ms": 2100}})
    assert "slow     status_refresh_8" in run(tmp_path, targets).stdout
    write(tmp_path, "bench.json", {"status_refresh_8": {"median_ms": 4300}, "claude_mcp_list_8": {"median_ms": 2100}})
    assert run(tmp_path, targets).returncode == 1
    # Skipped by the bench (no Claude Code): missing, with the bench's reason.
    write(tmp_path, "bench.json", {"status_refresh_8": {"skipped": "no Claude Code at /x"}})
    proc = run(tmp_path, targets)
    assert proc.returncode == 2 and "missing  status_refresh_8.median_ms" in proc.stdout
    assert "(skipped: no Claude Code at /x)" in proc.stdout
    write(tmp_path, "bench.json", {"status_refresh_8": {"median_ms": 1900}})
    proc = run(tmp_path, targets)
    assert proc.returncode == 2 and "claude_mcp_list_8.median_ms not in" in proc.stdout


def test_every_documented_target_names_a_figure_the_bench_writes():
    """targets.json's keys are figures bench.py produces (by name in its source)."""
    targets = json.loads((ROOT / "tests" / "bench" / "targets.json").read_text())
    source = (ROOT / "tests" / "bench" / "bench.py").read_text()
    for key in targets:
        if key.startswith("_") or ":" in key:
            continue
        top = key.split(".")[0]
        assert f'"{top}"' in source, key


def test_a_count_must_equal_its_target_and_a_figure_may_have_several(tmp_path):
    """Server processes are 1, not "within twice 1"; a latency may have an absolute bound and a
    bound from another figure of the same run."""
    targets = {"two.processes.qdrant": {"equals": 1},
               "one.p50_ms": [{"max": 50}, {"max": "direct.p50_ms"}]}
    write(tmp_path, "bench.json", {"two": {"processes": {"qdrant": 1}}, "one": {"p50_ms": 30}, "direct": {"p50_ms": 40}})
    proc = run(tmp_path, targets)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok       two.processes.qdrant = 1 (target 1; fails on any other value)" in proc.stdout
    assert "ok       one.p50_ms = 30 (target < 50;" in proc.stdout
    assert "ok       one.p50_ms = 30 (target < direct.p50_ms = 40;" in proc.stdout
    for processes in (2, 0):
        write(tmp_path, "bench.json", {"two": {"processes": {"qdrant": processes}}, "one": {"p50_ms": 30},
                                       "direct": {"p50_ms": 40}})
        proc = run(tmp_path, targets)
        assert proc.returncode == 1 and f"fail     two.processes.qdrant = {processes}" in proc.stdout
    write(tmp_path, "bench.json", {"two": {"processes": {"qdrant": 1}}, "one": {"p50_ms": 90}, "direct": {"p50_ms": 40}})
    proc = run(tmp_path, targets)
    assert proc.returncode == 1, proc.stdout
    assert "slow     one.p50_ms = 90 (target < 50;" in proc.stdout and "fail     one.p50_ms = 90 (target < direct" in proc.stdout

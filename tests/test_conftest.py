"""The sandbox fixture itself: tests cannot reach the real home directory."""

import os
from pathlib import Path

import pytest

from conftest import REAL_HOME, RealHomeTouched


def test_home_and_xdg_point_into_the_test_folder(sandbox):
    for name in ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME",
                 "CLAUDEX_MCP_REGISTRY"):
        assert os.environ[name].startswith(str(sandbox.root))


@pytest.mark.parametrize("touch", [
    lambda p: p.read_text(),
    lambda p: p.write_text("x"),
    lambda p: p.mkdir(),
    lambda p: os.listdir(p.parent),
])
def test_touching_the_real_home_fails(touch):
    target = Path(REAL_HOME) / ".config" / "claudex-test-probe"
    with pytest.raises(RealHomeTouched):
        touch(target)
    assert not target.exists()  # the write was stopped before the file was created

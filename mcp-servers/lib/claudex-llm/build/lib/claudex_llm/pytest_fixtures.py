"""pytest fixtures over the fake OpenAI and Anthropic APIs (claudex_llm.fake_api), for any test
suite that talks to a provider: import them into a conftest by name."""

from __future__ import annotations

import pytest

from .fake_api import FakeAPI


@pytest.fixture
def openai_api():
    with FakeAPI("openai") as api:
        yield api


@pytest.fixture
def anthropic_api():
    with FakeAPI("anthropic") as api:
        yield api

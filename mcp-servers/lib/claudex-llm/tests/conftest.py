"""Fixtures of claudex_llm's tests: the fake OpenAI and Anthropic APIs, and an environment
that holds only what a test gives it (never the developer's own keys)."""

from __future__ import annotations

import anyio
import pytest

from claudex_llm import Client
from claudex_llm.pytest_fixtures import anthropic_api, openai_api  # noqa: F401 (fixtures)


@pytest.fixture
def env(openai_api, anthropic_api) -> dict[str, str]:
    return {**openai_api.env(), **anthropic_api.env(), "LLM_WRAPPER_MAX_RETRIES": "2"}


@pytest.fixture
def client() -> Client:
    return Client(rng=lambda: 0.0)   # the shortest backoff: 0.25 s, 0.5 s, ...


def run(coro_fn, *args, timeout: float = 30, **kwargs):
    """Run an async call with a bound, so a test that hangs fails instead."""
    async def main():
        with anyio.fail_after(timeout):
            return await coro_fn(*args, **kwargs)

    return anyio.run(main)

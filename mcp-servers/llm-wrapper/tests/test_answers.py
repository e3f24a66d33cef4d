"""llm_answers without MCP: the self-check report and the progress throttle."""

from __future__ import annotations

import llm_answers


def test_check_reports_each_provider_and_the_default_model():
    report = llm_answers.check({"ANTHROPIC_API_KEY": "k", "OPENAI_BASE_URL": "ftp://nowhere"})
    assert report["ok"] and report["default_model"] == "anthropic/claude-haiku-4-5"
    assert report["providers"]["anthropic"] == {"usable": True, "base_url": "https://api.anthropic.com"}
    assert report["providers"]["openai"]["variable"] == "OPENAI_BASE_URL"
    report = llm_answers.check({"LLM_WRAPPER_MODEL": "mistral/large"})
    assert not report["ok"] and "LLM_WRAPPER_MODEL" in report["problems"][0]


def test_throttle_sends_the_first_piece_at_once_then_less_often_as_the_text_grows():
    now = [0.0]
    throttle = llm_answers.Throttle(interval=0.1, rate=1000, clock=lambda: now[0])
    assert throttle.due(10)
    now[0] = 0.05
    assert not throttle.due(20)
    now[0] = 0.11
    assert throttle.due(50)
    now[0] = 1.0
    assert not throttle.due(2000)      # 2,000 characters at 1,000 per second: one every 2 s
    now[0] = 2.2
    assert throttle.due(2000)

"""api-wrapper: the client against a local Open-Meteo stand-in (timeouts, retries, refusals, the
key), then the tools through a real MCP session with the server talking to that stand-in."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import weather_api
from claudex_testing import assert_stdout_is_jsonrpc, connect
from weather_api import ApiError, Settings

FOLDER = Path(__file__).resolve().parent.parent


def client(url: str, **kw) -> weather_api.Client:
    values = {"base_url": url, "api_key": None, "connect_timeout": 1.0, "read_timeout": 2.0, "retries": 3,
              "backoff": 0.0, **kw}
    return weather_api.Client(Settings(**values))


def test_current_weather_with_units(api):
    now = weather_api.current(client(api.url), 52.52, 13.41)
    assert now["time"] == "2026-11-30T20:00" and now["timezone"] == "Europe/Berlin"
    assert now["values"]["temperature_2m"] == {"value": 4.2, "unit": "°C"}
    sent = api.requests[0]
    assert sent["path"] == "/v1/forecast" and sent["query"]["latitude"] == ["52.52"]
    assert sent["query"]["current"] == [",".join(weather_api.CURRENT)]


def test_forecast_one_row_per_day(api):
    result = weather_api.forecast(client(api.url), 48.85, 2.35, days=2)
    assert result["units"]["precipitation_sum"] == "mm"
    assert result["days"] == [
        {"date": "2026-12-01", "temperature_2m_max": 5.0, "temperature_2m_min": -1.0, "precipitation_sum": 0.0,
         "weather_code": 61},
        {"date": "2026-12-02", "temperature_2m_max": 6.0, "temperature_2m_min": 0.0, "precipitation_sum": 0.4,
         "weather_code": 61}]
    assert api.requests[0]["query"]["forecast_days"] == ["2"]


def test_retries_5xx_and_429_then_answers(api):
    api.script = [{"status": 503}, {"status": 429, "headers": {"Retry-After": "0"}}, {"status": 502}]
    assert weather_api.current(client(api.url), 1, 2)["values"]
    assert len(api.requests) == 4


def test_gives_up_after_the_retries(api):
    api.script = [{"status": 503, "body": {"error": True, "reason": "overloaded"}}] * 5
    with pytest.raises(ApiError, match=r"kept failing \(HTTP 503\): overloaded, after 2 retries"):
        weather_api.current(client(api.url, retries=2), 1, 2)
    assert len(api.requests) == 3


def test_a_refusal_is_not_retried_and_says_the_reason(api):
    api.script = [{"status": 400, "body": {"error": True, "reason": "Cannot initialize WeatherVariable from invalid String value"}}]
    with pytest.raises(ApiError, match="refused the request \\(HTTP 400\\): Cannot initialize"):
        weather_api.current(client(api.url), 1, 2)
    assert len(api.requests) == 1


def test_read_timeout(api):
    api.script = [{"delay": 1.0}]
    with pytest.raises(ApiError, match="did not answer within 0.2 s"):
        weather_api.current(client(api.url, read_timeout=0.2), 1, 2)
    assert len(api.requests) == 1  # a timed-out read is not retried


def test_unreachable():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ApiError, match="cannot reach"):
        weather_api.current(client(f"http://127.0.0.1:{port}/v1", retries=1), 1, 2)


def test_the_key_is_sent_and_never_said(api):
    api.script = [{"status": 401, "body": {"error": True, "reason": "Invalid API key"}}]
    with pytest.raises(ApiError) as raised:
        weather_api.current(client(api.url, api_key="sk-secret-123"), 1, 2)
    assert api.requests[0]["query"]["apikey"] == ["sk-secret-123"]
    assert "sk-secret-123" not in str(raised.value)


def test_arguments_are_checked_before_any_request(api):
    with pytest.raises(ApiError, match="latitude"):
        weather_api.current(client(api.url), 91, 0)
    with pytest.raises(ApiError, match="days"):
        weather_api.forecast(client(api.url), 0, 0, days=17)
    assert api.requests == []


def test_settings_from_the_environment():
    got = Settings.from_env({"WEATHER_API_URL": "http://127.0.0.1:9/v1/", "WEATHER_API_TIMEOUT": "4"})
    assert got.base_url == "http://127.0.0.1:9/v1" and got.read_timeout == 4.0 and got.retries == 3
    assert Settings.from_env({}).base_url == weather_api.DEFAULT_URL
    with pytest.raises(ApiError):
        Settings.from_env({"WEATHER_API_URL": "file:///etc/passwd"})
    with pytest.raises(ApiError):
        Settings.from_env({"WEATHER_API_RETRIES": "many"})


def test_tools_through_mcp(api):
    env = {"WEATHER_API_URL": api.url, "WEATHER_API_BACKOFF": "0", "WEATHER_API_TIMEOUT": "5"}
    with connect(FOLDER, env=env) as session:
        assert session.tool_names() == ["weather_current", "weather_forecast"]
        now = session.call("weather_current", {"latitude": 52.52, "longitude": 13.41})
        assert not now.is_error and now.structured_content["values"]["wind_speed_10m"]["unit"] == "km/h"
        days = session.call("weather_forecast", {"latitude": 52.52, "longitude": 13.41, "days": 5})
        assert len(days.structured_content["days"]) == 5
        api.script = [{"status": 400, "body": {"error": True, "reason": "Latitude must be in range"}}]
        failed = session.call("weather_current", {"latitude": 1, "longitude": 2})
        assert failed.is_error and "invalid_input: the weather API refused the request (HTTP 400): Latitude must be in range" \
            in session.text(failed)
        out_of_range = session.call("weather_forecast", {"latitude": 1, "longitude": 2, "days": 40})
        assert out_of_range.is_error  # the input schema's bound


def test_stdout_is_only_jsonrpc():
    assert_stdout_is_jsonrpc(FOLDER, env={"WEATHER_API_URL": "http://127.0.0.1:9/v1"})


def test_the_self_check_reads_the_settings_and_sends_nothing():
    import json
    import os
    import subprocess
    import sys

    def check(**env):
        proc = subprocess.run([sys.executable, "server.py", "--check"], cwd=FOLDER, capture_output=True, text=True,
                              env={**os.environ, **env}, timeout=60)
        return proc.returncode, json.loads(proc.stdout)

    assert check(WEATHER_API_URL="http://127.0.0.1:9/v1") == (0, {"ok": True, "problems": [], "url": "http://127.0.0.1:9/v1"})
    code, report = check(WEATHER_API_RETRIES="many")
    assert code == 1 and "WEATHER_API_RETRIES an integer" in report["problems"][0]

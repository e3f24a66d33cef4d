"""A local stand-in for the Open-Meteo API on 127.0.0.1: it speaks the real wire format (the
JSON of https://api.open-meteo.com/v1/forecast), records every request, and plays scripted
failures (a status, a Retry-After, a delay) before answering."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest


def forecast_body(query: dict) -> dict:
    body = {"latitude": float(query["latitude"][0]), "longitude": float(query["longitude"][0]),
            "generationtime_ms": 0.05, "utc_offset_seconds": 3600, "timezone": "Europe/Berlin",
            "timezone_abbreviation": "CET", "elevation": 38.0}
    if "current" in query:
        body["current_units"] = {"time": "iso8601", "interval": "seconds", "temperature_2m": "°C",
                                 "relative_humidity_2m": "%", "wind_speed_10m": "km/h", "weather_code": "wmo code"}
        body["current"] = {"time": "2026-11-30T20:00", "interval": 900, "temperature_2m": 4.2,
                           "relative_humidity_2m": 81, "wind_speed_10m": 11.5, "weather_code": 3}
    if "daily" in query:
        days = int(query.get("forecast_days", ["7"])[0])
        body["daily_units"] = {"time": "iso8601", "temperature_2m_max": "°C", "temperature_2m_min": "°C",
                               "precipitation_sum": "mm", "weather_code": "wmo code"}
        body["daily"] = {"time": [f"2026-12-{d + 1:02d}" for d in range(days)],
                         "temperature_2m_max": [5.0 + d for d in range(days)],
                         "temperature_2m_min": [-1.0 + d for d in range(days)],
                         "precipitation_sum": [0.4 * d for d in range(days)], "weather_code": [61] * days}
    return body


class FakeApi:
    def __init__(self) -> None:
        self.script: list[dict] = []  # played in order before normal answers: {"status", "body", "delay", "headers"}
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep the test output clean
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                with api.lock:
                    api.requests.append({"path": parts.path, "query": query})
                    step = api.script.pop(0) if api.script else None
                if step and step.get("delay"):
                    time.sleep(step["delay"])
                if step and step.get("status"):
                    self._send(step["status"], step.get("body", {"error": True, "reason": "scripted"}),
                               step.get("headers", {}))
                elif parts.path != "/v1/forecast":
                    self._send(404, {"error": True, "reason": "Not Found"})
                else:
                    self._send(200, forecast_body(query))

            def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass

        return Handler


@pytest.fixture
def api():
    fake = FakeApi()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)

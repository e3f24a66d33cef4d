"""The api-wrapper server's work: the Open-Meteo forecast API (https://open-meteo.com) through
requests, in plain Python (no mcp import).

Every request has a connect and a read timeout; a failed connection, 429 and 5xx answers are
retried with exponential backoff by urllib3's Retry (which honours Retry-After); an answer the
API refuses (4xx) is said with the API's own reason. The API needs no key; a commercial key
(WEATHER_API_KEY) is sent as the `apikey` parameter and never appears in a message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from claudex_server.errors import ServerError

DEFAULT_URL = "https://api.open-meteo.com/v1"
DEFAULT_CONNECT_TIMEOUT = 3.05
DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.5  # seconds; urllib3 waits backoff * 2 ** (retry - 1) between attempts
RETRY_STATUS = (429, 500, 502, 503, 504)
CURRENT = ("temperature_2m", "relative_humidity_2m", "wind_speed_10m", "weather_code")
DAILY = ("temperature_2m_max", "temperature_2m_min", "precipitation_sum", "weather_code")


class ApiError(ServerError):
    """A failure the caller can act on: unreachable, refused, or an answer we cannot read. Its
    ``code`` starts the tool's error: unavailable (the API failed), unless said otherwise
    (invalid_input: a bad argument or setting, or a request the API refuses)."""

    code = "unavailable"


@dataclass(frozen=True)
class Settings:
    base_url: str
    api_key: str | None
    connect_timeout: float
    read_timeout: float
    retries: int
    backoff: float

    @classmethod
    def from_env(cls, environ=os.environ) -> "Settings":
        url = environ.get("WEATHER_API_URL", "").strip() or DEFAULT_URL
        if not url.startswith(("http://", "https://")):
            raise ApiError(f"WEATHER_API_URL must be an http(s) URL, not {url!r}", code="invalid_input")
        try:
            return cls(url.rstrip("/"), environ.get("WEATHER_API_KEY") or None,
                       float(environ.get("WEATHER_API_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT)),
                       float(environ.get("WEATHER_API_TIMEOUT", DEFAULT_READ_TIMEOUT)),
                       int(environ.get("WEATHER_API_RETRIES", DEFAULT_RETRIES)),
                       float(environ.get("WEATHER_API_BACKOFF", DEFAULT_BACKOFF)))
        except ValueError:
            raise ApiError("WEATHER_API_TIMEOUT, WEATHER_API_CONNECT_TIMEOUT and WEATHER_API_BACKOFF must be "
                           "numbers of seconds, WEATHER_API_RETRIES an integer", code="invalid_input") from None


def check(environ=os.environ) -> dict:
    """The self-check behind `server.py --check` (the manifest's healthCheck.command): the settings
    are well-formed. It sends no request (status runs it beside every session: it must be cheap);
    a call that cannot reach the API says so itself."""
    try:
        settings = Settings.from_env(environ)
    except ApiError as exc:
        return {"ok": False, "problems": [str(exc)], "hint": "fix the WEATHER_API_* setting it names"}
    return {"ok": True, "problems": [], "url": settings.base_url}


class Client:
    """One requests session with the retry policy mounted; reuse it (it pools connections)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.session = requests.Session()
        # A read that timed out is not retried (read=0): waiting again would double the worst case.
        retry = Retry(total=settings.retries, connect=settings.retries, read=0, status=settings.retries,
                      backoff_factor=settings.backoff, status_forcelist=RETRY_STATUS,
                      allowed_methods=frozenset({"GET"}), respect_retry_after_header=True, raise_on_status=False)
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = "claudex-api-wrapper-example/1.0"

    def close(self) -> None:
        self.session.close()

    def get(self, path: str, params: dict) -> dict:
        url = f"{self.settings.base_url}/{path}"
        if self.settings.api_key:
            params = dict(params, apikey=self.settings.api_key)
        try:
            answer = self.session.get(url, params=params,
                                      timeout=(self.settings.connect_timeout, self.settings.read_timeout))
        except requests.exceptions.RetryError:
            raise ApiError(f"{self.settings.base_url} kept failing after {self.settings.retries} retries") from None
        except requests.exceptions.Timeout:
            raise ApiError(f"{self.settings.base_url} did not answer within {self.settings.read_timeout:g} s "
                           "(WEATHER_API_TIMEOUT)") from None
        except requests.exceptions.ConnectionError as exc:
            # requests reports a read timeout that Retry gave up on as a ConnectionError.
            cause = getattr(exc.args[0], "reason", None) if exc.args else None
            if isinstance(cause, ReadTimeoutError):
                raise ApiError(f"{self.settings.base_url} did not answer within {self.settings.read_timeout:g} s "
                               "(WEATHER_API_TIMEOUT)") from None
            raise ApiError(f"cannot reach {self.settings.base_url} (after {self.settings.retries} retries)") from None
        try:
            body = answer.json()
        except ValueError:
            body = None
        if answer.status_code >= 400:
            reason = body.get("reason") if isinstance(body, dict) else None
            said = f" (HTTP {answer.status_code})" + (f": {reason}" if reason else "")
            if answer.status_code in RETRY_STATUS:  # what Retry gives back once its retries are spent
                raise ApiError(f"the weather API kept failing{said}, after {self.settings.retries} retries")
            raise ApiError(f"the weather API refused the request{said}", code="invalid_input")
        if not isinstance(body, dict):
            raise ApiError("the weather API answered something that is not a JSON object")
        return body


def _check_place(latitude: float, longitude: float) -> None:
    if not -90 <= latitude <= 90 or not -180 <= longitude <= 180:
        raise ApiError("latitude must be within -90..90 and longitude within -180..180", code="invalid_input")


def current(client: Client, latitude: float, longitude: float) -> dict:
    """The weather now at a place: each value with its unit."""
    _check_place(latitude, longitude)
    body = client.get("forecast", {"latitude": latitude, "longitude": longitude, "current": ",".join(CURRENT),
                                   "timezone": "auto"})
    try:
        now, units = body["current"], body.get("current_units", {})
        return {"time": now["time"], "timezone": body.get("timezone", "GMT"),
                "values": {k: {"value": now[k], "unit": units.get(k, "")} for k in CURRENT if k in now}}
    except (KeyError, TypeError):
        raise ApiError("the weather API's answer has no 'current' block") from None


def forecast(client: Client, latitude: float, longitude: float, days: int = 3) -> dict:
    """The daily forecast at a place for ``days`` days (1 to 16): one row per day."""
    _check_place(latitude, longitude)
    if not 1 <= days <= 16:
        raise ApiError("days must be within 1..16", code="invalid_input")
    body = client.get("forecast", {"latitude": latitude, "longitude": longitude, "daily": ",".join(DAILY),
                                   "forecast_days": days, "timezone": "auto"})
    try:
        daily, units = body["daily"], body.get("daily_units", {})
        rows = [{"date": date, **{k: daily[k][i] for k in DAILY if k in daily}} for i, date in enumerate(daily["time"])]
    except (KeyError, TypeError, IndexError):
        raise ApiError("the weather API's answer has no readable 'daily' block") from None
    return {"timezone": body.get("timezone", "GMT"), "units": {k: units.get(k, "") for k in DAILY}, "days": rows}

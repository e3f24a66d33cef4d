"""The one secret detector: whether a value is secret, judged by the name it is stored under and by
its own shape (token prefixes, credentials in a URL, private keys, long random strings).

Used wherever a value is stored in a shared file or shown: config show/explain/set, the effective
config, the generated client files, install's source record. Only the literal text of a value
counts: ``${VAR}`` references are not secrets, but the default of ``${VAR:-default}`` is literal.
"""

from __future__ import annotations

import math
import re
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from typing import Any

from claudex_mcp import expand

MASK = "********"

# Names: a word of the name (split at _ - . and case changes) or a known suffix.
_NAME_WORDS = {"KEY", "APIKEY", "TOKEN", "SECRET", "SECRETS", "PASSWORD", "PASSWD", "PASS", "PWD",
               "PASSPHRASE", "CREDENTIAL", "CREDENTIALS", "CREDS", "AUTH", "AUTHORIZATION", "COOKIE",
               "SESSION", "BEARER", "PRIVATE", "DSN", "SIGNATURE", "CERT", "JWT"}
_NAME_PARTS = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE)", re.I)
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")

# Shapes of well-known credentials, matched anywhere in the literal text.
_TOKEN_SHAPES = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"sk-[A-Za-z0-9_-]{6,}|sk_(?:live|test)_[A-Za-z0-9]{6,}|[pr]k_(?:live|test)_[A-Za-z0-9]{6,}"
    r"|sk-live[A-Za-z0-9_-]*|gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{16,}"
    r"|xox[abposr]-[A-Za-z0-9-]{8,}|AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{30,}|ya29\.[0-9A-Za-z_-]{20,}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|npm_[A-Za-z0-9]{30,}|hf_[A-Za-z0-9]{30,}"
    r")")
_AUTH_SCHEME = re.compile(r"^\s*(Bearer|Basic|Token|Digest)\s+\S", re.I)
_AUTH_SCHEME_WORD = re.compile(r"^\s*(Bearer|Basic|Token|Digest)\b", re.I)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*:)(?P<password>[^@/\s]+)(?=@)")
_URL_USER = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^/@:\s]+)@")
_FLAG_VALUE = re.compile(r"^--?(?P<name>[A-Za-z0-9_.-]+)=(?P<value>.+)$", re.S)
_RANDOMISH = re.compile(r"[A-Za-z0-9_-]{32,}")


def literal_text(value: str) -> str:
    """The text of ``value`` that is not a variable: references removed, defaults kept."""
    def one(match: re.Match) -> str:
        if match.group(0) == expand.ESCAPE:
            return "${"
        return match.group(2) or ""
    return expand.TOKEN.sub(one, value)


def secret_name(name: str) -> bool:
    """Whether a variable, header or setting called ``name`` holds a secret (API_KEY, DB_PASS,
    Cookie, Authorization, clientSecret...)."""
    if _NAME_PARTS.search(name):
        return True
    words = {w.upper() for w in _WORD_SPLIT.split(name) if w}
    return bool(words & _NAME_WORDS)


def _random(text: str) -> bool:
    for run in _RANDOMISH.findall(text):
        mixed = all(len(re.findall(p, run)) >= n for p, n in (("[a-z]", 2), ("[A-Z]", 2), ("[0-9]", 4)))
        counts = {c: run.count(c) for c in set(run)}
        entropy = -sum(n / len(run) * math.log2(n / len(run)) for n in counts.values())
        if mixed and entropy >= 4.2:
            return True
    return False


def secret_shape(value: str) -> bool:
    """Whether the literal text of ``value`` looks like a credential, whatever its name."""
    text = literal_text(value)
    if not text.strip():
        return False
    if _TOKEN_SHAPES.search(text) or _URL_PASSWORD.search(text) or _random(text):
        return True
    flag = _FLAG_VALUE.match(text)
    return bool(flag and secret_name(flag.group("name")) and literal_text(flag.group("value")).strip())


def is_secret(path: tuple, value: Any, names: frozenset | set = frozenset()) -> bool:
    """Whether the string ``value`` stored at key ``path`` (e.g. ("env", "DB_PASS"),
    ("headers", "Cookie"), ("args", 2), ("settings", "db", "password")) is a literal secret.
    ``names`` are variables that a manifest declares secret."""
    if not isinstance(value, str) or not literal_text(value).strip():
        return False
    if secret_shape(value):
        return True
    named = [p for p in path if isinstance(p, str)]
    last = named[-1] if named else ""
    if path[:1] == ("env",) and last in names:
        return True
    if path[:1] == ("args",):
        return False  # an argument has no name of its own; its shape was checked above
    literal = literal_text(value)
    if path[:1] == ("headers",) and _AUTH_SCHEME.match(literal):
        return True
    # "Bearer ${TOKEN}" is a reference with its scheme: only the scheme word is literal.
    rest = _AUTH_SCHEME_WORD.sub("", literal).strip()
    return len(named) >= 2 and bool(rest) and secret_name(last)


def mask(path: tuple, value: Any, names: frozenset | set = frozenset()) -> Any:
    """``value`` with every secret in it masked; objects and lists member by member. A URL keeps
    everything but its password, so that it stays recognisable."""
    if isinstance(value, dict):
        return {k: mask(path + (k,), v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(path + (i,), v, names) for i, v in enumerate(value)]
    if not is_secret(path, value, names):
        return value
    stripped = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, value)
    if stripped != value and not is_secret(path, stripped.replace(MASK, ""), names):
        return stripped
    scheme = _AUTH_SCHEME.match(value)
    if path[:1] == ("headers",) and scheme:  # "Bearer ********": the scheme is no secret
        return scheme.group(1) + " " + MASK
    return MASK


def secret_pointers(value: Any, path: tuple = (), names: frozenset | set = frozenset()) -> list[tuple]:
    """The key paths inside ``value`` that hold literal secrets."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in secret_pointers(v, path + (k,), names)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in secret_pointers(v, path + (i,), names)]
    return [path] if is_secret(path, value, names) else []


def redact_url(text: str) -> str:
    """``text`` with the password (or token) of every URL in it masked."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return _URL_USER.sub(lambda m: m.group(1) + (MASK if url_credentials(m.group(0)) else m.group(2)) + "@", text)


def url_credentials(url: str) -> bool:
    """Whether an http(s) URL carries a password, or a user name shaped like a token."""
    match = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/@]*)@", url)
    if not match:
        return False
    userinfo = match.group(1)
    return ":" in userinfo or secret_shape(userinfo) or (
        url.lower().startswith(("https://", "http://")) and len(userinfo) >= 20)


def strip_url_credentials(url: str) -> str:
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@", r"\1", url)

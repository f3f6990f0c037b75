"""Everything a Chatwoot call can fail with, as one small tree.

Each class is one way the HTTP exchange can end, the way httpx's exceptions are, and the
first split tells the caller what to do about it:

    ChatwootError
    ├── RetryableError        try again later; nothing was (necessarily) changed
    │   ├── Timeout           no answer within the configured timeout
    │   ├── ConnectionFailed  refused, reset, DNS, TLS: Chatwoot could not be reached
    │   ├── RateLimited       429; `retry_after` seconds from Retry-After, if it said
    │   ├── ServerError       5xx
    │   └── CircuitOpen       not sent: this integration's breaker is open until `reopens_at`
    └── PermanentError        repeating the same call gives the same answer
        ├── ClientError       4xx other than 429, with Chatwoot's `reason`
        │   ├── Unauthorized  401: a wrong or revoked token, or a bot token on a user endpoint
        │   └── NotFound      404: no such conversation, contact, ... in this account
        └── UnexpectedResponse  a 2xx (or 3xx) whose body is not what the API documents

No message ever contains the access token: the client never puts it into one, and text
taken from a response is scrubbed of it before it gets here (see `client.py`). Errors are
raised `from None`, so the underlying httpx exception (whose request holds the header) is
not chained into tracebacks that structured logging renders with their locals.
"""

from __future__ import annotations

from datetime import datetime


class ChatwootError(Exception):
    """Base of every Chatwoot client error.

    `integration`, `method` and `path` say which call failed; the client fills them in, so
    parsing code can raise without knowing the request. `path` never has the query string,
    which may carry a customer's email or phone number.
    """

    def __init__(
        self,
        detail: str,
        *,
        integration: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.integration = integration
        self.method = method
        self.path = path

    def locate(self, integration: str, method: str, path: str) -> None:
        """Record which call this error belongs to (keeps anything already recorded)."""
        self.integration = self.integration or integration
        self.method = self.method or method
        self.path = self.path or path

    def __str__(self) -> str:
        where = [self.integration or "chatwoot"]
        if self.method and self.path:
            where.append(f"{self.method} {self.path}")
        return f"{': '.join(where)}: {self.detail}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class RetryableError(ChatwootError):
    """The call may succeed later. Chatwoot may or may not have applied it (a timeout can
    hide a success), so only retry calls that are safe to repeat; all of ours are."""


class Timeout(RetryableError):
    """Connect, read, write or pool timeout."""


class ConnectionFailed(RetryableError):
    """Chatwoot could not be reached, or the connection broke mid-exchange."""


class RateLimited(RetryableError):
    """429 Too Many Requests. `retry_after` is in seconds, None when Chatwoot gave none."""

    def __init__(self, detail: str, *, retry_after: float | None, **where: str | None) -> None:
        super().__init__(detail, **where)
        self.retry_after = retry_after


class ServerError(RetryableError):
    """A 5xx answer."""

    def __init__(self, detail: str, *, status: int, **where: str | None) -> None:
        super().__init__(detail, **where)
        self.status = status


class CircuitOpen(RetryableError):
    """Not sent: the integration's circuit breaker is open. Try again at `reopens_at`."""

    def __init__(self, detail: str, *, reopens_at: datetime, **where: str | None) -> None:
        super().__init__(detail, **where)
        self.reopens_at = reopens_at


class PermanentError(ChatwootError):
    """Repeating the call unchanged will fail the same way."""


class ClientError(PermanentError):
    """A 4xx answer (other than 429). `reason` is Chatwoot's own explanation, if any."""

    def __init__(self, detail: str, *, status: int, reason: str, **where: str | None) -> None:
        super().__init__(detail, **where)
        self.status = status
        self.reason = reason


class Unauthorized(ClientError):
    """401: the token is wrong or revoked, or an agent-bot token called a user endpoint."""


class NotFound(ClientError):
    """404: the conversation, contact, ... does not exist in this account."""


class UnexpectedResponse(PermanentError):
    """A success status whose body is not JSON or has a field of the wrong type."""

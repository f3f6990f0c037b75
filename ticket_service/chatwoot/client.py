"""An async client for the Chatwoot REST endpoints the sync uses.

One `ChatwootClient` per integration (it owns that integration's circuit breaker), shared
by every task that talks to that Chatwoot. It makes exactly one HTTP request per method
call (two for the read-modify-write helpers) and never retries by itself: failures come
back as `RetryableError` or `PermanentError` (see `errors.py`), and the caller's outbox
decides when to try again.

The access token lives in the integration's `SecretStr` and is unwrapped only inside
`_AccessToken.auth_flow`, which sets the header on the outgoing request. No local
variable, log event, exception message or repr of ours holds it, so neither logs nor
tracebacks rendered with their locals can show it.

Which token: status sync must use an administrator's or an agent bot's token. With an
agent-role user's token, `toggle_status` to `open` assigns the conversation to that user.
Bot tokens may only call the conversation endpoints (not the conversation list, contacts
or agents); see the README.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import httpx
import structlog
from pydantic import SecretStr

from common.clock import Clock, SystemClock
from common.config import ChatwootIntegration
from ticket_service.chatwoot.breaker import CircuitBreaker
from ticket_service.chatwoot.errors import (
    ChatwootError,
    CircuitOpen,
    ClientError,
    ConnectionFailed,
    NotFound,
    RateLimited,
    RetryableError,
    ServerError,
    Timeout,
    Unauthorized,
    UnexpectedResponse,
)
from ticket_service.chatwoot.metrics import ChatwootCallMetrics
from ticket_service.chatwoot.models import (
    Agent,
    ChatwootStatus,
    Contact,
    ContactPage,
    Conversation,
    ConversationPage,
    Message,
    Priority,
    StatusChange,
    Team,
)
from ticket_service.chatwoot.parsing import Reader, objects
from ticket_service.chatwoot.retry_after import parse_retry_after

# Chatwoot answers in well under a second; a read that takes 10 s is a Chatwoot in trouble,
# and the caller will retry. Every phase has a limit, so no call can hang forever.
DEFAULT_TIMEOUT = httpx.Timeout(connect=3.0, read=10.0, write=10.0, pool=5.0)

# Chatwoot's error text is echoed into our errors, cut to this length.
_REASON_LIMIT = 200
# `find_contact_by_*` reads at most this many search pages (15 contacts each).
_CONTACT_SEARCH_PAGES = 20

StatusFilter = ChatwootStatus | Literal["all"]
T = TypeVar("T")


def _nothing(body: object) -> None:
    """For endpoints whose answer we don't use (`toggle_priority` answers an empty 200)."""


class _AccessToken(httpx.Auth):
    """Sets `api_access_token` on each request; the only place the token is unwrapped."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["api_access_token"] = self._token.get_secret_value()
        yield request

    def scrub(self, text: str) -> str:
        """`text` with the token cut out: for text taken from a response (an error page
        from a proxy may echo request headers) before it goes into an error or a log."""
        secret = self._token.get_secret_value()
        return text.replace(secret, "[redacted]") if secret else text

    def __repr__(self) -> str:
        return "_AccessToken(**********)"


class ChatwootClient:
    """The Chatwoot REST API of one integration (one account)."""

    def __init__(
        self,
        integration: ChatwootIntegration,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        breaker: CircuitBreaker | None = None,
        clock: Clock | None = None,
        metrics: ChatwootCallMetrics | None = None,
    ) -> None:
        missing = [
            phase
            for phase in ("connect", "read", "write", "pool")
            if getattr(timeout, phase) is None
        ]
        if missing:
            raise ValueError(f"timeout must limit every phase; unlimited: {', '.join(missing)}")
        self.integration = integration.name
        self.account_id = integration.account_id
        self._prefix = f"/api/v1/accounts/{integration.account_id}"
        self._base_url = str(integration.base_url).rstrip("/") + self._prefix
        self._auth = _AccessToken(integration.api_access_token)
        self._timeout = timeout
        self._clock = clock or SystemClock()
        self.breaker = breaker or CircuitBreaker(integration.name, clock=self._clock)
        self._owns_http = http is None
        # A shared `http` keeps its own settings; timeout, auth and redirects are passed on
        # every request below, so they hold either way.
        self._http = http or httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": "ticketing-chatwoot-client"},
        )
        self._log = structlog.get_logger(__name__).bind(integration=integration.name)
        self._metrics = metrics

    def __repr__(self) -> str:
        return f"ChatwootClient(integration={self.integration!r}, base_url={self._base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this client created it (a shared one stays open)."""
        if self._owns_http:
            await self._http.aclose()

    # Conversations

    async def get_conversation(self, conversation_id: int) -> Conversation:
        path = f"/conversations/{_id(conversation_id)}"
        return await self._call("GET", path, parse=lambda body: Conversation.parse(Reader(body)))

    async def list_conversations(
        self,
        *,
        status: StatusFilter = "all",
        updated_within: timedelta | None = None,
        page: int = 1,
        inbox_id: int | None = None,
    ) -> ConversationPage:
        """One page of the conversation list (25 a page, most recent activity first).

        With `updated_within`, Chatwoot returns *every* conversation updated in that window
        in one answer and ignores `page`: that is the reconciliation query, since webhooks
        are never retried. Needs a user token (administrator); bots may not list.
        """
        params: dict[str, str | int] = {"status": str(status)}
        if updated_within is not None:
            if updated_within <= timedelta(0):
                raise ValueError("updated_within must be positive")
            # Whole seconds, rounded up: a wider window only re-reads, a narrower one misses.
            params["updated_within"] = math.ceil(updated_within.total_seconds())
        else:
            params["page"] = _id(page, "page")
        if inbox_id is not None:
            params["inbox_id"] = _id(inbox_id, "inbox_id")
        shown_page = 1 if updated_within is not None else page
        return await self._call(
            "GET",
            "/conversations",
            params=params,
            parse=lambda body: ConversationPage.parse(body, shown_page),
        )

    async def iter_conversations(
        self,
        *,
        status: StatusFilter = "all",
        updated_within: timedelta | None = None,
        inbox_id: int | None = None,
    ) -> AsyncIterator[Conversation]:
        """Every conversation of the list, page after page, each id once.

        Pages are offsets into a list ordered by activity, so a conversation that moves
        while we page can be skipped; use `updated_within` for anything that must be
        complete.
        """
        seen: set[int] = set()
        page = 1
        while True:
            result = await self.list_conversations(
                status=status, updated_within=updated_within, page=page, inbox_id=inbox_id
            )
            fresh = [c for c in result.conversations if c.id not in seen]
            for conversation in fresh:
                seen.add(conversation.id)
                yield conversation
            # Stop on: the one-shot window query; an empty page; everything counted seen;
            # a page with nothing new (a server ignoring `page` would loop us forever).
            if updated_within is not None or not fresh:
                return
            if result.counts is not None and len(seen) >= result.counts.all:
                return
            page += 1

    async def toggle_status(
        self,
        conversation_id: int,
        status: ChatwootStatus,
        snoozed_until: datetime | None = None,
    ) -> StatusChange:
        """Set the status. `snoozed_until` only with `snoozed`; without it the snooze lasts
        until the customer's next message. Chatwoot reads whole Unix seconds."""
        status = ChatwootStatus(status)
        body: dict[str, Any] = {"status": status.value}
        if snoozed_until is not None:
            if status is not ChatwootStatus.SNOOZED:
                raise ValueError("snoozed_until goes with status 'snoozed' only")
            if snoozed_until.tzinfo is None:
                raise ValueError("snoozed_until must be timezone-aware")
            body["snoozed_until"] = math.floor(snoozed_until.timestamp())
        path = f"/conversations/{_id(conversation_id)}/toggle_status"
        return await self._call("POST", path, json_body=body, parse=StatusChange.parse)

    async def toggle_priority(self, conversation_id: int, priority: Priority | None) -> None:
        """Set the priority; None clears it (sent as JSON null: Chatwoot has no "none")."""
        value = None if priority is None else Priority(priority).value
        path = f"/conversations/{_id(conversation_id)}/toggle_priority"
        await self._call("POST", path, json_body={"priority": value}, parse=_nothing)

    async def assign(self, conversation_id: int, assignee_id: int | None) -> Agent | None:
        """Assign an agent (an account user id); None unassigns.

        The body always carries the `assignee_id` key: its presence, even as null, is what
        makes Chatwoot treat the call as an agent assignment (and ignore any team). Returns
        the agent, or None when unassigned.
        """
        value = None if assignee_id is None else _id(assignee_id, "assignee_id")
        path = f"/conversations/{_id(conversation_id)}/assignments"
        return await self._call(
            "POST",
            path,
            json_body={"assignee_id": value},
            parse=lambda body: None if body is None else Agent.parse(Reader(body)),
        )

    async def assign_team(self, conversation_id: int, team_id: int | None) -> Team | None:
        """Set the team; None removes it. Never sends `assignee_id`, which would override.

        Chatwoot drops an assignee who is not in the new team, and may auto-assign an
        online member when the team allows it.
        """
        value = None if team_id is None else _id(team_id, "team_id")
        path = f"/conversations/{_id(conversation_id)}/assignments"
        return await self._call(
            "POST",
            path,
            json_body={"team_id": value},
            parse=lambda body: None if body is None else Team.parse(Reader(body)),
        )

    async def create_private_note(
        self,
        conversation_id: int,
        content: str,
        content_attributes: Mapping[str, Any] | None = None,
    ) -> Message:
        """Post a private note. Chatwoot sends a `message_created` webhook for it too, so
        mark it in `content_attributes` (e.g. `ticketing_ref`) to recognise the echo."""
        if not content:
            raise ValueError("a note needs content")
        body = {
            "content": content,
            "message_type": "outgoing",
            "private": True,
            "content_type": "text",
            "content_attributes": dict(content_attributes or {}),
        }
        path = f"/conversations/{_id(conversation_id)}/messages"
        return await self._call(
            "POST", path, json_body=body, parse=lambda answer: Message.parse(Reader(answer))
        )

    # Labels: Chatwoot's POST replaces the whole set, so adding or removing one label is a
    # read-modify-write. A change made in Chatwoot between our read and write is lost;
    # Chatwoot offers nothing better (no etag, no add/remove endpoint).

    async def list_labels(self, conversation_id: int) -> tuple[str, ...]:
        path = f"/conversations/{_id(conversation_id)}/labels"
        return await self._call("GET", path, parse=_label_payload)

    async def set_labels(self, conversation_id: int, labels: Iterable[str]) -> tuple[str, ...]:
        """Replace the conversation's labels with `labels`; returns the set Chatwoot kept."""
        wanted = _unique(labels)
        path = f"/conversations/{_id(conversation_id)}/labels"
        return await self._call(
            "POST", path, json_body={"labels": list(wanted)}, parse=_label_payload
        )

    async def add_labels(self, conversation_id: int, labels: Iterable[str]) -> tuple[str, ...]:
        """Add labels, keeping the others. Writes nothing when all are there already."""
        current = await self.list_labels(conversation_id)
        wanted = _unique([*current, *labels])
        if wanted == current:
            return current
        return await self.set_labels(conversation_id, wanted)

    async def remove_labels(self, conversation_id: int, labels: Iterable[str]) -> tuple[str, ...]:
        """Remove labels, keeping the others. Writes nothing when none of them is there."""
        current = await self.list_labels(conversation_id)
        dropped = set(labels)
        wanted = tuple(label for label in current if label not in dropped)
        if wanted == current:
            return current
        return await self.set_labels(conversation_id, wanted)

    # Custom attributes: the conversation endpoint replaces the whole hash.

    async def set_custom_attributes(
        self, conversation_id: int, attributes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Replace the conversation's custom attributes with `attributes`."""
        path = f"/conversations/{_id(conversation_id)}/custom_attributes"
        return await self._call(
            "POST",
            path,
            json_body={"custom_attributes": dict(attributes)},
            parse=lambda body: Reader(body).mapping("custom_attributes"),
        )

    async def merge_custom_attributes(
        self,
        conversation_id: int,
        changes: Mapping[str, Any],
        remove: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Set some attributes and remove others, keeping the rest (read-modify-write, with
        the same lost-update window as labels). Writes nothing when nothing changes."""
        conversation = await self.get_conversation(conversation_id)
        current = dict(conversation.custom_attributes)
        merged = {**current, **changes}
        for key in remove:
            merged.pop(key, None)
        if merged == current:
            return current
        return await self.set_custom_attributes(conversation_id, merged)

    # Contacts (user token only)

    async def search_contacts(self, q: str, *, page: int = 1) -> ContactPage:
        """Chatwoot's contact search: a *substring* match on name, email, phone number and
        identifier, 15 a page. httpx encodes `+` as %2B, so phone numbers survive."""
        if not q:
            raise ValueError("q must not be empty (Chatwoot answers 422)")
        params: dict[str, str | int] = {"q": q, "page": _id(page, "page")}
        return await self._call(
            "GET",
            "/contacts/search",
            params=params,
            parse=lambda body: ContactPage.parse(body, page),
        )

    async def find_contact_by_email(self, email: str) -> Contact | None:
        """The contact whose email is exactly `email` (Chatwoot lower-cases emails)."""
        wanted = email.strip().lower()
        return await self._find_contact(wanted, lambda c: (c.email or "").lower() == wanted)

    async def find_contact_by_phone(self, phone_number: str) -> Contact | None:
        """The contact whose phone number is exactly `phone_number` (E.164, `+` first)."""
        wanted = phone_number.strip()
        return await self._find_contact(wanted, lambda c: c.phone_number == wanted)

    async def _find_contact(self, q: str, matches: Callable[[Contact], bool]) -> Contact | None:
        for page in range(1, _CONTACT_SEARCH_PAGES + 1):
            result = await self.search_contacts(q, page=page)
            for contact in result.contacts:
                if matches(contact):
                    return contact
            if not result.has_more or not result.contacts:
                return None
        self._log.warning("chatwoot_contact_search_truncated", pages=_CONTACT_SEARCH_PAGES)
        return None

    # Agents (user token only)

    async def list_agents(self) -> tuple[Agent, ...]:
        """Every agent of the account with their presence (`availability_status`)."""
        return await self._call(
            "GET", "/agents", parse=lambda body: objects(body, "body", Agent.parse)
        )

    # The one place a request is made.

    async def _call(
        self,
        method: str,
        path: str,
        *,
        parse: Callable[[object], T],
        params: Mapping[str, str | int] | None = None,
        json_body: Mapping[str, Any] | None = None,
    ) -> T:
        """Send one request through the breaker and parse its JSON body (None when empty),
        or raise the error for how it ended."""
        where = {"integration": self.integration, "method": method, "path": self._prefix + path}
        try:
            probe = self.breaker.before_call()
        except CircuitOpen as refused:
            refused.locate(**where)
            self._log.info("chatwoot_call_refused", method=method, path=where["path"])
            self._count_failure(method, path, refused)
            raise
        started = time.monotonic()
        response: httpx.Response | None = None
        try:
            try:
                response = await self._http.request(
                    method,
                    self._base_url + path,
                    params=params,
                    json=json_body,
                    auth=self._auth,
                    timeout=self._timeout,
                    follow_redirects=False,
                )
            except httpx.TimeoutException as failure:
                error: ChatwootError | None = Timeout(
                    f"no answer in time ({type(failure).__name__})"
                )
            except httpx.TransportError as failure:
                error = ConnectionFailed(
                    f"{type(failure).__name__}: {self._excerpt(str(failure)) or 'no detail'}"
                )
            except httpx.RequestError as failure:  # e.g. a body that fails to decode
                error = UnexpectedResponse(f"{type(failure).__name__}: unreadable answer")
            else:
                error = self._error_for(response)
        except BaseException:
            # Cancelled (or a bug): no verdict on Chatwoot's health.
            self.breaker.release(probe=probe)
            raise
        self._record(error)
        self._log_call(method, where["path"], response, error, started)
        if self._metrics is not None:
            self._metrics.observe(self.integration, method, path, time.monotonic() - started)
        if error is not None:
            error.locate(**where)
            self._count_failure(method, path, error)
            # `from None`: the httpx exception's request holds the token header.
            raise error from None
        assert response is not None
        try:
            return parse(self._decode(response))
        except UnexpectedResponse as unexpected:
            unexpected.locate(**where)
            self._log.warning("chatwoot_unexpected_response", error=str(unexpected))
            self._count_failure(method, path, unexpected)
            raise

    def _count_failure(self, method: str, path: str, error: ChatwootError) -> None:
        if self._metrics is not None:
            self._metrics.failed(self.integration, method, path, error)

    def _record(self, error: ChatwootError | None) -> None:
        if isinstance(error, RateLimited):
            self.breaker.record_failure(retry_after=error.retry_after)
        elif isinstance(error, RetryableError):
            self.breaker.record_failure()
        else:
            # A success, or a 4xx: either way Chatwoot is up and answering.
            self.breaker.record_success()

    def _error_for(self, response: httpx.Response) -> ChatwootError | None:
        status = response.status_code
        if 200 <= status < 300:
            return None
        reason = self._reason(response)
        if status == 429:
            header = response.headers.get("Retry-After")
            retry_after = parse_retry_after(header, self._clock.now())
            wait = "no Retry-After" if retry_after is None else f"retry after {retry_after:g} s"
            return RateLimited(f"429 rate limited ({wait})", retry_after=retry_after)
        if status >= 500:
            return ServerError(f"{status} {reason}", status=status)
        if 400 <= status < 500:
            kind = {401: Unauthorized, 404: NotFound}.get(status, ClientError)
            return kind(f"{status} {reason}", status=status, reason=reason)
        # 1xx and 3xx: redirects are not followed, since the token header would go along.
        return UnexpectedResponse(f"unexpected status {status}")

    def _reason(self, response: httpx.Response) -> str:
        """Chatwoot's explanation: `error` (404, 401) or `message` (422), else the text."""
        text = response.text
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if isinstance(body, dict):
            for key in ("error", "message"):
                if isinstance(body.get(key), str) and body[key]:
                    return self._excerpt(body[key])
        return self._excerpt(text) or response.reason_phrase

    def _excerpt(self, text: str) -> str:
        text = self._auth.scrub(" ".join(text.split()))
        return text if len(text) <= _REASON_LIMIT else f"{text[:_REASON_LIMIT]}…"

    def _decode(self, response: httpx.Response) -> object:
        if not response.content.strip():
            return None
        try:
            return json.loads(response.content)
        except ValueError:
            raise UnexpectedResponse(
                f"{response.status_code} answer is not JSON: {self._excerpt(response.text)!r}"
            ) from None

    def _log_call(
        self,
        method: str,
        path: str,
        response: httpx.Response | None,
        error: ChatwootError | None,
        started: float,
    ) -> None:
        fields: dict[str, Any] = {
            "method": method,
            "path": path,
            "status": None if response is None else response.status_code,
            "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
        }
        if error is None:
            self._log.debug("chatwoot_call", **fields)
        elif isinstance(error, RetryableError):
            self._log.warning("chatwoot_call_failed", error=type(error).__name__, **fields)
        else:
            self._log.info("chatwoot_call_rejected", error=type(error).__name__, **fields)


def _label_payload(body: object) -> tuple[str, ...]:
    return Reader(body).strings("payload")


def _id(value: int, name: str = "conversation_id") -> int:
    # bool is an int subclass; True as an id is a bug, not conversation 1.
    if type(value) is not int or value < 1:
        raise ValueError(f"{name} must be a positive integer")
    return value


def _unique(labels: Iterable[str]) -> tuple[str, ...]:
    """Labels in first-seen order, each once."""
    result: dict[str, None] = {}
    for label in labels:
        if not isinstance(label, str) or not label:
            raise ValueError("labels must be non-empty strings")
        result.setdefault(label, None)
    return tuple(result)

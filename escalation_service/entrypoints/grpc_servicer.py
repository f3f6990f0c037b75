"""EscalationService over gRPC: check the request's shape, call the use case, map the
result. The tenant comes from the caller's credential, never from the request."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias, TypeVar

import grpc
from google.protobuf import message

from common.auth import current_principal
from common.errors import FailedPrecondition, InvalidArgument, Unavailable, Violations, excerpt
from common.grpc.mapping import fingerprint, uuid_from_name
from common.grpc.status import map_service_errors
from common.pagination import (
    PageToken,
    filter_fingerprint,
    keyset_after,
    next_page_token,
    page_size,
)
from common.streams import LiveLog, ProtoCache, start_cursor
from escalation_service.domain.events import EventType, StoredEvent
from escalation_service.domain.reasons import Reason
from escalation_service.domain.tickets import ticket_key
from escalation_service.entrypoints import proto_mapping as mapping
from escalation_service.service.agent_directory import AgentDirectory
from escalation_service.service.escalations import AiAnswer, EscalationService, RequestKey
from escalation_service.service.event_filter import EventFilter
from ticket_service.chatwoot import ChatwootError
from ticketing.escalation.v1 import (
    agent_pb2,
    escalation_pb2,
    escalation_service_pb2,
    escalation_service_pb2_grpc,
    policy_pb2,
)

ERROR_DOMAIN = "ticketing.escalation.v1"
SERVICE = escalation_service_pb2.DESCRIPTOR.services_by_name["EscalationService"]
AGENT_FIELDS = ("display_name", "email", "skills", "capacity", "availability")
MAX_AGENT_ID = 64
MAX_EVENTS_PAGE = 1000

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
R = TypeVar("R", bound=message.Message)


def ticket_id_from_name(name: str, field: str = "ticket") -> str:
    key = ticket_key(name)
    if key is None:
        raise InvalidArgument.single(
            field, f"{excerpt(name)} is not a ticket name like 'tickets/tkt-2026-00042'"
        )
    return key


def _agent_id(name: str, field: str = "name") -> str:
    agent_id = name.removeprefix("agents/")
    if (
        not name.startswith("agents/")
        or not agent_id
        or len(agent_id) > MAX_AGENT_ID
        or not agent_id.replace("-", "").replace("_", "").isalnum()
    ):
        raise InvalidArgument.single(field, "must look like agents/{chatwoot user id}")
    return agent_id


def update_paths(
    paths: list[str], allowed: tuple[str, ...], field: str = "update_mask"
) -> list[str]:
    """The fields an update names: required (0 and empty are meaningful values here), `*`
    for every one in `allowed`, and nothing outside it."""
    if not paths:
        raise InvalidArgument.single(field, "is required: name the fields to change, or *")
    if paths == ["*"]:
        return list(allowed)
    for path in paths:
        if path not in allowed:
            raise InvalidArgument.single(field, f"{path!r} cannot be changed")
    return list(dict.fromkeys(paths))


def _request_id(request: Any) -> str:
    request_id: str = request.request_id
    if request_id:
        try:
            uuid.UUID(request_id)
        except ValueError:
            raise InvalidArgument.single("request_id", "must be a UUID") from None
    return request_id


@map_service_errors(SERVICE, domain=ERROR_DOMAIN)
class EscalationServicer(escalation_service_pb2_grpc.EscalationServiceServicer):
    def __init__(
        self,
        service: EscalationService,
        directory: AgentDirectory,
        events: LiveLog[StoredEvent] | None = None,
    ) -> None:
        self._service = service
        self._directory = directory
        self._events = events
        self._event_protos = ProtoCache(mapping.event_to_proto)

    async def _once(
        self,
        request: Any,
        method: str,
        run: Callable[[RequestKey | None], Awaitable[R]],
        read: Callable[[str], Awaitable[R]],
    ) -> R:
        """Run a mutation once per request_id: a repeat returns the resource the first call
        made, in its current state; the same id with another request is refused. The use
        case stores the id in its own transaction, so a crash or a race cannot run it twice.
        """
        request_id = _request_id(request)
        if not request_id:
            return await run(None)
        key = RequestKey(request_id, method, fingerprint(request).hex())
        async with self._service.unit_of_work(current_principal().tenant_id) as uow:
            seen = await uow.requests.get(request_id)
        if seen is None:
            return await run(key)
        if seen.method != method or seen.fingerprint != key.fingerprint:
            raise InvalidArgument.single("request_id", "was already used for a different request")
        return await read(seen.resource)

    # --- decisions ----------------------------------------------------------------------

    def _answer(self, request: Any) -> AiAnswer:
        return AiAnswer(
            confidence=request.confidence if request.HasField("confidence") else None,
            sentiment=request.sentiment if request.HasField("sentiment") else None,
            reason=mapping.reason_from_proto(request.reason),
            text=request.text,
        )

    async def EvaluateEscalation(
        self, request: escalation_service_pb2.EvaluateEscalationRequest, context: Context
    ) -> escalation_service_pb2.EvaluateEscalationResponse:
        principal = current_principal()
        ticket_id = ticket_id_from_name(request.ticket)
        outcome = await self._service.evaluate(
            principal.tenant_id, ticket_id, self._answer(request), actor=principal.name
        )
        return escalation_service_pb2.EvaluateEscalationResponse(
            escalate=outcome.decision.escalate,
            explanation=mapping.explanation_to_proto(outcome.decision.explanation),
            escalation=outcome.escalation.name if outcome.escalation else "",
            suggestion=outcome.suggestion.name if outcome.suggestion else "",
            open_escalation=outcome.open_escalation.name if outcome.open_escalation else "",
        )

    async def SuggestEscalation(
        self, request: escalation_service_pb2.SuggestEscalationRequest, context: Context
    ) -> escalation_pb2.Suggestion:
        principal = current_principal()
        ticket_id = ticket_id_from_name(request.ticket)

        async def run(key: RequestKey | None) -> escalation_pb2.Suggestion:
            outcome = await self._service.evaluate(
                principal.tenant_id,
                ticket_id,
                self._answer(request),
                actor=principal.name,
                suggest_only=True,
                key=key,
            )
            if outcome.suggestion is None:
                assert outcome.open_escalation is not None
                raise_open(outcome.open_escalation.name)
            assert outcome.suggestion is not None
            return mapping.suggestion_to_proto(outcome.suggestion)

        return await self._once(request, "SuggestEscalation", run, self._read_suggestion)

    async def _read_suggestion(self, name: str) -> escalation_pb2.Suggestion:
        tenant = current_principal().tenant_id
        found = await self._service.get_suggestion(tenant, uuid_from_name(name, "suggestions"))
        return mapping.suggestion_to_proto(found)

    async def GetSuggestion(
        self, request: escalation_service_pb2.GetSuggestionRequest, context: Context
    ) -> escalation_pb2.Suggestion:
        uuid_from_name(request.name, "suggestions")
        return await self._read_suggestion(request.name)

    async def ListSuggestions(
        self, request: escalation_service_pb2.ListSuggestionsRequest, context: Context
    ) -> escalation_service_pb2.ListSuggestionsResponse:
        principal = current_principal()
        state = mapping.suggestion_state_from_proto(request.state)
        ticket_id = ticket_id_from_name(request.ticket) if request.ticket else ""
        limit = page_size(request.page_size)
        filters = filter_fingerprint("suggestions", state, ticket_id)
        found = await self._service.list_suggestions(
            principal.tenant_id,
            state=state,
            ticket_id=ticket_id,
            after=keyset_after(request.page_token, filters=filters),
            limit=limit + 1,
        )
        return escalation_service_pb2.ListSuggestionsResponse(
            suggestions=[mapping.suggestion_to_proto(s) for s in found[:limit]],
            next_page_token=next_page_token(found, limit, filters),
        )

    async def AcceptSuggestion(
        self, request: escalation_service_pb2.AcceptSuggestionRequest, context: Context
    ) -> escalation_pb2.Suggestion:
        principal = current_principal()
        suggestion_id = uuid_from_name(request.name, "suggestions")

        async def run(key: RequestKey | None) -> escalation_pb2.Suggestion:
            accepted = await self._service.accept_suggestion(
                principal.tenant_id,
                suggestion_id,
                actor=principal.name,
                comment=request.comment,
                key=key,
            )
            return mapping.suggestion_to_proto(accepted)

        return await self._once(request, "AcceptSuggestion", run, self._read_suggestion)

    async def RejectSuggestion(
        self, request: escalation_service_pb2.RejectSuggestionRequest, context: Context
    ) -> escalation_pb2.Suggestion:
        principal = current_principal()
        suggestion_id = uuid_from_name(request.name, "suggestions")

        async def run(key: RequestKey | None) -> escalation_pb2.Suggestion:
            rejected = await self._service.reject_suggestion(
                principal.tenant_id,
                suggestion_id,
                actor=principal.name,
                comment=request.comment,
                key=key,
            )
            return mapping.suggestion_to_proto(rejected)

        return await self._once(request, "RejectSuggestion", run, self._read_suggestion)

    # --- escalations --------------------------------------------------------------------

    async def _read_escalation(self, name: str) -> escalation_pb2.Escalation:
        tenant = current_principal().tenant_id
        found = await self._service.get_escalation(tenant, uuid_from_name(name, "escalations"))
        return mapping.escalation_to_proto(found)

    async def EscalateTicket(
        self, request: escalation_service_pb2.EscalateTicketRequest, context: Context
    ) -> escalation_pb2.Escalation:
        principal = current_principal()
        ticket_id = ticket_id_from_name(request.ticket)
        reason = mapping.reason_from_proto(request.reason) or Reason.MANUAL
        skills = [skill.strip().lower() for skill in request.required_skills]

        async def run(key: RequestKey | None) -> escalation_pb2.Escalation:
            escalation = await self._service.escalate_ticket(
                principal.tenant_id,
                ticket_id,
                reason=reason,
                comment=request.comment,
                skills=skills,
                actor=principal.name,
                key=key,
            )
            return mapping.escalation_to_proto(escalation)

        return await self._once(request, "EscalateTicket", run, self._read_escalation)

    async def GetEscalation(
        self, request: escalation_service_pb2.GetEscalationRequest, context: Context
    ) -> escalation_pb2.Escalation:
        uuid_from_name(request.name, "escalations")
        return await self._read_escalation(request.name)

    async def ListEscalations(
        self, request: escalation_service_pb2.ListEscalationsRequest, context: Context
    ) -> escalation_service_pb2.ListEscalationsResponse:
        principal = current_principal()
        state = mapping.state_from_proto(request.state)
        ticket_id = ticket_id_from_name(request.ticket) if request.ticket else ""
        limit = page_size(request.page_size)
        filters = filter_fingerprint("escalations", state, ticket_id, request.assignee_id)
        found = await self._service.list_escalations(
            principal.tenant_id,
            state=state,
            ticket_id=ticket_id,
            assignee_id=request.assignee_id,
            after=keyset_after(request.page_token, filters=filters),
            limit=limit + 1,
        )
        return escalation_service_pb2.ListEscalationsResponse(
            escalations=[mapping.escalation_to_proto(e) for e in found[:limit]],
            next_page_token=next_page_token(found, limit, filters),
        )

    async def AcknowledgeEscalation(
        self, request: escalation_service_pb2.AcknowledgeEscalationRequest, context: Context
    ) -> escalation_pb2.Escalation:
        principal = current_principal()
        escalation_id = uuid_from_name(request.name, "escalations")
        escalation = await self._service.acknowledge(
            principal.tenant_id, escalation_id, request.etag
        )
        return mapping.escalation_to_proto(escalation)

    async def ResolveEscalation(
        self, request: escalation_service_pb2.ResolveEscalationRequest, context: Context
    ) -> escalation_pb2.Escalation:
        principal = current_principal()
        escalation_id = uuid_from_name(request.name, "escalations")
        escalation = await self._service.resolve(principal.tenant_id, escalation_id, request.etag)
        return mapping.escalation_to_proto(escalation)

    # --- policy -------------------------------------------------------------------------

    async def GetEscalationPolicy(
        self, request: escalation_service_pb2.GetEscalationPolicyRequest, context: Context
    ) -> policy_pb2.EscalationPolicy:
        if request.name != "escalationPolicy":
            raise InvalidArgument.single("name", "must be escalationPolicy")
        policy = await self._service.policy(current_principal().tenant_id)
        return mapping.policy_to_proto(policy)

    async def UpdateEscalationPolicy(
        self, request: escalation_service_pb2.UpdateEscalationPolicyRequest, context: Context
    ) -> policy_pb2.EscalationPolicy:
        principal = current_principal()
        if request.policy.name not in ("", "escalationPolicy"):
            raise InvalidArgument.single("policy.name", "must be escalationPolicy")
        paths = update_paths(list(request.update_mask.paths), mapping.POLICY_FIELDS)
        changes = mapping.policy_changes(request.policy, paths)
        policy = await self._service.update_policy(
            principal.tenant_id, changes, etag=request.policy.etag, actor=principal.name
        )
        return mapping.policy_to_proto(policy)

    # --- agents -------------------------------------------------------------------------

    async def ListAgents(
        self, request: escalation_service_pb2.ListAgentsRequest, context: Context
    ) -> escalation_service_pb2.ListAgentsResponse:
        principal = current_principal()
        availability = mapping.availability_from_proto(request.availability, "availability")
        limit = page_size(request.page_size)
        filters = filter_fingerprint("agents", availability)
        after = keyset_after(request.page_token, filters=filters)
        found = await self._service.list_agents(
            principal.tenant_id,
            availability=availability,
            after=after[1] if after else "",
            limit=limit + 1,
        )
        token = ""
        if len(found) > limit:
            found = found[:limit]
            token = PageToken(found[-1].update_time, found[-1].agent_id, filters).encode()
        return escalation_service_pb2.ListAgentsResponse(
            agents=[mapping.agent_to_proto(a) for a in found], next_page_token=token
        )

    async def GetAgent(
        self, request: escalation_service_pb2.GetAgentRequest, context: Context
    ) -> agent_pb2.Agent:
        agent = await self._service.get_agent(
            current_principal().tenant_id, _agent_id(request.name)
        )
        return mapping.agent_to_proto(agent)

    async def UpdateAgent(
        self, request: escalation_service_pb2.UpdateAgentRequest, context: Context
    ) -> agent_pb2.Agent:
        principal = current_principal()
        agent_id = _agent_id(request.agent.name, "agent.name")
        changes: dict[str, Any] = {}
        for path in update_paths(list(request.update_mask.paths), AGENT_FIELDS):
            if path == "skills":
                changes["skills"] = frozenset(s.strip().lower() for s in request.agent.skills)
            elif path == "availability":
                availability = mapping.availability_from_proto(
                    request.agent.availability, "agent.availability"
                )
                if availability is None:
                    raise InvalidArgument.single("agent.availability", "is required")
                changes["availability"] = availability
            else:
                changes[path] = getattr(request.agent, path)
        agent = await self._service.update_agent(
            principal.tenant_id, agent_id, changes, allow_missing=request.allow_missing
        )
        return mapping.agent_to_proto(agent)

    async def SetAgentAvailability(
        self, request: escalation_service_pb2.SetAgentAvailabilityRequest, context: Context
    ) -> agent_pb2.Agent:
        agent_id = _agent_id(request.name)
        availability = mapping.availability_from_proto(request.availability, "availability")
        if availability is None:
            raise InvalidArgument.single("availability", "is required")
        agent = await self._service.set_availability(
            current_principal().tenant_id, agent_id, availability
        )
        return mapping.agent_to_proto(agent)

    async def SyncAgents(
        self, request: escalation_service_pb2.SyncAgentsRequest, context: Context
    ) -> escalation_service_pb2.SyncAgentsResponse:
        tenant_id = current_principal().tenant_id
        if not self._directory.has_source(tenant_id):
            raise FailedPrecondition(
                "the tenant has no Chatwoot integration", reason="NO_CHATWOOT_INTEGRATION"
            )
        try:
            report = await self._directory.sync(tenant_id)
        except ChatwootError as error:
            raise Unavailable(f"Chatwoot's agents API failed: {error}") from None
        return escalation_service_pb2.SyncAgentsResponse(
            seen=report.seen, added=report.added, changed=report.changed, removed=report.removed
        )

    # --- the event log ------------------------------------------------------------------

    async def ListEscalationEvents(
        self, request: escalation_service_pb2.ListEscalationEventsRequest, context: Context
    ) -> escalation_service_pb2.ListEscalationEventsResponse:
        if request.after_cursor < 0:
            raise InvalidArgument.single("after_cursor", "must not be negative")
        limit = page_size(request.page_size, default=100, maximum=MAX_EVENTS_PAGE)
        ticket_id = ticket_id_from_name(request.ticket) if request.ticket else ""
        events, head = await self._service.list_events(
            current_principal().tenant_id,
            after_cursor=request.after_cursor,
            limit=limit,
            ticket_id=ticket_id,
        )
        return escalation_service_pb2.ListEscalationEventsResponse(
            events=[mapping.event_to_proto(e) for e in events], head_cursor=head
        )

    async def WatchEscalationEvents(
        self, request: escalation_service_pb2.WatchEscalationEventsRequest, context: Context
    ) -> AsyncIterator[escalation_service_pb2.WatchEscalationEventsResponse]:
        if self._events is None:
            raise Unavailable("this server does not stream events", reason="STREAMS_DISABLED")
        tenant_id = current_principal().tenant_id
        after_cursor, where = _watch_request(request)
        if where.ticket_id:
            await self._service.ensure_ticket(tenant_id, where.ticket_id)  # NOT_FOUND
        async for progress in self._events.watch(
            tenant_id, after_cursor=after_cursor, matches=where.matches
        ):
            yield escalation_service_pb2.WatchEscalationEventsResponse(
                events=[self._event_protos.get(tenant_id, e) for e in progress.entries],
                resume_cursor=progress.resume_cursor,
            )


def _watch_request(
    request: escalation_service_pb2.WatchEscalationEventsRequest,
) -> tuple[int | None, EventFilter]:
    """The cursor to start after (None: now) and the filters; INVALID_ARGUMENT naming every
    bad field at once."""
    violations = Violations()
    after_cursor = start_cursor(request.start_position, request.after_cursor, violations)
    types: set[EventType] = set()
    for index, number in enumerate(request.types):
        try:
            types.add(mapping.event_type_from_proto(number, field=f"types[{index}]"))
        except InvalidArgument as error:
            violations.items.extend(error.violations)
    ticket_id = ""
    if request.ticket:
        try:
            ticket_id = ticket_id_from_name(request.ticket)
        except InvalidArgument as error:
            violations.items.extend(error.violations)
    if request.chatwoot_conversation_id < 0:
        violations.add("chatwoot_conversation_id", "must not be negative")
    violations.raise_if_any()
    return after_cursor, EventFilter(
        ticket_id=ticket_id,
        types=frozenset(types),
        conversation_id=request.chatwoot_conversation_id or None,
    )


def raise_open(name: str) -> None:
    raise FailedPrecondition(
        f"the ticket already has an open escalation, {name}",
        reason="ALREADY_ESCALATED",
        escalation=name,
    )

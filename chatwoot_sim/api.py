"""Chatwoot 4.15's REST API under `/api/v1/accounts/{account_id}`, for the endpoints we ctx.

Requests authenticate with the `api_access_token` header. Checks run in Chatwoot's order:
an unknown token is 401 `Invalid Access Token`; an agent-bot token on an endpoint outside
`BOT_ACCESSIBLE_ENDPOINTS` is 401 `Access to this endpoint is not authorized for bots`; an
unknown account or record is 404 `Resource could not be found`; a validation failure is 422
`{"message", "attributes"}`. Like Rails, parameters come from the query string and the JSON
body together (the body wins).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatwoot_sim import shapes
from chatwoot_sim.behaviour import Invalid
from chatwoot_sim.simulator import Simulator
from chatwoot_sim.state import Author, Contact, Conversation, NotFound, World

Json = dict[str, Any]
CONVERSATIONS_PER_PAGE = 25
CONTACTS_PER_PAGE = 15
MESSAGES_PER_PAGE = 20
TOKEN_HEADER = "api_access_token"  # noqa: S105 - a header name, not a secret


@dataclass
class Context:
    """What a handler gets: who calls, in which account, with which parameters."""

    actor: Author
    account_id: int
    params: Json
    world: World

    def conversation(self, request: Request) -> Conversation:
        return self.world.conversation(self.account_id, request.path_params["conversation_id"])

    def contact(self, request: Request) -> Contact:
        return self.world.contact(self.account_id, request.path_params["contact_id"])


Handler = Callable[[Request, Context], Awaitable[Response]]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def routes(sim: Simulator) -> list[Route]:
    def endpoint(handler: Handler, *, bots: bool) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            actor = sim.authenticate(request.headers.get(TOKEN_HEADER))
            if actor is None:
                return _error(401, "Invalid Access Token")
            if actor.kind == "agent_bot" and not bots:
                return _error(401, "Access to this endpoint is not authorized for bots")
            account_id = request.path_params["account_id"]
            if account_id not in sim.world.accounts:
                return _error(404, "Resource could not be found")
            ctx = Context(actor, account_id, await _params(request), sim.world)
            try:
                return await handler(request, ctx)
            except NotFound:
                return _error(404, "Resource could not be found")
            except Invalid as invalid:
                return JSONResponse(
                    {"message": invalid.message, "attributes": invalid.attributes},
                    status_code=422,
                )
            except ValueError as error:
                # What Rails does with an enum value it does not know: an unhandled error.
                return JSONResponse({"status": 500, "error": str(error)}, status_code=500)

        return run

    api = _Api(sim)
    base = "/api/v1/accounts/{account_id:int}"
    conversation = base + "/conversations/{conversation_id:int}"
    contact = base + "/contacts/{contact_id:int}"
    table: list[tuple[str, str, Handler, bool]] = [
        ("GET", base + "/conversations", api.list_conversations, False),
        ("GET", conversation, api.show_conversation, True),
        ("POST", conversation + "/toggle_status", api.toggle_status, True),
        ("POST", conversation + "/toggle_priority", api.toggle_priority, True),
        ("POST", conversation + "/assignments", api.assign, True),
        ("GET", conversation + "/messages", api.list_messages, False),
        ("POST", conversation + "/messages", api.create_message, True),
        ("GET", conversation + "/labels", api.list_labels, True),
        ("POST", conversation + "/labels", api.set_labels, True),
        ("POST", conversation + "/custom_attributes", api.set_custom_attributes, True),
        ("GET", base + "/contacts/search", api.search_contacts, False),
        ("GET", contact, api.show_contact, False),
        ("PUT", contact, api.update_contact, False),
        ("PATCH", contact, api.update_contact, False),
        ("GET", base + "/agents", api.list_agents, False),
    ]
    return [
        Route(path, endpoint(handler, bots=bots), methods=[method])
        for method, path, handler, bots in table
    ]


async def _params(request: Request) -> Json:
    params: Json = dict(request.query_params)
    body = await request.body()
    if body:
        try:
            parsed = await request.json()
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            params.update(parsed)
    return params


class _Api:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    # --- conversations ---------------------------------------------------------------------

    async def list_conversations(self, request: Request, ctx: Context) -> Response:
        """`ConversationFinder`: counts over the status filter, then the assignee filter;
        25 per page, newest activity first; `updated_within` returns every match unpaged.
        Not simulated: `q` (full-text search) and `sort_by`."""
        params = ctx.params
        found = ctx.world.account_conversations(ctx.account_id)
        if params.get("inbox_id"):
            found = [c for c in found if str(c.inbox_id) == str(params["inbox_id"])]
        if params.get("team_id"):
            found = [c for c in found if str(c.team_id) == str(params["team_id"])]
        labels = request.query_params.getlist("labels[]") or _list(params.get("labels"))
        if labels:
            found = [c for c in found if set(labels) & set(c.labels)]
        status = params.get("status") or "open"
        if status != "all":
            found = [c for c in found if c.status == status]
        me = ctx.actor.id if ctx.actor.kind == "user" else None
        meta = {
            "mine_count": sum(1 for c in found if me is not None and c.assignee_user_id == me),
            "assigned_count": sum(1 for c in found if c.assignee_user_id is not None),
            "unassigned_count": sum(1 for c in found if c.assignee_user_id is None),
            "all_count": len(found),
        }
        assignee_type = params.get("assignee_type") or "all"
        if assignee_type == "me":
            found = [c for c in found if me is not None and c.assignee_user_id == me]
        elif assignee_type == "assigned":
            found = [c for c in found if c.assignee_user_id is not None]
        elif assignee_type == "unassigned":
            found = [c for c in found if c.assignee_user_id is None]
        found.sort(key=lambda c: (c.last_activity_at, c.display_id), reverse=True)
        if params.get("updated_within"):
            cutoff = time.time() - _number(params["updated_within"], "updated_within")
            found = [c for c in found if c.updated_at > cutoff]
        else:
            page = max(int(_number(params.get("page") or 1, "page")), 1)
            start = (page - 1) * CONVERSATIONS_PER_PAGE
            found = found[start : start + CONVERSATIONS_PER_PAGE]
        payload = [shapes.rest_conversation(ctx.world, c) for c in found]
        return JSONResponse({"data": {"meta": meta, "payload": payload}})

    async def show_conversation(self, request: Request, ctx: Context) -> Response:
        conversation = ctx.conversation(request)
        return JSONResponse(shapes.rest_conversation(ctx.world, conversation))

    async def toggle_status(self, request: Request, ctx: Context) -> Response:
        conversation = ctx.conversation(request)
        until = ctx.params.get("snoozed_until")
        success = self.sim.chatwoot.toggle_status(
            conversation,
            ctx.actor,
            ctx.params.get("status") or None,
            _number(until, "snoozed_until") if until not in (None, "") else None,
        )
        payload = {
            "success": success,
            "conversation_id": conversation.display_id,
            "current_status": conversation.status,
            "snoozed_until": shapes.iso(conversation.snoozed_until),
        }
        return JSONResponse({"meta": {}, "payload": payload})

    async def toggle_priority(self, request: Request, ctx: Context) -> Response:
        conversation = ctx.conversation(request)
        self.sim.chatwoot.toggle_priority(conversation, ctx.actor, ctx.params.get("priority"))
        return Response(status_code=200)

    async def assign(self, request: Request, ctx: Context) -> Response:
        """`AssignmentsController#create`: the key `assignee_id` wins (null unassigns); then
        `team_id`; with neither nothing happens and the answer is null."""
        conversation = ctx.conversation(request)
        params = ctx.params
        chatwoot = self.sim.chatwoot
        answer: Json | None = None
        if "assignee_id" in params and params.get("assignee_type") == "AgentBot":
            bot = chatwoot.assign_bot(conversation, params["assignee_id"])
            answer = shapes.rest_agent_bot(bot) if bot is not None else None
        elif "assignee_id" in params:
            agent = chatwoot.assign_agent(conversation, ctx.actor, params["assignee_id"])
            answer = shapes.rest_agent(agent, ctx.account_id) if agent is not None else None
        elif "team_id" in params:
            team = chatwoot.assign_team(conversation, params["team_id"])
            answer = shapes.rest_team(team) if team is not None else None
        return JSONResponse(answer)

    # --- messages --------------------------------------------------------------------------

    async def create_message(self, request: Request, ctx: Context) -> Response:
        conversation = ctx.conversation(request)
        params = ctx.params
        attributes = params.get("content_attributes")
        message = self.sim.chatwoot.create_message(
            conversation,
            ctx.actor,
            content=_text_or_none(params.get("content")),
            message_type=str(params.get("message_type") or "outgoing"),
            private=_truthy(params.get("private")),
            content_type=str(params.get("content_type") or "text"),
            content_attributes=attributes if isinstance(attributes, dict) else None,
            source_id=_text_or_none(params.get("source_id")),
        )
        return JSONResponse(shapes.rest_message(ctx.world, message))

    async def list_messages(self, request: Request, ctx: Context) -> Response:
        """`MessageFinder`: the last 20, or those after / before a message id, oldest first."""
        conversation = ctx.conversation(request)
        messages = conversation.messages
        if ctx.params.get("after"):
            after = _number(ctx.params["after"], "after")
            messages = [m for m in messages if m.id > after]
        elif ctx.params.get("before"):
            before = _number(ctx.params["before"], "before")
            messages = [m for m in messages if m.id < before][-MESSAGES_PER_PAGE:]
        else:
            messages = messages[-MESSAGES_PER_PAGE:]
        world = ctx.world
        assignee = world.agents.get(conversation.assignee_user_id or 0)
        meta = {
            "labels": list(conversation.labels),
            "additional_attributes": conversation.additional_attributes,
            "contact": shapes.rest_contact(world.contacts[conversation.contact_id]),
            "assignee": shapes.rest_agent(assignee, ctx.account_id) if assignee else None,
            "agent_last_seen_at": shapes.iso(conversation.agent_last_seen_at),
            "assignee_last_seen_at": None,
        }
        payload = [shapes.rest_message(world, m) for m in messages]
        return JSONResponse({"meta": meta, "payload": payload})

    # --- labels and custom attributes ------------------------------------------------------

    async def list_labels(self, request: Request, ctx: Context) -> Response:
        return JSONResponse({"payload": list(ctx.conversation(request).labels)})

    async def set_labels(self, request: Request, ctx: Context) -> Response:
        conversation = ctx.conversation(request)
        labels = _list(ctx.params.get("labels"))
        self.sim.chatwoot.set_labels(conversation, [str(label) for label in labels])
        return JSONResponse({"payload": list(conversation.labels)})

    async def set_custom_attributes(self, request: Request, ctx: Context) -> Response:
        conversation = ctx.conversation(request)
        attributes = ctx.params.get("custom_attributes")
        if not isinstance(attributes, dict):
            raise Invalid("custom_attributes must be an object", ["custom_attributes"])
        self.sim.chatwoot.set_custom_attributes(conversation, attributes)
        return JSONResponse({"custom_attributes": conversation.custom_attributes})

    # --- contacts and agents ---------------------------------------------------------------

    async def search_contacts(self, request: Request, ctx: Context) -> Response:
        """Substring search: `ILIKE %q%` on name, email and phone, `LIKE %q%` on identifier."""
        query = ctx.params.get("q")
        if not query:
            return _error(422, "Specify search string with parameter q")
        needle = str(query).lower()
        found = [
            contact
            for contact in ctx.world.contacts.values()
            if contact.account_id == ctx.account_id
            and (
                any(needle in (value or "").lower() for value in _searchable(contact))
                or str(query) in (contact.identifier or "")
            )
        ]
        page = max(int(_number(ctx.params.get("page") or 1, "page")), 1)
        start = (page - 1) * CONTACTS_PER_PAGE
        shown = found[start : start + CONTACTS_PER_PAGE]
        meta = {
            "count": len(shown),
            "current_page": page,
            "has_more": len(found) > start + CONTACTS_PER_PAGE,
        }
        return JSONResponse({"meta": meta, "payload": [shapes.rest_contact(c) for c in shown]})

    async def show_contact(self, request: Request, ctx: Context) -> Response:
        return JSONResponse({"payload": shapes.rest_contact(ctx.contact(request))})

    async def update_contact(self, request: Request, ctx: Context) -> Response:
        contact = ctx.contact(request)
        # Rails accepts the fields bare or wrapped in {"contact": {...}}.
        fields = ctx.params.get("contact")
        self.sim.chatwoot.update_contact(
            contact, fields if isinstance(fields, dict) else ctx.params
        )
        return JSONResponse({"payload": shapes.rest_contact(contact)})

    async def list_agents(self, request: Request, ctx: Context) -> Response:
        agents = sorted(ctx.world.agents.values(), key=lambda agent: agent.id)
        return JSONResponse([shapes.rest_agent(agent, ctx.account_id) for agent in agents])


def _searchable(contact: Contact) -> tuple[str | None, ...]:
    return (contact.name, contact.email, contact.phone_number)


def _number(value: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise Invalid(f"{name} must be a number", [name]) from None


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _truthy(value: Any) -> bool:
    """Rails' boolean casting of a parameter ("true", "1", true)."""
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)

"""The control API, `/_sim/...`: reset, seed, inspect, and make the simulator misbehave.

No authentication, so it answers loopback clients only. Nothing here is recorded as a call,
and nothing here is part of Chatwoot.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatwoot_sim import seed
from chatwoot_sim.behaviour import Invalid
from chatwoot_sim.faults import FaultRule
from chatwoot_sim.simulator import Simulator
from chatwoot_sim.state import (
    MESSAGE_TYPE_NAMES,
    Agent,
    Author,
    Availability,
    Conversation,
    Message,
    NotFound,
    Notification,
)

Json = dict[str, Any]
_LOOPBACK = ("127.", "::1", "localhost")
_FAULTS = TypeAdapter(list[FaultRule])


class WebhookSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    url: str | None = None
    secret: str | None = None


class Down(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(gt=0, le=3600)


class CustomerMessage(BaseModel):
    """The contact writes in the conversation (what the widget or a channel would deliver)."""

    model_config = ConfigDict(extra="forbid")

    conversation_id: int
    content: str
    account_id: int | None = None
    content_attributes: dict[str, Any] = Field(default_factory=dict)


class Presence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    availability_status: Availability


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _bad_request(message: str) -> JSONResponse:
    return _error(422, message)


def routes(sim: Simulator) -> list[Route]:
    def local_only(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            host = request.client.host if request.client else ""
            if not host.startswith(_LOOPBACK):
                return JSONResponse({"error": "the control API is for localhost"}, 403)
            try:
                return await handler(request)
            except ValidationError as error:
                return _bad_request(str(error))
            except (seed.SeedError, Invalid, NotFound) as error:
                return _bad_request(str(error))

        return run

    async def reset(request: Request) -> Response:
        sim.reset()
        return JSONResponse({"reset": True})

    async def apply_seed(request: Request) -> Response:
        spec = seed.SeedSpec.model_validate(await _json(request))
        # A seed with webhooks off changes state silently, as if it had always been so.
        chatwoot = sim.chatwoot if spec.webhooks else sim.chatwoot.silent()
        created = seed.apply(sim.world, chatwoot, spec, sim.options.account_id)
        return JSONResponse(created)

    async def calls(request: Request) -> Response:
        since = _since(request)
        return JSONResponse(
            {
                "calls": [call.to_json() for call in sim.calls.calls[since:]],
                "next": len(sim.calls.calls),
            }
        )

    async def state(request: Request) -> Response:
        return JSONResponse(_state(sim))

    async def webhooks(request: Request) -> Response:
        since = _since(request)
        sender = sim.webhooks
        return JSONResponse(
            {
                "enabled": sender.settings.enabled,
                "url": sender.settings.url,
                "webhooks": [delivery.to_json() for delivery in sender.deliveries[since:]],
                "next": len(sender.deliveries),
            }
        )

    async def switch_webhooks(request: Request) -> Response:
        raw = await _json(request)
        switch = WebhookSwitch.model_validate(raw)
        settings = sim.webhooks.settings
        settings.enabled = switch.enabled
        if "url" in raw:
            settings.url = switch.url
        if "secret" in raw:
            settings.secret = switch.secret
        return JSONResponse({"enabled": settings.enabled, "url": settings.url})

    async def faults(request: Request) -> Response:
        return JSONResponse({"faults": [rule.model_dump() for rule in sim.faults.rules]})

    async def add_faults(request: Request) -> Response:
        raw = await _json(request)
        rules = _FAULTS.validate_python(raw.get("faults") if isinstance(raw, dict) else raw)
        sim.faults.add(rules)
        return JSONResponse({"faults": [rule.model_dump() for rule in sim.faults.rules]})

    async def clear_faults(request: Request) -> Response:
        sim.faults.clear()
        return JSONResponse({"faults": []})

    async def down(request: Request) -> Response:
        wanted = Down.model_validate(await _json(request))
        if sim.go_down is None:
            return JSONResponse({"error": "this simulator cannot go down"}, 409)
        sim.go_down(wanted.seconds)
        return JSONResponse({"down_seconds": wanted.seconds})

    async def customer_message(request: Request) -> Response:
        wanted = CustomerMessage.model_validate(await _json(request))
        account_id = wanted.account_id or sim.options.account_id
        conversation = sim.world.conversation(account_id, wanted.conversation_id)
        message = sim.chatwoot.create_message(
            conversation,
            Author("contact", conversation.contact_id),
            content=wanted.content,
            message_type="incoming",
            content_attributes=wanted.content_attributes,
        )
        return JSONResponse(_message(message))

    async def set_presence(request: Request) -> Response:
        agent = sim.world.agents.get(request.path_params["agent_id"])
        if agent is None:
            return _error(404, f"no agent {request.path_params['agent_id']} in the account")
        try:
            wanted = Presence.model_validate(await _json(request))
        except ValidationError as error:
            return _error(400, _problems(error))
        except Invalid as error:
            return _error(400, error.message)
        sim.chatwoot.set_availability(agent, wanted.availability_status)
        return JSONResponse(_agent(agent))

    async def remove_agent(request: Request) -> Response:
        agent = sim.world.agents.get(request.path_params["agent_id"])
        if agent is None:
            return _error(404, f"no agent {request.path_params['agent_id']} in the account")
        sim.chatwoot.remove_agent(agent)
        return JSONResponse({"id": agent.id, "removed": True})

    table: list[tuple[str, str, Callable[[Request], Awaitable[Response]]]] = [
        ("POST", "/_sim/reset", reset),
        ("POST", "/_sim/seed", apply_seed),
        ("GET", "/_sim/calls", calls),
        ("GET", "/_sim/state", state),
        ("GET", "/_sim/webhooks", webhooks),
        ("POST", "/_sim/webhooks", switch_webhooks),
        ("GET", "/_sim/faults", faults),
        ("POST", "/_sim/faults", add_faults),
        ("DELETE", "/_sim/faults", clear_faults),
        ("POST", "/_sim/down", down),
        ("POST", "/_sim/customer_message", customer_message),
        ("POST", "/_sim/agents/{agent_id:int}", set_presence),
        ("DELETE", "/_sim/agents/{agent_id:int}", remove_agent),
    ]
    return [Route(path, local_only(handler), methods=[method]) for method, path, handler in table]


async def _json(request: Request) -> Any:
    body = await request.body()
    if not body:
        return {}
    try:
        return await request.json()
    except ValueError:
        raise Invalid("the body is not JSON", ["(body)"]) from None


def _problems(error: ValidationError) -> str:
    """Pydantic's errors on one line: `availability_status: Input should be ...`."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or '(body)'}: {problem['msg']}"
        for problem in error.errors()
    )


def _since(request: Request) -> int:
    try:
        return max(int(request.query_params.get("since", "0")), 0)
    except ValueError:
        raise Invalid("since must be an integer", ["since"]) from None


def _state(sim: Simulator) -> Json:
    """The whole state, flat and readable (not a Chatwoot shape)."""
    world = sim.world
    return {
        "accounts": [{"id": a.id, "name": a.name} for a in world.accounts.values()],
        "agents": [_agent(agent) for agent in world.agents.values()],
        "bots": [{"id": bot.id, "name": bot.name} for bot in world.bots.values()],
        "teams": [
            {
                "id": t.id,
                "account_id": t.account_id,
                "name": t.name,
                "agent_ids": sorted(t.member_ids),
            }
            for t in world.teams.values()
        ],
        "contacts": [
            {
                "id": c.id,
                "account_id": c.account_id,
                "name": c.name,
                "email": c.email,
                "phone_number": c.phone_number,
                "identifier": c.identifier,
                "custom_attributes": c.custom_attributes,
                "additional_attributes": c.additional_attributes,
                "updated_at": c.updated_at,
            }
            for c in world.contacts.values()
        ],
        "conversations": [_conversation(c) for c in world.conversations.values()],
        "notifications": [_notification(n) for n in world.notifications],
    }


def _agent(agent: Agent) -> Json:
    return {
        "id": agent.id,
        "name": agent.name,
        "email": agent.email,
        "role": agent.role,
        "availability_status": agent.availability_status,
    }


def _notification(notification: Notification) -> Json:
    return {
        "id": notification.id,
        "notification_type": notification.notification_type,
        "user_id": notification.user_id,
        "account_id": notification.account_id,
        "conversation_id": notification.conversation_id,
        "message_id": notification.message_id,
        "created_at": notification.created_at,
    }


def _conversation(conversation: Conversation) -> Json:
    assignee = conversation.assignee
    return {
        "account_id": conversation.account_id,
        "id": conversation.display_id,
        "inbox_id": conversation.inbox_id,
        "contact_id": conversation.contact_id,
        "status": conversation.status,
        "priority": conversation.priority,
        "snoozed_until": conversation.snoozed_until,
        "assignee": {"type": assignee.kind, "id": assignee.id} if assignee else None,
        "assignee_id": conversation.assignee_user_id,
        "team_id": conversation.team_id,
        "labels": list(conversation.labels),
        "custom_attributes": conversation.custom_attributes,
        "updated_at": conversation.updated_at,
        "waiting_since": conversation.waiting_since,
        "first_reply_created_at": conversation.first_reply_created_at,
        "participant_ids": sorted(conversation.participant_ids),
        "messages": [_message(m) for m in conversation.messages],
    }


def _message(message: Message) -> Json:
    sender = message.sender
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "content": message.content,
        "message_type": MESSAGE_TYPE_NAMES[message.message_type],
        "private": message.private,
        "sender": {"type": sender.kind, "id": sender.id} if sender else None,
        "content_type": message.content_type,
        "content_attributes": message.content_attributes,
        "created_at": message.created_at,
    }

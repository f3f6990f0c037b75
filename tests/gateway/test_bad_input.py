"""Bodies we cannot read are refused with 400 and a reason naming the field, and change
nothing; no body at all makes the gateway answer 5xx."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.chatwoot_samples import sample, sample_names
from tests.gateway.support import (
    RunningGateway,
    ScriptedTicketService,
)

Body = dict[str, Any]


def edit(name: str, change: Callable[[Body], object]) -> bytes:
    body = sample(name)
    change(body)
    return json.dumps(body).encode()


def put(path: str, value: Any) -> Callable[[Body], None]:
    """Set a dotted path (`conversation.meta.assignee.id`) to `value`."""

    def change(body: Body) -> None:
        *parents, last = path.split(".")
        node = body
        for part in parents:
            node = node[part]
        node[last] = value

    return change


def drop(path: str) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        *parents, last = path.split(".")
        node = body
        for part in parents:
            node = node[part]
        del node[last]

    return change


# (body, the `field` the answer names, words its `error` contains)
CASES: dict[str, tuple[bytes, str, str]] = {
    "not json": (b"{", "(body)", "not valid JSON"),
    "empty body": (b"", "(body)", "not valid JSON"),
    "trailing garbage": (b'{"event": "message_created"} x', "(body)", "not valid JSON"),
    "not utf-8": (b'{"event": "\xff"}', "(body)", "not UTF-8"),
    "NaN": (b'{"event": "conversation_created", "updated_at": NaN}', "(body)", "NaN"),
    "Infinity": (b'{"event": "x", "n": -Infinity}', "(body)", "Infinity"),
    "lone surrogate": (
        b'{"event": "message_created", "content": "\\ud800"}',
        "(body)",
        "surrogate",
    ),
    "deep nesting": (b"[" * 100_000 + b"]" * 100_000, "(body)", "nested too deeply"),
    "array": (b"[]", "(body)", "JSON object"),
    "array of a payload": (
        json.dumps([sample("message_created")]).encode(),
        "(body)",
        "JSON object",
    ),
    "string": (b'"message_created"', "(body)", "JSON object"),
    "number": (b"42", "(body)", "JSON object"),
    "null": (b"null", "(body)", "JSON object"),
    "no event": (edit("message_created", drop("event")), "event", "required"),
    "event null": (edit("message_created", put("event", None)), "event", "string"),
    "event a number": (edit("message_created", put("event", 4)), "event", "string"),
    "event a list": (edit("message_created", put("event", ["message_created"])), "event", "string"),
    "conversation id a string": (
        edit("conversation_created", put("id", "1042")),
        "id",
        "integer",
    ),
    "conversation id a float": (edit("conversation_created", put("id", 1042.0)), "id", "integer"),
    "conversation id zero": (edit("conversation_created", put("id", 0)), "id", "greater than"),
    "conversation id past int64": (
        edit("conversation_created", put("id", 2**63)),
        "id",
        "less than",
    ),
    "conversation id a bool": (edit("conversation_created", put("id", True)), "id", "integer"),
    "no account": (edit("conversation_created", drop("account")), "account", "required"),
    "account a number": (edit("conversation_created", put("account", 3)), "account", "dictionary"),
    "account id a string": (
        edit("conversation_created", put("account.id", "3")),
        "account.id",
        "integer",
    ),
    "another account": (
        edit("conversation_created", put("account.id", 4)),
        "account.id",
        "account 4 is not the Chatwoot account of integration 'acme-chatwoot'",
    ),
    "message's conversation of another account": (
        edit("message_created", put("conversation.account.id", 4)),
        "conversation.account.id",
        "account 4",
    ),
    "contact of another account": (
        edit("contact_created", put("account.id", 30)),
        "account.id",
        "account 30",
    ),
    "widget conversation of another account": (
        edit(
            "webwidget_triggered",
            put("current_conversation", {**sample("conversation_created"), "account": {"id": 9}}),
        ),
        "current_conversation.account.id",
        "account 9",
    ),
    "status unknown": (edit("conversation_created", put("status", "closed")), "status", "'open'"),
    "status a number": (edit("conversation_created", put("status", 1)), "status", "'open'"),
    "priority unknown": (
        edit("conversation_created", put("priority", "critical")),
        "priority",
        "'urgent'",
    ),
    "snoozed_until unix seconds": (
        edit("conversation_created", put("snoozed_until", 1781700000)),
        "snoozed_until",
        "ISO-8601",
    ),
    "snoozed_until without zone": (
        edit("conversation_created", put("snoozed_until", "2026-06-18T09:00:00")),
        "snoozed_until",
        "timezone",
    ),
    "snoozed_until not a time": (
        edit("conversation_created", put("snoozed_until", "tomorrow")),
        "snoozed_until",
        "datetime",
    ),
    "updated_at a string": (
        edit("conversation_created", put("updated_at", "1781691330.641207")),
        "updated_at",
        "number",
    ),
    "updated_at a bool": (
        edit("conversation_created", put("updated_at", True)),
        "updated_at",
        "number",
    ),
    "updated_at negative": (
        edit("conversation_created", put("updated_at", -1.5)),
        "updated_at",
        "greater than",
    ),
    "updated_at past year 9999": (
        edit("conversation_created", put("updated_at", 1e300)),
        "updated_at",
        "less than",
    ),
    "updated_at missing": (
        edit("conversation_created", drop("updated_at")),
        "updated_at",
        "required",
    ),
    "inbox_id null": (edit("conversation_created", put("inbox_id", None)), "inbox_id", "integer"),
    "meta missing": (edit("conversation_created", drop("meta")), "meta", "required"),
    "meta a list": (edit("conversation_created", put("meta", [])), "meta", "dictionary"),
    "assignee id a string": (
        edit("conversation_updated", put("meta.assignee.id", "12")),
        "meta.assignee.id",
        "integer",
    ),
    "assignee without type": (
        edit("conversation_updated", drop("meta.assignee.type")),
        "meta.assignee.type",
        "required",
    ),
    "contact email a number": (
        edit("conversation_created", put("meta.sender.email", 5)),
        "meta.sender.email",
        "string",
    ),
    "mail subject a number": (
        edit("conversation_created", put("additional_attributes", {"mail_subject": 1})),
        "additional_attributes.mail_subject",
        "string",
    ),
    "message id a string": (edit("message_created", put("id", "58231")), "id", "integer"),
    "message_type as nested messages carry it": (
        edit("message_created", put("message_type", 0)),
        "message_type",
        "'incoming'",
    ),
    "message_type activity": (
        edit("message_created", put("message_type", "activity")),
        "message_type",
        "'incoming'",
    ),
    "private a string": (edit("message_created", put("private", "false")), "private", "boolean"),
    "private a number": (edit("message_created", put("private", 0)), "private", "boolean"),
    "created_at unix seconds": (
        edit("message_created", put("created_at", 1781691330)),
        "created_at",
        "ISO-8601",
    ),
    "sender id a string": (
        edit("message_created", put("sender.id", "5821")),
        "sender.id",
        "integer",
    ),
    "sender type a number": (
        edit("message_created_outgoing", put("sender.type", 1)),
        "sender.type",
        "string",
    ),
    "content a number": (edit("message_created", put("content", 5)), "content", "string"),
    "content_attributes a string": (
        edit("message_created", put("content_attributes", "{}")),
        "content_attributes",
        "dictionary",
    ),
    "deleted a string": (
        edit("message_updated", put("content_attributes", {"deleted": "yes"})),
        "content_attributes.deleted",
        "boolean",
    ),
    "ticketing_ref a number": (
        edit("message_created_private", put("content_attributes", {"ticketing_ref": 7})),
        "content_attributes.ticketing_ref",
        "string",
    ),
    "attachments an object": (
        edit("message_created", put("attachments", {"id": 1})),
        "attachments",
        "list",
    ),
    "message without conversation": (
        edit("message_created", drop("conversation")),
        "conversation",
        "required",
    ),
    "message's conversation status unknown": (
        edit("message_created", put("conversation.status", "archived")),
        "conversation.status",
        "'open'",
    ),
    "contact id a string": (edit("contact_created", put("id", "5821")), "id", "integer"),
    "contact phone a number": (
        edit("contact_updated", put("phone_number", 14155550123)),
        "phone_number",
        "string",
    ),
    "widget without contact": (edit("webwidget_triggered", drop("contact")), "contact", "required"),
    "widget conversation a string": (
        edit("webwidget_triggered", put("current_conversation", "1042")),
        "current_conversation",
        "dictionary",
    ),
    "automation with a broken conversation": (
        edit(
            "conversation_updated",
            lambda body: body.update(event="automation_event.conversation_updated", id=None),
        ),
        "id",
        "integer",
    ),
}


@pytest.mark.parametrize(("raw", "field", "reason"), CASES.values(), ids=CASES.keys())
async def test_an_unreadable_body_is_refused_naming_the_problem(
    gateway: RunningGateway, service: ScriptedTicketService, raw: bytes, field: str, reason: str
) -> None:
    response = await gateway.post(raw, delivery_id="d-1")

    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer["field"] == field
    assert reason in answer["error"]
    assert service.calls == []
    assert await gateway.spool.entries() == []


def test_the_battery_is_large() -> None:
    assert len(CASES) >= 30


async def test_an_overlong_delivery_id_is_refused(
    gateway: RunningGateway, service: ScriptedTicketService
) -> None:
    response = await gateway.post(sample("message_created"), delivery_id="d" * 129)

    assert response.status_code == 400
    assert response.json()["field"] == "X-Chatwoot-Delivery"
    assert service.calls == []


@pytest.mark.parametrize(
    "event", ["conversation_typing_on", "conversation_typing_off", "inbox_created", "survey_new"]
)
async def test_events_of_no_use_are_acknowledged_without_the_service(
    gateway: RunningGateway, service: ScriptedTicketService, event: str
) -> None:
    body = sample("conversation_typing_on")
    body["event"] = event

    response = await gateway.post(body, delivery_id="d-1")

    assert response.status_code == 200
    assert response.json() == {"outcome": "ignored"}
    assert service.calls == []
    metrics = (await gateway.client.get("/metrics")).text
    label = "unknown" if event == "survey_new" else event
    assert (
        f'chatwoot_webhook_deliveries_total{{event="{label}",integration="acme-chatwoot",'
        'outcome="ignored"} 1.0'
    ) in metrics


# Fuzzing: sample payloads with keys dropped and values replaced by arbitrary JSON.

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
SAMPLES = {name: sample(name) for name in sample_names()}


def mutate(value: Any, data: st.DataObject) -> Any:
    """`value` with one thing changed somewhere inside: a key dropped or a value replaced."""
    if isinstance(value, dict | list) and value and data.draw(st.booleans(), label="descend"):
        keys = list(value) if isinstance(value, dict) else list(range(len(value)))
        key = data.draw(st.sampled_from(keys), label="key")
        if isinstance(value, dict) and data.draw(st.booleans(), label="drop"):
            del value[key]
        else:
            value[key] = mutate(value[key], data)
        return value
    return data.draw(JSON_VALUES, label="replacement")


@settings(
    max_examples=200,
    deadline=None,
    # One gateway serves every example: the property holds whatever it has seen before.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_no_body_makes_the_gateway_fail(gateway: RunningGateway, data: st.DataObject) -> None:
    if data.draw(st.integers(0, 9), label="whole body") == 0:
        body = data.draw(JSON_VALUES | st.binary(max_size=64).map(_raw), label="body")
    else:
        body = copy.deepcopy(data.draw(st.sampled_from(list(SAMPLES.values())), label="sample"))
        for _ in range(data.draw(st.integers(1, 4), label="mutations")):
            body = mutate(body, data)

    response = await gateway.post(body if isinstance(body, _Raw) else json.dumps(body).encode())

    assert response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    if response.status_code == 400:
        assert answer["error"]
        assert "field" in answer
    else:
        assert response.status_code == 200
        assert answer["outcome"] in {"applied", "ignored"}


class _Raw(bytes):
    pass


def _raw(value: bytes) -> _Raw:
    return _Raw(value)

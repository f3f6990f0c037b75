"""Tracing and logs of the real stack: the Chatwoot simulator, the gateway, the ticket service
and the escalation service as processes on 127.0.0.1 (SQLite), at DEBUG, exporting their
spans over OTLP/HTTP to a receiver this test runs.

One run, two questions: does one trace follow an angry customer's message from the
gateway's webhook through the ticket service, its event log, the escalation decision and
the outbox to the Chatwoot calls; and does any process write a secret of the tenants file,
or the message, to its log?
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from common.config import load_tenants
from devstack.stack import Stack, local_environment, wait_until_ready
from tests.chatwoot_sim.support import SimulatorControl
from tests.processes.chain import Chain
from tests.processes.otlp_collector import Span, running_collector
from ticketing.escalation.v1 import escalation_service_pb2_grpc
from ticketing.ticket.v1 import ticket_service_pb2_grpc

FIRST = "Hi, I have a question about my order 58213."
ANGRY = "You charged me twice for order 58213! I want a refund now."
SERVER, CLIENT = 2, 3  # OTLP's SpanKind values
APPLY = "/ticketing.ticket.v1.TicketService/ApplyChatwootDelivery"
START_WITHIN = 90.0
PROCESS_LOGS = ("gateway", "ticket_service", "escalation_service", "chatwoot_sim")


@dataclass(frozen=True)
class Observed:
    spans: list[Span]
    logs: dict[str, str]  # by process
    secrets: list[str]
    conversation: int

    def records(self, process: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.logs[process].splitlines() if line.strip()]


def _secrets(tenants_file: Path) -> list[str]:
    """Every secret in the tenants file the stack runs with."""
    found = []
    for tenant in load_tenants(tenants_file).tenants:
        for credential in tenant.api_tokens:
            for secret in (credential.token, credential.token_sha256):
                if secret is not None:
                    found.append(secret.get_secret_value())
        for integration in tenant.chatwoot:
            for secret in (
                integration.api_access_token,
                integration.webhook_secret,
                integration.url_token,
            ):
                if secret is not None:
                    found.append(secret.get_secret_value())
    return found


async def _escalate_through_the_stack(directory: Path, collector_url: str) -> int:
    env = local_environment(directory) | {
        "LOG_LEVEL": "DEBUG",
        "OTEL_SDK_DISABLED": "false",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector_url,
        # Spans leave within 0.2 s; stopping a process flushes the rest.
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    stack = await Stack.start(env, with_simulator=True, logs=directory)
    try:
        # Four processes starting on a busy 2-core machine: readiness may take a while.
        await wait_until_ready(env, START_WITHIN)
        assert stack.simulator_url is not None
        sim = SimulatorControl(stack.simulator_url)
        async with (
            grpc.aio.insecure_channel(env["TICKET_GRPC_LISTEN"]) as ticket_channel,
            grpc.aio.insecure_channel(env["ESCALATION_GRPC_LISTEN"]) as escalation_channel,
        ):
            chain = Chain(
                sim,
                ticket_service_pb2_grpc.TicketServiceStub(ticket_channel),
                escalation_service_pb2_grpc.EscalationServiceStub(escalation_channel),
            )
            priya = (await chain.staff())["Priya Raman"]
            [conversation] = sim.seed(
                conversations=[
                    {
                        "contact": {"name": "Maria Lopez", "email": "maria@example.com"},
                        "messages": [{"content": FIRST}],
                    }
                ]
            ).conversation_ids
            ticket = await chain.ticket_for(conversation)
            sim.customer_message(conversation, ANGRY)
            await chain.settled_escalation(ticket.name)
            await chain.chatwoot_shows(conversation, assignee=priya, priority="urgent")
        sim.close()
        assert stack.exited() == []
    finally:
        await stack.stop()
    return conversation


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Observed:
    directory = tmp_path_factory.mktemp("observability")
    with running_collector() as collector:
        conversation = asyncio.run(_escalate_through_the_stack(directory, collector.url))
        # Every process has stopped, and flushed its spans on the way out.
        spans = collector.snapshot()
    logs = {name: (directory / f"{name}.log").read_text() for name in PROCESS_LOGS}
    return Observed(spans, logs, _secrets(directory / "tenants.toml"), conversation)


def _ancestors(span: Span, by_id: dict[str, Span]) -> list[Span]:
    """The span's parents up to the root; fails on a parent that was never exported."""
    chain = []
    while span.parent_span_id:
        assert span.parent_span_id in by_id, f"{span.name}: its parent was not exported"
        span = by_id[span.parent_span_id]
        chain.append(span)
    return chain


def test_one_trace_runs_from_the_webhook_to_chatwoot_and_the_escalation(
    observed: Observed,
) -> None:
    [decision] = [
        s
        for s in observed.spans
        if s.name == "escalation_decision" and s.attributes.get("escalation.escalate")
    ]
    assert decision.service == "escalation_service"
    assert decision.attributes["escalation.rule"] == "critical_reason"
    in_trace = [s for s in observed.spans if s.trace_id == decision.trace_id]
    by_id = {s.span_id: s for s in in_trace}

    # Up from the decision: the event it acted on, the ticket service's RPC that wrote that
    # event, the gateway's call, and at the root the webhook's HTTP request.
    up = _ancestors(decision, by_id)
    assert up[0].name == "ticket_event"
    assert up[0].service == "escalation_service"
    assert up[0].attributes["ticket_event.type"] == "message_added"
    apply_server = next(s for s in up if s.name == APPLY and s.kind == SERVER)
    assert apply_server.service == "ticket_service"
    apply_client = by_id[apply_server.parent_span_id]
    assert (apply_client.service, apply_client.kind) == ("gateway", CLIENT)
    root = up[-1]
    assert (root.service, root.kind) == ("gateway", SERVER)
    assert root.name.startswith("POST /webhooks/chatwoot/")

    # Down from the decision: its effects, the ticket service's changes, and the outbox's
    # Chatwoot calls (each an HTTP request to the simulator).
    syncs = [s for s in in_trace if s.name == "chatwoot_sync"]
    kinds = {s.attributes["chatwoot.sync.kind"] for s in syncs}
    assert {"assignee", "priority", "private_note"} <= kinds
    for sync in syncs:
        assert sync.service == "ticket_service"
        names = [s.name for s in _ancestors(sync, by_id)]
        assert "escalation_effects" in names
        assert "escalation_decision" in names
        http_calls = [s for s in in_trace if s.parent_span_id == sync.span_id and s.kind == CLIENT]
        assert http_calls, f"no Chatwoot HTTP call under {sync.attributes}"
    # The SQLAlchemy instrumentation works with our SQLAlchemy: statements show too.
    assert any("db.system" in s.attributes or "db.system.name" in s.attributes for s in in_trace)


def test_background_polls_start_no_traces(observed: Observed) -> None:
    # The escalation service reads the event log every 0.1 s here, and the outbox is polled
    # as often: were the polls traced, each would be a trace of its own. Health checks
    # (readiness probes) are not traced either.
    # Every trace starts at a request someone made: a webhook, or one of this test's RPCs.
    roots = [s for s in observed.spans if not s.parent_span_id]
    assert roots
    assert [s.name for s in roots if s.kind != SERVER] == []
    assert [s.name for s in roots if "Health" in s.name or "ListTicketEvents" in s.name] == []


def test_spans_carry_no_secret(observed: Observed) -> None:
    values = [str(v) for s in observed.spans for v in s.attributes.values()]
    for secret in observed.secrets:
        assert not [v for v in values if secret in v], "a secret is in a span attribute"


def test_no_secret_and_no_message_in_any_log(observed: Observed) -> None:
    assert len(observed.secrets) >= 6  # the dev tenants' tokens, Chatwoot token and secret
    for process, text in observed.logs.items():
        assert text, f"{process} logged nothing"
        for secret in observed.secrets:
            assert secret not in text, f"{process} logged a secret"
        assert ANGRY not in text, f"{process} logged the customer's message"


def test_log_lines_are_json_with_request_context(observed: Observed) -> None:
    for process in ("gateway", "ticket_service", "escalation_service"):
        for line in observed.logs[process].splitlines():
            assert isinstance(json.loads(line), dict), f"{process}: {line}"

    webhooks = [r for r in observed.records("gateway") if r["event"] == "chatwoot_webhook"]
    assert webhooks
    for record in webhooks:
        assert record["tenant"] == "demo"
        assert record["integration"] == "demo-chatwoot"
        assert record["delivery_id"]
        assert len(record["trace_id"]) == 32
        assert len(record["span_id"]) == 16

    # The ticket service's lines inside an RPC name the caller's tenant and the RPC.
    in_rpcs = [r for r in observed.records("ticket_service") if r.get("rpc") == APPLY]
    assert in_rpcs
    assert all(r["tenant"] == "demo" and r["request_id"] and r["trace_id"] for r in in_rpcs)

    # The escalation decision is logged in the webhook's trace.
    [decided] = [
        r for r in observed.records("escalation_service") if r["event"] == "message_decision"
    ]
    [decision] = [
        s
        for s in observed.spans
        if s.name == "escalation_decision" and s.attributes.get("escalation.escalate")
    ]
    assert decided["trace_id"] == decision.trace_id
    assert decided["tenant"] == "demo"
    assert any(r["trace_id"] == decision.trace_id for r in webhooks)

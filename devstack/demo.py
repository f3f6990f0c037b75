"""`python -m devstack.demo` (what `make demo` runs): one escalation, end to end, in seconds.

Starts the whole stack on SQLite with the Chatwoot simulator on ports the OS picks, then plays
a scripted conversation as Chatwoot would deliver it: a customer writes, a ticket opens, she
writes again, angry; the escalation service decides with its explanation, picks the agent who
is online, and the simulator records the assignment, the priority and the private note that
@mentions the agent (which is how Chatwoot notifies them). Each step is printed as it
happens; the exit code is 0 only when the whole loop worked.

Everything the demo writes (databases, the spool, each process's log) goes to
DEMO_DIRECTORY (default var/demo), emptied at the start of each run, so a failure can be read
afterwards.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
import httpx

from devstack.stack import DEV_TOKEN, ROOT, Stack, StackError, local_environment, wait_until_ready
from ticketing.escalation.v1 import (
    agent_pb2,
    escalation_pb2,
    escalation_service_pb2,
    escalation_service_pb2_grpc,
)
from ticketing.ticket.v1 import enums_pb2, ticket_service_pb2, ticket_service_pb2_grpc

if TYPE_CHECKING:
    from ticketing.escalation.v1.escalation_service_pb2_grpc import EscalationServiceAsyncStub
    from ticketing.ticket.v1.ticket_service_pb2_grpc import TicketServiceAsyncStub

T = TypeVar("T")
Json = dict[str, Any]

STEP_TIMEOUT_SECONDS = 30.0
METADATA = (("authorization", f"Bearer {DEV_TOKEN}"),)
CUSTOMER = {"name": "Maria Lopez", "email": "maria.lopez@example.com"}
FIRST_MESSAGE = "Hi, I have a question about my order A-10293."
ANGRY_MESSAGE = (
    "This is the third time I write and nobody answers! You charged me twice for order "
    "A-10293. This is unacceptable. I want a refund now or I will file a chargeback."
)
DESK = [
    {"name": "Priya Raman", "email": "priya@acme.example", "availability_status": "online"},
    {"name": "Sam Lee", "email": "sam@acme.example", "availability_status": "busy"},
]
Escalation = escalation_pb2.Escalation


class DemoFailed(Exception):
    """A step did not happen; the message says which and what was seen instead."""


async def until(
    what: str, probe: Callable[[], Awaitable[T | None]], within: float = STEP_TIMEOUT_SECONDS
) -> T:
    """Polls `probe` until it returns something; DemoFailed naming `what` after `within`."""
    deadline = time.monotonic() + within
    while True:
        found = await probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise DemoFailed(f"{what}: nothing after {within:g} s")
        await asyncio.sleep(0.1)


def say(step: str, text: str = "") -> None:
    print(f"{step:>6}  {text}" if text else step, flush=True)


def detail(text: str) -> None:
    print(f"        {text}", flush=True)


class Simulator:
    """The simulator's control API (/_sim): what a Chatwoot user would do, and what
    Chatwoot recorded."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self._http = http
        self._url = url

    async def _call(self, method: str, path: str, body: Json | None = None) -> Json:
        response = await self._http.request(method, f"{self._url}/_sim/{path}", json=body)
        if response.status_code >= 300:
            raise DemoFailed(f"simulator {method} /_sim/{path}: {response.text}")
        answer: Json = response.json()
        return answer

    async def seed(self, **spec: Any) -> Json:
        return await self._call("POST", "seed", spec)

    async def set_availability(self, agent_id: int, status: str) -> None:
        await self._call("POST", f"agents/{agent_id}", {"availability_status": status})

    async def customer_writes(self, conversation_id: int, content: str) -> None:
        await self._call(
            "POST", "customer_message", {"conversation_id": conversation_id, "content": content}
        )

    async def state(self) -> Json:
        return await self._call("GET", "state")

    async def conversation(self, conversation_id: int) -> Json:
        state = await self.state()
        return next(c for c in state["conversations"] if c["id"] == conversation_id)


class Demo:
    def __init__(
        self,
        sim: Simulator,
        tickets: TicketServiceAsyncStub,
        escalations: EscalationServiceAsyncStub,
    ) -> None:
        self.sim = sim
        self.tickets = tickets
        self.escalations = escalations

    async def play(self) -> None:
        agents = await self.staff_the_desk()
        conversation_id, ticket_name = await self.open_ticket()
        escalation = await self.escalate(conversation_id, ticket_name)
        await self.check_chatwoot(conversation_id, escalation, agents)

    async def staff_the_desk(self) -> dict[str, tuple[str, str]]:
        say("[1/5]", "The support desk in Chatwoot")
        seeded = await self.sim.seed(agents=DESK, webhooks=False)
        desk_ids = {agent["id"] for agent in seeded["agents"]}
        # The simulator's built-in administrator and agent are logged out for the demo.
        for agent in (await self.sim.state())["agents"]:
            if agent["id"] not in desk_ids:
                await self.sim.set_availability(agent["id"], "offline")
        synced = await self.escalations.SyncAgents(
            escalation_service_pb2.SyncAgentsRequest(), metadata=METADATA
        )
        listed = await self.escalations.ListAgents(
            escalation_service_pb2.ListAgentsRequest(), metadata=METADATA
        )
        detail(f"agent directory synced from Chatwoot's agents API: {synced.seen} agents")
        desk = {
            agent.name.removeprefix("agents/"): (
                agent.display_name,
                agent_pb2.AgentAvailability.Name(agent.availability)
                .removeprefix("AGENT_AVAILABILITY_")
                .lower(),
            )
            for agent in listed.agents
        }
        for agent_id, (name, presence) in desk.items():
            detail(f"  {name:<12} {presence:<8} (Chatwoot user {agent_id})")
        return desk

    async def open_ticket(self) -> tuple[int, str]:
        say("[2/5]", f'{CUSTOMER["name"]} starts a conversation: "{FIRST_MESSAGE}"')
        seeded = await self.sim.seed(
            conversations=[{"contact": CUSTOMER, "messages": [{"content": FIRST_MESSAGE}]}]
        )
        conversation_id = int(seeded["conversations"][0]["id"])

        async def ticket() -> Any:
            listed = await self.tickets.ListTickets(
                ticket_service_pb2.ListTicketsRequest(), metadata=METADATA
            )
            return next(
                (t for t in listed.tickets if t.conversation.conversation_id == conversation_id),
                None,
            )

        found = await until("a ticket for the conversation", ticket)
        customer = await self.tickets.GetCustomer(
            ticket_service_pb2.GetCustomerRequest(name=found.customer), metadata=METADATA
        )
        priority = enums_pb2.TicketPriority.Name(found.priority)
        detail(
            f"webhook -> gateway -> ticket {found.number} for conversation {conversation_id}, "
            f"customer {customer.email} (matched by email), "
            f"priority {priority.removeprefix('TICKET_PRIORITY_')}"
        )
        return conversation_id, str(found.name)

    async def escalate(self, conversation_id: int, ticket_name: str) -> Escalation:
        say("[3/5]", f'She writes again: "{ANGRY_MESSAGE}"')
        written = time.time()
        await self.sim.customer_writes(conversation_id, ANGRY_MESSAGE)

        async def escalation() -> Escalation | None:
            listed = await self.escalations.ListEscalations(
                escalation_service_pb2.ListEscalationsRequest(ticket=ticket_name),
                metadata=METADATA,
            )
            return listed.escalations[0] if listed.escalations else None

        found = await until("an escalation decision", escalation)
        explanation = found.explanation
        latency = found.create_time.ToDatetime().timestamp() - written
        say("[4/5]", f"Escalation decided {latency:.2f} s after the message")
        detail(f"rule {explanation.rule}: {explanation.summary}")
        for signal in explanation.signals:
            kind = escalation_pb2.SignalKind.Name(signal.kind).removeprefix("SIGNAL_KIND_")
            verdict = "FIRED" if signal.fired else "-"
            detail(
                f"  {kind.lower():<15} value {signal.value:+.2f}  threshold "
                f"{signal.threshold:+.2f}  {verdict:<5}  {signal.detail}"
            )
        before = enums_pb2.TicketPriority.Name(found.priority_before)
        after = enums_pb2.TicketPriority.Name(found.priority_after)
        detail(
            f"policy version {explanation.policy_version}, language {explanation.language}; "
            f"priority {before.removeprefix('TICKET_PRIORITY_')} -> "
            f"{after.removeprefix('TICKET_PRIORITY_')}"
        )
        return found

    async def check_chatwoot(
        self, conversation_id: int, escalation: Escalation, agents: dict[str, tuple[str, str]]
    ) -> None:
        done = escalation_pb2.EFFECTS_STATE_DONE

        async def effects_done() -> Escalation | None:
            current = await self.escalations.GetEscalation(
                escalation_service_pb2.GetEscalationRequest(name=escalation.name),
                metadata=METADATA,
            )
            if current.effects_state == escalation_pb2.EFFECTS_STATE_FAILED:
                raise DemoFailed(f"the escalation's effects failed: {current.effects_error}")
            return current if current.effects_state == done else None

        escalation = await until("the escalation's effects", effects_done)
        agent_id = int(escalation.assignee_id)
        name = agents[escalation.assignee_id][0]
        passed_over = ", ".join(
            f"{other} ({presence})" for other, presence in agents.values() if presence != "online"
        )
        say("[5/5]", f"Assigned to {name}: online, with the fewest active tickets")
        detail(f"not available: {passed_over}")

        async def recorded() -> Json | None:
            conversation = await self.sim.conversation(conversation_id)
            notes = [m for m in conversation["messages"] if m["private"]]
            if conversation["assignee_id"] != agent_id or conversation["priority"] != "urgent":
                return None
            return conversation if notes else None

        conversation = await until("Chatwoot's record of the escalation", recorded)
        note = next(m for m in conversation["messages"] if m["private"])
        mention = f"mention://user/{agent_id}/"
        if mention not in note["content"]:
            raise DemoFailed(f"the private note does not @mention the agent: {note['content']}")
        notified = [
            n
            for n in (await self.sim.state())["notifications"]
            if n["user_id"] == agent_id and n["conversation_id"] == conversation_id
        ]
        if len(notified) != 1:
            raise DemoFailed(f"expected one mention notification for {name}, got {notified}")
        detail("Chatwoot (the simulator) now shows for the conversation:")
        detail(f"  assignee      {name} (user {agent_id})")
        detail(f"  priority      {conversation['priority']}")
        lines = note["content"].splitlines()
        detail(f"  private note  {lines[0]}")
        for line in lines[1:]:
            detail(f"                {line}")
        detail(f"  notification  {notified[0]['notification_type']} for {name}")


async def play(directory: Path, env: dict[str, str]) -> int:
    started = time.monotonic()
    print(f"demo: starting the stack on SQLite with the Chatwoot simulator (files: {directory})")
    stack = await Stack.start(env, with_simulator=True, logs=directory)
    try:
        await wait_until_ready(env, STEP_TIMEOUT_SECONDS)
        print(stack.banner(), flush=True)
        assert stack.simulator_url is not None
        async with (
            httpx.AsyncClient(timeout=5.0) as http,
            grpc.aio.insecure_channel(env["TICKET_GRPC_LISTEN"]) as ticket_channel,
            grpc.aio.insecure_channel(env["ESCALATION_GRPC_LISTEN"]) as escalation_channel,
        ):
            demo = Demo(
                Simulator(http, stack.simulator_url),
                ticket_service_pb2_grpc.TicketServiceStub(ticket_channel),
                escalation_service_pb2_grpc.EscalationServiceStub(escalation_channel),
            )
            await demo.play()
        crashed = stack.exited()
        if crashed:
            raise DemoFailed(f"{', '.join(crashed)} exited during the demo")
    finally:
        await stack.stop()
    print(f"demo: the whole loop worked in {time.monotonic() - started:.1f} s")
    return 0


def main() -> int:
    directory = Path(os.environ.get("DEMO_DIRECTORY", ROOT / "var" / "demo"))
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    try:
        return asyncio.run(play(directory, local_environment(directory)))
    except (DemoFailed, StackError, grpc.aio.AioRpcError) as failure:
        print(f"demo: FAILED: {failure}", file=sys.stderr)
        print(f"demo: each process's log is in {directory}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

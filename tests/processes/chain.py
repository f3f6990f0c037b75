"""The running stack as a support team sees it: Chatwoot's staff, a conversation's ticket,
its escalation and what Chatwoot shows in the end (shared by the process tests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devstack.stack import DEV_TOKEN
from tests.chatwoot_sim.support import SimulatorControl
from tests.support import eventually
from ticketing.escalation.v1 import escalation_pb2, escalation_service_pb2
from ticketing.ticket.v1 import ticket_pb2, ticket_service_pb2

if TYPE_CHECKING:
    from ticketing.escalation.v1.escalation_service_pb2_grpc import EscalationServiceAsyncStub
    from ticketing.ticket.v1.ticket_service_pb2_grpc import TicketServiceAsyncStub

METADATA = (("authorization", f"Bearer {DEV_TOKEN}"),)
E = escalation_pb2
WITHIN = 30.0


@dataclass
class Chain:
    sim: SimulatorControl
    tickets: TicketServiceAsyncStub
    escalations: EscalationServiceAsyncStub

    async def staff(self) -> dict[str, int]:
        """Priya online and Sam busy in Chatwoot, everybody else logged out, and the
        escalation service's directory synced from Chatwoot; their user ids by name."""
        seeded = self.sim.seed(
            agents=[
                {"name": "Priya Raman", "availability_status": "online"},
                {"name": "Sam Lee", "availability_status": "busy"},
            ],
            webhooks=False,
        )
        for agent in self.sim.state().agents:
            if agent["id"] not in seeded.agent_ids:
                self.sim.set_availability(agent["id"], "offline")
        synced = await self.escalations.SyncAgents(
            escalation_service_pb2.SyncAgentsRequest(), metadata=METADATA
        )
        assert synced.seen == len(self.sim.state().agents)
        return {agent["name"]: agent["id"] for agent in seeded.agents}

    async def ticket_for(self, conversation: int) -> ticket_pb2.Ticket:
        async def read() -> ticket_pb2.Ticket | None:
            listed = await self.tickets.ListTickets(
                ticket_service_pb2.ListTicketsRequest(), metadata=METADATA
            )
            matching = [t for t in listed.tickets if t.conversation.conversation_id == conversation]
            return matching[0] if matching else None

        return await eventually(read, within=WITHIN)

    async def settled_escalation(self, ticket: str) -> E.Escalation:
        """The ticket's only escalation, once its effects are done."""

        async def read() -> E.Escalation | None:
            listed = await self.escalations.ListEscalations(
                escalation_service_pb2.ListEscalationsRequest(ticket=ticket), metadata=METADATA
            )
            assert len(listed.escalations) <= 1, listed
            if listed.escalations and listed.escalations[0].effects_state == E.EFFECTS_STATE_DONE:
                return listed.escalations[0]
            return None

        return await eventually(read, within=WITHIN)

    async def chatwoot_shows(
        self, conversation: int, assignee: int, priority: str
    ) -> dict[str, Any]:
        """The conversation in Chatwoot once it carries the assignee, the priority and a
        private note (the outbox delivers them in that order)."""

        async def read() -> dict[str, Any] | None:
            shown = self.sim.state().conversation(conversation)
            noted = any(m["private"] for m in shown["messages"])
            ready = shown["assignee_id"] == assignee and shown["priority"] == priority
            return shown if ready and noted else None

        return await eventually(read, within=WITHIN)


def notes(conversation: dict[str, Any]) -> list[str]:
    """The private notes of a conversation as the simulator shows it."""
    return [m["content"] for m in conversation["messages"] if m["private"]]

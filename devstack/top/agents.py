"""Agent load, per tenant: the escalation service's ListAgents, called as each tenant with
a token from the tenants file, and the policy's default capacity for agents without one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc

from common.config import Source, Tenant, TenantsConfig
from ticketing.escalation.v1 import agent_pb2, escalation_service_pb2, escalation_service_pb2_grpc

if TYPE_CHECKING:
    from ticketing.escalation.v1.escalation_service_pb2_grpc import EscalationServiceAsyncStub

PAGE_SIZE = 500  # ListAgents' largest page


@dataclass(frozen=True)
class AgentLoad:
    display_name: str
    availability: str  # online, busy, offline, unspecified
    active_tickets: int
    capacity: int  # the agent's own, else the policy's default
    removed_from_chatwoot: bool


@dataclass(frozen=True)
class TenantAgents:
    """A tenant's agents, busiest first, or why they could not be read (`error`)."""

    tenant: str
    agents: list[AgentLoad]
    error: str | None = None


def read_token(tenant: Tenant) -> str | None:
    """A token the file gives in clear (a `token_sha256` cannot be sent), an `api` one
    first: reading the directory is what a person's tool does."""
    tokens = sorted(tenant.api_tokens, key=lambda t: t.source is not Source.API)
    return next((t.token.get_secret_value() for t in tokens if t.token is not None), None)


def availability(value: int) -> str:
    name = agent_pb2.AgentAvailability.Name(value)  # type: ignore[arg-type]
    return name.removeprefix("AGENT_AVAILABILITY_").lower()


async def tenant_agents(
    stub: EscalationServiceAsyncStub, tenant: Tenant, call_seconds: float
) -> TenantAgents:
    token = read_token(tenant)
    if token is None:
        return TenantAgents(tenant.id, [], "no token in clear in the tenants file")
    metadata = (("authorization", f"Bearer {token}"),)
    try:
        policy = await stub.GetEscalationPolicy(
            escalation_service_pb2.GetEscalationPolicyRequest(name="escalationPolicy"),
            metadata=metadata,
            timeout=call_seconds,
        )
        listed = await stub.ListAgents(
            escalation_service_pb2.ListAgentsRequest(page_size=PAGE_SIZE),
            metadata=metadata,
            timeout=call_seconds,
        )
    except grpc.aio.AioRpcError as error:
        if error.code() is grpc.StatusCode.UNAVAILABLE:
            return TenantAgents(tenant.id, [], "down")
        return TenantAgents(tenant.id, [], f"{error.code().name}: {error.details()}")
    agents = [
        AgentLoad(
            display_name=agent.display_name or agent.name.removeprefix("agents/"),
            availability=availability(agent.availability),
            active_tickets=agent.active_tickets,
            capacity=agent.capacity or policy.default_agent_capacity,
            removed_from_chatwoot=agent.removed_from_chatwoot,
        )
        for agent in listed.agents
    ]
    agents.sort(key=lambda a: (-a.active_tickets, a.display_name))
    return TenantAgents(tenant.id, agents)


async def agent_load(
    target: str, tenants: TenantsConfig, call_seconds: float
) -> list[TenantAgents]:
    """Every tenant's agents, one after the other on one channel (a handful of tenants)."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = escalation_service_pb2_grpc.EscalationServiceStub(channel)
        return [await tenant_agents(stub, tenant, call_seconds) for tenant in tenants.tenants]

"""Agent selection, as a pure ordering; the adapter claims the first candidate whose
capacity still allows it, atomically.

Among online agents with room, those with every required skill; if none has them and the
level allows it, any online agent with room. Fewest active tickets first; among equals, the
one chosen least recently (never chosen counts as longest ago), which makes a round-robin.
Busy and offline agents are never chosen, nor agents Chatwoot no longer lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from escalation_service.domain.policy import Level

_NEVER = datetime.min.replace(tzinfo=UTC)


class Availability(StrEnum):
    ONLINE = "online"
    BUSY = "busy"
    OFFLINE = "offline"


@dataclass(frozen=True)
class AgentLoad:
    agent_id: str
    availability: Availability
    skills: frozenset[str]
    capacity: int
    active_tickets: int
    last_assign_time: datetime | None
    removed: bool = False

    @property
    def has_room(self) -> bool:
        return self.active_tickets < self.capacity

    @property
    def choosable(self) -> bool:
        return self.availability is Availability.ONLINE and not self.removed and self.has_room


def required_skills(
    level: Level, requested: Iterable[str], ticket_labels: Iterable[str], known: Iterable[str]
) -> frozenset[str]:
    """The level's skills, the caller's, and the ticket's labels that name a skill some agent
    has (a label like `vip` that is nobody's skill must not queue the ticket forever)."""
    known_skills = frozenset(known)
    from_labels = {label.lower() for label in ticket_labels} & known_skills
    return level.required_skills | frozenset(requested) | from_labels


def candidates(
    agents: Sequence[AgentLoad], skills: frozenset[str], level: Level
) -> list[AgentLoad]:
    """The agents to try, best first; empty when nobody can take the ticket now."""
    open_agents = [agent for agent in agents if agent.choosable]
    skilled = [agent for agent in open_agents if skills <= agent.skills]
    if not skilled and level.fall_back_to_any_agent:
        skilled = [agent for agent in open_agents if level.required_skills <= agent.skills]
    return sorted(skilled, key=_preference)


def _preference(agent: AgentLoad) -> tuple[int, datetime, str]:
    return (agent.active_tickets, agent.last_assign_time or _NEVER, agent.agent_id)

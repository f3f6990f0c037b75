"""The agent directory entry."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from escalation_service.domain.selection import AgentLoad, Availability


@dataclass(frozen=True)
class Agent:
    agent_id: str
    display_name: str
    email: str
    availability: Availability
    update_time: datetime
    skills: frozenset[str] = frozenset()
    capacity: int = 0  # 0: the policy's default
    active_tickets: int = 0
    last_assign_time: datetime | None = None
    removed_from_chatwoot: bool = False
    chatwoot_availability: Availability | None = None

    @property
    def name(self) -> str:
        return f"agents/{self.agent_id}"

    def effective_capacity(self, default: int) -> int:
        return self.capacity or default

    def load(self, default_capacity: int) -> AgentLoad:
        return AgentLoad(
            agent_id=self.agent_id,
            availability=self.availability,
            skills=self.skills,
            capacity=self.effective_capacity(default_capacity),
            active_tickets=self.active_tickets,
            last_assign_time=self.last_assign_time,
            removed=self.removed_from_chatwoot,
        )

    def with_changes(self, **changes: object) -> Agent:
        return replace(self, **changes)  # type: ignore[arg-type]

"""SLA policies: targets per metric for the tickets a policy matches.

A tenant's policies are tried in `position` order and the first whose conditions all hold
applies (an empty condition matches anything), as Zendesk and Freshdesk do. A policy sets a
target for any of three metrics, counted in business time when it names a calendar.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any

from common.errors import InvalidArgument, Violations
from common.etags import weak_etag
from escalation_service.domain.business_hours import BusinessCalendar
from escalation_service.domain.policy import Priority

MAX_TARGET = timedelta(days=365)
MAX_DISPLAY_NAME = 200
MAX_LEVELS = 5
DEFAULT_WARN_FRACTION = 0.8


class Metric(StrEnum):
    # Ticket created -> the first public reply by a person.
    FIRST_RESPONSE = "first_response"
    # A customer message after a reply -> the next public reply by a person.
    NEXT_RESPONSE = "next_response"
    # Ticket created -> resolved (a reopen resumes it).
    RESOLUTION = "resolution"


@dataclass(frozen=True)
class SlaPolicy:
    policy_id: str
    display_name: str
    # Lower first; the first matching policy applies.
    position: int
    targets: dict[Metric, timedelta]
    priorities: frozenset[Priority] = frozenset()
    inbox_ids: frozenset[int] = frozenset()
    # Any one of them on the ticket matches.
    labels: frozenset[str] = frozenset()
    # `business_calendars/{id}` by id; empty: the clocks run around the clock.
    calendar_id: str = ""
    # A warning fires when this fraction of a target is used.
    warn_fraction: float = DEFAULT_WARN_FRACTION
    # After a breach, each further level fires this long after the breach (rising).
    further_levels: tuple[timedelta, ...] = ()
    version: int = 1
    create_time: datetime | None = None
    update_time: datetime | None = None

    @property
    def name(self) -> str:
        return f"slaPolicies/{self.policy_id}"

    @property
    def etag(self) -> str:
        return weak_etag(self.version)

    def matches(self, priority: Priority, inbox_id: int, labels: Iterable[str]) -> bool:
        if self.priorities and priority not in self.priorities:
            return False
        if self.inbox_ids and inbox_id not in self.inbox_ids:
            return False
        return not self.labels or bool(self.labels & {label.lower() for label in labels})

    def with_changes(self, **changes: Any) -> SlaPolicy:
        return replace(self, **changes)


@dataclass(frozen=True)
class NamedCalendar:
    """A tenant's stored business calendar: the domain calendar plus its identity."""

    calendar_id: str
    display_name: str
    calendar: BusinessCalendar
    version: int = 1
    create_time: datetime | None = None
    update_time: datetime | None = None

    @property
    def name(self) -> str:
        return f"businessCalendars/{self.calendar_id}"

    @property
    def etag(self) -> str:
        return weak_etag(self.version)


def matching(
    policies: Sequence[SlaPolicy], priority: Priority, inbox_id: int, labels: Iterable[str]
) -> SlaPolicy | None:
    """The first policy, by position, whose conditions the ticket meets."""
    wanted = tuple(labels)
    for policy in sorted(policies, key=lambda p: (p.position, p.policy_id)):
        if policy.matches(priority, inbox_id, wanted):
            return policy
    return None


def validate(policy: SlaPolicy) -> None:
    """INVALID_ARGUMENT naming every bad field, or nothing."""
    problems = Violations()
    _check_display_name(problems, policy.display_name)
    if policy.position < 0:
        problems.add("position", "must not be negative")
    if not policy.targets:
        problems.add("targets", "set at least one of first_response, next_response, resolution")
    for metric, target in policy.targets.items():
        if target <= timedelta(0):
            problems.add(f"targets.{metric.value}", "must be positive")
        elif target > MAX_TARGET:
            problems.add(f"targets.{metric.value}", "must be at most 365 days")
    if not 0 < policy.warn_fraction < 1:
        problems.add("warn_fraction", "must be between 0 and 1, exclusive")
    if any(inbox <= 0 for inbox in policy.inbox_ids):
        problems.add("inbox_ids", "must be positive Chatwoot inbox ids")
    if any(not label.strip() for label in policy.labels):
        problems.add("labels", "must not be empty")
    levels = policy.further_levels
    if len(levels) > MAX_LEVELS:
        problems.add("further_levels", f"at most {MAX_LEVELS}")
    if any(delay <= timedelta(0) for delay in levels):
        problems.add("further_levels", "each delay must be positive")
    elif any(later <= earlier for earlier, later in pairwise(levels)):
        problems.add("further_levels", "each delay must be longer than the one before")
    problems.raise_if_any()


def validate_calendar(named: NamedCalendar) -> None:
    """INVALID_ARGUMENT naming every bad field: the display name, and the calendar's own."""
    problems = Violations()
    _check_display_name(problems, named.display_name)
    try:
        named.calendar.validate()
    except InvalidArgument as error:
        problems.items.extend(error.violations)
    problems.raise_if_any()


def _check_display_name(problems: Violations, display_name: str) -> None:
    if not display_name.strip():
        problems.add("display_name", "is required")
    elif len(display_name) > MAX_DISPLAY_NAME:
        problems.add("display_name", f"must be at most {MAX_DISPLAY_NAME} characters")

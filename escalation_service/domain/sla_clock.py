"""SLA clocks: how much of a ticket's target each metric has used, and what is due when.

One clock per ticket and metric. A clock counts business time while it runs, stands still
while the ticket waits on the customer or is snoozed, and stops when its metric is
fulfilled. It keeps a copy of what its policy said (target, calendar, warning fraction,
further levels) so that editing a policy does not rewrite the clocks already running;
only a re-match (`retarget`) moves them onto a policy's new values.

A running clock precomputes the instants it will warn and breach, and `next_fire_time`
is the earliest of those still pending, so a scheduler only has to ask for clocks whose
`next_fire_time` has passed and call `fire`. Everything here is pure: the caller passes
the calendar the clock names and the time.

`track` applies a ticket event to a ticket's clocks, as Zendesk does: solving a ticket
fulfils every metric, and a reopen resumes the resolution clock where it stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from escalation_service.domain.business_hours import (
    BusinessCalendar,
    add_business_time,
    business_time_between,
)
from escalation_service.domain.sla import Metric, SlaPolicy

_ZERO = timedelta(0)


class Phase(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class ClockState(StrEnum):
    """What the API shows: a breach outranks every phase, since it cannot be undone."""

    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"


def clock_state(phase: Phase, *, breached: bool) -> ClockState:
    if breached:
        return ClockState.BREACHED
    if phase is Phase.STOPPED:
        return ClockState.MET
    if phase is Phase.PAUSED:
        return ClockState.PAUSED
    return ClockState.RUNNING


class ClockRisk(StrEnum):
    """How an open (running or paused) clock stands: what an operator watching the desk
    needs, as the warning has fired or the breach has."""

    ON_TRACK = "on_track"
    WARNING = "warning"
    BREACHED = "breached"


def open_clock_risk(phase: Phase, *, warned: bool, breached: bool) -> ClockRisk | None:
    """None for a stopped clock: it is history, not risk."""
    if phase is Phase.STOPPED:
        return None
    if breached:
        return ClockRisk.BREACHED
    return ClockRisk.WARNING if warned else ClockRisk.ON_TRACK


class FireKind(StrEnum):
    WARNING = "warning"
    BREACH = "breach"
    LEVEL = "level"


@dataclass(frozen=True)
class Fired:
    """Something a clock reached: level 1 for the warning and the breach, 2 and up for
    the further levels after a breach."""

    ticket_id: str
    metric: Metric
    kind: FireKind
    level: int
    due_time: datetime


@dataclass
class SlaClock:
    ticket_id: str
    metric: Metric
    policy_id: str
    target: timedelta
    # `business_calendars/{id}` by id; empty: the clock runs around the clock.
    calendar_id: str
    warn_fraction: float
    # Wall-clock delays after the breach, one per further level (2, 3, ...).
    further_levels: tuple[timedelta, ...]
    start_time: datetime
    phase: Phase = Phase.RUNNING
    # Business time used before the current running stretch.
    consumed: timedelta = _ZERO
    running_since: datetime | None = None
    # While running: the instants the target and the warning fraction are used up (once
    # breached, due_time stays the breach_time).
    due_time: datetime | None = None
    warn_time: datetime | None = None
    warned: bool = False
    breached: bool = False
    breach_time: datetime | None = None
    # How many of `further_levels` have fired.
    further_fired: int = 0
    stop_time: datetime | None = None
    # The earliest pending fire; None when nothing can fire.
    next_fire_time: datetime | None = None

    @classmethod
    def start(
        cls,
        ticket_id: str,
        metric: Metric,
        policy: SlaPolicy,
        calendar: BusinessCalendar | None,
        now: datetime,
        *,
        paused: bool = False,
    ) -> SlaClock:
        """A new clock for `metric`, which `policy` must target; `calendar` is the one
        the policy names."""
        if metric not in policy.targets:
            raise ValueError(f"policy {policy.policy_id} sets no {metric.value} target")
        clock = cls(
            ticket_id=ticket_id,
            metric=metric,
            policy_id=policy.policy_id,
            target=policy.targets[metric],
            calendar_id=policy.calendar_id,
            warn_fraction=policy.warn_fraction,
            further_levels=policy.further_levels,
            start_time=now,
            phase=Phase.PAUSED if paused else Phase.RUNNING,
            running_since=None if paused else now,
        )
        clock._schedule(calendar)
        return clock

    @property
    def state(self) -> ClockState:
        return clock_state(self.phase, breached=self.breached)

    # Each operation below first fires what fell due before `now`: a scheduler that runs a
    # little late must not lose a warning or breach to a pause or a reply that came after
    # it was due. Each returns what it fired.

    def pause(self, calendar: BusinessCalendar | None, now: datetime) -> list[Fired]:
        fired = self.fire(now)
        if self.phase is Phase.RUNNING:
            self._bank(calendar, now)
            self.phase = Phase.PAUSED
            self.running_since = None
            self._schedule(calendar)
        return fired

    def resume(self, calendar: BusinessCalendar | None, now: datetime) -> list[Fired]:
        if self.phase is Phase.PAUSED:
            self.phase = Phase.RUNNING
            self.running_since = now
            self._schedule(calendar)
        return self.fire(now)

    def stop(self, calendar: BusinessCalendar | None, now: datetime) -> list[Fired]:
        """The metric is fulfilled (met, or fulfilled late if it breached)."""
        fired = self.fire(now)
        if self.phase is not Phase.STOPPED:
            self._bank(calendar, now)
            self.phase = Phase.STOPPED
            self.running_since = None
            self.stop_time = now
            self._schedule(calendar)
        return fired

    def restart(self, calendar: BusinessCalendar | None, now: datetime) -> list[Fired]:
        """Run a stopped clock again, keeping the time it used and whether it warned or
        breached: a reopened ticket has not got a fresh target."""
        if self.phase is Phase.STOPPED:
            self.phase = Phase.RUNNING
            self.running_since = now
            self.stop_time = None
            self._schedule(calendar)
        return self.fire(now)

    def retarget(
        self,
        calendar: BusinessCalendar | None,
        now: datetime,
        policy: SlaPolicy,
        new_calendar: BusinessCalendar | None,
    ) -> list[Fired]:
        """Move the clock onto a newly matched policy's values, keeping the time it used.

        `calendar` is the one the clock names now, which counts the time up to `now`;
        `new_calendar` the one `policy` names, which counts from `now` on. A target below
        the time used is due at once.
        """
        if self.metric not in policy.targets:
            raise ValueError(f"policy {policy.policy_id} sets no {self.metric.value} target")
        fired = self.fire(now)
        self._bank(calendar, now)
        self.policy_id = policy.policy_id
        self.target = policy.targets[self.metric]
        self.calendar_id = policy.calendar_id
        self.warn_fraction = policy.warn_fraction
        self.further_levels = policy.further_levels
        self._schedule(new_calendar)
        return fired + self.fire(now)

    def remaining(self, calendar: BusinessCalendar | None, now: datetime) -> timedelta:
        """Business time left before the breach; negative once overdue."""
        used = self.consumed
        if self.running_since is not None:
            used += business_time_between(calendar, self.running_since, now)
        return self.target - used

    def fire(self, now: datetime) -> list[Fired]:
        """What is due at `now` and has not fired yet, each once; a clock that is not
        running fires nothing.

        Needs no calendar: the due instants were worked out when the clock last changed.
        """
        if self.phase is not Phase.RUNNING:
            return []
        fired: list[Fired] = []
        if not self.breached:
            if self.due_time is not None and self.due_time <= now:
                # A warning that comes due with the breach adds nothing to it.
                self.warned = self.breached = True
                self.breach_time = self.due_time
                fired.append(self._fired(FireKind.BREACH, 1, self.due_time))
            elif not self.warned and self.warn_time is not None and self.warn_time <= now:
                self.warned = True
                fired.append(self._fired(FireKind.WARNING, 1, self.warn_time))
        while (level_time := self._next_level_time()) is not None and level_time <= now:
            self.further_fired += 1
            fired.append(self._fired(FireKind.LEVEL, self.further_fired + 1, level_time))
        self._update_next_fire()
        return fired

    def _fired(self, kind: FireKind, level: int, due: datetime) -> Fired:
        return Fired(self.ticket_id, self.metric, kind, level, due)

    def _bank(self, calendar: BusinessCalendar | None, now: datetime) -> None:
        if self.running_since is not None:
            self.consumed += business_time_between(calendar, self.running_since, now)
            self.running_since = now

    def _schedule(self, calendar: BusinessCalendar | None) -> None:
        if self.phase is Phase.RUNNING and self.running_since is not None:
            since = self.running_since
            due_in = self.target - self.consumed
            warn_in = self.target * self.warn_fraction - self.consumed
            # Once breached, the clock stays due at the breach however it runs after.
            self.due_time = self.breach_time or add_business_time(
                calendar, since, max(due_in, _ZERO)
            )
            self.warn_time = add_business_time(calendar, since, max(warn_in, _ZERO))
        else:
            self.due_time = self.warn_time = None
        self._update_next_fire()

    def _next_level_time(self) -> datetime | None:
        if self.breach_time is None or self.further_fired >= len(self.further_levels):
            return None
        return self.breach_time + self.further_levels[self.further_fired]

    def _update_next_fire(self) -> None:
        pending: list[datetime] = []
        if self.phase is Phase.RUNNING:
            if not self.breached:
                if not self.warned and self.warn_time is not None:
                    pending.append(self.warn_time)
                if self.due_time is not None:
                    pending.append(self.due_time)
            elif (level_time := self._next_level_time()) is not None:
                pending.append(level_time)
        self.next_fire_time = min(pending, default=None)


# --- how ticket events move a ticket's clocks ---------------------------------------------


class SlaEvent(StrEnum):
    CREATED = "created"
    CUSTOMER_MESSAGE = "customer_message"
    # A person's public reply; bot replies and private notes are not replies.
    AGENT_REPLY = "agent_reply"
    # Waiting on the customer, or snoozed, started or ended.
    PAUSED_CHANGED = "paused_changed"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    # Priority, inbox or labels changed: the caller passes the policy that now matches.
    RETARGETED = "retargeted"
    DELETED = "deleted"


@dataclass(frozen=True)
class Tracked:
    # Every clock the ticket has afterwards; a metric missing here lost its clock.
    clocks: dict[Metric, SlaClock]
    fired: list[Fired] = field(default_factory=list)


def track(
    clocks: Mapping[Metric, SlaClock],
    event: SlaEvent,
    *,
    ticket_id: str,
    policy: SlaPolicy | None,
    calendars: Mapping[str, BusinessCalendar],
    now: datetime,
    paused: bool,
    resolved: bool = False,
    replied: bool = False,
) -> Tracked:
    """A ticket's clocks after `event`, which happened at `now`.

    `policy` is the one matching the ticket now (None: none does); it starts new clocks.
    `calendars` holds, by id, the calendars the clocks and `policy` name; a missing id
    counts around the clock, so a deleted calendar makes clocks fire early, not never.
    `paused`: the ticket waits on the customer or is snoozed, after this event; every
    clock left running or paused is set to match. `resolved`: the ticket is resolved or
    closed. `replied`: a person has publicly replied at some time; the clocks tell that
    too, but only when the policy has a first or next response target.

    The clocks passed in are left as they were, so the caller can compare them with the
    result to see which changed.
    """
    after = {metric: replace(clock) for metric, clock in clocks.items()}
    if event is SlaEvent.DELETED:
        return Tracked({})
    moves = _Moves(after, ticket_id, calendars, now, paused)
    if event is SlaEvent.CREATED and policy is not None:
        for metric in (Metric.FIRST_RESPONSE, Metric.RESOLUTION):
            moves.start(metric, policy)
    elif event is SlaEvent.AGENT_REPLY:
        moves.stop(Metric.FIRST_RESPONSE, Metric.NEXT_RESPONSE)
    elif (
        event is SlaEvent.CUSTOMER_MESSAGE
        and policy is not None
        and Metric.NEXT_RESPONSE in policy.targets
    ):
        waiting = after.get(Metric.NEXT_RESPONSE)
        if _has_replied(after, replied) and (waiting is None or waiting.phase is Phase.STOPPED):
            # One clock per metric: the answered one makes way for this message's.
            after.pop(Metric.NEXT_RESPONSE, None)
            moves.start(Metric.NEXT_RESPONSE, policy)
    elif event is SlaEvent.RESOLVED:
        moves.stop(*after)
    elif event is SlaEvent.REOPENED and Metric.RESOLUTION in after:
        moves.fired += after[Metric.RESOLUTION].restart(moves.calendar(Metric.RESOLUTION), now)
    elif event is SlaEvent.RETARGETED:
        moves.retarget(policy, replied=_has_replied(after, replied), resolved=resolved)
    moves.match_pause()
    return Tracked(after, moves.fired)


def _has_replied(clocks: Mapping[Metric, SlaClock], replied: bool) -> bool:
    first = clocks.get(Metric.FIRST_RESPONSE)
    return (
        replied
        or Metric.NEXT_RESPONSE in clocks
        or (first is not None and first.phase is Phase.STOPPED)
    )


@dataclass
class _Moves:
    """The clocks `track` is changing, with what they need for it."""

    clocks: dict[Metric, SlaClock]
    ticket_id: str
    calendars: Mapping[str, BusinessCalendar]
    now: datetime
    paused: bool
    fired: list[Fired] = field(default_factory=list)

    def calendar(self, metric: Metric) -> BusinessCalendar | None:
        return self.calendars.get(self.clocks[metric].calendar_id)

    def start(self, metric: Metric, policy: SlaPolicy) -> None:
        """A clock for `metric` if the policy targets it and the ticket has none (a
        redelivered event starts nothing twice)."""
        if metric in policy.targets and metric not in self.clocks:
            calendar = self.calendars.get(policy.calendar_id)
            clock = SlaClock.start(
                self.ticket_id, metric, policy, calendar, self.now, paused=self.paused
            )
            self.clocks[metric] = clock
            self.fired += clock.fire(self.now)

    def stop(self, *metrics: Metric) -> None:
        for metric in metrics:
            if metric in self.clocks:
                self.fired += self.clocks[metric].stop(self.calendar(metric), self.now)

    def retarget(self, policy: SlaPolicy | None, *, replied: bool, resolved: bool) -> None:
        targets = policy.targets if policy is not None else {}
        for metric in [m for m in self.clocks if m not in targets]:
            del self.clocks[metric]
        if policy is None:
            return
        new_calendar = self.calendars.get(policy.calendar_id)
        for metric, clock in self.clocks.items():
            self.fired += clock.retarget(self.calendar(metric), self.now, policy, new_calendar)
        # Next response starts with the customer's next message, not here.
        if not replied and not resolved:
            self.start(Metric.FIRST_RESPONSE, policy)
        if not resolved:
            self.start(Metric.RESOLUTION, policy)

    def match_pause(self) -> None:
        for metric, clock in self.clocks.items():
            if self.paused and clock.phase is Phase.RUNNING:
                self.fired += clock.pause(self.calendar(metric), self.now)
            elif not self.paused and clock.phase is Phase.PAUSED:
                self.fired += clock.resume(self.calendar(metric), self.now)

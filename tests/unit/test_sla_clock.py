"""SLA clocks: warnings, breaches and further levels, pauses, reopens, re-matched
policies and business hours; and how ticket events move a ticket's clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from escalation_service.domain.business_hours import (
    BusinessCalendar,
    Weekday,
    WeeklyHours,
    business_time_between,
)
from escalation_service.domain.sla import Metric, SlaPolicy
from escalation_service.domain.sla_clock import (
    ClockState,
    Fired,
    FireKind,
    Phase,
    SlaClock,
    SlaEvent,
    Tracked,
    track,
)

BUDAPEST = ZoneInfo("Europe/Budapest")
# A Monday.
T0 = datetime(2026, 5, 18, 8, tzinfo=UTC)
TICKET = "tkt-2026-00042"
OFFICE = BusinessCalendar(
    "Europe/Budapest",
    tuple(WeeklyHours(day, 9 * 60, 17 * 60) for day in Weekday if day <= Weekday.FRIDAY),
)
CALENDARS = {"office": OFFICE}


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def policy(
    policy_id: str = "standard",
    *,
    first: float | None = 1,
    next_: float | None = 2,
    resolution: float | None = 8,
    calendar_id: str = "",
    levels: tuple[float, ...] = (),
) -> SlaPolicy:
    wanted = {
        Metric.FIRST_RESPONSE: first,
        Metric.NEXT_RESPONSE: next_,
        Metric.RESOLUTION: resolution,
    }
    return SlaPolicy(
        policy_id=policy_id,
        display_name=policy_id,
        position=0,
        targets={metric: hours(h) for metric, h in wanted.items() if h is not None},
        calendar_id=calendar_id,
        further_levels=tuple(hours(h) for h in levels),
    )


# First response 1 h, next response 2 h, resolution 8 h, around the clock.
STANDARD = policy()


def resolution_clock(
    target: float = 4, levels: tuple[float, ...] = (), *, now: datetime = T0
) -> SlaClock:
    chosen = policy(first=None, next_=None, resolution=target, levels=levels)
    return SlaClock.start(TICKET, Metric.RESOLUTION, chosen, None, now)


def fired(kind: FireKind, level: int, due: datetime) -> Fired:
    return Fired(TICKET, Metric.RESOLUTION, kind, level, due)


def apply(
    clocks: dict[Metric, SlaClock],
    event: SlaEvent,
    now: datetime,
    *,
    chosen: SlaPolicy | None = STANDARD,
    paused: bool = False,
    resolved: bool = False,
    replied: bool = False,
) -> Tracked:
    return track(
        clocks,
        event,
        ticket_id=TICKET,
        policy=chosen,
        calendars=CALENDARS,
        now=now,
        paused=paused,
        resolved=resolved,
        replied=replied,
    )


def created(chosen: SlaPolicy = STANDARD, *, paused: bool = False) -> dict[Metric, SlaClock]:
    return apply({}, SlaEvent.CREATED, T0, chosen=chosen, paused=paused).clocks


# --- warning, breach, further levels --------------------------------------------------------


def test_a_new_clock_warns_at_80_percent_and_is_due_at_the_target() -> None:
    clock = resolution_clock(4)

    assert clock.state is ClockState.RUNNING
    assert clock.warn_time == T0 + hours(3.2)
    assert clock.due_time == T0 + hours(4)
    assert clock.next_fire_time == clock.warn_time


def test_warning_then_breach_then_further_levels_each_fire_once() -> None:
    clock = resolution_clock(4, levels=(1, 3))

    assert clock.fire(T0 + hours(3)) == []
    assert clock.fire(T0 + hours(3.5)) == [fired(FireKind.WARNING, 1, T0 + hours(3.2))]
    assert clock.fire(T0 + hours(3.9)) == []
    assert clock.next_fire_time == T0 + hours(4)

    assert clock.fire(T0 + hours(4)) == [fired(FireKind.BREACH, 1, T0 + hours(4))]
    assert clock.fire(T0 + hours(4)) == []
    assert clock.state is ClockState.BREACHED
    assert clock.breach_time == T0 + hours(4)
    assert clock.next_fire_time == T0 + hours(5)

    assert clock.fire(T0 + hours(5)) == [fired(FireKind.LEVEL, 2, T0 + hours(5))]
    assert clock.fire(T0 + hours(6)) == []
    assert clock.fire(T0 + hours(7)) == [fired(FireKind.LEVEL, 3, T0 + hours(7))]
    assert clock.fire(T0 + hours(100)) == []
    assert clock.next_fire_time is None


def test_a_late_fire_emits_the_breach_and_every_due_level_but_no_warning() -> None:
    clock = resolution_clock(4, levels=(1, 3, 10))

    late = clock.fire(T0 + hours(8))

    assert late == [
        fired(FireKind.BREACH, 1, T0 + hours(4)),
        fired(FireKind.LEVEL, 2, T0 + hours(5)),
        fired(FireKind.LEVEL, 3, T0 + hours(7)),
    ]
    assert clock.warned
    assert clock.further_fired == 2
    assert clock.next_fire_time == T0 + hours(14)
    assert clock.fire(T0 + hours(8)) == []


def test_remaining_goes_negative_once_overdue() -> None:
    clock = resolution_clock(4)

    assert clock.remaining(None, T0 + hours(1)) == hours(3)
    assert clock.remaining(None, T0 + hours(4)) == timedelta(0)
    assert clock.remaining(None, T0 + hours(6)) == -hours(2)


# --- pause, stop, restart ---------------------------------------------------------------------


def test_a_pause_stops_time_and_moves_the_due_time() -> None:
    clocks = created()
    waiting = apply(clocks, SlaEvent.PAUSED_CHANGED, T0 + hours(2), paused=True).clocks
    resolution = waiting[Metric.RESOLUTION]

    assert resolution.state is ClockState.PAUSED
    assert resolution.consumed == hours(2)
    assert resolution.due_time is None
    assert resolution.next_fire_time is None
    assert resolution.remaining(None, T0 + hours(50)) == hours(6)
    assert resolution.fire(T0 + hours(50)) == []

    answered = apply(waiting, SlaEvent.PAUSED_CHANGED, T0 + hours(5)).clocks
    resolution = answered[Metric.RESOLUTION]

    assert resolution.state is ClockState.RUNNING
    assert resolution.due_time == T0 + hours(11)
    assert resolution.remaining(None, T0 + hours(6)) == hours(5)


def test_a_ticket_created_waiting_on_the_customer_starts_paused() -> None:
    clocks = created(paused=True)

    assert {clock.phase for clock in clocks.values()} == {Phase.PAUSED}
    assert all(clock.next_fire_time is None for clock in clocks.values())


def test_a_pause_after_the_due_time_still_fires_the_breach_the_scheduler_missed() -> None:
    clocks = created()

    result = apply(clocks, SlaEvent.PAUSED_CHANGED, T0 + hours(1.5), paused=True)

    assert result.fired == [
        Fired(TICKET, Metric.FIRST_RESPONSE, FireKind.BREACH, 1, T0 + hours(1)),
    ]
    assert result.clocks[Metric.FIRST_RESPONSE].state is ClockState.BREACHED


def test_a_reopen_after_resolve_continues_the_resolution_clock() -> None:
    clocks = created()
    solved = apply(clocks, SlaEvent.RESOLVED, T0 + hours(3), resolved=True).clocks

    assert solved[Metric.RESOLUTION].state is ClockState.MET
    assert solved[Metric.RESOLUTION].stop_time == T0 + hours(3)
    assert solved[Metric.RESOLUTION].next_fire_time is None

    reopened = apply(solved, SlaEvent.REOPENED, T0 + hours(10)).clocks
    resolution = reopened[Metric.RESOLUTION]

    assert resolution.state is ClockState.RUNNING
    assert resolution.consumed == hours(3)
    assert resolution.stop_time is None
    assert resolution.due_time == T0 + hours(15)
    # The solve fulfilled first response (late) and it stays so.
    assert reopened[Metric.FIRST_RESPONSE].phase is Phase.STOPPED


def test_a_reopen_keeps_an_earlier_breach() -> None:
    clock = resolution_clock(4)
    clock.stop(None, T0 + hours(5))

    assert clock.state is ClockState.BREACHED

    assert clock.restart(None, T0 + hours(6)) == []
    assert clock.state is ClockState.BREACHED
    assert clock.next_fire_time is None


def test_stopping_twice_keeps_the_first_stop() -> None:
    clock = resolution_clock(4)
    clock.stop(None, T0 + hours(1))
    clock.stop(None, T0 + hours(2))

    assert clock.stop_time == T0 + hours(1)
    assert clock.consumed == hours(1)


def test_nothing_is_pending_once_paused_stopped_or_all_fired() -> None:
    paused = resolution_clock(4)
    paused.pause(None, T0 + hours(1))
    stopped = resolution_clock(4)
    stopped.stop(None, T0 + hours(1))
    spent = resolution_clock(4, levels=(1,))
    spent.fire(T0 + hours(5))

    assert paused.next_fire_time is None
    assert stopped.next_fire_time is None
    assert spent.next_fire_time is None


def test_a_paused_clock_fires_no_further_levels_until_it_runs_again() -> None:
    clock = resolution_clock(4, levels=(1,))
    clock.fire(T0 + hours(4))
    clock.pause(None, T0 + hours(4.5))

    assert clock.fire(T0 + hours(6)) == []
    assert clock.resume(None, T0 + hours(6)) == [fired(FireKind.LEVEL, 2, T0 + hours(5))]


# --- re-matched policies ---------------------------------------------------------------------


def test_a_shorter_target_breaches_sooner() -> None:
    clocks = created()
    urgent = policy("urgent", resolution=4)

    result = apply(clocks, SlaEvent.RETARGETED, T0 + hours(0.5), chosen=urgent)
    resolution = result.clocks[Metric.RESOLUTION]

    assert result.fired == []
    assert resolution.policy_id == "urgent"
    assert resolution.due_time == T0 + hours(4)


def test_a_target_below_the_time_used_breaches_at_once() -> None:
    clocks = created(policy(first=None))
    later = T0 + hours(3)
    urgent = policy("urgent", first=None, resolution=2)

    result = apply(clocks, SlaEvent.RETARGETED, later, chosen=urgent)

    assert result.fired == [fired(FireKind.BREACH, 1, later)]
    assert result.clocks[Metric.RESOLUTION].state is ClockState.BREACHED


def test_retargeting_counts_past_time_in_the_old_calendar_and_the_rest_in_the_new() -> None:
    # Friday 18:00 Budapest: two hours used around the clock, two left in office hours.
    friday = datetime(2026, 5, 15, 16, tzinfo=BUDAPEST)
    clock = SlaClock.start(TICKET, Metric.RESOLUTION, policy(resolution=4), None, friday)
    office_policy = policy("office", resolution=4, calendar_id="office")

    clock.retarget(None, friday + hours(2), office_policy, OFFICE)

    assert clock.consumed == hours(2)
    assert clock.calendar_id == "office"
    assert clock.due_time == datetime(2026, 5, 18, 11, tzinfo=BUDAPEST)


def test_retargeting_drops_the_metrics_the_new_policy_leaves_out_and_starts_new_ones() -> None:
    clocks = created(policy(resolution=None))
    replied = apply(clocks, SlaEvent.AGENT_REPLY, T0 + hours(0.5)).clocks
    new_policy = policy("no-first", first=None, resolution=8)

    result = apply(replied, SlaEvent.RETARGETED, T0 + hours(1), chosen=new_policy).clocks

    assert set(result) == {Metric.RESOLUTION}
    assert result[Metric.RESOLUTION].start_time == T0 + hours(1)


def test_retargeting_starts_no_first_response_once_someone_replied() -> None:
    clocks = created(policy(first=None))
    before = apply(clocks, SlaEvent.RETARGETED, T0, chosen=policy(), replied=True).clocks
    fresh = apply(clocks, SlaEvent.RETARGETED, T0, chosen=policy()).clocks

    assert Metric.FIRST_RESPONSE not in before
    assert Metric.FIRST_RESPONSE in fresh


def test_retargeting_a_resolved_ticket_starts_no_resolution_clock() -> None:
    result = apply({}, SlaEvent.RETARGETED, T0, chosen=policy(first=None), resolved=True)

    assert result.clocks == {}


def test_no_matching_policy_or_a_deleted_ticket_drops_every_clock() -> None:
    clocks = created()
    unmatched = track(
        clocks,
        SlaEvent.RETARGETED,
        ticket_id=TICKET,
        policy=None,
        calendars=CALENDARS,
        now=T0,
        paused=False,
    )

    assert unmatched.clocks == {}
    assert apply(clocks, SlaEvent.DELETED, T0).clocks == {}


# --- the three metrics through a ticket's life -----------------------------------------------


def test_first_response_next_response_and_resolution_through_a_conversation() -> None:
    clocks = created()
    assert set(clocks) == {Metric.FIRST_RESPONSE, Metric.RESOLUTION}

    # Before the first reply, a second customer message starts nothing.
    clocks = apply(clocks, SlaEvent.CUSTOMER_MESSAGE, T0 + hours(0.2)).clocks
    assert set(clocks) == {Metric.FIRST_RESPONSE, Metric.RESOLUTION}

    clocks = apply(clocks, SlaEvent.AGENT_REPLY, T0 + hours(0.5)).clocks
    assert clocks[Metric.FIRST_RESPONSE].state is ClockState.MET

    clocks = apply(clocks, SlaEvent.CUSTOMER_MESSAGE, T0 + hours(1)).clocks
    next_response = clocks[Metric.NEXT_RESPONSE]
    assert next_response.state is ClockState.RUNNING
    assert next_response.due_time == T0 + hours(3)

    # A follow-up message keeps the clock already waiting for a reply.
    clocks = apply(clocks, SlaEvent.CUSTOMER_MESSAGE, T0 + hours(1.5)).clocks
    assert clocks[Metric.NEXT_RESPONSE].start_time == T0 + hours(1)

    clocks = apply(clocks, SlaEvent.AGENT_REPLY, T0 + hours(4)).clocks
    assert clocks[Metric.NEXT_RESPONSE].state is ClockState.BREACHED
    assert clocks[Metric.NEXT_RESPONSE].phase is Phase.STOPPED

    clocks = apply(clocks, SlaEvent.CUSTOMER_MESSAGE, T0 + hours(5)).clocks
    assert clocks[Metric.NEXT_RESPONSE].state is ClockState.RUNNING
    assert clocks[Metric.NEXT_RESPONSE].start_time == T0 + hours(5)

    clocks = apply(clocks, SlaEvent.RESOLVED, T0 + hours(6), resolved=True).clocks
    assert {metric: clock.state for metric, clock in clocks.items()} == {
        Metric.FIRST_RESPONSE: ClockState.MET,
        Metric.NEXT_RESPONSE: ClockState.MET,
        Metric.RESOLUTION: ClockState.MET,
    }


def test_a_policy_without_first_response_starts_next_response_when_told_of_a_reply() -> None:
    clocks = created(policy(first=None))

    silent = apply(clocks, SlaEvent.CUSTOMER_MESSAGE, T0 + hours(1), chosen=policy(first=None))
    told = apply(
        clocks, SlaEvent.CUSTOMER_MESSAGE, T0 + hours(1), chosen=policy(first=None), replied=True
    )

    assert Metric.NEXT_RESPONSE not in silent.clocks
    assert Metric.NEXT_RESPONSE in told.clocks


def test_no_policy_starts_no_clocks_and_a_redelivered_create_restarts_none() -> None:
    assert apply({}, SlaEvent.CREATED, T0, chosen=None).clocks == {}

    clocks = created()
    again = apply(clocks, SlaEvent.CREATED, T0 + hours(1)).clocks

    assert again == clocks


def test_track_leaves_the_clocks_it_was_given_unchanged() -> None:
    clocks = created()
    before = {metric: repr(clock) for metric, clock in clocks.items()}

    apply(clocks, SlaEvent.RESOLVED, T0 + hours(1), resolved=True)

    assert {metric: repr(clock) for metric, clock in clocks.items()} == before


# --- business hours --------------------------------------------------------------------------


def test_two_hours_from_friday_16_00_in_budapest_are_due_monday_10_00() -> None:
    friday = datetime(2026, 5, 15, 16, tzinfo=BUDAPEST)
    office_policy = policy(resolution=2, calendar_id="office")

    clock = SlaClock.start(TICKET, Metric.RESOLUTION, office_policy, OFFICE, friday)

    assert clock.due_time == datetime(2026, 5, 18, 10, tzinfo=BUDAPEST)
    assert clock.warn_time == datetime(2026, 5, 18, 9, 36, tzinfo=BUDAPEST)
    assert clock.remaining(OFFICE, datetime(2026, 5, 17, 12, tzinfo=BUDAPEST)) == hours(1)


def test_track_counts_in_the_calendar_the_policy_names() -> None:
    friday = datetime(2026, 5, 15, 16, tzinfo=BUDAPEST)
    office_policy = policy(first=2, calendar_id="office")

    clocks = apply({}, SlaEvent.CREATED, friday, chosen=office_policy).clocks

    assert clocks[Metric.FIRST_RESPONSE].due_time == datetime(2026, 5, 18, 10, tzinfo=BUDAPEST)


# --- properties -------------------------------------------------------------------------------

minutes = st.integers(min_value=0, max_value=14 * 24 * 60).map(lambda m: timedelta(minutes=m))


@given(minutes, minutes)
def test_a_pause_never_brings_the_due_time_forward(pause_at: timedelta, length: timedelta) -> None:
    plain = resolution_clock(8)
    paused = resolution_clock(8)

    paused.pause(None, T0 + pause_at)
    paused.resume(None, T0 + pause_at + length)

    assert paused.due_time is not None
    assert plain.due_time is not None
    assert paused.due_time >= plain.due_time
    if pause_at < hours(8):
        assert paused.due_time == plain.due_time + length


@given(minutes, minutes)
def test_banking_business_time_never_moves_the_due_time(a: timedelta, b: timedelta) -> None:
    office_policy = policy(resolution=40, calendar_id="office")
    clock = SlaClock.start(TICKET, Metric.RESOLUTION, office_policy, OFFICE, T0)
    due = clock.due_time
    assert due is not None
    earlier, later = sorted((T0 + a, T0 + b))

    # A zero-length pause banks the time used so far and counts on from there.
    for at in (earlier, later):
        clock.pause(OFFICE, at)
        clock.resume(OFFICE, at)

    assert clock.due_time == due
    if later <= due:
        assert clock.remaining(OFFICE, later) == business_time_between(OFFICE, later, due)

"""Business-hours calendars: validation, and business time across weekends, holidays and
clock changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.errors import InvalidArgument
from escalation_service.domain.business_hours import (
    BusinessCalendar,
    CalendarNeverOpens,
    Weekday,
    WeeklyHours,
    add_business_time,
    business_time_between,
    is_open,
    next_open,
)

BUDAPEST = ZoneInfo("Europe/Budapest")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
WORKDAYS = (Weekday.MONDAY, Weekday.TUESDAY, Weekday.WEDNESDAY, Weekday.THURSDAY, Weekday.FRIDAY)


def hours(day: int, start: str, end: str) -> WeeklyHours:
    return WeeklyHours(day, _minutes(start), _minutes(end))


def _minutes(clock: str) -> int:
    hh, mm = clock.split(":")
    return int(hh) * 60 + int(mm)


def office(
    zone: str = "Europe/Budapest",
    *spans: tuple[str, str],
    holidays: frozenset[date] = frozenset(),
) -> BusinessCalendar:
    """Open Monday to Friday, 9-17 unless `spans` say otherwise."""
    spans = spans or (("09:00", "17:00"),)
    return BusinessCalendar(
        zone, tuple(hours(day, start, end) for day in WORKDAYS for start, end in spans), holidays
    )


def local(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone)


def violations(calendar: BusinessCalendar) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as caught:
        calendar.validate()
    return {v.field: v.description for v in caught.value.violations}


# --- weekends, holidays, split days -------------------------------------------------------


@pytest.mark.parametrize("zone", [BUDAPEST, SAO_PAULO])
def test_four_hours_from_friday_afternoon_lands_on_monday_morning(zone: ZoneInfo) -> None:
    friday = local(zone, 2026, 5, 15, 15)

    due = add_business_time(office(str(zone)), friday, timedelta(hours=4))

    assert due == local(zone, 2026, 5, 18, 11)
    assert due.tzinfo is UTC


def test_a_monday_holiday_pushes_the_target_to_tuesday() -> None:
    calendar = office(holidays=frozenset({date(2026, 5, 18)}))

    due = add_business_time(calendar, local(BUDAPEST, 2026, 5, 15, 15), timedelta(hours=4))

    assert due == local(BUDAPEST, 2026, 5, 19, 11)


def test_business_time_between_skips_the_weekend() -> None:
    elapsed = business_time_between(
        office(), local(BUDAPEST, 2026, 5, 15, 15), local(BUDAPEST, 2026, 5, 18, 11)
    )

    assert elapsed == timedelta(hours=4)


def test_business_time_between_is_zero_when_end_is_not_after_start() -> None:
    start = local(BUDAPEST, 2026, 5, 18, 10)

    assert business_time_between(office(), start, start) == timedelta(0)
    assert business_time_between(office(), start, start - timedelta(hours=1)) == timedelta(0)


def test_lunch_break_is_not_counted() -> None:
    calendar = office("Europe/Budapest", ("09:00", "12:00"), ("13:00", "17:00"))

    due = add_business_time(calendar, local(BUDAPEST, 2026, 5, 18, 11), timedelta(hours=2))

    assert due == local(BUDAPEST, 2026, 5, 18, 14)


def test_counting_starting_at_lunch_begins_after_lunch() -> None:
    calendar = office("Europe/Budapest", ("09:00", "12:00"), ("13:00", "17:00"))

    due = add_business_time(calendar, local(BUDAPEST, 2026, 5, 18, 12, 30), timedelta(hours=1))

    assert due == local(BUDAPEST, 2026, 5, 18, 14)


@pytest.mark.parametrize(
    ("start", "due"),
    [
        pytest.param((2026, 5, 18, 10), (2026, 5, 18, 11), id="inside hours"),
        pytest.param((2026, 5, 18, 7), (2026, 5, 18, 10), id="before opening"),
        pytest.param((2026, 5, 18, 18), (2026, 5, 19, 10), id="after closing"),
        pytest.param((2026, 5, 18, 16, 30), (2026, 5, 19, 9, 30), id="across closing"),
        pytest.param((2026, 5, 16, 12), (2026, 5, 18, 10), id="on a saturday"),
    ],
)
def test_one_business_hour_from(start: tuple[int, ...], due: tuple[int, ...]) -> None:
    result = add_business_time(office(), local(BUDAPEST, *start), timedelta(hours=1))

    assert result == local(BUDAPEST, *due)


def test_a_target_that_ends_exactly_at_closing_is_the_closing_time() -> None:
    due = add_business_time(office(), local(BUDAPEST, 2026, 5, 18, 15), timedelta(hours=2))

    assert due == local(BUDAPEST, 2026, 5, 18, 17)


def test_zero_duration_leaves_the_start_even_outside_hours() -> None:
    saturday = local(BUDAPEST, 2026, 5, 16, 12)

    assert add_business_time(office(), saturday, timedelta(0)) == saturday


def test_long_durations_count_whole_weeks() -> None:
    start = local(BUDAPEST, 2026, 5, 18, 9)

    due = add_business_time(office(), start, timedelta(hours=8 * 5 * 52))

    assert due == local(BUDAPEST, 2027, 5, 14, 17)


def test_touching_intervals_count_as_one() -> None:
    calendar = office("Europe/Budapest", ("09:00", "12:00"), ("12:00", "17:00"))
    calendar.validate()

    due = add_business_time(calendar, local(BUDAPEST, 2026, 5, 18, 11), timedelta(hours=2))

    assert due == local(BUDAPEST, 2026, 5, 18, 13)


def test_no_calendar_means_the_clock_always_runs() -> None:
    saturday = local(BUDAPEST, 2026, 5, 16, 12)

    assert add_business_time(None, saturday, timedelta(hours=4)) == saturday + timedelta(hours=4)
    assert business_time_between(None, saturday, saturday + timedelta(days=2)) == timedelta(2)
    assert is_open(None, saturday)
    assert next_open(None, saturday) == saturday


def test_an_always_open_calendar_still_closes_on_holidays() -> None:
    calendar = BusinessCalendar.always_open("Europe/Budapest", frozenset({date(2026, 12, 25)}))
    calendar.validate()

    due = add_business_time(calendar, local(BUDAPEST, 2026, 12, 24, 23), timedelta(hours=2))

    assert due == local(BUDAPEST, 2026, 12, 26, 1)


# --- is_open, next_open ----------------------------------------------------------------------


def test_opening_time_is_open_and_closing_time_is_not() -> None:
    assert is_open(office(), local(BUDAPEST, 2026, 5, 18, 9))
    assert not is_open(office(), local(BUDAPEST, 2026, 5, 18, 17))


def test_next_open_is_the_instant_itself_during_hours() -> None:
    at = local(BUDAPEST, 2026, 5, 18, 10, 15)

    assert next_open(office(), at) == at


def test_next_open_after_friday_closing_is_monday_opening() -> None:
    assert next_open(office(), local(BUDAPEST, 2026, 5, 15, 17)) == local(BUDAPEST, 2026, 5, 18, 9)


# --- clock changes ---------------------------------------------------------------------------


def sundays(*spans: tuple[str, str], zone: str = "Europe/Budapest") -> BusinessCalendar:
    return BusinessCalendar(zone, tuple(hours(Weekday.SUNDAY, s, e) for s, e in spans))


def sunday_total(calendar: BusinessCalendar, sunday: date) -> timedelta:
    zone = ZoneInfo(calendar.time_zone)
    return business_time_between(
        calendar,
        datetime.combine(sunday - timedelta(days=1), time(), zone),
        datetime.combine(sunday + timedelta(days=1), time(), zone),
    )


@pytest.mark.parametrize(
    ("sunday", "length"),
    [
        pytest.param(date(2026, 3, 22), timedelta(hours=24), id="ordinary"),
        pytest.param(date(2026, 3, 29), timedelta(hours=23), id="spring forward"),
        pytest.param(date(2026, 10, 25), timedelta(hours=25), id="fall back"),
    ],
)
def test_a_whole_day_lasts_as_long_as_the_clock_says(sunday: date, length: timedelta) -> None:
    assert sunday_total(sundays(("00:00", "24:00")), sunday) == length


@pytest.mark.parametrize("sunday", [date(2026, 3, 29), date(2026, 10, 25)])
def test_office_hours_on_a_clock_change_day_are_still_eight_hours(sunday: date) -> None:
    assert sunday_total(sundays(("09:00", "17:00")), sunday) == timedelta(hours=8)


def test_hours_inside_the_spring_forward_gap_never_open() -> None:
    assert sunday_total(sundays(("02:00", "03:00")), date(2026, 3, 29)) == timedelta(0)


def test_hours_reaching_into_the_gap_count_only_the_hours_that_happen() -> None:
    assert sunday_total(sundays(("02:30", "04:00")), date(2026, 3, 29)) == timedelta(hours=1)


@pytest.mark.parametrize(
    ("start", "end", "length"),
    [
        pytest.param("01:00", "02:00", timedelta(hours=1), id="before the repeat"),
        pytest.param("02:00", "03:00", timedelta(hours=2), id="the repeated hour twice"),
        pytest.param("02:30", "03:00", timedelta(hours=1, minutes=30), id="open at the jump"),
        pytest.param("02:00", "02:30", timedelta(minutes=30), id="closed by the jump"),
        pytest.param("03:00", "04:00", timedelta(hours=1), id="after the repeat"),
    ],
)
def test_the_repeated_hour_counts_with_the_interval_open_when_the_clock_goes_back(
    start: str, end: str, length: timedelta
) -> None:
    assert sunday_total(sundays((start, end)), date(2026, 10, 25)) == length


def test_four_hours_from_friday_across_spring_forward_are_wall_clock_hours() -> None:
    due = add_business_time(office(), local(BUDAPEST, 2026, 3, 27, 15), timedelta(hours=4))

    assert due == local(BUDAPEST, 2026, 3, 30, 11)
    # Naive UTC arithmetic would be an hour late: Monday 11:00 is now UTC+2.
    assert due == datetime(2026, 3, 30, 9, tzinfo=UTC)


def test_a_midnight_that_never_happened_still_opens_the_day() -> None:
    # Brazil's last spring-forward: 2018-11-04 went from 23:59:59 straight to 01:00.
    calendar = sundays(("00:00", "24:00"), zone="America/Sao_Paulo")

    assert next_open(calendar, local(SAO_PAULO, 2018, 11, 3, 12)) == datetime(
        2018, 11, 4, 3, tzinfo=UTC
    )
    assert sunday_total(calendar, date(2018, 11, 4)) == timedelta(hours=23)


def test_a_midnight_fall_back_makes_the_day_before_25_hours() -> None:
    # 2019-02-17 00:00 went back to 2019-02-16 23:00: Saturday lasted 25 hours.
    calendar = BusinessCalendar("America/Sao_Paulo", (hours(Weekday.SATURDAY, "00:00", "24:00"),))

    elapsed = business_time_between(
        calendar, local(SAO_PAULO, 2019, 2, 15, 12), local(SAO_PAULO, 2019, 2, 18, 12)
    )

    assert elapsed == timedelta(hours=25)


def test_always_open_counts_real_time_across_a_day_the_zone_skipped() -> None:
    # Samoa went from Thursday 2011-12-29 straight to Saturday 2011-12-31.
    calendar = BusinessCalendar.always_open("Pacific/Apia")
    thursday = datetime(2011, 12, 29, 12, tzinfo=ZoneInfo("Pacific/Apia"))

    assert business_time_between(calendar, thursday, thursday + timedelta(1)) == timedelta(1)


def test_hours_on_a_day_the_zone_skipped_never_open() -> None:
    fridays = BusinessCalendar("Pacific/Apia", (hours(Weekday.FRIDAY, "00:00", "24:00"),))
    thursday = datetime(2011, 12, 29, tzinfo=ZoneInfo("Pacific/Apia"))

    assert business_time_between(fridays, thursday, thursday + timedelta(3)) == timedelta(0)


# --- validation ------------------------------------------------------------------------------


def test_a_working_week_is_valid() -> None:
    office().validate()
    office("America/Sao_Paulo", ("00:00", "12:00"), ("13:00", "24:00")).validate()


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "europe/budapest", "../etc/passwd"])
def test_an_unknown_time_zone_is_named(zone: str) -> None:
    assert "is not an IANA time zone" in violations(office(zone))["time_zone"]


@pytest.mark.parametrize("zone", ["localtime", "right/Europe/Budapest", "posix/UTC"])
def test_system_files_that_are_not_iana_names_are_refused(zone: str) -> None:
    assert "time_zone" in violations(office(zone))


def test_a_missing_time_zone_is_required() -> None:
    assert violations(office(""))["time_zone"].startswith("required")


def test_an_interval_that_ends_before_it_starts_is_named() -> None:
    calendar = BusinessCalendar("UTC", (hours(1, "09:00", "17:00"), hours(2, "22:00", "02:00")))

    assert "two entries" in violations(calendar)["weekly_hours[1].end_minute"]


def test_an_empty_interval_is_named() -> None:
    calendar = BusinessCalendar("UTC", (hours(1, "09:00", "09:00"),))

    assert set(violations(calendar)) == {"weekly_hours[0].end_minute"}


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        pytest.param(WeeklyHours(0, 540, 1020), "weekly_hours[0].day_of_week", id="day 0"),
        pytest.param(WeeklyHours(8, 540, 1020), "weekly_hours[0].day_of_week", id="day 8"),
        pytest.param(WeeklyHours(1, -1, 1020), "weekly_hours[0].start_minute", id="negative start"),
        pytest.param(
            WeeklyHours(1, 1440, 1440), "weekly_hours[0].start_minute", id="start at 24:00"
        ),
        pytest.param(WeeklyHours(1, 540, 1441), "weekly_hours[0].end_minute", id="end past 24:00"),
    ],
)
def test_out_of_range_fields_are_named(entry: WeeklyHours, field: str) -> None:
    assert field in violations(BusinessCalendar("UTC", (entry,)))


def test_overlapping_intervals_name_the_weekday() -> None:
    calendar = BusinessCalendar(
        "UTC",
        (hours(1, "09:00", "17:00"), hours(2, "09:00", "12:00"), hours(2, "11:00", "17:00")),
    )

    assert violations(calendar) == {
        "weekly_hours[2]": "overlaps weekly_hours[1] on Tuesday",
    }


def test_an_interval_inside_a_longer_one_overlaps_it() -> None:
    calendar = BusinessCalendar(
        "UTC",
        (hours(3, "08:00", "20:00"), hours(3, "09:00", "10:00"), hours(3, "12:00", "13:00")),
    )

    assert set(violations(calendar)) == {"weekly_hours[1]", "weekly_hours[2]"}


def test_same_hours_on_different_days_do_not_overlap() -> None:
    BusinessCalendar("UTC", (hours(1, "09:00", "17:00"), hours(2, "09:00", "17:00"))).validate()


def test_a_calendar_with_no_hours_is_refused() -> None:
    assert "weekly_hours" in violations(BusinessCalendar("UTC", ()))


def test_every_bad_field_is_reported_at_once() -> None:
    calendar = BusinessCalendar("Nowhere/Special", (hours(9, "10:00", "09:00"),))

    assert set(violations(calendar)) == {
        "time_zone",
        "weekly_hours[0].day_of_week",
        "weekly_hours[0].end_minute",
    }


def test_a_calendar_that_never_opens_raises_instead_of_looping() -> None:
    never = BusinessCalendar("UTC", ())

    with pytest.raises(CalendarNeverOpens):
        add_business_time(never, datetime(2026, 5, 18, tzinfo=UTC), timedelta(hours=1))


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_time(office(), datetime(2026, 5, 18, 9), timedelta(hours=1))


def test_negative_durations_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_business_time(office(), local(BUDAPEST, 2026, 5, 18, 9), timedelta(hours=-1))


# --- properties ------------------------------------------------------------------------------


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# Zones whose clocks change at 02:00, at midnight, by half an hour, or skip a whole day,
# with instants of such changes: starts, holidays and hours cluster around them, which is
# where the edge cases live.
CLOCK_CHANGES = {
    "UTC": (utc(2026, 1, 1),),
    "Europe/Budapest": (utc(2026, 3, 29, 1), utc(2026, 10, 25, 1)),
    "America/Sao_Paulo": (utc(2018, 11, 4, 3), utc(2019, 2, 17, 2)),
    "America/Santiago": (utc(2026, 4, 5, 3), utc(2026, 9, 6, 4)),
    "Australia/Lord_Howe": (utc(2026, 4, 4, 15), utc(2026, 10, 3, 15, 30)),
    "Pacific/Apia": (utc(2011, 12, 30, 10),),
}
EDGE_MINUTES = (0, 30, 60, 90, 120, 150, 180, 210, 1380, 1410, 1440)
boundaries = st.integers(0, 1440) | st.sampled_from(EDGE_MINUTES)
durations = st.timedeltas(timedelta(0), timedelta(days=20))


@dataclass(frozen=True)
class Scenario:
    calendar: BusinessCalendar
    start: datetime
    clock_change: datetime


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """A valid calendar, one of its zone's clock changes, and a start near it (or anywhere)."""
    zone = draw(st.sampled_from(sorted(CLOCK_CHANGES)))
    change = draw(st.sampled_from(CLOCK_CHANGES[zone]))
    entries: list[WeeklyHours] = []
    for day in Weekday:
        cuts = sorted(draw(st.sets(boundaries, max_size=6)))
        entries += [WeeklyHours(day, s, e) for s, e in zip(cuts[::2], cuts[1::2], strict=False)]
    if not entries:
        entries.append(WeeklyHours(draw(st.sampled_from(Weekday)), 0, 1440))
    near = change.astimezone(ZoneInfo(zone)).date()
    holidays = draw(st.frozensets(st.dates(near - timedelta(3), near + timedelta(3)), max_size=4))
    calendar = BusinessCalendar(zone, tuple(entries), holidays)
    calendar.validate()
    start = draw(
        st.timedeltas(timedelta(hours=-3), timedelta(hours=3)).map(lambda d: change + d)
        | st.timedeltas(timedelta(days=-2), timedelta(days=2)).map(lambda d: change + d)
        | st.datetimes(datetime(2011, 12, 1), datetime(2030, 12, 31), timezones=st.just(UTC))
    )
    return Scenario(calendar, start, change)


PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


@PROPERTY_SETTINGS
@given(scenarios(), durations)
def test_business_time_up_to_the_target_is_the_duration(
    scenario: Scenario, duration: timedelta
) -> None:
    calendar, start = scenario.calendar, scenario.start

    due = add_business_time(calendar, start, duration)

    assert business_time_between(calendar, start, due) == duration


@PROPERTY_SETTINGS
@given(scenarios(), durations, durations)
def test_a_longer_duration_never_gives_an_earlier_target(
    scenario: Scenario, a: timedelta, b: timedelta
) -> None:
    calendar, start = scenario.calendar, scenario.start
    shorter, longer = sorted((a, b))

    assert add_business_time(calendar, start, shorter) <= add_business_time(calendar, start, longer)


@PROPERTY_SETTINGS
@given(scenarios(), durations, durations)
def test_business_time_adds_up_over_consecutive_stretches(
    scenario: Scenario, a: timedelta, b: timedelta
) -> None:
    calendar, start = scenario.calendar, scenario.start
    middle, end = start + a, start + a + b

    assert business_time_between(calendar, start, middle) + business_time_between(
        calendar, middle, end
    ) == business_time_between(calendar, start, end)


@PROPERTY_SETTINGS
@given(scenarios())
def test_next_open_is_open_and_nothing_before_it_is(
    scenario: Scenario,
) -> None:
    calendar, at = scenario.calendar, scenario.start

    opens = next_open(calendar, at)

    assert opens >= at
    assert is_open(calendar, opens)
    assert business_time_between(calendar, at, opens) == timedelta(0)


@PROPERTY_SETTINGS
@given(st.sampled_from(sorted(CLOCK_CHANGES)), scenarios(), durations)
def test_an_always_open_calendar_counts_real_time(
    zone: str, scenario: Scenario, duration: timedelta
) -> None:
    start = scenario.start
    calendar = BusinessCalendar.always_open(zone)

    assert business_time_between(calendar, start, start + duration) == duration


def clock_reads_open(calendar: BusinessCalendar, at: datetime) -> bool | None:
    """Whether the local wall clock shows an open hour at `at`; None in the second reading
    of a repeated hour, which belongs to whichever interval was open when the clock went
    back rather than to the time it shows (see the module's DST notes)."""
    wall = at.astimezone(ZoneInfo(calendar.time_zone))
    if wall.fold:
        return None
    minute = wall.hour * 60 + wall.minute
    return wall.date() not in calendar.holidays and any(
        h.day_of_week == wall.isoweekday() and h.start_minute <= minute < h.end_minute
        for h in calendar.weekly_hours
    )


@PROPERTY_SETTINGS
@given(scenarios())
def test_open_means_the_local_clock_reads_an_open_hour(scenario: Scenario) -> None:
    calendar, at = scenario.calendar, scenario.start
    expected = clock_reads_open(calendar, at)

    assert expected is None or is_open(calendar, at) == expected


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_open_means_an_open_hour_minute_by_minute_around_a_clock_change(
    scenario: Scenario,
) -> None:
    calendar = scenario.calendar
    for minute in range(-150, 150):
        at = scenario.clock_change + timedelta(minutes=minute)
        expected = clock_reads_open(calendar, at)

        assert expected is None or is_open(calendar, at) == expected, at

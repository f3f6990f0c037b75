"""Business-hours calendars: the hours in which an SLA clock runs.

A calendar names one IANA time zone, the local wall-clock hours each ISO weekday is open,
and local dates that are holidays (closed all day). An SLA clock counts only the real,
elapsed time that falls in open hours; `None` in place of a calendar means the clock runs
all the time.

Hours are minutes since local midnight, `end` exclusive, so a whole day is 0-1440 (24:00).
Hours that run past midnight are two entries, one on each day: that keeps every interval
on a single local date, which is what holidays close.

Daylight saving time: hours are wall-clock hours, so 9:00-17:00 is 8 real hours whenever
no clock change falls inside it, and a 00:00-24:00 day is 23 or 25 real hours on the days
the clocks change. Each boundary is the first instant the local clock reads it:

- a boundary the clock skips (the spring-forward gap) is the instant of the jump, so hours
  wholly inside the gap never open and 02:30-04:00 across a 02:00-03:00 gap is one hour;
- a boundary the clock reads twice (the fall-back overlap) is its first reading, so the
  repeated stretch counts with the interval that was open when the clock went back:
  02:00-03:00 on that night is two real hours, 03:00-04:00 one.

The same rule holds for zones whose clocks change at midnight, where a local midnight may
never happen or happen twice. Because each boundary maps to a single instant and the
mapping never runs backwards, every instant belongs to at most one interval and
consecutive intervals (Monday 0-1440, Tuesday 0-1440) leave no seam.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from common.errors import FailedPrecondition, Violations, excerpt

MINUTES_PER_DAY = 24 * 60
MAX_WEEKLY_HOURS = 100
MAX_HOLIDAYS = 1_000

# Names that load from the system's zone directory without being IANA zone names: the
# host's own setting, which would change meaning from machine to machine, and the posix/
# and right/ copies of the database (right/ counts leap seconds, skewing every instant).
_HOST_ZONES = frozenset({"localtime", "posixrules"})
_COPY_PREFIXES = ("posix/", "right/")


class Weekday(IntEnum):
    """ISO weekday numbers, as `date.isoweekday()` and google.type.DayOfWeek use them."""

    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7


@dataclass(frozen=True)
class WeeklyHours:
    """Open on `day_of_week` (1-7, see Weekday) from `start_minute` up to `end_minute`.

    Both count minutes since local midnight; `end_minute` is exclusive and may be 1440.
    """

    day_of_week: int
    start_minute: int
    end_minute: int


class CalendarNeverOpens(FailedPrecondition):
    """The calendar stayed closed longer than any calendar that passes `validate` can."""

    reason = "CALENDAR_NEVER_OPENS"


@dataclass(frozen=True)
class BusinessCalendar:
    time_zone: str
    weekly_hours: tuple[WeeklyHours, ...]
    holidays: frozenset[date] = frozenset()

    @classmethod
    def always_open(
        cls, time_zone: str = "UTC", holidays: frozenset[date] = frozenset()
    ) -> BusinessCalendar:
        """Open around the clock every day, except on `holidays` (local dates)."""
        return cls(
            time_zone,
            tuple(WeeklyHours(day, 0, MINUTES_PER_DAY) for day in Weekday),
            holidays,
        )

    def validate(self) -> None:
        """Raise InvalidArgument naming every bad field (paths as in the proto)."""
        problems = Violations()
        _check_time_zone(problems, self.time_zone)
        if not self.weekly_hours:
            problems.add("weekly_hours", "needs at least one open interval")
        elif len(self.weekly_hours) > MAX_WEEKLY_HOURS:
            problems.add("weekly_hours", f"at most {MAX_WEEKLY_HOURS} intervals")
        _check_weekly_hours(problems, self.weekly_hours)
        if len(self.holidays) > MAX_HOLIDAYS:
            problems.add("holidays", f"at most {MAX_HOLIDAYS} dates")
        problems.raise_if_any()

    @functools.cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @functools.cached_property
    def _hours_by_weekday(self) -> dict[int, tuple[tuple[int, int], ...]]:
        """Each weekday's intervals, sorted, with touching ones joined into one."""
        by_day: dict[int, list[tuple[int, int]]] = {}
        for hours in sorted(self.weekly_hours, key=lambda h: (h.day_of_week, h.start_minute)):
            if hours.end_minute <= hours.start_minute:
                continue
            day = by_day.setdefault(hours.day_of_week, [])
            if day and hours.start_minute <= day[-1][1]:
                day[-1] = (day[-1][0], max(day[-1][1], hours.end_minute))
            else:
                day.append((hours.start_minute, hours.end_minute))
        return {day: tuple(intervals) for day, intervals in by_day.items()}

    @functools.cached_property
    def _closed_days_limit(self) -> int:
        # Every week of a valid calendar has an open weekday, which only a holiday or, a
        # couple of times a year, a DST gap swallowing short hours can close.
        return 7 * len(self.holidays) + 2 * 366


def _check_time_zone(problems: Violations, name: str) -> None:
    if not name:
        problems.add("time_zone", "required: an IANA time zone such as Europe/Budapest")
        return
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        known = False
    else:
        known = name not in _HOST_ZONES and not name.startswith(_COPY_PREFIXES)
    if not known:
        problems.add("time_zone", f"{excerpt(name)} is not an IANA time zone name")


def _check_weekly_hours(problems: Violations, weekly_hours: tuple[WeeklyHours, ...]) -> None:
    by_day: dict[int, list[tuple[int, int, int]]] = {}
    for i, hours in enumerate(weekly_hours):
        where = f"weekly_hours[{i}]"
        valid = Weekday.MONDAY <= hours.day_of_week <= Weekday.SUNDAY
        if not valid:
            problems.add(f"{where}.day_of_week", "must be 1 (Monday) to 7 (Sunday)")
        if not 0 <= hours.start_minute < MINUTES_PER_DAY:
            problems.add(f"{where}.start_minute", "must be 00:00 to 23:59")
            valid = False
        elif not 0 < hours.end_minute <= MINUTES_PER_DAY:
            problems.add(f"{where}.end_minute", "must be 00:01 to 24:00")
            valid = False
        elif hours.end_minute <= hours.start_minute:
            problems.add(
                f"{where}.end_minute",
                "must be after start; hours past midnight are two entries, one for each day",
            )
            valid = False
        if valid:
            by_day.setdefault(hours.day_of_week, []).append(
                (hours.start_minute, hours.end_minute, i)
            )
    for day, intervals in sorted(by_day.items()):
        intervals.sort()
        # Compared with the one reaching furthest so far, so an interval inside a long one
        # is caught even when a short one sits between them.
        furthest = intervals[0]
        for current in intervals[1:]:
            if current[0] < furthest[1]:
                problems.add(
                    f"weekly_hours[{current[2]}]",
                    f"overlaps weekly_hours[{furthest[2]}] on {Weekday(day).name.title()}",
                )
            if current[1] > furthest[1]:
                furthest = current


def is_open(calendar: BusinessCalendar | None, at: datetime) -> bool:
    return next_open(calendar, at) == _as_utc(at, "at")


def next_open(calendar: BusinessCalendar | None, at: datetime) -> datetime:
    """`at` (in UTC) if the calendar is open then, else the next opening."""
    at = _as_utc(at, "at")
    if calendar is None:
        return at
    opens, _closes = next(_open_spans(calendar, at))
    return opens


def add_business_time(
    calendar: BusinessCalendar | None, start: datetime, duration: timedelta
) -> datetime:
    """The instant (UTC) at which `duration` of open time has passed since `start`.

    Outside hours, counting begins at the next opening. A duration that ends exactly at a
    closing gives that closing, not the next opening; a zero duration gives `start`.
    """
    start = _as_utc(start, "start")
    if duration < timedelta(0):
        raise ValueError("duration must not be negative")
    if calendar is None or not duration:
        return start + duration
    remaining = duration
    for opens, closes in _open_spans(calendar, start):
        if remaining <= closes - opens:
            return opens + remaining
        remaining -= closes - opens
    raise AssertionError("open spans never run out")  # pragma: no cover


def business_time_between(
    calendar: BusinessCalendar | None, start: datetime, end: datetime
) -> timedelta:
    """Open time in [start, end); zero when `end` is not after `start`."""
    start, end = _as_utc(start, "start"), _as_utc(end, "end")
    if end <= start:
        return timedelta(0)
    if calendar is None:
        return end - start
    total = timedelta(0)
    for opens, closes in _open_spans(calendar, start):
        if opens >= end:
            break
        total += min(closes, end) - opens
    return total


def _as_utc(value: datetime, name: str) -> datetime:
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def _open_spans(calendar: BusinessCalendar, since: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Open spans in real time, in order, cut to begin no earlier than `since` (UTC).

    Endless; raises CalendarNeverOpens instead of searching forever.
    """
    zone = calendar.zone
    # Intervals of earlier local dates all close by the first instant the clock reads
    # this date's midnight, which is no later than `since`.
    day = since.astimezone(zone).date()
    closed_days = 0
    while True:
        opened = False
        if day not in calendar.holidays:
            for start, end in calendar._hours_by_weekday.get(day.isoweekday(), ()):
                opens = max(_instant(zone, day, start), since)
                closes = _instant(zone, day, end)
                if opens < closes:
                    opened = True
                    yield opens, closes
        closed_days = 0 if opened else closed_days + 1
        if closed_days > calendar._closed_days_limit:
            raise CalendarNeverOpens(
                f"business calendar has no open hours in {closed_days} days",
                time_zone=calendar.time_zone,
            )
        day += timedelta(days=1)


def _instant(zone: ZoneInfo, day: date, minute: int) -> datetime:
    """The first instant (UTC) the clock in `zone` reads `minute` on `day`, or the jump
    past it if the clock skips it."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    earlier, later = sorted(wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))
    if earlier.astimezone(zone).replace(tzinfo=None) == wall:
        return earlier
    # Skipped: the two readings of `wall` (one per offset) straddle the jump. Zone data
    # puts transitions on whole seconds, so bisect seconds until the offset changes.
    before = earlier.astimezone(zone).utcoffset()
    while later - earlier > timedelta(seconds=1):
        middle = (earlier + (later - earlier) / 2).replace(microsecond=0)
        if middle.astimezone(zone).utcoffset() == before:
            earlier = middle
        else:
            later = middle
    return later

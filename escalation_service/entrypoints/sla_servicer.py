"""SlaService over gRPC: SLA policies and business calendars of the caller's tenant.

Checks the request's shape, translates it to the domain, calls the use case and maps the
result back. The tenant comes from the caller's credential, never from the request.
Violations inside a resource are named by request field (`sla_policy.targets.resolution`,
`business_calendar.weekly_hours[1].end_minute`).
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from google.protobuf import duration_pb2, empty_pb2
from google.type import date_pb2

from common.auth import current_principal
from common.errors import InvalidArgument, excerpt, field_prefix
from common.grpc.mapping import enum_to_proto, timestamp
from common.grpc.status import map_service_errors
from common.pagination import filter_fingerprint, keyset_after, next_page_token, page_size
from escalation_service.adapters.sla_repository import SlaLogEntry
from escalation_service.domain.business_hours import BusinessCalendar, WeeklyHours
from escalation_service.domain.sla import DEFAULT_WARN_FRACTION, Metric, NamedCalendar, SlaPolicy
from escalation_service.entrypoints.grpc_servicer import (
    ERROR_DOMAIN,
    Context,
    ticket_id_from_name,
    update_paths,
)
from escalation_service.entrypoints.proto_mapping import priority_from_proto, priority_to_proto
from escalation_service.service.sla_clocks import ClockReading, SlaReader
from escalation_service.service.sla_policies import SlaAdmin
from ticketing.escalation.v1 import sla_pb2, sla_service_pb2, sla_service_pb2_grpc

SLA_SERVICE = sla_service_pb2.DESCRIPTOR.services_by_name["SlaService"]
ID_PATTERN = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
POLICIES = "slaPolicies"
CALENDARS = "businessCalendars"
POLICY_FIELDS = (
    "display_name",
    "position",
    "condition",
    "targets",
    "business_calendar",
    "warn_fraction",
    "further_levels",
)
CALENDAR_FIELDS = ("display_name", "time_zone", "weekly_hours", "holidays")
MAX_EVENTS_PAGE = 1000


# --- ids and names ----------------------------------------------------------------------


def _new_id(value: str, field: str) -> str:
    """The id the caller chose, or a UUID when they chose none."""
    if not value:
        return str(uuid.uuid4())
    if not ID_PATTERN.fullmatch(value):
        raise InvalidArgument.single(
            field,
            "must be 1-63 lower-case letters, digits and hyphens, not starting or "
            "ending with a hyphen",
        )
    return value


def _id_from_name(name: str, collection: str, field: str = "name") -> str:
    resource_id = name.removeprefix(f"{collection}/")
    if resource_id == name or not ID_PATTERN.fullmatch(resource_id):
        raise InvalidArgument.single(
            field, f"{excerpt(name)} is not a name like '{collection}/{{id}}'"
        )
    return resource_id


# --- proto -> domain --------------------------------------------------------------------


def _timedelta(value: duration_pb2.Duration, field: str) -> timedelta:
    try:
        return value.ToTimedelta()
    except (OverflowError, ValueError):
        raise InvalidArgument.single(field, "is out of range") from None


def _duration(value: timedelta) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromTimedelta(value)
    return duration


def _policy_changes(proto: sla_pb2.SlaPolicy, paths: list[str]) -> dict[str, Any]:
    """SlaPolicy field values for the named proto fields (paths relative to the policy)."""
    changes: dict[str, Any] = {}
    for path in paths:
        if path == "condition":
            condition = proto.condition
            changes["priorities"] = frozenset(
                priority_from_proto(number, f"condition.priorities[{i}]")
                for i, number in enumerate(condition.priorities)
            )
            changes["inbox_ids"] = frozenset(condition.inbox_ids)
            changes["labels"] = frozenset(label.strip().lower() for label in condition.labels)
        elif path == "targets":
            changes["targets"] = {
                metric: _timedelta(getattr(proto.targets, metric.value), f"targets.{metric.value}")
                for metric in Metric
                if proto.targets.HasField(metric.value)
            }
        elif path == "business_calendar":
            changes["calendar_id"] = (
                _id_from_name(proto.business_calendar, CALENDARS, "business_calendar")
                if proto.business_calendar
                else ""
            )
        elif path == "warn_fraction":
            changes["warn_fraction"] = (
                proto.warn_fraction if proto.HasField("warn_fraction") else DEFAULT_WARN_FRACTION
            )
        elif path == "further_levels":
            changes["further_levels"] = tuple(
                _timedelta(d, f"further_levels[{i}]") for i, d in enumerate(proto.further_levels)
            )
        else:
            changes[path] = getattr(proto, path)
    return changes


def _holiday(value: date_pb2.Date, index: int) -> date:
    try:
        return date(value.year, value.month, value.day)
    except ValueError:
        raise InvalidArgument.single(
            "holidays",
            f"[{index}] {value.year:04}-{value.month:02}-{value.day:02} is not a full, valid date",
        ) from None


def _calendar_changes(proto: sla_pb2.BusinessCalendar, paths: list[str]) -> dict[str, Any]:
    """NamedCalendar / BusinessCalendar field values for the named proto fields."""
    changes: dict[str, Any] = {}
    for path in paths:
        if path == "weekly_hours":
            changes["weekly_hours"] = tuple(
                WeeklyHours(int(h.day_of_week), h.start_minute, h.end_minute)
                for h in proto.weekly_hours
            )
        elif path == "holidays":
            changes["holidays"] = frozenset(
                _holiday(day, i) for i, day in enumerate(proto.holidays)
            )
        else:
            changes[path] = getattr(proto, path)
    return changes


# --- domain -> proto --------------------------------------------------------------------


def policy_to_proto(policy: SlaPolicy) -> sla_pb2.SlaPolicy:
    return sla_pb2.SlaPolicy(
        name=policy.name,
        display_name=policy.display_name,
        position=policy.position,
        condition=sla_pb2.SlaCondition(
            priorities=[
                priority_to_proto(p) for p in sorted(policy.priorities, key=lambda p: p.rank)
            ],
            inbox_ids=sorted(policy.inbox_ids),
            labels=sorted(policy.labels),
        ),
        targets=sla_pb2.SlaTargets(
            **{metric.value: _duration(target) for metric, target in policy.targets.items()}
        ),
        business_calendar=f"{CALENDARS}/{policy.calendar_id}" if policy.calendar_id else "",
        warn_fraction=policy.warn_fraction,
        further_levels=[_duration(d) for d in policy.further_levels],
        create_time=timestamp(policy.create_time),
        update_time=timestamp(policy.update_time),
        etag=policy.etag,
    )


def calendar_to_proto(named: NamedCalendar) -> sla_pb2.BusinessCalendar:
    calendar = named.calendar
    return sla_pb2.BusinessCalendar(
        name=named.name,
        display_name=named.display_name,
        time_zone=calendar.time_zone,
        weekly_hours=[
            sla_pb2.WeeklyHours(
                day_of_week=h.day_of_week,
                start_minute=h.start_minute,
                end_minute=h.end_minute,
            )
            for h in calendar.weekly_hours
        ],
        holidays=[
            date_pb2.Date(year=d.year, month=d.month, day=d.day) for d in sorted(calendar.holidays)
        ],
        create_time=timestamp(named.create_time),
        update_time=timestamp(named.update_time),
        etag=named.etag,
    )


def clock_to_proto(reading: ClockReading, now: datetime) -> sla_pb2.SlaClock:
    clock = reading.clock
    return sla_pb2.SlaClock(
        metric=enum_to_proto(clock.metric, sla_pb2.SlaMetric, "SLA_METRIC"),
        state=enum_to_proto(clock.state, sla_pb2.SlaClockState, "SLA_CLOCK_STATE"),
        sla_policy=f"{POLICIES}/{clock.policy_id}",
        target=_duration(clock.target),
        remaining=_duration(clock.remaining(reading.calendar, now)),
        due_time=timestamp(clock.due_time),
        warn_time=timestamp(clock.warn_time),
        warned=clock.warned,
        breach_time=timestamp(clock.breach_time),
        start_time=timestamp(clock.start_time),
        stop_time=timestamp(clock.stop_time),
    )


def sla_event_to_proto(entry: SlaLogEntry) -> sla_pb2.SlaEvent:
    return sla_pb2.SlaEvent(
        event_id=entry.event_id,
        ticket=f"tickets/{entry.ticket_id}",
        metric=enum_to_proto(entry.metric, sla_pb2.SlaMetric, "SLA_METRIC"),
        kind=enum_to_proto(entry.kind, sla_pb2.SlaEventKind, "SLA_EVENT_KIND"),
        level=entry.level,
        due_time=timestamp(entry.due_time),
        fire_time=timestamp(entry.fire_time),
        escalation=f"escalations/{entry.escalation_id}" if entry.escalation_id else "",
    )


# --- the service ------------------------------------------------------------------------


@map_service_errors(SLA_SERVICE, domain=ERROR_DOMAIN)
class SlaServicer(sla_service_pb2_grpc.SlaServiceServicer):
    def __init__(self, admin: SlaAdmin, reader: SlaReader) -> None:
        self._admin = admin
        self._reader = reader

    # --- policies -----------------------------------------------------------------------

    async def CreateSlaPolicy(
        self, request: sla_service_pb2.CreateSlaPolicyRequest, context: Context
    ) -> sla_pb2.SlaPolicy:
        tenant = current_principal().tenant_id
        policy_id = _new_id(request.sla_policy_id, "sla_policy_id")
        with field_prefix("sla_policy"):
            changes = _policy_changes(request.sla_policy, list(POLICY_FIELDS))
            policy = await self._admin.create_policy(
                tenant, SlaPolicy(policy_id=policy_id, **changes)
            )
        return policy_to_proto(policy)

    async def GetSlaPolicy(
        self, request: sla_service_pb2.GetSlaPolicyRequest, context: Context
    ) -> sla_pb2.SlaPolicy:
        policy_id = _id_from_name(request.name, POLICIES)
        policy = await self._admin.get_policy(current_principal().tenant_id, policy_id)
        return policy_to_proto(policy)

    async def ListSlaPolicies(
        self, request: sla_service_pb2.ListSlaPoliciesRequest, context: Context
    ) -> sla_service_pb2.ListSlaPoliciesResponse:
        policies = await self._admin.list_policies(current_principal().tenant_id)
        return sla_service_pb2.ListSlaPoliciesResponse(
            sla_policies=[policy_to_proto(p) for p in policies]
        )

    async def UpdateSlaPolicy(
        self, request: sla_service_pb2.UpdateSlaPolicyRequest, context: Context
    ) -> sla_pb2.SlaPolicy:
        tenant = current_principal().tenant_id
        policy_id = _id_from_name(request.sla_policy.name, POLICIES, "sla_policy.name")
        paths = update_paths(list(request.update_mask.paths), POLICY_FIELDS)
        with field_prefix("sla_policy"):
            changes = _policy_changes(request.sla_policy, paths)
            policy = await self._admin.update_policy(
                tenant, policy_id, changes, etag=request.sla_policy.etag
            )
        return policy_to_proto(policy)

    async def DeleteSlaPolicy(
        self, request: sla_service_pb2.DeleteSlaPolicyRequest, context: Context
    ) -> empty_pb2.Empty:
        policy_id = _id_from_name(request.name, POLICIES)
        await self._admin.delete_policy(current_principal().tenant_id, policy_id, etag=request.etag)
        return empty_pb2.Empty()

    # --- calendars ----------------------------------------------------------------------

    async def CreateBusinessCalendar(
        self, request: sla_service_pb2.CreateBusinessCalendarRequest, context: Context
    ) -> sla_pb2.BusinessCalendar:
        tenant = current_principal().tenant_id
        calendar_id = _new_id(request.business_calendar_id, "business_calendar_id")
        with field_prefix("business_calendar"):
            changes = _calendar_changes(request.business_calendar, list(CALENDAR_FIELDS))
            display_name = changes.pop("display_name")
            named = await self._admin.create_calendar(
                tenant, NamedCalendar(calendar_id, display_name, BusinessCalendar(**changes))
            )
        return calendar_to_proto(named)

    async def GetBusinessCalendar(
        self, request: sla_service_pb2.GetBusinessCalendarRequest, context: Context
    ) -> sla_pb2.BusinessCalendar:
        calendar_id = _id_from_name(request.name, CALENDARS)
        named = await self._admin.get_calendar(current_principal().tenant_id, calendar_id)
        return calendar_to_proto(named)

    async def ListBusinessCalendars(
        self, request: sla_service_pb2.ListBusinessCalendarsRequest, context: Context
    ) -> sla_service_pb2.ListBusinessCalendarsResponse:
        calendars = await self._admin.list_calendars(current_principal().tenant_id)
        return sla_service_pb2.ListBusinessCalendarsResponse(
            business_calendars=[calendar_to_proto(c) for c in calendars]
        )

    async def UpdateBusinessCalendar(
        self, request: sla_service_pb2.UpdateBusinessCalendarRequest, context: Context
    ) -> sla_pb2.BusinessCalendar:
        tenant = current_principal().tenant_id
        calendar_id = _id_from_name(
            request.business_calendar.name, CALENDARS, "business_calendar.name"
        )
        paths = update_paths(list(request.update_mask.paths), CALENDAR_FIELDS)
        with field_prefix("business_calendar"):
            changes = _calendar_changes(request.business_calendar, paths)
            named = await self._admin.update_calendar(
                tenant, calendar_id, changes, etag=request.business_calendar.etag
            )
        return calendar_to_proto(named)

    async def DeleteBusinessCalendar(
        self, request: sla_service_pb2.DeleteBusinessCalendarRequest, context: Context
    ) -> empty_pb2.Empty:
        calendar_id = _id_from_name(request.name, CALENDARS)
        await self._admin.delete_calendar(
            current_principal().tenant_id, calendar_id, etag=request.etag
        )
        return empty_pb2.Empty()

    # --- clocks and their log -----------------------------------------------------------

    async def GetTicketSla(
        self, request: sla_service_pb2.GetTicketSlaRequest, context: Context
    ) -> sla_pb2.TicketSla:
        ticket_id = ticket_id_from_name(request.ticket)
        readings = await self._reader.ticket_clocks(current_principal().tenant_id, ticket_id)
        now = self._reader.now()
        return sla_pb2.TicketSla(
            ticket=f"tickets/{ticket_id}",
            clocks=[clock_to_proto(reading, now) for reading in readings],
            read_time=timestamp(now),
        )

    async def ListSlaEvents(
        self, request: sla_service_pb2.ListSlaEventsRequest, context: Context
    ) -> sla_service_pb2.ListSlaEventsResponse:
        ticket_id = ticket_id_from_name(request.ticket) if request.ticket else ""
        limit = page_size(request.page_size, default=100, maximum=MAX_EVENTS_PAGE)
        filters = filter_fingerprint("sla_events", ticket_id)
        after = keyset_after(request.page_token, filters=filters)
        found = await self._reader.events(
            current_principal().tenant_id,
            ticket_id=ticket_id,
            after_id=int(after[1]) if after else 0,
            limit=limit + 1,
        )
        return sla_service_pb2.ListSlaEventsResponse(
            sla_events=[sla_event_to_proto(entry) for entry in found[:limit]],
            next_page_token=next_page_token(found, limit, filters),
        )

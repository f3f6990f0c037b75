"""SlaService: SLA policies and business calendars per tenant — round trips, ids, validation
naming request fields, etags, calendars in use, tenancy and credentials."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2
from google.type import date_pb2, dayofweek_pb2

from tests.conftest import ACME, GLOBEX
from tests.e2e.conftest import expect_error
from ticketing.escalation.v1 import sla_pb2, sla_service_pb2
from ticketing.ticket.v1 import enums_pb2

if TYPE_CHECKING:
    from ticketing.escalation.v1.sla_service_pb2_grpc import SlaServiceAsyncStub

Req = sla_service_pb2
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def hours(count: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromTimedelta(timedelta(hours=count))
    return duration


def weekday(day: int, start: int, end: int) -> sla_pb2.WeeklyHours:
    return sla_pb2.WeeklyHours(day_of_week=day, start_minute=start, end_minute=end)


def office(**fields: Any) -> sla_pb2.BusinessCalendar:
    values: dict[str, Any] = {
        "display_name": "Budapest office",
        "time_zone": "Europe/Budapest",
        "weekly_hours": [weekday(d, 9 * 60, 17 * 60) for d in range(1, 6)],
        "holidays": [date_pb2.Date(year=2026, month=12, day=25)],
    }
    values.update(fields)
    return sla_pb2.BusinessCalendar(**values)


def urgent(**fields: Any) -> sla_pb2.SlaPolicy:
    values: dict[str, Any] = {
        "display_name": "Urgent tickets",
        "position": 1,
        "condition": sla_pb2.SlaCondition(
            priorities=[enums_pb2.TICKET_PRIORITY_URGENT, enums_pb2.TICKET_PRIORITY_HIGH],
            inbox_ids=[3],
            labels=["VIP"],
        ),
        "targets": sla_pb2.SlaTargets(first_response=hours(1), resolution=hours(8)),
        "further_levels": [hours(1), hours(4)],
    }
    values.update(fields)
    return sla_pb2.SlaPolicy(**values)


async def create_calendar(
    sla: SlaServiceAsyncStub, calendar_id: str = "budapest", **fields: Any
) -> sla_pb2.BusinessCalendar:
    return await sla.CreateBusinessCalendar(
        Req.CreateBusinessCalendarRequest(
            business_calendar=office(**fields), business_calendar_id=calendar_id
        ),
        metadata=ACME,
    )


async def create_policy(
    sla: SlaServiceAsyncStub, policy_id: str = "urgent", **fields: Any
) -> sla_pb2.SlaPolicy:
    return await sla.CreateSlaPolicy(
        Req.CreateSlaPolicyRequest(sla_policy=urgent(**fields), sla_policy_id=policy_id),
        metadata=ACME,
    )


async def test_policy_round_trip(sla: SlaServiceAsyncStub) -> None:
    calendar = await create_calendar(sla)
    created = await create_policy(sla, business_calendar=calendar.name)

    assert created.name == "slaPolicies/urgent"
    assert created.etag == 'W/"1"'
    assert created.warn_fraction == pytest.approx(0.8)
    assert list(created.condition.priorities) == [
        enums_pb2.TICKET_PRIORITY_HIGH,
        enums_pb2.TICKET_PRIORITY_URGENT,
    ]
    assert list(created.condition.labels) == ["vip"]
    assert created.targets.first_response.ToTimedelta() == timedelta(hours=1)
    assert not created.targets.HasField("next_response")
    assert [d.ToTimedelta() for d in created.further_levels] == [
        timedelta(hours=1),
        timedelta(hours=4),
    ]
    assert created.business_calendar == "businessCalendars/budapest"
    assert created.HasField("create_time")
    got = await sla.GetSlaPolicy(Req.GetSlaPolicyRequest(name=created.name), metadata=ACME)
    assert got == created

    anywhere = await sla.CreateSlaPolicy(
        Req.CreateSlaPolicyRequest(
            sla_policy=urgent(display_name="Everything else", position=9, condition=None)
        ),
        metadata=ACME,
    )
    assert len(anywhere.name.removeprefix("slaPolicies/")) == 36
    listed = await sla.ListSlaPolicies(Req.ListSlaPoliciesRequest(), metadata=ACME)
    assert [p.name for p in listed.sla_policies] == [created.name, anywhere.name]

    updated = await sla.UpdateSlaPolicy(
        Req.UpdateSlaPolicyRequest(
            sla_policy=sla_pb2.SlaPolicy(
                name=created.name,
                etag=created.etag,
                position=20,
                warn_fraction=0.5,
                display_name="ignored: not in the mask",
            ),
            update_mask=mask("position", "warn_fraction", "business_calendar"),
        ),
        metadata=ACME,
    )
    assert updated.etag == 'W/"2"'
    assert updated.position == 20
    assert updated.warn_fraction == 0.5
    assert updated.business_calendar == ""
    assert updated.display_name == "Urgent tickets"
    assert updated.create_time == created.create_time
    listed = await sla.ListSlaPolicies(Req.ListSlaPoliciesRequest(), metadata=ACME)
    assert [p.name for p in listed.sla_policies] == [anywhere.name, created.name]

    await sla.DeleteSlaPolicy(
        Req.DeleteSlaPolicyRequest(name=created.name, etag=updated.etag), metadata=ACME
    )
    await expect_error(
        sla.GetSlaPolicy(Req.GetSlaPolicyRequest(name=created.name), metadata=ACME),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        sla.DeleteSlaPolicy(Req.DeleteSlaPolicyRequest(name=created.name), metadata=ACME),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_calendar_round_trip(sla: SlaServiceAsyncStub) -> None:
    created = await create_calendar(sla)

    assert created.name == "businessCalendars/budapest"
    assert created.etag == 'W/"1"'
    assert len(created.weekly_hours) == 5
    assert created.weekly_hours[0].day_of_week == dayofweek_pb2.MONDAY
    assert created.holidays[0] == date_pb2.Date(year=2026, month=12, day=25)
    got = await sla.GetBusinessCalendar(
        Req.GetBusinessCalendarRequest(name=created.name), metadata=ACME
    )
    assert got == created
    await create_calendar(sla, "around-the-clock", time_zone="UTC")
    listed = await sla.ListBusinessCalendars(Req.ListBusinessCalendarsRequest(), metadata=ACME)
    assert [c.name for c in listed.business_calendars] == [
        "businessCalendars/around-the-clock",
        created.name,
    ]

    updated = await sla.UpdateBusinessCalendar(
        Req.UpdateBusinessCalendarRequest(
            business_calendar=sla_pb2.BusinessCalendar(
                name=created.name,
                etag=created.etag,
                time_zone="America/Sao_Paulo",
                weekly_hours=[weekday(dayofweek_pb2.SATURDAY, 0, 1440)],
            ),
            update_mask=mask("time_zone", "weekly_hours", "holidays"),
        ),
        metadata=ACME,
    )
    assert updated.etag == 'W/"2"'
    assert updated.time_zone == "America/Sao_Paulo"
    assert list(updated.weekly_hours) == [weekday(dayofweek_pb2.SATURDAY, 0, 1440)]
    assert not updated.holidays
    assert updated.display_name == "Budapest office"

    await sla.DeleteBusinessCalendar(
        Req.DeleteBusinessCalendarRequest(name=created.name), metadata=ACME
    )
    await expect_error(
        sla.GetBusinessCalendar(Req.GetBusinessCalendarRequest(name=created.name), metadata=ACME),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_taken_ids_and_bad_names(sla: SlaServiceAsyncStub) -> None:
    await create_calendar(sla)
    await create_policy(sla)
    await expect_error(create_calendar(sla), grpc.StatusCode.ALREADY_EXISTS)
    await expect_error(create_policy(sla), grpc.StatusCode.ALREADY_EXISTS)

    error = await expect_error(create_policy(sla, "Not_An-Id"), INVALID)
    assert set(error.violations) == {"sla_policy_id"}
    error = await expect_error(create_calendar(sla, "-x"), INVALID)
    assert set(error.violations) == {"business_calendar_id"}
    for name in ("urgent", "slaPolicies/", "businessCalendars/urgent", "slaPolicies/a/b"):
        error = await expect_error(
            sla.GetSlaPolicy(Req.GetSlaPolicyRequest(name=name), metadata=ACME), INVALID
        )
        assert set(error.violations) == {"name"}
    await expect_error(
        sla.GetSlaPolicy(Req.GetSlaPolicyRequest(name="slaPolicies/nope"), metadata=ACME),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_concurrent_creates_of_one_id_make_one_policy(sla: SlaServiceAsyncStub) -> None:
    results = await asyncio.gather(
        *(create_policy(sla, "racy", position=i) for i in range(10)), return_exceptions=True
    )

    created = [r for r in results if isinstance(r, sla_pb2.SlaPolicy)]
    failed = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(created) == 1, results
    assert len(failed) == 9, results
    assert {e.code() for e in failed} == {grpc.StatusCode.ALREADY_EXISTS}
    listed = await sla.ListSlaPolicies(Req.ListSlaPoliciesRequest(), metadata=ACME)
    assert list(listed.sla_policies) == created


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"targets": sla_pb2.SlaTargets(first_response=hours(0))}, "targets.first_response"),
        ({"targets": sla_pb2.SlaTargets(resolution=hours(-1))}, "targets.resolution"),
        ({"targets": sla_pb2.SlaTargets()}, "targets"),
        ({"warn_fraction": 1.5}, "warn_fraction"),
        ({"display_name": " "}, "display_name"),
        ({"further_levels": [hours(2), hours(1)]}, "further_levels"),
        ({"business_calendar": "businessCalendars/missing"}, "business_calendar"),
        ({"business_calendar": "calendars/x"}, "business_calendar"),
        (
            {"condition": sla_pb2.SlaCondition(priorities=[enums_pb2.TICKET_PRIORITY_UNSPECIFIED])},
            "condition.priorities[0]",
        ),
    ],
)
async def test_invalid_policies_name_the_field(
    sla: SlaServiceAsyncStub, fields: dict[str, Any], field: str
) -> None:
    error = await expect_error(create_policy(sla, **fields), INVALID)

    assert set(error.violations) == {f"sla_policy.{field}"}, error.violations


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": ""}, "time_zone"),
        ({"display_name": ""}, "display_name"),
        (
            {"weekly_hours": [weekday(1, 540, 1020), weekday(1, 600, 700)]},
            "weekly_hours[1]",
        ),
        ({"weekly_hours": [weekday(2, 600, 540)]}, "weekly_hours[0].end_minute"),
        ({"weekly_hours": [weekday(2, -5, 540)]}, "weekly_hours[0].start_minute"),
        ({"weekly_hours": [weekday(0, 540, 600)]}, "weekly_hours[0].day_of_week"),
        ({"weekly_hours": []}, "weekly_hours"),
        ({"holidays": [date_pb2.Date(year=2026, month=2, day=30)]}, "holidays"),
        ({"holidays": [date_pb2.Date(year=2026, month=0, day=0)]}, "holidays"),
    ],
)
async def test_invalid_calendars_name_the_field(
    sla: SlaServiceAsyncStub, fields: dict[str, Any], field: str
) -> None:
    error = await expect_error(create_calendar(sla, **fields), INVALID)

    assert set(error.violations) == {f"business_calendar.{field}"}, error.violations


async def test_updates_need_a_mask_and_validate_the_result(sla: SlaServiceAsyncStub) -> None:
    policy = await create_policy(sla)
    calendar = await create_calendar(sla)

    error = await expect_error(
        sla.UpdateSlaPolicy(Req.UpdateSlaPolicyRequest(sla_policy=policy), metadata=ACME), INVALID
    )
    assert set(error.violations) == {"update_mask"}
    error = await expect_error(
        sla.UpdateSlaPolicy(
            Req.UpdateSlaPolicyRequest(sla_policy=policy, update_mask=mask("etag")), metadata=ACME
        ),
        INVALID,
    )
    assert set(error.violations) == {"update_mask"}
    error = await expect_error(
        sla.UpdateSlaPolicy(
            Req.UpdateSlaPolicyRequest(
                sla_policy=sla_pb2.SlaPolicy(name=policy.name), update_mask=mask("*")
            ),
            metadata=ACME,
        ),
        INVALID,
    )
    assert set(error.violations) == {"sla_policy.display_name", "sla_policy.targets"}
    error = await expect_error(
        sla.UpdateBusinessCalendar(
            Req.UpdateBusinessCalendarRequest(
                business_calendar=sla_pb2.BusinessCalendar(name=calendar.name, time_zone="Nowhere"),
                update_mask=mask("time_zone"),
            ),
            metadata=ACME,
        ),
        INVALID,
    )
    assert set(error.violations) == {"business_calendar.time_zone"}
    # Nothing changed.
    got = await sla.GetSlaPolicy(Req.GetSlaPolicyRequest(name=policy.name), metadata=ACME)
    assert got.etag == policy.etag


async def test_stale_etags_are_aborted(sla: SlaServiceAsyncStub) -> None:
    policy = await create_policy(sla)
    calendar = await create_calendar(sla)
    rename = Req.UpdateSlaPolicyRequest(
        sla_policy=sla_pb2.SlaPolicy(name=policy.name, etag=policy.etag, display_name="Renamed"),
        update_mask=mask("display_name"),
    )
    await sla.UpdateSlaPolicy(rename, metadata=ACME)

    await expect_error(sla.UpdateSlaPolicy(rename, metadata=ACME), grpc.StatusCode.ABORTED)
    await expect_error(
        sla.DeleteSlaPolicy(
            Req.DeleteSlaPolicyRequest(name=policy.name, etag=policy.etag), metadata=ACME
        ),
        grpc.StatusCode.ABORTED,
    )
    stale = sla_pb2.BusinessCalendar(name=calendar.name, etag='W/"7"', display_name="x")
    await expect_error(
        sla.UpdateBusinessCalendar(
            Req.UpdateBusinessCalendarRequest(
                business_calendar=stale, update_mask=mask("display_name")
            ),
            metadata=ACME,
        ),
        grpc.StatusCode.ABORTED,
    )
    await expect_error(
        sla.DeleteBusinessCalendar(
            Req.DeleteBusinessCalendarRequest(name=calendar.name, etag='W/"7"'), metadata=ACME
        ),
        grpc.StatusCode.ABORTED,
    )


async def test_a_calendar_in_use_cannot_be_deleted(sla: SlaServiceAsyncStub) -> None:
    calendar = await create_calendar(sla)
    policy = await create_policy(sla, business_calendar=calendar.name)
    delete = Req.DeleteBusinessCalendarRequest(name=calendar.name)

    error = await expect_error(
        sla.DeleteBusinessCalendar(delete, metadata=ACME), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert error.info.reason == "CALENDAR_IN_USE"
    assert policy.name in error.message

    await sla.UpdateSlaPolicy(
        Req.UpdateSlaPolicyRequest(
            sla_policy=sla_pb2.SlaPolicy(name=policy.name), update_mask=mask("business_calendar")
        ),
        metadata=ACME,
    )
    await sla.DeleteBusinessCalendar(delete, metadata=ACME)


async def test_tenants_see_only_their_own(sla: SlaServiceAsyncStub) -> None:
    calendar = await create_calendar(sla)
    policy = await create_policy(sla, business_calendar=calendar.name)

    await expect_error(
        sla.GetSlaPolicy(Req.GetSlaPolicyRequest(name=policy.name), metadata=GLOBEX),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        sla.GetBusinessCalendar(
            Req.GetBusinessCalendarRequest(name=calendar.name), metadata=GLOBEX
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        sla.DeleteSlaPolicy(Req.DeleteSlaPolicyRequest(name=policy.name), metadata=GLOBEX),
        grpc.StatusCode.NOT_FOUND,
    )
    policies = await sla.ListSlaPolicies(Req.ListSlaPoliciesRequest(), metadata=GLOBEX)
    calendars = await sla.ListBusinessCalendars(Req.ListBusinessCalendarsRequest(), metadata=GLOBEX)
    assert not policies.sla_policies
    assert not calendars.business_calendars
    # Another tenant's calendar cannot be referenced, and ids are per tenant.
    error = await expect_error(
        sla.CreateSlaPolicy(
            Req.CreateSlaPolicyRequest(sla_policy=urgent(business_calendar=calendar.name)),
            metadata=GLOBEX,
        ),
        INVALID,
    )
    assert set(error.violations) == {"sla_policy.business_calendar"}
    await sla.CreateSlaPolicy(
        Req.CreateSlaPolicyRequest(sla_policy=urgent(), sla_policy_id="urgent"), metadata=GLOBEX
    )


async def test_no_credential_is_unauthenticated(sla: SlaServiceAsyncStub) -> None:
    await expect_error(
        sla.ListSlaPolicies(Req.ListSlaPoliciesRequest()), grpc.StatusCode.UNAUTHENTICATED
    )
    await expect_error(
        sla.CreateBusinessCalendar(Req.CreateBusinessCalendarRequest(business_calendar=office())),
        grpc.StatusCode.UNAUTHENTICATED,
    )

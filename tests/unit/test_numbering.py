"""Ticket numbers `TKT-YYYY-NNNNN` and the resource names built from them."""

from __future__ import annotations

import pytest

from common.errors import InvalidArgument
from ticket_service.domain.numbering import TicketNumber


def test_first_number_of_a_year_is_padded_to_five_digits() -> None:
    assert str(TicketNumber(2026, 1)) == "TKT-2026-00001"


def test_number_99999_still_has_five_digits() -> None:
    assert str(TicketNumber(2026, 99_999)) == "TKT-2026-99999"


def test_numbers_grow_past_five_digits_instead_of_wrapping() -> None:
    assert str(TicketNumber(2026, 100_000)) == "TKT-2026-100000"


def test_numbers_order_by_year_then_sequence_not_as_text() -> None:
    numbers = [TicketNumber(2027, 1), TicketNumber(2026, 100_000), TicketNumber(2026, 99_999)]

    assert sorted(numbers) == [
        TicketNumber(2026, 99_999),
        TicketNumber(2026, 100_000),
        TicketNumber(2027, 1),
    ]


def test_resource_name_is_the_lower_case_number() -> None:
    assert TicketNumber(2026, 42).resource_name == "tickets/tkt-2026-00042"


def test_a_resource_name_parses_back_to_its_number() -> None:
    assert TicketNumber.from_resource_name("tickets/tkt-2026-00042") == TicketNumber(2026, 42)


def test_upper_case_names_are_accepted() -> None:
    assert TicketNumber.from_resource_name("tickets/TKT-2026-00042") == TicketNumber(2026, 42)


def test_six_digit_names_parse_and_round_trip() -> None:
    number = TicketNumber.from_resource_name("tickets/tkt-2026-100000")

    assert number == TicketNumber(2026, 100_000)
    assert number.resource_name == "tickets/tkt-2026-100000"


def test_a_number_parses_back_from_its_display_form() -> None:
    assert TicketNumber.parse("TKT-2026-00042") == TicketNumber(2026, 42)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "tickets/",
        "tkt-2026-00042",
        "TKT-2026-00042",
        "customers/tkt-2026-00042",
        "tickets/tkt-2026-0042",
        "tickets/tkt-26-00042",
        "tickets/tkt-2026-00042x",
        "tickets/tkt-2026-00042/events",
        "tickets/tkt_2026_00042",
        "tickets/abc-2026-00042",
        "tickets/tkt-2026-",
    ],
)
def test_bad_names_are_rejected_naming_the_name_field(name: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        TicketNumber.from_resource_name(name)

    assert [v.field for v in raised.value.violations] == ["name"]


def test_a_bad_name_is_reported_under_the_field_the_caller_names() -> None:
    with pytest.raises(InvalidArgument) as raised:
        TicketNumber.from_resource_name("nope", field="ticket.name")

    assert [v.field for v in raised.value.violations] == ["ticket.name"]


def test_a_bad_display_number_is_reported_as_number() -> None:
    with pytest.raises(InvalidArgument) as raised:
        TicketNumber.parse("TKT-2026-1")

    assert [v.field for v in raised.value.violations] == ["number"]


def test_a_sequence_of_thousands_of_digits_is_rejected_as_a_bad_name() -> None:
    # Python refuses to convert strings of more than 4300 digits to int; the caller must
    # still get InvalidArgument for its bad name, not a ValueError from int().
    with pytest.raises(InvalidArgument) as raised:
        TicketNumber.from_resource_name("tickets/tkt-2026-" + "9" * 5000)

    assert [v.field for v in raised.value.violations] == ["name"]

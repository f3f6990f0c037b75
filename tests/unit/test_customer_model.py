"""The customer aggregate: registration, learning new identifiers, and updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.errors import InvalidArgument
from ticket_service.domain.model import Contact, Customer, EventType

NOW = datetime(2026, 6, 17, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
CUSTOMER_ID = "0b7c2f4e-0000-4000-8000-000000000002"
ADA = Contact(email="ada@example.com")


def register(contact: Contact = ADA, display_name: str = "Ada") -> Customer:
    customer, _ = Customer.register(
        id=CUSTOMER_ID, display_name=display_name, contact=contact, now=NOW
    )
    return customer


def test_registering_needs_at_least_one_identifier() -> None:
    with pytest.raises(InvalidArgument) as raised:
        Customer.register(id=CUSTOMER_ID, display_name="Ada", contact=Contact(), now=NOW)

    assert [v.field for v in raised.value.violations] == ["email"]


@pytest.mark.parametrize(
    "contact",
    [
        Contact(email="ada@example.com"),
        Contact(phone_number="+14155550123"),
        Contact(chatwoot_contact_id=17),
    ],
    ids=["email", "phone", "chatwoot id"],
)
def test_any_one_identifier_is_enough_to_register(contact: Contact) -> None:
    customer, change = Customer.register(id=CUSTOMER_ID, display_name="", contact=contact, now=NOW)

    assert customer.contact == contact
    assert customer.version == 1
    assert change.type is EventType.CUSTOMER_CREATED
    assert change.before == {}
    assert change.after == customer.as_record()


def test_registering_trims_the_display_name() -> None:
    assert register(display_name="  Ada Lovelace ").display_name == "Ada Lovelace"


def test_registering_rejects_an_overlong_display_name() -> None:
    with pytest.raises(InvalidArgument) as raised:
        register(display_name="A" * 256)

    assert [v.field for v in raised.value.violations] == ["display_name"]


def test_fill_in_adds_identifiers_the_customer_lacks() -> None:
    customer = register()

    change = customer.fill_in(Contact(phone_number="+14155550123", chatwoot_contact_id=17), LATER)

    assert customer.contact == Contact(
        email="ada@example.com", phone_number="+14155550123", chatwoot_contact_id=17
    )
    assert change is not None
    assert change.type is EventType.CUSTOMER_UPDATED
    assert change.before == {"phone_number": "", "chatwoot_contact_id": 0}
    assert change.after == {"phone_number": "+14155550123", "chatwoot_contact_id": 17}
    assert customer.version == 2
    assert customer.update_time == LATER


def test_fill_in_never_overwrites_an_identifier_the_customer_has() -> None:
    customer = register(Contact(email="ada@example.com", chatwoot_contact_id=17))

    change = customer.fill_in(Contact(email="other@example.com", chatwoot_contact_id=99), LATER)

    assert change is None
    assert customer.contact == Contact(email="ada@example.com", chatwoot_contact_id=17)
    assert customer.version == 1
    assert customer.update_time == NOW


def test_fill_in_keeps_existing_identifiers_while_adding_new_ones() -> None:
    customer = register()

    change = customer.fill_in(Contact(email="other@example.com", phone_number="+1415"), LATER)

    assert customer.contact.email == "ada@example.com"
    assert customer.contact.phone_number == "+1415"
    assert change is not None
    assert set(change.before) == {"phone_number"}


def test_update_reports_only_the_changed_fields() -> None:
    customer = register(Contact(email="ada@example.com", phone_number="+14155550123"))

    change = customer.update(
        LATER,
        display_name="Ada Lovelace",
        contact=Contact(email="ada@lovelace.org", phone_number="+14155550123"),
    )

    assert change is not None
    assert change.type is EventType.CUSTOMER_UPDATED
    assert change.before == {"display_name": "Ada", "email": "ada@example.com"}
    assert change.after == {"display_name": "Ada Lovelace", "email": "ada@lovelace.org"}
    assert customer.version == 2


def test_update_can_clear_an_identifier_while_another_remains() -> None:
    customer = register(Contact(email="ada@example.com", phone_number="+14155550123"))

    change = customer.update(LATER, contact=Contact(email="ada@example.com"))

    assert change is not None
    assert change.before == {"phone_number": "+14155550123"}
    assert change.after == {"phone_number": ""}


def test_update_that_changes_nothing_returns_none() -> None:
    customer = register()

    assert customer.update(LATER, display_name=" Ada ", contact=ADA) is None
    assert customer.version == 1


def test_update_refuses_to_remove_the_last_identifier() -> None:
    customer = register()

    with pytest.raises(InvalidArgument):
        customer.update(LATER, contact=Contact())

    assert customer.contact == ADA
    assert customer.version == 1


def test_a_customer_survives_a_record_round_trip() -> None:
    customer = register(
        Contact(email="ada@example.com", phone_number="+14155550123", chatwoot_contact_id=17)
    )
    customer.update(LATER, display_name="Ada Lovelace")

    assert Customer.from_record(customer.as_record()) == customer


def test_a_customer_with_only_an_email_survives_a_record_round_trip() -> None:
    customer = register()

    assert Customer.from_record(customer.as_record()) == customer

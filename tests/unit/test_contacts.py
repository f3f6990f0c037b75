"""How customers are recognised: normalized emails and E.164 phone numbers."""

from __future__ import annotations

import pytest

from common.errors import InvalidArgument
from ticket_service.domain.contacts import normalize_email, normalize_phone

SF_NUMBER = "+14155550123"


def test_email_is_trimmed_and_lower_cased() -> None:
    assert normalize_email("  Ada.Lovelace@Example.COM \n") == "ada.lovelace@example.com"


@pytest.mark.parametrize("raw", ["", "   ", "\t\n"])
def test_an_empty_email_means_none(raw: str) -> None:
    assert normalize_email(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        "ada.example.com",
        "ada @example.com",
        "ada@exa mple.com",
        "ada@example",
        "ada@@example.com",
        "ada@example@com.org",
        "@example.com",
        "ada@",
        "ada@.com",
        "ada@example.",
        "ada@example..com",
    ],
)
def test_invalid_emails_are_rejected_naming_the_field(raw: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        normalize_email(raw, field="customer.email")

    assert [v.field for v in raised.value.violations] == ["customer.email"]


def test_emails_longer_than_254_characters_are_rejected() -> None:
    too_long = "a" * 243 + "@example.com"
    assert len(too_long) == 255

    with pytest.raises(InvalidArgument) as raised:
        normalize_email(too_long)

    assert [v.field for v in raised.value.violations] == ["email"]


def test_an_email_of_254_characters_is_accepted() -> None:
    longest = "a" * 242 + "@example.com"

    assert normalize_email(longest) == longest


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("(415) 555-0123", "US"),
        ("415.555.0123", "US"),
        ("+1 415-555-0123", "US"),
        ("+1 (415) 555.0123", "BR"),
        ("011 1 415 555 0123", "US"),
        ("00 1 415 555 0123", "DE"),
        ("00 1 415 555 0123", "GB"),
    ],
)
def test_common_notations_of_one_number_normalize_to_the_same_e164(raw: str, region: str) -> None:
    assert normalize_phone(raw, region=region) == SF_NUMBER


def test_the_00_international_prefix_is_not_understood_in_region_us() -> None:
    # The US dials out with 011, so phonenumbers reads "00 1 415..." as a national number,
    # which is not a valid one.
    with pytest.raises(InvalidArgument) as raised:
        normalize_phone("00 1 415 555 0123", region="US")

    assert [v.field for v in raised.value.violations] == ["phone_number"]


def test_a_brazilian_number_is_read_in_region_br() -> None:
    assert normalize_phone("(11) 91234-5678", region="BR") == "+5511912345678"


def test_a_brazilian_number_with_country_code_is_the_same_in_any_region() -> None:
    assert normalize_phone("+55 11 91234-5678", region="US") == "+5511912345678"


@pytest.mark.parametrize("raw", ["", "   "])
def test_an_empty_phone_number_means_none(raw: str) -> None:
    assert normalize_phone(raw, region="US") is None


def test_text_that_is_no_phone_number_is_rejected_naming_the_field() -> None:
    with pytest.raises(InvalidArgument) as raised:
        normalize_phone("call me", region="US", field="customer.phone_number")

    assert [v.field for v in raised.value.violations] == ["customer.phone_number"]


@pytest.mark.parametrize("raw", ["+1 555 0123", "123", "+1 000 000 0000"])
def test_numbers_that_cannot_exist_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        normalize_phone(raw, region="US")

    assert [v.field for v in raised.value.violations] == ["phone_number"]

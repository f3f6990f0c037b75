"""How customers are recognised: normalized email and E.164 phone numbers."""

from __future__ import annotations

import re

import phonenumbers

from common.errors import InvalidArgument, excerpt

MAX_EMAIL = 254
# Deliberately loose: one @, a non-empty local part, a dotted domain, no spaces. Deliverability
# is the mail system's business; we only need a stable key.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")


def normalize_email(raw: str, *, field: str = "email") -> str | None:
    """Trimmed and lower-cased; None for an empty value."""
    email = raw.strip().lower()
    if not email:
        return None
    if len(email) > MAX_EMAIL:
        raise InvalidArgument.single(field, f"must be at most {MAX_EMAIL} characters")
    if not _EMAIL.match(email):
        raise InvalidArgument.single(field, f"{excerpt(raw)} is not an email address")
    return email


def normalize_phone(raw: str, *, region: str, field: str = "phone_number") -> str | None:
    """E.164 (`+14155550123`); numbers without a country code are read in `region`."""
    if not raw.strip():
        return None
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise InvalidArgument.single(field, f"{excerpt(raw)} is not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidArgument.single(field, f"{excerpt(raw)} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)

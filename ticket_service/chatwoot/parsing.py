"""Reading Chatwoot JSON with exact types.

Unknown keys are ignored, so a new Chatwoot field never breaks us; a known field with the
wrong type raises `UnexpectedResponse` naming where it is (`payload[2].meta.sender.id`),
because acting on a misread id or status would be worse than failing the call. JSON's
`true` is not accepted as an integer, and no string is converted to a number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, TypeVar

from ticket_service.chatwoot.errors import UnexpectedResponse

E = TypeVar("E", bound=Enum)
T = TypeVar("T")

JsonObject = Mapping[str, Any]

# Python's datetime covers years 1..9999; Chatwoot's clocks are far inside that.
_MAX_UNIX_SECONDS = 253402214400


class Reader:
    """One JSON object and where it sits in the response, for error messages."""

    def __init__(self, value: object, where: str = "body") -> None:
        if not isinstance(value, dict):
            raise UnexpectedResponse(f"{where}: expected an object, got {_kind(value)}")
        self.data: JsonObject = value
        self.where = where

    def _at(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where != "body" else key

    def _get(self, key: str, *, required: bool) -> Any:
        if key not in self.data:
            if required:
                raise UnexpectedResponse(f"{self._at(key)}: missing")
            return None
        return self.data[key]

    def has(self, key: str) -> bool:
        return key in self.data

    def integer(self, key: str) -> int:
        return _int(self._get(key, required=True), self._at(key))

    def opt_integer(self, key: str) -> int | None:
        value = self._get(key, required=False)
        return None if value is None else _int(value, self._at(key))

    def text(self, key: str) -> str:
        return _str(self._get(key, required=True), self._at(key))

    def opt_text(self, key: str) -> str | None:
        value = self._get(key, required=False)
        return None if value is None else _str(value, self._at(key))

    def flag(self, key: str, default: bool = False) -> bool:
        value = self._get(key, required=False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise UnexpectedResponse(f"{self._at(key)}: expected a boolean, got {_kind(value)}")
        return value

    def opt_flag(self, key: str) -> bool | None:
        value = self._get(key, required=False)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise UnexpectedResponse(f"{self._at(key)}: expected a boolean, got {_kind(value)}")
        return value

    def choice(self, key: str, kind: type[E]) -> E:
        return _enum(self._get(key, required=True), kind, self._at(key))

    def opt_choice(self, key: str, kind: type[E]) -> E | None:
        value = self._get(key, required=False)
        # Chatwoot clears some enums to "" rather than null (a blank priority).
        return None if value is None or value == "" else _enum(value, kind, self._at(key))

    def child(self, key: str) -> Reader:
        return Reader(self._get(key, required=True), self._at(key))

    def opt_child(self, key: str) -> Reader | None:
        value = self._get(key, required=False)
        return None if value is None else Reader(value, self._at(key))

    def mapping(self, key: str) -> dict[str, Any]:
        """A free-form object (custom attributes); an absent or null one is empty."""
        value = self._get(key, required=False)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise UnexpectedResponse(f"{self._at(key)}: expected an object, got {_kind(value)}")
        return dict(value)

    def array(self, key: str) -> list[Any]:
        return _list(self._get(key, required=True), self._at(key))

    def opt_array(self, key: str) -> list[Any]:
        value = self._get(key, required=False)
        return [] if value is None else _list(value, self._at(key))

    def strings(self, key: str) -> tuple[str, ...]:
        where = self._at(key)
        return tuple(_str(v, f"{where}[{i}]") for i, v in enumerate(self.opt_array(key)))

    def objects(self, key: str, parse: Callable[[Reader], T]) -> tuple[T, ...]:
        where = self._at(key)
        return tuple(parse(Reader(v, f"{where}[{i}]")) for i, v in enumerate(self.array(key)))

    def time(self, key: str) -> datetime:
        return _time(self._get(key, required=True), self._at(key))

    def opt_time(self, key: str) -> datetime | None:
        value = self._get(key, required=False)
        # Unset times come as null, or as 0 where Chatwoot calls `.to_i` on nil.
        if value is None or (type(value) is int and value == 0):
            return None
        return _time(value, self._at(key))


def objects(value: object, where: str, parse: Callable[[Reader], T]) -> tuple[T, ...]:
    """A top-level JSON array of objects (e.g. `GET /agents`)."""
    return tuple(parse(Reader(v, f"{where}[{i}]")) for i, v in enumerate(_list(value, where)))


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), "an array" if isinstance(value, list) else "an object"
    )


def _int(value: object, where: str) -> int:
    if type(value) is not int:
        raise UnexpectedResponse(f"{where}: expected an integer, got {_kind(value)}")
    return value


def _str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise UnexpectedResponse(f"{where}: expected a string, got {_kind(value)}")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise UnexpectedResponse(f"{where}: expected an array, got {_kind(value)}")
    return value


def _enum(value: object, kind: type[E], where: str) -> E:
    try:
        return kind(value)
    except (ValueError, TypeError):  # TypeError: an unhashable value such as a list
        allowed = ", ".join(repr(member.value) for member in kind)
        raise UnexpectedResponse(f"{where}: expected one of {allowed}") from None


def _time(value: object, where: str) -> datetime:
    """An ISO-8601 string with a zone, or Unix seconds (Chatwoot writes both, depending on
    the endpoint: `snoozed_until` is ISO, `created_at` an integer, `updated_at` a float)."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise UnexpectedResponse(f"{where}: not an ISO-8601 time") from None
        if parsed.tzinfo is None:
            raise UnexpectedResponse(f"{where}: an ISO-8601 time without a zone")
        return parsed.astimezone(UTC)
    if type(value) is int or type(value) is float:
        return unix_time(value, where)
    raise UnexpectedResponse(f"{where}: expected a time, got {_kind(value)}")


def unix_time(value: float, where: str) -> datetime:
    """Unix seconds to an exact UTC datetime, to the microsecond.

    `updated_at` is a float such as 1781692530.512345; float arithmetic would turn it into
    ...530.512344 now and then, and the sync compares these times for equality. The float's
    shortest repr is exactly the JSON text, so decimal arithmetic on it is exact.
    """
    try:
        seconds = Decimal(repr(value))
    except InvalidOperation:
        raise UnexpectedResponse(f"{where}: not a finite number") from None
    if not seconds.is_finite() or not 0 <= seconds <= _MAX_UNIX_SECONDS:
        raise UnexpectedResponse(f"{where}: out of range")
    micros = int((seconds * 1_000_000).to_integral_value())
    whole, fraction = divmod(micros, 1_000_000)
    return datetime.fromtimestamp(whole, UTC).replace(microsecond=fraction)

"""The parts of Chatwoot 4.x webhook bodies the gateway reads, with their exact JSON types.

Types are strict (an id sent as "3" is an error, not 3) and unknown keys are ignored, so a
new Chatwoot key never breaks intake but a changed type is caught at the door. Sample bodies
of every event are in tests/fixtures/chatwoot/.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
)
from pydantic_core import PydanticCustomError

INT64_MAX = 2**63 - 1
# The range google.protobuf.Timestamp can carry: 0001-01-01 .. 9999-12-31 UTC.
_TIMESTAMP_MIN = datetime(1, 1, 2, tzinfo=UTC)
_TIMESTAMP_MAX = datetime(9999, 12, 30, tzinfo=UTC)


def _iso_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise PydanticCustomError("iso_string", "Input should be an ISO-8601 string")
    return value


def _representable(value: datetime) -> datetime:
    if not _TIMESTAMP_MIN <= value <= _TIMESTAMP_MAX:
        raise PydanticCustomError("time_range", "Input should be between years 1 and 9999")
    return value


Id = Annotated[int, Field(ge=1, le=INT64_MAX)]
# Chatwoot writes times as ISO-8601 strings with a zone ("2026-06-17T10:15:30.512Z"); only
# strings are accepted, parsed leniently as ISO-8601.
IsoTime = Annotated[
    AwareDatetime, Strict(False), BeforeValidator(_iso_text), AfterValidator(_representable)
]
# Conversation `updated_at` is float Unix seconds (an integer is accepted as well), at most
# 9999-12-31T00:00:00Z.
UnixTime = Annotated[float, Field(ge=0, le=253402214400, allow_inf_nan=False)]


class _Read(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Account(_Read):
    id: Id


class ContactData(_Read):
    """A contact: `meta.sender`, `contact_*` bodies, `webwidget_triggered.contact`."""

    id: Id
    name: str | None = None
    email: str | None = None
    phone_number: str | None = None


class Assignee(_Read):
    id: Id
    # "user" for an agent, "agent_bot" for a bot; only users are ticket assignees.
    type: str


class ConversationMeta(_Read):
    sender: ContactData | None = None
    assignee: Assignee | None = None


class ConversationAttributes(_Read):
    mail_subject: str | None = None


class Conversation(_Read):
    """A conversation object: conversation_* and automation bodies, `message_*.conversation`,
    `webwidget_triggered.current_conversation`. Its `id` is the display id."""

    id: Id
    account: Account
    inbox_id: Id
    status: Literal["open", "pending", "snoozed", "resolved"]
    priority: Literal["low", "medium", "high", "urgent"] | None = None
    snoozed_until: IsoTime | None = None
    updated_at: UnixTime
    meta: ConversationMeta
    additional_attributes: ConversationAttributes | None = None


class Sender(_Read):
    """A top-level message's sender: users and bots say their `type`, contacts do not."""

    id: Id
    name: str | None = None
    type: str | None = None


class ContentAttributes(_Read):
    deleted: bool = False
    # Set on the notes and replies our own services write to Chatwoot.
    ticketing_ref: str | None = None


class MessageBody(_Read):
    """`message_created` / `message_updated`."""

    id: Id
    account: Account
    conversation: Conversation
    message_type: Literal["incoming", "outgoing", "template"]
    private: bool = False
    sender: Sender | None = None
    content: str | None = None
    content_type: str | None = None
    content_attributes: ContentAttributes | None = None
    attachments: list[Any] | None = None
    created_at: IsoTime


class ContactBody(ContactData):
    """`contact_created` / `contact_updated`."""

    account: Account


class WidgetBody(_Read):
    """`webwidget_triggered`."""

    account: Account
    contact: ContactData
    current_conversation: Conversation | None = None


class Envelope(_Read):
    """What every body has: the event name."""

    event: str

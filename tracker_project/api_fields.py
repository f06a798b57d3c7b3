"""Input field types shared by every API schema: they turn hostile input into 422s, not 500s."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, Strict, WithJsonSchema

MAX_DB_ID = 2**63 - 1
# A day of margin at both ends of Python's datetime range, so code that adds or subtracts a
# day (reminders, "due soon") can never overflow on a stored value.
MIN_DATETIME = dt.datetime(1, 1, 2, tzinfo=dt.UTC)
MAX_DATETIME = dt.datetime(9999, 12, 30, tzinfo=dt.UTC)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed.")
    return value


def _no_surrogates(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("Text must be valid Unicode.") from exc
    return value


# Text stored in the database: NUL bytes and lone surrogates cannot be stored, so refuse them.
SafeText = Annotated[str, AfterValidator(_no_nul), AfterValidator(_no_surrogates)]


def text(max_length: int) -> object:
    return Annotated[SafeText, Field(max_length=max_length)]


# In query strings every value is text, so ids and flags are parsed from it; in JSON bodies
# they must be real JSON numbers and booleans ("5", 5.0 or 0 are not accepted as 5 or false).
DbId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]
BodyDbId = Annotated[int, Strict(), Field(ge=1, le=MAX_DB_ID)]
JsonBool = Annotated[bool, Strict()]
JsonInt = Annotated[int, Strict()]


def _iso_text(value: object) -> object:
    """Only ISO 8601 text: pydantic would also take numbers (and numeric strings) as Unix times."""
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("Expected an ISO 8601 date-time string.")
    try:
        float(value)
    except ValueError:
        return value
    raise ValueError("Expected an ISO 8601 date-time string, not a number.")


def _utc(value: dt.datetime) -> dt.datetime:
    """Naive values are taken as UTC; the result is aware, in UTC, and safely inside the range."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    try:
        value = value.astimezone(dt.UTC)
    except OverflowError as exc:
        raise ValueError("Date and time out of range.") from exc
    if not MIN_DATETIME <= value <= MAX_DATETIME:
        raise ValueError("Date and time out of range.")
    return value


# ISO 8601 date-time; without an offset it is taken as UTC.
ApiDateTime = Annotated[dt.datetime, BeforeValidator(_iso_text), AfterValidator(_utc)]


def parse_uuid(value: str) -> uuid.UUID | None:
    """The UUID in `value`, or None when it is not one (callers answer 404, not 422)."""
    if len(value) > 64:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


# A path id documented as a UUID but accepted as any string, so a malformed id is a 404.
UuidPath = Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]

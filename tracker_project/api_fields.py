"""Input field types shared by every API schema: they turn hostile input into 422s, not 500s."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

MAX_DB_ID = 2**63 - 1


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


DbId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]

"""Schemas used by every router: the error envelope, documented on each operation."""

from __future__ import annotations

from typing import Any

from ninja import Schema


class ErrorOut(Schema):
    detail: Any
    error_code: str


def error_responses(*codes: int) -> dict[int, type[ErrorOut]]:
    """Document the error envelope for these status codes (401, 422 and 429 are always added)."""
    return {code: ErrorOut for code in sorted({401, 422, 429, *codes})}

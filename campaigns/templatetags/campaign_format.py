"""Number formats of the campaign pages: money, rates as percentages ("n/a" when undefined)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

register = template.Library()


@register.filter
def money(value: Any) -> str:
    if value is None or value == "":
        return "n/a"
    return f"{Decimal(value):,.2f}"


@register.filter
def pct(value: Any) -> str:
    if value is None or value == "":
        return "n/a"
    return f"{Decimal(value) * 100:,.2f}%"


@register.filter
def num(value: Any) -> str:
    if value is None or value == "":
        return "n/a"
    number = Decimal(value)
    return f"{number:,.0f}" if number == number.to_integral_value() else f"{number:,.2f}"


@register.filter
def kpi(value: Any, kind: str) -> str:
    return {"money": money, "percent": pct}.get(kind, num)(value)


@register.filter
def change(value: Any) -> str:
    if value is None:
        return ""
    return f"{Decimal(value) * 100:+.1f}%"


@register.filter
def sort_link(order: str, key: str) -> str:
    """The order a column header links to: descending first, then flips."""
    return key if order == f"-{key}" else f"-{key}"

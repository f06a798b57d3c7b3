"""Ad-metrics connectors: a second kind of connector, next to the task sources of base.py.

A metrics connector reads one row per (channel, campaign, day) from an ad platform over a date
range, in pages, with the same retry machinery (integrations.http) and the same errors
(ConnectorError, AuthError, RateLimitError) as the task connectors. Without credentials it runs
against its built-in simulator, which answers in the platform's real JSON shapes.

The registry is explicit: METRICS_CONNECTORS maps each key to a dotted path, CHANNEL_CONNECTORS
says which connector serves each channel (Meta serves both Facebook and Instagram).
"""

from __future__ import annotations

import datetime as dt
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from django.utils.module_loading import import_string

from integrations.connectors.base import HttpConnector, RecordError, clean_id, storable

CHANNELS: tuple[str, ...] = ("facebook", "instagram", "google_ads", "tiktok")

METRICS_CONNECTORS: dict[str, str] = {
    "meta_ads": "integrations.connectors.meta_ads.MetaAdsConnector",
    "google_ads": "integrations.connectors.google_ads.GoogleAdsConnector",
    "tiktok_ads": "integrations.connectors.tiktok_ads.TikTokAdsConnector",
}
CHANNEL_CONNECTORS: dict[str, str] = {
    "facebook": "meta_ads",
    "instagram": "meta_ads",
    "google_ads": "google_ads",
    "tiktok": "tiktok_ads",
}
CAMPAIGN_STATUSES = ("active", "paused", "removed", "unknown")
NAME_MAX = 255
# Values beyond these cannot be stored (DecimalField(20, 6) / BigIntegerField) or are nonsense.
MAX_COUNT = 10**15
MAX_MONEY = Decimal(10**13)


class UnknownMetricsConnector(KeyError):
    pass


def get_metrics_connector_class(key: str) -> type[MetricsConnector]:
    """The class registered under `key`. Raises UnknownMetricsConnector."""
    try:
        return import_string(METRICS_CONNECTORS[key])
    except KeyError:
        raise UnknownMetricsConnector(key) from None


def get_metrics_connector(key: str, **options: Any) -> MetricsConnector:
    """A ready metrics connector (live with credentials, else its demo simulator)."""
    return get_metrics_connector_class(key)(**options)


def connectors_for_channels(channels: list[str] | None) -> list[str]:
    """The connector keys serving `channels` (all when None), in registry order."""
    wanted = {CHANNEL_CONNECTORS[c] for c in (channels or CHANNELS)}
    return [key for key in METRICS_CONNECTORS if key in wanted]


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One campaign's numbers for one day on one channel. Money is exact (Decimal)."""

    channel: str
    campaign_id: str
    campaign_name: str  # "" when the platform sent none
    date: dt.date
    impressions: int
    clicks: int
    conversions: Decimal
    engagement: int
    cost: Decimal
    revenue: Decimal
    currency: str = ""
    # "" when the platform's report does not say (the stored status is then left alone).
    campaign_status: str = ""


@dataclass(slots=True)
class MetricsPage:
    rows: list[MetricRow] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)


class MetricsConnector(HttpConnector):
    """An ad platform's daily campaign metrics. Subclasses set `key`, `label`, `channels` and
    implement `fetch()`; without credentials they run against `simulator()`."""

    channels: ClassVar[tuple[str, ...]]

    @abstractmethod
    def fetch(self, *, since: dt.date, until: dt.date, channels: list[str] | None = None) -> Iterator[MetricsPage]:
        """Yield pages of daily rows from `since` to `until` (inclusive), only for `channels`
        when given. Raises ConnectorError (AuthError; RateLimitError after the retries)."""


# --- parsing helpers shared by the platform modules ---------------------------------------------
def to_count(value: Any) -> int:
    """A non-negative whole number from a platform's number or numeric string (Meta and Google
    send counts as strings). Missing means 0. Raises ValueError."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a count")
    number = to_decimal(value)
    if number != number.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number")
    if number > MAX_COUNT:
        raise ValueError(f"{value!r} is out of range")
    return int(number)


def to_decimal(value: Any) -> Decimal:
    """A non-negative exact decimal from a number or numeric string; missing means 0. Floats
    go through their shortest text form (0.1 stays 0.1). Raises ValueError."""
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f"{value!r} is not a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite() or number < 0 or number > MAX_MONEY:
        raise ValueError(f"{value!r} is out of range")
    return number


def to_money(value: Any) -> Decimal:
    """An amount of money, exact to a millionth (the finest unit stored). Raises ValueError."""
    return to_decimal(value).quantize(Decimal("0.000001"))


def to_date(value: Any) -> dt.date:
    """A day from "2024-11-03" or "2024-11-03 00:00:00" (TikTok). Raises ValueError."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date")
    return dt.date.fromisoformat(value.strip()[:10])


def campaign_id(value: Any) -> str:
    found = clean_id(value)
    if found is None:
        raise ValueError("the campaign has no usable id")
    return found


def campaign_name(value: Any) -> str:
    """The campaign's name as the platform sent it, or "" when it sent none: a row without a
    name must not rename a campaign (the sync gives a new one a placeholder)."""
    return " ".join(storable(value).split())[:NAME_MAX]


def require_metrics(values: dict[str, Any], names: tuple[str, ...]) -> None:
    """Raise ValueError when the row carries none of `names`: read as zeros, such a row would
    replace a stored day's numbers with nothing (a broken row fails alone instead)."""
    if all(values.get(name) in (None, "") for name in names):
        raise ValueError(f"the row has none of its metrics ({', '.join(names)})")


def currency_code(value: Any) -> str:
    text = storable(value).strip().upper()
    return text if len(text) == 3 and text.isalpha() and text.isascii() else ""

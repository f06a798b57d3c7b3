"""Meta (Facebook and Instagram): daily campaign insights of one ad account.

GET {META_GRAPH_BASE_URL}/act_{META_AD_ACCOUNT_ID}/insights with level=campaign,
time_increment=1, breakdowns=publisher_platform and a time_range; the token
(META_ACCESS_TOKEN) goes as `access_token`. Numbers arrive as strings; conversions and revenue
are the `actions` / `action_values` entries of the types in META_CONVERSION_ACTIONS (default
purchase, lead) and META_REVENUE_ACTIONS (default purchase). Pages: `paging.cursors.after`,
present with `paging.next` while more follow. Throttling: error codes 4, 17, 32, 613 and
80000–80014 in the body (HTTP 400/403), with the wait in X-Business-Use-Case-Usage /
X-Ad-Account-Usage when Meta gives it. Code 190 (or HTTP 401): the token is no longer valid.
Placements other than facebook and instagram (audience_network, messenger, threads) are not
channels here: they are skipped and counted in the run details.
Settings: META_GRAPH_BASE_URL (default https://graph.facebook.com/{META_API_VERSION}, v23.0), META_ACCESS_TOKEN,
META_AD_ACCOUNT_ID, META_PAGE_SIZE (500).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from integrations.connectors.base import (
    AuthError,
    ConnectorError,
    Identity,
    RateLimitError,
    RecordError,
    json_body,
    storable,
)
from integrations.connectors.metrics import (
    MetricRow,
    MetricsConnector,
    MetricsPage,
    campaign_id,
    campaign_name,
    currency_code,
    require_metrics,
    to_count,
    to_date,
    to_decimal,
    to_money,
)
from integrations.connectors.metrics_demo import META_CAMPAIGNS, days_between, demo_numbers
from integrations.http import parse_retry_after

DEFAULT_BASE_URL = "https://graph.facebook.com/v23.0"
# "You are calling a deprecated version of the Ads API. Please update to the latest version."
# (https://developers.facebook.com/docs/marketing-api/error-reference/).
DEPRECATED_VERSION_CODES = frozenset({2635})
DEMO_ACCOUNT = "1000000000001"
FIELDS = (
    "campaign_id,campaign_name,account_currency,impressions,clicks,spend,"
    "inline_post_engagement,actions,action_values,date_start,date_stop"
)
THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
RETRYABLE_CODES = frozenset({1, 2})
AUTH_CODES = frozenset({102, 190})
PLATFORMS = {"facebook": "facebook", "instagram": "instagram"}


class MetaAdsConnector(MetricsConnector):
    key = "meta_ads"
    label = "Meta Ads"
    platform = "meta"
    channels = ("facebook", "instagram")
    credential_settings = ("META_ACCESS_TOKEN", "META_AD_ACCOUNT_ID")

    @classmethod
    def configured_with(cls, connection: Any) -> bool:
        return connection is not None and bool(_ad_account(connection))

    def configured_base_url(self) -> str:
        return str(getattr(settings, "META_GRAPH_BASE_URL", "") or DEFAULT_BASE_URL).rstrip("/")

    def demo_base_url(self) -> str:
        return DEFAULT_BASE_URL

    def _account(self) -> str:
        if self.demo:
            return DEMO_ACCOUNT
        return _ad_account(self.connection).removeprefix("act_")

    def _token(self) -> str:
        return self.token()

    def fetch(self, *, since: dt.date, until: dt.date, channels: list[str] | None = None) -> Iterator[MetricsPage]:
        """Every campaign × day × placement row of the account from `since` to `until`."""
        url = f"{self.base_url}/act_{self._account()}/insights"
        params: dict[str, Any] = {
            "level": "campaign",
            "time_increment": 1,
            "breakdowns": "publisher_platform",
            "fields": FIELDS,
            "time_range": json.dumps({"since": since.isoformat(), "until": until.isoformat()}),
            "limit": int(getattr(settings, "META_PAGE_SIZE", 500)),
            "access_token": self._token(),
        }
        wanted = set(channels or self.channels)
        conversion_types = set(getattr(settings, "META_CONVERSION_ACTIONS", ("purchase", "lead")))
        revenue_types = set(getattr(settings, "META_REVENUE_ACTIONS", ("purchase",)))
        skipped = 0
        seen_cursors: set[str] = set()
        while True:
            body = json_body(self.send("GET", url, params=params), platform=self.label)
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise ConnectorError("Meta answered without a data list.")
            page = MetricsPage()
            for raw in body["data"]:
                platform = raw.get("publisher_platform") if isinstance(raw, dict) else None
                channel = PLATFORMS.get(str(platform or ""))
                if channel is None and isinstance(raw, dict) and platform:
                    skipped += 1
                    continue
                if channel is not None and channel not in wanted:
                    continue
                _parse_into(page, raw, channel, conversion_types=conversion_types, revenue_types=revenue_types)
            yield page
            paging = body.get("paging") if isinstance(body.get("paging"), dict) else {}
            cursors = paging.get("cursors") if isinstance(paging.get("cursors"), dict) else {}
            after, next_url = cursors.get("after"), paging.get("next")
            # More pages only while `next` is given; the cursor is re-sent on our own URL (a
            # `next` link is followed only when it has no cursor and stays on the same host).
            if not next_url:
                break
            if isinstance(after, str) and after:
                if after in seen_cursors:
                    break
                seen_cursors.add(after)
                params = {**params, "after": after}
            elif isinstance(next_url, str) and _same_origin(next_url, self.base_url) and next_url not in seen_cursors:
                seen_cursors.add(next_url)
                url, params = next_url, {}
            else:
                break
        self.details["other_placement_rows_skipped"] = self.details.get("other_placement_rows_skipped", 0) + skipped

    def whoami(self) -> Identity:
        """GET /me?fields=id,name → {"id", "name"} (the user or system user behind the token;
        https://developers.facebook.com/docs/graph-api/overview#me)."""
        response = self.send("GET", f"{self.base_url}/me", params={"fields": "id,name", "access_token": self.token()})
        body = json_body(response, platform=self.label)
        if not isinstance(body, dict) or not body.get("id"):
            raise ConnectorError("Meta answered /me without an id.")
        return Identity(account_id=str(body["id"]), account_name=storable(body.get("name"))[:255])

    def classify(self, response: httpx.Response) -> ConnectorError | None:
        status = response.status_code
        if response.is_success:
            return None
        error = _error_of(response)
        code = _int(error.get("code"))
        text = f"Meta HTTP {status}: {str(error.get('message') or response.reason_phrase)[:300]}"
        if code is not None:
            text += f" (code {code}{', subcode ' + str(error['error_subcode']) if error.get('error_subcode') else ''})"
        if code in DEPRECATED_VERSION_CODES:
            return ConnectorError(
                f"The Meta Graph API version in META_GRAPH_BASE_URL is deprecated ({text}); set META_API_VERSION "
                "(and META_GRAPH_BASE_URL) to v23.0 or later.",
                status_code=status,
            )
        if code in THROTTLE_CODES or status == 429:
            return RateLimitError(text, retry_after=_regain_after(response), status_code=status)
        if code in AUTH_CODES or status == 401:
            return AuthError(text, status_code=status)
        if code in RETRYABLE_CODES or status >= 500 or error.get("is_transient") is True:
            return ConnectorError(text, retryable=True, status_code=status)
        return ConnectorError(text, status_code=status)

    def simulator(self) -> httpx.BaseTransport:
        return httpx.MockTransport(_simulate)


def _ad_account(connection: Any) -> str:
    """META_AD_ACCOUNT_ID, else the first ad account the connection was given."""
    account = str(getattr(settings, "META_AD_ACCOUNT_ID", "") or "").strip()
    if not account and connection is not None:
        accounts = connection.account_extra.get("ad_account_ids") or []
        account = str(accounts[0]).strip() if accounts else ""
    return account


def _parse_into(
    page: MetricsPage, raw: Any, channel: str | None, *, conversion_types: set[str], revenue_types: set[str]
) -> None:
    external = raw.get("campaign_id") if isinstance(raw, dict) else None
    try:
        if not isinstance(raw, dict):
            raise ValueError("the row is not an object")
        if channel is None:
            raise ValueError("the row has no publisher_platform")
        cid = campaign_id(raw.get("campaign_id"))
        # Insights lists only days that delivered, so a row always carries some of these.
        require_metrics(raw, ("impressions", "clicks", "spend"))
        page.rows.append(
            MetricRow(
                channel=channel,
                campaign_id=cid,
                campaign_name=campaign_name(raw.get("campaign_name")),
                date=to_date(raw.get("date_start")),
                impressions=to_count(raw.get("impressions")),
                clicks=to_count(raw.get("clicks")),
                conversions=_action_sum(raw.get("actions"), conversion_types),
                engagement=to_count(raw.get("inline_post_engagement")),
                cost=to_money(raw.get("spend")),
                revenue=to_money(_action_sum(raw.get("action_values"), revenue_types)),
                currency=currency_code(raw.get("account_currency")),
            )
        )
    except (TypeError, ValueError, AttributeError) as exc:
        page.errors.append(
            RecordError(f"Unreadable Meta insights row: {exc}", external_id=str(external or ""), raw=raw)
        )


def _action_sum(actions: Any, types: set[str]) -> Decimal:
    if actions in (None, ""):
        return Decimal(0)
    if not isinstance(actions, list):
        raise ValueError("actions is not a list")
    total = Decimal(0)
    for action in actions:
        if isinstance(action, dict) and action.get("action_type") in types:
            total += to_decimal(action.get("value"))
    return total


def _error_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _regain_after(response: httpx.Response) -> float | None:
    """Seconds until Meta lets us call again: `estimated_time_to_regain_access` (minutes) in
    X-Business-Use-Case-Usage, or `reset_time_duration` (seconds) in X-Ad-Account-Usage, else
    Retry-After."""
    waits: list[float] = []
    try:
        usage = json.loads(response.headers.get("X-Business-Use-Case-Usage") or "{}")
        for entries in usage.values() if isinstance(usage, dict) else []:
            for entry in entries if isinstance(entries, list) else []:
                minutes = entry.get("estimated_time_to_regain_access") if isinstance(entry, dict) else None
                if isinstance(minutes, int | float) and minutes > 0:
                    waits.append(float(minutes) * 60)
    except (ValueError, AttributeError):
        pass
    try:
        account = json.loads(response.headers.get("X-Ad-Account-Usage") or "{}")
        reset = account.get("reset_time_duration") if isinstance(account, dict) else None
        if isinstance(reset, int | float) and reset > 0:
            waits.append(float(reset))
    except (ValueError, AttributeError):
        pass
    if waits:
        return max(waits)
    return parse_retry_after(response.headers.get("Retry-After"))


# --- demo: a living Meta ad account -------------------------------------------------------------
def _demo_rows(since: dt.date, until: dt.date) -> list[dict[str, Any]]:
    rows = []
    for day in days_between(since, until):
        for campaign, platforms in META_CAMPAIGNS:
            for platform in platforms:
                numbers = demo_numbers(platform, campaign.campaign_id, day)
                rows.append(
                    {
                        "campaign_id": campaign.campaign_id,
                        "campaign_name": campaign.name,
                        "account_currency": "USD",
                        "impressions": str(numbers.impressions),
                        "clicks": str(numbers.clicks),
                        "spend": str(numbers.cost),
                        "inline_post_engagement": str(numbers.engagement),
                        "actions": [
                            {"action_type": "link_click", "value": str(numbers.clicks)},
                            {"action_type": "purchase", "value": str(numbers.conversions)},
                        ],
                        "action_values": [{"action_type": "purchase", "value": str(numbers.revenue)}],
                        "date_start": day.isoformat(),
                        "date_stop": day.isoformat(),
                        "publisher_platform": platform,
                    }
                )
    return rows


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split(":")[1])
    except (ValueError, IndexError):
        return -1


def _simulate(request: httpx.Request) -> httpx.Response:
    if not urlsplit(str(request.url)).path.endswith("/insights"):
        return httpx.Response(400, json={"error": {"message": "Unknown path components", "code": 2500}})
    params = request.url.params
    try:
        time_range = json.loads(params.get("time_range", ""))
        since = dt.date.fromisoformat(time_range["since"])
        until = dt.date.fromisoformat(time_range["until"])
        limit = max(1, min(int(params.get("limit", "25")), 5000))
    except (ValueError, KeyError, TypeError):
        return httpx.Response(400, json={"error": {"message": "(#100) Invalid time_range", "code": 100}})
    rows = _demo_rows(since, until)
    offset = _offset(params["after"]) if params.get("after") else 0
    if offset < 0:
        return httpx.Response(400, json={"error": {"message": "(#100) Invalid cursor", "code": 100}})
    chunk = rows[offset : offset + limit]
    paging: dict[str, Any] = {"cursors": {"before": _cursor(offset), "after": _cursor(offset + len(chunk))}}
    if offset + limit < len(rows):
        paging["next"] = str(request.url.copy_merge_params({"after": _cursor(offset + len(chunk))}))
    return httpx.Response(200, json={"data": chunk, "paging": paging})

"""TikTok: daily campaign metrics of one advertiser, from the reporting API.

GET {TIKTOK_BASE_URL}/open_api/v1.3/report/integrated/get/ with report_type=BASIC,
data_level=AUCTION_CAMPAIGN, dimensions ["campaign_id","stat_time_day"], the metrics as a JSON
list, start_date/end_date and page/page_size; header `Access-Token: {TIKTOK_ACCESS_TOKEN}`.
Pages: `data.page_info.total_page`. Every answer is HTTP 200 with a body `code`: 0 is success,
40100 means too many requests (slow down), 4010x access-token problems, 5xxxx TikTok-side faults
(retried); anything else is an error.
Settings: TIKTOK_BASE_URL (default https://business-api.tiktok.com), TIKTOK_ACCESS_TOKEN,
TIKTOK_ADVERTISER_ID, TIKTOK_CURRENCY (USD: the report does not carry it), TIKTOK_PAGE_SIZE (1000).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import httpx
from django.conf import settings

from integrations.connectors.base import AuthError, ConnectorError, Identity, RateLimitError, RecordError, json_body
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
from integrations.connectors.metrics_demo import TIKTOK_CAMPAIGNS, days_between, demo_numbers
from integrations.http import parse_retry_after

DEFAULT_BASE_URL = "https://business-api.tiktok.com"
PATH = "/open_api/v1.3/report/integrated/get/"
# A daily (stat_time_day) report spans at most 30 days per request
# (https://business-api.tiktok.com/portal/docs?id=1740302848100353).
MAX_WINDOW_DAYS = 30
DEMO_ADVERTISER = "7000000000000000001"
METRICS = (
    "campaign_name",
    "spend",
    "impressions",
    "clicks",
    "conversion",
    "total_complete_payment_rate",
    "likes",
    "comments",
    "shares",
    "follows",
)
ENGAGEMENT_METRICS = ("likes", "comments", "shares", "follows")
RATE_LIMIT_CODES = frozenset({40100, 40133})
AUTH_CODES = frozenset({40101, 40102, 40104, 40105, 40106})
# A guard against a page_info that never ends.
MAX_PAGES = 10_000


class TikTokAdsConnector(MetricsConnector):
    key = "tiktok_ads"
    label = "TikTok Ads"
    platform = "tiktok"
    channels = ("tiktok",)
    credential_settings = ("TIKTOK_ACCESS_TOKEN", "TIKTOK_ADVERTISER_ID")

    @classmethod
    def configured_with(cls, connection: Any) -> bool:
        return connection is not None and bool(_advertiser_of(connection))

    def configured_base_url(self) -> str:
        return str(getattr(settings, "TIKTOK_BASE_URL", "") or DEFAULT_BASE_URL).rstrip("/")

    def demo_base_url(self) -> str:
        return DEFAULT_BASE_URL

    def fetch(self, *, since: dt.date, until: dt.date, channels: list[str] | None = None) -> Iterator[MetricsPage]:
        """Every campaign × day row from `since` to `until`, page by page, asked for in windows
        of at most MAX_WINDOW_DAYS days (TikTok refuses a longer daily report)."""
        if channels is not None and "tiktok" not in channels:
            return
        start = since
        while start <= until:
            end = min(until, start + dt.timedelta(days=MAX_WINDOW_DAYS - 1))
            yield from self._fetch_window(since=start, until=end)
            start = end + dt.timedelta(days=1)

    def _fetch_window(self, *, since: dt.date, until: dt.date) -> Iterator[MetricsPage]:
        advertiser = DEMO_ADVERTISER if self.demo else _advertiser_of(self.connection)
        token = self.token()
        currency = currency_code(getattr(settings, "TIKTOK_CURRENCY", "USD")) or "USD"
        params: dict[str, Any] = {
            "advertiser_id": advertiser,
            "report_type": "BASIC",
            "data_level": "AUCTION_CAMPAIGN",
            "dimensions": json.dumps(["campaign_id", "stat_time_day"]),
            "metrics": json.dumps(list(METRICS)),
            "start_date": since.isoformat(),
            "end_date": until.isoformat(),
            "page": 1,
            "page_size": int(getattr(settings, "TIKTOK_PAGE_SIZE", 1000)),
        }
        page_number = 1
        while True:
            params["page"] = page_number
            response = self.send("GET", f"{self.base_url}{PATH}", params=params, headers={"Access-Token": token})
            body = json_body(response, platform=self.label)
            data = body.get("data") if isinstance(body, dict) else None
            rows = data.get("list") if isinstance(data, dict) else None
            if not isinstance(rows, list):
                raise ConnectorError("TikTok answered without data.list.")
            page = MetricsPage()
            for raw in rows:
                _parse_into(page, raw, currency=currency)
            yield page
            info = data.get("page_info") if isinstance(data.get("page_info"), dict) else {}
            try:
                total_pages = int(info.get("total_page") or 1)
            except (TypeError, ValueError):
                total_pages = 1
            if page_number >= min(total_pages, MAX_PAGES) or not rows:
                return
            page_number += 1

    def whoami(self) -> Identity:
        """GET /open_api/v1.3/oauth2/advertiser/get/?app_id&secret with Access-Token → data.list
        of {advertiser_id, advertiser_name}: the advertisers the token may read
        (https://business-api.tiktok.com/portal/docs?id=1738455508553729)."""
        app_id = str(getattr(settings, "TIKTOK_APP_ID", "") or "")
        secret = str(getattr(settings, "TIKTOK_APP_SECRET", "") or "")
        if not app_id or not secret:
            raise ConnectorError("Set TIKTOK_APP_ID and TIKTOK_APP_SECRET to check a TikTok token.")
        response = self.send(
            "GET",
            f"{self.base_url}/open_api/v1.3/oauth2/advertiser/get/",
            params={"app_id": app_id, "secret": secret},
            headers={"Access-Token": self.token()},
        )
        body = json_body(response, platform=self.label)
        data = body.get("data") if isinstance(body, dict) else None
        rows = data.get("list") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise ConnectorError("TikTok answered advertiser/get without data.list.")
        advertisers = [
            {"id": str(r.get("advertiser_id")), "name": str(r.get("advertiser_name", ""))}
            for r in rows
            if isinstance(r, dict) and r.get("advertiser_id")
        ]
        if not advertisers:
            raise ConnectorError("The TikTok token has no advertiser authorised.")
        names = ", ".join(a["name"] or a["id"] for a in advertisers)
        return Identity(
            account_id=",".join(sorted(a["id"] for a in advertisers))[:255],
            account_name=names[:255],
            extra={"advertiser_ids": [a["id"] for a in advertisers], "advertisers": advertisers},
        )

    def classify(self, response: httpx.Response) -> ConnectorError | None:
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 429:
            return RateLimitError(f"TikTok HTTP 429: {response.text[:200]}", retry_after=retry_after, status_code=429)
        if status == 401:
            return AuthError(f"TikTok HTTP 401: {response.text[:200]}", status_code=status)
        if status >= 500:
            return ConnectorError(f"TikTok HTTP {status}", retryable=True, retry_after=retry_after, status_code=status)
        if not response.is_success:
            return ConnectorError(f"TikTok HTTP {status}: {response.text[:200]}", status_code=status)
        try:
            body = response.json()
        except ValueError:
            return None  # json_body reports it
        code = body.get("code") if isinstance(body, dict) else None
        if code in (0, None):
            return None
        text = f"TikTok code {code}: {str(body.get('message') or '')[:300]} (request {body.get('request_id', '?')})"
        if code in RATE_LIMIT_CODES:
            return RateLimitError(text, retry_after=retry_after, status_code=status)
        if code in AUTH_CODES:
            return AuthError(text, status_code=status)
        if isinstance(code, int) and 50000 <= code < 60000:
            return ConnectorError(text, retryable=True, status_code=status)
        return ConnectorError(text, status_code=status)

    def simulator(self) -> httpx.BaseTransport:
        return httpx.MockTransport(_simulate)


def _advertiser_of(connection: Any) -> str:
    """TIKTOK_ADVERTISER_ID, else the first advertiser the connection was authorised for."""
    advertiser = str(getattr(settings, "TIKTOK_ADVERTISER_ID", "") or "").strip()
    if not advertiser and connection is not None:
        advertisers = connection.account_extra.get("advertiser_ids") or []
        advertiser = str(advertisers[0]).strip() if advertisers else ""
    return advertiser


def _parse_into(page: MetricsPage, raw: Any, *, currency: str) -> None:
    dimensions = raw.get("dimensions") if isinstance(raw, dict) else None
    external = dimensions.get("campaign_id") if isinstance(dimensions, dict) else None
    try:
        metrics = raw.get("metrics") if isinstance(raw, dict) else None
        if not isinstance(dimensions, dict) or not isinstance(metrics, dict):
            raise ValueError("the row has no dimensions or metrics")
        cid = campaign_id(dimensions.get("campaign_id"))
        require_metrics(metrics, ("impressions", "clicks", "spend"))
        page.rows.append(
            MetricRow(
                channel="tiktok",
                campaign_id=cid,
                campaign_name=campaign_name(metrics.get("campaign_name")),
                date=to_date(dimensions.get("stat_time_day")),
                impressions=to_count(metrics.get("impressions")),
                clicks=to_count(metrics.get("clicks")),
                conversions=to_decimal(metrics.get("conversion")),
                engagement=sum(to_count(metrics.get(name)) for name in ENGAGEMENT_METRICS),
                cost=to_money(metrics.get("spend")),
                revenue=to_money(metrics.get("total_complete_payment_rate")),
                currency=currency,
            )
        )
    except (TypeError, ValueError, AttributeError) as exc:
        page.errors.append(
            RecordError(f"Unreadable TikTok report row: {exc}", external_id=str(external or ""), raw=raw)
        )


# --- demo: a living TikTok advertiser ------------------------------------------------------------
def _simulate(request: httpx.Request) -> httpx.Response:
    def reply(code: int, message: str, data: Any = None) -> httpx.Response:
        return httpx.Response(200, json={"code": code, "message": message, "request_id": "demo", "data": data or {}})

    if request.url.path != PATH:
        return reply(40002, "Not found")
    if not request.headers.get("Access-Token"):
        return reply(40105, "Access token is null")
    params = request.url.params
    try:
        since = dt.date.fromisoformat(params["start_date"])
        until = dt.date.fromisoformat(params["end_date"])
        page = max(1, int(params.get("page", "1")))
        size = max(1, min(int(params.get("page_size", "10")), 1000))
    except (KeyError, ValueError):
        return reply(40002, "Invalid parameters")
    rows = []
    for day in days_between(since, until):
        for campaign in TIKTOK_CAMPAIGNS:
            numbers = demo_numbers("tiktok", campaign.campaign_id, day)
            engagement = numbers.engagement
            rows.append(
                {
                    "dimensions": {"campaign_id": campaign.campaign_id, "stat_time_day": f"{day.isoformat()} 00:00:00"},
                    "metrics": {
                        "campaign_name": campaign.name,
                        "spend": f"{numbers.cost:.2f}",
                        "impressions": str(numbers.impressions),
                        "clicks": str(numbers.clicks),
                        "conversion": str(numbers.conversions),
                        "total_complete_payment_rate": f"{numbers.revenue:.2f}",
                        "likes": str(engagement // 2),
                        "comments": str(engagement // 8),
                        "shares": str(engagement // 8),
                        "follows": str(engagement - engagement // 2 - 2 * (engagement // 8)),
                    },
                }
            )
    total_pages = max(1, -(-len(rows) // size))
    chunk = rows[(page - 1) * size : page * size]
    info = {"page": page, "page_size": size, "total_number": len(rows), "total_page": total_pages}
    return reply(0, "OK", {"list": chunk, "page_info": info})

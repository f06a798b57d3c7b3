"""Google Ads: daily campaign metrics of one customer account, through the REST interface.

POST {GOOGLE_ADS_BASE_URL}/{GOOGLE_ADS_API_VERSION}/customers/{GOOGLE_ADS_CUSTOMER_ID}/googleAds:searchStream
with a GAQL query over `campaign` segmented by `segments.date`; headers `Authorization: Bearer
{GOOGLE_ADS_ACCESS_TOKEN}`, `developer-token: {GOOGLE_ADS_DEVELOPER_TOKEN}` and, for a manager
account, `login-customer-id`. The answer is one JSON array of batches, each with `results`;
field names are lowerCamelCase, 64-bit numbers arrive as strings, money as `costMicros`
(millionths). Throttling: HTTP 429 with status RESOURCE_EXHAUSTED (a `retryDelay` in its details
when Google says how long). 401 UNAUTHENTICATED: the token is no longer valid.
Settings: GOOGLE_ADS_BASE_URL (default https://googleads.googleapis.com), GOOGLE_ADS_API_VERSION
(v22), GOOGLE_ADS_CUSTOMER_ID, GOOGLE_ADS_DEVELOPER_TOKEN, GOOGLE_ADS_ACCESS_TOKEN,
GOOGLE_ADS_LOGIN_CUSTOMER_ID (optional).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
from django.conf import settings

from integrations.connectors.base import AuthError, ConnectorError, RateLimitError, RecordError, json_body
from integrations.connectors.metrics import (
    MetricRow,
    MetricsConnector,
    MetricsPage,
    campaign_id,
    campaign_name,
    currency_code,
    to_count,
    to_date,
    to_decimal,
    to_money,
)
from integrations.connectors.metrics_demo import GOOGLE_CAMPAIGNS, days_between, demo_numbers
from integrations.http import parse_retry_after

DEFAULT_BASE_URL = "https://googleads.googleapis.com"
DEFAULT_VERSION = "v22"
DEMO_CUSTOMER = "1234567890"
MICROS = Decimal(1_000_000)
STATUS_MAP = {"ENABLED": "active", "PAUSED": "paused", "REMOVED": "removed"}
QUERY = (
    "SELECT campaign.id, campaign.name, campaign.status, customer.currency_code, segments.date, "
    "metrics.impressions, metrics.clicks, metrics.conversions, metrics.conversions_value, "
    "metrics.cost_micros, metrics.engagements "
    "FROM campaign WHERE segments.date BETWEEN '{since}' AND '{until}' "
    "ORDER BY segments.date, campaign.id"
)
DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


class GoogleAdsConnector(MetricsConnector):
    key = "google_ads"
    label = "Google Ads"
    platform = "google"
    channels = ("google_ads",)
    credential_settings = ("GOOGLE_ADS_CUSTOMER_ID", "GOOGLE_ADS_DEVELOPER_TOKEN", "GOOGLE_ADS_ACCESS_TOKEN")

    @classmethod
    def configured_with(cls, connection: Any) -> bool:
        if (
            connection is None
            or not getattr(settings, "GOOGLE_ADS_DEVELOPER_TOKEN", "")
            or not _customer_of(connection)
        ):
            return False
        # From the environment, Google Ads keeps its own token variable.
        return not connection.is_environment or bool(getattr(settings, "GOOGLE_ADS_ACCESS_TOKEN", ""))

    def environment_token(self) -> str:
        return str(getattr(settings, "GOOGLE_ADS_ACCESS_TOKEN", "") or "")

    def token_scopes(self) -> tuple[str, ...]:
        return ("https://www.googleapis.com/auth/adwords",)

    def configured_base_url(self) -> str:
        return str(getattr(settings, "GOOGLE_ADS_BASE_URL", "") or DEFAULT_BASE_URL).rstrip("/")

    def demo_base_url(self) -> str:
        return DEFAULT_BASE_URL

    def _customer(self) -> str:
        return DEMO_CUSTOMER if self.demo else _customer_of(self.connection)

    def _headers(self) -> dict[str, str]:
        if self.demo:
            return {"Authorization": "Bearer demo-token", "developer-token": "demo-developer-token"}
        headers = {
            "Authorization": f"Bearer {self.token()}",
            "developer-token": str(settings.GOOGLE_ADS_DEVELOPER_TOKEN),
        }
        login = str(getattr(settings, "GOOGLE_ADS_LOGIN_CUSTOMER_ID", "") or "").replace("-", "").strip()
        if login:
            headers["login-customer-id"] = login
        return headers

    def fetch(self, *, since: dt.date, until: dt.date, channels: list[str] | None = None) -> Iterator[MetricsPage]:
        """One searchStream call; each batch of the streamed array is a page."""
        if channels is not None and "google_ads" not in channels:
            return
        version = str(getattr(settings, "GOOGLE_ADS_API_VERSION", "") or DEFAULT_VERSION).strip("/")
        url = f"{self.base_url}/{version}/customers/{self._customer()}/googleAds:searchStream"
        query = QUERY.format(since=since.isoformat(), until=until.isoformat())
        response = self.send("POST", url, json={"query": query}, headers=self._headers())
        body = json_body(response, platform=self.label)
        batches = body if isinstance(body, list) else [body] if isinstance(body, dict) else None
        if batches is None:
            raise ConnectorError("Google Ads answered without a stream of results.")
        for batch in batches:
            if not isinstance(batch, dict):
                raise ConnectorError("Google Ads answered with a batch that is not an object.")
            if isinstance(batch.get("error"), dict):
                # An error part-way through the stream: what came before is kept.
                raise _error_from(batch["error"], status=response.status_code)
            page = MetricsPage()
            for raw in batch.get("results") or []:
                _parse_into(page, raw)
            yield page

    def classify(self, response: httpx.Response) -> ConnectorError | None:
        if response.is_success:
            return None
        error = _error_of(response)
        return _error_from(error, status=response.status_code, headers=response.headers)

    def simulator(self) -> httpx.BaseTransport:
        return httpx.MockTransport(_simulate)


def _customer_of(connection: Any) -> str:
    """GOOGLE_ADS_CUSTOMER_ID, else the first customer id the connection was given (no dashes)."""
    customer = str(getattr(settings, "GOOGLE_ADS_CUSTOMER_ID", "") or "").strip()
    if not customer and connection is not None:
        customers = connection.account_extra.get("customer_ids") or []
        customer = str(customers[0]).strip() if customers else ""
    return customer.replace("-", "")


def _parse_into(page: MetricsPage, raw: Any) -> None:
    campaign = raw.get("campaign") if isinstance(raw, dict) else None
    external = campaign.get("id") if isinstance(campaign, dict) else None
    try:
        if not isinstance(campaign, dict):
            raise ValueError("the row has no campaign")
        metrics = raw.get("metrics") or {}
        segments = raw.get("segments") or {}
        customer = raw.get("customer") or {}
        if not isinstance(metrics, dict) or not isinstance(segments, dict) or not isinstance(customer, dict):
            raise ValueError("metrics, segments and customer must be objects")
        cid = campaign_id(campaign.get("id"))
        page.rows.append(
            MetricRow(
                channel="google_ads",
                campaign_id=cid,
                campaign_name=campaign_name(campaign.get("name")),
                date=to_date(segments.get("date")),
                impressions=to_count(metrics.get("impressions")),
                clicks=to_count(metrics.get("clicks")),
                conversions=to_decimal(metrics.get("conversions")).quantize(Decimal("0.01")),
                engagement=to_count(metrics.get("engagements")),
                cost=to_money(to_count(metrics.get("costMicros")) / MICROS),
                revenue=to_money(metrics.get("conversionsValue")),
                currency=currency_code(customer.get("currencyCode")),
                campaign_status=STATUS_MAP.get(str(campaign.get("status") or ""), ""),
            )
        )
    except (TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        page.errors.append(
            RecordError(f"Unreadable Google Ads row: {exc}", external_id=str(external or "")[:255], raw=raw)
        )


def _error_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"message": response.text[:200] or response.reason_phrase}
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _unsupported_version(error: dict[str, Any]) -> bool:
    """Google's answer to a sunset version: requestError UNSUPPORTED_VERSION, "Version vNN is
    deprecated. Requests to this version will be blocked." (in the GoogleAdsFailure details)."""
    for detail in error.get("details") or []:
        for inner in (detail.get("errors") or []) if isinstance(detail, dict) else []:
            code = inner.get("errorCode") if isinstance(inner, dict) else None
            if isinstance(code, dict) and code.get("requestError") == "UNSUPPORTED_VERSION":
                return True
    return "is deprecated. Requests to this version will be blocked" in str(error.get("message") or "")


def _retry_delay(error: dict[str, Any]) -> float | None:
    """Google's `retryDelay` ("30s") from the error details, if any."""
    for detail in error.get("details") or []:
        if not isinstance(detail, dict):
            continue
        found = [detail.get("retryDelay")]
        for inner in detail.get("errors") or []:
            if isinstance(inner, dict):
                quota = (inner.get("details") or {}).get("quotaErrorDetails") or {}
                found.append(quota.get("retryDelay") if isinstance(quota, dict) else None)
        for value in found:
            match = DELAY.match(str(value or ""))
            if match:
                return float(match.group(1))
    return None


def _error_from(error: dict[str, Any], *, status: int, headers: httpx.Headers | None = None) -> ConnectorError:
    reason = str(error.get("status") or "")
    text = f"Google Ads HTTP {status}: {reason + ': ' if reason else ''}{str(error.get('message') or '')[:300]}"
    if status == 429 or reason == "RESOURCE_EXHAUSTED":
        retry_after = _retry_delay(error)
        if retry_after is None and headers is not None:
            retry_after = parse_retry_after(headers.get("Retry-After"))
        return RateLimitError(text, retry_after=retry_after, status_code=status)
    if status == 401 or reason == "UNAUTHENTICATED":
        return AuthError(text, status_code=status)
    if _unsupported_version(error):
        version = str(getattr(settings, "GOOGLE_ADS_API_VERSION", "") or DEFAULT_VERSION)
        return ConnectorError(
            f"Google Ads API {version} is deprecated or sunset ({text}); set GOOGLE_ADS_API_VERSION to a "
            f"supported version ({DEFAULT_VERSION} or later).",
            status_code=status,
        )
    if status >= 500 or reason in ("UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED"):
        return ConnectorError(text, retryable=True, status_code=status)
    return ConnectorError(text, status_code=status)


# --- demo: a living Google Ads account -----------------------------------------------------------
BETWEEN = re.compile(r"segments\.date BETWEEN '(\d{4}-\d{2}-\d{2})' AND '(\d{4}-\d{2}-\d{2})'")
DEMO_BATCH = 100


def _simulate(request: httpx.Request) -> httpx.Response:
    if not request.url.path.endswith("/googleAds:searchStream") or request.method != "POST":
        return httpx.Response(404, json={"error": {"code": 404, "message": "Not found", "status": "NOT_FOUND"}})
    try:
        import json

        query = json.loads(request.content)["query"]
        match = BETWEEN.search(query)
        since, until = dt.date.fromisoformat(match.group(1)), dt.date.fromisoformat(match.group(2))  # type: ignore[union-attr]
    except (ValueError, KeyError, TypeError, AttributeError):
        return httpx.Response(
            400,
            json={
                "error": {"code": 400, "message": "Request contains an invalid argument.", "status": "INVALID_ARGUMENT"}
            },
        )
    customer = request.url.path.split("/customers/")[1].split("/")[0]
    results = []
    for day in days_between(since, until):
        for campaign in GOOGLE_CAMPAIGNS:
            numbers = demo_numbers("google_ads", campaign.campaign_id, day)
            results.append(
                {
                    "customer": {"resourceName": f"customers/{customer}", "currencyCode": "USD"},
                    "campaign": {
                        "resourceName": f"customers/{customer}/campaigns/{campaign.campaign_id}",
                        "id": campaign.campaign_id,
                        "name": campaign.name,
                        "status": campaign.status,
                    },
                    "metrics": {
                        "impressions": str(numbers.impressions),
                        "clicks": str(numbers.clicks),
                        "conversions": float(numbers.conversions),
                        "conversionsValue": float(numbers.revenue),
                        "costMicros": str(int(numbers.cost * MICROS)),
                        "engagements": str(numbers.engagement),
                    },
                    "segments": {"date": day.isoformat()},
                }
            )
    mask = "customer.currencyCode,campaign.id,campaign.name,campaign.status,segments.date,metrics.impressions"
    batches = [
        {"results": results[i : i + DEMO_BATCH], "fieldMask": mask, "requestId": f"demo-{i}"}
        for i in range(0, len(results), DEMO_BATCH)
    ] or [{"fieldMask": mask, "requestId": "demo-0"}]
    return httpx.Response(200, json=batches)

"""Local fakes of the ad platforms (pytest-httpserver on 127.0.0.1) speaking their real JSON:
Meta insights with cursor paging and body error codes, Google Ads searchStream batches and
RESOURCE_EXHAUSTED, TikTok reports with page_info and body codes. Each fake is stateful: the
rows it serves can be revised between runs, and the first N calls can be throttled."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

META_ACCOUNT = "123456789"
META_PATH = f"/v23.0/act_{META_ACCOUNT}/insights"
GOOGLE_CUSTOMER = "1112223333"
GOOGLE_PATH = f"/v22/customers/{GOOGLE_CUSTOMER}/googleAds:searchStream"
TIKTOK_PATH = "/open_api/v1.3/report/integrated/get/"
TIKTOK_ADVERTISER = "7001"


@pytest.fixture
def no_ad_credentials(settings: Any) -> None:
    for name in (
        "META_ACCESS_TOKEN",
        "META_AD_ACCOUNT_ID",
        "GOOGLE_ADS_CUSTOMER_ID",
        "GOOGLE_ADS_DEVELOPER_TOKEN",
        "GOOGLE_ADS_ACCESS_TOKEN",
        "TIKTOK_ACCESS_TOKEN",
        "TIKTOK_ADVERTISER_ID",
    ):
        setattr(settings, name, "")


@pytest.fixture
def live_meta(settings: Any, platform: HTTPServer) -> HTTPServer:
    settings.META_GRAPH_BASE_URL = platform.url_for("/v23.0")
    settings.META_ACCESS_TOKEN = "meta-token"
    settings.META_AD_ACCOUNT_ID = f"act_{META_ACCOUNT}"
    return platform


@pytest.fixture
def live_google_ads(settings: Any, platform: HTTPServer) -> HTTPServer:
    settings.GOOGLE_ADS_BASE_URL = platform.url_for("")
    settings.GOOGLE_ADS_API_VERSION = "v22"
    settings.GOOGLE_ADS_CUSTOMER_ID = "111-222-3333"
    settings.GOOGLE_ADS_DEVELOPER_TOKEN = "dev-token"
    settings.GOOGLE_ADS_ACCESS_TOKEN = "g-token"
    settings.GOOGLE_ADS_LOGIN_CUSTOMER_ID = "9998887777"
    return platform


@pytest.fixture
def live_tiktok(settings: Any, platform: HTTPServer) -> HTTPServer:
    settings.TIKTOK_BASE_URL = platform.url_for("")
    settings.TIKTOK_ACCESS_TOKEN = "tt-token"
    settings.TIKTOK_ADVERTISER_ID = TIKTOK_ADVERTISER
    return platform


@dataclass
class Day:
    """One campaign-day as the test means it (the fakes render each platform's shape)."""

    campaign_id: str
    date: str
    impressions: int = 1000
    clicks: int = 50
    conversions: int = 5
    cost: str = "25.00"
    revenue: str = "100.00"
    engagement: int = 20
    name: str = "Campaign"
    platform: str = "facebook"


@dataclass
class Fake:
    days: list[Day]
    page_size: int = 2
    throttle: list[Any] = field(default_factory=list)  # replies to give first, one per call
    requests: list[Request] = field(default_factory=list)

    def next_throttle(self) -> Any:
        return self.throttle.pop(0) if self.throttle else None


# --- Meta ---------------------------------------------------------------------------------------
def meta_row(day: Day) -> dict[str, Any]:
    return {
        "campaign_id": day.campaign_id,
        "campaign_name": day.name,
        "account_currency": "EUR",
        "impressions": str(day.impressions),
        "clicks": str(day.clicks),
        "spend": day.cost,
        "inline_post_engagement": str(day.engagement),
        "actions": [
            {"action_type": "link_click", "value": str(day.clicks)},
            {"action_type": "purchase", "value": str(day.conversions)},
        ],
        "action_values": [{"action_type": "purchase", "value": day.revenue}],
        "date_start": day.date,
        "date_stop": day.date,
        "publisher_platform": day.platform,
    }


def serve_meta(server: HTTPServer, fake: Fake) -> Fake:
    def handler(request: Request) -> Response:
        fake.requests.append(request)
        code = fake.next_throttle()
        if code is not None:
            body = {"error": {"message": "(#17) User request limit reached", "type": "OAuthException", "code": code}}
            if isinstance(code, dict):
                body = {"error": code}
            return Response(json.dumps(body), status=400, content_type="application/json")
        offset = int(request.args.get("after", "c0")[1:])
        rows = [meta_row(d) for d in fake.days]
        chunk = rows[offset : offset + fake.page_size]
        end = offset + len(chunk)
        paging: dict[str, Any] = {"cursors": {"before": f"c{offset}", "after": f"c{end}"}}
        if end < len(rows):
            paging["next"] = f"{server.url_for(META_PATH)}?after=c{end}&access_token=meta-token"
        return Response(json.dumps({"data": chunk, "paging": paging}), content_type="application/json")

    server.expect_request(META_PATH, method="GET").respond_with_handler(handler)
    return fake


# --- Google Ads ---------------------------------------------------------------------------------
def google_row(day: Day) -> dict[str, Any]:
    return {
        "customer": {"resourceName": f"customers/{GOOGLE_CUSTOMER}", "currencyCode": "GBP"},
        "campaign": {
            "resourceName": f"customers/{GOOGLE_CUSTOMER}/campaigns/{day.campaign_id}",
            "id": day.campaign_id,
            "name": day.name,
            "status": "ENABLED",
        },
        "metrics": {
            "impressions": str(day.impressions),
            "clicks": str(day.clicks),
            "conversions": float(day.conversions),
            "conversionsValue": float(Decimal(day.revenue)),
            "costMicros": str(int(Decimal(day.cost) * 1_000_000)),
            "engagements": str(day.engagement),
        },
        "segments": {"date": day.date},
    }


def serve_google(server: HTTPServer, fake: Fake) -> Fake:
    def handler(request: Request) -> Response:
        fake.requests.append(request)
        if fake.next_throttle() is not None:
            body = [
                {
                    "error": {
                        "code": 429,
                        "message": "Resource has been exhausted (e.g. check quota).",
                        "status": "RESOURCE_EXHAUSTED",
                        "details": [
                            {
                                "@type": "type.googleapis.com/google.ads.googleads.v22.errors.GoogleAdsFailure",
                                "errors": [
                                    {
                                        "errorCode": {"quotaError": "RESOURCE_EXHAUSTED"},
                                        "message": "Too many requests. Retry in 7 seconds.",
                                        "details": {"quotaErrorDetails": {"rateScope": "ACCOUNT", "retryDelay": "7s"}},
                                    }
                                ],
                            }
                        ],
                    }
                }
            ]
            return Response(json.dumps(body), status=429, content_type="application/json")
        rows = [google_row(d) for d in fake.days]
        batches = [
            {"results": rows[i : i + fake.page_size], "fieldMask": "campaign.id,segments.date", "requestId": f"r{i}"}
            for i in range(0, len(rows), fake.page_size)
        ]
        return Response(json.dumps(batches), content_type="application/json")

    server.expect_request(GOOGLE_PATH, method="POST").respond_with_handler(handler)
    return fake


# --- TikTok -------------------------------------------------------------------------------------
def tiktok_row(day: Day) -> dict[str, Any]:
    return {
        "dimensions": {"campaign_id": day.campaign_id, "stat_time_day": f"{day.date} 00:00:00"},
        "metrics": {
            "campaign_name": day.name,
            "spend": day.cost,
            "impressions": str(day.impressions),
            "clicks": str(day.clicks),
            "conversion": str(day.conversions),
            "total_complete_payment_rate": day.revenue,
            "likes": str(day.engagement),
            "comments": "0",
            "shares": "0",
            "follows": "0",
        },
    }


def serve_tiktok(server: HTTPServer, fake: Fake) -> Fake:
    def handler(request: Request) -> Response:
        fake.requests.append(request)
        code = fake.next_throttle()
        if code is not None:
            body = {"code": code, "message": "Requests made too frequently.", "request_id": "t1", "data": {}}
            return Response(json.dumps(body), content_type="application/json")
        page = int(request.args.get("page", "1"))
        size = int(request.args.get("page_size", "10"))
        size = min(size, fake.page_size)
        rows = [tiktok_row(d) for d in fake.days]
        total_pages = max(1, -(-len(rows) // size))
        body = {
            "code": 0,
            "message": "OK",
            "request_id": f"t{page}",
            "data": {
                "list": rows[(page - 1) * size : page * size],
                "page_info": {"page": page, "page_size": size, "total_number": len(rows), "total_page": total_pages},
            },
        }
        return Response(json.dumps(body), content_type="application/json")

    server.expect_request(TIKTOK_PATH, method="GET").respond_with_handler(handler)
    return fake

"""Current API versions (each a setting), a sunset version reported as such, Salesforce's
queryAll without deleted rows, and TikTok daily reports in windows of at most 30 days."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.conf import settings as django_settings
from werkzeug import Request, Response

from campaigns.tests.fakes import GOOGLE_PATH, META_PATH, TIKTOK_PATH, live_google_ads, live_meta, live_tiktok  # noqa: F401
from integrations.connectors import get_connector
from integrations.connectors.base import ConnectorError
from integrations.connectors.metrics import get_metrics_connector
from integrations.http import RetryPolicy
from integrations.tests.fakes import ACCOUNT, SF_QUERY_PATH, sf_id, sf_page, sf_task

pytestmark = pytest.mark.django_db

FAST = RetryPolicy(max_attempts=1, base_delay=0.0, max_delay=0.0, max_retry_after=1.0)


def test_the_shipped_defaults_are_current_versions():
    assert django_settings.GOOGLE_ADS_API_VERSION >= "v22"
    assert django_settings.META_API_VERSION == "v23.0" and django_settings.META_GRAPH_BASE_URL.endswith("/v23.0")
    assert float(django_settings.SALESFORCE_API_VERSION) >= 64.0


def test_salesforce_reads_with_query_all_without_deleted_rows(live_salesforce):
    live_salesforce.expect_request(SF_QUERY_PATH).respond_with_json(sf_page([sf_task(sf_id(1), "Archived call")]))

    records = [r for p in get_connector("salesforce", policy=FAST).pull(target=ACCOUNT) for r in p.records]

    assert [r.title for r in records] == ["Archived call"]
    request = live_salesforce.log[0][0]
    assert request.path == "/services/data/v64.0/queryAll"
    assert request.args["q"].endswith(
        f"WHERE (AccountId = '{ACCOUNT}' OR WhatId = '{ACCOUNT}') AND IsDeleted = false ORDER BY Id"
    )


def test_salesforce_unsupported_version_is_reported_as_such(live_salesforce, settings):
    settings.SALESFORCE_API_VERSION = "20.0"
    live_salesforce.expect_request("/services/data/v20.0/queryAll").respond_with_json(
        [{"errorCode": "UNSUPPORTED_API_VERSION", "message": "Invalid version: 20.0"}], status=400
    )
    with pytest.raises(ConnectorError, match=r"Salesforce API v20\.0 is not supported.*SALESFORCE_API_VERSION"):
        list(get_connector("salesforce", policy=FAST).pull(target=ACCOUNT))


def test_google_ads_sunset_version_is_reported_as_such(live_google_ads, settings):  # noqa: F811
    settings.GOOGLE_ADS_API_VERSION = "v22"
    # The answer Google gives a sunset version (INVALID_ARGUMENT + UNSUPPORTED_VERSION).
    live_google_ads.expect_request(GOOGLE_PATH, method="POST").respond_with_json(
        {
            "error": {
                "code": 400,
                "message": "Request contains an invalid argument.",
                "status": "INVALID_ARGUMENT",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.ads.googleads.v22.errors.GoogleAdsFailure",
                        "errors": [
                            {
                                "errorCode": {"requestError": "UNSUPPORTED_VERSION"},
                                "message": "Version v22 is deprecated. Requests to this version will be blocked.",
                            }
                        ],
                    }
                ],
            }
        },
        status=400,
    )
    connector = get_metrics_connector("google_ads", policy=FAST)
    with pytest.raises(ConnectorError, match=r"Google Ads API v22 is deprecated or sunset.*GOOGLE_ADS_API_VERSION"):
        list(connector.fetch(since=dt.date(2030, 1, 1), until=dt.date(2030, 1, 2)))


def test_meta_deprecated_version_is_reported_as_such(live_meta):  # noqa: F811
    live_meta.expect_request(META_PATH).respond_with_json(
        {
            "error": {
                "message": "(#2635) You are calling a deprecated version of the Ads API. "
                "Please update to the latest version: v23.0.",
                "type": "OAuthException",
                "code": 2635,
                "fbtrace_id": "AbCdEf",
            }
        },
        status=400,
    )
    connector = get_metrics_connector("meta_ads", policy=FAST)
    with pytest.raises(ConnectorError, match=r"Graph API version .* is deprecated.*META_API_VERSION"):
        list(connector.fetch(since=dt.date(2030, 1, 1), until=dt.date(2030, 1, 2)))


def test_tiktok_daily_reports_are_asked_in_windows_of_at_most_30_days(live_tiktok):  # noqa: F811
    windows: list[tuple[str, str]] = []

    def report(request: Request) -> Response:
        windows.append((request.args["start_date"], request.args["end_date"]))
        body = {
            "code": 0,
            "message": "OK",
            "request_id": "2030",
            "data": {"list": [], "page_info": {"page": 1, "page_size": 1000, "total_number": 0, "total_page": 1}},
        }
        return Response(json.dumps(body), content_type="application/json")

    live_tiktok.expect_request(TIKTOK_PATH).respond_with_handler(report)
    connector = get_metrics_connector("tiktok_ads", policy=FAST)
    list(connector.fetch(since=dt.date(2030, 1, 1), until=dt.date(2030, 3, 16)))

    assert windows == [("2030-01-01", "2030-01-30"), ("2030-01-31", "2030-03-01"), ("2030-03-02", "2030-03-16")]
    for start, end in windows:
        assert (dt.date.fromisoformat(end) - dt.date.fromisoformat(start)).days + 1 <= 30

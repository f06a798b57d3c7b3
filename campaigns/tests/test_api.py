"""/api/v1/campaigns: numbers equal an independent computation from the raw daily rows, a
constant number of queries, and 4xx (never 5xx) for bad input."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest

from campaigns.models import Campaign, CampaignDay
from campaigns.tests.factories import make_campaigns
from integrations.models import SyncRun

pytestmark = pytest.mark.django_db
START = dt.date(2030, 1, 1)
FROM, TO = "2030-01-05", "2030-01-30"


def q(value, places="0.01"):
    return Decimal(value).quantize(Decimal(places), ROUND_HALF_UP)


def expected(rows):
    """Totals and rates computed here, in plain Python, from the raw rows."""
    s = {
        "impressions": sum(r.impressions for r in rows),
        "clicks": sum(r.clicks for r in rows),
        "conversions": sum((Decimal(r.conversions) for r in rows), Decimal(0)),
        "engagement": sum(r.engagement for r in rows),
        "cost": sum((Decimal(r.cost) for r in rows), Decimal(0)),
        "revenue": sum((Decimal(r.revenue) for r in rows), Decimal(0)),
    }
    rate = lambda n, d: None if not d else float(q(Decimal(n) / Decimal(d), "0.000001"))  # noqa: E731
    return {
        "impressions": s["impressions"],
        "clicks": s["clicks"],
        "conversions": str(q(s["conversions"])),
        "engagement": s["engagement"],
        "cost": str(q(s["cost"])),
        "revenue": str(q(s["revenue"])),
        "ctr": rate(s["clicks"], s["impressions"]),
        "conversion_rate": rate(s["conversions"], s["clicks"]),
        "cpc": None if not s["clicks"] else str(q(s["cost"] / s["clicks"], "0.0001")),
        "roi": rate(s["revenue"] - s["cost"], s["cost"]),
    }


def in_range(rows, date_from=FROM, date_to=TO):
    a, b = dt.date.fromisoformat(date_from), dt.date.fromisoformat(date_to)
    return [r for r in rows if a <= r.date <= b]


@pytest.fixture
def data():
    return make_campaigns()


def test_list_totals_equal_an_independent_computation(api, data):
    campaigns, rows = data
    response = api.get("/api/v1/campaigns", {"date_from": FROM, "date_to": TO, "limit": 100})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == len(campaigns) and len(body["items"]) == len(campaigns)
    for item in body["items"]:
        mine = [r for r in in_range(rows) if r.campaign_id == item["id"]]
        assert item["totals"] == expected(mine), item["name"]
    free = next(i for i in body["items"] if i["name"] == "Campaign 07")
    assert free["totals"]["roi"] is None and free["totals"]["cost"] == "0.00"


def test_list_sorts_filters_and_pages(api, data):
    _campaigns, _rows = data
    body = api.get("/api/v1/campaigns", {"date_from": FROM, "date_to": TO, "order": "-roi", "limit": 100}).json()
    rois = [i["totals"]["roi"] for i in body["items"]]
    assert rois[-1] is None  # no value sorts last
    assert [r for r in rois if r is not None] == sorted([r for r in rois if r is not None], reverse=True)

    body = api.get("/api/v1/campaigns", {"channel": "tiktok", "order": "name", "date_from": FROM, "date_to": TO}).json()
    assert body["count"] == 2 and {i["channel"] for i in body["items"]} == {"tiktok"}

    page = api.get("/api/v1/campaigns", {"order": "name", "limit": 3, "offset": 3}).json()
    assert [i["name"] for i in page["items"]] == ["Campaign 03", "Campaign 04", "Campaign 05"]
    assert page["count"] == 8


def test_summary_per_channel_and_total(api, data):
    campaigns, rows = data
    by_id = {c.pk: c.channel for c in campaigns}
    body = api.get("/api/v1/campaigns/summary", {"date_from": FROM, "date_to": TO, "compare": "true"}).json()
    assert [c["channel"] for c in body["channels"]] == ["facebook", "instagram", "google_ads", "tiktok"]
    for entry in body["channels"]:
        mine = [r for r in in_range(rows) if by_id[r.campaign_id] == entry["channel"]]
        assert entry["totals"] == expected(mine), entry["channel"]
    assert body["total"] == expected(in_range(rows))
    previous = body["previous"]
    assert (previous["date_from"], previous["date_to"]) == ("2029-12-10", "2030-01-04")
    assert previous["total"] == expected(in_range(rows, "2029-12-10", "2030-01-04"))


def test_summary_of_one_channel_with_no_rows_is_zero(api):
    body = api.get("/api/v1/campaigns/summary", {"channel": "tiktok", "date_from": FROM, "date_to": TO}).json()
    assert body["channels"][0]["totals"] == {
        "impressions": 0, "clicks": 0, "conversions": "0.00", "engagement": 0, "cost": "0.00",
        "revenue": "0.00", "ctr": None, "conversion_rate": None, "cpc": None, "roi": None,
    }  # fmt: skip


def test_detail_with_daily_series(api, data):
    campaigns, rows = data
    campaign = campaigns[1]
    body = api.get(f"/api/v1/campaigns/{campaign.pk}", {"date_from": FROM, "date_to": TO}).json()
    mine = sorted((r for r in in_range(rows) if r.campaign_id == campaign.pk), key=lambda r: r.date)
    assert body["totals"] == expected(mine)
    assert [d["date"] for d in body["daily"]] == [r.date.isoformat() for r in mine]
    for day, row in zip(body["daily"], mine, strict=True):
        assert {k: v for k, v in day.items() if k != "date"} == expected([row])


@pytest.mark.parametrize("count", [3, 30])
def test_query_counts_do_not_grow_with_campaigns(api, count, django_assert_max_num_queries):
    campaigns, _ = make_campaigns(count=count, days=20)
    api.get("/api/v1/campaigns")  # warm per-process caches (API key lookups)
    with django_assert_max_num_queries(6):  # auth (key + rate limit) + 2
        assert api.get("/api/v1/campaigns", {"limit": 100}).status_code == 200
    with django_assert_max_num_queries(5):
        assert api.get("/api/v1/campaigns/summary", {"compare": "true"}).status_code == 200
    with django_assert_max_num_queries(7):
        assert api.get("/api/v1/campaigns/insights").status_code == 200
    with django_assert_max_num_queries(6):
        assert api.get(f"/api/v1/campaigns/{campaigns[0].pk}").status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"date_from": "2030-02-01", "date_to": "2030-01-01"},
        {"date_from": "2030-13-01"},
        {"date_from": "yesterday"},
        {"date_to": "1999-12-31"},
        {"date_from": "0001-01-01", "date_to": "0001-01-02"},
        {"date_from": "2000-01-01", "date_to": "2100-12-31"},
        {"channel": "myspace"},
        {"sponsor_id": "0"},
        {"order": "password"},
        {"limit": "100000"},
        {"chanel": "tiktok"},
    ],
)
def test_bad_input_is_422(api, params):
    for path in ("/api/v1/campaigns", "/api/v1/campaigns/summary", "/api/v1/campaigns/insights"):
        if path != "/api/v1/campaigns" and set(params) & {"order", "limit"}:
            continue
        response = api.get(path, params)
        assert response.status_code == 422, (path, params, response.content)
        assert response.json()["error_code"] == "VALIDATION_ERROR"


def test_unknown_campaign_is_404_and_auth_is_required(api, anon_api):
    assert api.get("/api/v1/campaigns/999999").status_code == 404
    assert api.get("/api/v1/campaigns/abc").status_code in (404, 422)
    assert anon_api.get("/api/v1/campaigns").status_code == 401


def test_post_sync_queues_runs(api, no_ad_credentials, django_capture_on_commit_callbacks, settings):
    settings.SYNC_JOBS_INLINE = True
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/campaigns/sync", {"channels": ["tiktok"], "days": 2})
    assert response.status_code == 202, response.content
    body = response.json()
    assert [r["connector"] for r in body["runs"]] == ["tiktok_ads"]
    run = SyncRun.objects.get(pk=body["run_ids"][0])
    assert run.status == SyncRun.Status.SUCCEEDED and run.trigger == "api"
    assert CampaignDay.objects.count() == 4 * 2
    assert Campaign.objects.filter(channel="tiktok").count() == 4


def test_post_sync_validates(api):
    assert api.post("/api/v1/campaigns/sync", {"channels": ["myspace"]}).status_code == 422
    assert api.post("/api/v1/campaigns/sync", {"days": 0}).status_code == 422
    assert api.post("/api/v1/campaigns/sync", {"days": "3"}).status_code == 422
    assert api.post("/api/v1/campaigns/sync", {"extra": 1}).status_code == 422


def test_alert_rules_api(api, data, user):
    created = api.post(
        "/api/v1/campaigns/alerts", {"metric": "roi", "comparison": "lt", "threshold": "0", "window_days": 3}
    )
    assert created.status_code == 201, created.content
    rule = created.json()
    assert rule["description"] == "ROI below 0 over 3 days" and rule["owner"] == "alice"
    assert [r["id"] for r in api.get("/api/v1/campaigns/alerts").json()] == [rule["id"]]
    assert (
        api.post("/api/v1/campaigns/alerts", {"metric": "roi", "comparison": "lt", "threshold": "x"}).status_code == 422
    )
    assert (
        api.post(
            "/api/v1/campaigns/alerts", {"metric": "roi", "comparison": "lt", "threshold": 1, "window_days": 91}
        ).status_code
        == 422
    )
    assert api.delete(f"/api/v1/campaigns/alerts/{rule['id']}").status_code == 204
    assert api.delete(f"/api/v1/campaigns/alerts/{rule['id']}").status_code == 404


def test_alert_rules_can_be_changed_by_their_owner_and_rearm(api, data, user, other_user):
    from accounts.actor import Actor
    from accounts.services import api_key_create
    from campaigns.models import AlertState

    rule = api.post(
        "/api/v1/campaigns/alerts", {"metric": "roi", "comparison": "lt", "threshold": "0", "window_days": 3}
    ).json()
    campaign = Campaign.objects.first()
    AlertState.objects.create(rule_id=rule["id"], campaign=campaign, firing=True)

    changed = api.patch(f"/api/v1/campaigns/alerts/{rule['id']}", {"threshold": "-0.2", "window_days": 7})
    assert changed.status_code == 200, changed.content
    body = changed.json()
    assert body["window_days"] == 7 and "over 7 days" in body["description"]
    assert Decimal(body["threshold"]) == Decimal("-0.2") and body["firing_campaign_ids"] == []
    assert not AlertState.objects.filter(rule_id=rule["id"]).exists(), "a changed condition re-arms the rule"

    renamed = api.patch(f"/api/v1/campaigns/alerts/{rule['id']}", {"name": "Losing money", "is_active": False})
    assert renamed.json()["name"] == "Losing money" and renamed.json()["is_active"] is False
    assert api.patch(f"/api/v1/campaigns/alerts/{rule['id']}", {"metric": None}).status_code == 422
    assert api.patch(f"/api/v1/campaigns/alerts/{rule['id']}", {"window_days": 91}).status_code == 422
    assert api.patch(f"/api/v1/campaigns/alerts/{rule['id']}", {"campaign_id": 999999}).status_code == 422
    assert api.patch("/api/v1/campaigns/alerts/999999", {"name": "x"}).status_code == 404

    _, other_key = api_key_create(user=other_user, name="other", actor=Actor.system_job("t"))
    refused = api.client.patch(
        f"/api/v1/campaigns/alerts/{rule['id']}",
        {"name": "mine now"},
        content_type="application/json",
        HTTP_X_API_KEY=other_key,
    )
    assert refused.status_code == 403 and refused.json()["error_code"] == "FORBIDDEN"

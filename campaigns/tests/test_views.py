"""The campaigns pages: numbers from the same selectors as the API, filters in the URL, CSV,
the campaign page, alert rules and sync now."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest

from campaigns.models import AlertRule, Campaign
from campaigns.tests.factories import make_campaigns
from integrations.models import SyncRun

pytestmark = pytest.mark.django_db
RANGE = {"date_from": "2030-01-05", "date_to": "2030-01-30"}


@pytest.fixture
def data():
    return make_campaigns()


def test_campaign_page_shows_kpis_charts_table(web, data, django_assert_max_num_queries):
    _campaigns, rows = data
    web.get("/campaigns/", RANGE)
    with django_assert_max_num_queries(20):
        response = web.get("/campaigns/", {**RANGE, "order": "-revenue"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "vendor/chartjs/chart.umd.min.js" in html and "campaigns/charts.js" in html
    chart = json.loads(html.split('id="campaign-chart-data" type="application/json">')[1].split("</script>")[0])
    assert len(chart["labels"]) == 26 and {s["channel"] for s in chart["series"]} == {
        "facebook", "instagram", "google_ads", "tiktok",
    }  # fmt: skip
    picked = [r for r in rows if r.date.isoformat() >= RANGE["date_from"] and r.date.isoformat() <= RANGE["date_to"]]
    spend = sum((Decimal(r.cost) for r in picked), Decimal(0)).quantize(Decimal("0.01"))
    assert f'data-total="cost">{spend:,.2f}<' in html
    assert "Campaign 07" in html and "n/a" in html  # the campaign with no spend has no ROI
    assert 'aria-sort="descending"' in html
    assert 'href="/campaigns/"' in html or "Campaigns" in html


def test_bad_filters_fall_back_with_a_message(web, data):
    response = web.get("/campaigns/", {"date_from": "2030-02-30", "channel": "myspace"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "is not a date" in html and "Unknown channel" in html


def test_csv_export(web, data):
    _campaigns, _ = data
    response = web.get("/campaigns/export.csv", {**RANGE, "channel": "facebook"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {r["channel"] for r in rows} == {"facebook"} and len(rows) == 2
    api_like = web.get("/api/v1/campaigns", {**RANGE, "channel": "facebook"}).json()
    totals = {i["id"]: i["totals"]["cost"] for i in api_like["items"]}
    assert {int(r["id"]): r["cost"] for r in rows} == totals


def test_campaign_detail_page(web, data):
    campaigns, _ = data
    response = web.get(f"/campaigns/{campaigns[0].pk}/", RANGE)
    assert response.status_code == 200
    assert "Campaign 00" in response.content.decode() and "chart-campaign" in response.content.decode()
    assert web.get("/campaigns/999999/").status_code == 404


def test_set_sponsor_from_the_page(web, data):
    from sponsors.models import Sponsor

    campaigns, _ = data
    sponsor = Sponsor.objects.create(name="Acme")
    response = web.post(f"/campaigns/{campaigns[0].pk}/sponsor/", {"sponsor": sponsor.pk})
    assert response.status_code == 302
    assert Campaign.objects.get(pk=campaigns[0].pk).sponsor == sponsor


def test_alert_rule_form(web, user, data):
    response = web.post(
        "/campaigns/alerts/", {"name": "", "metric": "cpc", "comparison": "gt", "threshold": "2.5", "window_days": 7}
    )
    assert response.status_code == 302
    rule = AlertRule.objects.get()
    assert rule.owner == user and rule.name == "CPC above 2.5 over 7 days"
    assert "CPC above 2.5 over 7 days" in web.get("/campaigns/alerts/").content.decode()
    assert web.post(f"/campaigns/alerts/{rule.pk}/delete/").status_code == 302
    assert not AlertRule.objects.exists()


def test_sync_now_button(web, no_ad_credentials):
    response = web.post("/campaigns/sync/", {"channel": "tiktok"})
    assert response.status_code == 302
    assert SyncRun.objects.get().connector == "tiktok_ads"


def test_sidebar_links_campaigns(web):
    html = web.get("/campaigns/").content.decode()
    assert 'href="/campaigns/"' in html and "No campaigns yet" in html


def test_login_required(client):
    assert client.get("/campaigns/").status_code in (302, 401)

"""Alerts fire once, re-arm after recovery (notification, optional task); insights are
deterministic and find what the data holds."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from accounts.actor import Actor
from campaigns.alerts import alerts_evaluate
from campaigns.insights import campaign_insights
from campaigns.models import AlertState, Campaign, CampaignDay
from campaigns.services import alert_rule_create
from campaigns.tests.factories import make_campaigns
from tasks.models import Notification, Task

pytestmark = pytest.mark.django_db
DAY = dt.date(2030, 3, 10)


def set_day(campaign, day, *, cost, revenue, clicks=100):
    CampaignDay.objects.update_or_create(
        campaign=campaign, date=day, defaults={"cost": cost, "revenue": revenue, "clicks": clicks, "impressions": 1000}
    )


@pytest.fixture
def losing(user):
    campaign = Campaign.objects.create(channel="facebook", external_id="1", name="Spring")
    rule = alert_rule_create(
        actor=Actor.system_job("t"), owner=user, name="Losing money", metric="roi", comparison="lt",
        threshold=Decimal(0), window_days=3, create_task=True,
    )  # fmt: skip
    return campaign, rule


def test_alert_fires_once_and_rearms_after_recovery(losing, user):
    campaign, _rule = losing
    for n in range(3):
        set_day(campaign, DAY - dt.timedelta(days=n), cost=100, revenue=50)

    first = alerts_evaluate(as_of=DAY)
    again = alerts_evaluate(as_of=DAY)

    assert (first.fired, again.fired) == (1, 0)
    note = Notification.objects.get(kind="campaign_alert")
    assert note.recipient == user and "Spring" in note.message and "-50.0%" in note.message
    assert note.url == f"/campaigns/{campaign.pk}/" and note.payload["metric"] == "roi"
    task = Task.objects.get()
    assert task.assignee == user and task.priority == "high" and "Spring" in task.title

    set_day(campaign, DAY + dt.timedelta(days=1), cost=100, revenue=1000)  # ROI over 3 days > 0
    recovered = alerts_evaluate(as_of=DAY + dt.timedelta(days=1))
    assert (recovered.fired, recovered.recovered) == (0, 1)
    assert not AlertState.objects.get().firing

    for n in range(2, 5):
        set_day(campaign, DAY + dt.timedelta(days=n), cost=100, revenue=10)
    refired = alerts_evaluate(as_of=DAY + dt.timedelta(days=4))
    assert refired.fired == 1
    assert Notification.objects.filter(kind="campaign_alert").count() == 2
    assert AlertState.objects.get().times_fired == 2


def test_zero_spend_roi_is_no_value_and_never_fires(losing):
    campaign, _ = losing
    set_day(campaign, DAY, cost=0, revenue=0)
    outcome = alerts_evaluate(as_of=DAY)
    assert outcome.fired == 0 and not Notification.objects.exists()


def test_spend_above_budget_on_one_channel(user):
    fb = Campaign.objects.create(channel="facebook", external_id="1", name="FB")
    tt = Campaign.objects.create(channel="tiktok", external_id="2", name="TT")
    for campaign in (fb, tt):
        set_day(campaign, DAY, cost=Decimal("500.01"), revenue=0)
    alert_rule_create(
        actor=Actor.system_job("t"), owner=user, name="Budget", metric="cost", comparison="gt",
        threshold=Decimal(500), window_days=1, channel="tiktok",
    )  # fmt: skip
    assert alerts_evaluate(as_of=DAY).fired == 1
    assert Notification.objects.get().object_id == str(tt.pk)
    assert not Task.objects.exists()  # create_task was off


def test_insights_are_deterministic_and_explain_themselves():
    make_campaigns(count=8, days=60, start=dt.date(2030, 1, 1))
    spiky = Campaign.objects.get(name="Campaign 02")
    CampaignDay.objects.filter(campaign=spiky, date=dt.date(2030, 2, 27)).update(cost=Decimal("90000"))
    args = {"date_from": dt.date(2030, 2, 1), "date_to": dt.date(2030, 3, 1)}

    first = [i.as_dict() for i in campaign_insights(**args)]
    second = [i.as_dict() for i in campaign_insights(**args)]

    assert first == second
    kinds = [i["kind"] for i in first]
    assert kinds[:2] == ["best_channel", "worst_channel"]
    best, worst = first[0], first[1]
    assert best["numbers"]["roi"] >= worst["numbers"]["roi"]
    anomaly = next(i for i in first if i["kind"] == "anomaly")
    assert anomaly["campaign_id"] == spiky.pk and anomaly["numbers"]["date"] == dt.date(2030, 2, 27)
    assert anomaly["numbers"]["metric"] == "cost" and anomaly["numbers"]["z"] > 3
    assert "far above its 28-day average" in anomaly["title"]


def test_movers_week_over_week():
    campaign = Campaign.objects.create(channel="google_ads", external_id="g", name="Search")
    start = dt.date(2030, 5, 1)
    for n in range(14):
        CampaignDay.objects.create(campaign=campaign, date=start + dt.timedelta(days=n), cost=100 if n < 7 else 160)
    insights = campaign_insights(date_from=start, date_to=start + dt.timedelta(days=13))
    mover = next(i for i in insights if i.kind == "mover_up")
    assert mover.numbers["change"] == Decimal("0.6000")
    assert mover.title == "Search: spend +60.0% week over week (1,120.00 vs 700.00)."


def test_an_alert_task_goes_to_the_sponsors_owner(losing, user, other_user):
    from sponsors.tests.factories import SponsorFactory

    campaign, _rule = losing
    campaign.sponsor = SponsorFactory(name="Acme", owner=other_user)
    campaign.save()
    for n in range(3):
        set_day(campaign, DAY - dt.timedelta(days=n), cost=100, revenue=50)

    assert alerts_evaluate(as_of=DAY).fired == 1

    assert Notification.objects.get(kind="campaign_alert").recipient == user, "the rule's owner is told"
    task = Task.objects.get()
    assert task.assignee == other_user and task.sponsor == campaign.sponsor

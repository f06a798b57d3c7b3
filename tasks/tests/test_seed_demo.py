from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from campaigns.models import Campaign
from leads.models import Lead
from sponsors.models import Sponsor
from tasks.models import Task

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_fills_every_page_and_is_idempotent() -> None:
    first = _seed()
    counts = (Task.objects.count(), Lead.objects.count(), Sponsor.objects.count(), Campaign.objects.count())

    demo = get_user_model().objects.get(username="demo")
    assert demo.check_password("tracker-demo") and demo.is_staff
    assert "demo / tracker-demo" in first
    assert Task.objects.filter(source="manual").count() == 60
    assert set(Task.objects.values_list("status", flat=True)) == {"todo", "in_progress", "done"}
    # Leads come from the demo sheet, one task each; sponsors are mapped to the simulators.
    assert Lead.objects.count() == 20 and Task.objects.filter(source="sheet").count() == 20
    assert Sponsor.objects.exclude(salesforce_account_id="").exists()
    assert Campaign.objects.count() >= 15

    second = _seed()
    assert "0 new task(s)" in second
    assert (Task.objects.count(), Lead.objects.count(), Sponsor.objects.count(), Campaign.objects.count()) == counts

"""python manage.py sync_leads [--initial] [--dry-run]."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from leads.models import Lead

pytestmark = pytest.mark.django_db


def test_sync_leads_prints_a_summary(sheet, capsys):
    call_command("sync_leads", "--initial")
    out = capsys.readouterr().out
    assert "succeeded" in out and "3 created" in out and "3 requests" in out
    assert Lead.objects.count() == 3


def test_dry_run_prints_the_plan_and_writes_nothing(sheet, capsys):
    call_command("sync_leads", "--initial", "--dry-run")
    out = capsys.readouterr().out
    assert "Dry run" in out and "lead-1 (Person 1): new" in out and "new_leads=3" in out
    assert not Lead.objects.exists() and sheet.count("batchUpdate") == 0


def test_a_failed_run_exits_non_zero(sheet):
    sheet.fail("GET", "/v4/", 401)
    with pytest.raises(CommandError, match="failed"):
        call_command("sync_leads")

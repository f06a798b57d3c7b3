"""Schedules are defined once and installed idempotently, keeping an operator's pause."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils.module_loading import import_string
from django_q.models import Schedule

from integrations.schedules import SCHEDULES, schedules_install

pytestmark = pytest.mark.django_db


def test_every_schedule_points_at_a_real_function() -> None:
    names = [d["name"] for d in SCHEDULES]
    assert len(names) == len(set(names))
    for definition in SCHEDULES:
        assert callable(import_string(definition["func"])), definition["name"]


def test_install_is_idempotent_and_keeps_a_pause() -> None:
    first = schedules_install()
    assert len(first.created) == len(SCHEDULES) and first.updated == []
    deliver = Schedule.objects.get(name="notifications: deliver")
    assert (deliver.func, deliver.schedule_type, deliver.minutes) == ("tasks.jobs.notifications_deliver", "I", 1)

    Schedule.objects.filter(name="notifications: deliver").update(repeats=0)  # paused by an operator
    second = schedules_install()
    assert second.created == [] and second.updated == [] and len(second.unchanged) == len(SCHEDULES)
    assert Schedule.objects.get(name="notifications: deliver").repeats == 0
    assert Schedule.objects.count() == len(SCHEDULES)


def test_a_changed_definition_updates_the_row_in_place() -> None:
    schedules_install()
    Schedule.objects.filter(name="reminders: due soon").update(minutes=30, repeats=0)
    result = schedules_install()
    assert result.updated == ["reminders: due soon"]
    row = Schedule.objects.get(name="reminders: due soon")
    assert (row.minutes, row.repeats) == (5, 0)


def test_invalid_definitions_are_refused() -> None:
    with pytest.raises(ValueError, match="minutes"):
        schedules_install([{"name": "x", "func": "tasks.jobs.reminders_stale", "schedule_type": "I"}])
    with pytest.raises(ValueError, match="schedule_type"):
        schedules_install([{"name": "x", "func": "tasks.jobs.reminders_stale", "schedule_type": "Z"}])


def test_setup_schedules_command_reports_what_it_did() -> None:
    out = StringIO()
    call_command("setup_schedules", stdout=out)
    assert f"{len(SCHEDULES)} created" in out.getvalue()
    out = StringIO()
    call_command("setup_schedules", stdout=out)
    assert "0 created, 0 updated" in out.getvalue()

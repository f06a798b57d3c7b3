"""User preferences: lazy defaults, validation, quiet hours across midnight and DST, audited updates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from accounts.actor import Actor
from accounts.models import AuditEvent, UserPreference, validate_time_zone
from accounts.preferences import preference_for, preference_update, preferences_for_users

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def pref_with(time_zone: str, start: str | None, end: str | None) -> UserPreference:
    return UserPreference(
        time_zone=time_zone,
        quiet_start=dt.time.fromisoformat(start) if start else None,
        quiet_end=dt.time.fromisoformat(end) if end else None,
    )


def test_defaults_are_created_lazily_once(user: Any) -> None:
    assert not UserPreference.objects.filter(user=user).exists()
    pref = preference_for(user)
    again = preference_for(user)
    assert pref.pk == again.pk
    assert UserPreference.objects.filter(user=user).count() == 1
    assert pref.time_zone == "UTC"
    assert pref.reminder_lead == dt.timedelta(hours=24)
    assert pref.stale_after == dt.timedelta(days=7)
    assert (pref.notify_in_app, pref.notify_email, pref.notify_webhook, pref.digest) == (True, True, False, False)
    assert pref.quiet_until(at(2025, 1, 1, 3)) is None


def test_batch_read_gives_defaults_without_writing(user: Any, other_user: Any, django_assert_num_queries: Any) -> None:
    preference_update(user=user, actor=Actor.system_job("t"), time_zone="Asia/Tokyo")
    with django_assert_num_queries(1):
        prefs = preferences_for_users([user.pk, other_user.pk])
    assert prefs[user.pk].time_zone == "Asia/Tokyo"
    assert prefs[other_user.pk].pk is None and prefs[other_user.pk].time_zone == "UTC"
    assert not UserPreference.objects.filter(user=other_user).exists()


@pytest.mark.parametrize("name", ["Europe/Berlin", "America/New_York", "UTC", "Asia/Kolkata"])
def test_known_time_zones_are_accepted(name: str) -> None:
    validate_time_zone(name)


@pytest.mark.parametrize("name", ["Mars/Olympus", "../../etc/passwd", "", "europe/berlin ", "UTC\x00"])
def test_unknown_time_zones_are_rejected(name: str) -> None:
    with pytest.raises(ValidationError):
        validate_time_zone(name)


def test_quiet_hours_same_day() -> None:
    pref = pref_with("UTC", "12:00", "13:30")
    assert pref.quiet_until(at(2025, 5, 1, 11, 59)) is None
    assert pref.quiet_until(at(2025, 5, 1, 12, 0)) == at(2025, 5, 1, 13, 30)
    assert pref.quiet_until(at(2025, 5, 1, 13, 29)) == at(2025, 5, 1, 13, 30)
    assert pref.quiet_until(at(2025, 5, 1, 13, 30)) is None


def test_quiet_hours_wrap_past_midnight_in_the_users_zone() -> None:
    pref = pref_with("America/New_York", "22:00", "07:00")  # EST = UTC-5 in January
    assert pref.quiet_until(at(2025, 1, 15, 2, 59)) is None  # 21:59 local
    assert pref.quiet_until(at(2025, 1, 15, 3, 0)) == at(2025, 1, 15, 12, 0)  # 22:00 → 07:00 next morning
    assert pref.quiet_until(at(2025, 1, 15, 5, 30)) == at(2025, 1, 15, 12, 0)  # 00:30 local, after midnight
    assert pref.quiet_until(at(2025, 1, 15, 11, 59)) == at(2025, 1, 15, 12, 0)
    assert pref.quiet_until(at(2025, 1, 15, 12, 0)) is None


def test_quiet_hours_end_moves_in_utc_across_spring_forward() -> None:
    pref = pref_with("Europe/Berlin", "22:00", "07:00")
    # 23:30 CET on the night clocks jump 02:00 → 03:00: 07:00 is CEST (UTC+2), i.e. 05:00 UTC.
    assert pref.quiet_until(at(2025, 3, 29, 22, 30)) == at(2025, 3, 30, 5, 0)
    # The night before, 07:00 is still CET: 06:00 UTC.
    assert pref.quiet_until(at(2025, 3, 28, 22, 30)) == at(2025, 3, 29, 6, 0)


def test_quiet_hours_end_moves_in_utc_across_fall_back() -> None:
    pref = pref_with("America/New_York", "23:00", "06:00")
    # 23:30 EDT on Nov 1; clocks go back at 02:00, so 06:00 on Nov 2 is EST (UTC-5) = 11:00 UTC.
    assert pref.quiet_until(at(2025, 11, 2, 3, 30)) == at(2025, 11, 2, 11, 0)
    # At 01:30 local, which happens twice, it is still quiet until the same instant.
    assert pref.quiet_until(at(2025, 11, 2, 5, 30)) == at(2025, 11, 2, 11, 0)  # 01:30 EDT
    assert pref.quiet_until(at(2025, 11, 2, 6, 30)) == at(2025, 11, 2, 11, 0)  # 01:30 EST


def test_quiet_hours_ending_in_a_skipped_hour_end_just_after_the_jump() -> None:
    pref = pref_with("Europe/Berlin", "00:00", "02:30")  # 02:30 does not exist on 2025-03-30
    ends = pref.quiet_until(at(2025, 3, 29, 23, 30))  # 00:30 CET
    assert ends == at(2025, 3, 30, 1, 30)  # 03:30 CEST, the first moment after the gap
    assert ends.astimezone(pref.zone).hour == 3


def test_update_validates_and_audits(user: Any) -> None:
    actor = Actor(origin="web", user=user)
    with pytest.raises(ValidationError) as excinfo:
        preference_update(user=user, actor=actor, quiet_start=dt.time(22, 0))
    assert "quiet_end" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        preference_update(user=user, actor=actor, quiet_start=dt.time(22, 0), quiet_end=dt.time(22, 0))
    assert "quiet_end" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        preference_update(user=user, actor=actor, time_zone="Nowhere/City")
    assert "time_zone" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        preference_update(user=user, actor=actor, notify_webhook=True)
    assert "webhook_url" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        preference_update(user=user, actor=actor, reminder_lead=dt.timedelta(0))
    assert "reminder_lead" in excinfo.value.message_dict
    assert preference_for(user).quiet_start is None

    pref = preference_update(
        user=user,
        actor=actor,
        time_zone="Europe/Berlin",
        quiet_start=dt.time(22, 0, 41),
        quiet_end=dt.time(7, 0),
        notify_webhook=True,
        webhook_url="https://hooks.example.com/tracker",
    )
    assert pref.quiet_start == dt.time(22, 0)
    assert len(pref.webhook_secret) >= 32  # generated for the new URL
    event = AuditEvent.objects.get(action="preference.update")
    assert event.changes["time_zone"] == ["UTC", "Europe/Berlin"]
    assert pref.webhook_secret not in str(event.changes)  # the secret is never written to the audit log

    # Nothing changed: nothing written or audited.
    preference_update(user=user, actor=actor, time_zone="Europe/Berlin")
    assert AuditEvent.objects.filter(action="preference.update").count() == 1


def test_changing_the_webhook_re_enables_a_disabled_one(user: Any) -> None:
    actor = Actor(origin="web", user=user)
    preference_update(user=user, actor=actor, notify_webhook=True, webhook_url="https://a.example.com/hook")
    UserPreference.objects.filter(user=user).update(
        webhook_failures=5, webhook_disabled_at=at(2025, 1, 1), webhook_last_error="HTTP 500"
    )
    pref = preference_update(user=user, actor=actor, webhook_url="https://b.example.com/hook")
    assert pref.webhook_disabled_at is None and pref.webhook_failures == 0 and pref.webhook_last_error == ""
    assert pref.webhook_active


def test_webhook_url_must_be_http(user: Any) -> None:
    with pytest.raises(ValidationError) as excinfo:
        preference_update(user=user, actor=Actor(origin="web", user=user), webhook_url="ftp://files.example.com/x")
    assert "webhook_url" in excinfo.value.message_dict

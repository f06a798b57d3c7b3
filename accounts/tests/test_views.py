"""The account page (API keys, security), the staff audit log and the sign-in pages' look."""

from __future__ import annotations

import re
from typing import Any

import pytest
from allauth.mfa.models import Authenticator
from django.test import Client
from django.urls import reverse

from accounts.actor import Actor
from accounts.models import ApiKey, AuditEvent
from accounts.services import api_key_create, audit_record
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

KEY_RE = re.compile(r"trk_[A-Za-z0-9_\-]{20,}")


def create_key_via_page(web: Client, name: str = "reporting script") -> tuple[Any, str]:
    response = web.post(reverse("api_key_create"), {"name": name})
    assert response.status_code == 200
    keys = set(KEY_RE.findall(response.content.decode()))
    assert len(keys) == 1, keys
    return response, keys.pop()


# --- Settings page ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["account_settings", "audit_log"])
def test_anonymous_visitors_are_sent_to_login(client: Client, name: str) -> None:
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_settings_page_shows_profile_keys_and_security(web: Client, user: Any) -> None:
    api_key_create(user=user, name="laptop", actor=Actor.system_job("tests"))
    response = web.get(reverse("account_settings"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "alice@example.com" in page
    assert "laptop" in page and "trk_" in page  # the name and the display prefix
    assert "Active" in page and "Never" in page
    assert reverse("account_change_password") in page
    assert reverse("mfa_activate_totp") in page
    assert reverse("mfa_index") in page
    assert "Not active" in page


def test_settings_page_empty_state_for_keys(web: Client) -> None:
    page = web.get(reverse("account_settings")).content.decode()
    assert "No API keys yet" in page


def test_settings_page_shows_active_totp(web: Client, user: Any) -> None:
    Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": "x"})
    page = web.get(reverse("account_settings")).content.decode()
    assert "Signing in asks for a code" in page
    assert reverse("mfa_deactivate_totp") in page
    assert reverse("mfa_activate_totp") not in page


def test_new_key_is_shown_once_and_works_against_the_api(web: Client, user: Any) -> None:
    response, raw = create_key_via_page(web)
    assert response["Cache-Control"] == "no-store"
    assert "will not be shown again" in response.content.decode()
    key = ApiKey.objects.get(user=user)
    assert key.name == "reporting script"
    assert raw not in key.key_hash and raw.startswith(key.prefix)
    # Never stored where it could be shown again.
    assert raw not in str(dict(web.session))
    assert raw not in web.get(reverse("account_settings")).content.decode()
    me = Client().get("/api/v1/me", HTTP_X_API_KEY=raw)
    assert me.status_code == 200
    assert me.json()["username"] == "alice"
    assert me.json()["api_key"] == "reporting script"
    event = AuditEvent.objects.get(action="api_key.create")
    assert event.origin == "web" and event.actor_user == user


def test_key_name_is_required(web: Client) -> None:
    response = web.post(reverse("api_key_create"), {"name": "  "})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not ApiKey.objects.exists()
    assert not KEY_RE.search(response.content.decode())


def test_get_on_create_goes_back_to_settings(web: Client) -> None:
    response = web.get(reverse("api_key_create"))
    assert response.status_code == 302
    assert response["Location"] == reverse("account_settings")
    assert not ApiKey.objects.exists()


def test_revoke_key_then_it_gets_401(web: Client, user: Any) -> None:
    _, raw = create_key_via_page(web)
    key = ApiKey.objects.get(user=user)
    page = web.get(reverse("account_settings")).content.decode()
    assert f'action="{reverse("api_key_revoke", args=[key.pk])}"' in page
    assert "data-confirm=" in page
    response = web.post(reverse("api_key_revoke", args=[key.pk]), follow=True)
    assert response.status_code == 200
    assert "Revoked the key “reporting script”" in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert Client().get("/api/v1/me", HTTP_X_API_KEY=raw).status_code == 401
    assert AuditEvent.objects.get(action="api_key.revoke").origin == "web"
    assert "Revoked" in web.get(reverse("account_settings")).content.decode()


def test_revoke_needs_post(web: Client, user: Any) -> None:
    key, _ = api_key_create(user=user, name="k", actor=Actor.system_job("tests"))
    assert web.get(reverse("api_key_revoke", args=[key.pk])).status_code == 405
    key.refresh_from_db()
    assert key.revoked_at is None


def test_cannot_see_or_revoke_another_users_key(web: Client, other_user: Any) -> None:
    key, raw = api_key_create(user=other_user, name="bobs key", actor=Actor.system_job("tests"))
    assert "bobs key" not in web.get(reverse("account_settings")).content.decode()
    response = web.post(reverse("api_key_revoke", args=[key.pk]))
    assert response.status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None
    assert Client().get("/api/v1/me", HTTP_X_API_KEY=raw).status_code == 200


# --- Audit log --------------------------------------------------------------------------------


def test_audit_log_is_forbidden_for_non_staff(web: Client) -> None:
    response = web.get(reverse("audit_log"))
    assert response.status_code == 403
    assert "Only staff members can see the audit log" in response.content.decode()


def test_audit_log_lists_events_with_changes(staff_web: Client, user: Any) -> None:
    task = TaskFactory(title="Audited task")
    audit_record(
        actor=Actor(origin="api", user=user, ip="10.0.0.9"),
        action="task.update",
        obj=task,
        changes={"title": ("Before title", "Audited task")},
    )
    response = staff_web.get(reverse("audit_log"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "alice" in page and "10.0.0.9" in page
    assert "task.update" in page and "API" in page
    assert "Before title" in page and "Audited task" in page
    assert reverse("task_detail", args=[task.pk]) in page


def test_audit_log_filters(staff_web: Client, user: Any, other_user: Any) -> None:
    audit_record(actor=Actor(origin="web", user=user), action="task.create", object_repr="Made by alice")
    audit_record(actor=Actor(origin="api", user=other_user), action="task.delete", object_repr="Removed by bob")
    audit_record(actor=Actor.system_job("sponsor pull", origin="sync"), action="task.update", object_repr="Synced")

    def shown(**params: str) -> set[str]:
        response = staff_web.get(reverse("audit_log"), params)
        assert response.status_code == 200
        return {e.object_repr for e in response.context["events"]}

    assert shown() == {"Made by alice", "Removed by bob", "Synced"}
    assert shown(action="task.delete") == {"Removed by bob"}
    assert shown(origin="sync") == {"Synced"}
    assert shown(actor="ALI") == {"Made by alice"}
    page = staff_web.get(reverse("audit_log"), {"actor": "nobody"}).content.decode()
    assert "No events match these filters" in page


@pytest.mark.parametrize(
    "params", [{"action": "drop table"}, {"origin": "moon"}, {"actor": "a\x00b"}, {"page": "x"}, {"page": "10**9"}]
)
def test_audit_log_bad_filters_are_not_a_500(staff_web: Client, params: dict[str, str]) -> None:
    audit_record(actor=Actor.system_job("tests"), action="task.create", object_repr="Still here")
    response = staff_web.get(reverse("audit_log"), params)
    assert response.status_code == 200
    assert "Still here" in response.content.decode()


def test_audit_log_paginates(staff_web: Client) -> None:
    AuditEvent.objects.bulk_create(
        AuditEvent(actor_label="job", action="task.update", origin="sync", object_repr=f"E{i}") for i in range(120)
    )
    page = staff_web.get(reverse("audit_log")).content.decode()
    assert "Page 1 of 3" in page
    assert len(staff_web.get(reverse("audit_log"), {"page": 3}).context["events"]) == 20


# --- allauth pages use the dashboard's look ------------------------------------------------------


@pytest.mark.parametrize("name", ["account_login", "account_signup", "account_reset_password"])
def test_sign_in_pages_use_the_tracker_layout(client: Client, name: str) -> None:
    response = client.get(reverse(name))
    assert response.status_code == 200
    page = response.content.decode()
    assert "vendor/bootstrap/css/bootstrap.min.css" in page
    assert "entrance-card" in page
    assert 'class="btn btn-primary' in page
    assert "<label" in page


def test_login_page_signs_in_to_the_dashboard(client: Client, user: Any) -> None:
    response = client.post(reverse("account_login"), {"login": "alice", "password": "pw-alice-123!"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    assert "Overview" in response.content.decode()


def test_failed_login_shows_the_error_in_our_layout(client: Client, user: Any) -> None:
    response = client.post(reverse("account_login"), {"login": "alice", "password": "wrong"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "alert-danger" in page
    assert "entrance-card" in page


@pytest.mark.parametrize("name", ["account_change_password", "mfa_index"])
def test_account_management_pages_keep_the_side_navigation(web: Client, name: str) -> None:
    response = web.get(reverse(name))
    assert response.status_code == 200
    page = response.content.decode()
    assert "app-sidebar" in page
    assert "manage-card" in page
    assert reverse("account_settings") in page


def test_logout_is_a_post_from_the_side_navigation(web: Client) -> None:
    response = web.post(reverse("account_logout"))
    assert response.status_code == 302
    assert web.get(reverse("dashboard")).status_code == 302


def test_settings_page_says_when_an_unverified_email_blocks_totp(web: Client, user: Any, settings: Any) -> None:
    from allauth.account.models import EmailAddress

    settings.MFA_ALLOW_UNVERIFIED_EMAIL = False  # as when email verification is switched on
    EmailAddress.objects.create(user=user, email=user.email, verified=False, primary=True)
    page = web.get(reverse("account_settings")).content.decode()
    assert "Verify your email address before setting up an authenticator app" in page
    assert reverse("account_email") in page


def test_unverified_email_does_not_block_totp_when_verification_is_off(web: Client, user: Any) -> None:
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=user, email=user.email, verified=False, primary=True)
    page = web.get(reverse("account_settings")).content.decode()
    assert "Verify your email address before setting up an authenticator app" not in page
    response = web.get(reverse("mfa_activate_totp"))
    # allauth asks for the password again (re-authentication), not for a verified email first.
    assert response.status_code == 200 or "reauthenticate" in response["Location"]

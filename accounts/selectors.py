"""Reads for accounts: API keys, the audit trail, and users by e-mail."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from allauth.account.models import EmailAddress
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.db.models.functions import Lower

from accounts.models import ApiKey, AuditEvent


def api_key_list(*, user: Any) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("revoked_at", "-created_at")


def audit_event_list(
    *,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    origin: str | None = None,
    actor: str | None = None,
) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.select_related("actor_user")
    if action:
        qs = qs.filter(action=action)
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=object_id)
    if origin:
        qs = qs.filter(origin=origin)
    if actor:
        qs = qs.filter(actor_label__icontains=actor)
    return qs.order_by("-created_at", "-id")


def audit_action_choices() -> list[str]:
    """Every action name present in the audit trail, sorted (for the audit page's filter)."""
    return sorted(AuditEvent.objects.order_by().values_list("action", flat=True).distinct())


def audit_object_type_choices() -> list[str]:
    """Every object type present in the audit trail, sorted (for the audit page's filter)."""
    return sorted(t for t in AuditEvent.objects.order_by().values_list("object_type", flat=True).distinct() if t)


def mfa_summary(*, user: Any) -> dict[str, bool]:
    """Which second factors the user has set up, and whether allauth lets them add one now.

    Returns {"totp": bool, "recovery_codes": bool, "needs_verified_email": bool}: allauth refuses
    new authenticators while the user has an unverified email address (unless
    MFA_ALLOW_UNVERIFIED_EMAIL is set).
    """
    types = set(Authenticator.objects.filter(user=user).values_list("type", flat=True))
    needs_verified_email = (
        not mfa_settings.ALLOW_UNVERIFIED_EMAIL and EmailAddress.objects.filter(user=user, verified=False).exists()
    )
    return {
        "totp": Authenticator.Type.TOTP in types,
        "recovery_codes": Authenticator.Type.RECOVERY_CODES in types,
        "needs_verified_email": needs_verified_email,
    }


# Second factors that count for MFA_REQUIRED_FOR_STAFF; recovery codes only back one of these up.
MFA_FACTOR_TYPES = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


def staff_mfa_missing(*, user: Any) -> bool:
    """True when MFA_REQUIRED_FOR_STAFF is on and `user` is signed in, staff (or superuser) and
    has no second factor (an authenticator app; a security key if WebAuthn is ever enabled).

    Read on each request, not remembered in the session, so removing the authenticator takes
    effect at once. Costs one indexed query, for staff only and only when the setting is on.
    """
    if not settings.MFA_REQUIRED_FOR_STAFF or user is None or not user.is_authenticated:
        return False
    if not (user.is_staff or user.is_superuser):
        return False
    return not Authenticator.objects.filter(user=user, type__in=MFA_FACTOR_TYPES).exists()


def user_ids_by_email(emails: Iterable[str]) -> dict[str, int]:
    """{lower-cased e-mail: id} of the active users with these addresses (compared case-
    insensitively, in one query). Where several active users share an address, the oldest
    account (lowest id) is the one returned, so the answer does not change from run to run."""
    wanted = {email.lower() for email in emails if email}
    if not wanted:
        return {}
    rows = (
        get_user_model()
        .objects.filter(is_active=True)
        .annotate(email_lower=Lower("email"))
        .filter(email_lower__in=wanted)
        .order_by("-pk")
        .values_list("email_lower", "pk")
    )
    return dict(rows)

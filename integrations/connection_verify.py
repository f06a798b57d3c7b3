"""Credentials checked against the platform: adding a token or a service-account key (saved
only when the platform accepts it) and testing a connection that exists."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.actor import Actor
from integrations.connection_services import connection_create, connection_mark_verified, connection_record_error
from integrations.connectors.base import AuthError, ConnectorError, HttpConnector, Identity
from integrations.credentials import redact, secret_values
from integrations.environment import EnvironmentConnection
from integrations.models import Connection

# The connector that checks each platform's credentials (its whoami()).
VERIFIERS = {
    "salesforce": "integrations.connectors.salesforce.SalesforceConnector",
    "google": "integrations.connectors.google_calendar.GoogleCalendarConnector",
    "asana": "integrations.connectors.asana.AsanaConnector",
    "meta": "integrations.connectors.meta_ads.MetaAdsConnector",
    "tiktok": "integrations.connectors.tiktok_ads.TikTokAdsConnector",
}
TOKEN_PLATFORMS = ("asana", "meta", "tiktok")


class ConnectionRefused(Exception):
    """The platform (or the input) refused the credentials; the message says why, no secret."""


class ConnectionExists(Exception):
    def __init__(self, existing: Connection) -> None:
        super().__init__(
            f"This {existing.get_platform_display()} account is already connected as connection {existing.pk}."
        )
        self.existing = existing


@dataclass(frozen=True)
class TestResult:
    ok: bool
    detail: str
    identity: Identity | None = None


def _verifier(connection: Connection | EnvironmentConnection) -> HttpConnector:
    from django.utils.module_loading import import_string

    cls = import_string(VERIFIERS[connection.platform])
    return cls(connection=connection, demo=False)


def identify(connection: Connection | EnvironmentConnection) -> Identity:
    """Ask the platform whose credentials these are. Raises ConnectorError (messages scrubbed)."""
    if connection.platform == "google" and connection.auth == Connection.Auth.SERVICE_ACCOUNT:
        from integrations.tokens import GOOGLE_SCOPES, service_account_exchange

        text = connection.secrets.get("service_account_json", "")
        service_account_exchange(text, scopes=GOOGLE_SCOPES)
        info = json.loads(text) if text else {}
        email = str(info.get("client_email", ""))
        return Identity(
            account_id=str(info.get("client_id") or email),
            account_name=email,
            account_email=email,
            extra={"project_id": str(info.get("project_id", ""))},
        )
    with _verifier(connection) as connector:
        return connector.whoami()


def connection_add(
    *, platform: str, label: str, actor: Actor, token: str = "", service_account_json: str = ""
) -> Connection:
    """Verify a token (Asana personal access token, Meta system-user token, TikTok long-term
    token) or a Google service-account key with the platform, then save it as a connection.
    Raises ConnectionRefused (the platform's reason), ConnectionExists."""
    if service_account_json:
        if platform != "google":
            raise ConnectionRefused("A service-account key is for Google only.")
        auth, secrets = Connection.Auth.SERVICE_ACCOUNT, {"service_account_json": service_account_json}
        _check_service_account_json(service_account_json)
    elif token:
        if platform not in TOKEN_PLATFORMS:
            raise ConnectionRefused(
                f"{platform} connects through its OAuth consent (Connections page), not with a pasted token."
            )
        auth, secrets = Connection.Auth.TOKEN, {"access_token": token}
    else:
        raise ConnectionRefused("Give a token, or for Google a service_account_json.")
    candidate = Connection(platform=platform, label=label, auth=auth)
    candidate.set_secrets(secrets)
    try:
        identity = identify(candidate)
    except ConnectorError as exc:
        raise ConnectionRefused(_scrub(str(exc), secrets)) from None
    existing = Connection.objects.filter(platform=platform, account_id=identity.account_id[:255]).first()
    if existing is not None and identity.account_id:
        raise ConnectionExists(existing)
    try:
        with transaction.atomic():
            return connection_create(
                platform=platform,
                label=label,
                auth=auth,
                secrets=secrets,
                actor=actor,
                account_id=identity.account_id,
                account_name=identity.account_name,
                account_email=identity.account_email,
                account_extra=identity.extra,
            )
    except IntegrityError:
        existing = Connection.objects.get(platform=platform, account_id=identity.account_id[:255])
        raise ConnectionExists(existing) from None


def connection_test(connection: Connection | EnvironmentConnection) -> TestResult:
    """Check the connection's credentials with the platform now (refreshing its token when it
    is due); a stored connection records the outcome. Never raises for a platform failure."""
    try:
        identity = identify(connection)
    except ConnectorError as exc:
        detail = _scrub(str(exc), _secrets_of(connection))
        if isinstance(connection, Connection) and connection.status != Connection.Status.NEEDS_RECONNECT:
            if isinstance(exc, AuthError) or not exc.retryable:
                connection_record_error(connection=connection, error=detail)
        return TestResult(ok=False, detail=detail)
    if isinstance(connection, Connection):
        connection.refresh_from_db()
        connection_mark_verified(connection=connection, account_extra=identity.extra or None)
    return TestResult(
        ok=True,
        detail=f"{connection.get_platform_display()} accepted the credentials ({timezone.now():%Y-%m-%d %H:%M} UTC).",
        identity=identity,
    )


def _check_service_account_json(text: str) -> None:
    try:
        info = json.loads(text)
    except ValueError:
        raise ConnectionRefused("service_account_json is not JSON (paste the whole key file).") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ConnectionRefused('service_account_json is not a service-account key ("type": "service_account").')
    missing = [name for name in ("client_email", "private_key") if not info.get(name)]
    if missing:
        raise ConnectionRefused(f"service_account_json lacks {', '.join(missing)}.")


def _secrets_of(connection: Any) -> dict[str, str]:
    try:
        return dict(connection.secrets)
    except Exception:  # noqa: BLE001
        return {}


def _scrub(text: str, secrets: dict[str, str]) -> str:
    return redact(text, secret_values(secrets))[:1000]

"""The read-only "environment" connection of each platform configured through environment
variables (SALESFORCE_ACCESS_TOKEN, ASANA_ACCESS_TOKEN, …): those variables keep working, and
show in the connection list next to the stored connections, labelled "environment". They are
not rows: they cannot be deleted, refreshed or reconnected here, only changed where they are set.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

ENVIRONMENT_LABEL = "environment"


@dataclass(frozen=True)
class EnvironmentConnection:
    """A platform's credentials from settings, shaped like a Connection for reading."""

    platform: str
    auth: str
    secrets: dict[str, str] = field(repr=False)
    settings_names: tuple[str, ...] = ()
    account_name: str = ""
    account_extra: dict[str, Any] = field(default_factory=dict)
    label: str = ENVIRONMENT_LABEL
    status: str = "connected"
    scopes: tuple[str, ...] = ()
    expires_at: dt.datetime | None = None
    last_refreshed_at: dt.datetime | None = None
    last_verified_at: dt.datetime | None = None
    last_error: str = ""
    is_environment: bool = True
    pk: None = None

    @property
    def id(self) -> str:
        return f"environment-{self.platform}"

    @property
    def account(self) -> str:
        return self.account_name

    @property
    def account_id(self) -> str:
        return ""

    @property
    def account_email(self) -> str:
        return ""

    @property
    def access_token(self) -> str:
        return self.secrets.get("access_token", "")

    @property
    def refresh_token(self) -> str:
        return ""

    @property
    def instance_url(self) -> str:
        return str(self.account_extra.get("instance_url", ""))

    @property
    def is_usable(self) -> bool:
        return True

    def get_platform_display(self) -> str:
        return PLATFORM_LABELS.get(self.platform, self.platform)

    def __str__(self) -> str:
        return f"{self.get_platform_display()}: {self.label}"


PLATFORM_LABELS = {
    "salesforce": "Salesforce",
    "google": "Google",
    "asana": "Asana",
    "meta": "Meta",
    "tiktok": "TikTok",
}


def _setting(name: str) -> str:
    return str(getattr(settings, name, "") or "").strip()


def _service_account(path: str) -> tuple[str, str]:
    """(client e-mail, JSON text) of the key file at `path`; ("", "") when unreadable (the sync
    then reports the file as unusable)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        info = json.loads(text)
    except (OSError, ValueError):
        return "", ""
    return (str(info.get("client_email", "")) if isinstance(info, dict) else ""), text


def environment_connection(platform: str) -> EnvironmentConnection | None:
    """The environment connection of `platform`, or None when its variables are not set."""
    if platform == "salesforce":
        instance, token = _setting("SALESFORCE_INSTANCE_URL"), _setting("SALESFORCE_ACCESS_TOKEN")
        if instance and token:
            return EnvironmentConnection(
                platform=platform,
                auth="token",
                secrets={"access_token": token},
                settings_names=("SALESFORCE_INSTANCE_URL", "SALESFORCE_ACCESS_TOKEN"),
                account_name=instance,
                account_extra={"instance_url": instance.rstrip("/")},
            )
    elif platform == "asana":
        if token := _setting("ASANA_ACCESS_TOKEN"):
            return EnvironmentConnection(
                platform=platform, auth="token", secrets={"access_token": token}, settings_names=("ASANA_ACCESS_TOKEN",)
            )
    elif platform == "google":
        token, path = _setting("GOOGLE_ACCESS_TOKEN"), _setting("GOOGLE_SERVICE_ACCOUNT_FILE")
        ads_token = _setting("GOOGLE_ADS_ACCESS_TOKEN")
        if token or ads_token:
            names = tuple(n for n in ("GOOGLE_ACCESS_TOKEN", "GOOGLE_ADS_ACCESS_TOKEN") if _setting(n))
            return EnvironmentConnection(
                platform=platform, auth="token", secrets={"access_token": token or ads_token}, settings_names=names
            )
        if path:
            email, text = _service_account(path)
            return EnvironmentConnection(
                platform=platform,
                auth="service_account",
                secrets={"service_account_json": text} if text else {},
                settings_names=("GOOGLE_SERVICE_ACCOUNT_FILE",),
                account_name=email,
                account_extra={"service_account_file": path},
            )
    elif platform == "meta":
        if token := _setting("META_ACCESS_TOKEN"):
            account = _setting("META_AD_ACCOUNT_ID")
            return EnvironmentConnection(
                platform=platform,
                auth="token",
                secrets={"access_token": token},
                settings_names=("META_ACCESS_TOKEN",),
                account_extra={"ad_account_ids": [account]} if account else {},
            )
    elif platform == "tiktok":
        if token := _setting("TIKTOK_ACCESS_TOKEN"):
            advertiser = _setting("TIKTOK_ADVERTISER_ID")
            return EnvironmentConnection(
                platform=platform,
                auth="token",
                secrets={"access_token": token},
                settings_names=("TIKTOK_ACCESS_TOKEN",),
                account_extra={"advertiser_ids": [advertiser]} if advertiser else {},
            )
    return None


def environment_connections() -> list[EnvironmentConnection]:
    """Every platform's environment connection, in platform order."""
    return [conn for platform in PLATFORM_LABELS if (conn := environment_connection(platform)) is not None]

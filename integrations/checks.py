"""System checks for connection secrets: `check --deploy` reports a missing CREDENTIALS_KEYS,
and every check reports a value that is not a Fernet key."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Info, Tags, Warning, register

from integrations.credentials import configured_keys, invalid_keys

OAUTH_CLIENT_SETTINGS = ("SALESFORCE_CLIENT_ID", "GOOGLE_CLIENT_ID", "ASANA_CLIENT_ID", "META_APP_ID", "TIKTOK_APP_ID")


@register(Tags.security, deploy=True)
def credentials_key_deploy_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A missing CREDENTIALS_KEYS is always reported; it is a warning once an OAuth app is set up
    (people are about to connect accounts whose secrets could not be stored), else a note: an
    install that has not connected anything yet is not insecure for lacking it."""
    if configured_keys():
        return []
    oauth_apps = [name for name in OAUTH_CLIENT_SETTINGS if getattr(settings, name, "")]
    kind = Warning if oauth_apps else Info
    why = f" ({', '.join(oauth_apps)} set)" if oauth_apps else ""
    return [
        kind(
            f"CREDENTIALS_KEYS is not set{why}: connection secrets cannot be stored (with DEBUG a key "
            "derived from SECRET_KEY is used, which changes whenever SECRET_KEY does).",
            hint='Generate one with: python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())" and set CREDENTIALS_KEYS to it.',
            id="integrations.W001" if oauth_apps else "integrations.I001",
        )
    ]


@register(Tags.security)
def credentials_key_format_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    return [
        Error(
            f"CREDENTIALS_KEYS entry {position} is not a Fernet key (32 url-safe base64-encoded bytes).",
            id="integrations.E001",
        )
        for position in invalid_keys()
    ]

"""System checks for connection secrets: `check --deploy` reports a missing CREDENTIALS_KEYS,
and every check reports a value that is not a Fernet key."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, Warning, register

from integrations.credentials import configured_keys, invalid_keys


@register(Tags.security, deploy=True)
def credentials_key_deploy_check(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    if configured_keys():
        return []
    return [
        Warning(
            "CREDENTIALS_KEYS is not set: connection secrets cannot be stored (with DEBUG a key "
            "derived from SECRET_KEY is used, which changes whenever SECRET_KEY does).",
            hint='Generate one with: python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())" and set CREDENTIALS_KEYS to it.',
            id="integrations.W001",
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

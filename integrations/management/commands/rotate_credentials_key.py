"""Re-encrypt every connection secret with the first CREDENTIALS_KEYS key.

Put the new key first in CREDENTIALS_KEYS (keep the old ones after it), run this, then drop the
old keys."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from accounts.actor import Actor
from integrations.connection_services import connection_rotate_keys
from integrations.credentials import CredentialsUnreadable


class Command(BaseCommand):
    help = "Re-encrypt every connection secret with the first key in CREDENTIALS_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = connection_rotate_keys(actor=Actor.system_job("rotate_credentials_key"))
        except (CredentialsUnreadable, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Re-encrypted the secrets of {count} connection(s) with the first key.")

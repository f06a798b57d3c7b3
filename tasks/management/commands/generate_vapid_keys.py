"""Print a new VAPID key pair for Web Push, as the environment variables to set."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from tasks.push import vapid_keys_generate


class Command(BaseCommand):
    help = (
        "Generate a VAPID key pair for Web Push and print WEBPUSH_VAPID_PUBLIC_KEY and "
        "WEBPUSH_VAPID_PRIVATE_KEY lines for .env. Keep the private key secret; changing the pair "
        "later means every device has to enable push again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        public, private = vapid_keys_generate()
        self.stdout.write(f"WEBPUSH_VAPID_PUBLIC_KEY={public}")
        self.stdout.write(f"WEBPUSH_VAPID_PRIVATE_KEY={private}")

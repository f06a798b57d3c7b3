from __future__ import annotations

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from integrations import checks  # noqa: F401  (registers the CREDENTIALS_KEYS checks)

        post_migrate.connect(_install_schedules, sender=self, dispatch_uid="integrations.install_schedules")


def _install_schedules(sender: AppConfig, using: str = "default", **kwargs: object) -> None:
    """`migrate` installs or updates every schedule (idempotent, keeps pauses), so a release's
    only database step is `migrate` and a cluster started after it runs the jobs. Off with
    SCHEDULES_AUTO_INSTALL=false (the test suite and the bench install what they need)."""
    from django.conf import settings

    if not settings.SCHEDULES_AUTO_INSTALL or using != "default":
        return
    from django.db import transaction

    from integrations.schedules import schedules_install

    with transaction.atomic():
        schedules_install()

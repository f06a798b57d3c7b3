"""python manage.py setup_schedules: install or update every django-q2 schedule (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from integrations.schedules import schedules_install


class Command(BaseCommand):
    help = "Create or update the product's django-q2 schedules by name, keeping paused ones paused."

    def handle(self, *args: Any, **options: Any) -> None:
        result = schedules_install()
        for label, names in (("created", result.created), ("updated", result.updated), ("unchanged", result.unchanged)):
            for name in names:
                self.stdout.write(f"{label:>9}  {name}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Schedules: {len(result.created)} created, {len(result.updated)} updated, "
                f"{len(result.unchanged)} unchanged."
            )
        )

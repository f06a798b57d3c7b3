from __future__ import annotations

from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"

    def ready(self) -> None:
        from tasks import connection_alerts  # noqa: F401  (staff hear when a connection needs them)

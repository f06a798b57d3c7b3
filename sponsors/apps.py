from __future__ import annotations

from django.apps import AppConfig


class SponsorsConfig(AppConfig):
    name = "sponsors"

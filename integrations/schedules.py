"""Every django-q2 schedule of the product, defined in this one place.

`schedules_install()` creates missing schedules and brings existing ones up to date by name,
keeping their pause state (`repeats`) and next run: re-running it (every deploy does) changes
nothing that an operator chose. Other parts of the product add their entries to SCHEDULES.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

SCHEDULES: list[dict[str, Any]] = [
    # Reminders (tasks/reminders.py through tasks/jobs.py).
    {"name": "reminders: due soon", "func": "tasks.jobs.reminders_due_soon", "schedule_type": "I", "minutes": 5},
    {"name": "reminders: overdue", "func": "tasks.jobs.reminders_overdue", "schedule_type": "I", "minutes": 5},
    {"name": "reminders: stale tasks", "func": "tasks.jobs.reminders_stale", "schedule_type": "H"},
    {"name": "notifications: deliver", "func": "tasks.jobs.notifications_deliver", "schedule_type": "I", "minutes": 1},
    # Hourly: each user's digest goes out at DIGEST_HOUR in their own time zone.
    {"name": "notifications: daily digest", "func": "tasks.jobs.notifications_digest", "schedule_type": "H"},
    {"name": "enrichment: retry pending", "func": "tasks.jobs.enrichment_retry", "schedule_type": "I", "minutes": 10},
    # Sponsor task pull (sponsors/jobs.py): queues one pull per active sponsor × mapped platform.
    {"name": "sponsors: pull tasks", "func": "sponsors.jobs.sponsor_pull_all", "schedule_type": "I", "minutes": 1},
    # Lead sheet two-way sync (leads/jobs.py).
    {"name": "leads: sheet sync", "func": "leads.jobs.lead_sync_scheduled", "schedule_type": "I", "minutes": 5},
    # Campaign metrics (campaigns/jobs.py): hourly at minute 0, one job per ad platform, then alerts.
    {
        "name": "campaigns: sync metrics",
        "func": "campaigns.jobs.campaign_sync_all",
        "schedule_type": "C",
        "cron": "0 * * * *",
    },
]

# Fields a definition may set; anything else on an existing row (repeats = paused or not,
# next_run, last task) belongs to the scheduler and the operator.
MANAGED_FIELDS = ("func", "schedule_type", "minutes", "cron", "args", "kwargs", "cluster")


@dataclass(frozen=True)
class InstallResult:
    created: list[str]
    updated: list[str]
    unchanged: list[str]


def _defaults(definition: dict[str, Any]) -> dict[str, Any]:
    values = {name: definition.get(name) for name in MANAGED_FIELDS}
    values["args"] = values["args"] or None
    values["kwargs"] = values["kwargs"] or None
    if values["schedule_type"] != Schedule.MINUTES:
        values["minutes"] = None
    if values["schedule_type"] != Schedule.CRON:
        values["cron"] = None
    return values


def _check(definition: dict[str, Any]) -> None:
    if not definition.get("name") or not definition.get("func"):
        raise ValueError(f"A schedule needs a name and a func: {definition!r}")
    kind = definition.get("schedule_type")
    if kind not in dict(Schedule.TYPE):
        raise ValueError(f"Schedule {definition['name']!r}: unknown schedule_type {kind!r}")
    if kind == Schedule.MINUTES and not definition.get("minutes"):
        raise ValueError(f"Schedule {definition['name']!r}: 'minutes' is required for schedule_type 'I'")
    if kind == Schedule.CRON and not definition.get("cron"):
        raise ValueError(f"Schedule {definition['name']!r}: 'cron' is required for schedule_type 'C'")


@transaction.atomic
def schedules_install(definitions: list[dict[str, Any]] | None = None) -> InstallResult:
    """Create or update each schedule by name (idempotent); returns what changed."""
    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    for definition in SCHEDULES if definitions is None else definitions:
        _check(definition)
        name = definition["name"]
        values = _defaults(definition)
        existing = Schedule.objects.select_for_update().filter(name=name).order_by("pk").first()
        if existing is None:
            Schedule.objects.create(name=name, repeats=-1, next_run=timezone.now(), **values)
            created.append(name)
            continue
        changed = [field for field, value in values.items() if getattr(existing, field) != value]
        if changed:
            for field in changed:
                setattr(existing, field, values[field])
            existing.save(update_fields=changed)
            updated.append(name)
        else:
            unchanged.append(name)
    return InstallResult(created=created, updated=updated, unchanged=unchanged)

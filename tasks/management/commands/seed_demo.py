"""Create the demo account, a few sponsors and leads, and about 60 tasks. Safe to run again."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.actor import Actor
from campaigns.demo import seed_campaigns_demo
from integrations.connectors.google_sheets import GoogleSheetsConnector
from integrations.models import SyncRun
from leads.models import Lead
from leads.services import lead_sheet_sync
from sponsors.models import Sponsor
from tasks.models import Task
from tasks.services import task_create

SPONSORS = [
    ("Northwind Outfitters", "partners@northwind.example"),
    ("Blue Harbor Coffee", "events@blueharbor.example"),
    ("Summit Bikes", "sponsorship@summitbikes.example"),
    ("Lumen Energy", "marketing@lumen.example"),
    ("Orchard Health", "alliances@orchard.example"),
]
DEMO_MAPPINGS = [
    {
        "salesforce_account_id": "001DEMO00000000001",
        "asana_project_gid": "1200000000000001",
        "google_calendar_id": "northwind@group.calendar.google.com",
    },
    {"salesforce_account_id": "001DEMO00000000002", "asana_project_gid": "1200000000000002"},
    {"google_calendar_id": "summit-events@group.calendar.google.com"},
]
VERBS = ["Confirm", "Send", "Review", "Draft", "Schedule", "Follow up on", "Approve", "Prepare", "Renew", "Plan"]
OBJECTS = [
    "booth layout",
    "logo placement proof",
    "Q3 activation report",
    "contract amendment",
    "kick-off call",
    "social media calendar",
    "invoice",
    "hospitality list",
    "press release",
    "banner artwork",
    "renewal proposal",
    "launch event run-sheet",
]


class Command(BaseCommand):
    help = "Create the demo user, sponsors, leads and ~60 tasks (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tasks", type=int, default=60, help="How many demo tasks to have (default 60).")

    @transaction.atomic
    def handle(self, *args: Any, tasks: int, **options: Any) -> None:
        User = get_user_model()
        username, password = settings.DEMO_USERNAME, settings.DEMO_PASSWORD
        user, created = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.com", "is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(password)
            user.save()
        teammate, _ = User.objects.get_or_create(username="sam", defaults={"email": "sam@example.com"})
        sponsors = [
            Sponsor.objects.get_or_create(name=name, defaults={"contact_email": email})[0] for name, email in SPONSORS
        ]
        # The first sponsors are mapped to the platforms' demo simulators, so the scheduled pull
        # fills the task list on a fresh install; a mapping someone has set is left alone. The
        # demo user owns them, so the pulled tasks nobody is assigned to remind that user.
        for sponsor, mapping in zip(sponsors, DEMO_MAPPINGS, strict=False):
            blank = {field: value for field, value in mapping.items() if not getattr(sponsor, field)}
            if sponsor.owner_id is None:
                blank["owner"] = user
            if blank:
                Sponsor.objects.filter(pk=sponsor.pk).update(**blank)
        # Leads come from the sheet: the built-in demo sheet, synced once (a real sheet, when
        # GOOGLE_SHEET_ID is set, is left to the schedule).
        if not GoogleSheetsConnector.is_configured():
            run = lead_sheet_sync(trigger=SyncRun.Trigger.MANUAL, initial=True)
            self.stdout.write(f"Demo lead sheet: {run.status} ({run.created} task(s) created)")
        leads = list(Lead.objects.order_by("pk")[:4])
        actor = Actor.system_job("seed_demo")
        rng = random.Random(42)  # same demo data on every machine
        now = timezone.now().replace(minute=0, second=0, microsecond=0)
        existing = set(Task.objects.filter(created_by=user).values_list("title", flat=True))
        made = 0
        for i in range(max(0, tasks)):
            sponsor = sponsors[i % len(sponsors)]
            title = f"{VERBS[i % len(VERBS)]} {OBJECTS[(i * 7) % len(OBJECTS)]} — {sponsor.name} #{i + 1}"
            if title in existing:
                continue
            status = rng.choices(["todo", "in_progress", "done"], weights=[5, 3, 3])[0]
            due = now + timedelta(days=rng.randint(-10, 30), hours=rng.randint(0, 23)) if rng.random() < 0.85 else None
            task_create(
                actor=actor,
                title=title,
                description=f"Demo task for {sponsor.name}.",
                status=status,
                priority=rng.choice(["low", "medium", "medium", "high"]),
                due_at=due,
                sponsor=sponsor,
                lead=leads[i % len(leads)] if leads and i % 9 == 0 else None,
                assignee=rng.choice([user, teammate, None]),
                created_by=user,
            )
            made += 1
        # 90 days of campaign metrics through the real sync code (the platforms' simulators).
        seed_campaigns_demo(stdout=self.stdout)
        self.stdout.write(f"Demo data ready: {made} new task(s), {Task.objects.count()} in all.")
        self.stdout.write(f"Sign in at http://127.0.0.1:8000 as {username} / {password}")

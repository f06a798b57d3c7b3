"""Scheduler control: the cluster's liveness and each schedule's state (read), and pausing,
resuming and running the integration schedules now (writes, audited).

A schedule is paused by setting django-q2's `repeats` to 0 (the scheduler skips it) and resumed
with -1; `schedules_install()` keeps `repeats`, so a deploy does not undo a pause.
"""

from __future__ import annotations

import ast
import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule
from django_q.models import Task as QTask

from accounts.actor import Actor
from accounts.services import audit_record
from integrations.queue import enqueue

# Schedules whose job talks to an outside platform; stop/start acts on these.
INTEGRATION_FUNC_PREFIXES = ("sponsors.", "leads.", "campaigns.", "integrations.")
# Every integration schedule's job takes `trigger` (sponsors/leads/campaigns jobs.py).
MANUAL_TRIGGER = "manual"


class UnknownSchedule(LookupError):
    pass


def is_integration(schedule: Schedule) -> bool:
    return str(schedule.func).startswith(INTEGRATION_FUNC_PREFIXES)


def describe_interval(schedule: Schedule) -> str:
    if schedule.schedule_type == Schedule.CRON:
        return f"cron {schedule.cron}"
    if schedule.schedule_type == Schedule.MINUTES:
        minutes = schedule.minutes or 1
        return "every minute" if minutes == 1 else f"every {minutes} minutes"
    return {
        Schedule.ONCE: "once",
        Schedule.HOURLY: "hourly",
        Schedule.DAILY: "daily",
        Schedule.WEEKLY: "weekly",
        Schedule.BIWEEKLY: "every two weeks",
        Schedule.MONTHLY: "monthly",
        Schedule.BIMONTHLY: "every two months",
        Schedule.QUARTERLY: "quarterly",
        Schedule.YEARLY: "yearly",
    }.get(schedule.schedule_type, schedule.schedule_type)


@dataclass(frozen=True)
class ScheduleState:
    name: str
    func: str
    interval: str
    schedule_type: str
    minutes: int | None
    cron: str | None
    next_run: dt.datetime | None
    last_run: dt.datetime | None
    last_status: str | None  # "success" | "failure" | None (never ran)
    paused: bool
    integration: bool

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SchedulerStatus:
    cluster_alive: bool
    last_heartbeat: dt.datetime | None
    schedules: list[ScheduleState]

    @property
    def integrations_paused(self) -> bool:
        integration = [s for s in self.schedules if s.integration]
        return bool(integration) and all(s.paused for s in integration)


def _last_heartbeat() -> dt.datetime | None:
    from tracker_project.health import cluster_last_heartbeat

    return cluster_last_heartbeat()


def scheduler_status() -> SchedulerStatus:
    """The cluster's last heartbeat and every schedule: interval, next and last run, paused."""
    heartbeat = _last_heartbeat()
    max_age = dt.timedelta(seconds=getattr(settings, "Q_HEARTBEAT_MAX_AGE", 90))
    alive = heartbeat is not None and timezone.now() - heartbeat < max_age
    schedules = list(Schedule.objects.order_by("name", "pk"))
    last_tasks = {
        t.id: t
        for t in QTask.objects.filter(id__in=[s.task for s in schedules if s.task]).only("id", "stopped", "success")
    }
    states = []
    for schedule in schedules:
        last = last_tasks.get(schedule.task or "")
        states.append(
            ScheduleState(
                name=schedule.name or schedule.func,
                func=schedule.func,
                interval=describe_interval(schedule),
                schedule_type=schedule.schedule_type,
                minutes=schedule.minutes,
                cron=schedule.cron,
                next_run=schedule.next_run if schedule.repeats != 0 else None,
                last_run=last.stopped if last else None,
                last_status=None if last is None else ("success" if last.success else "failure"),
                paused=schedule.repeats == 0,
                integration=is_integration(schedule),
            )
        )
    return SchedulerStatus(cluster_alive=alive, last_heartbeat=heartbeat, schedules=states)


@transaction.atomic
def scheduler_pause(*, actor: Actor) -> list[str]:
    """Pause the integration schedules (idempotent); returns the names paused now."""
    paused = []
    for schedule in Schedule.objects.select_for_update().exclude(repeats=0).order_by("name"):
        if is_integration(schedule):
            schedule.repeats = 0
            schedule.save(update_fields=["repeats"])
            paused.append(schedule.name or schedule.func)
    audit_record(actor=actor, action="scheduler.pause", object_type="scheduler", changes={"paused": (None, paused)})
    return paused


@transaction.atomic
def scheduler_resume(*, actor: Actor) -> list[str]:
    """Resume the paused integration schedules; a slot missed while paused runs at once (once)."""
    now = timezone.now()
    resumed = []
    for schedule in Schedule.objects.select_for_update().filter(repeats=0).order_by("name"):
        if is_integration(schedule):
            schedule.repeats = -1
            if schedule.next_run is None or schedule.next_run < now:
                schedule.next_run = now
            schedule.save(update_fields=["repeats", "next_run"])
            resumed.append(schedule.name or schedule.func)
    audit_record(actor=actor, action="scheduler.resume", object_type="scheduler", changes={"resumed": (None, resumed)})
    return resumed


def _call_args(schedule: Schedule) -> tuple[tuple[Any, ...], dict[str, Any]]:
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    if schedule.args:
        args = tuple(ast.literal_eval(f"({schedule.args},)"))
    if schedule.kwargs:
        call = ast.parse(f"f({schedule.kwargs})", mode="eval").body
        assert isinstance(call, ast.Call)
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg}
    return args, kwargs


@transaction.atomic
def scheduler_run_now(*, actor: Actor, job: str | None = None) -> list[str]:
    """Queue the job of schedule `job` now (any schedule, paused or not), or of every
    integration schedule when `job` is None. Returns the names queued; raises UnknownSchedule."""
    if job:
        schedules = list(Schedule.objects.filter(name=job)[:1]) or list(Schedule.objects.filter(func=job)[:1])
        if not schedules:
            raise UnknownSchedule(job)
    else:
        schedules = [s for s in Schedule.objects.order_by("name") if is_integration(s)]
    names = []
    for schedule in schedules:
        args, kwargs = _call_args(schedule)
        if is_integration(schedule):
            # A person pressed it: the runs are manual ones (recorded so, and a manual run always
            # tries, even while the platform's circuit breaker holds the scheduled runs back).
            kwargs["trigger"] = MANUAL_TRIGGER
        enqueue(schedule.func, *args, kwargs=kwargs, task_name=f"run now: {schedule.name or schedule.func}")
        names.append(schedule.name or schedule.func)
    audit_record(actor=actor, action="scheduler.run_now", object_type="scheduler", changes={"queued": (None, names)})
    return names

"""The sync centre: each connector (live or demo, last success, last error, next run), the
scheduler (pause, resume, run now), runs in progress with live progress, and the run history
with a drill-down into per-record errors and conflicts."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.actor import ORIGIN_WEB, Actor
from integrations import scheduler, selectors
from integrations.connectors import CONNECTORS, get_connector_class
from integrations.models import SyncRecordError, SyncRun

RUNS_PAGE_SIZE = 25
ERRORS_PAGE_SIZE = 50
# Which schedule pulls each connector (for "next run").
CONNECTOR_SCHEDULE_FUNCS = {
    "salesforce": "sponsors.jobs.sponsor_pull_all",
    "asana": "sponsors.jobs.sponsor_pull_all",
    "google_calendar": "sponsors.jobs.sponsor_pull_all",
}


def _actor(request: HttpRequest) -> Actor:
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can control the scheduler.")
    return Actor.from_request(request, origin=ORIGIN_WEB)


def _live_context() -> dict[str, object]:
    status = scheduler.scheduler_status()
    by_func = {s.func: s for s in status.schedules}
    connectors = selectors.connector_health()
    for health in connectors:
        health.schedule = by_func.get(CONNECTOR_SCHEDULE_FUNCS.get(health.key, ""))
    running = list(selectors.sync_run_list(status=SyncRun.Status.RUNNING)[:50])
    return {"status": status, "connectors": connectors, "running": running, "now": timezone.now()}


def sync_center(request: HttpRequest) -> HttpResponse:
    filters = {
        "connector": request.GET.get("connector") if request.GET.get("connector") in CONNECTORS else None,
        "status": request.GET.get("status") if request.GET.get("status") in SyncRun.Status.values else None,
        "sponsor_id": int(request.GET["sponsor_id"]) if request.GET.get("sponsor_id", "").isdigit() else None,
    }
    runs = selectors.sync_run_list(**filters)
    page = Paginator(runs, RUNS_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        **_live_context(),
        "page": page,
        "runs": page.object_list,
        "filters": filters,
        "connector_choices": [(key, get_connector_class(key).label) for key in CONNECTORS],
        "status_choices": SyncRun.Status.choices,
    }
    return render(request, "integrations/sync_center.html", context)


def sync_center_live(request: HttpRequest) -> HttpResponse:
    """The part of the sync centre that refreshes itself (htmx)."""
    return render(request, "integrations/_live.html", _live_context())


def sync_run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    try:
        run = selectors.sync_run_get(run_id=run_id)
    except SyncRun.DoesNotExist:
        raise Http404("No such run.") from None
    kind = request.GET.get("kind") if request.GET.get("kind") in SyncRecordError.Kind.values else None
    errors = Paginator(selectors.sync_run_record_errors(run=run, kind=kind), ERRORS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {"run": run, "page": errors, "record_errors": errors.object_list, "kind": kind}
    if request.GET.get("partial") == "head":
        return render(request, "integrations/_run_head.html", context)
    return render(request, "integrations/sync_run_detail.html", context)


@require_POST
def scheduler_pause(request: HttpRequest) -> HttpResponse:
    paused = scheduler.scheduler_pause(actor=_actor(request))
    messages.success(request, f"Paused {len(paused)} integration schedule(s)." if paused else "Already paused.")
    return redirect("sync_center")


@require_POST
def scheduler_resume(request: HttpRequest) -> HttpResponse:
    resumed = scheduler.scheduler_resume(actor=_actor(request))
    messages.success(request, f"Resumed {len(resumed)} schedule(s)." if resumed else "Nothing was paused.")
    return redirect("sync_center")


@require_POST
def scheduler_run_now(request: HttpRequest) -> HttpResponse:
    job = request.POST.get("job") or None
    try:
        queued = scheduler.scheduler_run_now(actor=_actor(request), job=job)
    except scheduler.UnknownSchedule:
        messages.error(request, f"No schedule named {job!r}. Run `manage.py setup_schedules` first.")
    else:
        if queued:
            messages.success(request, f"Queued now: {', '.join(queued)}. Progress shows below.")
        else:
            messages.warning(request, "No integration schedule is installed: run `manage.py setup_schedules`.")
    return redirect("sync_center")

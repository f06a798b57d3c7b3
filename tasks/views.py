"""Dashboard pages for tasks: overview, board (with moves), list + CSV, forms, detail.

Thin, as everywhere: parse input with a form, call one selector or service, render. Writes go
through tasks.services with an Actor from the request (origin "web"), like the API.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts.actor import ORIGIN_WEB, Actor
from leads.models import Lead
from sponsors.models import Sponsor
from tasks import enrichment, selectors, services
from tasks.forms import TaskFilterForm, TaskForm, TaskMoveForm
from tasks.models import Task

BOARD_PER_COLUMN = 100
LIST_PAGE_SIZE = 50
RECENT_COUNT = 8
HISTORY_LIMIT = 200
# Spreadsheet programs run a cell starting with one of these as a formula (CSV injection).
CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = [
    "id",
    "title",
    "status",
    "priority",
    "due_at",
    "sponsor",
    "lead",
    "assignee",
    "source",
    "external_id",
    "position",
    "description",
    "notes",
    "created_at",
    "updated_at",
    "completed_at",
]


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request, origin=ORIGIN_WEB)


def _get_task_or_404(task_id: UUID) -> Task:
    try:
        return selectors.task_get(task_id=task_id)
    except Task.DoesNotExist:
        raise Http404("No such task.") from None


def _is_htmx_partial(request: HttpRequest) -> bool:
    headers = request.headers
    return headers.get("HX-Request") == "true" and not headers.get("HX-History-Restore-Request")


# --- Overview ---------------------------------------------------------------------------------


def _overview_counts(now: dt.datetime) -> dict[str, int]:
    """Every number of the overview in one aggregate query."""
    not_done = ~Q(status=Task.Status.DONE)
    return Task.objects.aggregate(
        total=Count("pk"),
        todo=Count("pk", filter=Q(status=Task.Status.TODO)),
        in_progress=Count("pk", filter=Q(status=Task.Status.IN_PROGRESS)),
        done=Count("pk", filter=Q(status=Task.Status.DONE)),
        overdue=Count("pk", filter=not_done & Q(due_at__lt=now)),
        due_week=Count("pk", filter=not_done & Q(due_at__gte=now, due_at__lt=now + dt.timedelta(days=7))),
        high_open=Count("pk", filter=not_done & Q(priority=Task.Priority.HIGH)),
    )


def dashboard(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    counts = _overview_counts(now)
    today = timezone.localdate()
    recent = list(selectors.task_list(filters=selectors.TaskFilters(order="-updated_at"))[:RECENT_COUNT])
    columns = [{"status": value, "label": label, "count": counts[value]} for value, label in Task.Status.choices]
    return render(
        request,
        "tasks/dashboard.html",
        {
            "counts": counts,
            "columns": columns,
            "recent": recent,
            "week_start": today.isoformat(),
            "week_end": (today + dt.timedelta(days=8)).isoformat(),
        },
    )


# --- Board ------------------------------------------------------------------------------------


def task_board(request: HttpRequest) -> HttpResponse:
    cards = selectors.task_board_columns(per_column=BOARD_PER_COLUMN)
    counts = selectors.task_column_counts()
    columns = []
    for value, label in Task.Status.choices:
        tasks = cards[value]
        # Neighbours for the keyboard "move up / down" buttons, which work without JavaScript.
        for index, task in enumerate(tasks):
            task.prev_id = tasks[index - 1].pk if index > 0 else None
            task.next_id = tasks[index + 1].pk if index + 1 < len(tasks) else None
        columns.append(
            {
                "status": value,
                "label": label,
                "tasks": tasks,
                "total": counts[value],
                "truncated": counts[value] > len(tasks),
            }
        )
    return render(
        request,
        "tasks/board.html",
        {"columns": columns, "statuses": Task.Status.choices, "per_column": BOARD_PER_COLUMN},
    )


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("Accept", "").startswith("application/json")


def _move_reply(
    request: HttpRequest, *, status: int, message: str = "", task: Task | None = None, task_id: UUID | None = None
) -> HttpResponse:
    if _wants_json(request):
        if task is not None and status == 200:
            return JsonResponse({"ok": True, "position": task.position, "status": task.status, "message": message})
        return JsonResponse({"ok": False, "message": message}, status=status)
    # A plain form post (the keyboard controls without JavaScript): back to the card on the board.
    if status == 200:
        messages.success(request, message)
    else:
        messages.error(request, message)
    anchor = f"#task-{task_id}" if task_id else ""
    return redirect(reverse("task_board") + anchor)


@require_POST
def task_move(request: HttpRequest, task_id: UUID) -> HttpResponse:
    """Move a card (drag and drop or keyboard) through the same service as the API's move."""
    if request.content_type == "application/json":
        try:
            payload = json.loads(request.body or b"{}")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return _move_reply(request, status=400, message="The request body is not a JSON object.")
        data: QueryDict | dict[str, Any] = {k: v for k, v in payload.items() if isinstance(v, str | type(None))}
    else:
        data = request.POST
    form = TaskMoveForm(data)
    if not form.is_valid():
        return _move_reply(request, status=400, message="The move could not be understood; reload the board.")
    task = Task.objects.filter(pk=task_id).first()
    if task is None:
        return _move_reply(request, status=404, message="This task no longer exists; reload the board.")
    wanted = {name: form.cleaned_data[f"{name}_id"] for name in ("after", "before")}
    found = Task.objects.in_bulk([pk for pk in wanted.values() if pk is not None])
    if any(pk is not None and pk not in found for pk in wanted.values()):
        return _move_reply(
            request, status=409, message="A neighbouring task no longer exists; reload the board.", task_id=task_id
        )
    try:
        task = services.task_move(
            task=task,
            actor=_actor(request),
            after=found.get(wanted["after"]) if wanted["after"] else None,
            before=found.get(wanted["before"]) if wanted["before"] else None,
            status=form.cleaned_data["status"] or None,
        )
    except services.TaskConflict as exc:
        return _move_reply(request, status=409, message=str(exc), task_id=task_id)
    except ValidationError as exc:
        return _move_reply(request, status=400, message=" ".join(exc.messages), task_id=task_id)
    return _move_reply(
        request,
        status=200,
        message=f"Moved “{task.title}” to {task.get_status_display()}.",
        task=task,
        task_id=task_id,
    )


# --- List and CSV -----------------------------------------------------------------------------


def _filter_form(request: HttpRequest) -> TaskFilterForm:
    params = request.GET.copy()
    params.pop("page", None)
    form = TaskFilterForm(params or None)
    if form.is_bound:
        form.is_valid()
    return form


def task_list(request: HttpRequest) -> HttpResponse:
    form = _filter_form(request)
    filters = form.to_filters() if form.is_bound else selectors.TaskFilters()
    page = Paginator(selectors.task_list(filters=filters), LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    export_query = request.GET.copy()
    export_query.pop("page", None)
    context = {
        "form": form,
        "filters": filters,
        "page": page,
        "tasks": page.object_list,
        "order": filters.order,
        "export_query": export_query.urlencode(),
        "is_filtered": filters.is_filtered(),
    }
    partial = _is_htmx_partial(request)
    if partial:
        # A sort link changed the order: update the "Sort by" field of the filter form too.
        form.fields["order"].widget.attrs["hx-swap-oob"] = "true"
    template = "tasks/_task_results.html" if partial else "tasks/task_list.html"
    response = render(request, template, {**context, "partial": partial})
    response["Vary"] = "HX-Request"
    return response


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(CSV_FORMULA_PREFIXES):
        return "'" + value
    return value


def _csv_rows(tasks: Iterable[Task]) -> Iterator[list[Any]]:
    yield CSV_COLUMNS
    for task in tasks:
        yield [
            _csv_cell(v)
            for v in (
                str(task.pk),
                task.title,
                task.status,
                task.priority,
                task.due_at,
                task.sponsor.name if task.sponsor_id else None,
                task.lead.name if task.lead_id else None,
                task.assignee.username if task.assignee_id else None,
                task.source,
                task.external_id,
                task.position,
                task.description,
                task.notes,
                task.created_at,
                task.updated_at,
                task.completed_at,
            )
        ]


class _Echo:
    """A file-like object whose write() returns the line, for csv.writer in a streaming response."""

    def write(self, value: str) -> str:
        return value


def task_export_csv(request: HttpRequest) -> HttpResponseBase:
    """All tasks matching the list's filters, streamed as CSV (a header row, then one per task)."""
    form = _filter_form(request)
    if form.is_bound and form.errors:
        messages.error(request, "Fix the highlighted filters before exporting.")
        return redirect(f"{reverse('task_list')}?{request.GET.urlencode()}")
    filters = form.to_filters() if form.is_bound else selectors.TaskFilters()
    writer = csv.writer(_Echo())
    tasks = selectors.task_list(filters=filters).iterator(chunk_size=2000)
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in _csv_rows(tasks)), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="tasks-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


# --- Create, edit, delete, detail -------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def task_create(request: HttpRequest) -> HttpResponse:
    initial = {}
    if request.GET.get("status") in Task.Status.values:
        initial["status"] = request.GET["status"]
    form = TaskForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            task = services.task_create(actor=_actor(request), **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            if task.external_ref:
                enrichment.task_enrich_on_save(task=task, actor=_actor(request))
            messages.success(request, f"Created “{task.title}”.")
            return redirect("task_detail", task_id=task.pk)
    return render(request, "tasks/task_form.html", {"form": form, "task": None})


@require_http_methods(["GET", "POST"])
def task_edit(request: HttpRequest, task_id: UUID) -> HttpResponse:
    task = _get_task_or_404(task_id)
    form = TaskForm(request.POST or None, initial=TaskForm.initial_from(task))
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        # The input has minute precision; keep the stored seconds when the minute is unchanged.
        if task.due_at and values["due_at"] and task.due_at.replace(second=0, microsecond=0) == values["due_at"]:
            values["due_at"] = task.due_at
        old_ref = task.external_ref
        try:
            task = services.task_update(task=task, actor=_actor(request), **values)
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            if task.external_ref != old_ref:
                enrichment.task_enrich_on_save(task=task, actor=_actor(request))
            messages.success(request, f"Saved “{task.title}”.")
            return redirect("task_detail", task_id=task.pk)
    return render(request, "tasks/task_form.html", {"form": form, "task": task})


@require_http_methods(["GET", "POST"])
def task_delete(request: HttpRequest, task_id: UUID) -> HttpResponse:
    task = _get_task_or_404(task_id)
    if request.method == "POST":
        services.task_delete(task=task, actor=_actor(request))
        messages.success(request, f"Deleted “{task.title}”.")
        return redirect("task_list")
    return render(request, "tasks/task_confirm_delete.html", {"task": task})


def _history_names(events: list[Any]) -> dict[str, dict[str, str]]:
    """Display names for the sponsor / lead / assignee ids in audit changes (≤ 3 queries)."""
    ids: dict[str, set[str]] = {"sponsor": set(), "lead": set(), "assignee": set()}
    for event in events:
        for field, pair in (event.changes or {}).items():
            if field in ids and isinstance(pair, list):
                ids[field].update(str(v) for v in pair if isinstance(v, int | str) and str(v).isdigit())
    models = {"sponsor": (Sponsor, "name"), "lead": (Lead, "name"), "assignee": (get_user_model(), "username")}
    names: dict[str, dict[str, str]] = {}
    for field, wanted in ids.items():
        model, attr = models[field]
        names[field] = (
            {str(pk): str(name) for pk, name in model.objects.filter(pk__in=wanted).values_list("pk", attr)}
            if wanted
            else {}
        )
    return names


def history_rows(events: list[Any]) -> list[dict[str, Any]]:
    """Audit events as rows for the timeline: each change as (field, before, after) for display."""
    names = _history_names(events)
    rows = []
    for event in events:
        changes = []
        for field, pair in (event.changes or {}).items():
            before, after = ([*pair, None, None])[:2] if isinstance(pair, list) else (None, pair)
            lookup = names.get(field, {})
            changes.append(
                {
                    "field": field.replace("_", " "),
                    "before": lookup.get(str(before), before),
                    "after": lookup.get(str(after), after),
                }
            )
        rows.append({"event": event, "changes": changes})
    return rows


def task_detail(request: HttpRequest, task_id: UUID) -> HttpResponse:
    task = _get_task_or_404(task_id)
    events = list(selectors.task_history(task=task)[: HISTORY_LIMIT + 1])
    return render(
        request,
        "tasks/task_detail.html",
        {
            "task": task,
            "history": history_rows(events[:HISTORY_LIMIT]),
            "history_truncated": len(events) > HISTORY_LIMIT,
            "history_limit": HISTORY_LIMIT,
        },
    )

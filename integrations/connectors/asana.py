"""Asana: the tasks of a sponsor's project.

GET {ASANA_BASE_URL}/tasks?project=GID&opt_fields=…&limit=100 with a Bearer token (a personal
access token or an OAuth token); pages follow `next_page.offset`. Rate limit: 429 + Retry-After.
`assignee.email` in opt_fields makes each task's `assignee` a `{"gid", "email"}` object (null when
unassigned); https://developers.asana.com/docs/inputoutput-options and
https://developers.asana.com/reference/tasks (the assignee is a user: gid, name, email).
Settings: ASANA_BASE_URL (default https://app.asana.com/api/1.0), ASANA_ACCESS_TOKEN.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Iterator
from typing import Any

import httpx
from django.conf import settings

from integrations.connectors.base import (
    AuthError,
    Connector,
    ConnectorError,
    ExternalTask,
    Identity,
    Page,
    RateLimitError,
    RecordError,
    clean_email,
    clean_id,
    clean_text,
    clean_title,
    clean_url,
    json_body,
    parse_date,
    parse_datetime,
)
from integrations.http import parse_retry_after

DEFAULT_BASE_URL = "https://app.asana.com/api/1.0"
PAGE_LIMIT = 100
OPT_FIELDS = (
    "name,completed,completed_at,due_on,due_at,notes,permalink_url,modified_at,"
    "memberships.project.gid,memberships.section.name,custom_fields.name,custom_fields.enum_value.name,"
    "assignee.email"
)
MAPPED_FIELDS = ("name", "completed", "due_on", "due_at", "notes")
PROJECT_GID = re.compile(r"^\d{1,64}$")

# Asana has no status field: a completed task is done; otherwise its section in the sponsor's
# project says how far along it is (board columns such as "In progress").
SECTION_STATUS_MAP = {
    "to do": "todo",
    "todo": "todo",
    "backlog": "todo",
    "in progress": "in_progress",
    "doing": "in_progress",
    "in review": "in_progress",
    "waiting": "in_progress",
    "blocked": "in_progress",
    "done": "done",
    "complete": "done",
    "completed": "done",
}
# Priority is a custom field in Asana ("Priority" with enum options).
PRIORITY_MAP = {"high": "high", "urgent": "high", "p1": "high", "medium": "medium", "p2": "medium", "low": "low"}


class AsanaConnector(Connector):
    key = "asana"
    platform = "asana"
    label = "Asana"
    credential_settings = ("ASANA_ACCESS_TOKEN",)

    def configured_base_url(self) -> str:
        return str(getattr(settings, "ASANA_BASE_URL", "") or DEFAULT_BASE_URL).rstrip("/")

    def demo_base_url(self) -> str:
        return DEFAULT_BASE_URL

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def pull(self, *, target: str, cursor: str | None = None) -> Iterator[Page]:
        """Every task of project `target` (full pull; `next_page.offset` pages). Raises ConnectorError."""
        if not PROJECT_GID.match(target or ""):
            raise ConnectorError(f"{target!r} is not an Asana project gid (digits).")
        params: dict[str, Any] = {"project": target, "opt_fields": OPT_FIELDS, "limit": PAGE_LIMIT}
        while True:
            body = json_body(self.get(f"{self.base_url}/tasks", params=params), platform=self.label)
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise ConnectorError("Asana answered without a data list.")
            page = Page()
            for raw in body["data"]:
                self._parse_into(page, raw, project=target)
            yield page
            next_page = body.get("next_page")
            offset = next_page.get("offset") if isinstance(next_page, dict) else None
            if not offset:
                return
            params = {**params, "offset": offset}

    def _parse_into(self, page: Page, raw: Any, *, project: str) -> None:
        gid = clean_id(raw.get("gid")) if isinstance(raw, dict) else None
        if gid is None:
            page.errors.append(RecordError("Task has no gid.", raw=raw))
            return
        try:
            # opt_fields come back even when empty (null): a task without one is broken, and
            # read as empty it would wipe the task's title, date or notes.
            missing = [name for name in MAPPED_FIELDS if name not in raw]
            if missing:
                raise ValueError(f"the task has no {', '.join(missing)} field")
            if raw.get("due_at"):
                due_at = parse_datetime(raw["due_at"])
            elif raw.get("due_on"):
                due_at = parse_date(raw["due_on"])
            else:
                due_at = None
            page.records.append(
                ExternalTask(
                    external_id=gid,
                    title=clean_title(raw.get("name"), fallback="(untitled task)"),
                    status=_status(raw, project=project),
                    priority=_priority(raw.get("custom_fields")),
                    due_at=due_at,
                    description=clean_text(raw.get("notes")),
                    external_url=clean_url(raw.get("permalink_url"))
                    or clean_url(f"https://app.asana.com/0/{project}/{gid}"),
                    assignee_email=clean_email((raw.get("assignee") or {}).get("email")),
                )
            )
        except (TypeError, ValueError, AttributeError) as exc:
            page.errors.append(RecordError(f"Unreadable task: {exc}", external_id=gid, raw=raw))

    def whoami(self) -> Identity:
        """GET /users/me → {"data": {"gid", "name", "email", "workspaces": [{"gid", "name"}]}}
        (https://developers.asana.com/reference/getuser)."""
        body = json_body(
            self.get(f"{self.base_url}/users/me", params={"opt_fields": "name,email,workspaces.name"}),
            platform=self.label,
        )
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not data.get("gid"):
            raise ConnectorError("Asana answered /users/me without a user.")
        workspaces = [
            {"gid": str(w.get("gid")), "name": str(w.get("name", ""))}
            for w in data.get("workspaces") or []
            if isinstance(w, dict) and w.get("gid")
        ]
        return Identity(
            account_id=str(data["gid"]),
            account_name=clean_text(data.get("name"), limit=255),
            account_email=clean_text(data.get("email"), limit=254),
            extra={"workspaces": workspaces},
        )

    def classify(self, response: httpx.Response) -> ConnectorError | None:
        if response.is_success:
            return None
        status = response.status_code
        text = f"Asana HTTP {status}: {_message(response)}"
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 401:
            return AuthError(text, status_code=status)
        if status == 429:
            return RateLimitError(text, retry_after=retry_after, status_code=status)
        if status >= 500:
            return ConnectorError(text, retryable=True, retry_after=retry_after, status_code=status)
        return ConnectorError(text, status_code=status)

    def simulator(self) -> httpx.BaseTransport:
        return httpx.MockTransport(_simulate)


def _status(raw: dict[str, Any], *, project: str) -> str:
    completed = raw.get("completed")
    if completed is not None and not isinstance(completed, bool):
        raise ValueError(f"'completed' is {completed!r}, not true/false")
    if completed:
        return "done"
    for membership in raw.get("memberships") or []:
        if not isinstance(membership, dict):
            continue
        in_project = (membership.get("project") or {}).get("gid") in (None, project)
        section = (membership.get("section") or {}).get("name")
        if in_project and section:
            mapped = SECTION_STATUS_MAP.get(str(section).strip().lower())
            if mapped is not None:
                return mapped
    return "todo"


def _priority(custom_fields: Any) -> str | None:
    for custom in custom_fields or []:
        if isinstance(custom, dict) and str(custom.get("name", "")).strip().lower() == "priority":
            option = custom.get("enum_value") or {}
            return PRIORITY_MAP.get(str(option.get("name", "")).strip().lower())
    return None


def _message(response: httpx.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        return "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict))[:300] or "error"
    except (ValueError, AttributeError):
        return response.text[:200] or response.reason_phrase


# --- demo: a living Asana workspace ---------------------------------------------------------
_DEMO_NAMES = (
    "Draft co-branded newsletter",
    "Prepare sponsor booth checklist",
    "Design social media kit",
    "Collect swag shipment details",
    "Write press release",
    "Set up lead capture app",
    "Order lanyards with logo",
    "Record sponsor video intro",
    "Publish blog post",
    "Send post-event survey",
)
# A seed_demo user, someone nobody here is, and nobody: all three ways a pulled task is reminded.
_DEMO_ASSIGNEES = (
    {"gid": "1200000000000101", "email": "demo@example.com"},
    {"gid": "1200000000000102", "email": "agency.contact@example.org"},
    None,
)
_DEMO_SECTIONS = ("To do", "In progress", "In review", "Done")
_DEMO_PAGE = 4


def _demo_tasks(project: str) -> list[dict[str, Any]]:
    rng = random.Random(f"asana:{project}")
    today = dt.date.today()
    bucket = int(dt.datetime.now(dt.UTC).timestamp() // 600)
    tasks = []
    for index in range(rng.randint(5, 9)):
        section = rng.choice(_DEMO_SECTIONS)
        if index == 1:
            section = _DEMO_SECTIONS[bucket % 3]
        gid = f"12{int(project[-6:] or 0):06d}{index:04d}"
        tasks.append(
            {
                "gid": gid,
                "resource_type": "task",
                "name": rng.choice(_DEMO_NAMES),
                "completed": section == "Done",
                "completed_at": None,
                "due_on": (today + dt.timedelta(days=rng.randint(-3, 21))).isoformat(),
                "due_at": None,
                "notes": "Demo task from the built-in Asana simulator.",
                "permalink_url": f"https://app.asana.com/0/{project}/{gid}",
                "modified_at": "2024-01-01T00:00:00.000Z",
                "memberships": [{"project": {"gid": project}, "section": {"name": section}}],
                "custom_fields": [{"name": "Priority", "enum_value": {"name": rng.choice(("High", "Medium", "Low"))}}],
                "assignee": _DEMO_ASSIGNEES[index % len(_DEMO_ASSIGNEES)],
            }
        )
    return tasks


def _simulate(request: httpx.Request) -> httpx.Response:
    if not request.url.path.endswith("/tasks"):
        return httpx.Response(404, json={"errors": [{"message": "Unknown object"}]})
    project = request.url.params.get("project", "")
    if not project.isdigit():
        return httpx.Response(400, json={"errors": [{"message": "project: Not a valid gid"}]})
    offset = int(request.url.params.get("offset", "demo-0").removeprefix("demo-") or 0)
    tasks = _demo_tasks(project)
    chunk = tasks[offset : offset + _DEMO_PAGE]
    next_page = None
    if offset + _DEMO_PAGE < len(tasks):
        token = f"demo-{offset + _DEMO_PAGE}"
        path = f"/tasks?project={project}&limit={_DEMO_PAGE}&offset={token}"
        next_page = {"offset": token, "path": path, "uri": f"{DEFAULT_BASE_URL}{path}"}
    return httpx.Response(200, json={"data": chunk, "next_page": next_page})

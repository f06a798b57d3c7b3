"""Planning a pulled record against its task: what changes, and which conflicts arise.

Rules (see `plan_fields`):
- The baseline (Task.sync_baseline) is what upstream said at the last pull.
- Upstream unchanged since the baseline: the local value is kept, edited or not.
- Upstream changed and the local value did not: upstream is applied.
- Both changed (a conflict, recorded on the run): upstream wins for the record's content and
  schedule (title, description, due date, link); local wins for the team's workflow (status,
  priority), which is what people change here.
- The assignee follows the person the platform names (by e-mail, matched to a user when the
  task is written) the same way, with two differences: a task nobody is assigned to here takes
  the platform's person whenever upstream changes it (there is nothing local to lose), and a
  platform that names nobody leaves the local assignee alone (a pull never un-assigns).
- Notes and the other local fields are never touched by a pull.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from integrations.connectors.base import ExternalTask

SIG_KEY = "sig"
SYNCED_FIELDS = ("title", "description", "status", "priority", "due_at", "external_url")
UPSTREAM_WINS = frozenset({"title", "description", "due_at", "external_url"})
# Upstream's person, by lower-cased e-mail; in the baseline only when upstream named someone.
ASSIGNEE = "assignee_email"


def _jsonable(field: str, value: Any) -> Any:
    if field == "due_at" and value is not None:
        return value.astimezone(dt.UTC).isoformat()
    return value


def from_jsonable(field: str, value: Any) -> Any:
    if field == "due_at" and value is not None:
        return dt.datetime.fromisoformat(value)
    return value


def upstream_values(record: ExternalTask) -> dict[str, Any]:
    """The synced fields as upstream states them (priority only where the platform has one)."""
    values = {
        "title": record.title,
        "description": record.description,
        "status": record.status,
        "due_at": _jsonable("due_at", record.due_at),
        "external_url": record.external_url,
    }
    if record.priority is not None:
        values["priority"] = record.priority
    if record.assignee_email is not None:
        values[ASSIGNEE] = record.assignee_email
    return values


def baseline_of(upstream: dict[str, Any]) -> dict[str, Any]:
    """What is stored as the sync baseline: the upstream values plus their signature, which
    lets a pull recognise an unchanged record without loading the task or decoding JSON."""
    return {**upstream, SIG_KEY: signature(upstream)}


def signature(upstream: dict[str, Any]) -> str:
    canonical = json.dumps(upstream, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(canonical.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


def local_values(row: dict[str, Any]) -> dict[str, Any]:
    """The synced fields of a task row (from `.values()`, with the assignee's e-mail as
    `assignee_email`), JSON-shaped like the baseline."""
    values = {field: _jsonable(field, row[field]) for field in SYNCED_FIELDS}
    values[ASSIGNEE] = (row[ASSIGNEE] or "").lower() or None
    return values


def plan_fields(
    *, local: dict[str, Any], baseline: dict[str, Any] | None, upstream: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What to change on a task: ({field: new value}, [conflicts]). Values are JSON-shaped."""
    changes: dict[str, Any] = {}
    conflicts: list[dict[str, Any]] = []
    for field, theirs in upstream.items():
        ours = local[field]
        if field == ASSIGNEE:
            base = (baseline or {}).get(ASSIGNEE)  # absent: upstream named nobody at the last pull
        else:
            base = baseline[field] if baseline is not None and field in baseline else ours
        if theirs == base or theirs == ours:
            continue
        if ours == base or (field == ASSIGNEE and ours is None):
            changes[field] = theirs
            continue
        kept = "upstream" if field in UPSTREAM_WINS else "local"
        conflicts.append({"field": field, "baseline": base, "local": ours, "upstream": theirs, "kept": kept})
        if kept == "upstream":
            changes[field] = theirs
    return changes, conflicts

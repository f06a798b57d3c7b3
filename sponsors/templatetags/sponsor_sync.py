"""Template tags for pages outside the sponsors app: {% load sponsor_sync %}

{% data_fresh_as_of %}       on the task list/board: the oldest last successful pull
{% data_fresh_as_of task %}  on a task page: its sponsor's last successful pull from its source
"""

from __future__ import annotations

from typing import Any

from django import template

from sponsors.selectors import pull_fresh_as_of

register = template.Library()


@register.inclusion_tag("sponsors/_fresh_as_of.html")
def data_fresh_as_of(task: Any = None) -> dict[str, Any]:
    pulled = task is None or (task.source in ("salesforce", "asana", "google_calendar") and task.sponsor_id)
    return {"fresh_as_of": pull_fresh_as_of(task=task) if pulled else None, "pulled": bool(pulled), "task": task}

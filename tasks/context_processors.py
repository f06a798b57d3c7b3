"""Template context for every dashboard page: the bell's unread count."""

from __future__ import annotations

import functools
from typing import Any

from django.http import HttpRequest

from tasks.notifications import notification_unread_count


def notifications(request: HttpRequest) -> dict[str, Any]:
    """`unread_notifications`: a callable, so the COUNT query runs only if a template uses it
    (templates call callables when resolving a variable), and at most once per response."""
    user = getattr(request, "user", None)
    return {"unread_notifications": functools.cache(lambda: notification_unread_count(user=user))}

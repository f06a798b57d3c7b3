"""Signals integrations sends upward: it knows no domain app, so the apps that tell people
(tasks' notifications) listen here instead of being called."""

from __future__ import annotations

from django.dispatch import Signal

# Sent once when a connection needs a person: `connection` (the Connection), `reason`
# ("needs_reconnect" or "expires_soon"), `message` (plain text, never a secret) and
# `dedupe_key` (the same alert is never sent twice).
connection_alert = Signal()

# Sent once when a scope's circuit breaker opens (integrations/breaker.py): `connector`, `scope`,
# `failures` (failed runs in a row), `open_until` (the next scheduled try), `error` (the last
# run's error, plain text) and `dedupe_key` (one notice per opening).
sync_breaker_opened = Signal()

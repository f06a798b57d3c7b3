"""`migrate` alone creates the database cache table: no `createcachetable` step on a release."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


@pytest.mark.django_db(transaction=True)
def test_migrate_creates_the_cache_table_and_signing_in_uses_it(client: Any, user: Any) -> None:
    def tables() -> list[str]:
        return connection.introspection.table_names()

    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate([("accounts", "0002_userpreference")])
    assert "tracker_cache" not in tables()

    try:
        executor = MigrationExecutor(connection)
        executor.migrate([("accounts", "0003_cache_table")])
        assert "tracker_cache" in tables()
    finally:
        # Back to every app's latest migration: the tests after this one need the whole schema.
        MigrationExecutor(connection).migrate(latest)

    # A failed sign-in is counted in the cache (allauth's rate limit) and answers a form error.
    response = client.post("/accounts/login/", {"login": "alice", "password": "wrong"})
    assert response.status_code == 200 and "not correct" in response.content.decode()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tracker_cache")
        assert cursor.fetchone()[0] >= 1

"""Database support for the task API's hot reads (issue 2's bench).

1. An index on (status, priority, position): `count` of a status + priority filter becomes an
   index-only scan (about 30× less work than the sequential scan with 100,000 tasks), and the page
   itself is read in board order from the same index.
2. PostgreSQL only: every statement that writes tasks_task (INSERT, UPDATE, DELETE, TRUNCATE,
   COPY, whatever the code path: ORM, bulk_create, queryset.update, raw SQL) records its
   transaction id in `tasks_task_write`, inside the same transaction. tasks/selectors.py uses it to
   know whether a cached count can still be trusted (see _CountCache there). One row per writing
   transaction; rows far older than the writer are pruned now and then.

Both are raw SQL with no model state, so `makemigrations` sees nothing to do.
"""

from __future__ import annotations

from django.db import migrations

INDEX_NAME = "task_status_priority_pos_idx"

CREATE_WRITE_LOG = """
CREATE TABLE IF NOT EXISTS tasks_task_write (xid bigint PRIMARY KEY);

CREATE OR REPLACE FUNCTION tasks_task_note_write() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    me bigint := pg_current_xact_id()::text::bigint;
BEGIN
    INSERT INTO tasks_task_write (xid) VALUES (me) ON CONFLICT DO NOTHING;
    IF random() < 0.01 THEN
        -- Only the newest committed rows matter; this writer's own row stays, so pruning can
        -- never lower the maximum that readers see. SKIP LOCKED: a writer never waits for
        -- another one that is pruning (a long sync, say).
        DELETE FROM tasks_task_write WHERE xid IN (
            SELECT xid FROM tasks_task_write WHERE xid < me - 1000000 FOR UPDATE SKIP LOCKED
        );
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS tasks_task_note_write ON tasks_task;
CREATE TRIGGER tasks_task_note_write
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tasks_task
    FOR EACH STATEMENT EXECUTE FUNCTION tasks_task_note_write();

INSERT INTO tasks_task_write (xid) VALUES (pg_current_xact_id()::text::bigint) ON CONFLICT DO NOTHING;
"""

DROP_WRITE_LOG = """
DROP TRIGGER IF EXISTS tasks_task_note_write ON tasks_task;
DROP FUNCTION IF EXISTS tasks_task_note_write();
DROP TABLE IF EXISTS tasks_task_write;
"""


def create_write_log(apps: object, schema_editor: object) -> None:
    if schema_editor.connection.vendor == "postgresql":  # type: ignore[attr-defined]
        schema_editor.execute(CREATE_WRITE_LOG)  # type: ignore[attr-defined]


def drop_write_log(apps: object, schema_editor: object) -> None:
    if schema_editor.connection.vendor == "postgresql":  # type: ignore[attr-defined]
        schema_editor.execute(DROP_WRITE_LOG)  # type: ignore[attr-defined]


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0003_notification_enrichment_status"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS {INDEX_NAME} ON tasks_task (status, priority, position)",
            f"DROP INDEX IF EXISTS {INDEX_NAME}",
        ),
        migrations.RunPython(create_write_log, drop_write_log),
    ]

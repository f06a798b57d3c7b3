"""The database cache table (login and API rate limits, django-q2's cluster stats) comes from
`migrate`, so a release needs no `createcachetable` step.

It is created whatever the cache in use: with Redis it is an unused empty table, and an install
that later drops REDIS_URL finds it there. Tables already made by `createcachetable` are kept.
"""

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import BaseDatabaseCache
from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations


def _cache_tables():
    tables = {settings.DATABASE_CACHE_TABLE}
    for alias in settings.CACHES:
        cache = caches[alias]
        if isinstance(cache, BaseDatabaseCache):
            tables.add(cache._table)
    return sorted(tables)


def create_cache_tables(apps, schema_editor):
    # createcachetable's own DDL (key, value, expires and its index), skipped when present.
    command = CreateCacheTable()
    command.verbosity = 0
    for table in _cache_tables():
        command.create_table(schema_editor.connection.alias, table, dry_run=False)


def drop_cache_tables(apps, schema_editor):
    quote = schema_editor.connection.ops.quote_name
    for table in _cache_tables():
        schema_editor.execute(f"DROP TABLE IF EXISTS {quote(table)}")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_userpreference"),
    ]

    operations = [
        migrations.RunPython(create_cache_tables, drop_cache_tables),
    ]

"""Settings read from the environment, tried the way an operator would: a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

CONNECT = """
import django, json
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT current_database()")
    name = cursor.fetchone()[0]
print(json.dumps({"engine": connection.settings_dict["ENGINE"], "database": name}))
"""


def _run(database_url: str, code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tracker_project.settings", "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=Path(settings.BASE_DIR), env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.postgres_only
@pytest.mark.django_db
@pytest.mark.parametrize("scheme", ["postgresql+psycopg2", "postgresql+psycopg", "postgresql", "postgres"])
def test_database_url_accepts_the_sqlalchemy_driver_schemes(scheme: str) -> None:
    db = settings.DATABASES["default"]
    url = f"{scheme}://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    result = _run(url, CONNECT)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"engine": "django.db.backends.postgresql", "database": db["NAME"]}


def test_database_url_with_a_driver_is_parsed_without_a_database() -> None:
    """The same on any machine: the URL's parts land where Django expects them."""
    code = "import json; from django.conf import settings as s; print(json.dumps(s.DATABASES['default']))"
    result = _run("postgresql+psycopg2://tracker:s3cret@db.internal:6543/tracker_prod", code)
    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout)
    assert {k: parsed[k] for k in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT")} == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "tracker_prod",
        "USER": "tracker",
        "PASSWORD": "s3cret",
        "HOST": "db.internal",
        "PORT": 6543,
    }

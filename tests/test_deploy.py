"""A release deployed by the README's "Production" steps alone works from outside.

The repository's files (what a clone of this commit holds: tracked plus not-ignored files, no
node_modules/, no staticfiles/, no .env) are copied into an empty directory; there the README's
steps run one by one, with only the production variables set (DEBUG=false, SECRET_KEY,
ALLOWED_HOSTS, CSRF_TRUSTED_ORIGINS, DATABASE_URL) against a new PostgreSQL database:
`pip install -r requirements.txt` (into this test run's virtualenv, where it finds everything
installed), `npm ci`, `migrate` (which also installs the schedules), `collectstatic`, `createsuperuser --noinput`,
then gunicorn and `qcluster`. Then, over HTTP, as a visitor would: the login page and every
stylesheet, script and font it needs, the JSON 404 of an unknown API path, the 404 page, a failed
and a successful sign-in, and the cluster running a scheduled job and showing on /health.

Requests say `X-Forwarded-Proto: https`, as the TLS proxy in front of a production server does,
so the test holds whether or not the TLS settings are on by default; cookies are kept by hand
because a `Secure` cookie is still sent back over the loopback's plain HTTP.
"""

from __future__ import annotations

import http.client
import http.cookies
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.live, pytest.mark.postgres_only]

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
ADMIN = ("release-admin", "rel3ase-Pa55-" + secrets.token_hex(4))
STEP_TIMEOUT = 240  # seconds for one deploy step (npm ci may download on a cold cache)


def _files_of_a_clone() -> list[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"the deploy test copies the files git knows; git ls-files failed: {exc}")
    return [name for name in out.decode().split("\0") if name and (REPO / name).exists()]


def _copy_release(target: Path) -> None:
    for name in _files_of_a_clone():
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, destination, follow_symlinks=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_url() -> str:
    # The PostgreSQL server the suite runs on (postgres_only: DATABASE_URL is PostgreSQL).
    url = os.environ.get("DATABASE_URL", "")
    assert url.startswith(("postgres://", "postgresql://")), url
    return url.rsplit("/", 1)[0]


def _tail(path: Path, lines: int = 25) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _wait_for(what: str, condition: Callable[[], Any], *, seconds: float, logs: Path | None = None) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds:.0f} s\n{_tail(logs) if logs else ''}")
        time.sleep(0.25)


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Visitor:
    """A browser's HTTP side: one cookie jar, the proxy's headers, no redirects followed."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Response:
        headers = {"Host": f"127.0.0.1:{self.port}", "X-Forwarded-Proto": "https"}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers |= {"Content-Type": "application/x-www-form-urlencoded", "Origin": self.origin}
            headers["Referer"] = f"{self.origin}/accounts/login/"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            response = Response(answer.status, answer.headers, answer.read())
        finally:
            connection.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def answers(self) -> bool:
        try:
            return self.get("/health").status in (200, 503)
        except OSError:
            return False


@dataclass
class Release:
    directory: Path
    env: dict[str, str]
    database_url: str
    visitor: Visitor
    logs: Path
    cluster_started: float


def _production_env(*, port: int, database_url: str) -> dict[str, str]:
    """Only the production variables (plus PATH with the virtualenv, as `activate` sets it)."""
    return {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", "/tmp"),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": f"https://127.0.0.1:{port}",
        "DATABASE_URL": database_url,
    }


def _step(directory: Path, env: dict[str, str], *command: str, logs: Path) -> None:
    with (logs / "steps.log").open("a") as log:
        log.write(f"\n$ {' '.join(command)}\n")
        log.flush()
        proc = subprocess.run(
            command, cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=STEP_TIMEOUT, check=False
        )
    if proc.returncode != 0:
        pytest.fail(f"deploy step `{' '.join(command)}` exited {proc.returncode}:\n{_tail(logs / 'steps.log')}")


def _start(directory: Path, env: dict[str, str], log: Path, *command: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            command, cwd=directory, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server this test started: SIGTERM to it (gunicorn and qcluster stop their own
    children), SIGKILL to its process group if it has not exited within 20 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    import psycopg
    from django.db import connection

    # Module scope runs before the per-test postgres_only skip: skip here on the SQLite run.
    if connection.vendor != "postgresql":
        pytest.skip("deploys onto PostgreSQL")
    directory = tmp_path_factory.mktemp("release")
    logs = tmp_path_factory.mktemp("release-logs")
    db_name = f"tracker_deploy_{os.getpid()}"
    server = _server_url()
    port = _free_port()
    env = _production_env(port=port, database_url=f"{server}/{db_name}")
    processes: list[subprocess.Popen[bytes]] = []

    with psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db_name}"')
    try:
        _copy_release(directory)
        assert not (directory / "node_modules").exists() and not (directory / "static" / "vendor").exists()
        # The README's production steps, in its order.
        _step(directory, env, "python", "-m", "pip", "install", "-q", "-r", "requirements.txt", logs=logs)
        npm_env = {**os.environ, "PATH": env["PATH"]}
        _step(directory, npm_env, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error", logs=logs)
        # `migrate` is the only database step: it makes the cache table and installs the schedules.
        _step(directory, env, "python", "manage.py", "migrate", "--noinput", logs=logs)
        # The cluster starts now so that its first scheduler pass (~30 s in) overlaps the rest.
        processes.append(_start(directory, env, logs / "cluster.log", "python", "manage.py", "qcluster"))
        cluster_started = time.monotonic()
        _step(directory, env, "python", "manage.py", "collectstatic", "--noinput", logs=logs)
        admin_env = {**env, "DJANGO_SUPERUSER_PASSWORD": ADMIN[1]}
        createsuperuser = ("python", "manage.py", "createsuperuser", "--noinput", "--username", ADMIN[0])
        _step(directory, admin_env, *createsuperuser, "--email", "admin@example.com", logs=logs)
        processes.append(
            _start(
                directory,
                env,
                logs / "web.log",
                *("gunicorn", "tracker_project.wsgi:application", "--workers", "2", "--worker-class", "sync"),
                *("--bind", f"127.0.0.1:{port}"),
            )
        )
        visitor = Visitor(port)
        _wait_for("gunicorn answering", visitor.answers, seconds=30, logs=logs / "web.log")
        yield Release(directory, env, f"{server}/{db_name}", visitor, logs, cluster_started)
    finally:
        for proc in reversed(processes):
            _stop(proc)
        with psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def test_login_page_and_every_asset_it_needs_are_served(release: Release) -> None:
    visitor = Visitor(release.visitor.port)
    page = visitor.get("/accounts/login/")
    assert page.status == 200, page.text[:500]
    stylesheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page.text)
    scripts = re.findall(r'<script[^>]* src="([^"]+)"', page.text)
    assert any(re.fullmatch(r"/static/vendor/bootstrap/css/bootstrap\.min\.[0-9a-f]{12}\.css", s) for s in stylesheets)
    assert scripts, "the page loads its scripts"
    for url in stylesheets + scripts:
        asset = visitor.get(url)
        assert asset.status == 200 and asset.body, url
    icons = next(url for url in stylesheets if "bootstrap-icons" in url)
    css = visitor.get(icons)
    assert css.headers["Content-Type"].startswith("text/css")
    fonts = re.findall(r'url\("?(fonts/[^")?]+)', css.text)
    assert fonts, "the icon font is referenced"
    for font in fonts:
        assert visitor.get(urllib.parse.urljoin(icons, font)).status == 200, font


def test_unknown_api_path_is_the_json_404_envelope(release: Release) -> None:
    response = Visitor(release.visitor.port).get("/api/v1/nope")
    assert response.status == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"detail": "Not found.", "error_code": "NOT_FOUND"}


def test_unknown_page_is_the_404_page(release: Release) -> None:
    response = Visitor(release.visitor.port).get("/accounts/no-such-page/")
    assert response.status == 404 and "<h1>Page not found</h1>" in response.text


def test_sign_in_with_the_superuser(release: Release) -> None:
    visitor = Visitor(release.visitor.port)

    def sign_in(password: str) -> Response:
        form = visitor.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert token, "the login form carries a CSRF token"
        return visitor.request(
            "POST", "/accounts/login/", {"csrfmiddlewaretoken": token[1], "login": ADMIN[0], "password": password}
        )

    wrong = sign_in("not-the-password")  # counted by the login rate limit, in the cache table
    assert wrong.status == 200 and "not correct" in wrong.text

    signed_in = sign_in(ADMIN[1])
    assert signed_in.status == 302, signed_in.text[:500]
    dashboard = visitor.get(signed_in.headers["Location"])
    assert dashboard.status == 200 and ADMIN[0] in dashboard.text and "Log out" in dashboard.text

    missing = visitor.get("/no-such-page/")
    assert missing.status == 404 and "<h1>Page not found</h1>" in missing.text


def test_the_cluster_runs_a_scheduled_job_and_shows_on_health(release: Release) -> None:
    import psycopg

    def delivered() -> bool:
        with psycopg.connect(release.database_url, connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT count(*) FROM django_q_task WHERE func = %s AND success",
                ["tasks.jobs.notifications_deliver"],
            ).fetchone()
        return bool(row and row[0])

    # django-q2 runs its scheduler about 30 s after the cluster starts; the job is due at once.
    remaining = max(5.0, 90 - (time.monotonic() - release.cluster_started))
    _wait_for(
        "the scheduled 'notifications: deliver' job run",
        delivered,
        seconds=remaining,
        logs=release.logs / "cluster.log",
    )
    health = release.visitor.get("/health")
    assert health.status == 200 and health.json() == {"status": "ok", "database": "ok", "cluster": "ok"}
    assert "tracker_cache" not in (release.logs / "cluster.log").read_text()

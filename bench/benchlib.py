"""Shared pieces of the bench scripts: a throwaway PostgreSQL database with production-like
settings, a fast loader for realistic tasks, gunicorn started and always stopped, and wrk.

Nothing here is imported by the application; the scripts run from the repository root (or any
copy of it: every path is relative to this file).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PG_SERVER = "postgres://postgres@127.0.0.1:5432"


class BenchError(Exception):
    """A setup or measurement step failed; the message is the one-line reason shown to the user."""


def say(message: str) -> None:
    print(message, flush=True)


# --- Settings and database ------------------------------------------------------------------


def production_env(*, db_name: str, redis_url: str, rate_limit: str = "100000000/60") -> dict[str, str]:
    """The environment of a production deployment, pointed at the bench database.

    Static files: production runs `collectstatic` and serves the hashed names from the manifest;
    the bench serves no static file, so it uses the plain storage and needs no collectstatic (the
    storage backend is not on any measured path).

    HTTPS: production sits behind a TLS proxy (settings redirect plain HTTP, Secure cookies,
    HSTS); the bench talks plain HTTP to gunicorn on 127.0.0.1 with no proxy, so it switches
    those off as scripts/run.sh does (the security middleware still runs on every request).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tracker_project.settings",
            "DEBUG": "false",
            "SECRET_KEY": "bench-" + "k3y" * 20 + "-not-a-real-secret-0123456789",
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": f"{PG_SERVER}/{db_name}",
            "REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": f"{db_name}",
            "API_RATE_LIMIT": rate_limit,
            "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
            "SECURE_SSL_REDIRECT": "false",
            # The runs queue their own jobs; no schedule may run beside them.
            "SCHEDULES_AUTO_INSTALL": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "SECURE_HSTS_SECONDS": "0",
            "BEHIND_TLS_PROXY": "false",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def reset_database(db_name: str) -> None:
    """Drop (ending its sessions) and create `db_name`. Only ever called with the bench's own name."""
    import psycopg

    if not db_name.replace("_", "").isalnum():
        raise BenchError(f"refusing odd database name {db_name!r}")
    try:
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{db_name}"')
    except psycopg.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BenchError(f"PostgreSQL at {PG_SERVER} is not reachable: {first_line}") from exc


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """Run `python manage.py ARGS` with `env`; return stdout, or raise with the last error line."""
    proc = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
        raise BenchError(f"manage.py {' '.join(args)} failed: {lines[-1] if lines else proc.returncode}")
    return proc.stdout


def django_setup(env: dict[str, str]) -> None:
    """Configure Django in this process with exactly the environment the servers get."""
    os.environ.update(env)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import django

    django.setup()


def create_api_key(env: dict[str, str], username: str) -> str:
    """`manage.py create_api_key USERNAME --create-user`; the key is its last line of output."""
    out = manage(env, "create_api_key", username, "--name", "bench", "--create-user")
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    if not lines or " " in lines[-1]:
        raise BenchError(f"create_api_key printed no key on its last line: {out!r}")
    return lines[-1]


# --- Data -----------------------------------------------------------------------------------

WORDS = (
    "renew contract confirm booth banner invoice sponsor logo review deck schedule call send brief "
    "update budget approve copy draft post order swag book venue check assets prepare report "
    "follow up with about the for quarterly launch keynote webinar newsletter social campaign"
).split()


def _sentence(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


@dataclass
class LoadedData:
    task_ids: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def load_tasks(
    *, total: int, seed: int = 20240601, sponsors: int = 40, leads: int = 400, users: int = 15
) -> LoadedData:
    """Insert `total` tasks with COPY (plus sponsors, leads and assignees) in about a second per
    100,000 rows. Needs `django_setup()` first.

    Spread: status todo 40 % / in progress 20 % / done 40 %; priority low 30 % / medium 45 % /
    high 25 %; 60 % manual, the rest from Salesforce, Asana and Google Calendar with unique
    external ids; 85 % with a sponsor, 10 % with a lead, 60 % assigned; 75 % with a due date from
    90 days ago to 180 days ahead; done tasks have completed_at. Positions are gap-spaced and
    unique per status column, as the move service leaves them.
    """
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from leads.models import Lead
    from sponsors.models import Sponsor
    from tasks.models import POSITION_GAP, Task

    started = time.monotonic()
    rng = random.Random(seed)
    now = timezone.now()
    User = get_user_model()

    with transaction.atomic():
        sponsor_ids = [
            s.pk
            for s in Sponsor.objects.bulk_create(
                [Sponsor(name=f"Bench sponsor {i:03d}", contact_email=f"team{i}@example.com") for i in range(sponsors)]
            )
        ]
        lead_ids = [
            lead.pk
            for lead in Lead.objects.bulk_create(
                [Lead(sheet_id=f"lead-{i}", name=f"Lead {i}", email=f"lead{i}@example.com") for i in range(leads)]
            )
        ]
        user_ids = [
            u.pk
            for u in User.objects.bulk_create(
                [User(username=f"bench-assignee-{i:02d}", password="!unusable") for i in range(users)]
            )
        ]

    fields_ = Task._meta.concrete_fields
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields_)
    table = connection.ops.quote_name(Task._meta.db_table)
    next_position = {status: POSITION_GAP for status in Task.Status.values}
    sources = ["manual"] * 60 + ["salesforce"] * 15 + ["asana"] * 15 + ["google_calendar"] * 10
    statuses = ["todo"] * 40 + ["in_progress"] * 20 + ["done"] * 40
    priorities = ["low"] * 30 + ["medium"] * 45 + ["high"] * 25
    data = LoadedData()

    def rows() -> Iterator[list[Any]]:
        for i in range(total):
            status = rng.choice(statuses)
            position = next_position[status]
            next_position[status] += POSITION_GAP
            source = rng.choice(sources)
            created = now - timedelta(days=rng.uniform(1, 365))
            updated = created + timedelta(days=rng.uniform(0, (now - created).days or 1))
            updated = min(updated, now)
            task = Task(
                title=f"{_sentence(rng, 2, 6).capitalize()} #{i}",
                description=_sentence(rng, 0, 60),
                status=status,
                priority=rng.choice(priorities),
                due_at=now + timedelta(days=rng.uniform(-90, 180)) if rng.random() < 0.75 else None,
                position=position,
                source=source,
                external_id=None if source == "manual" else f"{source}-{i}",
                sponsor_id=rng.choice(sponsor_ids) if rng.random() < 0.85 else None,
                lead_id=rng.choice(lead_ids) if rng.random() < 0.10 else None,
                assignee_id=rng.choice(user_ids) if rng.random() < 0.60 else None,
                notes=_sentence(rng, 3, 15) if rng.random() < 0.3 else "",
                created_at=created,
                updated_at=updated,
                completed_at=updated if status == "done" else None,
            )
            data.counts[status] = data.counts.get(status, 0) + 1
            if len(data.task_ids) < 5000 or rng.random() < 0.01:
                data.task_ids.append(str(task.pk))
            yield [f.get_db_prep_save(f.pre_save(task, True), connection) for f in fields_]

    with transaction.atomic():
        connection.ensure_connection()
        with connection.connection.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows():
                    copy.write_row(row)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}")
    rng.shuffle(data.task_ids)
    data.seconds = time.monotonic() - started
    return data


# --- Servers and load -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gunicorn_command(app: str, *, workers: int, port: int) -> list[str]:
    """The one command line every measured app is served with; only `app` differs."""
    return [
        PYTHON,
        "-m",
        "gunicorn",
        "--chdir",
        str(REPO),
        "--worker-class",
        "sync",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "--error-logfile",
        "-",
        # No --access-logfile: gunicorn writes no access log unless asked to.
        app,
    ]


@contextmanager
def gunicorn(
    app: str,
    *,
    env: dict[str, str],
    workers: int,
    port: int,
    ready_path: str = "/",
    headers: dict[str, str] | None = None,
) -> Iterator[str]:
    """Serve `app`, wait until `ready_path` answers 200, yield the base URL; always stop it."""
    log = tempfile.TemporaryFile(mode="w+")
    cmd = gunicorn_command(app, workers=workers, port=port)
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, base + ready_path, headers or {}, log)
        yield base
    finally:
        _stop(proc)
        log.close()


def _log_tail(log: Any) -> str:
    log.seek(0)
    lines = [line.strip() for line in log.read().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def _wait_ready(
    proc: subprocess.Popen[bytes], url: str, headers: dict[str, str], log: Any, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"gunicorn exited with {proc.returncode}: {_log_tail(log)}")
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as resp:
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}: {exc.read()[:200]!r}"
            if exc.code < 500 and exc.code not in (404, 502, 503):
                raise BenchError(f"{url} answered {last}") from exc
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = str(exc)
        time.sleep(0.2)
    raise BenchError(f"{url} did not answer 200 within {timeout:.0f} s (last: {last})")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the gunicorn master we started (its workers follow), then SIGKILL its group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # our own session: leftover workers only
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.wait(timeout=5)


def ensure_wrk() -> str:
    """Path of `wrk`; installs Debian's package (after apt-get update when needed) if missing."""
    found = shutil.which("wrk")
    if found:
        return found
    say("wrk is not installed: installing the Debian package `wrk` with apt-get …")
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if os.geteuid() != 0 and shutil.which("sudo"):
        install = ["sudo", *install]
    proc = subprocess.run(install, env=apt_env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        say("apt-get install failed; running apt-get update first …")
        update = [*install[: install.index("apt-get")], "apt-get", "update", "-q"]
        subprocess.run(update, env=apt_env, capture_output=True, text=True, check=False)
        proc = subprocess.run(install, env=apt_env, capture_output=True, text=True, check=False)
    found = shutil.which("wrk")
    if proc.returncode != 0 or not found:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        raise BenchError(f"could not install wrk: {tail[-1] if tail else proc.returncode}")
    say(f"installed {found}")
    return found


# wrk reports its own summary in a stable form through the Lua `done` hook; when `paths` is given
# each request goes to the next path of the list (round robin per thread, from a random start).
_WRK_LUA = """
local paths = {%(paths)s}
local n = #paths
local i = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("start", threads * 7919)
end
function init(args)
  i = (start or 0) %% n
end
%(request)s
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, "write": %%d, '
    .. '"status": %%d, "timeout": %%d, "p50": %%d, "p90": %%d, "p99": %%d, "max": %%d, "mean": %%f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""
_WRK_REQUEST = """
function request()
  i = i % n + 1
  return wrk.format(nil, paths[i])
end
"""


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    raw: str

    @property
    def error_total(self) -> int:
        return sum(self.errors.values())


def run_wrk(
    url: str,
    *,
    duration: float,
    connections: int,
    threads: int,
    headers: dict[str, str] | None = None,
    paths: Sequence[str] | None = None,
) -> WrkResult:
    """Drive `url` (or `url`'s origin with each of `paths` in turn) for `duration` seconds."""
    wrk = ensure_wrk()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            _WRK_LUA
            % {
                "paths": ", ".join(json.dumps(p) for p in (paths or ["/"])),
                "request": _WRK_REQUEST if paths else "",
            }
        )
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s", "--latency"]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    cmd += ["-s", script.name, url]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    finally:
        os.unlink(script.name)
    summary = next((line[8:] for line in proc.stdout.splitlines() if line.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or summary is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        raise BenchError(f"wrk failed on {url}: {tail[-1] if tail else proc.returncode}")
    s = json.loads(summary)
    seconds = s["duration_us"] / 1e6
    return WrkResult(
        requests=s["requests"],
        seconds=seconds,
        rps=s["requests"] / seconds if seconds else 0.0,
        p50_ms=s["p50"] / 1000,
        p90_ms=s["p90"] / 1000,
        p99_ms=s["p99"] / 1000,
        max_ms=s["max"] / 1000,
        errors={k: s[k] for k in ("connect", "read", "write", "status", "timeout") if s[k]},
        raw=proc.stdout,
    )


def cpu_busy(seconds: float = 2.0) -> float:
    """Fraction of all cores busy over the next `seconds` (from /proc/stat; 0.0 where it is missing).

    Taken between two runs, when the bench itself is idle, so it shows other work on the machine.
    """

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return 0.0
    total = total1 - total0
    return 1.0 - (idle1 - idle0) / total if total > 0 else 0.0


def machine_summary() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {sys.version.split()[0]}, {datetime.now().astimezone():%Y-%m-%d}"


# --- Memory of served processes -------------------------------------------------------------


def listening_processes(port: int) -> dict[int, int]:
    """{pid: parent pid} of every process holding the listening TCP socket of 127.0.0.1:`port`
    (a gunicorn master and its workers share it). Linux /proc only; {} elsewhere."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{parts[9]}]")
    found: dict[int, int] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                found[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
    return found


def gunicorn_worker_rss(port: int) -> dict[int, int]:
    """{worker pid: resident memory in KiB (VmRSS)} of the gunicorn serving `port`: the
    processes holding its socket whose parent holds it too (the master's parent does not)."""
    procs = listening_processes(port)
    rss: dict[int, int] = {}
    for pid, parent in procs.items():
        if parent not in procs:
            continue
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss[pid] = int(line.split()[1])
        except OSError:
            continue
    return rss

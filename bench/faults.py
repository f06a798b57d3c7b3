"""Fault runs: the django-q2 cluster killed in the middle of a sponsor pull, one worker killed
in the middle of a job, PostgreSQL and Redis restarted while API requests are in flight. Each
checks the data and the service afterwards.

    python bench/faults.py [qcluster|worker|postgres|redis|all] [--short]

qcluster  A local fake Salesforce serves --records tasks in pages of --page-size, each page
          after --page-delay seconds. The database `tracker_load_faults` is made with production
          settings and the embedded defaults (ORM broker, database cache). A sponsor is mapped to
          the fake account; `manage.py qcluster` runs; the pull is queued the way the schedule
          does it (`sponsors.jobs.sponsor_pull_all`). When the run has committed --kill-after
          pages, the whole cluster is killed with SIGKILL. Checks: the dead run is still marked
          running and part of the tasks are in; the cluster is started again and the pull queued
          again; the dead run is then marked failed ("Abandoned…") and replaced by a new run that
          succeeds; the sponsor's tasks are exactly the upstream set (no duplicate, no gap), and
          equal, field by field, what one clean pull into an empty table gives.

worker    The same pull on the ORM broker (the one with receipts), with a short Q_TIMEOUT
          (--q-timeout) and retry = Q_TIMEOUT + --q-retry-margin. Once --worker-kill-after pages
          are in, only the worker process performing it (the one connected to the fake
          platform) gets SIGKILL; nothing else queues the pull again. Checks: the cluster keeps
          running; django-q2 hands the unacknowledged job out again after retry and it
          succeeds; it is acknowledged, with one result (a success, one attempt); the killed run
          is marked abandoned, one run succeeded; the tasks equal one clean pull, field by field.

postgres  A private PostgreSQL (initdb + pg_ctl, run as the `postgres` user when this runs as
          root; its own port and socket in a temp dir; the machine's shared server is never
          touched) backs gunicorn (sync workers, production settings, Redis cache when it
          answers). Clients create, read and list tasks without pause; after --before seconds
          PostgreSQL is stopped with `pg_ctl stop -m fast`, left down --outage seconds and
          started again (--outage 0: one `pg_ctl restart -m fast`). Checks: no request hangs
          (all answer within --hang seconds); every error is JSON with the error envelope (no
          HTML page, no traceback) and a 503 with Retry-After; the API answers 200 again within
          --recover seconds of PostgreSQL being back, with no manual step, and every request
          after that plus a short grace answers without a 5xx; /health says 503 while the
          database is down and 200 after; every acknowledged create is in the database.

redis     A private redis-server (its own port, no persistence: a restart loses every key) is
          REDIS_URL for gunicorn and a cluster (cache, rate limits, Redis broker; database
          `tracker_load_faults` on the shared PostgreSQL). API clients, a dashboard page, a
          person signing in and /health run without pause; Redis is stopped for --redis-outage
          seconds and started again. Checks: no request hangs; no 5xx other than 503, each with
          the envelope (API, Retry-After) or the 'try again' page; requests that started after
          the server had exited and ended before it was started again were all answered 2xx by
          the API and /health (the database suffices); from --grace seconds after Redis is back
          everything answers 2xx, sign-in too; a key counted up to its rate limit in the new
          Redis is refused with 429; a job queued after the restart runs and /health reports the
          cluster again (the broker came back by itself); every acknowledged create is stored.

Exit status: 0 every check passed, 1 a check failed (each is listed), 2 could not run.
"""

from __future__ import annotations

import argparse
import glob
import http.server
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    PYTHON,
    REPO,
    BenchError,
    create_api_key,
    django_setup,
    free_port,
    gunicorn,
    manage,
    production_env,
    reset_database,
    say,
)
from sponsor_pull import API_VERSION, QUERY_PATH, account_id, render_pages

QCLUSTER_DB = "tracker_load_faults"
PG_DB = "tracker_load_pgfault"
REDIS_URL = "redis://127.0.0.1:6379/5"
# The cluster, worker and Redis runs share one database, migrated once per process; the bench
# process queues jobs itself, so the clusters it starts share its SECRET_KEY (jobs are signed).
SECRET_KEY = secrets.token_urlsafe(50)
_prepared: set[str] = set()


def prepare_database(env: dict[str, str], name: str) -> None:
    """Drop, create and migrate `name` the first time this process asks for it."""
    if name in _prepared:
        return
    from django.conf import settings

    if settings.configured:
        from django.db import connections

        connections.close_all()
    reset_database(name)
    manage(env, "migrate", "--noinput")
    _prepared.add(name)


# The load key stays far below it; the probe key is counted up to it.
REDIS_RATE_LIMIT = "10000/10"
LOGIN_EVERY = 3.0


class Failures:
    def __init__(self) -> None:
        self.items: list[str] = []

    def check(self, ok: bool, message: str) -> bool:
        say(f"  {'ok  ' if ok else 'FAIL'} {message}")
        if not ok:
            self.items.append(message)
        return ok


# --- qcluster killed in the middle of a pull ----------------------------------------------------
def start_fake_salesforce(records: int, page_size: int, delay: float) -> tuple[http.server.ThreadingHTTPServer, str]:
    pages = render_pages(records, page_size)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path == QUERY_PATH:
                found = re.search(r"AccountId\+?%3D\+?%27(\w+)%27|AccountId = '(\w+)'", query)
                body = pages.get(f"{(found[1] or found[2]) if found else ''}:first")
            else:
                body = pages.get(path)
            if self.headers.get("Authorization") != "Bearer bench-token":
                body, status = b'[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]', 401
            elif body is None:
                body, status = b'[{"message":"not found","errorCode":"NOT_FOUND"}]', 404
            else:
                status = 200
                time.sleep(delay)  # a slow platform: the pull takes long enough to be killed
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client was killed mid-request: that is the point

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def upstream_ids(records: int) -> set[str]:
    return {f"00T{records:06d}{n:09d}" for n in range(records)}


class Cluster:
    """`manage.py qcluster` in its own session, so it can be killed whole."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [PYTHON, "manage.py", "qcluster"], cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL to the whole cluster (sentinel, pusher, workers, monitor): nothing gets to
        clean up, as when a machine or container dies."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.kill()
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        self.kill()


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")


def task_fingerprint(sponsor_id: int) -> dict[str, tuple[Any, ...]]:
    from tasks.models import Task

    rows = Task.objects.filter(sponsor_id=sponsor_id).values_list(
        "external_id", "title", "description", "status", "priority", "due_at", "external_url", "source", "removed_at"
    )
    return {row[0]: row[1:] for row in rows}


def run_qcluster(args: argparse.Namespace, failures: Failures) -> None:
    say(f"\n== qcluster killed in the middle of a pull ({args.records:,} records, {args.page_size} per page)")
    server, base_url = start_fake_salesforce(args.records, args.page_size, args.page_delay)
    cluster: Cluster | None = None
    try:
        env = production_env(db_name=QCLUSTER_DB, redis_url="")
        env.pop("REDIS_URL", None)  # the embedded default: ORM broker, database cache
        env.update(
            SECRET_KEY=SECRET_KEY,
            SALESFORCE_INSTANCE_URL=base_url,
            SALESFORCE_ACCESS_TOKEN="bench-token",
            SALESFORCE_API_VERSION=API_VERSION,
            Q_WORKERS="2",
        )
        prepare_database(env, QCLUSTER_DB)
        _django_for(env)
        from django.db import connection

        from integrations.models import SyncRun
        from integrations.services import ABANDONED
        from sponsors.jobs import sponsor_pull_all
        from sponsors.models import Sponsor
        from tasks.models import Task

        sponsor = Sponsor.objects.create(name="Fault sponsor", salesforce_account_id=account_id(args.records))
        runs = SyncRun.objects.filter(sponsor_id=sponsor.pk, connector="salesforce")
        log_path = Path(tempfile.gettempdir()) / f"tracker_load_faults_qcluster_{os.getpid()}.log"
        cluster = Cluster(env, log_path)
        cluster.start()
        queued = sponsor_pull_all(trigger=SyncRun.Trigger.SCHEDULE)
        failures.check(queued == 1, f"the scheduled pull queued one job (queued {queued})")

        def far_enough() -> SyncRun | None:
            run = runs.order_by("-pk").first()
            return run if run is not None and run.is_running and run.pages >= args.kill_after else None

        dead = wait_for(far_enough, 120, f"the cluster to commit {args.kill_after} pages")
        cluster.kill()
        killed_at = time.monotonic()
        dead.refresh_from_db()
        partial = Task.objects.filter(sponsor=sponsor).count()
        say(f"  killed the cluster at page {dead.pages} of run #{dead.pk}: {partial:,} tasks in so far")
        failures.check(dead.status == SyncRun.Status.RUNNING, "the killed run is left marked running")
        failures.check(0 < partial < args.records, f"part of the pull was committed ({partial:,} of {args.records:,})")

        cluster.start()
        # The schedule runs the pull every minute; here it is called every second. The dead
        # worker's PostgreSQL session (holding the run's advisory lock) may take a moment to
        # end after the kill: until then the run still counts as live and is left alone.
        queued = 0
        while not queued and time.monotonic() - killed_at < args.takeover:
            queued = sponsor_pull_all(trigger=SyncRun.Trigger.SCHEDULE)
            if not queued:
                time.sleep(1)
        dead.refresh_from_db()
        failures.check(
            queued == 1,
            f"a scheduled pull queued a new job {time.monotonic() - killed_at:.1f} s after the kill "
            f"(limit {args.takeover:g} s; queued {queued})",
        )
        failures.check(
            dead.status == SyncRun.Status.FAILED and dead.error == ABANDONED and dead.finished_at is not None,
            f"the dead run is marked failed as abandoned ({dead.status}: {dead.error[:60]!r})",
        )
        if queued != 1:
            return  # nothing will run again: the checks below would only wait
        final = wait_for(
            lambda: runs.exclude(pk=dead.pk).exclude(status=SyncRun.Status.RUNNING).order_by("-pk").first(),
            120 + args.records / args.page_size * args.page_delay * 2,
            "the restarted cluster to finish the new run",
        )
        say(
            f"  run #{final.pk}: {final.status}, {final.fetched:,} fetched, {final.created:,} created, "
            f"{final.unchanged:,} unchanged, {final.failed} failed"
        )
        failures.check(
            final.status == SyncRun.Status.SUCCEEDED, f"the new run succeeded ({final.status} {final.error})"
        )
        failures.check(
            final.fetched == args.records and final.created + final.unchanged == args.records and final.updated == 0,
            "the new run fetched every record and created exactly the missing ones",
        )
        failures.check(not runs.filter(status=SyncRun.Status.RUNNING).exists(), "no run is left running")

        cluster.stop()
        cluster = None
        check_equals_clean_pull(failures, sponsor, args.records)
        connection.close()
    finally:
        if cluster is not None:
            cluster.stop()
        server.shutdown()


# --- one worker killed in the middle of a job ---------------------------------------------------
def _django_for(env: dict[str, str]) -> None:
    """Configure Django in this process for `env` (once per process; both cluster scenarios use
    the same database, and the settings read at call time are brought up to date)."""
    from django.conf import settings

    if not settings.configured:
        django_setup(env)
        return
    from django.db import connections

    connections.close_all()
    for name in ("SALESFORCE_INSTANCE_URL", "SALESFORCE_ACCESS_TOKEN", "SALESFORCE_API_VERSION"):
        setattr(settings, name, env[name])


def _process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def process_connected_to(root: int, port: int) -> int | None:
    """The process of `root`'s tree with an established TCP connection to local port `port`
    (the worker performing the pull talks to the fake platform; no other process does)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "01" and int(parts[2].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{parts[9]}]")
    for pid in _process_tree(root):
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in inodes:
                    return pid
            except OSError:
                continue
    return None


def check_equals_clean_pull(failures: Failures, sponsor: Any, records: int) -> None:
    """The sponsor's tasks are the upstream set, and field by field what one clean pull into an
    empty table gives (the tasks are deleted and pulled again in this process)."""
    from django.db import connection

    from integrations.models import SyncRun
    from integrations.services import connector_state_reset
    from sponsors.services import sponsor_sync
    from tasks.models import Task

    got = list(Task.objects.filter(sponsor=sponsor).values_list("external_id", flat=True))
    want = upstream_ids(records)
    failures.check(len(got) == len(set(got)), f"no duplicate task ({len(got) - len(set(got))} duplicates)")
    failures.check(
        set(got) == want,
        f"the tasks are the upstream set ({len(want - set(got))} missing, {len(set(got) - want)} extra)",
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM tasks_task GROUP BY status, position HAVING COUNT(*) > 1) d"
        )
        failures.check(cursor.fetchone()[0] == 0, "positions are unique per column")
    after_fault = task_fingerprint(sponsor.pk)
    Task.objects.filter(sponsor=sponsor).delete()
    connector_state_reset(connector="salesforce", scope=sponsor.sync_scope)
    clean = sponsor_sync(sponsor=sponsor, source="salesforce", trigger=SyncRun.Trigger.MANUAL)
    failures.check(clean.status == SyncRun.Status.SUCCEEDED, f"a clean pull into an empty table ({clean.status})")
    clean_rows = task_fingerprint(sponsor.pk)
    differing = [key for key in clean_rows if after_fault.get(key) != clean_rows[key]]
    failures.check(
        not differing and set(clean_rows) == set(after_fault),
        f"the data equals one clean pull, field by field ({len(differing)} tasks differ)",
    )


def run_worker(args: argparse.Namespace, failures: Failures) -> None:
    retry = args.q_timeout + args.q_retry_margin
    say(
        f"\n== one worker killed in the middle of a pull ({args.worker_records:,} records; ORM broker, "
        f"Q_TIMEOUT={args.q_timeout}, retry {retry} s)"
    )
    server, base_url = start_fake_salesforce(args.worker_records, args.worker_page_size, args.page_delay)
    cluster: Cluster | None = None
    try:
        env = production_env(db_name=QCLUSTER_DB, redis_url="")
        env.pop("REDIS_URL", None)  # the ORM broker: the one that hands an unacknowledged job out again
        env.update(
            SECRET_KEY=SECRET_KEY,
            SALESFORCE_INSTANCE_URL=base_url,
            SALESFORCE_ACCESS_TOKEN="bench-token",
            SALESFORCE_API_VERSION=API_VERSION,
            Q_WORKERS="2",
            Q_TIMEOUT=str(args.q_timeout),
            Q_RETRY_MARGIN=str(args.q_retry_margin),
        )
        prepare_database(env, QCLUSTER_DB)
        _django_for(env)
        from django_q.models import OrmQ
        from django_q.models import Task as QTask

        from integrations.models import SyncRun
        from integrations.services import ABANDONED
        from sponsors.jobs import sponsor_pull_all
        from sponsors.models import Sponsor
        from tasks.models import Task

        Sponsor.objects.update(is_active=False)  # another run's sponsor, if any: this pull only
        sponsor = Sponsor.objects.create(
            name="Worker fault sponsor", salesforce_account_id=account_id(args.worker_records)
        )
        runs = SyncRun.objects.filter(sponsor_id=sponsor.pk, connector="salesforce")
        cluster = Cluster(env, Path(tempfile.gettempdir()) / f"tracker_load_faults_worker_{os.getpid()}.log")
        cluster.start()
        # Another run's job may still sit in the broker (a killed cluster never acknowledged it).
        older = OrmQ.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        queued = sponsor_pull_all(trigger=SyncRun.Trigger.SCHEDULE)
        failures.check(queued == 1, f"the scheduled pull queued one job (queued {queued})")
        package = OrmQ.objects.filter(pk__gt=older).first()
        job_id = package.task_id() if package is not None else None

        def far_enough() -> SyncRun | None:
            run = runs.order_by("-pk").first()
            return run if run is not None and run.is_running and run.pages >= args.worker_kill_after else None

        dead = wait_for(far_enough, 120, f"the worker to commit {args.worker_kill_after} pages")
        fake_port = int(base_url.rsplit(":", 1)[1])
        assert cluster.proc is not None
        pid = wait_for(lambda: process_connected_to(cluster.proc.pid, fake_port), 30, "the worker's connection")
        failures.check(pid != cluster.proc.pid, f"the process talking to the platform is a worker (pid {pid})")
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        dead.refresh_from_db()
        partial = Task.objects.filter(sponsor=sponsor).count()
        say(f"  killed worker {pid} at page {dead.pages} of run #{dead.pk}: {partial:,} tasks in so far")
        failures.check(0 < partial < args.worker_records, f"part of the pull was committed ({partial:,})")
        failures.check(
            package is not None and OrmQ.objects.filter(pk=package.pk).exists(),
            "the job is still in the broker, unacknowledged",
        )

        def finished() -> SyncRun | str | None:
            run = runs.exclude(pk=dead.pk).exclude(status=SyncRun.Status.RUNNING).order_by("-pk").first()
            if run is not None:
                return run
            result = QTask.objects.filter(id=job_id).values_list("result", flat=True).first()
            return f"the job ended without a new run: {result}" if result is not None else None

        try:
            final = wait_for(finished, retry + 120, "django-q2 to hand the job out again and finish it")
        except BenchError as exc:
            final = str(exc)
        if isinstance(final, str):
            failures.check(False, f"django-q2 handed the job out again and it performed the pull ({final})")
            return
        redelivered = time.monotonic() - killed_at
        failures.check(cluster.proc.poll() is None, "the cluster kept running (it replaced the worker)")
        say(
            f"  run #{final.pk} finished {redelivered:.0f} s after the kill: {final.status}, {final.fetched:,} "
            f"fetched, {final.created:,} created, {final.unchanged:,} unchanged"
        )
        failures.check(
            final.status == SyncRun.Status.SUCCEEDED,
            f"the job handed out again succeeded ({final.status} {final.error})",
        )
        try:
            wait_for(lambda: not OrmQ.objects.filter(pk=package.pk).exists(), 60, "the job to be acknowledged")
            acked = True
        except BenchError:
            acked = False
        failures.check(acked, "the job was acknowledged (it leaves the broker: nothing hands it out a third time)")
        results = list(QTask.objects.filter(id=job_id).values_list("success", "attempt_count"))
        failures.check(results == [(True, 1)], f"the job completed once: one result, a success ({results})")
        dead.refresh_from_db()
        failures.check(
            dead.status == SyncRun.Status.FAILED and dead.error == ABANDONED,
            f"the killed run is marked failed as abandoned ({dead.status}: {dead.error[:60]!r})",
        )
        statuses = Counter(runs.values_list("status", flat=True))
        failures.check(
            statuses == Counter({SyncRun.Status.SUCCEEDED: 1, SyncRun.Status.FAILED: 1}),
            f"one run succeeded, the killed one failed, none is left running ({dict(statuses)})",
        )
        failures.check(
            final.fetched == args.worker_records and final.created + final.unchanged == args.worker_records,
            "the run handed out again fetched every record and created exactly the missing ones",
        )
        cluster.stop()
        cluster = None
        check_equals_clean_pull(failures, sponsor, args.worker_records)
    finally:
        if cluster is not None:
            cluster.stop()
        server.shutdown()


# --- PostgreSQL restarted under load ------------------------------------------------------------
def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    path = found[-1] if found else shutil.which(name)
    if not path:
        raise BenchError(f"{name} not found (install Debian's postgresql package)")
    return path


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on its own port, socket and data directory."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tracker_load_pg_"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self.started = False

    def _run(self, *cmd: str, timeout: float = 120) -> None:
        proc = subprocess.run([*self.as_postgres, *cmd], capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise BenchError(f"{Path(cmd[0]).name} {cmd[1]} failed: {(proc.stderr or proc.stdout).strip()[-300:]}")

    def init(self) -> None:
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self.root.chmod(0o700)
        self._run(pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        self.ctl("start")
        self.started = True

    def ctl(self, action: str, *extra: str) -> None:
        self._run(pg_bin("pg_ctl"), action, "-D", str(self.data), "-l", str(self.log), "-w", "-o", self.options, *extra)

    @property
    def server_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}"

    def destroy(self) -> None:
        if self.started:
            try:
                self._run(pg_bin("pg_ctl"), "stop", "-D", str(self.data), "-m", "immediate", "-w", timeout=60)
            except (BenchError, subprocess.TimeoutExpired) as exc:
                say(f"  (could not stop the private PostgreSQL: {exc})")
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class Outcome:
    op: str
    start: float
    end: float
    status: int  # 0: no answer
    content_type: str = ""
    body: str = ""
    retry_after: str = ""
    error: str = ""


@dataclass
class PgRun:
    outcomes: list[Outcome] = field(default_factory=list)
    created: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def web_login(base: str, username: str, password: str) -> Any:
    """An httpx client signed in through the real login form (session cookie)."""
    import httpx

    http = httpx.Client(base_url=base, timeout=10, follow_redirects=False)
    page = http.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    if token is None:
        raise BenchError("the login page has no CSRF token")
    answer = http.post(
        "/accounts/login/",
        data={"login": username, "password": password, "csrfmiddlewaretoken": token[1]},
        headers={"Referer": f"{base}/accounts/login/"},
    )
    if answer.status_code != 302:
        raise BenchError(f"could not sign in to the dashboard: HTTP {answer.status_code}")
    return http


def web_client(http: Any, stop_at: float, run: PgRun) -> None:
    """A person with the task list open, reloading it: what a dashboard page does in the outage."""
    try:
        while time.monotonic() < stop_at:
            start = time.monotonic()
            try:
                response = http.get("/tasks/")
            except Exception as exc:
                outcome = Outcome("page", start, time.monotonic(), 0, error=f"{type(exc).__name__}: {exc}"[:200])
            else:
                outcome = Outcome(
                    "page", start, time.monotonic(), response.status_code, response.headers.get("Content-Type", ""),
                    response.text[:2000],
                )  # fmt: skip
            with run.lock:
                run.outcomes.append(outcome)
            time.sleep(0.2)
    finally:
        http.close()


def pg_client(number: int, base: str, key: str, stop_at: float, hang: float, run: PgRun) -> None:
    import httpx

    rng = random.Random(number)
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=hang) as http:
        while time.monotonic() < stop_at:
            roll = rng.random()
            with run.lock:
                known = list(run.created)[-50:]
            if number == 0 and roll < 0.3:
                op, method, path, kwargs = "health", "GET", "/health", {}
            elif roll < 0.4 or not known:
                op, method, path = "create", "POST", "/api/v1/tasks"
                kwargs = {"json": {"title": f"Outage task {number}-{secrets.token_hex(4)}"}}
            elif roll < 0.7:
                op, method, path, kwargs = "read", "GET", f"/api/v1/tasks/{rng.choice(known)}", {}
            else:
                op, method, path, kwargs = "list", "GET", "/api/v1/tasks", {"params": {"limit": 20}}
            start = time.monotonic()
            try:
                response = http.request(method, path, **kwargs)
            except Exception as exc:
                outcome = Outcome(op, start, time.monotonic(), 0, error=f"{type(exc).__name__}: {exc}"[:200])
            else:
                outcome = Outcome(
                    op,
                    start,
                    time.monotonic(),
                    response.status_code,
                    response.headers.get("Content-Type", ""),
                    response.text[:300],
                    response.headers.get("Retry-After", ""),
                )
                if op == "create" and response.status_code == 201:
                    with run.lock:
                        run.created.add(response.json()["id"])
            with run.lock:
                run.outcomes.append(outcome)
            time.sleep(0.02)


def run_postgres(args: argparse.Namespace, failures: Failures) -> None:
    mode = f"stopped for {args.outage:g} s" if args.outage else "pg_ctl restart -m fast"
    say(f"\n== PostgreSQL {mode} under load ({args.clients} clients)")
    pg = PrivatePostgres()
    try:
        pg.init()
        say(f"  private PostgreSQL on 127.0.0.1:{pg.port}, data in {pg.data}")
        import psycopg

        with psycopg.connect(f"{pg.server_url}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{PG_DB}"')
        redis_up = _redis_answers()
        env = production_env(db_name=PG_DB, redis_url=REDIS_URL if redis_up else "")
        if not redis_up:
            env.pop("REDIS_URL", None)
        env.update(SECRET_KEY=secrets.token_urlsafe(50), DATABASE_URL=f"{pg.server_url}/{PG_DB}")
        manage(env, "migrate", "--noinput")
        key = create_api_key(env, "faults")
        password = secrets.token_urlsafe(16)
        manage(
            {**env, "DJANGO_SUPERUSER_PASSWORD": password},
            "createsuperuser", "--noinput", "--username", "web", "--email", "web@example.com",
        )  # fmt: skip
        port = free_port()
        with gunicorn(
            "tracker_project.wsgi:application",
            env=env,
            workers=3,
            port=port,
            ready_path="/api/v1/tasks?limit=1",
            headers={"X-API-Key": key},
        ) as base:
            run = PgRun()
            t0 = time.monotonic()
            stop_at = t0 + args.before + args.outage + args.after
            threads = [
                threading.Thread(target=pg_client, args=(n, base, key, stop_at, args.hang, run))
                for n in range(args.clients)
            ]
            threads.append(threading.Thread(target=web_client, args=(web_login(base, "web", password), stop_at, run)))
            for thread in threads:
                thread.start()
            time.sleep(args.before)
            down_at = time.monotonic()
            # The window in which /health must say 503 is only the part of the outage that is
            # certain from here: after `pg_ctl stop` has returned (a check that started while the
            # server was shutting down may still have been answered) and before `pg_ctl start` is
            # called (the server accepts connections before `pg_ctl start` returns). With
            # --outage 0 (`pg_ctl restart`) no moment is certainly down, so nothing is judged.
            outage: tuple[float, float] | None = None
            if args.outage:
                pg.ctl("stop", "-m", "fast")
                stopped_at = time.monotonic()
                time.sleep(args.outage)
                starting_at = time.monotonic()
                pg.ctl("start")
                outage = (stopped_at, starting_at)
            else:
                pg.ctl("restart", "-m", "fast")
            up_at = time.monotonic()
            say(f"  PostgreSQL down at t={down_at - t0:.1f} s, accepting connections again at t={up_at - t0:.1f} s")
            for thread in threads:
                thread.join()
            idle = _idle_restart(pg, base, key, workers=3)
        _judge_postgres(args, failures, run, t0, down_at, up_at, certainly_down=outage)
        failures.check(
            all(status == 200 for status in idle),
            f"after a restart with no request in flight, every worker answers its next request ({Counter(idle)})",
        )
        with psycopg.connect(f"{pg.server_url}/{PG_DB}") as conn:
            stored = {str(row[0]) for row in conn.execute("SELECT id FROM tasks_task")}
        missing = run.created - stored
        failures.check(
            not missing,
            f"every acknowledged create is stored ({len(run.created)} acknowledged, {len(missing)} missing)",
        )
    finally:
        pg.destroy()


def _idle_restart(pg: PrivatePostgres, base: str, key: str, *, workers: int) -> list[int]:
    """Restart PostgreSQL while every worker is idle with an open (now dead) connection, then
    send requests one at a time: each worker must notice and reconnect, not answer 503 (what
    CONN_HEALTH_CHECKS is for; under load the failing requests themselves drop the connections)."""
    import httpx

    say("  idle restart: pg_ctl restart -m fast with no request in flight")
    pg.ctl("restart", "-m", "fast")
    statuses = []
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=10) as http:
        for _ in range(workers * 4):
            try:
                statuses.append(
                    http.get("/api/v1/tasks", params={"limit": 1}, headers={"Connection": "close"}).status_code
                )
            except httpx.HTTPError:
                statuses.append(0)
    return statuses


def _judge_postgres(
    args: argparse.Namespace,
    failures: Failures,
    run: PgRun,
    t0: float,
    down: float,
    up: float,
    *,
    certainly_down: tuple[float, float] | None = None,
) -> None:
    pages = [o for o in run.outcomes if o.op == "page"]
    outcomes = sorted((o for o in run.outcomes if o.op != "page"), key=lambda o: o.start)
    page_errors = [o for o in pages if o.status >= 500 or o.status == 0]
    say(f"  dashboard page /tasks/ answers: {dict(sorted(Counter(o.status for o in pages).items()))}")
    if page_errors:
        sample = page_errors[0]
        title = re.search(r"<title>(.*?)</title>", sample.body, re.S)
        say(
            f"  dashboard in the outage: HTTP {sample.status} {sample.content_type}, "
            f"title {title[1].strip() if title else None!r}"
        )
    failures.check(len(pages) >= 10, f"the dashboard client kept loading pages ({len(pages)})")
    failures.check(
        not [o for o in page_errors if "Traceback" in o.body or "psycopg" in o.body or o.status == 0],
        "dashboard pages fail cleanly in the outage (an error page, no traceback, no hang)",
    )
    not_503 = Counter(o.status for o in page_errors if o.status != 503 or "Temporarily unavailable" not in o.body)
    failures.check(not not_503, f"dashboard outage errors are the 503 'try again' page ({dict(not_503)} others)")
    failures.check(
        not [o for o in pages if o.start > up + args.recover and o.status != 200],
        "dashboard pages answer 200 again after recovery",
    )
    counts = Counter((o.op, o.status) for o in outcomes)
    say("  answers: " + ", ".join(f"{op} {status or 'none'}×{n}" for (op, status), n in sorted(counts.items())))
    errors = [o for o in outcomes if o.status >= 500 or o.status == 0]
    if errors:
        say(
            f"  errors from t={errors[0].start - t0:.1f} s to t={errors[-1].end - t0:.1f} s; "
            f"first: {errors[0].status} {errors[0].body[:160]!r}"
        )
    hangs = [o for o in outcomes if o.status == 0]
    failures.check(
        not hangs, f"no request hung or lost its connection ({len(hangs)}: {hangs[0].error if hangs else ''})"
    )
    slow = [o for o in outcomes if o.end - o.start > args.hang * 0.9]
    slowest = max((o.end - o.start for o in outcomes), default=0.0)
    failures.check(not slow, f"every request answered within {args.hang:g} s (slowest {slowest:.1f} s)")
    not_json = [o for o in errors if o.status and not o.content_type.startswith("application/json")]
    failures.check(
        not not_json,
        f"every 5xx is JSON ({len(not_json)} are not: {not_json[0].body[:120]!r})" if not_json else "every 5xx is JSON",
    )
    leaks = [o for o in errors if "Traceback" in o.body or "psycopg" in o.body or "OperationalError" in o.body]
    failures.check(not leaks, f"no error leaks internals ({len(leaks)} do)")
    enveloped = [o for o in errors if o.status and _envelope(o.body)]
    failures.check(
        len(enveloped) == len([o for o in errors if o.status]),
        "every 5xx has the {detail, error_code} envelope (or /health's body)",
    )
    other_5xx = Counter(o.status for o in errors if o.status and o.status != 503)
    failures.check(not other_5xx, f"every outage error is a 503 ({dict(other_5xx)} others)")
    no_retry = [o for o in errors if o.status == 503 and o.op != "health" and not o.retry_after]
    failures.check(not no_retry, f"API 503s carry Retry-After ({len(no_retry)} without)")
    health_down = []
    if certainly_down:
        lo, hi = certainly_down
        health_down = [o for o in outcomes if o.op == "health" and lo < o.start and o.end < hi]
        failures.check(bool(health_down), f"/health was asked while the database was down ({len(health_down)} times)")
    if health_down:
        failures.check(
            all(o.status == 503 for o in health_down),
            f"/health answers 503 while the database is down ({Counter(o.status for o in health_down)})",
        )
    api_ok = [o for o in outcomes if o.op != "health" and o.start > up and 200 <= o.status < 300]
    recovered = api_ok[0].end if api_ok else None
    if failures.check(
        recovered is not None and recovered - up <= args.recover,
        f"the API answers 2xx again {recovered - up:.1f} s after PostgreSQL is back (limit {args.recover:g} s)"
        if recovered is not None
        else "the API never answered 2xx after PostgreSQL came back",
    ):
        late = [o for o in outcomes if o.start > recovered + args.grace and (o.status >= 500 or o.status == 0)]
        failures.check(not late, f"no 5xx from {args.grace:g} s after recovery to the end ({len(late)})")
        after = [o for o in outcomes if o.start > recovered + args.grace]
        failures.check(len(after) >= 10, f"the service kept answering after recovery ({len(after)} requests)")
    early = [o for o in outcomes if o.end < down and (o.status >= 500 or o.status == 0)]
    failures.check(not early, f"no error before the outage ({len(early)})")


# --- Redis restarted under load ---------------------------------------------------------------
class PrivateRedis:
    """A throwaway redis-server on its own port, with no persistence: a restart loses every key
    (rate-limit counters, the API key generation, the broker's queue and stats), the harder
    case. The machine's shared Redis is never touched."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            raise BenchError("redis-server not found (install Debian's redis-server package)")
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="tracker_load_redis_"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and return once it answers PING."""
        log = (self.root / "redis.log").open("ab")
        cmd = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.root),
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"redis-server on port {self.port} did not start (see {self.root}/redis.log)")
            time.sleep(0.05)

    def answers(self) -> bool:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM and wait for the process to exit: once this returns, the port refuses connections."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def login_client(base: str, username: str, password: str, stop_at: float, run: PgRun) -> None:
    """A person signing in again and again (allauth's login rate limits live in the cache), one
    attempt every LOGIN_EVERY seconds: well below the "login" limit of 30 a minute per address."""
    import httpx

    while time.monotonic() < stop_at:
        start = time.monotonic()
        with httpx.Client(base_url=base, timeout=30, follow_redirects=False) as http:
            try:
                page = http.get("/accounts/login/")
                token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
                response = page
                if page.status_code == 200 and token:
                    response = http.post(
                        "/accounts/login/",
                        data={"login": username, "password": password, "csrfmiddlewaretoken": token[1]},
                        headers={"Referer": f"{base}/accounts/login/"},
                    )
            except Exception as exc:
                outcome = Outcome("login", start, time.monotonic(), 0, error=f"{type(exc).__name__}: {exc}"[:200])
            else:
                outcome = Outcome(
                    "login", start, time.monotonic(), response.status_code, response.headers.get("Content-Type", ""),
                    response.text[:2000], response.headers.get("Retry-After", ""),
                )  # fmt: skip
        with run.lock:
            run.outcomes.append(outcome)
        time.sleep(max(0.0, start + LOGIN_EVERY - time.monotonic()))


# A new key of the probe user (never seen by the server, so it is authenticated and counted on
# the full path), counted up to its rate limit through the product's own code (the server's
# settings, key names and Redis); prints the hits it took and the raw key.
_FILL_RATE_LIMIT = """
from django.contrib.auth import get_user_model
from accounts.actor import Actor
from accounts.ratelimit import rate_limit_check
from accounts.services import api_key_create
user = get_user_model().objects.get(username="probe")
key, raw = api_key_create(user=user, name="probe", actor=Actor.system_job("faults"))
n = 1
while rate_limit_check(f"key:{key.pk}") is None and n < 1_000_000:
    n += 1
print(n, raw)
"""
_ENQUEUE = """
from integrations.queue import enqueue
enqueue("math.floor", 2.5, task_name=%r)
"""


def _job_result(db_url: str, name: str) -> tuple[bool, str] | None:
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute("SELECT success, result FROM django_q_task WHERE name = %s", [name]).fetchone()
    return None if row is None else (bool(row[0]), str(row[1]))


def run_redis(args: argparse.Namespace, failures: Failures) -> None:
    say(f"\n== Redis stopped for {args.redis_outage:g} s under load ({args.clients} clients, REDIS_URL set)")
    redis = PrivateRedis()
    cluster: Cluster | None = None
    try:
        redis.start()
        say(f"  private redis-server on 127.0.0.1:{redis.port}")
        env = production_env(db_name=QCLUSTER_DB, redis_url=redis.url, rate_limit=REDIS_RATE_LIMIT)
        env.update(SECRET_KEY=SECRET_KEY, Q_WORKERS="1")
        db_url = env["DATABASE_URL"]
        prepare_database(env, QCLUSTER_DB)
        key = create_api_key(env, "faults")
        create_api_key(env, "probe")  # the user; the probes make keys of their own
        password = secrets.token_urlsafe(16)
        manage(
            {**env, "DJANGO_SUPERUSER_PASSWORD": password},
            "createsuperuser", "--noinput", "--username", "web", "--email", "web@example.com",
        )  # fmt: skip
        cluster = Cluster(env, Path(tempfile.gettempdir()) / f"tracker_load_faults_redis_{os.getpid()}.log")
        cluster.start()
        manage(env, "shell", "-c", _ENQUEUE % "before-redis-restart")
        before = wait_for(lambda: _job_result(db_url, "before-redis-restart"), 90, "the job queued before the outage")
        failures.check(before[0], f"a job queued before the outage ran on the Redis broker ({before})")
        port = free_port()
        with gunicorn(
            "tracker_project.wsgi:application",
            env=env,
            workers=3,
            port=port,
            ready_path="/api/v1/tasks?limit=1",
            headers={"X-API-Key": key},
        ) as base:
            run = PgRun()
            t0 = time.monotonic()
            stop_at = t0 + args.before + args.redis_outage + args.after
            threads = [
                threading.Thread(target=pg_client, args=(n, base, key, stop_at, args.hang, run))
                for n in range(args.clients)
            ]
            threads.append(threading.Thread(target=web_client, args=(web_login(base, "web", password), stop_at, run)))
            threads.append(threading.Thread(target=login_client, args=(base, "web", password, stop_at, run)))
            for thread in threads:
                thread.start()
            time.sleep(args.before)
            # Judged as certainly down: only requests that started after the server had exited
            # (stop() returned) and ended before it was started again.
            stop_called = time.monotonic()
            redis.stop()
            stopped = time.monotonic()
            time.sleep(args.redis_outage)
            starting = time.monotonic()
            redis.start()
            up = time.monotonic()
            say(f"  Redis stopped at t={stopped - t0:.1f} s, answering again at t={up - t0:.1f} s (no data kept)")
            for thread in threads:
                thread.join()
            _judge_redis(args, failures, run, t0, stop_called, (stopped, starting), up)
            _check_redis_recovered(failures, env, base, db_url, cluster, up)
        import psycopg

        with psycopg.connect(db_url) as conn:
            stored = {str(row[0]) for row in conn.execute("SELECT id FROM tasks_task")}
        missing = run.created - stored
        failures.check(
            not missing,
            f"every acknowledged create is stored ({len(run.created)} acknowledged, {len(missing)} missing)",
        )
    finally:
        if cluster is not None:
            cluster.stop()
        redis.destroy()


def _judge_redis(
    args: argparse.Namespace,
    failures: Failures,
    run: PgRun,
    t0: float,
    stop_called: float,
    certainly_down: tuple[float, float],
    up: float,
) -> None:
    outcomes = sorted(run.outcomes, key=lambda o: o.start)
    counts = Counter((o.op, o.status) for o in outcomes)
    say("  answers: " + ", ".join(f"{op} {status or 'none'}×{n}" for (op, status), n in sorted(counts.items())))
    hangs = [o for o in outcomes if o.status == 0]
    failures.check(
        not hangs, f"no request hung or lost its connection ({len(hangs)}: {hangs[0].error if hangs else ''})"
    )
    slowest = max((o.end - o.start for o in outcomes), default=0.0)
    failures.check(
        slowest < args.hang * 0.9, f"every request answered within {args.hang:g} s (slowest {slowest:.1f} s)"
    )
    errors = [o for o in outcomes if o.status >= 500]
    if errors:
        say(
            f"  first 5xx at t={errors[0].start - t0:.1f} s: {errors[0].op} {errors[0].status} {errors[0].body[:160]!r}"
        )
    other_5xx = Counter((o.op, o.status) for o in errors if o.status != 503)
    failures.check(not other_5xx, f"no 5xx other than 503 ({dict(other_5xx)})")
    leaks = [o for o in errors if "Traceback" in o.body or "redis" in o.body.lower()]
    failures.check(not leaks, f"no error leaks internals ({len(leaks)} do)")
    api_503 = [o for o in errors if o.op not in ("page", "login")]
    bad_api = [o for o in api_503 if not (o.content_type.startswith("application/json") and _envelope(o.body))]
    failures.check(not bad_api, f"every API 5xx is JSON with the error envelope ({len(bad_api)} are not)")
    no_retry = [o for o in api_503 if o.op != "health" and not o.retry_after]
    failures.check(not no_retry, f"API 503s carry Retry-After ({len(no_retry)} without)")
    bad_pages = [o for o in errors if o.op in ("page", "login") and "Temporarily unavailable" not in o.body]
    failures.check(not bad_pages, f"page errors are the 503 'try again' page ({len(bad_pages)} are not)")
    early = [o for o in outcomes if o.end < stop_called and not _ok(o)]
    failures.check(not early, f"everything answered normally before the outage ({len(early)} did not)")

    lo, hi = certainly_down
    down = [o for o in outcomes if lo < o.start and o.end < hi]
    say(f"  while Redis was certainly down: {dict(sorted(Counter((o.op, o.status) for o in down).items()))}")
    api_down = [o for o in down if o.op in ("create", "read", "list", "health")]
    failures.check(len(api_down) >= 3, f"the API was asked while Redis was down ({len(api_down)} requests)")
    failing = Counter((o.op, o.status) for o in api_down if not _ok(o))
    failures.check(
        not failing, f"the API and /health answer 2xx while Redis is down (the database suffices; {dict(failing)})"
    )
    after = [o for o in outcomes if o.start > up + args.grace]
    not_ok = Counter((o.op, o.status) for o in after if not _ok(o))
    failures.check(
        not not_ok, f"from {args.grace:g} s after Redis is back everything answers 2xx, sign-in too ({dict(not_ok)})"
    )
    failures.check(
        any(o.op == "login" for o in after) and len(after) >= 10,
        f"the service kept answering after Redis was back ({len(after)} requests)",
    )


def _ok(o: Outcome) -> bool:
    return 200 <= o.status < 300 or (o.op == "login" and o.status == 302)


def _check_redis_recovered(
    failures: Failures, env: dict[str, str], base: str, db_url: str, cluster: Cluster, up: float
) -> None:
    import httpx

    # Rate limits: the probe key is counted up to its limit by the product's own code in the
    # restarted Redis; the server must then refuse it. A window may roll over between the fill
    # and the request (10 s windows): then try again, at most three times.
    limited, answers = None, []
    for _ in range(3):
        hits, probe_key = manage(env, "shell", "-c", _FILL_RATE_LIMIT).strip().splitlines()[-1].split()
        answer = httpx.get(f"{base}/api/v1/tasks", params={"limit": 1}, headers={"X-API-Key": probe_key}, timeout=30)
        answers.append(answer.status_code)
        if answer.status_code == 429:
            limited = answer
            break
    failures.check(
        limited is not None
        and _envelope(limited.text)
        and limited.json().get("error_code") == "RATE_LIMITED"
        and bool(limited.headers.get("Retry-After")),
        f"rate limits work again: a key counted to its limit ({hits} hits) is refused with 429 + Retry-After "
        f"(answers {answers})",
    )
    name = "after-redis-restart"
    manage(env, "shell", "-c", _ENQUEUE % name)
    try:
        result = wait_for(lambda: _job_result(db_url, name), 90, "the job queued after the restart")
    except BenchError as exc:
        result = None
        say(f"  {exc}")
    failures.check(
        result is not None and result[0],
        f"a job queued after the restart runs: the cluster's broker came back by itself ({result})",
    )
    failures.check(cluster.proc is not None and cluster.proc.poll() is None, "the cluster is still running")

    def cluster_ok() -> bool:
        try:
            return httpx.get(f"{base}/health", timeout=10).json().get("cluster") == "ok"
        except (httpx.HTTPError, ValueError):
            return False

    try:
        wait_for(cluster_ok, 60, "/health to report the cluster")
        healthy = True
    except BenchError:
        healthy = False
    failures.check(healthy, f"/health reports the cluster up again ({time.monotonic() - up:.0f} s after Redis is back)")


def _envelope(body: str) -> bool:
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and ({"detail", "error_code"} <= set(data) or "database" in data)


def _redis_answers() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        return True
    except Exception:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "scenario", nargs="?", default="all", choices=("qcluster", "worker", "postgres", "redis", "all")
    )
    parser.add_argument("--short", action="store_true", help="the CI version (smaller pull, shorter load)")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--page-size", type=int, default=1_000)
    parser.add_argument("--page-delay", type=float, default=0.4, help="seconds the fake platform takes per page")
    parser.add_argument("--kill-after", type=int, default=6, help="kill the cluster once this many pages are in")
    parser.add_argument("--takeover", type=float, default=30.0, help="seconds allowed to take over the dead run")
    parser.add_argument("--worker-records", type=int, default=4_000)
    parser.add_argument("--worker-page-size", type=int, default=200)
    parser.add_argument("--worker-kill-after", type=int, default=4, help="kill the worker once this many pages are in")
    parser.add_argument("--q-timeout", type=int, default=30, help="Q_TIMEOUT of the worker run")
    parser.add_argument("--q-retry-margin", type=int, default=10, help="Q_RETRY_MARGIN of the worker run")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--before", type=float, default=8.0, help="seconds of load before PostgreSQL goes down")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds PostgreSQL stays down (0: pg_ctl restart)")
    parser.add_argument("--redis-outage", type=float, default=6.0, help="seconds Redis stays down")
    parser.add_argument("--after", type=float, default=20.0, help="seconds of load after it is back")
    parser.add_argument("--hang", type=float, default=10.0, help="a request taking longer counts as a hang")
    parser.add_argument("--recover", type=float, default=10.0, help="seconds allowed to answer 2xx again")
    parser.add_argument("--grace", type=float, default=2.0, help="seconds after recovery before any 5xx is a failure")
    args = parser.parse_args()
    if args.short:  # smaller defaults; options given on the command line still win
        short = {
            "records": 6_000,
            "page_size": 500,
            "kill_after": 4,
            "before": 4.0,
            "outage": 3.0,
            "after": 10.0,
            "redis_outage": 4.0,
            "worker_records": 2_000,
            "worker_kill_after": 3,
            "q_timeout": 20,
        }
        for name, value in short.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)

    failures = Failures()
    try:
        for name, scenario in (
            ("qcluster", run_qcluster), ("worker", run_worker), ("postgres", run_postgres), ("redis", run_redis),
        ):  # fmt: skip
            if args.scenario in (name, "all"):
                started = time.monotonic()
                scenario(args, failures)
                say(f"  ({name}: {time.monotonic() - started:.0f} s)")
    except BenchError as exc:
        if not failures.items:
            say(f"fault run could not run: {exc}")
            return 2
        failures.items.append(str(exc))
    if failures.items:
        say(f"\nFAIL: {len(failures.items)} check(s) failed:")
        for item in failures.items:
            say(f"  - {item}")
        return 1
    say("\nPASS: every fault check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

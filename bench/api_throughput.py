"""API throughput against the bare-WSGI ceiling, with 100,000 tasks in PostgreSQL.

    python bench/api_throughput.py [--tasks 100000] [--duration 15] [--connections 32]

Creates (drops first) the PostgreSQL database `tracker_bench`, migrates it with production
settings (DEBUG off, Redis cache and rate limiter), loads the tasks with COPY, creates an API key
with `manage.py create_api_key`, then serves three apps with one gunicorn command line (sync
workers; only the WSGI module differs) and drives each with wrk:

    hello   bench/hello_wsgi.py, the ceiling
    single  GET /api/v1/tasks/{id}          (round robin over 2,000 ids)   target ≥ 0.15 × ceiling
    list    GET /api/v1/tasks?status=todo&priority=high&limit=50          target ≥ 0.08 × ceiling

It also counts the SQL queries of the board page (url name `task_board`, a signed-in user,
100,000 tasks; target < 10). Exit status: 0 every target met, 1 a target missed, 2 the bench
could not run (the last line says why). See bench/README.md for recorded figures.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    REPO,
    BenchError,
    WrkResult,
    cpu_busy,
    create_api_key,
    django_setup,
    ensure_wrk,
    free_port,
    gunicorn,
    gunicorn_command,
    load_tasks,
    machine_summary,
    manage,
    production_env,
    reset_database,
    run_wrk,
    say,
)

DB_NAME = "tracker_bench"
REDIS_URL = "redis://127.0.0.1:6379/3"
HELLO_APP = "bench.hello_wsgi:application"
TRACKER_APP = "tracker_project.wsgi:application"
LIST_PATH = "/api/v1/tasks?status=todo&priority=high&limit=50"
SINGLE_TARGET = 0.15
LIST_TARGET = 0.08
BOARD_QUERY_LIMIT = 10
BUSY_LIMIT = 0.15  # share of the CPU used by other processes above which a run is flagged


@dataclass
class Scenario:
    key: str
    label: str
    app: str
    paths: list[str]
    target: float | None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    cores = os.cpu_count() or 1
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", type=int, default=100_000, help="tasks to load (default 100000)")
    p.add_argument("--duration", type=float, default=15, help="seconds of measured load per app (default 15)")
    p.add_argument("--warmup", type=float, default=3, help="seconds of unmeasured load first (default 3)")
    p.add_argument("--connections", type=int, default=32, help="concurrent wrk connections (default 32)")
    p.add_argument("--threads", type=int, default=min(cores, 32), help=f"wrk threads (default {min(cores, 32)})")
    p.add_argument(
        "--workers",
        type=int,
        default=cores + 1,
        help=f"gunicorn sync workers, the same for every app (default cores + 1 = {cores + 1}, which measured "
        "best on 2 cores; see bench/README.md)",
    )
    p.add_argument("--only", default="hello,single,list", help="comma-separated subset of hello,single,list")
    p.add_argument(
        "--reuse-db",
        action="store_true",
        help="keep tracker_bench if it already holds exactly --tasks tasks (skips reset and load; for repeated runs)",
    )
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    args = p.parse_args(argv)
    unknown = {name.strip() for name in args.only.split(",")} - {"hello", "single", "list"}
    if unknown:
        p.error(f"--only takes hello, single and list, not {', '.join(sorted(unknown))}")
    if args.tasks < 1 or args.duration <= 0 or args.connections < 1 or args.workers < 1:
        p.error("--tasks, --duration, --connections and --workers must be positive")
    return args


def prepare_database(args: argparse.Namespace, env: dict[str, str]) -> list[str]:
    """Reset, migrate and load tracker_bench (or reuse it); return task ids to read."""
    if args.reuse_db and _existing_task_count() == args.tasks:
        say(f"reusing {DB_NAME} with {args.tasks:,} tasks")
        manage(env, "migrate", "--noinput")
        django_setup(env)
        from tasks.models import Task

        return [str(pk) for pk in Task.objects.order_by("?").values_list("pk", flat=True)[:2000]]

    started = time.monotonic()
    reset_database(DB_NAME)
    manage(env, "migrate", "--noinput")
    say(f"database {DB_NAME}: created and migrated in {time.monotonic() - started:.1f} s")
    django_setup(env)
    loaded = load_tasks(total=args.tasks)
    spread = ", ".join(f"{k} {v:,}" for k, v in sorted(loaded.counts.items()))
    say(f"loaded {args.tasks:,} tasks ({spread}) in {loaded.seconds:.1f} s")
    return loaded.task_ids[:2000]


def _existing_task_count() -> int | None:
    import psycopg

    try:
        with psycopg.connect(f"postgres://postgres@127.0.0.1:5432/{DB_NAME}", connect_timeout=5) as conn:
            row = conn.execute("SELECT count(*) FROM tasks_task").fetchone()
            return int(row[0]) if row else None
    except psycopg.Error:
        return None


def board_page_queries(username: str) -> tuple[int, float] | str | None:
    """Queries and seconds of one board page render for a signed-in user (after one warm-up
    render, so per-process caches are filled as in a running server); None if there is no board
    page; a one-line reason if it does not render."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import NoReverseMatch, reverse

    try:
        url = reverse("task_board")
    except NoReverseMatch:
        return None
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(get_user_model().objects.get(username=username))
    try:
        first = client.get(url)
        if first.status_code != 200:
            return f"{url} answered {first.status_code}"
        with CaptureQueriesContext(connection) as ctx:
            started = time.monotonic()
            response = client.get(url)
            elapsed = time.monotonic() - started
    except Exception as exc:  # the page's own error, reported as the outcome
        return f"{url} raised {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        connection.close()
    if response.status_code != 200:
        return f"{url} answered {response.status_code}"
    return len(ctx), elapsed


def check_api(base: str, headers: dict[str, str], single_path: str) -> None:
    """Refuse to measure an API that does not answer what the bench thinks it measures."""
    for path, check in (
        (single_path, lambda body: body.get("id") == single_path.rsplit("/", 1)[1]),
        (LIST_PATH, lambda body: len(body.get("items", [])) == 50 and body.get("count", 0) > 50),
    ):
        with urllib.request.urlopen(urllib.request.Request(base + path, headers=headers), timeout=10) as resp:
            body = json.loads(resp.read())
        if not check(body):
            raise BenchError(f"GET {path} answered an unexpected body: {str(body)[:200]}")


def measure(
    scenario: Scenario, args: argparse.Namespace, env: dict[str, str], headers: dict[str, str], single_path: str
) -> WrkResult:
    port = free_port()
    ready = scenario.paths[0]
    with gunicorn(scenario.app, env=env, workers=args.workers, port=port, ready_path=ready, headers=headers) as base:
        if scenario.app == TRACKER_APP:
            check_api(base, headers, single_path)
        common = {"connections": args.connections, "threads": args.threads, "headers": headers}
        paths = scenario.paths if len(scenario.paths) > 1 else None
        url = base + (scenario.paths[0] if paths is None else "/")
        if args.warmup > 0:
            run_wrk(url, duration=args.warmup, paths=paths, **common)
        result = run_wrk(url, duration=args.duration, paths=paths, **common)
    if result.errors.get("status"):
        raise BenchError(f"{scenario.label}: {result.errors['status']} non-2xx responses under load")
    if result.requests == 0:
        raise BenchError(f"{scenario.label}: no request completed")
    return result


def run(args: argparse.Namespace) -> int:
    say(f"machine: {machine_summary()}")
    ensure_wrk()
    env = production_env(db_name=DB_NAME, redis_url=REDIS_URL)
    task_ids = prepare_database(args, env)
    if not task_ids:
        raise BenchError("no task to read")
    api_key = create_api_key(env, "bench")
    headers = {"X-API-Key": api_key}

    board = board_page_queries("bench")

    single_paths = [f"/api/v1/tasks/{pk}" for pk in task_ids]
    scenarios = [
        Scenario("hello", "hello WSGI (ceiling)", HELLO_APP, ["/"], None),
        Scenario("single", "GET /api/v1/tasks/{id}", TRACKER_APP, single_paths, SINGLE_TARGET),
        Scenario("list", f"GET {LIST_PATH}", TRACKER_APP, [LIST_PATH], LIST_TARGET),
    ]
    wanted = {s.strip() for s in args.only.split(",") if s.strip()}
    if "hello" not in wanted and wanted - {"hello"}:
        say("note: ratios need the hello ceiling; measuring it too")
        wanted.add("hello")
    cmd = gunicorn_command("APP", workers=args.workers, port=0)
    say(
        "gunicorn: "
        + " ".join(Path(c).name if c == sys.executable else c for c in cmd).replace("127.0.0.1:0", "127.0.0.1:PORT")
    )
    say(
        f"wrk: -t{args.threads} -c{args.connections} -d{args.duration:g}s --latency, "
        f"after {args.warmup:g} s of warm-up, X-API-Key header on every request"
    )

    results: dict[str, WrkResult] = {}
    busy_runs: list[str] = []
    for scenario in scenarios:
        if scenario.key in wanted:
            busy = cpu_busy()
            say(f"measuring {scenario.label} … (other CPU use just before: {busy:.0%})")
            if busy > BUSY_LIMIT:
                busy_runs.append(f"{scenario.key} {busy:.0%}")
            results[scenario.key] = measure(scenario, args, env, headers, single_paths[0])

    ceiling = results["hello"].rps
    failures: list[str] = []
    rows = []
    for scenario in scenarios:
        if scenario.key not in results:
            continue
        r = results[scenario.key]
        ratio = r.rps / ceiling if ceiling else 0.0
        verdict = "-"
        if scenario.target is not None:
            verdict = "PASS" if ratio >= scenario.target else "FAIL"
            if verdict == "FAIL":
                failures.append(f"{scenario.label} at {ratio:.3f} of the ceiling (target ≥ {scenario.target:.2f})")
        other = sum(v for k, v in r.errors.items() if k != "status")
        rows.append(
            (
                scenario.label,
                f"{r.rps:,.0f}",
                f"{r.p50_ms:.1f}",
                f"{r.p99_ms:.1f}",
                f"{ratio:.3f}",
                f"≥ {scenario.target:.2f}" if scenario.target is not None else "-",
                verdict,
                str(other) if other else "",
            )
        )
    header = ("endpoint", "req/s", "p50 ms", "p99 ms", "ratio", "target", "result", "socket errors")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    say("")
    for row in [header, *rows]:
        say(
            "  ".join(
                str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )

    if busy_runs:
        say(
            f"warning: the machine was busy with other work before some runs ({', '.join(busy_runs)} of the CPU); "
            "repeat on an idle machine before trusting these ratios"
        )
    if board is None:
        say("board page: not available")
    elif isinstance(board, str):
        say(f"board page: FAIL, {board}")
        failures.append(f"board page did not render ({board})")
    else:
        queries, seconds = board
        ok = queries < BOARD_QUERY_LIMIT
        say(
            f"board page ({args.tasks:,} tasks): {queries} queries (target < {BOARD_QUERY_LIMIT}) "
            f"{'PASS' if ok else 'FAIL'}, rendered in {seconds * 1000:.0f} ms"
        )
        if not ok:
            failures.append(f"board page ran {queries} queries (target < {BOARD_QUERY_LIMIT})")

    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "machine": machine_summary(),
                    "workers": args.workers,
                    "connections": args.connections,
                    "duration": args.duration,
                    "tasks": args.tasks,
                    "results": {
                        k: {"rps": r.rps, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "ratio": r.rps / ceiling}
                        for k, r in results.items()
                    },
                    "board_queries": board[0] if isinstance(board, tuple) else None,
                },
                indent=2,
            )
        )
    if failures:
        say("FAIL: " + "; ".join(failures))
        return 1
    say("PASS: every measured target met")
    return 0


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.chdir(REPO)
    # Ctrl-C or a SIGTERM (CI timeout) unwinds normally, so every gunicorn started is stopped.
    signal.signal(signal.SIGINT, _interrupted)
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        return run(args)
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("bench interrupted", file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())

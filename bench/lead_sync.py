"""Lead sheet sync: HTTP requests per run and run time, against a local fake of the Sheets API.

    python bench/lead_sync.py [--leads 5000] [--changed 500] [--appended 50]

A local fake of the Google Sheets v4 API (the connector's own simulator behind a threaded HTTP
server on 127.0.0.1, counting every request that reaches it) holds --leads rows. The bench
database `tracker_leads_bench` is dropped, created and migrated with production settings
(PostgreSQL), then the real code runs (gspread over HTTP, the plan, the database writes):

    initial       sync_leads --initial: a lead and a task per row, every task id written back
    two-way       --changed rows get a new status in the sheet and --changed other leads' tasks
                  are moved in Tracker; one incremental run carries both directions
    + appends     the same again, plus --appended leads created in Tracker (new sheet rows)
    no change     a run with nothing changed: reads only, writes nothing

Targets: every run makes ≤ 3 requests (the read included: cells and row tags in one read, one
structural batchUpdate when rows are appended or tagged, one write by row tag); the no-change
run writes nothing. A naive design makes one call per changed row (2 × --changed here).
Exit status: 0 every target met, 1 a target missed, 2 the bench could not run.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import BenchError, django_setup, free_port, machine_summary, manage, production_env, reset_database, say

DB_NAME = "tracker_leads_bench"
REDIS_URL = "redis://127.0.0.1:6379/5"
SHEET_ID = "1BenchLeadSheet"
HEADER = ["id", "name", "email", "status", "source", "notes", "task_id"]


def start_fake(simulator: Any) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            status, headers, payload = simulator.handle(
                self.command, unquote(parts.path), parse_qs(parts.query), body, dict(self.headers)
            )
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def timed_sync(simulator: Any, *, initial: bool = False) -> tuple[Any, float, list[tuple[str, str]]]:
    from integrations.models import SyncRun
    from leads.services import lead_sheet_sync

    simulator.log.clear()
    started = time.perf_counter()
    run = lead_sheet_sync(trigger=SyncRun.Trigger.MANUAL, initial=initial)
    elapsed = time.perf_counter() - started
    if run.status != SyncRun.Status.SUCCEEDED:
        raise BenchError(f"sync run #{run.pk} ended {run.status}: {run.error}")
    return run, elapsed, list(simulator.log)


def change_both_sides(simulator: Any, *, start: int, changed: int) -> None:
    """`changed` rows from `start` change status in the sheet; the next `changed` leads' tasks
    are moved in Tracker (as board moves would: status, position, completed_at)."""
    from django.db import transaction
    from django.utils import timezone

    from leads.models import Lead
    from tasks.models import POSITION_GAP, Task
    from tasks.services import task_column_end, task_columns_lock

    rows = simulator.rows("Leads")
    status_col = HEADER.index("status")
    for n in range(start, start + changed):
        rows[n][status_col] = "QUALIFIED" if rows[n][status_col] != "QUALIFIED" else "NEW"
    moved_ids = [f"lead-{n}" for n in range(start + changed, start + 2 * changed)]
    with transaction.atomic():
        task_columns_lock("in_progress", "todo")
        tasks = list(Task.objects.filter(canonical_lead__sheet_id__in=moved_ids))
        now = timezone.now()
        end = {s: task_column_end(s) for s in ("in_progress", "todo")}
        for task in tasks:
            target = "todo" if task.status == "in_progress" else "in_progress"
            task.set_status(target, now=now)
            task.position = end[target]
            end[target] += POSITION_GAP
            task.updated_at = now
        Task.objects.bulk_update(tasks, ["status", "position", "completed_at", "updated_at"], batch_size=1000)
    if len(tasks) != changed or Lead.objects.filter(sheet_id__in=moved_ids).count() != changed:
        raise BenchError("could not move the tasks of the bench leads")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=5000)
    parser.add_argument("--changed", type=int, default=500, help="changed rows on each side")
    parser.add_argument("--appended", type=int, default=50, help="leads created in Tracker for the append run")
    args = parser.parse_args()
    if args.leads < 4 * args.changed + 1:
        raise BenchError("--leads must be at least 4 × --changed + 1 (two disjoint change sets per run)")

    reset_database(DB_NAME)
    env = production_env(db_name=DB_NAME, redis_url=REDIS_URL)
    manage(env, "migrate", "--noinput", timeout=600)
    django_setup(env)

    from django.conf import settings

    from integrations.connectors.google_sheets_sim import SheetsSimulator
    from leads.models import Lead
    from leads.services import lead_create
    from tasks.models import Task

    rows = [HEADER] + [
        [f"lead-{n}", f"Lead {n}", f"lead{n}@example.com", "NEW", "Website", f"note {n}", ""]
        for n in range(1, args.leads + 1)
    ]
    simulator = SheetsSimulator(spreadsheet_id=SHEET_ID, title="Bench leads", sheets={"Leads": rows})
    server, base_url = start_fake(simulator)
    settings.GOOGLE_SHEET_ID = SHEET_ID
    settings.GOOGLE_SHEETS_BASE_URL = base_url
    settings.GOOGLE_ACCESS_TOKEN = "bench-token"
    settings.LEADS_CONFLICT_RULE = "review"
    say(f"Lead sheet sync bench — {args.leads:,} leads, {args.changed} changed on each side; {machine_summary()}")
    results: list[tuple[str, int, float, int, str]] = []
    ok = True
    try:
        run, seconds, log = timed_sync(simulator, initial=True)
        tasks = Task.objects.filter(source="sheet").count()
        if tasks != args.leads or any(not r[-1] for r in simulator.rows("Leads")[1:]):
            raise BenchError(f"initial sync made {tasks} tasks / left task ids unwritten")
        results.append(("initial (create + write ids)", len(log), seconds, run.details["sheet_cells_written"], ""))

        change_both_sides(simulator, start=1, changed=args.changed)
        run, seconds, log = timed_sync(simulator)
        okay = len(log) <= 3 and run.updated == 2 * args.changed
        ok &= okay
        results.append(
            (
                "two-way (500 + 500)",
                len(log),
                seconds,
                run.details["sheet_cells_written"],
                "≤ 3" + ("" if okay else " MISSED"),
            )
        )

        change_both_sides(simulator, start=1 + 2 * args.changed, changed=args.changed)
        from accounts.actor import Actor

        actor = Actor.system_job("bench")
        for n in range(args.appended):
            lead_create(actor=actor, name=f"New lead {n}", email=f"new{n}@example.com")
        run, seconds, log = timed_sync(simulator)
        appended = run.details.get("rows_appended", 0)
        okay = len(log) <= 3 and appended == args.appended
        ok &= okay
        results.append(
            (
                f"two-way + {args.appended} appended",
                len(log),
                seconds,
                run.details["sheet_cells_written"],
                "≤ 3" + ("" if okay else " MISSED"),
            )
        )

        run, seconds, log = timed_sync(simulator)
        writes = [p for m, p in log if m != "GET"]
        okay = not writes and run.updated == 0
        ok &= okay
        results.append(("no change", len(log), seconds, 0, "0 writes" + ("" if okay else " MISSED")))
    finally:
        server.shutdown()
    say(f"{'run':<32} {'requests':>8} {'seconds':>8} {'cells':>7}  target")
    for name, requests, seconds, cells, target in results:
        say(f"{name:<32} {requests:>8} {seconds:>8.2f} {cells:>7}  {target}")
    say(f"naive one-call-per-changed-row design: {2 * args.changed} write requests for the two-way run")
    say(f"leads in the database: {Lead.objects.count():,}; tasks: {Task.objects.filter(source='sheet').count():,}")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        say(f"bench could not run: {exc}")
        sys.exit(2)

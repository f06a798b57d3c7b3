"""Sponsor pull from Salesforce into PostgreSQL, against its ceiling.

    python bench/sponsor_pull.py [--records 50000] [--page-size 2000] [--memory-records 200000]

A local fake Salesforce (its own process, pages rendered up front) serves --records tasks in
pages of --page-size, following `nextRecordsUrl` like the real API. The bench database
`tracker_sync` is dropped, created and migrated with production settings, then:

    ceiling     the same pages fetched by bare httpx, mapped to task rows, loaded by psycopg COPY
                into a temp table and moved with one INSERT … ON CONFLICT (source, external_id)
    full pull   sponsor_sync() into the empty table (the real connector and sync code)
    re-pull     sponsor_sync() again with nothing changed upstream: must write 0 task rows
                (checked physically: every row keeps its ctid) and take ≤ 0.6 × the full pull
    memory      tracemalloc peak of a full pull of --records and of --memory-records (separate
                runs, not timed): it must stay nearly flat, since only the ids are kept

Targets: full pull ≥ 0.5 × the ceiling's rows/s; re-pull writes 0 rows and ≤ 0.6 × full pull
time. Exit status: 0 every target met, 1 a target missed, 2 the bench could not run.
"""

from __future__ import annotations

import argparse
import gc
import http.server
import json
import multiprocessing
import re
import sys
import time
import tracemalloc
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import BenchError, django_setup, free_port, machine_summary, manage, production_env, reset_database, say

DB_NAME = "tracker_sync"
REDIS_URL = "redis://127.0.0.1:6379/4"
API_VERSION = "64.0"
QUERY_PATH = f"/services/data/v{API_VERSION}/queryAll"
FULL_TARGET = 0.5
REPULL_TARGET = 0.6
STATUSES = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")
PRIORITIES = ("High", "Normal", "Low")


# --- the fake Salesforce ------------------------------------------------------------------------
def account_id(records: int) -> str:
    return f"001BENCH{records:010d}"


def render_pages(records: int, page_size: int) -> dict[str, bytes]:
    """{path or locator path: body} for one account's query, pages linked by nextRecordsUrl."""
    account = account_id(records)
    today = date(2030, 1, 1)
    pages: dict[str, bytes] = {}
    total_pages = (records + page_size - 1) // page_size
    for page in range(total_pages):
        rows = []
        for n in range(page * page_size, min(records, (page + 1) * page_size)):
            record_id = f"00T{records:06d}{n:09d}"
            status = STATUSES[n % len(STATUSES)]
            rows.append(
                {
                    "attributes": {"type": "Task", "url": f"/services/data/v{API_VERSION}/sobjects/Task/{record_id}"},
                    "Id": record_id,
                    "Subject": f"Sponsor follow-up {n}: confirm booth, logo and invoice",
                    "Status": status,
                    "Priority": PRIORITIES[n % 3],
                    "ActivityDate": (today + timedelta(days=n % 400)).isoformat(),
                    "Description": "Call the sponsor contact and confirm the open items from the last meeting.",
                    "IsClosed": status == "Completed",
                    "LastModifiedDate": "2030-01-01T10:00:00.000+0000",
                }
            )
        body: dict[str, Any] = {"totalSize": records, "done": page == total_pages - 1, "records": rows}
        if page < total_pages - 1:
            body["nextRecordsUrl"] = f"{QUERY_PATH}/01gBENCH{account}-{(page + 1) * page_size}"
        key = f"{account}:first" if page == 0 else f"{QUERY_PATH}/01gBENCH{account}-{page * page_size}"
        pages[key] = json.dumps(body).encode()
    return pages


def serve(port: int, datasets: list[int], page_size: int, ready: Any) -> None:
    pages: dict[str, bytes] = {}
    for records in datasets:
        pages.update(render_pages(records, page_size))

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path == QUERY_PATH:
                found = re.search(r"AccountId\+?%3D\+?%27(\w+)%27|AccountId = '(\w+)'", query)
                account = (found[1] or found[2]) if found else ""
                body = pages.get(f"{account}:first")
            else:
                body = pages.get(path)
            if self.headers.get("Authorization") != "Bearer bench-token":
                body, status = b'[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]', 401
            elif body is None:
                body, status = b'[{"message":"not found","errorCode":"NOT_FOUND"}]', 404
            else:
                status = 200
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Sforce-Limit-Info", "api-usage=1/15000")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ready.set()
    server.serve_forever()


# --- the ceiling: bare httpx + COPY + one INSERT … ON CONFLICT -----------------------------------
def ceiling(base_url: str, records: int, sponsor_id: int) -> float:
    import httpx
    from django.db import connection

    from tasks.models import POSITION_GAP, Task

    status_map = {"not started": "todo", "deferred": "todo", "in progress": "in_progress"}
    status_map |= {"waiting on someone else": "in_progress", "completed": "done"}
    priority_map = {"high": "high", "normal": "medium", "low": "low"}
    fields = [f for f in Task._meta.concrete_fields]
    columns = [f.column for f in fields]
    table = Task._meta.db_table
    started = time.perf_counter()
    now = datetime.now(UTC)
    positions = {"todo": 0, "in_progress": 0, "done": 0}
    soql = f"SELECT Id FROM Task WHERE AccountId = '{account_id(records)}' OR WhatId = '{account_id(records)}'"
    with httpx.Client(headers={"Authorization": "Bearer bench-token"}, timeout=60) as client:
        conn = connection.connection  # the raw psycopg connection Django opened
        with conn.transaction(), conn.cursor() as cursor:
            cursor.execute(f"CREATE TEMP TABLE bench_rows (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP")
            url, params = f"{base_url}{QUERY_PATH}", {"q": soql}
            with cursor.copy(f"COPY bench_rows ({', '.join(columns)}) FROM STDIN") as copy:
                while True:
                    body = client.get(url, params=params).json()
                    for raw in body["records"]:
                        status = status_map.get(raw["Status"].lower(), "todo")
                        positions[status] += POSITION_GAP
                        row = {
                            "id": uuid.uuid4(),
                            "title": raw["Subject"][:255],
                            "description": raw["Description"] or "",
                            "status": status,
                            "priority": priority_map.get(raw["Priority"].lower(), "medium"),
                            "due_at": datetime.fromisoformat(raw["ActivityDate"]).replace(tzinfo=UTC),
                            "position": positions[status],
                            "source": "salesforce",
                            "external_id": raw["Id"],
                            "sponsor_id": sponsor_id,
                            "external_url": f"{base_url}/lightning/r/Task/{raw['Id']}/view",
                            "sync_baseline": json.dumps({"title": raw["Subject"], "status": status}),
                            "synced_at": now,
                            "created_at": now,
                            "updated_at": now,
                            "completed_at": now if status == "done" else None,
                        }
                        copy.write_row([row.get(f.attname, _default(f)) for f in fields])
                    if body["done"]:
                        break
                    url, params = f"{base_url}{body['nextRecordsUrl']}", None
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in ("title", "description", "status", "priority", "due_at"))
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM bench_rows"
                f" ON CONFLICT (source, external_id) DO UPDATE SET {updates}"
            )
    return time.perf_counter() - started


def _default(field: Any) -> Any:
    value = field.get_default()
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


# --- helpers --------------------------------------------------------------------------------------
def row_versions() -> dict[str, str]:
    """Each task's physical row version: any write (UPDATE) gives the row a new ctid."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT id::text, ctid::text FROM tasks_task")
        return dict(cursor.fetchall())


def truncate_tasks() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE tasks_task, integrations_syncrecorderror, integrations_syncrun CASCADE")
        cursor.execute("DELETE FROM integrations_connectorstate")
        cursor.execute("DELETE FROM accounts_auditevent")


def pull(sponsor: Any) -> Any:
    from sponsors.services import sponsor_sync

    return sponsor_sync(sponsor=sponsor, source="salesforce", trigger="manual")


def memory_peak(records: int) -> tuple[float, float]:
    """(tracemalloc peak MB, seconds) of a full pull of `records` into an empty table."""
    from sponsors.models import Sponsor

    truncate_tasks()
    sponsor = Sponsor.objects.create(name=f"Memory {records}", salesforce_account_id=account_id(records))
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    run = pull(sponsor)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    if run.created != records:
        raise BenchError(f"memory run of {records}: {run.status}, created {run.created} ({run.error})")
    return peak / 2**20, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--page-size", type=int, default=2_000)
    parser.add_argument("--memory-records", type=int, default=200_000, help="0 skips the memory runs")
    args = parser.parse_args()

    say(f"Machine: {machine_summary()}")
    port = free_port()
    ready = multiprocessing.Event()
    datasets = sorted({args.records, args.memory_records} - {0})
    server = multiprocessing.Process(target=serve, args=(port, datasets, args.page_size, ready), daemon=True)
    server.start()
    try:
        if not ready.wait(300):
            raise BenchError("the fake Salesforce did not start")
        base_url = f"http://127.0.0.1:{port}"
        reset_database(DB_NAME)
        env = production_env(db_name=DB_NAME, redis_url=REDIS_URL)
        env.update(
            {
                "SALESFORCE_INSTANCE_URL": base_url,
                "SALESFORCE_ACCESS_TOKEN": "bench-token",
                "SALESFORCE_API_VERSION": API_VERSION,
            }
        )
        manage(env, "migrate", "--noinput")
        django_setup(env)
        from django.conf import settings

        # Until settings.py reads these from the environment, set them here too.
        settings.SALESFORCE_INSTANCE_URL = base_url
        settings.SALESFORCE_ACCESS_TOKEN = "bench-token"
        settings.SALESFORCE_API_VERSION = API_VERSION

        from sponsors.models import Sponsor
        from tasks.models import Task

        n = args.records
        pages = (n + args.page_size - 1) // args.page_size
        extra = f" (+ {args.memory_records:,} for memory)" if args.memory_records else ""
        say(f"Fake Salesforce: {n:,} tasks in {pages} pages of {args.page_size:,}{extra}")

        sponsor = Sponsor.objects.create(name="Bench sponsor", salesforce_account_id=account_id(n))
        ceiling_s = ceiling(base_url, n, sponsor.pk)
        if Task.objects.count() != n:
            raise BenchError(f"ceiling loaded {Task.objects.count()} rows, expected {n}")
        truncate_tasks()
        ceiling_rate = n / ceiling_s
        say(f"ceiling    {ceiling_s:7.2f} s  {ceiling_rate:9,.0f} rows/s   (httpx + COPY + INSERT … ON CONFLICT)")

        started = time.perf_counter()
        run = pull(sponsor)
        full_s = time.perf_counter() - started
        if run.status != "succeeded" or run.created != n or Task.objects.filter(sponsor=sponsor).count() != n:
            raise BenchError(f"full pull: {run.status}, created {run.created}: {run.error}")
        full_rate = n / full_s
        ratio = full_rate / ceiling_rate
        say(f"full pull  {full_s:7.2f} s  {full_rate:9,.0f} rows/s   {ratio:.2f} × ceiling (target ≥ {FULL_TARGET})")

        before = row_versions()
        started = time.perf_counter()
        again = pull(sponsor)
        repull_s = time.perf_counter() - started
        after = row_versions()
        written = sum(1 for pk, ctid in after.items() if before.get(pk) != ctid) + len(set(before) - set(after))
        if again.status != "succeeded" or again.unchanged != n:
            raise BenchError(f"re-pull: {again.status}, unchanged {again.unchanged}: {again.error}")
        say(
            f"re-pull    {repull_s:7.2f} s  {written} task rows written, {repull_s / full_s:.2f} × full pull "
            f"(target 0 rows, ≤ {REPULL_TARGET})"
        )

        peaks = []
        for records in datasets if args.memory_records else []:
            peak, seconds = memory_peak(records)
            peaks.append((records, peak))
            say(f"memory     {records:>9,} records: peak {peak:6.1f} MB traced  ({seconds:.1f} s with tracemalloc on)")
        if len(peaks) == 2:
            (small_n, small), (big_n, big) = peaks
            say(f"           ×{big_n / small_n:.0f} records → ×{big / small:.2f} peak memory")

        ok = full_rate >= FULL_TARGET * ceiling_rate and written == 0 and repull_s <= REPULL_TARGET * full_s
        say("RESULT: every target met" if ok else "RESULT: a target was missed")
        return 0 if ok else 1
    except BenchError as exc:
        say(f"bench could not run: {exc}")
        return 2
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    sys.exit(main())

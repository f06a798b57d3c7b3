"""Mixed API workload against gunicorn on PostgreSQL, then a consistency check of the database.

    python bench/load_mixed.py [--duration 60] [--clients 32] [--workers 3] [--tasks 300]
    python bench/load_mixed.py --short          # CI: 15 s, 16 clients
    python bench/load_mixed.py --minutes 10     # soak: memory per worker must stay flat

The database `tracker_load` is dropped, created and migrated with production settings
(DEBUG=false, a random SECRET_KEY, ALLOWED_HOSTS=127.0.0.1, Redis cache when it answers, the API
rate limit set out of reach). A user and an API key are made with `manage.py create_api_key`,
--tasks tasks are seeded through the task service, and gunicorn (sync workers) serves the app
on a free 127.0.0.1 port. Then --clients threads, each with its own keep-alive httpx client,
run list / read / create / update / move / delete for --duration seconds. 70 % of the updates
and moves (and 40 % of the reads) go to two hot tasks, so writers really collide on the same
rows and the same column slots.

Every request is recorded (start, end, status). Afterwards:

- no 5xx, no 429, no transport error or timeout, every error body is the JSON envelope;
- no 409 "conflicts with existing data" (an IntegrityError reaching the API: the move and
  create services must serialise position writes themselves), no create ever answered 409;
- every acknowledged create is in the database unless a delete of it was sent; every
  acknowledged delete is gone; nothing is in the database that nobody created;
- a read or update of a task nobody tried to delete never answers 404;
- no lost update: title, description, notes and status are registers. Every value a response
  showed (reads, lists, the answers of updates and moves) and every value left in the database
  must come from a write that no acknowledged write of the same field both started after it
  was acknowledged and was acknowledged before the read began — a condition every
  linearizable register meets whatever the overlap of the requests, so a lost update is
  caught at the next read even when a later write hides it;
- every acknowledged create, update and delete left its audit event with the value written;
- positions are unique per status column; every list page the clients saw was strictly
  ordered by position; the API's column order equals the database's; and, after the load,
  30 sequential moves between listed neighbours each put the task exactly there.

The resident memory (VmRSS) of each gunicorn worker is sampled every few seconds and printed
when the server is ready, after the warm-up (the first quarter of the run, at most 60 s: the
first requests import code and fill per-process caches) and at the end. A worker whose memory
grew from the warm-up to the end by more than RSS_GROWTH_MAX_KIB (or RSS_GROWTH_MAX_SHARE of
its warm size, whichever is larger), or that was replaced during the run, fails it; the soak
(--minutes 10) is where a leak shows.

Prints requests/s and latency p50/p95/p99 per operation. Exit status: 0 all checks pass,
1 a check failed (each violation is listed), 2 the bench could not run.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import random
import secrets
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    BenchError,
    create_api_key,
    django_setup,
    free_port,
    gunicorn,
    gunicorn_worker_rss,
    machine_summary,
    manage,
    production_env,
    reset_database,
    say,
)

DB_NAME = "tracker_load"
REDIS_URL = "redis://127.0.0.1:6379/5"
STATUSES = ("todo", "in_progress", "done")
PRIORITIES = ("low", "medium", "high")
REGISTER_FIELDS = ("title", "description", "notes", "status")
OP_WEIGHTS = {"list": 22, "read": 20, "create": 14, "update": 24, "move": 15, "delete": 5}
HOT_TASKS = 2
INTEGRITY_DETAIL = "conflicts with existing data"
FOREVER = float("inf")
# Flat memory, stated: after the warm-up a worker may grow by at most this much over the run.
RSS_GROWTH_MAX_KIB = 16 * 1024
RSS_GROWTH_MAX_SHARE = 0.15
RSS_SAMPLE_SECONDS = 5.0


# --- what the clients saw -----------------------------------------------------------------------
@dataclass
class Write:
    """One write of one field of one task: its value and the time window of its request."""

    value: str
    start: float
    end: float  # FOREVER: the outcome is unknown (no answer), so it may have happened any time
    acked: bool
    op: str = "seed"


@dataclass
class Ledger:
    """Everything the clients did and saw; shared by the client threads under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    live: list[str] = field(default_factory=list)  # ids believed to exist, to pick from
    hot: list[str] = field(default_factory=list)
    seeded: set[str] = field(default_factory=set)
    created: dict[str, float] = field(default_factory=dict)  # id -> ack time
    create_unknown: set[str] = field(default_factory=set)  # titles of creates with no answer
    delete_sent: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    writes: dict[tuple[str, str], list[Write]] = field(default_factory=lambda: defaultdict(list))
    # (task id, field, value shown, request start, request end, which request)
    observations: list[tuple[str, str, Any, float, float, str]] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    total: int = 0

    def violation(self, message: str) -> None:
        with self.lock:
            if len(self.violations) < 10_000:
                self.violations.append(message)

    def pick(self, rng: random.Random, *, hot_share: float = 0.0) -> str | None:
        with self.lock:
            if self.hot and rng.random() < hot_share:
                return rng.choice(self.hot)
            return rng.choice(self.live) if self.live else None

    def observe(self, items: list[dict[str, Any]], start: float, end: float, seen_by: str) -> None:
        rows = [(i["id"], n, i[n], start, end, seen_by) for i in items for n in REGISTER_FIELDS if n in i]
        with self.lock:
            self.observations.extend(rows)

    def forget(self, task_id: str) -> None:
        with self.lock:
            if task_id in self.live:
                self.live.remove(task_id)


class Client:
    """One simulated API client: a thread with its own keep-alive connection."""

    def __init__(self, number: int, base: str, key: str, ledger: Ledger, deadline: float, seed: int) -> None:
        import httpx

        self.number = number
        self.ledger = ledger
        self.deadline = deadline
        self.rng = random.Random(seed * 1000 + number)
        self.http = httpx.Client(base_url=base + "/api/v1", headers={"X-API-Key": key}, timeout=30.0)
        self.seq = 0
        self.columns: dict[str, list[dict[str, Any]]] = {}  # last list seen per status

    def token(self, kind: str) -> str:
        self.seq += 1
        return f"{kind} c{self.number}-{self.seq}-{secrets.token_hex(3)}"

    # --- one request, recorded ----------------------------------------------------------------
    def call(self, op: str, method: str, path: str, **kwargs: Any) -> tuple[int | None, Any, float, float]:
        """(status or None when no answer, parsed JSON body or None, start, end)."""
        start = time.monotonic()
        try:
            response = self.http.request(method, path, **kwargs)
        except Exception as exc:
            end = time.monotonic()
            self.ledger.violation(f"{op} {method} {path}: no answer after {end - start:.1f} s ({type(exc).__name__})")
            with self.ledger.lock:
                self.ledger.statuses[(op, 0)] += 1
                self.ledger.total += 1
            return None, None, start, end
        end = time.monotonic()
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                self.ledger.violation(f"{op} {method} {path}: {response.status_code} with a non-JSON body")
        status = response.status_code
        with self.ledger.lock:
            self.ledger.latencies[op].append(end - start)
            self.ledger.statuses[(op, status)] += 1
            self.ledger.total += 1
        if status >= 500 or status == 429:
            self.ledger.violation(f"{op} {method} {path}: HTTP {status} {str(body)[:200]}")
        elif status >= 400 and not (isinstance(body, dict) and {"detail", "error_code"} <= set(body)):
            self.ledger.violation(f"{op} {method} {path}: HTTP {status} without the error envelope")
        if status == 409 and INTEGRITY_DETAIL in str(body):
            self.ledger.violation(f"{op} {method} {path}: 409 from a database constraint: {body}")
        return status, body, start, end

    def run(self) -> None:
        ops, weights = zip(*OP_WEIGHTS.items(), strict=True)
        try:
            while time.monotonic() < self.deadline:
                getattr(self, f"op_{self.rng.choices(ops, weights)[0]}")()
        finally:
            self.http.close()

    # --- operations ---------------------------------------------------------------------------
    def op_list(self) -> None:
        status_filter = self.rng.choice(STATUSES)
        code, body, start, end = self.call("list", "GET", "/tasks", params={"status": status_filter, "limit": 50})
        if code != 200:
            return
        items = body["items"]
        self.ledger.observe(items, start, end, "a list")
        positions = [item["position"] for item in items]
        if any(item["status"] != status_filter for item in items):
            self.ledger.violation(f"list status={status_filter}: an item of another status")
        if any(b <= a for a, b in itertools.pairwise(positions)):
            self.ledger.violation(f"list status={status_filter}: positions not strictly increasing: {positions}")
        self.columns[status_filter] = items

    def op_read(self) -> None:
        task_id = self.ledger.pick(self.rng, hot_share=0.4)
        if task_id is None:
            return
        code, body, start, end = self.call("read", "GET", f"/tasks/{task_id}")
        if code == 200:
            self.ledger.observe([body], start, end, "a read")
        if code == 404 and task_id not in self.ledger.delete_sent:
            self.ledger.violation(f"read {task_id}: 404 but nobody deleted it")
        elif code == 200 and body["id"] != task_id:
            self.ledger.violation(f"read {task_id}: answered task {body['id']}")

    def op_create(self) -> None:
        title = self.token("Load task")
        payload = {
            "title": title,
            "description": self.token("desc"),
            "status": self.rng.choice(STATUSES),
            "priority": self.rng.choice(PRIORITIES),
        }
        code, body, start, end = self.call("create", "POST", "/tasks", json=payload)
        if code is None:
            with self.ledger.lock:
                self.ledger.create_unknown.add(title)
            return
        if code != 201:
            self.ledger.violation(f"create: HTTP {code} {str(body)[:200]}")
            return
        task_id = body["id"]
        if any(body[k] != payload[k] for k in ("title", "description", "status", "priority")):
            self.ledger.violation(f"create {task_id}: answered other values than sent")
        with self.ledger.lock:
            self.ledger.created[task_id] = end
            self.ledger.live.append(task_id)
            for name in ("title", "description", "status"):
                self.ledger.writes[(task_id, name)].append(Write(payload[name], start, end, True, "create"))
            self.ledger.writes[(task_id, "notes")].append(Write("", start, end, True, "create"))

    def op_update(self) -> None:
        task_id = self.ledger.pick(self.rng, hot_share=0.7)
        if task_id is None:
            return
        name = self.rng.choice(("title", "description", "notes", "notes", "status"))
        value = self.rng.choice(STATUSES) if name == "status" else self.token(name)
        code, body, start, end = self.call("update", "PATCH", f"/tasks/{task_id}", json={name: value})
        self._record_write(task_id, name, value, code, start, end, op="update")
        if code == 200:
            self.ledger.observe([body], start, end, "an update's answer")
        if code == 200 and body[name] != value:
            self.ledger.violation(f"update {task_id}: {name} answered {body[name]!r}, sent {value!r}")

    def op_move(self) -> None:
        """Move a task next to neighbours from this client's last view of a column (often stale,
        which the API must answer with a clean 409), mostly into the first slots, so gaps run out
        and columns get re-spaced while others write."""
        status = self.rng.choice(STATUSES)
        column = [item["id"] for item in self.columns.get(status, [])]
        task_id = self.ledger.pick(self.rng, hot_share=0.7)
        if task_id is None:
            return
        others = [pk for pk in column if pk != task_id][:4]
        payload: dict[str, Any] = {"status": status}
        if len(others) >= 2 and self.rng.random() < 0.8:
            i = self.rng.randrange(len(others) - 1)
            payload.update(after_id=others[i], before_id=others[i + 1])
        elif others:
            payload["before_id" if self.rng.random() < 0.5 else "after_id"] = self.rng.choice(others)
        code, body, start, end = self.call("move", "POST", f"/tasks/{task_id}/move", json=payload)
        self._record_write(task_id, "status", status, code, start, end, op="move")
        if code == 200:
            self.ledger.observe([body], start, end, "a move's answer")
        if code == 200 and body["status"] != status:
            self.ledger.violation(f"move {task_id}: answered status {body['status']}, asked {status}")

    def op_delete(self) -> None:
        with self.ledger.lock:
            candidates = [pk for pk in self.ledger.live[-200:] if pk not in self.ledger.hot]
            if not candidates:
                return
            task_id = self.rng.choice(candidates)
            self.ledger.delete_sent.add(task_id)
        self.ledger.forget(task_id)
        code, _, _, _ = self.call("delete", "DELETE", f"/tasks/{task_id}")
        if code == 204:
            with self.ledger.lock:
                self.ledger.deleted.add(task_id)
        elif code is not None:
            self.ledger.violation(f"delete {task_id}: HTTP {code}")

    def _record_write(
        self, task_id: str, name: str, value: str, code: int | None, start: float, end: float, *, op: str
    ) -> None:
        if code == 200:
            with self.ledger.lock:
                self.ledger.writes[(task_id, name)].append(Write(value, start, end, True, op))
        elif code is None:
            with self.ledger.lock:
                self.ledger.writes[(task_id, name)].append(Write(value, start, FOREVER, False, op))
        elif code == 404 and task_id not in self.ledger.delete_sent:
            self.ledger.violation(f"{op} {task_id}: 404 but nobody deleted it")
        elif code not in (404, 409):
            self.ledger.violation(f"{op} {task_id} {name}={value!r}: HTTP {code}")


# --- set-up -------------------------------------------------------------------------------------
def redis_answers(url: str) -> bool:
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        return True
    except Exception:
        return False


def seed(total: int, ledger: Ledger) -> None:
    """`total` tasks through the task service (real positions, audit events), spread over the
    columns; the first HOT_TASKS are the hot set, never deleted."""
    from django.db import connection

    from accounts.actor import Actor
    from tasks.services import task_create

    actor = Actor.system_job("load seed")
    rng = random.Random(7)
    for n in range(total):
        task = task_create(
            actor=actor,
            title=f"Seed task {n}",
            description=f"seed description {n}",
            status=rng.choice(STATUSES),
            priority=rng.choice(PRIORITIES),
        )
        pk = str(task.pk)
        ledger.seeded.add(pk)
        ledger.live.append(pk)
        if n < HOT_TASKS:
            ledger.hot.append(pk)
        for name in REGISTER_FIELDS:
            ledger.writes[(pk, name)].append(Write(getattr(task, name), 0.0, 0.0, True))
    connection.close()


# --- checks -------------------------------------------------------------------------------------
class Register:
    """The writes of one field of one task, indexed to judge what a read may return.

    A read that ran in [rs, re] may return value v only if some write w of v started before
    re and no acknowledged write w2 both started after w was acknowledged and was acknowledged
    before rs (w2 would sit between w and the read in every possible order). With S = the
    latest start of the writes acknowledged before rs, that is: w.end >= S.
    """

    def __init__(self, writes: list[Write]) -> None:
        acked = sorted((w for w in writes if w.acked), key=lambda w: w.end)
        self.ends = [w.end for w in acked]
        self.max_start: list[float] = list(itertools.accumulate((w.start for w in acked), max))
        self.by_value: dict[str, list[Write]] = defaultdict(list)
        for w in sorted(writes, key=lambda w: w.start):
            self.by_value[w.value].append(w)
        self.starts = {v: [w.start for w in ws] for v, ws in self.by_value.items()}
        self.acked = acked

    def allows(self, value: Any, rs: float, re: float) -> bool:
        i = bisect.bisect_left(self.ends, rs)
        cutoff = self.max_start[i - 1] if i else -FOREVER
        candidates = self.by_value.get(value, [])
        j = bisect.bisect_left(self.starts.get(value, []), re)
        return any(w.end >= cutoff for w in reversed(candidates[:j]))

    def latest_before(self, rs: float) -> Any:
        i = bisect.bisect_left(self.ends, rs)
        return self.acked[i - 1].value if i else None


def check_registers(ledger: Ledger, final: dict[str, dict[str, Any]], t_end: float) -> None:
    """Every value any response showed, and every value left in the database, must be one a
    correct (linearizable) register could hold at that time: a lost update shows up at the
    next read after it, even when a later write hides it again."""
    registers = {key: Register(writes) for key, writes in ledger.writes.items()}
    observations = list(ledger.observations)
    for pk, row in final.items():
        observations += [(pk, name, row[name], t_end, t_end, "final state") for name in REGISTER_FIELDS]
    lost = 0
    for pk, name, value, rs, re, seen_by in observations:
        register = registers.get((pk, name))
        if register is None or register.allows(value, rs, re):
            continue
        lost += 1
        if lost <= 20:
            ledger.violation(
                f"lost update: {seen_by} showed task {pk} {name}={value!r}, but {register.latest_before(rs)!r} "
                "was acknowledged after that value was written and before the read began"
            )
    if lost > 20:
        ledger.violation(f"... {lost} stale values seen in all")
    say(f"checked {len(observations):,} observed values against {sum(map(len, ledger.writes.values())):,} writes")


def check_database(ledger: Ledger, t_end: float) -> None:
    from django.db import connection

    from accounts.models import AuditEvent
    from tasks.models import Task

    rows = {str(r["id"]): r for r in Task.objects.values("id", "title", "description", "notes", "status")}
    in_db = set(rows)

    for pk in ledger.created:
        if pk not in in_db and pk not in ledger.delete_sent:
            ledger.violation(f"acknowledged create {pk} is missing")
    for pk in ledger.deleted:
        if pk in in_db:
            ledger.violation(f"acknowledged delete {pk} is still there")
    strangers = in_db - ledger.seeded - set(ledger.created)
    unexplained = [pk for pk in strangers if rows[pk]["title"] not in ledger.create_unknown]
    for pk in unexplained[:20]:
        ledger.violation(f"task {pk} ({rows[pk]['title']!r}) is in the database but nobody created it")

    check_registers(ledger, rows, t_end)

    audited: set[tuple[str, str, str]] = set()
    for object_id, action, changes in AuditEvent.objects.filter(object_type="tasks.task").values_list(
        "object_id", "action", "changes"
    ):
        audited.add((object_id, action, ""))
        for name, change in (changes or {}).items():
            if isinstance(change, list | tuple) and len(change) == 2:
                audited.add((object_id, action, f"{name}={change[1]}"))
    if not audited:
        audited = _audit_fallback()
    missing = [pk for pk in ledger.created if (pk, "task.create", "") not in audited]
    missing += [pk for pk in ledger.deleted if (pk, "task.delete", "") not in audited]
    for (pk, name), writes in ledger.writes.items():
        # Text updates carry unique values, so each acknowledged one must have changed the row.
        for w in writes:
            if w.acked and w.op == "update" and name != "status":
                if (pk, "task.update", f"{name}={w.value}") not in audited:
                    missing.append(f"{pk} {name}={w.value!r}")
    for item in missing[:20]:
        ledger.violation(f"acknowledged write without its audit event: {item}")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, position, COUNT(*) FROM tasks_task GROUP BY status, position HAVING COUNT(*) > 1 LIMIT 20"
        )
        for status, position, count in cursor.fetchall():
            ledger.violation(f"{count} tasks share position {position} in column {status}")
    connection.close()


def _audit_fallback() -> set[tuple[str, str, str]]:  # pragma: no cover  (object_type spelled otherwise)
    from accounts.models import AuditEvent

    out: set[tuple[str, str, str]] = set()
    for object_id, action, changes in AuditEvent.objects.filter(action__startswith="task.").values_list(
        "object_id", "action", "changes"
    ):
        out.add((object_id, action, ""))
        for name, change in (changes or {}).items():
            if isinstance(change, list | tuple) and len(change) == 2:
                out.add((object_id, action, f"{name}={change[1]}"))
    return out


def check_ordering(base: str, key: str, ledger: Ledger, moves: int = 30) -> None:
    """The API's column order equals the database's; then sequential moves land exactly
    between the neighbours asked for."""
    import httpx
    from django.db import connection

    from tasks.models import Task

    rng = random.Random(11)
    with httpx.Client(base_url=base + "/api/v1", headers={"X-API-Key": key}, timeout=30.0) as http:

        def column(status: str) -> list[str]:
            ids: list[str] = []
            while True:
                body = http.get("/tasks", params={"status": status, "limit": 500, "offset": len(ids)}).json()
                ids += [item["id"] for item in body["items"]]
                if len(ids) >= body["count"] or not body["items"]:
                    return ids

        for status in STATUSES:
            db_order = [
                str(pk)
                for pk in Task.objects.filter(status=status).order_by("position", "id").values_list("id", flat=True)
            ]
            if column(status) != db_order:
                ledger.violation(f"column {status}: the API's order differs from the database's")
        connection.close()

        for n in range(moves):
            status = rng.choice(STATUSES)
            ids = column(status)
            if len(ids) < 4:
                continue
            i = rng.randrange(min(len(ids), 20) - 1)
            after, before = ids[i], ids[i + 1]
            task_id = rng.choice([pk for pk in ids if pk not in (after, before)][:40])
            target = rng.choice(STATUSES)
            if target != status:
                target_ids = column(target)
                if len(target_ids) < 2:
                    continue
                j = rng.randrange(min(len(target_ids), 20) - 1)
                after, before = target_ids[j], target_ids[j + 1]
            response = http.post(
                f"/tasks/{task_id}/move", json={"after_id": after, "before_id": before, "status": target}
            )
            if response.status_code != 200:
                ledger.violation(f"sequential move {n}: HTTP {response.status_code} {response.text[:200]}")
                continue
            now = column(target)
            k = now.index(task_id) if task_id in now else -1
            if k < 1 or now[k - 1] != after or k + 1 >= len(now) or now[k + 1] != before:
                ledger.violation(f"sequential move {n}: task {task_id} is not between {after} and {before}")


# --- report -------------------------------------------------------------------------------------
class MemorySampler:
    """VmRSS of every gunicorn worker every RSS_SAMPLE_SECONDS, in a thread, for the whole run."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.samples: list[tuple[float, dict[int, int]]] = []
        self.started = time.monotonic()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="rss", daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.append((time.monotonic() - self.started, gunicorn_worker_rss(self.port)))
            if self.stop.wait(RSS_SAMPLE_SECONDS):
                self.samples.append((time.monotonic() - self.started, gunicorn_worker_rss(self.port)))
                return

    def at(self, seconds: float) -> tuple[float, dict[int, int]]:
        """The first sample taken at or after `seconds` (the last one if none)."""
        return next((s for s in self.samples if s[0] >= seconds), self.samples[-1])


def check_memory(sampler: MemorySampler, duration: float, ledger: Ledger) -> dict[str, Any]:
    """Print each worker's RSS at ready, after the warm-up and at the end; fail a worker that
    grew beyond the stated bound after its warm-up."""
    if not sampler.samples or not sampler.samples[0][1]:
        say("memory: no gunicorn worker found in /proc (not Linux?): not measured")
        return {}
    warm_at = min(60.0, duration / 4)
    first, warm, last = sampler.samples[0], sampler.at(warm_at), sampler.samples[-1]
    say(f"\nMemory per gunicorn worker (VmRSS, MiB) at t={first[0]:.0f} s (ready), t={warm[0]:.0f} s "
        f"(after warm-up), t={last[0]:.0f} s (end):")  # fmt: skip
    figures: dict[str, Any] = {}
    for pid in sorted(set(first[1]) | set(last[1])):
        row = [sample[1].get(pid) for sample in (first, warm, last)]
        text = " → ".join("gone" if kib is None else f"{kib / 1024:.1f}" for kib in row)
        growth = row[2] - row[1] if row[1] is not None and row[2] is not None else None
        peak = max((s[1].get(pid, 0) for s in sampler.samples), default=0)
        say(f"  worker {pid}: {text}  (peak {peak / 1024:.1f}"
            + (f", growth after warm-up {growth / 1024:+.1f} MiB)" if growth is not None else ")"))  # fmt: skip
        figures[str(pid)] = {"ready_kib": row[0], "warm_kib": row[1], "end_kib": row[2], "peak_kib": peak}
        if row[1] is not None and row[2] is None:
            ledger.violation(f"memory: worker {pid} was replaced during the run")
        if growth is not None and growth > max(RSS_GROWTH_MAX_KIB, row[1] * RSS_GROWTH_MAX_SHARE):
            ledger.violation(
                f"memory: worker {pid} grew {growth / 1024:.1f} MiB after the warm-up "
                f"(bound: {RSS_GROWTH_MAX_KIB // 1024} MiB or {RSS_GROWTH_MAX_SHARE:.0%}, whichever is larger)"
            )
    say(f"  bound: at most {RSS_GROWTH_MAX_KIB // 1024} MiB or {RSS_GROWTH_MAX_SHARE:.0%} (the larger) "
        "after the warm-up")  # fmt: skip
    return figures


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(ledger: Ledger, elapsed: float) -> dict[str, Any]:
    say(f"\n{ledger.total:,} requests in {elapsed:.1f} s: {ledger.total / elapsed:,.0f} req/s")
    say(f"{'operation':<10}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  statuses")
    summary: dict[str, Any] = {"requests": ledger.total, "seconds": elapsed, "ops": {}}
    for op in OP_WEIGHTS:
        lat = ledger.latencies.get(op, [])
        codes = {code: n for (name, code), n in sorted(ledger.statuses.items()) if name == op}
        count = sum(codes.values())
        p50, p95, p99 = (percentile(lat, p) * 1000 for p in (50, 95, 99))
        codes_text = " ".join(f"{code or 'none'}×{n}" for code, n in codes.items())
        say(f"{op:<10}{count:>10,}{count / elapsed:>9,.0f}{p50:>9.1f}{p95:>9.1f}{p99:>9.1f}  {codes_text}")
        summary["ops"][op] = {"requests": count, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "statuses": codes}
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--minutes", type=float, help="minutes of load (a soak; overrides --duration)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers (default 3)")
    parser.add_argument("--tasks", type=int, default=300, help="tasks seeded before the load (default 300)")
    parser.add_argument("--short", action="store_true", help="the CI version: 15 s, 16 clients")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the clients")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.short:  # the CI version; options given on the command line still win
        for name, value in {"duration": 15.0, "clients": 16}.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    if args.minutes:
        args.duration = args.minutes * 60

    say(f"Machine: {machine_summary()}")
    try:
        reset_database(DB_NAME)
        redis_url = REDIS_URL if redis_answers(REDIS_URL) else ""
        env = production_env(db_name=DB_NAME, redis_url=redis_url)
        env["SECRET_KEY"] = secrets.token_urlsafe(50)
        say(f"Database {DB_NAME}: migrating (cache: {'Redis' if redis_url else 'database table'})")
        manage(env, "migrate", "--noinput")
        key = create_api_key(env, "load")
        django_setup(env)
        ledger = Ledger()
        seed(args.tasks, ledger)
        port = free_port()
        say(
            f"gunicorn: {args.workers} sync workers on 127.0.0.1:{port}; "
            f"{args.clients} clients for {args.duration:.0f} s"
        )
        with gunicorn(
            "tracker_project.wsgi:application",
            env=env,
            workers=args.workers,
            port=port,
            ready_path="/api/v1/tasks?limit=1",
            headers={"X-API-Key": key},
        ) as base:
            sampler = MemorySampler(port)
            sampler.thread.start()
            started = time.monotonic()
            deadline = started + args.duration
            clients = [Client(n, base, key, ledger, deadline, args.seed) for n in range(args.clients)]
            threads = [threading.Thread(target=c.run, name=f"client-{c.number}") for c in clients]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            t_end = time.monotonic()
            sampler.stop.set()
            sampler.thread.join()
            elapsed = t_end - started
            summary = report(ledger, elapsed)
            summary["memory"] = check_memory(sampler, args.duration, ledger)
            say("\nChecking the database…")
            check_database(ledger, t_end)
            check_ordering(base, key, ledger)
    except BenchError as exc:
        say(f"bench could not run: {exc}")
        return 2

    acked_writes = sum(1 for ws in ledger.writes.values() for w in ws if w.acked and w.start > 0)
    say(
        f"acknowledged: {len(ledger.created):,} creates, {acked_writes:,} field writes, "
        f"{len(ledger.deleted):,} deletes; {len(ledger.seeded):,} seeded tasks"
    )
    if args.json:
        summary["violations"] = ledger.violations
        Path(args.json).write_text(json.dumps(summary, indent=2, default=str))
    if ledger.violations:
        say(f"\nFAIL: {len(ledger.violations)} violation(s):")
        for line in ledger.violations[:50]:
            say(f"  - {line}")
        return 1
    say("PASS: no 5xx, every acknowledged write present, no lost update, positions unique and ordered")
    return 0


if __name__ == "__main__":
    sys.exit(main())

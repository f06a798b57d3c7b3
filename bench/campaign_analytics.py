"""Campaign analytics endpoints against a hand-written SQL ceiling, on ~580,000 daily rows.

    python bench/campaign_analytics.py [--campaigns 200] [--days 730] [--range 90] [--repeat 30] [--reuse-db]

The bench database `tracker_bench_campaigns` is dropped, created and migrated with production
settings, then loaded with COPY: --campaigns campaigns per channel × 4 channels × --days days of
daily rows ending today (200 × 4 × 730 = 584,000), deterministic, then VACUUM ANALYZE.

For a --range-day window ending today it times, --repeat times each after 3 warm-up calls:

    summary          GET /api/v1/campaigns/summary?date_from=…&date_to=…   (in-process test client,
                     X-API-Key auth, the whole middleware and ninja stack, JSON out)
    summary ceiling  the same per-channel sums and rates as one SQL statement, run by psycopg
    list             GET /api/v1/campaigns?date_from=…&date_to=…  (first 50 by spend, and the count)
    list ceiling     the same per-campaign sums, rates, sort, page and count as one SQL statement

and prints the median and p90 of each, the endpoint/ceiling ratio of the medians and the SQL
queries each request ran (auth included). Target: each endpoint ≤ 1.5 × its ceiling. It also
checks that the endpoint's numbers equal the ceiling's. Exit status: 0 targets met, 1 a target
missed, 2 the bench could not run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    PG_SERVER,
    BenchError,
    create_api_key,
    django_setup,
    machine_summary,
    manage,
    production_env,
    reset_database,
    say,
)

DB_NAME = "tracker_bench_campaigns"
REDIS_URL = "redis://127.0.0.1:6379/5"
TARGET = 1.5
CHANNELS = ("facebook", "instagram", "google_ads", "tiktok")

SUMMARY_SQL = """
SELECT c.channel,
       COALESCE(SUM(d.impressions), 0), COALESCE(SUM(d.clicks), 0), COALESCE(SUM(d.conversions), 0),
       COALESCE(SUM(d.engagement), 0), COALESCE(SUM(d.cost), 0), COALESCE(SUM(d.revenue), 0),
       SUM(d.clicks)::numeric / NULLIF(SUM(d.impressions), 0),
       SUM(d.conversions)::numeric / NULLIF(SUM(d.clicks), 0),
       SUM(d.cost)::numeric / NULLIF(SUM(d.clicks), 0),
       (SUM(d.revenue) - SUM(d.cost))::numeric / NULLIF(SUM(d.cost), 0)
FROM campaigns_campaignday d JOIN campaigns_campaign c ON c.id = d.campaign_id
WHERE d.date >= %s AND d.date <= %s
GROUP BY c.channel ORDER BY c.channel
"""

LIST_SQL = """
SELECT c.id, c.channel, c.external_id, c.name, c.status, c.currency, c.sponsor_id, s.name,
       COALESCE(SUM(d.impressions), 0), COALESCE(SUM(d.clicks), 0), COALESCE(SUM(d.conversions), 0),
       COALESCE(SUM(d.engagement), 0), COALESCE(SUM(d.cost), 0) AS cost, COALESCE(SUM(d.revenue), 0),
       SUM(d.clicks)::numeric / NULLIF(SUM(d.impressions), 0),
       SUM(d.conversions)::numeric / NULLIF(SUM(d.clicks), 0),
       SUM(d.cost)::numeric / NULLIF(SUM(d.clicks), 0),
       (SUM(d.revenue) - SUM(d.cost))::numeric / NULLIF(SUM(d.cost), 0),
       COUNT(*) OVER () AS total
FROM campaigns_campaign c
LEFT JOIN campaigns_campaignday d ON d.campaign_id = c.id AND d.date >= %s AND d.date <= %s
LEFT JOIN sponsors_sponsor s ON s.id = c.sponsor_id
GROUP BY c.id, s.id
ORDER BY cost DESC, c.id
LIMIT 50
"""


def load(env: dict[str, str], *, campaigns: int, days: int, today: dt.date) -> int:
    """COPY the campaigns and their daily rows; returns the number of daily rows."""
    import psycopg

    rng = random.Random(5)
    start = today - dt.timedelta(days=days - 1)
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(f"{PG_SERVER}/{DB_NAME}") as conn:
        with conn.cursor() as cur:
            with cur.copy(
                "COPY campaigns_campaign (channel, external_id, name, status, currency, created_at, updated_at) "
                "FROM STDIN"
            ) as copy:
                for channel in CHANNELS:
                    for n in range(campaigns):
                        copy.write_row(
                            (channel, f"{channel}-{n}", f"{channel} campaign {n:03d}", "active", "USD", now, now)
                        )
            cur.execute("SELECT id FROM campaigns_campaign ORDER BY id")
            ids = [row[0] for row in cur.fetchall()]
            total = 0
            with cur.copy(
                "COPY campaigns_campaignday (campaign_id, date, impressions, clicks, conversions, engagement, cost, "
                "revenue, synced_at) FROM STDIN"
            ) as copy:
                for campaign_id in ids:
                    scale = rng.uniform(500, 20_000)
                    ctr, cpc = rng.uniform(0.005, 0.03), rng.uniform(0.2, 3.0)
                    cvr, value = rng.uniform(0.01, 0.08), rng.uniform(10, 150)
                    for n in range(days):
                        impressions = int(scale * rng.uniform(0.7, 1.3))
                        clicks = int(impressions * ctr)
                        conversions = int(clicks * cvr * rng.uniform(0.5, 1.5))
                        cost = (Decimal(clicks) * Decimal(f"{cpc:.4f}")).quantize(Decimal("0.01"))
                        revenue = (Decimal(conversions) * Decimal(f"{value:.2f}")).quantize(Decimal("0.01"))
                        copy.write_row(
                            (campaign_id, start + dt.timedelta(days=n), impressions, clicks, conversions, clicks // 3,
                             cost, revenue, now)
                        )  # fmt: skip
                        total += 1
        conn.commit()
    with psycopg.connect(f"{PG_SERVER}/{DB_NAME}", autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE campaigns_campaign")
        conn.execute("VACUUM ANALYZE campaigns_campaignday")
    return total


def timed(call: Any, repeat: int) -> list[float]:
    for _ in range(3):
        call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def q(value: Any, places: str) -> str | None:
    return None if value is None else str(Decimal(value).quantize(Decimal(places), ROUND_HALF_UP))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--campaigns", type=int, default=200, help="campaigns per channel (default 200)")
    parser.add_argument("--days", type=int, default=730, help="days of history (default 730)")
    parser.add_argument("--range", type=int, default=90, help="days in the measured range (default 90)")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--reuse-db", action="store_true", help="keep a loaded tracker_bench_campaigns")
    args = parser.parse_args()
    env = production_env(db_name=DB_NAME, redis_url=REDIS_URL)
    today = dt.date.today()
    say(f"machine: {machine_summary()}")
    if not args.reuse_db:
        reset_database(DB_NAME)
        manage(env, "migrate", "--no-input")
        started = time.perf_counter()
        rows = load(env, campaigns=args.campaigns, days=args.days, today=today)
        say(f"loaded {args.campaigns * 4:,} campaigns, {rows:,} daily rows in {time.perf_counter() - started:.1f} s")
    key = create_api_key(env, f"bench{random.randint(0, 10**9)}")
    django_setup(env)

    import psycopg
    from django.conf import settings
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    urlconf = settings.ROOT_URLCONF
    date_from, date_to = today - dt.timedelta(days=args.range - 1), today
    params = {"date_from": date_from.isoformat(), "date_to": date_to.isoformat()}
    client = Client(HTTP_X_API_KEY=key, HTTP_HOST="127.0.0.1")

    def get(path: str) -> Any:
        response = client.get(path, params)
        if response.status_code != 200:
            raise BenchError(f"GET {path} answered {response.status_code}: {response.content[:200]!r}")
        return response.json()

    pg = psycopg.connect(f"{PG_SERVER}/{DB_NAME}", autocommit=True, prepare_threshold=None)  # as Django: no prepare

    def ceiling(sql: str) -> list[tuple[Any, ...]]:
        return pg.execute(sql, (date_from, date_to)).fetchall()

    # The endpoints answer what the ceilings answer.
    summary, rows = get("/api/v1/campaigns/summary"), ceiling(SUMMARY_SQL)
    by_channel = {row[0]: row for row in rows}
    for entry in summary["channels"]:
        row = by_channel[entry["channel"]]
        assert entry["totals"]["cost"] == q(row[5], "0.01") and entry["totals"]["roi"] == float(q(row[10], "0.000001"))
    listing, rows = get("/api/v1/campaigns"), ceiling(LIST_SQL)
    assert [i["id"] for i in listing["items"]] == [r[0] for r in rows] and listing["count"] == rows[0][-1]
    assert [i["totals"]["cost"] for i in listing["items"]] == [q(r[12], "0.01") for r in rows]

    results = []
    for name, path, sql in (
        ("summary", "/api/v1/campaigns/summary", SUMMARY_SQL),
        ("list", "/api/v1/campaigns", LIST_SQL),
    ):
        reset_queries()
        with CaptureQueriesContext(connection) as ctx:
            get(path)
        captured = list(ctx.captured_queries)
        own = [x["sql"] for x in captured if "campaigns_" in x["sql"]]
        api_ms = timed(lambda path=path: get(path), args.repeat)
        sql_ms = timed(lambda sql=sql: ceiling(sql), args.repeat)
        ratio = statistics.median(api_ms) / statistics.median(sql_ms)
        results.append((name, api_ms, sql_ms, ratio, len(captured), len(own)))
    pg.close()

    say(f"range: {date_from} … {date_to} ({args.range} days); urls: {urlconf}; repeat {args.repeat}")
    columns = ("API p50", "API p90", "SQL p50", "SQL p90")
    say(f"{'endpoint':<10}{''.join(f'{c:>10}' for c in columns)}{'ratio':>8}{'queries':>10}  result")
    failed = []
    for name, api_ms, sql_ms, ratio, queries, own in results:
        ok = ratio <= TARGET
        failed += [] if ok else [name]
        say(
            f"{name:<10}{statistics.median(api_ms):>8.1f}ms{p90(api_ms):>8.1f}ms{statistics.median(sql_ms):>8.1f}ms"
            f"{p90(sql_ms):>8.1f}ms{ratio:>8.2f}{queries:>5} ({own} data)  {'PASS' if ok else 'FAIL'} (≤ {TARGET})"
        )
    if failed:
        say(f"targets missed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        say(f"bench could not run: {exc}")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)

"""The ceiling: the smallest WSGI application, served by the same gunicorn command as Tracker.

`gunicorn bench.hello_wsgi:application` answers every request with a fixed 13-byte body, so its
requests/s is what the server, the load generator and the machine allow with no application
work at all. bench/api_throughput.py divides each API figure by this one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

BODY = b"Hello, world!"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", HEADERS)
    return [BODY]

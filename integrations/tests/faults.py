"""The upstream faults every refresh must survive without losing stored data, served by a local
fake (pytest-httpserver on 127.0.0.1): 404, 500, an answer that never comes within the client's
timeout, malformed JSON, and JSON that is valid but not the object the platform documents
(a list, a string, null). Use `serve_fault(server, path, fault, hang=hang)` with the `hang`
fixture, which releases a held answer at the end of the test (no sleeping on either side)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer, RequestHandler
from werkzeug import Request, Response

FAULTS = ("404", "500", "hang", "malformed", "list", "string", "null")
BODIES = {"malformed": "{not json", "list": "[1,2]", "string": '"x"', "null": "null"}
# How long a held answer waits at most if a test forgets to release it.
HOLD_LIMIT = 10.0


class Hang:
    """Answers held until the test ends; the client's timeout fires long before."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.finished: list[threading.Event] = []

    def handler(self, request: Request) -> Response:
        done = threading.Event()
        self.finished.append(done)
        try:
            self.release.wait(HOLD_LIMIT)
            return Response("{}", content_type="application/json")
        finally:
            done.set()

    def close(self) -> None:
        self.release.set()
        for done in self.finished:
            done.wait(HOLD_LIMIT)


@pytest.fixture
def hang() -> Iterator[Hang]:
    held = Hang()
    yield held
    held.close()


def serve_fault(
    server: HTTPServer, path: str | re.Pattern[str], fault: str, *, hang: Hang, method: str = "", times: int = 0
) -> None:
    """Make `path` answer with `fault` (one of FAULTS): every time, or only the next `times`
    requests (one-shot answers come before any permanent handler already registered)."""
    for _ in range(times or 1):
        kwargs = {"method": method} if method else {}
        expectation = server.expect_oneshot_request(path, **kwargs) if times else server.expect_request(path, **kwargs)
        _answer(expectation, fault, hang)


def _answer(expectation: RequestHandler, fault: str, hang: Hang) -> None:
    if fault == "404":
        expectation.respond_with_json({"error": {"code": 404, "message": "Not Found"}}, status=404)
    elif fault == "500":
        expectation.respond_with_json({"error": {"code": 500, "message": "Internal error"}}, status=500)
    elif fault == "hang":
        expectation.respond_with_handler(hang.handler)
    else:
        expectation.respond_with_data(BODIES[fault], content_type="application/json")

"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The fake Salesforce (pytest-httpserver on 127.0.0.1) the sync centre test pulls from.
from integrations.tests.fakes import live_salesforce, platform, platform_server  # noqa: F401

# The fake OAuth servers (consent page, token, identity, revoke) the Connections test signs in with.
from integrations.tests.oauth_consent_fake import oauth_server  # noqa: F401

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module.

    Playwright's sync API keeps an asyncio loop running in this thread while it is started, so
    Django refuses ORM calls from the test itself (fixtures, assertions) unless
    DJANGO_ALLOW_ASYNC_UNSAFE is set: it is set only while the browser runs, and Playwright is
    stopped at the end of the module, so the rest of the suite runs as usual.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}; scripts/test.sh installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    # Reduced motion: SortableJS (board.js honours it), Bootstrap and Chart.js skip their
    # animations, so no step of a test depends on how fast an animation runs on a busy machine.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, reduced_motion="reduce")
    page = context.new_page()
    page.set_default_timeout(15_000)
    # A JavaScript error or a failed request for a page asset fails the test too.
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"JavaScript error: {error}"))
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} for {r.url}") if r.status >= 400 and "/static/" in r.url else None,
    )
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    if problems and not (failed is not None and failed.failed):
        pytest.fail("The page reported problems:\n" + "\n".join(problems))


@pytest.fixture
def demo_login(live_server: Any, page: Any, django_user_model: Any, settings: Any) -> Any:
    """A signed-in browser page for a fresh staff user; returns the page."""
    # A fast hasher: the login still goes through the real form, without 2 × PBKDF2 per test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    django_user_model.objects.create_user(username="eve", password="e2e-pass-123!", is_staff=True)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", "eve")
    page.fill("input[name=password]", "e2e-pass-123!")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page

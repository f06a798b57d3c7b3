"""Connecting Salesforce and Google in a real browser, through the local fake OAuth servers
(integrations/tests/oauth_consent_fake.py): the Connect button, the platform's consent page
(a page of the fake with an Allow button), the redirect back, and the Connections page."""

from __future__ import annotations

import re
from typing import Any

import pytest

from accounts.models import AuditEvent
from integrations.models import Connection
from integrations.tests.oauth_consent_fake import install_fake

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _connect(page: Any, live_server: Any, label: str) -> None:
    page.get_by_role("button", name=f"Connect {label}").click()
    page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:\d+/"))  # the platform's consent page
    assert f"Fake {label}" in page.title()
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{live_server.url}/connections/")
    page.get_by_role("alert").filter(has_text=f"Connected {label}").wait_for()


def test_connect_salesforce_and_google_from_the_connections_page(
    demo_login: Any, live_server: Any, oauth_server: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = install_fake(oauth_server, settings, monkeypatch, live_server.url)
    page = demo_login
    page.get_by_role("link", name="Connections").click()
    page.wait_for_url(f"{live_server.url}/connections/")
    assert page.get_by_text("No connections yet").is_visible()

    _connect(page, live_server, "Salesforce")
    _connect(page, live_server, "Google")

    rows = page.locator("#connections-table tbody tr")
    assert rows.count() == 2
    salesforce = rows.filter(has_text="Salesforce:")
    google = rows.filter(has_text="Google:")
    assert salesforce.get_by_text("Connected", exact=True).is_visible()
    assert "acme.my.salesforce.com" in salesforce.inner_text()
    assert google.get_by_text("Connected", exact=True).is_visible()
    assert "sam@acme.example" in google.inner_text()
    assert google.get_by_role("button", name=re.compile("^Reconnect")).is_visible()

    by = {c.platform: c for c in Connection.objects.all()}
    assert set(by) == {"salesforce", "google"}
    assert by["salesforce"].access_token in fake.live_tokens("salesforce")
    assert by["google"].refresh_token in fake.live_tokens("google")
    assert AuditEvent.objects.filter(action="connection.create").count() == 2
    page_html = page.content()
    for token in fake.tokens:
        assert token not in page_html

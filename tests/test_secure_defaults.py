"""Secure by default (issue 17, part 3).

A process started with only the five production variables (DEBUG=false, SECRET_KEY,
ALLOWED_HOSTS, CSRF_TRUSTED_ORIGINS, DATABASE_URL) redirects plain HTTP to https, trusts the
proxy's X-Forwarded-Proto, sends HSTS for a year and marks its cookies Secure; health checks are
answered over plain HTTP; the laptop variables (scripts/run.sh) switch that off. Those run in a
subprocess with exactly that environment, the way a deployment starts. (`check --deploy` with the
same five variables is in tests/test_security.py.)

Every response carries the Content-Security-Policy (no inline script or style, no eval),
Referrer-Policy, X-Content-Type-Options and X-Frame-Options; no template needs more than that
policy allows. (That the pages really run under it is shown by the browser tests in
tests/e2e/test_csp.py.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

REPO = Path(__file__).resolve().parents[1]
HOST = "tracker.example.com"

# What the child reports: its effective settings, and a few requests through Django's WSGI
# handler (the test client) as the proxy would pass them on.
CHILD = r"""
import json
import django

django.setup()
from django.conf import settings
from django.test import Client

NAMES = [
    "DEBUG", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "SECURE_PROXY_SSL_HEADER", "SECURE_REDIRECT_EXEMPT",
]
client = Client(raise_request_exception=False, HTTP_HOST="tracker.example.com")
HTTPS = {"HTTP_X_FORWARDED_PROTO": "https"}


def grab(response):
    return {
        "status": response.status_code,
        "headers": dict(response.headers),
        "cookies": {
            name: {"secure": bool(m["secure"]), "httponly": bool(m["httponly"])}
            for name, m in response.cookies.items()
        },
    }


print(json.dumps({
    "settings": {name: getattr(settings, name) for name in NAMES},
    "login_http": grab(client.get("/accounts/login/?next=/tasks/")),
    "login_https": grab(client.get("/accounts/login/?next=/tasks/", **HTTPS)),
    "api_404_http": grab(client.get("/api/v1/no-such-thing")),
    "api_404_https": grab(client.get("/api/v1/no-such-thing", **HTTPS)),
    "health_http": grab(client.get("/health")),
    "api_health_http": grab(client.get("/api/v1/health")),
    "api_health_slash_http": grab(client.get("/api/v1/health/")),
}))
"""

# Only the five variables the README's "Production" section asks for.
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "prod-" + "x7Qk9" * 12,
    "ALLOWED_HOSTS": HOST,
    "CSRF_TRUSTED_ORIGINS": f"https://{HOST}",
    # No database is needed by these requests (health reports it as down, which is fine here).
    "DATABASE_URL": "sqlite:////nonexistent-dir/tracker.sqlite3",
}
# What scripts/run.sh adds for plain HTTP on a laptop.
LAPTOP = {
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
    "SECURE_HSTS_SECONDS": "0",
    "BEHIND_TLS_PROXY": "false",
}
CONFIGS: dict[str, dict[str, str]] = {
    "production": PRODUCTION,
    "laptop": {**PRODUCTION, **LAPTOP},
    "no-redirect": {**PRODUCTION, "SECURE_SSL_REDIRECT": "false"},
    "no-hsts": {**PRODUCTION, "SECURE_HSTS_SECONDS": "0"},
}


def _child(env_vars: dict[str, str]) -> dict[str, Any]:
    # Nothing inherited that could change a setting: only what a process needs to start.
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "SYSTEMROOT") if k in os.environ}
    env.update(env_vars)
    env["DJANGO_SETTINGS_MODULE"] = "tracker_project.settings"
    # The login page renders static URLs; collectstatic is not what is tested here.
    env["STATICFILES_BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
    result = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs() -> dict[str, dict[str, Any]]:
    with ThreadPoolExecutor(max_workers=len(CONFIGS)) as pool:
        return dict(zip(CONFIGS, pool.map(_child, CONFIGS.values()), strict=True))


# --- The production defaults, from the environment alone ------------------------------------


def test_only_the_five_variables_turn_every_https_protection_on(runs: dict[str, Any]) -> None:
    assert runs["production"]["settings"] == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": False,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SECURE_REDIRECT_EXEMPT": ["^health/?$", "^api/v1/health/?$"],
    }


def test_plain_http_is_redirected_to_the_same_https_url(runs: dict[str, Any]) -> None:
    for name in ("login_http", "api_404_http"):
        response = runs["production"][name]
        assert response["status"] == 301, name
    assert runs["production"]["login_http"]["headers"]["Location"] == f"https://{HOST}/accounts/login/?next=/tasks/"
    assert runs["production"]["api_404_http"]["headers"]["Location"] == f"https://{HOST}/api/v1/no-such-thing"


def test_https_from_the_proxy_is_served_with_hsts_and_secure_cookies(runs: dict[str, Any]) -> None:
    login = runs["production"]["login_https"]
    assert login["status"] == 200
    assert login["headers"]["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert login["cookies"]["csrftoken"]["secure"] is True
    api = runs["production"]["api_404_https"]
    assert api["status"] == 404 and api["headers"]["Content-Type"] == "application/json"
    assert api["headers"]["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_health_checks_answer_over_plain_http(runs: dict[str, Any]) -> None:
    for name in ("health_http", "api_health_http", "api_health_slash_http"):
        response = runs["production"][name]
        assert response["status"] in (200, 503), (name, response["status"])
        assert "Location" not in response["headers"]
        assert "Strict-Transport-Security" not in response["headers"]  # never over plain HTTP


def test_the_laptop_variables_switch_it_all_off(runs: dict[str, Any]) -> None:
    laptop = runs["laptop"]
    assert laptop["settings"]["SECURE_SSL_REDIRECT"] is False
    assert laptop["settings"]["SECURE_PROXY_SSL_HEADER"] is None
    login = laptop["login_http"]
    assert login["status"] == 200
    assert login["cookies"]["csrftoken"]["secure"] is False
    assert "Strict-Transport-Security" not in laptop["login_https"]["headers"]


def test_each_variable_switches_off_only_its_own_protection(runs: dict[str, Any]) -> None:
    no_redirect = runs["no-redirect"]
    assert no_redirect["login_http"]["status"] == 200
    assert no_redirect["login_http"]["cookies"]["csrftoken"]["secure"] is True
    assert "Strict-Transport-Security" in no_redirect["login_https"]["headers"]

    no_hsts = runs["no-hsts"]
    assert no_hsts["login_http"]["status"] == 301
    assert no_hsts["login_https"]["status"] == 200
    assert "Strict-Transport-Security" not in no_hsts["login_https"]["headers"]


def test_the_run_command_switches_them_off_and_says_so() -> None:
    script = (REPO / "scripts" / "run.sh").read_text()
    for name, value in LAPTOP.items():
        assert re.search(rf"export .*\b{name}=\$\{{{name}:-{value}\}}", script), name
    assert re.search(r'echo "run: plain HTTP.*SECURE_SSL_REDIRECT=\$SECURE_SSL_REDIRECT', script)


# --- Headers on every response --------------------------------------------------------------

EXPECTED_CSP = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'", "data:"},
    "font-src": {"'self'"},
    "connect-src": {"'self'"},
    "object-src": {"'none'"},
    "base-uri": {"'self'"},
    "form-action": {"'self'"},
    "frame-ancestors": {"'none'"},
}


def _csp(response: Any) -> dict[str, set[str]]:
    policy: dict[str, set[str]] = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        policy[name] = set(values)
    return policy


def _assert_hardening_headers(response: Any) -> None:
    assert _csp(response) == EXPECTED_CSP
    assert "unsafe" not in response["Content-Security-Policy"]
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_a_page_carries_the_csp_and_the_other_headers(client: Client, user: Any) -> None:
    assert client.get(reverse("account_login")).status_code == 200
    _assert_hardening_headers(client.get(reverse("account_login")))
    client.force_login(user)
    response = client.get(reverse("task_board"))
    assert response.status_code == 200
    _assert_hardening_headers(response)


@pytest.mark.django_db
def test_an_api_response_carries_them_too(api_key: str) -> None:
    response = Client().get("/api/v1/me", HTTP_X_API_KEY=api_key)
    assert response.status_code == 200 and response.json()["username"] == "alice"
    _assert_hardening_headers(response)
    missing = Client().get("/api/v1/no-such-thing")
    assert missing.status_code == 404 and missing.json()["error_code"] == "NOT_FOUND"
    _assert_hardening_headers(missing)


@pytest.mark.django_db
def test_signing_in_over_https_sets_secure_httponly_cookies(settings: Any, user: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    client = Client()
    assert client.get(reverse("account_login"))["Location"].startswith("https://")
    https = {"HTTP_X_FORWARDED_PROTO": "https"}
    page = client.get(reverse("account_login"), **https)
    assert page.status_code == 200
    assert page.cookies["csrftoken"]["secure"] is True
    response = client.post(reverse("account_login"), {"login": "alice", "password": "pw-alice-123!"}, **https)
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"] is True and session["httponly"] is True
    assert client.get(reverse("task_board"), **https).status_code == 200


# --- Nothing in the templates needs more than the policy allows -----------------------------

_TEMPLATE_DIRS = [REPO / "templates", *sorted(REPO.glob("*/templates"))]
# Markup the policy would block: an inline script, an event-handler attribute, a javascript: URL,
# a style attribute or element. (Data blocks, <script type="application/json">, are not scripts.)
_BLOCKED = [
    re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I),
    re.compile(r"\son[a-z]+\s*=", re.I),
    re.compile(r"javascript:", re.I),
    re.compile(r"\sstyle\s*=", re.I),
    re.compile(r"<style", re.I),
    re.compile(r"\shx-on", re.I),
]


def test_no_template_needs_inline_script_or_style() -> None:
    found = []
    for folder in _TEMPLATE_DIRS:
        for path in sorted(folder.rglob("*.html")):
            if "email" in path.relative_to(folder).parts:
                continue  # e-mail bodies: read by mail clients, never served under the policy
            if path == REPO / "templates" / "errors" / "layout.html":
                continue  # its one <style> is allowed by its hash (tracker_project/views.py, tested there)
            text = path.read_text()
            for pattern in _BLOCKED:
                for match in pattern.finditer(text):
                    line = text.count("\n", 0, match.start()) + 1
                    found.append(f"{path.relative_to(REPO)}:{line}: {match.group(0).strip()}")
    checked = sum(1 for folder in _TEMPLATE_DIRS for _ in folder.rglob("*.html"))
    assert checked > 50
    assert found == []

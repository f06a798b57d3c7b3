"""/api/v1/connections: staff list, add (verified with the platform first), test and delete
connections; secrets never come out; the environment connection is read-only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from accounts.actor import Actor
from accounts.models import AuditEvent
from accounts.services import api_key_create
from conftest import ApiClient
from integrations.models import Connection
from integrations.tests.oauth_fake import TokenServer

pytestmark = pytest.mark.django_db

ASANA_PAT = "2/1200000000000001/1209999999999999:5f0a2b7c9d1e3f4a5b6c7d8e9f0a1b2c"
META_TOKEN = "EAAGm0PX4ZCpsBAsystemusertokenZDZD"
TIKTOK_TOKEN = "tiktok-long-term-token-0123456789abcdef"


@pytest.fixture
def staff_api(staff_user: Any) -> ApiClient:
    _, raw = api_key_create(user=staff_user, name="staff", actor=Actor.system_job("tests"))
    return ApiClient(raw)


@pytest.fixture
def platforms(settings: Any, platform: Any) -> Any:
    base = platform.url_for("").rstrip("/")
    settings.ASANA_BASE_URL = f"{base}/api/1.0"
    settings.META_GRAPH_BASE_URL = f"{base}/v23.0"
    settings.TIKTOK_BASE_URL = base
    settings.GOOGLE_TOKEN_URL = f"{base}/google/token"
    settings.TIKTOK_APP_ID, settings.TIKTOK_APP_SECRET = "7000000000000000001", "tiktok-app-secret"
    for name in (
        "ASANA_ACCESS_TOKEN",
        "META_ACCESS_TOKEN",
        "TIKTOK_ACCESS_TOKEN",
        "SALESFORCE_ACCESS_TOKEN",
        "GOOGLE_ACCESS_TOKEN",
        "GOOGLE_ADS_ACCESS_TOKEN",
        "GOOGLE_SERVICE_ACCOUNT_FILE",
    ):
        setattr(settings, name, "")
    return platform


def asana_me(platform: Any, *, token: str = ASANA_PAT) -> None:
    """GET /users/me as Asana answers it (https://developers.asana.com/reference/getuser)."""
    platform.expect_request("/api/1.0/users/me", headers={"Authorization": f"Bearer {token}"}).respond_with_json(
        {
            "data": {
                "gid": "1209999999999999",
                "resource_type": "user",
                "name": "Greg Sanchez",
                "email": "gsanchez@example.com",
                "workspaces": [{"gid": "1200000000000100", "resource_type": "workspace", "name": "Partnerships"}],
            }
        }
    )


def service_account_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "tracker-test",
            "private_key_id": "0123456789abcdef0123456789abcdef01234567",
            "private_key": pem,
            "client_email": "sync@tracker-test.iam.gserviceaccount.com",
            "client_id": "109876543210987654321",
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    )


def test_staff_add_an_asana_token_after_asana_accepted_it(staff_api, platforms):
    asana_me(platforms)
    response = staff_api.post("/api/v1/connections", {"platform": "asana", "label": "Partnerships", "token": ASANA_PAT})

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["platform"] == "asana" and body["auth"] == "token" and body["status"] == "connected"
    assert body["account"] == "Greg Sanchez" and body["account_id"] == "1209999999999999"
    assert ASANA_PAT not in response.content.decode()
    conn = Connection.objects.get(pk=body["id"])
    assert conn.access_token == ASANA_PAT and conn.account_extra["workspaces"][0]["name"] == "Partnerships"
    assert conn.connected_by is not None and conn.last_verified_at is not None
    (event,) = AuditEvent.objects.filter(action="connection.create")
    assert ASANA_PAT not in json.dumps(event.changes)

    listed = staff_api.get("/api/v1/connections").json()
    assert [c["id"] for c in listed] == [body["id"]]
    assert staff_api.get(f"/api/v1/connections/{body['id']}").json()["label"] == "Partnerships"


def test_a_token_the_platform_refuses_is_a_422_with_its_reason_and_nothing_is_saved(staff_api, platforms):
    platforms.expect_request("/api/1.0/users/me").respond_with_json(
        {"errors": [{"message": "Not Authorized", "help": "For more information on API status codes..."}]},
        status=401,
    )
    response = staff_api.post("/api/v1/connections", {"platform": "asana", "label": "Bad", "token": ASANA_PAT})

    assert response.status_code == 422
    assert response.json()["error_code"] == "PLATFORM_REFUSED"
    assert "Asana HTTP 401" in response.json()["detail"] and "Not Authorized" in response.json()["detail"]
    assert not Connection.objects.exists()


def test_meta_system_user_token_is_checked_with_me(staff_api, platforms):
    platforms.expect_request(
        "/v23.0/me", query_string={"fields": "id,name", "access_token": META_TOKEN}
    ).respond_with_json({"id": "122100000000000001", "name": "Tracker system user"})
    response = staff_api.post("/api/v1/connections", {"platform": "meta", "label": "Business", "token": META_TOKEN})

    assert response.status_code == 201, response.content
    assert response.json()["account"] == "Tracker system user"


def test_tiktok_long_term_token_is_checked_with_advertiser_get(staff_api, platforms):
    platforms.expect_request(
        "/open_api/v1.3/oauth2/advertiser/get/",
        headers={"Access-Token": TIKTOK_TOKEN},
        query_string={"app_id": "7000000000000000001", "secret": "tiktok-app-secret"},
    ).respond_with_json(
        {
            "code": 0,
            "message": "OK",
            "request_id": "202412040000000000000000",
            "data": {"list": [{"advertiser_id": "7100000000000000001", "advertiser_name": "Acme Ads"}]},
        }
    )
    response = staff_api.post("/api/v1/connections", {"platform": "tiktok", "label": "Acme", "token": TIKTOK_TOKEN})

    assert response.status_code == 201, response.content
    conn = Connection.objects.get(pk=response.json()["id"])
    assert conn.account_extra["advertiser_ids"] == ["7100000000000000001"] and conn.account == "Acme Ads"


def test_a_google_service_account_is_checked_with_google_auth_at_the_token_url(staff_api, platforms):
    fake = TokenServer(platform="google")
    platforms.expect_request("/google/token", method="POST").respond_with_handler(fake.handle)
    key = service_account_key()

    response = staff_api.post(
        "/api/v1/connections", {"platform": "google", "label": "Calendar robot", "service_account_json": key}
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["auth"] == "service_account" and body["account"] == "sync@tracker-test.iam.gserviceaccount.com"
    (call,) = fake.calls
    assert call["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer" and call["assertion"].count(".") == 2
    text = response.content.decode()
    assert "PRIVATE KEY" not in text and json.loads(key)["private_key_id"] not in text


def test_a_refused_service_account_says_why_without_the_key(staff_api, platforms):
    platforms.expect_request("/google/token", method="POST").respond_with_json(
        {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, status=400
    )
    key = service_account_key()
    response = staff_api.post("/api/v1/connections", {"platform": "google", "label": "x", "service_account_json": key})

    assert response.status_code == 422
    assert "Invalid JWT Signature" in response.json()["detail"]
    assert "PRIVATE KEY" not in response.content.decode() and not Connection.objects.exists()


@pytest.mark.parametrize(
    ("payload", "status", "text"),
    [
        ({"platform": "salesforce", "label": "x", "token": "00D!abc"}, 422, "OAuth consent"),
        ({"platform": "asana", "label": "x"}, 422, "exactly one"),
        ({"platform": "asana", "label": "x", "service_account_json": "{}"}, 422, "Google only"),
        ({"platform": "google", "label": "x", "service_account_json": "not json"}, 422, "not JSON"),
        ({"platform": "myspace", "label": "x", "token": "t"}, 422, ""),
        ({"platform": "asana", "label": "", "token": "t"}, 422, ""),
        ({"platform": "asana", "label": "x", "token": "t", "password": "p"}, 422, ""),
    ],
)
def test_bad_input_is_a_clear_422(staff_api, platforms, payload, status, text):
    response = staff_api.post("/api/v1/connections", payload)
    assert response.status_code == status
    assert set(response.json()) == {"detail", "error_code"}
    assert text in json.dumps(response.json()["detail"])


def test_non_staff_get_403_and_anonymous_401(api, anon_api):
    body = {"platform": "asana", "label": "x", "token": ASANA_PAT}
    for method, path, data in (
        ("get", "/api/v1/connections", None),
        ("post", "/api/v1/connections", body),
        ("post", "/api/v1/connections/1/test", None),
        ("delete", "/api/v1/connections/1", None),
    ):
        response = getattr(api, method)(path, data) if data else getattr(api, method)(path)
        assert response.status_code == 403 and response.json()["error_code"] == "FORBIDDEN"
    assert anon_api.get("/api/v1/connections").status_code == 401
    assert not Connection.objects.exists()


def test_environment_credentials_show_as_a_read_only_connection(staff_api, platforms, settings):
    settings.ASANA_ACCESS_TOKEN = ASANA_PAT
    listed = staff_api.get("/api/v1/connections").json()

    assert [(c["id"], c["platform"], c["label"], c["read_only"]) for c in listed] == [
        ("environment-asana", "asana", "environment", True)
    ]
    response = staff_api.delete("/api/v1/connections/environment-asana")
    assert response.status_code == 409
    assert response.json()["error_code"] == "READ_ONLY_CONNECTION" and "ASANA_ACCESS_TOKEN" in response.json()["detail"]
    assert ASANA_PAT not in staff_api.get("/api/v1/connections/environment-asana").content.decode()
    assert staff_api.get("/api/v1/connections/environment-meta").status_code == 404


def test_test_checks_the_connection_and_delete_removes_it(staff_api, platforms):
    asana_me(platforms)
    created = staff_api.post("/api/v1/connections", {"platform": "asana", "label": "A", "token": ASANA_PAT}).json()

    tested = staff_api.post(f"/api/v1/connections/{created['id']}/test")
    assert tested.status_code == 200 and tested.json()["ok"] is True
    assert tested.json()["connection"]["status"] == "connected"

    platforms.clear()
    platforms.expect_request("/api/1.0/users/me").respond_with_json(
        {"errors": [{"message": "Not Authorized"}]}, status=401
    )
    failed = staff_api.post(f"/api/v1/connections/{created['id']}/test").json()
    assert failed["ok"] is False and "Not Authorized" in failed["detail"]
    assert failed["connection"]["status"] == "needs_reconnect"

    assert staff_api.delete(f"/api/v1/connections/{created['id']}").status_code == 204
    assert not Connection.objects.exists()
    assert AuditEvent.objects.filter(action="connection.delete", object_id=str(created["id"])).count() == 1
    assert staff_api.get(f"/api/v1/connections/{created['id']}").status_code == 404
    assert staff_api.get("/api/v1/connections/not-a-number").json()["error_code"] == "NOT_FOUND"


def test_testing_a_connection_whose_secret_no_key_decrypts_says_so(staff_api, platforms, settings):
    from cryptography.fernet import Fernet

    asana_me(platforms)
    created = staff_api.post("/api/v1/connections", {"platform": "asana", "label": "A", "token": ASANA_PAT}).json()
    settings.CREDENTIALS_KEYS = [Fernet.generate_key().decode()]  # the old key dropped too early

    response = staff_api.post(f"/api/v1/connections/{created['id']}/test")

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False and "does not decrypt with any key in CREDENTIALS_KEYS" in body["detail"]
    assert body["connection"]["status"] == "error" and "CREDENTIALS_KEYS" in body["connection"]["last_error"]
    assert ASANA_PAT not in response.content.decode()


def test_a_missing_credentials_key_in_production_is_a_503_and_nothing_is_saved(staff_api, platforms, settings):
    asana_me(platforms)
    created = staff_api.post("/api/v1/connections", {"platform": "asana", "label": "A", "token": ASANA_PAT}).json()
    settings.CREDENTIALS_KEYS, settings.DEBUG = [], False

    added = staff_api.post("/api/v1/connections", {"platform": "asana", "label": "B", "token": ASANA_PAT})
    tested = staff_api.post(f"/api/v1/connections/{created['id']}/test")

    for response in (added, tested):
        assert response.status_code == 503, response.content
        assert response.json()["error_code"] == "CREDENTIALS_KEY_MISSING"
        assert "CREDENTIALS_KEYS is not set" in response.json()["detail"]
    assert list(Connection.objects.values_list("label", "status")) == [("A", "connected")]

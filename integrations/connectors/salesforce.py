"""Salesforce: the Tasks of a sponsor's Account, through the REST API's SOQL query endpoint.

GET {instance}/services/data/vNN.0/queryAll?q=SELECT … FROM Task WHERE (AccountId = '…' OR WhatId = '…')
AND IsDeleted = false, with a Bearer token; pages follow `nextRecordsUrl` until `done`. queryAll
(not query) because query leaves out archived Tasks (closed activities older than a year are
archived), which would then look removed; IsDeleted = false keeps the recycle bin out
(https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_queryall.htm).
`Owner.Email` is the task owner's address through the polymorphic Owner relationship (the Name
object's Email field: a user's e-mail, or a queue's), returned as a nested
`"Owner": {"attributes": …, "Email": …}` or null
(https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_name.htm).
Rate limits: 403 with errorCode REQUEST_LIMIT_EXCEEDED (and 429 from some proxies); usage in
`Sforce-Limit-Info`. Settings: SALESFORCE_INSTANCE_URL, SALESFORCE_ACCESS_TOKEN,
SALESFORCE_API_VERSION (or a connection).
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Iterator
from typing import Any

import httpx
from django.conf import settings

from integrations.connectors.base import (
    AuthError,
    Connector,
    ConnectorError,
    ExternalTask,
    Identity,
    Page,
    RateLimitError,
    RecordError,
    clean_email,
    clean_id,
    clean_text,
    clean_title,
    clean_url,
    json_body,
    parse_date,
)
from integrations.http import parse_retry_after

DEFAULT_API_VERSION = "64.0"
FIELDS = (
    "Id",
    "Subject",
    "Status",
    "Priority",
    "ActivityDate",
    "Description",
    "IsClosed",
    "LastModifiedDate",
    "Owner.Email",
)
MAPPED_FIELDS = ("Subject", "Status", "ActivityDate", "Description")
ACCOUNT_ID = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")
BATCH_SIZE = 2000

# Task.Status picklist (the standard values; orgs may add their own, which fall back on IsClosed).
STATUS_MAP = {
    "not started": "todo",
    "open": "todo",
    "deferred": "todo",
    "in progress": "in_progress",
    "waiting on someone else": "in_progress",
    "completed": "done",
    "closed": "done",
}
PRIORITY_MAP = {"high": "high", "normal": "medium", "medium": "medium", "low": "low"}


def map_status(status: Any, is_closed: Any) -> str:
    mapped = STATUS_MAP.get(str(status or "").strip().lower())
    if mapped is not None:
        return mapped
    return "done" if is_closed is True else "todo"


class SalesforceConnector(Connector):
    key = "salesforce"
    label = "Salesforce"
    platform = "salesforce"
    credential_settings = ("SALESFORCE_INSTANCE_URL", "SALESFORCE_ACCESS_TOKEN")

    @classmethod
    def configured_with(cls, connection: Any) -> bool:
        return connection is not None and bool(connection.instance_url)

    def configured_base_url(self) -> str:
        # The org's instance, from the connection's token answer (or SALESFORCE_INSTANCE_URL).
        assert self.connection is not None
        return self.connection.instance_url.rstrip("/")

    def demo_base_url(self) -> str:
        return "https://demo.my.salesforce.com"

    @property
    def api_version(self) -> str:
        version = str(getattr(settings, "SALESFORCE_API_VERSION", "") or DEFAULT_API_VERSION)
        return version.lstrip("vV")

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}", "Sforce-Query-Options": f"batchSize={BATCH_SIZE}"}

    def record_url(self, record_id: str) -> str:
        return f"{self.base_url}/lightning/r/Task/{record_id}/view"

    # --- pulling ---------------------------------------------------------------------------
    def pull(self, *, target: str, cursor: str | None = None) -> Iterator[Page]:
        """Every Task of the Account `target` (a full pull each time; Salesforce's own
        `nextRecordsUrl` is the page cursor). Raises ConnectorError."""
        if not ACCOUNT_ID.match(target or ""):
            raise ConnectorError(f"{target!r} is not a Salesforce Account Id (15 or 18 letters and digits).")
        # SOQL, not SQL: the Account Id was checked to be letters and digits only just above.
        where = f"(AccountId = '{target}' OR WhatId = '{target}') AND IsDeleted = false"
        soql = f"SELECT {', '.join(FIELDS)} FROM Task WHERE {where} ORDER BY Id"  # noqa: S608
        url = f"{self.base_url}/services/data/v{self.api_version}/queryAll"
        params: dict[str, Any] | None = {"q": soql}
        while True:
            body = json_body(self.get(url, params=params), platform=self.label)
            if not isinstance(body, dict) or not isinstance(body.get("records"), list):
                raise ConnectorError("Salesforce answered a query without a records list.")
            page = Page()
            for raw in body["records"]:
                self._parse_into(page, raw)
            yield page
            next_url = body.get("nextRecordsUrl")
            if body.get("done", True) or not next_url:
                return
            # Only ever follow a path on the same instance: the token must not go anywhere else.
            if not isinstance(next_url, str) or not next_url.startswith("/services/data/"):
                raise ConnectorError(f"Salesforce sent an unexpected nextRecordsUrl {str(next_url)[:100]!r}.")
            url, params = f"{self.base_url}{next_url}", None

    def _parse_into(self, page: Page, raw: Any) -> None:
        record_id = clean_id(raw.get("Id")) if isinstance(raw, dict) else None
        if record_id is None:
            page.errors.append(RecordError("Record has no Id.", raw=raw))
            return
        try:
            # A query result carries every field it selects (null when empty): a record without
            # one is broken, and read as empty it would wipe the task's title, date or notes.
            missing = [name for name in MAPPED_FIELDS if name not in raw]
            if missing:
                raise ValueError(f"the record has no {', '.join(missing)} field")
            due_raw = raw.get("ActivityDate")
            due_at = parse_date(due_raw) if due_raw else None
            page.records.append(
                ExternalTask(
                    external_id=record_id,
                    title=clean_title(raw.get("Subject"), fallback="(no subject)"),
                    status=map_status(raw.get("Status"), raw.get("IsClosed")),
                    priority=PRIORITY_MAP.get(str(raw.get("Priority") or "").lower()),
                    due_at=due_at,
                    description=clean_text(raw.get("Description")),
                    external_url=clean_url(self.record_url(record_id)),
                    assignee_email=clean_email((raw.get("Owner") or {}).get("Email")),
                )
            )
        except (TypeError, ValueError) as exc:
            page.errors.append(RecordError(f"Unreadable record: {exc}", external_id=record_id, raw=raw))

    def whoami(self) -> Identity:
        """GET {instance}/services/oauth2/userinfo → {"user_id", "organization_id", "name",
        "email"} (https://help.salesforce.com/s/articleView?id=sf.remoteaccess_using_userinfo_endpoint.htm)."""
        body = json_body(self.get(f"{self.base_url}/services/oauth2/userinfo"), platform=self.label)
        if not isinstance(body, dict) or not body.get("user_id"):
            raise ConnectorError("Salesforce answered userinfo without a user_id.")
        org = str(body.get("organization_id", ""))
        return Identity(
            account_id=f"{org}/{body['user_id']}",
            account_name=clean_text(body.get("name"), limit=255),
            account_email=clean_text(body.get("email"), limit=254),
            extra={"org_id": org, "user_id": str(body["user_id"])},
        )

    def classify(self, response: httpx.Response) -> ConnectorError | None:
        usage = response.headers.get("Sforce-Limit-Info")
        if usage:
            self.details["api_usage"] = usage
        if response.is_success:
            return None
        code, message = _error_of(response)
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        text = f"Salesforce HTTP {status}{f' {code}' if code else ''}: {message}"
        if status == 401:
            return AuthError(text, status_code=status)
        if code == "UNSUPPORTED_API_VERSION" or (status in (404, 410) and "version" in message.lower()):
            return ConnectorError(
                f"Salesforce API v{self.api_version} is not supported ({text}); set SALESFORCE_API_VERSION to "
                f"{DEFAULT_API_VERSION} or later.",
                status_code=status,
            )
        if code == "REQUEST_LIMIT_EXCEEDED" or status == 429:
            return RateLimitError(text, retry_after=retry_after, status_code=status)
        if status >= 500:
            return ConnectorError(text, retryable=True, retry_after=retry_after, status_code=status)
        return ConnectorError(text, status_code=status)

    # --- demo ------------------------------------------------------------------------------
    def simulator(self) -> httpx.BaseTransport:
        return httpx.MockTransport(_simulate)


def _error_of(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:200] or response.reason_phrase
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return str(body[0].get("errorCode", "")), str(body[0].get("message", ""))[:300]
    return "", str(body)[:200]


# A small living Salesforce org: each account has a stable set of tasks; one of them moves on
# every ten minutes, so the demo dashboard shows runs that change something.
_DEMO_SUBJECTS = (
    "Send sponsorship deck",
    "Call about booth placement",
    "Confirm logo files",
    "Review renewal contract",
    "Invoice first instalment",
    "Plan keynote slot",
    "Collect speaker bios",
    "Book partner dinner",
    "Approve banner proofs",
    "Share attendee report",
    "Schedule quarterly review",
    "Update CRM notes",
)
# Owners' addresses: a seed_demo user's and one nobody here has, so the demo shows both a pulled
# task assigned by e-mail and one whose reminders go to the sponsor's owner.
_DEMO_OWNERS = {"005DEMO00000001AAA": "sam@example.com", "005DEMO00000002AAA": "partner.rep@example.org"}
_DEMO_OWNER_IDS = sorted(_DEMO_OWNERS)
_DEMO_STATUSES = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")
_DEMO_PAGE = 5
_LOCATOR = re.compile(r"/query/01gDEMO(?P<account>[A-Za-z0-9]+)-(?P<offset>\d+)$")


def _demo_records(account: str) -> list[dict[str, Any]]:
    rng = random.Random(f"salesforce:{account}")
    today = dt.date.today()
    count = rng.randint(6, 11)
    bucket = int(dt.datetime.now(dt.UTC).timestamp() // 600)
    records = []
    for index in range(count):
        status = rng.choice(_DEMO_STATUSES)
        if index == 0:
            status = _DEMO_STATUSES[bucket % 3]
        record_id = f"00TDEMO{account[-6:]:0>6}{index:05d}"[:18]
        owner = _DEMO_OWNER_IDS[index % len(_DEMO_OWNER_IDS)]
        records.append(
            {
                "attributes": {
                    "type": "Task",
                    "url": f"/services/data/v{DEFAULT_API_VERSION}/sobjects/Task/{record_id}",
                },
                "Id": record_id,
                "Subject": rng.choice(_DEMO_SUBJECTS),
                "Status": status,
                "Priority": rng.choice(("High", "Normal", "Low")),
                "ActivityDate": (today + dt.timedelta(days=rng.randint(-5, 30))).isoformat(),
                "Description": "Demo task from the built-in Salesforce simulator.",
                "IsClosed": status == "Completed",
                "LastModifiedDate": "2024-01-01T00:00:00.000+0000",
                "Owner": {
                    "attributes": {
                        "type": "Name",
                        "url": f"/services/data/v{DEFAULT_API_VERSION}/sobjects/User/{owner}",
                    },
                    "Email": _DEMO_OWNERS[owner],
                },
            }
        )
    return records


def _simulate(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    locator = _LOCATOR.search(path)
    if locator:
        account, offset = locator["account"], int(locator["offset"])
    elif path.endswith(("/query", "/queryAll")):
        found = re.search(r"AccountId = '([A-Za-z0-9]+)'", request.url.params.get("q", ""))
        if not found:
            return httpx.Response(400, json=[{"message": "unexpected query", "errorCode": "MALFORMED_QUERY"}])
        account, offset = found[1], 0
    else:
        return httpx.Response(
            404, json=[{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
        )
    records = _demo_records(account)
    chunk = records[offset : offset + _DEMO_PAGE]
    done = offset + _DEMO_PAGE >= len(records)
    body: dict[str, Any] = {"totalSize": len(records), "done": done, "records": chunk}
    if not done:
        body["nextRecordsUrl"] = f"/services/data/v{DEFAULT_API_VERSION}/query/01gDEMO{account}-{offset + _DEMO_PAGE}"
    return httpx.Response(200, json=body, headers={"Sforce-Limit-Info": "api-usage=42/15000"})

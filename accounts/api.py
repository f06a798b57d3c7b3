"""/api/v1/audit and /api/v1/me: the audit trail (staff) and who the caller is."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from accounts import selectors
from accounts.api_auth import staff_required
from tracker_project.api_errors import ApiError, reject_unknown_query
from tracker_project.api_fields import SafeText
from tracker_project.api_schemas import error_responses

router = Router(tags=["accounts"])


class MeOut(Schema):
    username: str
    email: str
    is_staff: bool
    api_key: str | None = Field(None, description="Name of the API key used, if any.")


class AuditEventOut(Schema):
    id: int
    created_at: dt.datetime
    actor: str
    api_key_name: str
    action: str
    object_type: str
    object_id: str
    object_repr: str
    changes: dict[str, Any]
    origin: str
    ip: str | None


class AuditListOut(Schema):
    items: list[AuditEventOut]
    count: int


class AuditQuery(Schema):
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=10_000_000)
    action: Annotated[SafeText, Field(max_length=50)] | None = None
    object_type: Annotated[SafeText, Field(max_length=100)] | None = None
    object_id: Annotated[SafeText, Field(max_length=64)] | None = None


@router.get("/me", response={200: MeOut, **error_responses()}, summary="The authenticated user")
def me(request: HttpRequest) -> dict[str, Any]:
    user = request.auth_user  # type: ignore[attr-defined]
    key = getattr(request, "api_key", None)
    return {
        "username": user.username,
        "email": user.email,
        "is_staff": user.is_staff,
        "api_key": key.name if key else None,
    }


@router.get("/audit", response={200: AuditListOut, **error_responses(403)}, summary="Audit trail (staff only)")
def audit_list(request: HttpRequest, params: Query[AuditQuery]) -> dict[str, Any]:
    if not staff_required(request):
        raise ApiError(403, "Only staff can read the audit trail.")
    reject_unknown_query(request, AuditQuery)
    qs = selectors.audit_event_list(action=params.action, object_type=params.object_type, object_id=params.object_id)
    items = [
        {
            "id": e.id,
            "created_at": e.created_at,
            "actor": e.actor_label,
            "api_key_name": e.api_key_name,
            "action": e.action,
            "object_type": e.object_type,
            "object_id": e.object_id,
            "object_repr": e.object_repr,
            "changes": e.changes,
            "origin": e.origin,
            "ip": e.ip,
        }
        for e in qs[params.offset : params.offset + params.limit]
    ]
    return {"items": items, "count": qs.count()}

"""The Connections page (staff): each platform account with its status, and the OAuth round trip
that makes one — Connect posts here, the platform's consent page sends the browser back to the
callback, which saves the connection and lands on the page with a message."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.actor import ORIGIN_WEB, Actor
from integrations import oauth
from integrations.connect import connection_disconnect, connection_oauth_save
from integrations.connection_selectors import connection_list_all
from integrations.models import Connection
from integrations.oauth_providers import PROVIDERS, OAuthProvider, get_provider, http_client


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/forbidden.html", {"what": "connections"}, status=403)


def _provider(platform: str) -> OAuthProvider:
    provider = get_provider(platform)
    if provider is None:
        raise Http404("No such platform.")
    return provider


def _sponsor_names(connections: list[Connection]) -> dict[int, list[str]]:
    """The sponsors using each connection.

    HOOK: sponsors have no links to connections yet (issue 15, item 5). When they do (a
    sponsor link with a `connection` foreign key), fill this from that reverse relation with
    one prefetch; `integrations` must not import `sponsors` (layers), and needs not to.
    """
    return {}


def connection_list(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        return _forbidden(request)
    connections = connection_list_all()
    sponsors = _sponsor_names([c for c in connections if isinstance(c, Connection)])
    names = {c.id: sponsors.get(c.pk, []) for c in connections if isinstance(c, Connection)}
    platforms = [
        {
            "key": p.platform,
            "label": p.label,
            "configured": p.configured,
            "settings": (p.client_id_setting, p.client_secret_setting),
            "redirect_uri": oauth.redirect_uri(p.platform),
        }
        for p in PROVIDERS.values()
    ]
    rows = [{"c": c, "sponsor_names": names.get(c.id, [])} for c in connections]
    context = {"rows": rows, "platforms": platforms, "now": timezone.now()}
    response = render(request, "integrations/connections.html", context)
    # Connect and Reconnect are form posts answered by a redirect to the platform's consent page;
    # the page's Content-Security-Policy (form-action 'self') must allow those origins, and only
    # this page needs to.
    consent = sorted({_origin(p.authorize_endpoint()) for p in PROVIDERS.values() if p.configured} - {""})
    if consent:
        response._csp_update = {"form-action": consent}  # type: ignore[attr-defined]  (read by django-csp)
    return response


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


@require_POST
def connection_connect(request: HttpRequest, platform: str) -> HttpResponse:
    """Send the browser to the platform's consent page (a Reconnect passes `connection_id`)."""
    if not request.user.is_staff:
        return _forbidden(request)
    provider = _provider(platform)
    if not provider.configured:
        messages.error(
            request,
            f"{provider.label} is not set up: set {provider.client_id_setting} and "
            f"{provider.client_secret_setting} (see README, “Connections”).",
        )
        return redirect("connection_list")
    connection_id: int | None = None
    raw_id = request.POST.get("connection_id", "")
    if raw_id:
        if not raw_id.isdigit() or not Connection.objects.filter(pk=int(raw_id), platform=platform).exists():
            messages.error(request, f"That {provider.label} connection no longer exists; use Connect {provider.label}.")
            return redirect("connection_list")
        connection_id = int(raw_id)
    pending = oauth.authorization_begin(
        session=request.session, platform=platform, pkce=provider.pkce, connection_id=connection_id
    )
    return redirect(provider.authorization_url(pending))


@require_GET
def connection_callback(request: HttpRequest, platform: str) -> HttpResponse:
    """Where the platform sends the browser back: check the state, exchange the code, save."""
    if not request.user.is_staff:
        return _forbidden(request)
    provider = _provider(platform)
    params = {key: request.GET.get(key, "") for key in request.GET}
    try:
        pending = oauth.authorization_take(session=request.session, platform=platform, state=params.get("state", ""))
        if params.get("error"):
            if params["error"] == "access_denied":
                raise oauth.ConsentDenied(f"You declined on {provider.label}'s consent page, so nothing was connected.")
            reason = " ".join((params.get("error_description") or params["error"]).split())[:200]
            raise oauth.ExchangeFailed(f"{provider.label} did not grant access ({reason}). Nothing was saved.")
        code = provider.callback_code(params)
        if not code:
            raise oauth.ConsentDenied(f"{provider.label} sent no authorization code back, so nothing was connected.")
        with http_client() as http:
            grant = provider.exchange(code=code, pending=pending, http=http)
        outcome = connection_oauth_save(
            grant=grant, actor=Actor.from_request(request, origin=ORIGIN_WEB), reconnect_id=pending.connection_id
        )
    except oauth.OAuthFlowError as exc:
        messages.error(request, str(exc))
        return redirect("connection_list")
    verb = "Connected" if outcome.created else "Reconnected"
    messages.success(request, f"{verb} {provider.label}: {outcome.connection.account or outcome.connection.label}.")
    return redirect("connection_list")


@require_POST
def connection_disconnect_view(request: HttpRequest, connection_id: int) -> HttpResponse:
    if not request.user.is_staff:
        return _forbidden(request)
    connection = get_object_or_404(Connection, pk=connection_id)
    name = str(connection)
    if connection.status == Connection.Status.DISABLED and not connection.has_secrets:
        messages.info(request, f"{name} was already disconnected.")
        return redirect("connection_list")
    outcome = connection_disconnect(connection=connection, actor=Actor.from_request(request, origin=ORIGIN_WEB))
    platform = connection.get_platform_display()
    if outcome.revoked:
        messages.success(request, f"Disconnected {name}: the token was revoked at {platform} and deleted here.")
    elif outcome.revoke_error:
        messages.warning(
            request,
            f"Disconnected {name} here (its token is deleted), but {outcome.revoke_error} "
            f"Remove the app's access in {platform}'s own settings too.",
        )
    else:
        messages.success(request, f"Disconnected {name}: its token is deleted here.")
    return redirect("connection_list")

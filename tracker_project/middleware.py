"""URL conventions clients bring from other APIs: a trailing slash on any API path."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import is_valid_path

# Paths whose canonical form has no trailing slash: the API, and the docs pages at the root.
SLASHLESS_PREFIXES = ("/api/",)
SLASHLESS_PAGES = ("/docs/", "/redoc/")


class TrailingSlashMiddleware:
    """`/api/v1/tasks/` is routed exactly like `/api/v1/tasks`: same view, same method, no
    redirect (a client cannot re-send a POST body after a 301, and many do not follow one).

    The slash is dropped before URL resolution, and only when the path as sent matches no
    route while the path without it does, so every route keeps one canonical spelling (and the
    OpenAPI schema lists each path once) and a route that does end in "/" is left alone. It
    must come before CommonMiddleware, whose APPEND_SLASH works the other way round."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.endswith("/") and (path.startswith(SLASHLESS_PREFIXES) or path in SLASHLESS_PAGES):
            urlconf = getattr(request, "urlconf", None)
            if not is_valid_path(path, urlconf) and is_valid_path(path[:-1], urlconf):
                request.path_info = path[:-1]
                request.path = request.path[:-1]
        return self.get_response(request)

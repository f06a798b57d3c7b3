"""The pinned front-end packages (package.json) served as static files under `vendor/...`.

`npm ci` installs Bootstrap, Bootstrap Icons, htmx, SortableJS and Chart.js into node_modules/;
this staticfiles finder exposes the few dist files the pages use under stable `vendor/...` names,
so `collectstatic` picks them up like any other static file and a deployment needs no separate
copy step (a step that is easy to forget: without it every page is a 500 under the manifest
storage). In development (`DEBUG=true`) whitenoise and the test live server serve them from
node_modules/ through the same finder.

Its `check()` is a Django system check (run by `collectstatic`, `migrate`, `check`): an Error
naming `npm ci` when a file is missing, instead of a 500 on every page later.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.finders import BaseFinder
from django.contrib.staticfiles.utils import matches_patterns
from django.core.checks import CheckMessage, Error
from django.core.files.storage import FileSystemStorage

# Static name (what templates pass to {% static %}) -> path under node_modules/. Source maps that
# a file references are listed too: the manifest storage resolves every `sourceMappingURL` and
# fails collectstatic when one is missing; so are the fonts the icon CSS points at.
VENDOR_FILES: dict[str, str] = {
    "vendor/bootstrap/css/bootstrap.min.css": "bootstrap/dist/css/bootstrap.min.css",
    "vendor/bootstrap/css/bootstrap.min.css.map": "bootstrap/dist/css/bootstrap.min.css.map",
    "vendor/bootstrap/js/bootstrap.bundle.min.js": "bootstrap/dist/js/bootstrap.bundle.min.js",
    "vendor/bootstrap/js/bootstrap.bundle.min.js.map": "bootstrap/dist/js/bootstrap.bundle.min.js.map",
    "vendor/bootstrap-icons/bootstrap-icons.min.css": "bootstrap-icons/font/bootstrap-icons.min.css",
    "vendor/bootstrap-icons/fonts/bootstrap-icons.woff2": "bootstrap-icons/font/fonts/bootstrap-icons.woff2",
    "vendor/bootstrap-icons/fonts/bootstrap-icons.woff": "bootstrap-icons/font/fonts/bootstrap-icons.woff",
    "vendor/htmx/htmx.min.js": "htmx.org/dist/htmx.min.js",
    "vendor/sortablejs/Sortable.min.js": "sortablejs/Sortable.min.js",
    "vendor/chartjs/chart.umd.min.js": "chart.js/dist/chart.umd.min.js",
    "vendor/chartjs/chart.umd.min.js.map": "chart.js/dist/chart.umd.min.js.map",
    # The licences travel with the files they cover.
    "vendor/bootstrap/LICENSE": "bootstrap/LICENSE",
    "vendor/bootstrap-icons/LICENSE": "bootstrap-icons/LICENSE",
    "vendor/htmx/LICENSE": "htmx.org/LICENSE",
    "vendor/sortablejs/LICENSE": "sortablejs/LICENSE",
    "vendor/chartjs/LICENSE.md": "chart.js/LICENSE.md",
}


class VendorStorage(FileSystemStorage):
    """A read-only view of node_modules/ in which each file has its `vendor/...` static name.

    collectstatic and whitenoise open, stat and copy a finder's files through its storage by
    the static name, so `path()` is the one place the name is mapped onto node_modules/."""

    def __init__(self, root: Path, files: dict[str, str]) -> None:
        super().__init__(location=root)
        self._root = root
        self._files = files

    def path(self, name: str) -> str:
        try:
            return str(self._root / self._files[name.replace("\\", "/")])
        except KeyError:
            raise FileNotFoundError(f"{name} is not a vendored front-end file") from None


class NodeModulesFinder(BaseFinder):
    """Finds `vendor/...` static files in node_modules/ (see the module docstring)."""

    def __init__(self, *args: Any, root: Path | None = None, **kwargs: Any) -> None:
        # node_modules/ next to manage.py, where `npm ci` puts it.
        self.root = root or Path(settings.BASE_DIR) / "node_modules"
        self.storage = VendorStorage(self.root, VENDOR_FILES)
        super().__init__(*args, **kwargs)

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        missing = [source for source in VENDOR_FILES.values() if not (self.root / source).is_file()]
        if not missing:
            return []
        what = "is not installed" if not self.root.is_dir() else f"lacks {missing[0]}"
        return [
            Error(
                f"The front-end packages are missing: {self.root} {what}.",
                hint=f"Run `npm ci` in {self.root.parent} (the pinned versions in package-lock.json), "
                "then `python manage.py collectstatic`.",
                id="tracker.E001",
            )
        ]

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> str | list[str]:
        source = VENDOR_FILES.get(path.replace("\\", "/"))
        if source is None or not (self.root / source).is_file():
            return []  # what Django's own finders answer for "not here", whatever find_all is
        found = str(self.root / source)
        return [found] if find_all else found

    def list(self, ignore_patterns: list[str] | None) -> Iterator[tuple[str, VendorStorage]]:
        for name, source in VENDOR_FILES.items():
            if ignore_patterns and matches_patterns(name, ignore_patterns):
                continue
            if (self.root / source).is_file():
                yield name, self.storage

"""The front-end packages reach `collectstatic` from node_modules/, and their absence fails fast."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command

from tracker_project.frontend import VENDOR_FILES, NodeModulesFinder

NODE_MODULES = Path(settings.BASE_DIR) / "node_modules"


def _vendor_names_in_templates() -> set[str]:
    base = Path(settings.BASE_DIR)
    found: set[str] = set()
    for template in [*base.glob("templates/**/*.html"), *base.glob("*/templates/**/*.html")]:
        found.update(re.findall(r"""{% static ['"](vendor/[^'"]+)['"]""", template.read_text()))
    return found


def test_every_vendor_name_the_templates_use_is_found_in_node_modules() -> None:
    names = _vendor_names_in_templates()
    assert "vendor/bootstrap/css/bootstrap.min.css" in names and len(names) >= 6
    for name in names:
        found = finders.find(name)
        assert found and Path(found).resolve() == (NODE_MODULES / VENDOR_FILES[name]).resolve()
    assert finders.find("vendor/bootstrap/nothing.css") is None


def test_collectstatic_copies_the_vendor_files_into_the_manifest(settings: Any, tmp_path: Path) -> None:
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0)

    from django.contrib.staticfiles.storage import staticfiles_storage

    for name in VENDOR_FILES:
        assert (tmp_path / staticfiles_storage.stored_name(name)).is_file(), name
    licence = staticfiles_storage.stored_name("vendor/htmx/LICENSE")
    assert (tmp_path / licence).read_bytes() == (NODE_MODULES / "htmx.org/LICENSE").read_bytes()
    # The icon CSS points at the hashed fonts, which exist.
    css = (tmp_path / staticfiles_storage.stored_name("vendor/bootstrap-icons/bootstrap-icons.min.css")).read_text()
    font = staticfiles_storage.stored_name("vendor/bootstrap-icons/fonts/bootstrap-icons.woff2")
    assert font.removeprefix("vendor/bootstrap-icons/") in css and (tmp_path / font).is_file()


def test_missing_node_modules_is_an_error_naming_npm_ci(tmp_path: Path) -> None:
    (errors,) = NodeModulesFinder(root=tmp_path / "node_modules").check()
    assert errors.id == "tracker.E001" and "is not installed" in errors.msg
    assert "`npm ci`" in errors.hint
    assert list(NodeModulesFinder(root=tmp_path / "node_modules").list(None)) == []


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    root = tmp_path / "node_modules"
    for source in VENDOR_FILES.values():
        (root / source).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(NODE_MODULES / source, root / source)
    assert NodeModulesFinder(root=root).check() == []

    (root / "htmx.org/dist/htmx.min.js").unlink()
    (error,) = NodeModulesFinder(root=root).check()
    assert "htmx.org/dist/htmx.min.js" in error.msg and "`npm ci`" in error.hint


def test_the_installed_tree_passes_the_check() -> None:
    assert NodeModulesFinder().check() == []

"""Copy the front-end libraries' dist files from node_modules/ into static/vendor/.

The packages are pinned in package.json / package-lock.json and installed by `npm ci` (see
scripts/setup.sh). This step is idempotent: a file is copied only when it is missing or differs.
Source maps that a file references are copied too, because the manifest static storage used in
production resolves every `sourceMappingURL` and fails collectstatic when one is missing.

Exit status 1 with a one-line reason when node_modules/ or a needed file is missing.
"""

from __future__ import annotations

import filecmp
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
VENDOR = ROOT / "static" / "vendor"

# (source under node_modules/, destination under static/vendor/)
FILES: list[tuple[str, str]] = [
    ("bootstrap/dist/css/bootstrap.min.css", "bootstrap/css/bootstrap.min.css"),
    ("bootstrap/dist/css/bootstrap.min.css.map", "bootstrap/css/bootstrap.min.css.map"),
    ("bootstrap/dist/js/bootstrap.bundle.min.js", "bootstrap/js/bootstrap.bundle.min.js"),
    ("bootstrap/dist/js/bootstrap.bundle.min.js.map", "bootstrap/js/bootstrap.bundle.min.js.map"),
    ("bootstrap-icons/font/bootstrap-icons.min.css", "bootstrap-icons/bootstrap-icons.min.css"),
    ("bootstrap-icons/font/fonts/bootstrap-icons.woff2", "bootstrap-icons/fonts/bootstrap-icons.woff2"),
    ("bootstrap-icons/font/fonts/bootstrap-icons.woff", "bootstrap-icons/fonts/bootstrap-icons.woff"),
    ("htmx.org/dist/htmx.min.js", "htmx/htmx.min.js"),
    ("sortablejs/Sortable.min.js", "sortablejs/Sortable.min.js"),
    ("chart.js/dist/chart.umd.min.js", "chartjs/chart.umd.min.js"),
    ("chart.js/dist/chart.umd.min.js.map", "chartjs/chart.umd.min.js.map"),
]

LICENSES: list[tuple[str, str]] = [
    ("bootstrap/LICENSE", "bootstrap/LICENSE"),
    ("bootstrap-icons/LICENSE", "bootstrap-icons/LICENSE"),
    ("htmx.org/LICENSE", "htmx/LICENSE"),
    ("sortablejs/LICENSE", "sortablejs/LICENSE"),
    ("chart.js/LICENSE.md", "chartjs/LICENSE.md"),
]


def copy_if_changed(src: Path, dst: Path) -> bool:
    """Copy `src` to `dst` unless an identical file is already there. Returns True if copied."""
    if dst.exists() and filecmp.cmp(src, dst, shallow=False):
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copyfile(src, tmp)
    tmp.replace(dst)
    return True


def main() -> int:
    if not NODE_MODULES.is_dir():
        print("vendor_static: node_modules/ is missing; run `npm ci` first (scripts/setup.sh does).", file=sys.stderr)
        return 1
    missing = [src for src, _ in FILES if not (NODE_MODULES / src).is_file()]
    if missing:
        print(f"vendor_static: node_modules/{missing[0]} is missing; run `npm ci` again.", file=sys.stderr)
        return 1
    copied = 0
    for src, dst in FILES:
        copied += copy_if_changed(NODE_MODULES / src, VENDOR / dst)
    for src, dst in LICENSES:
        if (NODE_MODULES / src).is_file():
            copied += copy_if_changed(NODE_MODULES / src, VENDOR / dst)
    print(f"vendor_static: static/vendor/ is up to date ({copied} file(s) updated).")
    return 0


if __name__ == "__main__":
    sys.exit(main())

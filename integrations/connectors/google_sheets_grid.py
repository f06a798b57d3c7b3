"""The pieces of the Sheets simulator that model a grid: rows that carry their developer
metadata, and the API's partial-response field masks.

Row-level developer metadata "remains associated at those locations as they move around and
the spreadsheet is edited ... If the associated object is deleted then its metadata is deleted
too" (https://developers.google.com/sheets/api/reference/rest/v4/spreadsheets.developerMetadata).
Here a row's metadata lives on the row object itself, so any list operation on a sheet's rows
(sorting, inserting, deleting) moves or drops it the way Sheets does, and a row typed in by a
person (a plain list) has none.

Field masks (https://developers.google.com/sheets/api/guides/field-masks): `fields=a,b.c,d(e,f)`
keeps only the named parts of the answer; list elements keep their places (an element with
nothing left is `{}`), which is how grid data stays aligned with its rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class GridRow(list):  # type: ignore[type-arg]
    """A row's cells (strings) plus the developer metadata located on this row."""

    def __init__(self, cells: Iterable[str] = (), metadata: list[dict[str, Any]] | None = None) -> None:
        super().__init__(cells)
        self.metadata: list[dict[str, Any]] = list(metadata or [])


def row_metadata(row: list[str]) -> list[dict[str, Any]]:
    """The metadata entries on `row` (none on a plain list: a row added by hand)."""
    return getattr(row, "metadata", None) or []


def grid_row(rows: list[list[str]], index: int) -> GridRow:
    """rows[index] as a GridRow (converted in place, padding the sheet when it is shorter)."""
    while len(rows) <= index:
        rows.append([])
    row = rows[index]
    if not isinstance(row, GridRow):
        row = rows[index] = GridRow(row)
    return row


# --- field masks ---------------------------------------------------------------------------------
Mask = dict[str, "Mask | None"]  # name → sub-mask; None keeps the whole value


def parse_mask(text: str) -> Mask | None:
    """`a,b.c,d(e,f(g))` → {"a": None, "b": {"c": None}, "d": {"e": None, "f": {"g": None}}};
    None for an empty mask or `*` (everything). Raises ValueError on unbalanced brackets."""
    text = text.replace(" ", "")
    if not text or text == "*":
        return None
    tree: Mask = {}
    end = _parse_list(text, 0, tree)
    if end != len(text):
        raise ValueError(f"Invalid field mask: {text}")
    return tree


def _parse_list(text: str, index: int, tree: Mask) -> int:
    """Parse `path(sub),path,...` from `index` into `tree`; returns the index after the list
    (after its closing bracket when nested)."""
    while True:
        stop = index
        while stop < len(text) and text[stop] not in ",()":
            stop += 1
        *parents, last = text[index:stop].split(".")
        node: Mask | None = tree
        for part in parents:
            child = node.get(part, {}) if node is not None else None
            if node is None or child is None:
                node = None  # an enclosing field is already kept whole
                break
            node[part] = child
            node = child
        if stop < len(text) and text[stop] == "(":
            sub: Mask = {}
            stop = _parse_list(text, stop + 1, sub)
            if node is not None and (last not in node or node[last] is not None):
                merged = node.get(last) or {}
                merged.update(sub)
                node[last] = merged
        elif node is not None and last:
            node[last] = None
        if stop >= len(text):
            return stop
        if text[stop] == ",":
            index = stop + 1
            continue
        if text[stop] == ")":
            return stop + 1
        raise ValueError(f"Invalid field mask: {text}")


def apply_mask(value: Any, mask: Mask | None) -> Any:
    """`value` with only the parts `mask` names (lists keep every element, masked)."""
    if mask is None:
        return value
    if isinstance(value, list):
        return [apply_mask(item, mask) for item in value]
    if "*" in mask:
        return value
    if isinstance(value, dict):
        return {key: apply_mask(item, mask[key]) for key, item in value.items() if key in mask}
    return value

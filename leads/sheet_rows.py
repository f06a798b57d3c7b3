"""Reading the lead sheet: columns found by header name (any order, extra columns ignored),
rows keyed by their `id` cell (never by row number), and bad rows reported one by one."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from integrations.connectors.base import storable
from integrations.connectors.google_sheets import SheetSnapshot
from integrations.connectors.google_sheets_rows import row_key
from leads.models import Lead

COLUMNS = ("id", "name", "email", "status", "source", "task_id")
REQUIRED = ("id", "name", "status")
STATUSES = frozenset(Lead.Status.values)
LIMITS = {"id": 100, "name": 255, "email": 254, "source": 100}


class SheetLayoutError(Exception):
    """The sheet cannot be synced at all (no header, or a required column is missing)."""


@dataclass(frozen=True)
class SheetRow:
    """A valid data row: its sheet row number, its values (normalised) and its task_id cell."""

    row: int
    sheet_id: str
    values: dict[str, str]
    task_id_cell: str


@dataclass(frozen=True)
class RowError:
    row: int
    sheet_id: str
    message: str
    cells: list[str]


@dataclass
class ParsedSheet:
    columns: dict[str, int]  # column name → absolute 0-based column
    header_row: int
    rows: dict[str, SheetRow] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    # Every id present in the sheet, bad rows included: a bad row is not a deleted one.
    seen_ids: set[str] = field(default_factory=set)
    data_rows: int = 0
    # The read this was parsed from: the write addresses rows through its tags.
    snapshot: SheetSnapshot | None = None

    @property
    def task_id_col(self) -> int:
        """Where task ids go: the task_id column, or the first column after the header."""
        if "task_id" in self.columns:
            return self.columns["task_id"]
        return self.next_free_col

    next_free_col: int = 0


def normalise_status(text: str) -> str:
    """ "contacted " → "CONTACTED"; blank → NEW (a row just typed in)."""
    value = " ".join(text.split()).upper()
    return value or Lead.Status.NEW


def _clean(text: str) -> str:
    return " ".join(storable(text).split())


def parse_sheet(snapshot: SheetSnapshot) -> ParsedSheet:
    """The sheet's rows by id. Raises SheetLayoutError when there is no usable header."""
    header_index = next((i for i, row in enumerate(snapshot.rows) if any(c.strip() for c in row)), None)
    if header_index is None:
        raise SheetLayoutError(
            f"The {snapshot.worksheet!r} tab is empty: it needs a header row ({', '.join(COLUMNS)})."
        )
    header = snapshot.rows[header_index]
    columns: dict[str, int] = {}
    for offset, cell in enumerate(header):
        name = cell.strip().lower().replace(" ", "_")
        if name in COLUMNS and name not in columns:
            columns[name] = snapshot.first_col + offset
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise SheetLayoutError(
            f"The header row of {snapshot.worksheet!r} has no {', '.join(missing)} column "
            f"(found: {', '.join(c for c in header if c.strip())[:200]})."
        )
    parsed = ParsedSheet(
        columns=columns,
        header_row=snapshot.first_row + header_index,
        next_free_col=snapshot.first_col + len(header),
        snapshot=snapshot,
    )

    def cell(line: list[str], name: str) -> str:
        col = columns.get(name)
        if col is None:
            return ""
        offset = col - snapshot.first_col
        return line[offset] if 0 <= offset < len(line) else ""

    candidates: dict[str, list[tuple[int, dict[str, str], str, list[str]]]] = defaultdict(list)
    for index in range(header_index + 1, len(snapshot.rows)):
        line = snapshot.rows[index]
        row = snapshot.first_row + index
        parsed.data_rows += 1
        if not any(c.strip() for c in line):
            parsed.errors.append(RowError(row, "", "Blank line: skipped.", []))
            continue
        sheet_id = row_key(cell(line, "id"))  # the very key the connector matches tags with
        if not sheet_id:
            parsed.errors.append(RowError(row, "", "Missing id: the row is skipped until it has one.", line[:20]))
            continue
        if len(sheet_id) > LIMITS["id"]:
            parsed.errors.append(RowError(row, sheet_id[:100], "The id is longer than 100 characters.", line[:20]))
            continue
        parsed.seen_ids.add(sheet_id)
        values = {
            "name": _clean(cell(line, "name")),
            "email": _clean(cell(line, "email")),
            "status": normalise_status(cell(line, "status")),
            "source": _clean(cell(line, "source")),
        }
        candidates[sheet_id].append((row, values, _clean(cell(line, "task_id")), line[:20]))

    for sheet_id, found in candidates.items():
        if len(found) > 1:
            rows = ", ".join(str(r) for r, _, _, _ in found)
            for row, _, _, line in found:
                parsed.errors.append(
                    RowError(row, sheet_id, f"Duplicate id {sheet_id!r} (rows {rows}): skipped.", line)
                )
            continue
        row, values, task_cell, line = found[0]
        problem = _problem(values)
        if problem:
            parsed.errors.append(RowError(row, sheet_id, problem, line))
            continue
        parsed.rows[sheet_id] = SheetRow(row=row, sheet_id=sheet_id, values=values, task_id_cell=task_cell)
    parsed.errors.sort(key=lambda e: e.row)
    return parsed


def _problem(values: dict[str, str]) -> str:
    if values["status"] not in STATUSES:
        return f"Unknown status {values['status'][:40]!r} (use NEW, CONTACTED, QUALIFIED or LOST)."
    if values["email"]:
        try:
            validate_email(values["email"])
        except ValidationError:
            return f"Malformed email {values['email'][:80]!r}."
    for name in ("name", "email", "source"):
        if len(values[name]) > LIMITS[name]:
            return f"The {name} is longer than {LIMITS[name]} characters."
    return ""

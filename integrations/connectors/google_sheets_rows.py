"""What the Sheets connector reads and writes, and the row tags that let a write find its row.

A row's tag is a row-level DeveloperMetadata (key LEAD_TAG, value the row's key, i.e. the lead's
id; location a ROWS dimensionRange of exactly that row). Sheets keeps it on its row when the
sheet is sorted or rows are inserted or deleted, and deletes it with its row
(https://developers.google.com/sheets/api/reference/rest/v4/spreadsheets.developerMetadata), so
a DataFilter with a developerMetadataLookup on the tag
(https://developers.google.com/sheets/api/reference/rest/v4/DataFilter) addresses the row
wherever it is. Only putting a tag on an untagged row goes by row number; the write checks
where each such tag landed before writing through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from integrations.connectors.base import ConnectorError, storable

# The developer metadata key that tags a row with its lead's id (the row's key).
LEAD_TAG = "tracker_lead"


@dataclass(frozen=True)
class RowTag:
    """A row-level developer metadata entry with key LEAD_TAG: `value` is the key (the lead's
    id) of the row it was put on; it moves with its row when the sheet is sorted, and is
    deleted with it."""

    metadata_id: int
    value: str


@dataclass
class SheetSnapshot:
    """One read of a worksheet: `rows[i]` is sheet row `first_row + i`, each a list of strings
    starting at column `first_col` (trailing empty cells trimmed, as the API sends them);
    `tags[row]` are the LEAD_TAG entries on that sheet row."""

    spreadsheet_id: str
    worksheet: str
    rows: list[list[str]]
    first_row: int = 1
    first_col: int = 0
    sheet_id: int = 0  # the tab's numeric sheetId
    row_count: int = 0  # the grid's size (rows beyond the data are empty)
    column_count: int = 0
    tags: dict[int, list[RowTag]] = field(default_factory=dict)

    @property
    def end_row(self) -> int:
        """The last sheet row with data (0 when the tab is empty)."""
        return self.first_row + len(self.rows) - 1 if self.rows else 0

    def cell(self, row: int, col: int) -> str:
        line = self.rows[row - self.first_row] if 0 <= row - self.first_row < len(self.rows) else []
        offset = col - self.first_col
        return line[offset].strip() if 0 <= offset < len(line) else ""

    def key(self, row: int, col: int) -> str:
        """The row's key as the sync reads it (`row_key`): a tag is matched against this."""
        return row_key(self.cell(row, col))


def row_key(text: str) -> str:
    """A row's id as one string whatever the cell holds around it: inner runs of whitespace
    (a non-breaking space too) as one space, no NUL. The lead sync parses ids with it, so a tag's
    value, the lookup and the check after a write all agree."""
    return " ".join(storable(text).split())


@dataclass(frozen=True)
class CellWrite:
    row: int  # 1-based sheet row
    col: int  # 0-based column
    value: str


@dataclass(frozen=True)
class RowWrite:
    """Cells of one keyed row, written wherever that row is when the write arrives."""

    key: str  # the row's key (the lead's id), also the value of its LEAD_TAG
    cells: dict[int, str]  # 0-based column → value


@dataclass
class WriteResult:
    cells: int = 0
    appended: int = 0
    tagged: int = 0
    requests: int = 0
    written: set[str] = field(default_factory=set)  # keys whose RowWrite landed
    missed: dict[str, str] = field(default_factory=dict)  # key → why nothing was written for it


def snapshot_from(body: dict[str, Any], *, spreadsheet_id: str, worksheet: str) -> SheetSnapshot:
    """A SheetSnapshot from a Spreadsheet resource (or a batchUpdate answer with its
    `updatedSpreadsheet`) holding one sheet's grid data. Raises ConnectorError."""
    sheets = [s for s in body.get("updatedSpreadsheet", body).get("sheets") or [] if isinstance(s, dict)]
    if not sheets:
        raise ConnectorError("Google Sheets answered without the sheet's data.")
    titles = [str((s.get("properties") or {}).get("title", "")) for s in sheets]
    # The range limits the answer to one sheet; should more come back, take the one named.
    index = next((i for i, t in enumerate(titles) if t == worksheet), None)
    if index is None:
        index = next((i for i, t in enumerate(titles) if t.casefold() == worksheet.casefold()), 0)
    sheet = sheets[index]
    props = sheet.get("properties") or {}
    grid = props.get("gridProperties") or {}
    data = (sheet.get("data") or [{}])[0] or {}
    start_row, start_col = int(data.get("startRow", 0) or 0), int(data.get("startColumn", 0) or 0)
    rows: list[list[str]] = []
    for entry in data.get("rowData") or []:
        cells = [cell_text((v or {}).get("formattedValue")) for v in (entry or {}).get("values") or []]
        while cells and cells[-1] == "":
            cells.pop()
        rows.append(cells)
    while rows and not rows[-1]:
        rows.pop()
    tags: dict[int, list[RowTag]] = {}
    for offset, entry in enumerate(data.get("rowMetadata") or []):
        found = [
            RowTag(metadata_id=int(m["metadataId"]), value=str(m.get("metadataValue", "")))
            for m in (entry or {}).get("developerMetadata") or []
            if isinstance(m, dict) and m.get("metadataKey") == LEAD_TAG and "metadataId" in m
        ]
        if found:
            tags[start_row + offset + 1] = found
    return SheetSnapshot(
        spreadsheet_id=spreadsheet_id,
        worksheet=str(props.get("title", worksheet)),
        rows=rows,
        first_row=start_row + 1,
        first_col=start_col,
        sheet_id=int(props.get("sheetId", 0) or 0),
        row_count=int(grid.get("rowCount", 0) or 0),
        column_count=int(grid.get("columnCount", 0) or 0),
        tags=tags,
    )


def structural_requests(
    snapshot: SheetSnapshot,
    *,
    key_col: int,
    keys: set[str],
    header: list[CellWrite],
    appends: list[tuple[str, list[str]]],
) -> tuple[list[dict[str, Any]], int]:
    """The spreadsheets:batchUpdate requests (in order) that delete stale tags, tag the rows of
    `keys` without one, write the header cells and insert, fill and tag the `appends`; and how
    many rows they tag. Empty when the structure needs no change."""
    plan = tag_plan(snapshot, key_col=key_col, keys=keys)
    requests_: list[dict[str, Any]] = [
        {"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": {"metadataId": mid}}}}
        for mid in plan.stale
    ]
    sheet_id = snapshot.sheet_id
    widest = max([c.col for c in header] + [len(line) - 1 for _, line in appends] + [0])
    if snapshot.column_count and widest >= snapshot.column_count:
        requests_.append(
            {
                "appendDimension": {
                    "sheetId": sheet_id,
                    "dimension": "COLUMNS",
                    "length": widest + 1 - snapshot.column_count,
                }
            }
        )
    for cell in header:
        requests_.append(
            {
                "updateCells": {
                    "start": {"sheetId": sheet_id, "rowIndex": cell.row - 1, "columnIndex": cell.col},
                    "rows": [{"values": [cell_data(cell.value)]}],
                    "fields": "userEnteredValue",
                }
            }
        )
    requests_ += [tag_request(sheet_id, row, key) for row, key in plan.untagged]
    if appends:
        # Inserted after the last row of the table as read: wherever that is now, the rows
        # are new, so nothing is overwritten, and they are tagged in the same request.
        at = max(snapshot.end_row, 1)
        requests_.append(
            {
                "insertDimension": {
                    "range": {
                        "sheetId": sheet_id,
                        "dimension": "ROWS",
                        "startIndex": at,
                        "endIndex": at + len(appends),
                    },
                    "inheritFromBefore": True,
                }
            }
        )
        requests_.append(
            {
                "updateCells": {
                    "start": {"sheetId": sheet_id, "rowIndex": at, "columnIndex": 0},
                    "rows": [{"values": [cell_data(v) for v in line]} for _, line in appends],
                    "fields": "userEnteredValue",
                }
            }
        )
        requests_ += [tag_request(sheet_id, at + 1 + n, key) for n, (key, _) in enumerate(appends)]
    return requests_, len(plan.untagged) + len(appends)


def cell_text(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return storable(value) if value is not None else ""


# --- tags: which rows carry which lead's developer metadata -------------------------------------
@dataclass
class TagPlan:
    stale: list[int]  # metadata ids to delete (on a row whose key is not their value, or doubled)
    untagged: list[tuple[int, str]]  # (sheet row, key) of rows in `keys` without their tag


def tag_plan(snapshot: SheetSnapshot, *, key_col: int, keys: set[str]) -> TagPlan:
    """A row keeps one tag whose value is its key; every other tag goes, and each row in `keys`
    without a tag gets one."""
    plan = TagPlan(stale=[], untagged=[])
    kept: set[int] = set()
    for row, tags in snapshot.tags.items():
        key = snapshot.key(row, key_col)
        for tag in tags:
            if tag.value == key and key and row not in kept:
                kept.add(row)
            else:
                plan.stale.append(tag.metadata_id)
    first = snapshot.first_row
    for offset in range(len(snapshot.rows)):
        row = first + offset
        key = snapshot.key(row, key_col)
        if key in keys and row not in kept:
            plan.untagged.append((row, key))
    return plan


def rows_to_tag(snapshot: SheetSnapshot, *, key_col: int, keys: set[str]) -> int:
    """How many rows of `keys` have no tag yet (a dry run shows it)."""
    return len(tag_plan(snapshot, key_col=key_col, keys=keys).untagged)


def tags_pending(snapshot: SheetSnapshot, *, key_col: int, keys: set[str]) -> bool:
    """True when some row of `keys` lacks its tag or a stale tag is left: a write is due even
    if no value changed, so that the next write can address every row by its tag."""
    plan = tag_plan(snapshot, key_col=key_col, keys=keys)
    return bool(plan.stale or plan.untagged)


def verified(snapshot: SheetSnapshot, *, key_col: int) -> dict[str, int | None]:
    """For each tag value in `snapshot`: the sheet row it addresses when exactly one row carries
    it and that row holds the key, else None (a write by that tag could reach the wrong row)."""
    rows: dict[str, list[int]] = {}
    for row, tags in snapshot.tags.items():
        for tag in tags:
            rows.setdefault(tag.value, []).append(row)
    return {
        key: found[0] if len(found) == 1 and snapshot.key(found[0], key_col) == key else None
        for key, found in rows.items()
    }


def lookup(key: str) -> dict[str, Any]:
    """The DataFilter that selects the row tagged with `key`."""
    return {"developerMetadataLookup": {"metadataKey": LEAD_TAG, "metadataValue": key, "locationType": "ROW"}}


def tag_request(sheet_id: int, row: int, key: str) -> dict[str, Any]:
    """createDeveloperMetadata for sheet row `row` (1-based): a ROWS dimensionRange of one row."""
    return {
        "createDeveloperMetadata": {
            "developerMetadata": {
                "metadataKey": LEAD_TAG,
                "metadataValue": key,
                "location": {
                    "dimensionRange": {"sheetId": sheet_id, "dimension": "ROWS", "startIndex": row - 1, "endIndex": row}
                },
                "visibility": "DOCUMENT",
            }
        }
    }


def cell_data(value: str) -> dict[str, Any]:
    """A CellData holding `value` as text (as RAW input would: a leading "=" stays text)."""
    return {"userEnteredValue": {"stringValue": value}} if value != "" else {}

"""A stateful simulator of the Sheets API v4 calls the connector makes, in the API's JSON: the
demo sheet (kept in the database so every process sees the same one) and the tests' fake.

Calls, each checked against its reference page (https://developers.google.com/sheets/api/...):
- `GET /v4/spreadsheets/{id}?ranges=&fields=` — reference/rest/v4/spreadsheets/get: `ranges`
  limits the answer to the sheets they touch (a range naming no tab: 400 "Unable to parse
  range"); a field mask asking for `sheets.data` returns GridData (`startRow`, `startColumn`,
  `rowData[].values[].formattedValue`, `rowMetadata[].developerMetadata[]`, zero fields omitted).
  GridData and DimensionProperties: reference/rest/v4/spreadsheets/sheets#GridData.
- `POST /v4/spreadsheets/{id}:batchUpdate` — reference/rest/v4/spreadsheets/batchUpdate: the
  requests apply in order and atomically ("if any request is not valid, no requests will be
  applied"); `includeSpreadsheetInResponse` + `responseRanges` + `responseIncludeGridData`
  return the sheet after the update as `updatedSpreadsheet`; one reply per request. Requests
  simulated (reference/rest/v4/spreadsheets/request): createDeveloperMetadata (location a ROWS
  `dimensionRange` of exactly one row; key and visibility required), deleteDeveloperMetadata
  (a `developerMetadataLookup` DataFilter; matching nothing deletes nothing), insertDimension
  (ROWS; `inheritFromBefore` needs startIndex > 0), appendDimension, updateCells (`start`,
  `rows`, `fields` required; beyond the grid's columns: 400), appendCells, sortRange.
- `POST /v4/spreadsheets/{id}/values:batchUpdateByDataFilter` —
  reference/rest/v4/spreadsheets.values/batchUpdateByDataFilter: each DataFilterValueRange is
  written at the top-left of every range its DataFilter matches ("if more than one range is
  matched ... the values are applied to all of those ranges"); a filter matching nothing
  updates nothing and has no entry in `responses`; null values are skipped (ValueRange: "Null
  values will be skipped"). Each UpdateValuesByDataFilterResponse carries `updatedRange`,
  `updatedRows`, `updatedColumns`, `updatedCells` and the `dataFilter` that matched.
- DeveloperMetadata, DeveloperMetadataLocation (`locationType` ROW, `dimensionRange`):
  reference/rest/v4/spreadsheets.developerMetadata — metadata on a row stays with that row
  when rows are inserted above it, the sheet is sorted, or other rows are deleted, and goes
  when its row is deleted (modelled by google_sheets_grid.GridRow). DataFilter and
  DeveloperMetadataLookup (every field given must match): reference/rest/v4/DataFilter.
- Errors: `{"error": {"code", "message", "status"}}` (cloud.google.com/apis/design/errors).

Tests act as a person editing the sheet through `sort_rows`, `insert_row`, `delete_row`, and
`before_request` (called before each request is answered) lets them do it between the sync's
read and its write.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests
import requests.adapters

from integrations.connectors.google_sheets import (
    DEFAULT_WORKSHEET,
    DEMO_SPREADSHEET_ID,
    V4_PREFIX,
    GoogleSheetsConnector,
    cell_text,
    col_letter,
    parse_a1,
    quote_title,
)
from integrations.connectors.google_sheets_grid import GridRow, apply_mask, grid_row, parse_mask, row_metadata

# --- the demo sheet --------------------------------------------------------------------------------
DEMO_LEADS = [
    ("Ada Lovelace", "ada@analytical.example", "NEW", "Website"),
    ("Grace Hopper", "grace@cobol.example", "CONTACTED", "Conference"),
    ("Alan Turing", "alan@bletchley.example", "QUALIFIED", "Referral"),
    ("Katherine Johnson", "katherine@nasa.example", "NEW", "Webinar"),
    ("Edsger Dijkstra", "edsger@tue.example", "LOST", "Cold outreach"),
    ("Barbara Liskov", "barbara@mit.example", "CONTACTED", "Website"),
    ("Donald Knuth", "don@stanford.example", "NEW", "Referral"),
    ("Margaret Hamilton", "margaret@apollo.example", "QUALIFIED", "Conference"),
    ("Linus Torvalds", "linus@kernel.example", "NEW", "Website"),
    ("Radia Perlman", "radia@spanning.example", "CONTACTED", "Webinar"),
    ("Ken Thompson", "ken@bell.example", "NEW", "Cold outreach"),
    ("Frances Allen", "fran@ibm.example", "QUALIFIED", "Referral"),
    ("John McCarthy", "john@lisp.example", "LOST", "Website"),
    ("Shafi Goldwasser", "shafi@crypto.example", "NEW", "Conference"),
    ("Tim Berners-Lee", "tim@w3.example", "CONTACTED", "Website"),
    ("Hedy Lamarr", "hedy@spread.example", "NEW", "Referral"),
    ("Dennis Ritchie", "dmr@bell.example", "QUALIFIED", "Webinar"),
    ("Sophie Wilson", "sophie@arm.example", "NEW", "Conference"),
    ("Vint Cerf", "vint@tcp.example", "CONTACTED", "Cold outreach"),
    ("Annie Easley", "annie@glenn.example", "NEW", "Website"),
]
DEMO_HEADER = ["id", "name", "email", "status", "source", "task_id"]


def demo_rows() -> list[list[str]]:
    return [DEMO_HEADER] + [[f"lead-{n}", *lead, ""] for n, lead in enumerate(DEMO_LEADS, start=1)]


Answer = tuple[int, dict[str, str], dict[str, Any]]


class Invalid(Exception):
    """A request the API would refuse with 400 INVALID_ARGUMENT."""


def _a1_box(sheet: str, row: int, col: int, rows: int, cols: int) -> str:
    return f"{quote_title(sheet)}!{col_letter(col)}{row}:{col_letter(col + cols - 1)}{row + rows - 1}"


def _api_error(code: int, message: str, status: str) -> Answer:
    return code, {}, {"error": {"code": code, "message": message, "status": status}}


def _cell_value(data: Any) -> str:
    """The text a CellData's userEnteredValue puts in a cell ({} clears it)."""
    if not isinstance(data, dict):
        raise Invalid("Each value must be a CellData object.")
    value = data.get("userEnteredValue")
    if value is None:
        return ""
    if "formulaValue" in value:
        raise Invalid("Formulas are not simulated.")
    for kind in ("stringValue", "numberValue", "boolValue"):
        if kind in value:
            return cell_text(value[kind])
    raise Invalid("userEnteredValue needs a stringValue, numberValue or boolValue.")


@dataclass
class SheetsSimulator:
    """A spreadsheet held in memory that answers the Sheets v4 calls this product makes.

    `sheets` maps each tab to its rows (lists of strings; a GridRow also carries the developer
    metadata on that row). `fail` queues canned failures: (method, path fragment, status, body,
    headers), each used once by the first request that matches. `log` lists (method, path) of
    every request. `on_change` is called with the simulator after every write (demo
    persistence); `before_request(method, path)` before each request is answered."""

    spreadsheet_id: str = DEMO_SPREADSHEET_ID
    title: str = "Leads"
    sheets: dict[str, list[list[str]]] = field(default_factory=dict)
    fail: list[tuple[str, str, int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)
    require_auth: bool = True
    on_change: Callable[[SheetsSimulator], None] | None = None
    before_request: Callable[[str, str], None] | None = None

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        if not self.sheets:
            self.sheets = {"Leads": []}
        self.extra_columns: dict[str, int] = {}
        ids = [m["metadataId"] for rows in self.sheets.values() for row in rows for m in row_metadata(row)]
        self.next_metadata_id = max(ids, default=0) + 1
        self._taken_ids: set[int] = set(ids)

    @property
    def worksheets(self) -> list[str]:
        return list(self.sheets)

    # --- state, and a person editing the sheet ---------------------------------------------
    def rows(self, worksheet: str = "Leads") -> list[list[str]]:
        return self.sheets[worksheet]

    def set_cell(self, worksheet: str, row: int, col: int, value: str) -> None:
        rows = self.sheets[worksheet]
        while len(rows) < row:
            rows.append([])
        line = rows[row - 1]
        while len(line) <= col:
            line.append("")
        line[col] = value

    def sort_rows(self, worksheet: str = "Leads", *, col: int, reverse: bool = False, header_rows: int = 1) -> None:
        """Sort the rows below the header by column `col`, as Data → Sort range does: each row
        (with its metadata) moves as a whole."""
        with self.lock:
            rows = self.sheets[worksheet]
            body = sorted(rows[header_rows:], key=lambda r: r[col] if col < len(r) else "", reverse=reverse)
            rows[header_rows:] = body

    def insert_row(self, worksheet: str, row: int, cells: list[str]) -> None:
        """A row typed in by hand at sheet row `row` (1-based): the rows below move down."""
        with self.lock:
            self.sheets[worksheet].insert(row - 1, list(cells))

    def delete_row(self, worksheet: str, row: int) -> None:
        """Delete sheet row `row` (1-based), its metadata with it."""
        with self.lock:
            del self.sheets[worksheet][row - 1]

    def metadata(self, worksheet: str = "Leads") -> list[tuple[int, dict[str, Any]]]:
        """(sheet row, metadata entry) of every row-level developer metadata on the tab."""
        return [(i + 1, m) for i, row in enumerate(self.sheets[worksheet]) for m in row_metadata(row)]

    def _trimmed(self, rows: list[list[str]]) -> list[list[str]]:
        out = []
        for row in rows:
            row = list(row)
            while row and row[-1] == "":
                row.pop()
            out.append(row)
        while out and not out[-1]:
            out.pop()
        return out

    def _sheet_of(self, title: str | None) -> str | None:
        if title is None:
            return next(iter(self.sheets))
        return title if title in self.sheets else None

    def _sheet_by_id(self, sheet_id: Any) -> str:
        titles = list(self.sheets)
        if not isinstance(sheet_id, int) or not 0 <= sheet_id < len(titles):
            raise Invalid(f"No grid with id: {sheet_id}")
        return titles[sheet_id]

    def _row_count(self, sheet: str) -> int:
        return max(1000, len(self.sheets[sheet]))

    def _column_count(self, sheet: str) -> int:
        widest = max((len(r) for r in self.sheets[sheet]), default=0)
        return max(26, widest) + self.extra_columns.get(sheet, 0)

    # --- HTTP ------------------------------------------------------------------------------
    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes | None, headers: dict[str, str]
    ) -> Answer:
        """(status, headers, JSON body) for one request to `path` (percent-decoded)."""
        with self.lock:
            method = method.upper()
            self.log.append((method, path))
            if self.before_request is not None:
                self.before_request(method, path)
            for index, (f_method, fragment, status, f_body, f_headers) in enumerate(self.fail):
                if f_method.upper() == method and fragment in path:
                    del self.fail[index]
                    return status, f_headers, f_body
            auth = headers.get("Authorization") or headers.get("authorization") or ""
            if self.require_auth and not auth.startswith("Bearer "):
                return _api_error(401, "Request is missing required authentication credential.", "UNAUTHENTICATED")
            if not path.startswith(V4_PREFIX + "/"):
                return _api_error(404, "Not found.", "NOT_FOUND")
            sid, sep, tail = path[len(V4_PREFIX) + 1 :].partition("/")
            structural = sid.endswith(":batchUpdate")
            if structural:
                sid = sid[: -len(":batchUpdate")]
            if sid != self.spreadsheet_id:
                return _api_error(404, "Requested entity was not found.", "NOT_FOUND")
            try:
                payload = json.loads(body) if body else {}
                mask = parse_mask((query.get("fields") or [""])[0])
            except ValueError:
                return _api_error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
            if structural and not sep and method == "POST":
                status, out_headers, out = self._structural(payload, mask)
            elif not sep and method == "GET":
                status, out_headers, out = self._get_spreadsheet(query, mask)
            elif tail == "values:batchUpdateByDataFilter" and method == "POST":
                status, out_headers, out = self._update_by_filter(payload)
            else:
                return _api_error(404, "Not found.", "NOT_FOUND")
            return status, out_headers, apply_mask(out, mask) if status == 200 else out

    # --- spreadsheets.get ------------------------------------------------------------------
    def _get_spreadsheet(self, query: dict[str, list[str]], mask: Any) -> Answer:
        ranges = query.get("ranges") or []
        wants_grid = (query.get("includeGridData") or ["false"])[0] == "true"
        if mask is not None:
            wants_grid = "data" in (mask.get("sheets") or {}) if mask.get("sheets") is not None else True
        try:
            return 200, {}, self._spreadsheet(ranges, grid=wants_grid)
        except Invalid as exc:
            return _api_error(400, str(exc), "INVALID_ARGUMENT")

    def _spreadsheet(self, ranges: list[str], *, grid: bool) -> dict[str, Any]:
        """The Spreadsheet resource: every sheet, or only those `ranges` touch (with GridData
        for those ranges when `grid`). Raises Invalid for a range that names no tab."""
        wanted: dict[str, tuple[int, int, int | None, int | None]] = {}
        for text in ranges:
            try:
                title, r1, c1, r2, c2 = parse_a1(text)
            except ValueError:
                raise Invalid(f"Unable to parse range: {text}") from None
            sheet = self._sheet_of(title)
            if sheet is None:
                raise Invalid(f"Unable to parse range: {text}")
            wanted[sheet] = (r1, c1, r2, c2)
        out_sheets = []
        for index, title in enumerate(self.sheets):
            if ranges and title not in wanted:
                continue
            entry: dict[str, Any] = {
                "properties": {
                    "sheetId": index,
                    "title": title,
                    "index": index,
                    "sheetType": "GRID",
                    "gridProperties": {"rowCount": self._row_count(title), "columnCount": self._column_count(title)},
                }
            }
            if grid:
                entry["data"] = [self._grid_data(title, index, *wanted.get(title, (1, 0, None, None)))]
            out_sheets.append(entry)
        return {
            "spreadsheetId": self.spreadsheet_id,
            "properties": {"title": self.title, "locale": "en_US", "timeZone": "Etc/GMT", "autoRecalc": "ON_CHANGE"},
            "sheets": out_sheets,
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{self.spreadsheet_id}/edit",
        }

    def _grid_data(self, sheet: str, sheet_id: int, r1: int, c1: int, r2: int | None, c2: int | None) -> dict[str, Any]:
        rows = self.sheets[sheet]
        last = r2 if r2 is not None else self._row_count(sheet)
        window = self._trimmed([row[c1 : (c2 + 1) if c2 is not None else None] for row in rows[r1 - 1 : last]])
        row_data = []
        for line in window:
            values = [
                {
                    "userEnteredValue": {"stringValue": v},
                    "effectiveValue": {"stringValue": v},
                    "formattedValue": v,
                }
                if v != ""
                else {}
                for v in line
            ]
            row_data.append({"values": values} if values else {})
        row_meta = []
        for index in range(r1 - 1, last):
            entry: dict[str, Any] = {"pixelSize": 21}
            found = row_metadata(rows[index]) if index < len(rows) else []
            if found:
                entry["developerMetadata"] = [self._located(m, sheet_id, index) for m in found]
            row_meta.append(entry)
        data: dict[str, Any] = {"rowData": row_data, "rowMetadata": row_meta}
        if r1 > 1:
            data["startRow"] = r1 - 1
        if c1:
            data["startColumn"] = c1
        return data

    def _located(self, meta: dict[str, Any], sheet_id: int, index: int) -> dict[str, Any]:
        return {
            **meta,
            "location": {
                "locationType": "ROW",
                "dimensionRange": {
                    "sheetId": sheet_id,
                    "dimension": "ROWS",
                    "startIndex": index,
                    "endIndex": index + 1,
                },
            },
        }

    # --- spreadsheets.batchUpdate ----------------------------------------------------------
    def _structural(self, payload: dict[str, Any], mask: Any) -> Answer:
        requests_ = payload.get("requests")
        if not isinstance(requests_, list) or not requests_:
            return _api_error(400, "Must specify at least one request.", "INVALID_ARGUMENT")
        saved = (copy.deepcopy(self.sheets), dict(self.extra_columns), self.next_metadata_id)
        self._taken_ids = {m["metadataId"] for _, _, m in self._all_metadata()}
        replies = []
        for index, request in enumerate(requests_):
            kind = next(iter(request), "") if isinstance(request, dict) and len(request) == 1 else ""
            handler = getattr(self, f"_req_{kind}", None) if kind else None
            try:
                if handler is None:
                    raise Invalid("Exactly one simulated request kind is required.")
                replies.append(handler(request[kind]))
            except (Invalid, KeyError, TypeError, ValueError) as exc:
                self.sheets, self.extra_columns, self.next_metadata_id = saved
                return _api_error(400, f"Invalid requests[{index}].{kind}: {exc}", "INVALID_ARGUMENT")
        out: dict[str, Any] = {"spreadsheetId": self.spreadsheet_id, "replies": replies}
        if payload.get("includeSpreadsheetInResponse"):
            grid = bool(payload.get("responseIncludeGridData")) or mask is not None
            try:
                out["updatedSpreadsheet"] = self._spreadsheet(payload.get("responseRanges") or [], grid=grid)
            except Invalid as exc:
                self.sheets, self.extra_columns, self.next_metadata_id = saved
                return _api_error(400, str(exc), "INVALID_ARGUMENT")
        if self.on_change is not None:
            self.on_change(self)
        return 200, {}, out

    def _dimension_range(self, body: dict[str, Any]) -> tuple[str, str, int, int]:
        sheet = self._sheet_by_id(body.get("sheetId", 0))
        dimension = body.get("dimension")
        start, end = int(body.get("startIndex", 0)), int(body["endIndex"])
        if dimension not in ("ROWS", "COLUMNS"):
            raise Invalid("dimension must be ROWS or COLUMNS.")
        if not 0 <= start < end:
            raise Invalid(f"Invalid dimension range {start}:{end}.")
        return sheet, dimension, start, end

    def _req_createDeveloperMetadata(self, body: dict[str, Any]) -> dict[str, Any]:
        meta = dict(body["developerMetadata"])
        if not meta.get("metadataKey"):
            raise Invalid("Developer metadata must always have a key specified.")
        if meta.get("visibility") not in ("DOCUMENT", "PROJECT"):
            raise Invalid("Developer metadata must always have a visibility specified.")
        location = meta.pop("location", None) or {}
        if "dimensionRange" not in location:
            raise Invalid("Only row locations are simulated.")
        sheet, dimension, start, end = self._dimension_range(location["dimensionRange"])
        if dimension != "ROWS" or end - start != 1:
            raise Invalid("The dimension range must be exactly one row.")
        if start >= self._row_count(sheet):
            raise Invalid(f"Row {start} is beyond the grid.")
        taken = self._taken_ids
        if "metadataId" in meta:
            if int(meta["metadataId"]) <= 0 or meta["metadataId"] in taken:
                raise Invalid(f"Invalid or duplicate metadataId {meta['metadataId']}.")
        else:
            while self.next_metadata_id in taken:
                self.next_metadata_id += 1
            meta["metadataId"] = self.next_metadata_id
            self.next_metadata_id += 1
        taken.add(meta["metadataId"])
        grid_row(self.sheets[sheet], start).metadata.append(meta)
        sheet_id = list(self.sheets).index(sheet)
        return {"createDeveloperMetadata": {"developerMetadata": self._located(meta, sheet_id, start)}}

    def _all_metadata(self) -> list[tuple[str, int, dict[str, Any]]]:
        return [
            (sheet, index, meta)
            for sheet, rows in self.sheets.items()
            for index, row in enumerate(rows)
            for meta in row_metadata(row)
        ]

    def _matching(
        self, lookup: dict[str, Any], by_value: dict[str, list[tuple[str, int, dict[str, Any]]]] | None = None
    ) -> list[tuple[str, int, dict[str, Any]]]:
        """(sheet, row index, entry) of every metadata entry matching all fields of `lookup`
        (`by_value`: the entries indexed by metadataValue, for many lookups in one request)."""
        if not isinstance(lookup, dict) or not lookup:
            raise Invalid("A developerMetadataLookup needs at least one field.")
        if "metadataLocation" in lookup or "locationMatchingStrategy" in lookup:
            raise Invalid("Location lookups are not simulated.")
        if lookup.get("locationType", "ROW") != "ROW":
            return []
        if by_value is not None and "metadataValue" in lookup:
            candidates = by_value.get(lookup["metadataValue"], [])
        else:
            candidates = self._all_metadata()
        return [
            (sheet, index, meta)
            for sheet, index, meta in candidates
            if all(
                name not in lookup or lookup[name] == meta.get(name)
                for name in ("metadataId", "metadataKey", "metadataValue", "visibility")
            )
        ]

    def _req_deleteDeveloperMetadata(self, body: dict[str, Any]) -> dict[str, Any]:
        data_filter = body["dataFilter"]
        if "developerMetadataLookup" not in data_filter:
            raise Invalid("Only developerMetadataLookup filters are simulated.")
        deleted = []
        for sheet, index, meta in self._matching(data_filter["developerMetadataLookup"]):
            row = self.sheets[sheet][index]
            row.metadata = [m for m in row_metadata(row) if m is not meta]  # type: ignore[attr-defined]
            deleted.append(self._located(meta, list(self.sheets).index(sheet), index))
        return {"deleteDeveloperMetadata": {"deletedDeveloperMetadata": deleted}}

    def _req_insertDimension(self, body: dict[str, Any]) -> dict[str, Any]:
        sheet, dimension, start, end = self._dimension_range(body["range"])
        if dimension != "ROWS":
            raise Invalid("Only inserting rows is simulated.")
        if body.get("inheritFromBefore") and start == 0:
            raise Invalid("inheritFromBefore needs a start index greater than 0.")
        if start > self._row_count(sheet):
            raise Invalid(f"Index {start} is beyond the grid.")
        rows = self.sheets[sheet]
        while len(rows) < start:
            rows.append([])
        rows[start:start] = [[] for _ in range(end - start)]
        return {}

    def _req_appendDimension(self, body: dict[str, Any]) -> dict[str, Any]:
        sheet = self._sheet_by_id(body.get("sheetId", 0))
        length = int(body["length"])
        if length <= 0 or body.get("dimension") not in ("ROWS", "COLUMNS"):
            raise Invalid("appendDimension needs a dimension and a positive length.")
        if body["dimension"] == "COLUMNS":
            self.extra_columns[sheet] = self.extra_columns.get(sheet, 0) + length
        return {}

    def _write_cells(self, sheet: str, row_index: int, col: int, rows: list[Any], fields: str) -> None:
        if not fields:
            raise Invalid("At least one field must be specified.")
        if fields not in ("*", "userEnteredValue"):
            raise Invalid("Only userEnteredValue is simulated.")
        columns = self._column_count(sheet)
        for dr, line in enumerate(rows):
            for dc, data in enumerate((line or {}).get("values") or []):
                if col + dc >= columns:
                    raise Invalid(f"Column {col + dc} exceeds the grid limits ({columns} columns).")
                self.set_cell(sheet, row_index + dr + 1, col + dc, _cell_value(data))

    def _req_updateCells(self, body: dict[str, Any]) -> dict[str, Any]:
        start = body.get("start") or {}
        if not start and "range" in body:
            grid = body["range"]
            start = {
                "sheetId": grid.get("sheetId", 0),
                "rowIndex": grid.get("startRowIndex", 0),
                "columnIndex": grid.get("startColumnIndex", 0),
            }
        sheet = self._sheet_by_id(start.get("sheetId", 0))
        row, col = int(start.get("rowIndex", 0)), int(start.get("columnIndex", 0))
        if row >= self._row_count(sheet):
            raise Invalid(f"Row {row} exceeds the grid limits.")
        self._write_cells(sheet, row, col, body.get("rows") or [], str(body.get("fields", "")))
        return {}

    def _req_appendCells(self, body: dict[str, Any]) -> dict[str, Any]:
        sheet = self._sheet_by_id(body.get("sheetId", 0))
        rows = self.sheets[sheet]
        end = len(self._trimmed(rows))
        del rows[end:]
        self._write_cells(sheet, end, 0, body.get("rows") or [], str(body.get("fields", "")))
        return {}

    def _req_sortRange(self, body: dict[str, Any]) -> dict[str, Any]:
        grid = body["range"]
        sheet = self._sheet_by_id(grid.get("sheetId", 0))
        rows = self.sheets[sheet]
        start, end = int(grid.get("startRowIndex", 0)), int(grid.get("endRowIndex", len(rows)))
        block = rows[start:end]
        for spec in reversed(body.get("sortSpecs") or [{"dimensionIndex": 0}]):
            col = int(spec.get("dimensionIndex", 0))
            block.sort(key=lambda r: r[col] if col < len(r) else "", reverse=spec.get("sortOrder") == "DESCENDING")
        rows[start:end] = block
        return {}

    # --- spreadsheets.values.batchUpdateByDataFilter ---------------------------------------
    def _filter_ranges(
        self, data_filter: Any, by_value: dict[str, list[tuple[str, int, dict[str, Any]]]]
    ) -> list[tuple[str, int, int]]:
        """(sheet, 1-based row, 0-based column) of the top-left cell of each matched range."""
        if not isinstance(data_filter, dict) or len(data_filter) != 1:
            raise Invalid("A DataFilter needs exactly one of developerMetadataLookup, a1Range, gridRange.")
        if "developerMetadataLookup" in data_filter:
            found = self._matching(data_filter["developerMetadataLookup"], by_value)
            return [(sheet, index + 1, 0) for sheet, index, _ in found]
        if "a1Range" in data_filter:
            try:
                title, r1, c1, _, _ = parse_a1(str(data_filter["a1Range"]))
            except ValueError:
                raise Invalid(f"Unable to parse range: {data_filter['a1Range']}") from None
            sheet = self._sheet_of(title)
            if sheet is None:
                raise Invalid(f"Unable to parse range: {data_filter['a1Range']}")
            return [(sheet, r1, c1)]
        if "gridRange" in data_filter:
            grid = data_filter["gridRange"]
            sheet = self._sheet_by_id(grid.get("sheetId", 0))
            return [(sheet, int(grid.get("startRowIndex", 0)) + 1, int(grid.get("startColumnIndex", 0)))]
        raise Invalid("Unknown DataFilter.")

    def _update_by_filter(self, payload: dict[str, Any]) -> Answer:
        if payload.get("valueInputOption") not in ("RAW", "USER_ENTERED"):
            return _api_error(400, "Invalid valueInputOption.", "INVALID_ARGUMENT")
        planned = []
        by_value: dict[str, list[tuple[str, int, dict[str, Any]]]] = {}
        for entry in self._all_metadata():
            by_value.setdefault(str(entry[2].get("metadataValue")), []).append(entry)
        try:
            for item in payload.get("data") or []:
                if item.get("majorDimension", "ROWS") != "ROWS":
                    raise Invalid("Only majorDimension ROWS is simulated.")
                values = item.get("values") or []
                for sheet, r1, c1 in self._filter_ranges(item.get("dataFilter"), by_value):
                    planned.append((sheet, r1, c1, values, item["dataFilter"]))
        except Invalid as exc:
            return _api_error(400, str(exc), "INVALID_ARGUMENT")
        responses = []
        for sheet, r1, c1, values, data_filter in planned:
            written = [
                (r1 + dr, c1 + dc, value)
                for dr, line in enumerate(values)
                for dc, value in enumerate(line)
                if value is not None
            ]
            for row, col, value in written:
                self.set_cell(sheet, row, col, cell_text(value))
            if not written:
                continue
            rows_hit = {r for r, _, _ in written}
            cols_hit = {c for _, c, _ in written}
            responses.append(
                {
                    "updatedRange": _a1_box(
                        sheet,
                        min(rows_hit),
                        min(cols_hit),
                        max(rows_hit) - min(rows_hit) + 1,
                        max(cols_hit) - min(cols_hit) + 1,
                    ),
                    "updatedRows": len(rows_hit),
                    "updatedColumns": len(cols_hit),
                    "updatedCells": len(written),
                    "dataFilter": data_filter,
                }
            )
        if self.on_change is not None and responses:
            self.on_change(self)
        return (
            200,
            {},
            {
                "spreadsheetId": self.spreadsheet_id,
                "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
                "totalUpdatedColumns": max((r["updatedColumns"] for r in responses), default=0),
                "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
                "totalUpdatedSheets": len({p[0] for p in planned}),
                "responses": responses,
            },
        )


class SimulatorAdapter(requests.adapters.BaseAdapter):
    """A requests transport adapter answering from a SheetsSimulator (no network)."""

    def __init__(self, simulator: SheetsSimulator) -> None:
        super().__init__()
        self.simulator = simulator

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        body = request.body.encode() if isinstance(request.body, str) else request.body
        status, headers, payload = self.simulator.handle(
            request.method or "GET", unquote(parts.path), parse_qs(parts.query), body, dict(request.headers)
        )
        response = requests.Response()
        response.status_code = status
        response.headers.update({"Content-Type": "application/json; charset=UTF-8", **headers})
        response._content = json.dumps(payload).encode()
        response.url = request.url or ""
        response.request = request
        response.reason = "OK" if status < 400 else "Error"
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass


# --- demo mode: one simulated sheet, kept in the database so every process sees the same one -----
DEMO_STATE_SCOPE = "demo-sheet"


def demo_simulator() -> SheetsSimulator:
    """The demo sheet (20 leads on first use), loaded from and saved to the database."""
    from integrations.models import ConnectorState

    state = ConnectorState.objects.filter(connector=GoogleSheetsConnector.key, scope=DEMO_STATE_SCOPE).first()
    details = (state.details or {}) if state is not None else {}
    rows = details.get("rows")
    if not isinstance(rows, list):
        rows = demo_rows()
    metadata = details.get("metadata") if isinstance(details.get("metadata"), dict) else {}
    grid: list[list[str]] = []
    for index, row in enumerate(rows):
        cells = [str(v) for v in row]
        found = metadata.get(str(index))
        grid.append(GridRow(cells, found) if isinstance(found, list) else cells)
    return SheetsSimulator(
        spreadsheet_id=DEMO_SPREADSHEET_ID,
        title="Leads (demo)",
        sheets={DEFAULT_WORKSHEET: grid},
        on_change=_save_demo,
    )


def _save_demo(simulator: SheetsSimulator) -> None:
    from integrations.models import ConnectorState

    rows = simulator.rows(DEFAULT_WORKSHEET)
    ConnectorState.objects.update_or_create(
        connector=GoogleSheetsConnector.key,
        scope=DEMO_STATE_SCOPE,
        defaults={
            "details": {
                "rows": [list(row) for row in rows],
                # Each row's developer metadata, by row index (it moves with its row).
                "metadata": {str(i): row_metadata(row) for i, row in enumerate(rows) if row_metadata(row)},
            }
        },
    )

"""Reading import files: CSV, a Trackly NDJSON archive, or GitHub's REST JSON.

Each reader turns the file into numbered records `(row, kind, data)`; whole-file faults (bad
encoding, a wrong header, broken JSON, too many rows) raise `FileProblem`, which fails the job
before anything is written (the first run scans the whole file). Row numbers are what a person
finds in the file: CSV records counted with the header as row 1, NDJSON lines, and for GitHub
JSON the position of the object (issues and comments counted together, from 1).

The files are read as a stream of blob chunks; a GitHub file is one JSON document (or several,
as `gh api --paginate` writes them), so it is parsed whole, within IMPORT_MAX_BYTES.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from trackly.portability import cells
from trackly.portability.archive import ARCHIVE_KIND, FORMAT_VERSION
from trackly.portability.listing import COLUMNS, LABEL_SEPARATOR

# CSV fields the importer understands (the quick export's columns), and those it needs.
CSV_FIELDS = COLUMNS
CSV_REQUIRED = ("title",)
csv.field_size_limit(1024 * 1024)


class FileProblem(Exception):
    """The file as a whole cannot be imported; the message says why, for a person."""


@dataclass(frozen=True)
class Record:
    row: int
    kind: str
    data: dict[str, Any]


def _text(chunks: Iterable[bytes]) -> Iterator[str]:
    """UTF-8 text (a byte-order mark is dropped) from byte chunks; FileProblem on bad bytes."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    offset = 0
    for chunk in chunks:
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            raise FileProblem(
                f"The file is not valid UTF-8 (byte {offset + exc.start + 1} cannot be decoded); "
                "save it as UTF-8 and upload it again."
            ) from None
        offset += len(chunk)
        if text:
            yield text
    try:
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise FileProblem("The file is not valid UTF-8 (it ends inside a character).") from None
    if tail:
        yield tail


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    pending = ""
    for text in _text(chunks):
        pending += text
        *complete, pending = pending.split("\n")
        for line in complete:
            yield line + "\n"
    if pending:
        yield pending


# --- CSV -------------------------------------------------------------------------------------


def csv_records(chunks: Iterable[bytes], columns: dict[str, str]) -> Iterator[Record]:
    """One `issue` record per data row, with the fields named by the header (or `columns`)."""
    reader = csv.reader(_lines(chunks), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise FileProblem("The file is empty: a CSV import needs a header row.") from None
    except csv.Error as exc:
        raise FileProblem(f"The header row is not valid CSV ({exc}).") from None
    wanted = {field: columns.get(field, field) for field in CSV_FIELDS}
    unknown = sorted(set(columns) - set(CSV_FIELDS))
    if unknown:
        raise FileProblem(f"The mapping names fields that do not exist: {', '.join(unknown)}.")
    position = {name.strip(): i for i, name in enumerate(header)}
    missing = [wanted[f] for f in CSV_REQUIRED if wanted[f] not in position]
    if missing:
        raise FileProblem(
            f"The header row has no column {', '.join(repr(m) for m in missing)}; it has "
            f"{', '.join(repr(h) for h in header[:20]) or 'no columns'}. Name the column in "
            "mapping.columns if it has another header."
        )
    row = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FileProblem(f"Row {row + 1} is not valid CSV ({exc}).") from None
        row += 1
        if not any(v.strip() for v in values):
            continue  # blank lines are not records
        data: dict[str, Any] = {}
        for field, name in wanted.items():
            index = position.get(name)
            if index is not None and index < len(values):
                data[field] = cells.unescape(values[index])
        if len(values) != len(header):
            data["_width"] = f"the row has {len(values)} cells but the header has {len(header)}"
        if "labels" in data:
            data["labels"] = [
                p.strip() for p in str(data["labels"]).split(LABEL_SEPARATOR.strip()) if p.strip()
            ]
        yield Record(row, "issue", data)


# --- NDJSON archive --------------------------------------------------------------------------


def ndjson_records(chunks: Iterable[bytes]) -> Iterator[Record]:
    """The archive's records; the first line must be its `trackly-archive` header."""
    row = 0
    for line in _lines(chunks):
        row += 1
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            if row == 1:
                raise FileProblem("The first line is not JSON: this is not an NDJSON archive.") from None
            yield Record(row, "invalid", {"_problem": "The line is not valid JSON."})
            continue
        if row == 1:
            if not isinstance(data, dict) or data.get("kind") != ARCHIVE_KIND:
                raise FileProblem(
                    f"The first line is not a Trackly archive header (kind '{ARCHIVE_KIND}'); "
                    "use source csv or github for other files."
                )
            if data.get("format_version") != FORMAT_VERSION:
                raise FileProblem(
                    f"The archive has format version {data.get('format_version')!r}; this server "
                    f"reads version {FORMAT_VERSION}."
                )
        if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
            yield Record(row, "invalid", {"_problem": "The line is not a JSON object with a kind."})
            continue
        yield Record(row, data.pop("kind"), data)


# --- GitHub ----------------------------------------------------------------------------------

_ISSUE_URL = re.compile(r"/issues/(\d+)$")


def _json_values(text: str) -> Iterator[Any]:
    """Every JSON value in `text`: one array, or several back to back (`gh api --paginate`)."""
    decoder = json.JSONDecoder()
    index, length = 0, len(text)
    while True:
        while index < length and text[index].isspace():
            index += 1
        if index >= length:
            return
        try:
            value, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError as exc:
            raise FileProblem(
                f"The file is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
            ) from None
        except RecursionError:
            raise FileProblem("The JSON is nested too deeply.") from None
        yield value


def github_records(chunks: Iterable[bytes]) -> Iterator[Record]:
    """GitHub issues (GET /repos/{o}/{r}/issues?state=all) and issue comments (GET
    /repos/{o}/{r}/issues/comments), in any order, as arrays or single objects. Pull requests
    (which the issues endpoint lists too) are skipped."""
    text = "".join(_text(chunks))
    row = 0
    for value in _json_values(text):
        for item in value if isinstance(value, list) else [value]:
            row += 1
            if isinstance(item, list):  # `--slurp` wraps the pages in one more array
                raise FileProblem(f"Row {row} is an array inside an array; save the pages without --slurp.")
            if not isinstance(item, dict):
                yield Record(row, "invalid", {"_problem": "The entry is not a JSON object."})
            elif "issue_url" in item and "number" not in item:
                match = _ISSUE_URL.search(str(item.get("issue_url", "")))
                yield Record(
                    row, "comment", {**item, "_issue_number": int(match.group(1)) if match else None}
                )
            elif "pull_request" in item:
                yield Record(row, "pull_request", item)
            elif "number" in item:
                yield Record(row, "issue", item)
            else:
                yield Record(
                    row, "invalid", {"_problem": "The object is neither a GitHub issue nor a comment."}
                )


def read(source: str, chunks: Iterable[bytes], mapping: dict[str, Any]) -> Iterator[Record]:
    if source == "csv":
        return csv_records(chunks, dict(mapping.get("columns") or {}))
    if source == "ndjson":
        return ndjson_records(chunks)
    return github_records(chunks)

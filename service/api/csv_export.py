"""Every CSV the service sends is written here, with spreadsheet formulas defused.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is taken for a formula
by Excel, LibreOffice and Google Sheets (CSV injection: `=HYPERLINK(...)` in a rationale would
become a live link, or worse, on an auditor's machine); a leading `'` makes it plain text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from flask import Response, stream_with_context

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 65536


def safe_cell(value: Any) -> Any:
    """The value as a spreadsheet shows it as text (numbers and None as they are)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_lines(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The CSV text of `rows` under the header `columns`, in chunks of about 64 KiB."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(column) for column in columns])
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
        if buffer.tell() > CHUNK:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_download(columns: Sequence[str], rows: Iterable[Sequence[Any]], filename: str) -> Response:
    """A streamed CSV attachment (rows are read while it is sent)."""
    return Response(
        stream_with_context(csv_lines(columns, rows)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )

"""Pages of a read view and the cursors that continue them (keyset pagination)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any


class BadCursor(ValueError):
    """A cursor this server did not hand out (or for another sort order)."""


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None
    # The items already serialized (JSON objects), when the view stores them so.
    cards: list[str] | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.cards is not None:
            return {"items": [json.loads(c) for c in self.cards], "next_cursor": self.next_cursor}
        return {"items": self.items, "next_cursor": self.next_cursor}

    def as_json(self) -> str:
        """A page of stored cards as the API sends it: the cards joined."""
        assert self.cards is not None
        cards = ",".join(self.cards)
        return f'{{"items":[{cards}],"next_cursor":{json.dumps(self.next_cursor)}}}'


def encode_cursor(*values: Any) -> str:
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise BadCursor("Invalid cursor.") from None
    if not isinstance(values, list) or len(values) != size:
        raise BadCursor("Invalid cursor.")
    if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values):
        raise BadCursor("Invalid cursor.")
    # A forged cursor must not reach the database with what no column holds.
    if any(isinstance(v, int) and abs(v) > 2**53 for v in values):
        raise BadCursor("Invalid cursor.")
    if any(isinstance(v, str) and (len(v) > 1000 or "\x00" in v) for v in values):
        raise BadCursor("Invalid cursor.")
    return values

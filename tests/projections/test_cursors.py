"""Cursors are opaque to clients but not to forgers: every value survives the round trip, and
anything the service did not write is refused with the same words before it reaches SQL."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.queries import BadCursor, decode_cursor, encode_cursor
from projections.queries.initiatives import cursor_value

values = st.lists(
    st.one_of(
        st.integers(-(2**53), 2**53),
        st.text(max_size=50).filter(lambda s: "\x00" not in s),
    ),
    min_size=1,
    max_size=3,
)


@given(values)
def test_every_cursor_the_service_writes_reads_back_the_same(written: list[Any]) -> None:
    cursor = encode_cursor(*written)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_cursor(cursor, len(written)) == written


def forged(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    ("cursor", "size"),
    [
        ("not base64!", 2),
        (base64.urlsafe_b64encode(b"\xff\xfe").decode(), 1),  # not UTF-8
        (base64.urlsafe_b64encode(b"{not json").decode(), 1),
        (forged({"a": 1}), 1),
        (forged("text"), 1),
        (forged(["a"]), 2),
        (forged(["a", "b", "c"]), 2),
        (forged([True, "id"]), 2),
        (forged([1.5, "id"]), 2),
        (forged([None, "id"]), 2),
        (forged([["nested"], "id"]), 2),
        (forged([2**53 + 1, "id"]), 2),
        (forged([-(2**53) - 1, "id"]), 2),
        (forged(["x" * 1001, "id"]), 2),
        (forged(["a\x00b", "id"]), 2),
    ],
)
def test_a_cursor_the_service_did_not_write_is_refused(cursor: str, size: int) -> None:
    with pytest.raises(BadCursor) as refused:
        decode_cursor(cursor, size)
    assert str(refused.value) == "Invalid cursor."


def test_the_bounds_themselves_are_accepted() -> None:
    edge = [2**53, -(2**53), "x" * 1000]
    assert decode_cursor(forged(edge), 3) == edge
    assert decode_cursor(forged(edge).rstrip("="), 3) == edge  # padding is optional


def test_a_time_sort_reads_its_value_as_a_moment() -> None:
    moment = cursor_value("updated_at", "2027-01-02T03:04:05.000006Z")
    assert moment == datetime(2027, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert cursor_value("title", 7) == 7  # other sorts keep the value as it is
    for bad in (7, "yesterday"):
        with pytest.raises(BadCursor) as refused:
            cursor_value("updated_at", bad)
        assert str(refused.value) == "Invalid cursor."

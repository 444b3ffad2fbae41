"""What a request's token check showed current, for the aggregate cache to rely on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar, Token
from typing import Any, NamedTuple


class Freshness(NamedTuple):  # a NamedTuple: made on every request, half a dataclass's cost
    """The head of the event store a check read, in the epoch of the stamps it was read for
    (`owner`: a freshness read for another process's cache counts for nothing)."""

    owner: Any
    head: int
    epoch: int


# The freshness of the work under way in this thread (a request, between its check and its
# end); None outside such work, where every load fast-forwards as eventsourcing does.
_current: ContextVar[Freshness | None] = ContextVar("twinning_freshness", default=None)


def current_freshness() -> Freshness | None:
    return _current.get()


def enter(freshness: Freshness | None) -> Token[Freshness | None]:
    """Loads from here on may rely on `freshness`, until `leave` with the token returned."""
    return _current.set(freshness)


def leave(token: Token[Freshness | None]) -> None:
    """Back to the freshness before `enter` (None outside any work)."""
    try:
        _current.reset(token)
    except ValueError:  # entered in another context (a copied one): end it here all the same
        _current.set(None)


@contextlib.contextmanager
def reading_at(freshness: Freshness | None) -> Iterator[None]:
    """Loads inside the block may rely on `freshness`."""
    token = enter(freshness)
    try:
        yield
    finally:
        leave(token)

"""The per-process read cache: what the service uses of it.

`ReadCache` checks a request's token and keeps accounts, rendered initiatives and list
pages; `AggregateStamps` lets the application's aggregate cache rely on the check; the work
of a request relies on it inside `reading_at(check.freshness)` (or `enter`/`leave`)."""

from service.infrastructure.readcache.aggregates import AggregateStamps, CheckedRepository
from service.infrastructure.readcache.cache import ReadCache, Rendered, TokenCheck
from service.infrastructure.readcache.checks import CHECK_APPLICATION
from service.infrastructure.readcache.freshness import Freshness, enter, leave, reading_at

__all__ = [
    "CHECK_APPLICATION",
    "AggregateStamps",
    "CheckedRepository",
    "Freshness",
    "ReadCache",
    "Rendered",
    "TokenCheck",
    "enter",
    "leave",
    "reading_at",
]

"""Where rate-limit counters live (TWINNING_RATE_LIMIT_STORAGE), and what happens when that
place is away.

memory:// counts per process: with several gunicorn workers (or hosts) each has its own
budget, so a warning says so at start. redis:// shares the counters between every process.
When Redis does not answer, limits fall back to per-process counters with a loud log line
rather than refusing every login or stopping the worker: an outage of a cache must not
become an outage of the service, and per-process limits still slow guessing down. Redis is
tried again a few seconds later, and used again as soon as it answers.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from limits import RateLimitItem
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger("twinning.limits")

# An unreachable Redis costs a login at most this long (the redis client waits forever by
# default), and is then skipped for RETRY_SECONDS.
SOCKET_TIMEOUT = 1.0
RETRY_SECONDS = 5.0


def is_shared(uri: str) -> bool:
    return not uri.startswith("memory://")


def storage_options(uri: str) -> dict[str, Any]:
    """Options for the `limits` storage of `uri` (flask-limiter's `storage_options` too)."""
    if uri.startswith(("redis://", "rediss://")):
        return {"socket_connect_timeout": SOCKET_TIMEOUT, "socket_timeout": SOCKET_TIMEOUT}
    return {}


def describe(uri: str) -> str:
    """The storage URI without its password (redis://:secret@host/0 → redis://***@host/0)."""
    scheme, _, rest = uri.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return f"{scheme}://{rest}"


def warn_at_start(uri: str, limited: bool) -> None:
    """One line at start about where the limits are counted (nothing when none are set)."""
    if not limited:
        return
    if not is_shared(uri):
        log.warning(
            "rate limits are counted per process (TWINNING_RATE_LIMIT_STORAGE=memory://): "
            "each gunicorn worker and each host has its own budget; set "
            "TWINNING_RATE_LIMIT_STORAGE=redis://host:6379/0 to share them"
        )


class SharedWindow:
    """A moving-window limiter on the configured storage, per process while it is away."""

    def __init__(self, uri: str, prefix: str) -> None:
        self.uri = uri
        self.prefix = prefix
        self.storage: Storage = storage_from_string(
            uri, wrap_exceptions=True, **storage_options(uri)
        )
        self.window = MovingWindowRateLimiter(self.storage)
        self.fallback = MovingWindowRateLimiter(MemoryStorage())
        self._lock = threading.Lock()
        self._away_until = 0.0
        if is_shared(uri) and not self._answers():
            log.error(
                "the rate-limit storage %s does not answer: login limits are counted per "
                "process until it does",
                describe(uri),
            )
            self._away_until = time.monotonic() + RETRY_SECONDS

    def _answers(self) -> bool:
        try:
            return bool(self.storage.check())
        except Exception:  # any failure to reach it means the same: not there now
            return False

    def _limiter(self) -> MovingWindowRateLimiter:
        return self.fallback if time.monotonic() < self._away_until else self.window

    def _away(self, error: Exception) -> None:
        with self._lock:
            if time.monotonic() >= self._away_until:
                log.error(
                    "the rate-limit storage %s failed (%s): login limits are counted per "
                    "process for %.0f s",
                    describe(self.uri),
                    type(error).__name__,
                    RETRY_SECONDS,
                )
            self._away_until = time.monotonic() + RETRY_SECONDS

    def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        """Counts one hit; False when it is over the limit."""
        limiter = self._limiter()
        try:
            return limiter.hit(item, self.prefix, *identifiers)
        except StorageError as error:
            self._away(error)
            return self.fallback.hit(item, self.prefix, *identifiers)

    def reset_at(self, item: RateLimitItem, *identifiers: str) -> float:
        """When the window of `identifiers` has room again (epoch seconds)."""
        limiter = self._limiter()
        try:
            return float(limiter.get_window_stats(item, self.prefix, *identifiers).reset_time)
        except StorageError as error:
            self._away(error)
            return time.time() + item.get_expiry()

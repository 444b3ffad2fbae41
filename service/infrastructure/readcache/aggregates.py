"""The aggregate cache of commands: a cached aggregate is used without fetching newer events
when the request's check shows it current (docs/PERFORMANCE.md, item 14)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from copy import deepcopy
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    LRUCache,
    Repository,
    project_aggregate,
)
from eventsourcing.persistence import Recording

from service.infrastructure.readcache.freshness import Freshness, current_freshness

# How many aggregates' latest versions are followed (about 150 bytes each) before a new
# epoch starts afresh: what was shown current is then fast-forwarded once more.
VERSIONS_KEPT = 20_000


class Change(NamedTuple):
    """An event of the store, named by its aggregate and version."""

    aggregate_id: UUID
    version: int


class _Stamp(NamedTuple):
    """A cached object holds every event of its aggregate up to `upto` (seen in `epoch`)."""

    cached: Any
    upto: int
    epoch: int


class AggregateStamps:
    """What this process knows of the aggregates it caches: from `since` (a head), the latest
    version of every aggregate the events after it were about, and which cached objects hold
    every event of theirs up to a position. A new epoch begins when those versions are not
    all known (the first look, a gap too wide, too many of them).

    It builds the application's repository (`repository_for`) and hears of its saves
    (domain.application.SaveObserver)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.epoch = 0
        self._lock = threading.Lock()
        self._since: int | None = None
        self._versions: dict[UUID, int] = {}
        self._stamps: OrderedDict[UUID, _Stamp] = OrderedDict()
        self._repository: CheckedRepository | None = None

    def repository_for(self, built: Repository[UUID]) -> Repository[UUID]:
        """The application's repository: `built` (eventsourcing's) when either cache is off
        or eventsourcing's cache does not fast-forward and copy, else a `CheckedRepository`."""
        cache = built.cache
        if (
            not self.size
            or not isinstance(cache, LRUCache)
            or not built.fastforward
            or built.fastforward_skipping
            or not built.deepcopy_from_cache
        ):
            return built
        self._repository = CheckedRepository(
            self,
            event_store=built.event_store,
            snapshot_store=built.snapshot_store,
            cache_maxsize=cache.maxsize,
            fastforward=True,
        )
        return self._repository

    def freshness(self, head: int) -> Freshness | None:
        """What a check that read `head` (and was taken in) lets loads rely on."""
        return Freshness(self, head, self.epoch) if self.size else None

    # ------------------------------------------------------------- the store's changes
    def new_epoch(self, head: int) -> None:
        with self._lock:
            self._new_epoch(head)

    def _new_epoch(self, head: int) -> None:
        self.epoch += 1
        self._since = head
        self._versions.clear()
        self._stamps.clear()

    def changed(self, changes: Iterable[Change], head: int) -> None:
        """The events up to `head` since the last look were `changes`."""
        with self._lock:
            versions = self._versions
            for key, version in changes:
                if version > versions.get(key, -1):
                    versions[key] = version
            if len(versions) > VERSIONS_KEPT:
                self._new_epoch(head)

    # ---------------------------------------------------------------------- stamps
    def is_current(self, aggregate_id: UUID, cached: Any) -> bool:
        """Whether the cached object holds every event of its aggregate up to this process's
        head: stamped in this epoch at or after its start, no newer version seen since."""
        with self._lock:
            stamp = self._stamps.get(aggregate_id)
            current = (
                stamp is not None
                and stamp.cached is cached
                and stamp.epoch == self.epoch
                and self._since is not None
                and stamp.upto >= self._since
                and cached.version >= self._versions.get(aggregate_id, -1)
            )
            if current:
                self._stamps.move_to_end(aggregate_id)
            return current

    def stamp(self, aggregate_id: UUID, cached: Any, upto: int, epoch: int) -> None:
        """The cached object holds every event of its aggregate up to `upto` (a request of
        `epoch` saw it so)."""
        with self._lock:
            if epoch != self.epoch:
                return
            self._stamps[aggregate_id] = _Stamp(cached, upto, epoch)
            self._stamps.move_to_end(aggregate_id)
            while len(self._stamps) > self.size:
                self._stamps.popitem(last=False)

    # ------------------------------------------------------------------ SaveObserver
    def saved(self, aggregates: Mapping[UUID, Any], recordings: Sequence[Recording[UUID]]) -> None:
        if self._repository is not None:
            self._repository.saved(aggregates, recordings)

    def conflicted(self, tried: Mapping[UUID, int]) -> None:
        """An insert failed on a version: the store holds each aggregate at least at the
        version it tried (a copy loaded before the conflict must not pass for current)."""
        with self._lock:
            for aggregate_id, version in tried.items():
                self._stamps.pop(aggregate_id, None)
                if version > self._versions.get(aggregate_id, -1):
                    self._versions[aggregate_id] = version


class CheckedRepository(Repository[UUID]):
    """eventsourcing's repository, fast-forwarding a cached aggregate only when the work
    under way (`freshness.reading_at`) cannot show it current, and keeping what each save
    recorded. What the cache holds is never changed in place: a fast-forward works on a
    copy, so a copy being taken never meets a half-applied event. Without a freshness (the
    projector, the command line) every load fast-forwards, as eventsourcing does."""

    def __init__(self, stamps: AggregateStamps, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stamps = stamps

    def _freshness(self) -> Freshness | None:
        fresh = current_freshness()
        return fresh if fresh is not None and fresh.owner is self.stamps else None

    def get(  # type: ignore[override]
        self,
        aggregate_id: UUID,
        *,
        version: int | None = None,
        projector_func: Any = project_aggregate,
        fastforward_skipping: bool = False,
        deepcopy_from_cache: bool = True,
    ) -> Any:
        cache = self.cache
        if version is not None or cache is None:
            return super().get(
                aggregate_id,
                version=version,
                projector_func=projector_func,
                fastforward_skipping=fastforward_skipping,
                deepcopy_from_cache=deepcopy_from_cache,
            )
        fresh = self._freshness()
        cached = _cached(cache, aggregate_id)
        if cached is None:
            # Private, but the public get() would fast-forward a cached copy in place.
            kept = self._reconstruct_aggregate(aggregate_id, None, projector_func)
        elif fresh is not None and self.stamps.is_current(aggregate_id, cached):
            return deepcopy(cached)
        else:  # fast-forwarded on a copy
            events = self.event_store.get(originator_id=aggregate_id, gt=cached.version)
            kept = projector_func(deepcopy(cached), events)
            if kept is None:
                raise AggregateNotFoundError(aggregate_id)
        cache.put(aggregate_id, kept)
        if fresh is not None:  # read after the check: every event up to its head
            self.stamps.stamp(aggregate_id, kept, fresh.head, fresh.epoch)
        return deepcopy(kept)

    def saved(self, aggregates: Mapping[UUID, Any], recordings: Sequence[Recording[UUID]]) -> None:
        """A copy of each aggregate a save recorded, stamped with its last event's position
        (its insert succeeding means no other event of it comes earlier)."""
        fresh = self._freshness()
        cache = self.cache
        if fresh is None or cache is None:
            return
        last: dict[UUID, int] = {}
        for recording in recordings:
            key = recording.domain_event.originator_id
            last[key] = max(last.get(key, 0), recording.notification.id)
        for key, aggregate in aggregates.items():
            if key in last:
                kept = deepcopy(aggregate)
                cache.put(key, kept)
                self.stamps.stamp(key, kept, last[key], fresh.epoch)


def _cached(cache: Any, aggregate_id: UUID) -> Any:
    try:
        return cache.get(aggregate_id)
    except KeyError:
        return None

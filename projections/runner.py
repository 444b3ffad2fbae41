"""One runner for every view: catch up in batches, follow live, rebuild and swap.

Each batch is one transaction on the read-view database: the rows of every document the
batch changed and the view's new position are committed together, so an event is applied
exactly once even when the process dies at any instant or two projectors race.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from eventsourcing.persistence import IntegrityError

from domain.application import Twinning
from projections import tracking
from projections.live import Leases, PostgresListener
from projections.registry import LIVE, VIEWS
from projections.view import View, iso

log = logging.getLogger("twinning.projections")

Progress = Callable[[int, int], None]  # (position reached, head)
REBUILD_BATCH = 20000
# Without a NOTIFY, look anyway this often (a missed notification costs at most this).
LISTEN_TIMEOUT = 2.0
ANALYZE_AFTER = 20_000  # events applied in one catch-up
# A standby projector tries for the leases it lacks this often.
LEASE_RETRY = 1.0


@dataclass(frozen=True)
class Target:
    """A view, the tables it is written to, and the name its position is tracked under."""

    view: View
    tables: dict[str, sa.Table]
    tracking_name: str
    # In a rebuild the tables start empty: the ids stored so far are all that can be loaded,
    # so a batch looks up only those (None: unknown, look every id up).
    stored: set[str] | None = None


class Projector:
    """Applies the notification log to the read views."""

    def __init__(self, app: Twinning, engine: sa.Engine, batch_size: int = 2000) -> None:
        self.app = app
        self.engine = engine
        self.batch_size = batch_size
        self.tracking = tracking.SqlTrackingRecorder(engine)

    # ---------------------------------------------------------------- positions
    def head(self) -> int:
        return int(self.app.recorder.max_notification_id() or 0)

    def positions(self) -> dict[str, int]:
        known = self.tracking.positions()
        return {view.name: known.get(view.name, 0) for view in VIEWS}

    # ------------------------------------------------------------------ batches
    def apply_batch(self, conn: sa.Connection, targets: list[Target], limit: int) -> int:
        """Applies the next notifications to the targets inside `conn`'s transaction.

        The notifications are read and decoded once for every target; each target starts
        from its own position. Returns how many notifications were read.
        """
        # Lock the positions first: a racing projector waits here, then starts from where
        # this one ended instead of colliding with its rows.
        for target in sorted(targets, key=lambda t: t.tracking_name):
            tracking.lock(conn, target.tracking_name)
        positions = [tracking.position_of(conn, t.tracking_name) or 0 for t in targets]
        start = min(positions)
        notifications = self.app.recorder.select_notifications(start=start + 1, limit=limit)
        if not notifications:
            return 0
        decoded: dict[int, Any] = {}
        for target, position in zip(targets, positions, strict=True):
            prefix = target.view.aggregate
            events = []
            for notification in notifications:
                if notification.id <= position:
                    continue
                if notification.topic.rsplit(":", 1)[-1].startswith(prefix):
                    event = decoded.get(notification.id)
                    if event is None:
                        event = decoded[notification.id] = self.app.mapper.to_domain_event(
                            notification
                        )
                    events.append((notification, event))
            if notifications[-1].id > position:
                target.view.apply(conn, target.tables, events, self.app, target.stored)
                tracking.advance(conn, target.tracking_name, notifications[-1].id)
        return len(notifications)

    def step(self, views: list[View] | None = None) -> int:
        """One batch for the live views, in one transaction; 0 when they are caught up."""
        targets = [Target(view, LIVE[view.name], view.name) for view in views or VIEWS]
        try:
            with self.engine.begin() as conn:
                return self.apply_batch(conn, targets, self.batch_size)
        except (IntegrityError, sa.exc.IntegrityError):
            log.warning("another projector applied this batch first")
            return 0

    def catch_up(self, views: list[View] | None = None) -> int:
        """Applies everything recorded so far to the views; returns how many were read."""
        total = 0
        while True:
            done = self.step(views)
            total += done
            if done < self.batch_size:
                if total >= ANALYZE_AFTER:
                    self.analyze()
                return total

    def analyze(self) -> None:
        """Refreshes the planner's statistics after a large change (PostgreSQL): without
        them it may sort a whole filtered view instead of walking an index."""
        if self.engine.dialect.name != "postgresql":
            return
        with self.engine.begin() as conn:
            for tables in LIVE.values():
                for table in tables.values():
                    conn.execute(sa.text(f'ANALYZE "{table.name}"'))

    # --------------------------------------------------------------------- live
    def run(
        self,
        stop: threading.Event,
        poll_interval: float = 0.1,
        views: list[View] | None = None,
        on_change: Callable[[list[str]], None] | None = None,
        chore: Callable[[list[View]], None] | None = None,
    ) -> None:
        """Follows the log until `stop` is set: LISTEN/NOTIFY on PostgreSQL, polling else.
        `chore` is called after each catch-up with the views this process is active for
        (the service's periodic work, such as retention, decides itself how often to run).

        On PostgreSQL several projectors may run: each view is applied only by the one
        holding its advisory lock (`Leases`); the others stand by and take over within
        `LEASE_RETRY` seconds when it dies. Exactly-once does not rest on the lock: the
        positions are locked and advanced in each batch's transaction either way.
        """
        wanted = views or VIEWS
        leases = self._leases(wanted)
        listener = self._listener()
        if listener is not None:
            listener(0)  # LISTEN before the first catch-up, so no notification falls between
        active: list[View] = wanted
        reported: list[str] | None = None  # the views this process was last active for
        try:
            while not stop.is_set():
                if leases is not None:
                    active = leases.acquire()
                    names = [v.name for v in active]
                    if names != reported:
                        reported = names
                        log.info("active for views: %s", ", ".join(names) or "none")
                        if on_change is not None:
                            on_change(names)
                    if not active:
                        stop.wait(LEASE_RETRY)
                        continue
                try:
                    self.catch_up(active)
                except Exception:  # keep following: the database may come back
                    log.exception("projection batch failed; retrying")
                    stop.wait(1.0)
                    continue
                if chore is not None:
                    chore(active)
                if listener is not None:
                    standing_by = len(active) < len(wanted)
                    listener(LEASE_RETRY if standing_by else LISTEN_TIMEOUT)
                else:
                    stop.wait(poll_interval)
        finally:
            for resource in (listener, leases):
                close = getattr(resource, "close", None)
                if close is not None:
                    close()

    def _leases(self, views: list[View]) -> Leases | None:
        if getattr(self.app.recorder, "channel_name", None) is None:
            return None  # SQLite: one writer at a time anyway; positions keep it exact
        return Leases(self.app, views)

    def _listener(self) -> Any:
        channel = getattr(self.app.recorder, "channel_name", None)
        if channel is None:
            return None
        return PostgresListener(self.app, channel)

    # ------------------------------------------------------------------ rebuild
    def rebuild(self, views: list[View] | View, progress: Progress | None = None) -> int:
        """Rebuilds views into fresh tables while the old ones serve, then swaps them in.

        The events are read and decoded once for all the views rebuilt together.
        """
        views = [views] if isinstance(views, View) else views
        suffix = f"__r{uuid.uuid4().hex[:8]}"
        metadata = sa.MetaData()
        targets = [
            Target(v, v.define(metadata, suffix), f"{v.name}{suffix}", stored=set()) for v in views
        ]
        # Loaded without their read indexes, indexed once at the end (docs/PERFORMANCE.md,
        # item 21); the indexes the load uses (primary keys, `ref`) come with the tables.
        deferred = []
        for target in targets:
            for table in target.tables.values():
                for index in list(table.indexes):
                    if not (index.name or "").endswith("_ref"):
                        table.indexes.discard(index)
                        deferred.append(index)
        metadata.create_all(self.engine)
        head = self.head()
        batch = max(self.batch_size, REBUILD_BATCH)
        try:
            position = 0
            while position < head:
                with self.engine.begin() as conn:
                    if not self.apply_batch(conn, targets, batch):
                        break
                    position = tracking.position_of(conn, targets[0].tracking_name) or 0
                if progress:
                    progress(position, head)
            with self.engine.begin() as conn:
                for index in deferred:
                    index.create(conn)
                for target in targets:
                    tracking.lock(conn, target.view.name)
                while self.apply_batch(conn, targets, batch):
                    pass
                position = tracking.position_of(conn, targets[0].tracking_name) or 0
                for target in targets:
                    for key, live in LIVE[target.view.name].items():
                        live.drop(conn, checkfirst=True)
                        fresh = target.tables[key].name
                        conn.execute(sa.text(f'ALTER TABLE "{fresh}" RENAME TO "{live.name}"'))
                    tracking.reset(conn, target.view.name, position)
                    tracking.reset(conn, target.tracking_name, None)
            self.analyze()
            if progress:
                progress(position, max(head, position))
            return position
        except BaseException:
            with contextlib.suppress(Exception):
                metadata.drop_all(self.engine)
                with self.engine.begin() as conn:
                    for target in targets:
                        tracking.reset(conn, target.tracking_name, None)
            raise

    def checksums(self) -> dict[str, str]:
        """A digest of each live view's contents, to compare with a fresh rebuild."""
        digests = {}
        with self.engine.connect() as conn:
            for name, tables in LIVE.items():
                digest = hashlib.sha256()
                for key in sorted(tables):
                    table = tables[key]
                    columns = sorted(table.c, key=lambda c: c.name)
                    rows = conn.execute(sa.select(*columns).order_by(*columns))
                    digest.update(key.encode())
                    for row in rows:
                        digest.update(repr(tuple(_plain(v) for v in row)).encode())
                digests[name] = digest.hexdigest()
        return digests

    def wait(self, position: int, timeout: float) -> bool:
        """Waits until every view has processed `position`; False when the time runs out."""
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            if min(self.positions().values()) >= position:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.2)


def _plain(value: Any) -> Any:
    # SQLite hands back naive datetimes, PostgreSQL aware ones: compare them as UTC text.
    if isinstance(value, datetime):
        return iso(value)
    return value

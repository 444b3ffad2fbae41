"""What a process has loaded or rendered, kept while the event store shows nothing newer.

Every request's token check also reads the store's head; when it has moved since this process
last looked, the events in between name the aggregates that changed, and only those entries
are dropped. So an entry in use is never older than the head its request observed
(docs/PERFORMANCE.md, items 6 and 14)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from domain.account import Account
from domain.application import Twinning
from domain.values import Caller
from service.config import Database
from service.infrastructure.availability import Availability
from service.infrastructure.credentials import live_account
from service.infrastructure.keys import DatabaseKeyring
from service.infrastructure.readcache import checks
from service.infrastructure.readcache.aggregates import AggregateStamps, Change
from service.infrastructure.readcache.freshness import Freshness

# How many list pages are kept (each at the list view's position).
PAGES = 256
# Rendered initiatives kept per initiative (one per distinct caller: organisation and roles).
CALLERS_PER_INITIATIVE = 8


@dataclass(frozen=True)
class TokenCheck:
    """A token as the database holds it now, and the head of the event store then."""

    account_id: str | None
    head: int
    # How far the list view had got (None when it has no position yet).
    list_position: int | None = None
    # What the aggregate cache may rely on; None when this process keeps no cache.
    freshness: Freshness | None = None


class Rendered(NamedTuple):
    """An initiative as one caller sees it, at a version."""

    version: int
    body: Any


class _Page(NamedTuple):
    position: int
    body: str


class ReadCache:
    """Accounts, rendered initiatives and list pages of one process, kept true to the event
    store's head and the list view's position. `size` bounds accounts and initiatives (and
    the aggregates `stamps` follows); 0 turns the cache off.

    An entry is stored only if no newer head was taken in while it was being loaded (a load
    that started before an event could miss it after the events naming it were handled)."""

    def __init__(
        self,
        app: Twinning,
        database: Database,
        stamps: AggregateStamps,
        availability: Availability,
        keyring: DatabaseKeyring | None = None,
    ) -> None:
        self.app = app
        self.keyring = keyring
        self.stamps = stamps
        self.size = stamps.size
        self.head: int | None = None
        self._lock = threading.Lock()
        self._accounts: OrderedDict[UUID, Account] = OrderedDict()
        self._bodies: OrderedDict[UUID, dict[Caller, Rendered]] = OrderedDict()
        self._pages: OrderedDict[str, _Page] = OrderedDict()
        recorder: Any = app.recorder
        self._check: checks.PostgresCheck | checks.SqliteCheck
        if database.kind == "postgres":
            self._check = checks.PostgresCheck(recorder, database.schema or None, availability)
        else:
            assert database.views_path is not None and database.events_path is not None
            self._check = checks.SqliteCheck(
                database.views_path, database.events_path, recorder.events_table_name
            )

    def close(self) -> None:
        self._check.close()

    def check_token(self, digest: str, now: datetime) -> TokenCheck:
        """The live token's account (None when unknown, expired or revoked), the head of
        the event store and the list view's position, read in one statement; the cache is
        brought up to that head."""
        after = self.head
        row = self._check.row(digest, after)
        if row is None:
            return TokenCheck(None, self.head or 0)  # refused: nothing is read
        head = int(row["head"] or 0)
        changed = row.get("changed")
        self.advance(head, after, None if changed is None else map(checks.change_of, changed))
        listed = None if row["list_position"] is None else int(row["list_position"])
        return TokenCheck(live_account(row, digest, now), head, listed, self.stamps.freshness(head))

    def advance(
        self, head: int, after: int | None = None, changed: Iterable[Change] | None = None
    ) -> None:
        """Drops what changed between the last head this process saw and `head`.

        `changed` names the aggregates of the events after `after`
        up to `head`, when the check read them with the head (PostgreSQL): used when they
        cover what is to be dropped, else the store is asked."""
        known = None if changed is None else list(changed)  # read again when the loop retries
        while self.size:
            last = self.head
            if last is not None and head <= last:
                return  # this head, or a newer one, was taken in already
            names: list[Change] | None = None
            if last is not None and head - last <= checks.MAX_GAP:
                covered = known is not None and after is not None and after <= last
                # The store is asked outside the lock: loads and commands go on meanwhile.
                names = known if covered else self._check.changed(last, head)
            with self._lock:
                if self.head != last:
                    continue  # another request moved the head first: start from its head
                # An account erased by another process named here: its data key, which
                # this process may hold in its key cache, is read (as destroyed) again.
                if names is None:
                    self._accounts.clear()
                    self._bodies.clear()
                    self.stamps.new_epoch(head)
                    if self.keyring is not None:
                        self.keyring.forget_all()
                else:
                    for key, _version in names:
                        self._accounts.pop(key, None)
                        self._bodies.pop(key, None)
                        if self.keyring is not None:
                            self.keyring.forget(str(key))
                    self.stamps.changed(names, head)
                self.head = head
                return

    # ------------------------------------------------------------------ entries
    def account(self, account_id: UUID, head: int | None) -> Account:
        """The account as of `head` or later (raises NotFound like the application); with
        no head checked, straight from the store."""
        if head is None:
            return self.app.account(account_id)
        with self._lock:
            account = self._accounts.get(account_id)
            if account is not None:
                self._accounts.move_to_end(account_id)
                return account
        account = self.app.account(account_id)
        with self._lock:
            if self.size and self.head == head:  # else a newer head came in while loading
                self._accounts[account_id] = account
                self._accounts.move_to_end(account_id)
                while len(self._accounts) > self.size:
                    self._accounts.popitem(last=False)
        return account

    def initiative_body(
        self,
        initiative_id: UUID,
        caller: Caller,
        head: int | None,
        render: Callable[[], tuple[int, Any]],
    ) -> Rendered:
        """The current initiative as `caller` sees it; `render` loads and renders it when
        this process has no rendering as of `head` or later (with no head checked, always)."""
        if head is None:
            return Rendered(*render())
        key = Caller(caller.account_id, caller.organisation_id, caller.roles)
        with self._lock:
            seen = self._bodies.get(initiative_id)
            if seen is not None and key in seen:
                self._bodies.move_to_end(initiative_id)
                return seen[key]
        rendered = Rendered(*render())
        with self._lock:
            if self.size and self.head == head:
                seen = self._bodies.setdefault(initiative_id, {})
                if len(seen) >= CALLERS_PER_INITIATIVE:
                    seen.pop(next(iter(seen)))
                seen[key] = rendered
                self._bodies.move_to_end(initiative_id)
                while len(self._bodies) > self.size:
                    self._bodies.popitem(last=False)
        return rendered

    def page(self, key: str, position: int | None, render: Callable[[], Any]) -> Any:
        """A page of the list view at `position` or later. One kept under `position` serves
        requests that read that same position (rows and position are written in one
        transaction); `render` reads it otherwise (never older), and text bodies are kept."""
        if position is None or not self.size:
            return render()
        with self._lock:
            hit = self._pages.get(key)
            if hit is not None and hit.position == position:
                self._pages.move_to_end(key)
                return hit.body
        body = render()
        if isinstance(body, str):
            with self._lock:
                self._pages[key] = _Page(position, body)
                self._pages.move_to_end(key)
                while len(self._pages) > PAGES:
                    self._pages.popitem(last=False)
        return body

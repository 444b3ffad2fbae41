"""The per-process objects the service runs on: the application, the engine, the credentials.

Built lazily on first use, so under gunicorn each worker builds its own after the fork.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from uuid import UUID

import sqlalchemy as sa
from argon2 import PasswordHasher
from eventsourcing.persistence import IntegrityError
from flask import Flask, current_app
from sqlalchemy import event as sa_event
from sqlalchemy.pool import ConnectionPoolEntry

from domain.account import Account
from domain.application import Clock, Outcome, SaveObserver, Twinning, utcnow
from domain.errors import DuplicateEmail, NotFound
from domain.organisation import Organisation
from domain.personal import PersonalData
from domain.values import Actor, Role, system_actor
from projections.registry import create_tables as create_view_tables
from projections.runner import Projector
from service.config import Database, Settings
from service.infrastructure.availability import Availability, guard_event_store
from service.infrastructure.credentials import RESET_TTL, Credentials, IssuedToken
from service.infrastructure.keys import DatabaseKeyring, MasterKeys, lookup_key
from service.infrastructure.migration import refuse_clear_text
from service.infrastructure.observability import EventMetrics
from service.infrastructure.readcache import AggregateStamps, ReadCache

PLATFORM_ORGANISATION = "Platform administration"
PLATFORM_ORGANISATION_ID = uuid.uuid5(uuid.NAMESPACE_URL, "/twinning/organisations/platform")


def _sqlite_pragmas(heap_mib: int) -> Callable[[object, ConnectionPoolEntry], None]:
    """The views' connections' settings. The heap limit is the process's, over every SQLite
    connection it has (the event store's and the read checks' too): without it each
    connection keeps up to 2 MB of pages, and a worker's threads times its pools' connections
    add up to tens of MB once the data outgrows them (docs/PERFORMANCE.md, item 20)."""

    def apply(dbapi_connection: object, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA soft_heap_limit={heap_mib * 1024 * 1024}")
        cursor.close()

    return apply


# Errors (and their log lines) never show a statement's bound values: they hold token
# digests, emails and personal data.
HIDE_PARAMETERS = True


def make_engine(database: Database, settings: Settings) -> sa.Engine:
    if database.kind == "sqlite":
        assert database.views_path is not None
        database.views_path.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            database.sqlalchemy_url(),
            connect_args={"check_same_thread": False, "timeout": 30},
            hide_parameters=HIDE_PARAMETERS,
        )
        sa_event.listen(engine, "connect", _sqlite_pragmas(settings.sqlite_heap_mib))
        return engine
    connect_args = {"connect_timeout": 5}
    if database.schema:
        connect_args["options"] = f"-csearch_path={database.schema}"  # type: ignore[assignment]
    return sa.create_engine(
        database.sqlalchemy_url(),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_pre_ping=True,
        pool_recycle=600,
        connect_args=connect_args,
        hide_parameters=HIDE_PARAMETERS,
    )


def prepare_database(engine: sa.Engine, database: Database) -> None:
    """Connects once (failing fast when the server is unreachable) and creates the schema."""
    with engine.begin() as conn:
        if database.kind == "postgres" and database.schema:
            conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{database.schema}"'))


@contextlib.contextmanager
def schema_lock(engine: sa.Engine, database: Database) -> Iterator[None]:
    """One process at a time creates (or checks) the tables of a PostgreSQL schema:
    eventsourcing's `CREATE OR REPLACE FUNCTION` fails with "tuple concurrently updated" when
    processes starting together (gunicorn workers, projectors) run it at the same moment."""
    if database.kind != "postgres":
        yield
        return
    digest = hashlib.sha256(f"twinning-schema:{database.schema}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": key})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            conn.commit()


class Runtime:
    """One process's application, database engine and credential store; `clock` is the one
    the service reads time from (`now`), `observers` hear of every save."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = utcnow,
        observers: Sequence[SaveObserver] = (),
        earlier_release: bool = False,
    ) -> None:
        """`earlier_release`: open a store an earlier release wrote (personal data in
        clear) instead of refusing it: only to read its positions and initiatives (the
        benchmarks compare against such a release)."""
        self.settings = settings
        self.database = settings.database
        if self.database.kind == "sqlite":
            assert self.database.events_path is not None
            self.database.events_path.parent.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(self.database, settings)
        # Requests read the views one statement at a time: in autocommit, each statement
        # sees the latest commits and no transaction needs ending.
        self.reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.availability = Availability(self.engine)
        hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib
        )
        with schema_lock(self.engine, self.database):
            prepare_database(self.engine, self.database)
            self.stamps = AggregateStamps(settings.aggregate_cache)
            self.keyring = DatabaseKeyring(
                self.engine, MasterKeys(settings.master_key, settings.previous_master_key)
            )
            self.keyring.create_table()
            self.keyring.check()
            self.app = Twinning(
                env=self.database.eventsourcing_env(settings),
                snapshot_interval=settings.snapshot_interval,
                clock=clock,
                repository=self.stamps.repository_for,
                observers=(self.stamps, *observers),
                personal=PersonalData(self.keyring, lookup_key(settings)),
            )
            if not earlier_release:  # a store of an earlier release: migrate it first
                refuse_clear_text(self.app)
            self.credentials = Credentials(
                self.engine, hasher, timedelta(hours=settings.token_ttl_hours)
            )
            self.credentials.create_tables()
            create_view_tables(self.engine)
        if self.database.kind == "postgres":
            guard_event_store(self.app.recorder.datastore, self.availability)  # type: ignore[attr-defined]
        self.read_cache = ReadCache(
            self.app, self.database, self.stamps, self.availability, self.keyring
        )
        self.projector = Projector(self.app, self.engine, batch_size=settings.projection_batch)

    def now(self) -> datetime:
        """The time, as the service reads it everywhere: the application's clock."""
        return self.app.clock()

    def close(self) -> None:
        self.read_cache.close()
        self.app.close()
        self.engine.dispose()

    def platform_organisation(self) -> Organisation:
        """The organisation administrators belong to, created once whoever asks first."""
        try:
            return self.app.organisation(PLATFORM_ORGANISATION_ID)
        except NotFound:
            pass
        organisation = Organisation.register(
            PLATFORM_ORGANISATION, "other", "BE", system_actor(), id=PLATFORM_ORGANISATION_ID
        )
        with contextlib.suppress(IntegrityError):  # another process created it first
            self.app.save(organisation)
        return self.app.organisation(PLATFORM_ORGANISATION_ID)

    # Account commands whose secrets live in the credential store, shared by the API and
    # the console. Each records its event first, so that no change is missing from the log.
    def change_password(
        self, account: Account, new_password: str, request_id: str | None
    ) -> Outcome[Account]:
        """The holder's new password: every token of the account is revoked."""
        outcome = self.app.change_password(account.id, actor=account.as_self(request_id))
        self.credentials.set_password(str(account.id), new_password)
        self.credentials.revoke_all(str(account.id), self.now())
        return outcome

    def issue_password_reset(
        self, account_id: UUID, actor: Actor
    ) -> tuple[Outcome[Account], IssuedToken]:
        """A one-use reset for the account (NotFound for no account); only its digest is kept."""
        now = self.now()
        outcome = self.app.issue_password_reset(account_id, actor=actor, expires_at=now + RESET_TTL)
        return outcome, self.credentials.issue_reset(str(account_id), now)

    def deactivate(self, account_id: UUID, actor: Actor) -> Outcome[Account]:
        """Deactivates the account; its tokens stop working at once."""
        outcome = self.app.deactivate(account_id, actor=actor)
        self.credentials.revoke_all(str(account_id), self.now())
        return outcome

    def create_admin(self, email: str, password: str, name: str = "Administrator") -> str:
        """Creates an admin account; raises DuplicateEmail when the email is taken."""
        organisation = self.platform_organisation()
        outcome = self.app.register_account(
            actor=system_actor(),
            email=email,
            name=name,
            organisation_id=organisation.id,
            roles=[Role.ADMIN.value],
        )
        account_id = str(outcome.aggregate.id)
        self.credentials.set_password(account_id, password)
        return account_id

    def bootstrap_admin(self) -> None:
        """Creates the admin named by TWINNING_ADMIN_* when no account has that email."""
        email, password = self.settings.admin_email, self.settings.admin_password
        if not email or self.app.account_by_email(email) is not None:
            return
        with contextlib.suppress(DuplicateEmail):  # another worker was first
            self.create_admin(email, password)


_runtime_lock = threading.Lock()
RUNTIME_KEY = "twinning.runtime"
# app.config key of the clock the runtime is built with (tests set it; default: UTC now).
CLOCK_KEY = "TWINNING_CLOCK"


def runtime(app: Flask | None = None) -> Runtime:
    """This process's runtime, built on first use (after gunicorn has forked)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    built = app.extensions.get(RUNTIME_KEY)
    if built is None:
        with _runtime_lock:
            built = app.extensions.get(RUNTIME_KEY)
            if built is None:
                built = Runtime(
                    app.config["TWINNING_SETTINGS"],
                    clock=app.config.get(CLOCK_KEY, utcnow),
                    observers=(EventMetrics(),),
                )
                built.bootstrap_admin()
                app.extensions[RUNTIME_KEY] = built
    return built

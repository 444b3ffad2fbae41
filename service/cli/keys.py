"""Commands over the personal data keys: rotate the master key, see how keys are wrapped,
apply again the erasures recorded in the event store (after restoring a backup)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import click
from eventsourcing.utils import get_topic

from domain.account import Account
from domain.activity import Activity
from service.config import ConfigError, Settings
from service.infrastructure.keys import DatabaseKeyring, MasterKeys
from service.infrastructure.runtime import Runtime, make_engine, prepare_database

# Notifications read per query when looking for erasures.
ERASURE_PAGE = 1000


def open_keyring(settings: Settings) -> DatabaseKeyring:
    """The key table alone (no event store needed), or one line saying why not."""
    try:
        engine = make_engine(settings.database, settings)
        prepare_database(engine, settings.database)
        keyring = DatabaseKeyring(
            engine, MasterKeys(settings.master_key, settings.previous_master_key)
        )
        keyring.create_table()
    except Exception as error:  # any failure here is the database's: say so, in one line
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        click.echo(
            f"twinning: cannot open the database {settings.database.describe()}: {reason}",
            err=True,
        )
        sys.exit(2)
    return keyring


def _refuse(error: ConfigError) -> None:
    click.echo(f"twinning: configuration error: {error}", err=True)
    sys.exit(2)


@click.command("rotate-master-key")
def rotate_master_key() -> None:
    """Rewrap every personal data key with TWINNING_MASTER_KEY (the new key).

    Set TWINNING_PREVIOUS_MASTER_KEY to the old key (leave it unset when the keys were
    stored unwrapped, before any master key). The service may keep running meanwhile, as
    long as every process was restarted with both variables first.
    """
    from service.cli import load_settings

    settings = load_settings()
    if not settings.master_key:
        _refuse(ConfigError("TWINNING_MASTER_KEY must be set to the new master key"))
    keyring = open_keyring(settings)
    try:
        # A wrong TWINNING_PREVIOUS_MASTER_KEY stops here, before anything is written.
        keyring.check(warn=False)
        done = keyring.rotate()
        status = keyring.status()
    except ConfigError as error:
        _refuse(error)
    finally:
        keyring.engine.dispose()
    left = status["previous"] + status["unwrapped"] + status["unknown"]
    click.echo(f"twinning: {done} personal data keys rewrapped with TWINNING_MASTER_KEY")
    if left:
        # Made meanwhile by a process still running with the old settings.
        click.echo(
            f"twinning: {left} keys are still not wrapped with TWINNING_MASTER_KEY: restart "
            "every process with the new settings, then run this again",
            err=True,
        )
        sys.exit(1)


@click.group("keys")
def keys() -> None:
    """Personal data keys."""


@keys.command("status")
def keys_status() -> None:
    """How many data keys each master key wraps: the current (TWINNING_MASTER_KEY), the
    previous (TWINNING_PREVIOUS_MASTER_KEY), none (stored unwrapped), or another one."""
    from service.cli import load_settings

    keyring = open_keyring(load_settings())
    try:
        status = keyring.status()
    finally:
        keyring.engine.dispose()
    click.echo(f"wrapped with TWINNING_MASTER_KEY:          {status['current']}")
    click.echo(f"wrapped with TWINNING_PREVIOUS_MASTER_KEY: {status['previous']}")
    click.echo(f"unwrapped (stored before any master key):  {status['unwrapped']}")
    click.echo(f"wrapped with a key not configured:         {status['unknown']}")


def _recorded(rt: Runtime, topics: list[str]) -> Iterator[Any]:
    """Every stored notification of these topics, in order, a page at a time."""
    start = 1
    while True:
        page = rt.app.recorder.select_notifications(start, ERASURE_PAGE, topics=topics)
        yield from page
        if len(page) < ERASURE_PAGE:
            return
        start = page[-1].id + 1


def erased_subjects(rt: Runtime) -> list[str]:
    """The subjects of every account whose stream holds Account.Erased."""
    return [str(n.originator_id) for n in _recorded(rt, [get_topic(Account.Erased)])]


def erased_participants(rt: Runtime) -> list[str]:
    """The subjects (registration ids) of every participant erased one by one or shredded
    with the rest of an activity's."""
    topics = [get_topic(Activity.RegistrationErased), get_topic(Activity.ParticipantsShredded)]
    subjects: list[str] = []
    for notification in _recorded(rt, topics):
        event: Any = rt.app.mapper.to_domain_event(notification)
        shredded = getattr(event, "registration_ids", None)
        subjects += [event.registration_id] if shredded is None else list(shredded)
    return subjects


def reapply(rt: Runtime) -> tuple[int, int, int]:
    """Destroys again the key of every erased account (and forgets its credentials) and of
    every erased participant; returns (erased accounts, erased participants, keys that were
    still there). Safe to run any number of times."""
    accounts, participants = erased_subjects(rt), erased_participants(rt)
    destroyed = rt.keyring.destroy_many([*accounts, *participants])
    for subject in accounts:
        rt.credentials.forget(subject)
    return len(accounts), len(participants), destroyed


@click.command("reapply-erasures")
def reapply_erasures() -> None:
    """Destroy the data keys of every account and participant the event store records as
    erased.

    Run it after restoring the key table from a backup taken before some erasures: the
    restored keys would make those people's data readable again. Idempotent.
    """
    from service.cli import load_settings, open_runtime

    settings = load_settings()
    keyring = open_keyring(settings)
    try:
        # A key wrapped with a master key not configured is a configuration error.
        keyring.check()
    except ConfigError as error:
        _refuse(error)
    finally:
        keyring.engine.dispose()
    rt = open_runtime(settings)
    try:
        erased, participants, destroyed = reapply(rt)
    finally:
        rt.close()
    click.echo(
        f"twinning: {erased} erased accounts in the event store; {participants} erased "
        f"participants; {destroyed} of their keys were present and are now destroyed"
    )


COMMANDS = (rotate_master_key, keys, reapply_erasures)

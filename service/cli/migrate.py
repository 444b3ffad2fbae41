"""`twinning migrate-personal-data`: copies a store of an earlier release, which holds names
and emails in clear text, into a new, empty store with them sealed (docs/PRIVACY.md)."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import NoReturn

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from domain.application import Twinning
from service.config import ConfigError, Database
from service.infrastructure.migration import MigrationError, migrate, refuse_non_empty
from service.infrastructure.runtime import make_engine


def _files(database: Database) -> set[str]:
    paths = (database.events_path, database.views_path)
    return {str(path.resolve()) for path in paths if path is not None}


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"twinning: {message}", err=True)
    sys.exit(code)


@click.command("migrate-personal-data")
@click.option(
    "--to",
    "target_url",
    required=True,
    help="The new, empty store: sqlite:///path/to/events.sqlite or postgresql://...",
)
@click.option("--to-schema", default="", help="The new store's PostgreSQL schema.")
def migrate_personal_data(target_url: str, to_schema: str) -> None:
    """Copy the configured store (TWINNING_DATABASE_URL, TWINNING_DATA_DIR), written by an
    earlier release with personal data in clear text, into a new, empty store with every
    name and email sealed. Stop the service first; then point TWINNING_DATABASE_URL at the
    new store. The old store is only read: delete it once the new one serves."""
    from service.cli import load_settings, open_runtime

    settings = load_settings()
    source_db = settings.database
    target_settings = replace(settings, database_url=target_url, database_schema=to_schema)
    try:
        target_db = target_settings.database
    except ConfigError as error:
        _fail(f"--to: {str(error).replace('TWINNING_DATABASE_URL', 'the URL')}", 2)
    same = target_db == source_db or (
        target_db.kind == source_db.kind == "sqlite" and _files(target_db) & _files(source_db)
    )
    if same:
        _fail("--to names the configured store: the copy goes into a new, empty store", 2)
    events_path = source_db.events_path
    if source_db.kind == "sqlite" and not (events_path and events_path.exists()):
        _fail(f"there is no store at {source_db.events_path} (set TWINNING_DATABASE_URL)", 2)
    try:
        source = Twinning(env=source_db.eventsourcing_env(settings))
    except Exception as error:  # the old store's database: say which, in one line
        _fail(f"cannot open the database {source_db.describe()}: {error}".splitlines()[0], 2)
    source_views = make_engine(source_db, settings)
    target = open_runtime(target_settings)
    try:
        refuse_non_empty(target.app)  # before any progress is shown
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("events"),
            TimeElapsedColumn(),
        ) as bar:
            head = max(1, int(source.recorder.max_notification_id() or 0))
            reading = bar.add_task("reading the old chain", total=head)
            copying = bar.add_task("copying, sealed", total=head)
            result = migrate(
                source.recorder,
                target,
                source_views=source_views,
                reading=lambda done, total: bar.update(reading, completed=done, total=total),
                copying=lambda done, total: bar.update(copying, completed=done, total=total),
            )
    except MigrationError as error:
        _fail(str(error))
    finally:
        target.close()
        source.close()
        source_views.dispose()
    checked = (
        "it agrees with the old audit view"
        if result.audit_view_checked
        else "the old audit view had not reached it: not compared"
    )
    click.echo(
        f"migrated {result.previous_events} events ({result.accounts} accounts, "
        f"{result.passwords} passwords) from {source_db.describe()} to {target_db.describe()}\n"
        f"old chain head: {result.previous_head} at position {result.previous_position} "
        f"({checked}); the new store's first event records it\n"
        "next: point TWINNING_DATABASE_URL at the new store and start the service "
        "(everyone logs in again); keep the old store until the new one serves"
    )

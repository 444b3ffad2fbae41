"""The read views and their live tables: which views there are, and creating or upgrading
their tables (with the tracking table) when a process starts."""

from __future__ import annotations

import sqlalchemy as sa

from projections import tracking
from projections.activities import ActivitiesView
from projections.audit import AuditView
from projections.initiatives import InitiativesView
from projections.organisations import OrganisationsView
from projections.view import View

VIEWS: list[View] = [OrganisationsView(), InitiativesView(), ActivitiesView(), AuditView()]
LIVE_METADATA = sa.MetaData()
LIVE: dict[str, dict[str, sa.Table]] = {view.name: view.define(LIVE_METADATA, "") for view in VIEWS}
VIEW_BY_NAME = {view.name: view for view in VIEWS}


def create_tables(engine: sa.Engine) -> None:
    tracking.metadata.create_all(engine)
    LIVE_METADATA.create_all(engine)
    add_missing_columns(engine, LIVE_METADATA)
    with engine.begin() as conn:
        for view in VIEWS:  # a row to lock from the first batch on
            tracking.ensure(conn, view.name)


def add_missing_columns(engine: sa.Engine, metadata: sa.MetaData) -> None:
    """Upgrades view tables made by an earlier release: a column added since (always
    nullable, rendered from the document while NULL) is added in place; `twinning rebuild`
    then fills it. Several processes may start at once: a column another one added first
    is fine."""
    inspector = sa.inspect(engine)
    preparer = engine.dialect.identifier_preparer
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable:
                raise RuntimeError(
                    f"{table.name} lacks {column.name}: run `twinning rebuild` with this release"
                )
            kind = column.type.compile(dialect=engine.dialect)
            statement = (
                f"ALTER TABLE {preparer.quote(table.name)} "
                f"ADD COLUMN {preparer.quote(column.name)} {kind}"
            )
            try:
                with engine.begin() as conn:
                    conn.exec_driver_sql(statement)
            except sa.exc.DBAPIError:
                fresh = {c["name"] for c in sa.inspect(engine).get_columns(table.name)}
                if column.name not in fresh:
                    raise

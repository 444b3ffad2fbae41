"""The read views' tables as a database holds them, pinned.

A release only adds missing columns to the view tables of an existing database
(`add_missing_columns`): a changed type, length, nullability or index in a view's definition
would never reach the databases already running. So the definitions are written out in
tests/data/view_schema.sql, and changing one means changing that file too, knowingly, with a
migration or a note that `twinning rebuild` is needed. After such a change:

    .venv/bin/python -m tests.projections.test_view_schema > tests/data/view_schema.sql
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

from projections.registry import VIEWS

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "view_schema.sql"


def render(dialect: sa.Dialect) -> str:
    """Every view's live tables and indexes, as DDL of `dialect`, in a stable order."""
    statements = []
    for view in VIEWS:
        metadata = sa.MetaData()
        tables = view.define(metadata, "")  # afresh: the live registry was built at import
        for key in sorted(tables):
            table = tables[key]
            statements.append(f"-- {view.name}.{key}")
            statements.append(str(CreateTable(table).compile(dialect=dialect)).strip() + ";")
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                statements.append(str(CreateIndex(index).compile(dialect=dialect)) + ";")
    return "\n".join(statements) + "\n"


def test_the_view_tables_are_the_ones_running_databases_hold() -> None:
    assert render(postgresql.dialect()) == SCHEMA.read_text(), (
        "A view's tables changed: existing databases keep the old definition. "
        "Update tests/data/view_schema.sql as its module says, knowingly."
    )


def pinned_columns() -> dict[str, list[str]]:
    """Each table's columns as tests/data/view_schema.sql names them."""
    tables: dict[str, list[str]] = {}
    for block in re.findall(r"CREATE TABLE (\w+) \((.*?)\n\);", SCHEMA.read_text(), re.S):
        name, body = block
        tables[name] = re.findall(r"^\t(?!PRIMARY KEY|UNIQUE|CONSTRAINT)(\w+) ", body, re.M)
    return tables


def test_sqlite_creates_the_pinned_tables() -> None:
    engine = sa.create_engine("sqlite://")
    for view in VIEWS:
        view.define(metadata := sa.MetaData(), "")
        metadata.create_all(engine)
    inspector = sa.inspect(engine)
    created = {
        table: [column["name"] for column in inspector.get_columns(table)]
        for table in inspector.get_table_names()
    }
    assert created == pinned_columns()


if __name__ == "__main__":
    print(render(postgresql.dialect()), end="")

"""Profiles the hot paths in one process with pyinstrument: the list, one initiative, and the
commands of a lifecycle, through the whole Flask stack (test client, SQLite or PostgreSQL).

    .venv/bin/python -m bench.profile_requests [list|one|commands] [--postgres] [--html FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from pyinstrument import Profiler

from bench.__main__ import PG_URL
from bench.read_side import add_initiatives, network
from service.app import close_app, create_app
from service.infrastructure.runtime import RUNTIME_KEY

PASSWORD = "profile password 2026"


@contextlib.contextmanager
def seeded_app(postgres: bool) -> Iterator[tuple[Any, str, str]]:
    """The service's Flask app in this process (SQLite in a temporary folder, or a schema of
    its own on PostgreSQL) with 200 initiatives projected: (app, an admin's token, the id of
    an initiative on the list's first page). Everything is removed afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    folder = Path(tempfile.mkdtemp(prefix="twinning-bench-"))
    settings: dict[str, Any] = {
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "admin_email": "profile@twinning.test",
        "admin_password": PASSWORD,
        "log_level": "WARNING",
    }
    if postgres:
        settings |= {"database_url": PG_URL, "database_schema": schema}
    else:
        settings |= {"data_dir": folder, "database_url": ""}
    app = create_app(settings)
    try:
        client = app.test_client()
        token = client.post(
            "/api/v1/auth/tokens", json={"email": "profile@twinning.test", "password": PASSWORD}
        ).json["token"]
        rt = app.extensions[RUNTIME_KEY]
        leads, reviewer = network(rt)
        add_initiatives(rt, 200, leads, reviewer)
        rt.projector.catch_up()
        page = client.get(
            "/api/v1/initiatives?limit=50", headers={"Authorization": f"Bearer {token}"}
        )
        yield app, token, page.json["items"][0]["id"]
    finally:
        close_app(app)
        shutil.rmtree(folder, ignore_errors=True)
        if postgres:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_requests")
    parser.add_argument("path", choices=["list", "one", "commands"])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--html", type=Path)
    parser.add_argument(
        "--flat", action="store_true", help="time per function (total), not the call tree"
    )
    args = parser.parse_args()
    with seeded_app(args.postgres) as (app, token, first):
        profile(app, token, first, args)


def profile(app: Any, token: str, first: str, args: argparse.Namespace) -> None:
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    if args.path == "commands":  # a partner proposes
        org = client.post(
            "/api/v1/organisations",
            headers=headers,
            json={"name": "Profiled town", "type": "local_authority", "country": "IT"},
        ).json["id"]
        client.post(
            "/api/v1/users",
            headers=headers,
            json={
                "email": "partner@profile.test",
                "name": "Partner",
                "password": PASSWORD,
                "organisation_id": org,
                "roles": ["partner"],
            },
        )
        token = client.post(
            "/api/v1/auth/tokens", json={"email": "partner@profile.test", "password": PASSWORD}
        ).json["token"]
        headers = {"Authorization": f"Bearer {token}"}
    profiler = Profiler(interval=0.0005)
    with profiler:
        for _ in range(args.requests):
            if args.path == "list":
                answer = client.get("/api/v1/initiatives?limit=50", headers=headers)
            elif args.path == "one":
                answer = client.get(f"/api/v1/initiatives/{first}", headers=headers)
            else:
                answer = client.post(
                    "/api/v1/initiatives",
                    headers=headers,
                    json={
                        "title": {"en": "Profiled"},
                        "summary": {"en": "S"},
                        "original_language": "en",
                        "themes": ["youth"],
                        "level": "national",
                        "countries": ["IT"],
                    },
                )
            assert answer.status_code in (200, 201), answer.json
    if args.html:
        args.html.write_text(profiler.output_html())
    if args.flat:
        print(profiler.output_text(flat=True, flat_time="total", time="percent_of_total"))
    else:
        print(profiler.output_text(unicode=True, color=False, show_all=True))


if __name__ == "__main__":
    main()

"""Concurrency torture: 32 clients co-edit one initiative through gunicorn for a fixed time,
with base_version merges and amendments. Every acknowledged edit is in the history exactly
once, every 409 names a real overlap, and the state equals the fold of the stored events.
TWINNING_TORTURE_SECONDS sets the time (`make soak` runs it longer)."""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from service.config import Settings
from service.infrastructure.runtime import Runtime
from tests import reliability
from tests.conftest import FAST_HASHING, PG_URL, drop_schema, require_postgres
from tests.e2e.test_serve import ADMIN, PASSWORD, Server, call

pytestmark = pytest.mark.e2e

SECONDS = float(os.environ.get("TWINNING_TORTURE_SECONDS", "6"))
SOAK_SECONDS = 120.0
SOAK = pytest.mark.soak  # the long variant: `make soak`
CLIENTS = 32
MEMBERS = 24  # the other 8 are outsiders who propose amendments
FIELDS = ["expected_participants", "target_groups", "description", "title"]


def value_for(field: str, token: str, n: int) -> Any:
    """A value no other edit sends, so the history shows where each edit went."""
    if field == "expected_participants":
        return n
    if field == "target_groups":
        return [token]
    return {"en": f"{field} {token}"}


def recorded_as(field: str, value: Any) -> tuple[str, Any]:
    """The history's key and new value for a field set to `value`."""
    if isinstance(value, dict):
        [(lang, text)] = value.items()
        return f"{field}.{lang}", text
    return field, value


def entries_setting(history: list[dict[str, Any]], field: str, value: Any) -> list[dict[str, Any]]:
    key, new = recorded_as(field, value)
    return [h for h in history if key in h["changes"] and h["changes"][key]["new"] == new]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    if request.param == "sqlite":
        yield {"data_dir": tmp_path / "var", "database_url": ""}
        return
    require_postgres()
    schema = f"e_{uuid.uuid4().hex[:16]}"
    try:
        yield {"database_url": PG_URL, "database_schema": schema}
    finally:
        drop_schema(schema)


@pytest.mark.parametrize("seconds", [SECONDS, pytest.param(SOAK_SECONDS, marks=SOAK)])
def test_32_clients_co_editing_lose_nothing_and_apply_nothing_twice(
    settings: dict[str, Any], tmp_path: Path, seconds: float
) -> None:
    env = {
        "TWINNING_DATA_DIR": str(settings.get("data_dir", tmp_path / "unused")),
        "TWINNING_DATABASE_URL": settings["database_url"],
        "TWINNING_THREADS": "8",
        "TWINNING_POOL_SIZE": "4",
        "TWINNING_MAX_OVERFLOW": "4",
    }
    if settings.get("database_schema"):
        env["TWINNING_DATABASE_SCHEMA"] = settings["database_schema"]
    server = Server(env, tmp_path, workers=4)
    try:
        base = server.base
        admin = server.login(ADMIN)

        def account(org: str, n: int) -> tuple[str, str]:
            email = f"c{n}@torture.test"
            status, _, body = call(
                base,
                "POST",
                "/api/v1/users",
                {
                    "email": email,
                    "name": f"Client {n}",
                    "password": PASSWORD,
                    "organisation_id": org,
                    "roles": ["partner"],
                },
                admin,
            )
            assert status == 201, body
            return server.login(email), body["id"]

        orgs = []
        for n in range(6):
            status, _, body = call(
                base,
                "POST",
                "/api/v1/organisations",
                {"name": f"Town {n}", "type": "local_authority", "country": "IT"},
                admin,
            )
            orgs.append(body["id"])
        clients = [account(orgs[n % 4], n) for n in range(MEMBERS)]
        clients += [account(orgs[4 + n % 2], MEMBERS + n) for n in range(CLIENTS - MEMBERS)]
        lead = clients[0][0]
        status, _, made = call(
            base,
            "POST",
            "/api/v1/initiatives",
            {
                "title": {"en": "Shared plan"},
                "summary": {"en": "Everyone edits it at once."},
                "original_language": "en",
                "themes": ["local_democracy"],
                "level": "national",
                "countries": ["IT"],
            },
            lead,
        )
        path = f"/api/v1/initiatives/{made['id']}"
        version = made["version"]
        for org in orgs[1:4]:
            _, _, body = call(
                base, "POST", f"{path}/partners", {"organisation_id": org}, lead, version
            )
            version = body["version"]
        for n in range(1, 4):  # one member of each partner organisation joins for it
            _, _, body = call(
                base, "POST", f"{path}/partners/{orgs[n]}/join", None, clients[n][0], version
            )
            version = body["version"]
        status, _, body = call(base, "POST", f"{path}/co-design", None, lead, version)
        assert status == 200

        edits: list[dict[str, Any]] = []  # acknowledged edits
        conflicts: list[dict[str, Any]] = []  # 409 answers to edits
        accepted: list[dict[str, Any]] = []
        others: list[int] = []
        lock = threading.Lock()
        deadline = time.monotonic() + seconds

        def member(n: int) -> None:
            token, account_id = clients[n]
            rng = random.Random(n)
            count = 0
            while time.monotonic() < deadline:
                _, _, current = call(base, "GET", path, token=token)
                count += 1
                if n % 6 == 5 and any(a["status"] == "pending" for a in current["amendments"]):
                    pending = [a for a in current["amendments"] if a["status"] == "pending"]
                    amendment = rng.choice(pending)
                    status, _, body = call(
                        base,
                        "POST",
                        f"{path}/amendments/{amendment['id']}/accept",
                        None,
                        token,
                        current["version"],
                    )
                    with lock:
                        if status == 200:
                            accepted.append({"amendment": amendment, "version": body["version"]})
                        else:
                            others.append(status)
                    continue
                fields = rng.sample(FIELDS, rng.randint(1, 2))
                unique = f"c{n}-{count}-{uuid.uuid4().hex[:6]}"
                number = n * 30_000 + count  # unique, and within the 1,000,000 count limit
                change = {f: value_for(f, unique, number) for f in fields}
                base_version = current["version"] - rng.randint(0, 2)  # often a little stale
                status, _, body = call(
                    base, "PATCH", path, {**change, "base_version": base_version}, token
                )
                with lock:
                    if status == 200:
                        edits.append({"account": account_id, "change": change, "version": None})
                    elif status == 409:
                        conflicts.append(
                            {
                                "change": change,
                                "base": base_version,
                                "body": body,
                                "account": account_id,
                            }
                        )
                    else:
                        others.append(status)

        def outsider(n: int) -> None:
            token, _ = clients[n]
            count = 0
            while time.monotonic() < deadline:
                _, _, current = call(base, "GET", path, token=token)
                count += 1
                unique = f"amend-c{n}-{count}"
                status, _, _ = call(
                    base,
                    "POST",
                    f"{path}/amendments",
                    {
                        "changes": {"target_groups": [unique]},
                        "rationale": "Please include them.",
                        "base_version": current["version"],
                    },
                    token,
                )
                with lock:
                    if status != 201:
                        others.append(status)
                time.sleep(0.05)

        threads = [
            threading.Thread(target=member if n < MEMBERS else outsider, args=(n,))
            for n in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        reliability.record(__name__, len(edits) + len(conflicts) + len(accepted) + len(others))
        assert not [s for s in others if s >= 500], others
        assert set(others) <= {409, 412}, others  # stale accepts, overlapping amendments
        assert len(edits) >= 20, len(edits)

        # The history is a read view: wait until it has every version the store has.
        _, _, latest = call(base, "GET", path, token=admin)
        waited = time.monotonic()
        while True:
            status, _, page = call(base, "GET", f"{path}/history", token=admin)
            assert status == 200, page
            history: list[dict[str, Any]] = page["items"]
            if len(history) >= latest["version"] or time.monotonic() - waited > 20:
                break
            time.sleep(0.1)
        assert [h["version"] for h in history] == list(range(1, len(history) + 1))
        by_version = {h["version"]: h for h in history}

        # Every acknowledged edit is recorded exactly once, by its author, as sent.
        for edit in edits:
            versions = set()
            for field, value in edit["change"].items():
                found = entries_setting(history, field, value)
                assert len(found) == 1, (edit, found)
                versions.add(found[0]["version"])
                assert found[0]["type"] == "Edited"
                assert found[0]["actor"]["account_id"] == edit["account"]
            assert len(versions) == 1, edit  # all its fields in one event
        # Every accepted amendment is recorded once.
        for item in accepted:
            found = entries_setting(
                history, "target_groups", item["amendment"]["changes"]["target_groups"]
            )
            assert [h["type"] for h in found] == ["AmendmentAccepted"], found

        # Every 409 names a real overlap: a later version by someone else changed that field.
        # An accepted amendment's text is credited to the amendment's author, who wrote it,
        # while the history's actor is the member who accepted it.
        _, _, final = call(base, "GET", path, token=admin)
        author_of = {
            tuple(a["changes"]["target_groups"]): a["author_id"]
            for a in final["amendments"]
            if a["status"] == "accepted"
        }

        def credited(entry: dict[str, Any]) -> str:
            if entry["type"] == "AmendmentAccepted":
                return author_of[tuple(entry["changes"]["target_groups"]["new"])]
            return str(entry["actor"]["account_id"])

        assert conflicts, "no overlap happened: the test did not test merging"
        for conflict in conflicts:
            named = conflict["body"]["conflicts"]
            assert named, conflict
            for item in named:
                assert item["field"] in conflict["change"]
                assert item["changed_in_version"] > conflict["base"]
                entry = by_version[item["changed_in_version"]]
                changed = {key.split(".")[0] for key in entry["changes"]}
                assert item["field"] in changed, (item, entry)
                assert credited(entry) == item["changed_by"], (item, entry)

        # The state equals the fold of the stored events.
        rt = Runtime(Settings.from_env(environ={}, overrides={**settings, **FAST_HASHING}))
        try:
            folded: Any = None
            for event in rt.app.events.get(UUID(made["id"])):
                folded = event.mutate(folded)
        finally:
            rt.close()
        assert folded.version == final["version"] == len(history)
        for field in FIELDS:
            assert folded.fields.get(field) == final[field], field
    finally:
        server.stop()

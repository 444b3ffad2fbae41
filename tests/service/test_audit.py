"""Audit: history, diffs, the system-wide record, tamper evidence and the event feed."""

from __future__ import annotations

import csv
import io
import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from service.infrastructure.runtime import runtime
from tests.conftest import PG_URL
from tests.service.conftest import Client, World, ok, problem


def path_of(body: dict[str, Any]) -> str:
    return f"/api/v1/initiatives/{body['id']}"


@pytest.fixture
def story(world: World) -> dict[str, Any]:
    """An initiative taken from proposal to approval by a lead, a partner and a reviewer."""
    lead = world.partner(country="IT")
    partner = world.partner(country="RS")
    reviewer = world.reviewer()
    auditor = world.account(None, "auditor")
    body = world.in_co_design(lead, partner)
    body = ok(partner.patch(path_of(body), {"title": {"en": "Renamed"}, "base_version": 4}))
    body = ok(lead.post(f"{path_of(body)}/submit", version=body["version"]))
    body = ok(
        reviewer.post(
            f"{path_of(body)}/reviews",
            {"decision": "approve", "rationale": "Well argued."},
            version=body["version"],
        )
    )
    world.project()
    return {
        "lead": lead,
        "partner": partner,
        "reviewer": reviewer,
        "auditor": auditor,
        "initiative": body,
    }


def test_history_names_who_did_what_when_and_why(world: World, story: dict[str, Any]) -> None:
    auditor: Client = story["auditor"]
    history = ok(auditor.get(f"{path_of(story['initiative'])}/history"))["items"]
    assert [h["version"] for h in history] == list(range(1, 8))
    assert [h["type"] for h in history] == [
        "Proposed",
        "PartnerInvited",
        "PartnerJoined",
        "CoDesignStarted",
        "Edited",
        "Submitted",
        "ReviewRecorded",
    ]
    positions = [h["position"] for h in history]
    assert positions == sorted(positions)
    edit = history[4]
    assert edit["actor"] == {
        "account_id": story["partner"].id,
        "organisation_id": story["partner"].organisation_id,
        "role": "partner",
    }
    assert edit["changes"]["title.en"] == {
        "old": "Youth exchange on shared heritage",
        "new": "Renamed",
    }
    review = history[6]
    assert review["rationale"] == "Well argued."
    assert review["changes"]["state"] == {"old": "in_review", "new": "approved"}
    assert review["actor"]["role"] == "reviewer" and review["at"].endswith("Z")
    assert history[0]["changes"]["state"] == {"old": None, "new": "proposal"}


def test_history_agrees_with_time_travel_at_every_version(
    world: World, story: dict[str, Any]
) -> None:
    auditor: Client = story["auditor"]
    path = path_of(story["initiative"])
    history = ok(auditor.get(f"{path}/history"))["items"]
    for entry in history[1:]:
        version = entry["version"]
        diff = ok(auditor.get(f"{path}/diff", query_string={"from": version - 1, "to": version}))
        assert diff["changes"] == entry["changes"], version
        as_read = ok(auditor.get(path, query_string={"version": version}))
        for field, change in entry["changes"].items():
            if field == "state":
                assert as_read["state"] == change["new"]
            if field.startswith("title."):
                assert as_read["title"][field.split(".", 1)[1]] == change["new"]
    whole = ok(auditor.get(f"{path}/diff", query_string={"from": 1, "to": 7}))["changes"]
    assert whole["state"] == {"old": "proposal", "new": "approved"}
    problem(auditor.get(f"{path}/diff", query_string={"from": 0, "to": 9}), 422)
    problem(auditor.get(f"{path}/diff", query_string={"from": 1}), 422)


def test_audit_endpoints_are_for_auditors_and_admins(world: World, story: dict[str, Any]) -> None:
    path = path_of(story["initiative"])
    for endpoint in (
        f"{path}/history",
        f"{path}/diff?from=1&to=2",
        "/api/v1/audit/entries",
        "/api/v1/audit/digest",
        "/api/v1/audit/verify",
        "/api/v1/events",
    ):
        problem(story["lead"].get(endpoint), 403)
        problem(story["reviewer"].get(endpoint), 403)
        problem(world.anonymous.get(endpoint), 401)
        assert world.admin.get(endpoint).status_code == 200
        assert story["auditor"].get(endpoint).status_code == 200
    problem(
        story["auditor"].get("/api/v1/initiatives/3fa85f64-5717-4562-b3fc-2c963f66afa6/history"),
        404,
    )


def test_entries_cover_accounts_and_filters_combine(world: World, story: dict[str, Any]) -> None:
    auditor: Client = story["auditor"]
    lead: Client = story["lead"]
    ok(world.admin.post(f"/api/v1/users/{lead.id}/roles", {"role": "reviewer"}))
    world.project()
    granted = ok(
        auditor.get(
            "/api/v1/audit/entries", query_string={"type": "RoleGranted", "aggregate_id": lead.id}
        )
    )
    [entry] = granted["items"]
    assert entry["aggregate_type"] == "account"
    assert entry["actor"]["account_id"] == world.admin.id
    assert entry["changes"]["roles"] == {"old": ["partner"], "new": ["partner", "reviewer"]}
    by_partner = ok(
        auditor.get(
            "/api/v1/audit/entries",
            query_string={
                "actor_id": story["partner"].id,
                "initiative_id": story["initiative"]["id"],
            },
        )
    )["items"]
    assert [e["type"] for e in by_partner] == ["PartnerJoined", "Edited"]
    by_org = ok(
        auditor.get(
            "/api/v1/audit/entries",
            query_string={"organisation_id": story["reviewer"].organisation_id},
        )
    )["items"]
    assert [e["type"] for e in by_org] == ["ReviewRecorded"]
    everything = []
    cursor = None
    while True:
        query: dict[str, Any] = {"limit": 7}
        if cursor:
            query["cursor"] = cursor
        page = ok(auditor.get("/api/v1/audit/entries", query_string=query))
        everything += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    head = runtime(world.app).projector.head()
    assert [e["position"] for e in everything] == list(range(1, head + 1))
    window = ok(
        auditor.get(
            "/api/v1/audit/entries",
            query_string={"from": everything[3]["at"], "to": everything[6]["at"], "limit": 200},
        )
    )["items"]
    assert window and all(everything[3]["at"] <= e["at"] < everything[6]["at"] for e in window)
    problem(auditor.get("/api/v1/audit/entries", query_string={"cursor": "!!"}), 422)


def test_entries_stream_as_csv(world: World, story: dict[str, Any]) -> None:
    auditor: Client = story["auditor"]
    response = auditor.get(
        "/api/v1/audit/entries",
        headers={"Accept": "text/csv"},
        query_string={"initiative_id": story["initiative"]["id"]},
    )
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:3] == ["position", "at", "aggregate_type"]
    assert len(rows) == 1 + 7
    assert rows[-1][6] == "ReviewRecorded" and rows[-1][11] == "Well argued."


def test_the_event_feed_pages_in_position_order(world: World, story: dict[str, Any]) -> None:
    auditor: Client = story["auditor"]
    head = runtime(world.app).projector.head()
    page = ok(auditor.get("/api/v1/events", query_string={"after": head - 3, "limit": 2}))
    assert [e["position"] for e in page["items"]] == [head - 2, head - 1]
    page = ok(auditor.get("/api/v1/events", query_string={"cursor": page["next_cursor"]}))
    assert [e["position"] for e in page["items"]] == [head] and page["next_cursor"] is None
    review = page["items"][0]
    assert review["type"] == "ReviewRecorded" and review["aggregate_type"] == "initiative"
    assert review["data"]["decision"] == "approve" and review["actor"]["role"] == "reviewer"
    assert (
        "password"
        not in str(ok(auditor.get("/api/v1/events", query_string={"limit": 200}))).lower()
    )


# ------------------------------------------------------------------- tamper evidence
class EventRows:
    """Direct access to the stored event rows, as an attacker with the database would have."""

    def __init__(self, world: World, backend: dict[str, Any]) -> None:
        if backend.get("database_url"):
            self.conn: Any = psycopg.connect(PG_URL, autocommit=True)
            self.table = f'"{backend["database_schema"]}".twinning_events'
            self.id = "notification_id"
            self.mark = "%s"
        else:
            self.conn = sqlite3.connect(backend["data_dir"] / "events.sqlite", isolation_level=None)
            self.table, self.id, self.mark = "stored_events", "rowid", "?"

    def run(self, sql: str, *args: Any) -> list[Any]:
        cursor = self.conn.execute(sql.replace("?", self.mark), args)
        return list(cursor.fetchall()) if cursor.description else []

    def state(self, position: int) -> bytes:
        return bytes(
            self.run(f"SELECT state FROM {self.table} WHERE {self.id} = ?", position)[0][0]
        )

    def change(self, position: int) -> None:
        state = self.state(position)
        forged = state.replace(b"partner", b"pirate") if b"partner" in state else state + b" "
        self.run(f"UPDATE {self.table} SET state = ? WHERE {self.id} = ?", forged, position)

    def delete(self, position: int) -> None:
        self.run(f"DELETE FROM {self.table} WHERE {self.id} = ?", position)

    def move(self, source: int, target: int) -> None:
        self.run(f"UPDATE {self.table} SET {self.id} = ? WHERE {self.id} = ?", target, source)

    def reorder(self, first: int, second: int) -> None:
        self.move(first, 10**9)
        self.move(second, first)
        self.move(10**9, second)

    def insert(self, position: int) -> None:
        """Shifts every later event up by one and slips a forged event in at `position`."""
        last = self.run(f"SELECT MAX({self.id}) FROM {self.table}")[0][0]
        for number in range(last, position - 1, -1):
            self.move(number, number + 1)
        topic, state = self.run(
            f"SELECT topic, state FROM {self.table} WHERE {self.id} = ?", position + 1
        )[0]
        forged_id: Any = uuid.uuid4()
        if self.mark == "?":
            forged_id = forged_id.hex
        self.run(
            f"INSERT INTO {self.table} (originator_id, originator_version, topic, state, "
            f"{self.id}) VALUES (?, ?, ?, ?, ?)",
            forged_id,
            1,
            topic,
            state,
            position,
        )

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def rows(world: World, backend: dict[str, Any]) -> Iterator[EventRows]:
    store = EventRows(world, backend)
    yield store
    store.close()


def verify(auditor: Client, **query: Any) -> dict[str, Any]:
    return ok(auditor.get("/api/v1/audit/verify", query_string=query))


def test_an_untouched_store_verifies_and_old_digests_still_do(
    world: World, story: dict[str, Any]
) -> None:
    auditor: Client = story["auditor"]
    earlier = ok(auditor.get("/api/v1/audit/digest"))
    assert len(earlier["head_hash"]) == 64 and earlier["at"].endswith("Z")
    assert earlier["position"] == runtime(world.app).projector.head()
    result = verify(auditor, position=earlier["position"], head_hash=earlier["head_hash"])
    assert result == {
        "ok": True,
        "checked": earlier["position"],
        "first_bad_position": None,
        "position": earlier["position"],
    }
    world.organisation()  # more events are appended
    world.project()
    later = ok(auditor.get("/api/v1/audit/digest"))
    assert later["position"] == earlier["position"] + 1
    assert verify(auditor, position=earlier["position"], head_hash=earlier["head_hash"])["ok"]
    assert verify(auditor, head_hash=later["head_hash"])["ok"]
    rt = runtime(world.app)
    from projections import verification
    from projections.registry import LIVE

    with rt.engine.connect() as conn:
        for block in (1, 3, 5):
            assert verification.verify(
                rt.app,
                conn,
                LIVE["audit"]["entries"],
                later["position"],
                later["head_hash"],
                block=block,
            )["ok"]
    wrong = verify(auditor, position=earlier["position"], head_hash="0" * 64)
    assert wrong["ok"] is False and wrong["first_bad_position"] is None
    problem(auditor.get("/api/v1/audit/verify", query_string={"position": 10**6}), 422)
    problem(auditor.get("/api/v1/audit/verify", query_string={"head_hash": "xyz"}), 422)


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        (lambda rows: rows.change(9), 9),
        (lambda rows: rows.delete(12), 12),
        (lambda rows: rows.reorder(10, 14), 10),
        (lambda rows: rows.insert(11), 11),
    ],
    ids=["changed", "deleted", "reordered", "inserted"],
)
def test_tampering_with_stored_events_is_detected_at_the_right_position(
    world: World, story: dict[str, Any], rows: EventRows, tamper: Any, first_bad: int
) -> None:
    auditor: Client = story["auditor"]
    digest = ok(auditor.get("/api/v1/audit/digest"))
    assert digest["position"] > 15
    tamper(rows)
    result = verify(auditor, position=digest["position"], head_hash=digest["head_hash"])
    assert result["ok"] is False
    assert result["first_bad_position"] == first_bad
    assert result["checked"] == first_bad - 1
    assert verify(auditor, position=first_bad - 1)["ok"]  # what came before still holds
    # Block by block, as over a long history: the same verdict from any block size.
    rt = runtime(world.app)
    from projections import verification
    from projections.registry import LIVE

    with rt.engine.connect() as conn:
        for block in (1, 3, 4, 7):
            small = verification.verify(
                rt.app,
                conn,
                LIVE["audit"]["entries"],
                digest["position"],
                digest["head_hash"],
                block=block,
            )
            assert (small["ok"], small["first_bad_position"], small["checked"]) == (
                False,
                first_bad,
                first_bad - 1,
            ), block


def test_an_unreadable_event_counts_as_changed(
    world: World, story: dict[str, Any], rows: EventRows
) -> None:
    rows.run(f"UPDATE {rows.table} SET state = NULL WHERE {rows.id} = ?", 8)
    result = verify(story["auditor"])
    assert result["ok"] is False and result["first_bad_position"] == 8


def test_an_audit_bundle_verifies_offline_and_shows_tampering(
    world: World, story: dict[str, Any], tmp_path: Any
) -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path

    auditor: Client = story["auditor"]
    bundle = ok(auditor.get(f"{path_of(story['initiative'])}/audit-bundle"))
    assert [e["stored"]["version"] for e in bundle["events"]] == list(range(1, 8))
    assert [d["type"] for d in bundle["decisions"]] == ["Submitted", "ReviewRecorded"]
    script = Path(__file__).resolve().parents[2] / "tools" / "verify_audit_bundle.py"
    saved = tmp_path / "bundle.json"
    saved.write_text(json.dumps(bundle))
    last = bundle["events"][-1]
    run = subprocess.run(
        [
            sys.executable,
            str(script),
            str(saved),
            "--digest-position",
            str(last["stored"]["position"]),
            "--digest-hash",
            last["link"],
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("OK: 7 events")
    bundle["events"][3]["stored"]["state"] = bundle["events"][2]["stored"]["state"]
    saved.write_text(json.dumps(bundle))
    run = subprocess.run(
        [sys.executable, str(script), str(saved)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 1 and "TAMPERED" in run.stdout
    assert str(bundle["events"][3]["stored"]["position"]) in run.stdout

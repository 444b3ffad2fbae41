"""Activities at scale, in process over the API: registering the 1,000th participant of one
activity against the 10th (p50, target <= 1.5: registrations are events of the activity,
snapshotted, so the thousandth must not replay the others), and the attendance lists of a
1,000-participant activity against the activity's own representation (both p50 and p99)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from service.app import close_app, create_app

PASSWORD = "bench password 2026"
ADMIN = "bench@twinning.test"
A = "/api/v1/activities"
PARTICIPANTS = 1000
COUNTRIES = ["IT", "FR", "DE", "PL", "HR", "RS", "AL", "GE"]
# Registrations around the 10th and around the 1,000th.
EARLY, LATE = range(5, 16), range(PARTICIPANTS - 20, PARTICIPANTS)


class Api:
    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client, self.token = client, token

    def call(self, method: str, path: str, body: Any = None, version: int | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        if version is not None:
            headers["If-Match"] = f'"{version}"'
        answer = self.client.open(path, method=method, json=body, headers=headers)
        if answer.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.json}")
        return answer


def login(client: FlaskClient, email: str) -> Api:
    answer = client.post("/api/v1/auth/tokens", json={"email": email, "password": PASSWORD})
    return Api(client, answer.json["token"])


def version_of(answer: Any) -> int:
    return int(answer.headers["ETag"].strip('"'))


def organiser(admin: Api) -> Api:
    org = admin.call(
        "POST",
        "/api/v1/organisations",
        {"name": "Comune di Prova", "type": "local_authority", "country": "IT"},
    ).json["id"]
    email = "organiser@twinning.test"
    admin.call(
        "POST",
        "/api/v1/users",
        {
            "email": email,
            "name": "Organiser",
            "password": PASSWORD,
            "organisation_id": org,
            "roles": ["partner"],
        },
    )
    return login(admin.client, email)


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def run(overrides: dict[str, Any], label: str) -> list[tuple[str, str]]:
    app = create_app(
        {
            **overrides,
            "argon2_time_cost": 1,
            "argon2_memory_kib": 1024,
            "log_level": "WARNING",
            "admin_email": ADMIN,
            "admin_password": PASSWORD,
        }
    )
    try:
        client = app.test_client()
        me = organiser(login(client, ADMIN))
        plan = {
            "kind": "international_conference",
            "title": {"en": "Twinning conference"},
            "summary": {"en": "Towns and civil society co-design initiatives."},
            "original_language": "en",
            "themes": ["local_democracy"],
            "country": "IT",
            "city": "Bologna",
            "starts_at": "2027-05-01T09:00:00+02:00",
            "ends_at": "2027-05-02T17:00:00+02:00",
        }
        answer = me.call("POST", A, plan)
        activity = answer.json["id"]
        version = version_of(answer)
        version = version_of(me.call("POST", f"{A}/{activity}/open-registration", None, version))
        took: list[float] = []
        ids: list[str] = []
        for n in range(PARTICIPANTS):
            country = COUNTRIES[n % len(COUNTRIES)]
            body = {
                "name": f"Participant {n}",
                "email": f"participant{n}@example.eu",
                "country": country,
                "town": f"Town {n % 40}",
                "participant_type": "local" if country == "IT" else "invited",
                "age_band": ["18_30", "31_64", "65_plus"][n % 3],
                "gender": ["female", "male", "undisclosed"][n % 3],
            }
            started = time.perf_counter()
            answer = me.call("POST", f"{A}/{activity}/registrations", body, version)
            took.append(time.perf_counter() - started)
            version = version_of(answer)
            ids.append(answer.json["id"])
        early = statistics.median(took[i] for i in EARLY)
        late = statistics.median(took[i] for i in LATE)
        path = f"{A}/{activity}/close-registration"
        version = version_of(me.call("POST", path, None, version))
        for start in range(0, PARTICIPANTS, 100):
            body = {"registration_ids": ids[start : start + 100], "attended": True}
            version = version_of(me.call("POST", f"{A}/{activity}/attendance", body, version))
        version = version_of(me.call("POST", f"{A}/{activity}/held", None, version))
        lists, one = [], []
        for _ in range(60):
            started = time.perf_counter()
            me.call("GET", f"{A}/{activity}/attendance-lists")
            lists.append(time.perf_counter() - started)
            started = time.perf_counter()
            me.call("GET", f"{A}/{activity}")
            one.append(time.perf_counter() - started)
        lists, one = lists[10:], one[10:]  # after the caches are warm
        return [
            (
                f"{label}: registering the 1,000th participant / the 10th, p50 (target <= 1.5)",
                f"{late / early:.2f} ({1000 * late:.1f} ms / {1000 * early:.1f} ms)",
            ),
            (
                f"{label}: attendance lists of 1,000 participants, p50 / p99",
                f"{1000 * p(lists, 0.5):.1f} ms / {1000 * p(lists, 0.99):.1f} ms",
            ),
            (
                f"{label}: those lists / the activity's own representation, p50",
                f"{p(lists, 0.5) / p(one, 0.5):.1f} ({1000 * p(one, 0.5):.2f} ms)",
            ),
        ]
    finally:
        close_app(app)


def sqlite(folder: Path, _size: int) -> list[tuple[str, str]]:
    return run({"data_dir": folder, "database_url": ""}, "SQLite")


def postgres(url: str, schema: str, _size: int) -> list[tuple[str, str]]:
    return run({"database_url": url, "database_schema": schema}, "PostgreSQL")

"""The authorization matrix: every endpoint x every kind of caller, expected statuses in
tests/data/authorization_matrix.yaml. Each cell that changes something runs against a fresh
initiative in the right stage, so an allowed call really succeeds and a refused one is refused
for who the caller is, not for the state. Zero unexpected successes, zero unexpected refusals."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import yaml
from flask import Flask
from sqlalchemy import update

from service.app import close_app, create_app
from service.infrastructure.credentials import token_digest, tokens
from service.infrastructure.runtime import runtime
from tests import reliability
from tests.conftest import FAST_HASHING, a_report
from tests.service.conftest import ADMIN_EMAIL, PASSWORD, Client, World, ok, proposal

MATRIX = yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "data" / "authorization_matrix.yaml").read_text()
)
CALLERS: list[str] = MATRIX["callers"]
EXPECTED = {
    endpoint: dict(zip(CALLERS, (int(s) for s in str(row).split()), strict=True))
    for endpoint, row in MATRIX["endpoints"].items()
}
REPORT = a_report(participants=12)
ACTIVITY = {
    "kind": "webinar",
    "title": {"en": "Matrix webinar"},
    "summary": {"en": "Who may do what to an activity."},
    "original_language": "en",
    "themes": ["youth"],
    "country": "IT",
    "city": "Bologna",
    "starts_at": "2027-05-01T09:00:00+02:00",
    "ends_at": "2027-05-01T11:00:00+02:00",
}
PARTICIPANT = {
    "name": "Matrix Person",
    "country": "IT",
    "town": "Bologna",
    "participant_type": "local",
}


class Scene:
    """The organisations, the callers, and initiatives in any stage, built on demand."""

    def __init__(self, app: Flask) -> None:
        self.world = World(app)
        w = self.world
        self.lead_org = w.organisation(country="IT")
        self.partner_org = w.organisation(country="RS", type_="civil_society")
        self.invited_org = w.organisation(country="AL")
        self.clients: dict[str, Client] = {
            "lead": w.account(self.lead_org, "partner"),
            "partner": w.account(self.partner_org, "partner"),
            "invited": w.account(self.invited_org, "partner"),
            "outsider": w.partner(country="FR"),
            "reviewer": w.reviewer(country="DE"),
            "conflicted": w.account(self.partner_org, "reviewer"),
            "auditor": w.account(w.organisation(type_="other"), "auditor"),
            "admin": w.admin,
            "anonymous": w.anonymous,
        }
        expired = w.account(self.lead_org, "partner")
        with runtime(app).engine.begin() as conn:
            conn.execute(
                update(tokens)
                .where(tokens.c.token_hash == token_digest(str(expired.token)))
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        revoked = w.account(self.lead_org, "partner")
        assert revoked.delete("/api/v1/auth/tokens/current").status_code == 204
        deactivated = w.account(self.lead_org, "partner")
        ok(w.admin.post(f"/api/v1/users/{deactivated.id}/deactivate"))
        self.clients.update(expired=expired, revoked=revoked, deactivated=deactivated)
        self.spare = w.account(w.organisation(), "partner")  # the target of account commands
        self.lead, self.partner = self.clients["lead"], self.clients["partner"]

    def fresh_account(self) -> Client:
        return self.world.account(self.world.organisation(), "partner")

    def twin(self, client: Client) -> Client:
        """A new account like the client's (organisation, roles), for a command that
        revokes the caller's own tokens (the client's are needed by the next cells)."""
        return self.world.account(client.organisation_id, *client.account["roles"])

    def deactivated_account(self) -> Client:
        person = self.fresh_account()
        ok(self.world.admin.post(f"/api/v1/users/{person.id}/deactivate"))
        return person

    def reset_token(self) -> str:
        """A reset an admin issued for a fresh account."""
        path = f"/api/v1/users/{self.fresh_account().id}/password-reset"
        return str(ok(self.world.admin.post(path), 201)["reset_token"])

    def initiative(
        self, stage: str, visibility: str = "network", title: str = ""
    ) -> dict[str, Any]:
        """A fresh initiative in `stage`; its representation (with `amendment_id` if any)."""
        lead, partner = self.lead, self.partner
        fields = proposal(visibility=visibility)
        if title:
            fields["title"] = {"en": title}
        body = ok(lead.post("/api/v1/initiatives", fields), 201)
        assert body["visibility"] == visibility
        path = f"/api/v1/initiatives/{body['id']}"
        for org in (self.partner_org, self.invited_org):
            body = ok(
                lead.post(f"{path}/partners", {"organisation_id": org}, version=body["version"])
            )
        body = ok(partner.post(f"{path}/partners/{self.partner_org}/join", version=body["version"]))
        steps: list[Callable[[dict[str, Any]], dict[str, Any]]] = [
            lambda b: ok(lead.post(f"{path}/co-design", version=b["version"])),
            lambda b: ok(lead.post(f"{path}/submit", version=b["version"])),
            lambda b: ok(
                self.clients["reviewer"].post(
                    f"{path}/reviews",
                    {"decision": "approve", "rationale": "Sound."},
                    version=b["version"],
                )
            ),
            lambda b: ok(lead.post(f"{path}/follow-up", version=b["version"])),
            lambda b: ok(partner.post(f"{path}/reports", REPORT, version=b["version"]), 201),
            lambda b: ok(
                lead.post(f"{path}/complete", {"outcomes": {"en": "Done."}}, version=b["version"])
            ),
        ]
        order = ["proposal", "co_design", "in_review", "approved", "follow_up", "reported"]
        count = {"amendment": 0, "completed": len(steps)}.get(stage)
        for step in steps[: order.index(stage) if count is None else count]:
            body = step(body)
        if stage == "amendment":
            body = ok(lead.post(f"{path}/co-design", version=body["version"]))
            # An outsider may not know of a partners draft: its invited partner amends it.
            author = "invited" if visibility == "partners" else "outsider"
            amendment = ok(
                self.clients[author].post(
                    f"{path}/amendments",
                    {
                        "changes": {"expected_participants": 99},
                        "rationale": "More people.",
                        "base_version": body["version"],
                    },
                ),
                201,
            )
            body = {**amendment, "amendment_id": amendment["amendments"][-1]["id"]}
        return body

    def activity(self, stage: str = "planned", registered: bool = False) -> dict[str, Any]:
        """A fresh activity of the lead organisation in `stage` (registration_open,
        registration_closed, held), with one participant when `registered` (its id as
        `registration_id`; attended once the registration is closed)."""
        lead = self.lead
        body = ok(lead.post(f"{A}/activities", ACTIVITY), 201)
        path = f"{A}/activities/{body['id']}"
        registration_id = None
        if registered:
            response = lead.post(f"{path}/registrations", PARTICIPANT, version=body["version"])
            registration_id = ok(response, 201)["id"]
            body = ok(lead.get(path))
        order = ["planned", "registration_open", "registration_closed", "held"]
        commands = ["open-registration", "close-registration", "held"]
        for command in commands[: order.index(stage)]:
            if command == "held" and registration_id is not None:
                body = ok(
                    lead.post(
                        f"{path}/attendance",
                        {"registration_ids": [registration_id], "attended": True},
                        version=body["version"],
                    )
                )
            body = ok(lead.post(f"{path}/{command}", version=body["version"]))
        return {**body, "registration_id": registration_id}


# endpoint -> (stage or None, request builder(scene, initiative) -> (path, body, If-Match))
Request = tuple[str, Any, int | None]
A = "/api/v1"
CASES: dict[str, tuple[str | None, Callable[[Scene, dict[str, Any]], Request]]] = {
    "GET /": (None, lambda s, i: ("/", None, None)),
    "GET /api/docs": (None, lambda s, i: ("/api/docs", None, None)),
    "GET /api/docs/static/<path:filename>": (
        None,
        lambda s, i: ("/api/docs/static/swagger-ui.css", None, None),
    ),
    "GET /api/v1/openapi.json": (None, lambda s, i: (f"{A}/openapi.json", None, None)),
    "GET /healthz": (None, lambda s, i: ("/healthz", None, None)),
    "GET /readyz": (None, lambda s, i: ("/readyz", None, None)),
    "GET /metrics": (None, lambda s, i: ("/metrics", None, None)),
    "GET /api/v1/themes": (None, lambda s, i: (f"{A}/themes", None, None)),
    "GET /api/v1/good-practices": (None, lambda s, i: (f"{A}/good-practices", None, None)),
    "GET /api/v1/activities": (None, lambda s, i: (f"{A}/activities", None, None)),
    "GET /api/v1/activities.ics": (None, lambda s, i: (f"{A}/activities.ics", None, None)),
    "POST /api/v1/auth/tokens": (
        None,
        lambda s, i: (f"{A}/auth/tokens", {"email": ADMIN_EMAIL, "password": PASSWORD}, None),
    ),
    "DELETE /api/v1/auth/tokens/current": (
        None,
        lambda s, i: (f"{A}/auth/tokens/current", None, None),
    ),
    "GET /api/v1/users/me": (None, lambda s, i: (f"{A}/users/me", None, None)),
    "PATCH /api/v1/users/me": (None, lambda s, i: (f"{A}/users/me", {"name": "Renamed"}, None)),
    "POST /api/v1/users/me/password": (
        None,
        lambda s, i: (
            f"{A}/users/me/password",
            {"current_password": PASSWORD, "new_password": "a matrix passphrase 2031"},
            None,
        ),
    ),
    "PATCH /api/v1/users/<uuid:user_id>": (
        None,
        lambda s, i: (
            f"{A}/users/{s.fresh_account().id}",
            {"name": "Rectified", "email": f"fixed-{datetime.now(UTC).timestamp()}@matrix.test"},
            None,
        ),
    ),
    "POST /api/v1/users/<uuid:user_id>/reactivate": (
        None,
        lambda s, i: (f"{A}/users/{s.deactivated_account().id}/reactivate", None, None),
    ),
    "POST /api/v1/users/<uuid:user_id>/password-reset": (
        None,
        lambda s, i: (f"{A}/users/{s.spare.id}/password-reset", None, None),
    ),
    "POST /api/v1/auth/password-resets": (
        None,
        lambda s, i: (
            f"{A}/auth/password-resets",
            {"reset_token": s.reset_token(), "new_password": "a matrix passphrase 2031"},
            None,
        ),
    ),
    "POST /api/v1/users": (
        None,
        lambda s, i: (
            f"{A}/users",
            {
                "email": f"new-{datetime.now(UTC).timestamp()}@matrix.test",
                "name": "New",
                "password": PASSWORD,
                "organisation_id": s.lead_org,
                "roles": ["partner"],
            },
            None,
        ),
    ),
    "GET /api/v1/users/<uuid:user_id>": (
        None,
        lambda s, i: (f"{A}/users/{s.spare.id}", None, None),
    ),
    "POST /api/v1/users/<uuid:user_id>/roles": (
        None,
        lambda s, i: (f"{A}/users/{s.spare.id}/roles", {"role": "reviewer"}, None),
    ),
    "DELETE /api/v1/users/<uuid:user_id>/roles/<role>": (
        None,
        lambda s, i: (f"{A}/users/{s.fresh_account().id}/roles/partner", None, None),
    ),
    "POST /api/v1/users/<uuid:user_id>/deactivate": (
        None,
        lambda s, i: (f"{A}/users/{s.fresh_account().id}/deactivate", None, None),
    ),
    "GET /api/v1/users/me/data": (None, lambda s, i: (f"{A}/users/me/data", None, None)),
    "GET /api/v1/users/<uuid:user_id>/data": (
        None,
        lambda s, i: (f"{A}/users/{s.spare.id}/data", None, None),
    ),
    "POST /api/v1/users/<uuid:user_id>/erase": (
        None,
        lambda s, i: (f"{A}/users/{s.fresh_account().id}/erase", {"reason": "Matrix"}, None),
    ),
    "GET /api/v1/organisations": (None, lambda s, i: (f"{A}/organisations", None, None)),
    "POST /api/v1/organisations": (
        None,
        lambda s, i: (
            f"{A}/organisations",
            {"name": "Comune di Matrice", "type": "local_authority", "country": "IT"},
            None,
        ),
    ),
    "GET /api/v1/organisations/<uuid:organisation_id>": (
        None,
        lambda s, i: (f"{A}/organisations/{s.lead_org}", None, None),
    ),
    "GET /api/v1/initiatives": (None, lambda s, i: (f"{A}/initiatives", None, None)),
    "POST /api/v1/initiatives": (None, lambda s, i: (f"{A}/initiatives", proposal(), None)),
    "GET /api/v1/initiatives/<uuid:initiative_id>": (
        "proposal",
        lambda s, i: (f"{A}/initiatives/{i['id']}", None, None),
    ),
    "PATCH /api/v1/initiatives/<uuid:initiative_id>": (
        "co_design",
        lambda s, i: (f"{A}/initiatives/{i['id']}", {"expected_participants": 7}, i["version"]),
    ),
    "POST /api/v1/initiatives/<uuid:initiative_id>/partners": (
        "proposal",
        lambda s, i: (
            f"{A}/initiatives/{i['id']}/partners",
            {"organisation_id": s.spare.organisation_id},
            i["version"],
        ),
    ),
    "POST /api/v1/initiatives/<uuid:initiative_id>/partners/<uuid:organisation_id>/join": (
        "proposal",
        lambda s, i: (
            f"{A}/initiatives/{i['id']}/partners/{s.invited_org}/join",
            None,
            i["version"],
        ),
    ),
    "DELETE /api/v1/initiatives/<uuid:initiative_id>/partners/<uuid:organisation_id>": (
        "proposal",
        lambda s, i: (f"{A}/initiatives/{i['id']}/partners/{s.partner_org}", None, i["version"]),
    ),
    "POST /api/v1/initiatives/<uuid:initiative_id>/co-design": (
        "proposal",
        lambda s, i: (f"{A}/initiatives/{i['id']}/co-design", None, i["version"]),
    ),
    "POST /api/v1/initiatives/<uuid:initiative_id>/amendments": (
        "co_design",
        lambda s, i: (
            f"{A}/initiatives/{i['id']}/amendments",
            {
                "changes": {"expected_participants": 5},
                "rationale": "R.",
                "base_version": i["version"],
            },
            None,
        ),
    ),
    "POST /api/v1/initiatives/<uuid:initiative_id>/amendments/<uuid:amendment_id>/accept": (
        "amendment",
        lambda s, i: (
            f"{A}/initiatives/{i['id']}/amendments/{i['amendment_id']}/accept",
            None,
            i["version"],
        ),
    ),
    "POST /api/v1/initiatives/<uuid:initiative_id>/amendments/<uuid:amendment_id>/reject": (
        "amendment",
        lambda s, i: (
            f"{A}/initiatives/{i['id']}/amendments/{i['amendment_id']}/reject",
            {"reason": "Not now."},
            i["version"],
        ),
    ),
    "POST /api/v1/initiatives/<uuid:initiative_id>/submit": (
        "co_design",
        lambda s, i: (f"{A}/initiatives/{i['id']}/submit", None, i["version"]),
    ),
    "POST /api/v1/initiatives/<uuid:initiative_id>/reviews": (
        "in_review",
        lambda s, i: (
            f"{A}/initiatives/{i['id']}/reviews",
            {"decision": "approve", "rationale": "Good."},
            i["version"],
        ),
    ),
    "POST /api/v1/initiatives/<uuid:initiative_id>/follow-up": (
        "approved",
        lambda s, i: (f"{A}/initiatives/{i['id']}/follow-up", None, i["version"]),
    ),
    "POST /api/v1/initiatives/<uuid:initiative_id>/reports": (
        "follow_up",
        lambda s, i: (f"{A}/initiatives/{i['id']}/reports", REPORT, i["version"]),
    ),
    "POST /api/v1/initiatives/<uuid:initiative_id>/complete": (
        "reported",
        lambda s, i: (
            f"{A}/initiatives/{i['id']}/complete",
            {"outcomes": {"en": "O."}},
            i["version"],
        ),
    ),
    "POST /api/v1/initiatives/<uuid:initiative_id>/good-practice": (
        "completed",
        lambda s, i: (
            f"{A}/initiatives/{i['id']}/good-practice",
            {"rationale": "Replicable."},
            i["version"],
        ),
    ),
    "POST /api/v1/initiatives/<uuid:initiative_id>/withdraw": (
        "co_design",
        lambda s, i: (f"{A}/initiatives/{i['id']}/withdraw", {"reason": "Funding."}, i["version"]),
    ),
    "GET /api/v1/initiatives/<uuid:initiative_id>/history": (
        "proposal",
        lambda s, i: (f"{A}/initiatives/{i['id']}/history", None, None),
    ),
    "GET /api/v1/initiatives/<uuid:initiative_id>/diff": (
        "proposal",
        lambda s, i: (f"{A}/initiatives/{i['id']}/diff?from=1&to=2", None, None),
    ),
    "GET /api/v1/initiatives/<uuid:initiative_id>/audit-bundle": (
        "proposal",
        lambda s, i: (f"{A}/initiatives/{i['id']}/audit-bundle", None, None),
    ),
    "GET /api/v1/review-queue": (None, lambda s, i: (f"{A}/review-queue", None, None)),
    "GET /api/v1/me/inbox": (None, lambda s, i: (f"{A}/me/inbox", None, None)),
    "GET /api/v1/stats/impact": (None, lambda s, i: (f"{A}/stats/impact", None, None)),
    "GET /api/v1/projections": (None, lambda s, i: (f"{A}/projections", None, None)),
    "GET /api/v1/audit/entries": (None, lambda s, i: (f"{A}/audit/entries", None, None)),
    "GET /api/v1/audit/digest": (None, lambda s, i: (f"{A}/audit/digest", None, None)),
    "GET /api/v1/audit/verify": (None, lambda s, i: (f"{A}/audit/verify", None, None)),
    "GET /api/v1/events": (None, lambda s, i: (f"{A}/events", None, None)),
    # Activities: each cell on a fresh one (`Scene.activity`), built by the request builder.
    "POST /api/v1/activities": (None, lambda s, i: (f"{A}/activities", ACTIVITY, None)),
    "GET /api/v1/activities/<uuid:activity_id>": (None, lambda s, i: at(s.activity(), "")),
    "POST /api/v1/activities/<uuid:activity_id>/open-registration": (
        None,
        lambda s, i: at(s.activity(), "/open-registration"),
    ),
    "POST /api/v1/activities/<uuid:activity_id>/close-registration": (
        None,
        lambda s, i: at(s.activity("registration_open"), "/close-registration"),
    ),
    "POST /api/v1/activities/<uuid:activity_id>/held": (
        None,
        lambda s, i: at(s.activity("registration_closed"), "/held"),
    ),
    "POST /api/v1/activities/<uuid:activity_id>/cancel": (
        None,
        lambda s, i: at(s.activity(), "/cancel", {"reason": "Matrix."}),
    ),
    "GET /api/v1/activities/<uuid:activity_id>/registrations": (
        None,
        lambda s, i: at(s.activity(registered=True), "/registrations"),
    ),
    "POST /api/v1/activities/<uuid:activity_id>/registrations": (
        None,
        lambda s, i: at(s.activity(), "/registrations", PARTICIPANT),
    ),
    "DELETE /api/v1/activities/<uuid:activity_id>/registrations/<uuid:registration_id>": (
        None,
        lambda s, i: at(s.activity(registered=True), "/registrations/{rid}"),
    ),
    "POST /api/v1/activities/<uuid:activity_id>/registrations/<uuid:registration_id>/erase": (
        None,
        lambda s, i: at(s.activity(registered=True), "/registrations/{rid}/erase", {"reason": "M"}),
    ),
    "POST /api/v1/activities/<uuid:activity_id>/attendance": (
        None,
        lambda s, i: at(
            s.activity("registration_closed", registered=True),
            "/attendance",
            {"registration_ids": ["{rid}"], "attended": True},
        ),
    ),
    "GET /api/v1/activities/<uuid:activity_id>/attendance-lists": (
        None,
        lambda s, i: at(s.activity("held", registered=True), "/attendance-lists"),
    ),
    "POST /api/v1/activities/<uuid:activity_id>/attendance-lists/certify": (
        None,
        lambda s, i: at(
            s.activity("held", registered=True),
            "/attendance-lists/certify",
            {"town": "Bologna", "country": "IT"},
        ),
    ),
    "GET /api/v1/activities/<uuid:activity_id>/eligibility": (
        None,
        lambda s, i: at(s.activity("held", registered=True), "/eligibility?rules=town_twinning"),
    ),
}


def at(activity: dict[str, Any], suffix: str, body: Any = None) -> Request:
    """A request on the activity: `{rid}` in the path or a body's list is its registration;
    a command (a body, or a POST/DELETE path) sends If-Match with the version read."""
    rid = str(activity["registration_id"])
    if isinstance(body, dict) and "registration_ids" in body:
        body = {**body, "registration_ids": [rid]}
    return f"{A}/activities/{activity['id']}{suffix.format(rid=rid)}", body, activity["version"]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    app = create_app(
        {
            "data_dir": tmp_path_factory.mktemp("matrix"),
            "database_url": "",
            **FAST_HASHING,
            "admin_email": ADMIN_EMAIL,
            "admin_password": PASSWORD,
            "login_limit_per_email": "",
            "login_limit_per_address": "",
        }
    )
    yield Scene(app)
    close_app(app)


def routes(app: Flask) -> set[str]:
    """Every API route (the console's, which use sessions, have tests/service/
    test_console_access.py)."""
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/console"):
            continue
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                found.add(f"{method} {rule.rule}")
    return found


def test_the_matrix_covers_every_route_and_every_caller(scene: Scene) -> None:
    listed = set(EXPECTED) | set(MATRIX["not_endpoints"])
    assert routes(scene.world.app) == listed
    assert set(CASES) == set(EXPECTED)
    assert set(scene.clients) == set(CALLERS)


@pytest.mark.parametrize("endpoint", sorted(EXPECTED))
def test_every_caller_gets_the_expected_status(scene: Scene, endpoint: str) -> None:
    method = endpoint.split()[0]
    stage, build = CASES[endpoint]
    unexpected = []
    for caller in CALLERS:
        client = scene.clients[caller]
        if endpoint == "DELETE /api/v1/auth/tokens/current" and caller in CALLERS[:8]:
            client = scene.world.login(client.account["email"])  # its own token, to revoke
        if endpoint == "POST /api/v1/users/me/password" and caller in CALLERS[:8]:
            client = scene.twin(client)  # every token of the account is revoked
        initiative = scene.initiative(stage) if stage else {}
        path, body, version = build(scene, initiative)
        response = client.request(method, path, json=body, version=version)
        wanted = EXPECTED[endpoint][caller]
        if response.status_code != wanted:
            unexpected.append(
                (caller, wanted, response.status_code, response.get_json(silent=True))
            )
        if response.status_code >= 400:
            assert response.mimetype == "application/problem+json", (caller, response.mimetype)
    reliability.record(__name__, len(CALLERS))
    assert not unexpected, unexpected


# ----------------------------------------------------------------- partners drafts
ROW = re.compile(r"^(?P<method>\w+) (?P<path>[^?\s]+)(?P<query>\?\S+)?(?: \[(?P<stage>\w+)\])?$")


def statuses(row: Any) -> dict[str, str]:
    return dict(zip(CALLERS, str(row).split(), strict=True))


PARTNERS_DRAFTS = {key: statuses(row) for key, row in MATRIX["partners_drafts"].items()}


def test_the_partners_rows_name_endpoints_of_the_matrix() -> None:
    for key in PARTNERS_DRAFTS:
        match = ROW.match(key)
        assert match is not None, key
        assert f"{match['method']} {match['path']}" in EXPECTED, key


@pytest.mark.parametrize("key", sorted(PARTNERS_DRAFTS))
def test_a_partners_draft_is_known_only_to_its_organisations(scene: Scene, key: str) -> None:
    """Each cell on a fresh partners initiative: 404 (not 403, not 409) for whoever may not
    know it exists, and exactly the usual answer for everyone else."""
    match = ROW.match(key)
    assert match is not None
    endpoint = f"{match['method']} {match['path']}"
    default_stage, build = CASES[endpoint]
    stage = match["stage"] or default_stage
    assert stage is not None
    unknown = str(uuid4())
    unexpected = []
    for caller in CALLERS:
        initiative = scene.initiative(stage, "partners")
        path, body, version = build(scene, initiative)
        path += match["query"] or ""
        response = scene.clients[caller].request(match["method"], path, json=body, version=version)
        wanted = int(PARTNERS_DRAFTS[key][caller])
        if response.status_code != wanted:
            unexpected.append((caller, wanted, response.status_code, response.get_json()))
        elif wanted == 404:
            # The same answer as for an id that never existed, word for word.
            again = scene.clients[caller].request(
                match["method"],
                path.replace(initiative["id"], unknown),
                json=body,
                version=version,
            )
            assert again.status_code == 404, (caller, again.get_json())
            assert response.get_json() == {
                **again.get_json(),
                "detail": again.get_json()["detail"].replace(unknown, initiative["id"]),
            }
            assert initiative["title"]["en"] not in response.get_data(as_text=True)
        if response.status_code >= 400:
            assert response.mimetype == "application/problem+json", (caller, response.mimetype)
    reliability.record(__name__, len(CALLERS))
    assert not unexpected, unexpected


SEEN_IN = [
    (section, key, statuses(row))
    for section, rows in MATRIX["seen_in"].items()
    for key, row in rows.items()
]


def bodies(client: Client, path: str) -> tuple[int, str]:
    """The status and the text of every page of a list (one body for anything else)."""
    response = client.get(path)
    text = response.get_data(as_text=True)
    seen = 1
    while response.status_code == 200 and (response.get_json() or {}).get("next_cursor"):
        cursor = response.get_json()["next_cursor"]
        joiner = "&" if "?" in path else "?"
        response = client.get(f"{path}{joiner}cursor={cursor}")
        assert response.status_code == 200, response.get_json()
        text += response.get_data(as_text=True)
        seen += 1
        assert seen < 100, path
    return response.status_code, text


@pytest.mark.parametrize(
    ("section", "key", "cells"), SEEN_IN, ids=[f"{s}: {k}" for s, k, _ in SEEN_IN]
)
def test_bodies_show_an_initiative_to_whom_the_matrix_says(
    scene: Scene, section: str, key: str, cells: dict[str, str]
) -> None:
    """Content, not only statuses: a partners draft's id is in no list, search, queue,
    inbox or feed an outsider reads, and in every one its organisations read."""
    visibility, stage = section.split()
    word = f"matrix{uuid4().hex[:12]}"
    initiative = scene.initiative(stage, visibility, title=f"Draft {word}")
    scene.world.project()
    method, raw = key.split(" ", 1)
    assert method == "GET"
    path = raw.format(id=initiative["id"], lead=scene.lead_org, word=word)
    unexpected = []
    for caller in CALLERS:
        status, text = bodies(scene.clients[caller], path)
        wanted = cells[caller]
        present = initiative["id"] in text
        if wanted in ("y", "n"):
            if status != 200 or present != (wanted == "y"):
                unexpected.append((caller, wanted, status, present))
        elif status != int(wanted):
            unexpected.append((caller, wanted, status, present))
    reliability.record(__name__, len(CALLERS))
    assert not unexpected, unexpected

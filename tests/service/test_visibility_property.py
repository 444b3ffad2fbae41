"""A property over the whole service: for any state an initiative can reach, either
visibility and any kind of caller, the initiative is readable, listed, found and amendable
exactly when the rule says so (a model written here, not the domain's function)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from uuid import uuid4

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.app import close_app, create_app
from tests.conftest import FAST_HASHING
from tests.service.conftest import ADMIN_EMAIL, PASSWORD, Client, World, ok, proposal

A = "/api/v1"
KINDS = [
    "lead",
    "joined",
    "invited",
    "removed",  # invited, then removed by the lead
    "outsider",
    "reviewer",
    "conflicted",  # a reviewer of the joined organisation
    "partner_and_reviewer",  # both roles, an unrelated organisation
    "auditor",
    "admin",
]
# Whom the organisations of a draft include (the model's own list).
INVOLVED = {"lead", "joined", "invited", "conflicted"}
SEES_ALL = {"auditor", "admin"}
DRAFT_STATES = {"proposal", "co_design"}


def model_may_read(visibility: str, state: str, kind: str, submitted: bool) -> bool:
    """Drafts of partners, and those withdrawn before ever being submitted, are theirs."""
    withdrawn_unseen = state == "withdrawn" and not submitted
    if visibility == "network" or (state not in DRAFT_STATES and not withdrawn_unseen):
        return True
    return kind in INVOLVED or kind in SEES_ALL


class Cast:
    def __init__(self, app: Flask) -> None:
        self.world = w = World(app)
        self.lead_org = w.organisation(country="IT")
        self.joined_org = w.organisation(country="RS", type_="civil_society")
        self.invited_org = w.organisation(country="AL")
        self.removed_org = w.organisation(country="ME")
        self.clients: dict[str, Client] = {
            "lead": w.account(self.lead_org, "partner"),
            "joined": w.account(self.joined_org, "partner"),
            "invited": w.account(self.invited_org, "partner"),
            "removed": w.account(self.removed_org, "partner"),
            "outsider": w.partner(country="FR"),
            "reviewer": w.reviewer(country="DE"),
            "conflicted": w.account(self.joined_org, "reviewer"),
            "partner_and_reviewer": w.account(w.organisation(), "partner", "reviewer"),
            "auditor": w.account(w.organisation(type_="other"), "auditor"),
            "admin": w.admin,
        }
        self.second_reviewer = w.reviewer(country="AT")

    def initiative(self, visibility: str, path: str, word: str) -> dict[str, Any]:
        """A fresh initiative taken along `path`; its representation."""
        c = self.clients
        lead = c["lead"]
        body = ok(
            lead.post(
                f"{A}/initiatives",
                proposal(visibility=visibility, title={"en": f"Exchange {word}"}),
            ),
            201,
        )
        url = f"{A}/initiatives/{body['id']}"

        def step(client: Client, suffix: str, json: Any = None, status: int = 200) -> None:
            nonlocal body
            body = ok(client.post(f"{url}{suffix}", json, version=body["version"]), status)

        for org in (self.joined_org, self.invited_org, self.removed_org):
            step(lead, "/partners", {"organisation_id": org})
        step(c["joined"], f"/partners/{self.joined_org}/join")
        body = ok(lead.delete(f"{url}/partners/{self.removed_org}", version=body["version"]))
        review = {"decision": "approve", "rationale": "Sound."}
        actions: dict[str, Callable[[], None]] = {
            "co_design": lambda: step(lead, "/co-design"),
            "submit": lambda: step(lead, "/submit"),
            "approve": lambda: step(c["reviewer"], "/reviews", review),
            "request_changes": lambda: step(
                self.second_reviewer,
                "/reviews",
                {"decision": "request_changes", "rationale": "More partners."},
            ),
            "reject": lambda: step(
                self.second_reviewer, "/reviews", {"decision": "reject", "rationale": "No."}
            ),
            "follow_up": lambda: step(lead, "/follow-up"),
            "withdraw": lambda: step(lead, "/withdraw", {"reason": "Stopped."}),
        }
        for action in PATHS[path]:
            actions[action]()
        return body


# Each way through the workflow and the actions that take it there.
PATHS: dict[str, list[str]] = {
    "proposal": [],
    "co_design": ["co_design"],
    "withdrawn as a proposal": ["withdraw"],
    "withdrawn in co-design": ["co_design", "withdraw"],
    "in_review": ["co_design", "submit"],
    "withdrawn in review": ["co_design", "submit", "withdraw"],
    "back in co-design": ["co_design", "submit", "request_changes"],
    "rejected": ["co_design", "submit", "reject"],
    "approved": ["co_design", "submit", "approve"],
    "follow_up": ["co_design", "submit", "approve", "follow_up"],
}


@pytest.fixture(scope="module")
def cast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cast]:
    app = create_app(
        {
            "data_dir": tmp_path_factory.mktemp("visibility"),
            "database_url": "",
            **FAST_HASHING,
            "admin_email": ADMIN_EMAIL,
            "admin_password": PASSWORD,
            "login_limit_per_email": "",
            "login_limit_per_address": "",
        }
    )
    yield Cast(app)
    close_app(app)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    visibility=st.sampled_from(["network", "partners"]),
    path=st.sampled_from(sorted(PATHS)),
    kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=4, unique=True),
)
def test_state_visibility_and_caller_decide_who_sees_an_initiative(
    cast: Cast, visibility: str, path: str, kinds: list[str]
) -> None:
    word = uuid4().hex[:12]
    initiative = cast.initiative(visibility, path, word)
    state = initiative["state"]
    cast.world.project()
    url = f"{A}/initiatives/{initiative['id']}"
    for kind in kinds:
        client = cast.clients[kind]
        visible = model_may_read(visibility, state, kind, "submit" in PATHS[path])
        response = client.get(url)
        assert response.status_code == (200 if visible else 404), (kind, state, response.json)
        listed = ok(client.get(f"{A}/initiatives?q={word}"))["items"]
        assert [i["id"] for i in listed] == ([initiative["id"]] if visible else []), kind
        if visible:
            assert response.json["visibility"] == listed[0]["visibility"] == visibility
        # An amendment: any partner may propose one to a draft it may read.
        amended = client.post(
            f"{url}/amendments",
            {
                "changes": {"expected_participants": 3},
                "rationale": "More.",
                "base_version": initiative["version"],
            },
        )
        if not visible:
            assert amended.status_code == 404, (kind, amended.json)
        elif state in DRAFT_STATES and "partner" in client.account["roles"]:
            assert amended.status_code == 201, (kind, amended.json)
            initiative = amended.json
        else:
            assert amended.status_code in (403, 409), (kind, amended.json)

"""Who may read an initiative: the rule (`values.can_read`), the aggregate applying it, and
initiatives recorded before visibility existed (upcast to `network`)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Mapper

from domain.application import Twinning
from domain.errors import InvalidFields, NotFound, NotPermitted
from domain.initiative import Initiative
from domain.values import (
    VISIBILITIES,
    Caller,
    State,
    can_read,
    is_private,
    read_scope,
    sees_everything,
)
from tests.conftest import a_proposal

FIELDS = a_proposal(summary={"en": "Squares of twinned towns."})


def caller(organisation: str, *roles: str) -> Caller:
    return Caller(f"account-{organisation}-{'-'.join(roles)}", organisation, frozenset(roles))


LEAD = caller("org-lead", "partner")
INVITED = caller("org-invited", "partner")
OUTSIDER = caller("org-outsider", "partner")
REVIEWER = caller("org-board", "reviewer")
AUDITOR = caller("org-audit", "auditor")
ADMIN = caller("org-platform", "admin")

# The rule written out, not computed: state -> visibility -> readable by an uninvolved caller.
UNINVOLVED_MAY_READ = {
    State.PROPOSAL: {"network": True, "partners": False},
    State.CO_DESIGN: {"network": True, "partners": False},
    State.IN_REVIEW: {"network": True, "partners": True},
    State.APPROVED: {"network": True, "partners": True},
    State.FOLLOW_UP: {"network": True, "partners": True},
    State.COMPLETED: {"network": True, "partners": True},
    State.REJECTED: {"network": True, "partners": True},
    State.WITHDRAWN: {"network": True, "partners": True},
}


def test_the_table_covers_every_state_and_visibility() -> None:
    assert set(UNINVOLVED_MAY_READ) == set(State)
    assert all(set(row) == set(VISIBILITIES) for row in UNINVOLVED_MAY_READ.values())


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("visibility", VISIBILITIES)
@pytest.mark.parametrize("submitted", [True, False])
def test_can_read(state: State, visibility: str, submitted: bool) -> None:
    expected = UNINVOLVED_MAY_READ[state][visibility]
    # A partners draft withdrawn before it was ever submitted: the network never saw it.
    if not submitted and state is State.WITHDRAWN:
        expected = visibility == "network"
    assert is_private(visibility, state, submitted) is not expected
    for outsider in (OUTSIDER, REVIEWER, caller("org-x", "partner", "reviewer")):
        assert can_read(outsider, visibility, state, None, submitted=submitted) is expected
    for relation in ("lead", "joined", "invited"):
        assert can_read(OUTSIDER, visibility, state, relation, submitted=submitted)
        # a conflicted reviewer
        assert can_read(REVIEWER, visibility, state, relation, submitted=submitted)
    for everyone in (AUDITOR, ADMIN):
        assert can_read(everyone, visibility, state, None, submitted=submitted)


def test_read_scope_names_the_organisation_of_who_does_not_see_everything() -> None:
    assert read_scope(OUTSIDER) == "org-outsider"
    assert read_scope(REVIEWER) == "org-board"
    assert read_scope(AUDITOR) is None and read_scope(ADMIN) is None
    assert sees_everything(AUDITOR) and not sees_everything(LEAD)


def test_propose_records_the_visibility_and_defaults_to_network() -> None:
    assert Initiative.propose(LEAD, dict(FIELDS)).visibility == "network"
    initiative = Initiative.propose(LEAD, dict(FIELDS), "partners")
    assert initiative.visibility == "partners"
    [event] = initiative.collect_events()
    assert isinstance(event, Initiative.Proposed) and event.visibility == "partners"


def test_an_unknown_visibility_is_named_with_the_other_invalid_fields() -> None:
    with pytest.raises(InvalidFields) as invalid:
        Initiative.propose(LEAD, {**FIELDS, "themes": []}, "secret")
    assert set(invalid.value.errors) == {"themes", "visibility"}


def test_a_partners_draft_answers_outsiders_as_if_it_did_not_exist() -> None:
    initiative = Initiative.propose(LEAD, dict(FIELDS), "partners")
    initiative.invite_partner(LEAD, INVITED.organisation_id)
    assert initiative.readable_by(INVITED) and initiative.readable_by(LEAD)
    assert not initiative.readable_by(OUTSIDER) and not initiative.readable_by(REVIEWER)
    assert initiative.readable_by(AUDITOR) and initiative.readable_by(ADMIN)
    # Every command: 404 first, before the role, the relation or the state is looked at.
    with pytest.raises(NotFound, match=f"No initiative with id {initiative.id}."):
        initiative.propose_amendment(OUTSIDER, {"expected_participants": 3}, "More.", 1)
    with pytest.raises(NotFound):
        initiative.join(OUTSIDER, INVITED.organisation_id)
    with pytest.raises(NotFound):
        initiative.submit(OUTSIDER, {})
    # Whoever may read it is answered as usual.
    with pytest.raises(NotPermitted):
        initiative.start_co_design(INVITED)
    initiative.propose_amendment(INVITED, {"expected_participants": 3}, "More.", 2)


def test_a_removed_partner_loses_sight_of_the_draft() -> None:
    initiative = Initiative.propose(LEAD, dict(FIELDS), "partners")
    initiative.invite_partner(LEAD, INVITED.organisation_id)
    initiative.remove_partner(INVITED, INVITED.organisation_id)
    assert not initiative.readable_by(INVITED)


def mapper() -> Mapper[Any]:
    """The application's mapper (its transcodings), on an in-memory store."""
    app = Twinning(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    return app.mapper


def as_stored_before_visibility(stored: Any) -> Any:
    """The stored event or snapshot as a release without visibility wrote it."""
    state = json.loads(stored.state)
    state.pop("class_version", None)
    state.get("state", state).pop("class_version", None)  # a snapshot's aggregate state
    state.pop("visibility", None)
    state.get("state", {}).pop("visibility", None)
    return type(stored)(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=json.dumps(state).encode(),
    )


def test_a_proposal_stored_before_visibility_existed_is_a_network_one() -> None:
    initiative = Initiative.propose(LEAD, dict(FIELDS), "partners")
    [event] = initiative.collect_events()
    stored = mapper().to_stored_event(event)
    assert b'"visibility"' in stored.state and b'"class_version":2' in stored.state
    old = as_stored_before_visibility(stored)
    assert b"visibility" not in old.state
    loaded = mapper().to_domain_event(old)
    assert isinstance(loaded, Initiative.Proposed) and loaded.visibility == "network"
    rebuilt = loaded.mutate(None)
    assert isinstance(rebuilt, Initiative)
    assert rebuilt.visibility == "network" and rebuilt.readable_by(OUTSIDER)


def test_a_snapshot_taken_before_visibility_existed_is_of_a_network_one() -> None:
    initiative = Initiative.propose(LEAD, dict(FIELDS), "partners")
    initiative.collect_events()
    stored = mapper().to_stored_event(Snapshot.take(initiative))
    old = as_stored_before_visibility(stored)
    assert b"visibility" not in old.state
    rebuilt = mapper().to_domain_event(old).mutate(None)
    assert isinstance(rebuilt, Initiative) and rebuilt.visibility == "network"
    # And a snapshot of today keeps what was chosen.
    assert mapper().to_domain_event(stored).mutate(None).visibility == "partners"

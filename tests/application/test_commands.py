"""The application's commands on a real event store: what a failed save leaves behind, who
an account command records as its actor, and what a moment in time names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.account import Account
from domain.application import Twinning
from domain.errors import NotFound, NotPermitted, StaleVersion
from domain.initiative import Initiative
from domain.values import Caller, Role, State, system_actor
from service.config import Database, Settings

FIELDS: dict[str, Any] = {
    "title": {"en": "Shared squares"},
    "summary": {"en": "S"},
    "original_language": "en",
    "themes": ["youth"],
    "level": "national",
    "countries": ["IT"],
}
LEAD = Caller(str(uuid4()), str(uuid4()), frozenset({"partner"}))


def env_for(folder: Path) -> dict[str, str]:
    env = Database.parse("", folder).eventsourcing_env(Settings())
    # Without fast-forwarding, a cached copy is what the process last saw: two processes can
    # then act on the same version and one save conflicts, as happens in a race.
    env["TWINNING_AGGREGATE_CACHE_FASTFORWARD"] = "n"
    return env


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[tuple[Twinning, Twinning]]:
    """Two processes' applications on one store."""
    one, two = Twinning(env=env_for(tmp_path)), Twinning(env=env_for(tmp_path))
    yield one, two
    one.close()
    two.close()


def test_a_save_that_conflicts_leaves_no_trace_of_itself_in_the_cache(
    apps: tuple[Twinning, Twinning],
) -> None:
    one, two = apps
    conflicts: list[dict[UUID, int]] = []
    one.on_conflict = lambda tried: conflicts.append(dict(tried))
    initiative_id = one.propose(LEAD, FIELDS).aggregate.id
    assert one.initiative(initiative_id).version == 1  # cached by the first process
    two.start_co_design(initiative_id, 1, LEAD)
    with pytest.raises(StaleVersion) as stale:
        one.withdraw(initiative_id, 1, LEAD, "Stop.")
    assert stale.value.current_version == 2
    assert conflicts == [{initiative_id: 2}]
    after = one.initiative(initiative_id)
    assert (after.version, after.state) == (2, State.CO_DESIGN)
    assert one.withdraw(initiative_id, 2, LEAD, "Stop.").aggregate.state is State.WITHDRAWN


def test_an_account_changed_by_another_process_is_a_stale_version(
    apps: tuple[Twinning, Twinning],
) -> None:
    one, two = apps
    org = one.register_organisation(system_actor(), "Bologna", "local_authority", "IT")
    account_id = one.register_account(
        system_actor(), "a@b.eu", "A", org.aggregate.id, ["partner"]
    ).aggregate.id
    assert one.account(account_id).version == 1
    two.grant_role(account_id, "reviewer", system_actor())
    with pytest.raises(StaleVersion) as stale:
        one.grant_role(account_id, "auditor", system_actor())
    assert stale.value.detail == "The account changed at the same time; please try again."
    assert stale.value.current_version == 2


def account_events(app: Twinning, account_id: UUID) -> list[Any]:
    return list(app.events.get(account_id))


def test_account_commands_record_who_acted(apps: tuple[Twinning, Twinning]) -> None:
    app, _ = apps
    org = app.register_organisation(system_actor(), "Bologna", "local_authority", "IT")
    admin = Caller(str(uuid4()), str(org.aggregate.id), frozenset({"admin"}))
    acting = admin.acting_as(Role.ADMIN)
    account_id = app.register_account(
        acting, "a@b.eu", "A", org.aggregate.id, ["partner"]
    ).aggregate.id
    app.grant_role(account_id, "reviewer", acting)
    app.revoke_role(account_id, "partner", acting)
    app.deactivate(account_id, acting)
    events = account_events(app, account_id)
    assert [type(e).__name__ for e in events] == [
        "Registered",
        "RoleGranted",
        "RoleRevoked",
        "Deactivated",
    ]
    assert [e.actor for e in events] == [acting] * 4
    account = app.account(account_id)
    assert isinstance(account, Account)
    assert (account.roles, account.active) == (["reviewer"], False)


def test_nobody_deactivates_their_own_account(apps: tuple[Twinning, Twinning]) -> None:
    app, _ = apps
    org = app.register_organisation(system_actor(), "Bologna", "local_authority", "IT")
    account_id = app.register_account(
        system_actor(), "admin@b.eu", "A", org.aggregate.id, ["admin"]
    ).aggregate.id
    itself = app.account(account_id).caller().acting_as(Role.ADMIN)
    with pytest.raises(NotPermitted) as refused:
        app.deactivate(account_id, itself)
    assert refused.value.detail == "You cannot deactivate your own account."
    assert app.account(account_id).active


def test_a_moment_names_the_last_version_recorded_at_or_before_it(
    apps: tuple[Twinning, Twinning],
) -> None:
    app, _ = apps
    initiative_id = app.propose(LEAD, FIELDS).aggregate.id
    app.start_co_design(initiative_id, 1, LEAD)
    first, second = (getattr(e, "timestamp") for e in app.events.get(initiative_id))  # noqa: B009
    assert app.version_at(initiative_id, first) == 1  # an event at that very moment counts
    assert app.version_at(initiative_id, second) == 2
    assert app.initiative(initiative_id, as_of=first).state is State.PROPOSAL
    with pytest.raises(NotFound) as before:
        app.version_at(initiative_id, first.replace(year=first.year - 1))
    assert before.value.detail.startswith("The initiative did not exist yet at ")
    unknown = uuid4()
    with pytest.raises(NotFound) as missing:
        app.version_at(unknown, first)
    assert missing.value.detail == f"No initiative with id {unknown}."


def test_an_unknown_or_other_aggregate_is_not_an_initiative(
    apps: tuple[Twinning, Twinning],
) -> None:
    app, _ = apps
    org = app.register_organisation(system_actor(), "Bologna", "local_authority", "IT")
    with pytest.raises(NotFound) as refused:
        app.initiative(org.aggregate.id)
    assert refused.value.detail == f"No initiative with id {org.aggregate.id}."
    assert isinstance(app.propose(LEAD, FIELDS).aggregate, Initiative)

"""Account corrections on a real event store, raced by two processes: an email is claimed
and released in the same save as the account's event, so a lost race leaves nothing behind.
The processes do not fast-forward their caches, so each acts on what it last saw."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from domain.application import Twinning
from domain.errors import DuplicateEmail, StaleVersion
from domain.personal import PersonalData
from domain.values import system_actor
from tests.application.test_commands import env_for

ACTOR = system_actor()


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[tuple[Twinning, Twinning, Twinning]]:
    """Two racing processes, and a third that reads the store afresh afterwards."""
    personal = PersonalData.in_memory()  # processes of one service share its keys
    made = tuple(Twinning(env=env_for(tmp_path), personal=personal) for _ in range(3))
    yield made
    for app in made:
        app.close()


def register(app: Twinning, email: str) -> UUID:
    org = app.register_organisation(
        actor=ACTOR, name="Bologna", type_="local_authority", country="IT"
    )
    return app.register_account(
        actor=ACTOR, email=email, name="A", organisation_id=org.aggregate.id, roles=["partner"]
    ).aggregate.id


def owner(app: Twinning, email: str) -> UUID | None:
    found = app.account_by_email(email)
    return None if found is None else found.id


def test_an_email_freed_in_one_process_is_claimed_once(
    apps: tuple[Twinning, Twinning, Twinning],
) -> None:
    one, two, store = apps
    ana, ben, cleo = (register(one, f"{n}@b.eu") for n in ("ana", "ben", "cleo"))
    one.rectify_account(cleo, actor=ACTOR, email="cleo.new@b.eu")  # frees cleo@b.eu
    assert one.account_by_email("cleo@b.eu") is None  # one has it cached as released
    two.rectify_account(ben, actor=ACTOR, email="cleo@b.eu")
    with pytest.raises(DuplicateEmail):
        one.rectify_account(ana, actor=ACTOR, email="cleo@b.eu")
    assert owner(store, "cleo@b.eu") == ben and owner(store, "ben@b.eu") is None
    assert owner(store, "ana@b.eu") == ana and store.account(ana).email == "ana@b.eu"


def test_a_correction_that_lost_a_race_claims_and_frees_nothing(
    apps: tuple[Twinning, Twinning, Twinning], tmp_path: Path
) -> None:
    one, two, store = apps
    ana = register(one, "ana@b.eu")
    assert one.account(ana).version == 1  # cached by the first process
    two.grant_role(ana, actor=ACTOR, role="reviewer")
    with pytest.raises(StaleVersion) as stale:
        one.rectify_account(ana, actor=ACTOR, email="ana.new@b.eu")
    assert stale.value.current_version == 2
    assert owner(store, "ana@b.eu") == ana and owner(store, "ana.new@b.eu") is None
    moved = one.rectify_account(ana, actor=ACTOR, email="ana.new@b.eu").aggregate
    assert (moved.version, moved.email, moved.roles) == (3, "ana.new@b.eu", ["partner", "reviewer"])
    # `store` has the old claim cached by now
    later = Twinning(env=env_for(tmp_path), personal=store.personal)
    assert owner(later, "ana.new@b.eu") == ana and owner(later, "ana@b.eu") is None
    later.close()

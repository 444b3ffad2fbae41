"""The master key can be changed without losing anyone's data: a store whose keys were
stored unwrapped, then wrapped with key A, opens with key B only once `rotate-master-key`
has rewrapped them (with A given as the previous key meanwhile); an erasure made during the
rotation stays made; erasures can be applied again after a key table is restored."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from domain.values import Role, system_actor
from service.cli import main as cli
from service.config import ConfigError, Settings
from service.infrastructure import privacy
from service.infrastructure.keys import personal_keys
from service.infrastructure.runtime import Runtime
from tests.conftest import FAST_HASHING

SECRET = "lookup-key-of-the-tests-0123456789abcdef"
KEY_A = "master-key-A-0123456789abcdef0123456789"
KEY_B = "master-key-B-0123456789abcdef0123456789"
KEY_WRONG = "master-key-W-0123456789abcdef0123456789"
PASSWORD = "a password of twelve"


@pytest.fixture(autouse=True)
def root_logging() -> Iterator[None]:
    """The commands configure logging to the runner's stderr, closed after each run: the
    root logger is put back as it was."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def settings(backend: dict[str, Any], master: str = "", previous: str = "") -> Settings:
    return Settings.from_env(
        environ={},
        overrides={
            **backend,
            **FAST_HASHING,
            "secret_key": SECRET,
            "master_key": master,
            "previous_master_key": previous,
        },
    )


@contextlib.contextmanager
def running(backend: dict[str, Any], master: str = "", previous: str = "") -> Iterator[Runtime]:
    rt = Runtime(settings(backend, master, previous))
    try:
        yield rt
    finally:
        rt.close()


def register(rt: Runtime, n: int, tag: str) -> dict[UUID, tuple[str, str]]:
    organisation = rt.platform_organisation()
    people = {}
    for i in range(n):
        email, name = f"{tag}{i}@example.eu", f"Person {tag} {i}"
        outcome = rt.app.register_account(
            actor=system_actor(),
            email=email,
            name=name,
            organisation_id=organisation.id,
            roles=[Role.PARTNER.value],
        )
        rt.credentials.set_password(str(outcome.aggregate.id), PASSWORD)
        people[outcome.aggregate.id] = (email, name)
    return people


def reads_back(rt: Runtime, people: dict[UUID, tuple[str, str]]) -> None:
    for account_id, (email, name) in people.items():
        account = rt.app.account(account_id)
        assert (account.email, account.name) == (email, name)
        found = rt.app.account_by_email(email)
        assert found is not None and found.id == account_id


def stored_keys(rt: Runtime) -> dict[str, str]:
    with rt.engine.connect() as conn:
        rows = conn.execute(sa.select(personal_keys.c.subject, personal_keys.c.wrapped_by))
        return {subject: wrapped_by for subject, wrapped_by in rows}


def test_rotation_from_unwrapped_and_key_a_to_key_b(backend: dict[str, Any]) -> None:
    with running(backend) as rt:
        unwrapped = register(rt, 2, "plain")
    with running(backend, KEY_A) as rt:
        wrapped = register(rt, 3, "alpha")
        reads_back(rt, unwrapped | wrapped)
    people = unwrapped | wrapped

    with pytest.raises(ConfigError) as refused:
        Runtime(settings(backend, KEY_B))
    message = str(refused.value)
    assert "\n" not in message
    assert "TWINNING_MASTER_KEY" in message and "TWINNING_PREVIOUS_MASTER_KEY" in message
    assert message.startswith("3 personal data keys")
    with pytest.raises(ConfigError):
        Runtime(settings(backend, KEY_B, KEY_WRONG))

    with running(backend, KEY_B, KEY_A) as rt, running(backend, KEY_B, KEY_A) as other:
        reads_back(rt, people)
        assert rt.keyring.status() == {"current": 0, "previous": 3, "unwrapped": 2, "unknown": 0}
        fresh = register(rt, 1, "beta")  # made during the rotation: wrapped with B at once
        people |= fresh
        gone = next(iter(wrapped))
        # Another process erases an account between the rotation's read and its write.
        erased: list[UUID] = []

        def erase_first(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            if statement.startswith("UPDATE twinning_personal_keys") and not erased:
                erased.append(gone)
                privacy.erase(other, gone, system_actor(), "asked to be forgotten")

        sa.event.listen(rt.engine, "before_cursor_execute", erase_first)
        try:
            assert rt.keyring.rotate() == 4  # 2 unwrapped + 3 wrapped with A, 1 erased
        finally:
            sa.event.remove(rt.engine, "before_cursor_execute", erase_first)
        assert erased == [gone]
        del people[gone]
        assert set(stored_keys(rt).values()) == {rt.keyring.masters.current_name}
        assert str(gone) not in stored_keys(rt)
        assert rt.keyring.rotate() == 0

    with running(backend, KEY_B) as rt:
        reads_back(rt, people)
        account = rt.app.account(gone)
        assert account.erased and account.email is None and account.name is None
        assert rt.keyring.key(str(gone)) is None
        assert rt.keyring.status() == {"current": 5, "previous": 0, "unwrapped": 0, "unknown": 0}
    with pytest.raises(ConfigError):  # a process still on the old key cannot open them
        Runtime(settings(backend, KEY_A))


def env_of(backend: dict[str, Any], master: str | None, previous: str | None) -> dict[str, Any]:
    env: dict[str, Any] = {f"TWINNING_{k.upper()}": str(v) for k, v in backend.items()}
    env.update(
        TWINNING_SECRET_KEY=SECRET,
        TWINNING_MASTER_KEY=master,
        TWINNING_PREVIOUS_MASTER_KEY=previous,
        TWINNING_ARGON2_TIME_COST=str(FAST_HASHING["argon2_time_cost"]),
        TWINNING_ARGON2_MEMORY_KIB=str(FAST_HASHING["argon2_memory_kib"]),
        TWINNING_LOG_LEVEL="ERROR",
    )
    return env


def test_the_commands_rotate_and_report(backend: dict[str, Any]) -> None:
    with running(backend, KEY_A) as rt:
        people = register(rt, 3, "cli")
    runner = CliRunner()

    wrong = runner.invoke(cli, ["rotate-master-key"], env=env_of(backend, KEY_B, KEY_WRONG))
    assert wrong.exit_code == 2
    [line] = wrong.stderr.splitlines()
    assert line.startswith("twinning: configuration error: 3 personal data keys")
    assert "TWINNING_PREVIOUS_MASTER_KEY" in line
    no_key = runner.invoke(cli, ["rotate-master-key"], env=env_of(backend, None, None))
    assert no_key.exit_code == 2 and "TWINNING_MASTER_KEY" in no_key.stderr

    env = env_of(backend, KEY_B, KEY_A)
    status = runner.invoke(cli, ["keys", "status"], env=env)
    assert status.exit_code == 0, status.stderr
    counts = [int(line.rsplit(None, 1)[1]) for line in status.stdout.splitlines()]
    assert counts == [0, 3, 0, 0]

    rotated = runner.invoke(cli, ["rotate-master-key"], env=env)
    assert rotated.exit_code == 0, rotated.stderr
    assert rotated.stdout.startswith("twinning: 3 personal data keys rewrapped")
    again = runner.invoke(cli, ["rotate-master-key"], env=env)
    assert again.exit_code == 0 and again.stdout.startswith("twinning: 0 personal")

    status = runner.invoke(cli, ["keys", "status"], env=env_of(backend, KEY_B, None))
    counts = [int(line.rsplit(None, 1)[1]) for line in status.stdout.splitlines()]
    assert counts == [3, 0, 0, 0]
    with running(backend, KEY_B) as rt:
        reads_back(rt, people)


def registered_email(rt: Runtime, account_id: UUID) -> str | None:
    first = next(iter(rt.app.events.get(account_id)))
    return first.email.value  # type: ignore[attr-defined, no-any-return]


def test_erasures_are_applied_again_after_a_key_table_is_restored(
    backend: dict[str, Any],
) -> None:
    with running(backend, KEY_A) as rt:
        people = register(rt, 3, "restore")
        gone, kept = list(people)[:2]
        with rt.engine.connect() as conn:  # the backup, taken before the erasure
            backup = [
                dict(row._mapping)
                for row in conn.execute(
                    sa.select(personal_keys).where(personal_keys.c.subject == str(gone))
                )
            ]
        privacy.erase(rt, gone, system_actor(), "asked to be forgotten")
        assert rt.app.account(gone).email is None
        with rt.engine.begin() as conn:  # the backup restored
            conn.execute(sa.insert(personal_keys), backup)
        rt.credentials.set_password(str(gone), PASSWORD)
    with running(backend, KEY_A) as rt:
        # What a restore does: the erased person's data reads back from the events.
        assert registered_email(rt, gone) == people[gone][0]

    runner = CliRunner()
    env = env_of(backend, KEY_A, None)
    done = runner.invoke(cli, ["reapply-erasures"], env=env)
    assert done.exit_code == 0, done.stderr
    assert done.stdout.startswith("twinning: 1 erased accounts in the event store; 0 erased")
    assert "; 1 of their keys" in done.stdout
    again = runner.invoke(cli, ["reapply-erasures"], env=env)
    assert again.exit_code == 0 and "; 0 of their keys" in again.stdout

    with running(backend, KEY_A) as rt:
        account = rt.app.account(gone)
        assert account.email is None and account.name is None
        assert registered_email(rt, gone) is None
        assert rt.keyring.key(str(gone)) is None
        assert not rt.credentials.check_password(str(gone), PASSWORD)
        del people[gone]
        reads_back(rt, people)
        assert rt.credentials.check_password(str(kept), PASSWORD)


def test_participants_erasures_are_applied_again_after_a_key_table_is_restored(
    backend: dict[str, Any],
) -> None:
    from tests.application.test_activities import World

    with running(backend, KEY_A) as rt:
        world, app = World(rt), rt.app
        activity = world.plan()
        ids = [world.register(activity, name=f"P{n}") for n in range(3)]
        with rt.engine.connect() as conn:  # the backup, taken before the erasures
            backup = [
                dict(row._mapping)
                for row in conn.execute(
                    sa.select(personal_keys).where(personal_keys.c.subject.in_(ids))
                )
            ]
        app.erase_registration(activity.id, caller=world.p, registration_id=ids[0], reason="A")
        version = app.activity(activity.id).version
        app.cancel_activity(activity.id, caller=world.p, expected_version=version, reason="Off")
        app.shred_participants(activity.id, caller=world.p, reason="Retention")
        assert all(rt.keyring.key(rid, fresh=True) is None for rid in ids)
        with rt.engine.begin() as conn:  # the backup restored
            conn.execute(sa.insert(personal_keys), backup)
    with running(backend, KEY_A) as rt:
        # What a restore does: the erased participants read back from the events.
        assert registered_names(rt, activity.id) == ["P0", "P1", "P2"]

    runner, env = CliRunner(), env_of(backend, KEY_A, None)
    done = runner.invoke(cli, ["reapply-erasures"], env=env)
    assert done.exit_code == 0, done.stderr
    assert "; 3 erased participants; 3 of their keys" in done.stdout
    again = runner.invoke(cli, ["reapply-erasures"], env=env)
    assert "; 3 erased participants; 0 of their keys" in again.stdout
    with running(backend, KEY_A) as rt:
        assert all(rt.keyring.key(rid, fresh=True) is None for rid in ids)
        assert registered_names(rt, activity.id) == [None, None, None]


def registered_names(rt: Runtime, activity_id: UUID) -> list[str | None]:
    """The names as the registration events hold them (opened with the keys there are)."""
    return [
        event.name.value  # type: ignore[attr-defined]
        for event in rt.app.events.get(activity_id)
        if type(event).__name__ == "Registered"
    ]

"""Stores of the release before personal data was sealed: the service refuses to start on
one, and `twinning migrate-personal-data` copies one into a new store with every name and
email sealed, the same aggregates, versions and times, and a new audit chain whose first
event records the old chain's head.

The old store is written by hand, byte for byte as that release wrote it (checked against
an event it stored), through the recorder: today's application would seal what it writes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from click.testing import CliRunner, Result
from eventsourcing.persistence import StoredEvent

from domain.application import Twinning
from domain.lineage import LINEAGE_ID
from domain.values import Actor, Caller, system_actor
from projections.queries import audit as audit_reads
from projections.registry import create_tables as create_view_tables
from projections.runner import Projector
from projections.verification import STATE, raw_rows
from service.cli import main as cli
from service.config import ConfigError, Settings
from service.infrastructure.credentials import Credentials
from service.infrastructure.migration import old_index_id
from service.infrastructure.runtime import Runtime, make_engine, prepare_database
from tests.conftest import FAST_HASHING, PG_URL, a_proposal, drop_schema

SECRET = "a-test-secret-key-of-at-least-32-characters"
PASSWORD = "correct horse battery staple"
COMMAND = "twinning migrate-personal-data --to"

# An Account.Registered as the earlier release (4cb46a8) stored it.
EARLIER_REGISTERED = (
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-03T18:33:09.688725+00:00"},'
    b'"originator_topic":"domain.account:Account","email":"a@x.eu","name":"Ann",'
    b'"organisation_id":"ef2fbb68-2358-43c9-9a29-fa22b9ac7c1c","roles":["partner"],'
    b'"actor":{"_type_":"actor","_data_":{"account_id":"system","organisation_id":"system",'
    b'"role":"system","request_id":null}}}'
)


def stored(document: dict[str, Any]) -> bytes:
    """A state as that release's transcoder wrote it: compact JSON, UTF-8."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def when(at: datetime) -> dict[str, str]:
    return {"_type_": "datetime_iso", "_data_": at.isoformat()}


def actor_of(actor: Actor) -> dict[str, Any]:
    return {"_type_": "actor", "_data_": actor.as_dict()}


def registered(at: datetime, email: str, name: str, organisation: str, roles: list[str]) -> bytes:
    return stored(
        {
            "timestamp": when(at),
            "originator_topic": "domain.account:Account",
            "email": email,
            "name": name,
            "organisation_id": organisation,
            "roles": roles,
            "actor": actor_of(system_actor()),
        }
    )


@dataclass
class Person:
    id: UUID
    email: str
    name: str
    version: int
    at: datetime


@dataclass
class EarlierStore:
    """Writes the store as the earlier release did: accounts with their names and emails as
    plain text, each email claimed at its guessable uuid5 id."""

    settings: Settings
    people: dict[str, Person] = field(default_factory=dict)
    claims: dict[UUID, tuple[int, UUID | None]] = field(default_factory=dict)
    clock: datetime = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __post_init__(self) -> None:
        database = self.settings.database
        self.engine = make_engine(database, self.settings)
        prepare_database(self.engine, database)
        self.app = Twinning(env=database.eventsourcing_env(self.settings))
        self.credentials = Credentials(
            self.engine, PasswordHasher(time_cost=1, memory_cost=1024), timedelta(hours=1)
        )
        self.credentials.create_tables()

    def now(self) -> datetime:
        self.clock += timedelta(seconds=1, microseconds=1234)
        return self.clock

    def insert(self, originator_id: UUID, version: int, topic: str, state: bytes) -> None:
        self.app.recorder.insert_events([StoredEvent(originator_id, version, topic, state)])

    def _claim(self, email: str, account_id: UUID) -> None:
        index = old_index_id(email)
        version, _ = self.claims.get(index, (0, None))
        owner = {"_type_": "uuid_hex", "_data_": account_id.hex}
        if version == 0:
            state = {
                "timestamp": when(self.now()),
                "originator_topic": "domain.account:EmailIndex",
                "account_id": owner,
            }
            self.insert(index, 1, "domain.account:EmailIndex.Claimed", stored(state))
        else:
            state = {"timestamp": when(self.now()), "account_id": owner}
            self.insert(index, version + 1, "domain.account:EmailIndex.Reclaimed", stored(state))
        self.claims[index] = (version + 1, account_id)

    def register(self, key: str, email: str, name: str, organisation: UUID) -> Person:
        person = Person(uuid4(), email, name, 1, self.now())
        state = registered(person.at, email, name, str(organisation), ["partner"])
        self.insert(person.id, 1, "domain.account:Account.Registered", state)
        self._claim(email, person.id)
        self.credentials.set_password(str(person.id), PASSWORD)
        self.people[key] = person
        return person

    def rectify(self, key: str, name: str | None = None, email: str | None = None) -> None:
        person = self.people[key]
        old_email = person.email
        person.name, person.email = name or person.name, email or person.email
        person.version, person.at = person.version + 1, self.now()
        state = {
            "timestamp": when(person.at),
            "name": person.name,
            "email": person.email,
            "actor": actor_of(system_actor()),
        }
        self.insert(person.id, person.version, "domain.account:Account.Rectified", stored(state))
        if person.email != old_email:
            self._claim(person.email, person.id)
            index = old_index_id(old_email)
            version, _ = self.claims[index]
            released = stored({"timestamp": when(self.now())})
            self.insert(index, version + 1, "domain.account:EmailIndex.Released", released)
            self.claims[index] = (version + 1, None)

    def grant(self, key: str, role: str) -> None:
        person = self.people[key]
        person.version, person.at = person.version + 1, self.now()
        state = {"timestamp": when(person.at), "role": role, "actor": actor_of(system_actor())}
        self.insert(person.id, person.version, "domain.account:Account.RoleGranted", stored(state))

    def build(self) -> None:
        """Organisations and initiatives (recorded as today: their events did not change)
        around accounts, one renamed, one moved to a new email, whose old one another
        account then registered; and the audit view, caught up."""
        app = self.app
        rome = app.register_organisation(
            actor=system_actor(), name="Roma Capitale", type_="local_authority", country="IT"
        ).aggregate.id
        lyon = app.register_organisation(
            actor=system_actor(), name="Ville de Lyon", type_="local_authority", country="FR"
        ).aggregate.id
        giulia = self.register("giulia", "giulia@rome.example", "Giulia Rossi", rome)
        self.register("claire", "Claire.Martin@lyon.example", "Claire Martin", lyon)
        self.register("milan", "milan@rome.example", "Milan Petrović", rome)
        self.grant("milan", "reviewer")
        caller = Caller(str(giulia.id), str(rome), frozenset({"partner"}))
        created = app.propose(caller=caller, fields=a_proposal()).aggregate
        app.invite_partner(
            created.id, caller=caller, expected_version=created.version, organisation_id=lyon
        )
        self.rectify("giulia", name="Giulia Bianchi")
        self.rectify("claire", email="claire@lyon.example")
        self.register("other", "claire.martin@lyon.example", "Another Claire", lyon)
        app.propose(caller=caller, fields=a_proposal(title={"en": "Second"}))
        create_view_tables(self.engine)
        Projector(app, self.engine).catch_up()

    def close(self) -> None:
        self.app.close()
        self.engine.dispose()


def env_of(settings: dict[str, Any]) -> dict[str, str]:
    names = ("data_dir", "database_url", "database_schema", "secret_key", *FAST_HASHING)
    return {f"TWINNING_{n.upper()}": str(settings[n]) for n in names if n in settings}


@pytest.fixture
def source(backend: dict[str, Any], tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The settings of a store the earlier release wrote (built once per test)."""
    overrides = {"data_dir": tmp_path / "var", **backend, **FAST_HASHING, "secret_key": SECRET}
    yield overrides


@pytest.fixture
def earlier(source: dict[str, Any]) -> Iterator[EarlierStore]:
    store = EarlierStore(Settings.from_env(environ={}, overrides=source))
    store.build()
    yield store
    store.close()


@pytest.fixture
def target(source: dict[str, Any], tmp_path: Path) -> Iterator[tuple[list[str], dict[str, Any]]]:
    """The new store: the --to options, and the settings to open it with."""
    if source["database_url"]:
        schema = f"t_{uuid.uuid4().hex[:16]}"
        try:
            yield (
                ["--to", PG_URL, "--to-schema", schema],
                {**source, "database_schema": schema},
            )
        finally:
            drop_schema(schema)
        return
    url = f"sqlite:///{tmp_path / 'new' / 'events.sqlite'}"
    yield ["--to", url], {**source, "database_url": url}


def migrate(source: dict[str, Any], options: list[str]) -> Result:
    return CliRunner().invoke(cli, ["migrate-personal-data", *options], env=env_of(source))


def test_the_builder_writes_what_the_earlier_release_wrote() -> None:
    at = datetime.fromisoformat("2026-12-03T18:33:09.688725+00:00")
    organisation = "ef2fbb68-2358-43c9-9a29-fa22b9ac7c1c"
    assert registered(at, "a@x.eu", "Ann", organisation, ["partner"]) == EARLIER_REGISTERED


def test_the_service_refuses_to_start_on_a_clear_text_store(
    earlier: EarlierStore, source: dict[str, Any]
) -> None:
    with pytest.raises(ConfigError) as refused:
        Runtime(Settings.from_env(environ={}, overrides=source))
    message = str(refused.value)
    assert "\n" not in message and "clear text" in message and COMMAND in message
    started = CliRunner().invoke(cli, ["init"], env=env_of(source))
    assert started.exit_code == 2
    [line] = started.output.strip().splitlines()
    assert COMMAND in line


def test_a_migrated_store_holds_the_same_history_with_personal_data_sealed(
    earlier: EarlierStore, source: dict[str, Any], target: tuple[list[str], dict[str, Any]]
) -> None:
    options, target_settings = target
    old_head = int(earlier.app.recorder.max_notification_id() or 0)
    with earlier.engine.connect() as conn:
        old_link = conn.execute(
            sa.text("SELECT link_hash FROM audit_entries WHERE position = :p"), {"p": old_head}
        ).scalar_one()
    old_initiatives = {
        n.originator_id: earlier.app.repository.get(n.originator_id)
        for n in earlier.app.recorder.select_notifications(1, old_head)
        if n.topic.startswith("domain.initiative:")
    }
    result = migrate(source, options)
    assert result.exit_code == 0, result.output
    assert old_link in result.output and f"migrated {old_head} events" in result.output

    rt = Runtime(Settings.from_env(environ={}, overrides=target_settings))
    try:
        app = rt.app
        for person in earlier.people.values():
            account = app.account(person.id)
            assert (account.email, account.name) == (person.email.lower(), person.name)
            assert (account.version, account.modified_on) == (person.version, person.at)
            assert app.account_by_email(person.email).id == person.id  # type: ignore[union-attr]
            assert rt.credentials.check_password(str(person.id), PASSWORD)
        assert app.account(earlier.people["milan"].id).roles == ["partner", "reviewer"]
        # the email Claire moved away from now belongs to the account registered with it
        claimed = app.account_by_email("claire.martin@lyon.example")
        assert claimed is not None and claimed.id == earlier.people["other"].id
        for initiative_id, old in old_initiatives.items():
            new = app.initiative(initiative_id)
            assert (new.version, new.modified_on, new.fields) == (
                old.version,
                old.modified_on,
                old.fields,
            )
            assert (new.state, new.partners) == (old.state, old.partners)

        # no email or name in clear text anywhere in the new store
        head = rt.projector.head()
        assert head == old_head + 1
        rt.projector.catch_up()
        plain = [p.email.lower().encode() for p in earlier.people.values()]
        plain += [b"Rossi", b"Bianchi", "Petrović".encode()]
        states = b"".join(bytes(row[STATE]) for row in raw_rows(app.recorder, 1, head, head))
        with rt.engine.connect() as conn:
            changes = "".join(
                conn.execute(sa.text("SELECT changes FROM audit_entries")).scalars()
            ).encode()
        assert not [s for s in plain if s in states or s in changes]
        if target_settings["database_url"].startswith("sqlite"):
            folder = Path(target_settings["database_url"][len("sqlite:///") :]).parent
            files = b"".join(path.read_bytes() for path in folder.iterdir())
            assert not [s for s in plain if s in files]

        # the new chain verifies, and starts from the old chain's head
        with rt.engine.connect() as conn:
            assert audit_reads.verify(app, conn, head, None)["ok"] is True
            first = conn.execute(
                sa.text(
                    "SELECT aggregate_type, aggregate_id, changes FROM audit_entries "
                    "ORDER BY position LIMIT 1"
                )
            ).one()
        assert first.aggregate_type == "store_lineage" and first.aggregate_id == str(LINEAGE_ID)
        lineage = json.loads(first.changes)
        assert lineage["previous_head"]["new"] == old_link
        assert lineage["previous_events"]["new"] == old_head
        assert lineage["previous_position"]["new"] == old_head

        # and erasure works on it: the person's data is gone, the chain still verifies
        claire = earlier.people["claire"]
        admin = Actor(str(earlier.people["milan"].id), "x", "admin")
        erased = app.erase_account(claire.id, actor=admin, reason="Art. 17 request")
        assert erased.aggregate.email is None and app.account(claire.id).name is None
        assert app.account_by_email(claire.email) is None
        rt.projector.catch_up()
        with rt.engine.connect() as conn:
            assert audit_reads.verify(app, conn, rt.projector.head(), None)["ok"] is True
    finally:
        rt.close()


def test_a_target_holding_events_or_the_store_itself_is_refused(
    earlier: EarlierStore, source: dict[str, Any], target: tuple[list[str], dict[str, Any]]
) -> None:
    options, _ = target
    assert migrate(source, options).exit_code == 0
    again = migrate(source, options)
    assert again.exit_code == 1 and "already holds" in again.output
    itself = source["database_url"] or f"sqlite:///{source['data_dir'] / 'events.sqlite'}"
    schema = ["--to-schema", source["database_schema"]] if source["database_url"] else []
    same = migrate(source, ["--to", itself, *schema])
    assert same.exit_code == 2 and "configured store" in same.output


def test_an_old_store_its_audit_view_disagrees_with_is_not_migrated(
    earlier: EarlierStore, source: dict[str, Any], target: tuple[list[str], dict[str, Any]]
) -> None:
    with earlier.engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE audit_entries SET link_hash = :bad "
                "WHERE position = (SELECT MAX(position) FROM audit_entries)"
            ),
            {"bad": "f" * 64},
        )
    refused = migrate(source, target[0])
    assert refused.exit_code == 1 and "twinning audit verify" in refused.output


def test_an_email_claim_of_no_known_email_stops_the_copy_before_it_starts(
    earlier: EarlierStore, source: dict[str, Any], target: tuple[list[str], dict[str, Any]]
) -> None:
    options, target_settings = target
    owner = {"_type_": "uuid_hex", "_data_": earlier.people["giulia"].id.hex}
    state = {
        "timestamp": when(earlier.now()),
        "originator_topic": "domain.account:EmailIndex",
        "account_id": owner,
    }
    earlier.insert(uuid4(), 1, "domain.account:EmailIndex.Claimed", stored(state))
    refused = migrate(source, options)
    assert refused.exit_code == 1 and "match no email" in refused.output
    rt = Runtime(Settings.from_env(environ={}, overrides=target_settings))
    try:
        assert rt.projector.head() == 0  # nothing was written: it can be used as it is
    finally:
        rt.close()

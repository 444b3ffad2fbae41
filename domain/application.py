"""The Twinning application: every aggregate in one event store, one global order."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Generic, TypeVar
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Repository,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Recording, Transcoding

from domain.account import Account, EmailIndex, normalise_email
from domain.errors import (
    DuplicateEmail,
    InvalidFields,
    NotFound,
    NotPermitted,
    PreconditionRequired,
    StaleVersion,
)
from domain.initiative import Initiative
from domain.organisation import Organisation
from domain.values import Actor, Caller, Role, State

A = TypeVar("A", bound=Aggregate)

MERGE_ATTEMPTS = 8


class ActorAsDict(Transcoding):
    type = Actor
    name = "actor"

    def encode(self, obj: Actor) -> dict[str, Any]:
        return obj.as_dict()

    def decode(self, data: dict[str, Any]) -> Actor:
        return Actor(**data)


class EnumAsValue(Transcoding):
    """Plain enums stored by value (a str-subclass enum would come back as a str)."""

    def __init__(self, enum: type[Enum]) -> None:
        self.type = enum
        self.name = enum.__name__

    def encode(self, obj: Enum) -> Any:
        return obj.value

    def decode(self, data: Any) -> Enum:
        member: Enum = self.type(data)
        return member


@dataclass(frozen=True)
class Outcome(Generic[A]):
    """The state an aggregate reached and the global position of the last event recorded."""

    aggregate: A
    position: int


Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Twinning(Application[UUID]):
    """Commands on initiatives, organisations and accounts; load → call → save."""

    name = "Twinning"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        snapshot_interval: int = 50,
        clock: Clock = utcnow,
    ) -> None:
        self.snapshotting_intervals = {Initiative: snapshot_interval}  # type: ignore[misc]
        self.clock = clock
        # Called with the types of the events each save recorded (metrics hang here).
        self.on_recorded: Callable[[list[str]], None] | None = None
        # Called with the aggregates each save recorded and their recordings, once they are
        # in the store (the service keeps its aggregate cache current with them).
        self.on_saved: Callable[[Mapping[UUID, Any], list[Recording[UUID]]], None] | None = None
        # Called with the first version each aggregate of a save tried, when the insert
        # failed on a version (so the store holds at least that version of one of them).
        self.on_conflict: Callable[[Mapping[UUID, int]], None] | None = None
        super().__init__(env={"IS_SNAPSHOTTING_ENABLED": "y", **(env or {})})

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(ActorAsDict())
        transcoder.register(EnumAsValue(State))

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        recordings = super()._record(processing_event)
        if self.on_saved is not None:
            self.on_saved(processing_event.aggregates, recordings)
        return recordings

    def use_repository(self, repository: Repository[UUID]) -> None:
        """Puts another repository in the place of the one eventsourcing built (the
        service's, which knows what its requests have checked against the store)."""
        self._repository = repository

    def _forget(self, tried: Mapping[UUID, int]) -> None:
        """Drops cached copies: an insert that failed on a version shows them behind."""
        cache = self.repository.cache
        if cache is not None:
            for aggregate_id in tried:
                with contextlib.suppress(KeyError):
                    cache.get(aggregate_id, evict=True)
        if self.on_conflict is not None:
            self.on_conflict(tried)

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        if self.on_recorded is not None:
            self.on_recorded([type(r.domain_event).__qualname__ for r in recordings])

    # ------------------------------------------------------------------ helpers
    def _load(self, cls: type[A], aggregate_id: UUID, version: int | None = None) -> A:
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise NotFound(f"No {cls.__name__.lower()} with id {aggregate_id}.") from None
        if not isinstance(aggregate, cls):
            raise NotFound(f"No {cls.__name__.lower()} with id {aggregate_id}.")
        return aggregate

    def _save(self, *aggregates: Aggregate) -> int:
        """Saves; returns the position of the last event recorded.

        When the connection fails while a commit is under way, the store retries the insert
        and finds the rows of its own first attempt: an `IntegrityError` although the
        command was recorded. The stored rows are then compared with the events being
        saved (their bytes hold the time and request id, so they are unique): when they
        are ours, the command did land and its position is returned.
        """
        last_events = [a.pending_events[-1] for a in aggregates if a.pending_events]
        tried = {
            a.id: a.pending_events[0].originator_version for a in aggregates if a.pending_events
        }
        try:
            recordings = self.save(*aggregates)
        except IntegrityError:
            self._forget(tried)
            landed = self._landed(last_events)
            if landed is None:
                raise
            return landed
        return recordings[-1].notification.id

    def _landed(self, events: list[Any]) -> int | None:
        """The position of the last of `events` if every one is stored exactly as given."""
        positions = []
        for event in events:
            mine = self.mapper.to_stored_event(event)
            row = self._stored_row(mine.originator_id, mine.originator_version)
            if row is None or bytes(row[1]) != mine.state or row[2] != mine.topic:
                return None
            positions.append(int(row[0]))
        return max(positions) if positions else None

    def _stored_row(self, originator_id: Any, version: int) -> Any:
        """(position, state, topic) of one stored event, straight from the events table."""
        recorder: Any = self.recorder
        datastore = recorder.datastore
        table = recorder.events_table_name
        if hasattr(datastore, "schema"):  # PostgreSQL
            from psycopg import sql

            statement: Any = sql.SQL(
                "SELECT notification_id, state, topic FROM {}.{} "
                "WHERE originator_id = %s AND originator_version = %s"
            ).format(sql.Identifier(datastore.schema), sql.Identifier(table))
            key: Any = originator_id
        else:
            statement = (
                f'SELECT rowid, state, topic FROM "{table}" '
                "WHERE originator_id = ? AND originator_version = ?"
            )
            # eventsourcing's SQLite recorder stores a UUID as its 32 hex digits
            key = originator_id.hex if isinstance(originator_id, UUID) else str(originator_id)
        with datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, (key, version))
            row = cursor.fetchone()
        if row is None:
            return None
        return tuple(row.values()) if isinstance(row, dict) else tuple(row)

    def _command(
        self,
        initiative_id: UUID,
        expected_version: int | None,
        command: Callable[[Initiative], Any],
    ) -> Outcome[Initiative]:
        """Loads, checks the version the caller read, runs the command, saves."""
        if expected_version is None:
            raise PreconditionRequired(
                'This command needs the version you read: send If-Match: "<version>".'
            )
        initiative = self._load(Initiative, initiative_id)
        if initiative.version != expected_version:
            raise StaleVersion(
                f"You read version {expected_version}; the initiative is at version "
                f"{initiative.version}.",
                initiative.version,
            )
        command(initiative)
        try:
            return Outcome(initiative, self._save(initiative))
        except IntegrityError:
            current = self._load(Initiative, initiative_id)
            raise StaleVersion(
                "The initiative changed while your command was being recorded.",
                current.version,
            ) from None

    def _merging(
        self,
        initiative_id: UUID,
        expected_version: int | None,
        command: Callable[[Initiative], Any],
    ) -> Outcome[Initiative]:
        """Runs a command that merges against an older version; retried on concurrent saves.

        Each attempt starts from the freshly loaded aggregate, so an edit is merged with
        whatever was recorded before it, exactly once.
        """
        for _ in range(MERGE_ATTEMPTS):
            initiative = self._load(Initiative, initiative_id)
            if expected_version is not None and initiative.version != expected_version:
                raise StaleVersion(
                    f"You read version {expected_version}; the initiative is at version "
                    f"{initiative.version}.",
                    initiative.version,
                )
            command(initiative)
            try:
                return Outcome(initiative, self._save(initiative))
            except IntegrityError:
                if expected_version is not None:
                    raise StaleVersion(
                        "The initiative changed while your command was being recorded.",
                        expected_version + 1,
                    ) from None
        raise StaleVersion(
            "The initiative is changing too fast; please try again.",
            self._load(Initiative, initiative_id).version,
        )

    def _fields_at(self, initiative_id: UUID, version: int) -> dict[str, Any]:
        return dict(self._load(Initiative, initiative_id, version=version).fields)

    # -------------------------------------------------------------- initiatives
    def propose(self, caller: Caller, fields: dict[str, Any]) -> Outcome[Initiative]:
        initiative = Initiative.propose(caller, fields)
        return Outcome(initiative, self._save(initiative))

    def initiative(
        self,
        initiative_id: UUID,
        version: int | None = None,
        as_of: datetime | None = None,
    ) -> Initiative:
        """The initiative now, at a version, or as it was at a moment."""
        if as_of is not None:
            version = self.version_at(initiative_id, as_of)
        if version is not None:
            current = self._load(Initiative, initiative_id)
            if version < 1 or version > current.version:
                raise NotFound(
                    f"The initiative has versions 1 to {current.version}, not {version}."
                )
            if version == current.version:
                return current
        return self._load(Initiative, initiative_id, version=version)

    def submitted_versions(self, initiative_id: UUID) -> list[int]:
        """The version each review round was submitted at, oldest first."""
        return [
            event.originator_version
            for event in self.events.get(initiative_id)
            if isinstance(event, Initiative.Submitted)
        ]

    def version_at(self, initiative_id: UUID, as_of: datetime) -> int:
        version = 0
        for stored in self.events.get(initiative_id):
            if getattr(stored, "timestamp") > as_of:  # noqa: B009 - not on the protocol
                break
            version = stored.originator_version
        if version == 0:
            self._load(Initiative, initiative_id)  # 404 for an unknown id
            raise NotFound(f"The initiative did not exist yet at {as_of.isoformat()}.")
        return version

    def edit(
        self,
        initiative_id: UUID,
        caller: Caller,
        fields: dict[str, Any],
        base_version: int | None,
        expected_version: int | None = None,
    ) -> Outcome[Initiative]:
        """Co-edits fields; merged three-way against `base_version` (or the If-Match one)."""
        base_version = base_version if base_version is not None else expected_version
        if base_version is None:
            raise PreconditionRequired(
                'Name the version you edited: "base_version" in the body or If-Match.'
            )
        current = self._load(Initiative, initiative_id)
        if base_version < 1 or base_version > current.version:
            raise InvalidFields(
                {
                    "base_version": [
                        f"Must be a version of this initiative (1 to {current.version})."
                    ]
                }
            )
        base = self._fields_at(initiative_id, base_version)
        return self._merging(
            initiative_id,
            expected_version,
            lambda i: i.edit(caller, fields, base, base_version),
        )

    def invite_partner(
        self,
        initiative_id: UUID,
        expected_version: int | None,
        caller: Caller,
        organisation_id: UUID,
    ) -> Outcome[Initiative]:
        try:
            self._load(Organisation, organisation_id)
        except NotFound:
            raise InvalidFields({"organisation_id": ["No such organisation."]}) from None
        return self._command(
            initiative_id,
            expected_version,
            lambda i: i.invite_partner(caller, str(organisation_id)),
        )

    def join(
        self,
        initiative_id: UUID,
        expected_version: int | None,
        caller: Caller,
        organisation_id: UUID,
    ) -> Outcome[Initiative]:
        return self._command(
            initiative_id, expected_version, lambda i: i.join(caller, str(organisation_id))
        )

    def remove_partner(
        self,
        initiative_id: UUID,
        expected_version: int | None,
        caller: Caller,
        organisation_id: UUID,
    ) -> Outcome[Initiative]:
        return self._command(
            initiative_id,
            expected_version,
            lambda i: i.remove_partner(caller, str(organisation_id)),
        )

    def start_co_design(
        self, initiative_id: UUID, expected_version: int | None, caller: Caller
    ) -> Outcome[Initiative]:
        return self._command(initiative_id, expected_version, lambda i: i.start_co_design(caller))

    def propose_amendment(
        self,
        initiative_id: UUID,
        caller: Caller,
        changes: dict[str, Any],
        rationale: str,
        base_version: int | None,
        expected_version: int | None = None,
    ) -> tuple[Outcome[Initiative], str]:
        base_version = base_version if base_version is not None else expected_version
        if base_version is None:
            raise PreconditionRequired(
                'Name the version you amend: "base_version" in the body or If-Match.'
            )
        created: list[str] = []
        outcome = self._merging(
            initiative_id,
            expected_version,
            lambda i: created.append(i.propose_amendment(caller, changes, rationale, base_version)),
        )
        return outcome, created[-1]

    def accept_amendment(
        self,
        initiative_id: UUID,
        amendment_id: str,
        caller: Caller,
        base_version: int | None,
        expected_version: int | None = None,
    ) -> Outcome[Initiative]:
        if base_version is None and expected_version is None:
            raise PreconditionRequired(
                'Name the version you read: "base_version" in the body or If-Match.'
            )
        current = self._load(Initiative, initiative_id)
        if base_version is not None and not 1 <= base_version <= current.version:
            raise InvalidFields(
                {
                    "base_version": [
                        f"Must be a version of this initiative (1 to {current.version})."
                    ]
                }
            )
        amendment = current.pending_amendment(amendment_id)
        base = self._fields_at(initiative_id, amendment["base_version"])
        return self._merging(
            initiative_id,
            expected_version,
            lambda i: i.accept_amendment(caller, amendment_id, base),
        )

    def reject_amendment(
        self,
        initiative_id: UUID,
        expected_version: int | None,
        caller: Caller,
        amendment_id: str,
        reason: str,
    ) -> Outcome[Initiative]:
        return self._command(
            initiative_id,
            expected_version,
            lambda i: i.reject_amendment(caller, amendment_id, reason),
        )

    def organisation_countries(self, organisation_ids: list[str]) -> dict[str, str]:
        countries = {}
        for org in organisation_ids:
            try:
                countries[org] = self._load(Organisation, UUID(org)).country
            except (NotFound, ValueError):
                continue
        return countries

    def submit(
        self, initiative_id: UUID, expected_version: int | None, caller: Caller
    ) -> Outcome[Initiative]:
        def submit(initiative: Initiative) -> None:
            involved = [initiative.lead_organisation_id, *initiative.joined_partners()]
            initiative.submit(caller, self.organisation_countries(involved))

        return self._command(initiative_id, expected_version, submit)

    def review(
        self,
        initiative_id: UUID,
        expected_version: int | None,
        caller: Caller,
        decision: str,
        rationale: str,
    ) -> Outcome[Initiative]:
        return self._command(
            initiative_id,
            expected_version,
            lambda i: i.review(caller, decision, rationale, at=self.clock()),
        )

    def start_follow_up(
        self, initiative_id: UUID, expected_version: int | None, caller: Caller
    ) -> Outcome[Initiative]:
        return self._command(initiative_id, expected_version, lambda i: i.start_follow_up(caller))

    def record_report(
        self,
        initiative_id: UUID,
        expected_version: int | None,
        caller: Caller,
        report: dict[str, Any],
    ) -> Outcome[Initiative]:
        return self._command(
            initiative_id, expected_version, lambda i: i.record_report(caller, report)
        )

    def complete(
        self,
        initiative_id: UUID,
        expected_version: int | None,
        caller: Caller,
        outcomes: dict[str, str],
    ) -> Outcome[Initiative]:
        return self._command(
            initiative_id, expected_version, lambda i: i.complete(caller, outcomes)
        )

    def recognise_good_practice(
        self, initiative_id: UUID, expected_version: int | None, caller: Caller, rationale: str
    ) -> Outcome[Initiative]:
        return self._command(
            initiative_id,
            expected_version,
            lambda i: i.recognise_good_practice(caller, rationale),
        )

    def withdraw(
        self, initiative_id: UUID, expected_version: int | None, caller: Caller, reason: str
    ) -> Outcome[Initiative]:
        return self._command(initiative_id, expected_version, lambda i: i.withdraw(caller, reason))

    # ------------------------------------------------------------ organisations
    def register_organisation(
        self, actor: Actor, name: str, type_: str, country: str
    ) -> Outcome[Organisation]:
        organisation = Organisation.register(name, type_, country, actor)
        return Outcome(organisation, self._save(organisation))

    def organisation(self, organisation_id: UUID) -> Organisation:
        return self._load(Organisation, organisation_id)

    # ----------------------------------------------------------------- accounts
    def register_account(
        self,
        actor: Actor,
        email: str,
        name: str,
        organisation_id: UUID,
        roles: list[str],
    ) -> Outcome[Account]:
        try:
            self._load(Organisation, organisation_id)
        except NotFound:
            raise InvalidFields({"organisation_id": ["No such organisation."]}) from None
        account = Account.register(email, name, str(organisation_id), roles, actor)
        claim = EmailIndex.claim(account.email, account.id)
        try:
            return Outcome(account, self._save(account, claim))
        except IntegrityError:
            raise DuplicateEmail("An account with this email exists already.") from None

    def account(self, account_id: UUID) -> Account:
        return self._load(Account, account_id)

    def account_by_email(self, email: str) -> Account | None:
        try:
            claim = self._load(EmailIndex, EmailIndex.id_for(normalise_email(email)))
        except NotFound:
            return None
        return self.account(claim.account_id)

    def grant_role(self, account_id: UUID, role: str, actor: Actor) -> Outcome[Account]:
        account = self.account(account_id)
        account.grant(role, actor)
        return Outcome(account, self._save_account(account))

    def revoke_role(self, account_id: UUID, role: str, actor: Actor) -> Outcome[Account]:
        account = self.account(account_id)
        account.revoke(role, actor)
        return Outcome(account, self._save_account(account))

    def deactivate(self, account_id: UUID, actor: Actor) -> Outcome[Account]:
        account = self.account(account_id)
        if actor.account_id == str(account_id):
            raise NotPermitted("You cannot deactivate your own account.")
        account.deactivate(actor)
        return Outcome(account, self._save_account(account))

    def _save_account(self, account: Account) -> int:
        try:
            return self._save(account)
        except IntegrityError:
            raise StaleVersion(
                "The account changed at the same time; please try again.",
                self.account(account.id).version,
            ) from None


def require_role(caller: Caller, role: Role) -> Actor:
    if not caller.has(role):
        raise NotPermitted(f"This needs the {role.value} role.")
    return caller.acting_as(role)

"""The Twinning application: every aggregate in one event store, one global order."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Generic, NamedTuple, Protocol, TypeVar, runtime_checkable
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Repository,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    Recording,
    StoredEvent,
    Transcoding,
)
from eventsourcing.utils import get_topic

from domain.account import Account, EmailIndex, normalise_email
from domain.activity import Activity, activity_errors
from domain.errors import (
    DuplicateEmail,
    InvalidFields,
    NotFound,
    NotPermitted,
    PreconditionRequired,
    StaleVersion,
    StateConflict,
)
from domain.initiative import Initiative
from domain.organisation import Organisation
from domain.personal import PersonalAsSealed, PersonalData
from domain.values import Actor, Caller, Role, State, Visibility, field_errors

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")

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


class StoredRow(NamedTuple):
    """One stored event as the store holds it."""

    position: int
    state: bytes
    topic: str


@runtime_checkable
class StoredEvents(Protocol):
    """A recorder that finds one stored event by aggregate and version (see `_landed`)."""

    def stored_event(self, originator_id: UUID, version: int) -> StoredRow | None: ...


class SaveObserver(Protocol):
    """Told of what each save recorded, and of each save that failed on a version."""

    def saved(self, aggregates: Mapping[UUID, Any], recordings: Sequence[Recording[UUID]]) -> None:
        """The aggregates of a save and their recordings, once they are in the store."""

    def conflicted(self, tried: Mapping[UUID, int]) -> None:
        """The first version each aggregate of a failed save tried (the store holds at
        least that version of one of them)."""


# Given the repository eventsourcing built, the one the application is to use.
RepositoryFactory = Callable[[Repository[UUID]], Repository[UUID]]


class Twinning(Application[UUID]):
    """Commands on initiatives, organisations and accounts; load → call → save."""

    name = "Twinning"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        snapshot_interval: int = 50,
        clock: Clock = utcnow,
        *,
        repository: RepositoryFactory | None = None,
        observers: Sequence[SaveObserver] = (),
        personal: PersonalData | None = None,
    ) -> None:
        """`repository` is given eventsourcing's repository and returns the one to use;
        `observers` hear of every save; `personal` seals personal data (by default with
        keys in memory: applications sharing a store must share it)."""
        # An activity with a thousand registrations loads as fast as one with ten.
        self.snapshotting_intervals = {  # type: ignore[misc]
            Initiative: snapshot_interval,
            Activity: snapshot_interval,
        }
        self.clock = clock
        self.personal = personal or PersonalData.in_memory()
        self._repository_factory = repository
        self._observers = tuple(observers)
        super().__init__(env={"IS_SNAPSHOTTING_ENABLED": "y", **(env or {})})

    def construct_repository(self) -> Repository[UUID]:
        built = super().construct_repository()
        return built if self._repository_factory is None else self._repository_factory(built)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(ActorAsDict())
        transcoder.register(EnumAsValue(State))
        transcoder.register(PersonalAsSealed(self.personal))

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        recordings = super()._record(processing_event)
        for observer in self._observers:
            observer.saved(processing_event.aggregates, recordings)
        return recordings

    def _forget(self, tried: Mapping[UUID, int]) -> None:
        """Drops cached copies: an insert that failed on a version shows them behind."""
        cache = self.repository.cache
        if cache is not None:
            for aggregate_id in tried:
                with contextlib.suppress(KeyError):
                    cache.get(aggregate_id, evict=True)
        for observer in self._observers:
            observer.conflicted(tried)

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

        A commit whose connection failed is retried by the store, which then meets its own
        rows (an `IntegrityError`): when the stored rows are these events, the command landed.
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
        """The position of the last of `events` if every one is stored as this save's own:
        the same aggregate, version and type, at the same time, for the same request. (Not
        their bytes: personal data is sealed with a fresh nonce at every encoding.)"""
        recorder = self.recorder
        if not isinstance(recorder, StoredEvents):
            return None
        positions = []
        for event in events:
            originator_id = UUID(str(event.originator_id))
            row = recorder.stored_event(originator_id, event.originator_version)
            if row is None or row.topic != get_topic(type(event)):
                return None
            stored: Any = self.mapper.to_domain_event(
                StoredEvent(originator_id, event.originator_version, row.topic, row.state)
            )
            if stored.timestamp != event.timestamp or _request_of(stored) != _request_of(event):
                return None
            positions.append(row.position)
        return max(positions) if positions else None

    @staticmethod
    def _needs_version(expected_version: int | None) -> int:
        if expected_version is None:
            raise PreconditionRequired("This command needs the version you read.")
        return expected_version

    @staticmethod
    def _check_read(initiative: Initiative, expected_version: int | None) -> None:
        """Refuses a command made on a version that is no longer the current one."""
        if expected_version is not None and initiative.version != expected_version:
            raise StaleVersion(
                f"You read version {expected_version}; the initiative is at version "
                f"{initiative.version}.",
                initiative.version,
            )

    def _base_version(self, initiative_id: UUID, base_version: int, caller: Caller) -> Initiative:
        """The current initiative, once `base_version` is shown to be one of its versions
        (and the caller to be one who may read it: NotFound comes before any other answer)."""
        current = self._load(Initiative, initiative_id)
        current.reveal(caller)
        if not 1 <= base_version <= current.version:
            raise InvalidFields(
                {
                    "base_version": [
                        f"Must be a version of this initiative (1 to {current.version})."
                    ]
                }
            )
        return current

    def _command(
        self,
        initiative_id: UUID,
        expected_version: int | None,
        command: Callable[[Initiative], Any],
        caller: Caller,
    ) -> Outcome[Initiative]:
        """Loads, checks the version the caller read, runs the command, saves. A caller
        who may not read the initiative is told first that it does not exist (a 412 would
        tell otherwise)."""
        expected = self._needs_version(expected_version)
        initiative = self._load(Initiative, initiative_id)
        initiative.reveal(caller)
        self._check_read(initiative, expected)
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
        command: Callable[[Initiative], T],
        caller: Caller,
    ) -> tuple[Outcome[Initiative], T]:
        """Runs a command that merges against an older version; retried on concurrent saves.
        Returns the outcome and what the command returned.

        Each attempt starts from the freshly loaded aggregate, so an edit is merged with
        whatever was recorded before it, exactly once.
        """
        for _ in range(MERGE_ATTEMPTS):
            initiative = self._load(Initiative, initiative_id)
            initiative.reveal(caller)
            self._check_read(initiative, expected_version)
            result = command(initiative)
            try:
                return Outcome(initiative, self._save(initiative)), result
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
    # Every command: the aggregate's id, then keywords in one order: who acts, the version
    # they read, the command's own values, the version they edited (merging commands).
    def propose(
        self,
        *,
        caller: Caller,
        fields: dict[str, Any],
        visibility: str = Visibility.NETWORK.value,
    ) -> Outcome[Initiative]:
        initiative = Initiative.propose(caller, fields, visibility)
        return Outcome(initiative, self._save(initiative))

    def readable(self, initiative_id: UUID, *, caller: Caller) -> Initiative:
        """The current initiative, if the caller may read it; else NotFound, as for an
        unknown id (a partners draft must not show that it exists)."""
        initiative = self._load(Initiative, initiative_id)
        initiative.reveal(caller)
        return initiative

    def initiative(
        self,
        initiative_id: UUID,
        version: int | None = None,
        as_of: datetime | None = None,
        *,
        caller: Caller | None = None,
    ) -> Initiative:
        """The initiative now, at a version, or as it was at a moment. With `caller`, only
        if they may read it now (whatever it was then): NotFound otherwise."""
        if caller is not None:
            current = self.readable(initiative_id, caller=caller)
            if version is None and as_of is None:
                return current
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
        *,
        caller: Caller,
        expected_version: int | None,
        fields: dict[str, Any],
        base_version: int | None = None,
    ) -> Outcome[Initiative]:
        """Co-edits fields; merged three-way against `base_version` (or the version read)."""
        base = base_version if base_version is not None else expected_version
        if base is None:
            raise PreconditionRequired("Name the version you edited.", base_version=True)
        try:
            self._base_version(initiative_id, base, caller)
        except InvalidFields as error:  # one answer names every invalid field
            raise InvalidFields({**field_errors(fields), **error.errors}) from None
        base_fields = self._fields_at(initiative_id, base)
        outcome, _ = self._merging(
            initiative_id,
            expected_version,
            lambda i: i.edit(caller, fields, base_fields, base),
            caller,
        )
        return outcome

    def invite_partner(
        self,
        initiative_id: UUID,
        *,
        caller: Caller,
        expected_version: int | None,
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
            caller,
        )

    def join(
        self,
        initiative_id: UUID,
        *,
        caller: Caller,
        expected_version: int | None,
        organisation_id: UUID,
    ) -> Outcome[Initiative]:
        return self._command(
            initiative_id, expected_version, lambda i: i.join(caller, str(organisation_id)), caller
        )

    def remove_partner(
        self,
        initiative_id: UUID,
        *,
        caller: Caller,
        expected_version: int | None,
        organisation_id: UUID,
    ) -> Outcome[Initiative]:
        return self._command(
            initiative_id,
            expected_version,
            lambda i: i.remove_partner(caller, str(organisation_id)),
            caller,
        )

    def start_co_design(
        self, initiative_id: UUID, *, caller: Caller, expected_version: int | None
    ) -> Outcome[Initiative]:
        return self._command(
            initiative_id, expected_version, lambda i: i.start_co_design(caller), caller
        )

    def propose_amendment(
        self,
        initiative_id: UUID,
        *,
        caller: Caller,
        expected_version: int | None,
        changes: dict[str, Any],
        rationale: str,
        base_version: int | None = None,
    ) -> tuple[Outcome[Initiative], str]:
        """The outcome and the new amendment's id."""
        base = base_version if base_version is not None else expected_version
        if base is None:
            raise PreconditionRequired("Name the version you amend.", base_version=True)
        return self._merging(
            initiative_id,
            expected_version,
            lambda i: i.propose_amendment(caller, changes, rationale, base),
            caller,
        )

    def accept_amendment(
        self,
        initiative_id: UUID,
        *,
        caller: Caller,
        expected_version: int | None,
        amendment_id: str,
        base_version: int | None = None,
    ) -> Outcome[Initiative]:
        if base_version is None and expected_version is None:
            raise PreconditionRequired("Name the version you read.", base_version=True)
        if base_version is not None:
            current = self._base_version(initiative_id, base_version, caller)
        else:
            current = self.readable(initiative_id, caller=caller)
        amendment = current.pending_amendment(amendment_id)
        base = self._fields_at(initiative_id, amendment["base_version"])
        outcome, _ = self._merging(
            initiative_id,
            expected_version,
            lambda i: i.accept_amendment(caller, amendment_id, base),
            caller,
        )
        return outcome

    def reject_amendment(
        self,
        initiative_id: UUID,
        *,
        caller: Caller,
        expected_version: int | None,
        amendment_id: str,
        reason: str,
    ) -> Outcome[Initiative]:
        return self._command(
            initiative_id,
            expected_version,
            lambda i: i.reject_amendment(caller, amendment_id, reason),
            caller,
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
        self, initiative_id: UUID, *, caller: Caller, expected_version: int | None
    ) -> Outcome[Initiative]:
        def submit(initiative: Initiative) -> None:
            involved = [initiative.lead_organisation_id, *initiative.joined_partners()]
            initiative.submit(caller, self.organisation_countries(involved))

        return self._command(initiative_id, expected_version, submit, caller)

    def review(
        self,
        initiative_id: UUID,
        *,
        caller: Caller,
        expected_version: int | None,
        decision: str,
        rationale: str,
    ) -> Outcome[Initiative]:
        return self._command(
            initiative_id,
            expected_version,
            lambda i: i.review(caller, decision, rationale, at=self.clock()),
            caller,
        )

    def start_follow_up(
        self, initiative_id: UUID, *, caller: Caller, expected_version: int | None
    ) -> Outcome[Initiative]:
        return self._command(
            initiative_id, expected_version, lambda i: i.start_follow_up(caller), caller
        )

    def record_report(
        self,
        initiative_id: UUID,
        *,
        caller: Caller,
        expected_version: int | None,
        report: dict[str, Any],
    ) -> Outcome[Initiative]:
        return self._command(
            initiative_id, expected_version, lambda i: i.record_report(caller, report), caller
        )

    def complete(
        self,
        initiative_id: UUID,
        *,
        caller: Caller,
        expected_version: int | None,
        outcomes: dict[str, str],
    ) -> Outcome[Initiative]:
        return self._command(
            initiative_id, expected_version, lambda i: i.complete(caller, outcomes), caller
        )

    def recognise_good_practice(
        self,
        initiative_id: UUID,
        *,
        caller: Caller,
        expected_version: int | None,
        rationale: str,
    ) -> Outcome[Initiative]:
        return self._command(
            initiative_id,
            expected_version,
            lambda i: i.recognise_good_practice(caller, rationale),
            caller,
        )

    def withdraw(
        self, initiative_id: UUID, *, caller: Caller, expected_version: int | None, reason: str
    ) -> Outcome[Initiative]:
        return self._command(
            initiative_id, expected_version, lambda i: i.withdraw(caller, reason), caller
        )

    # ------------------------------------------------------------ organisations
    def register_organisation(
        self, *, actor: Actor, name: str, type_: str, country: str
    ) -> Outcome[Organisation]:
        organisation = Organisation.register(name, type_, country, actor)
        return Outcome(organisation, self._save(organisation))

    def organisation(self, organisation_id: UUID) -> Organisation:
        return self._load(Organisation, organisation_id)

    # ----------------------------------------------------------------- accounts
    def register_account(
        self,
        *,
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
        claim = self._claim(email, account.id)
        self.personal.keyring.create(account.subject)  # before its data is sealed
        try:
            return Outcome(account, self._save(account, claim))
        except IntegrityError:
            raise DuplicateEmail("An account with this email exists already.") from None

    def _claim(self, email: str, account_id: UUID) -> EmailIndex:
        """The email's index claimed for the account, to save with it: a new index, or a
        released one claimed again; DuplicateEmail when another account holds it."""
        index_id = self.email_index_id(email)
        try:
            index = self._load(EmailIndex, index_id)
        except NotFound:
            return EmailIndex.claim(index_id, account_id)
        index.reclaim(account_id)
        return index

    def email_index_id(self, email: str) -> UUID:
        """The id of an email's uniqueness record: a keyed hash, not computable from a
        guessed email without the service's secret."""
        return self.personal.lookup_id("email", normalise_email(email))

    def account(self, account_id: UUID) -> Account:
        return self._load(Account, account_id)

    def account_by_email(self, email: str) -> Account | None:
        try:
            claim = self._load(EmailIndex, self.email_index_id(email))
        except NotFound:
            return None
        if claim.account_id is None:  # released: the account moved to another email
            return None
        return self.account(claim.account_id)

    def grant_role(self, account_id: UUID, *, actor: Actor, role: str) -> Outcome[Account]:
        return self._account_command(account_id, lambda a: a.grant(role, actor))

    def revoke_role(self, account_id: UUID, *, actor: Actor, role: str) -> Outcome[Account]:
        return self._account_command(account_id, lambda a: a.revoke(role, actor))

    def deactivate(self, account_id: UUID, *, actor: Actor) -> Outcome[Account]:
        def deactivate(account: Account) -> None:
            if actor.account_id == str(account_id):
                raise NotPermitted("You cannot deactivate your own account.")
            account.deactivate(actor)

        return self._account_command(account_id, deactivate)

    def reactivate(self, account_id: UUID, *, actor: Actor) -> Outcome[Account]:
        return self._account_command(account_id, lambda a: a.reactivate(actor))

    def rectify_account(
        self, account_id: UUID, *, actor: Actor, name: str | None = None, email: str | None = None
    ) -> Outcome[Account]:
        """Corrects an account's name and/or email. A new email's index is claimed and the
        old one released in the same save as the account's event, so the email stays unique
        and the old one can be registered again."""
        account = self.account(account_id)
        old_email = account.email
        account.rectify(actor, name=name, email=email)
        if account.email == old_email or account.email is None or old_email is None:
            return Outcome(account, self._save_account(account))
        claim = self._claim(account.email, account.id)
        indexes = [claim, *self._released(old_email, account.id)]
        try:
            return Outcome(account, self._save(account, *indexes))
        except IntegrityError:
            taken = self.account_by_email(account.email)
            if taken is not None and taken.id != account.id:
                raise DuplicateEmail("An account with this email exists already.") from None
            raise StaleVersion(
                "The account changed at the same time; please try again.",
                self.account(account.id).version,
            ) from None

    def _released(self, email: str, account_id: UUID) -> list[EmailIndex]:
        """The email's index released by the account, to save with it (none if not its)."""
        try:
            index = self._load(EmailIndex, self.email_index_id(email))
        except NotFound:  # an account always has one; nothing to free else
            return []
        if index.account_id != account_id:
            return []
        index.release()
        return [index]

    def erase_account(self, account_id: UUID, *, actor: Actor, reason: str) -> Outcome[Account]:
        """Erases a person's account: records who, when and why (with its email released for
        registering again), then destroys the key its name and email were sealed with.
        An account erased already has its key destroyed again (a retry after a crash
        between the two steps) and answers StateConflict."""
        if actor.account_id == str(account_id):
            raise NotPermitted("You cannot erase your own account.")
        account = self.account(account_id)
        if account.erased:
            self.personal.keyring.destroy(account.subject)
        email = account.email
        account.erase(actor, reason)
        released = [] if email is None else self._released(email, account.id)
        try:
            position = self._save(account, *released)
        except IntegrityError:
            raise StaleVersion(
                "The account changed at the same time; please try again.",
                self.account(account.id).version,
            ) from None
        self.personal.keyring.destroy(account.subject)
        return Outcome(account, position)

    def change_password(self, account_id: UUID, *, actor: Actor) -> Outcome[Account]:
        """Records that the password changed (the credential store holds the hash)."""
        return self._account_command(account_id, lambda a: a.password_changed(actor))

    def issue_password_reset(
        self, account_id: UUID, *, actor: Actor, expires_at: datetime
    ) -> Outcome[Account]:
        return self._account_command(account_id, lambda a: a.reset_issued(expires_at, actor))

    def use_password_reset(self, account_id: UUID, *, request_id: str | None) -> Outcome[Account]:
        """Records that the account's holder redeemed a reset; refused if deactivated."""
        return self._account_command(account_id, lambda a: a.reset_used(a.as_self(request_id)))

    def _account_command(
        self, account_id: UUID, command: Callable[[Account], None]
    ) -> Outcome[Account]:
        """Loads the account, runs the command, saves (a concurrent change: StaleVersion)."""
        account = self.account(account_id)
        command(account)
        return Outcome(account, self._save_account(account))

    def _save_account(self, account: Account) -> int:
        try:
            return self._save(account)
        except IntegrityError:
            raise StaleVersion(
                "The account changed at the same time; please try again.",
                self.account(account.id).version,
            ) from None

    # --------------------------------------------------------------- activities
    def plan_activity(
        self,
        *,
        caller: Caller,
        fields: dict[str, Any],
        co_organiser_ids: Sequence[str | UUID] = (),
    ) -> Outcome[Activity]:
        """A partner plans an activity for their organisation and its co-organisers; every
        bad field is named at once (the initiative and co-organisers checked here)."""
        if not caller.has(Role.PARTNER):
            raise NotPermitted("Planning an activity needs the partner role.")
        errors = activity_errors(fields)
        errors.update(self._activity_link_errors(caller, fields, co_organiser_ids))
        if errors:
            raise InvalidFields(errors)
        activity = Activity.plan(caller, fields, [str(UUID(str(o))) for o in co_organiser_ids])
        return Outcome(activity, self._save(activity))

    def _activity_link_errors(
        self, caller: Caller, fields: dict[str, Any], co_organiser_ids: Sequence[str | UUID]
    ) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        initiative_id = fields.get("initiative_id")
        if initiative_id is not None and not activity_errors({"initiative_id": initiative_id}).get(
            "initiative_id"
        ):
            try:
                initiative = self._load(Initiative, UUID(str(initiative_id)))
                related = initiative.relation(caller.organisation_id) in ("lead", "joined")
            except NotFound:
                related = False
            if not related:
                errors["initiative_id"] = [
                    "Must be an initiative your organisation leads or has joined."
                ]
        problems = []
        for organisation_id in co_organiser_ids:
            if not self._organisation_exists(str(organisation_id)):
                problems.append(f"No organisation {organisation_id}.")
        if problems:
            errors["co_organiser_ids"] = problems
        return errors

    def _organisation_exists(self, organisation_id: str) -> bool:
        try:
            self._load(Organisation, UUID(organisation_id))
        except (NotFound, ValueError):
            return False
        return True

    def activity(self, activity_id: UUID) -> Activity:
        return self._load(Activity, activity_id)

    def _activity_command(
        self,
        activity_id: UUID,
        expected_version: int | None,
        command: Callable[[Activity], T],
    ) -> tuple[Outcome[Activity], T]:
        """Loads, checks the version the caller read (If-Match), runs the command, saves;
        returns the outcome and what the command returned."""
        expected = self._needs_version(expected_version)
        activity = self._load(Activity, activity_id)
        if activity.version != expected:
            raise StaleVersion(
                f"You read version {expected}; the activity is at version {activity.version}.",
                activity.version,
            )
        result = command(activity)
        try:
            return Outcome(activity, self._save(activity)), result
        except IntegrityError:
            raise StaleVersion(
                "The activity changed while your command was being recorded.",
                self._load(Activity, activity_id).version,
            ) from None

    def open_registration(
        self, activity_id: UUID, *, caller: Caller, expected_version: int | None
    ) -> Outcome[Activity]:
        return self._activity_command(
            activity_id, expected_version, lambda a: a.open_registration(caller)
        )[0]

    def close_registration(
        self, activity_id: UUID, *, caller: Caller, expected_version: int | None
    ) -> Outcome[Activity]:
        return self._activity_command(
            activity_id, expected_version, lambda a: a.close_registration(caller)
        )[0]

    def mark_held(
        self, activity_id: UUID, *, caller: Caller, expected_version: int | None
    ) -> Outcome[Activity]:
        return self._activity_command(activity_id, expected_version, lambda a: a.mark_held(caller))[
            0
        ]

    def cancel_activity(
        self, activity_id: UUID, *, caller: Caller, expected_version: int | None, reason: str
    ) -> Outcome[Activity]:
        return self._activity_command(
            activity_id, expected_version, lambda a: a.cancel(caller, reason)
        )[0]

    def register_participant(
        self,
        activity_id: UUID,
        *,
        caller: Caller,
        expected_version: int | None,
        fields: dict[str, Any],
    ) -> tuple[Outcome[Activity], str, str]:
        """The outcome, the registration's id and its status (registered or waitlisted).
        The registration's key is made before its personal data is sealed."""

        def register(activity: Activity) -> tuple[str, str]:
            registration_id, status = activity.register(
                caller, fields, organisation_exists=self._organisation_exists
            )
            self.personal.keyring.create(registration_id)
            return registration_id, status

        outcome, (registration_id, status) = self._activity_command(
            activity_id, expected_version, register
        )
        return outcome, registration_id, status

    def cancel_registration(
        self,
        activity_id: UUID,
        *,
        caller: Caller,
        expected_version: int | None,
        registration_id: str,
    ) -> tuple[Outcome[Activity], str | None]:
        """The outcome and the id of the waitlisted registration promoted, if any."""
        return self._activity_command(
            activity_id, expected_version, lambda a: a.cancel_registration(caller, registration_id)
        )

    def mark_attendance(
        self,
        activity_id: UUID,
        *,
        caller: Caller,
        expected_version: int | None,
        registration_ids: list[str],
        attended: bool,
    ) -> Outcome[Activity]:
        return self._activity_command(
            activity_id,
            expected_version,
            lambda a: a.mark_attendance(caller, registration_ids, attended),
        )[0]

    def certify_list(
        self,
        activity_id: UUID,
        *,
        caller: Caller,
        expected_version: int | None,
        town: str,
        country: str,
    ) -> tuple[Outcome[Activity], bool]:
        """Signs the attendance list of a town and country; returns whether the list is
        now certified (its second signature)."""
        signer_country = self.organisation_countries([caller.organisation_id]).get(
            caller.organisation_id
        )
        return self._activity_command(
            activity_id,
            expected_version,
            lambda a: a.certify(caller, town, country, signer_country),
        )

    def erase_registration(
        self, activity_id: UUID, *, caller: Caller, registration_id: str, reason: str
    ) -> Outcome[Activity]:
        """Erases a participant's data: records who, when and why, then destroys their key.
        Like `erase_account`, it takes no version (a right, not an edit), and a registration
        erased already has its key destroyed again (a retry after a crash between the two
        steps) before the StateConflict."""
        activity = self.activity(activity_id)
        registration = activity.registration(registration_id)
        if registration["erased"]:
            self._destroy_keys([registration["id"]])
        activity.erase_registration(caller, registration_id, reason)
        position = self._save_activity(activity)
        self._destroy_keys([registration["id"]])
        return Outcome(activity, position)

    def shred_participants(
        self, activity_id: UUID, *, caller: Caller, reason: str
    ) -> tuple[Outcome[Activity], list[str]]:
        """Retention: erases every participant of an activity that is over, in one event,
        then destroys their keys; returns the registration ids erased."""
        activity = self.activity(activity_id)
        try:
            erased = activity.shred_participants(caller, reason)
        except StateConflict:
            if activity.state in ("held", "cancelled"):  # a retry: destroy them again
                self._destroy_keys(list(activity.registrations))
            raise
        position = self._save_activity(activity)
        self._destroy_keys(erased)
        return Outcome(activity, position), erased

    def _save_activity(self, activity: Activity) -> int:
        try:
            return self._save(activity)
        except IntegrityError:
            raise StaleVersion(
                "The activity changed at the same time; please try again.",
                self.activity(activity.id).version,
            ) from None

    def _destroy_keys(self, subjects: list[str]) -> None:
        """Destroys the keys, all at once when the keyring can (one scrub of the files)."""
        destroy_many = getattr(self.personal.keyring, "destroy_many", None)
        if callable(destroy_many):
            destroy_many(subjects)
            return
        for subject in subjects:
            self.personal.keyring.destroy(subject)


def _request_of(event: Any) -> str | None:
    actor = getattr(event, "actor", None)
    return None if actor is None else actor.request_id


def require_role(caller: Caller, role: Role) -> Actor:
    if not caller.has(role):
        raise NotPermitted(f"This needs the {role.value} role.")
    return caller.acting_as(role)

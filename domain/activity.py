"""The Activity aggregate: an event of the programme (a workshop, the conference, a meeting),
its registrations, their attendance and the certified attendance lists.

Choices this module makes (the API and views rely on them):

- Personal data. A participant's name, email, town, age band and gender are `Personal`
  values whose subject is the registration's id (a fresh uuid): destroying that key erases
  them everywhere. The country, the participant type (local or invited) and the organisation
  id stay in clear: alone they identify no one, and the programme's counts rest on them.
- Attendance lists. There is one list per town and country. The town is personal, so the
  list's identity kept in clear is `(country, list_number)`: at registration the aggregate
  compares the new town (trimmed, spaces collapsed, case-folded) with the opened towns of
  the registrations of that country and reuses their list number, or assigns the next one.
  A list keeps its number after its participants are shredded; a town whose every
  registration was erased gets a new number if someone from it registers again.
- Signatures. A list is signed by a member of an organiser organisation and by a member of
  a "local" organisation: one named as `organisation_id` by a registration on that list,
  whose country (resolved by the application) is the list's country. Two accounts of two
  organisations; an organisation that is both signs for the side still missing (organiser
  first). Each signature records the SHA-256 of the list's content (`list_digest`: the
  registration ids and their attendance, canonical JSON), and a signed list is frozen from
  its first signature on, so that both signatures are over the same content.
- Who acts. Members (partner role) of an organiser organisation run every command; as for
  initiatives, the admin role by itself grants no command, except erasure: admins erase
  accounts, and a participant's request to erase their data may reach them.
- States. planned -> registration_open -> registration_closed -> held, each from the one
  before only; cancelled from any state before held. People register while planned or
  open, drop out until the activity is held (the earliest waitlisted takes the place, in
  the same event), and only registered ones (not waitlisted) have their attendance marked.
  A participant's data is erased in any state; all participants' at once (retention) once
  the activity is held or cancelled, or in any state by the platform itself (the system
  caller) when the retention period after its end has passed.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypedDict
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from domain.account import EMAIL, REASON_MAX, normalise_email
from domain.errors import InvalidFields, NotPermitted, StateConflict
from domain.personal import Personal
from domain.values import (
    COUNT_MAX,
    COUNTRIES,
    Actor,
    Caller,
    Role,
    field_errors,
    system_actor,
    whole_errors,
)

KINDS = (
    "national_workshop",
    "international_conference",
    "citizens_meeting",
    "study_visit",
    "webinar",
    "other",
)
ActivityState = Literal["planned", "registration_open", "registration_closed", "held", "cancelled"]
PARTICIPANT_TYPES = ("local", "invited")
AGE_BANDS = ("under_18", "18_30", "31_64", "65_plus")
GENDERS = ("female", "male", "other", "undisclosed")
RegistrationStatus = Literal["registered", "waitlisted", "cancelled"]
Side = Literal["organiser", "local"]

TEXT_FIELDS = ("title", "summary", "original_language", "themes")
REQUIRED = ("kind", *TEXT_FIELDS, "country", "city", "starts_at", "ends_at")
OPTIONAL = ("capacity", "initiative_id")
CITY_MAX = 200
NAME_MAX = 200
TOWN_MAX = 200
REGISTRATION_FIELDS = (
    "name",
    "email",
    "country",
    "town",
    "organisation_id",
    "participant_type",
    "age_band",
    "gender",
)
REGISTERING = frozenset({"planned", "registration_open"})
ATTENDING = frozenset({"registration_closed", "held"})
# A participant may drop out until the activity is held: their place goes to the waitlist.
CANCELLING_REGISTRATION = frozenset({"planned", "registration_open", "registration_closed"})
# The states each command starts from (the state it leaves is its event's).
TRANSITIONS: dict[str, frozenset[str]] = {
    "open_registration": frozenset({"planned"}),
    "close_registration": frozenset({"registration_open"}),
    "held": frozenset({"registration_closed"}),
    "cancel": frozenset({"planned", "registration_open", "registration_closed"}),
}
ANY_STATE = frozenset({"planned", "registration_open", "registration_closed", "held", "cancelled"})


def _from(action: str) -> frozenset[str]:
    return TRANSITIONS[action]


# Retention: the participants of an activity that is over are shredded all at once.
SHREDDING = frozenset({"held", "cancelled"})


class Registration(TypedDict):
    id: str
    seq: int
    status: RegistrationStatus
    name: Personal
    email: Personal | None
    town: Personal
    age_band: Personal | None
    gender: Personal | None
    country: str
    participant_type: str
    organisation_id: str | None
    list_number: int
    attended: bool | None
    erased: bool


class Signature(TypedDict):
    side: Side
    account_id: str
    organisation_id: str
    digest: str


class AttendanceList(TypedDict):
    country: str
    signatures: list[Signature]
    digest: str | None  # set by the second signature: the list is certified


def _aware(value: Any) -> datetime | None:
    """The moment an ISO 8601 date-time with a time zone names, else None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _is_uuid(value: Any) -> bool:
    try:
        UUID(str(value)) if isinstance(value, str) else UUID(int=-1)
    except ValueError:
        return False
    return True


def _text(value: Any, limit: int) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        return ["Must not be empty."]
    if len(value) > limit:
        return [f"At most {limit} characters."]
    return []


def activity_errors(fields: dict[str, Any]) -> dict[str, list[str]]:
    """Every problem of an activity's fields at once, keyed by field."""
    errors: dict[str, list[str]] = {}
    for name in fields:
        if name not in REQUIRED and name not in OPTIONAL:
            errors[name] = ["Unknown field."]
    for name in REQUIRED:
        if name not in fields:
            errors[name] = ["Missing data for required field."]
    errors.update(field_errors({k: fields[k] for k in TEXT_FIELDS if k in fields}))
    valid = {k: fields[k] for k in ("title", "summary", "original_language") if k not in errors}
    for name, problems in whole_errors(valid).items():
        errors.setdefault(name, problems)
    if "kind" in fields and fields["kind"] not in KINDS:
        errors["kind"] = [f"Must be one of {', '.join(KINDS)}."]
    if "country" in fields and fields["country"] not in COUNTRIES:
        errors["country"] = ["Must be an ISO 3166-1 alpha-2 country code (or XK)."]
    if "city" in fields and (problems := _text(fields["city"], CITY_MAX)):
        errors["city"] = problems
    for name in ("starts_at", "ends_at"):
        if name in fields and _aware(fields[name]) is None:
            errors[name] = ["Must be an ISO 8601 date-time with a time zone."]
    starts, ends = _aware(fields.get("starts_at")), _aware(fields.get("ends_at"))
    if starts is not None and ends is not None and ends < starts:
        errors["ends_at"] = ["Must not be before starts_at."]
    capacity = fields.get("capacity")
    if capacity is not None and not (
        isinstance(capacity, int) and not isinstance(capacity, bool) and 1 <= capacity <= COUNT_MAX
    ):
        errors["capacity"] = [f"Must be a whole number from 1 to {COUNT_MAX:,}."]
    initiative_id = fields.get("initiative_id")
    if initiative_id is not None and not _is_uuid(initiative_id):
        errors["initiative_id"] = ["Must be an initiative id."]
    return errors


def registration_errors(fields: dict[str, Any]) -> dict[str, list[str]]:
    """Every problem of a registration's fields at once, keyed by field."""
    errors: dict[str, list[str]] = {}
    for name in fields:
        if name not in REGISTRATION_FIELDS:
            errors[name] = ["Unknown field."]
    if problems := _text(fields.get("name"), NAME_MAX):
        errors["name"] = problems
    if problems := _text(fields.get("town"), TOWN_MAX):
        errors["town"] = problems
    email = fields.get("email")
    if email is not None and (
        not isinstance(email, str) or len(email) > 254 or not EMAIL.match(email.strip())
    ):
        errors["email"] = ["Not a valid email address."]
    if fields.get("country") not in COUNTRIES:
        errors["country"] = ["Must be an ISO 3166-1 alpha-2 country code (or XK)."]
    if fields.get("participant_type") not in PARTICIPANT_TYPES:
        errors["participant_type"] = [f"Must be one of {', '.join(PARTICIPANT_TYPES)}."]
    for name, allowed in (("age_band", AGE_BANDS), ("gender", GENDERS)):
        if fields.get(name) is not None and fields[name] not in allowed:
            errors[name] = [f"Must be one of {', '.join(allowed)}."]
    organisation_id = fields.get("organisation_id")
    if organisation_id is not None and not _is_uuid(organisation_id):
        errors["organisation_id"] = ["Must be an organisation id."]
    return errors


def town_key(town: str) -> str:
    """What two spellings of one town share: trimmed, spaces collapsed, case-folded."""
    return " ".join(town.split()).casefold()


def list_digest(
    activity_id: str, country: str, list_number: int, entries: list[dict[str, Any]]
) -> str:
    """The SHA-256 (hex) of an attendance list's content as canonical JSON: provable from
    the ids and attendance alone, so after its participants are shredded too."""
    document = {
        "activity_id": activity_id,
        "country": country,
        "list_number": list_number,
        "registrations": sorted(entries, key=lambda e: str(e["id"])),
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _reason(reason: Any) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidFields({"reason": ["A reason is required."]})
    if len(reason) > REASON_MAX:
        raise InvalidFields({"reason": [f"At most {REASON_MAX} characters."]})
    return reason.strip()


def _value(personal: Personal | None) -> str | None:
    return None if personal is None else personal.value


def _optional(subject: str, value: str | None) -> Personal | None:
    return None if value is None else Personal(subject, value)


class Activity(Aggregate):
    """An event of the programme and its participants."""

    # ---------------------------------------------------------------- events
    class Planned(Aggregate.Created):
        fields: dict[str, Any]
        organiser_ids: list[str]
        actor: Actor

    class RegistrationOpened(Aggregate.Event):
        actor: Actor

    class RegistrationClosed(Aggregate.Event):
        actor: Actor

    class Held(Aggregate.Event):
        actor: Actor

    class Cancelled(Aggregate.Event):
        reason: str
        actor: Actor

    class Registered(Aggregate.Event):
        registration_id: str
        name: Personal
        email: Personal | None
        town: Personal
        age_band: Personal | None
        gender: Personal | None
        country: str
        participant_type: str
        organisation_id: str | None
        list_number: int
        status: str
        actor: Actor

    class RegistrationCancelled(Aggregate.Event):
        """One registration cancelled, and the waitlisted one promoted in its place (if
        any): one event, so the promotion is never recorded without its cause."""

        registration_id: str
        promoted_id: str | None
        actor: Actor

    class AttendanceMarked(Aggregate.Event):
        registration_ids: list[str]
        attended: bool
        actor: Actor

    class ListSigned(Aggregate.Event):
        list_number: int
        country: str
        side: str
        digest: str
        actor: Actor

    class ListCertified(Aggregate.Event):
        """The second signature: the list is certified, with the digest of its content."""

        list_number: int
        country: str
        side: str
        digest: str
        actor: Actor

    class RegistrationErased(Aggregate.Event):
        registration_id: str
        reason: str
        actor: Actor

    class ParticipantsShredded(Aggregate.Event):
        """Retention: the personal data of every participant listed is erased at once."""

        registration_ids: list[str]
        reason: str
        actor: Actor

    # ------------------------------------------------------------ creation
    @classmethod
    def plan(
        cls, caller: Caller, fields: dict[str, Any], co_organiser_ids: list[str] | None = None
    ) -> Activity:
        """A partner plans an activity: their organisation and the co-organisers organise
        it. (The application checks the initiative and the co-organisers exist.)"""
        if not caller.has(Role.PARTNER):
            raise NotPermitted("Planning an activity needs the partner role.")
        errors = activity_errors(fields)
        if errors:
            raise InvalidFields(errors)
        organisers = [caller.organisation_id]
        for organisation_id in co_organiser_ids or []:
            if str(organisation_id) not in organisers:
                organisers.append(str(organisation_id))
        complete = {"capacity": None, "initiative_id": None, **fields}
        if complete["initiative_id"] is not None:
            complete["initiative_id"] = str(UUID(str(complete["initiative_id"])))
        return cls(fields=complete, organiser_ids=organisers, actor=caller.acting_as(Role.PARTNER))

    @event(Planned)
    def __init__(self, fields: dict[str, Any], organiser_ids: list[str], actor: Actor) -> None:
        self.state: ActivityState = "planned"
        self.fields = fields
        self.organiser_ids = list(organiser_ids)
        self.created_by = actor.account_id
        self.registrations: dict[str, Registration] = {}
        self.lists: dict[str, AttendanceList] = {}  # str(list number) -> list
        self.cancel_reason: str | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> Activity:
        """The repository's cache copies the aggregate on every load. Events replace a
        registration (a new dict), never change one in place, and its values are immutable
        (its Personal too): so a copy of the mapping shares them safely, and a command on an
        activity with a thousand registrations copies pointers, not a thousand dicts."""
        copied = object.__new__(type(self))
        for name, value in self.__dict__.items():
            value = dict(value) if name == "registrations" else copy.deepcopy(value, memo)
            copied.__dict__[name] = value
        return copied

    # ------------------------------------------------------------ queries
    @property
    def kind(self) -> str:
        return str(self.fields["kind"])

    @property
    def capacity(self) -> int | None:
        capacity: int | None = self.fields.get("capacity")
        return capacity

    def is_organiser(self, caller: Caller) -> bool:
        return caller.organisation_id in self.organiser_ids

    def registration(self, registration_id: str) -> Registration:
        try:
            return self.registrations[str(registration_id)]
        except KeyError:
            raise InvalidFields(
                {"registration_id": [f"No registration {registration_id} in this activity."]}
            ) from None

    def participant(self, registration_id: str) -> dict[str, Any]:
        """A registration with its personal values opened (None once erased)."""
        r = self.registration(registration_id)
        opened = {
            "name": r["name"].value,
            "email": _value(r["email"]),
            "town": r["town"].value,
            "age_band": _value(r["age_band"]),
            "gender": _value(r["gender"]),
        }
        return {
            "id": r["id"],
            "status": r["status"],
            "country": r["country"],
            "participant_type": r["participant_type"],
            "organisation_id": r["organisation_id"],
            "list_number": r["list_number"],
            "attended": r["attended"],
            "erased": r["erased"],
            **opened,
        }

    def with_status(self, status: RegistrationStatus) -> list[str]:
        """The ids of the registrations in `status`, in the order they were made."""
        return [
            r["id"]
            for r in sorted(self.registrations.values(), key=lambda r: r["seq"])
            if r["status"] == status
        ]

    def counts(self) -> dict[str, Any]:
        """What the programme counts, kept when the participants are shredded."""
        totals: dict[str, Any] = {"registered": 0, "waitlisted": 0, "cancelled": 0}
        totals["attended"] = 0
        by_country: dict[str, dict[str, dict[str, int]]] = {}
        for r in self.registrations.values():
            totals[r["status"]] += 1
            if r["status"] != "registered":
                continue
            per_type = by_country.setdefault(r["country"], {}).setdefault(
                r["participant_type"], {"registered": 0, "attended": 0}
            )
            per_type["registered"] += 1
            if r["attended"]:
                per_type["attended"] += 1
                totals["attended"] += 1
        totals["by_country"] = by_country
        return totals

    def find_list(self, town: str, country: str) -> int | None:
        """The number of the list of this town and country (None: nobody registered from
        there whose town is still readable)."""
        key = town_key(town)
        for r in self.registrations.values():
            town_now = r["town"].value
            if r["country"] == country and town_now is not None and town_key(town_now) == key:
                return r["list_number"]
        return None

    def list_entries(self, list_number: int) -> list[dict[str, Any]]:
        """The content of a list: the ids and attendance of its registered participants."""
        return sorted(
            (
                {"id": r["id"], "attended": r["attended"]}
                for r in self.registrations.values()
                if r["list_number"] == list_number and r["status"] == "registered"
            ),
            key=lambda e: str(e["id"]),
        )

    def list_country(self, list_number: int) -> str:
        for r in self.registrations.values():
            if r["list_number"] == list_number:
                return r["country"]
        raise InvalidFields({"list_number": [f"No list {list_number} in this activity."]})

    def digest_of(self, list_number: int) -> str:
        """The SHA-256 of the list's content as it is now."""
        return list_digest(
            str(self.id),
            self.list_country(list_number),
            list_number,
            self.list_entries(list_number),
        )

    def certified(self, list_number: int) -> bool:
        kept = self.lists.get(str(list_number))
        return kept is not None and kept["digest"] is not None

    def frozen(self, list_number: int) -> bool:
        """A list signed once or twice: its attendance may no longer change."""
        kept = self.lists.get(str(list_number))
        return kept is not None and bool(kept["signatures"])

    # ------------------------------------------------------------ rules
    def _authorize(
        self, action: str, caller: Caller, states: frozenset[str], admin: bool = False
    ) -> Actor:
        label = action.replace("_", " ")
        if (
            admin
            and caller.has(Role.ADMIN)
            and not (caller.has(Role.PARTNER) and self.is_organiser(caller))
        ):
            actor = caller.acting_as(Role.ADMIN)
        else:
            if not caller.has(Role.PARTNER):
                raise NotPermitted(f"To {label} you need the partner role.")
            if not self.is_organiser(caller):
                raise NotPermitted(f"Only a member of an organiser organisation may {label}.")
            actor = caller.acting_as(Role.PARTNER)
        if self.state not in states:
            raise StateConflict(f"Cannot {label} an activity in state {self.state}.")
        return actor

    # ------------------------------------------------------------ lifecycle
    def open_registration(self, caller: Caller) -> None:
        self._opened(actor=self._authorize("open_registration", caller, _from("open_registration")))

    @event(RegistrationOpened)
    def _opened(self, actor: Actor) -> None:
        self.state = "registration_open"

    def close_registration(self, caller: Caller) -> None:
        actor = self._authorize("close_registration", caller, _from("close_registration"))
        self._closed(actor=actor)

    @event(RegistrationClosed)
    def _closed(self, actor: Actor) -> None:
        self.state = "registration_closed"

    def mark_held(self, caller: Caller) -> None:
        self._held(actor=self._authorize("mark_held", caller, _from("held")))

    @event(Held)
    def _held(self, actor: Actor) -> None:
        self.state = "held"

    def cancel(self, caller: Caller, reason: str) -> None:
        actor = self._authorize("cancel", caller, _from("cancel"))
        self._cancelled(reason=_reason(reason), actor=actor)

    @event(Cancelled)
    def _cancelled(self, reason: str, actor: Actor) -> None:
        self.state = "cancelled"
        self.cancel_reason = reason

    # ------------------------------------------------------------ registrations
    def register(
        self,
        caller: Caller,
        fields: dict[str, Any],
        organisation_exists: Callable[[str], bool] | None = None,
    ) -> tuple[str, str]:
        """Registers a participant; returns the registration's id (the subject of their
        personal data: the application makes its key before saving) and its status.
        `organisation_exists` tells whether a named organisation exists (the application's)."""
        actor = self._authorize("register", caller, REGISTERING)
        errors = registration_errors(fields)
        organisation_id = fields.get("organisation_id")
        if (
            organisation_exists is not None
            and organisation_id is not None
            and "organisation_id" not in errors
            and not organisation_exists(str(organisation_id))
        ):
            errors["organisation_id"] = ["No such organisation."]
        if errors:
            raise InvalidFields(errors)
        subject = str(uuid4())
        town = " ".join(fields["town"].split())
        country = fields["country"]
        list_number = self.find_list(town, country)
        if list_number is None:
            numbers = [r["list_number"] for r in self.registrations.values()]
            list_number = max(numbers, default=0) + 1
        email = fields.get("email")
        capacity = self.capacity
        full = capacity is not None and len(self.with_status("registered")) >= capacity
        status: RegistrationStatus = "waitlisted" if full else "registered"
        self._registered(
            registration_id=subject,
            name=Personal(subject, fields["name"].strip()),
            email=_optional(subject, None if email is None else normalise_email(email)),
            town=Personal(subject, town),
            age_band=_optional(subject, fields.get("age_band")),
            gender=_optional(subject, fields.get("gender")),
            country=country,
            participant_type=fields["participant_type"],
            organisation_id=None if organisation_id is None else str(UUID(str(organisation_id))),
            list_number=list_number,
            status=status,
            actor=actor,
        )
        return subject, status

    @event(Registered)
    def _registered(
        self,
        registration_id: str,
        name: Personal,
        email: Personal | None,
        town: Personal,
        age_band: Personal | None,
        gender: Personal | None,
        country: str,
        participant_type: str,
        organisation_id: str | None,
        list_number: int,
        status: RegistrationStatus,
        actor: Actor,
    ) -> None:
        self.registrations[registration_id] = Registration(
            id=registration_id,
            seq=len(self.registrations),
            status=status,
            name=name,
            email=email,
            town=town,
            age_band=age_band,
            gender=gender,
            country=country,
            participant_type=participant_type,
            organisation_id=organisation_id,
            list_number=list_number,
            attended=None,
            erased=False,
        )

    def cancel_registration(self, caller: Caller, registration_id: str) -> str | None:
        """Cancels a registration; returns the id of the waitlisted one promoted in its
        place (the earliest), if a place was freed and someone waits."""
        actor = self._authorize("cancel_registration", caller, CANCELLING_REGISTRATION)
        registration = self.registration(registration_id)
        if registration["status"] == "cancelled":
            raise StateConflict("The registration is cancelled already.")
        promoted = None
        if registration["status"] == "registered":
            promoted = next(iter(self.with_status("waitlisted")), None)
        self._registration_cancelled(
            registration_id=registration["id"], promoted_id=promoted, actor=actor
        )
        return promoted

    @event(RegistrationCancelled)
    def _registration_cancelled(
        self, registration_id: str, promoted_id: str | None, actor: Actor
    ) -> None:
        self._replace(registration_id, status="cancelled")
        if promoted_id is not None:
            self._replace(promoted_id, status="registered")

    # ------------------------------------------------------------ attendance
    def mark_attendance(self, caller: Caller, registration_ids: list[str], attended: bool) -> None:
        actor = self._authorize("mark_attendance", caller, ATTENDING)
        if not isinstance(attended, bool):
            raise InvalidFields({"attended": ["Must be true or false."]})
        if not isinstance(registration_ids, list) or not registration_ids:
            raise InvalidFields({"registration_ids": ["At least one registration id."]})
        ids = [str(rid) for rid in registration_ids]
        unknown = [rid for rid in ids if rid not in self.registrations]
        if unknown:
            raise InvalidFields(
                {
                    "registration_ids": [
                        f"No registration {rid} in this activity." for rid in unknown
                    ]
                }
            )
        if len(set(ids)) != len(ids):
            raise InvalidFields({"registration_ids": ["Items must not repeat."]})
        not_registered = [rid for rid in ids if self.registrations[rid]["status"] != "registered"]
        if not_registered:
            raise StateConflict(
                f"Only registered participants attend: {', '.join(not_registered)} "
                "is not (waitlisted or cancelled)."
            )
        frozen = sorted(
            {n for rid in ids if self.frozen(n := self.registrations[rid]["list_number"])}
        )
        if frozen:
            raise StateConflict(
                f"Attendance list {', '.join(map(str, frozen))} is signed: its attendance "
                "can no longer change."
            )
        self._attendance_marked(registration_ids=ids, attended=attended, actor=actor)

    @event(AttendanceMarked)
    def _attendance_marked(self, registration_ids: list[str], attended: bool, actor: Actor) -> None:
        for rid in registration_ids:
            self._replace(rid, attended=attended)

    # ------------------------------------------------------------ certification
    def certify(self, caller: Caller, town: str, country: str, signer_country: str | None) -> bool:
        """Signs the attendance list of `town` and `country` (`signer_country`: the
        country of the caller's organisation, as the application resolved it). Returns
        whether the list is now certified."""
        if not caller.has(Role.PARTNER):
            raise NotPermitted("To sign an attendance list you need the partner role.")
        if self.state != "held":
            raise StateConflict(
                f"Cannot sign an attendance list of an activity in state {self.state}."
            )
        list_number = None if not isinstance(town, str) else self.find_list(town, country)
        if list_number is None:
            raise InvalidFields({"town": ["No participant registered from this town and country."]})
        entries = self.list_entries(list_number)
        local_orgs = {
            r["organisation_id"]
            for r in self.registrations.values()
            if r["list_number"] == list_number and r["status"] == "registered"
        }
        organiser = self.is_organiser(caller)
        local = caller.organisation_id in local_orgs and signer_country == country
        if not organiser and not local:
            raise NotPermitted(
                "Only a member of an organiser organisation, or of an organisation of this "
                "town and country named by its participants, may sign this list."
            )
        kept = self.lists.get(str(list_number))
        signatures = [] if kept is None else kept["signatures"]
        if len(signatures) >= 2:
            raise StateConflict("The list is certified already.")
        if any(s["account_id"] == caller.account_id for s in signatures):
            raise StateConflict("You signed this list already.")
        if any(s["organisation_id"] == caller.organisation_id for s in signatures):
            raise StateConflict(
                "Your organisation signed this list already: the other signature must come "
                "from another organisation."
            )
        if not entries:
            raise StateConflict("The list has no registered participant.")
        taken = {s["side"] for s in signatures}
        side: Side
        if organiser and "organiser" not in taken:
            side = "organiser"
        elif local and "local" not in taken:
            side = "local"
        else:
            missing = (
                "an organiser organisation"
                if "organiser" not in taken
                else ("an organisation of this town and country named by its participants")
            )
            raise StateConflict(f"The list needs its other signature from a member of {missing}.")
        digest = self.digest_of(list_number)
        actor = caller.acting_as(Role.PARTNER)
        trigger = self._list_certified if signatures else self._list_signed
        trigger(list_number=list_number, country=country, side=side, digest=digest, actor=actor)
        return bool(signatures)

    @event(ListSigned)
    def _list_signed(
        self, list_number: int, country: str, side: Side, digest: str, actor: Actor
    ) -> None:
        self.lists[str(list_number)] = AttendanceList(
            country=country,
            signatures=[self._signature(side, digest, actor)],
            digest=None,
        )

    @event(ListCertified)
    def _list_certified(
        self, list_number: int, country: str, side: Side, digest: str, actor: Actor
    ) -> None:
        kept = self.lists[str(list_number)]
        kept["signatures"] = [*kept["signatures"], self._signature(side, digest, actor)]
        kept["digest"] = digest

    @staticmethod
    def _signature(side: Side, digest: str, actor: Actor) -> Signature:
        return Signature(
            side=side,
            account_id=actor.account_id,
            organisation_id=actor.organisation_id,
            digest=digest,
        )

    # ------------------------------------------------------------ erasure
    def erase_registration(self, caller: Caller, registration_id: str, reason: str) -> None:
        """Records the erasure of a participant's data; the application destroys their key
        once this is stored."""
        actor = self._authorize("erase_registration", caller, ANY_STATE, admin=True)
        registration = self.registration(registration_id)
        if registration["erased"]:
            raise StateConflict("The participant's data was erased already.")
        self._registration_erased(
            registration_id=registration["id"], reason=_reason(reason), actor=actor
        )

    @event(RegistrationErased)
    def _registration_erased(self, registration_id: str, reason: str, actor: Actor) -> None:
        self._erase(registration_id)

    def shred_participants(self, caller: Caller, reason: str) -> list[str]:
        """Erases every participant not erased yet (retention, once the activity is over);
        returns their ids, whose keys the application destroys once this is stored."""
        if caller.is_system:
            # Retention run by the platform (the application checked the time has passed):
            # in any state, since organisers may never have marked a long-past activity held.
            actor = system_actor(caller.request_id)
        else:
            actor = self._authorize("shred_participants", caller, SHREDDING, admin=True)
        ids = [r["id"] for r in self.registrations.values() if not r["erased"]]
        if not ids:
            raise StateConflict("Every participant's data was erased already.")
        self._shredded(registration_ids=ids, reason=_reason(reason), actor=actor)
        return ids

    @event(ParticipantsShredded)
    def _shredded(self, registration_ids: list[str], reason: str, actor: Actor) -> None:
        for rid in registration_ids:
            self._erase(rid)

    def _erase(self, registration_id: str) -> None:
        r = self.registrations[registration_id]
        gone = Personal(registration_id, None)
        self._replace(
            registration_id,
            name=gone,
            town=gone,
            email=None if r["email"] is None else gone,
            age_band=None if r["age_band"] is None else gone,
            gender=None if r["gender"] is None else gone,
            erased=True,
        )

    def _replace(self, registration_id: str, **changes: Any) -> None:
        """A new registration with `changes` in place of the old (never changed in place:
        copies of the aggregate share registrations, see `__deepcopy__`)."""
        replaced = {**self.registrations[registration_id], **changes}
        self.registrations[registration_id] = replaced  # type: ignore[assignment]

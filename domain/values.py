"""Value objects and vocabularies shared by the aggregates."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import Any

import pycountry


class Role(Enum):
    PARTNER = "partner"
    REVIEWER = "reviewer"
    AUDITOR = "auditor"
    ADMIN = "admin"


ROLES = tuple(r.value for r in Role)


class OrganisationType(Enum):
    LOCAL_AUTHORITY = "local_authority"
    NATIONAL_ASSOCIATION = "national_association"
    CIVIL_SOCIETY = "civil_society"
    LOCAL_DEMOCRACY_AGENCY = "local_democracy_agency"
    OTHER = "other"


ORGANISATION_TYPES = tuple(t.value for t in OrganisationType)


class State(Enum):
    PROPOSAL = "proposal"
    CO_DESIGN = "co_design"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    FOLLOW_UP = "follow_up"
    COMPLETED = "completed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


FINAL_STATES = frozenset({State.COMPLETED, State.REJECTED, State.WITHDRAWN})
# The way through the workflow, in order; rejected and withdrawn end it early.
LIFECYCLE = (
    State.PROPOSAL,
    State.CO_DESIGN,
    State.IN_REVIEW,
    State.APPROVED,
    State.FOLLOW_UP,
    State.COMPLETED,
)
# Partners are invited, join, co-edit and amend until the initiative is submitted.
EDITABLE_STATES = frozenset({State.PROPOSAL, State.CO_DESIGN})
# The states of an initiative that reached approval: the programme's indicators count these.
REACHED_APPROVAL = frozenset({State.APPROVED, State.FOLLOW_UP, State.COMPLETED})
# The state a review decision leads to (an approval: once every step is approved).
AFTER_DECISION = {
    "approve": State.APPROVED,
    "request_changes": State.CO_DESIGN,
    "reject": State.REJECTED,
}


def waiting_on(
    state: State, lead: str, invited: str | None, amendments_pending: bool, step: str | None
) -> dict[str, Any]:
    """Whose move it is: what an initiative in `state` waits for, and from whom (`invited`:
    the first invited partner, if any; `step`: the review step under way)."""
    if state in EDITABLE_STATES:
        if invited is not None:
            return {"kind": "invitation", "organisation_id": invited}
        if amendments_pending:
            return {"kind": "amendment_decision", "organisation_id": lead}
        return {"kind": "lead", "organisation_id": lead}
    if state is State.IN_REVIEW:
        return {"kind": "review", "role": "reviewer", "step": step}
    if state is State.APPROVED:
        return {"kind": "lead", "organisation_id": lead}
    if state is State.FOLLOW_UP:
        return {"kind": "report", "organisation_id": lead}
    return {"kind": "none"}


class Visibility(Enum):
    NETWORK = "network"
    PARTNERS = "partners"


VISIBILITIES = tuple(v.value for v in Visibility)
# A `partners` initiative stays among its organisations while it is drafted: from submission
# on, the programme's openness applies to it as to any other. A draft withdrawn before it was
# ever submitted stays among them too: the network never saw it.
PRIVATE_STATES = EDITABLE_STATES


def sees_everything(caller: Caller) -> bool:
    """Auditors and admins read every initiative, drafts of any visibility included."""
    return caller.has(Role.AUDITOR) or caller.has(Role.ADMIN)


def is_private(visibility: str, state: State, submitted: bool) -> bool:
    """Whether only the initiative's organisations (and auditors, admins) may read it now
    (`submitted`: whether it was ever submitted)."""
    if visibility != Visibility.PARTNERS.value:
        return False
    return state in PRIVATE_STATES or (state is State.WITHDRAWN and not submitted)


def read_scope(caller: Caller) -> str | None:
    """What decides which initiatives a list shows the caller: None for one who reads them
    all, else the caller's organisation (the drafts of partners it is involved in)."""
    return None if sees_everything(caller) else caller.organisation_id


def can_read(
    caller: Caller, visibility: str, state: State, relation: str | None, *, submitted: bool
) -> bool:
    """Whether `caller` may read an initiative (`relation`: the caller's organisation's to
    it: lead, joined, invited or None). Whoever may not is told it does not exist."""
    return (
        not is_private(visibility, state, submitted)
        or relation is not None
        or sees_everything(caller)
    )


class Level(Enum):
    NATIONAL = "national"
    EUROPEAN = "european"


LEVELS = tuple(level.value for level in Level)

DECISIONS = ("approve", "request_changes", "reject")


def approval_steps(level: str) -> list[str]:
    """The review steps an initiative of this level goes through, in order."""
    if level == Level.EUROPEAN.value:
        return ["national_review", "network_review"]
    return ["national_review"]


@dataclass(frozen=True)
class Actor:
    """Who recorded an event: the account, the organisation it acted for, the role used."""

    account_id: str
    organisation_id: str
    role: str
    request_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "organisation_id": self.organisation_id,
            "role": self.role,
            "request_id": self.request_id,
        }


SYSTEM_ORGANISATION = "system"


def system_actor(request_id: str | None = None) -> Actor:
    """The actor of actions the platform takes by itself (bootstrap, demo data)."""
    return Actor(
        account_id="system",
        organisation_id=SYSTEM_ORGANISATION,
        role="system",
        request_id=request_id,
    )


# The role only the platform itself holds: no account can be given it (ROLES lacks it).
SYSTEM_ROLE = "system"


@dataclass(frozen=True)
class Caller:
    """An authenticated account as it asks for something: its organisation and roles."""

    account_id: str
    organisation_id: str
    roles: frozenset[str] = field(default_factory=frozenset)
    request_id: str | None = None

    def has(self, role: Role) -> bool:
        return role.value in self.roles

    def acting_as(self, role: Role) -> Actor:
        return Actor(self.account_id, self.organisation_id, role.value, self.request_id)

    @property
    def is_system(self) -> bool:
        """The platform acting by itself (retention), never an account."""
        return SYSTEM_ROLE in self.roles and self.organisation_id == SYSTEM_ORGANISATION


def system_caller(request_id: str | None = None) -> Caller:
    """The caller of commands the platform runs by itself (retention); they record
    `system_actor()`."""
    return Caller("system", SYSTEM_ORGANISATION, frozenset({SYSTEM_ROLE}), request_id)


# The themes of thematic town twinning, as the programme names them.
THEMES: dict[str, dict[str, str]] = {
    "culture_heritage": {"en": "Culture and heritage", "fr": "Culture et patrimoine"},
    "youth": {"en": "Youth", "fr": "Jeunesse"},
    "environment": {"en": "Environment and climate", "fr": "Environnement et climat"},
    "local_democracy": {"en": "Local democracy", "fr": "Démocratie locale"},
    "social_inclusion": {"en": "Social inclusion", "fr": "Inclusion sociale"},
    "civil_society": {"en": "Civil society participation", "fr": "Participation citoyenne"},
    "european_integration": {"en": "European integration", "fr": "Intégration européenne"},
    "local_development": {"en": "Local economic development", "fr": "Développement local"},
    "education": {"en": "Education and lifelong learning", "fr": "Éducation et formation"},
    "gender_equality": {"en": "Gender equality", "fr": "Égalité femmes-hommes"},
    "migration": {"en": "Migration and integration", "fr": "Migration et intégration"},
    "reconciliation": {"en": "Peace and reconciliation", "fr": "Paix et réconciliation"},
    "sport": {"en": "Sport", "fr": "Sport"},
    "tourism": {"en": "Sustainable tourism", "fr": "Tourisme durable"},
}

COUNTRIES: frozenset[str] = frozenset(c.alpha_2 for c in pycountry.countries) | {"XK"}
LANGUAGES: frozenset[str] = frozenset(
    lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2")
)

MULTILINGUAL_FIELDS = ("title", "summary", "description")
TEXT_LIMITS = {
    "title": 200,
    "summary": 2000,
    "description": 20000,
    "narrative": 20000,
    "outcomes": 20000,
}
EDITABLE_FIELDS = (
    "title",
    "summary",
    "description",
    "original_language",
    "themes",
    "level",
    "countries",
    "target_groups",
    "expected_participants",
    "start_date",
    "end_date",
)
REQUIRED_ON_PROPOSAL = ("title", "summary", "original_language", "themes", "level", "countries")
DEFAULTS: dict[str, Any] = {
    "description": {},
    "target_groups": [],
    "expected_participants": 0,
    "start_date": None,
    "end_date": None,
}
TARGET_GROUP_MAX = 200
LIST_MAX = 100
COUNT_MAX = 1_000_000  # participants, activities: far above any real event, inside every column


def is_count(value: Any) -> bool:
    """A whole number of people or activities: 0 to COUNT_MAX (a bool is not a number)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= COUNT_MAX


COUNT_PROBLEM = f"Must be a whole number from 0 to {COUNT_MAX:,}."

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


def multilingual_errors(name: str, value: Any) -> list[str]:
    if not isinstance(value, dict):
        return ["Must be a map of language codes to text."]
    errors = []
    limit = TEXT_LIMITS.get(name)
    for lang, text in value.items():
        if lang not in LANGUAGES:
            errors.append(f"Unknown language code {lang!r} (ISO 639-1 expected).")
        elif not isinstance(text, str):
            errors.append(f"Text in {lang!r} must be a string.")
        elif not text.strip():
            errors.append(f"Text in {lang!r} must not be empty.")
        elif limit is not None and len(text) > limit:
            errors.append(f"Text in {lang!r} is longer than {limit} characters.")
    return errors


def _list_of(
    value: Any, check: Any, what: str, *, non_empty: bool = False, unique: bool = True
) -> list[str]:
    if not isinstance(value, list):
        return ["Must be a list."]
    if non_empty and not value:
        return ["At least one is required."]
    if len(value) > LIST_MAX:
        return [f"At most {LIST_MAX} items."]
    errors = [f"Unknown {what} {item!r}." for item in value if not check(item)]
    if unique and not errors and len(set(value)) != len(value):
        errors.append("Items must not repeat.")
    return errors


def is_iso_date(value: Any) -> bool:
    if not isinstance(value, str) or not _DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_http_url(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 2000 and bool(_URL.match(value))


def field_errors(fields: dict[str, Any]) -> dict[str, list[str]]:
    """Checks each given initiative field on its own; returns messages keyed by field."""
    errors: dict[str, list[str]] = {}
    for name, value in fields.items():
        problems: list[str]
        if name not in EDITABLE_FIELDS:
            problems = ["Unknown field."]
        elif name in MULTILINGUAL_FIELDS:
            problems = multilingual_errors(name, value)
            if not problems and name != "description" and not value:
                problems = ["At least one language is required."]
        elif name == "original_language":
            problems = [] if value in LANGUAGES else ["Unknown language code (ISO 639-1)."]
        elif name == "themes":
            problems = _list_of(value, THEMES.__contains__, "theme", non_empty=True)
        elif name == "level":
            problems = [] if value in LEVELS else [f"Must be one of {', '.join(LEVELS)}."]
        elif name == "countries":
            problems = _list_of(value, COUNTRIES.__contains__, "country", non_empty=True)
        elif name == "target_groups":
            problems = _list_of(
                value,
                lambda g: isinstance(g, str) and 0 < len(g.strip()) <= TARGET_GROUP_MAX,
                "target group",
            )
        elif name == "expected_participants":
            problems = [] if is_count(value) else [COUNT_PROBLEM]
        else:  # start_date, end_date
            problems = [] if value is None or is_iso_date(value) else ["Must be an ISO date."]
        if problems:
            errors[name] = problems
    return errors


def whole_errors(fields: dict[str, Any]) -> dict[str, list[str]]:
    """Checks the rules that tie fields together, on a complete set of fields."""
    errors: dict[str, list[str]] = {}
    lang = fields.get("original_language")
    for name in ("title", "summary"):
        if lang is not None and name in fields and lang not in fields[name]:
            errors.setdefault(name, []).append(f"Must have text in the original language {lang!r}.")
    start, end = fields.get("start_date"), fields.get("end_date")
    if start and end and end < start:
        errors.setdefault("end_date", []).append("Must not be before start_date.")
    return errors

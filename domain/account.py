"""The Account aggregate: a person acting for one organisation, with roles. No secrets here."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from domain.errors import DuplicateEmail, InvalidFields, StateConflict
from domain.personal import Personal
from domain.values import ROLES, Actor, Caller

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
NAME_MAX = 200
REASON_MAX = 2000
# The role an actor records when a person acts on their own account (not by a role held).
SELF = "self"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def account_errors(email: Any, name: Any, roles: Any) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(email, str) or len(email) > 254 or not EMAIL.match(email.strip()):
        errors["email"] = ["Not a valid email address."]
    if not isinstance(name, str) or not name.strip():
        errors["name"] = ["Must not be empty."]
    elif len(name) > NAME_MAX:
        errors["name"] = [f"At most {NAME_MAX} characters."]
    if not isinstance(roles, list) or any(r not in ROLES for r in roles):
        errors["roles"] = [f"Each role must be one of {', '.join(ROLES)}."]
    return errors


def rectify_errors(name: Any, email: Any) -> dict[str, list[str]]:
    """The problems of a corrected name or email (None: left as it is)."""
    sent = {"name": name, "email": email}
    return {f: m for f, m in account_errors(email, name, []).items() if sent[f] is not None}


class Account(Aggregate):
    """A person's account: identity, organisation, roles and whether it is active. The email
    and name are personal data, sealed with the account's own key (its subject is its id)."""

    class Registered(Aggregate.Created):
        email: Personal
        name: Personal
        organisation_id: str
        roles: list[str]
        actor: Actor

    class RoleGranted(Aggregate.Event):
        role: str
        actor: Actor

    class RoleRevoked(Aggregate.Event):
        role: str
        actor: Actor

    class Deactivated(Aggregate.Event):
        actor: Actor

    class Reactivated(Aggregate.Event):
        actor: Actor

    class Rectified(Aggregate.Event):
        """The name and email as corrected (both, whichever changed: one event a command)."""

        name: Personal
        email: Personal
        actor: Actor

    class Erased(Aggregate.Event):
        """The person's data was erased (their key destroyed) by `actor`, for `reason`."""

        reason: str
        actor: Actor

    # What happened to the password, never the password, a token or a digest of either.
    class PasswordChanged(Aggregate.Event):
        actor: Actor

    class PasswordResetIssued(Aggregate.Event):
        expires_at: datetime
        actor: Actor

    class PasswordResetUsed(Aggregate.Event):
        actor: Actor

    @classmethod
    def register(
        cls, email: str, name: str, organisation_id: str, roles: list[str], actor: Actor
    ) -> Account:
        errors = account_errors(email, name, roles)
        if errors:
            raise InvalidFields(errors)
        account_id = uuid4()
        subject = str(account_id)
        return cls._create(
            cls.Registered,
            id=account_id,
            email=Personal(subject, normalise_email(email)),
            name=Personal(subject, name.strip()),
            organisation_id=organisation_id,
            roles=sorted(set(roles)),
            actor=actor,
        )

    @event(Registered)
    def __init__(
        self,
        email: Personal,
        name: Personal,
        organisation_id: str,
        roles: list[str],
        actor: Actor,
    ) -> None:
        self._email = email
        self._name = name
        self.organisation_id = organisation_id
        self.roles = list(roles)
        self.active = True
        self.erased = False

    # The aggregate keeps the sealed values, so that its snapshots stay sealed too.
    @property
    def email(self) -> str | None:
        """The email; None once erased."""
        return self._email.value

    @property
    def name(self) -> str | None:
        """The name; None once erased."""
        return self._name.value

    @property
    def subject(self) -> str:
        """Whose personal data the account holds: the key's id."""
        return str(self.id)

    def __deepcopy__(self, memo: dict[int, Any]) -> Account:
        """The copy the repository's cache hands out on every request (authentication
        loads the caller's account each time): every attribute holds immutable values and
        is replaced, never changed in place, so copying the lists (roles, pending events)
        one level deep is a full copy, at a tenth of `copy.deepcopy`'s cost."""
        copied = object.__new__(type(self))
        copied.__dict__.update(
            {k: list(v) if isinstance(v, list) else v for k, v in self.__dict__.items()}
        )
        return copied

    def caller(self, request_id: str | None = None) -> Caller:
        return Caller(str(self.id), self.organisation_id, frozenset(self.roles), request_id)

    def _not_erased(self) -> None:
        if self.erased:
            raise StateConflict("The account was erased.")

    def grant(self, role: str, actor: Actor) -> None:
        self._not_erased()
        if role not in ROLES:
            raise InvalidFields({"role": [f"Must be one of {', '.join(ROLES)}."]})
        if role in self.roles:
            raise StateConflict(f"The account already holds the {role} role.")
        self._granted(role=role, actor=actor)

    @event(RoleGranted)
    def _granted(self, role: str, actor: Actor) -> None:
        self.roles = sorted({*self.roles, role})

    def revoke(self, role: str, actor: Actor) -> None:
        self._not_erased()
        if role not in self.roles:
            raise StateConflict(f"The account does not hold the {role} role.")
        self._revoked(role=role, actor=actor)

    @event(RoleRevoked)
    def _revoked(self, role: str, actor: Actor) -> None:
        self.roles = [r for r in self.roles if r != role]

    def deactivate(self, actor: Actor) -> None:
        self._not_erased()
        if not self.active:
            raise StateConflict("The account is already deactivated.")
        self._deactivated(actor=actor)

    @event(Deactivated)
    def _deactivated(self, actor: Actor) -> None:
        self.active = False

    def reactivate(self, actor: Actor) -> None:
        self._not_erased()
        if self.active:
            raise StateConflict("The account is active already.")
        self._reactivated(actor=actor)

    @event(Reactivated)
    def _reactivated(self, actor: Actor) -> None:
        self.active = True

    def rectify(self, actor: Actor, name: str | None = None, email: str | None = None) -> None:
        """Corrects the name and/or the email (the caller claims a new email's index)."""
        self._not_erased()
        errors = rectify_errors(name, email)
        if errors:
            raise InvalidFields(errors)
        name = self.name if name is None else name.strip()
        email = self.email if email is None else normalise_email(email)
        self._rectified(
            name=Personal(self.subject, name), email=Personal(self.subject, email), actor=actor
        )

    @event(Rectified)
    def _rectified(self, name: Personal, email: Personal, actor: Actor) -> None:
        self._name = name
        self._email = email

    def erase(self, actor: Actor, reason: str) -> None:
        """Records the erasure; the caller destroys the key once this is stored."""
        self._not_erased()
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidFields({"reason": ["Must not be empty."]})
        if len(reason) > REASON_MAX:
            raise InvalidFields({"reason": [f"At most {REASON_MAX} characters."]})
        self._erased(reason=reason.strip(), actor=actor)

    @event(Erased)
    def _erased(self, reason: str, actor: Actor) -> None:
        self._email = Personal(self.subject, None)
        self._name = Personal(self.subject, None)
        self.active = False
        self.erased = True

    def password_changed(self, actor: Actor) -> None:
        self._not_erased()
        self._password_changed(actor=actor)

    @event(PasswordChanged)
    def _password_changed(self, actor: Actor) -> None:
        pass

    def reset_issued(self, expires_at: datetime, actor: Actor) -> None:
        self._not_erased()
        self._reset_issued(expires_at=expires_at, actor=actor)

    @event(PasswordResetIssued)
    def _reset_issued(self, expires_at: datetime, actor: Actor) -> None:
        pass

    def reset_used(self, actor: Actor) -> None:
        if not self.active:
            raise StateConflict("The account is deactivated.")
        self._reset_used(actor=actor)

    @event(PasswordResetUsed)
    def _reset_used(self, actor: Actor) -> None:
        pass

    def as_self(self, request_id: str | None = None) -> Actor:
        """The actor of what a person does to their own account (no role is used)."""
        return Actor(str(self.id), self.organisation_id, SELF, request_id)


class EmailIndex(Aggregate):
    """Claims an email address for one account: saved with the account, so emails are unique.
    Its id derives from the email (a keyed hash: `Twinning.email_index_id`), so a released
    index is claimed again (`Reclaimed`) rather than created anew; the version check of that
    event keeps two claims from both landing. It never holds the email."""

    class Claimed(Aggregate.Created):
        account_id: UUID

    class Released(Aggregate.Event):
        pass

    class Reclaimed(Aggregate.Event):
        account_id: UUID

    @classmethod
    def claim(cls, index_id: UUID, account_id: UUID) -> EmailIndex:
        return cls._create(cls.Claimed, id=index_id, account_id=account_id)

    def __init__(self, account_id: UUID) -> None:
        self.account_id: UUID | None = account_id

    @property
    def claimed(self) -> bool:
        return self.account_id is not None

    def release(self) -> None:
        if not self.claimed:
            raise StateConflict("The email is not claimed.")
        self._released()

    @event(Released)
    def _released(self) -> None:
        self.account_id = None

    def reclaim(self, account_id: UUID) -> None:
        if self.claimed:
            raise DuplicateEmail("An account with this email exists already.")
        self._reclaimed(account_id=account_id)

    @event(Reclaimed)
    def _reclaimed(self, account_id: UUID) -> None:
        self.account_id = account_id

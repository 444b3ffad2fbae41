"""The Account aggregate: a person acting for one organisation, with roles. No secrets here."""

from __future__ import annotations

import re
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidFields, StateConflict
from domain.values import ROLES, Actor, Caller

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
NAME_MAX = 200


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


class Account(Aggregate):
    """A person's account: identity, organisation, roles and whether it is active."""

    class Registered(Aggregate.Created):
        email: str
        name: str
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

    @classmethod
    def register(
        cls, email: str, name: str, organisation_id: str, roles: list[str], actor: Actor
    ) -> Account:
        errors = account_errors(email, name, roles)
        if errors:
            raise InvalidFields(errors)
        return cls(
            email=normalise_email(email),
            name=name.strip(),
            organisation_id=organisation_id,
            roles=sorted(set(roles)),
            actor=actor,
        )

    @event(Registered)
    def __init__(
        self, email: str, name: str, organisation_id: str, roles: list[str], actor: Actor
    ) -> None:
        self.email = email
        self.name = name
        self.organisation_id = organisation_id
        self.roles = list(roles)
        self.active = True

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

    def grant(self, role: str, actor: Actor) -> None:
        if role not in ROLES:
            raise InvalidFields({"role": [f"Must be one of {', '.join(ROLES)}."]})
        if role in self.roles:
            raise StateConflict(f"The account already holds the {role} role.")
        self._granted(role=role, actor=actor)

    @event(RoleGranted)
    def _granted(self, role: str, actor: Actor) -> None:
        self.roles = sorted({*self.roles, role})

    def revoke(self, role: str, actor: Actor) -> None:
        if role not in self.roles:
            raise StateConflict(f"The account does not hold the {role} role.")
        self._revoked(role=role, actor=actor)

    @event(RoleRevoked)
    def _revoked(self, role: str, actor: Actor) -> None:
        self.roles = [r for r in self.roles if r != role]

    def deactivate(self, actor: Actor) -> None:
        if not self.active:
            raise StateConflict("The account is already deactivated.")
        self._deactivated(actor=actor)

    @event(Deactivated)
    def _deactivated(self, actor: Actor) -> None:
        self.active = False


class EmailIndex(Aggregate):
    """Claims an email address for one account: saved with the account, so emails are unique."""

    class Claimed(Aggregate.Created):
        account_id: UUID

    @staticmethod
    def id_for(email: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"/twinning/accounts/email/{normalise_email(email)}")

    @classmethod
    def claim(cls, email: str, account_id: UUID) -> EmailIndex:
        return cls._create(cls.Claimed, id=cls.id_for(email), account_id=account_id)

    def __init__(self, account_id: UUID) -> None:
        self.account_id = account_id

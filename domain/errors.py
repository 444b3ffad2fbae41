"""Domain errors: each names what went wrong in the users' terms; the service maps them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class DomainError(Exception):
    """Base class of every rule the domain refuses to break."""

    slug = "domain-error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def extra(self) -> dict[str, Any]:
        return {}


class NotFound(DomainError):
    """The named aggregate does not exist."""

    slug = "not-found"


class NotPermitted(DomainError):
    """The caller may not do this (wrong role, organisation or a conflict of interest)."""

    slug = "forbidden"


class ConflictOfInterest(NotPermitted):
    """A reviewer whose organisation takes part in the initiative."""

    slug = "conflict-of-interest"


class FourEyes(NotPermitted):
    """A reviewer who approved an earlier step of the same round."""

    slug = "four-eyes"


class InvalidTransition(DomainError):
    """The command is not allowed in the current state."""

    slug = "invalid-transition"

    def __init__(self, detail: str, state: str, allowed_actions: list[str]) -> None:
        super().__init__(detail)
        self.state = state
        self.allowed_actions = allowed_actions

    def extra(self) -> dict[str, Any]:
        return {"state": self.state, "allowed_actions": self.allowed_actions}


class RequirementsNotMet(DomainError):
    """A submission or completion that lacks what it needs."""

    slug = "requirements-not-met"


class StateConflict(DomainError):
    """The command conflicts with the current state of the data (already a partner, …)."""

    slug = "conflict"


@dataclass(frozen=True)
class FieldConflict:
    field: str
    yours: Any
    theirs: Any
    changed_by: str
    changed_in_version: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "yours": self.yours,
            "theirs": self.theirs,
            "changed_by": self.changed_by,
            "changed_in_version": self.changed_in_version,
        }


class EditConflict(DomainError):
    """Co-edits that change the same fields differently."""

    slug = "edit-conflict"

    def __init__(self, detail: str, conflicts: list[FieldConflict]) -> None:
        super().__init__(detail)
        self.conflicts = conflicts

    def extra(self) -> dict[str, Any]:
        return {"conflicts": [c.as_dict() for c in self.conflicts]}


class InvalidFields(DomainError):
    """Field values that break a rule; messages keyed by the request's field names."""

    slug = "validation-error"

    def __init__(self, errors: dict[str, Any], detail: str = "Some fields are invalid.") -> None:
        super().__init__(detail)
        self.errors = errors

    def extra(self) -> dict[str, Any]:
        return {"errors": self.errors}


class StaleVersion(DomainError):
    """The version the caller read is no longer the current one."""

    slug = "stale-version"

    def __init__(self, detail: str, current_version: int) -> None:
        super().__init__(detail)
        self.current_version = current_version

    def extra(self) -> dict[str, Any]:
        return {"current_version": self.current_version}


class PreconditionRequired(DomainError):
    """A command on an existing initiative that names no version; `base_version` says
    whether the command also takes the version edited."""

    slug = "precondition-required"

    def __init__(self, detail: str, base_version: bool = False) -> None:
        super().__init__(detail)
        self.base_version = base_version


class DuplicateEmail(DomainError):
    """An account with this email exists already."""

    slug = "duplicate-email"

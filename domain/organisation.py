"""The Organisation aggregate: a local authority, association, CSO or agency in the network."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidFields
from domain.values import COUNTRIES, ORGANISATION_TYPES, Actor

NAME_MAX = 300


def organisation_errors(name: Any, type_: Any, country: Any) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(name, str) or not name.strip():
        errors["name"] = ["Must not be empty."]
    elif len(name) > NAME_MAX:
        errors["name"] = [f"At most {NAME_MAX} characters."]
    if type_ not in ORGANISATION_TYPES:
        errors["type"] = [f"Must be one of {', '.join(ORGANISATION_TYPES)}."]
    if country not in COUNTRIES:
        errors["country"] = ["Must be an ISO 3166-1 alpha-2 country code (or XK)."]
    return errors


class Organisation(Aggregate):
    """An organisation of the twinning network, for which accounts act."""

    class Registered(Aggregate.Created):
        name: str
        type: str
        country: str
        actor: Actor

    @classmethod
    def register(
        cls, name: str, type_: str, country: str, actor: Actor, id: UUID | None = None
    ) -> Organisation:
        errors = organisation_errors(name, type_, country)
        if errors:
            raise InvalidFields(errors)
        kwargs: dict[str, Any] = {"name": name.strip(), "type": type_, "country": country}
        if id is None:
            return cls(**kwargs, actor=actor)
        return cls._create(cls.Registered, id=id, **kwargs, actor=actor)

    @event(Registered)
    def __init__(self, name: str, type: str, country: str, actor: Actor) -> None:
        self.name = name
        self.type = type
        self.country = country

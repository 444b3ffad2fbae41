"""Where a store's history continues from: the first event of a store made by copying an
earlier store (`twinning migrate-personal-data`). The copy starts a new audit chain, since
its events' bytes differ from the originals; this event records the old chain's head, so
that the two chains stay joined: the old head, kept outside, is found here."""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, uuid5

from eventsourcing.domain import Aggregate, event

from domain.values import Actor

# One lineage per store: the copy's first event, at a known id.
LINEAGE_ID = uuid5(NAMESPACE_URL, "/twinning/store-lineage")


class StoreLineage(Aggregate):
    """The store this one continues: the head link of its audit chain, how many events it
    held and its last position, when the copy was made and by whom."""

    class Continued(Aggregate.Created):
        previous_head: str
        previous_events: int
        previous_position: int
        migrated_at: datetime
        actor: Actor

    @classmethod
    def continued(
        cls,
        previous_head: str,
        previous_events: int,
        previous_position: int,
        migrated_at: datetime,
        actor: Actor,
    ) -> StoreLineage:
        return cls._create(
            cls.Continued,
            id=LINEAGE_ID,
            previous_head=previous_head,
            previous_events=previous_events,
            previous_position=previous_position,
            migrated_at=migrated_at,
            actor=actor,
        )

    @event(Continued)
    def __init__(
        self,
        previous_head: str,
        previous_events: int,
        previous_position: int,
        migrated_at: datetime,
        actor: Actor,
    ) -> None:
        self.previous_head = previous_head
        self.previous_events = previous_events
        self.previous_position = previous_position
        self.migrated_at = migrated_at

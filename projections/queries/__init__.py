"""Reads of the views: every query over the view tables, one module per area. Nothing here
reads the event store (but the audit chain's verification, which compares the two).

Callers pass the connection: a request's reader (`service.context.reader`), or a
connection of the runtime's engine outside requests (the CLI).
"""

from projections.queries.initiatives import MAIN, good_practices, list_initiatives
from projections.queries.organisations import list_organisations
from projections.queries.paging import BadCursor, Page, decode_cursor, encode_cursor
from projections.queries.queues import inbox, review_queue
from projections.queries.statistics import first_year, impact

__all__ = [
    "MAIN",
    "BadCursor",
    "Page",
    "decode_cursor",
    "encode_cursor",
    "first_year",
    "good_practices",
    "impact",
    "inbox",
    "list_initiatives",
    "list_organisations",
    "review_queue",
]

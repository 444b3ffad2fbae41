"""What the audit endpoints and the console's audit pages share: who may audit, and the
CSV export of audit entries (written by service.api.csv_export, formulas defused)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Response

from domain.errors import NotPermitted
from domain.values import Caller, Role
from projections.queries import audit as audit_reads
from service.api.csv_export import csv_download
from service.infrastructure.runtime import runtime

CSV_COLUMNS = [
    "position",
    "at",
    "aggregate_type",
    "aggregate_id",
    "initiative_id",
    "version",
    "type",
    "actor_account_id",
    "actor_organisation_id",
    "actor_role",
    "request_id",
    "rationale",
    "changes",
]


def require_auditor(caller: Caller) -> None:
    if not (caller.has(Role.AUDITOR) or caller.has(Role.ADMIN)):
        raise NotPermitted("Audit endpoints need the auditor or admin role.")


def revealed(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Audit entries with the personal data in their changes opened for the auditor (null
    where it was erased)."""
    personal = runtime().app.personal
    for item in items:
        item["changes"] = personal.reveal(item["changes"])
    return items


def csv_response(statement: Any) -> Response:
    """Every audit entry `statement` selects, as CSV (API and console alike)."""
    engine = runtime().engine
    personal = runtime().app.personal

    def rows() -> Iterator[list[Any]]:
        for item in audit_reads.entry_stream(engine, statement):
            item["changes"] = personal.reveal(item["changes"])
            yield [
                item["position"],
                item["at"],
                item["aggregate_type"],
                item["aggregate_id"],
                item["initiative_id"] or "",
                item["version"],
                item["type"],
                item["actor"]["account_id"] or "",
                item["actor"]["organisation_id"] or "",
                item["actor"]["role"] or "",
                item["request_id"] or "",
                item["rationale"] or "",
                json.dumps(item["changes"], ensure_ascii=False),
            ]

    return csv_download(CSV_COLUMNS, rows(), "audit.csv")

"""Console pages for auditors (and admins): the system-wide audit entries (and their CSV), an
initiative's timeline and the differences between two of its versions, and the integrity of
the hash chain.

The pages hold no rule and no data path of their own: they read the audit view through
projections.queries.audit (filters, entry shape, digest, verification) and
projections.audit's changes between versions, and share the API's CSV writer, query schemas
and authorization (service.api.auditing).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from flask import render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from domain.errors import InvalidFields
from domain.values import system_actor
from projections.audit import version_changes
from projections.queries import audit as audit_reads
from service.api.auditing import csv_response, require_auditor, revealed
from service.api.schemas import AuditEntriesQuerySchema, DiffQuerySchema, VerifyQuerySchema
from service.console import (
    LEVELS,
    PARTNER_STATUSES,
    STATES,
    STEP_STATUSES,
    STEPS,
    bp,
    country_name,
    forms,
    label,
    language_name,
    need_login,
    organisation_name,
    theme_name,
)
from service.context import reader
from service.infrastructure.runtime import runtime

PAGE_SIZE = 50
FILTERS = ("actor_id", "organisation_id", "initiative_id", "type", "aggregate_type", "from", "to")
AGGREGATE_TYPES = {
    "initiative": _l("Initiative"),
    "organisation": _l("Organisation"),
    "account": _l("Account"),
    "email_claim": _l("Email claim"),
    "store_lineage": _l("Store lineage"),
}
FIELDS = {
    "state": _l("State"),
    "lead_organisation_id": _l("Lead organisation"),
    "title": _l("Title"),
    "summary": _l("Summary"),
    "description": _l("Description"),
    "outcomes": _l("Outcomes"),
    "original_language": _l("Original language"),
    "themes": _l("Themes"),
    "level": _l("Level"),
    "countries": _l("Countries"),
    "target_groups": _l("Target groups"),
    "expected_participants": _l("Expected participants"),
    "start_date": _l("Start date"),
    "end_date": _l("End date"),
    "good_practice": _l("Good practice"),
    "approval.round": _l("Review round"),
    "participants": _l("participants"),
    "activities": _l("activities"),
}
AMENDMENT_STATUSES = {
    "pending": _l("pending"),
    "accepted": _l("accepted"),
    "rejected": _l("rejected"),
}
MULTILINGUAL = ("title", "summary", "description", "outcomes")
SYSTEM_ACCOUNT = system_actor().account_id


def auditor() -> Any:
    """The signed-in auditor or admin (sign-in page otherwise; 403 page for anyone else)."""
    caller = need_login()
    require_auditor(caller)
    return caller


# ------------------------------------------------------------------ showing changes
def field_label(key: str) -> tuple[str, str | None]:
    """A changed field's name for people, and the language of its text (if it is one)."""
    parts = key.split(".")
    if len(parts) == 2 and parts[0] in MULTILINGUAL:
        return f"{label(FIELDS, parts[0])} ({language_name(parts[1])})", parts[1]
    if parts[0] == "partners" and len(parts) == 2:
        return _("Partner: %(name)s", name=organisation_name(parts[1])), None
    if parts[0] == "amendments" and len(parts) == 2:
        return _("Amendment %(id)s", id=parts[1][:8]), None
    if parts[0] == "approval" and len(parts) == 2 and key not in FIELDS:
        return _("Approval: %(step)s", step=label(STEPS, parts[1])), None
    if parts[0] == "reports" and len(parts) == 3:
        return _("Report %(id)s: %(what)s", id=parts[1][:8], what=label(FIELDS, parts[2])), None
    return label(FIELDS, key), None


def field_value(key: str, value: Any) -> str:
    """A field's value for people: labels for codes, names for identifiers."""
    if value is None:
        return ""
    if value == [] or value == {}:
        return _("(none)")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    head = key.split(".", 1)[0]
    tables: dict[str, dict[str, Any]] = {
        "state": STATES,
        "level": LEVELS,
        "partners": PARTNER_STATUSES,
        "amendments": AMENDMENT_STATUSES,
    }
    if head in tables:
        return label(tables[head], value)
    if head == "approval" and key != "approval.round":
        return label(STEP_STATUSES, value)
    if key == "lead_organisation_id":
        return organisation_name(value)
    if key == "original_language":
        return language_name(str(value))
    if key == "themes" and isinstance(value, list):
        return ", ".join(theme_name(str(t)) for t in value)
    if key == "countries" and isinstance(value, list):
        return ", ".join(country_name(str(c)) for c in value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def change_rows(changes: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Changes (field path → old, new) as rows to show, multilingual text per language."""
    rows = []
    for key, change in changes.items():
        name, language = field_label(key)
        rows.append(
            {
                "key": key,
                "label": name,
                "lang": language,
                "old": field_value(key, change.get("old")),
                "new": field_value(key, change.get("new")),
            }
        )
    return rows


def shown(item: dict[str, Any]) -> dict[str, Any]:
    """An audit entry (the API's shape), marked when the platform itself acted."""
    item["by_system"] = item["actor"]["account_id"] == SYSTEM_ACCOUNT
    return item


def history(initiative_id: UUID) -> list[dict[str, Any]]:
    """Every audit entry of the initiative in order (as the API's History)."""
    return [shown(item) for item in audit_reads.history(reader(), initiative_id)]


# ------------------------------------------------------------------ entries
def entry_filters() -> dict[str, str]:
    """The filters as the person typed them (kept for the form, the pages and the CSV)."""
    return {
        name: request.args[name].strip()
        for name in (*FILTERS, "cursor", "limit")
        if request.args.get(name, "").strip()
    }


def _moment(value: str, next_day: bool = False) -> str:
    """A date from a date input as the start of that day in UTC (of the next day for an
    inclusive end); anything else as typed, for the schema to judge."""
    try:
        day = date.fromisoformat(value)
        if next_day:
            day += timedelta(days=1)
    except (ValueError, OverflowError):
        return value
    return f"{day.isoformat()}T00:00:00+00:00"


def entries_query(filters: dict[str, str]) -> dict[str, Any]:
    document: dict[str, Any] = dict(filters)
    document.setdefault("limit", str(PAGE_SIZE))
    if "from" in document:
        document["from"] = _moment(document["from"])
    if "to" in document:
        document["to"] = _moment(document["to"], next_day=True)
    return forms.load(AuditEntriesQuerySchema(), document)


def invalid_entries(filters: dict[str, str], errors: dict[str, list[str]]) -> Any:
    return render_template(
        "console/audit_entries.html",
        items=[],
        next_cursor=None,
        filters=filters,
        errors=errors,
        aggregate_types=AGGREGATE_TYPES,
    ), 422


@bp.get("/audit")
def audit_entries() -> Any:
    """The whole system's record, one entry per event; filters combine (as the API's)."""
    auditor()
    filters = entry_filters()
    try:
        query = entries_query(filters)
        statement = audit_reads.entries_statement(query)
    except InvalidFields as invalid:
        return invalid_entries(filters, forms.field_errors(invalid.errors))
    items, next_cursor = audit_reads.entries_page(reader(), statement, query["limit"])
    items = revealed(items)
    kept = {k: v for k, v in filters.items() if k != "cursor"}
    return render_template(
        "console/audit_entries.html",
        items=[shown(item) for item in items],
        next_cursor=next_cursor,
        filters=kept,
        paged="cursor" in filters,
        csv_filters={k: v for k, v in kept.items() if k != "limit"},
        errors={},
        aggregate_types=AGGREGATE_TYPES,
    )


@bp.get("/audit.csv")
def audit_csv() -> Any:
    """Every entry matching the filters as CSV, exactly as the API writes it."""
    auditor()
    filters = {k: v for k, v in entry_filters().items() if k not in ("cursor", "limit")}
    try:
        query = entries_query(filters)
    except InvalidFields as invalid:
        return invalid_entries(filters, forms.field_errors(invalid.errors))
    return csv_response(audit_reads.entries_statement(query))


# ------------------------------------------------------------------ one initiative
@bp.get("/initiatives/<uuid:initiative_id>/timeline")
def timeline(initiative_id: UUID) -> Any:
    """Every event of the initiative: when, who, for which organisation, what changed, why."""
    auditor()
    initiative = runtime().app.initiative(initiative_id)  # the 404 page for an unknown one
    items = history(initiative_id)
    for item in items:
        item["rows"] = change_rows(item["changes"])
    return render_template(
        "console/audit_timeline.html",
        initiative_id=initiative_id,
        title=initiative.fields.get("title"),
        current_version=initiative.version,
        items=items,
    )


@bp.get("/initiatives/<uuid:initiative_id>/diff")
def diff(initiative_id: UUID) -> Any:
    """Field-by-field differences between any two versions (as the API's Diff)."""
    auditor()
    app = runtime().app
    initiative = app.initiative(initiative_id)  # the 404 page for an unknown one
    current = initiative.version
    chosen = {name: request.args.get(name, "").strip() for name in ("from", "to")}
    if not any(chosen.values()):
        chosen = {"from": str(max(1, current - 1)), "to": str(current)}
    document = {name: value for name, value in chosen.items() if value}
    errors: dict[str, list[str]] = {}
    rows: list[dict[str, Any]] = []
    try:
        query = forms.load(DiffQuerySchema(), document)
        rows = change_rows(version_changes(app, initiative_id, query["from"], query["to"]))
    except InvalidFields as invalid:
        errors = forms.field_errors(invalid.errors)
    return render_template(
        "console/audit_diff.html",
        initiative_id=initiative_id,
        title=initiative.fields.get("title"),
        current_version=current,
        versions=history_versions(initiative_id),
        chosen=chosen,
        rows=rows,
        errors=errors,
    ), (422 if errors else 200)


def history_versions(initiative_id: UUID) -> dict[int, dict[str, Any]]:
    """Each version's event, to name the versions one may compare."""
    return {item["version"]: item for item in history(initiative_id)}


# ------------------------------------------------------------------ integrity
@bp.get("/audit/integrity")
def integrity() -> Any:
    """The head of the hash chain to keep outside the system, and its verification."""
    auditor()
    asked = {name: request.args.get(name, "").strip() for name in ("position", "head_hash")}
    checking = any(name in request.args for name in asked)
    errors: dict[str, list[str]] = {}
    result = None
    head = audit_reads.digest(reader())
    if checking:
        try:
            query = forms.load(
                VerifyQuerySchema(), {name: value for name, value in asked.items() if value}
            )
            found = audit_reads.verify_up_to(
                runtime().app, reader(), query.get("position"), query.get("head_hash")
            )
        except InvalidFields as invalid:
            errors = forms.field_errors(invalid.errors)
        else:
            result = {**found, "compared": "head_hash" in query}
    return render_template(
        "console/audit_integrity.html",
        digest=head,
        digest_text=json.dumps(head, indent=2),
        asked=asked,
        result=result,
        errors=errors,
    ), (422 if errors else 200)

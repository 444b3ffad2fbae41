"""An initiative as the API shows it, to the API and to the console alike."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from domain.initiative import Initiative
from domain.values import Caller
from service.api.request import current_caller, iso

PUBLIC_AMENDMENT_KEYS = (
    "id",
    "status",
    "changes",
    "rationale",
    "base_version",
    "author_id",
    "decided_by",
    "reason",
)


def representation(initiative: Initiative, caller: Caller, current: bool = True) -> dict[str, Any]:
    """The initiative as the API shows it; `allowed_actions` only for the current version.

    Already what `InitiativeSchema` dumps it to (text ids, only the schema's keys, nested
    ones too), so it is sent as it is: the dump cost a command about a tenth of its HTTP
    overhead (docs/PERFORMANCE.md). tests/application/test_stateful.py checks the identity
    after every random command."""
    fields = initiative.fields
    approval = None
    if initiative.approval is not None:
        approval = {
            **initiative.approval,
            "steps": [
                {**step, "reviews": [{**r, "at": iso(r["at"])} for r in step["reviews"]]}
                for step in initiative.approval["steps"]
            ],
        }
    return {
        "id": str(initiative.id),
        "state": initiative.state.value,
        "version": initiative.version,
        "created_at": iso(initiative.created_on),
        "updated_at": iso(initiative.modified_on),
        "title": fields["title"],
        "summary": fields["summary"],
        "description": fields.get("description") or {},
        "original_language": fields["original_language"],
        "translations": initiative.translations(),
        "themes": fields["themes"],
        "level": fields["level"],
        "countries": fields["countries"],
        "target_groups": fields.get("target_groups") or [],
        "expected_participants": fields.get("expected_participants", 0),
        "start_date": fields.get("start_date"),
        "end_date": fields.get("end_date"),
        "lead_organisation_id": initiative.lead_organisation_id,
        "visibility": initiative.visibility,
        "partners": [
            {"organisation_id": org, "status": status}
            for org, status in initiative.partners.items()
        ],
        "amendments": [
            {key: a.get(key) for key in PUBLIC_AMENDMENT_KEYS} for a in initiative.amendments
        ],
        "approval": approval,
        "reports": initiative.reports,
        "outcomes": initiative.outcomes,
        "good_practice": initiative.good_practice,
        "allowed_actions": initiative.allowed_actions(caller) if current else [],
    }


def rendered(initiative: Initiative) -> tuple[int, bytes]:
    """The current initiative's version and its body as the caller is sent it, to be kept
    in the read cache."""
    return initiative.version, jsonify(representation(initiative, current_caller())).get_data()

"""A person's rights over their data, as the API and the console carry them out: erasure
(Art. 17) and access (Art. 15)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from domain.account import Account
from domain.application import Outcome
from domain.values import Actor
from projections.queries import audit as audit_reads
from projections.view import iso
from service.infrastructure.runtime import Runtime

# The event fields that hold what a person wrote.
TEXTS = ("fields", "changes", "rationale", "reason", "report", "outcomes")
ROLE_EVENTS = {"Registered", "RoleGranted", "RoleRevoked"}


def erase(rt: Runtime, account_id: UUID, actor: Actor, reason: str) -> Outcome[Account]:
    """Erases the account (its key destroyed once the event is stored), then its password
    hash, tokens and resets."""
    outcome = rt.app.erase_account(account_id, actor=actor, reason=reason)
    rt.credentials.forget(str(account_id))
    return outcome


def export(rt: Runtime, conn: sa.Connection, account_id: UUID) -> dict[str, Any]:
    """Everything the service holds about the account's person, as one document."""
    app = rt.app
    account = app.account(account_id)
    grants = []
    for event in app.events.get(account_id):
        kind = type(event).__name__
        if kind not in ROLE_EVENTS:
            continue
        actor = getattr(event, "actor", None)
        roles = event.roles if kind == "Registered" else [event.role]  # type: ignore[attr-defined]
        for role in roles:
            grants.append(
                {
                    "role": role,
                    "change": "revoked" if kind == "RoleRevoked" else "granted",
                    "by": None if actor is None else actor.account_id,
                    "at": iso(event.timestamp),  # type: ignore[attr-defined]
                }
            )
    acted = audit_reads.acted_by(conn, str(account_id))
    return {
        "account": {
            "id": str(account.id),
            "erased": account.erased,
            "email": account.email,
            "name": account.name,
            "organisation_id": account.organisation_id,
            "roles": list(account.roles),
            "active": account.active,
        },
        "role_grants": grants,
        "events": [{k: v for k, v in e.items() if k != "version"} for e in acted],
        "texts": _texts(rt, acted),
        "tokens": [
            {k: None if v is None else iso(v) for k, v in token.items()}
            for token in rt.credentials.tokens_of(str(account_id))
        ],
    }


def _texts(rt: Runtime, acted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the person wrote in the initiatives' events they recorded."""
    versions: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for entry in acted:
        if entry["aggregate_type"] == "initiative":
            versions[entry["aggregate_id"]][entry["version"]] = entry
    texts = []
    for initiative_id, wanted in versions.items():
        for event in rt.app.events.get(UUID(initiative_id)):
            entry = wanted.get(event.originator_version)
            if entry is None:
                continue
            written = {k: getattr(event, k) for k in TEXTS if hasattr(event, k)}
            if written:
                texts.append({**entry, "texts": written})
    return sorted(texts, key=lambda t: t["position"])

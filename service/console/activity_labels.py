"""The activities' vocabularies as the console shows them (English, French): kinds, states,
participant types, age bands, genders and registration statuses, keyed as the domain's."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

KINDS = {
    "national_workshop": _l("National workshop"),
    "international_conference": _l("International conference"),
    "citizens_meeting": _l("Citizens' meeting"),
    "study_visit": _l("Study visit"),
    "webinar": _l("Webinar"),
    "other": _l("Other activity"),
}
STATES = {
    "planned": _l("Planned"),
    "registration_open": _l("Registration open"),
    "registration_closed": _l("Registration closed"),
    "held": _l("Held"),
    "cancelled": _l("Cancelled"),
}
PARTICIPANT_TYPES = {"local": _l("local participant"), "invited": _l("invited participant")}
AGE_BANDS = {
    "under_18": _l("under 18"),
    "18_30": _l("18 to 30"),
    "31_64": _l("31 to 64"),
    "65_plus": _l("65 or over"),
}
GENDERS = {
    "female": _l("female"),
    "male": _l("male"),
    "other": _l("other"),
    "undisclosed": _l("prefers not to say"),
}
REGISTRATION_STATUSES = {
    "registered": _l("registered"),
    "waitlisted": _l("waitlisted"),
    "cancelled": _l("cancelled"),
}

# Merged into the templates' LABELS by service.console.init_app.
LABELS: dict[str, dict[str, Any]] = {
    "activity_kinds": KINDS,
    "activity_states": STATES,
    "participant_types": PARTICIPANT_TYPES,
    "age_bands": AGE_BANDS,
    "genders": GENDERS,
    "registration_statuses": REGISTRATION_STATUSES,
}

"""HTML forms to the API's request documents, validated by the API's own schemas.

The console holds no rule of its own: a form becomes the JSON document the API would take,
the same marshmallow schema loads it, and the same application command decides.
"""

from __future__ import annotations

import re
from typing import Any

from flask import request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError
from werkzeug.datastructures import MultiDict

from domain.errors import InvalidFields
from service.api.request import unfit

MULTILINGUAL = ("title", "summary", "description", "outcomes", "narrative")
_LANGUAGE_KEY = re.compile(r"^([a-z_]+)\.([a-z]{2})$")
_SPLIT = re.compile(r"[,;\n]+")

# marshmallow's and the domain's most frequent messages, so that they are translated too.
KNOWN_MESSAGES = (
    _l("Missing data for required field."),
    _l("Not a valid integer."),
    _l("Not a valid string."),
    _l("Not a valid UUID."),
    _l("Field may not be null."),
    _l("Shorter than minimum length 1."),
    _l("Unknown field."),
)


def translated(message: str) -> str:
    return gettext(message) if message else message


def multilingual(form: MultiDict[str, str], name: str) -> dict[str, str] | None:
    """`title.en`, `title.fr`, … as {"en": …, "fr": …}; None when the form has none."""
    found = False
    texts: dict[str, str] = {}
    for key, value in form.items():
        match = _LANGUAGE_KEY.match(key)
        if match and match.group(1) == name:
            found = True
            if value.strip():
                texts[match.group(2)] = value.strip()
    return texts if found else None


def languages_in(form: MultiDict[str, str], names: tuple[str, ...]) -> list[str]:
    """The languages of the `name.xx` fields the form has for these names, in form order."""
    found: list[str] = []
    for key in form:
        match = _LANGUAGE_KEY.match(key)
        if match and match.group(1) in names and match.group(2) not in found:
            found.append(match.group(2))
    return found


def words(raw: str, upper: bool = False) -> list[str]:
    items = [item.strip() for item in _SPLIT.split(raw) if item.strip()]
    return [item.upper() for item in items] if upper else items


def initiative_fields(form: MultiDict[str, str]) -> dict[str, Any]:
    """The initiative fields a propose, edit or amendment form holds (only those present)."""
    data: dict[str, Any] = {}
    for name in ("title", "summary", "description"):
        texts = multilingual(form, name)
        if texts is not None:
            data[name] = texts
    if "themes_present" in form:
        data["themes"] = form.getlist("themes")
    for name in ("original_language", "level"):
        if name in form:
            data[name] = form[name].strip()
    if "countries" in form:
        data["countries"] = words(form["countries"], upper=True)
    if "target_groups" in form:
        data["target_groups"] = words(form["target_groups"])
    if "expected_participants" in form:
        raw = form["expected_participants"].strip()
        data["expected_participants"] = int(raw) if raw.isdigit() else (raw or 0)
    for name in ("start_date", "end_date"):
        if name in form:
            data[name] = form[name].strip() or None
    return data


def proposal_fields(form: MultiDict[str, str]) -> dict[str, Any]:
    """A propose form's fields and the visibility chosen (the API's default without one)."""
    data = initiative_fields(form)
    if "visibility" in form:
        data["visibility"] = form["visibility"].strip()
    return data


def check_text(form: MultiDict[str, str]) -> None:
    """The API's rule for text anywhere: no control characters or lone surrogates."""
    problems = {key: [problem] for key, value in form.items() if (problem := unfit(value, key))}
    if problems:
        raise InvalidFields(problems)


def load(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    """The document loaded by the API's schema; InvalidFields with its messages otherwise."""
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as error:
        raise InvalidFields(dict(error.messages)) from None  # type: ignore[arg-type]
    return loaded


def field_errors(errors: dict[str, Any]) -> dict[str, list[str]]:
    """Error messages per form field name, translated; nested ones flattened with dots."""
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            flat.setdefault(prefix, []).extend(translated(v) for v in value)
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(f"{prefix}.{index}", inner)
        else:
            flat.setdefault(prefix, []).append(translated(str(value)))

    walk("", errors)
    return flat


def version_field() -> int | None:
    """The version the person read (the form's If-Match)."""
    raw = request.form.get("version", "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 12 else None

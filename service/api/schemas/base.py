"""What every schema module shares: field helpers, the problem document, paging, and the
command schema that merges the domain's field checks into the schema's own."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

MULTILINGUAL_COMPONENT = "Multilingual"
MULTILINGUAL_DESCRIPTION = "Language code (ISO 639-1) to text."


class MultilingualField(fields.Dict):
    """A map of ISO 639-1 language codes to text; the OpenAPI document names it once, as the
    `Multilingual` component (register_openapi)."""


def Multilingual(description: str = "", **kw: Any) -> MultilingualField:
    """A map of ISO 639-1 language codes to text."""
    text = f"{MULTILINGUAL_DESCRIPTION} {description}".strip()
    return MultilingualField(
        keys=fields.String(), values=fields.String(), metadata={"description": text}, **kw
    )


def IsoDate(**kw: Any) -> fields.String:
    return fields.String(metadata={"format": "date", "example": "2027-03-01"}, **kw)


def Timestamp(**kw: Any) -> fields.String:
    """An ISO 8601 timestamp as the service writes it (UTC, `Z`); documented, sent as is."""
    return fields.String(metadata={"format": "date-time"}, **kw)


# Each vocabulary's values by the name of its OpenAPI component (register_openapi).
VOCABULARIES: dict[str, list[str]] = {}


class Vocabulary(fields.String):
    """A string from a fixed vocabulary, named once in the OpenAPI document as an enum, so
    that a generated client has one type for it (a `Level`, not one per schema using it).
    Checked on load unless `checked` is false; on a response only documented: responses are
    sent as the domain made them."""

    def __init__(self, component: str, values: Any, *, checked: bool = True, **kw: Any) -> None:
        values = list(values)
        if VOCABULARIES.setdefault(component, values) != values:
            raise ValueError(f"Two vocabularies named {component}.")
        if checked:
            kw["validate"] = validate.OneOf(values)
        super().__init__(**kw)
        self.component = component


def vocabulary(component: str, values: Any, **options: Any) -> Callable[..., Vocabulary]:
    """A field maker for one vocabulary: `Level = vocabulary("Level", LEVELS)`."""
    return functools.partial(Vocabulary, component, values, **options)


# The largest position or version a query may name: beyond it no store can hold one, and
# SQLite's INTEGER would overflow.
NUMBER_MAX = 2**53


def StrictInt(**kw: Any) -> fields.Integer:
    return fields.Integer(strict=True, **kw)


def merge_messages(into: dict[str, Any], more: Mapping[str, Any]) -> None:
    """Adds the domain's messages for the fields the schema found nothing wrong with; a map
    of messages (a nested document's) is merged the same way, one level down."""
    for name, problems in more.items():
        mine = into.get(name)
        if mine is None:
            into[name] = problems
        elif isinstance(mine, dict) and isinstance(problems, Mapping):
            merge_messages(mine, problems)


def loaded_only(errors: Mapping[str, Any], loaded: Mapping[str, Any]) -> dict[str, Any]:
    """The domain checks every field of a command at once: keep what it says of those loaded
    (the others the schema has refused already, or they were not sent)."""
    return {name: problems for name, problems in errors.items() if name in loaded}


def checked(check: Callable[..., Mapping[str, Any]], loaded: Mapping[str, Any], *names: str) -> Any:
    """What a domain check of these fields says of those loaded."""
    return loaded_only(check(*(loaded.get(name) for name in names)), loaded)


class CommandSchema(Schema):
    """A command's body. When the schema refuses some fields, the domain's checks of the
    fields it loaded run too, so that one 422 names every invalid field. (When the schema
    refuses none, the command runs and the domain checks them all itself.)"""

    def domain_errors(self, loaded: dict[str, Any]) -> Mapping[str, Any]:
        """The domain's messages about these loaded fields, keyed as the request's."""
        return {}

    def handle_error(self, error: ValidationError, data: Any, *, many: bool, **kwargs: Any) -> None:
        messages, loaded = error.messages, error.valid_data
        if isinstance(data, Mapping) and isinstance(messages, dict) and isinstance(loaded, dict):
            merge_messages(messages, self.domain_errors(loaded))


class ProblemConflictSchema(Schema):
    """A co-editing conflict: the field, both values, who changed it and in which version."""

    field = fields.String(required=True)
    yours = fields.Raw(required=True, allow_none=True)
    theirs = fields.Raw(required=True, allow_none=True)
    changed_by = fields.String(required=True)
    changed_in_version = fields.Integer(required=True)


class ProblemSchema(Schema):
    """An RFC 9457 problem document."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(
        keys=fields.String(),
        metadata={
            "description": "422: messages keyed by request field (a nested map for a "
            "nested document, or list items by index)."
        },
    )
    state = fields.String(metadata={"description": "invalid-transition: the current state."})
    allowed_actions = fields.List(fields.String())
    conflicts = fields.List(
        fields.Nested(ProblemConflictSchema), metadata={"description": "Co-editing conflicts."}
    )
    current_version = fields.Integer()


class PageQuerySchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None, validate=validate.Length(max=200))


def referring(ret: dict[str, Any], component: str, *replaced: str) -> dict[str, Any]:
    """A field's schema as a reference to a component, instead of these keys written inline;
    its description stays (as a sibling of `allOf`, which OpenAPI 3.0 keeps)."""
    for key in replaced:
        ret.pop(key, None)
    return {"allOf": [{"$ref": f"#/components/schemas/{component}"}]}


def register_openapi(api: Any) -> None:
    """Names the multilingual map and each vocabulary as one component, referred to by every
    such field: a client generator names an inline map after its property, and `summary` of
    an initiative would then collide with the `InitiativeSummary` schema. Call before
    registering blueprints."""
    api.spec.components.schema(
        MULTILINGUAL_COMPONENT,
        {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": MULTILINGUAL_DESCRIPTION,
            "example": {"en": "Text", "fr": "Texte"},
        },
    )

    for name, values in VOCABULARIES.items():
        api.spec.components.schema(name, {"type": "string", "enum": values})

    def named_shapes(converter: Any, field: fields.Field, ret: dict[str, Any]) -> dict[str, Any]:
        if isinstance(field, MultilingualField):
            return referring(ret, MULTILINGUAL_COMPONENT, "type", "additionalProperties")
        if isinstance(field, Vocabulary):
            return referring(ret, field.component, "type", "enum")
        # apispec writes a nullable reference as "any object, or the schema": a generated
        # client then reads the schema's document as that empty model. "The schema, or null".
        if isinstance(field, fields.Nested) and field.allow_none and "anyOf" in ret:
            refs = [option for option in ret.pop("anyOf") if "$ref" in option]
            return {"allOf": refs, "nullable": True}
        return {}

    api.ma_plugin.converter.add_attribute_function(named_shapes)

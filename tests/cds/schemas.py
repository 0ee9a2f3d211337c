"""JSON Schemas (draft 2020-12) of CDS Hooks 2.0 responses, written from the specification's
tables ("Discovery", "CDS Service Response", "Card Attributes", "Source", "Suggestion", "Action",
"Link", Coding). Optional members, when present, must hold a value: CDS Hooks' JSON rule is to
omit an optional field rather than send it null or empty."""

from __future__ import annotations

NON_EMPTY = {"type": "string", "minLength": 1}
URL = {"type": "string", "pattern": "^https?://"}

CODING = {
    "type": "object",
    "required": ["code"],
    "properties": {"system": NON_EMPTY, "code": NON_EMPTY, "display": NON_EMPTY},
}
OVERRIDE_REASON = {**CODING, "required": ["code", "display"]}  # "MUST populate a display value"

ACTION = {
    "type": "object",
    "required": ["type", "description"],
    "properties": {
        "type": {"enum": ["create", "update", "delete"]},
        "description": NON_EMPTY,
        "resource": {"type": "object", "required": ["resourceType"], "minProperties": 1},
        "resourceId": NON_EMPTY,
    },
    "allOf": [
        {"if": {"properties": {"type": {"enum": ["create", "update"]}}}, "then": {"required": ["resource"]}},
        {"if": {"properties": {"type": {"const": "delete"}}}, "then": {"required": ["resourceId"]}},
    ],
}

SUGGESTION = {
    "type": "object",
    "required": ["label"],
    "properties": {
        "label": NON_EMPTY,
        "uuid": NON_EMPTY,
        "isRecommended": {"type": "boolean"},
        "actions": {"type": "array", "minItems": 1, "items": ACTION},
    },
}

LINK = {
    "type": "object",
    "required": ["label", "url", "type"],
    "properties": {
        "label": NON_EMPTY,
        "url": URL,
        "type": {"enum": ["absolute", "smart"]},
        "appContext": NON_EMPTY,
        "autolaunchable": {"type": "boolean"},
    },
}

CARD = {
    "type": "object",
    "required": ["summary", "indicator", "source"],
    "properties": {
        "uuid": NON_EMPTY,
        "summary": {"type": "string", "minLength": 1, "maxLength": 139},
        "detail": NON_EMPTY,
        "indicator": {"enum": ["info", "warning", "critical"]},
        "source": {
            "type": "object",
            "required": ["label"],
            "properties": {"label": NON_EMPTY, "url": URL, "icon": URL, "topic": CODING},
        },
        "suggestions": {"type": "array", "minItems": 1, "items": SUGGESTION},
        "selectionBehavior": {"enum": ["at-most-one", "any"]},
        "overrideReasons": {"type": "array", "minItems": 1, "items": OVERRIDE_REASON},
        "links": {"type": "array", "minItems": 1, "items": LINK},
        "extension": {"type": "object", "minProperties": 1},
    },
    # "If suggestions are present, selectionBehavior MUST also be provided."
    "dependentRequired": {"suggestions": ["selectionBehavior"]},
}

CARDS_RESPONSE = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["cards"],
    "properties": {
        "cards": {"type": "array", "items": CARD},
        "systemActions": {"type": "array", "minItems": 1, "items": ACTION},
        "extension": {"type": "object", "minProperties": 1},
    },
}

SERVICE = {
    "type": "object",
    "required": ["hook", "description", "id"],
    "properties": {
        "hook": NON_EMPTY,
        "title": NON_EMPTY,
        "description": NON_EMPTY,
        "id": {"type": "string", "pattern": "^[A-Za-z0-9._~-]+$"},
        "prefetch": {"type": "object", "minProperties": 1, "additionalProperties": NON_EMPTY},
        "usageRequirements": NON_EMPTY,
    },
}

DISCOVERY = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["services"],
    "properties": {"services": {"type": "array", "items": SERVICE}},
}


def no_null_or_empty(value, path="$"):
    """Every member path holding null, "", [] or {} outside FHIR resources (which are the EHR's)."""
    found = []
    if isinstance(value, dict):
        if "resourceType" in value and path != "$":
            return found
        for k, v in value.items():
            if v is None or v == "" or v == [] or v == {}:
                found.append(f"{path}.{k}")
            found += no_null_or_empty(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += no_null_or_empty(v, f"{path}[{i}]")
    return found

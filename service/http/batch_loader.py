"""A batch's items loaded as `InterpretationRequestSchema` loads them, each distinct genotypes
array validated once per batch (a batch repeats a few genotypes over many patients)."""

from __future__ import annotations

from typing import Any

import orjson
from marshmallow import ValidationError

from service.http.schemas import InterpretationRequestSchema

_ITEM_SCHEMA = InterpretationRequestSchema()
_ITEM_WITHOUT_GENOTYPES = InterpretationRequestSchema(exclude=("genotypes",))


class ItemLoader:
    """Loads a batch's items as `InterpretationRequestSchema` does, validating each distinct
    `genotypes` array (as sent, byte for byte) once per batch: a batch repeats a few genotypes
    over many patients, and the nested gene entries were most of an item's load.

    An item whose genotypes were seen in a valid item gets those loaded entries, and the rest of
    it (patient_ref, drugs, purpose, unknown keys) is loaded by the same schema without the
    genotypes field. The entries' validation depends on nothing else in the item, so the result
    is the full load's. Any item that fails there is loaded in full again, so that its errors are
    exactly the full load's."""

    __slots__ = ("_genotypes",)

    def __init__(self):
        self._genotypes: dict[bytes, list[dict[str, Any]]] = {}

    @staticmethod
    def _key(raw: Any) -> bytes | None:
        if not isinstance(raw, list):
            return None
        try:
            key = orjson.dumps(raw)
        except (TypeError, orjson.JSONEncodeError):  # e.g. an integer beyond 64 bits: no key
            return None
        # orjson writes NaN and Infinity (which the request's JSON may hold) as null, so an
        # array with null in it is not told apart from one with NaN: no key.
        return None if b"null" in key else key

    def load(self, item: Any) -> dict[str, Any]:
        if not isinstance(item, dict):
            _not_an_object()
        key = self._key(item.get("genotypes"))
        genotypes = self._genotypes.get(key) if key is not None else None
        if genotypes is not None:
            try:
                rest = _ITEM_WITHOUT_GENOTYPES.load({k: v for k, v in item.items() if k != "genotypes"})
            except ValidationError:
                pass
            else:
                return {**rest, "genotypes": genotypes}
        body = _ITEM_SCHEMA.load(item)
        if key is not None:
            self._genotypes[key] = body["genotypes"]
        return body


def _not_an_object():
    raise ValidationError({"_schema": ["An item must be a JSON object (an interpretation body)."]})

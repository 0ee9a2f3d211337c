"""Request parsing: query strings and JSON bodies read strictly, and the hot GET endpoints'
query loads remembered.

Strict, because a clinical answer must never rest on a silently dropped or reinterpreted input:
- a query parameter the endpoint does not know (the typo `drugs=codeine`) or one given twice
  (`gene=CYP2C19&gene=CYP2D6`) is refused (422 naming it), never ignored or first-one-wins;
- an unencoded `+` where it matters (`*36+*10` reaches us as `*36 *10`) is refused with the hint
  to write `%2B`;
- a body that is not JSON is 415; a JSON object with the same key twice is 422 (not
  last-one-wins); JSON nested deeper than MAX_JSON_DEPTH or a number longer than
  MAX_NUMBER_CHARS is 400. Each is an HTTP error, so service/errors.py answers and audits it.

A lookup's query (gene, diplotype, drug) is loaded by the same marshmallow schema on every
request, and clinical systems send the same few thousand queries over and over. The load is a
pure function of the query string (the schema is stateless, the query is the only input), so
its result is kept per worker, bounded, and the schema still validates every query it has not
seen (invalid ones are never kept: they raise). Queries that carry a patient reference are
never kept, so no patient identifier lingers in memory. The same holds for the optional audit
headers (purpose of use; never when `X-Patient-Ref` is sent).
"""

from __future__ import annotations

import difflib
import json
import re
import threading
from typing import Any
from urllib.parse import unquote_plus

from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields
from webargs import core
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import BadRequest, HTTPException, UnprocessableEntity, UnsupportedMediaType

MAX_REMEMBERED = 4096
MAX_JSON_DEPTH = 64  # our bodies nest 4-5 levels; a FHIR Bundle about 10
MAX_NUMBER_CHARS = 40
# A field whose values may hold a literal `+` (tandem alleles `*36+*10`, DPYD `c.1905+1G>A`, a
# UTC offset `+01:00`) says so with metadata {"literal_plus": True}.
_PLUS_BEFORE = re.compile(r"\+[*0-9]")
_JSON_CACHE = "_pgx_json_body"


# -- JSON bodies -------------------------------------------------------------------------------


class _DuplicateKey(Exception):
    def __init__(self, key: str):
        self.key = key


class _NumberTooLong(Exception):
    pass


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _number(parse):
    def read(text: str):
        if len(text) > MAX_NUMBER_CHARS:
            raise _NumberTooLong()
        return parse(text)

    return read


_read_int, _read_float = _number(int), _number(float)


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if type(item) is dict else item
        stack.extend((c, depth + 1) for c in children if type(c) is dict or type(c) is list)
    return False


def _bad_json(detail: str, status: int = 400):
    exc = UnprocessableEntity(detail) if status == 422 else BadRequest(detail)
    exc.data = {"messages": {"json": [detail]}, "detail": detail}
    return exc


def loads_strict(data: bytes) -> Any:
    """A JSON text as Python values; a duplicate key, deep nesting or an over-long number is an
    HTTP error (422 / 400 / 400), as is anything that is not JSON in UTF-8 (400)."""
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=_object,
                           parse_int=_read_int, parse_float=_read_float)
    except _DuplicateKey as dup:
        raise _bad_json(f"The JSON body gives the key {dup.key!r} more than once in one object; "
                        "give each key once.", 422) from None
    except _NumberTooLong:
        raise _bad_json(f"The JSON body holds a number longer than {MAX_NUMBER_CHARS} characters.") from None
    except RecursionError:
        raise _bad_json(f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels.") from None
    except (UnicodeDecodeError, ValueError):  # json.JSONDecodeError is a ValueError
        raise _bad_json("The body is not valid JSON (UTF-8).") from None
    if isinstance(value, dict | list) and len(data) > 2 * MAX_JSON_DEPTH and _deeper_than(value, MAX_JSON_DEPTH):
        raise _bad_json(f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels.")
    return value


def json_body(req=None, missing: Any = None) -> Any:
    """The request's JSON body read strictly (once per request); `missing` when there is no body.
    A body sent as anything but JSON (`text/plain`, a form) is 415."""
    req = req if req is not None else request
    cached = getattr(req, _JSON_CACHE, _JSON_CACHE)
    if cached is not _JSON_CACHE:
        return cached
    data = req.get_data(cache=True)
    if not data:
        return missing
    if not core.is_json(req.mimetype):
        given = req.mimetype or "no Content-Type"
        raise UnsupportedMediaType(f"The body must be JSON (Content-Type: application/json); it was sent as {given}.")
    value = loads_strict(data)
    setattr(req, _JSON_CACHE, value)
    return value


# -- query strings -----------------------------------------------------------------------------


def _query_fields(schema: Schema) -> dict[str, fields.Field]:
    known = getattr(schema, "_pgx_query_fields", None)
    if known is None:
        known = {f.data_key or name: f for name, f in schema.load_fields.items()}
        schema._pgx_query_fields = known
    return known


def _raw_query_values(query_string: bytes) -> dict[str, list[str]]:
    raw: dict[str, list[str]] = {}
    for part in query_string.decode("latin-1").split("&"):
        name, _, value = part.partition("=")
        raw.setdefault(unquote_plus(name), []).append(value)
    return raw


def query_problems(req, schema: Schema) -> dict[str, list[str]]:
    """What is wrong with the query string for this schema, by parameter (empty: nothing)."""
    known = _query_fields(schema)
    problems: dict[str, list[str]] = {}
    raw: dict[str, list[str]] | None = None
    for name, values in req.args.lists():
        field = known.get(name)
        if field is None:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean `{close[0]}`?" if close else f"; known: {', '.join(sorted(known))}."
            problems[name] = [f"Unknown query parameter `{name}`{hint}"]
            continue
        if len(values) > 1 and not isinstance(field, fields.List | fields.Tuple):
            problems[name] = [f"Query parameter `{name}` is given {len(values)} times; give it once."]
            continue
        if field.metadata.get("literal_plus") and "+" in req.query_string.decode("latin-1"):
            raw = raw if raw is not None else _raw_query_values(req.query_string)
            if any(_PLUS_BEFORE.search(v) for v in raw.get(name, ())):
                problems[name] = [f"Query parameter `{name}` holds an unencoded `+`, which a URL query "
                                  "reads as a space: write `+` as `%2B` (e.g. `*36%2B*10/*10`)."]
    return problems


class StrictParser(FlaskParser):
    """webargs' FlaskParser with the strict query and JSON reading above."""

    def pre_load(self, location_data, *, schema, req, location):
        if location in ("query", "querystring"):
            problems = query_problems(req, schema)
            if problems:
                raise ValidationError(problems)
        return super().pre_load(location_data, schema=schema, req=req, location=location)

    def _raw_load_json(self, req):
        return json_body(req, missing=core.missing)

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        try:
            super().handle_error(error, req, schema, error_status_code=error_status_code,
                                 error_headers=error_headers)
        except HTTPException as exc:
            # The problem's detail names the query parameter at fault (`errors` has them all).
            query = error.messages.get("query") if isinstance(error.messages, dict) else None
            if isinstance(query, dict) and query:
                name, messages = next(iter(query.items()))
                message = messages[0] if isinstance(messages, list) and messages else messages
                exc.data["detail"] = (message if isinstance(message, str) and f"`{name}`" in message
                                      else f"Query parameter `{name}`: {message}")
            raise


class StrictBlueprint(Blueprint):
    """A flask-smorest Blueprint whose views' arguments are read by the StrictParser."""

    ARGUMENTS_PARSER = StrictParser()


def _header_names(schema: Schema) -> tuple[str, ...]:
    names = getattr(schema, "_pgx_header_names", None)
    if names is None:
        names = tuple(f.data_key or name for name, f in schema.load_fields.items())
        schema._pgx_header_names = names
    return names


class QueryLoadCachingParser(StrictParser):
    """FlaskParser whose `query` loads are remembered per (schema, raw query string), and whose
    `headers` loads per (schema, the values of the headers it declares)."""

    def __init__(self, *args, never_keep: tuple[str, ...] = ("patient_ref",),
                 never_keep_headers: tuple[str, ...] = ("X-Patient-Ref",), **kwargs):
        super().__init__(*args, **kwargs)
        self.never_keep = never_keep
        self.never_keep_headers = never_keep_headers
        self._loads: dict[tuple, dict] = {}
        self._lock = threading.Lock()

    def parse(self, argmap, req=None, *, location=None, **kwargs):
        location = location or self.location
        if location not in ("query", "headers") or not isinstance(argmap, Schema):
            return super().parse(argmap, req, location=location, **kwargs)
        req = req if req is not None else self.get_default_request()
        if location == "query":
            key = (argmap, req.query_string)
        else:
            # Only the headers the schema reads make the key (never a patient's).
            if any(name in req.headers for name in self.never_keep_headers):
                return super().parse(argmap, req, location=location, **kwargs)
            key = (argmap, tuple(req.headers.get(name) for name in _header_names(argmap)))
        loaded = self._loads.get(key)
        if loaded is None:
            loaded = super().parse(argmap, req, location=location, **kwargs)
            # A query with a patient reference is never stored, so a remembered one has none:
            # the (decoding) check is needed on a miss only.
            if location == "query" and any(name in req.args for name in self.never_keep):
                return loaded
            with self._lock:
                if len(self._loads) >= MAX_REMEMBERED:
                    self._loads.clear()
                self._loads[key] = loaded
        return dict(loaded)  # a copy: a view may add to its arguments


class QueryCachingBlueprint(StrictBlueprint):
    """A flask-smorest Blueprint whose views' query arguments are loaded through the cache."""

    ARGUMENTS_PARSER = QueryLoadCachingParser()

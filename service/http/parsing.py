"""Request parsing for the hot GET endpoints: webargs as flask-smorest uses it, with the query
string's load remembered.

A lookup's query (gene, diplotype, drug) is loaded by the same marshmallow schema on every
request, and clinical systems send the same few thousand queries over and over. The load is a
pure function of the query string (the schema is stateless, the query is the only input), so
its result is kept per worker, bounded, and the schema still validates every query it has not
seen (invalid ones are never kept: they raise). Queries that carry a patient reference are
never kept, so no patient identifier lingers in memory. The same holds for the optional audit
headers (purpose of use; never when `X-Patient-Ref` is sent).
"""

from __future__ import annotations

import threading

from flask_smorest import Blueprint
from marshmallow import Schema
from webargs.flaskparser import FlaskParser

MAX_REMEMBERED = 4096


def _header_names(schema: Schema) -> tuple[str, ...]:
    names = getattr(schema, "_pgx_header_names", None)
    if names is None:
        names = tuple(f.data_key or name for name, f in schema.load_fields.items())
        schema._pgx_header_names = names
    return names


class QueryLoadCachingParser(FlaskParser):
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


class QueryCachingBlueprint(Blueprint):
    """A flask-smorest Blueprint whose views' query arguments are loaded through the cache."""

    ARGUMENTS_PARSER = QueryLoadCachingParser()

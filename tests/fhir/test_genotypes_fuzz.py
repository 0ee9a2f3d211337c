"""Whatever JSON is posted, reading it either succeeds or raises a typed FhirInputError: never
another exception (which the service would answer as a 500)."""

from __future__ import annotations

import copy

import fhir_shapes as s
from hypothesis import given, settings
from hypothesis import strategies as st

from service.fhir import genotypes as g
from service.fhir.errors import FhirInputError

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
                    max_leaves=8)
SHAPES = [s.emerge_bundle(), s.pgx_transaction(), s.hla_b_example(), s.hla_a_glstring(),
          s.genomics_operations_searchset(),
          s.bundle(s.text_genotype("CYP2C19 *2/*2"), s.medication(code="309362", display=None))]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _replace(node, path, value):
    if not path:
        return value
    parent = node
    for p in path[:-1]:
        parent = parent[p]
    parent[path[-1]] = value
    return node


@settings(max_examples=400, deadline=None)
@given(shape=st.sampled_from(range(len(SHAPES))), pick=st.integers(min_value=0), value=JSON)
def test_any_element_replaced_by_any_json_reads_or_refuses(shape, pick, value):
    bundle = copy.deepcopy(SHAPES[shape])
    paths = list(_paths(bundle))
    bundle = _replace(bundle, paths[pick % len(paths)], value)
    try:
        g.read_bundle(bundle)
    except FhirInputError as exc:
        assert exc.issues and all(i.expression and i.message for i in exc.issues)

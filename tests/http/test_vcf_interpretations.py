"""POST /v1/vcf/interpretations: PharmCAT's example panel in, audited interpretation out;
every refusal (not a VCF, no GT, GRCh37, several samples unnamed, truncated gzip, size limit,
gzip bomb) audited and naming its fault."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

import pytest
from guidance_helpers import audit_row

URL = "/v1/vcf/interpretations"
EXAMPLE2 = Path(__file__).resolve().parents[2].parent / "shared" / "reference-data" / "pharmcat-vcf" / \
    "examples" / "pharmcat.example2.vcf"
pytestmark = pytest.mark.skipif(not EXAMPLE2.is_file(), reason="../shared test data not present")


def _post(client, auth, body: bytes, mime="text/vcf", role="pharmacy", **query):
    return client.post(URL, data=body, query_string=query, headers={**auth(role), "Content-Type": mime})


def test_example_panel_is_called_interpreted_and_audited(app, client, auth):
    raw = EXAMPLE2.read_bytes()
    resp = _post(client, auth, raw, drug="clopidogrel", patient_ref="MRN-77", genotype="CYP2D6:*1/*4")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    genes = {g["gene"]: g for g in body["genes"]}
    assert genes["CYP2C19"]["diplotype"] == "*2/*2"
    assert genes["CYP2C19"]["phenotype"] == "Poor Metabolizer"
    m = genes["CYP2C19"]["match"]
    assert m["candidates"] == ["*2/*2"] and m["score"] == 6 and m["phased"] is False
    assert genes["CYP2D6"]["match"] is None and genes["CYP2D6"]["diplotype"] == "*1/*4"
    assert {d["drug"] for d in body["drugs"]} == {"clopidogrel"}  # one row per population
    assert "alternative" in {d["direction"] for d in body["drugs"]}
    assert body["release"] and body["audit_id"]
    record = audit_row(app, body["audit_id"])
    assert record["action"] == "POST /v1/vcf/interpretations" and record["outcome"] == 200
    assert record["input"]["vcf"]["sha256"] == hashlib.sha256(raw).hexdigest()
    assert "rs4244285" not in record["canonical"]  # the digest, never the file


def test_gzip_and_bgzip_members_read_alike(client, auth):
    raw = EXAMPLE2.read_bytes()
    half = len(raw) // 2
    bgzip_like = gzip.compress(raw[:half]) + gzip.compress(raw[half:])  # two members, as bgzip writes
    a = _post(client, auth, gzip.compress(raw), "application/gzip").get_json()
    b = _post(client, auth, bgzip_like, "application/gzip").get_json()
    calls = lambda body: {g["gene"]: g["diplotype"] for g in body["genes"]}  # noqa: E731
    assert calls(a) == calls(b) and calls(a)["CYP2C19"] == "*2/*2"


def test_clinician_may_post_but_not_other_roles(client, auth):
    assert _post(client, auth, EXAMPLE2.read_bytes(), role="clinician").status_code == 200
    assert _post(client, auth, EXAMPLE2.read_bytes(), role="admin").status_code == 403


@pytest.mark.parametrize("body, fault", [
    (b"not a vcf at all\n", "not_vcf"),
    (b"##fileformat=VCFv4.2\n##reference=ftp://x/human_g1k_v37.fasta\n"
     b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS\n", "grch37"),
    (b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS\n"
     b"chr10\t94781859\t.\tG\tA\t.\tPASS\t.\tDP\t9\n", "no_gt"),
])
def test_refusals_name_the_fault_and_are_audited(app, client, auth, body, fault):
    resp = _post(client, auth, body)
    assert resp.status_code == 422
    problem = resp.get_json()
    assert problem["fault"] == fault and problem["detail"].startswith(fault)
    assert audit_row(app, problem["audit_id"])["outcome"] == 422


def test_several_samples_need_a_name(client, auth):
    lines = EXAMPLE2.read_text().splitlines()
    two = "\n".join(x if x.startswith("##") else x + ("\tOTHER" if x.startswith("#CHROM") else "\t0/0")
                    for x in lines) + "\n"
    resp = _post(client, auth, two.encode())
    assert resp.status_code == 422 and resp.get_json()["fault"] == "sample_required"
    named = _post(client, auth, two.encode(), sample="OTHER").get_json()
    assert {g["gene"]: g["diplotype"] for g in named["genes"]}["CYP2C19"] == "*38/*38"


def test_truncated_gzip(client, auth):
    packed = gzip.compress(EXAMPLE2.read_bytes())
    resp = _post(client, auth, packed[: len(packed) // 2], "application/gzip")
    assert resp.status_code == 422 and resp.get_json()["fault"] == "truncated_gzip"


def test_size_limit_and_gzip_bomb(app, client, auth):
    app.config["PGX_VCF_MAX_BYTES"] = 200_000
    try:
        big = EXAMPLE2.read_bytes() + b"chr1\t1\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\n" * 10_000
        assert _post(client, auth, big).status_code == 413
        # a bomb: 50 MB of zeros after a header, a few tens of KB packed
        comp = zlib.compressobj(9, zlib.DEFLATED, 31)
        bomb = comp.compress(b"##fileformat=VCFv4.2\n##x=") + comp.compress(b"0" * 50_000_000) + comp.flush()
        assert len(bomb) < 200_000
        resp = _post(client, auth, bomb, "application/gzip")
        assert resp.status_code == 413 and resp.get_json()["fault"] == "too_large"
    finally:
        app.config["PGX_VCF_MAX_BYTES"] = 4 * 1024 ** 3

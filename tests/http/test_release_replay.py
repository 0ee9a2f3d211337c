"""Any past answer names its knowledge release; the stored release reproduces that answer."""

from service.pgx.knowledge import KnowledgeBase
from service.pgx.results import GenotypeEntry


def test_an_answer_is_reproduced_from_the_release_it_names(client, auth):
    answer = client.get(
        "/v1/lookup?gene=CYP2C19&diplotype=*2/*17&drug=clopidogrel", headers=auth("clinician")
    ).get_json()
    label = answer["release"]

    resp = client.get(f"/v1/releases/{label}", headers=auth("auditor"))
    assert resp.status_code == 200
    stored = resp.get_json()
    assert stored["label"] == label

    replayed = KnowledgeBase(stored["tables"])
    assert replayed.release == label  # the label is a digest of exactly these tables
    result = replayed.interpret(GenotypeEntry("CYP2C19", diplotype="*2/*17"))
    assert (result.phenotype, result.category) == (answer["phenotype"], answer["category"])
    served = {(d["population"], d["direction"], d["classification"]) for d in answer["drugs"]}
    replayed_guidance = {
        (g.population, g.direction.value, g.classification)
        for g in replayed.guidance(["clopidogrel"], [result])
    }
    assert served and replayed_guidance == served


def test_active_alias_and_unknown_label(client, auth):
    active = client.get("/v1/releases/active", headers=auth("pharmacy"))
    assert active.status_code == 200 and active.get_json()["is_active"] is True
    missing = client.get("/v1/releases/pgx-tables-0+000000000000", headers=auth("pharmacy"))
    assert missing.status_code == 404
    assert missing.headers["Content-Type"].startswith("application/problem+json")

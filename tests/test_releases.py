"""Knowledge releases: stored once per content, activated, picked up by running workers, loaded by
`pgx tables load`; `pgx db upgrade` on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import BACKENDS, REFERENCE_TABLES, build_service_app

from service.cli import main as pgx
from service.db import Database
from service.releases import (
    ReleaseNotFound,
    activate_release,
    active_label,
    active_release,
    list_releases,
    store_release,
)


def _payload(version: str) -> dict:
    return {"manifest": {"name": "t", "version": version}, "genes": {}, "guidelines": {}}


@pytest.fixture(params=BACKENDS)
def db(request, new_database_url):
    from service.cli.db import upgrade

    url = new_database_url(request.param)
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


def test_store_activate_and_idempotence(db):
    assert active_release(db) is None and list_releases(db) == []
    first = store_release(db, _payload("1"), note="first")
    second = store_release(db, _payload("2"))
    assert first != second and first.startswith("t-1+")
    assert active_label(db) == second

    # the same content again: no duplicate, the existing release is activated again
    assert store_release(db, _payload("1")) == first
    releases = list_releases(db)
    assert [r["label"] for r in releases].count(first) == 1 and len(releases) == 2
    assert [r["label"] for r in releases if r["is_active"]] == [first]
    assert next(r for r in releases if r["label"] == first)["note"] == "first"
    label, payload = active_release(db)
    assert (label, payload) == (first, _payload("1"))

    # stored without activation
    third = store_release(db, _payload("3"), activate=False)
    assert active_label(db) == first and third in {r["label"] for r in list_releases(db)}

    activate_release(db, second)
    assert active_label(db) == second
    with pytest.raises(ReleaseNotFound):
        activate_release(db, "no-such-release")
    assert active_label(db) == second
    assert all(r["created_at"].tzinfo is not None for r in list_releases(db))


def test_the_database_holds_at_most_one_active_release(db):
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError

    from service.releases import KnowledgeRelease

    store_release(db, _payload("1"))
    store_release(db, _payload("2"), activate=False)
    with pytest.raises(IntegrityError), db.write_transaction() as conn:
        conn.execute(update(KnowledgeRelease.__table__).values(is_active=True))


def test_concurrent_loads_of_the_same_tables_store_one_release(db):
    labels, errors = [], []

    def load():
        try:
            labels.append(store_release(db, _payload("7")))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(labels)) == 1 and len(labels) == 6
    assert [r["label"] for r in list_releases(db)] == labels[:1]
    assert active_label(db) == labels[0]


def _tables_copy(tmp_path: Path, version: str) -> Path:
    target = tmp_path / f"tables-{version}"
    shutil.copytree(REFERENCE_TABLES, target)
    manifest_file = target / "release.yaml"
    manifest = yaml.safe_load(manifest_file.read_text())
    manifest["version"] = version
    manifest_file.write_text(yaml.safe_dump(manifest))
    return target


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_a_running_worker_picks_up_a_newly_activated_release_without_restart(
    backend_name, new_database_url, tmp_path
):
    from service.auth.clients import create_client

    url = new_database_url(backend_name)
    app = build_service_app(url, PGX_RELEASE_POLL_S=0)
    with app.app_context():
        _client, key = create_client(app, "worker-test", "clinician")
    headers = {"Authorization": f"Bearer {key}"}
    client = app.test_client()
    before = client.get("/v1/lookup?gene=CYP2D6&diplotype=*1/*1x2&drug=codeine", headers=headers).get_json()

    # Another process (`pgx tables load`) stores and activates new tables in the same database.
    other = Database(url)
    from service.releases import load_release_directory_into_db

    tables = _tables_copy(tmp_path, "9999.1")
    new_label, changed = load_release_directory_into_db(other, tables)
    assert changed and new_label != before["release"] and "9999.1" in new_label
    other.dispose()
    shutil.rmtree(tables)  # nothing is read from disk after loading

    after = client.get("/v1/lookup?gene=CYP2D6&diplotype=*1/*1x2&drug=codeine", headers=headers).get_json()
    assert after["release"] == new_label
    assert after["phenotype"] == before["phenotype"] == "Ultrarapid Metabolizer"
    releases = client.get("/v1/releases", headers=headers).get_json()
    assert releases["active"] == releases["serving"] == new_label

    # and back: activating the old release is seen the same way
    other = Database(url)
    activate_release(other, before["release"])
    other.dispose()
    again = client.get("/v1/lookup?gene=CYP2D6&diplotype=*1/*1", headers=headers).get_json()
    assert again["release"] == before["release"]
    app.extensions["pgx.db"].dispose()


def test_within_the_poll_interval_a_worker_does_not_query_per_request(tmp_path, new_database_url):
    """The knowledge base is built once and held; with a long interval a new activation is only
    seen after it (here: never within the test), so requests cost no release query."""
    from service.releases import current_knowledge

    url = new_database_url("sqlite")
    app = build_service_app(url, PGX_RELEASE_POLL_S=3600)
    with app.test_request_context():
        kb = current_knowledge()
        other = Database(url)
        store_release(other, _payload_of_copy(tmp_path))
        other.dispose()
        assert current_knowledge() is kb  # same object: shared, not rebuilt, not re-read


def _payload_of_copy(tmp_path: Path) -> dict:
    from service.releases import validate_release_directory

    return validate_release_directory(_tables_copy(tmp_path, "9999.2"))


def test_threads_share_one_knowledge_base(new_database_url):
    from service.releases import current_knowledge

    app = build_service_app(new_database_url("sqlite"), PGX_RELEASE_POLL_S=0)
    seen = []

    def worker():
        with app.test_request_context():
            for _ in range(20):
                seen.append(current_knowledge())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 80 and len({id(kb) for kb in seen}) == 1


def test_a_first_burst_waits_for_the_knowledge_base_being_built(new_database_url, monkeypatch):
    """A fresh worker's first requests arrive together: while one thread builds the knowledge
    base, the others wait for it; none answers 503 "no active release" (they did, before)."""
    import time

    import service.pgx.knowledge as knowledge
    from service.releases import current_knowledge

    app = build_service_app(new_database_url("sqlite"), PGX_RELEASE_POLL_S=60)
    real = knowledge.KnowledgeBase

    class SlowKnowledgeBase(real):
        def __init__(self, *args, **kwargs):
            time.sleep(0.3)  # a real build takes ~100 ms: widen the window
            super().__init__(*args, **kwargs)

    import service.releases.cache as cache  # the worker's cache builds the knowledge base

    monkeypatch.setattr(cache, "KnowledgeBase", SlowKnowledgeBase)
    seen = []

    def worker():
        with app.test_request_context():
            seen.append(current_knowledge(raise_if_missing=False))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    threads[0].start()  # this one builds; the others arrive while it does
    time.sleep(0.1)
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and None not in seen
    assert len({id(kb) for kb in seen}) == 1 and isinstance(seen[0], SlowKnowledgeBase)


def test_no_active_release_is_503_on_lookups_and_readyz(new_database_url):
    from service import create_app
    from service.auth.clients import create_client
    from service.cli.db import upgrade

    url = new_database_url("sqlite")
    upgrade(url)
    app = create_app({"PGX_DATABASE_URL": url, "TESTING": True})
    with app.app_context():
        _client, key = create_client(app, "no-release", "clinician")
    client = app.test_client()
    resp = client.get("/v1/lookup?gene=CYP2D6&diplotype=*1/*1", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 503 and resp.mimetype == "application/problem+json"
    assert "pgx tables load" in resp.get_json()["detail"]
    assert client.get("/readyz").status_code == 503
    releases = client.get("/v1/releases", headers={"Authorization": f"Bearer {key}"}).get_json()
    assert releases == {"active": None, "serving": None, "releases": []}


# -- the command line --------------------------------------------------------------------------


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_pgx_db_upgrade_and_tables_load_list_activate(backend_name, new_database_url, monkeypatch, tmp_path):
    url = new_database_url(backend_name)
    monkeypatch.setenv("DATABASE_URL", url)
    runner = CliRunner()

    result = runner.invoke(pgx, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(pgx, ["tables", "list"])
    assert result.exit_code == 0 and "no knowledge release" in result.output

    result = runner.invoke(pgx, ["tables", "load", str(REFERENCE_TABLES)])
    assert result.exit_code == 0, result.output
    first = result.output.strip().splitlines()[-1]
    assert first.startswith("pgx-tables-")

    result = runner.invoke(pgx, ["tables", "load", "--if-changed", str(REFERENCE_TABLES)])
    assert result.exit_code == 0 and result.output.strip().splitlines()[-1] == first
    assert "unchanged" in result.output

    newer = _tables_copy(tmp_path, "9999.3")
    result = runner.invoke(pgx, ["tables", "load", "--no-activate", str(newer)])
    assert result.exit_code == 0, result.output
    second = result.output.strip().splitlines()[-1]
    assert second != first

    listing = runner.invoke(pgx, ["tables", "list"]).output
    assert f"* {first}" in listing and f"  {second}" in listing

    result = runner.invoke(pgx, ["tables", "activate", second])
    assert result.exit_code == 0, result.output
    assert f"* {second}" in runner.invoke(pgx, ["tables", "list"]).output
    db = Database(url)
    assert active_label(db) == second
    db.dispose()

    result = runner.invoke(pgx, ["tables", "activate", "no-such-release"])
    assert result.exit_code != 0 and "no stored release" in result.output


def test_pgx_tables_load_refuses_broken_tables_without_a_traceback(new_database_url, monkeypatch, tmp_path):
    url = new_database_url("sqlite")
    monkeypatch.setenv("DATABASE_URL", url)
    runner = CliRunner()
    assert runner.invoke(pgx, ["db", "upgrade"]).exit_code == 0

    broken = _tables_copy(tmp_path, "9999.4")
    gene_file = broken / "genes" / "CYP2D6.yaml"
    table = yaml.safe_load(gene_file.read_text())
    table["method"] = "guesswork"
    gene_file.write_text(yaml.safe_dump(table))
    result = runner.invoke(pgx, ["tables", "load", str(broken)])
    assert result.exit_code != 0
    assert "did not validate" in result.output and "CYP2D6" in result.output
    assert "Traceback" not in result.output
    db = Database(url)
    assert list_releases(db) == []  # nothing stored, nothing activated
    db.dispose()

    result = runner.invoke(pgx, ["tables", "load", str(tmp_path / "absent")])
    assert result.exit_code != 0 and "Traceback" not in result.output


def test_a_worker_builds_the_active_release_when_it_starts(new_database_url):
    """Outside tests the app factory (run by each gunicorn worker) builds the knowledge base
    before serving, so no first request waits for it; an unmigrated database does not stop it."""
    from service import create_app
    from service.releases import current_knowledge

    url = new_database_url("sqlite")
    loaded = build_service_app(url)
    with loaded.test_request_context():
        label = current_knowledge().release
    loaded.extensions["pgx.db"].dispose()

    worker = create_app({"PGX_DATABASE_URL": url})
    cache = worker.extensions["pgx.releases"]
    assert cache._kb is not None and cache._kb.release == label  # noqa: SLF001
    worker.extensions["pgx.db"].dispose()

    empty = create_app({"PGX_DATABASE_URL": new_database_url("sqlite")})  # not migrated: no error
    assert empty.extensions["pgx.releases"]._kb is None  # noqa: SLF001
    empty.extensions["pgx.db"].dispose()

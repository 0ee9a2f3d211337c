def test_healthz_is_alive_without_a_key(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Request-ID"]


def test_request_id_is_echoed(client):
    resp = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["X-Request-ID"] == "abc-123"


def test_openapi_document_is_served(client):
    resp = client.get("/openapi.json")
    assert resp.status_code == 200
    assert resp.get_json()["openapi"].startswith("3.")

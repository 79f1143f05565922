from tests.conftest import free_port, make_app


def test_healthz_answers_without_touching_backends(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"data": {"status": "ok"}}


def test_readyz_is_green_when_database_and_redis_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["data"] == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


def test_readyz_names_redis_when_it_is_down():
    app = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", REDIS_SOCKET_TIMEOUT=0.5)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "not_ready"
    assert error["details"]["checks"]["database"] == "ok"
    assert error["details"]["checks"]["redis"].startswith("unavailable")


def test_readyz_names_the_database_when_it_is_down():
    port = free_port()
    app = make_app(SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://nobody@127.0.0.1:{port}/none",
                   SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 1}})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    checks = response.get_json()["error"]["details"]["checks"]
    assert checks["database"].startswith("unavailable")
    assert checks["redis"] == "ok"
    assert "nobody" not in response.get_data(as_text=True)  # no connection strings leak

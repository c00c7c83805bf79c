"""The Flask side: auth, security headers, /metrics, the control API and its OpenAPI document."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry

from tests.app_fixtures import build_store
from tests.test_app_callbacks import TickRun
from workbench.app import create_app
from workbench.app.api import openapi_document
from workbench.app.security import check_bind, credentials_from_env
from workbench.errors import ConfigError
from workbench.store import Store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return build_store(tmp_path_factory.mktemp("store"), minutes=600)


def _client(store: Store, tmp_path: Path, **kwargs: object) -> FlaskClient:
    app = create_app(store, registry=CollectorRegistry(), reports_dir=tmp_path, **kwargs)  # type: ignore[arg-type]
    return app.server.test_client()


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_auth_rejects_requests_without_or_with_wrong_credentials(store: Store, tmp_path: Path) -> None:
    env = {"WORKBENCH_APP_USER": "ops", "WORKBENCH_APP_PASSWORD": "s3cret"}
    client = _client(store, tmp_path, env=env)
    for path in ("/", "/api/lab/status", "/metrics", "/_dash-layout", "/assets/bootstrap.min.css"):
        with client.get(path) as response:
            assert response.status_code == 401, path
            assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert client.get("/", headers=_basic("ops", "wrong")).status_code == 401
    assert client.get("/", headers={"Authorization": "Basic !!!"}).status_code == 401
    assert client.get("/", headers=_basic("ops", "s3cret")).status_code == 200


def test_credentials_and_bind_rules() -> None:
    assert credentials_from_env({}) is None
    with pytest.raises(ConfigError, match="WORKBENCH_APP_PASSWORD"):
        credentials_from_env({"WORKBENCH_APP_USER": "ops"})
    check_bind("127.0.0.1", None)
    with pytest.raises(ConfigError, match=r"0\.0\.0\.0"):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", ("ops", "pw"))


def test_security_headers_and_local_assets(store: Store, tmp_path: Path) -> None:
    client = _client(store, tmp_path, credentials=None)
    response = client.get("/")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "'sha256-" in csp
    assert "''" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    html = response.get_data(as_text=True)
    assert "/assets/bootstrap.min.css" in html
    assert "cdn" not in html.lower()
    assert "https://" not in html
    with client.get("/assets/bootstrap.min.css") as css:
        assert css.status_code == 200


def test_metrics_endpoint_counts_requests_and_callbacks(store: Store, tmp_path: Path) -> None:
    client = _client(store, tmp_path, credentials=None)
    client.get("/api/lab/status")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'workbench_app_requests_total{method="GET",route="/api/lab/status",status="200"} 1.0' in text
    assert "workbench_app_lab_running 0.0" in text


def test_openapi_document_describes_every_route(store: Store, tmp_path: Path) -> None:
    client = _client(store, tmp_path, credentials=None)
    doc = client.get("/api/openapi.json").get_json()
    assert doc == openapi_document()
    assert doc["openapi"].startswith("3.")
    routes = {
        str(r.rule) for r in client.application.url_map.iter_rules() if str(r.rule).startswith("/api/lab")
    }
    assert routes == set(doc["paths"])
    for item in doc["paths"].values():
        for op in item.values():
            for response in op["responses"].values():
                ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
                if ref:
                    assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"]


def test_control_api_drives_the_lab(store: Store, tmp_path: Path) -> None:
    client = _client(store, tmp_path, credentials=None, live_factory=TickRun)
    assert client.post("/api/lab/start", json={"scenario": "steady", "speed": 0}).status_code == 400
    started = client.post("/api/lab/start", json={"scenario": "steady", "seed": 2, "speed": 100000})
    assert started.status_code == 200
    assert started.get_json()["state"] == "running"
    assert client.post("/api/lab/start", json={"scenario": "steady"}).status_code == 409
    assert client.post("/api/lab/inject", json={"kind": "slow_consumer", "target": "jobs"}).status_code == 200
    assert client.post("/api/lab/pause").get_json()["state"] == "paused"
    assert client.post("/api/lab/resume").get_json()["state"] == "running"
    stopped = client.post("/api/lab/stop", json={"record": False}).get_json()
    assert stopped["state"] == "stopped"
    assert stopped["recorded_dataset"] is None
    assert len(stopped["injected"]) == 1
    assert client.post("/api/lab/inject", data="[1]", content_type="application/json").status_code in (
        400,
        409,
    )


def test_control_api_without_a_live_simulator_is_503(store: Store, tmp_path: Path) -> None:
    def no_live(scenario: str, seed: int) -> TickRun:
        from workbench.app.services import Unavailable

        raise Unavailable("the simulator has no live mode")

    client = _client(store, tmp_path, credentials=None, live_factory=no_live)
    response = client.post("/api/lab/start", json={"scenario": "x"})
    assert response.status_code == 503
    assert "live mode" in response.get_json()["error"]


def test_reports_route_serves_only_report_files_inside_the_folder(store: Store, tmp_path: Path) -> None:
    (tmp_path / "daily").mkdir()
    (tmp_path / "daily" / "report.html").write_text("<h1>ok</h1>")
    (tmp_path / "secret.txt").write_text("no")
    client = _client(store, tmp_path, credentials=None)
    with client.get("/reports/daily/report.html") as report:
        assert report.status_code == 200
        assert report.get_data(as_text=True) == "<h1>ok</h1>"
    assert client.get("/reports/secret.txt").status_code == 404
    assert client.get("/reports/../../etc/passwd.html").status_code == 404

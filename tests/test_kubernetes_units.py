"""Discovery pieces that need no API server: classification of the fixture objects,
label selectors, kubeconfig parsing, and API servers that hang or answer nonsense."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from workbench.errors import ConfigError
from workbench.sources.kubernetes import discover, read_kubeconfig
from workbench.sources.kubernetes.classify import classify_object
from workbench.sources.kubernetes.queries import QUERIES, matches_selector

FIXTURES = Path(__file__).parent / "fixtures" / "k8s"


def _objects() -> list[dict[str, Any]]:
    out = []
    for path in sorted(FIXTURES.glob("*.yaml")):
        out += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return out


def test_every_fixture_object_is_classified_or_known_noise() -> None:
    kinds = {q.kind for q in QUERIES}
    seen = 0
    for obj in _objects():
        if obj["kind"] not in kinds:
            continue  # KafkaNodePool: not queried
        row = classify_object(obj["kind"], obj)
        labels = obj["metadata"].get("labels", {})
        if labels.get("app.kubernetes.io/name") == "nginx":
            assert row is None
            continue
        assert row is not None, obj["metadata"]["name"]
        seen += 1
        assert row["provider"] in ("kafka", "rabbitmq")
        assert row["distribution"] in ("strimzi", "bitnami", "rabbitmq-operator")
        assert row["cluster"]
        assert row["uid"] == obj["metadata"]["uid"]
    assert seen == 67


@pytest.mark.parametrize(
    ("labels", "selector", "expected"),
    [
        ({"a": "1"}, "a=1", True),
        ({"a": "1"}, "a==1", True),
        ({"a": "1"}, "a!=1", False),
        ({"a": "2"}, "a in (1, 2)", True),
        ({"a": "3"}, "a in (1,2)", False),
        ({"a": "3"}, "a notin (1,2)", True),
        ({}, "a notin (1,2)", True),
        ({"a": "1"}, "a", True),
        ({"a": "1"}, "!a", False),
        ({"a": "1", "b": "x"}, "a=1,b in (x,y),!c", True),
        ({}, None, True),
    ],
)
def test_label_selector(labels: dict[str, str], selector: str | None, expected: bool) -> None:
    assert matches_selector(labels, selector) is expected


def _kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "only", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    return path


def test_kubeconfig_errors(tmp_path: Path) -> None:
    no_server = tmp_path / "a"
    no_server.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "c", "cluster": {}}],
                "users": [],
                "contexts": [{"name": "x", "context": {"cluster": "c"}}],
            }
        )
    )
    with pytest.raises(ConfigError, match="cluster 'c' has no 'server'"):
        read_kubeconfig(no_server)
    not_mapping = tmp_path / "b"
    not_mapping.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        read_kubeconfig(not_mapping)
    no_contexts = tmp_path / "c"
    no_contexts.write_text(yaml.safe_dump({"clusters": [], "users": [], "contexts": []}))
    with pytest.raises(ConfigError, match="defines no contexts"):
        read_kubeconfig(no_contexts)
    bad_cert = tmp_path / "d"
    bad_cert.write_text(
        yaml.safe_dump(
            {
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": "https://127.0.0.1:1",
                            "certificate-authority": str(tmp_path / "missing-ca.crt"),
                        },
                    }
                ],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    with pytest.raises(ConfigError, match="context 'x'"):
        discover(bad_cert)


def test_hanging_api_server_times_out(tmp_path: Path) -> None:
    with socket.socket() as sock:  # accepts connections (backlog) but never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        port = sock.getsockname()[1]
        found = discover(_kubeconfig(tmp_path / "k", f"http://127.0.0.1:{port}"), timeout=0.3)
    problems = found.problems.to_dicts()
    assert [p["problem"] for p in problems] == ["timeout"]
    assert "did not answer within 0.3 s" in problems[0]["message"]
    assert found.contexts["status"].to_list() == ["failed"]


class _HtmlHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body>Sign in to the corporate proxy</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def html_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HtmlHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_non_kubernetes_answer_is_a_bad_response(tmp_path: Path, html_server: str) -> None:
    found = discover(_kubeconfig(tmp_path / "k", html_server))
    assert set(found.problems["problem"]) == {"bad-response"}
    assert found.problems.height == len(QUERIES)
    assert found.inventory.is_empty()

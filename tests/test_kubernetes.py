"""Kubernetes discovery against real HTTP: the official client talks to kmock API servers.

Five kmock ``KubernetesEmulator`` servers (one per fixture cluster in tests/fixtures/k8s/) run
in a background thread with their own event loop; a generated kubeconfig has nine contexts:
the five clusters, two namespace-scoped duplicates, one RBAC-restricted context (403) and one
whose API server is not listening. Nothing in the ``kubernetes`` client is patched.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kmock
import polars as pl
import pytest
import yaml
from kubernetes import client as k8s_client
from typer.testing import CliRunner

from workbench.errors import ConfigError, NotFoundError, ParameterError, SourceError
from workbench.sources.kubernetes import (
    diff_inventories,
    discover,
    promql_selectors,
    read_kubeconfig,
    watch,
)

FIXTURES = Path(__file__).parent / "fixtures" / "k8s"
CLUSTERS = ["prod-eu", "prod-us", "staging", "dev", "analytics"]
PLURALS = {
    "Pod": "pods",
    "Service": "services",
    "StatefulSet": "statefulsets",
    "Deployment": "deployments",
    "Kafka": "kafkas",
    "KafkaNodePool": "kafkanodepools",
    "StrimziPodSet": "strimzipodsets",
    "RabbitmqCluster": "rabbitmqclusters",
}
CORE = [
    ("", "v1", "pods"),
    ("", "v1", "services"),
    ("apps", "v1", "statefulsets"),
    ("apps", "v1", "deployments"),
]


def _load(name: str) -> list[dict[str, Any]]:
    with (FIXTURES / f"{name}.yaml").open() as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc]


def _resource(obj: dict[str, Any]) -> kmock.resource:
    group, _, version = obj["apiVersion"].rpartition("/")
    return kmock.resource(group, version, PLURALS[obj["kind"]])


@dataclass
class Fleet:
    """The running mock API servers."""

    urls: dict[str, str] = field(default_factory=dict)
    emulators: dict[str, Any] = field(default_factory=dict)
    loop: asyncio.AbstractEventLoop | None = None

    def api(self, cluster: str) -> k8s_client.ApiClient:
        return k8s_client.ApiClient(k8s_client.Configuration(host=self.urls[cluster]))


def _forbid_secure(request: Any) -> bool:
    return request.namespace == "secure"


async def _serve(fleet: Fleet, ready: threading.Event, stop: asyncio.Event) -> None:
    fleet.loop = asyncio.get_running_loop()
    async with contextlib.AsyncExitStack() as stack:  # exits in reverse order, as kmock requires
        emulators = [await stack.enter_async_context(kmock.KubernetesEmulator()) for _ in CLUSTERS]
        servers = [
            await stack.enter_async_context(kmock.Server(emu, host="127.0.0.1", port=0)) for emu in emulators
        ]
        _seed(fleet, emulators, servers)
        ready.set()
        await stop.wait()


def _seed(fleet: Fleet, emulators: list[Any], servers: list[Any]) -> None:
    for name, emu, srv in zip(CLUSTERS, emulators, servers, strict=True):
        for group, version, plural in CORE:
            emu.resources[kmock.resource(group, version, plural)] = {}
        for obj in _load(name):
            meta = obj["metadata"]
            emu.objects[_resource(obj), meta["namespace"], meta["name"]] = obj
        # RBAC: the 'secure' namespace refuses every list, as a real API server does for a
        # service account without a RoleBinding there.
        emu[kmock.action.LIST, _forbid_secure] << kmock.KubernetesError(
            status=403,
            reason="Forbidden",
            message='pods is forbidden: User "system:serviceaccount:secure:reader" cannot list resource '
            '"pods" in API group "" in the namespace "secure"',
        )
        fleet.urls[name] = str(srv.url).rstrip("/")
        fleet.emulators[name] = emu


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    state = Fleet()
    ready = threading.Event()
    holder: dict[str, asyncio.Event] = {}

    def run() -> None:
        async def main() -> None:
            holder["stop"] = asyncio.Event()
            await _serve(state, ready, holder["stop"])

        asyncio.run(main())

    thread = threading.Thread(target=run, name="kmock-fleet", daemon=True)
    thread.start()
    if not ready.wait(20):
        pytest.fail("kmock API servers did not start within 20 s")
    yield state
    assert state.loop is not None
    state.loop.call_soon_threadsafe(holder["stop"].set)
    thread.join(10)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_kubeconfig(path: Path, fleet: Fleet) -> Path:
    """Nine contexts over five API servers (plus one that is down)."""
    down = f"http://127.0.0.1:{_closed_port()}"
    servers = {**fleet.urls, "down": down}
    contexts = [
        ("prod-eu", "prod-eu", None),
        ("prod-eu-kafka", "prod-eu", "kafka"),
        ("prod-us", "prod-us", None),
        ("staging", "staging", None),
        ("staging-messaging", "staging", "messaging"),
        ("dev", "dev", None),
        ("analytics", "analytics", None),
        ("restricted", "prod-us", "secure"),
        ("dev-down", "down", None),
    ]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "prod-eu",
        "preferences": {},
        "clusters": [{"name": n, "cluster": {"server": u}} for n, u in servers.items()],
        "users": [{"name": "reader", "user": {"token": "test-token"}}],
        "contexts": [
            {"name": c, "context": {"cluster": s, "user": "reader", **({"namespace": ns} if ns else {})}}
            for c, s, ns in contexts
        ],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def kubeconfig(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_kubeconfig(tmp_path_factory.mktemp("kube") / "config", fleet)


@pytest.fixture(scope="module")
def found(kubeconfig: Path) -> Any:
    return discover(kubeconfig, max_workers=4, timeout=5)


def rows(frame: pl.DataFrame, **where: str) -> pl.DataFrame:
    return frame.filter(*[pl.col(k) == v for k, v in where.items()])


def test_every_context_is_queried_in_one_call(found: Any) -> None:
    status = dict(found.contexts.select("context", "status").iter_rows())
    assert set(status) == {
        "prod-eu",
        "prod-eu-kafka",
        "prod-us",
        "staging",
        "staging-messaging",
        "dev",
        "analytics",
        "restricted",
        "dev-down",
    }
    assert [c for c, s in status.items() if s == "ok"] == [
        "prod-eu",
        "prod-eu-kafka",
        "prod-us",
        "staging",
        "staging-messaging",
        "dev",
        "analytics",
    ]
    assert status["restricted"] == "partial"
    assert status["dev-down"] == "failed"


def test_clusters_found_across_five_api_servers(found: Any) -> None:
    clusters = found.clusters.select("context", "namespace", "provider", "distribution", "cluster", "pods")
    got = {
        (r["context"], r["namespace"], str(r["provider"]), r["distribution"], r["cluster"], r["pods"])
        for r in clusters.iter_rows(named=True)
    }
    assert got == {
        (
            "prod-eu",
            "kafka",
            "kafka",
            "strimzi",
            "events",
            8,
        ),  # 3 brokers, 3 controllers, exporter, entity op
        ("prod-eu", "messaging", "rabbitmq", "rabbitmq-operator", "orders", 3),
        ("prod-us", "data", "kafka", "bitnami", "kafka", 6),
        ("prod-us", "queues", "rabbitmq", "bitnami", "rabbitmq", 3),
        ("staging", "kafka", "kafka", "strimzi", "staging", 3),
        ("staging", "messaging", "rabbitmq", "rabbitmq-operator", "rabbitmq", 3),
        ("dev", "dev", "kafka", "strimzi", "dev-kafka", 3),  # 1 node, exporter, entity op
        ("dev", "dev", "rabbitmq", "bitnami", "rmq-dev", 3),
    }
    # nginx in 'web' / 'batch' is never part of the inventory
    assert found.inventory.filter(pl.col("name").str.starts_with("web")).is_empty()


def test_roles_ports_and_pods(found: Any) -> None:
    inv = found.inventory
    roles = dict(rows(inv, cluster="events", kind="Pod").select("name", "role").iter_rows())
    assert roles["events-broker-0"] == "broker"
    assert roles["events-controller-3"] == "controller"
    assert roles["events-kafka-exporter-6b8c9d7f5-x2q9p"] == "exporter"
    assert set(rows(inv, cluster="staging", kind="Pod")["role"]) == {"broker+controller"}
    assert set(rows(inv, cluster="kafka", kind="Pod")["role"]) == {"broker", "controller"}

    def metrics_ports(**where: str) -> set[tuple[str, int]]:
        ports = rows(inv, **where).select(p="ports").explode("p").unnest("p").filter(pl.col("metrics"))
        return set(ports.select("name", "port").iter_rows())

    assert metrics_ports(cluster="events", kind="Pod") == {("tcp-prometheus", 9404)}
    assert metrics_ports(cluster="kafka", kind="Pod") == {("metrics", 5556)}
    assert metrics_ports(cluster="kafka", kind="Service") == {("http-metrics", 5556)}
    assert metrics_ports(cluster="rabbitmq", namespace="queues", kind="Pod") == {("metrics", 9419)}
    assert metrics_ports(cluster="orders", kind="Service") == {("prometheus", 15692)}
    assert metrics_ports(cluster="orders", kind="RabbitmqCluster") == {("prometheus", 15692)}
    podset = rows(inv, kind="StrimziPodSet", name="events-broker").row(0, named=True)
    assert podset["pods"] == ["events-broker-0", "events-broker-1", "events-broker-2"]
    cr = rows(inv, kind="Kafka", name="events").row(0, named=True)
    assert len(cr["pods"]) == 8
    assert cr["role"] == "cluster"
    svc = rows(inv, kind="Service", name="kafka-jmx-metrics").row(0, named=True)
    assert svc["role"] == "metrics-service"
    assert len(svc["pods"]) == 6
    labels = dict((kv["key"], kv["value"]) for kv in rows(inv, name="orders-server-0")["labels"][0])
    assert labels["app.kubernetes.io/name"] == "orders"


def test_relationships_cluster_pods_services(found: Any) -> None:
    rel = found.relationships
    owns = rows(rel, relation="owns", parent_name="orders-server")["child_name"].to_list()
    assert owns == ["orders-server-0", "orders-server-1", "orders-server-2"]
    exposed = rows(rel, relation="exposed_by", parent_name="events-broker-1")["child_name"].to_list()
    assert sorted(exposed) == ["events-kafka-bootstrap", "events-kafka-brokers"]
    has_pod = rows(rel, relation="has_pod", cluster="rabbitmq", namespace="queues")
    assert has_pod.height == 3
    assert set(has_pod["parent_kind"]) == {"Cluster"}
    # every pod of every cluster is reachable from its cluster node
    pods = found.inventory.filter(pl.col("kind") == "Pod").height
    assert rel.filter(pl.col("relation") == "has_pod").height == pods


def test_duplicates_merged_across_contexts_and_rules(found: Any) -> None:
    inv = found.inventory
    assert inv.select("server", "uid").is_duplicated().sum() == 0
    broker = rows(inv, name="events-broker-0").row(0, named=True)
    assert broker["context"] == "prod-eu"
    assert broker["contexts"] == ["prod-eu", "prod-eu-kafka"]
    # the operator-managed RabbitMQ named 'rabbitmq' matches the Bitnami selector too: one row, operator wins
    node = rows(inv, name="rabbitmq-server-0").row(0, named=True)
    assert node["distribution"] == "rabbitmq-operator"
    assert set(node["sources"]) >= {"staging:rabbitmq-operator", "staging:bitnami"}
    assert "staging-messaging" in node["contexts"]


def test_problems_are_reported_not_raised(found: Any) -> None:
    probs = found.problems
    down = rows(probs, context="dev-down").row(0, named=True)
    assert down["problem"] == "unreachable"
    assert "unreachable" in down["message"]
    assert rows(probs, context="dev-down").height == 1  # remaining requests are skipped
    forbidden = rows(probs, context="restricted", problem="forbidden")
    assert forbidden.height >= 9
    assert set(forbidden["status"]) == {403}
    assert "cannot list resource" in forbidden["message"][0]
    missing = rows(probs, context="prod-us", problem="operator-not-installed")
    assert set(missing["resource"]) == {
        "kafka.strimzi.io/v1beta2/kafkas",
        "core.strimzi.io/v1beta2/strimzipodsets",
        "rabbitmq.com/v1beta1/rabbitmqclusters",
    }
    assert set(missing["severity"]) == {"info"}
    assert "operator not installed" in missing["message"][0]
    with pytest.raises(SourceError, match=r"restricted .*forbidden"):
        found.raise_for_errors()


def test_label_selectors_are_sent_to_the_server(fleet: Fleet, found: Any) -> None:
    requests = [r for emu in fleet.emulators.values() for r in list(emu)]
    selectors = {r.params.get("labelSelector") for r in requests if r.params.get("labelSelector")}
    assert "strimzi.io/kind=Kafka" in selectors
    assert "app.kubernetes.io/component=rabbitmq,app.kubernetes.io/part-of=rabbitmq" in selectors


def test_serial_and_parallel_discovery_agree(kubeconfig: Path) -> None:
    names = ["prod-eu", "prod-us", "staging", "dev", "analytics"]
    t0 = time.perf_counter()
    serial = discover(kubeconfig, contexts=names, max_workers=1)
    t1 = time.perf_counter()
    parallel = discover(kubeconfig, contexts=names, max_workers=5)
    t2 = time.perf_counter()
    assert serial.inventory.equals(parallel.inventory)
    assert parallel.inventory.height > 50
    # timing is only printed (2 shared cores): test_pool_is_parallel_and_bounded checks the pool
    print(f"serial {t1 - t0:.3f}s parallel {t2 - t1:.3f}s")


def test_promql_selectors(found: Any) -> None:
    sel = promql_selectors(found.inventory)
    events = rows(sel, cluster="events").row(0, named=True)
    assert events["metrics_port"] == 9404
    assert events["selector"].startswith('{namespace="kafka",pod=~"events\\\\-broker\\\\-0|')
    assert set(sel["metrics_port"]) == {9404, 5556, 9419, 15692}
    assert events["label_matchers"] == events["selector"][1:-1]
    native = promql_selectors(found.inventory, style="native")
    assert rows(native, cluster="events")["selector"][0] == '{namespace="kafka",strimzi_io_cluster="events"}'
    assert (
        rows(native, cluster="orders")["selector"][0] == '{namespace="messaging",rabbitmq_cluster="orders"}'
    )
    inst = promql_selectors(found.inventory, style="instance")
    assert "10\\\\.244\\\\.1\\\\.40:15692" in rows(inst, cluster="orders")["selector"][0]
    with pytest.raises(ParameterError, match="style"):
        promql_selectors(found.inventory, style="bogus")  # type: ignore[arg-type]


def _run(fleet: Fleet, coro: Any) -> Any:
    assert fleet.loop is not None
    return asyncio.run_coroutine_threadsafe(coro, fleet.loop).result(10)


def test_change_detection_and_watch(fleet: Fleet, kubeconfig: Path) -> None:
    core = k8s_client.CoreV1Api(fleet.api("dev"))
    steps: list[str] = []

    def mutate(_: float) -> None:
        # between polls: scale the Bitnami RabbitMQ down by one pod, add a pod, relabel a pod
        steps.append("mutated")
        core.delete_namespaced_pod("rmq-dev-2", "dev")
        pod = next(o for o in _load("dev") if o["metadata"]["name"] == "rmq-dev-1")
        new = json.loads(json.dumps(pod))
        new["metadata"].update(name="rmq-dev-3", uid="00000000-0000-0000-0000-0000000000a3")
        core.create_namespaced_pod("dev", new)
        core.patch_namespaced_pod(
            "dev-kafka-dual-0", "dev", {"metadata": {"labels": {"strimzi.io/broker-role": "false"}}}
        )

    events = list(watch(kubeconfig, contexts=["dev"], interval=0.0, max_polls=2, sleep=mutate))
    assert steps == ["mutated"]
    first, second = events
    assert set(first.changes["change"]) == {"added"}
    assert first.changes.height == first.discovery.inventory.height
    changes = {(r["change"], r["kind"], r["name"]): r["fields"] for r in second.changes.iter_rows(named=True)}
    assert changes[("removed", "Pod", "rmq-dev-2")] == []
    assert changes[("added", "Pod", "rmq-dev-3")] == []
    assert "role" in changes[("changed", "Pod", "dev-kafka-dual-0")]
    assert "pods" in changes[("changed", "StatefulSet", "rmq-dev")]
    assert diff_inventories(second.discovery.inventory, second.discovery.inventory).is_empty()


def test_bad_kubeconfig_errors(tmp_path: Path, kubeconfig: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        discover(tmp_path / "missing")
    bad = tmp_path / "bad"
    bad.write_text("clusters: [oops")
    with pytest.raises(ConfigError, match="not valid YAML"):
        discover(bad)
    dangling = tmp_path / "dangling"
    dangling.write_text(
        yaml.safe_dump(
            {"clusters": [], "users": [], "contexts": [{"name": "x", "context": {"cluster": "nowhere"}}]}
        )
    )
    with pytest.raises(ConfigError, match="names cluster 'nowhere'"):
        discover(dangling)
    with pytest.raises(NotFoundError, match="no kubeconfig context named 'nope'; available: analytics"):
        discover(kubeconfig, contexts=["nope"])
    with pytest.raises(ParameterError, match="max_workers"):
        discover(kubeconfig, max_workers=0)
    assert [c.namespace for c in read_kubeconfig(kubeconfig).contexts][:2] == [None, "kafka"]


def test_cli_discover(kubeconfig: Path) -> None:
    from workbench.cli import app

    result = CliRunner().invoke(
        app, ["discover", "--kubeconfig", str(kubeconfig), "--context", "prod-eu", "--context", "prod-us"]
    )
    assert result.exit_code == 0, result.output
    for word in ("events", "orders", "9404", "15692", "5556", "9419"):
        assert word in result.output
    failing = CliRunner().invoke(
        app, ["discover", "--kubeconfig", str(kubeconfig), "--context", "dev-down", "--context", "dev"]
    )
    assert failing.exit_code == 1
    assert "unreachable" in failing.output
    bad = CliRunner().invoke(app, ["discover", "--kubeconfig", "/nonexistent/kubeconfig"])
    assert isinstance(bad.exception, ConfigError)
    assert "cannot read" in str(bad.exception)
    watched = CliRunner().invoke(
        app,
        [
            "discover",
            "--kubeconfig",
            str(kubeconfig),
            "--context",
            "staging",
            "--watch",
            "--interval",
            "0",
            "--polls",
            "2",
        ],
    )
    assert watched.exit_code == 0, watched.output
    assert "poll 0:" in watched.output
    assert "poll 1: 0 changes" in watched.output


def test_pool_is_parallel_and_bounded(tmp_path: Path) -> None:
    """Six API servers answer a list slowly; the peak of requests in flight is max_workers."""
    counter = {"active": 0, "peak": 0}
    ready, state = threading.Event(), {}

    async def slow(request: Any) -> Any:
        counter["active"] += 1
        counter["peak"] = max(counter["peak"], counter["active"])
        try:
            await asyncio.sleep(0.3)
        finally:
            counter["active"] -= 1
        raise kmock.KubernetesNotFoundError()

    async def serve() -> None:
        async with contextlib.AsyncExitStack() as stack:
            urls = []
            for _ in range(6):
                emu = await stack.enter_async_context(kmock.KubernetesEmulator())
                srv = await stack.enter_async_context(kmock.Server(emu, host="127.0.0.1", port=0))
                for group, version, plural in CORE:
                    emu.resources[kmock.resource(group, version, plural)] = {}
                emu[kmock.action.LIST, kmock.resource("kafka.strimzi.io", "v1beta2", "kafkas")] << slow
                urls.append(str(srv.url).rstrip("/"))
            state.update(urls=urls, loop=asyncio.get_running_loop(), stop=asyncio.Event())
            ready.set()
            await state["stop"].wait()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert ready.wait(20), "kmock did not start"
    config = tmp_path / "config"
    config.write_text(
        yaml.safe_dump(
            {
                "clusters": [
                    {"name": f"c{i}", "cluster": {"server": url}} for i, url in enumerate(state["urls"])
                ],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [
                    {"name": f"ctx{i}", "context": {"cluster": f"c{i}", "user": "u"}} for i in range(6)
                ],
            }
        )
    )
    try:
        found = discover(config, max_workers=3)
        assert counter["peak"] == 3
        assert set(found.problems["problem"]) == {"operator-not-installed"}  # 404 after the delay
        counter["peak"] = 0
        discover(config, max_workers=1)
        assert counter["peak"] == 1
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(10)

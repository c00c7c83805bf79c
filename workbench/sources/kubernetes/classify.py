"""Turn raw Kubernetes objects into inventory rows: provider, distribution, cluster, role, ports.

The rules follow ``exporters.md`` §7, in precedence order (first match wins, so an
operator-managed RabbitMQ named ``rabbitmq`` that also looks Bitnami-like is classified once):

1. RabbitMQ cluster-operator: ``app.kubernetes.io/component=rabbitmq`` and
   ``part-of=rabbitmq``; cluster = ``app.kubernetes.io/name``. ``RabbitmqCluster`` CRs.
2. Strimzi: ``strimzi.io/kind=Kafka``; cluster = ``strimzi.io/cluster``. ``Kafka`` CRs and
   ``StrimziPodSet`` s.
3. Bitnami: ``app.kubernetes.io/name in (kafka, rabbitmq)``; cluster = ``app.kubernetes.io/instance``.

Examples
--------
>>> pod = {"kind": "Pod", "metadata": {"name": "events-broker-0", "namespace": "kafka",
...        "labels": {"strimzi.io/kind": "Kafka", "strimzi.io/cluster": "events",
...                   "strimzi.io/component-type": "kafka", "strimzi.io/broker-role": "true",
...                   "strimzi.io/controller-role": "false"}},
...        "spec": {"containers": [{"name": "kafka", "ports": [{"name": "tcp-prometheus",
...                 "containerPort": 9404, "protocol": "TCP"}]}]}}
>>> row = classify_object("Pod", pod)
>>> row["provider"], row["distribution"], row["cluster"], row["role"], row["ports"][0]["metrics"]
('kafka', 'strimzi', 'events', 'broker', True)
"""

from __future__ import annotations

from typing import Any

__all__ = ["METRICS_PORTS", "classify_object"]

#: Known metrics ports: (port name or None, number) of the exporters in §7.
METRICS_PORTS: dict[int, str] = {
    9404: "Strimzi JMX exporter / Kafka Exporter (tcp-prometheus)",
    5556: "Bitnami Kafka JMX exporter (http-metrics)",
    9419: "Bitnami RabbitMQ rabbitmq_prometheus (metrics)",
    15692: "rabbitmq_prometheus (prometheus)",
    15691: "rabbitmq_prometheus over TLS (prometheus-tls)",
    9308: "kafka_exporter (danielqsj)",
    8000: "kafka-lag-exporter",
}
METRICS_PORT_NAMES = {"tcp-prometheus", "http-metrics", "metrics", "prometheus", "prometheus-tls"}

_STRIMZI_COMPONENT_ROLES = {
    "kafka-exporter": "exporter",
    "entity-operator": "operator",
    "zookeeper": "zookeeper",
    "cruise-control": "cruise-control",
}


def _is_metrics_port(name: str, number: int) -> bool:
    # a named port is a metrics port by its name; an unnamed one by its well-known number
    return name in METRICS_PORT_NAMES if name else number in METRICS_PORTS


def _port(name: Any, number: Any, protocol: Any, target: Any = None) -> dict[str, Any] | None:
    try:
        value = int(number)
    except (TypeError, ValueError):
        return None
    label = str(name or "")
    return {
        "name": label,
        "port": value,
        "protocol": str(protocol or "TCP"),
        "target": str(target) if target is not None else "",
        "metrics": _is_metrics_port(label, value),
    }


def _container_ports(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for container in (pod_spec.get("containers") or []) + (pod_spec.get("initContainers") or []):
        for p in container.get("ports") or []:
            port = _port(p.get("name"), p.get("containerPort"), p.get("protocol"))
            if port is not None:
                out.append(port)
    return out


def _ports(kind: str, obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec") or {}
    if kind == "Pod":
        ports = _container_ports(spec)
    elif kind == "Service":
        ports = [
            p
            for p in (
                _port(s.get("name"), s.get("port"), s.get("protocol"), s.get("targetPort"))
                for s in spec.get("ports") or []
            )
            if p is not None
        ]
    elif kind in ("StatefulSet", "Deployment"):
        ports = _container_ports(((spec.get("template") or {}).get("spec")) or {})
    elif kind == "StrimziPodSet":
        pods = spec.get("pods") or []
        ports = _container_ports((pods[0].get("spec") or {}) if pods else {})
    elif kind == "Kafka":
        metrics = (spec.get("kafka") or {}).get("metricsConfig")
        ports = [_port("tcp-prometheus", 9404, "TCP")] if metrics else []  # type: ignore[list-item]
    elif kind == "RabbitmqCluster":
        tls = bool((spec.get("tls") or {}).get("secretName"))
        ports = [_port("prometheus-tls", 15691, "TCP") if tls else _port("prometheus", 15692, "TCP")]  # type: ignore[list-item]
    else:
        ports = []
    unique = {(p["name"], p["port"], p["protocol"]): p for p in ports}
    return sorted(unique.values(), key=lambda p: (p["port"], p["name"]))


def _strimzi_role(kind: str, labels: dict[str, str]) -> str:
    if kind == "Kafka":
        return "cluster"
    if kind in ("StrimziPodSet", "Deployment"):
        return "workload"
    component = labels.get("strimzi.io/component-type", "")
    if kind == "Service":
        return "service"
    if component and component != "kafka":
        return _STRIMZI_COMPONENT_ROLES.get(component, component)
    broker = labels.get("strimzi.io/broker-role") == "true"
    controller = labels.get("strimzi.io/controller-role") == "true"
    if broker and controller:
        return "broker+controller"
    return "controller" if controller else "broker"


def _identify(kind: str, obj: dict[str, Any]) -> tuple[str, str, str, str] | None:
    """(provider, distribution, cluster, role) or None when nothing matches."""
    meta = obj.get("metadata") or {}
    labels: dict[str, str] = meta.get("labels") or {}
    name = str(meta.get("name", ""))
    if kind == "RabbitmqCluster":
        return "rabbitmq", "rabbitmq-operator", name, "cluster"
    if kind == "Kafka":
        return "kafka", "strimzi", name, "cluster"
    if (
        labels.get("app.kubernetes.io/component") == "rabbitmq"
        and labels.get("app.kubernetes.io/part-of") == "rabbitmq"
        and "app.kubernetes.io/name" in labels
    ):
        role = {"StatefulSet": "workload", "Pod": "node", "Service": "service"}.get(kind, kind.lower())
        return "rabbitmq", "rabbitmq-operator", labels["app.kubernetes.io/name"], role
    if labels.get("strimzi.io/kind") == "Kafka" and "strimzi.io/cluster" in labels:
        return "kafka", "strimzi", labels["strimzi.io/cluster"], _strimzi_role(kind, labels)
    app = labels.get("app.kubernetes.io/name")
    if app in ("kafka", "rabbitmq") and "app.kubernetes.io/instance" in labels:
        component = labels.get("app.kubernetes.io/component", "")
        if kind == "StatefulSet":
            role = "workload"
        elif kind == "Service":
            role = "service"
        elif app == "rabbitmq":
            role = "node"
        else:
            role = {"broker": "broker", "controller-eligible": "controller"}.get(
                component, component or "broker"
            )
        return str(app), "bitnami", labels["app.kubernetes.io/instance"], role
    return None


def _service_role(obj: dict[str, Any], ports: list[dict[str, Any]]) -> str:
    spec = obj.get("spec") or {}
    if any(p["metrics"] for p in ports):
        return "metrics-service"
    if spec.get("clusterIP") == "None":
        return "headless-service"
    return "client-service"


def classify_object(kind: str, obj: dict[str, Any]) -> dict[str, Any] | None:
    """Classify one raw object into an inventory row (``None`` when it is not a queue system).

    Parameters
    ----------
    kind : str
        The Kubernetes kind (lists often omit ``kind`` on items).
    obj : dict
        The object as the API returns it.

    Returns
    -------
    dict or None
        Keys: namespace, kind, name, uid, provider, distribution, cluster, role, labels
        (list of key/value), ports (list of name/port/protocol/target/metrics),
        owner_uids, service_selector (list of key/value), pod_ip, phase.
    """
    identity = _identify(kind, obj)
    if identity is None:
        return None
    provider, distribution, cluster, role = identity
    meta = obj.get("metadata") or {}
    labels: dict[str, str] = meta.get("labels") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    ports = _ports(kind, obj)
    if kind == "Service":
        role = _service_role(obj, ports)
    selector = spec.get("selector") if kind == "Service" else None
    return {
        "namespace": str(meta.get("namespace") or ""),
        "kind": kind,
        "name": str(meta.get("name", "")),
        "uid": str(meta.get("uid") or ""),
        "provider": provider,
        "distribution": distribution,
        "cluster": cluster,
        "role": role,
        "labels": [{"key": k, "value": str(v)} for k, v in sorted(labels.items())],
        "ports": ports,
        "owner_uids": sorted(str(o.get("uid", "")) for o in meta.get("ownerReferences") or []),
        "service_selector": [{"key": k, "value": str(v)} for k, v in sorted((selector or {}).items())],
        "pod_ip": str(status.get("podIP") or "") if kind == "Pod" else "",
        "phase": str(status.get("phase") or "") if kind == "Pod" else "",
    }

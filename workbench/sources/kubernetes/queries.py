"""What discovery asks each API server: resources and label selectors.

Each :class:`Query` is one LIST request. Label selectors follow the conventions of
``exporters.md`` §7: Strimzi (``strimzi.io/*``), Bitnami charts and the RabbitMQ
cluster-operator (``app.kubernetes.io/*``). Custom resources are listed without a
selector; a 404 on them means the operator's CRD is not installed.

The same selectors are re-checked on the client (:func:`matches_selector`), because
some API servers and mocks ignore ``labelSelector``; a real server returns the same
set either way.

Examples
--------
>>> matches_selector({"app.kubernetes.io/name": "kafka"}, "app.kubernetes.io/name in (kafka,rabbitmq)")
True
>>> matches_selector({"strimzi.io/kind": "Kafka"}, "strimzi.io/kind=Kafka,strimzi.io/cluster")
False
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["QUERIES", "Query", "matches_selector"]

Api = Literal["core", "apps", "custom"]


@dataclass(frozen=True)
class Query:
    """One LIST request of discovery.

    Attributes
    ----------
    rule : str
        Name of the discovery rule that asks (shows up in the ``sources`` column).
    kind : str
        Kubernetes kind listed.
    api : {"core", "apps", "custom"}
        Which API group family.
    plural : str
        Resource plural (``pods``, ``statefulsets``, ``kafkas`` ...).
    group, version : str
        API group and version (custom resources only).
    selector : str or None
        Label selector sent to the server and re-checked on the client.
    """

    rule: str
    kind: str
    api: Api
    plural: str
    group: str = ""
    version: str = "v1"
    selector: str | None = None

    @property
    def resource(self) -> str:
        """``group/version/plural`` as used in problem reports."""
        prefix = f"{self.group}/" if self.group else ""
        return f"{prefix}{self.version}/{self.plural}"


STRIMZI = "strimzi.io/kind=Kafka"
BITNAMI = "app.kubernetes.io/name in (kafka,rabbitmq)"
OPERATOR = "app.kubernetes.io/component=rabbitmq,app.kubernetes.io/part-of=rabbitmq"

#: Every request discovery sends to each context, in order.
QUERIES: tuple[Query, ...] = (
    Query("strimzi", "Kafka", "custom", "kafkas", "kafka.strimzi.io", "v1beta2"),
    Query("strimzi", "StrimziPodSet", "custom", "strimzipodsets", "core.strimzi.io", "v1beta2"),
    Query("rabbitmq-operator", "RabbitmqCluster", "custom", "rabbitmqclusters", "rabbitmq.com", "v1beta1"),
    Query("strimzi", "Pod", "core", "pods", selector=STRIMZI),
    Query("strimzi", "Service", "core", "services", selector=STRIMZI),
    Query("strimzi", "Deployment", "apps", "deployments", "apps", selector=STRIMZI),
    Query("bitnami", "StatefulSet", "apps", "statefulsets", "apps", selector=BITNAMI),
    Query("bitnami", "Pod", "core", "pods", selector=BITNAMI),
    Query("bitnami", "Service", "core", "services", selector=BITNAMI),
    Query("rabbitmq-operator", "StatefulSet", "apps", "statefulsets", "apps", selector=OPERATOR),
    Query("rabbitmq-operator", "Pod", "core", "pods", selector=OPERATOR),
    Query("rabbitmq-operator", "Service", "core", "services", selector=OPERATOR),
)

_SET_RE = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_requirements(selector: str) -> list[str]:
    # commas separate requirements, except inside "in (a,b)" sets
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def matches_selector(labels: dict[str, str], selector: str | None) -> bool:
    """Whether ``labels`` satisfy a Kubernetes label selector string.

    Supports ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k`` and ``!k``.

    Parameters
    ----------
    labels : dict of str to str
        An object's ``metadata.labels``.
    selector : str or None
        The selector; ``None`` or empty matches everything.
    """
    if not selector:
        return True
    for requirement in _split_requirements(selector):
        set_match = _SET_RE.match(requirement)
        if set_match:
            key, op, values = set_match.groups()
            allowed = {v.strip() for v in values.split(",")}
            present = key in labels and labels[key] in allowed
            if present != (op == "in"):
                return False
        elif "!=" in requirement:
            key, value = (s.strip() for s in requirement.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in requirement:
            key, value = (s.strip() for s in requirement.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif requirement.startswith("!"):
            if requirement[1:].strip() in labels:
                return False
        elif requirement not in labels:
            return False
    return True

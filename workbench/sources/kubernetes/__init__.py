"""Kubernetes discovery of Kafka and RabbitMQ clusters with the official ``kubernetes`` client.

Every context of a kubeconfig is queried in parallel (a bounded thread pool) for Strimzi
(``Kafka`` CRs, ``StrimziPodSet`` s and ``strimzi.io/*`` pods), Bitnami Kafka and RabbitMQ
StatefulSets (``app.kubernetes.io/*``), RabbitMQ cluster-operator ``RabbitmqCluster`` resources,
and their pods, Services and metrics ports. The result is an inventory frame, a relationship
frame, and a problem report; inventories can be diffed, watched, and turned into PromQL selectors.

Examples
--------
>>> from workbench.sources.kubernetes import discover, promql_selectors   # doctest: +SKIP
>>> found = discover("~/.kube/config")                                    # doctest: +SKIP
>>> promql_selectors(found.inventory)["selector"].to_list()               # doctest: +SKIP
['{namespace="kafka",pod=~"events\\\\-broker\\\\-0|..."}', ...]
"""

from workbench.sources.kubernetes.changes import CHANGE_SCHEMA, WatchEvent, diff_inventories, watch
from workbench.sources.kubernetes.discovery import CONTEXT_SCHEMA, PROBLEM_SCHEMA, Discovery, discover
from workbench.sources.kubernetes.inventory import (
    INVENTORY_SCHEMA,
    RELATIONSHIP_SCHEMA,
    empty_inventory,
    summarize_clusters,
)
from workbench.sources.kubernetes.kubeconfig import read_kubeconfig
from workbench.sources.kubernetes.selectors import promql_selector, promql_selectors, with_selector

__all__ = [
    "CHANGE_SCHEMA",
    "CONTEXT_SCHEMA",
    "INVENTORY_SCHEMA",
    "PROBLEM_SCHEMA",
    "RELATIONSHIP_SCHEMA",
    "Discovery",
    "WatchEvent",
    "diff_inventories",
    "discover",
    "empty_inventory",
    "promql_selector",
    "promql_selectors",
    "read_kubeconfig",
    "summarize_clusters",
    "watch",
    "with_selector",
]

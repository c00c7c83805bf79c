"""Kubernetes discovery of Kafka and RabbitMQ clusters with the official ``kubernetes`` client.

Every context of a kubeconfig is queried in parallel (a bounded thread pool) for Strimzi
(``Kafka`` CRs, ``StrimziPodSet`` s and ``strimzi.io/*`` pods), Bitnami Kafka and RabbitMQ
StatefulSets (``app.kubernetes.io/*``), RabbitMQ cluster-operator ``RabbitmqCluster`` resources,
and their pods, Services and metrics ports. The result is an inventory frame, a relationship
frame, and a problem report; inventories can be diffed, watched, and turned into PromQL selectors.

Examples
--------
``found = discover("~/.kube/config")`` then ``promql_selectors(found.inventory)`` gives one
selector per cluster and metrics port, built like this:

>>> from workbench.sources.kubernetes import promql_selector
>>> promql_selector([("namespace", "=", "kafka"), ("strimzi_io_cluster", "=", "events")])
'{namespace="kafka",strimzi_io_cluster="events"}'
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

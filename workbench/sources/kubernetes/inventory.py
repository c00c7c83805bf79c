"""Inventory and relationship frames from the raw objects of many contexts.

Objects found through several contexts (two contexts on one cluster) or several rules
(an operator-managed RabbitMQ that also carries Bitnami-like labels) are merged into one
row by their ``metadata.uid``; ``contexts`` and ``sources`` list where each row came from.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from workbench.sources.kubernetes.classify import classify_object
from workbench.sources.kubernetes.fetch import FoundObject

__all__ = [
    "INVENTORY_SCHEMA",
    "RELATIONSHIP_SCHEMA",
    "build_inventory",
    "build_relationships",
    "empty_inventory",
    "summarize_clusters",
]

_KV = pl.List(pl.Struct({"key": pl.String, "value": pl.String}))
_PORTS = pl.List(
    pl.Struct(
        {
            "name": pl.String,
            "port": pl.Int32,
            "protocol": pl.String,
            "target": pl.String,
            "metrics": pl.Boolean,
        }
    )
)
PROVIDER = pl.Enum(["kafka", "rabbitmq", "sqs"])

#: Columns of the inventory frame, one row per discovered object.
INVENTORY_SCHEMA: dict[str, pl.DataType] = {
    "context": pl.String(),
    "namespace": pl.String(),
    "kind": pl.String(),
    "name": pl.String(),
    "provider": PROVIDER,
    "distribution": pl.String(),
    "cluster": pl.String(),
    "role": pl.String(),
    "labels": _KV,
    "pods": pl.List(pl.String),
    "ports": _PORTS,
    "server": pl.String(),
    "uid": pl.String(),
    "pod_ip": pl.String(),
    "phase": pl.String(),
    "contexts": pl.List(pl.String),
    "sources": pl.List(pl.String),
}

#: Columns of the relationship frame: cluster -> workload/pod/service, workload -> pod, pod -> service.
RELATIONSHIP_SCHEMA: dict[str, pl.DataType] = {
    "context": pl.String(),
    "namespace": pl.String(),
    "provider": PROVIDER,
    "cluster": pl.String(),
    "parent_kind": pl.String(),
    "parent_name": pl.String(),
    "relation": pl.String(),
    "child_kind": pl.String(),
    "child_name": pl.String(),
}

_ROW_SCHEMA: dict[str, pl.DataType] = {
    **{k: v for k, v in INVENTORY_SCHEMA.items() if k not in ("pods", "contexts", "sources")},
    "order": pl.Int64(),
    "rule": pl.String(),
    "owner_uids": pl.List(pl.String),
    "service_selector": _KV,
}


def empty_inventory() -> pl.DataFrame:
    """An inventory with no rows and the full schema.

    Examples
    --------
    >>> empty_inventory().columns[:4]
    ['context', 'namespace', 'kind', 'name']
    """
    return pl.DataFrame(schema=INVENTORY_SCHEMA)


def _objects_frame(found: list[FoundObject], context_order: dict[str, int]) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    for item in found:
        row = classify_object(item.kind, item.raw)
        if row is None:
            continue
        row.update(
            context=item.context,
            server=item.server,
            rule=item.rule,
            order=context_order.get(item.context, len(context_order)),
        )
        rows.append(row)
    return pl.DataFrame(rows, schema=_ROW_SCHEMA) if rows else pl.DataFrame(schema=_ROW_SCHEMA)


def _merge(objects: pl.DataFrame) -> pl.DataFrame:
    """One row per object: merge by uid (or server/namespace/kind/name when uid is missing)."""
    key = (
        pl.when(pl.col("uid") != "")
        .then(pl.col("uid"))
        .otherwise(pl.concat_str("server", "namespace", "kind", "name", separator="/"))
    )
    first_cols = [c for c in _ROW_SCHEMA if c not in ("order", "rule", "context")]
    return (
        objects.with_columns(_key=key, _source=pl.concat_str("context", "rule", separator=":"))
        .sort("order", "context")
        .group_by("_key", maintain_order=True)
        .agg(
            pl.col("context").first(),
            *[pl.col(c).first() for c in first_cols],
            contexts=pl.col("context").unique(maintain_order=True),
            sources=pl.col("_source").unique(maintain_order=True),
        )
        .drop("_key")
    )


def build_relationships(merged: pl.DataFrame) -> pl.DataFrame:
    """Edges cluster -> workload/pod/service, workload -> pod (owner) and pod -> service (selector).

    Parameters
    ----------
    merged : DataFrame
        Merged object rows (inventory columns plus ``owner_uids`` and ``service_selector``).
    """
    base = ["context", "namespace", "provider", "cluster"]
    members = merged.filter(pl.col("role") != "cluster")
    to_cluster = members.select(
        *base,
        parent_kind=pl.lit("Cluster"),
        parent_name=pl.col("cluster"),
        relation=pl.concat_str(pl.lit("has_"), pl.col("kind").str.to_lowercase()),
        child_kind="kind",
        child_name="name",
    )
    pods = merged.filter(pl.col("kind") == "Pod")
    owners = merged.filter(pl.col("kind").is_in(["StatefulSet", "StrimziPodSet", "Deployment"]))
    owned = (
        pods.select(*base, "name", "server", owner="owner_uids")
        .explode("owner")
        .join(
            owners.select("server", owner="uid", parent_kind="kind", parent_name="name"),
            on=["server", "owner"],
        )
        .select(
            *base,
            "parent_kind",
            "parent_name",
            relation=pl.lit("owns"),
            child_kind=pl.lit("Pod"),
            child_name="name",
        )
    )
    pod_labels = pods.select("server", "namespace", pod="name", kv="labels").explode("kv").unnest("kv")
    services = merged.filter((pl.col("kind") == "Service") & (pl.col("service_selector").list.len() > 0))
    wanted = services.select(
        *base, "server", service="name", n=pl.col("service_selector").list.len(), kv="service_selector"
    )
    exposed = (
        wanted.explode("kv")
        .unnest("kv")
        .join(pod_labels, on=["server", "namespace", "key", "value"])
        .group_by(*base, "server", "service", "n", "pod")
        .agg(hits=pl.len())
        .filter(pl.col("hits") == pl.col("n"))
        .select(
            *base,
            parent_kind=pl.lit("Pod"),
            parent_name="pod",
            relation=pl.lit("exposed_by"),
            child_kind=pl.lit("Service"),
            child_name="service",
        )
    )
    edges = pl.concat([to_cluster, owned, exposed], how="vertical_relaxed")
    return (
        edges.cast(RELATIONSHIP_SCHEMA)  # type: ignore[arg-type]
        .unique()
        .sort("context", "namespace", "cluster", "relation", "parent_name", "child_name")
    )


def build_inventory(found: list[FoundObject], context_order: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Classify, merge and relate raw objects.

    Parameters
    ----------
    found : list of FoundObject
        Raw objects from :func:`~workbench.sources.kubernetes.fetch.fetch_context`.
    context_order : list of str
        Contexts in kubeconfig order; a merged row keeps the first context that saw it.

    Returns
    -------
    inventory, relationships : DataFrame, DataFrame
        Frames with :data:`INVENTORY_SCHEMA` and :data:`RELATIONSHIP_SCHEMA`.
    """
    objects = _objects_frame(found, {c: i for i, c in enumerate(context_order)})
    if objects.is_empty():
        return empty_inventory(), pl.DataFrame(schema=RELATIONSHIP_SCHEMA)
    merged = _merge(objects)
    relationships = build_relationships(merged)
    keys = ["context", "namespace", "cluster"]
    own_pods = merged.filter(pl.col("kind") == "Pod").select(
        "context", "namespace", "kind", "name", pods=pl.concat_list("name")
    )
    workload_pods = (
        relationships.filter(pl.col("relation") == "owns")
        .group_by("context", "namespace", kind="parent_kind", name="parent_name")
        .agg(pods=pl.col("child_name").sort())
    )
    service_pods = (
        relationships.filter(pl.col("relation") == "exposed_by")
        .group_by("context", "namespace", name="child_name")
        .agg(pods=pl.col("parent_name").sort())
        .with_columns(kind=pl.lit("Service"))
    )
    cluster_pods = (
        merged.filter(pl.col("kind") == "Pod")
        .group_by(keys)
        .agg(pods=pl.col("name").sort())
        .with_columns(role=pl.lit("cluster"))
    )
    pods = pl.concat([own_pods, workload_pods, service_pods], how="diagonal_relaxed")
    inventory = (
        merged.join(pods, on=["context", "namespace", "kind", "name"], how="left")
        .join(cluster_pods.rename({"pods": "_cluster_pods"}), on=[*keys, "role"], how="left")
        .with_columns(pods=pl.coalesce("pods", "_cluster_pods", pl.lit([], dtype=pl.List(pl.String))))
        .select(list(INVENTORY_SCHEMA))
        .cast(INVENTORY_SCHEMA)  # type: ignore[arg-type]
        .sort("context", "namespace", "provider", "cluster", "kind", "name")
    )
    return inventory, relationships


def summarize_clusters(inventory: pl.DataFrame) -> pl.DataFrame:
    """One row per logical queue cluster: pods, services and metrics ports.

    Parameters
    ----------
    inventory : DataFrame
        From :func:`workbench.sources.kubernetes.discover`.

    Returns
    -------
    DataFrame
        context, namespace, provider, distribution, cluster, pods (n), services (n),
        metrics_ports (sorted unique port numbers), pod_names.
    """
    keys = ["context", "namespace", "provider", "distribution", "cluster"]
    metrics_ports = pl.col("ports").list.eval(
        pl.element().filter(pl.element().struct.field("metrics")).struct.field("port")
    )
    return (
        inventory.with_columns(_metrics=metrics_ports)
        .group_by(keys)
        .agg(
            pods=(pl.col("kind") == "Pod").sum(),
            services=(pl.col("kind") == "Service").sum(),
            metrics_ports=pl.col("_metrics")
            .list.explode(keep_nulls=False, empty_as_null=False)
            .unique()
            .sort(),
            pod_names=pl.col("name").filter(pl.col("kind") == "Pod").sort(),
        )
        .sort(keys)
    )

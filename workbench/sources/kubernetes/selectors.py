"""Turn an inventory into PromQL selectors for the Prometheus source.

Three label conventions are offered, because what labels a scraped series carries depends
on how Prometheus discovered the target:

``pod`` (default)
    Prometheus-operator ``PodMonitor``/``ServiceMonitor`` and most ``kubernetes_sd`` relabel
    configs: ``{namespace="ns", pod=~"a|b|c"}``.
``instance``
    Plain ``kubernetes_sd`` pod targets without relabelling: ``{instance=~"10.0.0.1:9404|..."}``
    from the pod IPs and the metrics port.
``native``
    The distribution's own labels: Strimzi's PodMonitor (``strimzi_io_cluster``), the RabbitMQ
    cluster-operator's ``rabbitmq_cluster`` (from ``rabbitmq_identity_info``); Bitnami has none of
    its own, so it falls back to ``namespace`` plus ``pod``.

Examples
--------
>>> print(promql_selector([("namespace", "=", "kafka"), ("pod", "=~", "events-broker-0|events-broker-1")]))
{namespace="kafka",pod=~"events-broker-0|events-broker-1"}
>>> with_selector("kafka_server_brokertopicmetrics_messagesin_total", '{namespace="kafka"}')
'kafka_server_brokertopicmetrics_messagesin_total{namespace="kafka"}'
"""

from __future__ import annotations

import re
from typing import Any, Literal

import polars as pl

from workbench.errors import ParameterError

__all__ = ["SELECTOR_STYLES", "promql_selector", "promql_selectors", "with_selector"]

Style = Literal["pod", "instance", "native"]
SELECTOR_STYLES: tuple[str, ...] = ("pod", "instance", "native")
_MATCHERS = pl.List(pl.Struct({"label": pl.String, "op": pl.String, "value": pl.String}))


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def promql_selector(matchers: list[tuple[str, str, str]]) -> str:
    """Render label matchers ``(label, op, value)`` as a PromQL selector ``{...}``."""
    return "{" + ",".join(f"{label}{op}{_quote(value)}" for label, op, value in matchers) + "}"


def with_selector(metric: str, selector: str) -> str:
    """Attach a selector to a bare metric name (``metric{...}``)."""
    return f"{metric}{selector}"


def _alternation(values: list[str]) -> str:
    return "|".join(re.escape(v) for v in sorted(set(values)) if v)


def promql_selectors(inventory: pl.DataFrame, *, style: Style = "pod") -> pl.DataFrame:
    """One PromQL selector per discovered queue cluster and metrics port.

    Parameters
    ----------
    inventory : DataFrame
        ``Discovery.inventory``.
    style : {"pod", "instance", "native"}
        Label convention of the target Prometheus (see the module docstring).

    Returns
    -------
    DataFrame
        context, namespace, provider, distribution, cluster, metrics_port, exporter, matchers
        (list of label/op/value), selector (a PromQL string such as
        ``{namespace="kafka",pod=~"events-broker-0|..."}``) and label_matchers (the same
        without braces, as ``PrometheusSource.pull(selector=...)`` takes it).

    Raises
    ------
    ParameterError
        For an unknown ``style``.
    """
    if style not in SELECTOR_STYLES:
        raise ParameterError("style", allowed=f"one of {SELECTOR_STYLES}", received=style)
    keys = ["context", "namespace", "provider", "distribution", "cluster"]
    pods = inventory.filter(pl.col("kind") == "Pod").with_columns(
        metrics_port=pl.col("ports").list.eval(
            pl.element().filter(pl.element().struct.field("metrics")).struct.field("port")
        )
    )
    scraped = pods.explode("metrics_port").filter(pl.col("metrics_port").is_not_null())
    grouped = (
        scraped.group_by(*keys, "metrics_port")
        .agg(
            pod_names=pl.col("name").sort(),
            pod_ips=pl.col("pod_ip").filter(pl.col("pod_ip") != "").sort(),
            exporter=(pl.col("role") == "exporter").all(),
        )
        .sort(*keys, "metrics_port")
    )
    rows = []
    for row in grouped.iter_rows(named=True):
        ns = ("namespace", "=", row["namespace"])
        pods_re = ("pod", "=~", _alternation(row["pod_names"]))
        if style == "instance":
            addresses = [f"{ip}:{row['metrics_port']}" for ip in row["pod_ips"]]
            matchers = [("instance", "=~", _alternation(addresses))] if addresses else [ns, pods_re]
        elif style == "native" and row["distribution"] == "strimzi":
            matchers = [ns, ("strimzi_io_cluster", "=", row["cluster"])]
        elif style == "native" and row["distribution"] == "rabbitmq-operator":
            matchers = [ns, ("rabbitmq_cluster", "=", row["cluster"])]
        else:
            matchers = [ns, pods_re]
        rows.append(
            {
                **{k: row[k] for k in keys},
                "metrics_port": row["metrics_port"],
                "exporter": row["exporter"],
                "matchers": [{"label": a, "op": b, "value": c} for a, b, c in matchers],
                "selector": promql_selector(matchers),
                "label_matchers": promql_selector(matchers)[1:-1],
            }
        )
    schema: dict[str, Any] = {
        "context": pl.String,
        "namespace": pl.String,
        "provider": pl.String,
        "distribution": pl.String,
        "cluster": pl.String,
        "metrics_port": pl.Int32,
        "exporter": pl.Boolean,
        "matchers": _MATCHERS,
        "selector": pl.String,
        "label_matchers": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)

"""Discover Kafka and RabbitMQ clusters in every context of a kubeconfig, in parallel."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from workbench.errors import ConfigError, ParameterError, SourceError
from workbench.sources.kubernetes.fetch import ContextResult, Problem, fetch_context
from workbench.sources.kubernetes.inventory import build_inventory, summarize_clusters
from workbench.sources.kubernetes.kubeconfig import ContextInfo, Kubeconfig, open_client, read_kubeconfig

__all__ = ["CONTEXT_SCHEMA", "PROBLEM_SCHEMA", "Discovery", "discover"]

logger = logging.getLogger(__name__)

PROBLEM_SCHEMA: dict[str, pl.DataType] = {
    "context": pl.String(),
    "server": pl.String(),
    "namespace": pl.String(),
    "resource": pl.String(),
    "problem": pl.String(),
    "severity": pl.Enum(["info", "warning", "error"]),
    "status": pl.Int32(),
    "message": pl.String(),
}
CONTEXT_SCHEMA: dict[str, pl.DataType] = {
    "context": pl.String(),
    "server": pl.String(),
    "namespace": pl.String(),
    "status": pl.String(),
    "requests": pl.Int32(),
    "objects": pl.Int32(),
    "seconds": pl.Float64(),
}


@dataclass
class Discovery:
    """The result of one discovery run.

    Attributes
    ----------
    inventory : DataFrame
        One row per object (see ``INVENTORY_SCHEMA``).
    relationships : DataFrame
        Edges cluster -> workload/pod/service, workload -> pod, pod -> service.
    problems : DataFrame
        What could not be read, per context and resource, with a severity.
    contexts : DataFrame
        One row per context: server, namespace scope, status (``ok``/``partial``/``failed``),
        requests, objects, seconds.
    at : datetime
        When the run finished (UTC).
    """

    inventory: pl.DataFrame
    relationships: pl.DataFrame
    problems: pl.DataFrame
    contexts: pl.DataFrame
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def clusters(self) -> pl.DataFrame:
        """One row per logical queue cluster (see :func:`summarize_clusters`)."""
        return summarize_clusters(self.inventory)

    @property
    def errors(self) -> pl.DataFrame:
        """Problems of severity ``error`` (unreachable, forbidden, server errors)."""
        return self.problems.filter(pl.col("severity") == "error")

    def raise_for_errors(self) -> None:
        """Raise :class:`SourceError` if any context had an error-severity problem.

        Raises
        ------
        SourceError
            Naming each failing context, resource and the server's message.
        """
        errors = self.errors
        if errors.is_empty():
            return
        lines = [
            f"{r['context']} {r['resource']}: {r['problem']}: {r['message']}"
            for r in errors.head(10).iter_rows(named=True)
        ]
        raise SourceError(
            f"kubernetes discovery failed for {errors['context'].n_unique()} context(s): " + "; ".join(lines),
            url=str(errors["server"][0]),
        )


def _run_context(
    config: Kubeconfig, info: ContextInfo, namespace: str | None, timeout: float
) -> tuple[ContextResult, float]:
    started = time.perf_counter()
    api = open_client(config, info.name)
    try:
        result = fetch_context(api, info, namespace=namespace, timeout=timeout)
    finally:
        api.close()  # type: ignore[no-untyped-call]
    return result, time.perf_counter() - started


def discover(
    kubeconfig: str | Path | None = None,
    *,
    contexts: list[str] | None = None,
    all_namespaces: bool = False,
    max_workers: int = 8,
    timeout: float = 10.0,
) -> Discovery:
    """Discover Strimzi/Bitnami Kafka and Bitnami/operator RabbitMQ in every context.

    Parameters
    ----------
    kubeconfig : str or Path, optional
        The kubeconfig; default ``$KUBECONFIG`` or ``~/.kube/config``.
    contexts : list of str, optional
        Only these contexts; default every context of the file.
    all_namespaces : bool
        List cluster-wide even when a context sets a namespace (by default a context's
        namespace restricts its lists, as ``kubectl`` does).
    max_workers : int
        Contexts queried at the same time (a bounded thread pool).
    timeout : float
        Seconds per API request.

    Returns
    -------
    Discovery
        Inventory, relationships, problems and per-context status. Unreachable or
        forbidden contexts are reported in ``problems`` (call :meth:`Discovery.raise_for_errors`
        to turn them into an exception); a missing CRD is reported as ``operator-not-installed``.

    Raises
    ------
    ConfigError
        Bad kubeconfig (missing, not YAML, dangling cluster/user reference).
    NotFoundError
        A context named in ``contexts`` is not in the kubeconfig.
    ParameterError
        ``max_workers`` < 1 or ``timeout`` <= 0.

    Examples
    --------
    >>> discover("/nonexistent/kubeconfig")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    workbench.errors.ConfigError: kubeconfig /nonexistent/kubeconfig: cannot read: ...
    """
    if max_workers < 1:
        raise ParameterError("max_workers", allowed="an integer >= 1", received=max_workers)
    if timeout <= 0:
        raise ParameterError("timeout", allowed="a number of seconds > 0", received=timeout)
    config = read_kubeconfig(kubeconfig)
    chosen = [config.context(name) for name in contexts] if contexts else list(config.contexts)
    if not chosen:
        raise ConfigError(f"kubeconfig {config.path}: no contexts selected")
    scopes = [None if all_namespaces else info.namespace for info in chosen]
    logger.info("discovering %d contexts with %d workers", len(chosen), max_workers)
    with ThreadPoolExecutor(
        max_workers=min(max_workers, len(chosen)), thread_name_prefix="k8s-discover"
    ) as pool:
        futures = [
            pool.submit(_run_context, config, info, ns, timeout)
            for info, ns in zip(chosen, scopes, strict=False)
        ]
        outcomes = [f.result() for f in futures]
    found = [obj for result, _ in outcomes for obj in result.objects]
    problems: list[Problem] = [p for result, _ in outcomes for p in result.problems]
    inventory, relationships = build_inventory(found, [info.name for info in chosen])
    context_rows = []
    for (result, seconds), ns in zip(outcomes, scopes, strict=False):
        severities = {p.severity for p in result.problems}
        unreachable = any(p.problem in ("unreachable", "timeout") for p in result.problems)
        status = "failed" if unreachable else ("partial" if "error" in severities else "ok")
        context_rows.append(
            {
                "context": result.context.name,
                "server": result.context.server,
                "namespace": ns,
                "status": status,
                "requests": result.requests,
                "objects": len(result.objects),
                "seconds": seconds,
            }
        )
    return Discovery(
        inventory=inventory,
        relationships=relationships,
        problems=pl.DataFrame([asdict(p) for p in problems], schema=PROBLEM_SCHEMA),
        contexts=pl.DataFrame(context_rows, schema=CONTEXT_SCHEMA),
    )

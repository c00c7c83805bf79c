"""Fetch the raw objects of one context with the official ``kubernetes`` client.

One context is one API server seen through one user and (optionally) one namespace.
Every :data:`~workbench.sources.kubernetes.queries.QUERIES` entry becomes one LIST
request; failures are classified into :class:`Problem` records instead of exceptions,
so that one unreachable or forbidden cluster does not hide the others:

========================  ========  ==================================================
problem                   severity  when
========================  ========  ==================================================
``unreachable``           error     connection refused, DNS failure (the remaining
                                    requests of the context are skipped)
``timeout``               error     no answer within ``timeout`` seconds (likewise)
``forbidden``             error     HTTP 401/403 (RBAC); the message is the server's
``operator-not-installed`` info     HTTP 404 on a custom resource (CRD missing)
``not-found``             warning   HTTP 404 on a built-in resource
``server-error``          error     any other HTTP status
``bad-response``          error     a body that is not a Kubernetes list
========================  ========  ==================================================
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import urllib3
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from workbench.sources.kubernetes.kubeconfig import ContextInfo
from workbench.sources.kubernetes.queries import QUERIES, Query, matches_selector

__all__ = ["ContextResult", "FoundObject", "Problem", "fetch_context"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    """Something discovery could not do, reported instead of raised."""

    context: str
    server: str
    namespace: str | None
    resource: str
    problem: str
    severity: str
    status: int | None
    message: str


@dataclass(frozen=True)
class FoundObject:
    """A raw object (the API's JSON) and the rule that found it."""

    context: str
    server: str
    rule: str
    kind: str
    raw: dict[str, Any]


@dataclass
class ContextResult:
    """What one context returned."""

    context: ContextInfo
    objects: list[FoundObject] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    requests: int = 0


def _list(api: k8s_client.ApiClient, query: Query, namespace: str | None, timeout: float) -> Any:
    common: dict[str, Any] = {"_preload_content": False, "_request_timeout": timeout}
    if query.selector:
        common["label_selector"] = query.selector
    if query.api == "custom":
        custom = k8s_client.CustomObjectsApi(api)
        if namespace:
            return custom.list_namespaced_custom_object(
                query.group, query.version, namespace, query.plural, **common
            )
        return custom.list_cluster_custom_object(query.group, query.version, query.plural, **common)
    api_obj: Any = k8s_client.CoreV1Api(api) if query.api == "core" else k8s_client.AppsV1Api(api)
    singular = {
        "pods": "pod",
        "services": "service",
        "statefulsets": "stateful_set",
        "deployments": "deployment",
    }[query.plural]
    if namespace:
        return getattr(api_obj, f"list_namespaced_{singular}")(namespace, **common)
    return getattr(api_obj, f"list_{singular}_for_all_namespaces")(**common)


def _status_message(err: ApiException) -> str:
    try:
        body = json.loads(err.body or "")
        return str(body.get("message") or err.reason)
    except (ValueError, AttributeError):
        return str(err.reason or err.body or "no message")


def fetch_context(
    api: k8s_client.ApiClient,
    context: ContextInfo,
    *,
    namespace: str | None,
    timeout: float = 10.0,
    queries: tuple[Query, ...] = QUERIES,
) -> ContextResult:
    """Run every discovery query against one context.

    Parameters
    ----------
    api : kubernetes.client.ApiClient
        Client for the context (:func:`~workbench.sources.kubernetes.kubeconfig.open_client`).
    context : ContextInfo
        The context (name and server, used in reports).
    namespace : str or None
        List in this namespace only; ``None`` lists all namespaces.
    timeout : float
        Seconds per request (connect and read).
    queries : tuple of Query
        The requests to send.

    Returns
    -------
    ContextResult
        Objects that match their query's selector, and problems.
    """
    result = ContextResult(context=context)

    def problem(query: Query, kind: str, severity: str, status: int | None, message: str) -> None:
        logger.info("kubernetes %s %s: %s (%s)", context.name, query.resource, kind, message)
        result.problems.append(
            Problem(context.name, context.server, namespace, query.resource, kind, severity, status, message)
        )

    for query in queries:
        result.requests += 1
        try:
            response = _list(api, query, namespace, timeout)
            payload = json.loads(response.data)
        except ApiException as err:
            status = int(err.status) if err.status else None
            message = _status_message(err)
            if status in (401, 403):
                problem(query, "forbidden", "error", status, message)
            elif status == 404 and query.api == "custom":
                problem(
                    query,
                    "operator-not-installed",
                    "info",
                    status,
                    f"CRD {query.plural}.{query.group} not served: {query.kind} operator not installed",
                )
            elif status == 404:
                problem(query, "not-found", "warning", status, message)
            else:
                problem(query, "server-error", "error", status, message)
            continue
        except (urllib3.exceptions.HTTPError, OSError) as err:
            reason = getattr(err, "reason", None) or err
            # NewConnectionError subclasses ConnectTimeoutError in urllib3: test it first
            refused = isinstance(reason, urllib3.exceptions.NewConnectionError)
            if not refused and isinstance(reason, urllib3.exceptions.TimeoutError):
                problem(
                    query,
                    "timeout",
                    "error",
                    None,
                    f"API server {context.server} did not answer within {timeout:g} s ({reason})",
                )
            else:
                problem(
                    query,
                    "unreachable",
                    "error",
                    None,
                    f"API server {context.server} unreachable: {type(reason).__name__}: {reason}",
                )
            break  # nothing else will answer either
        except ValueError as err:
            problem(query, "bad-response", "error", None, f"answer is not JSON: {err}")
            continue
        items = payload.get("items") if isinstance(payload, dict) else None
        if not isinstance(items, list):
            problem(query, "bad-response", "error", None, "answer has no 'items' list")
            continue
        for raw in items:
            if not isinstance(raw, dict):
                continue
            labels = (raw.get("metadata") or {}).get("labels") or {}
            if matches_selector(labels, query.selector):
                result.objects.append(FoundObject(context.name, context.server, query.rule, query.kind, raw))
    return result

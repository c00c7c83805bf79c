"""Read a kubeconfig and open one official API client per context.

The kubeconfig is parsed here (not only inside the ``kubernetes`` client) so that a
broken file gives one clear :class:`~workbench.errors.ConfigError` naming the file, the
context and the missing key, instead of a stack trace from deep inside the client.

Examples
--------
>>> import tempfile, pathlib
>>> text = '''
... apiVersion: v1
... kind: Config
... clusters: [{name: c1, cluster: {server: "http://127.0.0.1:1"}}]
... users: [{name: u1, user: {token: abc}}]
... contexts: [{name: dev, context: {cluster: c1, user: u1, namespace: kafka}}]
... current-context: dev
... '''
>>> path = pathlib.Path(tempfile.mkdtemp()) / "config"
>>> _ = path.write_text(text)
>>> [(c.name, c.server, c.namespace) for c in read_kubeconfig(path).contexts]
[('dev', 'http://127.0.0.1:1', 'kafka')]
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s_client
from kubernetes.config import ConfigException, new_client_from_config_dict

from workbench.errors import ConfigError, NotFoundError

__all__ = ["ContextInfo", "Kubeconfig", "default_kubeconfig_path", "open_client", "read_kubeconfig"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContextInfo:
    """One context of a kubeconfig: a cluster address, a user and a default namespace."""

    name: str
    cluster: str
    server: str
    user: str
    namespace: str | None


@dataclass(frozen=True)
class Kubeconfig:
    """A parsed kubeconfig: its path, raw mapping and contexts in file order."""

    path: Path
    raw: dict[str, Any]
    contexts: list[ContextInfo] = field(default_factory=list)
    current_context: str | None = None

    def context(self, name: str) -> ContextInfo:
        """Return the context called ``name``.

        Raises
        ------
        NotFoundError
            If the kubeconfig has no such context (the message lists the ones it has).
        """
        for ctx in self.contexts:
            if ctx.name == name:
                return ctx
        raise NotFoundError("kubeconfig context", name, [c.name for c in self.contexts])


def default_kubeconfig_path() -> Path:
    """The kubeconfig ``kubectl`` would use: the first path of ``$KUBECONFIG``, else ``~/.kube/config``."""
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), None)
    return Path(first) if first else Path.home() / ".kube" / "config"


def _named(raw: dict[str, Any], section: str, path: Path) -> dict[str, dict[str, Any]]:
    items = raw.get(section) or []
    if not isinstance(items, list):
        raise ConfigError(f"kubeconfig {path}: '{section}' must be a list, got {type(items).__name__}")
    out: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ConfigError(f"kubeconfig {path}: {section}[{index}] has no 'name'")
        key = section[:-1]  # clusters -> cluster, users -> user, contexts -> context
        body = item.get(key)
        if not isinstance(body, dict):
            raise ConfigError(
                f"kubeconfig {path}: {section}[{index}] ({item['name']!r}) has no '{key}' mapping"
            )
        out.setdefault(item["name"], body)
    return out


def read_kubeconfig(path: str | Path | None = None) -> Kubeconfig:
    """Parse a kubeconfig file and resolve every context to its server and namespace.

    Parameters
    ----------
    path : str or Path, optional
        The kubeconfig; default :func:`default_kubeconfig_path`.

    Returns
    -------
    Kubeconfig
        Contexts in file order.

    Raises
    ------
    ConfigError
        If the file is missing, is not YAML, or a context names a cluster or user
        that the file does not define, or a cluster has no ``server``.
    """
    resolved = Path(path) if path is not None else default_kubeconfig_path()
    try:
        text = resolved.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"kubeconfig {resolved}: cannot read: {err.strerror or err}") from err
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"kubeconfig {resolved}: not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(
            f"kubeconfig {resolved}: expected a mapping with clusters/users/contexts, "
            f"got {type(raw).__name__}"
        )
    clusters = _named(raw, "clusters", resolved)
    users = _named(raw, "users", resolved)
    contexts_raw = _named(raw, "contexts", resolved)
    if not contexts_raw:
        raise ConfigError(f"kubeconfig {resolved}: defines no contexts")
    contexts: list[ContextInfo] = []
    for name, body in contexts_raw.items():
        cluster_name = body.get("cluster")
        user_name = body.get("user", "")
        if cluster_name not in clusters:
            raise ConfigError(
                f"kubeconfig {resolved}: context {name!r} names cluster {cluster_name!r}, "
                f"which is not defined (defined: {sorted(clusters)})"
            )
        if user_name and user_name not in users:
            raise ConfigError(
                f"kubeconfig {resolved}: context {name!r} names user {user_name!r}, "
                f"which is not defined (defined: {sorted(users)})"
            )
        server = clusters[cluster_name].get("server")
        if not isinstance(server, str) or not server:
            raise ConfigError(f"kubeconfig {resolved}: cluster {cluster_name!r} has no 'server' URL")
        namespace = body.get("namespace")
        contexts.append(
            ContextInfo(
                name=name,
                cluster=str(cluster_name),
                server=server.rstrip("/"),
                user=str(user_name),
                namespace=str(namespace) if namespace else None,
            )
        )
    current = raw.get("current-context")
    return Kubeconfig(
        path=resolved, raw=raw, contexts=contexts, current_context=str(current) if current else None
    )


def open_client(config: Kubeconfig, context: str, *, retries: int = 0) -> k8s_client.ApiClient:
    """Build an official ``kubernetes`` :class:`ApiClient` for one context.

    Parameters
    ----------
    config : Kubeconfig
        From :func:`read_kubeconfig`.
    context : str
        Context name.
    retries : int
        urllib3 retries per request; 0 keeps an unreachable server from stalling discovery.

    Raises
    ------
    ConfigError
        If the client library rejects the context (bad certificate data, unknown auth plug-in ...).
    """
    config.context(context)  # NotFoundError with the list of contexts
    configuration = k8s_client.Configuration()
    configuration.retries = retries  # read when the client builds its connection pool
    try:
        api: k8s_client.ApiClient = new_client_from_config_dict(  # type: ignore[no-untyped-call]
            config.raw, context=context, persist_config=False, client_configuration=configuration
        )
    except (ConfigException, ValueError, TypeError, OSError) as err:
        raise ConfigError(f"kubeconfig {config.path}: context {context!r}: {err}") from err
    return api

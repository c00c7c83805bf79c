"""Pull metrics from a real Prometheus into samples and canonical frames.

Built on ``prometheus-api-client``: :class:`PrometheusSource` configures one
``requests`` session (auth, TLS, retries, connection pool) and hands it to a
:class:`prometheus_api_client.PrometheusConnect`, which serves metadata calls
(metric names, connection check). Range pulls use the same session but read the
answer's bytes directly into Polars (``orjson``, garbage collector paused while
parsing), never through pandas.

* **Split range pulls.** ``query_range`` answers at most 11,000 points per series;
  a pull is cut into half-open chunks on the step grid (``[t0, t1)``, ``[t1, t2)``,
  ...), so no boundary sample comes twice; the result is deduplicated on
  ``(series, ts)`` anyway.
* **Bounded parallelism**: at most ``max_workers`` requests in flight.
* **Timeouts and retries**: a connect and a read timeout on every request;
  ``urllib3.Retry`` retries connection failures, 429/502/503/504 (honouring
  ``Retry-After``) with exponential backoff; a 4xx other than 429 is never retried.
* **Clear errors** (:class:`~workbench.errors.SourceError`, carrying ``url`` and
  ``query``): unreachable server, timeout, authentication refused, 4xx/422 with
  Prometheus' own message and the PromQL, bad JSON, empty result.
* **Raw counters or PromQL rates**: ``counters="raw"`` pulls counters as they are and
  the mapping computes rates per raw series; ``counters="promql"`` asks Prometheus
  for ``rate(x[window])``.

Authentication comes from parameters or the environment (:meth:`PrometheusAuth.from_env`):
``WORKBENCH_PROMETHEUS_TOKEN`` (or ``_TOKEN_FILE``), ``WORKBENCH_PROMETHEUS_USERNAME`` and
``_PASSWORD``, ``WORKBENCH_PROMETHEUS_CA_BUNDLE``, ``WORKBENCH_PROMETHEUS_INSECURE=1``.

Examples
--------
>>> from workbench.sources.prometheus import split_range
>>> split_range(0.0, 100.0, 10.0, max_points=4)
[(0.0, 30.0), (40.0, 70.0), (80.0, 100.0)]
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson
import polars as pl
import requests
from prometheus_api_client import PrometheusConnect
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from workbench.durations import parse_duration as _parse_duration
from workbench.errors import ParameterError, SourceError
from workbench.frames import PROVIDERS
from workbench.mapping.normalize import MappingResult, map_samples
from workbench.mapping.samples import TS_DTYPE, SampleSet, empty_rejected, series_frame
from workbench.mapping.tables import MappingTable, tables

__all__ = [
    "MAX_POINTS_PER_SERIES",
    "PrometheusAuth",
    "PrometheusSource",
    "ingest_prometheus",
    "parse_duration",
    "split_range",
]

logger = logging.getLogger(__name__)

#: Prometheus refuses range queries with more points per series than this.
MAX_POINTS_PER_SERIES = 11_000
#: Statuses worth retrying: rate limited, and a proxy or an overloaded server.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def parse_duration(text: str | float | dt.timedelta, *, parameter: str = "duration") -> float:
    """Parse a positive Prometheus duration (``30s``, ``5m``, ``1h30m``, ``7d``) into seconds.

    Examples
    --------
    >>> parse_duration("1h30m")
    5400.0
    >>> parse_duration(15)
    15.0
    """
    seconds = _parse_duration(text, parameter=parameter).total_seconds()
    if not seconds > 0:
        raise ParameterError(parameter, allowed="a positive duration", received=text)
    return seconds


def split_range(
    start: float, end: float, step: float, *, max_points: int = MAX_POINTS_PER_SERIES
) -> list[tuple[float, float]]:
    """Cut ``[start, end]`` into chunks of at most ``max_points`` grid points each.

    Chunks are half-open on the step grid: each ends one step before the next
    begins, so a boundary sample is never requested twice.

    Parameters
    ----------
    start, end : float
        Unix seconds.
    step : float
        Resolution in seconds.
    max_points : int
        Points per series allowed per query (Prometheus: 11,000).
    """
    if end < start:
        raise ParameterError("end", allowed=f"a time at or after start ({start})", received=end)
    if not step > 0:
        raise ParameterError("step", allowed="a positive number of seconds", received=step)
    if max_points < 1:
        raise ParameterError("max_points", allowed="at least 1", received=max_points)
    total = math.floor((end - start) / step + 1e-9) + 1
    span = (max_points - 1) * step
    chunks = []
    for first in range(0, total, max_points):
        chunk_start = start + first * step
        chunks.append((chunk_start, min(chunk_start + span, start + (total - 1) * step)))
    return chunks


@dataclass(frozen=True)
class PrometheusAuth:
    """How to authenticate to Prometheus and verify its certificate.

    Attributes
    ----------
    bearer_token : str, optional
        Sent as ``Authorization: Bearer <token>``.
    username, password : str, optional
        HTTP basic authentication.
    ca_bundle : str, optional
        Path of a PEM bundle that signs the server's certificate.
    verify : bool
        Verify TLS certificates. Turn off only when asked (``WORKBENCH_PROMETHEUS_INSECURE=1``).
    """

    bearer_token: str | None = None
    username: str | None = None
    password: str | None = None
    ca_bundle: str | None = None
    verify: bool = True

    def __repr__(self) -> str:  # never print secrets
        return (
            f"PrometheusAuth(bearer_token={'***' if self.bearer_token else None}, username={self.username!r}, "
            f"password={'***' if self.password else None}, ca_bundle={self.ca_bundle!r}, verify={self.verify})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PrometheusAuth:
        """Read ``WORKBENCH_PROMETHEUS_*`` variables (see the module docstring)."""
        env = os.environ if env is None else env
        token = env.get("WORKBENCH_PROMETHEUS_TOKEN") or None
        token_file = env.get("WORKBENCH_PROMETHEUS_TOKEN_FILE")
        if token is None and token_file:
            try:
                token = Path(token_file).read_text(encoding="utf-8").strip()
            except OSError as err:
                raise SourceError(f"cannot read WORKBENCH_PROMETHEUS_TOKEN_FILE={token_file}: {err}") from err
        insecure = env.get("WORKBENCH_PROMETHEUS_INSECURE", "").lower() in ("1", "true", "yes")
        return cls(
            bearer_token=token,
            username=env.get("WORKBENCH_PROMETHEUS_USERNAME") or None,
            password=env.get("WORKBENCH_PROMETHEUS_PASSWORD") or None,
            ca_bundle=env.get("WORKBENCH_PROMETHEUS_CA_BUNDLE") or None,
            verify=not insecure,
        )


def _to_unix(value: dt.datetime | float) -> float:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ParameterError("start/end", allowed="time-zone aware datetimes (UTC)", received=value)
        return value.timestamp()
    return float(value)


class PrometheusSource:
    """A Prometheus server as a workbench source.

    Parameters
    ----------
    url : str
        Base URL, e.g. ``http://127.0.0.1:9090`` (a path prefix is kept).
    name : str, optional
        Name used in the canonical ``source`` column (``prometheus:<name>``);
        default: the host and port.
    auth : PrometheusAuth, optional
        Default: :meth:`PrometheusAuth.from_env`.
    timeout : float
        Read timeout per request, seconds.
    connect_timeout : float
        Connect timeout per request, seconds.
    retries : int
        Retries of transient failures (connection errors, 429, 502, 503, 504).
    backoff_factor : float
        urllib3 exponential backoff factor (sleep ``backoff * 2**(n-1)`` s).
    max_workers : int
        Requests in flight at once.
    max_points : int
        Points per series per query (Prometheus' limit is 11,000).
    identity_encoding : bool
        Ask for uncompressed answers (much faster on loopback; turn off across slow links).

    Examples
    --------
    >>> src = PrometheusSource("http://127.0.0.1:9", retries=0, timeout=1)
    >>> src.source_name
    'prometheus:127.0.0.1:9'
    """

    def __init__(
        self,
        url: str,
        *,
        name: str | None = None,
        auth: PrometheusAuth | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 5.0,
        retries: int = 3,
        backoff_factor: float = 0.5,
        max_workers: int = 4,
        max_points: int = MAX_POINTS_PER_SERIES,
        identity_encoding: bool = True,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ParameterError("url", allowed="an http:// or https:// URL", received=url)
        if max_workers < 1:
            raise ParameterError("max_workers", allowed="at least 1", received=max_workers)
        if not 1 <= max_points <= MAX_POINTS_PER_SERIES:
            raise ParameterError("max_points", allowed=f"1 to {MAX_POINTS_PER_SERIES}", received=max_points)
        if retries < 0:
            raise ParameterError("retries", allowed="0 or more", received=retries)
        self.url = url.rstrip("/")
        self.auth = auth if auth is not None else PrometheusAuth.from_env()
        self.timeout = (connect_timeout, timeout)
        self.max_workers = max_workers
        self.max_points = max_points
        host = self.url.split("://", 1)[1].split("/", 1)[0]
        self.source_name = f"prometheus:{name or host}"
        self.session, adapter = self._session(retries, backoff_factor, identity_encoding)
        self.client = PrometheusConnect(
            self.url,
            session=self.session,
            retry=adapter.max_retries,
            timeout=timeout,
            auth=self.session.auth,
            headers=dict(self.session.headers),
        )
        # PrometheusConnect mounts its own adapter on the URL prefix; keep ours (pool size, retries).
        self.session.mount(self.url, adapter)

    def _session(
        self, retries: int, backoff_factor: float, identity: bool
    ) -> tuple[requests.Session, HTTPAdapter]:
        session = requests.Session()
        retry = Retry(
            total=retries,
            connect=retries,
            read=min(retries, 1),  # a server that hangs gets one more chance, not many
            status=retries,
            other=0,
            backoff_factor=backoff_factor,
            status_forcelist=sorted(RETRY_STATUSES),
            allowed_methods=frozenset({"GET", "POST"}),
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        adapter = HTTPAdapter(
            max_retries=retry, pool_connections=self.max_workers, pool_maxsize=self.max_workers
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        if self.auth.bearer_token:
            session.headers["Authorization"] = f"Bearer {self.auth.bearer_token}"
        if self.auth.username is not None:
            session.auth = (self.auth.username, self.auth.password or "")
        if not self.auth.verify:
            logger.warning("TLS certificate verification is OFF for %s (asked for)", self.url)
            session.verify = False
        elif self.auth.ca_bundle:
            if not Path(self.auth.ca_bundle).is_file():
                raise SourceError(f"CA bundle {self.auth.ca_bundle} does not exist", url=self.url)
            session.verify = self.auth.ca_bundle
        if identity:
            session.headers["Accept-Encoding"] = "identity"
        return session, adapter

    def close(self) -> None:
        """Release the connection pool."""
        self.session.close()

    def __enter__(self) -> PrometheusSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- HTTP ---------------------------------------------------------------------
    def _get(self, path: str, params: Mapping[str, Any], query: str | None) -> bytes:
        url = f"{self.url}{path}"
        try:
            response = self.session.get(url, params=params, timeout=self.timeout)
        except requests.exceptions.ConnectTimeout as err:
            raise SourceError(
                f"Prometheus did not accept a connection within {self.timeout[0]} s", url=url, query=query
            ) from err
        except requests.exceptions.ReadTimeout as err:
            raise SourceError(
                f"Prometheus did not answer within {self.timeout[1]} s (server hanging or query too heavy)",
                url=url,
                query=query,
            ) from err
        except requests.exceptions.SSLError as err:
            raise SourceError(
                f"TLS failed: {err}. Give a CA bundle (WORKBENCH_PROMETHEUS_CA_BUNDLE) or, only if you accept "
                "the risk, WORKBENCH_PROMETHEUS_INSECURE=1",
                url=url,
                query=query,
            ) from err
        except requests.exceptions.ConnectionError as err:
            reason = getattr(err.args[0], "reason", None) if err.args else None
            if isinstance(reason, ReadTimeoutError):  # read timeouts that used up the retries
                raise SourceError(
                    f"Prometheus did not answer within {self.timeout[1]} s (server hanging or query too heavy)",
                    url=url,
                    query=query,
                ) from err
            raise SourceError(f"cannot reach Prometheus: {err}", url=url, query=query) from err
        except requests.exceptions.RequestException as err:
            raise SourceError(f"request to Prometheus failed: {err}", url=url, query=query) from err
        body = response.content
        status = response.status_code
        if status == 200:
            return body
        message = _error_message(body)
        if status in (401, 403):
            raise SourceError(
                f"Prometheus refused the credentials (HTTP {status}): {message}. Set WORKBENCH_PROMETHEUS_TOKEN "
                "or WORKBENCH_PROMETHEUS_USERNAME/PASSWORD",
                url=url,
                query=query,
            )
        if status in (400, 422):
            raise SourceError(
                f"Prometheus rejected the query (HTTP {status}): {message}", url=url, query=query
            )
        if status in RETRY_STATUSES:
            raise SourceError(
                f"Prometheus still answered HTTP {status} after retries: {message}", url=url, query=query
            )
        raise SourceError(f"Prometheus answered HTTP {status}: {message}", url=url, query=query)

    def _json(self, path: str, params: Mapping[str, Any], query: str | None) -> Any:
        body = self._get(path, params, query)
        return _loads(body, url=f"{self.url}{path}", query=query)

    # -- metadata -----------------------------------------------------------------
    def check(self) -> None:
        """Raise :class:`SourceError` unless the server answers its build-info API."""
        self._json("/api/v1/status/buildinfo", {}, None)

    def metric_names(self) -> list[str]:
        """Every metric name Prometheus holds (``/api/v1/label/__name__/values``)."""
        try:
            names = self.client.get_label_values("__name__")
        except requests.exceptions.ConnectionError as err:
            raise SourceError(f"cannot reach Prometheus: {err}", url=self.url) from err
        except requests.exceptions.RequestException as err:
            raise SourceError(f"cannot list metric names: {err}", url=self.url) from err
        except Exception as err:  # prometheus_api_client raises its own bare exception on non-200
            raise SourceError(f"cannot list metric names: {err}", url=self.url) from err
        return sorted(str(n) for n in names)

    # -- range pulls --------------------------------------------------------------
    def _fetch_chunk(self, query: str, start: float, end: float, step: float) -> bytes:
        params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        return self._get("/api/v1/query_range", params, query)

    def query_range(
        self,
        queries: Sequence[str] | str,
        start: dt.datetime | float,
        end: dt.datetime | float,
        step: str | float | dt.timedelta = "60s",
        *,
        names: Sequence[str | None] | None = None,
        rated_names: Iterable[str] = (),
        allow_empty: bool = False,
    ) -> SampleSet:
        """Run range queries (split, in parallel) and return their samples.

        Parameters
        ----------
        queries : str or sequence of str
            PromQL expressions.
        start, end : datetime or float
            Range (aware datetimes or Unix seconds).
        step : str, float or timedelta
            Resolution.
        names : sequence, optional
            Metric name to give each query's series when Prometheus drops
            ``__name__`` (any function such as ``rate()``), one per query.
        rated_names : iterable of str
            Names whose values are already per-second rates.
        allow_empty : bool
            Return an empty set instead of raising when nothing matched.

        Raises
        ------
        SourceError
            On any failure (see the module docstring), or an empty result.
        """
        query_list = [queries] if isinstance(queries, str) else list(queries)
        if not query_list:
            raise ParameterError("queries", allowed="at least one PromQL expression", received=query_list)
        name_list = list(names) if names is not None else [None] * len(query_list)
        if len(name_list) != len(query_list):
            raise ParameterError(
                "names", allowed=f"{len(query_list)} names, one per query", received=len(name_list)
            )
        t0, t1 = _to_unix(start), _to_unix(end)
        step_s = parse_duration(step, parameter="step")
        chunks = split_range(t0, t1, step_s, max_points=self.max_points)
        tasks = [(q, n, a, b) for q, n in zip(query_list, name_list, strict=True) for a, b in chunks]
        logger.info("%s: %d queries x %d chunks, step %gs", self.url, len(query_list), len(chunks), step_s)

        def run(task: tuple[str, str | None, float, float]) -> _Parsed:
            query, name, a, b = task
            body = self._fetch_chunk(query, a, b, step_s)
            return _parse_matrix(body, url=f"{self.url}/api/v1/query_range", query=query, name=name)

        if len(tasks) == 1 or self.max_workers == 1:
            parsed = [run(t) for t in tasks]
        else:
            with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="prom") as pool:
                parsed = list(pool.map(run, tasks))
        samples = _assemble(parsed, source=self.source_name, rated_names=frozenset(rated_names))
        if samples.points.height == 0 and samples.rejected.height == 0 and not allow_empty:
            raise SourceError(
                f"no series matched between {dt.datetime.fromtimestamp(t0, dt.UTC):%Y-%m-%d %H:%M} and "
                f"{dt.datetime.fromtimestamp(t1, dt.UTC):%Y-%m-%d %H:%M} UTC",
                url=self.url,
                query=" ; ".join(query_list[:3])
                + (f" ; ... ({len(query_list) - 3} more)" if len(query_list) > 3 else ""),
            )
        return samples

    def pull(
        self,
        start: dt.datetime | float,
        end: dt.datetime | float,
        step: str | float | dt.timedelta = "60s",
        *,
        metrics: Sequence[str] | None = None,
        provider: str | None = None,
        selector: str = "",
        counters: Literal["raw", "promql"] = "raw",
        rate_window: str | None = None,
        known: Mapping[str, MappingTable] | None = None,
    ) -> SampleSet:
        """Pull the exporter series the mapping tables know (or ``metrics``).

        Parameters
        ----------
        start, end, step
            Range and resolution.
        metrics : sequence of str, optional
            Exporter metric names to pull; default: every name of the mapping tables
            (of ``provider``) that this Prometheus holds.
        provider : str, optional
            Restrict the default names to one provider's tables.
        selector : str
            Extra label matchers added to every query, e.g. ``job="rabbitmq"``.
        counters : {"raw", "promql"}
            ``raw``: pull counters as they are (rates computed per raw series by the
            mapping); ``promql``: pull ``rate(name[rate_window])`` for names that only
            counter rules use.
        rate_window : str, optional
            Range of ``rate()`` (default: four steps, at least 1m).
        known : mapping of str to MappingTable, optional
            Tables whose names are pulled (default: every known table).
        """
        if counters not in ("raw", "promql"):
            raise ParameterError("counters", allowed="'raw' or 'promql'", received=counters)
        if provider is not None and provider not in PROVIDERS:
            raise ParameterError("provider", allowed=" or ".join(PROVIDERS), received=provider)
        candidates = known if known is not None else tables()
        pool = [t for t in candidates.values() if provider is None or t.provider == provider]
        if metrics is None:
            wanted = {r.source for t in pool for r in t.rules} | {
                t.identity["metric"] for t in pool if t.identity
            }
            present = set(self.metric_names())
            names = sorted(wanted & present)
            if not names:
                raise SourceError(
                    f"this Prometheus holds none of the {len(wanted)} exporter metrics the mapping tables know"
                    + (f" for provider {provider}" if provider else ""),
                    url=self.url,
                )
        else:
            names = list(metrics)
        bad = [n for n in names if not _NAME.match(n)]
        if bad:
            raise ParameterError("metrics", allowed="Prometheus metric names", received=bad)
        kinds: dict[str, set[str]] = {}
        for table in pool:
            for rule in table.rules:
                kinds.setdefault(rule.source, set()).add(rule.kind)
        step_s = parse_duration(step, parameter="step")
        window = rate_window or f"{max(60, int(4 * step_s))}s"
        parse_duration(window, parameter="rate_window")
        matchers = f"{{{selector}}}" if selector else ""
        queries, labels, rated = [], [], set()
        for name in names:
            if counters == "promql" and kinds.get(name) and kinds[name] <= {"counter", "offset"}:
                queries.append(f"rate({name}{matchers}[{window}])")
                rated.add(name)
            else:
                queries.append(f"{name}{matchers}")
            labels.append(name)
        return self.query_range(queries, start, end, step_s, names=labels, rated_names=rated)

    def ingest(
        self,
        start: dt.datetime | float,
        end: dt.datetime | float,
        step: str | float | dt.timedelta = "60s",
        *,
        provider: str | None = None,
        cluster: str | None = None,
        selector: str = "",
        counters: Literal["raw", "promql"] = "raw",
        rate_window: str | None = None,
        period_s: float | None = None,
    ) -> MappingResult:
        """Pull and map to canonical rows in one call (see :meth:`pull`, :func:`map_samples`)."""
        samples = self.pull(
            start, end, step, provider=provider, selector=selector, counters=counters, rate_window=rate_window
        )
        return map_samples(samples, provider=provider, cluster=cluster, period_s=period_s)


# -- parsing ----------------------------------------------------------------------
@dataclass(frozen=True)
class _Parsed:
    query: str
    labels: list[dict[str, str]]
    points: pl.DataFrame  # local_id, ts, value
    rejected: list[dict[str, str]]


def _error_message(body: bytes) -> str:
    try:
        doc = orjson.loads(body)
        if isinstance(doc, dict) and "error" in doc:
            return f"{doc.get('errorType', 'error')}: {doc['error']}"
    except orjson.JSONDecodeError:
        pass
    text = body[:300].decode("utf-8", errors="replace").strip()
    return text or "(empty body)"


def _loads(body: bytes, *, url: str, query: str | None) -> Any:
    enabled = gc.isenabled()
    gc.disable()  # millions of small objects: the collector would double the parse time
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise SourceError(
            f"Prometheus' answer is not valid JSON ({err}; {len(body)} bytes, truncated?)",
            url=url,
            query=query,
        ) from err
    finally:
        if enabled:
            gc.enable()
    if not isinstance(doc, dict) or doc.get("status") != "success" or "data" not in doc:
        raise SourceError(f"not a Prometheus API answer: {_error_message(body)}", url=url, query=query)
    return doc["data"]


_MATRIX_HEAD = b'{"status":"success","data":{"resultType":"matrix","result":['
_METRIC_KEY = b'{"metric":'
_VALUES_KEY = b',"values":[['
# '[' opens a sample: a new line; quotes and ']' go, leaving "ts,value," lines for the CSV reader.
_TO_CSV = bytes.maketrans(b"[", b"\n")


def _parse_matrix_fast(body: bytes, *, query: str, name: str | None) -> _Parsed | None:
    """Parse a plain matrix answer without building a Python object per sample.

    Prometheus writes ``{"metric":{...},"values":[[t,"v"],...]}`` per series. The label
    objects are small and go through orjson; the sample arrays are turned into CSV
    text with one C-level ``bytes.translate`` and read by Polars' multi-threaded CSV
    reader. The sequences searched for cannot occur inside JSON strings (their quotes
    would be escaped). Anything unexpected (native histograms, odd values, counts that
    do not add up) returns None and the caller uses the orjson path.
    """
    if not body.startswith(_MATRIX_HEAD) or b'"histograms":' in body:
        return None
    expected = body.count(_METRIC_KEY)
    labels: list[dict[str, str]] = []
    regions: list[bytes] = []
    counts: list[int] = []
    pos = 0
    while True:
        start = body.find(_VALUES_KEY, pos)
        if start < 0:
            break
        opening = body.rfind(_METRIC_KEY, pos, start)
        end = body.find(b"]]", start)
        if opening < 0 or end < 0:
            return None
        try:
            metric = orjson.loads(body[opening + len(_METRIC_KEY) : start])
        except orjson.JSONDecodeError:
            return None
        if not isinstance(metric, dict):
            return None
        label_map = {str(k): str(v) for k, v in metric.items()}
        if name is not None:
            label_map["__name__"] = name
        if "__name__" not in label_map:
            return None
        region = body[start + len(_VALUES_KEY) : end]
        labels.append(label_map)
        regions.append(region)
        counts.append(region.count(b"],[") + 1)
        pos = end
    if len(labels) != expected:
        return None
    if not labels:
        points = pl.DataFrame(schema={"local_id": pl.UInt32, "t": pl.Float64, "v": pl.Float64})
        return _Parsed(query=query, labels=[], points=points, rejected=[])
    text = b"\n".join(regions).translate(_TO_CSV, b'"]')
    try:
        frame = pl.read_csv(
            text,
            has_header=False,
            new_columns=["t", "v", "_"],
            schema={"t": pl.Float64, "v": pl.Float64, "_": pl.String},
            truncate_ragged_lines=True,
        )
    except (pl.exceptions.PolarsError, ValueError):
        return None
    if frame.height != sum(counts) or frame["t"].null_count() or frame["v"].null_count():
        return None
    ids = np.repeat(np.arange(len(counts), dtype=np.uint32), counts)
    points = frame.select(pl.Series("local_id", ids), "t", "v")
    return _Parsed(query=query, labels=labels, points=points, rejected=[])


def _parse_matrix(body: bytes, *, url: str, query: str, name: str | None) -> _Parsed:
    fast = _parse_matrix_fast(body, query=query, name=name)
    if fast is not None:
        return fast
    data = _loads(body, url=url, query=query)
    if (
        not isinstance(data, dict)
        or data.get("resultType") != "matrix"
        or not isinstance(data.get("result"), list)
    ):
        kind = data.get("resultType") if isinstance(data, dict) else type(data).__name__
        raise SourceError(f"expected a range vector (matrix), got {kind!r}", url=url, query=query)
    labels: list[dict[str, str]] = []
    ids: list[int] = []
    times: list[Any] = []
    values: list[Any] = []
    rejected: list[dict[str, str]] = []
    enabled = gc.isenabled()
    gc.disable()
    try:
        for position, series in enumerate(data["result"]):
            try:
                metric = series["metric"]
                # a native-histogram-only series has "histograms" and no "values" (reported below)
                pairs = series["values"] if "values" in series or "histograms" not in series else []
                if not isinstance(metric, dict) or not isinstance(pairs, list):
                    raise TypeError("'metric' must be an object and 'values' a list")
                label_map = {str(k): str(v) for k, v in metric.items()}
                ts = [p[0] for p in pairs]
                vs = [p[1] for p in pairs]
            except (KeyError, TypeError, IndexError) as err:
                rejected.append(
                    {
                        "location": f"{query} series #{position}",
                        "text": str(series)[:300],
                        "reason": f"malformed series: {err}",
                    }
                )
                continue
            if isinstance(series, dict) and "histograms" in series:
                rejected.append(
                    {
                        "location": f"{query} series #{position}",
                        "text": str(metric)[:300],
                        "reason": f"{len(series['histograms'])} native histogram samples: not supported, not mapped",
                    }
                )
                if not pairs:
                    continue
            if name is not None:
                label_map["__name__"] = name
            if "__name__" not in label_map:
                rejected.append(
                    {
                        "location": f"{query} series #{position}",
                        "text": str(metric)[:300],
                        "reason": "series has no __name__ and the query gave none",
                    }
                )
                continue
            ids.extend([len(labels)] * len(ts))
            labels.append(label_map)
            times.extend(ts)
            values.extend(vs)
    finally:
        if enabled:
            gc.enable()
    points = pl.DataFrame(
        {
            "local_id": pl.Series(ids, dtype=pl.UInt32),
            "t": pl.Series(times, dtype=pl.Float64, strict=False),
            "v": pl.Series(values, dtype=pl.String, strict=False),
        }
    )
    return _Parsed(query=query, labels=labels, points=points, rejected=rejected)


def _assemble(parsed: list[_Parsed], *, source: str, rated_names: frozenset[str]) -> SampleSet:
    index: dict[tuple[tuple[str, str], ...], int] = {}
    all_labels: list[dict[str, str]] = []
    frames = []
    owners: dict[int, set[str]] = {}
    rejected = [r for p in parsed for r in p.rejected]
    for part in parsed:
        remap = []
        for label_map in part.labels:
            key = tuple(sorted(label_map.items()))
            if key not in index:
                index[key] = len(all_labels)
                all_labels.append(label_map)
            remap.append(index[key])
        if part.points.height:
            lookup = pl.Series(remap, dtype=pl.UInt32)
            frames.append(part.points.with_columns(lookup.gather(part.points["local_id"]).alias("series_id")))
            for sid in set(remap):
                owners.setdefault(sid, set()).add(part.query)
    names = [lab.pop("__name__") for lab in all_labels]
    series = series_frame(names, all_labels)
    if frames:
        raw = pl.concat(frames)
    else:
        raw = pl.DataFrame(
            schema={"local_id": pl.UInt32, "t": pl.Float64, "v": pl.String, "series_id": pl.UInt32}
        )
    bad_ts = raw.filter(pl.col("t").is_null() | ~pl.col("t").is_finite())
    if bad_ts.height:
        rejected.append(
            {
                "location": "query_range answers",
                "text": f"{bad_ts.height} samples",
                "reason": "timestamp is not a number",
            }
        )
    # Chunks are half-open, so only two queries returning one series can repeat a sample.
    overlap = any(len(q) > 1 for q in owners.values())
    points = raw.filter(pl.col("t").is_not_null() & pl.col("t").is_finite()).select(
        "series_id",
        (pl.col("t") * 1000).round().cast(pl.Int64).cast(TS_DTYPE).alias("ts"),
        # Prometheus sends values as strings ("1.5", "NaN", "+Inf"); anything else becomes null
        # and is quarantined by the mapping as "value is not a number".
        pl.col("v").cast(pl.Float64, strict=False).alias("value"),
    )
    if overlap:
        points = points.unique(["series_id", "ts"], keep="first", maintain_order=True)
    rejected_frame = pl.DataFrame(rejected, schema=empty_rejected().schema) if rejected else empty_rejected()
    return SampleSet(
        series=series,
        points=points,
        source=source,
        rated_names=rated_names,
        rejected=rejected_frame,
        unique_points=True,
    )


def ingest_prometheus(
    url: str,
    *,
    since: str | float | dt.timedelta = "7d",
    until: dt.datetime | None = None,
    step: str | float | dt.timedelta = "60s",
    provider: str | None = None,
    cluster: str | None = None,
    selector: str = "",
    counters: Literal["raw", "promql"] = "raw",
    rate_window: str | None = None,
    period_s: float | None = None,
    dataset: str | None = None,
    name: str | None = None,
    timeout: float = 60.0,
    max_workers: int = 4,
    store: Any = None,
) -> Any:
    """Pull the last ``since`` from Prometheus, map it, and append it to the store.

    This is what ``workbench ingest prometheus`` runs.

    Returns
    -------
    workbench.mapping.persist.IngestReport
        The mapping result (kept, quarantined, ignored, unknown) and the store's answer.
    """
    from workbench.mapping.persist import dataset_name, save_result

    end = until or dt.datetime.now(dt.UTC)
    start = end - dt.timedelta(seconds=parse_duration(since, parameter="since"))
    with PrometheusSource(url, name=name, timeout=timeout, max_workers=max_workers) as source:
        result = source.ingest(
            start,
            end,
            step,
            provider=provider,
            cluster=cluster,
            selector=selector,
            counters=counters,
            rate_window=rate_window,
            period_s=period_s,
        )
        parameters = {
            "url": source.url,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "step": str(step),
            "provider": provider,
            "selector": selector,
            "counters": counters,
            "rate_window": rate_window,
        }
        return save_result(
            result,
            dataset or dataset_name(source.source_name),
            source=source.source_name,
            parameters=parameters,
            store=store,
        )

"""Bad input → a clear error or quarantined rows; never a crash, a hang or a silent drop.

File inputs come from ``tests/fixtures/bad_input/``. The two HTTP failure modes a real
Prometheus cannot be made to produce on demand (503 then recovery, a hang) and a few
malformed answers are served by a small local ``http.server`` stub; everything else about
the Prometheus source is tested against the real server in ``test_sources_prometheus.py``.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest

from workbench.errors import SchemaError, SourceError
from workbench.mapping import map_samples
from workbench.sources.exposition import parse_exposition, read_exposition
from workbench.sources.files import read_metrics_file
from workbench.sources.prometheus import PrometheusAuth, PrometheusSource

BAD = Path(__file__).parent / "fixtures" / "bad_input"
T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
GOOD_MATRIX = (
    b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":'
    b'"rabbitmq_queue_messages_ready","vhost":"/","queue":"orders"},"values":[[1764115200,"95"],[1764115215,"96"]]}]}}'
)


def _accounted(result) -> None:
    c = result.counts
    assert c["samples_in"] == c["samples_mapped"] + c["samples_ignored"] + c["samples_unknown"]


# -- exposition files -------------------------------------------------------------
def test_unescaped_quote_in_queue_name_is_rejected_with_reason_and_rest_kept() -> None:
    samples = read_exposition(BAD / "rabbitmq_310_unescaped_quote.prom", timestamp=T0)
    assert samples.rejected.height == 2
    assert samples.rejected["location"].to_list() == ["line 7", "line 12"]
    assert all("unescaped" in r for r in samples.rejected["reason"].to_list())
    result = map_samples(samples)
    depth = dict(
        result.frame.filter(pl.col("metric") == "queue_depth_messages").select("entity", "value").iter_rows()
    )
    assert depth == {"orders": 95.0, "payments": 20.0}
    assert result.frame["cluster"].unique().to_list() == ["bad-quote"]
    assert result.counts["lines_rejected"] == 2
    _accounted(result)


def test_truncated_exposition_keeps_complete_lines_and_rejects_the_cut_one() -> None:
    samples = read_exposition(BAD / "truncated.prom", timestamp=T0)
    assert samples.points.height == 2
    assert samples.rejected.height == 1
    assert samples.rejected["location"][0] == "line 5"


def test_nan_and_inf_values_are_quarantined_not_mapped() -> None:
    result = map_samples(read_exposition(BAD / "nan_inf.prom", timestamp=T0))
    reasons = result.quarantined["reason"].to_list()
    assert reasons.count("value is NaN") >= 2
    assert reasons.count("value is infinite") >= 2
    lag_s = result.frame.filter(
        (pl.col("metric") == "consumer_lag_seconds") & (pl.col("level") == "partition")
    )
    assert lag_s["value"].to_list() == [4.5]
    assert result.frame["cluster"].unique().to_list() == ["prod"]
    _accounted(result)


def test_missing_labels_become_quarantined_rows_naming_the_entity() -> None:
    result = map_samples(read_exposition(BAD / "missing_labels.prom", timestamp=T0))
    partition_rows = result.frame.filter(pl.col("level") == "partition")
    assert partition_rows["entity"].to_list() == ["billing/orders/0"]
    missing = result.quarantined.filter(pl.col("reason").str.starts_with("missing label"))
    assert missing.height >= 2
    assert "consumergroup/topic/partition" in missing["reason"][0]


def test_wrong_types_are_rejected_line_by_line() -> None:
    samples = read_exposition(BAD / "wrong_types.prom", timestamp=T0)
    assert sorted(samples.series["queue"].to_list()) == ["a", "d"]
    assert samples.rejected["location"].to_list() == ["line 3", "line 4"]


def test_sentinels_never_reach_the_canonical_frame() -> None:
    result = map_samples(read_exposition(BAD / "sentinels.prom", timestamp=T0))
    assert (result.frame["value"] >= 0).all()
    sentinel_rows = result.quarantined.filter(pl.col("reason") == "sentinel -1 (unknown)")
    assert set(sentinel_rows["metric"].to_list()) == {
        "consumer_lag_messages",
        "committed_offset",
        "messages_out_per_s",
    }


def test_very_long_label_values_are_kept_intact() -> None:
    queue = "q" * 100_000
    text = f'# TYPE rabbitmq_queue_messages_ready gauge\nrabbitmq_queue_messages_ready{{vhost="/",queue="{queue}"}} 4\n'
    result = map_samples(parse_exposition(text, timestamp=T0, source="test:long"))
    assert result.frame["entity"].to_list() == [queue]


def test_empty_and_non_metric_bodies_give_clear_outcomes() -> None:
    empty = read_metrics_file(BAD / "empty.prom", timestamp=T0)
    assert empty.counts["samples_in"] == 0
    assert empty.frame.height == 0
    html = read_metrics_file(BAD / "not_metrics.txt", timestamp=T0)
    assert html.frame.height == 0
    assert html.rejected.height == 1
    assert html.rejected["reason"][0].startswith("unparseable sample")


def test_openmetrics_file_without_eof_is_parsed_leniently() -> None:
    samples = read_exposition(BAD / "openmetrics_no_eof.om", timestamp=T0)
    assert samples.series["queue"].to_list() == ["a"]
    assert samples.rejected.height == 1


# -- CSV ----------------------------------------------------------------------------
def test_exporter_samples_csv_rejects_bad_rows_and_quarantines_bad_values() -> None:
    result = read_metrics_file(BAD / "samples_wrong_types.csv")
    assert sorted(result.frame["value"].to_list()) == [10.0, 13.0]
    assert sorted(result.rejected["location"].to_list()) == ["row 3", "row 5"]
    assert result.quarantined["reason"].to_list() == ["value is not a number"]
    # 5 data rows = 2 kept + 1 quarantined + 2 rejected
    assert result.frame.height + result.quarantined.height + result.rejected.height == 5


def test_canonical_csv_quarantines_each_broken_row_with_its_reason() -> None:
    result = read_metrics_file(BAD / "canonical_bad.csv")
    assert result.frame.height == 1
    reasons = set(result.quarantined["reason"].to_list())
    assert {
        "value is NaN",
        "value is negative",
        "unknown metric no_such_metric",
        "ts is naive (no time zone)",
    } <= reasons
    assert any(r.startswith("provider activemq") for r in reasons)
    assert result.frame.height + result.quarantined.height == 6


def test_csv_with_no_known_layout_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="match no known layout"):
        read_metrics_file(BAD / "no_layout.csv")


def test_nab_csv_with_bad_rows_quarantines_them() -> None:
    result = read_metrics_file(BAD / "nab_bad.csv")
    assert result.frame.height == 3
    assert sorted(result.quarantined["reason"].to_list()) == [
        "ts is not a timestamp",
        "value is not a number",
    ]


def test_missing_file_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="file not found"):
        read_metrics_file(BAD / "nope.prom")


def test_nab_reader_refuses_other_columns() -> None:
    from workbench.sources.files import read_nab_csv

    with pytest.raises(SchemaError, match="timestamp,value"):
        read_nab_csv(BAD / "no_layout.csv")


# -- Prometheus answers from a local stub -------------------------------------------
class StubPrometheus:
    """A tiny HTTP server answering ``/api/v1/query_range`` from a script of responses."""

    def __init__(
        self, responses: list[tuple[int, bytes]], *, hang: bool = False, require_auth: str | None = None
    ):
        self.responses = list(responses)
        self.hang = hang
        self.require_auth = require_auth
        self.requests = 0
        self.release = threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub.requests += 1
                if stub.hang:
                    stub.release.wait(30)
                    return
                if stub.require_auth is not None and self.headers.get("Authorization") != stub.require_auth:
                    status, body = 401, b"Unauthorized"
                else:
                    index = min(stub.requests - 1, len(stub.responses) - 1)
                    status, body = stub.responses[index]
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> StubPrometheus:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _source(url: str, **kwargs: object) -> PrometheusSource:
    options: dict[str, object] = {
        "retries": 3,
        "backoff_factor": 0.01,
        "timeout": 5.0,
        "auth": PrometheusAuth(),
    }
    options.update(kwargs)
    return PrometheusSource(url, **options)  # type: ignore[arg-type]


def _pull(src: PrometheusSource, query: str = "rabbitmq_queue_messages_ready"):
    return src.query_range(query, 1764115200, 1764115215, "15s")


def test_503_then_recovery_is_retried_and_succeeds() -> None:
    with StubPrometheus([(503, b"overloaded"), (503, b"overloaded"), (200, GOOD_MATRIX)]) as stub:
        samples = _pull(_source(stub.url))
    assert stub.requests == 3
    assert samples.points["value"].to_list() == [95.0, 96.0]


def test_503_forever_ends_in_a_clear_error_after_the_retries() -> None:
    with (
        StubPrometheus([(503, b"overloaded")]) as stub,
        pytest.raises(SourceError, match="HTTP 503 after retries") as info,
    ):
        _pull(_source(stub.url, retries=2))
    assert stub.requests == 3
    assert info.value.query == "rabbitmq_queue_messages_ready"


def test_a_hanging_server_times_out_instead_of_hanging() -> None:
    with StubPrometheus([], hang=True) as stub:
        began = time.monotonic()
        with pytest.raises(SourceError, match=r"did not answer within 1\.0 s"):
            _pull(_source(stub.url, timeout=1.0, retries=3))
        elapsed = time.monotonic() - began
    assert elapsed < 6, f"took {elapsed:.1f} s"
    assert stub.requests <= 2  # one read retry at most


def test_422_is_not_retried_and_shows_prometheus_message_and_the_promql() -> None:
    body = (BAD / "prom_error_422.json").read_bytes()
    with StubPrometheus([(422, body)]) as stub, pytest.raises(SourceError, match="too many samples") as info:
        _pull(_source(stub.url), "sum(rate(x[5m]))")
    assert stub.requests == 1
    assert "sum(rate(x[5m]))" in str(info.value)


def test_truncated_json_is_a_clear_error() -> None:
    with (
        StubPrometheus([(200, (BAD / "prom_truncated.json").read_bytes())]) as stub,
        pytest.raises(SourceError, match="not valid JSON"),
    ):
        _pull(_source(stub.url))


def test_wrong_types_in_an_answer_are_rejected_or_quarantined() -> None:
    with StubPrometheus([(200, (BAD / "prom_wrong_types.json").read_bytes())]) as stub:
        samples = _pull(_source(stub.url))
    reasons = samples.rejected["reason"].to_list()
    assert sum(r.startswith("malformed series") for r in reasons) == 2
    assert "timestamp is not a number" in reasons
    result = map_samples(samples)
    kept = dict(
        result.frame.filter(pl.col("metric") == "queue_depth_messages")
        .group_by("entity")
        .agg(pl.col("value").sum())
        .iter_rows()
    )
    assert kept == {"good": 3.0, "typed": 3.0}
    assert result.quarantined["reason"].to_list() == ["value is not a number"] * 2


def test_a_vector_where_a_matrix_is_expected_is_a_clear_error() -> None:
    with (
        StubPrometheus([(200, (BAD / "prom_not_matrix.json").read_bytes())]) as stub,
        pytest.raises(SourceError, match="expected a range vector"),
    ):
        _pull(_source(stub.url))


def test_unreachable_server_is_a_clear_error() -> None:
    from tests.services import free_port

    src = _source(f"http://127.0.0.1:{free_port()}", retries=1)
    with pytest.raises(SourceError, match="cannot reach Prometheus"):
        _pull(src)


def test_bearer_token_is_sent_and_a_refusal_names_the_variables() -> None:
    with StubPrometheus([(200, GOOD_MATRIX)], require_auth="Bearer s3cret") as stub:
        samples = _pull(_source(stub.url, auth=PrometheusAuth(bearer_token="s3cret")))
        assert samples.points.height == 2
        with pytest.raises(SourceError, match="WORKBENCH_PROMETHEUS_TOKEN"):
            _pull(_source(stub.url, auth=PrometheusAuth(bearer_token="wrong")))


def test_basic_auth_is_sent() -> None:
    import base64

    expected = "Basic " + base64.b64encode(b"ops:pw").decode()
    with StubPrometheus([(200, GOOD_MATRIX)], require_auth=expected) as stub:
        samples = _pull(_source(stub.url, auth=PrometheusAuth(username="ops", password="pw")))
    assert samples.points.height == 2


def test_auth_from_environment_and_tls_settings(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    auth = PrometheusAuth.from_env(
        {
            "WORKBENCH_PROMETHEUS_TOKEN": "t",
            "WORKBENCH_PROMETHEUS_USERNAME": "u",
            "WORKBENCH_PROMETHEUS_PASSWORD": "p",
            "WORKBENCH_PROMETHEUS_CA_BUNDLE": str(bundle),
        }
    )
    assert "t" not in repr(auth).replace("ca_bundle", "").split("bearer_token=")[1].split(",")[0]
    src = PrometheusSource("https://prom.example:9090", auth=auth)
    assert src.session.verify == str(bundle)
    assert src.session.headers["Authorization"] == "Bearer t"
    insecure = PrometheusSource(
        "https://prom.example:9090", auth=PrometheusAuth.from_env({"WORKBENCH_PROMETHEUS_INSECURE": "1"})
    )
    assert insecure.session.verify is False
    with pytest.raises(SourceError, match="CA bundle"):
        PrometheusSource("https://x:1", auth=PrometheusAuth(ca_bundle=str(tmp_path / "missing.pem")))


def test_native_histogram_series_are_reported_not_dropped_silently() -> None:
    body = (
        b'{"status":"success","data":{"resultType":"matrix","result":['
        b'{"metric":{"__name__":"rabbitmq_queue_messages_ready","vhost":"/","queue":"a"},"values":[[1764115200,"4"]]},'
        b'{"metric":{"__name__":"request_seconds"},"histograms":[[1764115200,{"count":"3","sum":"1.5","buckets":[]}]]}'
        b"]}}"
    )
    with StubPrometheus([(200, body)]) as stub:
        samples = _pull(_source(stub.url))
    assert samples.points["value"].to_list() == [4.0]
    assert samples.rejected["reason"].to_list() == ["1 native histogram samples: not supported, not mapped"]
